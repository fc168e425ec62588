//! `dimple pretrain`: trains the classifier and the autoencoder the page starts with, from the
//! bundled data with a fixed seed and the page's default settings, and writes them as model
//! files (8-bit values) for `static/models/`; with `--check DIR`, trains them again and
//! checks that they reproduce the files in DIR.

use super::{CliResult, Workbench};
use crate::ml::autoencoder::{AutoencoderConfig, AutoencoderTrainer, reconstruction_error};
use crate::ml::checkpoint::{ModelFile, ModelKind, Precision};
use crate::ml::model::Classifier;
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

/// How the files hold their values: a quarter of f32's bytes, and of the test accuracy and
/// reconstruction error `make models` prints, within a few hundredths of the f32 weights'.
const SHIPPED: Precision = Precision::Q8;

/// Largest difference in test accuracy, in percentage points, between a retrained classifier
/// and the committed one that still counts as reproducing it where the bytes differ.
const ACCURACY_POINTS: f64 = 0.5;
/// Largest relative difference in test reconstruction error, the same for the autoencoder.
const ERROR_RATIO: f64 = 0.1;

/// Parses `[--data FILE] [--out DIR | --check DIR]` and runs.
pub fn run(args: &[String]) -> CliResult {
    let mut data = PathBuf::from("static/data").join(crate::ml::mnist::BUNDLE_FILE);
    let mut out = PathBuf::from("static/models");
    let mut check = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--data" => data = value.into(),
            "--out" => out = value.into(),
            "--check" => check = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {flag}\n{}", super::USAGE).into()),
        }
    }
    let bench = Workbench::load(&data)?;
    let models = pretrain(&bench)?;
    match check {
        None => {
            std::fs::create_dir_all(&out)?;
            models
                .iter()
                .try_for_each(|m| write(&out.join(&m.name), &m.bytes))
        }
        Some(dir) => models
            .iter()
            .try_for_each(|m| check_against(&bench, m, &dir)),
    }
}

/// A pretrained model file, encoded.
struct Pretrained {
    /// Its file name, for example `mnist-classifier.dmplm`.
    name: String,
    bytes: Vec<u8>,
}

fn pretrain(bench: &Workbench) -> Result<[Pretrained; 2], Box<dyn std::error::Error>> {
    let name = bench.dataset.name.clone();

    let config = TrainConfig::default();
    let started = Instant::now();
    let mut trainer = Trainer::new(config.clone(), bench.shape, &bench.train, &bench.device);
    while !trainer.is_done() {
        trainer.step();
    }
    let classifier = trainer.model();
    let mut file = pollster::block_on(ModelFile::of_classifier(
        &classifier,
        bench.shape,
        &name,
        "",
    ))?;
    // The accuracy stated is the shipped weights' own.
    let trained = test_accuracy(bench, &classifier)?;
    let shipped = ModelFile::decode(&file.encode(SHIPPED))?.to_classifier(&bench.device)?;
    let accuracy = test_accuracy(bench, &shipped)?;
    file.note = format!(
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
        "classifier: {} ({:.1} s; {trained:.2}% before rounding to 8 bits)",
        file.note,
        started.elapsed().as_secs_f64()
    );
    let classifier = Pretrained {
        name: classifier_file(&name),
        bytes: file.encode(SHIPPED),
    };

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
    let bytes = file.encode(SHIPPED);
    println!(
        "autoencoder: test reconstruction error {:.5} in f32, {:.5} at 8 bits",
        test_error(bench, &file)?,
        test_error(bench, &ModelFile::decode(&bytes)?)?
    );
    let autoencoder = Pretrained {
        name: autoencoder_file(&name),
        bytes,
    };
    Ok([classifier, autoencoder])
}

/// Whether `model`, just trained, reproduces the committed file of the same name in `dir`.
///
/// Byte for byte where this CPU runs the same kernels as the one that wrote the file: gemm
/// picks its matrix kernels (AVX-512, AVX2, ...) and their blocking by the CPU, and the sums
/// they round differently make other bits after a few thousand steps. Where the bytes differ,
/// the retrained model must be the same model (kind, shapes, dataset, recipe) of the same
/// quality on the test split: accuracy within [`ACCURACY_POINTS`], reconstruction error within
/// [`ERROR_RATIO`], both measured on the 8-bit weights the files hold.
fn check_against(bench: &Workbench, model: &Pretrained, dir: &Path) -> CliResult {
    let path = dir.join(&model.name);
    let committed = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if committed == model.bytes {
        println!("{}: reproduced byte for byte", model.name);
        return Ok(());
    }
    let committed =
        ModelFile::decode(&committed).map_err(|e| format!("{}: {e}", path.display()))?;
    let retrained = ModelFile::decode(&model.bytes)?;
    let recipe = |f: &ModelFile| f.note.split(": ").next().unwrap_or_default().to_string();
    let layout = |f: &ModelFile| {
        let shapes: Vec<_> = f.tensors.iter().map(|t| t.shape.clone()).collect();
        (f.kind, f.shape, f.dataset.clone(), recipe(f), shapes)
    };
    if layout(&committed) != layout(&retrained) {
        return Err(format!(
            "{}: the committed file is another model than `dimple pretrain` trains now \
             (committed: {:?}; retrained: {:?}); run make models",
            model.name,
            layout(&committed),
            layout(&retrained)
        )
        .into());
    }
    let (committed_figure, retrained_figure, within, what) = match committed.kind {
        ModelKind::Classifier(_) => {
            let accuracy = |f: &ModelFile| test_accuracy(bench, &f.to_classifier(&bench.device)?);
            let (c, r) = (accuracy(&committed)?, accuracy(&retrained)?);
            let within = (c - r).abs() <= ACCURACY_POINTS;
            (
                c,
                r,
                within,
                format!("test accuracy (%), within {ACCURACY_POINTS} points"),
            )
        }
        ModelKind::Autoencoder { .. } => {
            let error = |f: &ModelFile| test_error(bench, f);
            let (c, r) = (error(&committed)?, error(&retrained)?);
            let within = (r / c - 1.0).abs() <= ERROR_RATIO;
            let percent = 100.0 * ERROR_RATIO;
            (
                c,
                r,
                within,
                format!("test reconstruction error (MSE), within {percent}%"),
            )
        }
    };
    let figures =
        format!("{what}: committed {committed_figure:.5}, retrained {retrained_figure:.5}");
    if !within {
        return Err(format!(
            "{}: the bytes differ and the retrained model is not as good; {figures}; run make models",
            model.name
        )
        .into());
    }
    println!(
        "{}: the bytes differ on this CPU (its matrix kernels round otherwise), the model is the same: {figures}",
        model.name
    );
    Ok(())
}

/// Test accuracy of `classifier` in per cent.
fn test_accuracy(
    bench: &Workbench,
    classifier: &Classifier,
) -> Result<f64, Box<dyn std::error::Error>> {
    let (images, labels) = bench.test.range(0, bench.test.len());
    let t = evaluate(classifier, images, labels).try_into_vec_as::<f32>()?;
    Ok(100.0 * f64::from(t[1]) / bench.test.len() as f64)
}

/// Mean test reconstruction error per pixel of the autoencoder `file` holds.
fn test_error(bench: &Workbench, file: &ModelFile) -> Result<f64, Box<dyn std::error::Error>> {
    const CHUNK: usize = 500;
    let autoencoder = file.to_autoencoder(&bench.device)?;
    let count = bench.test.len();
    let mut sum = 0.0;
    for start in (0..count).step_by(CHUNK) {
        let (images, _) = bench.test.range(start, CHUNK.min(count - start));
        let error = reconstruction_error(&autoencoder, images).try_into_vec_as::<f32>()?;
        sum += f64::from(error[0]);
    }
    Ok(sum / count as f64)
}

fn write(path: &Path, bytes: &[u8]) -> CliResult {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}
