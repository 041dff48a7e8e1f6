//! The benchmarks' statistics: paired per-round ratios folded into one
//! ratio per ABBA block (two adjacent rounds, `block_ratios`), the median
//! of the block ratios with a distribution-free confidence interval of at
//! least 95% coverage, and the verdict against a target that the interval
//! supports (met, missed, or not shown), so that a bench never claims more
//! than it measured.

use anyhow::{bail, Result};

/// Fewest ABBA blocks a bench accepts: below 6 even the widest interval
/// (x(1), x(n)) covers less than 95%.
pub(crate) const MIN_BLOCKS: u32 = 6;

/// Checks a `--rounds` value: even (whole ABBA blocks of two rounds) and
/// at least `MIN_BLOCKS` blocks; returns the number of blocks.
pub(crate) fn blocks_of(rounds: u32) -> Result<u32> {
    if !rounds.is_multiple_of(2) {
        bail!(
            "--rounds must be even: two rounds make one ABBA block, the unit the ratios are taken \
             over (got {rounds})"
        );
    }
    if rounds / 2 < MIN_BLOCKS {
        bail!(
            "--rounds must be at least {} ({MIN_BLOCKS} ABBA blocks of two rounds, the fewest with \
             a 95% CI; got {rounds})",
            2 * MIN_BLOCKS
        );
    }
    Ok(rounds / 2)
}

/// One ratio per ABBA block from per-round ratios (rounds 2b and 2b+1 make
/// block b): the geometric mean of the block's two round ratios, so that
/// the order within the block (AB then BA) weighs both halves alike and a
/// ratio and its inverse fold the same way. A round ratio that is not a
/// finite positive number (a zero CPU delta, a zero rate) makes its block's
/// ratio NaN, which `Paired::of` drops and counts. A trailing odd round is
/// left out (callers check for even counts with `blocks_of`).
pub(crate) fn block_ratios(rounds: &[f64]) -> Vec<f64> {
    rounds
        .chunks_exact(2)
        .map(|p| {
            if p.iter().all(|r| r.is_finite() && *r > 0.0) {
                (p[0] * p[1]).sqrt()
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// The median: the middle value, or the mean of the two middle ones for
/// an even count; NaN when there is none.
pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => s[n / 2],
        _ => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// P(B ≤ j) for B ~ Binomial(n, 1/2), summed in log space so that no
/// term underflows before it is negligible (2^-n alone would for n > 1074).
fn binomial_half_cdf(n: u64, j: u64) -> f64 {
    let ln2 = std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut p = 0.0;
    for i in 0..=j.min(n) {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        p += (ln_choose - n as f64 * ln2).exp();
    }
    p.min(1.0)
}

/// A confidence interval (coverage ≥ 95%) for the median of what the values were drawn
/// from, assuming only that they are independent draws of one continuous
/// variable (no normality): `(low, high, coverage)`.
///
/// With the values sorted, x(1) ≤ … ≤ x(n), the number of them below the
/// true median m is B ~ Binomial(n, 1/2), so for 1 ≤ k ≤ n/2
///
/// ```text
/// P(x(k) ≤ m ≤ x(n+1−k)) = 1 − 2·P(B ≤ k−1)
/// ```
///
/// and k is the largest with 2·P(B ≤ k−1) ≤ 0.05: the narrowest interval
/// of this form whose coverage (returned, exact) is at least 95%. For
/// n = 40 that is k = 14, (x(14), x(27)), coverage 96.2%. Below n = 6 even
/// (x(1), x(n)) covers less (1 − 2/2^n < 0.95): `None`.
pub(crate) fn median_ci95(v: &[f64]) -> Option<(f64, f64, f64)> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as u64;
    let mut k = 0u64;
    while k < n / 2 && 2.0 * binomial_half_cdf(n, k) <= 0.05 {
        k += 1;
    }
    // Here 2·P(B ≤ k−1) ≤ 0.05 and (k = n/2 or 2·P(B ≤ k) > 0.05).
    if k == 0 {
        return None;
    }
    let coverage = 1.0 - 2.0 * binomial_half_cdf(n, k - 1);
    Some((s[k as usize - 1], s[(n - k) as usize], coverage))
}

/// A paired comparison's figures: the median of the block ratios and its
/// confidence interval (coverage at least 95%, the exact coverage kept).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Paired {
    pub median: f64,
    pub ci: Option<(f64, f64, f64)>,
    /// Blocks whose ratio counted.
    pub blocks: usize,
    /// Blocks left out because their ratio was not a finite positive
    /// number (a zero CPU or time delta): counted, never silently lost.
    pub dropped: usize,
}

impl Paired {
    /// From block ratios (`block_ratios`); those not finite and positive
    /// are dropped and counted.
    pub(crate) fn of(ratios: &[f64]) -> Paired {
        let kept: Vec<f64> = ratios
            .iter()
            .copied()
            .filter(|r| r.is_finite() && *r > 0.0)
            .collect();
        Paired {
            median: median(&kept),
            ci: median_ci95(&kept),
            blocks: kept.len(),
            dropped: ratios.len() - kept.len(),
        }
    }

    fn dropped_note(&self) -> String {
        match self.dropped {
            0 => String::new(),
            n => format!(", {n} dropped (ratio not finite)"),
        }
    }

    /// `0.991 [0.975–1.004]`, or `0.991 [no CI: 5 blocks]`; with how many
    /// blocks were dropped, if any.
    pub(crate) fn show(&self) -> String {
        match self.ci {
            Some((lo, hi, _)) if self.dropped == 0 => {
                format!("{:.3} [{lo:.3}–{hi:.3}]", self.median)
            }
            Some((lo, hi, _)) => format!(
                "{:.3} [{lo:.3}–{hi:.3}; {} dropped]",
                self.median, self.dropped
            ),
            None => format!(
                "{:.3} [no CI: {} blocks{}]",
                self.median,
                self.blocks,
                self.dropped_note()
            ),
        }
    }

    /// Against a target ratio: `met` only when the whole interval is at or
    /// above it, `MISSED` only when the whole interval is below it, else
    /// `not shown`; with the interval, so the words carry their evidence.
    pub(crate) fn verdict(&self, target: f64) -> String {
        match self.ci {
            Some((lo, hi, coverage)) => {
                let word = if lo >= target {
                    "met"
                } else if hi < target {
                    "MISSED"
                } else {
                    "not shown"
                };
                format!(
                    "{word} (median {:.3}, ≥95% CI (exact {:.1}%) {lo:.3}–{hi:.3}, {} blocks{})",
                    self.median,
                    coverage * 100.0,
                    self.blocks,
                    self.dropped_note()
                )
            }
            None => format!(
                "not shown (median {:.3}; {} blocks{} are too few for a 95% CI, {MIN_BLOCKS} at least)",
                self.median,
                self.blocks,
                self.dropped_note()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn binomial_cdf_matches_exact_counts() {
        // C(10,0) + C(10,1) = 11, + C(10,2) = 56, over 2^10.
        assert!((binomial_half_cdf(10, 1) - 11.0 / 1024.0).abs() < 1e-12);
        assert!((binomial_half_cdf(10, 2) - 56.0 / 1024.0).abs() < 1e-12);
        assert!((binomial_half_cdf(10, 10) - 1.0).abs() < 1e-12);
        // Large n: symmetric around n/2, no underflow to 0 or NaN.
        let half = binomial_half_cdf(2001, 1000);
        assert!((half - 0.5).abs() < 1e-9, "{half}");
    }

    fn ranks(n: usize) -> Vec<f64> {
        // 1..=n shuffled by a fixed permutation: the interval's ends are
        // then the ranks of the order statistics themselves.
        let mut v: Vec<f64> = (1..=n).map(|i| i as f64).collect();
        v.reverse();
        v.rotate_left(n / 3);
        v
    }

    #[test]
    fn ci_order_statistics_from_the_binomial_table() {
        assert_eq!(median_ci95(&ranks(5)), None);
        // n = 6: (x(1), x(6)), coverage 1 − 2/64.
        let (lo, hi, c) = median_ci95(&ranks(6)).unwrap();
        assert_eq!((lo, hi), (1.0, 6.0));
        assert!((c - (1.0 - 2.0 / 64.0)).abs() < 1e-12);
        // n = 10: 2·P(B ≤ 1) = 0.0215 ≤ 0.05 < 2·P(B ≤ 2) = 0.109.
        let (lo, hi, c) = median_ci95(&ranks(10)).unwrap();
        assert_eq!((lo, hi), (2.0, 9.0));
        assert!((c - (1.0 - 22.0 / 1024.0)).abs() < 1e-12);
        // n = 40: k = 14 (the usual tables' value).
        let (lo, hi, c) = median_ci95(&ranks(40)).unwrap();
        assert_eq!((lo, hi), (14.0, 27.0));
        assert!((c - 0.961_522_691_7).abs() < 1e-9, "{c}");
        // n = 100: k = 40 (x(40), x(61)).
        let (lo, hi, _) = median_ci95(&ranks(100)).unwrap();
        assert_eq!((lo, hi), (40.0, 61.0));
    }

    #[test]
    fn verdict_needs_the_whole_interval() {
        let at = |v: &[f64]| Paired::of(v).verdict(0.98);
        let around: Vec<f64> = (0..20).map(|i| 0.95 + 0.005 * f64::from(i)).collect();
        assert!(at(&around).starts_with("not shown"), "{}", at(&around));
        let above: Vec<f64> = around.iter().map(|r| r + 0.1).collect();
        assert!(at(&above).starts_with("met"), "{}", at(&above));
        let below: Vec<f64> = around.iter().map(|r| r - 0.1).collect();
        assert!(at(&below).starts_with("MISSED"), "{}", at(&below));
        // Every value above the target but too few for an interval.
        assert!(at(&[1.5, 1.5, 1.5]).starts_with("not shown"));
        // n = 40, k = 14: the lower bound is x(14). Thirteen far below the
        // target leave it at the target exactly, which is met; fourteen do not.
        let mut edge = vec![0.5; 13];
        edge.extend(vec![0.98; 27]);
        assert!(at(&edge).starts_with("met"), "{}", at(&edge));
        let mut edge = vec![0.5; 14];
        edge.extend(vec![0.98; 26]);
        assert!(at(&edge).starts_with("not shown"), "{}", at(&edge));
        // The upper bound x(27) below the target: missed.
        let mut edge = vec![0.97; 27];
        edge.extend(vec![1.5; 13]);
        assert!(at(&edge).starts_with("MISSED"), "{}", at(&edge));
        // The label names the exact coverage.
        assert!(at(&edge).contains("≥95% CI (exact 96.2%)"), "{}", at(&edge));
    }

    #[test]
    fn non_finite_ratios_are_dropped_and_counted() {
        let mut v: Vec<f64> = (0..10).map(|i| 1.0 + 0.01 * f64::from(i)).collect();
        v.extend([f64::NAN, f64::INFINITY, 0.0]);
        let p = Paired::of(&v);
        assert_eq!((p.blocks, p.dropped), (10, 3));
        assert!((p.median - 1.045).abs() < 1e-12, "{}", p.median);
        let (lo, hi, _) = p.ci.unwrap();
        assert!(
            (lo - 1.01).abs() < 1e-12 && (hi - 1.08).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert!(p.show().contains("3 dropped"), "{}", p.show());
        assert!(p.verdict(0.98).contains("3 dropped"), "{}", p.verdict(0.98));
        // All dropped: no median, no interval, said so.
        let p = Paired::of(&[f64::NAN; 8]);
        assert_eq!((p.blocks, p.dropped), (0, 8));
        assert!(
            p.verdict(0.98).starts_with("not shown"),
            "{}",
            p.verdict(0.98)
        );
    }

    #[test]
    fn blocks_are_geometric_means_of_round_pairs() {
        let b = block_ratios(&[0.9, 1.0 / 0.9, 0.8, 0.8, 1.0, f64::INFINITY]);
        assert_eq!(b.len(), 3);
        assert!((b[0] - 1.0).abs() < 1e-12, "{}", b[0]);
        assert!((b[1] - 0.8).abs() < 1e-12, "{}", b[1]);
        assert!(b[2].is_nan());
        // A zero round ratio (a zero CPU delta in the base) spoils its block.
        assert!(block_ratios(&[0.0, 1.0])[0].is_nan());
    }

    #[test]
    fn rounds_must_be_even_and_enough() {
        assert_eq!(blocks_of(12).unwrap(), 6);
        assert_eq!(blocks_of(40).unwrap(), 20);
        let odd = blocks_of(41).unwrap_err().to_string();
        assert!(odd.contains("even"), "{odd}");
        let few = blocks_of(10).unwrap_err().to_string();
        assert!(few.contains("at least 12"), "{few}");
        assert!(blocks_of(0).is_err());
    }
}
