use crate::{Arch, Fidelity};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What an evaluator is asked to do: one trial.
#[derive(Debug, Clone)]
pub struct TrialRequest<'a> {
    /// Trial id within the study.
    pub id: u64,
    /// The architecture to evaluate.
    pub arch: &'a Arch,
    /// Seed for anything random in the evaluation (training order, initialisation).
    pub seed: u64,
    /// How thoroughly to evaluate: an evaluator with a cheaper mode runs it for
    /// [`Fidelity::Low`]; one without treats both alike.
    pub fidelity: Fidelity,
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
    /// The evaluation stopped because it was cancelled (timeout, lost lease).
    #[error("cancelled")]
    Cancelled,
}

/// A request to stop an evaluation early, shared between whoever gives up on it (the trial
/// timeout, a worker that lost its lease, a controller that stops) and the evaluation, which
/// checks it cooperatively (the built-in trainer: once per batch) and then returns
/// [`EvalError::Cancelled`]. A [`child`](Cancel::child) is cancelled with its parent.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    flag: AtomicBool,
    parent: Option<Cancel>,
}

impl Cancel {
    /// A flag not yet set.
    pub fn new() -> Self {
        Cancel::default()
    }

    /// A flag set by [`cancel`](Cancel::cancel) on it or on `self`.
    pub fn child(&self) -> Cancel {
        Cancel(Arc::new(CancelInner {
            flag: AtomicBool::new(false),
            parent: Some(self.clone()),
        }))
    }

    /// Asks the evaluation to stop.
    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
    }

    /// Whether stopping was asked for (here or by a parent).
    pub fn is_cancelled(&self) -> bool {
        self.0.flag.load(Ordering::SeqCst)
            || self.0.parent.as_ref().is_some_and(Cancel::is_cancelled)
    }
}

/// Measures the reward of an architecture: expensive and fallible.
pub trait Evaluator: Send + Sync {
    /// Name for display, e.g. `table:cifar10_valid`.
    fn name(&self) -> &str;

    /// Evaluates one trial.
    fn evaluate(&self, request: &TrialRequest<'_>) -> Result<Evaluation, EvalError>;

    /// Evaluates one trial, stopping early once `cancel` is set (the result is then discarded).
    /// Long evaluations override it; the default ignores `cancel` and runs to the end.
    fn evaluate_cancellable(
        &self,
        request: &TrialRequest<'_>,
        cancel: &Cancel,
    ) -> Result<Evaluation, EvalError> {
        let _ = cancel;
        self.evaluate(request)
    }
}
