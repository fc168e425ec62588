//! libFuzzer entry point for `dimple_fuzz::model_file` (`cargo +nightly fuzz run model_file`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dimple_fuzz::model_file(data);
});
