//! Measured latency for layernas: `layernas profile` times every layer configuration a template
//! space can contain with an [`Engine`] (burn, the built-in trainer's engine, or tract, an ONNX
//! runtime one deploys), one thread, batch 1, into the [`LatencyTable`] that `--cost
//! latency:FILE` reads, and checks the table against whole networks it was not measured on.
//!
//! The method ([`timing`]): runners are timed together in rounds, in a new random order each
//! round, each sample as many calls back to back as fill [`Method::sample_ms`], and the median
//! sample kept; a layer's entry is its time less the engine's cost of one call (a trivial
//! network timed in the same rounds), so that a network does not pay one call's overhead per
//! layer. What a whole network costs beyond its layers' entries (one call, and what happens
//! between layers: tract's plan runs its nodes in one state, a burn network hands tensors on)
//! is the table's `base_ms`, fitted on [`CALIBRATION`] random whole networks as the median of
//! measured minus summed; a check never uses those networks.
//!
//! ```no_run
//! use layernas_latency::{Engine, Method, Profiler};
//! let space = layernas_spaces::space_from_toml(
//!     &std::fs::read_to_string("examples/spaces/fashion-cnn.toml").unwrap(),
//!     "fashion-cnn.toml",
//! )
//! .unwrap();
//! let profiler = Profiler::new(Engine::Tract, Method::default(), 0).unwrap();
//! let table = profiler.table(&space, |_, _| {}).unwrap();
//! let check = profiler.check(&space, &table, 50, 0, |_, _| {}).unwrap();
//! println!("Spearman {:.3}, mean error {:.1}%", check.spearman, 100.0 * check.mean_error);
//! ```
#![warn(missing_docs)]

pub mod engine;
mod profile;
pub mod timing;

pub use engine::{prepare, Engine, Part, Runner};
pub use layernas_spaces::LatencyTable;
pub use profile::{random_archs, Check, CheckedNetwork, Profiler, BATCH, CALIBRATION};
pub use timing::Method;

/// Why a latency cannot be measured.
#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    /// A measurement knob out of range (the message names it).
    #[error("{0}")]
    Knob(String),
    /// The network is invalid.
    #[error(transparent)]
    Network(#[from] layernas_spaces::network::NetworkError),
    /// The ONNX graph of a network cannot be built.
    #[error("cannot export the network for timing: {0}")]
    Export(#[from] layernas_onnx::ExportError),
    /// The engine failed to prepare or run a network.
    #[error("{0}")]
    Engine(String),
    /// The table cannot price a network (a table of another space).
    #[error("{0}")]
    Table(String),
}
