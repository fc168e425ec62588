//! Adam, the optimiser the trainers step with: burn's update rule, which on the CPU runs as one
//! fused pass over each parameter (split across the cores natively) instead of burn's dozen
//! tensor operations a parameter.
//!
//! On the CPU backend (Flex) a tensor lives in host memory, so the moments are kept as plain
//! arrays and each step reads a parameter and its gradient once (or the gradients of a batch's
//! two halves, summed in the same loop) and updates the moments and the parameter where they
//! lie. The arithmetic is burn's (`burn::optim::Adam`, with the parts added as burn's
//! `GradientsAccumulator` adds them: the same f32 operations in the same order, so the same
//! bits; see the tests). On any other device (WebGPU) the step is burn's own
//! [`ModuleOptimizer`], as reading the weights back to the host every step would cost far more
//! than it saves.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{AdamConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use std::collections::HashMap;

/// Adam with burn's defaults (β₁ 0.9, β₂ 0.999, ε 1e-5, no weight decay; the tests check
/// them against `AdamConfig::new()`).
pub struct Adam {
    rule: Rule,
    kind: Kind,
}

enum Kind {
    /// The fused host loop, with each parameter's moments and step count.
    Host(HashMap<ParamId, Moments>),
    /// burn's optimiser, on a device whose memory is not the host's.
    Device(ModuleOptimizer),
}

/// The constants of the update rule.
#[derive(Clone, Copy, Debug)]
struct Rule {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
}

/// One parameter's first and second moments, and the steps it has taken.
#[derive(Debug)]
struct Moments {
    first: Vec<f32>,
    second: Vec<f32>,
    time: i32,
}

impl Adam {
    /// A fresh optimiser for parameters on `device` (with or without autodiff).
    pub fn new(device: &Device) -> Self {
        let rule = Rule {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-5,
        };
        let kind = if device.clone().inner() == Device::flex() {
            Kind::Host(HashMap::new())
        } else {
            Kind::Device(
                AdamConfig::new()
                    .with_beta_1(rule.beta_1)
                    .with_beta_2(rule.beta_2)
                    .with_epsilon(rule.epsilon)
                    .init(),
            )
        };
        Self { rule, kind }
    }

    /// `module` after one Adam step with `learning_rate` along `grads`; parameters without a
    /// gradient are left as they are.
    pub fn step<M: Module>(&mut self, learning_rate: f64, module: M, grads: GradientsParams) -> M {
        self.step_sum(learning_rate, module, vec![grads])
    }

    /// `module` after one Adam step with `learning_rate` along the sum of the gradients `parts`
    /// (a step's batch taken in parts), as [`Adam::step`] along their sum added up by burn's
    /// `GradientsAccumulator` in the order given, to the bit. On the CPU the sum of one or two
    /// parts is taken inside the update's loop, so no summed gradient is written (more parts
    /// are summed first); a parameter without a gradient in any part is left as it is.
    pub fn step_sum<M: Module>(
        &mut self,
        learning_rate: f64,
        module: M,
        parts: Vec<GradientsParams>,
    ) -> M {
        match &mut self.kind {
            Kind::Device(optim) => {
                let mut sum = GradientsAccumulator::new();
                for part in parts {
                    sum.accumulate(&module, part);
                }
                optim.step(learning_rate, module, sum.grads())
            }
            Kind::Host(moments) => module.map(&mut HostStep {
                rule: self.rule,
                learning_rate: learning_rate as f32,
                parts,
                moments,
            }),
        }
    }
}

/// Steps every parameter of a module that has a gradient, on the host.
struct HostStep<'a> {
    rule: Rule,
    learning_rate: f32,
    /// The parts whose sum is the gradient.
    parts: Vec<GradientsParams>,
    moments: &'a mut HashMap<ParamId, Moments>,
}

impl ModuleMapper for HostStep<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        // Each part's gradient read where it lies (copied only if it is shared or is a view).
        let grads: Vec<TensorData> = self
            .parts
            .iter_mut()
            .filter_map(|part| part.remove::<D>(param.id))
            .map(Tensor::into_data)
            .collect();
        if grads.is_empty() {
            return param;
        }
        let grads: Vec<&[f32]> = grads.iter().map(host_f32).collect();
        let (id, tensor, mapper) = param.consume();
        let require_grad = tensor.is_require_grad();
        let inner = tensor.inner();
        let device = inner.device();
        // Updated where they lie (copied first only if they are shared or are a view).
        let mut data = inner.into_data();
        let weights = data
            .as_mut_slice::<f32>()
            .expect("Adam steps f32 parameters");
        let moments = self.moments.entry(id).or_insert_with(|| Moments {
            first: vec![0.0; weights.len()],
            second: vec![0.0; weights.len()],
            time: 0,
        });
        moments.time += 1;
        let factors = self.rule.factors(moments.time, self.learning_rate);
        let summed;
        let grad = match grads[..] {
            [one] => Gradient::One(one),
            [first, second] => Gradient::Two(first, second),
            _ => {
                // More parts than the trainers make: burn's sum, left to right, then one.
                summed = grads[1..].iter().fold(grads[0].to_vec(), |mut sum, part| {
                    sum.iter_mut().zip(*part).for_each(|(s, g)| *s += g);
                    sum
                });
                Gradient::One(&summed)
            }
        };
        update(
            weights,
            grad,
            &mut moments.first,
            &mut moments.second,
            factors,
        );
        let mut tensor = Tensor::from_inner(Tensor::<D>::from_data(data, &device));
        if require_grad {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// The f32 values of a gradient read back to the host.
fn host_f32(data: &TensorData) -> &[f32] {
    data.as_slice::<f32>().expect("Adam steps f32 parameters")
}

/// A parameter's gradient: one array, or the sum of two taken element by element.
#[derive(Clone, Copy)]
enum Gradient<'a> {
    One(&'a [f32]),
    Two(&'a [f32], &'a [f32]),
}

impl<'a> Gradient<'a> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        match self {
            Self::One(g) => {
                let (a, b) = g.split_at(mid);
                (Self::One(a), Self::One(b))
            }
            Self::Two(g, h) => {
                let ((a, b), (c, d)) = (g.split_at(mid), h.split_at(mid));
                (Self::Two(a, c), Self::Two(b, d))
            }
        }
    }
}

/// The scalars of step `time` (from 1), computed as burn computes them.
#[derive(Clone, Copy, Debug)]
struct Factors {
    beta_1: f32,
    beta_2: f32,
    /// 1 − β₁ and 1 − β₂.
    rest_1: f32,
    rest_2: f32,
    /// √(1 − β₂ᵗ) / (1 − β₁ᵗ): both bias corrections in one factor on the first moment.
    combined: f32,
    /// ε √(1 − β₂ᵗ).
    epsilon: f32,
    learning_rate: f32,
}

impl Rule {
    fn factors(self, time: i32, learning_rate: f32) -> Factors {
        let correction_2 = (1.0 - self.beta_2.powi(time)).sqrt();
        Factors {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            rest_1: 1.0 - self.beta_1,
            rest_2: 1.0 - self.beta_2,
            combined: correction_2 / (1.0 - self.beta_1.powi(time)),
            epsilon: self.epsilon * correction_2,
            learning_rate,
        }
    }
}

/// Elements from which a parameter's update is split across two cores natively.
const SPLIT_AT: usize = 1 << 17;

/// One Adam step on `weights` along `grad`, updating the moments in place. Element by element,
/// so splitting the arrays changes nothing.
fn update(
    weights: &mut [f32],
    grad: Gradient<'_>,
    first: &mut [f32],
    second: &mut [f32],
    k: Factors,
) {
    if weights.len() >= SPLIT_AT {
        let half = weights.len() / 2;
        let (w0, w1) = weights.split_at_mut(half);
        let (g0, g1) = grad.split_at(half);
        let (m0, m1) = first.split_at_mut(half);
        let (v0, v1) = second.split_at_mut(half);
        super::cores::side_by_side(
            || update_run(w0, g0, m0, v0, k),
            || update_run(w1, g1, m1, v1, k),
        );
    } else {
        update_run(weights, grad, first, second, k);
    }
}

/// The update of [`update`] on one run of elements.
fn update_run(
    weights: &mut [f32],
    grad: Gradient<'_>,
    first: &mut [f32],
    second: &mut [f32],
    k: Factors,
) {
    match grad {
        Gradient::One(g) => update_widest(weights, [g], first, second, k),
        Gradient::Two(g, h) => update_widest(weights, [g, h], first, second, k),
    }
}

/// [`update_elements`] with the widest vectors the CPU has.
fn update_widest<const PARTS: usize>(
    weights: &mut [f32],
    grad: [&[f32]; PARTS],
    first: &mut [f32],
    second: &mut [f32],
    k: Factors,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { update_run_avx512(weights, grad, first, second, k) };
    }
    update_elements(weights, grad, first, second, k);
}

/// [`update_elements`] compiled for AVX-512 (the same operations on 16 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn update_run_avx512<const PARTS: usize>(
    weights: &mut [f32],
    grad: [&[f32]; PARTS],
    first: &mut [f32],
    second: &mut [f32],
    k: Factors,
) {
    update_elements(weights, grad, first, second, k);
}

/// burn's operations, in burn's order, element by element (in blocks the compiler turns into
/// vector instructions: each lane rounds as the scalar code would).
#[inline(always)]
fn update_elements<const PARTS: usize>(
    weights: &mut [f32],
    grad: [&[f32]; PARTS],
    first: &mut [f32],
    second: &mut [f32],
    k: Factors,
) {
    const LANES: usize = 16;
    let n = weights.len();
    let grad = grad.map(|part| &part[..n]);
    let (first, second) = (&mut first[..n], &mut second[..n]);
    let one = |w: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
        *m = *m * k.beta_1 + g * k.rest_1;
        *v = *v * k.beta_2 + g * g * k.rest_2;
        let step = (*m * k.combined) / (v.sqrt() + k.epsilon);
        *w -= step * k.learning_rate;
    };
    // The parts added left to right, as burn's accumulator adds them.
    let sum =
        |parts: [&[f32]; PARTS], i: usize| parts[1..].iter().fold(parts[0][i], |g, p| g + p[i]);
    let blocks = n / LANES * LANES;
    for start in (0..blocks).step_by(LANES) {
        let end = start + LANES;
        let block: [&[f32; LANES]; PARTS] =
            grad.map(|part| part[start..end].try_into().expect("a whole block"));
        let (w, m, v) = (
            &mut weights[start..end],
            &mut first[start..end],
            &mut second[start..end],
        );
        for i in 0..LANES {
            one(
                &mut w[i],
                sum(block.map(|b| &b[..]), i),
                &mut m[i],
                &mut v[i],
            );
        }
    }
    for i in blocks..n {
        one(&mut weights[i], sum(grad, i), &mut first[i], &mut second[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    #[derive(Module, Debug)]
    struct Net {
        a: Linear,
        b: Linear,
    }

    fn weights(net: &Net) -> Vec<Vec<f32>> {
        [net.a.weight.val(), net.b.weight.val()]
            .into_iter()
            .map(|w| {
                w.without_autodiff()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
            })
            .chain(
                [net.a.bias.as_ref(), net.b.bias.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(|b| {
                        b.val()
                            .without_autodiff()
                            .into_data()
                            .try_to_vec::<f32>()
                            .unwrap()
                    }),
            )
            .collect()
    }

    fn grads(net: &Net, seed: u64) -> GradientsParams {
        let device = Device::flex().autodiff();
        device.seed(seed);
        let x = Tensor::<2>::random(
            [7, net.a.weight.dims()[0]],
            burn::tensor::Distribution::Normal(0.0, 3.0),
            &device,
        );
        let y = net.b.forward(net.a.forward(x).tanh());
        let loss = (y.clone() * y).sum();
        GradientsParams::from_grads(loss.backward(), net)
    }

    /// Like [`grads`], on inputs drawn by the project's own generator from `seed`, so that two
    /// calls with one seed give one gradient whatever was drawn in between.
    fn part_grads(net: &Net, seed: u64) -> GradientsParams {
        let mut rng = crate::ml::rng::Rng::new(seed);
        let inputs = net.a.weight.dims()[0];
        let x: Vec<f32> = (0..7 * inputs)
            .map(|_| 6.0 * rng.unit_f32() - 3.0)
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [7, inputs]), &Device::flex().autodiff());
        let y = net.b.forward(net.a.forward(x).tanh());
        let loss = (y.clone() * y).sum();
        GradientsParams::from_grads(loss.backward(), net)
    }

    /// A CPU autodiff device seeded with `seed` and a net `inputs → hidden → outputs` on it.
    fn net(seed: u64, inputs: usize, hidden: usize, outputs: usize) -> (Device, Net) {
        let device = Device::flex().autodiff();
        device.seed(seed);
        let net = Net {
            a: LinearConfig::new(inputs, hidden).init(&device),
            b: LinearConfig::new(hidden, outputs).init(&device),
        };
        (device, net)
    }

    /// The fused host step gives burn's Adam bit for bit, step after step (first step, bias
    /// corrections, learning rates that change), on parameters large enough to be split.
    #[test]
    fn the_host_step_is_burns_adam_to_the_bit() {
        let (device, net) = net(3, 40, 4000, 5);
        const { assert!(40 * 4000 >= SPLIT_AT, "the first layer is split") };
        let initial = weights(&net);
        let (mut ours, mut burns) = (net.clone(), net);
        let mut adam = Adam::new(&device);
        assert!(matches!(adam.kind, Kind::Host(_)));
        let mut reference: ModuleOptimizer = AdamConfig::new().init();
        for step in 0..6u64 {
            let lr = 1e-2 / (1.0 + step as f64);
            let g = grads(&ours, step);
            ours = adam.step(lr, ours, g);
            let g = grads(&burns, step);
            burns = reference.step(lr, burns, g);
            let (a, b) = (weights(&ours), weights(&burns));
            for (x, y) in a.iter().zip(&b) {
                let same = x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
                assert!(same, "step {step}: the weights differ from burn's Adam");
            }
            assert!(
                a.iter().zip(&initial).all(|(x, y)| x != y),
                "every parameter moved"
            );
        }
        assert!(
            ours.a.weight.val().is_require_grad(),
            "parameters stay tracked"
        );
    }

    /// A step along gradients in parts is burn's Adam along their sum as burn's accumulator
    /// adds them, to the bit: two parts (summed in the update's loop, on parameters large
    /// enough to be split) and three (summed first); a parameter with a gradient in one part
    /// only takes that gradient.
    #[test]
    fn a_step_along_parts_is_burns_adam_along_their_sum() {
        for parts in [2u64, 3] {
            let (device, net) = net(7, 40, 4000, 5);
            let (mut ours, mut burns) = (net.clone(), net);
            let mut adam = Adam::new(&device);
            let mut reference: ModuleOptimizer = AdamConfig::new().init();
            for step in 0..4u64 {
                let lr = 1e-2 / (1.0 + step as f64);
                let mut ours_parts: Vec<_> = (0..parts)
                    .map(|p| part_grads(&ours, 10 * step + p))
                    .collect();
                // The last part lacks the second layer's weight gradient.
                ours_parts[parts as usize - 1].remove::<2>(ours.b.weight.id);
                ours = adam.step_sum(lr, ours, ours_parts);
                let mut sum = GradientsAccumulator::new();
                for p in 0..parts {
                    let mut g = part_grads(&burns, 10 * step + p);
                    if p == parts - 1 {
                        g.remove::<2>(burns.b.weight.id);
                    }
                    sum.accumulate(&burns, g);
                }
                burns = reference.step(lr, burns, sum.grads());
                for (x, y) in weights(&ours).iter().zip(&weights(&burns)) {
                    let same = x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
                    assert!(
                        same,
                        "{parts} parts, step {step}: the weights differ from burn's"
                    );
                }
            }
        }
    }

    /// A parameter without a gradient is left alone, and its moments are not started.
    #[test]
    fn a_parameter_without_gradient_is_left_alone() {
        let (device, net) = net(5, 4, 3, 2);
        let before = weights(&net);
        let mut grads = grads(&net, 1);
        grads.remove::<2>(net.a.weight.id);
        let mut adam = Adam::new(&device);
        let after = weights(&adam.step(1e-1, net.clone(), grads));
        assert_eq!(after[0], before[0], "no gradient, no step");
        assert_ne!(after[1], before[1], "the others moved");
        let Kind::Host(moments) = &adam.kind else {
            unreachable!()
        };
        assert_eq!(moments.len(), 3);
        assert!(!moments.contains_key(&net.a.weight.id));
    }
}
