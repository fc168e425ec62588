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

#[cfg(test)]
mod tests {
    use super::*;

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
