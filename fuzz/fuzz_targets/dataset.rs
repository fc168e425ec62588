//! libFuzzer entry point for `dimple_fuzz::dataset` (`cargo +nightly fuzz run dataset`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dimple_fuzz::dataset(data);
});
