//! LayerNAS on the real NAS-Bench-201 table: the acceptance figures.

use layernas_core::{CostModel, Executor, MemoryStore, SearchSpace, Strategy, TrialStore};
use layernas_search::{CostWindow, LayerNas, LayerNasConfig, Scope};
use layernas_spaces::Nb201Space;
use layernas_tables::{Dataset, Nb201Table, TableCost, TableEvaluator};
use std::sync::Arc;

struct Run {
    trials: u64,
    bound: u64,
    best_test: f64,
    best_cost: f64,
}

fn run(dataset: Dataset, cost: &str, config: LayerNasConfig, window: CostWindow) -> Run {
    let bench = Nb201Table::embedded().unwrap();
    let space = Arc::new(Nb201Space::new());
    let cost = Arc::new(TableCost::new(&bench, cost, dataset).unwrap());
    let eval = Arc::new(TableEvaluator::for_dataset(&bench, dataset).unwrap());
    let mut strategy =
        LayerNas::new(config, Scope::window(window), space.clone(), cost.clone()).unwrap();
    let bound = strategy.trial_bound().unwrap();
    let mut store = MemoryStore::new();
    let summary = Executor::new(&*space, &*cost, eval.clone())
        .run(&mut strategy, &mut store)
        .unwrap();
    let best = strategy.best().expect("an answer");
    let test = bench.column(&dataset.test_column()).unwrap()[Nb201Space::code(&best)];
    assert_eq!(summary.trials, store.trials().unwrap().len() as u64);
    eprintln!(
        "{} {}: trials {} (bound {bound}), best {} cost {:.3} test {test:.3}",
        dataset.name(),
        cost.name(),
        summary.trials,
        space.format(&best),
        cost.cost(&best),
    );
    Run {
        trials: summary.trials,
        bound,
        best_test: test,
        best_cost: cost.cost(&best),
    }
}

#[test]
fn front_search_on_cifar10_reaches_94_30_within_300_trials() {
    let r = run(
        Dataset::Cifar10,
        "flops",
        LayerNasConfig::default(),
        CostWindow::UNBOUNDED,
    );
    assert!(
        r.trials <= 300 && r.trials <= r.bound,
        "{} trials",
        r.trials
    );
    assert!(r.best_test >= 94.30, "test {}", r.best_test);
}

#[test]
fn front_search_on_cifar100_reaches_73_0_within_300_trials() {
    let r = run(
        Dataset::Cifar100,
        "flops",
        LayerNasConfig::default(),
        CostWindow::UNBOUNDED,
    );
    assert!(
        r.trials <= 300 && r.trials <= r.bound,
        "{} trials",
        r.trials
    );
    assert!(r.best_test >= 73.0, "test {}", r.best_test);
}

#[test]
fn front_search_on_imagenet16_reaches_46_5_within_300_trials() {
    let r = run(
        Dataset::Imagenet16,
        "flops",
        LayerNasConfig::default(),
        CostWindow::UNBOUNDED,
    );
    assert!(
        r.trials <= 300 && r.trials <= r.bound,
        "{} trials",
        r.trials
    );
    assert!(r.best_test >= 46.5, "test {}", r.best_test);
}

#[test]
fn capped_search_answer_is_under_the_cap_and_matches_the_table() {
    let bench = Nb201Table::embedded().unwrap();
    for (cost, cap) in [("flops", 60.0), ("params", 0.4), ("latency:pixel3", 10.0)] {
        let window = CostWindow::at_most(cap);
        let r = run(Dataset::Cifar10, cost, LayerNasConfig::default(), window);
        assert!(r.best_cost <= cap, "{cost}: {} > {cap}", r.best_cost);
        // The reported figures are the table's own: recompute from the raw column.
        let column = TableCost::new(&bench, cost, Dataset::Cifar10).unwrap();
        let raw = bench.column(column.column()).unwrap();
        assert!(raw.contains(&r.best_cost));
        assert!(r.best_test > 80.0, "{cost}: {}", r.best_test);
    }
}

#[test]
fn cap_focus_needs_a_cap() {
    let bench = Nb201Table::embedded().unwrap();
    let space = Arc::new(Nb201Space::new());
    let cost = Arc::new(TableCost::new(&bench, "flops", Dataset::Cifar10).unwrap());
    let config = LayerNasConfig {
        cap_focus: 2,
        ..LayerNasConfig::default()
    };
    let err = LayerNas::new(
        config.clone(),
        Scope::default(),
        space.clone(),
        cost.clone(),
    )
    .err()
    .expect("refused without a max_cost");
    assert!(
        err.to_string().contains("cap_focus 2: needs a max_cost"),
        "{err}"
    );
    // A floor alone is no cap either.
    let floor = Scope::window(CostWindow {
        min: Some(50.0),
        max: None,
    });
    assert!(LayerNas::new(config.clone(), floor, space.clone(), cost.clone()).is_err());
    assert!(LayerNas::new(
        config,
        Scope::window(CostWindow::at_most(100.0)),
        space,
        cost
    )
    .is_ok());
}
