//! What a study produced, computed from the store: the answer inside the cost window, the
//! front, the per-layer statistics ([`Outcome`], what `search` prints and writes as JSON), the
//! status of stored studies ([`StudyStatus`]) and their trials as rows ([`TrialRow`]).

use crate::study::Study;
use crate::wiring::{build_study_strategy, cost_model, open_existing_store, select_stored, Space};
use crate::StudyError;
use layernas_core::limits::cap_text;
use layernas_core::{
    now, pareto_front, Arch, CostModel, Fidelity, SearchSpace, Trial, TrialState, TrialStore,
};
use layernas_search::{LayerNasConfig, LayerStats};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One model of an outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// The architecture, as the space writes it.
    pub arch: String,
    /// Its cost.
    pub cost: f64,
    /// Its reward (validation accuracy).
    pub reward: f64,
    /// Its test accuracy, where the evaluator reports one.
    pub test: Option<f64>,
    /// The benchmark table's index of the architecture.
    pub index: Option<u32>,
}

/// Cost model name and unit.
#[derive(Debug, Clone, Serialize)]
pub struct CostInfo {
    /// The cost model's name (`flops`, `madds`, ...).
    pub name: String,
    /// Its unit (`MFLOPs`, ...).
    pub unit: String,
}

/// The outcome of a search: what `search` prints, and writes with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Space name.
    pub space: String,
    /// Data set name.
    pub dataset: String,
    /// Strategy name.
    pub strategy: String,
    /// Cost model.
    pub cost: CostInfo,
    /// What the reward is (a table column, or `reward`).
    pub reward_column: String,
    /// What the test accuracy is (a table column, or `test`).
    pub test_column: String,
    /// Cost window: lowest acceptable cost.
    pub min_cost: Option<f64>,
    /// Cost window: highest acceptable cost.
    pub max_cost: Option<f64>,
    /// The seed of every strategy.
    pub seed: u64,
    /// LayerNAS knobs.
    pub config: LayerNasConfig,
    /// Trials evaluated by this run.
    pub trials: u64,
    /// Of which failed.
    pub failed: u64,
    /// The reason the first failed trial gave (the rest: `layernas export`).
    pub first_failure: Option<String>,
    /// The strategy's trial bound.
    pub trial_bound: u64,
    /// The paper's H*K*|S|*L bound (LayerNAS only).
    pub paper_bound: Option<u64>,
    /// Whether `max_trials` stopped the search.
    pub budget_exhausted: bool,
    /// The answer: the strategy's best inside the cost window.
    pub best: Option<Point>,
    /// The cost/reward Pareto front of every completed trial, by cost.
    pub front: Vec<Point>,
    /// LayerNAS's per-layer statistics.
    pub layers: Vec<LayerStats>,
    /// Training time the trials would have cost (NATS-Bench timings), when the table has it.
    pub sim_seconds: Option<f64>,
    /// Training epochs the trials spent (their `epochs` metric), when the evaluator reports
    /// them.
    pub epochs: Option<f64>,
    /// Trials at low fidelity (multi-fidelity search); the rest are full-fidelity ones.
    pub low_fidelity_trials: u64,
    /// Wall-clock seconds of the run.
    pub elapsed_seconds: f64,
}

impl Outcome {
    /// The error of a search whose every trial failed (after its outcome is shown).
    pub fn every_trial_failed(&self) -> Option<StudyError> {
        (self.trials > 0 && self.failed == self.trials).then(|| {
            StudyError::Run(format!(
                "every trial failed ({} of {}); first failure: {}",
                self.failed,
                self.trials,
                self.first_failure.as_deref().unwrap_or("-")
            ))
        })
    }
}

/// Turns stored trials into [`Point`]s: the space's notation, the cost model's cost, the
/// trial's test metric and (on the benchmark table) the architecture's index.
pub struct Points<'a> {
    space: &'a dyn SearchSpace,
    cost: &'a dyn CostModel,
    test: HashMap<&'a Arch, f64>,
    index: Option<&'a dyn Fn(&Arch) -> u32>,
}

impl<'a> Points<'a> {
    /// Points of `trials`.
    pub fn new(
        space: &'a dyn SearchSpace,
        cost: &'a dyn CostModel,
        trials: &'a [Trial],
        index: Option<&'a dyn Fn(&Arch) -> u32>,
    ) -> Self {
        // Answers and fronts are full-fidelity results: a low-fidelity trial's test accuracy is
        // not its model's.
        let test = trials
            .iter()
            .filter(|t| t.fidelity == Fidelity::Full)
            .filter_map(|t| t.metrics.get("test").map(|v| (&t.arch, *v)))
            .collect();
        Points {
            space,
            cost,
            test,
            index,
        }
    }

    /// The point of `arch` with `reward`.
    pub fn point(&self, arch: &Arch, reward: f64) -> Point {
        Point {
            arch: self.space.format(arch),
            cost: self.cost.cost(arch),
            reward,
            test: self.test.get(arch).copied(),
            index: self.index.map(|f| f(arch)),
        }
    }

    /// The cost/reward Pareto front of the completed full-fidelity trials, by cost.
    pub fn front(&self, trials: &[Trial]) -> Vec<Point> {
        let complete: Vec<&Trial> = trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.fidelity == Fidelity::Full)
            .collect();
        let points: Vec<(f64, f64)> = complete
            .iter()
            .map(|t| (t.cost, t.reward.unwrap_or(f64::NEG_INFINITY)))
            .collect();
        pareto_front(&points)
            .into_iter()
            .map(|i| self.point(&complete[i].arch, points[i].1))
            .collect()
    }
}

/// The reason the first failed trial gave, bounded.
pub fn first_failure(trials: &[Trial]) -> Option<String> {
    trials
        .iter()
        .filter(|t| t.state == TrialState::Failed)
        .find_map(|t| t.error.as_deref().map(cap_text))
}

/// A stored study's answer, as its search reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The architecture, in the space's notation.
    pub arch: String,
    /// Its reward.
    pub reward: f64,
    /// Its cost.
    pub cost: f64,
}

/// The stored study's answer as its search reports it: the strategy is rebuilt from the stored
/// configuration and replayed over the stored trials, so the cost window and the selection rule
/// apply. `None` when no trial qualifies; an error when the configuration cannot be rebuilt.
pub fn stored_answer(
    name: &str,
    config: Option<&str>,
    trials: &[Trial],
) -> Result<Option<Answer>, StudyError> {
    let config = config.ok_or_else(|| StudyError::Input("no stored configuration".into()))?;
    let study = Study::from_stored(name, config)?;
    let space = Space::resolve(&study.space, study.dataset)?;
    let cost = cost_model(&space, &study)?;
    let space = space.dyn_space();
    let mut strategy = build_study_strategy(&study, space.clone(), cost)?;
    layernas_core::replay(&mut *strategy, trials);
    Ok(strategy.best().and_then(|arch| {
        let t = trials
            .iter()
            .find(|t| t.arch == arch && t.fidelity == Fidelity::Full)?;
        Some(Answer {
            arch: space.format(&arch),
            reward: t.reward?,
            cost: t.cost,
        })
    }))
}

/// The controller holding a study.
#[derive(Debug, Clone, Serialize)]
pub struct ControllerInfo {
    /// `host:pid` of the controller.
    pub holder: String,
    /// Seconds until its lease expires unless renewed.
    pub lease_expires_in: f64,
}

/// A failed trial, or one that failed and waits for its retry.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Trial id.
    pub id: u64,
    /// Architecture key.
    pub arch: String,
    /// Trial state.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// The error text (bounded).
    pub error: Option<String>,
}

/// The status of one stored study (`layernas status`).
#[derive(Debug, Clone, Serialize)]
pub struct StudyStatus {
    /// Study name.
    pub study: String,
    /// Whether its controller finished it (`None`: not marked either way).
    pub done: Option<bool>,
    /// The controller holding it, while its lease lasts.
    pub controller: Option<ControllerInfo>,
    /// Trials stored.
    pub trials: usize,
    /// Waves planned.
    pub waves: u32,
    /// Trials by state.
    pub pending: usize,
    /// Trials being evaluated.
    pub running: usize,
    /// Trials complete.
    pub complete: usize,
    /// Trials failed for good.
    pub failed: usize,
    /// The answer's reward.
    pub best_reward: Option<f64>,
    /// The answer.
    pub best: Option<Answer>,
    /// Why the answer could not be rebuilt, if it could not.
    pub best_note: Option<String>,
    /// Failed trials, with their errors.
    pub failures: Vec<Failure>,
}

/// A worker as the store last saw it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerInfo {
    /// Its name.
    pub name: String,
    /// Seconds since it last reported or claimed.
    pub seconds_since_seen: f64,
    /// Trials it reported.
    pub trials: u64,
}

/// The status of the studies of a store (all, or `only` one) and of its workers.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStatus {
    /// One entry per study.
    pub studies: Vec<StudyStatus>,
    /// The store's workers.
    pub workers: Vec<WorkerInfo>,
}

impl StoreStatus {
    /// Reads the status of the store at `url` (never creating it).
    pub fn read(url: &str, only: Option<&str>) -> Result<StoreStatus, StudyError> {
        let mut store = open_existing_store(url)?;
        let names = match only {
            Some(s) => vec![s.to_string()],
            None => store.studies()?,
        };
        let mut studies = Vec::new();
        for name in &names {
            studies.push(study_status(url, name, &mut *store)?);
        }
        let workers = store
            .workers()?
            .into_iter()
            .map(|(name, seen, trials)| WorkerInfo {
                name,
                seconds_since_seen: (now() - seen).max(0.0),
                trials,
            })
            .collect();
        Ok(StoreStatus { studies, workers })
    }
}

/// The status of stored study `name`.
pub fn study_status(
    url: &str,
    name: &str,
    store: &mut dyn TrialStore,
) -> Result<StudyStatus, StudyError> {
    select_stored(url, name, store)?;
    let trials = store.trials()?;
    let mut by_state: HashMap<&str, usize> = HashMap::new();
    for t in &trials {
        *by_state.entry(t.state.name()).or_default() += 1;
    }
    let count = |s: &str| by_state.get(s).copied().unwrap_or(0);
    let failures = trials
        .iter()
        .filter(|t| t.state == TrialState::Failed || (t.error.is_some() && !t.state.is_final()))
        .map(|t| Failure {
            id: t.id,
            arch: t.arch.key(),
            state: t.state.name().to_string(),
            attempts: t.attempts,
            error: t.error.as_deref().map(cap_text),
        })
        .collect();
    let config = store.study_config(name)?;
    let (best, best_note) = match stored_answer(name, config.as_deref(), &trials) {
        Ok(best) => (best, None),
        Err(e) => (
            None,
            Some(format!("the study's answer cannot be rebuilt: {e}")),
        ),
    };
    let controller = store
        .controller(name)?
        .filter(|c| c.expires_in > 0.0)
        .map(|c| ControllerInfo {
            holder: c.holder,
            lease_expires_in: c.expires_in,
        });
    Ok(StudyStatus {
        study: name.to_string(),
        done: store.is_done(name)?,
        controller,
        trials: trials.len(),
        waves: trials.iter().map(|t| t.wave).max().map_or(0, |w| w + 1),
        pending: count("pending"),
        running: count("running"),
        complete: count("complete"),
        failed: count("failed"),
        best_reward: best.as_ref().map(|b| b.reward),
        best,
        best_note,
        failures,
    })
}

/// One stored trial, as `export` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    /// Trial id.
    pub id: u64,
    /// Architecture in the space's notation (its key if the space cannot be rebuilt).
    pub arch: String,
    /// Architecture key.
    pub key: String,
    /// State.
    pub state: &'static str,
    /// Cost.
    pub cost: f64,
    /// Reward.
    pub reward: Option<f64>,
    /// Metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Wave.
    pub wave: u32,
    /// Attempts.
    pub attempts: u32,
    /// Worker that evaluated it last.
    pub worker: Option<String>,
    /// Seconds of its last evaluation.
    pub seconds: f64,
    /// Error text.
    pub error: Option<String>,
    /// Fidelity (`full`, or `low` for a multi-fidelity search's screening).
    pub fidelity: &'static str,
}

/// Every trial of stored study `name`, formatted the way its space writes architectures (the
/// key if the space cannot be rebuilt, e.g. a space file that moved).
pub fn trial_rows(url: &str, name: &str) -> Result<Vec<TrialRow>, StudyError> {
    let mut store = open_existing_store(url)?;
    select_stored(url, name, &mut *store)?;
    let space = store
        .study_config(name)
        .ok()
        .flatten()
        .and_then(|c| Study::from_stored(name, &c).ok())
        .and_then(|s| Space::resolve(&s.space, s.dataset).ok())
        .map(|s| s.dyn_space());
    let format = |a: &Arch| space.as_ref().map_or_else(|| a.key(), |s| s.format(a));
    Ok(store
        .trials()?
        .into_iter()
        .map(|t| TrialRow {
            id: t.id,
            arch: format(&t.arch),
            key: t.arch.key(),
            state: t.state.name(),
            cost: t.cost,
            reward: t.reward,
            metrics: t.metrics.into_iter().collect(),
            wave: t.wave,
            attempts: t.attempts,
            worker: t.worker,
            seconds: t.seconds,
            error: t.error,
            fidelity: t.fidelity.name(),
        })
        .collect())
}

/// Trials as `layernas export --format csv` writes them: the fixed columns, then one column per
/// metric name (sorted). `layernas export` and the dashboard's download both write this.
pub fn trials_csv(rows: &[TrialRow]) -> Result<String, StudyError> {
    let fail = |e: &dyn std::fmt::Display| StudyError::Run(format!("cannot write CSV: {e}"));
    let mut metric_names: Vec<&String> = rows.iter().flat_map(|t| t.metrics.keys()).collect();
    metric_names.sort();
    metric_names.dedup();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "id", "arch", "key", "state", "cost", "reward", "wave", "attempts", "worker", "seconds",
        "error", "fidelity",
    ];
    header.extend(metric_names.iter().map(|m| m.as_str()));
    w.write_record(&header).map_err(|e| fail(&e))?;
    for t in rows {
        let mut row = vec![
            t.id.to_string(),
            t.arch.clone(),
            t.key.clone(),
            t.state.to_string(),
            t.cost.to_string(),
            t.reward.map_or(String::new(), |r| r.to_string()),
            t.wave.to_string(),
            t.attempts.to_string(),
            t.worker.clone().unwrap_or_default(),
            t.seconds.to_string(),
            t.error.clone().unwrap_or_default(),
            t.fidelity.to_string(),
        ];
        row.extend(
            metric_names
                .iter()
                .map(|m| t.metrics.get(*m).map_or(String::new(), |v| v.to_string())),
        );
        w.write_record(&row).map_err(|e| fail(&e))?;
    }
    let bytes = w.into_inner().map_err(|e| fail(&e))?;
    String::from_utf8(bytes).map_err(|e| fail(&e))
}
