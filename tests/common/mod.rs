//! Fixtures shared by the native test suites that train on the bundled MNIST: the bundle,
//! slices of it on the CPU, and the lock around burn's process-wide random generator.

use burn::prelude::*;
use dimple::ml::batch::DeviceSplit;
use dimple::ml::dataset::Dataset;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Pixels of an MNIST image.
pub const N: usize = 784;

/// Burn's CPU backend draws initial weights from one process-wide generator that trainers
/// seed, and tests run on parallel threads: seeded model construction and first use happen
/// under this lock, so a seed gives the same weights whatever other tests run.
pub fn device_rng() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bundled MNIST, decoded once.
pub fn bundle() -> &'static Dataset {
    static DATA: OnceLock<Dataset> = OnceLock::new();
    DATA.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/static/data/mnist-bundle.dmpl.zlib"
        );
        Dataset::decode_packed(&std::fs::read(path).expect("the bundle is in static/data"))
            .expect("the bundle decodes")
    })
}

/// The first `count` images of the bundle's training split (`train`) or test split, on the
/// CPU.
pub fn slice(train: bool, count: usize) -> DeviceSplit {
    let data = bundle();
    let split = if train { &data.train } else { &data.test };
    DeviceSplit::from_parts(
        &split.pixels[..count * N],
        &split.labels[..count],
        N,
        &Device::flex(),
    )
}
