//! The science: data, models, training, and (later) the manifold and attacks.
//!
//! Backend-agnostic (burn's runtime `Device`: Flex on the CPU, wgpu on WebGPU) and free of any
//! web dependency, so every piece is tested natively.

pub mod adam;
pub mod attack;
pub mod autoencoder;
pub mod batch;
pub mod checkpoint;
pub mod cores;
pub mod dataset;
pub mod dense;
pub mod experiments;
pub mod manifold;
pub mod mnist;
pub mod model;
pub mod preprocess;
pub mod rng;
pub mod slice;
pub mod toy;
pub mod train;

use burn::prelude::Tensor;

/// A setting's value as a message shows it: as Rust writes it, or in exponent notation where
/// that would run to dozens of digits (`1e300`, not the 301 digits of its decimal form).
pub fn shown<T: std::fmt::Display + std::fmt::LowerExp + Copy + Into<f64>>(x: T) -> String {
    let size = x.into().abs();
    if size != 0.0 && !(1e-9..1e9).contains(&size) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Reads a float tensor back to the host without blocking: the only way that works for every
/// backend in the browser (WebGPU reads are asynchronous). A lost GPU device is reported as
/// such.
pub async fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, String> {
    let data = tensor.into_data_async().await.map_err(|e| {
        if e.is_device_poisoned() {
            format!("the GPU device was lost ({e})")
        } else {
            format!("reading a result from the device failed: {e}")
        }
    })?;
    data.try_to_vec_as::<f32>()
        .map_err(|e| format!("unexpected result type: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn a_value_is_shown_in_exponent_form_only_where_decimals_would_run_long() {
        assert_eq!(shown(0.003), "0.003");
        assert_eq!(shown(0.0000009), "0.0000009");
        assert_eq!(shown(50.0), "50");
        assert_eq!(shown(0.0), "0");
        assert_eq!(shown(1e300), "1e300");
        assert_eq!(shown(-2.5e-12), "-2.5e-12");
        // An f32 keeps its own shortest form, not the f64 widening's digits.
        assert_eq!(shown(0.1f32), "0.1");
        assert_eq!(shown(3e30f32), "3e30");
        assert_eq!(shown(f64::INFINITY), "inf");
        for x in [1e-9, 0.5, 123.25, 999_999_999.0] {
            assert_eq!(shown(x), x.to_string(), "{x}");
        }
        for x in [1e9, 7e-10, f64::MAX, f64::MIN_POSITIVE] {
            assert_eq!(shown(x).parse::<f64>(), Ok(x), "{x}: exact and short");
            assert!(shown(x).len() <= 24, "{}", shown(x));
        }
    }
}
