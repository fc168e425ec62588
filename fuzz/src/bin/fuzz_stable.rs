//! The fuzz targets on the stable toolchain, for machines without nightly Rust and
//! cargo-fuzz: seeded random mutations of the committed corpus (and of inputs a decoder
//! accepted along the way) for a bounded time per target, each run under `catch_unwind`.
//! Without coverage feedback it finds less than libFuzzer, but it runs anywhere and the same
//! seed gives the same inputs.
//!
//! `fuzz-stable [--seconds N] [--seed S] [--write-seeds] [TARGET...]`: N seconds per target
//! (default 30), all targets when none is named. A target stops at its first crash, whose
//! input is written to `fuzz/artifacts/TARGET/`; the exit status is then 1. `--write-seeds`
//! (re)writes the generated seeds into `fuzz/corpus/TARGET/` and exits.

use dimple::ml::dataset::fnv1a64;
use dimple_fuzz::{Mutator, TARGETS, seeds};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Inputs a decoder accepted are added to the pool up to this many per target.
const POOL_LIMIT: usize = 512;

thread_local! {
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

fn main() {
    let mut seconds = 30.0;
    let mut seed = 1u64;
    let mut write_seeds = false;
    let mut wanted = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| fail(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--seconds" => {
                seconds = value("--seconds")
                    .parse()
                    .unwrap_or_else(|_| fail("--seconds takes a number"))
            }
            "--seed" => {
                seed = value("--seed")
                    .parse()
                    .unwrap_or_else(|_| fail("--seed takes a whole number"))
            }
            "--write-seeds" => write_seeds = true,
            name if TARGETS.iter().any(|(n, _)| *n == name) => wanted.push(name.to_string()),
            other => fail(&format!(
                "unknown argument {other:?} (targets: {})",
                TARGETS.map(|(n, _)| n).join(", ")
            )),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chosen: Vec<_> = TARGETS
        .iter()
        .filter(|(n, _)| wanted.is_empty() || wanted.iter().any(|w| w == n))
        .collect();
    if write_seeds {
        for (name, _) in &chosen {
            let dir = root.join("corpus").join(name);
            std::fs::create_dir_all(&dir).expect("create the corpus directory");
            for (i, s) in seeds(name).iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), s).expect("write a seed");
            }
            println!("wrote {} seeds to {}", seeds(name).len(), dir.display());
        }
        return;
    }

    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|p| *p.borrow_mut() = info.to_string());
    }));
    let mut crashes = 0;
    for (i, (name, target)) in chosen.iter().enumerate() {
        let corpus = load_corpus(&root.join("corpus").join(name));
        let mut pool = if corpus.is_empty() {
            seeds(name)
        } else {
            corpus
        };
        let committed = pool.len();
        let mut mutator = Mutator::new(seed.wrapping_add(i as u64));
        let (mut runs, mut accepted, mut found) = (0u64, 0u64, 0usize);
        let started = Instant::now();
        let budget = Duration::from_secs_f64(seconds);
        // The committed inputs first, as given, then mutations until the time is up.
        let mut next = 0;
        while started.elapsed() < budget {
            let input = if next < committed {
                next += 1;
                pool[next - 1].clone()
            } else {
                let a = mutator.below(pool.len());
                let b = mutator.below(pool.len());
                mutator.mutate(&pool[a], &pool[b])
            };
            runs += 1;
            match std::panic::catch_unwind(|| target(&input)) {
                Ok(true) => {
                    accepted += 1;
                    if pool.len() < POOL_LIMIT && !pool.contains(&input) {
                        pool.push(input);
                    }
                }
                Ok(false) => {}
                Err(_) => {
                    found += 1;
                    let message = LAST_PANIC.with(|p| p.borrow().clone());
                    let path = save_crash(root, name, &input);
                    eprintln!(
                        "{name}: CRASH ({message}); input saved to {}",
                        path.display()
                    );
                    // Like libFuzzer: the first crash ends the target's run.
                    break;
                }
            }
        }
        println!(
            "fuzz-stable {name}: {runs} executions in {:.1} s ({accepted} accepted by the decoder, pool {}), {found} crashes",
            started.elapsed().as_secs_f64(),
            pool.len()
        );
        crashes += found;
    }
    if crashes > 0 {
        eprintln!("fuzz-stable: {crashes} crashing inputs");
        std::process::exit(1);
    }
}

fn load_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn save_crash(root: &Path, target: &str, input: &[u8]) -> PathBuf {
    let dir = root.join("artifacts").join(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("crash-{:016x}", fnv1a64(input)));
    let _ = std::fs::write(&path, input);
    path
}

fn fail(message: &str) -> ! {
    eprintln!("fuzz-stable: {message}");
    std::process::exit(2);
}
