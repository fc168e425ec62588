//! Work side by side on the CPU's cores natively (rayon's threads); one piece after the other
//! in the browser, where the science runs on one thread.

/// Runs `a` and `b` side by side and returns both results.
pub fn side_by_side<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        rayon::join(a, b)
    }
    #[cfg(target_arch = "wasm32")]
    {
        (a(), b())
    }
}
