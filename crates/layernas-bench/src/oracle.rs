use layernas_core::CostModel;
use layernas_tables::{Dataset, Nb201Table, TableCost, TableError};

/// What the whole table knows for one dataset: validation and test accuracy by
/// [`Nb201Space::code`](layernas_spaces::Nb201Space::code), and the best-by-validation model
/// under any cost cap.
#[derive(Debug, Clone)]
pub struct Oracle {
    /// Dataset.
    pub dataset: Dataset,
    /// Validation accuracy by code.
    pub valid: Vec<f64>,
    /// Test accuracy by code.
    pub test: Vec<f64>,
}

impl Oracle {
    /// The oracle of `dataset` with the default columns.
    pub fn new(bench: &Nb201Table, dataset: Dataset) -> Result<Oracle, TableError> {
        Ok(Oracle {
            dataset,
            valid: bench.column(&dataset.valid_column())?,
            test: bench.column(&dataset.test_column())?,
        })
    }

    /// Costs of every code under `cost`.
    pub fn costs(bench: &Nb201Table, cost: &str, dataset: Dataset) -> Result<Vec<f64>, TableError> {
        let c = TableCost::new(bench, cost, dataset)?;
        Ok((0..15_625)
            .map(|code| c.cost(&layernas_spaces::Nb201Space::from_code(code)))
            .collect())
    }

    /// The best code by validation (ties: lower cost, then lower code) among `codes`.
    pub fn best_by_valid(
        &self,
        codes: impl IntoIterator<Item = usize>,
        costs: &[f64],
    ) -> Option<usize> {
        codes.into_iter().min_by(|&a, &b| {
            self.valid[b]
                .total_cmp(&self.valid[a])
                .then(costs[a].total_cmp(&costs[b]))
                .then(a.cmp(&b))
        })
    }

    /// Test accuracy of the best-by-validation model of the whole table with cost <= `cap`.
    pub fn test_under_cap(&self, costs: &[f64], cap: f64) -> Option<f64> {
        self.best_by_valid((0..costs.len()).filter(|&c| costs[c] <= cap), costs)
            .map(|c| self.test[c])
    }

    /// The table's best test accuracy (the "optimum" row of the paper's table).
    pub fn best_test(&self) -> f64 {
        self.test.iter().copied().fold(f64::MIN, f64::max)
    }
}
