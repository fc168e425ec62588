//! Dataset splits as device tensors, and the batches the training loop draws from them.
//!
//! A split is uploaded once (pixels scaled to [0, 1]) and batches are gathered on the device by
//! index, so a training step moves no image data between host and device.

use super::dataset::{Dataset, Split};
use super::rng::Rng;
use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;

/// A dataset split resident on a device.
#[derive(Clone, Debug)]
pub struct DeviceSplit {
    /// `[count, pixels]`, values in [0, 1].
    pub images: Tensor<2>,
    /// `[count]` class indices.
    pub labels: Tensor<1, Int>,
}

impl DeviceSplit {
    /// Uploads `split` of `dataset` to `device`.
    pub fn upload(dataset: &Dataset, split: &Split, device: &Device) -> Self {
        Self::from_parts(&split.pixels, &split.labels, dataset.image_len(), device)
    }

    /// Uploads raw u8 pixels (`count × image_len`) and labels.
    pub fn from_parts(pixels: &[u8], labels: &[u8], image_len: usize, device: &Device) -> Self {
        Self {
            images: pixels_to_tensor(pixels, image_len, device),
            labels: labels_to_tensor(labels, device),
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.dims()[0]
    }

    /// Whether the split has no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Images and labels `start..start + count`.
    pub fn range(&self, start: usize, count: usize) -> (Tensor<2>, Tensor<1, Int>) {
        (
            self.images.clone().narrow(0, start, count),
            self.labels.clone().narrow(0, start, count),
        )
    }

    /// Images and labels at `indices`.
    pub fn gather(&self, indices: &[usize]) -> (Tensor<2>, Tensor<1, Int>) {
        let device = self.labels.device();
        let idx: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [indices.len()]), &device);
        (
            self.images.clone().select(0, idx.clone()),
            self.labels.clone().select(0, idx),
        )
    }
}

/// Each image of `images` (`[batch, height × width]`) translated by its own whole-pixel
/// offset `(dx, dy)` from `shifts` (positive `dx` moves the content right, positive `dy`
/// down); pixels shifted in from outside the image are 0.
///
/// The offsets become one `[batch, height × width]` index tensor, uploaded once, and the move
/// is a single gather on the device.
pub fn translate(
    images: Tensor<2>,
    shifts: &[(i32, i32)],
    height: usize,
    width: usize,
) -> Tensor<2> {
    let [batch, pixels] = images.dims();
    assert_eq!(
        pixels,
        height * width,
        "images must be [batch, height × width]"
    );
    assert_eq!(batch, shifts.len(), "one shift per image");
    let device = images.device();
    // i32: the integer type burn's backends hold by default, so the upload needs no conversion.
    let (h, w) = (height as i32, width as i32);
    // Column `pixels` of the padded batch below is all zeros: out-of-image sources read it.
    let blank = pixels as i32;
    let mut index = Vec::with_capacity(batch * pixels);
    for &(dx, dy) in shifts {
        for row in 0..h {
            let src_row = row - dy;
            for col in 0..w {
                let src_col = col - dx;
                let inside = (0..h).contains(&src_row) && (0..w).contains(&src_col);
                index.push(if inside { src_row * w + src_col } else { blank });
            }
        }
    }
    let index = Tensor::<2, Int>::from_data(TensorData::new(index, [batch, pixels]), &device);
    let padded = Tensor::cat(vec![images, Tensor::zeros([batch, 1], &device)], 1);
    padded.gather(1, index)
}

/// u8 pixels (`count × image_len`) as a `[count, image_len]` tensor with values in [0, 1].
pub fn pixels_to_tensor(pixels: &[u8], image_len: usize, device: &Device) -> Tensor<2> {
    let count = pixels.len() / image_len;
    let values: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    Tensor::from_data(TensorData::new(values, [count, image_len]), device)
}

/// u8 labels as an integer tensor.
pub fn labels_to_tensor(labels: &[u8], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    Tensor::from_data(TensorData::new(values, [labels.len()]), device)
}

/// Where a training run stands in its mini-batches: a seeded shuffle of the split, reshuffled
/// at every epoch, cut into batches of `batch_size` (the last one of an epoch may be smaller).
/// Both trainers (classifier and autoencoder) step through their data with one.
#[derive(Clone, Debug)]
pub struct EpochCursor {
    rng: Rng,
    order: Vec<usize>,
    batch_size: usize,
    epochs: usize,
    epoch: usize,
    cursor: usize,
}

/// The examples of one mini-batch and where it lies in the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Epoch of this batch, from 0.
    pub epoch: usize,
    /// Step within the epoch, from 0.
    pub step: usize,
    /// Indices into the split.
    pub indices: Vec<usize>,
}

/// A training step whose batch is taken in parts, a few rows at a time, so that a page can
/// breathe between them: its batch, the rows done, and the gradient and metrics its parts have
/// added up. Each part's loss (a mean over its rows) is weighted by its share of the batch, so
/// the sum is the batch's mean loss and its gradient the batch's mean gradient.
pub struct StepParts<M> {
    pub batch: Batch,
    done: usize,
    gradients: GradientsAccumulator<M>,
    metrics: Option<Tensor<1>>,
}

impl<M: Module> StepParts<M> {
    /// No part of `batch` done yet.
    pub fn new(batch: Batch) -> Self {
        Self {
            batch,
            done: 0,
            gradients: GradientsAccumulator::new(),
            metrics: None,
        }
    }

    /// The rows of the next part of at most `rows` rows: (first, count).
    pub fn next_part(&self, rows: usize) -> (usize, usize) {
        (self.done, rows.min(self.batch.indices.len() - self.done))
    }

    /// Adds the part of `count` rows whose mean loss over its rows is `loss` (on the autodiff
    /// device): its weighted loss goes through `metrics` (to which a trainer adds its own
    /// figures) into the summed metrics, its gradient for `model` into the summed gradient.
    pub fn add(
        &mut self,
        model: &M,
        count: usize,
        loss: Tensor<1>,
        metrics: impl FnOnce(Tensor<1>) -> Tensor<1>,
    ) {
        let (grads, metrics) = part_gradient(model, count, self.batch.indices.len(), loss, metrics);
        self.metrics = Some(match self.metrics.take() {
            None => metrics,
            Some(sum) => sum + metrics,
        });
        self.gradients.accumulate(model, grads);
        self.done += count;
    }

    /// Whether every row of the batch is in.
    pub fn is_complete(&self) -> bool {
        self.done == self.batch.indices.len()
    }

    /// The summed gradient and metrics.
    pub fn finish(mut self) -> (GradientsParams, Tensor<1>) {
        let metrics = self.metrics.take().expect("a step has at least one part");
        (self.gradients.grads(), metrics)
    }
}

/// A part's share of a step whose batch has `batch` rows: the gradient for `model` of the
/// part's mean loss `loss` (over its `count` rows, on the autodiff device) weighted by
/// `count / batch`, and the weighted loss through `metrics` (without autodiff).
pub fn part_gradient<M: Module>(
    model: &M,
    count: usize,
    batch: usize,
    loss: Tensor<1>,
    metrics: impl FnOnce(Tensor<1>) -> Tensor<1>,
) -> (GradientsParams, Tensor<1>) {
    let loss = loss.mul_scalar(count as f64 / batch as f64);
    let part = metrics(loss.clone().detach()).without_autodiff();
    (GradientsParams::from_grads(loss.backward(), model), part)
}

impl EpochCursor {
    /// A run of `epochs` over `len` examples, the order drawn from `seed`.
    pub fn new(len: usize, batch_size: usize, epochs: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut order: Vec<usize> = (0..len).collect();
        rng.shuffle(&mut order);
        Self {
            rng,
            order,
            batch_size: batch_size.max(1),
            epochs,
            epoch: 0,
            cursor: 0,
        }
    }

    /// Batches in one epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Batches in the whole run.
    pub fn total_steps(&self) -> usize {
        self.steps_per_epoch() * self.epochs
    }

    /// Batches taken so far.
    pub fn steps_done(&self) -> usize {
        self.epoch * self.steps_per_epoch() + self.cursor.div_ceil(self.batch_size)
    }

    /// The current epoch (from 0); equals the number of epochs when the run is over.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Whether every epoch has been taken.
    pub fn is_done(&self) -> bool {
        self.epoch >= self.epochs
    }

    /// Whether the last batch completed an epoch (or none was taken yet).
    pub fn at_epoch_start(&self) -> bool {
        self.cursor == 0
    }

    /// The next batch; the order is reshuffled after the last batch of an epoch. Panics if the
    /// run is over.
    pub fn next_batch(&mut self) -> Batch {
        assert!(!self.is_done(), "training run is over");
        let (epoch, step) = (self.epoch, self.cursor / self.batch_size);
        let end = (self.cursor + self.batch_size).min(self.order.len());
        let indices = self.order[self.cursor..end].to_vec();
        self.cursor = end;
        if self.cursor == self.order.len() {
            self.cursor = 0;
            self.epoch += 1;
            self.rng.shuffle(&mut self.order);
        }
        Batch {
            epoch,
            step,
            indices,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_cursor_visits_every_example_once_an_epoch_in_a_new_order() {
        let mut run = EpochCursor::new(10, 4, 3, 7);
        assert_eq!((run.steps_per_epoch(), run.total_steps()), (3, 9));
        let mut epochs: Vec<Vec<usize>> = vec![Vec::new(); 3];
        let mut sizes = Vec::new();
        while !run.is_done() {
            let before = run.steps_done();
            let batch = run.next_batch();
            assert_eq!(run.steps_done(), before + 1);
            assert_eq!(batch.step, before % 3);
            sizes.push(batch.indices.len());
            epochs[batch.epoch].extend(batch.indices);
            assert_eq!(run.at_epoch_start(), batch.step == 2);
        }
        assert_eq!(sizes, [4, 4, 2, 4, 4, 2, 4, 4, 2]);
        for order in &epochs {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        }
        assert_ne!(epochs[0], epochs[1], "reshuffled between epochs");
        // The same seed gives the same batches; another seed another order.
        let first = |seed| EpochCursor::new(10, 10, 1, seed).next_batch().indices;
        assert_eq!(first(7), epochs[0]);
        assert_ne!(first(8), epochs[0]);
    }

    #[test]
    fn translate_moves_each_image_by_its_own_offset_and_fills_with_zero() {
        let device = Device::flex();
        // Two 3×4 images holding 1..=12 and 101..=112, row by row.
        let values: Vec<f32> = (1..=12).chain(101..=112).map(|v| v as f32).collect();
        let images = Tensor::<2>::from_data(TensorData::new(values, [2, 12]), &device);
        let moved = translate(images, &[(1, 0), (-1, 1)], 3, 4);
        let moved = moved.try_into_vec_as::<f32>().unwrap();
        #[rustfmt::skip]
        let expected = [
            // First image one pixel right.
            0.0, 1.0, 2.0, 3.0,
            0.0, 5.0, 6.0, 7.0,
            0.0, 9.0, 10.0, 11.0,
            // Second image one pixel left and one down.
            0.0, 0.0, 0.0, 0.0,
            102.0, 103.0, 104.0, 0.0,
            106.0, 107.0, 108.0, 0.0,
        ];
        assert_eq!(moved, expected);
    }

    #[test]
    fn translate_by_zero_is_the_identity() {
        let device = Device::flex();
        let values: Vec<f32> = (0..2 * 784).map(|v| (v % 255) as f32 / 255.0).collect();
        let images = Tensor::<2>::from_data(TensorData::new(values.clone(), [2, 784]), &device);
        let same = translate(images, &[(0, 0), (0, 0)], 28, 28);
        assert_eq!(same.try_into_vec_as::<f32>().unwrap(), values);
    }
}
