use crate::common::{BaselineConfig, Feasibility, MAX_DRAWS};
use crate::random::reward_of;
use layernas_core::{Arch, CostModel, Outcome, SearchSpace, Strategy, Suggestion, Wave};
use rand::distr::{weighted::WeightedIndex, Distribution};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::sync::Arc;

/// Knobs of REINFORCE, with the NATS-Bench baseline's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReinforceConfig {
    /// Adam learning rate on the policy logits (NATS-Bench: 0.01).
    pub learning_rate: f64,
    /// Momentum of the moving-average reward baseline (NATS-Bench: 0.9).
    pub baseline_momentum: f64,
}

impl Default for ReinforceConfig {
    fn default() -> Self {
        ReinforceConfig {
            learning_rate: 0.01,
            baseline_momentum: 0.9,
        }
    }
}

/// REINFORCE over independent per-layer categorical policies (softmax of logits), with a
/// moving-average baseline and Adam, as in the NATS-Bench baselines. Samples outside the cost
/// window are redrawn before evaluation; a sample seen before updates the policy with its known
/// reward and costs no trial.
pub struct Reinforce {
    config: BaselineConfig,
    rl: ReinforceConfig,
    state: Feasibility,
    logits: Vec<Vec<f64>>,
    adam_m: Vec<Vec<f64>>,
    adam_v: Vec<Vec<f64>>,
    steps: i32,
    baseline: Option<f64>,
    rng: ChaCha8Rng,
}

impl Reinforce {
    /// REINFORCE.
    pub fn new(
        config: BaselineConfig,
        rl: ReinforceConfig,
        space: Arc<dyn SearchSpace>,
        cost: Arc<dyn CostModel>,
    ) -> Self {
        let zeros: Vec<Vec<f64>> = space
            .layers()
            .iter()
            .map(|l| vec![0.0; l.options.len()])
            .collect();
        Reinforce {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            state: Feasibility::new(space, cost, &config),
            logits: zeros.clone(),
            adam_m: zeros.clone(),
            adam_v: zeros,
            steps: 0,
            baseline: None,
            config,
            rl,
        }
    }

    fn probabilities(logits: &[f64]) -> Vec<f64> {
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = logits.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        exp.into_iter().map(|e| e / sum).collect()
    }

    fn sample(&mut self) -> Arch {
        let mut options = Vec::with_capacity(self.logits.len());
        for logits in &self.logits {
            let p = Self::probabilities(logits);
            let dist = WeightedIndex::new(&p).expect("softmax weights are positive and finite");
            options.push(dist.sample(&mut self.rng) as u16);
        }
        Arch::new(options)
    }

    /// One policy-gradient step (gradient ascent on `advantage * log pi(arch)`, with Adam).
    fn update(&mut self, arch: &Arch, reward: f64) {
        let m = self.rl.baseline_momentum;
        let baseline = match self.baseline {
            None => reward,
            Some(b) => m * b + (1.0 - m) * reward,
        };
        self.baseline = Some(baseline);
        let advantage = reward - baseline;
        self.steps += 1;
        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
        let c1 = 1.0 - f64::powi(b1, self.steps);
        let c2 = 1.0 - f64::powi(b2, self.steps);
        for (l, logits) in self.logits.iter_mut().enumerate() {
            let p = Self::probabilities(logits);
            for (k, logit) in logits.iter_mut().enumerate() {
                let chosen = if arch.get(l) == k { 1.0 } else { 0.0 };
                let g = (chosen - p[k]) * advantage;
                let mk = &mut self.adam_m[l][k];
                let vk = &mut self.adam_v[l][k];
                *mk = b1 * *mk + (1.0 - b1) * g;
                *vk = b2 * *vk + (1.0 - b2) * g * g;
                *logit += self.rl.learning_rate * (*mk / c1) / ((*vk / c2).sqrt() + eps);
            }
        }
    }
}

impl Strategy for Reinforce {
    fn name(&self) -> &str {
        "reinforce"
    }

    fn trial_bound(&self) -> Option<u64> {
        Some(self.config.max_trials)
    }

    fn suggest(&mut self) -> Suggestion {
        if self.state.trials() >= self.config.max_trials {
            return Suggestion::Done;
        }
        for _ in 0..MAX_DRAWS {
            let sampled = self.sample();
            let arch = self.state.space.canonical(&sampled);
            if !self.state.feasible(&arch) {
                continue;
            }
            match self.state.seen.get(&arch).copied() {
                Some((_, Some(reward))) => self.update(&sampled, reward),
                Some((_, None)) => {}
                None => {
                    self.state.propose(&arch);
                    return Suggestion::Wave(Wave {
                        label: format!("reinforce {}", self.state.trials()),
                        archs: vec![arch],
                    });
                }
            }
        }
        // The policy has collapsed onto models already seen: explore uniformly.
        match self.state.random_fresh(&mut self.rng) {
            Some(arch) => {
                self.state.propose(&arch);
                Suggestion::Wave(Wave {
                    label: format!("reinforce {}", self.state.trials()),
                    archs: vec![arch],
                })
            }
            None => Suggestion::Done,
        }
    }

    fn observe(&mut self, arch: &Arch, cost: f64, outcome: Outcome) {
        let reward = reward_of(outcome);
        self.state.record(arch, cost, reward);
        if let Some(r) = reward {
            self.update(arch, r);
        }
    }

    fn best(&self) -> Option<Arch> {
        self.state.best()
    }
}
