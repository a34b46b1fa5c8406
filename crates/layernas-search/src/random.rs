use crate::common::{BaselineConfig, Feasibility};
use layernas_core::{Arch, CostModel, Fidelity, Outcome, SearchSpace, Strategy, Suggestion, Wave};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// Random search: uniformly random feasible architectures, never one twice, in waves of
/// `batch`.
pub struct RandomSearch {
    config: BaselineConfig,
    batch: usize,
    state: Feasibility,
    rng: ChaCha8Rng,
}

impl RandomSearch {
    /// Random search proposing `batch` architectures per wave.
    pub fn new(
        config: BaselineConfig,
        batch: usize,
        space: Arc<dyn SearchSpace>,
        cost: Arc<dyn CostModel>,
    ) -> Self {
        RandomSearch {
            rng: ChaCha8Rng::seed_from_u64(config.scope.seed),
            state: Feasibility::new(space, cost, &config),
            batch: batch.max(1),
            config,
        }
    }
}

impl Strategy for RandomSearch {
    fn name(&self) -> &str {
        "random"
    }

    fn trial_bound(&self) -> Option<u64> {
        Some(self.config.max_trials)
    }

    fn suggest(&mut self) -> Suggestion {
        let left = self.config.max_trials.saturating_sub(self.state.trials());
        let mut wave = Vec::new();
        while (wave.len() as u64) < left.min(self.batch as u64) {
            match self.state.random_fresh(&mut self.rng) {
                Some(arch) => {
                    self.state.propose(&arch);
                    wave.push(arch);
                }
                None => break,
            }
        }
        if wave.is_empty() {
            return Suggestion::Done;
        }
        Suggestion::Wave(Wave {
            label: format!("random {}", self.state.trials()),
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

pub(crate) fn reward_of(outcome: Outcome) -> Option<f64> {
    match outcome {
        Outcome::Reward(r) => Some(r),
        Outcome::Failed => None,
    }
}
