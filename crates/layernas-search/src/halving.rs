use crate::common::{BaselineConfig, Feasibility};
use crate::random::reward_of;
use crate::ConfigError;
use layernas_core::{Arch, CostModel, Fidelity, Outcome, SearchSpace, Strategy, Suggestion, Wave};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The largest bracket [`SuccessiveHalving`] accepts.
pub const MAX_RUNG: usize = 1_000_000;

/// Successive halving's knobs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HalvingConfig {
    /// Models sampled (and evaluated at low fidelity) per bracket (default 20; 1 to
    /// [`MAX_RUNG`]).
    pub rung: usize,
    /// One in `eta` of a bracket's models goes on to full fidelity, rounded up (default 4,
    /// about the share multi-fidelity LayerNAS promotes; 2 to [`MAX_RUNG`]).
    pub eta: usize,
}

impl Default for HalvingConfig {
    fn default() -> Self {
        HalvingConfig { rung: 20, eta: 4 }
    }
}

impl HalvingConfig {
    /// Checks the knobs' ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_RUNG).contains(&self.rung) {
            return Err(ConfigError::Invalid {
                field: "rung",
                value: self.rung.to_string(),
                reason: format!("must be 1 to {MAX_RUNG}"),
            });
        }
        if !(2..=MAX_RUNG).contains(&self.eta) {
            return Err(ConfigError::Invalid {
                field: "eta",
                value: self.eta.to_string(),
                reason: format!("must be 2 to {MAX_RUNG}"),
            });
        }
        Ok(())
    }

    /// Models promoted from a bracket of `n` evaluated ones.
    fn promoted(&self, n: usize) -> usize {
        n.div_ceil(self.eta)
    }
}

/// Successive halving (Jamieson & Talwalkar 2016) over random sampling with two fidelities:
/// the multi-fidelity baseline. Each bracket samples `rung` uniformly random feasible models
/// never sampled before, evaluates them at low fidelity, and evaluates the best one in `eta`
/// of them (by low-fidelity reward; ties to lower cost, then sampling order; failed ones never)
/// at full fidelity. Brackets repeat until the trial budget, which counts trials at both
/// fidelities, is spent; the last bracket shrinks so that its promotions fit. The answer is
/// the best full-fidelity model in the cost window.
pub struct SuccessiveHalving {
    config: BaselineConfig,
    halving: HalvingConfig,
    /// Full-fidelity observations (the answer's).
    state: Feasibility,
    /// Sampled models: cost, low-fidelity reward (None: failed or not yet observed), order.
    screened: HashMap<Arch, (f64, Option<f64>, u64)>,
    /// The current bracket, in sampling order, until its promotion is out.
    bracket: Vec<Arch>,
    fidelity: Fidelity,
    trials: u64,
    brackets: u64,
    rng: ChaCha8Rng,
}

impl SuccessiveHalving {
    /// Successive halving with these knobs (checked by [`HalvingConfig::validate`]).
    pub fn new(
        config: BaselineConfig,
        halving: HalvingConfig,
        space: Arc<dyn SearchSpace>,
        cost: Arc<dyn CostModel>,
    ) -> Self {
        SuccessiveHalving {
            rng: ChaCha8Rng::seed_from_u64(config.scope.seed),
            state: Feasibility::new(space, cost, &config),
            screened: HashMap::new(),
            bracket: Vec::new(),
            fidelity: Fidelity::Full,
            trials: 0,
            brackets: 0,
            halving,
            config,
        }
    }

    /// The largest bracket whose low-fidelity trials and promotions fit in `left` trials.
    fn bracket_size(&self, left: u64) -> usize {
        let mut n = self.halving.rung.min(left as usize);
        while n > 0 && (n + self.halving.promoted(n)) as u64 > left {
            n -= 1;
        }
        n
    }

    fn sample(&mut self) -> Suggestion {
        let left = self.config.max_trials.saturating_sub(self.trials);
        let n = self.bracket_size(left);
        let mut wave = Vec::with_capacity(n);
        while wave.len() < n {
            let Some(arch) = (0..crate::common::MAX_DRAWS)
                .map(|_| self.state.random_arch(&mut self.rng))
                .find(|a| !self.screened.contains_key(a) && self.state.feasible(a))
            else {
                break;
            };
            let order = self.screened.len() as u64;
            let cost = self.state.cost.cost(&arch);
            self.screened.insert(arch.clone(), (cost, None, order));
            wave.push(arch);
        }
        if wave.is_empty() {
            return Suggestion::Done;
        }
        self.trials += wave.len() as u64;
        self.brackets += 1;
        self.bracket = wave.clone();
        self.fidelity = Fidelity::Low;
        Suggestion::Wave(Wave {
            label: format!("bracket {} (low fidelity)", self.brackets),
            archs: wave,
            fidelity: Fidelity::Low,
        })
    }

    fn promote(&mut self) -> Vec<Arch> {
        let bracket = std::mem::take(&mut self.bracket);
        let take = self.halving.promoted(bracket.len());
        let mut ranked: Vec<(Arch, f64, f64, u64)> = bracket
            .into_iter()
            .filter_map(|a| {
                let (cost, reward, order) = self.screened[&a];
                reward.map(|r| (a, r, cost, order))
            })
            .collect();
        ranked.sort_by(|x, y| {
            y.1.total_cmp(&x.1)
                .then(x.2.total_cmp(&y.2))
                .then(x.3.cmp(&y.3))
        });
        let wave: Vec<Arch> = ranked.into_iter().take(take).map(|r| r.0).collect();
        for a in &wave {
            self.state.propose(a);
        }
        self.trials += wave.len() as u64;
        self.fidelity = Fidelity::Full;
        wave
    }
}

impl Strategy for SuccessiveHalving {
    fn name(&self) -> &str {
        "successive-halving"
    }

    fn trial_bound(&self) -> Option<u64> {
        Some(self.config.max_trials)
    }

    fn suggest(&mut self) -> Suggestion {
        if self.fidelity == Fidelity::Low {
            let wave = self.promote();
            if !wave.is_empty() {
                return Suggestion::Wave(Wave {
                    label: format!("bracket {} (promoted)", self.brackets),
                    archs: wave,
                    fidelity: Fidelity::Full,
                });
            }
        }
        self.sample()
    }

    fn observe(&mut self, arch: &Arch, cost: f64, outcome: Outcome) {
        match self.fidelity {
            Fidelity::Low => {
                if let Some(entry) = self.screened.get_mut(arch) {
                    entry.1 = reward_of(outcome);
                }
            }
            Fidelity::Full => self.state.record(arch, cost, reward_of(outcome)),
        }
    }

    fn best(&self) -> Option<Arch> {
        self.state.best()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_shrink_to_fit_the_budget() {
        let space: Arc<dyn SearchSpace> = Arc::new(
            layernas_core::GenericSpace::new(
                "t",
                vec![layernas_core::Layer::new("a", ["0", "1"], 0)],
            )
            .unwrap(),
        );
        struct Zero;
        impl CostModel for Zero {
            fn name(&self) -> &str {
                "zero"
            }
            fn unit(&self) -> &str {
                ""
            }
            fn cost(&self, _: &Arch) -> f64 {
                0.0
            }
        }
        let sh = SuccessiveHalving::new(
            BaselineConfig::default(),
            HalvingConfig::default(),
            space,
            Arc::new(Zero),
        );
        // 20 + 5 per full bracket.
        assert_eq!(sh.bracket_size(300), 20);
        assert_eq!(sh.bracket_size(25), 20);
        assert_eq!(sh.bracket_size(24), 19); // 19 + 5
        assert_eq!(sh.bracket_size(5), 4); // 4 + 1
        assert_eq!(sh.bracket_size(2), 1);
        assert_eq!(sh.bracket_size(1), 0);
        assert!(HalvingConfig { rung: 0, eta: 4 }.validate().is_err());
        assert!(HalvingConfig { rung: 5, eta: 1 }.validate().is_err());
    }
}
