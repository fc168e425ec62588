//! The experiments lab on tiny deterministic settings: small models trained on a slice of the
//! bundled MNIST, a few images, few steps. Each test asserts what must hold whatever the
//! numbers: every reported norm lies within its radius, every reported success is a
//! misclassification when evaluated again, the counts add up, and the same settings give the
//! same outcome however the work is chunked.
//!
//! `cargo test --release --test experiments`.

mod common;

use burn::prelude::*;
use common::{N, bundle, device_rng, slice};
use dimple::ml::attack::{AttackConfig, BatchPgd, Goal, classify};
use dimple::ml::autoencoder::{
    Autoencoder, AutoencoderConfig, AutoencoderKind, AutoencoderTrainer, reconstruction_error,
};
use dimple::ml::experiments::advtrain::{AdvTrainConfig, AdvTrainExperiment, AdvTrainOutcome};
use dimple::ml::experiments::detect::{DetectConfig, DetectExperiment, View, control_directions};
use dimple::ml::experiments::dynamics::{DynamicsConfig, DynamicsExperiment, DynamicsOutcome};
use dimple::ml::experiments::mislabeled::{
    MislabeledConfig, MislabeledExperiment, MislabeledOutcome,
};
use dimple::ml::experiments::norms::{NormsConfig, NormsExperiment, NormsOutcome};
use dimple::ml::experiments::{AttackKind, Experiment, FlipSummary, Images, run};
use dimple::ml::manifold::l2_norm;
use dimple::ml::model::{Classifier, ImageShape};
use dimple::ml::train::{TrainConfig, Trainer};
use std::sync::{Mutex, OnceLock};

fn small_training(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 32,
        seed: 3,
        ..TrainConfig::default()
    }
}

/// An MLP trained for one epoch on 2,000 images (about 85% accurate) and an MLP autoencoder
/// with k = 8, shared by the tests that only attack.
fn models() -> (Classifier, Autoencoder) {
    static MODELS: OnceLock<Mutex<(Classifier, Autoencoder)>> = OnceLock::new();
    MODELS
        .get_or_init(|| {
            let _rng = device_rng();
            let device = Device::flex();
            let train = slice(true, 2000);
            let mut trainer = Trainer::new(small_training(1), ImageShape::MNIST, &train, &device);
            while !trainer.is_done() {
                trainer.step();
            }
            let config = AutoencoderConfig {
                kind: AutoencoderKind::Mlp,
                latent: 8,
                epochs: 1,
                ..AutoencoderConfig::default()
            };
            let mut ae =
                AutoencoderTrainer::new(config, ImageShape::MNIST, &train, &device).unwrap();
            while !ae.is_done() {
                ae.step();
            }
            Mutex::new((trainer.model(), ae.model()))
        })
        .lock()
        .unwrap()
        .clone()
}

fn tiny_attack() -> AttackConfig {
    AttackConfig {
        eps: 4.0,
        step_size: 0.1,
        steps: 40,
        ..AttackConfig::default()
    }
}

/// `experiment` driven one unit at a time, checking that progress only moves forward and ends
/// at its total.
fn step_by_step<E: Experiment>(mut experiment: E) -> E::Outcome {
    let mut last = experiment.progress();
    assert!(last.done < last.total);
    while !experiment.is_done() {
        pollster::block_on(experiment.advance(1)).unwrap();
        let now = experiment.progress();
        assert!(
            now.done >= last.done && now.total == last.total,
            "{last:?} → {now:?}"
        );
        last = now;
    }
    assert_eq!((last.done, last.stage), (last.total, "done"));
    experiment.finish().unwrap()
}

fn x_plus(x: &[f32], d: &[f32]) -> Vec<f32> {
    x.iter().zip(d).map(|(a, b)| a + b).collect()
}

fn predicted(classifier: &Classifier, image: &[f32]) -> u8 {
    pollster::block_on(classify(classifier, image, N, &Device::flex())).unwrap()[0].predicted
}

/// Within the radius, allowing for float rounding.
fn within(l2: f32, eps: f32) -> bool {
    l2 <= eps * (1.0 + 1e-5)
}

fn check_flip_summary(s: &FlipSummary, eps: f32) {
    assert!(s.flipped <= s.attacked);
    if let Some(norms) = s.norms {
        assert_eq!(norms.count, s.flipped);
        assert!(within(norms.max as f32, eps), "{norms:?}");
        assert!(norms.min <= norms.q1 && norms.q1 <= norms.median);
        assert!(norms.median <= norms.q3 && norms.q3 <= norms.max);
    } else {
        assert_eq!(s.flipped, 0);
    }
}

#[test]
fn norms_experiment_reports_checked_flips_and_is_deterministic() {
    let (classifier, autoencoder) = models();
    let device = Device::flex();
    let data = bundle();
    let images = Images::sample(data, &data.test, 12, 5);
    assert_eq!(images, Images::sample(data, &data.test, 12, 5));
    assert!(images.indices.windows(2).all(|w| w[0] < w[1]));
    let config = NormsConfig {
        attack: tiny_attack(),
        batch: 3,
        seed: 2,
        bins: 8,
    };
    let experiment = || {
        NormsExperiment::new(
            classifier.clone(),
            autoencoder.clone(),
            images.clone(),
            config.clone(),
            &device,
        )
        .unwrap()
    };
    let outcome: NormsOutcome = step_by_step(experiment());
    assert_eq!(
        outcome,
        pollster::block_on(run(experiment())).unwrap(),
        "same settings, same outcome, in units or in one go"
    );

    assert_eq!(outcome.considered, 12);
    assert_eq!(outcome.skipped.len() + outcome.records.len(), 12);
    for s in &outcome.skipped {
        let at = images.indices.iter().position(|&i| i == s.index).unwrap();
        assert_eq!(predicted(&classifier, images.image(at)), s.predicted);
        assert_ne!(
            s.predicted, s.label,
            "only misclassified images are skipped"
        );
    }
    let eps = config.attack.eps;
    for r in &outcome.records {
        let at = images.indices.iter().position(|&i| i == r.index).unwrap();
        let x = images.image(at);
        assert_eq!(
            predicted(&classifier, x),
            r.label,
            "only correct images are attacked"
        );
        assert_eq!(r.rank, 8);
        for (kind, a) in AttackKind::ALL.iter().zip(&r.attacks) {
            assert!(within(a.l2, eps), "{kind:?}: {} > {eps}", a.l2);
            assert!((a.l2 - l2_norm(&a.perturbation)).abs() < 1e-4);
            let adversarial = x_plus(x, &a.perturbation);
            assert!(adversarial.iter().all(|p| (-1e-6..=1.0 + 1e-6).contains(p)));
            let again = predicted(&classifier, &adversarial);
            if a.flipped {
                assert_ne!(
                    again, r.label,
                    "{kind:?}: a reported flip is a misclassification"
                );
                assert!(a.steps >= 1 && a.steps <= config.attack.steps);
            } else {
                assert_eq!(again, r.label, "{kind:?}: a failure still has the label");
                assert_eq!(a.steps, config.attack.steps);
            }
            assert_eq!(again, a.predicted);
            assert_eq!(a.outside_fraction.is_some(), *kind != AttackKind::Plain);
            assert!(a.outside_fraction.is_none_or(|f| (0.0..=1.0).contains(&f)));
        }
        assert!((0.0..=1.0).contains(&r.tangent_fraction));
        assert!((0.0..=1.0).contains(&r.random_fraction));
    }
    assert!(
        outcome.summary(AttackKind::Plain).flipped > 0,
        "the check above checked flips"
    );
    for kind in AttackKind::ALL {
        let s = outcome.summary(kind);
        assert_eq!(s.attacked, outcome.records.len());
        check_flip_summary(&s, eps);
        let (ratios, count) = outcome.ratio_to_plain(kind);
        assert_eq!(count, outcome.summary(AttackKind::Plain).flipped);
        if kind == AttackKind::Plain && count > 0 {
            assert_eq!(ratios.unwrap().median, 1.0);
        }
        // The summary's share outside the subspace is the mean of the images' shares, and the
        // plain attack has none.
        match (s.outside, outcome.outside(kind)) {
            (None, None) => assert_eq!(kind, AttackKind::Plain),
            (Some(mean), Some(each)) => {
                assert_ne!(kind, AttackKind::Plain);
                assert!((mean - each.mean).abs() < 1e-9 && (0.0..=1.0).contains(&mean));
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }

    let report = outcome.report();
    let norms = report.table("norms").unwrap();
    assert_eq!(norms.rows.len(), 4);
    // 'outside subspace' in per cent, as the attack view's cards give it.
    let column = norms
        .columns
        .iter()
        .position(|c| c == "outside subspace")
        .unwrap();
    for (row, kind) in norms.rows.iter().zip(AttackKind::ALL) {
        let expected = outcome
            .outside(kind)
            .map_or("–".to_string(), |o| format!("{:.1}%", 100.0 * o.mean));
        assert_eq!(row[column].display(), expected, "{kind:?}");
    }
    let counts = report.table("counts").unwrap();
    let count = |row: usize| counts.rows[row][1].display().parse::<usize>().unwrap();
    assert_eq!(
        count(0),
        count(1) + count(2),
        "considered = skipped + attacked"
    );
    assert_eq!(
        report.table("images").unwrap().rows.len(),
        outcome.records.len()
    );
    assert_eq!(
        report.table("skipped").unwrap().rows.len(),
        outcome.skipped.len()
    );
    assert!(
        report.to_text().contains("0.847"),
        "the reproduction's figures are beside ours"
    );
}

#[test]
fn detect_experiment_measures_every_view_and_is_deterministic() {
    let (classifier, autoencoder) = models();
    let device = Device::flex();
    let data = bundle();
    let images = Images::sample(data, &data.test, 8, 6);
    let config = DetectConfig {
        attack: tiny_attack(),
        batch: 3,
        bins: 6,
    };
    let experiment = || {
        DetectExperiment::new(
            classifier.clone(),
            autoencoder.clone(),
            images.clone(),
            config.clone(),
            &device,
        )
        .unwrap()
    };
    let outcome = step_by_step(experiment());
    assert_eq!(outcome, pollster::block_on(run(experiment())).unwrap());
    assert_eq!(outcome.skipped + outcome.records.len(), 8);
    for r in &outcome.records {
        let at = images.indices.iter().position(|&i| i == r.index).unwrap();
        let x = images.image(at);
        assert!(within(r.l2, config.attack.eps));
        assert_eq!(r.predicted[View::Clean as usize], r.label);
        let again = predicted(&classifier, &x_plus(x, &r.perturbation));
        assert_eq!(again, r.predicted[View::Adversarial as usize]);
        assert_eq!(
            r.flipped,
            again != r.label,
            "a reported flip is a misclassification"
        );
        assert!(r.errors.iter().all(|e| e.is_finite() && *e >= 0.0));
        // The clean error is the autoencoder's own reconstruction error of x.
        let tensor = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, N]), &device);
        let error = reconstruction_error(&autoencoder, tensor)
            .try_into_vec_as::<f32>()
            .unwrap()[0];
        assert!(
            (error - r.errors[0]).abs() <= 1e-5 * error.max(1e-3),
            "{error} vs {}",
            r.errors[0]
        );
        // The control: x moved along its own random unit direction by as much as D(E(x))
        // moves it, clipped to the box.
        let directions = control_directions(config.attack.seed, r.index, N);
        for (i, u) in directions.iter().enumerate() {
            let norm = u.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "unit direction, not {norm}");
            assert!(
                directions[..i].iter().all(|w| w != u),
                "a direction per view"
            );
        }
        let tensor = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, N]), &device);
        let recon = autoencoder
            .reconstruct(tensor)
            .try_into_vec_as::<f32>()
            .unwrap();
        let length = recon
            .iter()
            .zip(x)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt();
        let moved: Vec<f32> = x
            .iter()
            .zip(&directions[0])
            .map(|(a, u)| (a + length * u).clamp(0.0, 1.0))
            .collect();
        assert_eq!(
            predicted(&classifier, &moved),
            r.randomized[View::Clean as usize]
        );
    }
    let flipped = outcome.records.iter().filter(|r| r.flipped).count();
    assert!(flipped > 0, "the checks above checked flips");
    for view in View::ALL {
        let expected = if view == View::Clean {
            outcome.records.len()
        } else {
            flipped
        };
        assert_eq!(outcome.errors(view).len(), expected);
        if view != View::Clean && flipped > 0 {
            let auc = outcome.auc(view).unwrap();
            assert!((0.0..=1.0).contains(&auc));
        }
    }
    let (on_x, _, _) = outcome.accuracies(View::Clean);
    assert_eq!(on_x, Some(1.0), "every attacked image starts correct");
    if flipped > 0 {
        assert_eq!(outcome.accuracies(View::Adversarial).0, Some(0.0));
    }
    let report = outcome.report();
    assert_eq!(report.table("errors").unwrap().rows.len(), 4);
    assert_eq!(report.table("purification").unwrap().rows.len(), 4);
}

fn dynamics_run() -> DynamicsOutcome {
    let (_, autoencoder) = models();
    let data = bundle();
    let config = DynamicsConfig {
        train: small_training(2),
        attack: tiny_attack(),
        batch: 2,
        early: 2,
        seed: 4,
    };
    let experiment = DynamicsExperiment::new(
        autoencoder,
        slice(true, 256),
        slice(false, 200),
        Images::sample(data, &data.test, 4, 7),
        ImageShape::MNIST,
        config,
        &Device::flex(),
    )
    .unwrap();
    let _rng = device_rng();
    step_by_step(experiment)
}

#[test]
fn dynamics_experiment_measures_every_checkpoint_and_is_deterministic() {
    let outcome = dynamics_run();
    // 256 images in batches of 32: 8 steps an epoch.
    let steps: Vec<usize> = outcome.checkpoints.iter().map(|c| c.step).collect();
    assert_eq!(steps, vec![0, 2, 4, 8, 16]);
    assert_eq!(steps, outcome.config.checkpoints(8));
    for c in &outcome.checkpoints {
        assert_eq!(c.epoch, c.step as f64 / 8.0);
        assert!((0.0..=1.0).contains(&c.test_accuracy));
        for s in [c.tangent_fraction, c.random_fraction] {
            let s = s.unwrap();
            assert_eq!(s.count, 4);
            assert!(s.min >= 0.0 && s.max <= 1.0);
        }
        let attacked = c.attacks[0].attacked;
        assert!(attacked <= 4);
        for s in &c.attacks {
            assert_eq!(
                s.attacked, attacked,
                "every attack on the same correct probes"
            );
            check_flip_summary(s, outcome.config.attack.eps);
        }
    }
    assert!(
        outcome.checkpoints.last().unwrap().test_accuracy > outcome.checkpoints[0].test_accuracy,
        "training learns"
    );
    assert_eq!(outcome.report().table("checkpoints").unwrap().rows.len(), 5);
    assert_eq!(outcome, dynamics_run(), "same seed, same outcome");
}

fn advtrain_run() -> AdvTrainOutcome {
    let (_, autoencoder) = models();
    let data = bundle();
    let config = AdvTrainConfig {
        train: small_training(1),
        adversary: AttackConfig {
            steps: 3,
            ..AdvTrainConfig::adversary(1.5)
        },
        eval_eps: vec![1.0, 3.0],
        eval_steps: 10,
        eval_batch: 5,
        norms: NormsConfig {
            attack: tiny_attack(),
            batch: 4,
            seed: 2,
            bins: 5,
        },
    };
    let experiment = AdvTrainExperiment::new(
        autoencoder,
        slice(true, 256),
        slice(false, 200),
        &Images::sample(data, &data.test, 12, 8),
        Images::sample(data, &data.test, 4, 9),
        ImageShape::MNIST,
        config,
        &Device::flex(),
    )
    .unwrap();
    let _rng = device_rng();
    step_by_step(experiment)
}

#[test]
fn advtrain_experiment_keeps_its_radii_and_is_deterministic() {
    let outcome = advtrain_run();
    let [standard, adversarial] = &outcome.models;
    assert_eq!(
        (standard.name, adversarial.name),
        ("standard", "adversarial")
    );
    for m in &outcome.models {
        assert!((0.0..=1.0).contains(&m.clean_accuracy));
        let radii: Vec<f32> = m.robust.iter().map(|r| r.eps).collect();
        assert_eq!(radii, vec![0.0, 1.0, 3.0]);
        for r in &m.robust {
            assert_eq!(r.images, 12);
            assert!(r.correct <= r.images);
            assert!(within(r.max_l2, r.eps), "{r:?}");
        }
        assert_eq!(m.robust[0].max_l2, 0.0, "radius 0 is no attack");
        for kind in AttackKind::ALL {
            check_flip_summary(&m.norms.summary(kind), outcome.config.norms.attack.eps);
        }
    }
    assert_ne!(
        (
            &standard.norms.records,
            &standard.robust,
            standard.clean_accuracy
        ),
        (
            &adversarial.norms.records,
            &adversarial.robust,
            adversarial.clean_accuracy
        ),
        "adversarial training changes the classifier"
    );
    let report = outcome.report();
    assert_eq!(report.table("accuracy").unwrap().rows.len(), 2);
    assert_eq!(report.table("norms").unwrap().rows.len(), 3);
    assert_eq!(outcome, advtrain_run(), "same seed, same outcome");
}

fn mislabeled_run() -> MislabeledOutcome {
    let config = MislabeledConfig {
        train: small_training(2),
        attack: AttackConfig {
            eps: 2.0,
            step_size: 0.3,
            steps: 10,
            ..AttackConfig::default()
        },
        batch: 64,
    };
    let experiment = MislabeledExperiment::new(
        slice(true, 300),
        slice(false, 200),
        ImageShape::MNIST,
        config,
        &Device::flex(),
    )
    .unwrap();
    let _rng = device_rng();
    step_by_step(experiment)
}

#[test]
fn mislabeled_experiment_keeps_its_radius_and_is_deterministic() {
    let outcome = mislabeled_run();
    assert_eq!((outcome.training_images, outcome.test_images), (300, 200));
    assert!(outcome.reached_target <= 300);
    assert!(within(outcome.max_l2, outcome.config.attack.eps));
    assert!(outcome.mean_l2 <= f64::from(outcome.max_l2) + 1e-6);
    assert!(outcome.mean_l2 > 0.0);
    for share in [
        outcome.n1_accuracy,
        outcome.n2_fit,
        outcome.n2_accuracy,
        outcome.n2_shifted,
    ] {
        assert!((0.0..=1.0).contains(&share));
    }
    assert!(
        outcome.n2_accuracy + outcome.n2_shifted <= 1.0 + 1e-9,
        "disjoint predictions"
    );
    assert_eq!(outcome.chance(), 0.1);
    assert!((outcome.chance_among_other() - 1.0 / 9.0).abs() < 1e-12);
    if let Some(share) = outcome.true_among_other() {
        assert!(
            (share * (1.0 - outcome.n2_shifted) - outcome.n2_accuracy).abs() < 1e-9,
            "the true class's share of the predictions other than (y + 1) mod C"
        );
    }
    assert!(outcome.reached_target > 0, "N2 had images to learn from");
    assert_eq!(outcome.report().table("headline").unwrap().rows.len(), 11);
    assert_eq!(outcome, mislabeled_run(), "same seed, same outcome");
}

#[test]
fn batch_pgd_stays_in_the_ball_and_the_box_and_reaches_targets() {
    let (classifier, _) = models();
    let device = Device::flex();
    let data = bundle();
    let images = Images::sample(data, &data.test, 16, 10);
    let (x, labels) = images.tensors(&device);
    let targets = labels.clone().add_scalar(1).remainder_scalar(10);
    for (eps, goal) in [(1.0, Goal::Untargeted), (8.0, Goal::Targeted)] {
        let pgd = BatchPgd::new(AttackConfig {
            eps,
            step_size: eps / 4.0,
            steps: 12,
            ..AttackConfig::default()
        })
        .unwrap();
        let classes = if goal == Goal::Targeted {
            targets.clone()
        } else {
            labels.clone()
        };
        let adversarial = pgd.perturb(&classifier, x.clone(), classes, goal);
        let values = adversarial.clone().try_into_vec_as::<f32>().unwrap();
        assert!(
            values.iter().all(|p| (0.0..=1.0).contains(p)),
            "inside the pixel box"
        );
        for (i, row) in values.chunks(N).enumerate() {
            let d: Vec<f32> = row
                .iter()
                .zip(images.image(i))
                .map(|(a, b)| a - b)
                .collect();
            assert!(within(l2_norm(&d), eps), "{goal:?}: {}", l2_norm(&d));
        }
        let verdicts = pollster::block_on(classify(&classifier, &values, N, &device)).unwrap();
        if goal == Goal::Targeted {
            let reached = verdicts
                .iter()
                .zip(&images.labels)
                .filter(|(v, l)| v.predicted == (**l + 1) % 10)
                .count();
            assert!(
                reached >= 14,
                "a radius of 8 reaches the target: {reached} of 16"
            );
        }
    }
    for bad in [
        AttackConfig {
            random_start: true,
            ..AttackConfig::default()
        },
        AttackConfig {
            target: Some(3),
            ..AttackConfig::default()
        },
    ] {
        assert!(BatchPgd::new(bad).is_err());
    }
}

#[test]
fn training_through_step_with_the_identity_equals_plain_steps() {
    let device = Device::flex();
    let train = slice(true, 128);
    let probe = slice(false, 20).images;
    let outputs = |replace: bool| {
        let _rng = device_rng();
        let mut trainer = Trainer::new(small_training(1), ImageShape::MNIST, &train, &device);
        while !trainer.is_done() {
            if replace {
                trainer.step_with(|_, images, _| images);
            } else {
                trainer.step();
            }
        }
        trainer
            .model()
            .forward(probe.clone())
            .try_into_vec_as::<f32>()
            .unwrap()
    };
    assert_eq!(outputs(true), outputs(false));
    // And a replacement is trained on: blank images give another model.
    let guard = device_rng();
    let mut trainer = Trainer::new(small_training(1), ImageShape::MNIST, &train, &device);
    while !trainer.is_done() {
        trainer.step_with(|_, images, _| images.zeros_like());
    }
    let blank = trainer
        .model()
        .forward(probe.clone())
        .try_into_vec_as::<f32>()
        .unwrap();
    drop(guard);
    assert_ne!(blank, outputs(false));
}
