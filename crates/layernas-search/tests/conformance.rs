//! One conformance suite that every strategy runs, on the real table: the cost window is
//! respected, the budget is respected, nothing is proposed or evaluated twice, and runs are
//! deterministic.

mod common;
use common::{Counting, Recording};
use layernas_core::{Arch, CostModel, Executor, MemoryStore, SearchSpace, Strategy, TrialStore};
use layernas_search::{build_strategy, CostWindow, Scope, StrategyConfig, STRATEGIES};
use layernas_spaces::Nb201Space;
use layernas_tables::{Dataset, Nb201Table, TableCost, TableEvaluator};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

struct Run {
    trials: Vec<(u64, Arch, f64)>,
    proposed: Vec<Arch>,
    calls: HashMap<Arch, usize>,
    best: Option<(Arch, f64)>,
}

fn run(
    name: &str,
    cost: &str,
    window: (Option<f64>, Option<f64>),
    budget: Option<u64>,
    seed: u64,
) -> Run {
    let bench = Nb201Table::embedded().unwrap();
    let space: Arc<dyn SearchSpace> = Arc::new(Nb201Space::new());
    let cost: Arc<dyn CostModel> =
        Arc::new(TableCost::new(&bench, cost, Dataset::Cifar100).unwrap());
    let eval = Arc::new(Counting::new(
        TableEvaluator::for_dataset(&bench, Dataset::Cifar100).unwrap(),
        HashSet::new(),
    ));
    let config = StrategyConfig {
        scope: Scope {
            window: CostWindow {
                min: window.0,
                max: window.1,
            },
            seed,
        },
        max_trials: budget,
        random_batch: 7,
        ..StrategyConfig::default()
    };
    let mut built = build_strategy(name, &config, space.clone(), cost.clone()).unwrap();
    let mut strategy = Recording::new(&mut *built);
    let mut store = MemoryStore::new();
    // LayerNAS takes its budget from the executor; the baselines must stop by themselves.
    let executor = Executor {
        max_trials: if name == "layernas" { budget } else { None },
        workers: 2,
        ..Executor::new(&*space, &*cost, eval.clone())
    };
    executor.run(&mut strategy, &mut store).unwrap();
    let trials = store
        .trials()
        .unwrap()
        .into_iter()
        .map(|t| (t.id, t.arch, t.cost))
        .collect();
    let best = strategy.best().map(|a| {
        let c = cost.cost(&a);
        (a, c)
    });
    let calls = eval.take_calls();
    Run {
        trials,
        proposed: strategy.proposed,
        calls,
        best,
    }
}

fn inside(c: f64, (lo, hi): (Option<f64>, Option<f64>)) -> bool {
    lo.is_none_or(|lo| c >= lo) && hi.is_none_or(|hi| c <= hi)
}

#[test]
fn every_strategy_honours_the_contract() {
    let cases = [
        ("flops", (None, Some(60.0))),
        ("params", (Some(0.3), Some(0.9))),
        ("latency:raspi4", (None, Some(40.0))),
    ];
    for name in STRATEGIES {
        for (cost, window) in cases {
            let budget = if *name == "exhaustive" {
                None
            } else {
                Some(120)
            };
            let a = run(name, cost, window, budget, 11);
            let tag = format!("{name} {cost} {window:?}");
            // Budget.
            if let Some(b) = budget {
                assert!(
                    a.trials.len() as u64 <= b,
                    "{tag}: {} trials",
                    a.trials.len()
                );
            }
            // No re-proposal, no re-evaluation.
            let unique: HashSet<&Arch> = a.proposed.iter().collect();
            assert_eq!(unique.len(), a.proposed.len(), "{tag}: proposed twice");
            assert!(a.calls.values().all(|&n| n == 1), "{tag}: evaluated twice");
            // The answer is inside the window; baselines evaluate nothing outside it.
            let (best, best_cost) = a.best.clone().expect("an answer");
            assert!(inside(best_cost, window), "{tag}: answer cost {best_cost}");
            assert!(a.trials.iter().any(|t| t.1 == best));
            if *name != "layernas" {
                assert!(
                    a.trials.iter().all(|t| inside(t.2, window)),
                    "{tag}: evaluated outside the window"
                );
            }
            // Determinism.
            let b = run(name, cost, window, budget, 11);
            assert_eq!(a.trials, b.trials, "{tag}: not deterministic");
            assert_eq!(a.best, b.best, "{tag}");
        }
    }
}

#[test]
fn seeds_change_the_baselines_trials() {
    for name in ["random", "evolution", "reinforce", "nsga2"] {
        let a = run(name, "flops", (None, None), Some(50), 1);
        let b = run(name, "flops", (None, None), Some(50), 2);
        assert_ne!(a.trials, b.trials, "{name}");
    }
}

#[test]
fn exhaustive_evaluates_exactly_the_feasible_models() {
    let bench = Nb201Table::embedded().unwrap();
    let flops = bench.column("flops_m_cifar100").unwrap();
    let feasible = flops.iter().filter(|&&c| c <= 60.0).count();
    let r = run("exhaustive", "flops", (None, Some(60.0)), None, 0);
    assert_eq!(r.trials.len(), feasible);
    // The oracle's answer is the table's best validation accuracy under the cap.
    let valid = bench.column("cifar100_valid").unwrap();
    let best = (0..15_625)
        .filter(|&c| flops[c] <= 60.0)
        .map(|c| valid[c])
        .fold(f64::MIN, f64::max);
    let got = valid[Nb201Space::code(&r.best.unwrap().0)];
    assert_eq!(got, best);
}

#[test]
fn nsga2_resumes_from_replayed_trials_mid_search() {
    // A strategy is a function of its seed and its observations: replaying the first two
    // generations (40 trials) into a fresh NSGA-II must make it propose the third generation
    // the uninterrupted run proposed.
    let bench = Nb201Table::embedded().unwrap();
    let space: Arc<dyn SearchSpace> = Arc::new(Nb201Space::new());
    let cost: Arc<dyn CostModel> =
        Arc::new(TableCost::new(&bench, "flops", Dataset::Cifar10).unwrap());
    let eval = Arc::new(TableEvaluator::for_dataset(&bench, Dataset::Cifar10).unwrap());
    let config = StrategyConfig {
        scope: Scope {
            window: CostWindow::at_most(150.0),
            seed: 5,
        },
        max_trials: Some(100),
        ..StrategyConfig::default()
    };
    let build = || build_strategy("nsga2", &config, space.clone(), cost.clone()).unwrap();
    let mut whole = build();
    let mut recording = Recording::new(&mut *whole);
    let mut store = MemoryStore::new();
    Executor::new(&*space, &*cost, eval.clone())
        .run(&mut recording, &mut store)
        .unwrap();
    let proposed = recording.proposed.clone();
    assert_eq!(proposed.len(), 100);
    let trials = store.trials().unwrap();

    let mut resumed = build();
    let mut rec = Recording::new(&mut *resumed);
    let waves = layernas_core::replay(&mut rec, &trials[..40]);
    assert_eq!(
        waves, 3,
        "two complete generations, then the third is not stored"
    );
    // The third generation, proposed after the replayed two, is the uninterrupted run's.
    assert_eq!(rec.proposed[..], proposed[..60]);
    // Replaying everything rebuilds the whole run: the same answer and nothing more to do.
    let mut full = build();
    layernas_core::replay(&mut *full, &trials);
    assert_eq!(full.best(), whole.best());
    assert_eq!(full.suggest(), layernas_core::Suggestion::Done);
}
