use crate::limits::{cap_evaluation, cap_text};
use crate::{
    Arch, Cancel, CostModel, EvalError, Evaluation, Evaluator, Fidelity, Outcome, Reported,
    SearchSpace, SpaceError, StoreError, Strategy, Suggestion, Trial, TrialRequest, TrialState,
    TrialStore, EPOCHS_METRIC,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Why a search run stopped with an error (a failed trial is not one: it is recorded).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The strategy proposed an architecture outside the space: a bug in the strategy.
    #[error("strategy {strategy} proposed an invalid architecture: {source}")]
    InvalidArch {
        /// Strategy name.
        strategy: String,
        /// The space's complaint.
        source: SpaceError,
    },
    /// The trial store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another controller took the study over (or this one could not renew its lease in time).
    #[error("lost control of study {study}: {why}; stopped (the trials recorded so far are kept)")]
    ControllerLost {
        /// Study name.
        study: String,
        /// What happened.
        why: String,
    },
}

/// The controller lease the executor holds on its study while it runs (taken with
/// [`TrialStore::acquire_controller`]); it renews it every third of `lease`.
#[derive(Debug, Clone)]
pub struct ControllerHold {
    /// Study name.
    pub study: String,
    /// The token the lease was taken with.
    pub token: i64,
    /// How long the lease lasts without renewal.
    pub lease: Duration,
}

/// Renews a [`ControllerHold`] on schedule; transient store errors are tolerated until the
/// lease would have run out.
struct Renewal<'h> {
    hold: &'h ControllerHold,
    last: Instant,
}

impl Renewal<'_> {
    fn due(&self) -> bool {
        self.last.elapsed() >= self.hold.lease / 3
    }

    /// Time left until the next renewal is due.
    fn wait(&self) -> Duration {
        (self.hold.lease / 3).saturating_sub(self.last.elapsed())
    }

    fn renew(&mut self, store: &mut dyn TrialStore) -> Result<(), ExecError> {
        let lost = |why: String| ExecError::ControllerLost {
            study: self.hold.study.clone(),
            why,
        };
        match store.renew_controller(
            &self.hold.study,
            self.hold.token,
            self.hold.lease.as_secs_f64(),
        ) {
            Ok(true) => {
                self.last = Instant::now();
                Ok(())
            }
            Ok(false) => Err(lost("another controller took it over".into())),
            Err(e) if self.last.elapsed() >= self.hold.lease => Err(lost(format!(
                "its lease could not be renewed for {:.0} s ({e})",
                self.hold.lease.as_secs_f64()
            ))),
            Err(_) => Ok(()),
        }
    }

    fn renew_if_due(&mut self, store: &mut dyn TrialStore) -> Result<(), ExecError> {
        if self.due() {
            self.renew(store)
        } else {
            Ok(())
        }
    }
}

/// Progress of a run, for bars and logs.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// A wave starts: `new` architectures will be evaluated, `reused` come from the store.
    WaveStarted {
        /// Wave index, from 0.
        index: u32,
        /// The strategy's label, e.g. `layer 2/6`.
        label: String,
        /// Architectures to evaluate now.
        new: usize,
        /// Architectures whose results were already stored.
        reused: usize,
    },
    /// One trial finished (complete or failed).
    TrialFinished {
        /// Trial id.
        id: u64,
        /// Its reward, if complete.
        reward: Option<f64>,
    },
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Trials in the study's store (failed ones included): distinct architectures, or distinct
    /// (architecture, fidelity) pairs in a multi-fidelity search.
    pub trials: u64,
    /// Evaluations this run performed or waited for (the rest were found in the store).
    pub evaluated_now: u64,
    /// Failed trials in the study.
    pub failed: u64,
    /// Waves the strategy proposed.
    pub waves: u32,
    /// True when the run stopped because the trial budget ran out.
    pub budget_exhausted: bool,
    /// Training epochs the study's trials spent: the sum of their `epochs` metric
    /// ([`EPOCHS_METRIC`]; 0 when the evaluator reports none).
    pub epochs: f64,
}

/// Training epochs spent by `trials`: the sum of their [`EPOCHS_METRIC`] metric.
pub fn epochs_spent(trials: &[Trial]) -> f64 {
    trials
        .iter()
        .filter_map(|t| t.metrics.get(EPOCHS_METRIC))
        .sum()
}

/// Runs a strategy to completion: asks for waves, plans what the store does not already hold as
/// pending trials, has them evaluated (here, by `workers` threads; or, with `workers == 0`, by
/// external workers claiming them from the store), writes each result as it arrives, and tells
/// the strategy the outcomes in wave order.
///
/// Because the strategy is replayed from the store, running the same study against the same
/// store again resumes it: stored results are reused, trials planned but unfinished keep their
/// ids, and nothing completed is evaluated again.
pub struct Executor<'a> {
    /// The search space; every proposed architecture is checked against it.
    pub space: &'a dyn SearchSpace,
    /// Cost model, for the trial records.
    pub cost: &'a dyn CostModel,
    /// Evaluator.
    pub evaluator: Arc<dyn Evaluator>,
    /// Most distinct architectures in the study.
    pub max_trials: Option<u64>,
    /// Evaluations run concurrently within a wave; 0 = external workers evaluate.
    pub workers: usize,
    /// Study seed; each trial gets a seed derived from it and its id.
    pub seed: u64,
    /// Extra attempts for a failed evaluation.
    pub retries: u32,
    /// Longest an evaluation may take.
    pub trial_timeout: Option<Duration>,
    /// How often to look at the store while external workers evaluate.
    pub poll: Duration,
    /// Name recorded as the worker of in-process evaluations.
    pub worker_name: String,
    /// Called on progress, possibly from worker threads.
    pub progress: Option<&'a (dyn Fn(&ProgressEvent) + Sync)>,
    /// The controller lease held on the study, renewed while the run goes on.
    pub controller: Option<ControllerHold>,
}

impl<'a> Executor<'a> {
    /// An executor with one worker, no budget, no retries, seed 0 and no progress reporting.
    pub fn new(
        space: &'a dyn SearchSpace,
        cost: &'a dyn CostModel,
        evaluator: Arc<dyn Evaluator>,
    ) -> Self {
        Executor {
            space,
            cost,
            evaluator,
            max_trials: None,
            workers: 1,
            seed: 0,
            retries: 0,
            trial_timeout: None,
            poll: Duration::from_millis(200),
            worker_name: "local".into(),
            progress: None,
            controller: None,
        }
    }

    fn emit(&self, event: ProgressEvent) {
        if let Some(progress) = self.progress {
            progress(&event);
        }
    }

    /// Runs `strategy` against `store` (whose study must be open) until it is done or the
    /// budget runs out.
    pub fn run(
        &self,
        strategy: &mut dyn Strategy,
        store: &mut dyn TrialStore,
    ) -> Result<RunSummary, ExecError> {
        let mut summary = RunSummary {
            trials: 0,
            evaluated_now: 0,
            failed: 0,
            waves: 0,
            budget_exhausted: false,
            epochs: 0.0,
        };
        let mut renewal = self.controller.as_ref().map(|hold| Renewal {
            hold,
            last: Instant::now(),
        });
        loop {
            if let Some(r) = &mut renewal {
                r.renew_if_due(store)?;
            }
            let wave = match strategy.suggest() {
                Suggestion::Done => break,
                Suggestion::Wave(wave) => wave,
            };
            let wave_index = summary.waves;
            summary.waves += 1;

            // Resolve what the store knows; plan the rest as pending trials, in one write. A
            // trial is identified by (architecture, fidelity): all of a wave's share its fidelity.
            let mut finished: HashMap<Arch, Trial> = HashMap::new();
            let mut todo: Vec<Trial> = Vec::new();
            let mut planned: Vec<Trial> = Vec::new();
            let mut in_wave: HashSet<&Arch> = HashSet::new();
            let mut next_id = store.next_id()?;
            for arch in &wave.archs {
                self.space
                    .check(arch)
                    .map_err(|source| ExecError::InvalidArch {
                        strategy: strategy.name().to_string(),
                        source,
                    })?;
                if !in_wave.insert(arch) {
                    continue;
                }
                match store.lookup_at(arch, wave.fidelity)? {
                    Some(t) if t.state.is_final() => {
                        finished.insert(arch.clone(), t);
                    }
                    Some(t) => todo.push(t),
                    None => {
                        if self.max_trials.is_some_and(|m| next_id >= m) {
                            summary.budget_exhausted = true;
                        } else {
                            let t = self.plan(next_id, arch, wave.fidelity, wave_index);
                            next_id += 1;
                            planned.push(t.clone());
                            todo.push(t);
                        }
                    }
                }
            }
            if !planned.is_empty() {
                store.enqueue(&planned)?;
            }
            self.emit(ProgressEvent::WaveStarted {
                index: wave_index,
                label: wave.label.clone(),
                new: todo.len(),
                reused: finished.len(),
            });

            let done = if self.workers == 0 {
                self.wait_for_workers(&todo, store, &mut renewal)?
            } else {
                self.evaluate_here(&todo, store, &mut renewal)?
            };
            summary.evaluated_now += done.len() as u64;
            for t in done {
                finished.insert(t.arch.clone(), t);
            }
            for arch in &wave.archs {
                if let Some(trial) = finished.get(arch) {
                    let outcome = match (trial.state, trial.reward) {
                        (TrialState::Complete, Some(r)) => Outcome::Reward(r),
                        _ => Outcome::Failed,
                    };
                    strategy.observe(arch, trial.cost, outcome);
                }
            }
            if summary.budget_exhausted {
                break;
            }
        }
        let all = store.trials()?;
        summary.trials = all.len() as u64;
        summary.failed = all.iter().filter(|t| t.state == TrialState::Failed).count() as u64;
        summary.epochs = epochs_spent(&all);
        Ok(summary)
    }

    fn plan(&self, id: u64, arch: &Arch, fidelity: Fidelity, wave: u32) -> Trial {
        Trial {
            id,
            arch: arch.clone(),
            fidelity,
            cost: self.cost.cost(arch),
            state: TrialState::Pending,
            reward: None,
            metrics: BTreeMap::new(),
            error: None,
            wave,
            seconds: 0.0,
            attempts: 0,
            worker: None,
        }
    }

    /// Evaluates `todo` on `workers` threads; the calling thread writes each start and result
    /// to the store as it arrives (and renews the controller lease). If it stops with an error,
    /// the evaluations in flight are cancelled.
    fn evaluate_here(
        &self,
        todo: &[Trial],
        store: &mut dyn TrialStore,
        renewal: &mut Option<Renewal<'_>>,
    ) -> Result<Vec<Trial>, ExecError> {
        if todo.is_empty() {
            return Ok(Vec::new());
        }
        enum Msg {
            Started(u64),
            Done(Box<Trial>),
        }
        let next = AtomicUsize::new(0);
        let stop = Cancel::new();
        let (tx, rx) = mpsc::channel::<Msg>();
        let threads = self.workers.min(todo.len()).max(1);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let tx = tx.clone();
                let next = &next;
                let stop = &stop;
                scope.spawn(move || loop {
                    if stop.is_cancelled() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(trial) = todo.get(i) else { break };
                    let mut trial = trial.clone();
                    let max_attempts = trial.attempts + self.retries + 1;
                    loop {
                        if tx.send(Msg::Started(trial.id)).is_err() {
                            return;
                        }
                        trial.attempts += 1;
                        let start = Instant::now();
                        let result = evaluate_guarded_at(
                            &self.evaluator,
                            trial.id,
                            &trial.arch,
                            trial.fidelity,
                            trial_seed(self.seed, trial.id),
                            self.trial_timeout,
                            stop,
                        );
                        trial.seconds = start.elapsed().as_secs_f64();
                        trial.worker = Some(self.worker_name.clone());
                        match result {
                            Ok(eval) => {
                                trial.state = TrialState::Complete;
                                trial.reward = Some(eval.reward);
                                trial.metrics = eval.metrics;
                                trial.error = None;
                                break;
                            }
                            Err(err) => {
                                trial.state = TrialState::Failed;
                                trial.error = Some(cap_text(&err.to_string()));
                                let outcome = Reported::after_failure(trial.attempts, max_attempts);
                                if outcome == Reported::Failed || stop.is_cancelled() {
                                    break;
                                }
                            }
                        }
                    }
                    if tx.send(Msg::Done(Box::new(trial))).is_err() {
                        return;
                    }
                });
            }
            drop(tx);
            let mut done = Vec::with_capacity(todo.len());
            let mut receive = || -> Result<(), ExecError> {
                loop {
                    let wait = renewal
                        .as_ref()
                        .map_or(Duration::from_secs(3600), Renewal::wait);
                    match rx.recv_timeout(wait.max(Duration::from_millis(1))) {
                        Ok(Msg::Started(id)) => store.start(id, &self.worker_name)?,
                        Ok(Msg::Done(trial)) => {
                            store.finish(&trial)?;
                            self.emit(ProgressEvent::TrialFinished {
                                id: trial.id,
                                reward: trial.reward,
                            });
                            done.push(*trial);
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                    }
                    if let Some(r) = renewal.as_mut() {
                        r.renew_if_due(store)?;
                    }
                }
            };
            let received = receive();
            if received.is_err() {
                stop.cancel();
            }
            received.map(|()| done)
        })
    }

    /// Waits until external workers have finished every trial of `todo`.
    fn wait_for_workers(
        &self,
        todo: &[Trial],
        store: &mut dyn TrialStore,
        renewal: &mut Option<Renewal<'_>>,
    ) -> Result<Vec<Trial>, ExecError> {
        let ids: Vec<u64> = todo.iter().map(|t| t.id).collect();
        let mut reported: HashSet<u64> = HashSet::new();
        let mut errors = 0;
        loop {
            if let Some(r) = renewal.as_mut() {
                r.renew_if_due(store)?;
            }
            // The store is shared with the workers: a transient error is retried.
            let trials = match store.get(&ids) {
                Ok(t) => {
                    errors = 0;
                    t
                }
                Err(e) if errors < 50 => {
                    errors += 1;
                    let _ = e;
                    std::thread::sleep(self.poll);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for t in trials.iter().filter(|t| t.state.is_final()) {
                if reported.insert(t.id) {
                    self.emit(ProgressEvent::TrialFinished {
                        id: t.id,
                        reward: t.reward,
                    });
                }
            }
            if trials.len() == ids.len() && trials.iter().all(|t| t.state.is_final()) {
                return Ok(trials);
            }
            std::thread::sleep(self.poll);
        }
    }
}

/// Runs one evaluation, turning a panic, a non-finite reward or (with `timeout`) an overrun into
/// an [`EvalError`]; the error text and the metrics are bounded ([`crate::limits`]). A timed-out
/// evaluation is cancelled ([`Evaluator::evaluate_cancellable`]) and left to stop on its thread;
/// setting `cancel` stops it too (the result is then [`EvalError::Cancelled`]).
pub fn evaluate_guarded(
    evaluator: &Arc<dyn Evaluator>,
    id: u64,
    arch: &Arch,
    seed: u64,
    timeout: Option<Duration>,
    cancel: &Cancel,
) -> Result<Evaluation, EvalError> {
    evaluate_guarded_at(evaluator, id, arch, Fidelity::Full, seed, timeout, cancel)
}

/// [`evaluate_guarded`] at `fidelity`.
pub fn evaluate_guarded_at(
    evaluator: &Arc<dyn Evaluator>,
    id: u64,
    arch: &Arch,
    fidelity: Fidelity,
    seed: u64,
    timeout: Option<Duration>,
    cancel: &Cancel,
) -> Result<Evaluation, EvalError> {
    let run = move |evaluator: &dyn Evaluator, arch: &Arch, cancel: &Cancel| {
        let request = TrialRequest {
            id,
            arch,
            seed,
            fidelity,
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            evaluator.evaluate_cancellable(&request, cancel)
        }))
        .unwrap_or_else(|panic| {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(EvalError::Crashed(text))
        })
    };
    let result = match timeout {
        None => run(&**evaluator, arch, cancel),
        Some(limit) => {
            let (tx, rx) = mpsc::channel();
            let evaluator = evaluator.clone();
            let arch = arch.clone();
            let mine = cancel.child();
            let theirs = mine.clone();
            std::thread::spawn(move || {
                let _ = tx.send(run(&*evaluator, &arch, &theirs));
            });
            rx.recv_timeout(limit).unwrap_or_else(|_| {
                mine.cancel();
                Err(EvalError::Timeout(limit.as_secs_f64()))
            })
        }
    };
    match result {
        Ok(e) if !e.reward.is_finite() => Err(EvalError::NonFinite(e.reward)),
        Ok(e) => Ok(cap_evaluation(&e)),
        Err(EvalError::Failed(text)) => Err(EvalError::Failed(cap_text(&text))),
        Err(EvalError::Crashed(text)) => Err(EvalError::Crashed(cap_text(&text))),
        Err(e) => Err(e),
    }
}

/// Rebuilds a strategy from a study's stored trials without evaluating or writing anything:
/// waves are observed while every architecture of them has a final stored trial; the replay
/// stops after the first wave that is not finished (in progress, or cut by the trial budget).
/// Returns the waves replayed. The strategy's [`best`](Strategy::best) is then the study's
/// answer so far, as the search reports it.
pub fn replay(strategy: &mut dyn Strategy, trials: &[Trial]) -> u32 {
    let by_arch: HashMap<(&Arch, Fidelity), &Trial> =
        trials.iter().map(|t| ((&t.arch, t.fidelity), t)).collect();
    let mut waves = 0;
    while let Suggestion::Wave(wave) = strategy.suggest() {
        waves += 1;
        let mut complete = true;
        for arch in &wave.archs {
            match by_arch.get(&(arch, wave.fidelity)) {
                Some(t) if t.state.is_final() => {
                    let outcome = match (t.state, t.reward) {
                        (TrialState::Complete, Some(r)) => Outcome::Reward(r),
                        _ => Outcome::Failed,
                    };
                    strategy.observe(arch, t.cost, outcome);
                }
                _ => complete = false,
            }
        }
        if !complete {
            break;
        }
    }
    waves
}

/// The seed of trial `id` in a study seeded with `seed` (SplitMix64 of both).
pub fn trial_seed(seed: u64, id: u64) -> u64 {
    let mut z = seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
