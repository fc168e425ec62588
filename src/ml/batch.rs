//! Dataset splits as device tensors, and the batches the training loop draws from them.
//!
//! A split is uploaded once (pixels scaled to [0, 1]) and batches are gathered on the device by
//! index, so a training step moves no image data between host and device.

use super::dataset::{Dataset, Split};
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

/// Translates each image of `images` (`[batch, height × width]`) by its `(dx, dy)` in
/// `shifts` (positive moves the content right / down), filling uncovered pixels with 0.
/// One index tensor is uploaded; the work is one gather on the device.
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
    let (h, w) = (height as i64, width as i64);
    let zero = pixels as i64; // index of the appended zero column
    let mut idx = Vec::with_capacity(batch * pixels);
    for &(dx, dy) in shifts {
        for r in 0..h {
            for c in 0..w {
                let (sr, sc) = (r - i64::from(dy), c - i64::from(dx));
                idx.push(if (0..h).contains(&sr) && (0..w).contains(&sc) {
                    sr * w + sc
                } else {
                    zero
                });
            }
        }
    }
    let idx = Tensor::<2, Int>::from_data(TensorData::new(idx, [batch, pixels]), &device);
    let padded = Tensor::cat(vec![images, Tensor::zeros([batch, 1], &device)], 1);
    padded.gather(1, idx)
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
