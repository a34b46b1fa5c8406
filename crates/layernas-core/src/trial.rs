use crate::Arch;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a trial is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Planned, not yet handed to an evaluator.
    Pending,
    /// Being evaluated.
    Running,
    /// Evaluated; it has a reward.
    Complete,
    /// The evaluator failed; `error` says why.
    Failed,
}

/// The record of one evaluation of one architecture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trial {
    /// Sequential id within the study, in the order trials were planned.
    pub id: u64,
    /// The architecture.
    pub arch: Arch,
    /// Its cost under the study's cost model.
    pub cost: f64,
    /// State.
    pub state: TrialState,
    /// Reward, when complete.
    pub reward: Option<f64>,
    /// Other metrics the evaluator returned.
    pub metrics: BTreeMap<String, f64>,
    /// Why it failed, when failed.
    pub error: Option<String>,
    /// Index of the wave that planned it.
    pub wave: u32,
    /// Wall-clock seconds the evaluation took.
    pub seconds: f64,
}
