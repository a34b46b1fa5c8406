//! Significance: the two-sided Mann-Whitney U test and Holm's step-down correction.
//!
//! The test follows `scipy.stats.mannwhitneyu(x, y, alternative="two-sided")` (SciPy 1.17,
//! method `auto`): the exact null distribution of U when there are no ties and one sample has
//! at most 8 values, otherwise the normal approximation with the tie correction and a
//! continuity correction of 0.5. The unit tests compare with SciPy's values.

/// The result of a two-sided Mann-Whitney U test of `x` against `y`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample: the number of pairs (x, y) with x > y, ties counting one half.
    pub u: f64,
    /// The two-sided p-value.
    pub p: f64,
    /// Whether the exact distribution was used (otherwise the normal approximation).
    pub exact: bool,
}

impl MannWhitney {
    /// The common-language effect size U / (n1 n2): the probability that a value of `x`
    /// exceeds one of `y`, ties counting one half (Vargha and Delaney's A).
    pub fn effect(&self, n1: usize, n2: usize) -> f64 {
        self.u / (n1 as f64 * n2 as f64)
    }
}

/// Average ranks (1-based) of `values`, and the sizes of the groups of tied values.
fn ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && values[order[j]] == values[order[i]] {
            j += 1;
        }
        // Positions i..j (0-based) share the mean of ranks i+1..=j.
        let rank = (i + 1 + j) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = rank;
        }
        ties.push(j - i);
        i = j;
    }
    (ranks, ties)
}

/// Two-sided Mann-Whitney U test of `x` against `y`; `None` when a sample is empty or a value
/// is not finite.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    if x.is_empty() || y.is_empty() || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let (n1, n2) = (x.len(), y.len());
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (ranks, ties) = ranks(&all);
    let r1: f64 = ranks[..n1].iter().sum();
    let (f1, f2) = (n1 as f64, n2 as f64);
    let u1 = r1 - f1 * (f1 + 1.0) / 2.0;
    let u2 = f1 * f2 - u1;
    let u = u1.max(u2);
    let has_ties = ties.iter().any(|&t| t > 1);
    let exact = !has_ties && (n1 <= 8 || n2 <= 8);
    let p = if exact {
        // No ties: U is an integer.
        2.0 * exact_sf(n1, n2, u.round() as usize)
    } else {
        let n = f1 + f2;
        let tie_term: f64 = ties
            .iter()
            .map(|&t| {
                let t = t as f64;
                t * t * t - t
            })
            .sum();
        let s = (f1 * f2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
        let z = (u - f1 * f2 / 2.0 - 0.5) / s;
        if z.is_nan() {
            1.0
        } else {
            // Two-sided: twice the normal survival function at z.
            libm::erfc(z / std::f64::consts::SQRT_2)
        }
    };
    Some(MannWhitney {
        u: u1,
        p: p.clamp(0.0, 1.0),
        exact,
    })
}

/// P(U >= u) under the null hypothesis for samples of `n1` and `n2` distinct values.
fn exact_sf(n1: usize, n2: usize, u: usize) -> f64 {
    let (m, n) = (n1.min(n2), n1.max(n2));
    let max_u = m * n;
    // counts[i][v]: orderings of i values of the small sample and j of the large one whose U
    // (pairs where the small sample's value is larger) is v, built up over j. The largest value
    // either belongs to the small sample (it beats all j others) or to the large one.
    let mut counts = vec![vec![0.0f64; max_u + 1]; m + 1];
    for row in counts.iter_mut() {
        row[0] = 1.0;
    }
    for j in 1..=n {
        for i in 1..=m {
            for v in (0..=i * j).rev() {
                let from_small = if v >= j { counts[i - 1][v - j] } else { 0.0 };
                // counts[i][v] still holds the count for j - 1 (only counts[i - 1] is updated).
                counts[i][v] += from_small;
            }
        }
    }
    let row = &counts[m];
    let total: f64 = row.iter().sum();
    let tail: f64 = row[u.min(max_u + 1)..].iter().sum();
    tail / total
}

/// Holm's step-down adjustment of `p` (family-wise error control): the i-th smallest p-value
/// is multiplied by (m - i + 1), made monotone and capped at 1. Returned in input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (i, &k) in order.iter().enumerate() {
        running = running.max(((m - i) as f64 * p[k]).min(1.0));
        adjusted[k] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn ranks_average_ties() {
        let (r, t) = ranks(&[3.0, 1.0, 3.0, 2.0]);
        assert_eq!(r, vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(t, vec![1, 1, 2]);
    }

    // Reference values: SciPy 1.17.1, `scipy.stats.mannwhitneyu(x, y)` (two-sided, auto).

    #[test]
    fn exact_small_samples_match_scipy() {
        // SciPy's documentation example (males vs females, exact): U = 17, p = 0.1111111...
        let males = [19.0, 22.0, 16.0, 29.0, 24.0];
        let females = [20.0, 11.0, 17.0, 12.0];
        let r = mann_whitney_u(&males, &females).unwrap();
        assert!(r.exact);
        assert_eq!(r.u, 17.0);
        assert!(close(r.p, 0.1111111111111111, 1e-12), "{}", r.p);
        // Complete separation of 3 and 4: p = 2 / C(7, 3) = 2/35 (SciPy: 0.05714285714285714).
        let r = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0, 7.0]).unwrap();
        assert_eq!(r.u, 0.0);
        assert!(close(r.p, 2.0 / 35.0, 1e-12), "{}", r.p);
    }

    #[test]
    fn exact_with_one_small_and_one_large_sample_matches_scipy() {
        // x: 5 values, y: 0..40 step 1 (40 values); no ties.
        let x = [2.5, 10.5, 33.5, 37.5, 39.5];
        let y: Vec<f64> = (0..40).map(f64::from).collect();
        let r = mann_whitney_u(&x, &y).unwrap();
        assert!(r.exact);
        assert_eq!(r.u, 3.0 + 11.0 + 34.0 + 38.0 + 40.0);
        assert!(close(r.p, SCIPY_EXACT_5_40, 1e-9), "{}", r.p);
    }
    const SCIPY_EXACT_5_40: f64 = 0.368_147_891_687_313_16;

    #[test]
    fn normal_approximation_with_ties_matches_scipy() {
        let x = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 6.0, 7.0];
        let y = [3.0, 4.0, 5.0, 6.0, 6.0, 7.0, 8.0, 8.0, 9.0, 10.0, 11.0];
        let r = mann_whitney_u(&x, &y).unwrap();
        assert!(!r.exact);
        assert_eq!(r.u, SCIPY_TIES.0);
        assert!(close(r.p, SCIPY_TIES.1, 1e-9), "{}", r.p);
    }
    const SCIPY_TIES: (f64, f64) = (19.0, 0.011_889_742_133_719_523);

    #[test]
    fn thirty_against_thirty_matches_scipy() {
        // A constant sample (like a deterministic strategy's 30 identical seeds) against a
        // spread one below it whose largest value ties with it.
        let x = [94.37; 30];
        let y: Vec<f64> = (0..30).map(|i| 93.5 + 0.03 * f64::from(i)).collect();
        let r = mann_whitney_u(&x, &y).unwrap();
        assert!(!r.exact);
        assert_eq!(r.u, SCIPY_CONST.0);
        assert!(close(r.p, SCIPY_CONST.1, 1e-9), "{}", r.p);
    }
    const SCIPY_CONST: (f64, f64) = (885.0, 4.573_588_787_811_667e-12);

    #[test]
    fn identical_samples_are_not_different() {
        let r = mann_whitney_u(&[1.0; 30], &[1.0; 30]).unwrap();
        assert_eq!(r.p, 1.0);
        assert_eq!(r.effect(30, 30), 0.5);
        assert!(mann_whitney_u(&[], &[1.0]).is_none());
        assert!(mann_whitney_u(&[f64::NAN], &[1.0]).is_none());
    }

    #[test]
    fn holm_by_hand() {
        // Sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (monotone), 0.5.
        let adj = holm(&[0.03, 0.01, 0.5, 0.02]);
        let want = [0.06, 0.04, 0.5, 0.06];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
        assert_eq!(holm(&[0.6, 0.7]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }
}
