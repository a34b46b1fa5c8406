use crate::{Dataset, Nb201Table, TableError};
use layernas_core::{EvalError, Evaluation, Evaluator, TrialRequest};
use layernas_spaces::Nb201Space;
use std::collections::BTreeMap;

/// The largest time scale of [`TableEvaluator::with_time_scale`]: a trial then takes as long as
/// its simulated training.
pub const MAX_TIME_SCALE: f64 = 1.0;

/// Looks an architecture's reward up in the NAS-Bench-201 table.
///
/// Metrics: `test` (the matching test column) and, on CIFAR-10, `sim_seconds`: the training
/// time the trial would have cost, as NATS-Bench's `simulate_train_eval` computes it
/// (epochs x train seconds per epoch + one validation pass, from the `cifar10-valid` timings).
#[derive(Debug, Clone)]
pub struct TableEvaluator {
    name: String,
    reward: Vec<f64>,
    test: Vec<f64>,
    sim_seconds: Option<Vec<f64>>,
    time_scale: f64,
}

impl TableEvaluator {
    /// Reward from `reward_column`, test accuracy from `test_column`.
    pub fn new(
        table: &Nb201Table,
        dataset: Dataset,
        reward_column: &str,
        test_column: &str,
    ) -> Result<TableEvaluator, TableError> {
        let reward = table.column(reward_column)?;
        let test = table.column(test_column)?;
        let sim_seconds = if dataset == Dataset::Cifar10 {
            let epochs = if reward_column.starts_with("e12_") {
                12.0
            } else {
                200.0
            };
            let train = table.column("nats_cifar10valid_train_s_per_epoch")?;
            let valid = table.column("nats_cifar10valid_valid_s_per_epoch")?;
            Some(
                train
                    .iter()
                    .zip(&valid)
                    .map(|(t, v)| epochs * t + v)
                    .collect(),
            )
        } else {
            None
        };
        Ok(TableEvaluator {
            name: format!("table:{reward_column}"),
            reward,
            test,
            sim_seconds,
            time_scale: 0.0,
        })
    }

    /// The evaluator for `dataset` with the default columns (`<ds>_valid`, `<ds>_test`).
    pub fn for_dataset(table: &Nb201Table, dataset: Dataset) -> Result<TableEvaluator, TableError> {
        Self::new(
            table,
            dataset,
            &dataset.valid_column(),
            &dataset.test_column(),
        )
    }

    /// Makes every evaluation take `scale` x its simulated training time of wall-clock time
    /// (e.g. 1e-4: an hour of training takes 0.36 s), to rehearse a distributed or interrupted
    /// search realistically. Needs the table's timings (CIFAR-10).
    ///
    /// `scale` is 0 (no sleeping) up to [`MAX_TIME_SCALE`].
    pub fn with_time_scale(mut self, scale: f64) -> Result<Self, TableError> {
        if !(0.0..=MAX_TIME_SCALE).contains(&scale) {
            return Err(TableError::Unknown {
                what: "time scale",
                value: scale.to_string(),
                allowed: format!("0 to {MAX_TIME_SCALE}"),
            });
        }
        if scale > 0.0 && self.sim_seconds.is_none() {
            return Err(TableError::Unknown {
                what: "timing for time scaling",
                value: self.name.clone(),
                allowed: "the table has per-epoch timings for cifar10 only".into(),
            });
        }
        self.time_scale = scale;
        Ok(self)
    }

    /// True when trials report simulated training time.
    pub fn has_sim_time(&self) -> bool {
        self.sim_seconds.is_some()
    }
}

impl Evaluator for TableEvaluator {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, request: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        let code = Nb201Space::code(request.arch);
        let mut metrics = BTreeMap::new();
        metrics.insert("test".to_string(), self.test[code]);
        if let Some(sim) = &self.sim_seconds {
            metrics.insert("sim_seconds".to_string(), sim[code]);
            if self.time_scale > 0.0 {
                let seconds = sim[code] * self.time_scale;
                let pause = std::time::Duration::try_from_secs_f64(seconds).map_err(|_| {
                    EvalError::Failed(format!(
                        "cannot sleep {seconds} s (simulated time x time scale)"
                    ))
                })?;
                std::thread::sleep(pause);
            }
        }
        Ok(Evaluation {
            reward: self.reward[code],
            metrics,
        })
    }
}
