//! The dense layers' matrix product on the WebGPU backend, for when
//! [`crate::ml::dense::prefer_naive_matmul`] sent them through [`DenseOps`] (a software
//! adapter): cubek's plain kernel, one thread per output element.

use crate::ml::dense::DenseOps;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::DType;
use burn_cubecl::CubeBackend;
use burn_cubecl::cubecl::ir::{ElemType, FloatKind};
use burn_cubecl::kernel::matmul::init_matmul_output;
use burn_cubecl::tensor::CubeTensor;
use cubek::matmul::definition::{MatmulElems, MatmulGlobalElems};
use cubek::matmul::launch::launch_ref;
use cubek::matmul::multi_level;
use cubek::matmul::strategy::Strategy;
use cubek::std::InputBinding;

impl DenseOps for CubeBackend {
    fn dense_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        let f32_operands = lhs.dtype == DType::F32 && rhs.dtype == DType::F32;
        if f32_operands && let Some(out) = naive(&lhs, &rhs) {
            return out;
        }
        Self::float_matmul(lhs, rhs)
    }
}

/// `lhs × rhs` in f32 with the plain kernel; `None` where cubek declines the problem.
fn naive(lhs: &CubeTensor, rhs: &CubeTensor) -> Option<CubeTensor> {
    let out = init_matmul_output(lhs, rhs, lhs.dtype);
    let f32_type = ElemType::Float(FloatKind::F32);
    let mut dtypes = MatmulElems::from_globals(&MatmulGlobalElems {
        lhs: f32_type,
        rhs: f32_type,
        out: f32_type,
    });
    launch_ref(
        &Strategy::MultiLevel(multi_level::Strategy::Naive),
        &out.client,
        InputBinding::new(lhs.clone().binding(), f32_type),
        InputBinding::new(rhs.clone().binding(), f32_type),
        out.clone().binding(),
        &mut dtypes,
    )
    .ok()?;
    Some(out)
}
