//! `layernas bench`: runs a grid of (strategy x dataset x seed) searches on the NAS-Bench-201
//! table and writes a report directory (markdown summary, CSVs of every run, PNG and SVG charts).
//!
//! Sections of the report:
//! 1. the paper's Table 3 layout: test accuracy mean ± std over seeds, equal trial budgets, with
//!    the table's optimum as the last row;
//! 2. front regret over 10 FLOPs caps;
//! 3. the optimal-substructure check: does LayerNAS keep each final bucket's true optimum?
//! 4. an ablation of H and K: trials used against front regret;
//! 5. whole fronts against the table's true front (normalised hypervolume, IGD, IGD+, and
//!    hypervolume against trials) for FLOPs, params and latency on three devices;
//! 6. multi-fidelity search: front regret and normalised hypervolume against the training
//!    epochs spent, for LayerNAS, multi-fidelity LayerNAS, evolution, random search and
//!    successive halving (12-epoch columns at low fidelity, 200-epoch ones at full);
//! 7. single-cap search: LayerNAS with a `max_cost`, plain against cap focus
//!    ([`LayerNasConfig::cap_focus`](layernas_search::LayerNasConfig::cap_focus)), at FLOPs caps
//!    over each data set's range and at issue 14's three caps beside Optuna's TPE as quoted there.
//!
//! Beside each comparison table, a two-sided Mann-Whitney U test of LayerNAS against each
//! baseline over the seeds, Holm-corrected across the baselines ([`significance`]).
//!
//! ```no_run
//! use layernas_bench::{run_bench, write_report, BenchConfig};
//! let results = run_bench(&BenchConfig { seeds: 2, ..BenchConfig::default() }).unwrap();
//! write_report(&results, std::path::Path::new("bench-report")).unwrap();
//! ```
#![warn(missing_docs)]

mod grid;
mod markdown;
pub mod metrics;
mod multifidelity;
mod oracle;
mod singlecap;
/// The charts, which live in `layernas-plot` (re-exported for reports built on the bench).
pub use layernas_plot as plot;
pub mod stats;

pub use grid::{
    run_bench, AblationRow, AssumptionRow, BenchConfig, BenchResults, FrontRecord, RunRecord,
    TrueFrontRecord, LAYERNAS_BUDGET,
};
pub use markdown::{
    accuracy_markdown, headline, significance, significance_for, significance_markdown, summary,
    test_accuracy, write_report, AccuracyRow, Comparison, Figure, Metric, ALPHA,
};
pub use multifidelity::{
    FidelityPoint, FidelityRecord, FIDELITY_STRATEGIES, LAYERNAS_MULTI_FIDELITY,
    LAYERNAS_MULTI_FIDELITY_CALIBRATED,
};
pub use oracle::Oracle;
pub use singlecap::{
    single_cap_test_column, single_cap_valid_column, SingleCapRecord, ISSUE_CAPS, TPE_ISSUE_14,
    TPE_TRIALS,
};

/// Why the bench could not run or write its report.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The tables could not be loaded or a column is missing.
    #[error(transparent)]
    Table(#[from] layernas_tables::TableError),
    /// A strategy rejected its configuration.
    #[error(transparent)]
    Config(#[from] layernas_search::ConfigError),
    /// The executor failed.
    #[error(transparent)]
    Exec(#[from] layernas_core::ExecError),
    /// Writing the report failed.
    #[error("cannot write report file {path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A bad bench setting.
    #[error("invalid bench setting: {0}")]
    Invalid(String),
}

impl From<layernas_plot::PlotError> for BenchError {
    fn from(e: layernas_plot::PlotError) -> Self {
        BenchError::Write {
            path: e.path,
            reason: e.reason,
        }
    }
}
