//! The boundary plots' science: toy worlds, the toy MLP's boundary and phase numbers, and the
//! decision on a plane through an image.
//!
//! One ignored test measures the phase curves over 100 epochs of the paper's preset and the
//! time of a toy epoch and of a 64 × 64 slice:
//! `cargo test --release --test boundary -- --ignored --nocapture`.

use burn::prelude::*;
use dimple::ml::model::{Classifier, ClassifierKind, ImageShape};
use dimple::ml::rng::Rng;
use dimple::ml::slice::{
    SliceSpec, line_margins, margin_profile, plane_basis, slice_grid, slice_images, slice_rows,
};
use dimple::ml::toy::{
    Grid, PhaseMetrics, SurfaceLabels, ToyConfig, ToyMlp, ToyModelConfig, ToyPreset, ToyTrainer,
    ToyWorld, distance_to_contour, margin_grid, measure_phase, zero_contour,
};
use std::time::Instant;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn a_linear_classifiers_contour_is_its_analytic_line() {
    // margin = 1·x + 2·y − 1.2: the boundary is the line x + 2y = 1.2.
    let (a, b, c) = (1.0f32, 2.0f32, -1.2f32);
    let device = Device::flex();
    let model = ToyMlp::linear([&[0.0, 0.0], &[a, b]], [0.0, c], &device);
    let grid = Grid {
        x: (0.0, 1.0),
        y: (0.0, 1.0),
        resolution: 33,
    };
    let values = pollster::block_on(margin_grid(&model, &grid, None, &device)).unwrap();
    assert_eq!(values.len(), 33 * 33);
    for j in [0, 7, 32] {
        for i in [0, 13, 32] {
            let expected = a * grid.xi(i) + b * grid.yj(j) + c;
            assert!((values[j * 33 + i] - expected).abs() < 1e-5);
        }
    }
    let segments = zero_contour(&grid, &values);
    let norm = (a * a + b * b).sqrt();
    let mut length = 0.0;
    for s in &segments {
        for p in [s.a, s.b] {
            let off = (a * p[0] + b * p[1] + c).abs() / norm;
            assert!(off < 1e-4, "segment point {p:?} is {off} off the line");
        }
        length += ((s.b[0] - s.a[0]).powi(2) + (s.b[1] - s.a[1]).powi(2)).sqrt();
    }
    // The line crosses the unit square from (0, 0.6) to (1, 0.1): length √(1 + 0.25).
    assert!(
        (length - 1.25f32.sqrt()).abs() < 1e-3,
        "contour length {length}"
    );

    // A point's contour distance and first-order distance are both exact here.
    let p = [0.2, 0.9];
    let exact = (a * p[0] + b * p[1] + c).abs() / norm;
    assert!((distance_to_contour(p, &segments) - exact).abs() < 1e-4);
    let world = ToyWorld {
        dim: 2,
        points: p.to_vec(),
        labels: vec![0],
        normals: vec![0.0, 1.0],
    };
    let m = pollster::block_on(measure_phase(&model, &world, None, &device)).unwrap();
    assert!((m.distance - exact).abs() < 1e-5, "{m:?} vs {exact}");
    assert!((m.normal_cosine - b / norm).abs() < 1e-5, "{m:?}");
}

#[test]
fn a_linear_toy_mlp_has_a_straight_boundary() {
    // depth 0 is linear: the margin is affine, so on a grid it changes by the same step.
    let config = ToyModelConfig {
        depth: 0,
        ..ToyModelConfig::default()
    };
    let device = Device::flex();
    let model = ToyMlp::new(2, &config, &device);
    let grid = Grid {
        x: (-1.0, 1.0),
        y: (-1.0, 1.0),
        resolution: 9,
    };
    let v = pollster::block_on(margin_grid(&model, &grid, None, &device)).unwrap();
    let (dx, dy) = (v[1] - v[0], v[9] - v[0]);
    for j in 0..9 {
        for i in 0..9 {
            let affine = v[0] + i as f32 * dx + j as f32 * dy;
            assert!((v[j * 9 + i] - affine).abs() < 1e-4);
        }
    }
}

#[test]
fn worlds_are_fixed_by_seed_and_presets_have_their_points() {
    let paper = ToyWorld::generate(&ToyConfig::default());
    assert_eq!(paper.dim, 2);
    assert_eq!(
        paper.points,
        vec![0.05, 0.5, 0.30, 0.5, 0.55, 0.5, 0.80, 0.5, 1.05, 0.5]
    );
    assert_eq!(paper.labels, vec![0, 1, 0, 1, 0]);
    assert_eq!(paper.normals, [0.0, 1.0].repeat(5));

    for preset in ToyPreset::ALL {
        let config = ToyConfig {
            preset,
            count: 16,
            noise: 0.02,
            labels: SurfaceLabels::Stripes,
            seed: 5,
        };
        let world = ToyWorld::generate(&config);
        assert_eq!(world, ToyWorld::generate(&config), "{preset:?}");
        let other = ToyWorld::generate(&ToyConfig {
            seed: 6,
            ..config.clone()
        });
        assert_ne!(world.points, other.points, "{preset:?}");
        assert_eq!(world.dim, preset.dim());
        let expected = if preset == ToyPreset::Paper { 5 } else { 16 };
        assert_eq!(world.len(), expected, "{preset:?}");
        assert_eq!(world.points.len(), world.len() * world.dim);
        for n in world.normals.chunks(world.dim) {
            assert!((dot(n, n) - 1.0).abs() < 1e-5, "{preset:?}: {n:?}");
        }
        assert!(world.labels.contains(&0) && world.labels.contains(&1));
        // Without noise each point lies on its manifold.
        let clean = ToyWorld::generate(&ToyConfig {
            noise: 0.0,
            ..config
        });
        for (k, p) in clean.points.chunks(clean.dim).enumerate() {
            let on = match preset {
                ToyPreset::Paper | ToyPreset::Line => p[1] - 0.5,
                ToyPreset::Sine => p[1] - 0.5 - 0.2 * (std::f32::consts::TAU * p[0]).sin(),
                ToyPreset::Circle => ((p[0] - 0.5).hypot(p[1] - 0.5)) - 0.35,
                ToyPreset::Plane => p[2] - 0.5,
                ToyPreset::Sheet => p[2] - 0.4 - 0.2 * (std::f32::consts::PI * p[0]).sin(),
            };
            assert!(on.abs() < 1e-5, "{preset:?} point {k}: {p:?}");
        }
        if preset == ToyPreset::Line {
            assert_eq!(clean.labels, [0, 1].repeat(8));
        }
    }
    // The sine's normal is perpendicular to its tangent (1, 0.4π cos 2πx).
    let sine = ToyWorld::generate(&ToyConfig {
        preset: ToyPreset::Sine,
        ..ToyConfig::default()
    });
    for (p, n) in sine.points.chunks(2).zip(sine.normals.chunks(2)) {
        let tangent = [
            1.0,
            0.4 * std::f32::consts::PI * (std::f32::consts::TAU * p[0]).cos(),
        ];
        assert!(dot(&tangent, n).abs() < 1e-5);
    }
    // Checkerboard on a 4 × 4 grid: neighbours differ.
    let board = ToyWorld::generate(&ToyConfig {
        preset: ToyPreset::Plane,
        count: 16,
        ..ToyConfig::default()
    });
    assert_eq!(board.labels[..5], [0, 1, 0, 1, 1]);
}

/// Trains the paper's preset for `epochs`, measuring the phase numbers before and after each.
fn paper_run(epochs: usize) -> (Vec<PhaseMetrics>, Vec<f32>, f64) {
    let device = Device::flex();
    let world = ToyWorld::generate(&ToyConfig::default());
    let mut trainer = ToyTrainer::new(&world, ToyModelConfig::default(), &device);
    let grid = world.view(0.3, 81);
    let measure = |model: &ToyMlp| {
        pollster::block_on(measure_phase(model, &world, Some(&grid), &device)).unwrap()
    };
    let mut metrics = vec![measure(&trainer.model())];
    let mut losses = Vec::new();
    let mut train_time = 0.0;
    for _ in 0..epochs {
        let start = Instant::now();
        let loss = trainer.step().into_scalar::<f32>();
        train_time += start.elapsed().as_secs_f64();
        losses.push(loss);
        metrics.push(measure(&trainer.model()));
    }
    (metrics, losses, train_time / epochs as f64)
}

/// The boundary sweeps in: from none in view to about 0.11 from the data, a little under half
/// the spacing of the points (0.25). It does not (yet) lie along the line: |cos| stays near 0.3.
#[test]
fn on_the_paper_preset_the_boundary_comes_to_the_data() {
    let (metrics, losses, _) = paper_run(100);
    let contour = |m: &PhaseMetrics| m.contour_distance.expect("a 2-D world");
    let start = contour(&metrics[0]);
    let late: f32 = metrics[80..].iter().map(contour).sum::<f32>() / 21.0;
    assert!(losses[99] < 0.1, "loss {} -> {}", losses[0], losses[99]);
    assert!(
        late < 0.5 * start && late < 0.2,
        "mean distance to the boundary went from {start} to {late} (epochs 80-100)"
    );
}

#[test]
fn the_plane_basis_is_orthonormal_and_spans_the_directions() {
    let mut rng = Rng::new(3);
    let u: Vec<f32> = (0..784).map(|_| rng.unit_f32() - 0.5).collect();
    let v: Vec<f32> = (0..784).map(|_| rng.unit_f32() - 0.3).collect();
    let (e1, e2) = plane_basis(&u, &v).unwrap();
    assert!((dot(&e1, &e1) - 1.0).abs() < 1e-5);
    assert!((dot(&e2, &e2) - 1.0).abs() < 1e-5);
    assert!(dot(&e1, &e2).abs() < 1e-5);
    // v lies in the plane: its part outside span(e1, e2) vanishes.
    let (p1, p2) = (dot(&v, &e1), dot(&v, &e2));
    let rest: f32 = v
        .iter()
        .zip(e1.iter().zip(&e2))
        .map(|(x, (a, b))| (x - p1 * a - p2 * b).powi(2))
        .sum();
    assert!(rest.sqrt() < 1e-4 * dot(&v, &v).sqrt(), "{rest}");
    assert!(dot(&u, &e1) > 0.0);

    let twice: Vec<f32> = u.iter().map(|x| -2.0 * x).collect();
    assert!(plane_basis(&u, &twice).is_err());
    assert!(plane_basis(&vec![0.0; 784], &v).is_err());
    assert!(plane_basis(&u, &v[..10]).is_err());
}

#[test]
fn slice_cells_are_the_images_on_the_plane_in_one_pass() {
    let n = ImageShape::MNIST.pixels();
    let mut rng = Rng::new(9);
    let x: Vec<f32> = (0..n).map(|_| rng.unit_f32()).collect();
    let u: Vec<f32> = (0..n).map(|_| rng.unit_f32() - 0.5).collect();
    let v: Vec<f32> = (0..n).map(|_| rng.unit_f32() - 0.5).collect();
    let (e1, e2) = plane_basis(&u, &v).unwrap();
    let spec = SliceSpec {
        range1: (-3.0, 5.0),
        range2: (-2.0, 2.0),
        resolution: 5,
        clip: false,
    };
    let images = slice_images(&x, &e1, &e2, &spec);
    assert_eq!(images.len(), 25 * n);
    assert_eq!((spec.a(0), spec.a(4), spec.b(1)), (-3.0, 5.0, -1.0));
    for (i, j) in [(0, 0), (4, 1), (2, 4)] {
        let (a, b) = (spec.a(i), spec.b(j));
        let cell = &images[(j * 5 + i) * n..(j * 5 + i + 1) * n];
        let expected: Vec<f32> = (0..n).map(|k| x[k] + a * e1[k] + b * e2[k]).collect();
        assert_eq!(cell, expected.as_slice(), "cell ({i}, {j})");
        // Axes are in L2 units: the cell is at distance √(a² + b²) from x.
        let dist = (0..n).map(|k| (cell[k] - x[k]).powi(2)).sum::<f32>().sqrt();
        assert!((dist - a.hypot(b)).abs() < 1e-3);
    }
    let clipped = slice_images(&x, &e1, &e2, &SliceSpec { clip: true, ..spec });
    assert!(clipped.iter().all(|p| (0.0..=1.0).contains(p)));
    assert_ne!(clipped, images);

    // The batched grid gives each cell the decision of that image alone.
    let device = Device::flex();
    let model = Classifier::new(ClassifierKind::Mlp, ImageShape::MNIST, &device);
    let slice = pollster::block_on(slice_grid(&model, &x, &e1, &e2, &spec, 3, &device)).unwrap();
    assert_eq!(slice.classes.len(), 25);
    for (i, j) in [(0, 0), (4, 1), (2, 4)] {
        let one = SliceSpec {
            range1: (spec.a(i), spec.a(i)),
            range2: (spec.b(j), spec.b(j)),
            resolution: 1,
            clip: false,
        };
        let alone = pollster::block_on(slice_grid(&model, &x, &e1, &e2, &one, 3, &device)).unwrap();
        assert_eq!(alone.classes[0], slice.classes[j * 5 + i]);
        assert!((alone.margins[0] - slice.margins[j * 5 + i]).abs() < 1e-4);
    }
    // Profiles along e1 agree with the grid's row through b = 0.
    let row = SliceSpec {
        range2: (0.0, 0.0),
        resolution: 5,
        ..spec
    };
    let row = pollster::block_on(slice_grid(&model, &x, &e1, &e2, &row, 3, &device)).unwrap();
    let profile = pollster::block_on(margin_profile(
        &model,
        &x,
        &e1,
        spec.range1,
        5,
        false,
        3,
        &device,
    ))
    .unwrap();
    for k in 0..5 {
        assert!((profile.margins[k] - row.margins[k]).abs() < 1e-4);
    }
    assert!(pollster::block_on(slice_grid(&model, &x, &e1, &e2, &spec, 10, &device)).is_err());
}

#[test]
fn a_slice_or_profile_evaluated_in_pieces_is_the_whole() {
    let n = ImageShape::MNIST.pixels();
    let mut rng = Rng::new(4);
    let x: Vec<f32> = (0..n).map(|_| rng.unit_f32()).collect();
    let u: Vec<f32> = (0..n).map(|_| rng.unit_f32() - 0.5).collect();
    let v: Vec<f32> = (0..n).map(|_| rng.unit_f32() - 0.5).collect();
    let (e1, e2) = plane_basis(&u, &v).unwrap();
    let spec = SliceSpec {
        range1: (-8.0, 8.0),
        range2: (-6.0, 10.0),
        resolution: 9,
        clip: false,
    };
    let device = Device::flex();
    for kind in ClassifierKind::ALL {
        let model = Classifier::new(kind, ImageShape::MNIST, &device);
        let whole =
            pollster::block_on(slice_grid(&model, &x, &e1, &e2, &spec, 2, &device)).unwrap();
        // Pieces of uneven sizes, as the page's chunks are.
        let mut classes = Vec::new();
        let mut margins = Vec::new();
        for rows in [0..1, 1..5, 5..7, 7..9] {
            let piece = pollster::block_on(slice_rows(
                &model,
                &x,
                &e1,
                &e2,
                &spec,
                rows.clone(),
                2,
                &device,
            ))
            .unwrap();
            assert_eq!(piece.classes.len(), rows.len() * 9, "{kind}");
            classes.extend(piece.classes);
            margins.extend(piece.margins);
        }
        assert_eq!(classes, whole.classes, "{kind}");
        for (a, b) in margins.iter().zip(&whole.margins) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{kind}: {a} vs {b}");
        }
        // The margins vary over the plane, so the comparison above compares something.
        let spread = whole
            .margins
            .iter()
            .fold(0.0f32, |m, b| m.max((b - whole.margins[0]).abs()));
        assert!(spread > 1e-2, "{kind}: margins spread only {spread}");
        for rows in [3..3, 8..10] {
            assert!(
                pollster::block_on(slice_rows(&model, &x, &e1, &e2, &spec, rows, 2, &device))
                    .is_err()
            );
        }

        // A profile a few points at a time is the whole profile.
        let profile = pollster::block_on(margin_profile(
            &model,
            &x,
            &e2,
            spec.range2,
            11,
            false,
            2,
            &device,
        ))
        .unwrap();
        let mut pieces = Vec::new();
        for points in [0..3, 3..4, 4..11] {
            pieces.extend(
                pollster::block_on(line_margins(
                    &model,
                    &x,
                    &e2,
                    &profile.t[points],
                    false,
                    2,
                    &device,
                ))
                .unwrap(),
            );
        }
        assert_eq!(pieces.len(), 11);
        for (a, b) in pieces.iter().zip(&profile.margins) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{kind}: {a} vs {b}");
        }
        assert!(pollster::block_on(line_margins(&model, &x, &e2, &[], false, 2, &device)).is_err());
    }
}

#[test]
#[ignore = "measurement: prints the phase curves and timings"]
fn measure_phase_curves_and_timings() {
    let (metrics, losses, epoch_time) = paper_run(100);
    println!("epoch  first-order distance  contour distance  |cos(grad, normal)|  loss");
    for (e, m) in metrics.iter().enumerate() {
        let loss = if e == 0 { f32::NAN } else { losses[e - 1] };
        println!(
            "{e:5}  {:8.4}  {:8.4}  {:8.4}  {loss:8.4}",
            m.distance,
            m.contour_distance.unwrap_or(f32::NAN),
            m.normal_cosine
        );
    }
    println!(
        "one toy epoch (paper preset, 3x64 ReLU, full batch): {:.3} ms",
        epoch_time * 1e3
    );

    let device = Device::flex();
    let n = ImageShape::MNIST.pixels();
    let mut rng = Rng::new(1);
    let x: Vec<f32> = (0..n).map(|_| rng.unit_f32()).collect();
    let u: Vec<f32> = (0..n).map(|_| rng.unit_f32() - 0.5).collect();
    let v: Vec<f32> = (0..n).map(|_| rng.unit_f32() - 0.5).collect();
    let (e1, e2) = plane_basis(&u, &v).unwrap();
    let spec = SliceSpec {
        range1: (-5.0, 5.0),
        range2: (-5.0, 5.0),
        resolution: 64,
        clip: false,
    };
    for kind in ClassifierKind::ALL {
        let model = Classifier::new(kind, ImageShape::MNIST, &device);
        pollster::block_on(slice_grid(&model, &x, &e1, &e2, &spec, 0, &device)).unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            pollster::block_on(slice_grid(&model, &x, &e1, &e2, &spec, 0, &device)).unwrap();
        }
        println!(
            "64x64 slice, {kind}: {:.1} ms",
            start.elapsed().as_secs_f64() / 3.0 * 1e3
        );
    }
}
