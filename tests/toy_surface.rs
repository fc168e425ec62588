//! The 3-D toy worlds' boundary surface: surface nets over a margin volume, and the sections.

use burn::prelude::*;
use dimple::ml::toy::{
    Grid, ToyConfig, ToyMlp, ToyPreset, ToyWorld, Volume, boundary_mesh, margin_section,
    margin_volume,
};

fn volume(resolution: usize) -> Volume {
    Volume {
        x: (0.0, 1.0),
        y: (-0.5, 0.5),
        z: (0.0, 2.0),
        resolution,
    }
}

#[test]
fn a_linear_margins_surface_lies_on_its_plane_and_covers_it() {
    // margin = x + 0.5 y + 0.8 z − 0.9: a plane cutting the whole box.
    let (w, c) = ([1.0f32, 0.5, 0.8], -0.9f32);
    let device = Device::flex();
    let model = ToyMlp::linear([&[0.0; 3], &w], [0.0, c], &device);
    let v = volume(17);
    let values = pollster::block_on(margin_volume(&model, &v, &device)).unwrap();
    assert_eq!(values.len(), 17 * 17 * 17);
    let mesh = boundary_mesh(&v, &values);
    assert!(mesh.quads.len() > 100, "{} quads", mesh.quads.len());
    let norm = w.iter().map(|a| a * a).sum::<f32>().sqrt();
    for p in &mesh.vertices {
        let off = (w[0] * p[0] + w[1] * p[1] + w[2] * p[2] + c).abs() / norm;
        assert!(off < 1e-4, "vertex {p:?} is {off} off the plane");
        assert!(p[0] >= v.x.0 && p[0] <= v.x.1 && p[2] >= v.z.0 && p[2] <= v.z.1);
    }
    // Every quad's vertices are distinct and used.
    for q in &mesh.quads {
        for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 0)] {
            assert_ne!(q[a], q[b]);
        }
        assert!(q.iter().all(|&i| (i as usize) < mesh.vertices.len()));
    }
}

#[test]
fn a_spheres_surface_stays_within_a_cell_of_the_sphere() {
    let v = Volume {
        x: (-1.0, 1.0),
        y: (-1.0, 1.0),
        z: (-1.0, 1.0),
        resolution: 21,
    };
    let values: Vec<f32> = v
        .points()
        .chunks(3)
        .map(|p| (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt() - 0.6)
        .collect();
    let mesh = boundary_mesh(&v, &values);
    let cell = 2.0 / 20.0;
    assert!(mesh.quads.len() > 200);
    for p in &mesh.vertices {
        let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        assert!((r - 0.6).abs() < cell, "vertex at radius {r}");
    }
    // No boundary: no mesh.
    assert!(boundary_mesh(&v, &vec![1.0; values.len()]).quads.is_empty());
}

#[test]
fn volumes_and_sections_put_each_value_at_its_point() {
    let device = Device::flex();
    let (w, c) = ([0.3f32, -1.0, 2.0], 0.1f32);
    let model = ToyMlp::linear([&[0.0; 3], &w], [0.0, c], &device);
    let v = volume(5);
    let points = v.points();
    let values = pollster::block_on(margin_volume(&model, &v, &device)).unwrap();
    let (i, j, k) = (1, 3, 4);
    let at = (k * 5 + j) * 5 + i;
    assert_eq!(
        &points[at * 3..at * 3 + 3],
        &[v.at(0, i), v.at(1, j), v.at(2, k)]
    );
    let expected = w[0] * v.at(0, i) + w[1] * v.at(1, j) + w[2] * v.at(2, k) + c;
    assert!((values[at] - expected).abs() < 1e-5);

    // The vertical section at y = 0.25: grid x is x, grid y is z.
    let grid = Grid {
        x: (0.0, 1.0),
        y: (0.0, 2.0),
        resolution: 9,
    };
    let section = pollster::block_on(margin_section(&model, &grid, 0.25, &device)).unwrap();
    let (i, j) = (7, 2);
    let expected = w[0] * grid.xi(i) + w[1] * 0.25 + w[2] * grid.yj(j) + c;
    assert!((section[j * 9 + i] - expected).abs() < 1e-5);

    // A world's volume covers its points with the padding.
    let sheet = ToyWorld::generate(&ToyConfig {
        preset: ToyPreset::Sheet,
        count: 16,
        ..ToyConfig::default()
    });
    let box3 = sheet.volume(0.1, 8);
    for p in sheet.points.chunks(3) {
        assert!(p[0] > box3.x.0 && p[0] < box3.x.1);
        assert!(p[1] > box3.y.0 && p[1] < box3.y.1);
        assert!(p[2] > box3.z.0 && p[2] < box3.z.1);
    }
}

#[test]
fn every_worlds_points_lie_on_the_curve_it_draws() {
    for preset in ToyPreset::ALL {
        let world = ToyWorld::generate(&ToyConfig {
            preset,
            count: 16,
            ..ToyConfig::default()
        });
        let curve = preset.curve((-0.5, 1.5), 4001);
        for p in world.points.chunks(world.dim) {
            // 3-D: the trace (x, z) of the surface on the point's vertical section.
            let q = if world.dim == 3 {
                [p[0], p[2]]
            } else {
                [p[0], p[1]]
            };
            let nearest = curve
                .iter()
                .map(|c| ((c[0] - q[0]).powi(2) + (c[1] - q[1]).powi(2)).sqrt())
                .fold(f32::INFINITY, f32::min);
            assert!(
                nearest < 2e-3,
                "{preset:?}: {q:?} is {nearest} off its curve"
            );
        }
    }
}

#[test]
fn the_input_scale_scales_a_linear_models_margin() {
    use dimple::ml::toy::{ToyModelConfig, margins};
    let device = Device::flex();
    let points = [0.3f32, 0.7, -1.2, 0.4];
    let margin = |scale: f32| {
        let config = ToyModelConfig {
            depth: 0,
            input_scale: scale,
            ..ToyModelConfig::default()
        };
        let model = ToyMlp::new(2, &config, &device);
        margins(&model, &points, 2, &device)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (one, three) = (margin(1.0), margin(3.0));
    assert!(one.iter().any(|m| m.abs() > 1e-3));
    for (a, b) in one.iter().zip(&three) {
        assert!((3.0 * a - b).abs() < 1e-5, "{a} {b}");
    }
}
