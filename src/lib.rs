//! Dimple: the Dimpled Manifold Model of adversarial examples, trained and shown in the
//! browser.
//!
//! [`ml`] is the science and runs anywhere burn runs; [`cli`] is the native command-line
//! program; `web` (wasm32 only) is the page, thin glue over `ml`. [`link`] (the page's address),
//! [`form`] (what was typed into its number fields) and [`pace`] (chunks of main-thread work)
//! are the page's logic that needs no browser, so native tests reach it.

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod form;
pub mod link;
pub mod ml;
pub mod pace;
#[cfg(target_arch = "wasm32")]
pub mod web;

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    /// The static constructors (cubecl registers its IR dialects with `inventory`), synthesised
    /// by wasm-ld.
    fn __wasm_call_ctors();
}

/// The page's entry point, called once when the wasm module is instantiated.
///
/// It runs the static constructors itself, once. Without this explicit call wasm-ld links the
/// module "command-style" and wraps every export, so each call from JavaScript (every event,
/// every closure, every allocation) re-ran all constructors: milliseconds per call.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    // SAFETY: called once, before any code that reads what the constructors register.
    unsafe { __wasm_call_ctors() };
    web::mount();
}
