use crate::common::{BaselineConfig, Feasibility};
use crate::random::reward_of;
use crate::ConfigError;
use layernas_core::{Arch, CostModel, Fidelity, Outcome, SearchSpace, Strategy, Suggestion, Wave};
use rand::distr::{weighted::WeightedIndex, Distribution};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::sync::Arc;

/// Draws from the policy per suggestion before REINFORCE explores uniformly instead. A policy
/// that has collapsed onto models seen before draws them again and again, each draw an Adam
/// update at no trial; this bounds that work (a healthy policy finds a new model in a few draws).
pub(crate) const MAX_POLICY_DRAWS: usize = 1_000;

/// The largest learning rate REINFORCE accepts (Adam moves a logit by about the learning rate
/// per update, so larger rates only collapse the policy at once).
pub const MAX_LEARNING_RATE: f64 = 10.0;

/// Knobs of REINFORCE, with the NATS-Bench baseline's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReinforceConfig {
    /// Adam learning rate on the policy logits (NATS-Bench: 0.01; above 0, at most
    /// [`MAX_LEARNING_RATE`]).
    pub learning_rate: f64,
    /// Momentum of the moving-average reward baseline (NATS-Bench: 0.9; in [0, 1)).
    pub baseline_momentum: f64,
}

impl ReinforceConfig {
    /// Checks the knobs: `0 < learning_rate <= MAX_LEARNING_RATE`, `0 <= baseline_momentum < 1`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.learning_rate > 0.0 && self.learning_rate <= MAX_LEARNING_RATE) {
            return Err(ConfigError::Invalid {
                field: "learning_rate",
                value: crate::layernas::number(self.learning_rate),
                reason: format!("must be above 0 and at most {MAX_LEARNING_RATE}"),
            });
        }
        if !(0.0..1.0).contains(&self.baseline_momentum) {
            return Err(ConfigError::Invalid {
                field: "baseline_momentum",
                value: crate::layernas::number(self.baseline_momentum),
                reason: "must be in [0, 1)".into(),
            });
        }
        Ok(())
    }
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
    /// The policy of each layer, from `logits` (rebuilt after each update).
    policy: Vec<Option<WeightedIndex<f64>>>,
    adam_m: Vec<Vec<f64>>,
    adam_v: Vec<Vec<f64>>,
    steps: u64,
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
            rng: ChaCha8Rng::seed_from_u64(config.scope.seed),
            state: Feasibility::new(space, cost, &config),
            policy: zeros.iter().map(|l| Self::distribution(l)).collect(),
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

    /// Policy-gradient updates made so far (one per observed reward and per policy draw of a
    /// model seen before).
    pub fn policy_updates(&self) -> u64 {
        self.steps
    }

    /// The softmax of `logits` as a distribution; `None` if it is degenerate (non-finite
    /// logits), in which case the layer is sampled uniformly.
    fn distribution(logits: &[f64]) -> Option<WeightedIndex<f64>> {
        WeightedIndex::new(Self::probabilities(logits)).ok()
    }

    fn sample(&mut self) -> Arch {
        let mut options = Vec::with_capacity(self.policy.len());
        for (dist, logits) in self.policy.iter().zip(&self.logits) {
            let option = match dist {
                Some(d) => d.sample(&mut self.rng),
                None => self.rng.random_range(0..logits.len()),
            };
            options.push(option as u16);
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
        if !advantage.is_finite() {
            // Rewards so far apart that their difference overflows teach nothing usable.
            return;
        }
        self.steps += 1;
        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
        // Past 2^20 steps the bias corrections are 1 to the last bit.
        let t = self.steps.min(1 << 20) as i32;
        let c1 = 1.0 - f64::powi(b1, t);
        let c2 = 1.0 - f64::powi(b2, t);
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
        self.policy = self.logits.iter().map(|l| Self::distribution(l)).collect();
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
        for _ in 0..MAX_POLICY_DRAWS {
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
                        fidelity: Fidelity::Full,
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
                    fidelity: Fidelity::Full,
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
