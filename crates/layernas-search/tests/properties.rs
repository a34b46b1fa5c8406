//! Invariants of LayerNAS on the real table, over random configurations: the stated trial bound
//! holds, no architecture is proposed or evaluated twice, the answer respects the cost window,
//! buckets hold at most K, and runs are deterministic (also with parallel workers).

mod common;
use common::{Counting, Recording};
use layernas_core::{Arch, CostModel, Executor, MemoryStore, SearchSpace, Strategy, TrialStore};
use layernas_search::{CostWindow, LayerNas, LayerNasConfig, Scope, Selection, Spacing};
use layernas_spaces::Nb201Space;
use layernas_tables::{Dataset, Nb201Table, TableCost, TableEvaluator};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

struct RunResult {
    trials: Vec<(u64, Arch)>,
    best: Option<Arch>,
    proposed: Vec<Arch>,
    calls: HashMap<Arch, usize>,
    bound: u64,
    kept_per_bucket: HashMap<usize, usize>,
}

fn run(
    dataset: Dataset,
    cost: &str,
    (config, scope): (LayerNasConfig, Scope),
    workers: usize,
    fail_every: usize,
) -> RunResult {
    let bench = Nb201Table::embedded().unwrap();
    let space = Arc::new(Nb201Space::new());
    let cost = Arc::new(TableCost::new(&bench, cost, dataset).unwrap());
    let fail = if fail_every == 0 {
        HashSet::new()
    } else {
        (0..15_625)
            .step_by(fail_every)
            .map(Nb201Space::from_code)
            .collect()
    };
    let eval = Arc::new(Counting::new(
        TableEvaluator::for_dataset(&bench, dataset).unwrap(),
        fail,
    ));
    let mut strategy = LayerNas::new(config, scope, space.clone(), cost.clone()).unwrap();
    let bound = strategy.trial_bound().unwrap();
    let mut recording = Recording::new(&mut strategy);
    let mut store = MemoryStore::new();
    let executor = Executor {
        workers,
        ..Executor::new(&*space, &*cost, eval.clone())
    };
    executor.run(&mut recording, &mut store).unwrap();
    let proposed = recording.proposed;
    let mut kept_per_bucket = HashMap::new();
    for k in strategy.kept_final() {
        *kept_per_bucket.entry(k.bucket).or_default() += 1;
    }
    let calls = eval.take_calls();
    RunResult {
        trials: store
            .trials()
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t.arch))
            .collect(),
        best: strategy.best(),
        proposed,
        calls,
        bound,
        kept_per_bucket,
    }
}

fn config_strategy(
) -> impl proptest::strategy::Strategy<Value = (Dataset, String, (LayerNasConfig, Scope))> {
    (
        prop::sample::select(Dataset::ALL.to_vec()),
        prop::sample::select(vec![
            "flops",
            "params",
            "latency:pixel3",
            "latency:eyeriss",
            "latency:titan_rtx_32",
        ]),
        1usize..150,
        1usize..5,
        any::<bool>(),
        any::<bool>(),
        prop::option::of(0.0f64..1.0),
        prop::option::of(0.0f64..1.0),
        prop::option::of(1usize..200),
        any::<u64>(),
        1usize..4,
    )
        .prop_map(
            |(ds, cost, h, k, log, kept, lo, hi, children, seed, focus)| {
                let bench = Nb201Table::embedded().unwrap();
                let c = TableCost::new(&bench, cost, ds).unwrap();
                let space = Nb201Space::new();
                let all = c.range(&space, &space.default_arch(), &[true; 6]);
                let at = |f: f64| all.min + f * (all.max - all.min);
                let (lo, hi) = match (lo.map(at), hi.map(at)) {
                    (Some(a), Some(b)) if a > b => (Some(b), Some(a)),
                    other => other,
                };
                let config = LayerNasConfig {
                    buckets: h,
                    spacing: if log { Spacing::Log } else { Spacing::Linear },
                    keep: k,
                    children_per_layer: children,
                    select: if kept {
                        Selection::Kept
                    } else {
                        Selection::Evaluated
                    },
                    multi_fidelity: None,
                    // Cap focus needs a cap.
                    cap_focus: if hi.is_some() { focus } else { 1 },
                };
                let scope = Scope {
                    window: CostWindow { min: lo, max: hi },
                    seed,
                };
                (ds, cost.to_string(), (config, scope))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn bound_holds_and_nothing_is_evaluated_twice((ds, cost, config) in config_strategy()) {
        let r = run(ds, &cost, config.clone(), 1, 0);
        prop_assert!(r.trials.len() as u64 <= r.bound, "{} trials > bound {}", r.trials.len(), r.bound);
        let unique: HashSet<&Arch> = r.proposed.iter().collect();
        prop_assert_eq!(unique.len(), r.proposed.len(), "an architecture was proposed twice");
        prop_assert!(r.calls.values().all(|&n| n == 1));
        prop_assert_eq!(r.calls.len(), r.trials.len());
        prop_assert!(r.kept_per_bucket.values().all(|&n| n <= config.0.keep));
        prop_assert!(r.kept_per_bucket.len() <= config.0.buckets);
        if let Some(best) = &r.best {
            let bench = Nb201Table::embedded().unwrap();
            let c = TableCost::new(&bench, &cost, ds).unwrap().cost(best);
            prop_assert!(config.1.window.max.is_none_or(|hi| c <= hi));
            prop_assert!(config.1.window.min.is_none_or(|lo| c >= lo));
        }
    }

    #[test]
    fn same_config_and_seed_give_the_same_trials((ds, cost, config) in config_strategy()) {
        let a = run(ds, &cost, config.clone(), 1, 0);
        let b = run(ds, &cost, config, 2, 0);
        prop_assert_eq!(a.trials, b.trials);
        prop_assert_eq!(a.best, b.best);
    }
}

#[test]
fn failed_trials_are_recorded_and_the_search_goes_on() {
    let config = (LayerNasConfig::default(), Scope::default());
    let r = run(Dataset::Cifar10, "flops", config, 1, 7);
    assert!(r.calls.values().all(|&n| n == 1));
    let failed = r
        .trials
        .iter()
        .filter(|(_, a)| Nb201Space::code(a).is_multiple_of(7))
        .count();
    assert!(failed > 0, "the injection should hit some trials");
    let best = r.best.expect("an answer despite failures");
    assert_ne!(
        Nb201Space::code(&best) % 7,
        0,
        "a failed trial cannot be the answer"
    );
}

#[test]
fn a_budget_stops_the_search_early_with_an_answer() {
    let bench = Nb201Table::embedded().unwrap();
    let space = Arc::new(Nb201Space::new());
    let cost = Arc::new(TableCost::new(&bench, "flops", Dataset::Cifar10).unwrap());
    let eval = Arc::new(TableEvaluator::for_dataset(&bench, Dataset::Cifar10).unwrap());
    let mut strategy = LayerNas::new(
        LayerNasConfig::default(),
        Scope::default(),
        space.clone(),
        cost.clone(),
    )
    .unwrap();
    let mut store = MemoryStore::new();
    let summary = Executor {
        max_trials: Some(50),
        ..Executor::new(&*space, &*cost, eval.clone())
    }
    .run(&mut strategy, &mut store)
    .unwrap();
    assert_eq!(summary.trials, 50);
    assert!(summary.budget_exhausted);
    assert!(strategy.best().is_some());
}

#[test]
fn the_dry_run_plan_bounds_what_the_search_does() {
    let bench = Nb201Table::embedded().unwrap();
    let space = Arc::new(Nb201Space::new());
    for (cost_name, cap, cap_focus) in [
        ("flops", Some(40.0), 1),
        ("flops", Some(40.0), 2),
        ("flops", None, 1),
        ("params", Some(0.3), 1),
        ("params", Some(0.3), 3),
    ] {
        let cost = Arc::new(TableCost::new(&bench, cost_name, Dataset::Cifar10).unwrap());
        let scope = Scope::window(CostWindow {
            min: None,
            max: cap,
        });
        let config = LayerNasConfig {
            cap_focus,
            ..LayerNasConfig::default()
        };
        let mut strategy = LayerNas::new(config, scope, space.clone(), cost.clone()).unwrap();
        let plan = strategy.plan();
        let eval = Arc::new(TableEvaluator::for_dataset(&bench, Dataset::Cifar10).unwrap());
        let mut store = MemoryStore::new();
        Executor::new(&*space, &*cost, eval.clone())
            .run(&mut strategy, &mut store)
            .unwrap();
        let planned: u64 = 1 + plan.iter().map(|r| r.children).sum::<u64>();
        assert!(planned <= strategy.trial_bound().unwrap());
        for (row, stats) in plan.iter().zip(strategy.layer_stats()) {
            assert!(
                stats.parents as u64 <= row.parents,
                "{cost_name} {}: {} > {}",
                row.layer,
                stats.parents,
                row.parents
            );
            assert!(
                stats.evaluated as u64 <= row.children,
                "{cost_name} {}",
                row.layer
            );
        }
    }
}
