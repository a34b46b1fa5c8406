//! The LayerNAS strategy itself: the layer-by-layer search, `suggest` and `observe`.
//!
//! Split by concern: [`config`] holds the knobs and their validation, [`buckets`] the per-layer
//! bucket tables and windows, [`plan`] the plan and trial bounds before any evaluation.

mod buckets;
mod config;
mod plan;

use crate::Scope;
use buckets::{better, focus, BucketTable, Candidate};
pub use config::{
    number, ConfigError, LayerNasConfig, MultiFidelity, PromotionBar, Selection, Spacing,
    MAX_BUCKETS, MAX_KEEP,
};
use layernas_core::{Arch, CostModel, Fidelity, Outcome, SearchSpace, Strategy, Suggestion, Wave};
pub use plan::PlanRow;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

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
    /// Children sent for evaluation (at low fidelity in a multi-fidelity search).
    pub evaluated: usize,
    /// Multi-fidelity search: children promoted to a full-fidelity evaluation.
    #[serde(skip_serializing_if = "is_zero")]
    pub promoted: usize,
    /// Candidates kept after this layer.
    pub kept: usize,
    /// The layer's bucket window.
    pub window: (f64, f64),
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

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug)]
enum Phase {
    /// Nothing asked yet.
    Start,
    /// The default model's wave is out.
    Default,
    /// Layer `l`'s wave is out (its low-fidelity wave in a multi-fidelity search).
    Layer(usize),
    /// Multi-fidelity search: layer `l`'s promoted children are out, at full fidelity.
    Promote(usize),
    /// All layers searched.
    Done,
}

/// The LayerNAS strategy. See the crate docs and `shared/docs/layernas.md`.
pub struct LayerNas {
    config: LayerNasConfig,
    scope: Scope,
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
    /// Every full-fidelity observation: cost and reward (None = failed), first-seen order.
    seen: HashMap<Arch, (f64, Option<f64>, u64)>,
    /// Multi-fidelity search: every low-fidelity observation, as `seen`.
    seen_low: HashMap<Arch, (f64, Option<f64>, u64)>,
    /// Multi-fidelity search: the current layer's children without a full-fidelity reward,
    /// ranked for promotion once their low-fidelity results are in.
    screened: Vec<Arch>,
    /// The fidelity of the wave out.
    fidelity: Fidelity,
    rng: ChaCha8Rng,
    stats: Vec<LayerStats>,
}

impl LayerNas {
    /// Validates `config`, and `scope`'s cost window against the space and cost model.
    pub fn new(
        config: LayerNasConfig,
        scope: Scope,
        space: Arc<dyn SearchSpace>,
        cost: Arc<dyn CostModel>,
    ) -> Result<LayerNas, ConfigError> {
        config.validate()?;
        scope.window.validate_for(&*space, &*cost)?;
        if config.cap_focus > 1 && scope.window.max.is_none() {
            return Err(ConfigError::Invalid {
                field: "cap_focus",
                value: config.cap_focus.to_string(),
                reason: "needs a max_cost: it focuses the last layer's parents on the cap (1: off)"
                    .into(),
            });
        }
        let rng = ChaCha8Rng::seed_from_u64(scope.seed);
        Ok(LayerNas {
            config,
            scope,
            space,
            cost,
            phase: Phase::Start,
            kept: Vec::new(),
            final_kept: Vec::new(),
            final_table: None,
            table: None,
            outstanding: HashSet::new(),
            seen: HashMap::new(),
            seen_low: HashMap::new(),
            screened: Vec::new(),
            fidelity: Fidelity::Full,
            rng,
            stats: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LayerNasConfig {
        &self.config
    }

    /// The cost window and seed.
    pub fn scope(&self) -> &Scope {
        &self.scope
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
        self.scope.window.contains(cost)
    }

    /// True if `child` (layers 0..=l decided) can still end inside the cost window.
    fn reachable(&self, child: &Arch, l: usize) -> bool {
        if self.scope.window.is_unbounded() {
            return true;
        }
        let n = self.space.layers().len();
        let free: Vec<bool> = (0..n).map(|i| i > l).collect();
        self.scope
            .window
            .meets(self.cost.range(&*self.space, child, &free))
    }

    /// True if layer `l` chooses the last layer's parents with cap focus: `cap_focus` > 1 (which
    /// [`LayerNas::new`] accepts only with a `max_cost`) and `l` the second-to-last layer.
    fn focuses(&self, l: usize) -> bool {
        self.config.cap_focus > 1 && l + 2 == self.space.layers().len()
    }

    fn finish_layer(&mut self, l: usize) {
        let table = self
            .table
            .take()
            .expect("a layer's table exists while its wave is out");
        let final_table = BucketTable::new(table.window, table.count, table.spacing, 1);
        let mut kept = table.into_kept();
        if self.focuses(l) {
            kept = focus(kept, self.config.keep, self.config.cap_focus);
        }
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
        // With cap focus, the table holds F x K per bucket for `focus` to choose from.
        let keep = if self.focuses(l) {
            self.config.keep.saturating_mul(self.config.cap_focus)
        } else {
            self.config.keep
        };
        let mut table = BucketTable::new(window, self.config.buckets, self.config.spacing, keep);
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
        let multi = self.config.multi_fidelity.is_some();
        self.screened.clear();
        for child in children {
            match self.seen.get(&child) {
                Some(&(cost, reward, order)) => {
                    stats.reused += 1;
                    // An incumbent never screened (the default model) is evaluated at low
                    // fidelity too, as the bar its bucket's challengers must clear.
                    if multi && reward.is_some() && !self.seen_low.contains_key(&child) {
                        wave.push(child.clone());
                        self.screened.push(child.clone());
                    }
                    if let Some(reward) = reward {
                        table.offer(Candidate {
                            arch: child,
                            cost,
                            reward,
                            order,
                        });
                    }
                }
                // Screened at an earlier layer but not promoted: its low-fidelity result
                // competes for promotion again, at no trial.
                None if multi && self.seen_low.contains_key(&child) => {
                    stats.reused += 1;
                    self.screened.push(child);
                }
                None => {
                    if multi {
                        self.screened.push(child.clone());
                    }
                    wave.push(child);
                }
            }
        }
        stats.evaluated = wave.len();
        self.fidelity = if multi { Fidelity::Low } else { Fidelity::Full };
        self.stats.push(stats);
        self.table = Some(table);
        self.outstanding = wave.iter().cloned().collect();
        self.phase = Phase::Layer(l);
        wave
    }
}

impl LayerNas {
    /// Multi-fidelity search, once layer `l`'s low-fidelity results are in: in each bucket,
    /// the best `promote` screened children by low-fidelity reward (ties to lower cost, then
    /// first observed) that could enter the bucket's K, in bucket order, for a full-fidelity
    /// evaluation. A bucket that already keeps K candidates (known at full fidelity) admits
    /// only children whose low-fidelity reward beats the bar ([`PromotionBar`]: the K-th's
    /// own low-fidelity reward, or with `Calibrated` the lower of that and what the fitted line
    /// maps to its full-fidelity reward); one with fewer admits any.
    fn promotion(&mut self, l: usize) -> Vec<Arch> {
        let Some(mf) = self.config.multi_fidelity else {
            return Vec::new();
        };
        let table = self
            .table
            .as_ref()
            .expect("a layer's table exists while its wave is out");
        let mut by_bucket: BTreeMap<usize, Vec<Candidate>> = BTreeMap::new();
        for arch in std::mem::take(&mut self.screened) {
            if self.seen.contains_key(&arch) {
                continue; // a reference evaluation of an incumbent
            }
            if let Some(&(cost, Some(reward), order)) = self.seen_low.get(&arch) {
                by_bucket
                    .entry(table.bucket(cost))
                    .or_default()
                    .push(Candidate {
                        arch,
                        cost,
                        reward,
                        order,
                    });
            }
        }
        let line = match mf.bar {
            PromotionBar::Incumbent => None,
            PromotionBar::Calibrated => self.calibration(),
        };
        let mut wave = Vec::new();
        for (b, mut candidates) in by_bucket {
            let kept = table.kept_in(b);
            let bar = if kept.len() < table.keep() {
                None
            } else {
                kept.last().and_then(|k| {
                    let own = self.seen_low.get(&k.arch).and_then(|&(_, low, _)| low);
                    // The low-fidelity reward the line maps to the incumbent's full one.
                    let fitted = line.map(|(a, b)| (k.reward - a) / b);
                    match (own, fitted) {
                        (Some(o), Some(f)) => Some(o.min(f)),
                        (o, f) => o.or(f),
                    }
                })
            };
            candidates.sort_by(better);
            wave.extend(
                candidates
                    .into_iter()
                    .filter(|c| bar.is_none_or(|bar| c.reward > bar))
                    .take(mf.promote)
                    .map(|c| c.arch),
            );
        }
        self.stats[l].promoted = wave.len();
        self.outstanding = wave.iter().cloned().collect();
        self.fidelity = Fidelity::Full;
        wave
    }
}

impl LayerNas {
    /// [`PromotionBar::Calibrated`]'s line: `(a, b)` of `full = a + b * low`, least squares
    /// over every model known at both fidelities with both rewards (in order of their
    /// full-fidelity observation, so the sums are reproducible); `None` with fewer than 3 or a
    /// line that does not rise.
    fn calibration(&self) -> Option<(f64, f64)> {
        let mut both: Vec<(u64, f64, f64)> = self
            .seen
            .iter()
            .filter_map(|(arch, &(_, full, order))| {
                let low = self.seen_low.get(arch).and_then(|&(_, low, _)| low)?;
                Some((order, low, full?))
            })
            .collect();
        if both.len() < 3 {
            return None;
        }
        both.sort_by_key(|x| x.0);
        let n = both.len() as f64;
        let mx = both.iter().map(|x| x.1).sum::<f64>() / n;
        let my = both.iter().map(|x| x.2).sum::<f64>() / n;
        let sxx: f64 = both.iter().map(|x| (x.1 - mx) * (x.1 - mx)).sum();
        let sxy: f64 = both.iter().map(|x| (x.1 - mx) * (x.2 - my)).sum();
        if !(sxx > 0.0 && sxy > 0.0) {
            return None;
        }
        let b = sxy / sxx;
        Some((my - b * mx, b))
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
        Some(self.trials_bound())
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
                    self.fidelity = Fidelity::Full;
                    return Suggestion::Wave(Wave {
                        label: format!("layer 0/{layers} (default model)"),
                        archs: vec![m0],
                        fidelity: Fidelity::Full,
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
                Phase::Layer(l) if self.config.multi_fidelity.is_some() => {
                    self.phase = Phase::Promote(l);
                    let wave = self.promotion(l);
                    if wave.is_empty() {
                        continue;
                    }
                    return Suggestion::Wave(Wave {
                        label: format!("layer {}/{layers} (promoted)", l + 1),
                        archs: wave,
                        fidelity: Fidelity::Full,
                    });
                }
                Phase::Layer(l) | Phase::Promote(l) => {
                    self.finish_layer(l);
                    if matches!(self.phase, Phase::Done) {
                        return Suggestion::Done;
                    }
                    l + 1
                }
                Phase::Done => return Suggestion::Done,
            };
            let wave = self.start_layer(next);
            // A multi-fidelity layer goes on to its promotion even when it screened nothing new
            // (children screened at earlier layers may be promoted).
            if !wave.is_empty() {
                let label = if self.fidelity == Fidelity::Low {
                    format!("layer {}/{layers} (low fidelity)", next + 1)
                } else {
                    format!("layer {}/{layers}", next + 1)
                };
                return Suggestion::Wave(Wave {
                    label,
                    archs: wave,
                    fidelity: self.fidelity,
                });
            }
        }
    }

    fn observe(&mut self, arch: &Arch, cost: f64, outcome: Outcome) {
        let reward = match outcome {
            Outcome::Reward(r) => Some(r),
            Outcome::Failed => None,
        };
        if self.fidelity == Fidelity::Low {
            // Only ranks children for promotion: never kept, never an answer.
            let order = self.seen_low.len() as u64;
            self.seen_low
                .entry(arch.clone())
                .or_insert((cost, reward, order));
            self.outstanding.remove(arch);
            return;
        }
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
