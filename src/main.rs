//! The native command-line program (`dimple --help`); the page is the library's wasm build.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The work runs on one of rayon's threads rather than beside them: the pieces it splits
    // off (the halves of a training step, matrix products) are then picked up by the other
    // threads or taken back in place, instead of each being handed across from the main
    // thread and waited for (about 4% more examples/s in training: bench/README.md).
    rayon::ThreadPoolBuilder::new()
        .stack_size(8 << 20)
        .build_global()
        .expect("rayon's threads start before any work");
    rayon::scope(move |_| dimple::cli::run(args))
}
