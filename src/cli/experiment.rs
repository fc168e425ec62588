//! `dimple experiment …`: the experiments lab from the terminal. Trains the models an
//! experiment needs, drives it to the end with the same `ml::experiments` code the page runs,
//! prints its tables and writes them as JSON, CSV or Markdown on request. Every stage is
//! timed; the wall time goes into the report.

use super::{CliResult, USAGE, Workbench};
use crate::ml::attack::AttackConfig;
use crate::ml::autoencoder::{
    Autoencoder, AutoencoderConfig, AutoencoderKind, AutoencoderTrainer, reconstruction_error,
};
use crate::ml::batch::DeviceSplit;
use crate::ml::experiments::advtrain::{AdvTrainConfig, AdvTrainExperiment};
use crate::ml::experiments::detect::{DetectConfig, DetectExperiment};
use crate::ml::experiments::dynamics::{DynamicsConfig, DynamicsExperiment};
use crate::ml::experiments::mislabeled::{MislabeledConfig, MislabeledExperiment};
use crate::ml::experiments::norms::{NormsConfig, NormsExperiment};
use crate::ml::experiments::report::Report;
use crate::ml::experiments::{Experiment, Images};
use crate::ml::mnist;
use crate::ml::model::Classifier;
use crate::ml::train::{TrainConfig, Trainer, evaluate};
use std::path::PathBuf;
use std::time::Instant;

/// Which experiment to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Norms,
    Dynamics,
    AdvTrain,
    Mislabeled,
    Detect,
}

impl Which {
    fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "norms" => Self::Norms,
            "dynamics" => Self::Dynamics,
            "advtrain" => Self::AdvTrain,
            "mislabeled" => Self::Mislabeled,
            "detect" => Self::Detect,
            _ => return Err(format!("unknown experiment {name:?}\n{USAGE}")),
        })
    }

    /// Whether the experiment uses the autoencoder.
    fn needs_autoencoder(self) -> bool {
        self != Self::Mislabeled
    }
}

/// The command line, parsed.
#[derive(Clone, Debug, PartialEq)]
struct Options {
    which: Which,
    data: PathBuf,
    seed: u64,
    train: TrainConfig,
    autoencoder: AutoencoderConfig,
    n: Option<usize>,
    probes: usize,
    eps: Option<f32>,
    eval_eps: Vec<f32>,
    steps: Option<usize>,
    step: Option<f32>,
    attack_batch: Option<usize>,
    early: usize,
    json: Option<PathBuf>,
    csv: Option<PathBuf>,
    markdown: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let (name, flags) = args
            .split_first()
            .ok_or_else(|| format!("which experiment?\n{USAGE}"))?;
        let mut o = Self {
            which: Which::parse(name)?,
            data: PathBuf::from("static/data").join(mnist::BUNDLE_FILE),
            seed: 1,
            train: TrainConfig::default(),
            autoencoder: AutoencoderConfig::default(),
            n: None,
            probes: 50,
            eps: None,
            eval_eps: AdvTrainConfig::default().eval_eps,
            steps: None,
            step: None,
            attack_batch: None,
            early: DynamicsConfig::default().early,
            json: None,
            csv: None,
            markdown: None,
        };
        let mut it = flags.iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .as_str();
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
            let number = |v: &str| v.parse::<f32>().map_err(|e| bad(&e));
            let count = |v: &str| v.parse::<usize>().map_err(|e| bad(&e));
            match flag.as_str() {
                "--data" => o.data = value.into(),
                "--seed" => o.seed = value.parse().map_err(|e| bad(&e))?,
                "--model" => o.train.model = value.parse()?,
                "--epochs" => o.train.epochs = count(value)?,
                "--batch" => o.train.batch_size = count(value)?,
                "--lr" => o.train.learning_rate = value.parse().map_err(|e| bad(&e))?,
                "--shift" => o.train.max_shift = count(value)?,
                "--ema" => o.train.ema_decay = value.parse().map_err(|e| bad(&e))?,
                "--ae" => o.autoencoder.kind = value.parse::<AutoencoderKind>()?,
                "--k" => o.autoencoder.latent = count(value)?,
                "--ae-epochs" => o.autoencoder.epochs = count(value)?,
                "--n" => o.n = Some(count(value)?),
                "--probes" => o.probes = count(value)?,
                "--eps" => o.eps = Some(number(value)?),
                "--eval-eps" => {
                    o.eval_eps = value.split(',').map(number).collect::<Result<_, _>>()?;
                }
                "--steps" => o.steps = Some(count(value)?),
                "--step" => o.step = Some(number(value)?),
                "--attack-batch" => o.attack_batch = Some(count(value)?),
                "--early" => o.early = count(value)?,
                "--json" => o.json = Some(value.into()),
                "--csv" => o.csv = Some(value.into()),
                "--markdown" => o.markdown = Some(value.into()),
                _ => return Err(format!("unknown option {flag}\n{USAGE}")),
            }
        }
        o.train.seed = o.seed;
        o.autoencoder.seed = o.seed;
        o.train.validate()?;
        if o.which.needs_autoencoder() {
            o.autoencoder.validate()?;
        }
        Ok(o)
    }

    /// `base` with the attack options given on the command line.
    fn attack(&self, base: AttackConfig) -> AttackConfig {
        AttackConfig {
            eps: self.eps.unwrap_or(base.eps),
            steps: self.steps.unwrap_or(base.steps),
            step_size: self.step.unwrap_or(base.step_size),
            ..base
        }
    }

    /// `--n` test images (`default` without it) drawn by the seed.
    fn test_images(&self, bench: &Workbench, default: usize) -> Images {
        let test = &bench.dataset.test;
        Images::sample(&bench.dataset, test, self.n.unwrap_or(default), self.seed)
    }

    fn norms(&self) -> NormsConfig {
        let base = NormsConfig::default();
        NormsConfig {
            attack: self.attack(base.attack.clone()),
            batch: self.attack_batch.unwrap_or(base.batch),
            seed: self.seed,
            ..base
        }
    }
}

/// Runs `dimple experiment ARGS`.
pub fn run(args: &[String]) -> CliResult {
    let options = Options::parse(args)?;
    let started = Instant::now();
    let bench = Workbench::load(&options.data)?;
    let mut timings = vec![(
        "loading the data".to_string(),
        started.elapsed().as_secs_f64(),
    )];
    let mut settings = vec![
        (
            "data".to_string(),
            format!(
                "{} ({}, {} train / {} test images)",
                options.data.display(),
                bench.dataset.name,
                bench.train.len(),
                bench.test.len()
            ),
        ),
        ("seed".to_string(), options.seed.to_string()),
    ];
    let autoencoder = if options.which.needs_autoencoder() {
        let (ae, mse) = train_autoencoder(&options, &bench, &mut timings)?;
        let c = &options.autoencoder;
        settings.push((
            "autoencoder".into(),
            format!(
                "{}, k = {}, {} epochs, test MSE {mse:.4}",
                c.kind.label(),
                c.latent,
                c.epochs
            ),
        ));
        Some(ae)
    } else {
        None
    };
    let mut report = match options.which {
        Which::Norms | Which::Detect => {
            let (classifier, accuracy) = train_classifier(&options.train, &bench, &mut timings)?;
            let t = &options.train;
            settings.push((
                "classifier".into(),
                format!(
                    "{}, {} epochs, test accuracy {:.2}%",
                    t.model.label(),
                    t.epochs,
                    100.0 * accuracy
                ),
            ));
            let ae = autoencoder.expect("trained above");
            let images = options.test_images(&bench, 100);
            if options.which == Which::Norms {
                let e =
                    NormsExperiment::new(classifier, ae, images, options.norms(), &bench.device)?;
                drive(e, &mut timings)?.report()
            } else {
                let base = DetectConfig::default();
                let config = DetectConfig {
                    attack: options.attack(base.attack.clone()),
                    batch: options.attack_batch.unwrap_or(base.batch),
                    ..base
                };
                let e = DetectExperiment::new(classifier, ae, images, config, &bench.device)?;
                drive(e, &mut timings)?.report()
            }
        }
        Which::Dynamics => {
            let base = DynamicsConfig::default();
            let config = DynamicsConfig {
                train: options.train.clone(),
                attack: options.attack(base.attack.clone()),
                batch: options.attack_batch.unwrap_or(base.batch),
                early: options.early,
                seed: options.seed,
            };
            let probes = options.test_images(&bench, 50);
            let e = DynamicsExperiment::new(
                autoencoder.expect("trained above"),
                bench.train.clone(),
                bench.test.clone(),
                probes,
                bench.shape,
                config,
                &bench.device,
            )?;
            drive(e, &mut timings)?.report()
        }
        Which::AdvTrain => {
            let base = AdvTrainConfig::default();
            let config = AdvTrainConfig {
                train: options.train.clone(),
                adversary: AttackConfig {
                    steps: options.steps.unwrap_or(base.adversary.steps),
                    ..AdvTrainConfig::adversary(options.eps.unwrap_or(AdvTrainConfig::DEFAULT_EPS))
                },
                eval_eps: options.eval_eps.clone(),
                norms: NormsConfig {
                    seed: options.seed,
                    ..NormsConfig::default()
                },
                ..base
            };
            let robust = options.test_images(&bench, 500);
            let probes = Images::sample(
                &bench.dataset,
                &bench.dataset.test,
                options.probes,
                options.seed.wrapping_add(1),
            );
            let e = AdvTrainExperiment::new(
                autoencoder.expect("trained above"),
                bench.train.clone(),
                bench.test.clone(),
                &robust,
                probes,
                bench.shape,
                config,
                &bench.device,
            )?;
            drive(e, &mut timings)?.report()
        }
        Which::Mislabeled => {
            let base = MislabeledConfig::default();
            let config = MislabeledConfig {
                train: options.train.clone(),
                attack: options.attack(base.attack.clone()),
                batch: options.attack_batch.unwrap_or(base.batch),
            };
            let train = match options.n {
                Some(n) if n < bench.train.len() => {
                    let chosen =
                        Images::sample(&bench.dataset, &bench.dataset.train, n, options.seed);
                    let (images, labels) = bench.train.gather(&chosen.indices);
                    DeviceSplit { images, labels }
                }
                _ => bench.train.clone(),
            };
            let e = MislabeledExperiment::new(
                train,
                bench.test.clone(),
                bench.shape,
                config,
                &bench.device,
            )?;
            drive(e, &mut timings)?.report()
        }
    };
    // The command line's settings first; the experiment's own, unless they repeat one.
    let own = std::mem::take(&mut report.settings);
    report.settings = settings;
    for (name, value) in own {
        if report.settings.iter().all(|(n, _)| *n != name) {
            report.settings.push((name, value));
        }
    }
    report.timings = timings;
    print!("{}", report.to_text());
    write_exports(&options, &report)
}

fn write_exports(options: &Options, report: &Report) -> CliResult {
    for (path, text) in [
        (&options.json, report.to_json()),
        (&options.csv, report.to_csv()),
        (&options.markdown, report.to_markdown()),
    ] {
        if let Some(path) = path {
            std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// Adds `seconds` to `stage`'s timing (stages are listed in the order they first ran).
fn add_time(timings: &mut Vec<(String, f64)>, stage: &str, seconds: f64) {
    match timings.iter_mut().find(|(s, _)| s == stage) {
        Some((_, t)) => *t += seconds,
        None => timings.push((stage.to_string(), seconds)),
    }
}

/// Runs `experiment` one unit at a time, timing each stage and reporting progress on stderr.
fn drive<E: Experiment>(
    mut experiment: E,
    timings: &mut Vec<(String, f64)>,
) -> Result<E::Outcome, String> {
    let mut last_print = Instant::now();
    let mut last_stage = "";
    while !experiment.is_done() {
        let stage = experiment.progress().stage;
        let started = Instant::now();
        pollster::block_on(experiment.advance(1))?;
        add_time(timings, stage, started.elapsed().as_secs_f64());
        if stage != last_stage || last_print.elapsed().as_secs_f64() > 2.0 {
            let p = experiment.progress();
            eprintln!("  {stage}: {} of {} units", p.done, p.total);
            (last_stage, last_print) = (stage, Instant::now());
        }
    }
    experiment.finish()
}

/// Trains the classifier of `config` on the bench's training split; returns it and its test
/// accuracy.
fn train_classifier(
    config: &TrainConfig,
    bench: &Workbench,
    timings: &mut Vec<(String, f64)>,
) -> Result<(Classifier, f64), String> {
    let started = Instant::now();
    let mut trainer = Trainer::new(config.clone(), bench.shape, &bench.train, &bench.device);
    while !trainer.is_done() {
        trainer.step();
    }
    let model = trainer.model();
    let (images, labels) = bench.test.range(0, bench.test.len());
    let metrics = evaluate(&model, images, labels)
        .try_into_vec_as::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    let accuracy = f64::from(metrics[1]) / bench.test.len() as f64;
    add_time(
        timings,
        "training the classifier",
        started.elapsed().as_secs_f64(),
    );
    eprintln!(
        "  classifier: {} epochs, test accuracy {:.2}%",
        config.epochs,
        100.0 * accuracy
    );
    Ok((model, accuracy))
}

/// Trains the autoencoder of the options; returns it and its test MSE per pixel.
fn train_autoencoder(
    options: &Options,
    bench: &Workbench,
    timings: &mut Vec<(String, f64)>,
) -> Result<(Autoencoder, f64), String> {
    let started = Instant::now();
    let mut trainer = AutoencoderTrainer::new(
        options.autoencoder.clone(),
        bench.shape,
        &bench.train,
        &bench.device,
    )?;
    while !trainer.is_done() {
        trainer.step();
    }
    let model = trainer.model();
    let (images, _) = bench.test.range(0, bench.test.len());
    let error = reconstruction_error(&model, images)
        .try_into_vec_as::<f32>()
        .map_err(|e| format!("{e:?}"))?[0];
    let mse = f64::from(error) / bench.test.len() as f64;
    add_time(
        timings,
        "training the autoencoder",
        started.elapsed().as_secs_f64(),
    );
    eprintln!(
        "  autoencoder: k = {}, {} epochs, test MSE {mse:.4}",
        options.autoencoder.latent, options.autoencoder.epochs
    );
    Ok((model, mse))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_parse_and_reach_the_configs() {
        let o = Options::parse(&args(
            "norms --n 7 --eps 3 --steps 20 --step 0.2 --seed 9 --k 8 --model cnn --attack-batch 2",
        ))
        .unwrap();
        assert_eq!(o.which, Which::Norms);
        assert_eq!(o.n, Some(7));
        assert_eq!((o.train.seed, o.autoencoder.seed), (9, 9));
        assert_eq!(o.autoencoder.latent, 8);
        let norms = o.norms();
        assert_eq!((norms.attack.eps, norms.attack.steps), (3.0, 20));
        assert_eq!(
            (norms.attack.step_size, norms.batch, norms.seed),
            (0.2, 2, 9)
        );
        let o = Options::parse(&args("advtrain --eval-eps 0.5,2")).unwrap();
        assert_eq!(o.eval_eps, vec![0.5, 2.0]);
    }

    #[test]
    fn bad_command_lines_are_named() {
        for (line, expected) in [
            ("", "which experiment"),
            ("bogus", "unknown experiment"),
            ("norms --n", "--n needs a value"),
            ("norms --n many", "--n many"),
            ("norms --frobnicate 1", "unknown option --frobnicate"),
            ("norms --epochs 0", "epochs"),
            ("detect --k 1", "latent dimension"),
        ] {
            let err = Options::parse(&args(line)).unwrap_err();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }
}
