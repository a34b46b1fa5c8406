//! Benchmark tables: the NAS-Bench-201 / NATS-Bench topology table and the HW-NAS-Bench / HELP
//! latency table, embedded in the binary (gzip) and checked against their published sha256.
//!
//! The table is an [`Evaluator`](layernas_core::Evaluator) ([`TableEvaluator`]: reward = a
//! validation column, with the matching test accuracy as a metric) and a source of
//! [`CostModel`](layernas_core::CostModel)s ([`TableCost`]: `flops`, `params`,
//! `latency:<device>`).
//!
//! ```
//! use layernas_core::{CostModel, SearchSpace};
//! use layernas_spaces::Nb201Space;
//! use layernas_tables::{Dataset, Nb201Table, TableCost};
//! let table = Nb201Table::embedded().unwrap();
//! let flops = TableCost::new(&table, "flops", Dataset::Cifar10).unwrap();
//! let all_conv3 = Nb201Space::new().default_arch();
//! assert!((flops.cost(&all_conv3) - 220.11969).abs() < 1e-9);
//! ```
#![warn(missing_docs)]

mod cost;
mod evaluator;
mod table;

pub use cost::{latency_devices, TableCost};
pub use evaluator::{TableEvaluator, FULL_FIDELITY_EPOCHS, LOW_FIDELITY_EPOCHS, MAX_TIME_SCALE};
pub use table::{
    DataSource, Dataset, Nb201Table, TableError, EMBEDDED_LATENCY_SHA256, EMBEDDED_TSS_SHA256,
};

/// The former name of [`Nb201Table`].
#[deprecated(note = "renamed Nb201Table")]
pub type Nb201Bench = Nb201Table;
