use crate::{Dataset, Nb201Table, TableError};
use layernas_core::{
    EvalError, Evaluation, Evaluator, Fidelity, TrialRequest, EPOCHS_METRIC, SIM_SECONDS_METRIC,
};
use layernas_spaces::Nb201Space;
use std::collections::BTreeMap;

/// The largest time scale of [`TableEvaluator::with_time_scale`]: a trial then takes as long as
/// its simulated training.
pub const MAX_TIME_SCALE: f64 = 1.0;

/// Epochs of the table's low-fidelity columns (`e12_*`).
pub const LOW_FIDELITY_EPOCHS: f64 = 12.0;
/// Epochs of the table's other accuracy columns.
pub const FULL_FIDELITY_EPOCHS: f64 = 200.0;

/// Looks an architecture's reward up in the NAS-Bench-201 table.
///
/// A full-fidelity trial reads the reward and test columns given; a low-fidelity one
/// ([`Fidelity::Low`]) reads the dataset's 12-epoch columns (`e12_<dataset>_valid`,
/// `e12_<dataset>_test`) instead. Metrics: `test` (the matching test column), `epochs` (the
/// training epochs the columns stand for: 12 for `e12_*` columns, 200 otherwise) and, on
/// CIFAR-10, `sim_seconds`: the training time the trial would have cost, as NATS-Bench's
/// `simulate_train_eval` computes it (epochs x train seconds per epoch + one validation pass,
/// from the `cifar10-valid` timings).
#[derive(Debug, Clone)]
pub struct TableEvaluator {
    name: String,
    full: Columns,
    /// The 12-epoch columns, when the table has them.
    low: Option<Columns>,
    time_scale: f64,
}

/// What one fidelity reads.
#[derive(Debug, Clone)]
struct Columns {
    reward: Vec<f64>,
    test: Vec<f64>,
    epochs: f64,
    sim_seconds: Option<Vec<f64>>,
}

impl Columns {
    fn read(
        table: &Nb201Table,
        dataset: Dataset,
        reward_column: &str,
        test_column: &str,
    ) -> Result<Columns, TableError> {
        let epochs = if reward_column.starts_with("e12_") {
            LOW_FIDELITY_EPOCHS
        } else {
            FULL_FIDELITY_EPOCHS
        };
        let sim_seconds = if dataset == Dataset::Cifar10 {
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
        Ok(Columns {
            reward: table.column(reward_column)?,
            test: table.column(test_column)?,
            epochs,
            sim_seconds,
        })
    }
}

impl TableEvaluator {
    /// Reward from `reward_column`, test accuracy from `test_column`.
    pub fn new(
        table: &Nb201Table,
        dataset: Dataset,
        reward_column: &str,
        test_column: &str,
    ) -> Result<TableEvaluator, TableError> {
        let full = Columns::read(table, dataset, reward_column, test_column)?;
        let name = dataset.name();
        let low = Columns::read(
            table,
            dataset,
            &format!("e12_{name}_valid"),
            &format!("e12_{name}_test"),
        )
        .ok();
        Ok(TableEvaluator {
            name: format!("table:{reward_column}"),
            full,
            low,
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
        if scale > 0.0 && self.full.sim_seconds.is_none() {
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
        self.full.sim_seconds.is_some()
    }

    /// True when low-fidelity trials can be answered (the table has the 12-epoch columns).
    pub fn has_low_fidelity(&self) -> bool {
        self.low.is_some()
    }
}

impl Evaluator for TableEvaluator {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, request: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        let code = Nb201Space::code(request.arch);
        let columns = match request.fidelity {
            Fidelity::Full => &self.full,
            Fidelity::Low => self.low.as_ref().ok_or_else(|| {
                EvalError::Failed(
                    "a low-fidelity trial needs the table's 12-epoch columns (e12_*), which \
                     this table lacks"
                        .into(),
                )
            })?,
        };
        let mut metrics = BTreeMap::new();
        metrics.insert("test".to_string(), columns.test[code]);
        metrics.insert(EPOCHS_METRIC.to_string(), columns.epochs);
        if let Some(sim) = &columns.sim_seconds {
            metrics.insert(SIM_SECONDS_METRIC.to_string(), sim[code]);
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
            reward: columns.reward[code],
            metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use layernas_core::{Arch, SearchSpace};

    fn request(arch: &Arch, fidelity: Fidelity) -> TrialRequest<'_> {
        TrialRequest {
            id: 0,
            arch,
            seed: 0,
            fidelity,
        }
    }

    #[test]
    fn low_fidelity_reads_the_12_epoch_columns() {
        let table = Nb201Table::embedded().unwrap();
        let space = Nb201Space::new();
        for dataset in Dataset::ALL {
            let eval = TableEvaluator::for_dataset(&table, dataset).unwrap();
            assert!(eval.has_low_fidelity());
            let name = dataset.name();
            let e12 = table.column(&format!("e12_{name}_valid")).unwrap();
            let e12_test = table.column(&format!("e12_{name}_test")).unwrap();
            let full = table.column(&dataset.valid_column()).unwrap();
            let arch = space.default_arch();
            let code = Nb201Space::code(&arch);
            let low = eval.evaluate(&request(&arch, Fidelity::Low)).unwrap();
            assert_eq!(low.reward, e12[code]);
            assert_eq!(low.metrics["test"], e12_test[code]);
            assert_eq!(low.metrics[EPOCHS_METRIC], 12.0);
            let high = eval.evaluate(&request(&arch, Fidelity::Full)).unwrap();
            assert_eq!(high.reward, full[code]);
            assert_eq!(high.metrics[EPOCHS_METRIC], 200.0);
            assert_ne!(low.reward, high.reward);
            // Simulated seconds where the table has timings (CIFAR-10), 12 vs 200 epochs.
            assert_eq!(
                low.metrics.contains_key(SIM_SECONDS_METRIC),
                dataset == Dataset::Cifar10
            );
            if dataset == Dataset::Cifar10 {
                assert!(low.metrics[SIM_SECONDS_METRIC] < high.metrics[SIM_SECONDS_METRIC] / 10.0);
            }
        }
    }
}
