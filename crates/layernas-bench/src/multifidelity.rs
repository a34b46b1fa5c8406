//! Section 6: multi-fidelity search. Front regret and normalised hypervolume (FLOPs) against the
//! training epochs spent, for LayerNAS, multi-fidelity LayerNAS, aging evolution, random search
//! and successive halving. On the table a low-fidelity trial reads the 12-epoch columns and
//! costs 12 epochs, a full-fidelity one the 200-epoch columns and 200 epochs; only
//! full-fidelity results enter a run's front and its regret.

use crate::grid::{mean_std, RunRecord, Setup};
use crate::markdown::{compare_runs, label, significance_markdown, write_csv, Comparison, Metric};
use crate::metrics::{hypervolume_curve, run_front, TrueFront};
use crate::{BenchConfig, BenchError};
use layernas_core::{
    CostModel, Executor, Fidelity, MemoryStore, SearchSpace, Strategy, TrialState, TrialStore,
    EPOCHS_METRIC,
};
use layernas_plot::{Chart, Series};
use layernas_search::{build_strategy, MultiFidelity, PromotionBar, Scope, StrategyConfig};
use layernas_spaces::Nb201Space;
use layernas_tables::{Dataset, FULL_FIDELITY_EPOCHS};
use rayon::prelude::*;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

/// Section 6's name for multi-fidelity LayerNAS (`layernas` with
/// [`LayerNasConfig::multi_fidelity`]).
pub const LAYERNAS_MULTI_FIDELITY: &str = "layernas-mf";

/// Section 6's name for multi-fidelity LayerNAS with the calibrated promotion bar
/// ([`PromotionBar::Calibrated`]).
pub const LAYERNAS_MULTI_FIDELITY_CALIBRATED: &str = "layernas-mf-calibrated";

/// The strategies section 6 compares by default.
pub const FIDELITY_STRATEGIES: [&str; 6] = [
    "layernas",
    LAYERNAS_MULTI_FIDELITY,
    LAYERNAS_MULTI_FIDELITY_CALIBRATED,
    "evolution",
    "random",
    "successive-halving",
];

/// A run's state after one of its trials.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FidelityPoint {
    /// Training epochs spent so far.
    pub epochs: f64,
    /// Front regret over the caps (mean), once every cap has a full-fidelity answer.
    pub regret: Option<f64>,
    /// Normalised hypervolume of the full-fidelity front (FLOPs) so far.
    pub hypervolume: f64,
}

/// One run of section 6.
#[derive(Debug, Clone)]
pub struct FidelityRecord {
    /// Strategy name ([`LAYERNAS_MULTI_FIDELITY`] for multi-fidelity LayerNAS).
    pub strategy: String,
    /// Dataset.
    pub dataset: Dataset,
    /// Seed.
    pub seed: u64,
    /// Trials at both fidelities.
    pub trials: usize,
    /// Full-fidelity trials.
    pub full_trials: usize,
    /// Training epochs spent (the trials' `epochs` metric).
    pub epochs: f64,
    /// Front regret at the end: mean over the caps with a full-fidelity answer.
    pub regret: f64,
    /// Caps without a full-fidelity answer.
    pub missing_caps: usize,
    /// Normalised hypervolume (FLOPs) of the final full-fidelity front.
    pub hypervolume: f64,
    /// The state after each trial.
    pub curve: Vec<FidelityPoint>,
}

/// A run's complete trials in order: code, fidelity, epochs.
type Trace = Vec<(usize, Fidelity, f64)>;

fn traced(
    setup: &Setup,
    strategy: &mut dyn Strategy,
    budget: Option<u64>,
) -> Result<Trace, BenchError> {
    let mut store = MemoryStore::new();
    let executor = Executor {
        max_trials: budget,
        ..Executor::new(&*setup.space, &*setup.flops, setup.eval.clone())
    };
    executor.run(strategy, &mut store)?;
    Ok(store
        .trials()
        .map_err(layernas_core::ExecError::from)?
        .into_iter()
        .filter(|t| t.state == TrialState::Complete)
        .map(|t| {
            let epochs = t.metrics.get(EPOCHS_METRIC).copied().unwrap_or(0.0);
            (Nb201Space::code(&t.arch), t.fidelity, epochs)
        })
        .collect())
}

/// Scores a trace: regret over the caps and hypervolume after each trial.
fn record(
    strategy: &str,
    dataset: Dataset,
    seed: u64,
    trace: &Trace,
    setup: &Setup,
    truth: &TrueFront,
) -> FidelityRecord {
    let o = &setup.oracle;
    let flops = &setup.flops_by_code;
    let full: Vec<usize> = trace
        .iter()
        .filter(|t| t.1 == Fidelity::Full)
        .map(|t| t.0)
        .collect();
    let hv = hypervolume_curve(truth, &full, flops, &o.valid, &o.test);
    // The best full-fidelity model by validation under each cap so far (as
    // `Oracle::best_by_valid`: ties to lower cost, then lower code).
    let mut best: Vec<Option<usize>> = vec![None; setup.caps.len()];
    let better = |a: usize, b: usize| {
        o.valid[a]
            .total_cmp(&o.valid[b])
            .then(flops[b].total_cmp(&flops[a]))
            .then(b.cmp(&a))
            .is_gt()
    };
    let mut curve = Vec::with_capacity(trace.len());
    let (mut epochs, mut hypervolume, mut seen_full) = (0.0, 0.0, 0);
    let mut regret = None;
    for &(code, fidelity, e) in trace {
        epochs += e;
        if fidelity == Fidelity::Full {
            hypervolume = hv[seen_full];
            seen_full += 1;
            for (i, &(cap, _)) in setup.caps.iter().enumerate() {
                if flops[code] <= cap && best[i].is_none_or(|b| better(code, b)) {
                    best[i] = Some(code);
                }
            }
            if best.iter().all(Option::is_some) {
                let sum: f64 = setup
                    .caps
                    .iter()
                    .zip(&best)
                    .map(|(&(_, oracle_test), b)| oracle_test - o.test[b.expect("all set")])
                    .sum();
                regret = Some(sum / setup.caps.len() as f64);
            }
        }
        curve.push(FidelityPoint {
            epochs,
            regret,
            hypervolume,
        });
    }
    let found: Vec<f64> = setup
        .caps
        .iter()
        .zip(&best)
        .filter_map(|(&(_, t), b)| b.map(|b| t - o.test[b]))
        .collect();
    let final_score = truth.score(&run_front(&full, flops, &o.valid, &o.test));
    FidelityRecord {
        strategy: strategy.to_string(),
        dataset,
        seed,
        trials: trace.len(),
        full_trials: full.len(),
        epochs,
        regret: mean_std(&found).0,
        missing_caps: setup.caps.len() - found.len(),
        hypervolume: final_score.hypervolume,
        curve,
    }
}

/// Runs section 6. Single-fidelity runs of section 1 are reused (every trial there is a
/// full-fidelity one, 200 epochs); LayerNAS in both forms runs without a trial budget (it stops
/// by itself), the baselines with the bench's.
pub(crate) fn run_section(
    config: &BenchConfig,
    setups: &HashMap<Dataset, Setup>,
    runs: &[RunRecord],
) -> Result<Vec<FidelityRecord>, BenchError> {
    let by_run: HashMap<(&str, Dataset, u64), &RunRecord> = runs
        .iter()
        .map(|r| ((r.strategy.as_str(), r.dataset, r.seed), r))
        .collect();
    let truths: HashMap<Dataset, TrueFront> = setups
        .iter()
        .map(|(&ds, s)| (ds, TrueFront::new(&s.flops_by_code, &s.oracle.test)))
        .collect();
    let tasks: Vec<(&String, Dataset, u64)> = config
        .fidelity_strategies
        .iter()
        .flat_map(|s| {
            config
                .datasets
                .iter()
                .flat_map(move |&d| (0..config.seeds as u64).map(move |seed| (s, d, seed)))
        })
        .collect();
    tasks
        .par_iter()
        .map(|&(name, ds, seed)| {
            let setup = &setups[&ds];
            let trace: Trace = match by_run.get(&(name.as_str(), ds, seed)) {
                Some(run) => run
                    .evaluated
                    .iter()
                    .map(|&c| (c, Fidelity::Full, FULL_FIDELITY_EPOCHS))
                    .collect(),
                None => {
                    let mut strategy_config = StrategyConfig {
                        scope: Scope {
                            seed,
                            ..Scope::default()
                        },
                        max_trials: Some(config.budget),
                        ..StrategyConfig::default()
                    };
                    let mut strategy_name = name.as_str();
                    let mut budget = Some(config.budget);
                    let multi = [LAYERNAS_MULTI_FIDELITY, LAYERNAS_MULTI_FIDELITY_CALIBRATED]
                        .contains(&name.as_str());
                    if multi || name == "layernas" {
                        strategy_name = "layernas";
                        budget = None;
                    }
                    if multi {
                        strategy_config.layernas.multi_fidelity = Some(MultiFidelity {
                            promote: config.promote,
                            bar: if name == LAYERNAS_MULTI_FIDELITY_CALIBRATED {
                                PromotionBar::Calibrated
                            } else {
                                PromotionBar::Incumbent
                            },
                        });
                    }
                    let space: std::sync::Arc<dyn SearchSpace> = setup.space.clone();
                    let cost: std::sync::Arc<dyn CostModel> = setup.flops.clone();
                    let mut strategy =
                        build_strategy(strategy_name, &strategy_config, space, cost)?;
                    traced(setup, strategy.as_mut(), budget)?
                }
            };
            Ok(record(name, ds, seed, &trace, setup, &truths[&ds]))
        })
        .collect()
}

fn records<'a>(
    all: &'a [FidelityRecord],
    name: &'a str,
    ds: Dataset,
) -> impl Iterator<Item = &'a FidelityRecord> {
    all.iter()
        .filter(move |r| r.strategy == name && r.dataset == ds)
}

/// A run's state once it had spent at most `epochs` (None: not a trial yet).
fn at_epochs(run: &FidelityRecord, epochs: f64) -> Option<&FidelityPoint> {
    let n = run.curve.partition_point(|p| p.epochs <= epochs + 1e-9);
    n.checked_sub(1).map(|i| &run.curve[i])
}

/// Multi-fidelity LayerNAS's mean epochs on `ds` (NaN without its runs): section 6's *equal
/// epochs*.
fn mf_epochs(all: &[FidelityRecord], ds: Dataset) -> f64 {
    mean_std(
        &records(all, LAYERNAS_MULTI_FIDELITY, ds)
            .map(|r| r.epochs)
            .collect::<Vec<_>>(),
    )
    .0
}

/// One value per run of `name` on `ds` for `metric`, in seed order.
fn metric_values(all: &[FidelityRecord], name: &str, ds: Dataset, metric: Metric) -> Vec<f64> {
    let equal = mf_epochs(all, ds);
    let mut runs: Vec<&FidelityRecord> = records(all, name, ds).collect();
    runs.sort_by_key(|r| r.seed);
    runs.into_iter()
        .filter_map(|r| match metric {
            Metric::FrontRegret => Some(r.regret).filter(|v| v.is_finite()),
            Metric::Hypervolume => Some(r.hypervolume),
            Metric::RegretAtEqualEpochs => at_epochs(r, equal).and_then(|p| p.regret),
            Metric::HypervolumeAtEqualEpochs => {
                Some(at_epochs(r, equal).map_or(0.0, |p| p.hypervolume))
            }
            _ => None,
        })
        .collect()
}

/// Section 6's rank tests: multi-fidelity LayerNAS against every other strategy of the section
/// on front regret and HV, at the end and at equal epochs (two-sided Mann-Whitney U,
/// Holm-corrected across the strategies of each metric and dataset). Empty without
/// multi-fidelity LayerNAS or another strategy.
pub(crate) fn significance(config: &BenchConfig, all: &[FidelityRecord]) -> Vec<Comparison> {
    let names = &config.fidelity_strategies;
    if all.is_empty() || !names.iter().any(|s| s == LAYERNAS_MULTI_FIDELITY) {
        return Vec::new();
    }
    let baselines: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|s| *s != LAYERNAS_MULTI_FIDELITY)
        .collect();
    [
        Metric::FrontRegret,
        Metric::Hypervolume,
        Metric::RegretAtEqualEpochs,
        Metric::HypervolumeAtEqualEpochs,
    ]
    .into_iter()
    .flat_map(|metric| {
        compare_runs(
            &config.datasets,
            LAYERNAS_MULTI_FIDELITY,
            &baselines,
            metric,
            "flops",
            |name, ds| metric_values(all, name, ds, metric),
        )
    })
    .collect()
}

fn cell(values: &[f64], digits: usize) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let (mean, std) = mean_std(values);
    format!("{mean:.digits$}±{std:.digits$}")
}

/// The markdown of section 6.
pub(crate) fn section(config: &BenchConfig, all: &[FidelityRecord]) -> String {
    let mut md = String::new();
    if all.is_empty() {
        return md;
    }
    let _ = writeln!(
        md,
        "## 6. Multi-fidelity search: front regret and hypervolume against training epochs\n"
    );
    let _ = writeln!(md, "Multi-fidelity LayerNAS (`{LAYERNAS_MULTI_FIDELITY}`: H=100, K=1, `promote = {}`) evaluates each layer's new children on the table's 12-epoch columns (12 epochs each) and only the best {} per cost bucket by that result again on the 200-epoch columns (200 epochs each); it keeps candidates and builds its front on 200-epoch results only. A full bucket admits a challenger whose 12-epoch result beats its incumbent's; `{LAYERNAS_MULTI_FIDELITY_CALIBRATED}` (`promote_bar = \"calibrated\"`) also admits one that beats the 12-epoch result a least-squares line over every model known at both fidelities maps to the incumbent's 200-epoch result. Successive halving samples brackets of 20 random models at 12 epochs and promotes the best quarter to 200 epochs. LayerNAS, evolution and random search train every model for 200 epochs. The LayerNAS rows stop by themselves; the baselines get {} trials (at either fidelity). Front regret is section 2's (10 FLOPs caps, full-fidelity models only) and HV section 5's on FLOPs; mean ± std over {} seeds. *At equal epochs*: each run's state once it had spent at most multi-fidelity LayerNAS's mean epochs on that dataset.\n",
        config.promote, config.promote, config.budget, config.seeds);
    let names: Vec<&str> = config
        .fidelity_strategies
        .iter()
        .map(String::as_str)
        .collect();
    for &ds in &config.datasets {
        let mf_epochs = mf_epochs(all, ds);
        let _ = writeln!(md, "### {}\n", label(ds));
        let equal = mf_epochs.is_finite();
        let _ = write!(
            md,
            "| method | trials (full) | epochs | front regret | HV |"
        );
        if equal {
            let _ = write!(
                md,
                " front regret at {mf_epochs:.0} epochs | HV at {mf_epochs:.0} epochs |"
            );
        }
        let _ = writeln!(
            md,
            "\n|---|---|---|---|---|{}",
            if equal { "---|---|" } else { "" }
        );
        for name in &names {
            let runs: Vec<&FidelityRecord> = records(all, name, ds).collect();
            if runs.is_empty() {
                continue;
            }
            let trials = mean_std(&runs.iter().map(|r| r.trials as f64).collect::<Vec<_>>()).0;
            let full = mean_std(
                &runs
                    .iter()
                    .map(|r| r.full_trials as f64)
                    .collect::<Vec<_>>(),
            )
            .0;
            let epochs = mean_std(&runs.iter().map(|r| r.epochs).collect::<Vec<_>>()).0;
            let regret: Vec<f64> = runs.iter().map(|r| r.regret).collect();
            let hv: Vec<f64> = runs.iter().map(|r| r.hypervolume).collect();
            let missing: usize = runs.iter().map(|r| r.missing_caps).sum();
            let missing = if missing > 0 {
                format!(" ({missing} caps unanswered in all)")
            } else {
                String::new()
            };
            let _ = write!(
                md,
                "| {name} | {trials:.0} ({full:.0}) | {epochs:.0} | {}{missing} | {} |",
                cell(&regret, 3),
                cell(&hv, 4)
            );
            if equal {
                let points: Vec<Option<&FidelityPoint>> =
                    runs.iter().map(|r| at_epochs(r, mf_epochs)).collect();
                let answered: Vec<f64> = points
                    .iter()
                    .filter_map(|p| p.and_then(|p| p.regret))
                    .collect();
                let unanswered = runs.len() - answered.len();
                let hv: Vec<f64> = points
                    .iter()
                    .map(|p| p.map_or(0.0, |p| p.hypervolume))
                    .collect();
                let note = if unanswered > 0 {
                    format!(
                        " ({unanswered} of {} runs without an answer at every cap yet)",
                        runs.len()
                    )
                } else {
                    String::new()
                };
                let _ = write!(md, " {}{note} | {} |", cell(&answered, 3), cell(&hv, 4));
            }
            let _ = writeln!(md);
        }
        // The target: plain LayerNAS's regret within 0.05 points at a third of its epochs.
        let plain: Vec<&FidelityRecord> = records(all, "layernas", ds).collect();
        for (mf_name, what) in [
            (LAYERNAS_MULTI_FIDELITY, "Multi-fidelity LayerNAS"),
            (
                LAYERNAS_MULTI_FIDELITY_CALIBRATED,
                "With the calibrated bar, multi-fidelity LayerNAS",
            ),
        ] {
            let multi: Vec<&FidelityRecord> = records(all, mf_name, ds).collect();
            if plain.is_empty() || multi.is_empty() {
                continue;
            }
            let mean = |v: &[&FidelityRecord], f: fn(&FidelityRecord) -> f64| {
                mean_std(&v.iter().map(|r| f(r)).collect::<Vec<_>>()).0
            };
            let (pe, me) = (mean(&plain, |r| r.epochs), mean(&multi, |r| r.epochs));
            let (pr, mr) = (mean(&plain, |r| r.regret), mean(&multi, |r| r.regret));
            let _ = writeln!(
                md,
                "\n{what} spends {:.1}% of LayerNAS's epochs ({me:.0} of {pe:.0}); its mean front regret is {mr:.3} against {pr:.3} ({:+.3} points): {}.",
                100.0 * me / pe,
                mr - pr,
                if me <= pe / 3.0 && mr - pr <= 0.05 {
                    "within 0.05 points at no more than a third of the epochs"
                } else {
                    "outside the target (within 0.05 points at no more than a third of the epochs)"
                }
            );
        }
        md.push('\n');
    }
    let tests = significance(config, all);
    if !tests.is_empty() {
        md.push_str(&significance_markdown(&config.datasets, &tests));
        let others = config.fidelity_strategies.len() - 1;
        let _ = writeln!(md, "\nTwo-sided Mann-Whitney U test of multi-fidelity LayerNAS's {} runs against each other strategy's, on front regret and HV at the end of each run and at equal epochs (as in the tables above), Holm-corrected across the {others} strategies of each metric and column; *better*/*worse* at a family-wise α = {}, *n.s.* otherwise. A = the probability that a multi-fidelity LayerNAS run beats the other's (ties count one half). Every LayerNAS row is deterministic (its {} runs are one value), so comparisons between two of them only say which value is larger.\n", config.seeds, crate::ALPHA, config.seeds);
    }
    md
}

/// `fidelity_runs.csv` and `fidelity_curves.csv`.
pub(crate) fn write_csvs(all: &[FidelityRecord], dir: &Path) -> Result<(), BenchError> {
    write_csv(
        &dir.join("fidelity_runs.csv"),
        &[
            "strategy",
            "dataset",
            "seed",
            "trials",
            "full_trials",
            "epochs",
            "front_regret",
            "missing_caps",
            "hypervolume",
        ],
        all.iter()
            .map(|r| {
                vec![
                    r.strategy.clone(),
                    r.dataset.name().into(),
                    r.seed.to_string(),
                    r.trials.to_string(),
                    r.full_trials.to_string(),
                    r.epochs.to_string(),
                    r.regret.to_string(),
                    r.missing_caps.to_string(),
                    r.hypervolume.to_string(),
                ]
            })
            .collect(),
    )?;
    write_csv(
        &dir.join("fidelity_curves.csv"),
        &[
            "strategy",
            "dataset",
            "seed",
            "trial",
            "epochs",
            "front_regret",
            "hypervolume",
        ],
        all.iter()
            .flat_map(|r| {
                r.curve.iter().enumerate().map(move |(i, p)| {
                    vec![
                        r.strategy.clone(),
                        r.dataset.name().into(),
                        r.seed.to_string(),
                        (i + 1).to_string(),
                        p.epochs.to_string(),
                        p.regret.map_or(String::new(), |v| v.to_string()),
                        p.hypervolume.to_string(),
                    ]
                })
            })
            .collect(),
    )
}

/// Per dataset: mean front regret and mean HV against epochs, each strategy's curve drawn up to
/// the least its runs spent (`regret_vs_epochs_<ds>`, `hypervolume_vs_epochs_<ds>`). Regret is
/// the mean over the runs that have an answer at every cap, drawn once at least half have one.
pub(crate) fn write_charts(
    config: &BenchConfig,
    all: &[FidelityRecord],
    dir: &Path,
) -> Result<(), BenchError> {
    const STEPS: usize = 100;
    for &ds in &config.datasets {
        let most = all
            .iter()
            .filter(|r| r.dataset == ds)
            .map(|r| r.epochs)
            .fold(0.0, f64::max);
        if most <= 0.0 {
            continue;
        }
        let mut regret = Vec::new();
        let mut hv = Vec::new();
        for name in &config.fidelity_strategies {
            let runs: Vec<&FidelityRecord> = records(all, name, ds).collect();
            let least = runs.iter().map(|r| r.epochs).fold(f64::MAX, f64::min);
            let grid = (1..=STEPS)
                .map(|i| most * i as f64 / STEPS as f64)
                .filter(|&e| e <= least);
            let (mut r_points, mut h_points) = (Vec::new(), Vec::new());
            for e in grid {
                let points: Vec<Option<&FidelityPoint>> =
                    runs.iter().map(|r| at_epochs(r, e)).collect();
                // The mean over the runs with an answer at every cap, once most runs have one.
                let answered: Vec<f64> = points
                    .iter()
                    .filter_map(|p| p.and_then(|p| p.regret))
                    .collect();
                if 2 * answered.len() >= runs.len().max(1) {
                    r_points.push((e, mean_std(&answered).0));
                }
                let hvs: Vec<f64> = points
                    .iter()
                    .map(|p| p.map_or(0.0, |p| p.hypervolume))
                    .collect();
                h_points.push((e, mean_std(&hvs).0));
            }
            regret.push(Series {
                name: name.clone(),
                points: r_points,
                reference: false,
            });
            hv.push(Series {
                name: name.clone(),
                points: h_points,
                reference: false,
            });
        }
        let hi = regret
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        Chart {
            markers: Vec::new(),
            title: format!(
                "{}: front regret vs training epochs (mean of {} seeds)",
                label(ds),
                config.seeds
            ),
            x_label: "training epochs spent".into(),
            y_label: "front regret over 10 FLOPs caps (points)".into(),
            series: regret,
            background: &[],
            y_range: Some((-0.2, hi.clamp(0.5, 3.0))),
        }
        .write(&dir.join(format!("regret_vs_epochs_{}", ds.name())))?;
        Chart {
            markers: Vec::new(),
            title: format!(
                "{}: normalised hypervolume (FLOPs) vs training epochs (mean of {} seeds)",
                label(ds),
                config.seeds
            ),
            x_label: "training epochs spent".into(),
            y_label: "normalised hypervolume".into(),
            series: hv,
            background: &[],
            y_range: Some((0.5, 0.9)),
        }
        .write(&dir.join(format!("hypervolume_vs_epochs_{}", ds.name())))?;
    }
    Ok(())
}
