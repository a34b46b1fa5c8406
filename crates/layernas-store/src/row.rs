//! Converting trial fields to and from their stored form.

use layernas_core::limits::{cap_evaluation, cap_text};
use layernas_core::{Arch, Evaluation, Fidelity, Reported, StoreError, Trial, TrialState};
use std::collections::BTreeMap;

/// A trial row as both backends read it.
pub(crate) struct Row {
    pub id: i64,
    pub arch: String,
    pub cost: f64,
    pub wave: i64,
    pub state: String,
    pub reward: Option<f64>,
    pub metrics: Option<String>,
    pub error: Option<String>,
    pub worker: Option<String>,
    pub attempts: i64,
    pub seconds: Option<f64>,
    pub fidelity: String,
}

pub(crate) const COLUMNS: &str =
    "id, arch, cost, wave, state, reward, metrics, error, worker, attempts, seconds, fidelity";

/// A stored fidelity name, read back.
pub(crate) fn parse_fidelity(id: i64, name: &str) -> Result<Fidelity, StoreError> {
    Fidelity::parse(name)
        .ok_or_else(|| StoreError::Corrupt(format!("trial {id}: fidelity {name:?}")))
}

pub(crate) fn metrics_json(trial: &Trial) -> String {
    serde_json::to_string(&trial.metrics).expect("a map of numbers serializes")
}

impl Row {
    pub fn into_trial(self) -> Result<Trial, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("trial {}: {what}", self.id));
        let arch =
            Arch::from_key(&self.arch).ok_or_else(|| corrupt(format!("arch {:?}", self.arch)))?;
        let state = TrialState::parse(&self.state)
            .ok_or_else(|| corrupt(format!("state {:?}", self.state)))?;
        let fidelity = parse_fidelity(self.id, &self.fidelity)?;
        let metrics: BTreeMap<String, f64> = match &self.metrics {
            Some(text) => {
                serde_json::from_str(text).map_err(|e| corrupt(format!("metrics: {e}")))?
            }
            None => BTreeMap::new(),
        };
        Ok(Trial {
            id: self.id as u64,
            arch,
            fidelity,
            cost: self.cost,
            state,
            reward: self.reward,
            metrics,
            error: self.error,
            wave: self.wave as u32,
            seconds: self.seconds.unwrap_or(0.0),
            attempts: self.attempts as u32,
            worker: self.worker,
        })
    }
}

/// What a reported result writes: state, reward, metrics JSON, error, and the outcome. A failure
/// goes back to pending while the attempts made are below `max_attempts`.
pub(crate) struct ReportRow {
    pub state: &'static str,
    pub reward: Option<f64>,
    pub metrics: Option<String>,
    pub error: Option<String>,
    pub outcome: Reported,
}

pub(crate) fn report_row(
    result: Result<&Evaluation, &str>,
    attempts: u32,
    max_attempts: u32,
) -> ReportRow {
    match result {
        Ok(e) => ReportRow {
            state: "complete",
            reward: Some(e.reward),
            metrics: Some(
                serde_json::to_string(&cap_evaluation(e).metrics).expect("numbers serialize"),
            ),
            error: None,
            outcome: Reported::Complete,
        },
        Err(reason) => {
            let outcome = Reported::after_failure(attempts, max_attempts);
            ReportRow {
                state: if outcome == Reported::Retry {
                    "pending"
                } else {
                    "failed"
                },
                reward: None,
                metrics: None,
                error: Some(cap_text(reason)),
                outcome,
            }
        }
    }
}
