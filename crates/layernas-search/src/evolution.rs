use crate::common::{BaselineConfig, Feasibility};
use crate::random::reward_of;
use crate::ConfigError;
use layernas_core::{Arch, CostModel, Fidelity, Outcome, SearchSpace, Strategy, Suggestion, Wave};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;

/// The largest population evolution accepts.
pub const MAX_POPULATION: usize = 1_000_000;

/// Knobs of regularized (aging) evolution, with the NATS-Bench baseline's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvolutionConfig {
    /// Population size (NATS-Bench: 10; 1 to [`MAX_POPULATION`]).
    pub population: usize,
    /// Tournament sample size (NATS-Bench: 3; 1 to the population).
    pub sample_size: usize,
    /// Layers changed per mutation (NATS-Bench: 1, to a different option; 1 to the number of
    /// layers of the space).
    pub mutated_layers: usize,
}

impl EvolutionConfig {
    /// Checks the knobs: population 1..=[`MAX_POPULATION`], sample size 1..=population,
    /// mutated layers at least 1 and, given the space's layer count, at most that.
    pub fn validate(&self, layers: Option<usize>) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, value: usize, reason: String| {
            Err(ConfigError::Invalid {
                field,
                value: value.to_string(),
                reason,
            })
        };
        if !(1..=MAX_POPULATION).contains(&self.population) {
            return invalid(
                "population",
                self.population,
                format!("must be 1 to {MAX_POPULATION}"),
            );
        }
        if !(1..=self.population).contains(&self.sample_size) {
            return invalid(
                "sample_size",
                self.sample_size,
                format!("must be 1 to the population ({})", self.population),
            );
        }
        if self.mutated_layers == 0 {
            return invalid("mutated_layers", 0, "must be at least 1".into());
        }
        if let Some(n) = layers {
            if self.mutated_layers > n {
                return invalid(
                    "mutated_layers",
                    self.mutated_layers,
                    format!("must be 1 to the number of layers of the space ({n})"),
                );
            }
        }
        Ok(())
    }
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        EvolutionConfig {
            population: 10,
            sample_size: 3,
            mutated_layers: 1,
        }
    }
}

/// Regularized evolution (Real et al. 2019): a population of the latest `population` models;
/// each cycle samples `sample_size` of them, mutates the best, and retires the oldest.
/// Mutants that are infeasible or already seen are redrawn (up to 100 times, then a random
/// feasible model is used), so no model is evaluated twice and none outside the cost window.
pub struct Evolution {
    config: BaselineConfig,
    evo: EvolutionConfig,
    state: Feasibility,
    population: VecDeque<(Arch, f64)>,
    rng: ChaCha8Rng,
}

impl Evolution {
    /// Regularized evolution.
    pub fn new(
        config: BaselineConfig,
        evo: EvolutionConfig,
        space: Arc<dyn SearchSpace>,
        cost: Arc<dyn CostModel>,
    ) -> Self {
        let evo = EvolutionConfig {
            population: evo.population.max(1),
            sample_size: evo.sample_size.clamp(1, evo.population.max(1)),
            mutated_layers: evo.mutated_layers.max(1),
        };
        Evolution {
            rng: ChaCha8Rng::seed_from_u64(config.scope.seed),
            state: Feasibility::new(space, cost, &config),
            population: VecDeque::new(),
            config,
            evo,
        }
    }

    fn mutate(&mut self, parent: &Arch) -> Arch {
        let layers = self.state.space.layers();
        let mut child = parent.clone();
        let picked = sample(
            &mut self.rng,
            layers.len(),
            self.evo.mutated_layers.min(layers.len()),
        );
        for l in picked {
            let n = layers[l].options.len();
            if n > 1 {
                let shift = self.rng.random_range(1..n);
                child.set(l, (child.get(l) + shift) % n);
            }
        }
        self.state.space.canonical(&child)
    }

    fn next_child(&mut self) -> Option<Arch> {
        if self.population.len() < self.evo.population {
            return self.state.random_fresh(&mut self.rng);
        }
        let picks = sample(&mut self.rng, self.population.len(), self.evo.sample_size);
        let parent = picks
            .into_iter()
            .map(|i| &self.population[i])
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(a, _)| a.clone())?;
        for _ in 0..100 {
            let child = self.mutate(&parent);
            if self.state.fresh(&child) {
                return Some(child);
            }
        }
        self.state.random_fresh(&mut self.rng)
    }
}

impl Strategy for Evolution {
    fn name(&self) -> &str {
        "evolution"
    }

    fn trial_bound(&self) -> Option<u64> {
        Some(self.config.max_trials)
    }

    fn suggest(&mut self) -> Suggestion {
        if self.state.trials() >= self.config.max_trials {
            return Suggestion::Done;
        }
        // The initial population is one wave; after that one child per cycle.
        let want = if self.population.is_empty() && self.state.trials() == 0 {
            (self.evo.population as u64).min(self.config.max_trials)
        } else {
            1
        };
        let mut wave = Vec::new();
        for _ in 0..want {
            let Some(child) = self.next_child() else {
                break;
            };
            self.state.propose(&child);
            wave.push(child);
        }
        if wave.is_empty() {
            return Suggestion::Done;
        }
        Suggestion::Wave(Wave {
            label: format!("evolution {}", self.state.trials()),
            archs: wave,
            fidelity: Fidelity::Full,
        })
    }

    fn observe(&mut self, arch: &Arch, cost: f64, outcome: Outcome) {
        let reward = reward_of(outcome);
        self.state.record(arch, cost, reward);
        if let Some(r) = reward {
            self.population.push_back((arch.clone(), r));
            if self.population.len() > self.evo.population {
                self.population.pop_front();
            }
        }
    }

    fn best(&self) -> Option<Arch> {
        self.state.best()
    }
}
