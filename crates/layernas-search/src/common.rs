//! Pieces the baselines share: the cost window, random feasible sampling, the answer.

use crate::{CostWindow, Scope};
use layernas_core::{Arch, CostModel, SearchSpace};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Settings every baseline shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineConfig {
    /// The cost window (models outside it are rejected before evaluation) and the seed.
    pub scope: Scope,
    /// Trials to spend (the strategy stops proposing after this many).
    pub max_trials: u64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            scope: Scope::default(),
            max_trials: 300,
        }
    }
}

/// How many random draws a baseline makes looking for a feasible, unseen architecture before it
/// concludes there is none left to find.
pub(crate) const MAX_DRAWS: usize = 100_000;

/// The cost window, the space and what has been seen: shared by the baselines.
pub(crate) struct Feasibility {
    pub space: Arc<dyn SearchSpace>,
    pub cost: Arc<dyn CostModel>,
    pub window: CostWindow,
    /// Observed architectures: cost and reward (None = failed).
    pub seen: HashMap<Arch, (f64, Option<f64>)>,
    /// Proposed but not yet observed.
    pub pending: usize,
}

impl Feasibility {
    pub fn new(space: Arc<dyn SearchSpace>, cost: Arc<dyn CostModel>, c: &BaselineConfig) -> Self {
        Feasibility {
            space,
            cost,
            window: c.scope.window,
            seen: HashMap::new(),
            pending: 0,
        }
    }

    pub fn in_window(&self, cost: f64) -> bool {
        self.window.contains(cost)
    }

    pub fn feasible(&self, arch: &Arch) -> bool {
        self.in_window(self.cost.cost(arch))
    }

    /// Feasible and never proposed.
    pub fn fresh(&self, arch: &Arch) -> bool {
        !self.seen.contains_key(arch) && self.feasible(arch)
    }

    /// A uniformly random architecture vector, made canonical.
    pub fn random_arch(&self, rng: &mut ChaCha8Rng) -> Arch {
        let raw = Arch::new(
            self.space
                .layers()
                .iter()
                .map(|l| rng.random_range(0..l.options.len()) as u16)
                .collect(),
        );
        self.space.canonical(&raw)
    }

    /// A uniformly random feasible architecture never proposed before, if one is found.
    pub fn random_fresh(&self, rng: &mut ChaCha8Rng) -> Option<Arch> {
        (0..MAX_DRAWS)
            .map(|_| self.random_arch(rng))
            .find(|a| self.fresh(a))
    }

    /// Marks `arch` as proposed (so it is never proposed again).
    pub fn propose(&mut self, arch: &Arch) {
        let cost = self.cost.cost(arch);
        self.seen.insert(arch.clone(), (cost, None));
        self.pending += 1;
    }

    pub fn record(&mut self, arch: &Arch, cost: f64, reward: Option<f64>) {
        self.seen.insert(arch.clone(), (cost, reward));
        self.pending = self.pending.saturating_sub(1);
    }

    pub fn trials(&self) -> u64 {
        self.seen.len() as u64
    }

    /// Best observed reward in the window; ties to lower cost, then key.
    pub fn best(&self) -> Option<Arch> {
        self.seen
            .iter()
            .filter_map(|(a, &(c, r))| r.filter(|_| self.in_window(c)).map(|r| (a, c, r)))
            .min_by(|x, y| {
                y.2.total_cmp(&x.2)
                    .then(x.1.total_cmp(&y.1))
                    .then(x.0.cmp(y.0))
            })
            .map(|(a, _, _)| a.clone())
    }
}
