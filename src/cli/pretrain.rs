//! `dimple pretrain`: trains the classifier and the autoencoder the page starts with, from the
//! bundled data with a fixed seed and the page's default settings, and writes them as model
//! files (half precision) for `static/models/`.

use super::{CliResult, Workbench};
use crate::ml::autoencoder::{AutoencoderConfig, AutoencoderTrainer};
use crate::ml::checkpoint::{ModelFile, Precision};
use crate::ml::train::{TrainConfig, Trainer, evaluate};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// File name of a dataset's pretrained classifier.
pub fn classifier_file(dataset: &str) -> String {
    format!("{dataset}-classifier.dmplm")
}

/// File name of a dataset's pretrained autoencoder.
pub fn autoencoder_file(dataset: &str) -> String {
    format!("{dataset}-autoencoder.dmplm")
}

/// Parses `[--data FILE] [--out DIR]` and runs.
pub fn run(args: &[String]) -> CliResult {
    let mut data = PathBuf::from("static/data").join(crate::ml::mnist::BUNDLE_FILE);
    let mut out = PathBuf::from("static/models");
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--data" => data = value.into(),
            "--out" => out = value.into(),
            _ => return Err(format!("unknown option {flag}\n{}", super::USAGE).into()),
        }
    }
    pretrain(&data, &out)
}

fn pretrain(data: &Path, out: &Path) -> CliResult {
    let bench = Workbench::load(data)?;
    let name = bench.dataset.name.clone();
    std::fs::create_dir_all(out)?;

    let config = TrainConfig::default();
    let started = Instant::now();
    let mut trainer = Trainer::new(config.clone(), bench.shape, &bench.train, &bench.device);
    while !trainer.is_done() {
        trainer.step();
    }
    let classifier = trainer.model();
    let (images, labels) = bench.test.range(0, bench.test.len());
    let t = evaluate(&classifier, images, labels).try_into_vec_as::<f32>()?;
    let accuracy = 100.0 * f64::from(t[1]) / bench.test.len() as f64;
    let note = format!(
        "{}, {} epochs, batch {}, Adam {} {:?}, shift {}, EMA {}, seed {}: {accuracy:.2}% on the {} test images",
        config.model.label(),
        config.epochs,
        config.batch_size,
        config.learning_rate,
        config.schedule,
        config.max_shift,
        config.ema_decay,
        config.seed,
        bench.test.len()
    );
    println!(
        "classifier: {note} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let file = pollster::block_on(ModelFile::of_classifier(
        &classifier,
        bench.shape,
        &name,
        &note,
    ))?;
    write(
        &out.join(classifier_file(&name)),
        &file.encode(Precision::F16),
    )?;

    let config = AutoencoderConfig::default();
    let started = Instant::now();
    let mut trainer =
        AutoencoderTrainer::new(config.clone(), bench.shape, &bench.train, &bench.device)?;
    while !trainer.is_done() {
        trainer.step();
    }
    let autoencoder = trainer.model();
    let note = format!(
        "{:?} autoencoder, k = {}, {} epochs, batch {}, Adam {}, seed {}",
        config.kind,
        config.latent,
        config.epochs,
        config.batch_size,
        config.learning_rate,
        config.seed
    );
    println!(
        "autoencoder: {note} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let file = pollster::block_on(ModelFile::of_autoencoder(
        &autoencoder,
        bench.shape,
        &name,
        &note,
    ))?;
    write(
        &out.join(autoencoder_file(&name)),
        &file.encode(Precision::F16),
    )
}

fn write(path: &Path, bytes: &[u8]) -> CliResult {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}
