use crate::Arch;
use std::collections::BTreeMap;

/// What an evaluator is asked to do: one trial.
#[derive(Debug, Clone)]
pub struct TrialRequest<'a> {
    /// Trial id within the study.
    pub id: u64,
    /// The architecture to evaluate.
    pub arch: &'a Arch,
    /// Seed for anything random in the evaluation (training order, initialisation).
    pub seed: u64,
}

/// A successful evaluation: the reward (higher is better) and any other metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The reward the search maximises, e.g. validation accuracy.
    pub reward: f64,
    /// Other metrics, e.g. `test` accuracy or `sim_seconds` of training.
    pub metrics: BTreeMap<String, f64>,
}

/// Why an evaluation failed. A failed trial is data, not a crash.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The evaluator ran and reported a failure.
    #[error("evaluation failed: {0}")]
    Failed(String),
    /// The reward was NaN or infinite.
    #[error("non-finite reward {0}")]
    NonFinite(f64),
    /// The evaluation ran past the trial timeout.
    #[error("timed out after {0} s")]
    Timeout(f64),
    /// The evaluator panicked.
    #[error("evaluator crashed: {0}")]
    Crashed(String),
}

/// Measures the reward of an architecture: expensive and fallible.
pub trait Evaluator: Send + Sync {
    /// Name for display, e.g. `table:cifar10_valid`.
    fn name(&self) -> &str;

    /// Evaluates one trial.
    fn evaluate(&self, request: &TrialRequest<'_>) -> Result<Evaluation, EvalError>;
}
