use layernas_core::{Arch, CostModel, CostRange, Outcome, SearchSpace, Strategy, Suggestion, Wave};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// How bucket edges are spread over a layer's cost window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Spacing {
    /// Equal-width buckets (the paper).
    Linear,
    /// Geometric edges: finer buckets for cheap models.
    Log,
}

/// Which evaluated models the final answer is chosen from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The candidates kept after the last layer (the spec's `answer(target)`).
    Kept,
    /// Every evaluated model in the cost window.
    Evaluated,
}

/// The most buckets per layer, H, LayerNAS accepts.
pub const MAX_BUCKETS: usize = 1_000_000;
/// The most candidates kept per bucket, K, LayerNAS accepts.
pub const MAX_KEEP: usize = 1_000_000;

/// Every knob of LayerNAS, with the spec's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerNasConfig {
    /// Buckets per layer, H (default 100; 1 to [`MAX_BUCKETS`]).
    pub buckets: usize,
    /// Bucket spacing (default linear).
    pub spacing: Spacing,
    /// Candidates kept per bucket, K (default 1; 1 to [`MAX_KEEP`]).
    pub keep: usize,
    /// Lowest acceptable cost of the answer, if any (finite, 0 or more).
    pub min_cost: Option<f64>,
    /// Highest acceptable cost of the answer; absent = front mode (finite, 0 or more).
    pub max_cost: Option<f64>,
    /// Sample this many children per layer (seeded) instead of expanding all (at least 1).
    pub children_per_layer: Option<usize>,
    /// Seed for sampling.
    pub seed: u64,
    /// Final selection rule (default kept).
    pub select: Selection,
}

impl Default for LayerNasConfig {
    fn default() -> Self {
        LayerNasConfig {
            buckets: 100,
            spacing: Spacing::Linear,
            keep: 1,
            min_cost: None,
            max_cost: None,
            children_per_layer: None,
            seed: 0,
            select: Selection::Kept,
        }
    }
}

/// A number as error messages write it: plainly, or in exponent form when the plain form is
/// long and that is shorter (`1e300`, not 301 digits).
pub fn number(v: f64) -> String {
    let plain = v.to_string();
    let exp = format!("{v:e}");
    if plain.len() > 12 && exp.len() < plain.len() {
        exp
    } else {
        plain
    }
}

impl LayerNasConfig {
    /// Checks every knob against its allowed range, independently of any space: H in
    /// 1..=[`MAX_BUCKETS`], K in 1..=[`MAX_KEEP`], `children_per_layer` at least 1, the cost
    /// bounds finite, 0 or more, and `min_cost <= max_cost`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, value: String, reason: String| {
            Err(ConfigError::Invalid {
                field,
                value,
                reason,
            })
        };
        if !(1..=MAX_BUCKETS).contains(&self.buckets) {
            return invalid(
                "buckets",
                self.buckets.to_string(),
                format!("must be 1 to {MAX_BUCKETS}"),
            );
        }
        if !(1..=MAX_KEEP).contains(&self.keep) {
            return invalid(
                "keep",
                self.keep.to_string(),
                format!("must be 1 to {MAX_KEEP}"),
            );
        }
        if self.children_per_layer == Some(0) {
            return invalid(
                "children_per_layer",
                "0".into(),
                "must be at least 1 (omit it to expand every child)".into(),
            );
        }
        for (field, value) in [("min_cost", self.min_cost), ("max_cost", self.max_cost)] {
            if let Some(v) = value {
                if !v.is_finite() {
                    return invalid(field, number(v), "must be a finite number".into());
                }
                if v < 0.0 {
                    return invalid(field, number(v), "must be 0 or more".into());
                }
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_cost, self.max_cost) {
            if lo > hi {
                return invalid(
                    "min_cost",
                    lo.to_string(),
                    format!("is above max_cost {hi}"),
                );
            }
        }
        Ok(())
    }
}

/// A configuration LayerNAS cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A knob is out of its allowed range.
    #[error("invalid {field} {value}: {reason}")]
    Invalid {
        /// The knob.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        reason: String,
    },
}

/// What LayerNAS did at one layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LayerStats {
    /// Layer name.
    pub layer: String,
    /// Parents expanded (candidates kept after the previous layer).
    pub parents: usize,
    /// Children formed: parents x options.
    pub children: usize,
    /// Children dropped because they can no longer reach the cost window.
    pub pruned: usize,
    /// Children dropped by sampling (`children_per_layer`).
    pub unsampled: usize,
    /// Children whose reward was already known (no new trial).
    pub reused: usize,
    /// Children sent for evaluation.
    pub evaluated: usize,
    /// Candidates kept after this layer.
    pub kept: usize,
    /// The layer's bucket window.
    pub window: (f64, f64),
}

/// One row of [`LayerNas::plan`]: what a layer can cost at most, before anything is evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRow {
    /// Layer name.
    pub layer: String,
    /// Options of the layer.
    pub options: usize,
    /// The layer's bucket window.
    pub window: (f64, f64),
    /// Buckets of the previous layer that can hold a candidate still able to reach the window.
    pub live_buckets: usize,
    /// Upper bound on the parents expanded at this layer.
    pub parents: u64,
    /// Upper bound on new children evaluated at this layer, after cost pruning.
    pub children: u64,
}

/// A candidate kept after the last layer, with its bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeptCandidate {
    /// Bucket index in the last layer's table.
    pub bucket: usize,
    /// The architecture.
    pub arch: Arch,
    /// Its cost.
    pub cost: f64,
    /// Its reward.
    pub reward: f64,
}

#[derive(Debug, Clone)]
struct Candidate {
    arch: Arch,
    cost: f64,
    reward: f64,
    /// Order of first observation: the last tie-breaker.
    order: u64,
}

fn better(a: &Candidate, b: &Candidate) -> Ordering {
    b.reward
        .total_cmp(&a.reward)
        .then(a.cost.total_cmp(&b.cost))
        .then(a.order.cmp(&b.order))
}

/// The per-layer table: H cost buckets, each holding the best K candidates. Only buckets that
/// hold a candidate are stored, so memory follows the candidates offered, not H.
#[derive(Debug, Clone)]
struct BucketTable {
    window: CostRange,
    spacing: Spacing,
    keep: usize,
    count: usize,
    buckets: BTreeMap<usize, Vec<Candidate>>,
}

impl BucketTable {
    fn new(window: CostRange, count: usize, spacing: Spacing, keep: usize) -> Self {
        BucketTable {
            window,
            spacing,
            keep,
            count: count.max(1),
            buckets: BTreeMap::new(),
        }
    }

    fn bucket(&self, cost: f64) -> usize {
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

    fn offer(&mut self, candidate: Candidate) {
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

    fn into_kept(self) -> Vec<(usize, Candidate)> {
        self.buckets
            .into_iter()
            .flat_map(|(b, cands)| cands.into_iter().map(move |c| (b, c)))
            .collect()
    }
}

#[derive(Debug)]
enum Phase {
    /// Nothing asked yet.
    Start,
    /// The default model's wave is out.
    Default,
    /// Layer `l`'s wave is out.
    Layer(usize),
    /// All layers searched.
    Done,
}

/// The LayerNAS strategy. See the crate docs and `shared/docs/layernas.md`.
pub struct LayerNas {
    config: LayerNasConfig,
    space: Arc<dyn SearchSpace>,
    cost: Arc<dyn CostModel>,
    phase: Phase,
    /// Parents for the next layer, in bucket order.
    kept: Vec<Candidate>,
    /// Kept after the last layer, with buckets.
    final_kept: Vec<(usize, Candidate)>,
    /// The last layer's (empty) bucket layout, once the search is done.
    final_table: Option<BucketTable>,
    table: Option<BucketTable>,
    /// Architectures of the current wave not yet observed.
    outstanding: HashSet<Arch>,
    /// Every observation: cost and reward (None = failed), first-seen order.
    seen: HashMap<Arch, (f64, Option<f64>, u64)>,
    rng: ChaCha8Rng,
    stats: Vec<LayerStats>,
}

impl LayerNas {
    /// Validates `config` against the space and cost model.
    pub fn new(
        config: LayerNasConfig,
        space: Arc<dyn SearchSpace>,
        cost: Arc<dyn CostModel>,
    ) -> Result<LayerNas, ConfigError> {
        let invalid = |field: &'static str, value: String, reason: String| ConfigError::Invalid {
            field,
            value,
            reason,
        };
        config.validate()?;
        let all_free = vec![true; space.layers().len()];
        let full = cost.range(&*space, &space.default_arch(), &all_free);
        let unit = cost.unit().to_string();
        if let Some(hi) = config.max_cost {
            if hi < full.min {
                return Err(invalid(
                    "max_cost",
                    number(hi),
                    format!(
                        "is below the cheapest model of space {} ({} {unit} by {})",
                        space.name(),
                        full.min,
                        cost.name()
                    ),
                ));
            }
        }
        if let Some(lo) = config.min_cost {
            if lo > full.max {
                return Err(invalid(
                    "min_cost",
                    number(lo),
                    format!(
                        "is above the most costly model of space {} ({} {unit} by {})",
                        space.name(),
                        full.max,
                        cost.name()
                    ),
                ));
            }
        }
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Ok(LayerNas {
            config,
            space,
            cost,
            phase: Phase::Start,
            kept: Vec::new(),
            final_kept: Vec::new(),
            final_table: None,
            table: None,
            outstanding: HashSet::new(),
            seen: HashMap::new(),
            rng,
            stats: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LayerNasConfig {
        &self.config
    }

    /// The paper's bound, H x K x |S| x L (|S| the largest option count), saturating at
    /// `u64::MAX`.
    pub fn paper_bound(&self) -> u64 {
        let layers = self.space.layers();
        let widest = layers.iter().map(|l| l.options.len()).max().unwrap_or(0);
        [self.config.keep, widest, layers.len()]
            .into_iter()
            .fold(self.config.buckets as u128, |p, x| {
                p.saturating_mul(x as u128)
            })
            .min(u64::MAX as u128) as u64
    }

    /// What happened at each searched layer so far.
    pub fn layer_stats(&self) -> &[LayerStats] {
        &self.stats
    }

    /// Candidates kept after the last layer (empty until the search is done).
    pub fn kept_final(&self) -> Vec<KeptCandidate> {
        self.final_kept
            .iter()
            .map(|(bucket, c)| KeptCandidate {
                bucket: *bucket,
                arch: c.arch.clone(),
                cost: c.cost,
                reward: c.reward,
            })
            .collect()
    }

    /// The layer-by-layer plan before any evaluation (`search --dry-run`): for each layer, an
    /// upper bound on the parents and on the new children after cost pruning; the total is
    /// `1 +` the sum of the children (the default model).
    ///
    /// A candidate after layer `j` can only be kept if it can still reach the cap, so its cost
    /// is at most `max_cost + D_j`, where `D_j` is the saving available from the later layers:
    /// the default model's cost minus its cheapest completion after layer `j`. Buckets of layer
    /// `j` above that cannot hold a kept candidate; with K per bucket, that bounds the parents of
    /// layer `j+1`. (Exact for additive costs; for MAdds/params of the network spaces, channel
    /// products make the default, widest model the one with the largest saving.)
    pub fn plan(&self) -> Vec<PlanRow> {
        let layers = self.space.layers();
        let n = layers.len();
        let m0 = self.space.default_arch();
        let m0_cost = self.cost.cost(&m0);
        let hk = self.config.buckets as u128 * self.config.keep as u128;
        let mut rows = Vec::with_capacity(n);
        let mut parents: u128 = 1;
        let mut prefixes: u128 = 1;
        let mut live_buckets = 1usize;
        // No architecture is evaluated twice, so all layers together add at most every model
        // but the default (and the total, with the default, fits a u64).
        let mut unseen = self
            .space
            .num_models()
            .saturating_sub(1)
            .min(u64::MAX as u128 - 1);
        for (l, layer) in layers.iter().enumerate() {
            let options = layer.options.len() as u128;
            let mut children = parents.saturating_mul(options.saturating_sub(1));
            if let Some(c) = self.config.children_per_layer {
                children = children.min(c as u128);
            }
            children = children.min(unseen);
            unseen -= children;
            let window = self.window(l);
            rows.push(PlanRow {
                layer: layer.name.clone(),
                options: layer.options.len(),
                window: (window.min, window.max),
                live_buckets,
                parents: parents.min(u64::MAX as u128) as u64,
                children: children.min(u64::MAX as u128) as u64,
            });
            // Parents of the next layer: kept candidates of this one.
            prefixes = prefixes.saturating_mul(options);
            live_buckets = match self.config.max_cost {
                None => self.config.buckets,
                Some(hi) => {
                    let free: Vec<bool> = (0..n).map(|i| i > l).collect();
                    let saving = m0_cost - self.cost.range(&*self.space, &m0, &free).min;
                    let table = BucketTable::new(
                        window,
                        self.config.buckets,
                        self.config.spacing,
                        self.config.keep,
                    );
                    if hi + saving >= window.max {
                        self.config.buckets
                    } else if hi + saving < window.min {
                        0
                    } else {
                        table.bucket(hi + saving) + 1
                    }
                }
            };
            parents = (live_buckets as u128)
                .saturating_mul(self.config.keep as u128)
                .min(hk)
                .min(prefixes);
        }
        rows
    }

    /// The last layer's bucket of `cost`, or `None` before the search is done or when `cost`
    /// lies outside the last layer's window.
    pub fn final_bucket(&self, cost: f64) -> Option<usize> {
        let table = self.final_table.as_ref()?;
        (cost >= table.window.min && cost <= table.window.max).then(|| table.bucket(cost))
    }

    /// True once every layer has been searched.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    fn in_window(&self, cost: f64) -> bool {
        self.config.min_cost.is_none_or(|lo| cost >= lo)
            && self.config.max_cost.is_none_or(|hi| cost <= hi)
    }

    /// The bucket window of layer `l`: the cost range of candidates whose layers 0..=l are free
    /// and whose later layers are at their defaults; at the last layer, clipped to the cost
    /// window.
    fn window(&self, l: usize) -> CostRange {
        let n = self.space.layers().len();
        let free: Vec<bool> = (0..n).map(|i| i <= l).collect();
        let mut w = self
            .cost
            .range(&*self.space, &self.space.default_arch(), &free);
        if l + 1 == n {
            if let Some(lo) = self.config.min_cost {
                w.min = w.min.max(lo);
            }
            if let Some(hi) = self.config.max_cost {
                w.max = w.max.min(hi);
            }
        }
        w
    }

    /// True if `child` (layers 0..=l decided) can still end inside the cost window.
    fn reachable(&self, child: &Arch, l: usize) -> bool {
        if self.config.min_cost.is_none() && self.config.max_cost.is_none() {
            return true;
        }
        let n = self.space.layers().len();
        let free: Vec<bool> = (0..n).map(|i| i > l).collect();
        let r = self.cost.range(&*self.space, child, &free);
        self.config.max_cost.is_none_or(|hi| r.min <= hi)
            && self.config.min_cost.is_none_or(|lo| r.max >= lo)
    }

    fn finish_layer(&mut self, l: usize) {
        let table = self
            .table
            .take()
            .expect("a layer's table exists while its wave is out");
        let final_table = BucketTable::new(table.window, table.count, table.spacing, 1);
        let kept = table.into_kept();
        self.stats[l].kept = kept.len();
        if l + 1 == self.space.layers().len() {
            self.kept = Vec::new();
            self.final_kept = kept;
            self.final_table = Some(final_table);
            self.phase = Phase::Done;
        } else {
            self.kept = kept.into_iter().map(|(_, c)| c).collect();
        }
    }

    /// Builds layer `l`'s table and wave. Returns the wave (possibly empty).
    fn start_layer(&mut self, l: usize) -> Vec<Arch> {
        let layer = &self.space.layers()[l];
        let window = self.window(l);
        let mut table = BucketTable::new(
            window,
            self.config.buckets,
            self.config.spacing,
            self.config.keep,
        );
        let mut stats = LayerStats {
            layer: layer.name.clone(),
            parents: self.kept.len(),
            window: (window.min, window.max),
            ..LayerStats::default()
        };
        let mut children = Vec::new();
        let mut formed = HashSet::new();
        for parent in &self.kept {
            for option in 0..layer.options.len() {
                stats.children += 1;
                // Options that build the same network (e.g. of a skipped block) are one child.
                let child = self.space.canonical(&parent.arch.with(l, option));
                if !formed.insert(child.clone()) {
                    stats.reused += 1;
                    continue;
                }
                if self.reachable(&child, l) {
                    children.push(child);
                } else {
                    stats.pruned += 1;
                }
            }
        }
        if let Some(n) = self.config.children_per_layer {
            if children.len() > n {
                let mut picked =
                    rand::seq::index::sample(&mut self.rng, children.len(), n).into_vec();
                picked.sort_unstable();
                stats.unsampled = children.len() - n;
                children = picked.into_iter().map(|i| children[i].clone()).collect();
            }
        }
        let mut wave = Vec::new();
        for child in children {
            match self.seen.get(&child) {
                Some(&(cost, reward, order)) => {
                    stats.reused += 1;
                    if let Some(reward) = reward {
                        table.offer(Candidate {
                            arch: child,
                            cost,
                            reward,
                            order,
                        });
                    }
                }
                None => wave.push(child),
            }
        }
        stats.evaluated = wave.len();
        self.stats.push(stats);
        self.table = Some(table);
        self.outstanding = wave.iter().cloned().collect();
        self.phase = Phase::Layer(l);
        wave
    }
}

impl Strategy for LayerNas {
    fn name(&self) -> &str {
        "layernas"
    }

    /// `1 + sum_l min(H*K, prod_{j<l} |S_j|) * (|S_l| - 1)`: each kept parent adds at most
    /// `|S_l| - 1` new children (the child with the parent's own option is the parent), capped
    /// by `children_per_layer` when sampling. Never above the paper's H*K*|S|*L + 1, nor above
    /// the number of models (no architecture is evaluated twice).
    fn trial_bound(&self) -> Option<u64> {
        let hk = self.config.buckets as u128 * self.config.keep as u128;
        let mut bound: u128 = 1;
        let mut prefixes: u128 = 1;
        for layer in self.space.layers() {
            let n = layer.options.len() as u128;
            let mut children = hk.min(prefixes).saturating_mul(n.saturating_sub(1));
            if let Some(c) = self.config.children_per_layer {
                children = children.min(c as u128);
            }
            bound = bound.saturating_add(children);
            prefixes = prefixes.saturating_mul(n);
        }
        Some(
            bound
                .min(self.space.num_models().max(1))
                .min(u64::MAX as u128) as u64,
        )
    }

    fn suggest(&mut self) -> Suggestion {
        let layers = self.space.layers().len();
        loop {
            let next = match self.phase {
                Phase::Start => {
                    let m0 = self.space.default_arch();
                    self.phase = Phase::Default;
                    if self.seen.contains_key(&m0) {
                        continue;
                    }
                    self.outstanding = [m0.clone()].into_iter().collect();
                    return Suggestion::Wave(Wave {
                        label: format!("layer 0/{layers} (default model)"),
                        archs: vec![m0],
                    });
                }
                Phase::Default => {
                    let m0 = self.space.default_arch();
                    let (cost, reward, order) =
                        self.seen
                            .get(&m0)
                            .copied()
                            .unwrap_or((self.cost.cost(&m0), None, 0));
                    // The default model is the root even if its evaluation failed.
                    self.kept = vec![Candidate {
                        arch: m0,
                        cost,
                        reward: reward.unwrap_or(f64::NEG_INFINITY),
                        order,
                    }];
                    0
                }
                Phase::Layer(l) => {
                    self.finish_layer(l);
                    if matches!(self.phase, Phase::Done) {
                        return Suggestion::Done;
                    }
                    l + 1
                }
                Phase::Done => return Suggestion::Done,
            };
            let wave = self.start_layer(next);
            if !wave.is_empty() {
                return Suggestion::Wave(Wave {
                    label: format!("layer {}/{layers}", next + 1),
                    archs: wave,
                });
            }
        }
    }

    fn observe(&mut self, arch: &Arch, cost: f64, outcome: Outcome) {
        let reward = match outcome {
            Outcome::Reward(r) => Some(r),
            Outcome::Failed => None,
        };
        let order = self.seen.len() as u64;
        self.seen
            .entry(arch.clone())
            .or_insert((cost, reward, order));
        if self.outstanding.remove(arch) {
            if let (Some(table), Some(reward)) = (self.table.as_mut(), reward) {
                table.offer(Candidate {
                    arch: arch.clone(),
                    cost,
                    reward,
                    order,
                });
            }
        }
    }

    fn best(&self) -> Option<Arch> {
        let from_kept = self.config.select == Selection::Kept && self.is_done();
        let candidates: Vec<Candidate> = if from_kept {
            self.final_kept.iter().map(|(_, c)| c.clone()).collect()
        } else {
            self.seen
                .iter()
                .filter_map(|(arch, &(cost, reward, order))| {
                    reward.map(|reward| Candidate {
                        arch: arch.clone(),
                        cost,
                        reward,
                        order,
                    })
                })
                .collect()
        };
        candidates
            .into_iter()
            .filter(|c| self.in_window(c.cost))
            .min_by(better)
            .map(|c| c.arch)
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
