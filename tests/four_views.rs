//! The science of the four views, end to end on the bundled MNIST: an autoencoder models the
//! manifold, its decoder Jacobian gives the tangent space, PGD (plain and restricted) finds
//! perturbations, and the projections split them into on- and off-manifold parts.
//!
//! Small models trained for one epoch on a slice of the bundle keep this fast. Two ignored
//! tests measure: `cargo test --release --test four_views -- --ignored --nocapture`.

mod common;

use burn::prelude::*;
use common::{N, bundle, device_rng, slice};
use dimple::ml::attack::{
    AttackConfig, AttackJob, Norm, PgdRun, Restriction, Subspace, classify, four_views, pgd,
    pgd_batch,
};
use dimple::ml::autoencoder::{
    Autoencoder, AutoencoderConfig, AutoencoderKind, AutoencoderTrainer, reconstruction_error,
};
use dimple::ml::batch::DeviceSplit;
use dimple::ml::manifold::{
    TangentBasis, l2_norm, off_manifold, on_manifold_fraction, project_on_manifold,
    random_subspace, tangent_basis,
};
use dimple::ml::model::{Classifier, ClassifierKind, ImageShape};
use dimple::ml::rng::Rng;
use dimple::ml::train::{TrainConfig, Trainer};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// Test image `i` with pixels in [0, 1], and its label.
fn test_image(i: usize) -> (Vec<f32>, u8) {
    let data = bundle();
    let pixels = data
        .image(&data.test, i)
        .iter()
        .map(|&p| f32::from(p) / 255.0);
    (pixels.collect(), data.test.labels[i])
}

/// An MLP classifier trained for three epochs on 6,000 images.
fn classifier() -> Classifier {
    static MODEL: OnceLock<Mutex<Classifier>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let _guard = device_rng();
            let config = TrainConfig {
                model: ClassifierKind::Mlp,
                epochs: 3,
                batch_size: 64,
                learning_rate: 1e-3,
                seed: 1,
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(
                config,
                ImageShape::MNIST,
                &slice(true, 6000),
                &Device::flex(),
            );
            while !trainer.is_done() {
                trainer.step();
            }
            Mutex::new(trainer.model())
        })
        .lock()
        .unwrap()
        .clone()
}

fn train_autoencoder(
    config: AutoencoderConfig,
    train: &DeviceSplit,
) -> (AutoencoderTrainer, Vec<f32>) {
    let _guard = device_rng();
    let mut trainer =
        AutoencoderTrainer::new(config, ImageShape::MNIST, train, &Device::flex()).unwrap();
    let mut losses = Vec::new();
    while !trainer.is_done() {
        losses.push(trainer.step().metrics.try_into_vec_as::<f32>().unwrap()[0]);
    }
    (trainer, losses)
}

/// A conv autoencoder (k = 16) trained for one epoch on 6,000 images.
fn autoencoder() -> Autoencoder {
    static MODEL: OnceLock<Mutex<Autoencoder>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let config = AutoencoderConfig {
                epochs: 1,
                ..AutoencoderConfig::default()
            };
            Mutex::new(train_autoencoder(config, &slice(true, 6000)).0.model())
        })
        .lock()
        .unwrap()
        .clone()
}

fn basis_at(x: &[f32]) -> TangentBasis {
    pollster::block_on(tangent_basis(&autoencoder(), x, &Device::flex())).unwrap()
}

/// One attack job on `x` per entry of `subspaces`: restricted to that side of `basis`, or
/// plain for `None`.
fn restricted_jobs<'a>(
    x: &'a [f32],
    label: u8,
    basis: &'a TangentBasis,
    subspaces: impl IntoIterator<Item = Option<Subspace>>,
) -> Vec<AttackJob<'a>> {
    subspaces
        .into_iter()
        .map(|s| AttackJob {
            image: x,
            label,
            restriction: s.map(|subspace| Restriction { basis, subspace }),
        })
        .collect()
}

/// Mean squared reconstruction error per pixel on the first `count` test images.
fn test_mse(model: &Autoencoder, count: usize) -> f32 {
    let (images, _) = slice(false, count).range(0, count);
    reconstruction_error(model, images)
        .try_into_vec_as::<f32>()
        .unwrap()[0]
        / count as f32
}

#[test]
fn autoencoder_training_is_deterministic_and_learns_to_reconstruct() {
    let config = AutoencoderConfig {
        epochs: 1,
        batch_size: 50,
        ..AutoencoderConfig::default()
    };
    let train = slice(true, 400);
    let (a, losses_a) = train_autoencoder(config.clone(), &train);
    let (_, losses_b) = train_autoencoder(config.clone(), &train);
    assert_eq!(losses_a, losses_b, "same seed, same run");
    let (_, losses_c) = train_autoencoder(AutoencoderConfig { seed: 2, ..config }, &train);
    assert_ne!(losses_a, losses_c);
    assert_eq!((a.steps_done(), a.total_steps()), (8, 8));

    // The fixture (one epoch on 3,000 images) beats the best constant image by far.
    let data = bundle();
    let mean: Vec<f32> = (0..N)
        .map(|i| {
            (0..1000)
                .map(|j| f32::from(data.test.pixels[j * N + i]) / 255.0)
                .sum::<f32>()
                / 1000.0
        })
        .collect();
    let constant_mse = (0..1000)
        .map(|j| {
            (0..N)
                .map(|i| (f32::from(data.test.pixels[j * N + i]) / 255.0 - mean[i]).powi(2))
                .sum::<f32>()
        })
        .sum::<f32>()
        / (1000 * N) as f32;
    let mse = test_mse(&autoencoder(), 1000);
    assert!(
        mse < 0.6 * constant_mse,
        "reconstruction MSE {mse} vs constant image {constant_mse}"
    );
}

#[test]
fn tangent_basis_of_a_trained_autoencoder_is_orthonormal_and_full_rank() {
    let (x, _) = test_image(0);
    let basis = basis_at(&x);
    assert_eq!((basis.n, basis.k, basis.rank), (N, 16, 16));
    for i in 0..16 {
        for j in 0..16 {
            let dot: f32 = basis
                .column(i)
                .iter()
                .zip(basis.column(j))
                .map(|(a, b)| a * b)
                .sum();
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((dot - want).abs() < 1e-5, "Q^T Q [{i}, {j}] = {dot}");
        }
    }
    assert!(basis.diag_ratios.windows(2).all(|w| w[1] <= w[0]));
    // Decoding nearby latent codes moves along the tangent space: D(E(x) + dz) - D(E(x)) is
    // almost wholly inside it for a small dz.
    let device = Device::flex();
    let ae = autoencoder();
    let z = ae.encode(Tensor::<2>::from_data(
        TensorData::new(x.clone(), [1, N]),
        &device,
    ));
    let dz = Tensor::<2>::from_data(TensorData::new(vec![1e-2f32; 16], [1, 16]), &device);
    let moved = ae.decode(z.clone() + dz) - ae.decode(z);
    let moved = moved.try_into_vec_as::<f32>().unwrap();
    assert!(
        on_manifold_fraction(&basis, &moved) > 0.99,
        "{}",
        on_manifold_fraction(&basis, &moved)
    );
}

#[test]
fn pgd_iterates_stay_in_the_ball_and_the_box_and_raise_the_loss() {
    let model = classifier();
    let images: Vec<(Vec<f32>, u8)> = (0..4).map(test_image).collect();
    for (norm, eps, step_size) in [(Norm::L2, 1.5, 0.1), (Norm::Linf, 0.1, 0.01)] {
        for random_start in [false, true] {
            let config = AttackConfig {
                norm,
                eps,
                step_size,
                steps: 20,
                random_start,
                ..AttackConfig::default()
            };
            let jobs: Vec<AttackJob> = images
                .iter()
                .map(|(x, label)| AttackJob {
                    image: x,
                    label: *label,
                    restriction: None,
                })
                .collect();
            let results =
                pollster::block_on(pgd_batch(&model, &jobs, &config, false, &Device::flex()))
                    .unwrap();
            for (result, (x, label)) in results.iter().zip(&images) {
                assert_eq!(result.path.len(), 21);
                for step in &result.path {
                    let d = &step.perturbation;
                    match norm {
                        Norm::L2 => assert!(l2_norm(d) <= eps * (1.0 + 1e-5), "{}", l2_norm(d)),
                        Norm::Linf => assert!(d.iter().all(|v| v.abs() <= eps + 1e-6)),
                    }
                    assert!(
                        x.iter()
                            .zip(d)
                            .all(|(x, d)| (-1e-6..=1.0 + 1e-6).contains(&(x + d)))
                    );
                    let total: f32 = step.probabilities.iter().sum();
                    assert!((total - 1.0).abs() < 1e-4);
                }
                let clean = pollster::block_on(classify(&model, x, N, &Device::flex())).unwrap();
                let clean_loss = -clean[0].probabilities[usize::from(*label)].ln();
                let last = result.path.last().unwrap();
                assert!(
                    last.loss > clean_loss,
                    "{norm:?}: loss {clean_loss} -> {}",
                    last.loss
                );
                if !random_start {
                    assert!(result.path[0].perturbation.iter().all(|&v| v == 0.0));
                    assert!((result.path[0].loss - clean_loss).abs() < 1e-4);
                }
                // The ball binds: the projection onto it was exercised.
                let size = match norm {
                    Norm::L2 => l2_norm(&last.perturbation),
                    Norm::Linf => result.linf,
                };
                assert!(
                    size > 0.99 * eps,
                    "{norm:?}: {size} never reached eps {eps}"
                );
                assert_eq!(result.perturbation, last.perturbation);
                assert_eq!(result.l2, l2_norm(&last.perturbation));
            }
        }
    }
}

#[test]
fn stopping_at_the_first_flip_truncates_the_same_path() {
    let model = classifier();
    let (x, label) = test_image(1);
    let config = AttackConfig {
        steps: 30,
        ..AttackConfig::default()
    };
    let full = pollster::block_on(pgd(
        &model,
        &x,
        label,
        &config,
        None,
        false,
        &Device::flex(),
    ))
    .unwrap();
    let stopped =
        pollster::block_on(pgd(&model, &x, label, &config, None, true, &Device::flex())).unwrap();
    let t = stopped
        .flipped_at
        .expect("eps 2 flips an MLP trained for one epoch");
    assert_eq!(full.flipped_at, Some(t));
    assert_eq!(stopped.path.len(), t + 1);
    assert_eq!(stopped.path[..], full.path[..=t]);
    assert_ne!(stopped.predicted, label);
    // Norm to flip is well inside the ball, and about t steps of 0.05 long.
    assert!(stopped.l2 <= 0.05 * t as f32 + 1e-4 && stopped.l2 < 2.0);
}

#[test]
fn a_targeted_attack_that_succeeds_ends_in_the_target() {
    let model = classifier();
    for i in 0..3 {
        let (x, label) = test_image(i);
        let target = (label + 3) % 10;
        let config = AttackConfig {
            eps: 4.0,
            step_size: 0.1,
            steps: 60,
            target: Some(target),
            ..AttackConfig::default()
        };
        let result =
            pollster::block_on(pgd(&model, &x, label, &config, None, true, &Device::flex()))
                .unwrap();
        let t = result.flipped_at.expect("a large ball reaches any class");
        assert_eq!(result.predicted, target);
        assert_eq!(result.path[t].predicted, target);
        assert!(result.path[..t].iter().all(|s| s.predicted != target));
        assert!(
            result.path[t].loss < result.path[0].loss,
            "the target's loss falls"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_attack() {
    let model = classifier();
    let (x, label) = test_image(2);
    let config = AttackConfig {
        random_start: true,
        steps: 10,
        seed: 5,
        ..AttackConfig::default()
    };
    let run = |config: &AttackConfig| {
        pollster::block_on(pgd(&model, &x, label, config, None, false, &Device::flex())).unwrap()
    };
    let a = run(&config);
    assert_eq!(a, run(&config));
    assert_ne!(
        a.path[0].perturbation,
        run(&AttackConfig { seed: 6, ..config }).path[0].perturbation
    );
}

#[test]
fn restricted_attacks_move_only_in_their_subspace_until_clipped() {
    let model = classifier();
    let device = Device::flex();
    let basis = random_subspace(N, 16, &mut Rng::new(9));
    // A mid-grey image: a small ball never reaches the pixel box, so nothing is clipped.
    let grey = vec![0.5; N];
    let config = AttackConfig {
        eps: 0.4,
        step_size: 0.05,
        steps: 12,
        random_start: true,
        ..AttackConfig::default()
    };
    for subspace in [Subspace::On, Subspace::Off] {
        let restriction = Restriction {
            basis: &basis,
            subspace,
        };
        let result = pollster::block_on(pgd(
            &model,
            &grey,
            0,
            &config,
            Some(restriction),
            false,
            &device,
        ))
        .unwrap();
        for step in &result.path {
            let outside = restriction.outside_fraction(&step.perturbation);
            assert!(
                outside < 1e-3,
                "{subspace:?}: {outside} outside before any clipping"
            );
        }
        assert!(result.outside_fraction.unwrap() < 1e-3);
        assert!(result.l2 > 0.3, "{subspace:?} moved {}", result.l2);
    }

    // On a digit, clipping pushes restricted perturbations out of their subspace, and the
    // result says by how much.
    let (x, label) = test_image(3);
    let tangent = basis_at(&x);
    let config = AttackConfig {
        eps: 3.0,
        step_size: 0.05,
        steps: 60,
        ..AttackConfig::default()
    };
    let jobs = restricted_jobs(
        &x,
        label,
        &tangent,
        [Some(Subspace::On), Some(Subspace::Off), None],
    );
    let results = pollster::block_on(pgd_batch(&model, &jobs, &config, true, &device)).unwrap();
    for (result, job) in results.iter().zip(&jobs) {
        match job.restriction {
            Some(r) => {
                let outside = result.outside_fraction.unwrap();
                assert!((0.0..=1.0).contains(&outside));
                assert!((outside - r.outside_fraction(&result.perturbation)).abs() < 1e-6);
            }
            None => assert_eq!(result.outside_fraction, None),
        }
    }
    // A batch row is the same attack as alone.
    let alone = pollster::block_on(pgd(&model, &x, label, &config, None, true, &device)).unwrap();
    assert_eq!(alone.flipped_at, results[2].flipped_at);
    let gap = alone
        .perturbation
        .iter()
        .zip(&results[2].perturbation)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(gap < 1e-4, "{gap}");

    let linf = AttackConfig {
        norm: Norm::Linf,
        eps: 0.1,
        ..AttackConfig::default()
    };
    let restriction = Some(Restriction {
        basis: &tangent,
        subspace: Subspace::On,
    });
    assert!(
        pollster::block_on(pgd(&model, &x, label, &linf, restriction, false, &device)).is_err()
    );
}

#[test]
fn chunked_pgd_equals_one_uninterrupted_run() {
    let model = classifier();
    let device = Device::flex();
    let (x, label) = test_image(5);
    let basis = random_subspace(N, 16, &mut Rng::new(4));
    let jobs = restricted_jobs(
        &x,
        label,
        &basis,
        [None, Some(Subspace::On), Some(Subspace::Off)],
    );
    let l2 = AttackConfig {
        eps: 2.0,
        step_size: 0.1,
        steps: 40,
        random_start: true,
        seed: 7,
        ..AttackConfig::default()
    };
    let linf = AttackConfig {
        norm: Norm::Linf,
        eps: 0.2,
        step_size: 0.01,
        ..l2.clone()
    };
    let chunked = |jobs: &[AttackJob], config: &AttackConfig, chunk: usize| {
        let mut run = PgdRun::new(&model, jobs, config, false, &device).unwrap();
        let mut chunks = 0;
        while !run.is_done() {
            pollster::block_on(run.advance(chunk)).unwrap();
            chunks += 1;
            assert_eq!(run.steps_taken(), (chunks * chunk).min(config.steps));
        }
        assert_eq!(chunks, config.steps.div_ceil(chunk));
        pollster::block_on(run.finish(jobs)).unwrap()
    };
    for (jobs, config) in [(&jobs[..], &l2), (&jobs[..1], &linf)] {
        let whole = pollster::block_on(pgd_batch(&model, jobs, config, false, &device)).unwrap();
        assert_eq!(whole[0].path.len(), config.steps + 1);
        // Bit-identical: every recorded iterate, probability and loss, not just close.
        // (assert!, not assert_eq!: a failure would print megabytes of paths.)
        for chunk in [7, 1] {
            assert!(
                chunked(jobs, config, chunk) == whole,
                "{:?}: chunks of {chunk} differ from one run",
                config.norm
            );
        }
        // An advance past the end stops there; finish takes whatever is left.
        let mut run = PgdRun::new(&model, jobs, config, false, &device).unwrap();
        pollster::block_on(run.advance(13)).unwrap();
        assert!(pollster::block_on(run.finish(jobs)).unwrap() == whole);
        // Finished with other jobs than it started with, it says so.
        let mut run = PgdRun::new(&model, jobs, config, false, &device).unwrap();
        pollster::block_on(run.advance(1)).unwrap();
        assert!(pollster::block_on(run.finish(&jobs[..jobs.len() - 1])).is_err());
        // The comparison can fail: another seed, or one step fewer, gives another attack.
        let reseeded = AttackConfig {
            seed: 8,
            ..config.clone()
        };
        assert!(chunked(jobs, &reseeded, 7) != whole);
        let shorter = AttackConfig {
            steps: config.steps - 1,
            ..config.clone()
        };
        assert!(chunked(jobs, &shorter, 7) != whole);
    }
    // An empty batch is done at once and finishes with no results.
    let empty = PgdRun::new(&model, &[], &l2, false, &device).unwrap();
    assert!(pollster::block_on(empty.finish(&[])).unwrap().is_empty());
}

#[test]
fn the_four_views_split_the_perturbation() {
    let model = classifier();
    let (x, label) = test_image(4);
    let basis = basis_at(&x);
    let attack = pollster::block_on(pgd(
        &model,
        &x,
        label,
        &AttackConfig::default(),
        None,
        true,
        &Device::flex(),
    ))
    .unwrap();
    let d = &attack.perturbation;
    let views = pollster::block_on(four_views(&model, &basis, &x, d, &Device::flex())).unwrap();
    assert_eq!(views.images[0], x);
    let on = project_on_manifold(&basis, d);
    let off = off_manifold(&basis, d);
    for i in 0..N {
        assert!((views.images[1][i] - (x[i] + d[i])).abs() < 1e-6);
        assert!((views.images[2][i] + views.images[3][i] - x[i] - views.images[1][i]).abs() < 1e-5);
        assert!((views.images[2][i] - x[i] - on[i]).abs() < 1e-6);
        assert!((views.images[3][i] - x[i] - off[i]).abs() < 1e-6);
    }
    assert_eq!(views.predictions[1].predicted, attack.predicted);
    assert!((views.on_manifold_fraction - on_manifold_fraction(&basis, d)).abs() < 1e-6);
    let norms = l2_norm(&on).powi(2) + l2_norm(&off).powi(2);
    assert!((norms - l2_norm(d).powi(2)).abs() < 1e-4 * l2_norm(d).powi(2).max(1.0));
}

/// Speed and quality of both autoencoder kinds on the whole bundle.
#[test]
#[ignore = "measurement: trains on the whole bundle"]
fn measure_autoencoder_training() {
    let data = bundle();
    let train = DeviceSplit::upload(data, &data.train, &Device::flex());
    let epochs: usize = std::env::var("AE_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for kind in AutoencoderKind::ALL {
        let config = AutoencoderConfig {
            kind,
            epochs,
            ..AutoencoderConfig::default()
        };
        let started = Instant::now();
        let mut trainer =
            AutoencoderTrainer::new(config, ImageShape::MNIST, &train, &Device::flex()).unwrap();
        while !trainer.is_done() {
            let out = trainer.step();
            if trainer.at_epoch_start() {
                let loss = out.metrics.try_into_vec_as::<f32>().unwrap()[0];
                let secs = started.elapsed().as_secs_f64();
                println!(
                    "{kind}: epoch {} done, batch loss {loss:.4}, test MSE {:.4}, {:.0} images/s so far",
                    trainer.epoch(),
                    test_mse(&trainer.model(), data.test.len()),
                    (trainer.epoch() * train.len()) as f64 / secs
                );
            }
        }
    }
}

/// Tangent basis (k = 16) and a 40-step PGD on one image with the default MLP.
#[test]
#[ignore = "measurement: timing"]
fn measure_tangent_basis_and_pgd() {
    let device = Device::flex();
    let model = classifier();
    let ae = autoencoder();
    let (x, label) = test_image(5);
    let config = AttackConfig::default();
    for round in 0..3 {
        let started = Instant::now();
        let basis = pollster::block_on(tangent_basis(&ae, &x, &device)).unwrap();
        let basis_secs = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let attack =
            pollster::block_on(pgd(&model, &x, label, &config, None, false, &device)).unwrap();
        let pgd_secs = started.elapsed().as_secs_f64();
        println!(
            "round {round}: tangent basis {:.1} ms (rank {}, diag ratios {:.2}..{:.2}), PGD 40 steps {:.1} ms, flipped at {:?}",
            basis_secs * 1e3,
            basis.rank,
            basis.diag_ratios[0],
            basis.diag_ratios[basis.rank - 1],
            pgd_secs * 1e3,
            attack.flipped_at
        );
    }
    let mlp_ae = Autoencoder::new(AutoencoderKind::Mlp, 16, ImageShape::MNIST, &device).unwrap();
    let started = Instant::now();
    pollster::block_on(tangent_basis(&mlp_ae, &x, &device)).unwrap();
    println!(
        "MLP autoencoder tangent basis {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
}

/// Norms to flip per subspace over 20 test images, with models trained by the default
/// configs on the whole bundle: the reproduction's table, plus the random-subspace control.
#[test]
#[ignore = "measurement: trains default models on the whole bundle"]
fn measure_norms_to_flip() {
    let device = Device::flex();
    let data = bundle();
    let train = DeviceSplit::upload(data, &data.train, &device);
    let started = Instant::now();
    let (classifier, ae) = {
        let _guard = device_rng();
        let mut trainer = Trainer::new(TrainConfig::default(), ImageShape::MNIST, &train, &device);
        while !trainer.is_done() {
            trainer.step();
        }
        let mut ae_trainer = AutoencoderTrainer::new(
            AutoencoderConfig::default(),
            ImageShape::MNIST,
            &train,
            &device,
        )
        .unwrap();
        while !ae_trainer.is_done() {
            ae_trainer.step();
        }
        (trainer.model(), ae_trainer.model())
    };
    let test_images: Vec<f32> = data
        .test
        .pixels
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let verdicts = pollster::block_on(classify(&classifier, &test_images, N, &device)).unwrap();
    let correct = verdicts
        .iter()
        .zip(&data.test.labels)
        .filter(|(v, l)| v.predicted == **l)
        .count();
    println!(
        "trained in {:.0} s: test accuracy {:.1}%, autoencoder test MSE {:.4}",
        started.elapsed().as_secs_f64(),
        100.0 * correct as f64 / data.test.len() as f64,
        test_mse(&ae, data.test.len())
    );
    let config = AttackConfig {
        eps: 6.0,
        step_size: 0.02,
        steps: 300,
        ..AttackConfig::default()
    };
    let names = ["plain", "on", "off", "random on"];
    let mut norms = vec![Vec::new(); 4];
    let mut outside = vec![Vec::new(); 4];
    let mut fractions = (Vec::new(), Vec::new());
    let mut rng = Rng::new(1);
    let started = Instant::now();
    for i in (0..)
        .filter(|&i| verdicts[i].predicted == data.test.labels[i])
        .take(20)
    {
        let (x, label) = test_image(i);
        let basis = pollster::block_on(tangent_basis(&ae, &x, &device)).unwrap();
        let random = random_subspace(N, basis.rank, &mut rng);
        let restrictions = [
            None,
            Some((&basis, Subspace::On)),
            Some((&basis, Subspace::Off)),
            Some((&random, Subspace::On)),
        ];
        let jobs: Vec<AttackJob> = restrictions
            .into_iter()
            .map(|r| AttackJob {
                image: &x,
                label,
                restriction: r.map(|(basis, subspace)| Restriction { basis, subspace }),
            })
            .collect();
        let results =
            pollster::block_on(pgd_batch(&classifier, &jobs, &config, true, &device)).unwrap();
        for (v, r) in results.iter().enumerate() {
            norms[v].push(if r.flipped_at.is_some() {
                r.l2
            } else {
                f32::NAN
            });
            outside[v].push(r.outside_fraction.unwrap_or(0.0));
        }
        fractions
            .0
            .push(on_manifold_fraction(&basis, &results[0].perturbation));
        fractions
            .1
            .push(on_manifold_fraction(&random, &results[0].perturbation));
    }
    let mean = |v: &[f32]| {
        let flipped: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
        (
            flipped.iter().sum::<f32>() / flipped.len().max(1) as f32,
            flipped.len(),
        )
    };
    for v in 0..4 {
        let (m, flipped) = mean(&norms[v]);
        let mut ratios: Vec<f32> = norms[v]
            .iter()
            .zip(&norms[0])
            .map(|(a, b)| a / b)
            .filter(|r| r.is_finite())
            .collect();
        ratios.sort_by(f32::total_cmp);
        println!(
            "{:>9}: mean L2 to flip {m:.3} ({flipped}/20 flipped), median ratio to plain {:.2}, mean outside fraction {:.2}",
            names[v],
            ratios.get(ratios.len() / 2).copied().unwrap_or(f32::NAN),
            mean(&outside[v]).0
        );
    }
    println!(
        "plain d: mean on-manifold fraction {:.3}, in a random 16-subspace {:.3} (sqrt(k/n) = {:.3}); 20 images × 4 attacks in {:.1} s",
        mean(&fractions.0).0,
        mean(&fractions.1).0,
        (16.0f32 / N as f32).sqrt(),
        started.elapsed().as_secs_f64()
    );
}
