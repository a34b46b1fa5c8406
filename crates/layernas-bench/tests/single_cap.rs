//! Section 7's reference point on the real table: LayerNAS with cap focus against the TPE
//! figures issue 14 quotes, at the issue's caps and with its columns.

use layernas_bench::{single_cap_test_column, single_cap_valid_column, ISSUE_CAPS, TPE_ISSUE_14};
use layernas_core::{CostModel, Executor, MemoryStore, SearchSpace, Strategy};
use layernas_search::{CostWindow, LayerNas, LayerNasConfig, Scope};
use layernas_spaces::Nb201Space;
use layernas_tables::{Nb201Table, TableCost, TableEvaluator};
use std::sync::Arc;

/// Issue 14, part 5: at FLOPs caps at 25%, 50% and 100% of each data set's cost range
/// ([`ISSUE_CAPS`]), with the columns of the issue's TPE reference (`scripts/tpe_caps.py`),
/// cap focus (F = 2) reaches at least Optuna's TPE mean test accuracy at every cap with no
/// more trials than the plain search, which loses ImageNet16-120 at 50% (45.95 < 46.32).
#[test]
fn cap_focus_wins_or_ties_tpe_at_the_issues_nine_caps_with_no_more_trials() {
    let bench = Nb201Table::embedded().unwrap();
    let space = Arc::new(Nb201Space::new());
    let mut plain_losses = 0;
    // TPE (Optuna 5.0 TPESampler, 10 seeds) as quoted in issue 14.
    for (ds, tpe) in TPE_ISSUE_14 {
        let test = single_cap_test_column(ds);
        let eval =
            Arc::new(TableEvaluator::new(&bench, ds, single_cap_valid_column(ds), &test).unwrap());
        let cost = Arc::new(TableCost::new(&bench, "flops", ds).unwrap());
        let tests = bench.column(&test).unwrap();
        let all = cost.range(&*space, &space.default_arch(), &[true; 6]);
        for (fraction, tpe) in ISSUE_CAPS.into_iter().zip(tpe) {
            let cap = all.min + fraction * (all.max - all.min);
            let search = |cap_focus: usize| {
                let config = LayerNasConfig {
                    cap_focus,
                    ..LayerNasConfig::default()
                };
                let scope = Scope::window(CostWindow::at_most(cap));
                let mut strategy =
                    LayerNas::new(config, scope, space.clone(), cost.clone()).unwrap();
                let mut store = MemoryStore::new();
                let summary = Executor::new(&*space, &*cost, eval.clone())
                    .run(&mut strategy, &mut store)
                    .unwrap();
                let best = strategy.best().expect("an answer");
                assert!(cost.cost(&best) <= cap);
                (summary.trials, tests[Nb201Space::code(&best)])
            };
            let (plain_trials, plain) = search(1);
            let (trials, focused) = search(2);
            eprintln!(
                "{} {:.0}%: plain {plain:.2} ({plain_trials} trials), focus {focused:.2} ({trials} trials), TPE {tpe:.2}",
                ds.name(),
                100.0 * fraction
            );
            assert!(trials <= plain_trials, "{trials} > {plain_trials}");
            assert!(
                focused >= tpe,
                "{} at {fraction}: {focused} < {tpe}",
                ds.name()
            );
            plain_losses += usize::from(plain < tpe);
        }
    }
    // The plain search's one loss (ImageNet16-120 at 50%), as the issue reports it.
    assert_eq!(plain_losses, 1);
}
