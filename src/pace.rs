//! Chunks of work on the main thread: a long computation runs a few units (grid rows, PGD
//! steps, points) at a time, each chunk sized to take about [`CHUNK_MS`], and yields to the
//! browser in between, so that input and painting never wait long.

/// How long one chunk of work may keep the main thread, in milliseconds.
pub const CHUNK_MS: f64 = 50.0;

/// Sizes chunks to take about [`CHUNK_MS`] each: one unit until a chunk has been timed, then
/// as many as fit, at most four times the largest chunk so far, so that one fast measurement
/// cannot overshoot. Kept across computations of the same kind, it starts at the right size.
#[derive(Clone, Debug, Default)]
pub struct Pacer {
    /// Milliseconds per unit in the last chunk, and the largest chunk so far.
    last: Option<(f64, usize)>,
    /// Time spent computing, without the pauses between chunks.
    pub busy_ms: f64,
    pub chunks: usize,
}

impl Pacer {
    /// Units in the next chunk, at most `left`.
    pub fn next(&self, left: usize) -> usize {
        match self.last {
            None => 1,
            // Float to integer casts saturate; the quotient is positive.
            Some((ms, units)) => ((CHUNK_MS / ms.max(1e-3)) as usize).clamp(1, 4 * units),
        }
        .min(left)
    }

    /// Records that a chunk of `units` took `ms`.
    pub fn record(&mut self, ms: f64, units: usize) {
        self.busy_ms += ms;
        self.chunks += 1;
        let units = units.max(1);
        // A chunk cut short by the end of the work does not shrink the next one.
        let largest = self.last.map_or(units, |(_, u)| u.max(units));
        self.last = Some((ms / units as f64, largest));
    }
}
