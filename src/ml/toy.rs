//! Toy worlds where the decision boundary can be watched: a few labelled points on a
//! low-dimensional manifold inside the plane (or R^3), a small MLP trained on them epoch by
//! epoch, the boundary it draws and two numbers that make the paper's two phases readable.
//!
//! The paper's animation (SCIENCE.md, "The boundary plots") has five points on the line
//! y = 0.5 with alternating labels: the boundary first sweeps in (epochs 0-11), then lies along
//! the data line (clinging, about epoch 24), then wiggles within a few hundredths of it,
//! dipping under one class and over the other (dimpling). [`PhaseMetrics`] is meant to show
//! both: the mean distance from the data to the boundary falls as it clings, and the mean
//! |cos(∇_x margin, normal)| rises towards 1 as the boundary turns parallel to the manifold.
//!
//! Everything is deterministic by seed: the data come from [`Rng`], and the MLP's initial
//! weights too (not from the device's global generator). This module draws nothing: the page
//! plots what it returns.

use super::adam::Adam;
use super::dense;
use super::read_f32;
use super::rng::Rng;
use burn::module::Param;
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};

/// Which manifold the points lie on, and in which dimension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ToyPreset {
    /// The paper's own: five points on y = 0.5 at x = 0.05, 0.30, 0.55, 0.80, 1.05,
    /// alternating labels (count is ignored).
    #[default]
    Paper,
    /// `count` points evenly spaced on y = 0.5, x in (0, 1).
    Line,
    /// `count` points on y = 0.5 + 0.2 sin(2πx), x in (0, 1).
    Sine,
    /// `count` points on the circle of radius 0.35 about (0.5, 0.5).
    Circle,
    /// 3-D: a square grid of points on the plane z = 0.5, (x, y) in (0, 1)².
    Plane,
    /// 3-D: a square grid on the gently curved sheet z = 0.4 + 0.2 sin(πx).
    Sheet,
}

impl ToyPreset {
    /// Every preset, in the order the page lists them.
    pub const ALL: [ToyPreset; 6] = [
        Self::Paper,
        Self::Line,
        Self::Sine,
        Self::Circle,
        Self::Plane,
        Self::Sheet,
    ];

    /// Short name used in URLs.
    pub fn id(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Line => "line",
            Self::Sine => "sine",
            Self::Circle => "circle",
            Self::Plane => "plane",
            Self::Sheet => "sheet",
        }
    }

    /// Input dimension: 2 for the curves, 3 for the surfaces.
    pub fn dim(self) -> usize {
        match self {
            Self::Plane | Self::Sheet => 3,
            _ => 2,
        }
    }

    /// The manifold as a polyline of `samples` points, for drawing: the curve in the plane
    /// (2-D presets; lines and the sine over `x`, the circle whole), or the surface's trace
    /// (x, z) on every vertical section y = const (3-D presets, over `x`).
    pub fn curve(self, x: (f32, f32), samples: usize) -> Vec<[f32; 2]> {
        let tau = std::f32::consts::TAU;
        (0..samples.max(2))
            .map(|i| {
                let u = lerp(x, i, samples.max(2));
                match self {
                    Self::Paper | Self::Line | Self::Plane => [u, 0.5],
                    Self::Sine => [u, 0.5 + 0.2 * (tau * u).sin()],
                    Self::Sheet => [u, 0.4 + 0.2 * (std::f32::consts::PI * u).sin()],
                    Self::Circle => {
                        let angle = tau * i as f32 / (samples.max(2) - 1) as f32;
                        [0.5 + 0.35 * angle.cos(), 0.5 + 0.35 * angle.sin()]
                    }
                }
            })
            .collect()
    }
}

/// How the points of a 3-D surface are labelled (the 2-D curves always alternate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SurfaceLabels {
    /// Grid point (i, j) has label (i + j) mod 2.
    #[default]
    Checkerboard,
    /// Grid point (i, j) has label i mod 2.
    Stripes,
}

/// Settings of a toy world.
#[derive(Clone, Debug, PartialEq)]
pub struct ToyConfig {
    pub preset: ToyPreset,
    /// Number of points (curves), or about that many on a square grid (surfaces: side
    /// round(√count), at least 2). Ignored by [`ToyPreset::Paper`].
    pub count: usize,
    /// Standard deviation of a Gaussian offset of each point along the manifold's normal.
    pub noise: f32,
    pub labels: SurfaceLabels,
    pub seed: u64,
}

impl Default for ToyConfig {
    fn default() -> Self {
        Self {
            preset: ToyPreset::Paper,
            count: 12,
            noise: 0.0,
            labels: SurfaceLabels::Checkerboard,
            seed: 1,
        }
    }
}

impl ToyConfig {
    /// Points the page and a link may ask for.
    pub const COUNT: (usize, usize) = (2, 400);
    /// Noise the page and a link may ask for.
    pub const NOISE: (f64, f64) = (0.0, 0.5);
}

/// Labelled points with the manifold's unit normal at each (row-major, `dim` values a point).
#[derive(Clone, Debug, PartialEq)]
pub struct ToyWorld {
    pub dim: usize,
    pub points: Vec<f32>,
    pub labels: Vec<u8>,
    /// Unit normal of the manifold at the foot of each point (before noise).
    pub normals: Vec<f32>,
}

impl ToyWorld {
    /// The world `config` describes; the same config gives the same points.
    pub fn generate(config: &ToyConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let n = config.count.max(2);
        let mut feet: Vec<(Vec<f32>, Vec<f32>, u8)> = Vec::new();
        let along = |i: usize| (i as f32 + 0.5) / n as f32;
        match config.preset {
            ToyPreset::Paper => {
                for (i, x) in [0.05, 0.30, 0.55, 0.80, 1.05].into_iter().enumerate() {
                    feet.push((vec![x, 0.5], vec![0.0, 1.0], (i % 2) as u8));
                }
            }
            ToyPreset::Line => {
                for i in 0..n {
                    feet.push((vec![along(i), 0.5], vec![0.0, 1.0], (i % 2) as u8));
                }
            }
            ToyPreset::Sine => {
                let tau = std::f32::consts::TAU;
                for i in 0..n {
                    let x = along(i);
                    let slope = 0.2 * tau * (tau * x).cos();
                    feet.push((
                        vec![x, 0.5 + 0.2 * (tau * x).sin()],
                        unit(&[-slope, 1.0]),
                        (i % 2) as u8,
                    ));
                }
            }
            ToyPreset::Circle => {
                for i in 0..n {
                    let angle = std::f32::consts::TAU * i as f32 / n as f32;
                    let (s, c) = angle.sin_cos();
                    feet.push((
                        vec![0.5 + 0.35 * c, 0.5 + 0.35 * s],
                        vec![c, s],
                        (i % 2) as u8,
                    ));
                }
            }
            ToyPreset::Plane | ToyPreset::Sheet => {
                let side = ((config.count as f32).sqrt().round() as usize).max(2);
                for i in 0..side {
                    for j in 0..side {
                        let (x, y) = (
                            (i as f32 + 0.5) / side as f32,
                            (j as f32 + 0.5) / side as f32,
                        );
                        let label = match config.labels {
                            SurfaceLabels::Checkerboard => (i + j) % 2,
                            SurfaceLabels::Stripes => i % 2,
                        } as u8;
                        let (z, normal) = if config.preset == ToyPreset::Plane {
                            (0.5, vec![0.0, 0.0, 1.0])
                        } else {
                            let pi = std::f32::consts::PI;
                            (
                                0.4 + 0.2 * (pi * x).sin(),
                                unit(&[-0.2 * pi * (pi * x).cos(), 0.0, 1.0]),
                            )
                        };
                        feet.push((vec![x, y, z], normal, label));
                    }
                }
            }
        }
        let dim = config.preset.dim();
        let mut world = Self {
            dim,
            points: Vec::with_capacity(feet.len() * dim),
            labels: Vec::with_capacity(feet.len()),
            normals: Vec::with_capacity(feet.len() * dim),
        };
        for (foot, normal, label) in feet {
            let offset = if config.noise > 0.0 {
                config.noise * gaussian(&mut rng)
            } else {
                0.0
            };
            world
                .points
                .extend(foot.iter().zip(&normal).map(|(p, n)| p + offset * n));
            world.normals.extend(normal);
            world.labels.push(label);
        }
        world
    }

    /// A square grid of `resolution²` vertices over the points' (x, y) bounding box widened by
    /// `pad` on every side: the 2-D view of the world (the floor of the 3-D one).
    pub fn view(&self, pad: f32, resolution: usize) -> Grid {
        let mut x = (f32::INFINITY, f32::NEG_INFINITY);
        let mut y = x;
        for p in self.points.chunks(self.dim) {
            x = (x.0.min(p[0]), x.1.max(p[0]));
            y = (y.0.min(p[1]), y.1.max(p[1]));
        }
        Grid {
            x: (x.0 - pad, x.1 + pad),
            y: (y.0 - pad, y.1 + pad),
            resolution,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter().map(|a| a / norm).collect()
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut Rng) -> f32 {
    let u1 = rng.unit_f32().max(f32::MIN_POSITIVE);
    let u2 = rng.unit_f32();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Nonlinearity of the toy MLP's hidden layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Activation {
    #[default]
    Relu,
    Tanh,
}

/// Settings of the toy MLP and its training.
#[derive(Clone, Debug, PartialEq)]
pub struct ToyModelConfig {
    /// Units in each hidden layer.
    pub width: usize,
    /// Hidden layers; 0 gives a linear classifier.
    pub depth: usize,
    pub activation: Activation,
    /// Adam learning rate (constant).
    pub learning_rate: f64,
    /// Points per Adam step; 0 (or at least the number of points) is full-batch.
    pub batch_size: usize,
    /// Seeds the initial weights and the mini-batch order.
    pub seed: u64,
    /// Factor on the first layer's initial weights and biases (1: the usual ±1/√fan_in).
    /// Larger values give the network finer features in the input space from the start.
    pub input_scale: f32,
}

impl Default for ToyModelConfig {
    fn default() -> Self {
        Self {
            width: 64,
            depth: 3,
            activation: Activation::Relu,
            learning_rate: 1e-2,
            batch_size: 0,
            seed: 1,
            input_scale: 1.0,
        }
    }
}

impl ToyModelConfig {
    /// Hidden-layer widths the page and a link may ask for.
    pub const WIDTH: (usize, usize) = (1, 1024);
    /// Hidden-layer counts the page and a link may ask for.
    pub const DEPTH: (usize, usize) = (0, 8);
    /// Learning rates the page and a link may ask for.
    pub const LEARNING_RATE: (f64, f64) = (1e-6, 1.0);
    /// First-layer scales the page and a link may ask for.
    pub const INPUT_SCALE: (f64, f64) = (0.01, 100.0);
    /// The most hidden-to-hidden weights, (depth − 1) × width², the page and a link may ask
    /// for. Each epoch evaluates the network over the whole view (81² points, 26³ in 3-D), in
    /// paced chunks so the page keeps answering: at this size an epoch takes about a second in
    /// 3-D on a slow 2-core CPU, and width 1024 at depth 8 would take 4.7 s an epoch in 2-D,
    /// too slow to watch.
    pub const MAX_HIDDEN_WEIGHTS: usize = 1 << 18;

    /// The hidden-to-hidden weights of a network `width` wide and `depth` deep.
    pub fn hidden_weights(width: usize, depth: usize) -> usize {
        depth.saturating_sub(1) * width * width
    }
}

/// A small MLP: `[batch, dim]` points to two logits.
#[derive(Module, Debug)]
pub struct ToyMlp {
    hidden: Vec<Linear>,
    output: Linear,
    #[module(skip)]
    activation: Activation,
}

impl ToyMlp {
    /// Weights and biases drawn from `config.seed`, uniform in ±1/√fan_in (burn's and
    /// PyTorch's default), on `device`.
    pub fn new(dim: usize, config: &ToyModelConfig, device: &Device) -> Self {
        let mut rng = Rng::new(config.seed ^ 0x70_79_6d_6c);
        let mut fan_in = dim;
        let mut hidden = Vec::new();
        for layer in 0..config.depth {
            let scale = if layer == 0 { config.input_scale } else { 1.0 };
            hidden.push(seeded_linear(fan_in, config.width, scale, &mut rng, device));
            fan_in = config.width;
        }
        let scale = if config.depth == 0 {
            config.input_scale
        } else {
            1.0
        };
        Self {
            hidden,
            output: seeded_linear(fan_in, 2, scale, &mut rng, device),
            activation: config.activation,
        }
    }

    /// A linear classifier with the given weights: logit_k = w[k]·x + b[k].
    pub fn linear(weights: [&[f32]; 2], bias: [f32; 2], device: &Device) -> Self {
        let dim = weights[0].len();
        let mut w = vec![0.0; dim * 2];
        for (k, row) in weights.iter().enumerate() {
            for (i, v) in row.iter().enumerate() {
                w[i * 2 + k] = *v;
            }
        }
        Self {
            hidden: Vec::new(),
            output: Linear {
                weight: Param::from_data(TensorData::new(w, [dim, 2]), device),
                bias: Some(Param::from_data(
                    TensorData::new(bias.to_vec(), [2]),
                    device,
                )),
            },
            activation: Activation::Relu,
        }
    }

    /// Logits `[batch, 2]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x = x;
        for layer in &self.hidden {
            x = dense::forward(layer, x);
            x = match self.activation {
                Activation::Relu => relu(x),
                Activation::Tanh => tanh(x),
            };
        }
        dense::forward(&self.output, x)
    }

    /// The logit margin, class 1 minus class 0, `[batch]`: positive where class 1 wins.
    pub fn margin(&self, x: Tensor<2>) -> Tensor<1> {
        let logits = self.forward(x);
        let [batch, _] = logits.dims();
        let diff = logits.clone().slice(s![.., 1..2]) - logits.slice(s![.., 0..1]);
        diff.reshape([batch])
    }
}

fn seeded_linear(
    fan_in: usize,
    fan_out: usize,
    scale: f32,
    rng: &mut Rng,
    device: &Device,
) -> Linear {
    let k = scale / (fan_in as f32).sqrt();
    let w: Vec<f32> = (0..fan_in * fan_out)
        .map(|_| (2.0 * rng.unit_f32() - 1.0) * k)
        .collect();
    let b: Vec<f32> = (0..fan_out)
        .map(|_| (2.0 * rng.unit_f32() - 1.0) * k)
        .collect();
    Linear {
        weight: Param::from_data(TensorData::new(w, [fan_in, fan_out]), device),
        bias: Some(Param::from_data(TensorData::new(b, [fan_out]), device)),
    }
}

/// Trains a [`ToyMlp`] on a [`ToyWorld`] one epoch per [`ToyTrainer::step`] (constant-rate
/// Adam, full-batch or seeded mini-batches).
pub struct ToyTrainer {
    model: ToyMlp,
    optim: Adam,
    points: Tensor<2>,
    labels: Tensor<1, Int>,
    count: usize,
    config: ToyModelConfig,
    rng: Rng,
    epoch: usize,
}

impl ToyTrainer {
    /// A fresh model for `world` on the autodiff twin of `device`.
    pub fn new(world: &ToyWorld, config: ToyModelConfig, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let count = world.len();
        let labels: Vec<i64> = world.labels.iter().map(|&l| i64::from(l)).collect();
        Self {
            model: ToyMlp::new(world.dim, &config, &device),
            optim: Adam::new(&device),
            points: Tensor::from_data(
                TensorData::new(world.points.clone(), [count, world.dim]),
                &device,
            ),
            labels: Tensor::from_data(TensorData::new(labels, [count]), &device),
            count,
            rng: Rng::new(config.seed.wrapping_add(1)),
            config,
            epoch: 0,
        }
    }

    /// Epochs trained so far.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Trains one epoch; returns the mean cross-entropy of its steps (a tensor, not read).
    pub fn step(&mut self) -> Tensor<1> {
        let batch = match self.config.batch_size {
            0 => self.count,
            b => b.min(self.count),
        };
        let mut order: Vec<usize> = (0..self.count).collect();
        if batch < self.count {
            self.rng.shuffle(&mut order);
        }
        let device = self.points.device();
        let mut total: Option<Tensor<1>> = None;
        let steps = order.chunks(batch).len();
        for chunk in order.chunks(batch) {
            let (x, y) = if batch == self.count {
                (self.points.clone(), self.labels.clone())
            } else {
                let idx: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
                let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [chunk.len()]), &device);
                (
                    self.points.clone().select(0, idx.clone()),
                    self.labels.clone().select(0, idx),
                )
            };
            let logits = self.model.forward(x);
            let loss = nn::loss::CrossEntropyLossConfig::new()
                .init(&device)
                .forward(logits, y);
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            let model = std::mem::replace(&mut self.model, ToyMlp::placeholder(&device));
            self.model = self.optim.step(self.config.learning_rate, model, grads);
            let loss = loss.detach().without_autodiff();
            total = Some(match total {
                Some(t) => t + loss,
                None => loss,
            });
        }
        self.epoch += 1;
        total.expect("a world has points").div_scalar(steps as f32)
    }

    /// The current model, for evaluation (plain device, no gradients).
    pub fn model(&self) -> ToyMlp {
        self.model.valid()
    }
}

impl ToyMlp {
    /// A one-weight stand-in used while the optimiser owns the real model.
    fn placeholder(device: &Device) -> Self {
        Self::linear(
            [&[0.0], &[0.0]],
            [0.0, 0.0],
            &device.clone().without_autodiff(),
        )
    }
}

/// A rectangle of the plane sampled at `resolution × resolution` vertices: vertex (i, j) is at
/// (x0 + i (x1 − x0)/(resolution − 1), y0 + j (y1 − y0)/(resolution − 1)), stored at index
/// j · resolution + i (rows of constant y).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    pub x: (f32, f32),
    pub y: (f32, f32),
    pub resolution: usize,
}

impl Grid {
    /// x coordinate of column i.
    pub fn xi(&self, i: usize) -> f32 {
        lerp(self.x, i, self.resolution)
    }

    /// y coordinate of row j.
    pub fn yj(&self, j: usize) -> f32 {
        lerp(self.y, j, self.resolution)
    }

    /// The vertices as points: (x, y) in 2-D, or (x, y, z) on the cross-section at height `z`
    /// in 3-D.
    pub fn points(&self, z: Option<f32>) -> Vec<f32> {
        let r = self.resolution;
        let mut out = Vec::with_capacity(r * r * 3);
        for j in 0..r {
            for i in 0..r {
                out.extend([self.xi(i), self.yj(j)]);
                out.extend(z);
            }
        }
        out
    }
}

/// a.0 + i (a.1 − a.0)/(n − 1).
pub(crate) fn lerp(a: (f32, f32), i: usize, n: usize) -> f32 {
    if n < 2 {
        return a.0;
    }
    a.0 + (a.1 - a.0) * i as f32 / (n - 1) as f32
}

/// The margin (class 1 minus class 0) at each row of `points` (`dim` values each): one
/// batched forward pass, not read back.
pub fn margins(model: &ToyMlp, points: &[f32], dim: usize, device: &Device) -> Tensor<1> {
    let device = device.clone().without_autodiff();
    let count = points.len() / dim;
    let x = Tensor::<2>::from_data(TensorData::new(points.to_vec(), [count, dim]), &device);
    model.valid().margin(x)
}

/// The margin over `grid` (2-D model, or a 3-D model's cross-section at height `z`), read back,
/// in the grid's order.
pub async fn margin_grid(
    model: &ToyMlp,
    grid: &Grid,
    z: Option<f32>,
    device: &Device,
) -> Result<Vec<f32>, String> {
    let dim = 2 + usize::from(z.is_some());
    read_f32(margins(model, &grid.points(z), dim, device)).await
}

/// A piece of the zero level set: from `a` to `b`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub a: [f32; 2],
    pub b: [f32; 2],
}

/// The zero contour of `values` over `grid` by marching squares: in each cell, the points where
/// the value changes sign along an edge (linearly interpolated) are joined; a saddle cell (signs
/// alternating round it) is split by the sign of the mean of its four corners.
pub fn zero_contour(grid: &Grid, values: &[f32]) -> Vec<Segment> {
    let r = grid.resolution;
    let at = |i: usize, j: usize| values[j * r + i];
    let mut out = Vec::new();
    for j in 0..r.saturating_sub(1) {
        for i in 0..r.saturating_sub(1) {
            // Corners counter-clockwise from bottom-left, then the crossing on each edge k
            // (from corner k to corner k + 1).
            let c = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
            let v = c.map(|(a, b)| at(a, b));
            let pos = v.map(|x| x > 0.0);
            let cross = |k: usize| -> Option<[f32; 2]> {
                let l = (k + 1) % 4;
                if pos[k] == pos[l] {
                    return None;
                }
                let t = v[k] / (v[k] - v[l]);
                let (p, q) = (c[k], c[l]);
                let (px, py) = (grid.xi(p.0), grid.yj(p.1));
                let (qx, qy) = (grid.xi(q.0), grid.yj(q.1));
                Some([px + t * (qx - px), py + t * (qy - py)])
            };
            let e: Vec<(usize, [f32; 2])> =
                (0..4).filter_map(|k| cross(k).map(|p| (k, p))).collect();
            match e.len() {
                2 => out.push(Segment {
                    a: e[0].1,
                    b: e[1].1,
                }),
                4 => {
                    // Saddle: the centre has the sign of the mean; join each edge crossing to
                    // its neighbour so that the centre's sign region stays connected.
                    let centre_pos = v.iter().sum::<f32>() > 0.0;
                    let p = e.iter().map(|x| x.1).collect::<Vec<_>>();
                    if centre_pos == pos[0] {
                        // Corner 0's region is joined through the centre: cut off corners 1, 3.
                        out.push(Segment { a: p[0], b: p[1] });
                        out.push(Segment { a: p[2], b: p[3] });
                    } else {
                        out.push(Segment { a: p[3], b: p[0] });
                        out.push(Segment { a: p[1], b: p[2] });
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Distance from `p` to the nearest segment (infinite when there are none).
pub fn distance_to_contour(p: [f32; 2], segments: &[Segment]) -> f32 {
    segments
        .iter()
        .map(|s| {
            let d = [s.b[0] - s.a[0], s.b[1] - s.a[1]];
            let w = [p[0] - s.a[0], p[1] - s.a[1]];
            let len2 = d[0] * d[0] + d[1] * d[1];
            let t = if len2 > 0.0 {
                ((w[0] * d[0] + w[1] * d[1]) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (ex, ey) = (w[0] - t * d[0], w[1] - t * d[1]);
            (ex * ex + ey * ey).sqrt()
        })
        .fold(f32::INFINITY, f32::min)
}

/// The numbers that show the phases, at one epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhaseMetrics {
    /// Mean over the data of the first-order distance to the boundary,
    /// min(|m(x)| / ||∇_x m(x)||, 1) (m the margin; exact for a linear classifier; capped at 1,
    /// the size of the toy worlds, because a flat region, such as dead ReLUs, makes it blow up).
    pub distance: f32,
    /// 2-D only: mean over the data of the distance to the nearest segment of the zero contour
    /// on a grid (see [`zero_contour`]), exact up to the grid spacing; capped at 1 like
    /// `distance` (a point with no boundary in the grid counts 1).
    pub contour_distance: Option<f32>,
    /// Mean over the data of |cos(∇_x m(x), n(x))|, n the manifold's unit normal: 1 when the
    /// boundary near x runs parallel to the manifold, 0 when it cuts across it.
    pub normal_cosine: f32,
}

/// The margin and its input gradient at every point of `world`, as host vectors
/// (margins `[count]`, gradients `[count × dim]`): one forward and one backward pass.
pub async fn margin_gradients(
    model: &ToyMlp,
    world: &ToyWorld,
    device: &Device,
) -> Result<(Vec<f32>, Vec<f32>), String> {
    let device = device.clone().autodiff();
    let x = Tensor::<2>::from_data(
        TensorData::new(world.points.clone(), [world.len(), world.dim]),
        &device,
    )
    .require_grad();
    let margin = model.valid().margin(x.clone());
    // Each row's margin depends only on its own point, so ∇ of the sum gives every row's ∇.
    let grads = margin.clone().sum().backward();
    let gradient = x.grad(&grads).ok_or("no input gradient")?;
    let margin = read_f32(margin.detach().without_autodiff()).await?;
    let gradient = read_f32(gradient).await?;
    Ok((margin, gradient))
}

/// [`PhaseMetrics`] from margins and gradients at the points of `world`, and (2-D) the zero
/// contour.
pub fn phase_metrics(
    world: &ToyWorld,
    margin: &[f32],
    gradient: &[f32],
    contour: Option<&[Segment]>,
) -> PhaseMetrics {
    let d = world.dim;
    let (mut distance, mut cosine) = (0.0f32, 0.0f32);
    for (k, m) in margin.iter().enumerate() {
        let g = &gradient[k * d..(k + 1) * d];
        let n = &world.normals[k * d..(k + 1) * d];
        let norm = g.iter().map(|a| a * a).sum::<f32>().sqrt();
        if norm > 0.0 {
            distance += (m.abs() / norm).min(1.0);
            cosine += g.iter().zip(n).map(|(a, b)| a * b).sum::<f32>().abs() / norm;
        } else {
            distance += 1.0;
        }
    }
    let count = margin.len().max(1) as f32;
    let contour_distance = contour.filter(|_| d == 2).map(|segments| {
        world
            .points
            .chunks(2)
            .map(|p| distance_to_contour([p[0], p[1]], segments).min(1.0))
            .sum::<f32>()
            / count
    });
    PhaseMetrics {
        distance: distance / count,
        contour_distance,
        normal_cosine: cosine / count,
    }
}

/// [`PhaseMetrics`] of `model` on `world`; for a 2-D world the contour distance is measured on
/// `grid` (one more batched forward pass), if given.
pub async fn measure_phase(
    model: &ToyMlp,
    world: &ToyWorld,
    grid: Option<&Grid>,
    device: &Device,
) -> Result<PhaseMetrics, String> {
    let values = match grid {
        Some(grid) if world.dim == 2 => Some(margin_grid(model, grid, None, device).await?),
        _ => None,
    };
    phase_on_grid(model, world, grid.zip(values.as_deref()), device).await
}

/// [`PhaseMetrics`] of `model` on `world`, the contour distance measured on `margins`, the
/// margin over a grid computed already (2-D worlds only), so that a page measures the same
/// boundary it draws.
pub async fn phase_on_grid(
    model: &ToyMlp,
    world: &ToyWorld,
    margins: Option<(&Grid, &[f32])>,
    device: &Device,
) -> Result<PhaseMetrics, String> {
    let (margin, gradient) = margin_gradients(model, world, device).await?;
    let contour = margins
        .filter(|_| world.dim == 2)
        .map(|(grid, values)| zero_contour(grid, values));
    Ok(phase_metrics(world, &margin, &gradient, contour.as_deref()))
}

/// A box of R^3 sampled at `resolution³` vertices: vertex (i, j, k) is at
/// (x0 + i Δx, y0 + j Δy, z0 + k Δz), stored at index (k · r + j) · r + i.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Volume {
    pub x: (f32, f32),
    pub y: (f32, f32),
    pub z: (f32, f32),
    pub resolution: usize,
}

impl Volume {
    /// The vertices as points (x, y, z), in index order.
    pub fn points(&self) -> Vec<f32> {
        let r = self.resolution;
        let mut out = Vec::with_capacity(r * r * r * 3);
        for k in 0..r {
            for j in 0..r {
                for i in 0..r {
                    out.extend([self.at(0, i), self.at(1, j), self.at(2, k)]);
                }
            }
        }
        out
    }

    /// Coordinate `axis` (0 = x, 1 = y, 2 = z) of the vertices with index `i` on that axis.
    pub fn at(&self, axis: usize, i: usize) -> f32 {
        let range = [self.x, self.y, self.z][axis];
        lerp(range, i, self.resolution)
    }
}

impl ToyWorld {
    /// The cube over the points' bounding box widened by `pad` on every side, sampled at
    /// `resolution³` vertices: where a 3-D world's boundary surface is extracted.
    pub fn volume(&self, pad: f32, resolution: usize) -> Volume {
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for p in self.points.chunks(self.dim) {
            for (a, v) in p.iter().take(3).enumerate() {
                lo[a] = lo[a].min(*v);
                hi[a] = hi[a].max(*v);
            }
        }
        let range = |a: usize| {
            if lo[a].is_finite() {
                (lo[a] - pad, hi[a] + pad)
            } else {
                (-pad, pad)
            }
        };
        Volume {
            x: range(0),
            y: range(1),
            z: range(2),
            resolution,
        }
    }
}

/// The margin of a 3-D model at every vertex of `volume`, read back in index order (one
/// batched forward pass).
pub async fn margin_volume(
    model: &ToyMlp,
    volume: &Volume,
    device: &Device,
) -> Result<Vec<f32>, String> {
    read_f32(margins(model, &volume.points(), 3, device)).await
}

/// The points of the vertical section y = `y` of R^3 over the (x, z) rectangle `grid` (its `x`
/// is x, its `y` is z), as (x, y, z) in the grid's order.
pub fn section_points(grid: &Grid, y: f32) -> Vec<f32> {
    grid.points(None)
        .chunks(2)
        .flat_map(|p| [p[0], y, p[1]])
        .collect()
}

/// The margin of a 3-D model on the vertical section y = `y` over the (x, z) rectangle
/// `grid` (its `x` is x, its `y` is z), read back in the grid's order.
pub async fn margin_section(
    model: &ToyMlp,
    grid: &Grid,
    y: f32,
    device: &Device,
) -> Result<Vec<f32>, String> {
    read_f32(margins(model, &section_points(grid, y), 3, device)).await
}

/// A surface as quadrilaterals: `vertices` (x, y, z) and `quads` of four vertex indices in
/// order round the quad.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mesh {
    pub vertices: Vec<[f32; 3]>,
    pub quads: Vec<[u32; 4]>,
}

/// The zero level set of `values` over `volume` (in [`Volume::points`] order) by naive surface
/// nets: every cube of eight vertices whose signs differ gets one vertex, the mean of the
/// points where the value crosses zero along its edges (linearly interpolated); every grid
/// edge whose ends differ in sign gets the quad joining the vertices of the four cubes round
/// it. For an affine margin every vertex lies on the plane.
pub fn boundary_mesh(volume: &Volume, values: &[f32]) -> Mesh {
    let r = volume.resolution;
    let mut mesh = Mesh::default();
    if r < 2 || values.len() < r * r * r {
        return mesh;
    }
    let index = |i: usize, j: usize, k: usize| (k * r + j) * r + i;
    let c = r - 1;
    let cube = |i: usize, j: usize, k: usize| (k * c + j) * c + i;
    let mut vertex_of = vec![u32::MAX; c * c * c];
    const CORNERS: [[usize; 3]; 8] = [
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
        [1, 1, 0],
        [0, 0, 1],
        [1, 0, 1],
        [0, 1, 1],
        [1, 1, 1],
    ];
    for k in 0..c {
        for j in 0..c {
            for i in 0..c {
                let v = CORNERS.map(|[a, b, d]| values[index(i + a, j + b, k + d)]);
                let (mut sum, mut count) = ([0.0f32; 3], 0.0f32);
                for (p, q) in (0..8).flat_map(|p| (p + 1..8).map(move |q| (p, q))) {
                    let (cp, cq) = (CORNERS[p], CORNERS[q]);
                    let adjacent = (0..3).filter(|&a| cp[a] != cq[a]).count() == 1;
                    if !adjacent || (v[p] > 0.0) == (v[q] > 0.0) {
                        continue;
                    }
                    let t = v[p] / (v[p] - v[q]);
                    for a in 0..3 {
                        let base = [i, j, k][a];
                        let (from, to) = (volume.at(a, base + cp[a]), volume.at(a, base + cq[a]));
                        sum[a] += from + t * (to - from);
                    }
                    count += 1.0;
                }
                if count > 0.0 {
                    vertex_of[cube(i, j, k)] = mesh.vertices.len() as u32;
                    mesh.vertices.push(sum.map(|s| s / count));
                }
            }
        }
    }
    // Each sign-changing edge along axis a, not on the volume's border in the other two
    // axes, is surrounded by four cubes.
    for k in 0..r {
        for j in 0..r {
            for i in 0..r {
                let here = values[index(i, j, k)] > 0.0;
                for a in 0..3 {
                    let (ii, jj, kk) = match a {
                        0 => (i + 1, j, k),
                        1 => (i, j + 1, k),
                        _ => (i, j, k + 1),
                    };
                    if ii >= r || jj >= r || kk >= r || (values[index(ii, jj, kk)] > 0.0) == here {
                        continue;
                    }
                    // The two other axes, and the four cubes offset by 0 or -1 along them.
                    let (u, w) = match a {
                        0 => (1, 2),
                        1 => (0, 2),
                        _ => (0, 1),
                    };
                    let at = [i, j, k];
                    if at[u] == 0 || at[w] == 0 || at[u] >= r - 1 || at[w] >= r - 1 {
                        continue;
                    }
                    let corner = |du: usize, dw: usize| {
                        let mut p = at;
                        p[u] -= du;
                        p[w] -= dw;
                        vertex_of[cube(p[0], p[1], p[2])]
                    };
                    let quad = [corner(1, 1), corner(0, 1), corner(0, 0), corner(1, 0)];
                    if quad.iter().all(|&q| q != u32::MAX) {
                        mesh.quads.push(quad);
                    }
                }
            }
        }
    }
    mesh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marching_squares_finds_a_line_and_a_saddle() {
        let grid = Grid {
            x: (0.0, 1.0),
            y: (0.0, 1.0),
            resolution: 2,
        };
        // m = x - 0.25: one segment at x = 0.25.
        let line = zero_contour(&grid, &[-0.25, 0.75, -0.25, 0.75]);
        assert_eq!(line.len(), 1);
        assert!((line[0].a[0] - 0.25).abs() < 1e-6 && (line[0].b[0] - 0.25).abs() < 1e-6);
        // Saddle: two segments.
        assert_eq!(zero_contour(&grid, &[1.0, -1.0, -1.0, 1.0]).len(), 2);
        assert!(zero_contour(&grid, &[1.0, 1.0, 1.0, 1.0]).is_empty());
        let d = distance_to_contour([0.0, 0.5], &line);
        assert!((d - 0.25).abs() < 1e-6, "{d}");
    }
}
