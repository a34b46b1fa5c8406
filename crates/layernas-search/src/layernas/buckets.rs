//! Cost buckets: the per-layer tables of the best K candidates per bucket, and each layer's
//! bucket window.

use super::{LayerNas, Spacing};
use layernas_core::{Arch, CostRange};
use std::cmp::Ordering;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub(super) arch: Arch,
    pub(super) cost: f64,
    pub(super) reward: f64,
    /// Order of first observation: the last tie-breaker.
    pub(super) order: u64,
}

pub(super) fn better(a: &Candidate, b: &Candidate) -> Ordering {
    b.reward
        .total_cmp(&a.reward)
        .then(a.cost.total_cmp(&b.cost))
        .then(a.order.cmp(&b.order))
}

/// The per-layer table: H cost buckets, each holding the best K candidates. Only buckets that
/// hold a candidate are stored, so memory follows the candidates offered, not H.
#[derive(Debug, Clone)]
pub(super) struct BucketTable {
    pub(super) window: CostRange,
    pub(super) spacing: Spacing,
    keep: usize,
    pub(super) count: usize,
    buckets: BTreeMap<usize, Vec<Candidate>>,
}

impl BucketTable {
    pub(super) fn new(window: CostRange, count: usize, spacing: Spacing, keep: usize) -> Self {
        BucketTable {
            window,
            spacing,
            keep,
            count: count.max(1),
            buckets: BTreeMap::new(),
        }
    }

    pub(super) fn bucket(&self, cost: f64) -> usize {
        let h = self.count;
        let CostRange { min, max } = self.window;
        let span = max - min;
        if span.is_nan() || span <= 0.0 {
            return 0;
        }
        let fraction = match self.spacing {
            Spacing::Linear => (cost - min) / span,
            Spacing::Log => {
                // Geometric edges over the window shifted to start at a small positive offset,
                // so windows that start at or below zero work too.
                let offset = if min > 0.0 { min } else { span * 1e-3 };
                let shift = offset - min;
                ((cost + shift) / offset).ln() / ((max + shift) / offset).ln()
            }
        };
        ((fraction * h as f64).floor().max(0.0) as usize).min(h - 1)
    }

    pub(super) fn offer(&mut self, candidate: Candidate) {
        let b = self.bucket(candidate.cost);
        let slot = self.buckets.entry(b).or_default();
        let at = slot
            .iter()
            .position(|c| better(&candidate, c) == Ordering::Less)
            .unwrap_or(slot.len());
        if at < self.keep {
            slot.insert(at, candidate);
            slot.truncate(self.keep);
        }
    }

    /// The candidates bucket `b` keeps so far, best first.
    pub(super) fn kept_in(&self, b: usize) -> &[Candidate] {
        self.buckets.get(&b).map_or(&[], Vec::as_slice)
    }

    /// K, the candidates a bucket keeps.
    pub(super) fn keep(&self) -> usize {
        self.keep
    }

    pub(super) fn into_kept(self) -> Vec<(usize, Candidate)> {
        self.buckets
            .into_iter()
            .flat_map(|(b, cands)| cands.into_iter().map(move |c| (b, c)))
            .collect()
    }
}

/// Cap focus ([`LayerNasConfig::cap_focus`](super::LayerNasConfig::cap_focus)): from `kept`
/// (a table's kept candidates, in bucket order, best first within a bucket, at most
/// `keep * factor` per bucket), as many candidates as K per bucket would keep, taken from the
/// most costly bucket down, up to `keep * factor` per bucket. Returned in bucket order.
pub(super) fn focus(
    kept: Vec<(usize, Candidate)>,
    keep: usize,
    factor: usize,
) -> Vec<(usize, Candidate)> {
    let mut groups: Vec<Vec<(usize, Candidate)>> = Vec::new();
    for (b, c) in kept {
        match groups.last_mut() {
            Some(g) if g[0].0 == b => g.push((b, c)),
            _ => groups.push(vec![(b, c)]),
        }
    }
    let mut quota: usize = groups.iter().map(|g| g.len().min(keep)).sum();
    let per_bucket = keep.saturating_mul(factor);
    let mut chosen = Vec::new();
    for g in groups.into_iter().rev() {
        if quota == 0 {
            break;
        }
        let take = g.len().min(per_bucket).min(quota);
        quota -= take;
        chosen.push(g.into_iter().take(take));
    }
    chosen.into_iter().rev().flatten().collect()
}

impl LayerNas {
    /// The bucket window of layer `l`: the cost range of candidates whose layers 0..=l are free
    /// and whose later layers are at their defaults; at the last layer, clipped to the cost
    /// window.
    pub(super) fn window(&self, l: usize) -> CostRange {
        let n = self.space.layers().len();
        let free: Vec<bool> = (0..n).map(|i| i <= l).collect();
        let mut w = self
            .cost
            .range(&*self.space, &self.space.default_arch(), &free);
        if l + 1 == n {
            w = self.scope.window.clip(w);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(spacing: Spacing) -> BucketTable {
        BucketTable::new(
            CostRange {
                min: 10.0,
                max: 110.0,
            },
            10,
            spacing,
            2,
        )
    }

    #[test]
    fn linear_buckets_are_equal_width() {
        let t = table(Spacing::Linear);
        assert_eq!(t.bucket(10.0), 0);
        assert_eq!(t.bucket(19.99), 0);
        assert_eq!(t.bucket(20.0), 1);
        assert_eq!(t.bucket(110.0), 9);
        assert_eq!(t.bucket(500.0), 9);
        assert_eq!(t.bucket(-5.0), 0);
    }

    #[test]
    fn log_buckets_are_finer_for_cheap_costs() {
        let t = table(Spacing::Log);
        assert_eq!(t.bucket(10.0), 0);
        assert_eq!(t.bucket(110.0), 9);
        // 10 * 11^(1/10) = 12.71: the first edge.
        assert_eq!(t.bucket(12.6), 0);
        assert_eq!(t.bucket(12.8), 1);
        assert!(t.bucket(60.0) > 5);
    }

    fn candidates(spec: &[(usize, f64)]) -> Vec<(usize, Candidate)> {
        spec.iter()
            .enumerate()
            .map(|(i, &(b, reward))| {
                (
                    b,
                    Candidate {
                        arch: Arch::new(vec![i as u16]),
                        cost: b as f64,
                        reward,
                        order: i as u64,
                    },
                )
            })
            .collect()
    }

    fn ids(kept: &[(usize, Candidate)]) -> Vec<u16> {
        kept.iter().map(|(_, c)| c.arch.options()[0]).collect()
    }

    #[test]
    fn focus_keeps_as_many_candidates_nearer_the_cap() {
        // Buckets 0, 2, 5 and 7, each with up to F x K = 2 candidates (K = 1, F = 2): the plain
        // rule keeps 4 (one per bucket); focus keeps 4 too, two each from buckets 7 and 5.
        let kept = candidates(&[
            (0, 0.9),
            (0, 0.8),
            (2, 0.7),
            (5, 0.6),
            (5, 0.5),
            (7, 0.4),
            (7, 0.3),
        ]);
        let focused = focus(kept, 1, 2);
        assert_eq!(ids(&focused), vec![3, 4, 5, 6]);
        assert_eq!(
            focused.iter().map(|(b, _)| *b).collect::<Vec<_>>(),
            vec![5, 5, 7, 7]
        );
    }

    #[test]
    fn focus_takes_single_candidates_and_stops_at_the_quota() {
        // K = 1, F = 3: the quota is 3 (three buckets); bucket 9 holds one candidate, bucket 4
        // three: all of bucket 9, then two of bucket 4 (the best two).
        let kept = candidates(&[(1, 0.9), (4, 0.8), (4, 0.7), (4, 0.6), (9, 0.5)]);
        assert_eq!(ids(&focus(kept, 1, 3)), vec![1, 2, 4]);
        // F = 1 is the plain rule: K per bucket.
        let kept = candidates(&[(1, 0.9), (4, 0.8), (9, 0.5)]);
        assert_eq!(ids(&focus(kept, 1, 1)), vec![0, 1, 2]);
        // K = 2, F = 2: the quota is 2 + 2 + 1 = 5, at most 4 per bucket.
        let kept = candidates(&[
            (1, 0.9),
            (1, 0.8),
            (1, 0.75),
            (4, 0.7),
            (4, 0.6),
            (4, 0.55),
            (4, 0.5),
            (9, 0.4),
        ]);
        assert_eq!(ids(&focus(kept, 2, 2)), vec![3, 4, 5, 6, 7]);
        assert!(focus(Vec::new(), 1, 2).is_empty());
    }

    #[test]
    fn a_bucket_keeps_the_best_k() {
        let mut t = table(Spacing::Linear);
        for (i, r) in [0.5, 0.9, 0.1, 0.7].into_iter().enumerate() {
            t.offer(Candidate {
                arch: Arch::new(vec![i as u16]),
                cost: 15.0,
                reward: r,
                order: i as u64,
            });
        }
        let kept: Vec<f64> = t.into_kept().into_iter().map(|(_, c)| c.reward).collect();
        assert_eq!(kept, vec![0.9, 0.7]);
    }
}
