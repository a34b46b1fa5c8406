use crate::{Arch, Fidelity};

/// A batch of architectures whose evaluations are independent: they may run concurrently.
#[derive(Debug, Clone, PartialEq)]
pub struct Wave {
    /// For progress display, e.g. `layer 3/6`.
    pub label: String,
    /// The architectures, in the order their results will be observed.
    pub archs: Vec<Arch>,
    /// The fidelity every architecture of the wave is evaluated at ([`Fidelity::Full`] for
    /// single-fidelity strategies).
    pub fidelity: Fidelity,
}

/// What a strategy wants next.
#[derive(Debug, Clone, PartialEq)]
pub enum Suggestion {
    /// Evaluate these, then call [`Strategy::observe`] for each and ask again.
    Wave(Wave),
    /// The search is over.
    Done,
}

/// The result of one architecture's evaluation, as a strategy sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Evaluated; the reward (higher is better).
    Reward(f64),
    /// The evaluation failed; the strategy must go on without it.
    Failed,
}

/// A search strategy in ask/tell form: it decides, the [`Executor`](crate::Executor) acts.
///
/// A strategy is a deterministic function of its configuration (seed included) and of the
/// sequence of observations it receives, so replaying stored trials rebuilds its state exactly.
pub trait Strategy: Send {
    /// Name as the CLI spells it, e.g. `layernas`.
    fn name(&self) -> &str;

    /// An upper bound on distinct evaluations, stated before the search starts, when known.
    fn trial_bound(&self) -> Option<u64>;

    /// The next wave, or [`Suggestion::Done`].
    ///
    /// The executor observes every architecture of a wave (in wave order) before it asks again,
    /// unless the trial budget ran out.
    fn suggest(&mut self) -> Suggestion;

    /// Tells the strategy the outcome for one architecture of the current wave (at the wave's
    /// fidelity).
    fn observe(&mut self, arch: &Arch, cost: f64, outcome: Outcome);

    /// The answer under the strategy's selection rule and the study's cost window, if any
    /// evaluated architecture qualifies.
    fn best(&self) -> Option<Arch>;
}
