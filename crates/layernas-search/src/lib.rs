//! Search strategies of layernas.
//!
//! [`LayerNas`] is the LayerNAS method of Fan et al. (arXiv 2304.11517) as
//! `shared/docs/layernas.md` specifies it: layers are searched in order; every kept candidate is
//! expanded with every option of the current layer; children that can no longer reach the cost
//! window are dropped before evaluation; the best `keep` per cost bucket survive. The cost window
//! and the seed belong to the study, not to any strategy: [`Scope`] holds them.
//!
//! Baselines behind the same [`Strategy`](layernas_core::Strategy) interface:
//! [`RandomSearch`], regularized evolution ([`Evolution`]), [`Reinforce`], the multi-objective
//! [`Nsga2`] and the [`Exhaustive`] oracle. They reject models outside the cost window before
//! evaluation, never propose a model twice and stop at their trial budget.
//!
//! Beyond the paper, multi-fidelity search: [`LayerNasConfig::multi_fidelity`] screens each
//! layer's new children at low fidelity and promotes the best `promote` per bucket to a
//! full-fidelity evaluation ([`MultiFidelity`] states the rule); [`SuccessiveHalving`] is the
//! baseline with the same two fidelities. Both propose a model at most once per fidelity.
//!
//! ```
//! use std::sync::Arc;
//! use layernas_core::{Executor, MemoryStore, Strategy};
//! use layernas_search::{CostWindow, LayerNas, LayerNasConfig, Scope};
//! use layernas_spaces::Nb201Space;
//! use layernas_tables::{Dataset, Nb201Table, TableCost, TableEvaluator};
//!
//! let bench = Nb201Table::embedded().unwrap();
//! let space = Arc::new(Nb201Space::new());
//! let cost = Arc::new(TableCost::new(&bench, "flops", Dataset::Cifar10).unwrap());
//! let eval = Arc::new(TableEvaluator::for_dataset(&bench, Dataset::Cifar10).unwrap());
//! let scope = Scope::window(CostWindow::at_most(60.0));
//! let mut strategy = LayerNas::new(LayerNasConfig::default(), scope, space.clone(), cost.clone()).unwrap();
//! let bound = strategy.trial_bound().unwrap();
//! let mut store = MemoryStore::new();
//! let summary = Executor::new(&*space, &*cost, eval.clone()).run(&mut strategy, &mut store).unwrap();
//! assert!(summary.trials <= bound);
//! assert!(strategy.best().is_some());
//! ```
#![warn(missing_docs)]

mod build;
mod common;
mod evolution;
mod exhaustive;
mod halving;
mod layernas;
mod nsga2;
mod random;
mod reinforce;
mod scope;

pub use build::{build_strategy, StrategyConfig, MULTI_FIDELITY_STRATEGIES, STRATEGIES};
pub use common::BaselineConfig;
pub use evolution::{Evolution, EvolutionConfig, MAX_POPULATION};
pub use exhaustive::{Exhaustive, EXHAUSTIVE_LIMIT};
pub use halving::{HalvingConfig, SuccessiveHalving, MAX_RUNG};
pub use nsga2::{Nsga2, Nsga2Config, MAX_NSGA2_POPULATION};
pub use random::RandomSearch;
pub use reinforce::{Reinforce, ReinforceConfig, MAX_LEARNING_RATE};
pub use scope::{CostWindow, Scope};

pub use layernas::{
    number, ConfigError, KeptCandidate, LayerNas, LayerNasConfig, LayerStats, MultiFidelity,
    PlanRow, PromotionBar, Selection, Spacing, MAX_BUCKETS, MAX_KEEP,
};
