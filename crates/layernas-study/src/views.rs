//! What a viewer of a stored study shows (the dashboard): the study's configuration and
//! bounds, its trials as `export` writes them, its front with trial ids, LayerNAS's progress
//! per layer and the answer, computed once from a read-only snapshot of the store
//! ([`StudyView::build`]); and one trial's network layer by layer ([`NetworkLayer`]).

use crate::outcome::{Answer, CostInfo, TrialRow};
use crate::study::Study;
use crate::wiring::{build_study_strategy, cost_model, load_table, Space};
use crate::StudyError;
use layernas_core::{
    pareto_front, replay, Arch, CostModel, SearchSpace, Strategy, Trial, TrialState,
};
use layernas_search::{LayerStats, PlanRow};
use layernas_spaces::network::{LayerCost, Op};
use layernas_store::{StudySnapshot, StudyVersion, TrialTimes};
use serde::Serialize;
use std::sync::Arc;

/// A stored study's configuration, as a viewer shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StudyInfo {
    /// Space name (as the space names itself).
    pub space: String,
    /// Data set.
    pub dataset: String,
    /// Strategy.
    pub strategy: String,
    /// Cost model.
    pub cost: CostInfo,
    /// Cost window: lowest acceptable cost.
    pub min_cost: Option<f64>,
    /// Cost window: highest acceptable cost.
    pub max_cost: Option<f64>,
    /// What the reward is (a table column, or `reward`).
    pub reward_column: String,
    /// What the test metric is (a table column, or `test`).
    pub test_column: String,
    /// The trial budget.
    pub max_trials: Option<u64>,
    /// The strategy's trial bound (`None`: unbounded).
    pub trial_bound: Option<u64>,
    /// The paper's H*K*|S|*L bound (LayerNAS only).
    pub paper_bound: Option<u64>,
}

/// Trials of a study by state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Trials stored.
    pub trials: usize,
    /// Waiting for evaluation.
    pub pending: usize,
    /// Being evaluated.
    pub running: usize,
    /// Complete.
    pub complete: usize,
    /// Failed for good.
    pub failed: usize,
    /// Waves planned.
    pub waves: u32,
}

/// The answer of a study with its trial id.
#[derive(Debug, Clone, Serialize)]
pub struct BestTrial {
    /// Trial id.
    pub id: u64,
    /// The answer as `status` gives it.
    #[serde(flatten)]
    pub answer: Answer,
}

/// A point of the front, with its trial.
#[derive(Debug, Clone, Serialize)]
pub struct FrontPoint {
    /// Trial id.
    pub id: u64,
    /// Architecture, in the space's notation.
    pub arch: String,
    /// Cost (as stored with the trial).
    pub cost: f64,
    /// Reward.
    pub reward: f64,
    /// Test metric, where reported.
    pub test: Option<f64>,
}

/// One layer of a LayerNAS study: its plan (bounds before any evaluation) and, once the
/// search reached it, what happened.
#[derive(Debug, Clone, Serialize)]
pub struct LayerProgress {
    /// The plan row.
    pub plan: PlanRow,
    /// The statistics, once the layer is searched.
    pub stats: Option<LayerStats>,
}

/// A trial as a viewer shows it: the row `export` writes, plus its timing.
#[derive(Debug, Clone, Serialize)]
pub struct TrialView {
    /// The exported row.
    #[serde(flatten)]
    pub row: TrialRow,
    /// When its last evaluation ended (Unix seconds).
    pub finished_at: Option<f64>,
    /// Its lease's last heartbeat or start (Unix seconds).
    pub heartbeat_at: Option<f64>,
}

/// Everything a viewer shows of one stored study, computed from one snapshot.
#[derive(Clone, Serialize)]
pub struct StudyView {
    /// Study name.
    pub study: String,
    /// The stored configuration (the study file, as JSON).
    pub config: serde_json::Value,
    /// Whether its controller marked it finished.
    pub done: bool,
    /// Created (Unix seconds).
    pub created_at: f64,
    /// The last finish or heartbeat of any trial (Unix seconds), else the creation time.
    pub last_activity: f64,
    /// The configuration as rebuilt (`None` when it cannot be: see `note`).
    pub info: Option<StudyInfo>,
    /// Why the configuration could not be rebuilt (e.g. a space file that moved).
    pub note: Option<String>,
    /// Trials by state.
    pub counts: Counts,
    /// The answer, as `status` reports it.
    pub best: Option<BestTrial>,
    /// The cost/reward Pareto front of the completed trials, by cost.
    pub front: Vec<FrontPoint>,
    /// LayerNAS's layers (empty for other strategies).
    pub layers: Vec<LayerProgress>,
    /// Every trial, by id (architectures are formatted only when asked: [`StudyView::row`]).
    #[serde(skip)]
    pub trials: Vec<Trial>,
    /// Their bookkeeping, in the same order.
    #[serde(skip)]
    pub times: Vec<TrialTimes>,
    /// The snapshot's version.
    #[serde(skip)]
    pub version: StudyVersion,
    #[serde(skip)]
    space: Option<Space>,
    #[serde(skip)]
    dyn_space: Option<Arc<dyn SearchSpace>>,
}

struct Rebuilt {
    info: StudyInfo,
    space: Space,
    dyn_space: Arc<dyn SearchSpace>,
    best: Option<Arch>,
    layers: Vec<LayerProgress>,
}

fn rebuild(
    name: &str,
    config: &str,
    trials: &[layernas_core::Trial],
) -> Result<Rebuilt, StudyError> {
    let study = Study::from_stored(name, config)?;
    let space = Space::resolve(&study.space, study.dataset)?;
    let cost: Arc<dyn CostModel> = cost_model(&space, &study)?;
    let dyn_space = space.dyn_space();
    let table = matches!(space, Space::Nb201(_))
        && study.evaluator_kind() == Some(crate::study::EvaluatorKind::Table);
    let (best, layers, trial_bound, paper_bound) = if study.strategy == "layernas" {
        let mut l = study.layernas(dyn_space.clone(), cost.clone())?;
        let bound = l.trial_bound();
        let plan = l.plan();
        let paper = l.paper_bound();
        replay(&mut l, trials);
        let stats = l.layer_stats();
        let layers = plan
            .into_iter()
            .enumerate()
            .map(|(i, plan)| LayerProgress {
                plan,
                stats: stats.get(i).cloned(),
            })
            .collect();
        (l.best(), layers, bound, Some(paper))
    } else {
        let mut s = build_study_strategy(&study, dyn_space.clone(), cost.clone())?;
        let bound = s.trial_bound();
        replay(&mut *s, trials);
        (s.best(), Vec::new(), bound, None)
    };
    let (reward_column, test_column) = if table {
        (study.reward_column.clone(), study.test_column.clone())
    } else {
        ("reward".to_string(), "test".to_string())
    };
    Ok(Rebuilt {
        info: StudyInfo {
            space: dyn_space.name().to_string(),
            dataset: study.dataset.name().to_string(),
            strategy: study.strategy.to_string(),
            cost: CostInfo {
                name: cost.name().to_string(),
                unit: cost.unit().to_string(),
            },
            min_cost: study.strategies.scope.window.min,
            max_cost: study.strategies.scope.window.max,
            reward_column,
            test_column,
            max_trials: study.max_trials,
            trial_bound: trial_bound.filter(|&b| b != u64::MAX),
            paper_bound,
        },
        space,
        dyn_space,
        best,
        layers,
    })
}

impl StudyView {
    /// The view of a snapshot. A configuration that cannot be rebuilt (a space file that
    /// moved, a table directory gone) still gives the trials, by architecture key, with a
    /// `note` saying why.
    pub fn build(snapshot: StudySnapshot) -> StudyView {
        let StudySnapshot {
            study,
            trials,
            times,
            version,
        } = snapshot;
        let (rebuilt, note) = match rebuild(&study.name, &study.config, &trials) {
            Ok(r) => (Some(r), None),
            Err(e) => (
                None,
                Some(format!(
                    "the study cannot be rebuilt from its stored configuration: {e}"
                )),
            ),
        };
        let dyn_space = rebuilt.as_ref().map(|r| r.dyn_space.clone());
        let format = |a: &Arch| dyn_space.as_ref().map_or_else(|| a.key(), |s| s.format(a));
        let mut counts = Counts {
            trials: trials.len(),
            waves: trials.iter().map(|t| t.wave).max().map_or(0, |w| w + 1),
            ..Counts::default()
        };
        for t in &trials {
            match t.state {
                TrialState::Pending => counts.pending += 1,
                TrialState::Running => counts.running += 1,
                TrialState::Complete => counts.complete += 1,
                TrialState::Failed => counts.failed += 1,
            }
        }
        // As the search's outcome computes it (`Points::front`), with the trials' ids.
        let complete: Vec<&Trial> = trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .collect();
        let points: Vec<(f64, f64)> = complete
            .iter()
            .map(|t| (t.cost, t.reward.unwrap_or(f64::NEG_INFINITY)))
            .collect();
        let front = pareto_front(&points)
            .into_iter()
            .map(|i| {
                let t = complete[i];
                FrontPoint {
                    id: t.id,
                    arch: format(&t.arch),
                    cost: t.cost,
                    reward: points[i].1,
                    test: t.metrics.get("test").copied(),
                }
            })
            .collect();
        let best = rebuilt.as_ref().and_then(|r| {
            let arch = r.best.as_ref()?;
            let t = trials.iter().find(|t| &t.arch == arch)?;
            Some(BestTrial {
                id: t.id,
                answer: Answer {
                    arch: format(arch),
                    reward: t.reward?,
                    cost: t.cost,
                },
            })
        });
        let last_activity = times
            .iter()
            .flat_map(|t| [t.finished_at, t.heartbeat_at])
            .flatten()
            .fold(study.created_at, f64::max);
        let config = serde_json::from_str(&study.config)
            .unwrap_or_else(|_| serde_json::Value::String(study.config.clone()));
        let (info, layers, space) = match rebuilt {
            Some(r) => (Some(r.info), r.layers, Some(r.space)),
            None => (None, Vec::new(), None),
        };
        StudyView {
            study: study.name,
            config,
            done: study.done,
            created_at: study.created_at,
            last_activity,
            info,
            note,
            counts,
            best,
            front,
            layers,
            trials,
            times,
            version,
            space,
            dyn_space,
        }
    }

    /// An architecture in the space's notation (its key when the space cannot be rebuilt).
    pub fn format(&self, arch: &Arch) -> String {
        self.dyn_space
            .as_ref()
            .map_or_else(|| arch.key(), |s| s.format(arch))
    }

    /// The position of trial `id` in [`StudyView::trials`].
    pub fn position(&self, id: u64) -> Option<usize> {
        self.trials.binary_search_by_key(&id, |t| t.id).ok()
    }

    /// The trial at `i` as a viewer shows it.
    pub fn row(&self, i: usize) -> TrialView {
        TrialView {
            row: self.export_row(&self.trials[i]),
            finished_at: self.times[i].finished_at,
            heartbeat_at: self.times[i].heartbeat_at,
        }
    }

    /// Every trial as `export` writes it ([`crate::outcome::trial_rows`]).
    pub fn rows(&self) -> Vec<TrialRow> {
        self.trials.iter().map(|t| self.export_row(t)).collect()
    }

    fn export_row(&self, t: &Trial) -> TrialRow {
        TrialRow {
            id: t.id,
            arch: self.format(&t.arch),
            key: t.arch.key(),
            state: t.state.name(),
            cost: t.cost,
            reward: t.reward,
            metrics: t.metrics.clone(),
            wave: t.wave,
            attempts: t.attempts,
            worker: t.worker.clone(),
            seconds: t.seconds,
            error: t.error.clone(),
            fidelity: t.fidelity.name(),
        }
    }

    /// The network of trial `id` layer by layer, when the study's space describes networks
    /// (`None` for the cell space, a study that cannot be rebuilt, or an unknown trial).
    pub fn network(&self, id: u64) -> Option<Result<Vec<NetworkLayer>, String>> {
        let template = self.space.as_ref()?.template()?;
        let arch = &self.trials[self.position(id)?].arch;
        Some(network_layers(template, arch))
    }

    /// The benchmark table's index of trial `id`'s architecture, on the cell space.
    pub fn table_index(&self, id: u64) -> Option<u32> {
        if !matches!(self.space, Some(Space::Nb201(_))) {
            return None;
        }
        let arch = &self.trials[self.position(id)?].arch;
        let table = load_table(&layernas_tables::DataSource::Embedded).ok()?;
        Some(table.index(arch))
    }
}

/// One layer of a network: its operator (with its fields, as the network JSON writes them),
/// its input and output shape, MAdds and parameters.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkLayer {
    /// The operator.
    pub op: Op,
    /// Shape and cost.
    #[serde(flatten)]
    pub cost: LayerCost,
}

/// The layers of `arch`'s network in `template`.
pub fn network_layers(
    template: &layernas_spaces::TemplateSpace,
    arch: &Arch,
) -> Result<Vec<NetworkLayer>, String> {
    let network = template.validate(arch).map_err(|e| e.to_string())?;
    let costs = network.layer_costs().map_err(|e| e.to_string())?;
    Ok(network
        .layers
        .into_iter()
        .zip(costs)
        .map(|(op, cost)| NetworkLayer { op, cost })
        .collect())
}
