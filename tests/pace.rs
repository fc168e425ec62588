//! The page's chunks of main-thread work (`dimple::pace::Pacer`) on simulated workloads: every
//! chunk has at least one unit and at most what is left, grows at most fourfold over the
//! largest chunk so far, settles at about `CHUNK_MS` of work, and is not shrunk by a chunk that
//! the end of the work cut short.

use dimple::ml::rng::Rng;
use dimple::pace::{CHUNK_MS, Pacer};

/// Runs `units` of work costing `ms_per_unit` each through `pacer`, returning the chunk sizes.
fn run(pacer: &mut Pacer, units: usize, ms_per_unit: f64) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = units;
    while left > 0 {
        let chunk = pacer.next(left);
        sizes.push(chunk);
        pacer.record(chunk as f64 * ms_per_unit, chunk);
        left -= chunk;
    }
    sizes
}

#[test]
fn chunks_stay_within_what_is_left_and_grow_at_most_fourfold() {
    let mut rng = Rng::new(7);
    for _ in 0..200 {
        let mut pacer = Pacer::default();
        let mut largest = 0;
        // Several computations through one pacer, each unit with a cost that varies by a
        // factor of 10^4 between computations (a toy epoch on a small or a large network).
        for _ in 0..5 {
            let units = 1 + rng.below(2000);
            let ms_per_unit = 10f64.powf(rng.below(5000) as f64 / 1000.0 - 3.0);
            let mut left = units;
            while left > 0 {
                let chunk = pacer.next(left);
                assert!(chunk >= 1 && chunk <= left, "chunk {chunk} of {left} left");
                if largest == 0 {
                    assert_eq!(
                        chunk, 1,
                        "the first chunk is one unit, before anything is timed"
                    );
                } else {
                    assert!(
                        chunk <= 4 * largest,
                        "chunk {chunk} after a largest of {largest}"
                    );
                }
                largest = largest.max(chunk);
                pacer.record(chunk as f64 * ms_per_unit, chunk);
                left -= chunk;
            }
        }
    }
}

#[test]
fn chunks_settle_at_the_time_budget() {
    for ms_per_unit in [0.013, 0.4, 3.0, 20.0, 49.0, 80.0] {
        let mut pacer = Pacer::default();
        let sizes = run(&mut pacer, 100_000, ms_per_unit);
        let settled = sizes[sizes.len() / 2];
        let budget = ((CHUNK_MS / ms_per_unit) as usize).max(1);
        assert_eq!(settled, budget, "{ms_per_unit} ms a unit: chunks {sizes:?}");
        // Every chunk but the last keeps within the budget (a unit over it only when one unit
        // alone is over it).
        for &size in &sizes[..sizes.len() - 1] {
            assert!(size as f64 * ms_per_unit <= CHUNK_MS.max(ms_per_unit) + 1e-9);
        }
    }
}

#[test]
fn a_chunk_cut_short_by_the_end_does_not_shrink_the_next_computation() {
    // 72 rows at 1 ms a row: the first computation sizes the pacer (1, 4, 16, then the 50 rows
    // of the budget) and ends on one row. The next computation starts at the budget again,
    // not at four times that last row.
    let mut pacer = Pacer::default();
    assert_eq!(run(&mut pacer, 72, 1.0), vec![1, 4, 16, 50, 1]);
    for _ in 0..3 {
        assert_eq!(run(&mut pacer, 72, 1.0), vec![50, 22]);
    }
    assert_eq!(pacer.chunks, 11);
    assert!((pacer.busy_ms - 4.0 * 72.0).abs() < 1e-9);
    // A small grid that fits the budget runs in one chunk once the pacer is sized.
    let mut pacer = Pacer::default();
    assert_eq!(run(&mut pacer, 81, 0.1), vec![1, 4, 16, 60]);
    assert_eq!(run(&mut pacer, 81, 0.1), vec![81]);
}

#[test]
fn a_slower_unit_shrinks_the_chunks_at_once() {
    let mut pacer = Pacer::default();
    run(&mut pacer, 10_000, 0.01);
    // The network became 100 times as slow per unit: the next chunk is sized by the last
    // measurement, so only one chunk can overrun the budget.
    let sizes = run(&mut pacer, 10_000, 1.0);
    assert!(
        sizes[1..sizes.len() - 1].iter().all(|&s| s <= 50),
        "{sizes:?}"
    );
}
