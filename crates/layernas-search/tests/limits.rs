//! Extreme knobs: every one is refused with a reason or runs in bounded time and memory; counts
//! never overflow.

use layernas_core::{CostModel, Executor, MemoryStore, SearchSpace, Strategy};
use layernas_search::{
    build_strategy, BaselineConfig, CostWindow, EvolutionConfig, LayerNas, LayerNasConfig,
    Reinforce, ReinforceConfig, Scope, StrategyConfig, MAX_BUCKETS, MAX_KEEP,
};
use layernas_spaces::{mobilenet_v3_space, Metric, Nb201Space, NetworkCost};
use layernas_tables::{Dataset, Nb201Table, TableCost, TableEvaluator};
use std::sync::Arc;

fn nb201() -> (Arc<dyn SearchSpace>, Arc<dyn CostModel>) {
    let bench = Nb201Table::embedded().unwrap();
    (
        Arc::new(Nb201Space::new()),
        Arc::new(TableCost::new(&bench, "flops", Dataset::Cifar10).unwrap()),
    )
}

fn mobilenet() -> (Arc<dyn SearchSpace>, Arc<dyn CostModel>) {
    let space = Arc::new(mobilenet_v3_space(true));
    (
        space.clone(),
        Arc::new(NetworkCost::new(space, Metric::Madds)),
    )
}

fn layernas_error((config, window): (LayerNasConfig, CostWindow)) -> String {
    let (space, cost) = nb201();
    match LayerNas::new(config, Scope::window(window), space, cost) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn out_of_range_layernas_knobs_are_refused_with_their_range() {
    for (config, needle) in [
        (
            (
                LayerNasConfig {
                    buckets: usize::MAX,
                    ..LayerNasConfig::default()
                },
                CostWindow::UNBOUNDED,
            ),
            "invalid buckets 18446744073709551615: must be 1 to 1000000",
        ),
        (
            (
                LayerNasConfig {
                    buckets: MAX_BUCKETS + 1,
                    ..LayerNasConfig::default()
                },
                CostWindow::UNBOUNDED,
            ),
            "must be 1 to 1000000",
        ),
        (
            (
                LayerNasConfig {
                    keep: usize::MAX,
                    ..LayerNasConfig::default()
                },
                CostWindow::UNBOUNDED,
            ),
            "invalid keep 18446744073709551615: must be 1 to 1000000",
        ),
        (
            (LayerNasConfig::default(), CostWindow::at_most(-1.0)),
            "invalid max_cost -1: must be 0 or more",
        ),
        (
            (
                LayerNasConfig::default(),
                CostWindow {
                    min: Some(-0.5),
                    max: None,
                },
            ),
            "invalid min_cost -0.5: must be 0 or more",
        ),
        (
            (
                LayerNasConfig::default(),
                CostWindow::at_most(f64::INFINITY),
            ),
            "must be a finite number",
        ),
    ] {
        let e = layernas_error(config);
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn the_largest_buckets_and_keep_run_in_bounded_memory() {
    // Buckets are stored only where a candidate lies: H = K = the maximum searches nb201 at
    // once (it used to allocate H buckets per layer).
    let (space, cost) = nb201();
    let bench = Nb201Table::embedded().unwrap();
    let config = LayerNasConfig {
        buckets: MAX_BUCKETS,
        keep: MAX_KEEP,
        ..LayerNasConfig::default()
    };
    let scope = Scope::window(CostWindow::at_most(30.0));
    let mut strategy = LayerNas::new(config, scope, space.clone(), cost.clone()).unwrap();
    let bound = strategy.trial_bound().unwrap();
    assert!(bound <= space.num_models() as u64, "{bound}");
    assert!(strategy.paper_bound() > 0);
    let eval = Arc::new(TableEvaluator::for_dataset(&bench, Dataset::Cifar10).unwrap());
    let mut store = MemoryStore::new();
    let summary = Executor::new(&*space, &*cost, eval)
        .run(&mut strategy, &mut store)
        .unwrap();
    assert!(summary.trials <= bound);
    assert!(strategy.best().is_some());
}

#[test]
fn the_plan_never_promises_more_trials_than_the_space_has_models() {
    let (space, cost) = mobilenet();
    for (buckets, keep, max_cost) in [
        (MAX_BUCKETS, MAX_KEEP, Some(220.0)),
        (MAX_BUCKETS, MAX_KEEP, None),
        (100, 1, Some(220.0)),
    ] {
        let config = LayerNasConfig {
            buckets,
            keep,
            ..LayerNasConfig::default()
        };
        let scope = Scope::window(CostWindow {
            min: None,
            max: max_cost,
        });
        let strategy = LayerNas::new(config, scope, space.clone(), cost.clone()).unwrap();
        let plan = strategy.plan();
        let total = plan
            .iter()
            .try_fold(1u64, |t, r| t.checked_add(r.children))
            .expect("the plan's total fits in a u64");
        assert!(
            total as u128 <= space.num_models(),
            "H={buckets} K={keep}: plan total {total} > {} models",
            space.num_models()
        );
        let bound = strategy.trial_bound().unwrap();
        assert!(bound as u128 <= space.num_models(), "{bound}");
    }
}

#[test]
fn evolution_knobs_are_checked_against_each_other_and_the_space() {
    let (space, cost) = nb201();
    let build = |evolution: EvolutionConfig| {
        let config = StrategyConfig {
            evolution,
            ..StrategyConfig::default()
        };
        build_strategy("evolution", &config, space.clone(), cost.clone())
            .err()
            .map(|e| e.to_string())
    };
    let e = build(EvolutionConfig {
        mutated_layers: 99,
        ..EvolutionConfig::default()
    })
    .expect("refused");
    assert!(
        e.contains("invalid mutated_layers 99") && e.contains("(6)"),
        "{e}"
    );
    let e = build(EvolutionConfig {
        population: 5,
        sample_size: 6,
        ..EvolutionConfig::default()
    })
    .expect("refused");
    assert!(
        e.contains("invalid sample_size 6: must be 1 to the population (5)"),
        "{e}"
    );
    let e = build(EvolutionConfig {
        population: usize::MAX,
        ..EvolutionConfig::default()
    })
    .expect("refused");
    assert!(e.contains("invalid population"), "{e}");
    assert!(build(EvolutionConfig {
        mutated_layers: 6,
        ..EvolutionConfig::default()
    })
    .is_none());
}

#[test]
fn reinforce_learning_rates_are_checked() {
    let (space, cost) = nb201();
    for (lr, momentum) in [
        (1e308, 0.9),
        (0.0, 0.9),
        (-1.0, 0.9),
        (f64::NAN, 0.9),
        (0.01, 1.0),
    ] {
        let config = StrategyConfig {
            reinforce: ReinforceConfig {
                learning_rate: lr,
                baseline_momentum: momentum,
            },
            ..StrategyConfig::default()
        };
        let e = build_strategy("reinforce", &config, space.clone(), cost.clone())
            .err()
            .unwrap_or_else(|| panic!("lr {lr} momentum {momentum} accepted"))
            .to_string();
        assert!(
            e.contains("learning_rate") || e.contains("baseline_momentum"),
            "{e}"
        );
    }
}

/// A policy that collapses onto models seen before redraws them; each redraw is an Adam update.
/// The updates per trial are bounded, so a high learning rate costs about what the default does.
#[test]
fn a_collapsing_reinforce_policy_does_bounded_work_per_trial() {
    let (space, cost) = nb201();
    let bench = Nb201Table::embedded().unwrap();
    for lr in [1.0, 10.0] {
        let mut strategy = Reinforce::new(
            BaselineConfig {
                scope: Scope::window(CostWindow::at_most(60.0)),
                max_trials: 60,
            },
            ReinforceConfig {
                learning_rate: lr,
                ..ReinforceConfig::default()
            },
            space.clone(),
            cost.clone(),
        );
        let eval = Arc::new(TableEvaluator::for_dataset(&bench, Dataset::Cifar10).unwrap());
        let mut store = MemoryStore::new();
        let summary = Executor::new(&*space, &*cost, eval)
            .run(&mut strategy, &mut store)
            .unwrap();
        assert_eq!(summary.trials, 60);
        let per_trial = strategy.policy_updates() / summary.trials;
        assert!(
            per_trial <= 1_001,
            "lr {lr}: {} updates for {} trials",
            strategy.policy_updates(),
            summary.trials
        );
    }
}
