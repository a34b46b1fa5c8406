//! Helpers shared by the strategy test suites.

use layernas_core::{
    Arch, EvalError, Evaluation, Evaluator, Outcome, Strategy, Suggestion, TrialRequest,
};
use layernas_tables::TableEvaluator;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Counts evaluations per architecture; fails the architectures in `fail`.
pub struct Counting {
    pub inner: TableEvaluator,
    pub calls: Mutex<HashMap<Arch, usize>>,
    pub fail: HashSet<Arch>,
}

impl Counting {
    pub fn new(inner: TableEvaluator, fail: HashSet<Arch>) -> Self {
        Counting {
            inner,
            calls: Mutex::new(HashMap::new()),
            fail,
        }
    }

    /// The evaluation counts so far, leaving the counter empty.
    pub fn take_calls(&self) -> HashMap<Arch, usize> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl Evaluator for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn evaluate(&self, request: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(request.arch.clone())
            .or_default() += 1;
        if self.fail.contains(request.arch) {
            return Err(EvalError::Failed("injected".into()));
        }
        self.inner.evaluate(request)
    }
}

/// Records every architecture a strategy proposes.
pub struct Recording<'a, S: Strategy + ?Sized> {
    pub inner: &'a mut S,
    pub proposed: Vec<Arch>,
}

impl<'a, S: Strategy + ?Sized> Recording<'a, S> {
    pub fn new(inner: &'a mut S) -> Self {
        Recording {
            inner,
            proposed: Vec::new(),
        }
    }
}

impl<S: Strategy + ?Sized> Strategy for Recording<'_, S> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn trial_bound(&self) -> Option<u64> {
        self.inner.trial_bound()
    }
    fn suggest(&mut self) -> Suggestion {
        let s = self.inner.suggest();
        if let Suggestion::Wave(w) = &s {
            self.proposed.extend(w.archs.iter().cloned());
        }
        s
    }
    fn observe(&mut self, arch: &Arch, cost: f64, outcome: Outcome) {
        self.inner.observe(arch, cost, outcome)
    }
    fn best(&self) -> Option<Arch> {
        self.inner.best()
    }
}
