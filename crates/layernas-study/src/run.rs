//! The controller's run of a study: build its components ([`Search::build`]), take the
//! study's controller lease, run the executor, and compute the [`Outcome`] from the store.

use crate::outcome::{first_failure, CostInfo, Outcome, Points};
use crate::study::Study;
use crate::wiring::{build_evaluator, cost_model, load_table, open_store, Built, Space};
use crate::worker::hostname;
use crate::StudyError;
use layernas_core::{
    ControllerHold, CostModel, Executor, Lead, ProgressEvent, SearchSpace, Strategy, TrialStore,
};
use layernas_search::{build_strategy, LayerNas, PlanRow};
use layernas_tables::Nb201Table;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a controller runs: its lease on the study.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Take the study over from another controller whose lease has not expired.
    pub take_over: bool,
    /// Seconds the controller's hold lasts unless renewed (1 to 86400).
    pub controller_lease: f64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            take_over: false,
            controller_lease: 30.0,
        }
    }
}

/// What a run tells its caller while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// A message for the user (resuming, taking over).
    Notice(String),
    /// The executor's progress.
    Progress(&'a ProgressEvent),
    /// Trials are planned and wait for `layernas worker` processes (`workers = 0`).
    WaitingForWorkers,
}

/// The strategy of a search: LayerNAS is kept concrete for its per-layer statistics.
enum StudyStrategy {
    LayerNas(Box<LayerNas>),
    Baseline(Box<dyn Strategy>),
}

/// A study with its components built, ready to run.
pub struct Search {
    /// The study.
    pub study: Study,
    /// Its space.
    pub space: Arc<dyn SearchSpace>,
    /// Its cost model.
    pub cost: Arc<dyn CostModel>,
    /// Its evaluator.
    pub built: Built,
    table: Option<Arc<Nb201Table>>,
    strategy: StudyStrategy,
}

impl Search {
    /// Builds the study's space, cost model, evaluator and strategy.
    pub fn build(study: Study) -> Result<Search, StudyError> {
        let resolved = Space::resolve(&study.space, study.dataset)?;
        let cost = cost_model(&resolved, &study)?;
        let built = build_evaluator(&study, &resolved)?;
        // The benchmark's architecture index, where the space is the table's.
        let table = match &resolved {
            Space::Nb201(_) if built.table => Some(load_table(&study.data)?),
            _ => None,
        };
        let space = resolved.dyn_space();
        let strategy = strategy_of(&study, space.clone(), cost.clone())?;
        Ok(Search {
            study,
            space,
            cost,
            built,
            table,
            strategy,
        })
    }

    fn strategy(&self) -> &dyn Strategy {
        match &self.strategy {
            StudyStrategy::LayerNas(l) => l.as_ref(),
            StudyStrategy::Baseline(b) => b.as_ref(),
        }
    }

    /// The most trials the strategy can run.
    pub fn trial_bound(&self) -> u64 {
        self.strategy().trial_bound().unwrap_or(u64::MAX)
    }

    /// The paper's H*K*|S|*L bound (LayerNAS only).
    pub fn paper_bound(&self) -> Option<u64> {
        match &self.strategy {
            StudyStrategy::LayerNas(l) => Some(l.paper_bound()),
            StudyStrategy::Baseline(_) => None,
        }
    }

    /// What the reward and the test metric are: the table's columns, or `reward` and `test`.
    pub fn labels(&self) -> (String, String) {
        if self.built.table {
            (
                self.study.reward_column.clone(),
                self.study.test_column.clone(),
            )
        } else {
            ("reward".to_string(), "test".to_string())
        }
    }

    /// Runs the search as the study's controller, against its store, and returns the outcome.
    /// However it ends, the controller lease is released.
    pub fn run(
        mut self,
        options: &RunOptions,
        events: &(dyn Fn(&Event) + Sync),
    ) -> Result<Outcome, StudyError> {
        let started = Instant::now();
        let (mut store, resumed) = open_store(&self.study)?;
        if let Some(trials) = resumed {
            events(&Event::Notice(format!(
                "resuming study {} ({trials} trials stored)",
                self.study.study
            )));
        }
        let hold = lead(&mut *store, &self.study, options, events)?;
        // A resumed study is in progress again (workers waiting on it keep waiting).
        store.set_done(false)?;
        let outcome = self.execute(&mut *store, hold.clone(), events, started);
        // Let the next controller in at once, however this one ended.
        let _ = store.release_controller(&hold.study, hold.token);
        outcome
    }

    fn execute(
        &mut self,
        store: &mut dyn TrialStore,
        hold: ControllerHold,
        events: &(dyn Fn(&Event) + Sync),
        started: Instant,
    ) -> Result<Outcome, StudyError> {
        let progress = |event: &ProgressEvent| events(&Event::Progress(event));
        let bound = self.trial_bound();
        let paper_bound = self.paper_bound();
        let (reward_column, test_column) = self.labels();
        let study = &self.study;
        let executor = Executor {
            max_trials: study.max_trials,
            workers: study.workers,
            seed: study.strategies.scope.seed,
            retries: study.retries,
            trial_timeout: self.built.executor_timeout,
            worker_name: format!("controller:{}", std::process::id()),
            progress: Some(&progress),
            controller: Some(hold),
            ..Executor::new(&*self.space, &*self.cost, self.built.evaluator.clone())
        };
        if study.workers == 0 {
            events(&Event::WaitingForWorkers);
        }
        let strategy: &mut dyn Strategy = match &mut self.strategy {
            StudyStrategy::LayerNas(l) => l.as_mut(),
            StudyStrategy::Baseline(b) => b.as_mut(),
        };
        let summary = executor.run(strategy, store)?;
        // However the search ended (strategy done, budget spent, every trial failed), the study
        // is finished: workers waiting on it exit.
        store.set_done(true)?;

        let trials = store.trials()?;
        let index = self
            .table
            .clone()
            .map(|t| move |a: &layernas_core::Arch| t.index(a));
        let index_fn = index
            .as_ref()
            .map(|f| f as &dyn Fn(&layernas_core::Arch) -> u32);
        let points = Points::new(&*self.space, &*self.cost, &trials, index_fn);
        let best = strategy.best().map(|arch| {
            let reward = store
                .lookup(&arch)
                .ok()
                .flatten()
                .and_then(|t| t.reward)
                .unwrap_or(f64::NAN);
            points.point(&arch, reward)
        });
        let layers = match &self.strategy {
            StudyStrategy::LayerNas(l) => l.layer_stats().to_vec(),
            StudyStrategy::Baseline(_) => Vec::new(),
        };
        let outcome = Outcome {
            space: self.space.name().to_string(),
            dataset: study.dataset.name().to_string(),
            strategy: study.strategy.to_string(),
            cost: CostInfo {
                name: self.cost.name().to_string(),
                unit: self.cost.unit().to_string(),
            },
            reward_column,
            test_column,
            min_cost: study.strategies.scope.window.min,
            max_cost: study.strategies.scope.window.max,
            seed: study.strategies.scope.seed,
            config: study.strategies.layernas.clone(),
            trials: summary.trials,
            failed: summary.failed,
            first_failure: first_failure(&trials),
            trial_bound: bound,
            paper_bound,
            budget_exhausted: summary.budget_exhausted,
            best,
            front: points.front(&trials),
            layers,
            sim_seconds: self.built.has_sim_time.then(|| {
                trials
                    .iter()
                    .filter_map(|t| t.metrics.get("sim_seconds"))
                    .sum::<f64>()
            }),
            epochs: trials
                .iter()
                .any(|t| t.metrics.contains_key(layernas_core::EPOCHS_METRIC))
                .then_some(summary.epochs),
            low_fidelity_trials: trials
                .iter()
                .filter(|t| t.fidelity == layernas_core::Fidelity::Low)
                .count() as u64,
            elapsed_seconds: started.elapsed().as_secs_f64(),
        };
        Ok(outcome)
    }
}

fn strategy_of(
    study: &Study,
    space: Arc<dyn SearchSpace>,
    cost: Arc<dyn CostModel>,
) -> Result<StudyStrategy, StudyError> {
    Ok(if study.strategy == "layernas" {
        StudyStrategy::LayerNas(Box::new(study.layernas(space, cost)?))
    } else {
        StudyStrategy::Baseline(
            build_strategy(study.strategy.as_str(), &study.strategies, space, cost)
                .map_err(StudyError::input)?,
        )
    })
}

/// Whether `holder` (`host:pid`) names a process of this machine that no longer exists.
fn is_dead_here(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<libc::pid_t>() else {
        return false;
    };
    if host != hostname() || pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let failed = unsafe { libc::kill(pid, 0) } == -1;
    failed && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Takes the controller lease of the study (see `--take-over`), saying whom it replaced.
fn lead(
    store: &mut dyn TrialStore,
    study: &Study,
    options: &RunOptions,
    events: &(dyn Fn(&Event) + Sync),
) -> Result<ControllerHold, StudyError> {
    let holder = format!("{}:{}", hostname(), std::process::id());
    let token = rand::random::<i64>();
    let lease = options.controller_lease;
    let place = study.store.as_deref().unwrap_or("memory");
    let name = &study.study;
    let mut lead = store.acquire_controller(name, &holder, token, lease, options.take_over)?;
    if let Lead::Held(other) = &lead {
        // A controller of this machine that is gone (killed, crashed) holds nothing: resume at
        // once instead of waiting for its lease to expire.
        if is_dead_here(&other.holder) {
            events(&Event::Notice(format!(
                "taking over study {name} from controller {}, which is no longer running",
                other.holder
            )));
            lead = store.acquire_controller(name, &holder, token, lease, true)?;
            if let Lead::Acquired { .. } = lead {
                lead = Lead::Acquired { previous: None };
            }
        }
    }
    match lead {
        Lead::Held(other) => {
            return Err(StudyError::Run(format!(
                "study {name} in store {place} is being run by another controller, {} (its lease \
                 expires in {:.0} s unless renewed; it renews it while it runs): wait for it to \
                 finish, or rerun with --take-over if that process is dead",
                other.holder,
                other.expires_in.max(0.0)
            )))
        }
        Lead::Acquired {
            previous: Some(other),
        } => events(&Event::Notice(if other.expires_in > 0.0 {
            format!(
                "taking over study {name} from controller {} (--take-over; its lease had {:.0} s \
                 left: if it still runs, it stops at its next renewal)",
                other.holder, other.expires_in
            )
        } else {
            format!(
                "taking over study {name} from controller {}, whose lease expired {:.0} s ago",
                other.holder, -other.expires_in
            )
        })),
        Lead::Acquired { previous: None } => {}
    }
    Ok(ControllerHold {
        study: name.clone(),
        token,
        lease: Duration::from_secs_f64(lease),
    })
}

/// The LayerNAS plan of a study before any evaluation (`search --dry-run`).
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    /// Space name.
    pub space: String,
    /// Distinct models of the space (as text: it may exceed 2^64).
    pub models: String,
    /// Layers of the space.
    #[serde(skip)]
    pub layers: usize,
    /// Cost model.
    pub cost: CostInfo,
    /// Cost window: lowest acceptable cost.
    pub min_cost: Option<f64>,
    /// Cost window: highest acceptable cost.
    pub max_cost: Option<f64>,
    /// The seed of every strategy.
    pub seed: u64,
    /// LayerNAS knobs.
    pub config: layernas_search::LayerNasConfig,
    /// One row per layer.
    pub plan: Vec<PlanRow>,
    /// 1 default model + every layer's new children, at most.
    pub trial_bound: u64,
    /// The paper's H*K*|S|*L.
    pub paper_bound: u64,
}

impl PlanReport {
    /// The plan of `study` (LayerNAS only).
    pub fn of(study: &Study) -> Result<PlanReport, StudyError> {
        if study.strategy != "layernas" {
            return Err(StudyError::Input(format!(
                "--dry-run plans LayerNAS searches; strategy {} has no plan",
                study.strategy
            )));
        }
        let resolved = Space::resolve(&study.space, study.dataset)?;
        let cost = cost_model(&resolved, study)?;
        let space = resolved.dyn_space();
        let strategy = study.layernas(space.clone(), cost.clone())?;
        let plan = strategy.plan();
        Ok(PlanReport {
            space: space.name().to_string(),
            models: space.num_models().to_string(),
            layers: space.layers().len(),
            cost: CostInfo {
                name: cost.name().to_string(),
                unit: cost.unit().to_string(),
            },
            min_cost: study.strategies.scope.window.min,
            max_cost: study.strategies.scope.window.max,
            seed: study.strategies.scope.seed,
            config: study.strategies.layernas.clone(),
            trial_bound: 1 + plan.iter().map(|r| r.children).sum::<u64>(),
            plan,
            paper_bound: strategy.paper_bound(),
        })
    }
}
