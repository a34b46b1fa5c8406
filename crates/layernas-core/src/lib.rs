//! Core vocabulary of layernas.
//!
//! An [`Arch`] picks one option per layer of a [`SearchSpace`]. A [`CostModel`] prices an
//! architecture cheaply and purely; an [`Evaluator`] measures its reward, expensively and
//! fallibly. A [`Strategy`] only decides what to evaluate next (ask/tell: [`Strategy::suggest`],
//! [`Strategy::observe`]); the [`Executor`] owns the loop, consults the [`TrialStore`] so that no
//! architecture is evaluated twice, and evaluates each wave (possibly in parallel).
//!
//! This crate does no I/O.
//!
//! ```
//! use layernas_core::{Arch, Layer, SearchSpace, GenericSpace};
//! let space = GenericSpace::new("toy", vec![
//!     Layer::new("width", ["8", "16", "32"], 2),
//!     Layer::new("kernel", ["3", "5"], 1),
//! ]).unwrap();
//! let arch = space.parse("width=16,kernel=3").unwrap();
//! assert_eq!(arch, Arch::new(vec![1, 0]));
//! assert_eq!(space.format(&arch), "width=16,kernel=3");
//! assert_eq!(space.num_models(), 6);
//! ```
#![warn(missing_docs)]

mod arch;
mod cost;
mod eval;
mod executor;
mod fidelity;
mod front;
pub mod limits;
mod space;
mod store;
mod strategy;
mod trial;

pub use arch::Arch;
pub use cost::{CostModel, CostRange, EXACT_RANGE_LIMIT};
pub use eval::{Cancel, EvalError, Evaluation, Evaluator, TrialRequest};
pub use executor::{
    epochs_spent, evaluate_guarded, evaluate_guarded_at, replay, trial_seed, ControllerHold,
    ExecError, Executor, ProgressEvent, RunSummary,
};
pub use fidelity::{Fidelity, EPOCHS_METRIC, SIM_SECONDS_METRIC};
pub use front::pareto_front;
pub use space::{GenericSpace, Layer, SearchSpace, SpaceError};
pub use store::{
    now, Claim, ControllerLease, Lead, MemoryStore, Reported, StoreError, StudyOpen, StudySpec,
    TrialStore,
};
pub use strategy::{Outcome, Strategy, Suggestion, Wave};
pub use trial::{Trial, TrialState};
