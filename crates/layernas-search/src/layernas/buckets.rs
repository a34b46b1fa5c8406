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
