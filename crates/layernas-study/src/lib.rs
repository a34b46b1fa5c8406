//! A layernas **study**, between the component crates and the `layernas` binary: the study
//! file and its one validated type ([`Study`]), the wiring of its components (space, cost
//! model, evaluator, store, strategy: [`wiring`]), the controller's run ([`run`]), the worker
//! loop ([`worker`]), the outcome computed from the store ([`outcome`]) and the training of one
//! architecture ([`train`]). Every command of
//! the CLI goes through it; the CLI only parses flags and renders. [`export_model`] writes a
//! trained or freshly initialised model as ONNX (`layernas export-model`).
//!
//! ```
//! use layernas_study::{Overrides, Search};
//!
//! // The README's first search, without a store: the best CIFAR-10 cell under 60 MFLOPs.
//! let study = Overrides { max_cost: Some(60.0), ..Overrides::default() }.resolve().unwrap();
//! let search = Search::build(study).unwrap();
//! let outcome = search.run(&Default::default(), &mut |_| {}).unwrap();
//! assert!(outcome.best.unwrap().cost <= 60.0);
//! ```
#![warn(missing_docs)]

mod error;
pub mod export_model;
pub mod file;
pub mod inspect;
pub mod names;
pub mod outcome;
pub mod output;
pub mod run;
pub mod study;
pub mod train;
pub mod views;
pub mod wiring;
pub mod worker;

pub use error::StudyError;
pub use file::{check_seconds, read_text_file, StudyFile};
pub use names::{CostName, SpaceName, SPACES};
pub use outcome::{CostInfo, Outcome, Point, StudyStatus};
pub use run::{Event, RunOptions, Search};
pub use study::{Overrides, Study, StudyDataset};
pub use wiring::{Built, Space};
