//! libFuzzer entry point for `dimple_fuzz::preprocess` (`cargo +nightly fuzz run preprocess`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dimple_fuzz::preprocess(data);
});
