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
//! use layernas_tables::{Dataset, Nb201Bench, TableCost};
//! let bench = Nb201Bench::embedded().unwrap();
//! let flops = TableCost::new(&bench, "flops", Dataset::Cifar10).unwrap();
//! let all_conv3 = Nb201Space::new().default_arch();
//! assert!((flops.cost(&all_conv3) - 220.11969).abs() < 1e-9);
//! ```
#![warn(missing_docs)]

mod bench;
mod cost;
mod evaluator;

pub use bench::{
    DataSource, Dataset, Nb201Bench, TableError, EMBEDDED_LATENCY_SHA256, EMBEDDED_TSS_SHA256,
};
pub use cost::{latency_devices, TableCost};
pub use evaluator::{TableEvaluator, MAX_TIME_SCALE};
