use crate::{Arch, Fidelity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a trial is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Sequential id within the study, in the order trials were planned.
    pub id: u64,
    /// The architecture.
    pub arch: Arch,
    /// How thoroughly it is evaluated; a study holds at most one trial per (architecture,
    /// fidelity). Records written before fidelities existed read as full.
    #[serde(default)]
    pub fidelity: Fidelity,
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
    /// Wall-clock seconds the (last) evaluation took.
    pub seconds: f64,
    /// Evaluations started for this trial (retries and re-issued leases count).
    pub attempts: u32,
    /// Who evaluated it last.
    pub worker: Option<String>,
}

impl TrialState {
    /// Name as stores and exports write it.
    pub fn name(self) -> &'static str {
        match self {
            TrialState::Pending => "pending",
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Failed => "failed",
        }
    }

    /// Parses [`name`](TrialState::name).
    pub fn parse(name: &str) -> Option<TrialState> {
        match name {
            "pending" => Some(TrialState::Pending),
            "running" => Some(TrialState::Running),
            "complete" => Some(TrialState::Complete),
            "failed" => Some(TrialState::Failed),
            _ => None,
        }
    }

    /// Complete or failed: nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, TrialState::Complete | TrialState::Failed)
    }
}
