use crate::common::{BaselineConfig, Feasibility};
use crate::random::reward_of;
use layernas_core::{Arch, CostModel, Fidelity, Outcome, SearchSpace, Strategy, Suggestion, Wave};
use std::sync::Arc;

/// Spaces larger than this are refused by [`Exhaustive`]: it is an oracle for tables.
pub const EXHAUSTIVE_LIMIT: u128 = 10_000_000;

/// Evaluates every feasible architecture of the space, in key order, in waves of 1,000: the
/// oracle on benchmark tables.
pub struct Exhaustive {
    config: BaselineConfig,
    state: Feasibility,
    next: Option<Arch>,
}

impl Exhaustive {
    /// The oracle; `None` when the space is larger than [`EXHAUSTIVE_LIMIT`].
    pub fn new(
        config: BaselineConfig,
        space: Arc<dyn SearchSpace>,
        cost: Arc<dyn CostModel>,
    ) -> Option<Self> {
        if space.num_models() > EXHAUSTIVE_LIMIT {
            return None;
        }
        let first = Arch::new(vec![0; space.layers().len()]);
        Some(Exhaustive {
            state: Feasibility::new(space, cost, &config),
            config,
            next: Some(first),
        })
    }

    fn advance(&self, arch: &Arch) -> Option<Arch> {
        let mut next = arch.clone();
        for (i, layer) in self.state.space.layers().iter().enumerate().rev() {
            if next.get(i) + 1 < layer.options.len() {
                next.set(i, next.get(i) + 1);
                return Some(next);
            }
            next.set(i, 0);
        }
        None
    }
}

impl Strategy for Exhaustive {
    fn name(&self) -> &str {
        "exhaustive"
    }

    fn trial_bound(&self) -> Option<u64> {
        Some(
            (self
                .state
                .space
                .num_models()
                .min(self.config.max_trials as u128)) as u64,
        )
    }

    fn suggest(&mut self) -> Suggestion {
        let mut wave = Vec::new();
        while wave.len() < 1000 && self.state.trials() < self.config.max_trials {
            let Some(arch) = self.next.take() else { break };
            self.next = self.advance(&arch);
            if self.state.fresh(&arch) && self.state.space.canonical(&arch) == arch {
                self.state.propose(&arch);
                wave.push(arch);
            }
        }
        if wave.is_empty() {
            return Suggestion::Done;
        }
        Suggestion::Wave(Wave {
            label: format!("exhaustive {}", self.state.trials()),
            archs: wave,
            fidelity: Fidelity::Full,
        })
    }

    fn observe(&mut self, arch: &Arch, cost: f64, outcome: Outcome) {
        self.state.record(arch, cost, reward_of(outcome));
    }

    fn best(&self) -> Option<Arch> {
        self.state.best()
    }
}
