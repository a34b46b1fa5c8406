use crate::metrics::{hypervolume_curve, run_front, FrontScore, TrueFront};
use crate::{BenchError, Oracle};
use layernas_core::{
    CostModel, Executor, MemoryStore, SearchSpace, Strategy, TrialState, TrialStore,
};
use layernas_search::{
    build_strategy, LayerNas, LayerNasConfig, Scope, StrategyConfig, STRATEGIES,
};
use layernas_spaces::Nb201Space;
use layernas_tables::{Dataset, Nb201Table, TableCost, TableEvaluator};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// What to run. Defaults: LayerNAS and the four seeded baselines, all three datasets, 30 seeds,
/// 300 trials; whole fronts scored on FLOPs, params and three latency devices.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Seeds per (strategy, dataset).
    pub seeds: usize,
    /// Trial budget of every strategy (LayerNAS may stop earlier by itself).
    pub budget: u64,
    /// Datasets.
    pub datasets: Vec<Dataset>,
    /// Strategies compared in sections 1, 2 and 5.
    pub strategies: Vec<String>,
    /// Costs of section 5 (whole fronts against the true front).
    pub front_costs: Vec<String>,
    /// Cost caps of section 2 (spread evenly over the FLOPs range).
    pub caps: usize,
    /// Costs of the assumption check (section 3).
    pub assumption_costs: Vec<String>,
    /// H values of the ablation (section 4).
    pub ablation_buckets: Vec<usize>,
    /// K values of the ablation (section 4).
    pub ablation_keep: Vec<usize>,
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
    /// Strategies of section 6 (multi-fidelity search against training epochs): any of
    /// [`FIDELITY_STRATEGIES`](crate::FIDELITY_STRATEGIES); empty leaves the section out.
    pub fidelity_strategies: Vec<String>,
    /// Multi-fidelity LayerNAS's `promote` in section 6 (default 1).
    pub promote: usize,
    /// Section 7's cap focus F (single-cap search, plain against `cap_focus = F`; default 2;
    /// 1 leaves the section out).
    pub cap_focus: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            seeds: 30,
            budget: 300,
            datasets: Dataset::ALL.to_vec(),
            strategies: ["layernas", "random", "evolution", "reinforce", "nsga2"]
                .map(String::from)
                .to_vec(),
            front_costs: [
                "flops",
                "params",
                "latency:pixel3",
                "latency:raspi4",
                "latency:1080ti_1",
            ]
            .map(String::from)
            .to_vec(),
            caps: 10,
            assumption_costs: ["flops", "params", "latency:pixel3"]
                .map(String::from)
                .to_vec(),
            ablation_buckets: vec![5, 10, 25, 50, 100, 200],
            ablation_keep: vec![1, 2, 3, 5],
            threads: None,
            fidelity_strategies: crate::FIDELITY_STRATEGIES.map(String::from).to_vec(),
            promote: 1,
            cap_focus: 2,
        }
    }
}

/// One search of sections 1 and 2.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// Strategy name.
    pub strategy: String,
    /// Dataset.
    pub dataset: Dataset,
    /// Seed.
    pub seed: u64,
    /// Trials used.
    pub trials: usize,
    /// The strategy's answer (a code), its validation and test accuracy.
    pub answer: Option<(usize, f64, f64)>,
    /// Test accuracy of the best-by-validation model evaluated so far, after each trial.
    pub curve: Vec<f64>,
    /// Codes evaluated (complete trials), in trial order.
    pub evaluated: Vec<usize>,
    /// Section 2: regret at each cap (None: nothing evaluated under the cap).
    pub cap_regret: Vec<Option<f64>>,
    /// Wall-clock seconds of the search.
    pub seconds: f64,
}

/// One final-layer bucket of section 3.
#[derive(Debug, Clone)]
pub struct AssumptionRow {
    /// Dataset.
    pub dataset: Dataset,
    /// Cost name.
    pub cost: String,
    /// Bucket index.
    pub bucket: usize,
    /// The bucket's true optimum (by validation) in the whole table: code, valid, test.
    pub optimum: (usize, f64, f64),
    /// What LayerNAS kept in the bucket (its best), if anything: code, valid, test.
    pub kept: Option<(usize, f64, f64)>,
    /// True when the optimum is among the kept candidates (or one with equal validation is).
    pub recovered: bool,
}

/// One (H, K, dataset) cell of section 4.
#[derive(Debug, Clone)]
pub struct AblationRow {
    /// H.
    pub buckets: usize,
    /// K.
    pub keep: usize,
    /// Dataset.
    pub dataset: Dataset,
    /// Trials LayerNAS used.
    pub trials: usize,
    /// Mean front regret over the caps that had an answer.
    pub regret: f64,
    /// Caps with no evaluated model under them.
    pub missing_caps: usize,
}

/// One run of section 5: a search's front scored against the true front of one cost.
#[derive(Debug, Clone)]
pub struct FrontRecord {
    /// Strategy name.
    pub strategy: String,
    /// Dataset.
    pub dataset: Dataset,
    /// Cost name (`flops`, `params`, `latency:<device>`).
    pub cost: String,
    /// Seed.
    pub seed: u64,
    /// Trials used.
    pub trials: usize,
    /// LayerNAS's H (both LayerNAS rows); `None` for the baselines.
    pub buckets: Option<usize>,
    /// The final front's score.
    pub score: FrontScore,
    /// Normalised hypervolume of the front after each trial.
    pub hypervolume_curve: Vec<f64>,
}

/// The true front of one (dataset, cost) of section 5.
#[derive(Debug, Clone)]
pub struct TrueFrontRecord {
    /// Dataset.
    pub dataset: Dataset,
    /// Cost name.
    pub cost: String,
    /// The front, its ideal and nadir points and its own hypervolume.
    pub front: TrueFront,
}

/// Strategies whose proposals do not depend on the cost model when there is no cost window
/// (they use costs only for the window and the answer's tie-break): their section-1 run on
/// FLOPs is the same search under any cost, so section 5 scores it under every cost instead
/// of repeating it. A unit test checks this for each.
pub(crate) const COST_BLIND: [&str; 3] = ["random", "evolution", "reinforce"];

/// Section 5's second LayerNAS row: K = 1 and the largest H (at most the default 100) whose
/// trial bound ([`Strategy::trial_bound`], known before the search) fits the budget, so the
/// search is never cut by the budget. Its [`FrontRecord::buckets`] says which H.
pub const LAYERNAS_BUDGET: &str = "layernas-budget";

/// The largest H of [`LAYERNAS_BUDGET`] for `cost`: the bound grows with H.
fn fit_buckets(
    space: &Arc<dyn SearchSpace>,
    cost: &Arc<dyn CostModel>,
    budget: u64,
) -> Result<usize, BenchError> {
    let bound = |h: usize| -> Result<u64, BenchError> {
        let layernas = LayerNas::new(
            LayerNasConfig {
                buckets: h,
                ..LayerNasConfig::default()
            },
            Scope::default(),
            space.clone(),
            cost.clone(),
        )?;
        Ok(layernas.trial_bound().unwrap_or(u64::MAX))
    };
    let (mut lo, mut hi) = (1, LayerNasConfig::default().buckets);
    if bound(hi)? <= budget {
        return Ok(hi);
    }
    // bound(lo) may exceed the budget too: H = 1 is the floor.
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if bound(mid)? <= budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Everything the report is made of.
pub struct BenchResults {
    /// The settings.
    pub config: BenchConfig,
    /// Sections 1 and 2.
    pub runs: Vec<RunRecord>,
    /// Section 2's caps (MFLOPs) and the oracle's test accuracy under each, per dataset.
    pub caps: HashMap<Dataset, Vec<(f64, f64)>>,
    /// Section 3.
    pub assumption: Vec<AssumptionRow>,
    /// Section 4.
    pub ablation: Vec<AblationRow>,
    /// Section 5: every run's front under every cost of `front_costs`.
    pub fronts: Vec<FrontRecord>,
    /// Section 5: the true fronts.
    pub true_fronts: Vec<TrueFrontRecord>,
    /// Section 6: multi-fidelity search against training epochs.
    pub fidelity: Vec<crate::FidelityRecord>,
    /// Section 7: single-cap search, plain and with cap focus.
    pub single_cap: Vec<crate::SingleCapRecord>,
    /// Per dataset: the oracle (valid/test by code) and FLOPs by code.
    pub oracles: HashMap<Dataset, (Oracle, Vec<f64>)>,
    /// Wall-clock seconds of the whole bench.
    pub seconds: f64,
    /// Threads used.
    pub threads: usize,
}

pub(crate) struct Setup {
    pub(crate) space: Arc<dyn SearchSpace>,
    pub(crate) flops: Arc<dyn CostModel>,
    pub(crate) eval: Arc<dyn layernas_core::Evaluator>,
    pub(crate) oracle: Oracle,
    pub(crate) flops_by_code: Vec<f64>,
    pub(crate) caps: Vec<(f64, f64)>,
}

/// Runs `strategy` to the end; returns the evaluated codes in trial order and the seconds taken.
fn search(
    setup: &Setup,
    cost: &dyn CostModel,
    strategy: &mut dyn Strategy,
    budget: Option<u64>,
) -> Result<(Vec<usize>, f64), BenchError> {
    let start = Instant::now();
    let mut store = MemoryStore::new();
    let executor = Executor {
        max_trials: budget,
        ..Executor::new(&*setup.space, cost, setup.eval.clone())
    };
    executor.run(strategy, &mut store)?;
    let seconds = start.elapsed().as_secs_f64();
    let codes = store
        .trials()
        .map_err(layernas_core::ExecError::from)?
        .into_iter()
        .filter(|t| t.state == TrialState::Complete)
        .map(|t| Nb201Space::code(&t.arch))
        .collect();
    Ok((codes, seconds))
}

/// Section 2's regret at each cap for a set of evaluated codes.
fn cap_regrets(setup: &Setup, evaluated: &[usize]) -> Vec<Option<f64>> {
    setup
        .caps
        .iter()
        .map(|&(cap, oracle_test)| {
            setup
                .oracle
                .best_by_valid(
                    evaluated
                        .iter()
                        .copied()
                        .filter(|&c| setup.flops_by_code[c] <= cap),
                    &setup.flops_by_code,
                )
                .map(|c| oracle_test - setup.oracle.test[c])
        })
        .collect()
}

fn mean_regret(regrets: &[Option<f64>]) -> (f64, usize) {
    let found: Vec<f64> = regrets.iter().flatten().copied().collect();
    let mean = if found.is_empty() {
        f64::NAN
    } else {
        found.iter().sum::<f64>() / found.len() as f64
    };
    (mean, regrets.len() - found.len())
}

impl BenchConfig {
    /// Checks the knobs before any work: every count at least 1, known strategies (the
    /// exhaustive oracle is always included, so it is not one of them), at least one data set.
    pub fn validate(&self) -> Result<(), BenchError> {
        let invalid = |m: String| Err(BenchError::Invalid(m));
        for (knob, zero) in [
            ("seeds", self.seeds == 0),
            ("budget", self.budget == 0),
            ("caps", self.caps == 0),
            ("promote", self.promote == 0),
            ("cap_focus", self.cap_focus == 0),
            ("threads", self.threads == Some(0)),
        ] {
            if zero {
                return invalid(format!("{knob} must be at least 1 (got 0)"));
            }
        }
        if self.datasets.is_empty() || self.strategies.is_empty() || self.front_costs.is_empty() {
            return invalid(
                "at least one dataset, one strategy and one front cost are needed".into(),
            );
        }
        let known: Vec<&str> = STRATEGIES
            .iter()
            .copied()
            .filter(|s| *s != "exhaustive")
            .collect();
        if let Some(s) = self
            .strategies
            .iter()
            .find(|s| !known.contains(&s.as_str()))
        {
            return invalid(format!(
                "unknown strategy {s:?} for bench (allowed: {}; the exhaustive oracle is always included)",
                known.join(", ")
            ));
        }
        if let Some(s) = self
            .fidelity_strategies
            .iter()
            .find(|s| !crate::FIDELITY_STRATEGIES.contains(&s.as_str()))
        {
            return invalid(format!(
                "unknown strategy {s:?} for the multi-fidelity section (allowed: {})",
                crate::FIDELITY_STRATEGIES.join(", ")
            ));
        }
        Ok(())
    }
}

/// Runs every section.
pub fn run_bench(config: &BenchConfig) -> Result<BenchResults, BenchError> {
    config.validate()?;
    let threads = config
        .threads
        .unwrap_or_else(rayon::current_num_threads)
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| BenchError::Invalid(format!("cannot start {threads} threads: {e}")))?;
    let started = Instant::now();
    let bench = Nb201Table::embedded()?;
    let space: Arc<dyn SearchSpace> = Arc::new(Nb201Space::new());

    let mut setups = HashMap::new();
    for &ds in &config.datasets {
        let flops: Arc<dyn CostModel> = Arc::new(TableCost::new(&bench, "flops", ds)?);
        let oracle = Oracle::new(&bench, ds)?;
        let flops_by_code = Oracle::costs(&bench, "flops", ds)?;
        let lo = flops_by_code.iter().copied().fold(f64::MAX, f64::min);
        let hi = flops_by_code.iter().copied().fold(f64::MIN, f64::max);
        let caps = (1..=config.caps)
            .map(|i| {
                let cap = lo + (hi - lo) * i as f64 / config.caps as f64;
                let test = oracle
                    .test_under_cap(&flops_by_code, cap)
                    .expect("every cap is above the cheapest model");
                (cap, test)
            })
            .collect();
        setups.insert(
            ds,
            Setup {
                space: space.clone(),
                flops,
                eval: Arc::new(TableEvaluator::for_dataset(&bench, ds)?),
                oracle,
                flops_by_code,
                caps,
            },
        );
    }

    // Sections 1 and 2: one unconstrained run per (strategy, dataset, seed) serves every cap.
    let tasks: Vec<(String, Dataset, u64)> = config
        .strategies
        .iter()
        .flat_map(|s| {
            config
                .datasets
                .iter()
                .flat_map(move |&d| (0..config.seeds as u64).map(move |seed| (s.clone(), d, seed)))
        })
        .collect();
    let runs: Vec<RunRecord> = pool.install(|| {
        tasks
            .par_iter()
            .map(|(name, ds, seed)| {
                let setup = &setups[ds];
                let mut strategy = build_strategy(
                    name,
                    &strategy_config(*seed, config.budget),
                    setup.space.clone(),
                    setup.flops.clone(),
                )?;
                let (codes, seconds) =
                    search(setup, &*setup.flops, strategy.as_mut(), Some(config.budget))?;
                let answer = strategy.best().map(|a| {
                    let c = Nb201Space::code(&a);
                    (c, setup.oracle.valid[c], setup.oracle.test[c])
                });
                let mut curve = Vec::with_capacity(codes.len());
                let mut best: Option<usize> = None;
                for &c in &codes {
                    if best.is_none_or(|b| setup.oracle.valid[c] > setup.oracle.valid[b]) {
                        best = Some(c);
                    }
                    curve.push(setup.oracle.test[best.expect("just set")]);
                }
                Ok(RunRecord {
                    strategy: name.clone(),
                    dataset: *ds,
                    seed: *seed,
                    trials: codes.len(),
                    answer,
                    cap_regret: cap_regrets(setup, &codes),
                    curve,
                    evaluated: codes,
                    seconds,
                })
            })
            .collect::<Result<Vec<_>, BenchError>>()
    })?;

    // Section 3: for each final bucket, is the table's optimum among what LayerNAS kept?
    let assumption_tasks: Vec<(Dataset, String)> = config
        .datasets
        .iter()
        .flat_map(|&d| config.assumption_costs.iter().map(move |c| (d, c.clone())))
        .collect();
    let assumption: Vec<AssumptionRow> = pool
        .install(|| {
            assumption_tasks
                .par_iter()
                .map(|(ds, cost_name)| {
                    let setup = &setups[ds];
                    let cost: Arc<dyn CostModel> =
                        Arc::new(TableCost::new(&bench, cost_name, *ds)?);
                    let costs = Oracle::costs(&bench, cost_name, *ds)?;
                    let mut layernas = LayerNas::new(
                        LayerNasConfig::default(),
                        Scope::default(),
                        setup.space.clone(),
                        cost.clone(),
                    )?;
                    search(setup, &*cost, &mut layernas, None)?;
                    let mut by_bucket: HashMap<usize, Vec<usize>> = HashMap::new();
                    for (code, &c) in costs.iter().enumerate() {
                        if let Some(b) = layernas.final_bucket(c) {
                            by_bucket.entry(b).or_default().push(code);
                        }
                    }
                    let mut kept: HashMap<usize, Vec<usize>> = HashMap::new();
                    for k in layernas.kept_final() {
                        kept.entry(k.bucket)
                            .or_default()
                            .push(Nb201Space::code(&k.arch));
                    }
                    let o = &setup.oracle;
                    let mut rows: Vec<AssumptionRow> = by_bucket
                        .into_iter()
                        .map(|(bucket, codes)| {
                            let opt = o.best_by_valid(codes, &costs).expect("non-empty bucket");
                            let kept_codes = kept.get(&bucket).cloned().unwrap_or_default();
                            let best_kept = o.best_by_valid(kept_codes.iter().copied(), &costs);
                            let recovered = kept_codes
                                .iter()
                                .any(|&k| k == opt || o.valid[k] == o.valid[opt]);
                            AssumptionRow {
                                dataset: *ds,
                                cost: cost_name.clone(),
                                bucket,
                                optimum: (opt, o.valid[opt], o.test[opt]),
                                kept: best_kept.map(|k| (k, o.valid[k], o.test[k])),
                                recovered,
                            }
                        })
                        .collect();
                    rows.sort_by_key(|r| r.bucket);
                    Ok(rows)
                })
                .collect::<Result<Vec<_>, BenchError>>()
        })?
        .into_iter()
        .flatten()
        .collect();

    // Section 4: H x K, front searches on FLOPs.
    let ablation_tasks: Vec<(usize, usize, Dataset)> = config
        .ablation_buckets
        .iter()
        .flat_map(|&h| {
            config
                .ablation_keep
                .iter()
                .flat_map(move |&k| config.datasets.iter().map(move |&d| (h, k, d)))
        })
        .collect();
    let ablation: Vec<AblationRow> = pool.install(|| {
        ablation_tasks
            .par_iter()
            .map(|&(h, k, ds)| {
                let setup = &setups[&ds];
                let mut layernas = LayerNas::new(
                    LayerNasConfig {
                        buckets: h,
                        keep: k,
                        ..LayerNasConfig::default()
                    },
                    Scope::default(),
                    setup.space.clone(),
                    setup.flops.clone(),
                )?;
                let (codes, _) = search(setup, &*setup.flops, &mut layernas, None)?;
                let (regret, missing_caps) = mean_regret(&cap_regrets(setup, &codes));
                Ok(AblationRow {
                    buckets: h,
                    keep: k,
                    dataset: ds,
                    trials: codes.len(),
                    regret,
                    missing_caps,
                })
            })
            .collect::<Result<Vec<_>, BenchError>>()
    })?;

    // Section 5: every run's front under every cost, against the true front.
    let mut true_fronts = Vec::new();
    // Per (dataset, cost): the cost model and the costs by code.
    type CostSetup = (Arc<dyn CostModel>, Vec<f64>);
    let mut front_setups: HashMap<(Dataset, String), CostSetup> = HashMap::new();
    for &ds in &config.datasets {
        for cost_name in &config.front_costs {
            let cost: Arc<dyn CostModel> = Arc::new(TableCost::new(&bench, cost_name, ds)?);
            let costs = Oracle::costs(&bench, cost_name, ds)?;
            true_fronts.push(TrueFrontRecord {
                dataset: ds,
                cost: cost_name.clone(),
                front: TrueFront::new(&costs, &setups[&ds].oracle.test),
            });
            front_setups.insert((ds, cost_name.clone()), (cost, costs));
        }
    }
    let by_run: HashMap<(&str, Dataset, u64), &RunRecord> = runs
        .iter()
        .map(|r| ((r.strategy.as_str(), r.dataset, r.seed), r))
        .collect();
    // LayerNAS's default H = 100 may need more trials than the budget under a cost with many
    // distinct values (it is then cut mid-search); section 5 also runs it with the largest H
    // whose stated trial bound fits the budget.
    let mut names: Vec<String> = config.strategies.clone();
    if config.strategies.iter().any(|s| s == "layernas") {
        names.push(LAYERNAS_BUDGET.to_string());
    }
    let mut fitted = HashMap::new();
    for t in &true_fronts {
        let (cost, _) = &front_setups[&(t.dataset, t.cost.clone())];
        fitted.insert(
            (t.dataset, t.cost.clone()),
            fit_buckets(&setups[&t.dataset].space, cost, config.budget)?,
        );
    }
    let front_tasks: Vec<(&String, Dataset, &TrueFrontRecord, u64)> = names
        .iter()
        .flat_map(|s| {
            true_fronts.iter().flat_map(move |t| {
                (0..config.seeds as u64).map(move |seed| (s, t.dataset, t, seed))
            })
        })
        .collect();
    let fronts: Vec<FrontRecord> = pool.install(|| {
        front_tasks
            .par_iter()
            .map(|&(name, ds, truth, seed)| {
                let setup = &setups[&ds];
                let (cost, costs) = &front_setups[&(ds, truth.cost.clone())];
                let reuse = name != LAYERNAS_BUDGET
                    && (truth.cost == "flops" || COST_BLIND.contains(&name.as_str()));
                let mut buckets = (name == "layernas").then_some(LayerNasConfig::default().buckets);
                let codes = if reuse {
                    by_run[&(name.as_str(), ds, seed)].evaluated.clone()
                } else {
                    let mut strategy_config = strategy_config(seed, config.budget);
                    let mut strategy_name = name.as_str();
                    if name == LAYERNAS_BUDGET {
                        let h = fitted[&(ds, truth.cost.clone())];
                        strategy_config.layernas.buckets = h;
                        strategy_name = "layernas";
                        buckets = Some(h);
                    }
                    let mut strategy = build_strategy(
                        strategy_name,
                        &strategy_config,
                        setup.space.clone(),
                        cost.clone(),
                    )?;
                    search(setup, &**cost, strategy.as_mut(), Some(config.budget))?.0
                };
                let o = &setup.oracle;
                let score = truth
                    .front
                    .score(&run_front(&codes, costs, &o.valid, &o.test));
                Ok(FrontRecord {
                    strategy: name.clone(),
                    dataset: ds,
                    cost: truth.cost.clone(),
                    seed,
                    trials: codes.len(),
                    buckets,
                    score,
                    hypervolume_curve: hypervolume_curve(
                        &truth.front,
                        &codes,
                        costs,
                        &o.valid,
                        &o.test,
                    ),
                })
            })
            .collect::<Result<Vec<_>, BenchError>>()
    })?;

    // Section 6: multi-fidelity search against training epochs.
    let fidelity = pool.install(|| crate::multifidelity::run_section(config, &setups, &runs))?;

    // Section 7: single-cap search, plain against cap focus.
    let single_cap = pool.install(|| crate::singlecap::run_section(config, &bench))?;

    let caps = setups.iter().map(|(d, s)| (*d, s.caps.clone())).collect();
    let oracles = setups
        .into_iter()
        .map(|(d, s)| (d, (s.oracle, s.flops_by_code)))
        .collect();
    Ok(BenchResults {
        config: config.clone(),
        runs,
        caps,
        assumption,
        ablation,
        fronts,
        true_fronts,
        fidelity,
        single_cap,
        oracles,
        seconds: started.elapsed().as_secs_f64(),
        threads,
    })
}

/// The settings of one bench search: the defaults with `seed`, front mode (no cost window) and
/// the trial budget.
fn strategy_config(seed: u64, budget: u64) -> StrategyConfig {
    StrategyConfig {
        scope: Scope {
            seed,
            ..Scope::default()
        },
        max_trials: Some(budget),
        ..StrategyConfig::default()
    }
}

pub(crate) fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

pub(crate) fn front_regret(run: &RunRecord) -> (f64, usize) {
    mean_regret(&run.cap_regret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Section 5 reuses the FLOPs runs of these strategies under every cost: their trials
    /// must not depend on the cost model.
    #[test]
    fn cost_blind_strategies_propose_the_same_models_under_every_cost() {
        let bench = Nb201Table::embedded().unwrap();
        let space: Arc<dyn SearchSpace> = Arc::new(Nb201Space::new());
        let eval = Arc::new(TableEvaluator::for_dataset(&bench, Dataset::Cifar100).unwrap());
        let trials = |name: &str, cost: &str| {
            let cost: Arc<dyn CostModel> =
                Arc::new(TableCost::new(&bench, cost, Dataset::Cifar100).unwrap());
            let mut strategy =
                build_strategy(name, &strategy_config(3, 80), space.clone(), cost.clone()).unwrap();
            let mut store = MemoryStore::new();
            Executor::new(&*space, &*cost, eval.clone())
                .run(strategy.as_mut(), &mut store)
                .unwrap();
            store
                .trials()
                .unwrap()
                .into_iter()
                .map(|t| t.arch)
                .collect::<Vec<_>>()
        };
        for name in COST_BLIND {
            let flops = trials(name, "flops");
            assert_eq!(flops.len(), 80, "{name}");
            for cost in ["params", "latency:pixel3", "latency:1080ti_1"] {
                assert_eq!(flops, trials(name, cost), "{name} under {cost}");
            }
        }
        // And the test can tell: NSGA-II, which optimises cost, differs.
        assert_ne!(trials("nsga2", "flops"), trials("nsga2", "latency:pixel3"));
    }
}
