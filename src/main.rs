//! The native command-line program (`dimple --help`); the page is the library's wasm build.

fn main() -> std::process::ExitCode {
    dimple::cli::run(std::env::args().skip(1).collect())
}
