use crate::{
    Arch, CostModel, EvalError, Evaluator, Outcome, SearchSpace, SpaceError, StoreError, Strategy,
    Suggestion, Trial, TrialRequest, TrialState, TrialStore,
};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// Why a search run stopped with an error (a failed trial is not one: it is recorded).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The strategy proposed an architecture outside the space: a bug in the strategy.
    #[error("strategy {strategy} proposed an invalid architecture: {source}")]
    InvalidArch {
        /// Strategy name.
        strategy: String,
        /// The space's complaint.
        source: SpaceError,
    },
    /// The trial store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The worker pool could not be built.
    #[error("cannot start {workers} workers: {reason}")]
    Workers {
        /// Requested workers.
        workers: usize,
        /// Why.
        reason: String,
    },
}

/// Progress of a run, for bars and logs.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// A wave starts: `new` architectures will be evaluated, `reused` come from the store.
    WaveStarted {
        /// Wave index, from 0.
        index: u32,
        /// The strategy's label, e.g. `layer 2/6`.
        label: String,
        /// Architectures to evaluate now.
        new: usize,
        /// Architectures whose results were already stored.
        reused: usize,
    },
    /// One trial finished (complete or failed).
    TrialFinished {
        /// Trial id.
        id: u64,
        /// Its reward, if complete.
        reward: Option<f64>,
    },
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Distinct architectures evaluated in the study (stored trials), failed ones included.
    pub trials: u64,
    /// Trials evaluated by this run (the rest were found in the store).
    pub evaluated_now: u64,
    /// Failed trials in the study.
    pub failed: u64,
    /// Waves the strategy proposed.
    pub waves: u32,
    /// True when the run stopped because the trial budget ran out.
    pub budget_exhausted: bool,
}

/// Runs a strategy to completion: asks for waves, evaluates what the store does not already
/// hold, records every trial and tells the strategy the outcomes, in wave order.
pub struct Executor<'a> {
    /// The search space; every proposed architecture is checked against it.
    pub space: &'a dyn SearchSpace,
    /// Cost model, for the trial records.
    pub cost: &'a dyn CostModel,
    /// Evaluator.
    pub evaluator: &'a dyn Evaluator,
    /// Most distinct architectures to evaluate in the study.
    pub max_trials: Option<u64>,
    /// Evaluations run concurrently within a wave (1 = sequential).
    pub workers: usize,
    /// Study seed; each trial gets a seed derived from it and its id.
    pub seed: u64,
    /// Called on progress, possibly from worker threads.
    pub progress: Option<&'a (dyn Fn(&ProgressEvent) + Sync)>,
}

impl<'a> Executor<'a> {
    /// An executor with one worker, no budget, seed 0 and no progress reporting.
    pub fn new(
        space: &'a dyn SearchSpace,
        cost: &'a dyn CostModel,
        evaluator: &'a dyn Evaluator,
    ) -> Self {
        Executor {
            space,
            cost,
            evaluator,
            max_trials: None,
            workers: 1,
            seed: 0,
            progress: None,
        }
    }

    fn emit(&self, event: ProgressEvent) {
        if let Some(progress) = self.progress {
            progress(&event);
        }
    }

    /// Runs `strategy` against `store` until it is done or the budget runs out.
    pub fn run(
        &self,
        strategy: &mut dyn Strategy,
        store: &mut dyn TrialStore,
    ) -> Result<RunSummary, ExecError> {
        let pool = if self.workers > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(self.workers)
                    .build()
                    .map_err(|e| ExecError::Workers {
                        workers: self.workers,
                        reason: e.to_string(),
                    })?,
            )
        } else {
            None
        };
        let mut summary = RunSummary {
            trials: 0,
            evaluated_now: 0,
            failed: 0,
            waves: 0,
            budget_exhausted: false,
        };
        loop {
            let wave = match strategy.suggest() {
                Suggestion::Done => break,
                Suggestion::Wave(wave) => wave,
            };
            let wave_index = summary.waves;
            summary.waves += 1;

            // Resolve what the store knows; plan the rest as new trials.
            let mut known: Vec<Option<Trial>> = Vec::with_capacity(wave.archs.len());
            let mut planned: Vec<(usize, Trial)> = Vec::new();
            let mut in_wave: HashSet<&Arch> = HashSet::new();
            let mut next_id = store.len()? as u64;
            for (i, arch) in wave.archs.iter().enumerate() {
                self.space
                    .check(arch)
                    .map_err(|source| ExecError::InvalidArch {
                        strategy: strategy.name().to_string(),
                        source,
                    })?;
                let stored = store.lookup(arch)?;
                if stored.is_none() && in_wave.insert(arch) {
                    if self.max_trials.is_some_and(|m| next_id >= m) {
                        summary.budget_exhausted = true;
                    } else {
                        planned.push((i, self.plan(next_id, arch, wave_index)));
                        next_id += 1;
                    }
                }
                known.push(stored);
            }
            self.emit(ProgressEvent::WaveStarted {
                index: wave_index,
                label: wave.label.clone(),
                new: planned.len(),
                reused: known.iter().filter(|k| k.is_some()).count(),
            });

            let finished: Vec<Trial> = match &pool {
                Some(pool) => pool.install(|| {
                    use rayon::prelude::*;
                    planned
                        .par_iter()
                        .map(|(_, t)| self.evaluate(t.clone()))
                        .collect()
                }),
                None => planned
                    .iter()
                    .map(|(_, t)| self.evaluate(t.clone()))
                    .collect(),
            };
            for ((i, _), trial) in planned.iter().zip(finished) {
                store.record(trial.clone())?;
                summary.evaluated_now += 1;
                known[*i] = Some(trial);
            }
            // Duplicates within the wave take the result of their first occurrence.
            for (i, arch) in wave.archs.iter().enumerate() {
                if known[i].is_none() {
                    known[i] = store.lookup(arch)?;
                }
            }
            for (arch, trial) in wave.archs.iter().zip(&known) {
                if let Some(trial) = trial {
                    let outcome = match (trial.state, trial.reward) {
                        (TrialState::Complete, Some(r)) => Outcome::Reward(r),
                        _ => Outcome::Failed,
                    };
                    strategy.observe(arch, trial.cost, outcome);
                }
            }
            if summary.budget_exhausted {
                break;
            }
        }
        let all = store.trials()?;
        summary.trials = all.len() as u64;
        summary.failed = all.iter().filter(|t| t.state == TrialState::Failed).count() as u64;
        Ok(summary)
    }

    fn plan(&self, id: u64, arch: &Arch, wave: u32) -> Trial {
        Trial {
            id,
            arch: arch.clone(),
            cost: self.cost.cost(arch),
            state: TrialState::Pending,
            reward: None,
            metrics: BTreeMap::new(),
            error: None,
            wave,
            seconds: 0.0,
        }
    }

    fn evaluate(&self, mut trial: Trial) -> Trial {
        let start = Instant::now();
        let request = TrialRequest {
            id: trial.id,
            arch: &trial.arch,
            seed: trial_seed(self.seed, trial.id),
        };
        let result = self.evaluator.evaluate(&request).and_then(|e| {
            if e.reward.is_finite() {
                Ok(e)
            } else {
                Err(EvalError::NonFinite(e.reward))
            }
        });
        trial.seconds = start.elapsed().as_secs_f64();
        match result {
            Ok(eval) => {
                trial.state = TrialState::Complete;
                trial.reward = Some(eval.reward);
                trial.metrics = eval.metrics;
            }
            Err(err) => {
                trial.state = TrialState::Failed;
                trial.error = Some(err.to_string());
            }
        }
        self.emit(ProgressEvent::TrialFinished {
            id: trial.id,
            reward: trial.reward,
        });
        trial
    }
}

/// The seed of trial `id` in a study seeded with `seed` (SplitMix64 of both).
pub fn trial_seed(seed: u64, id: u64) -> u64 {
    let mut z = seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
