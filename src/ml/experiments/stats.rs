//! The statistics the experiments report: quartiles, summaries, histograms and the area under
//! the ROC curve. Plain host-side arithmetic in f64, no tensors.
//!
//! Quantiles interpolate linearly between order statistics (the "type 7" definition of R and
//! NumPy's default): for sorted values v_0 ≤ … ≤ v_{m-1}, the p-quantile is
//! v_j + f (v_{j+1} − v_j) with j + f = p (m − 1). Infinite values are allowed where a
//! quantity is censored (an attack that never flipped counts as "beyond the radius"): a
//! quantile that falls on or between infinite values is infinite.

use std::cmp::Ordering;

/// The p-quantile (0 ≤ p ≤ 1) of `sorted` (ascending, no NaN); `None` when empty.
pub fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = p.clamp(0.0, 1.0) * last as f64;
    let (j, f) = (h.floor() as usize, h - h.floor());
    let low = sorted[j];
    if f == 0.0 {
        return Some(low);
    }
    let high = sorted[(j + 1).min(last)];
    Some(if high.is_infinite() {
        high
    } else {
        low + f * (high - low)
    })
}

/// First quartile, median and third quartile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quartiles {
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
}

impl Quartiles {
    /// The quartiles of `values` (any order, +∞ allowed for censored values, no NaN); `None`
    /// when empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        let sorted = sorted(values);
        Some(Self {
            q1: quantile(&sorted, 0.25)?,
            median: quantile(&sorted, 0.5)?,
            q3: quantile(&sorted, 0.75)?,
        })
    }
}

/// Count, mean, extremes and quartiles of a sample of finite values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub min: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub max: f64,
}

impl Summary {
    /// The summary of `values` (finite, any order); `None` when empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        debug_assert!(values.iter().all(|v| v.is_finite()), "{values:?}");
        let sorted = sorted(values);
        let quartiles = Quartiles::of(&sorted)?;
        Some(Self {
            count: sorted.len(),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min: sorted[0],
            q1: quartiles.q1,
            median: quartiles.median,
            q3: quartiles.q3,
            max: sorted[sorted.len() - 1],
        })
    }

    /// The summary of f32 values.
    pub fn of_f32(values: &[f32]) -> Option<Self> {
        Self::of(&values.iter().map(|&v| f64::from(v)).collect::<Vec<_>>())
    }
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// Counts of values in equal-width bins over `[low, high]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub low: f64,
    pub high: f64,
    /// `counts[i]` counts values in `[low + i w, low + (i + 1) w)`, w = (high − low) / bins;
    /// the last bin also holds `high` itself.
    pub counts: Vec<usize>,
    /// Values below `low` or above `high`.
    pub outside: usize,
}

impl Histogram {
    /// The histogram of `values` in `bins` (at least 1) bins over `[low, high]` (low < high).
    pub fn new(values: &[f64], low: f64, high: f64, bins: usize) -> Self {
        assert!(bins > 0 && low < high, "bins {bins} over [{low}, {high}]");
        let mut counts = vec![0; bins];
        let mut outside = 0;
        let width = (high - low) / bins as f64;
        for &v in values {
            if !(low..=high).contains(&v) {
                outside += 1;
                continue;
            }
            counts[(((v - low) / width) as usize).min(bins - 1)] += 1;
        }
        Self {
            low,
            high,
            counts,
            outside,
        }
    }

    /// Width of one bin.
    pub fn bin_width(&self) -> f64 {
        (self.high - self.low) / self.counts.len() as f64
    }

    /// Centre of bin `i`.
    pub fn centre(&self, i: usize) -> f64 {
        self.low + (i as f64 + 0.5) * self.bin_width()
    }
}

/// Area under the ROC curve of a score that should be higher for `positives` than for
/// `negatives`: the probability that a random positive scores above a random negative, ties
/// counting one half (the Mann-Whitney U statistic over |P| |N|). 1 separates perfectly, 0.5 is
/// chance. `None` when either sample is empty. O((|P| + |N|) log(|P| + |N|)) by ranks.
pub fn roc_auc(positives: &[f64], negatives: &[f64]) -> Option<f64> {
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    // (score, is positive), sorted by score; tied scores share the mean of their ranks.
    let mut all: Vec<(f64, bool)> = positives
        .iter()
        .map(|&s| (s, true))
        .chain(negatives.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < all.len() {
        let end = start + all[start..].partition_point(|e| e.0.total_cmp(&all[start].0).is_eq());
        // Ranks start + 1 ..= end, mean (start + 1 + end) / 2.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = all[start..end].iter().filter(|e| e.1).count();
        positive_rank_sum += mean_rank * tied_positives as f64;
        start = end;
    }
    let (p, n) = (positives.len() as f64, negatives.len() as f64);
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// The ROC curve of the same detector: `(false positive rate, true positive rate)` for every
/// threshold "score ≥ t", from (0, 0) to (1, 1). Empty when either sample is empty.
pub fn roc_curve(positives: &[f64], negatives: &[f64]) -> Vec<(f64, f64)> {
    if positives.is_empty() || negatives.is_empty() {
        return Vec::new();
    }
    let mut thresholds: Vec<f64> = positives.iter().chain(negatives).copied().collect();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup_by(|a, b| a.total_cmp(b) == Ordering::Equal);
    let rate = |sample: &[f64], t: f64| {
        sample.iter().filter(|&&s| s >= t).count() as f64 / sample.len() as f64
    };
    std::iter::once((0.0, 0.0))
        .chain(
            thresholds
                .iter()
                .map(|&t| (rate(negatives, t), rate(positives, t))),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::rng::Rng;

    #[test]
    fn quartiles_of_known_samples() {
        // NumPy: np.percentile([1, 2, 3, 4], [25, 50, 75]) = [1.75, 2.5, 3.25].
        let q = Quartiles::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((q.q1, q.median, q.q3), (1.75, 2.5, 3.25));
        // An odd count puts the median on a value.
        let q = Quartiles::of(&[7.0, 1.0, 3.0, 9.0, 5.0]).unwrap();
        assert_eq!((q.q1, q.median, q.q3), (3.0, 5.0, 7.0));
        let q = Quartiles::of(&[2.5]).unwrap();
        assert_eq!((q.q1, q.median, q.q3), (2.5, 2.5, 2.5));
        assert_eq!(Quartiles::of(&[]), None);
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 0.0), Some(1.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 1.0), Some(3.0));
    }

    #[test]
    fn censored_values_push_only_the_quantiles_that_reach_them() {
        let inf = f64::INFINITY;
        let q = Quartiles::of(&[1.0, 2.0, inf, 3.0, inf]).unwrap();
        // Sorted 1, 2, 3, ∞, ∞: the median is 3, the third quartile is censored.
        assert_eq!((q.q1, q.median, q.q3), (2.0, 3.0, inf));
        // Between a value and ∞ the interpolation is ∞; on the value itself it is the value.
        let q = Quartiles::of(&[1.0, inf]).unwrap();
        assert_eq!((q.q1, q.median), (inf, inf));
        assert_eq!(quantile(&[1.0, inf], 0.0), Some(1.0));
    }

    #[test]
    fn summary_of_a_sample() {
        let s = Summary::of(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!(s.count, 4);
        assert_eq!(s.mean, 4.0);
        assert_eq!((s.min, s.max), (1.0, 10.0));
        assert_eq!((s.q1, s.median, s.q3), (1.75, 2.5, 4.75));
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of_f32(&[0.5]).unwrap().median, 0.5);
    }

    #[test]
    fn histogram_bins_values_and_counts_the_rest() {
        let h = Histogram::new(&[0.0, 0.1, 0.5, 0.99, 1.0, -0.1, 1.5], 0.0, 1.0, 4);
        assert_eq!(h.counts, vec![2, 0, 1, 2]);
        assert_eq!(h.outside, 2);
        assert_eq!(h.counts.iter().sum::<usize>() + h.outside, 7);
        assert_eq!(h.bin_width(), 0.25);
        assert_eq!(h.centre(1), 0.375);
    }

    #[test]
    fn auc_of_known_detectors() {
        assert_eq!(roc_auc(&[3.0, 4.0], &[1.0, 2.0]), Some(1.0));
        assert_eq!(roc_auc(&[1.0, 2.0], &[3.0, 4.0]), Some(0.0));
        assert_eq!(roc_auc(&[1.0, 1.0], &[1.0]), Some(0.5));
        // Pairs (p, n): (2,1) win, (2,3) lose, (4,1) win, (4,3) win: 3 of 4.
        assert_eq!(roc_auc(&[2.0, 4.0], &[1.0, 3.0]), Some(0.75));
        // A tie counts a half: (2,2) half, (2,1) win, (3,2) win, (3,1) win: 3.5 of 4.
        assert_eq!(roc_auc(&[2.0, 3.0], &[2.0, 1.0]), Some(0.875));
        assert_eq!(roc_auc(&[], &[1.0]), None);
        assert_eq!(roc_auc(&[1.0], &[]), None);
    }

    #[test]
    fn auc_by_ranks_equals_counting_every_pair() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            // Coarse scores so that ties are common.
            let mut draw = |shift: usize| -> Vec<f64> {
                let count = 1 + rng.below(8);
                (0..count).map(|_| (rng.below(6) + shift) as f64).collect()
            };
            let p = draw(1);
            let n = draw(0);
            let pairs: f64 = p
                .iter()
                .flat_map(|a| {
                    n.iter().map(move |b| match a.total_cmp(b) {
                        Ordering::Greater => 1.0,
                        Ordering::Equal => 0.5,
                        Ordering::Less => 0.0,
                    })
                })
                .sum();
            let brute = pairs / (p.len() * n.len()) as f64;
            let ranks = roc_auc(&p, &n).unwrap();
            assert!(
                (brute - ranks).abs() < 1e-12,
                "{p:?} {n:?}: {brute} vs {ranks}"
            );
        }
    }

    #[test]
    fn roc_curve_runs_from_the_origin_to_one_one_and_its_area_is_the_auc() {
        let (p, n) = ([0.9, 0.8, 0.4, 0.3], [0.7, 0.35, 0.2, 0.1, 0.05]);
        let curve = roc_curve(&p, &n);
        assert_eq!(curve.first(), Some(&(0.0, 0.0)));
        assert_eq!(curve.last(), Some(&(1.0, 1.0)));
        assert!(
            curve
                .windows(2)
                .all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1)
        );
        let area: f64 = curve
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum();
        assert!((area - roc_auc(&p, &n).unwrap()).abs() < 1e-12);
    }
}
