//! libFuzzer entry point for `dimple_fuzz::url_state` (`cargo +nightly fuzz run url_state`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dimple_fuzz::url_state(data);
});
