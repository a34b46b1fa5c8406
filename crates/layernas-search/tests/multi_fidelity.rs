//! The contract of multi-fidelity strategies (multi-fidelity LayerNAS and successive halving),
//! on the real table: a model is proposed and evaluated at most once per fidelity, the budget
//! and the cost window hold, the answer is a full-fidelity result, runs are deterministic,
//! stay within the stated trial bound, and a resumed run is the uninterrupted one.

use layernas_core::{
    replay, Arch, CostModel, EvalError, Evaluation, Evaluator, Executor, Fidelity, MemoryStore,
    Outcome, SearchSpace, Strategy, Suggestion, TrialRequest, TrialState, TrialStore,
};
use layernas_search::{
    build_strategy, CostWindow, LayerNas, LayerNasConfig, MultiFidelity, Scope, StrategyConfig,
    MULTI_FIDELITY_STRATEGIES,
};
use layernas_spaces::Nb201Space;
use layernas_tables::{Dataset, Nb201Table, TableCost, TableEvaluator};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Counts evaluations per (architecture, fidelity).
struct Counting {
    inner: TableEvaluator,
    calls: Mutex<HashMap<(Arch, Fidelity), usize>>,
}

impl Evaluator for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn evaluate(&self, r: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry((r.arch.clone(), r.fidelity))
            .or_default() += 1;
        self.inner.evaluate(r)
    }
}

/// Records every (architecture, fidelity) a strategy proposes.
struct Recording<'a> {
    inner: &'a mut dyn Strategy,
    proposed: Vec<(Arch, Fidelity)>,
}

impl Strategy for Recording<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn trial_bound(&self) -> Option<u64> {
        self.inner.trial_bound()
    }
    fn suggest(&mut self) -> Suggestion {
        let s = self.inner.suggest();
        if let Suggestion::Wave(w) = &s {
            self.proposed
                .extend(w.archs.iter().map(|a| (a.clone(), w.fidelity)));
        }
        s
    }
    fn observe(&mut self, arch: &Arch, cost: f64, outcome: Outcome) {
        self.inner.observe(arch, cost, outcome)
    }
    fn best(&self) -> Option<Arch> {
        self.inner.best()
    }
}

const NAMES: [&str; 2] = ["layernas-mf", "successive-halving"];

fn config(
    name: &str,
    window: (Option<f64>, Option<f64>),
    budget: u64,
    seed: u64,
) -> StrategyConfig {
    StrategyConfig {
        scope: Scope {
            window: CostWindow {
                min: window.0,
                max: window.1,
            },
            seed,
        },
        layernas: LayerNasConfig {
            multi_fidelity: (name == "layernas-mf").then_some(MultiFidelity::default()),
            ..LayerNasConfig::default()
        },
        max_trials: Some(budget),
        ..StrategyConfig::default()
    }
}

struct Run {
    trials: Vec<(u64, Arch, Fidelity, TrialState)>,
    proposed: Vec<(Arch, Fidelity)>,
    calls: HashMap<(Arch, Fidelity), usize>,
    best: Option<Arch>,
    bound: Option<u64>,
    epochs: f64,
}

fn run(name: &str, cost: &str, window: (Option<f64>, Option<f64>), budget: u64, seed: u64) -> Run {
    let table = Nb201Table::embedded().unwrap();
    let space: Arc<dyn SearchSpace> = Arc::new(Nb201Space::new());
    let cost: Arc<dyn CostModel> =
        Arc::new(TableCost::new(&table, cost, Dataset::Cifar100).unwrap());
    let eval = Arc::new(Counting {
        inner: TableEvaluator::for_dataset(&table, Dataset::Cifar100).unwrap(),
        calls: Mutex::new(HashMap::new()),
    });
    let strategy_name = if name == "layernas-mf" {
        "layernas"
    } else {
        name
    };
    let mut built = build_strategy(
        strategy_name,
        &config(name, window, budget, seed),
        space.clone(),
        cost.clone(),
    )
    .unwrap();
    let bound = built.trial_bound();
    let mut strategy = Recording {
        inner: &mut *built,
        proposed: Vec::new(),
    };
    let mut store = MemoryStore::new();
    let executor = Executor {
        max_trials: Some(budget),
        workers: 2,
        ..Executor::new(&*space, &*cost, eval.clone())
    };
    let summary = executor.run(&mut strategy, &mut store).unwrap();
    let proposed = std::mem::take(&mut strategy.proposed);
    let best = strategy.best();
    let calls = std::mem::take(&mut *eval.calls.lock().unwrap());
    Run {
        trials: store
            .trials()
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t.arch, t.fidelity, t.state))
            .collect(),
        proposed,
        calls,
        best,
        bound,
        epochs: summary.epochs,
    }
}

#[test]
fn the_multi_fidelity_baselines_are_buildable_by_name() {
    assert_eq!(MULTI_FIDELITY_STRATEGIES, &["successive-halving"]);
}

#[test]
fn every_multi_fidelity_strategy_honours_the_contract() {
    let cases = [
        ("flops", (None, Some(60.0))),
        ("params", (Some(0.3), Some(0.9))),
        ("latency:raspi4", (None, Some(40.0))),
        ("flops", (None, None)),
    ];
    for name in NAMES {
        for (cost, window) in cases {
            let tag = format!("{name} {cost} {window:?}");
            let a = run(name, cost, window, 400, 11);
            assert!(a.trials.len() <= 400, "{tag}: {} trials", a.trials.len());
            // At most once per (architecture, fidelity), proposed and evaluated.
            let unique: HashSet<&(Arch, Fidelity)> = a.proposed.iter().collect();
            assert_eq!(unique.len(), a.proposed.len(), "{tag}: proposed twice");
            assert!(a.calls.values().all(|&n| n == 1), "{tag}: evaluated twice");
            // Both fidelities are used; every full-fidelity trial but the default model's was
            // screened at low fidelity first.
            let low: HashSet<&Arch> = a
                .trials
                .iter()
                .filter(|t| t.2 == Fidelity::Low)
                .map(|t| &t.1)
                .collect();
            let full: Vec<&(u64, Arch, Fidelity, TrialState)> =
                a.trials.iter().filter(|t| t.2 == Fidelity::Full).collect();
            assert!(!low.is_empty() && !full.is_empty(), "{tag}");
            assert!(full.len() < low.len(), "{tag}: promoted most");
            let default = Nb201Space::new().default_arch();
            for t in &full {
                assert!(t.1 == default || low.contains(&t.1), "{tag}: {:?}", t.1);
            }
            // Epochs: 12 per low trial, 200 per full one.
            assert_eq!(
                a.epochs,
                12.0 * low.len() as f64 + 200.0 * full.len() as f64,
                "{tag}"
            );
            // The answer is a full-fidelity result inside the window.
            let best = a.best.clone().expect("an answer");
            assert!(
                full.iter().any(|t| t.1 == best),
                "{tag}: answer not at full fidelity"
            );
            let table = Nb201Table::embedded().unwrap();
            let c = TableCost::new(&table, cost, Dataset::Cifar100)
                .unwrap()
                .cost(&best);
            assert!(
                window.0.is_none_or(|lo| c >= lo) && window.1.is_none_or(|hi| c <= hi),
                "{tag}: answer cost {c}"
            );
            // Within the stated bound.
            assert!(a.trials.len() as u64 <= a.bound.unwrap(), "{tag}");
            // Determinism.
            let b = run(name, cost, window, 400, 11);
            assert_eq!(a.trials, b.trials, "{tag}: not deterministic");
        }
    }
}

#[test]
fn successive_halving_promotes_a_quarter_of_each_bracket() {
    let a = run("successive-halving", "flops", (None, None), 300, 3);
    let low = a.trials.iter().filter(|t| t.2 == Fidelity::Low).count();
    let full = a.trials.iter().filter(|t| t.2 == Fidelity::Full).count();
    assert_eq!((low, full), (240, 60));
    // A different seed samples other models.
    let b = run("successive-halving", "flops", (None, None), 300, 4);
    assert_ne!(a.trials, b.trials);
}

#[test]
fn multi_fidelity_layernas_spends_far_fewer_epochs_than_the_plain_search() {
    let table = Nb201Table::embedded().unwrap();
    let space: Arc<dyn SearchSpace> = Arc::new(Nb201Space::new());
    for dataset in Dataset::ALL {
        let cost: Arc<dyn CostModel> = Arc::new(TableCost::new(&table, "flops", dataset).unwrap());
        let eval = Arc::new(TableEvaluator::for_dataset(&table, dataset).unwrap());
        let epochs = |mf: Option<MultiFidelity>| {
            let mut s = LayerNas::new(
                LayerNasConfig {
                    multi_fidelity: mf,
                    ..LayerNasConfig::default()
                },
                Scope::default(),
                space.clone(),
                cost.clone(),
            )
            .unwrap();
            let mut store = MemoryStore::new();
            let summary = Executor::new(&*space, &*cost, eval.clone())
                .run(&mut s, &mut store)
                .unwrap();
            assert!(summary.trials <= s.trial_bound().unwrap());
            // Kept candidates are full-fidelity results.
            for k in s.kept_final() {
                let t = store.lookup(&k.arch).unwrap().unwrap();
                assert_eq!(t.reward, Some(k.reward));
            }
            summary.epochs
        };
        let plain = epochs(None);
        let multi = epochs(Some(MultiFidelity::default()));
        assert!(multi <= plain / 3.0, "{dataset:?}: {multi} of {plain}");
    }
}

#[test]
fn a_resumed_multi_fidelity_search_is_the_uninterrupted_one() {
    let table = Nb201Table::embedded().unwrap();
    let space: Arc<dyn SearchSpace> = Arc::new(Nb201Space::new());
    let cost: Arc<dyn CostModel> =
        Arc::new(TableCost::new(&table, "params", Dataset::Cifar10).unwrap());
    let eval: Arc<dyn Evaluator> =
        Arc::new(TableEvaluator::for_dataset(&table, Dataset::Cifar10).unwrap());
    for name in NAMES {
        let strategy_name = if name == "layernas-mf" {
            "layernas"
        } else {
            name
        };
        let build = || {
            build_strategy(
                strategy_name,
                &config(name, (None, Some(0.8)), 250, 5),
                space.clone(),
                cost.clone(),
            )
            .unwrap()
        };
        let executor = |budget| Executor {
            max_trials: Some(budget),
            ..Executor::new(&*space, &*cost, eval.clone())
        };
        let mut whole = MemoryStore::new();
        let mut straight = build();
        executor(250).run(straight.as_mut(), &mut whole).unwrap();
        for cut in [1, 37, 120] {
            let mut store = MemoryStore::new();
            executor(cut).run(build().as_mut(), &mut store).unwrap();
            let mut resumed = build();
            executor(250).run(resumed.as_mut(), &mut store).unwrap();
            let key = |s: &mut MemoryStore| {
                s.trials()
                    .unwrap()
                    .into_iter()
                    .map(|t| (t.id, t.arch, t.fidelity, t.reward))
                    .collect::<Vec<_>>()
            };
            assert_eq!(key(&mut store), key(&mut whole), "{name} cut at {cut}");
            assert_eq!(resumed.best(), straight.best(), "{name} cut at {cut}");
            // Replay (status) gives the same answer.
            let mut replayed = build();
            replay(replayed.as_mut(), &store.trials().unwrap());
            assert_eq!(replayed.best(), straight.best(), "{name} cut at {cut}");
        }
    }
}

mod bound {
    use super::{
        Arc, CostModel, CostWindow, Counting, Dataset, Executor, HashMap, LayerNas, LayerNasConfig,
        MemoryStore, MultiFidelity, Mutex, Nb201Space, Nb201Table, Scope, SearchSpace, TableCost,
        TableEvaluator, TrialStore,
    };
    use layernas_core::Strategy as _;
    use layernas_search::{PromotionBar, Selection, Spacing};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Over random H, K, promote, spacing, windows and sampling: the trials stay within the
        /// stated bound, nothing is evaluated twice at one fidelity, and a bucket keeps at most K.
        #[test]
        fn multi_fidelity_layernas_stays_within_its_bound(
            cost in prop::sample::select(vec!["flops", "params", "latency:pixel3", "latency:raspi4"]),
            h in 1usize..150,
            k in 1usize..4,
            promote in 1usize..4,
            log in any::<bool>(),
            lo in prop::option::of(0.0f64..1.0),
            hi in prop::option::of(0.0f64..1.0),
            children in prop::option::of(1usize..200),
            seed in any::<u64>(),
        ) {
            let table = Nb201Table::embedded().unwrap();
            let space: Arc<dyn SearchSpace> = Arc::new(Nb201Space::new());
            let c: Arc<dyn CostModel> = Arc::new(TableCost::new(&table, cost, Dataset::Cifar10).unwrap());
            let all = c.range(&*space, &space.default_arch(), &[true; 6]);
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
                select: Selection::Kept,
                multi_fidelity: Some(MultiFidelity {
                    promote,
                    bar: if seed % 3 == 0 { PromotionBar::Calibrated } else { PromotionBar::Incumbent },
                }),
                // Cap focus (it needs a cap) on half the cases.
                cap_focus: if hi.is_some() && seed % 2 == 0 { 2 } else { 1 },
            };
            let eval = Arc::new(Counting {
                inner: TableEvaluator::for_dataset(&table, Dataset::Cifar10).unwrap(),
                calls: Mutex::new(HashMap::new()),
            });
            let scope = Scope { window: CostWindow { min: lo, max: hi }, seed };
            let mut s = LayerNas::new(config, scope, space.clone(), c.clone()).unwrap();
            let mut store = MemoryStore::new();
            Executor::new(&*space, &*c, eval.clone()).run(&mut s, &mut store).unwrap();
            let trials = store.trials().unwrap().len() as u64;
            prop_assert!(trials <= s.trial_bound().unwrap(), "{} > {}", trials, s.trial_bound().unwrap());
            prop_assert!(eval.calls.lock().unwrap().values().all(|&n| n == 1));
            let mut per_bucket: HashMap<usize, usize> = HashMap::new();
            for kept in s.kept_final() {
                *per_bucket.entry(kept.bucket).or_default() += 1;
            }
            prop_assert!(per_bucket.values().all(|&n| n <= k));
            for st in s.layer_stats() {
                prop_assert!(st.promoted <= h * promote);
            }
        }
    }
}

/// Every model costs the same: the search has one bucket.
struct Flat;

impl CostModel for Flat {
    fn name(&self) -> &str {
        "flat"
    }
    fn unit(&self) -> &str {
        ""
    }
    fn cost(&self, _: &Arch) -> f64 {
        1.0
    }
}

/// (key, low, full): the rewards of every model a test expects to be evaluated, at low and at
/// full fidelity; any other model fails the test.
struct Designed(&'static [(&'static str, f64, f64)]);

impl Evaluator for Designed {
    fn name(&self) -> &str {
        "designed"
    }
    fn evaluate(&self, r: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        let key = r.arch.key();
        let &(_, low, full) = self
            .0
            .iter()
            .find(|(k, _, _)| *k == key)
            .unwrap_or_else(|| panic!("unexpected {key}"));
        Ok(Evaluation {
            reward: if r.fidelity == Fidelity::Low {
                low
            } else {
                full
            },
            metrics: Default::default(),
        })
    }
}

/// A toy space of two layers: `a` with options 0-2 and `b` with `b_options` options from 0, each
/// defaulting to its last option.
fn toy_space(b_options: usize) -> Arc<dyn SearchSpace> {
    use layernas_core::{GenericSpace, Layer};
    Arc::new(
        GenericSpace::new(
            "toy",
            vec![
                Layer::new("a", ["0", "1", "2"], 2),
                Layer::new("b", (0..b_options).map(|o| o.to_string()), b_options - 1),
            ],
        )
        .unwrap(),
    )
}

/// The keys of the models `store` holds at `fidelity`, sorted.
fn keys_at(store: &mut dyn TrialStore, fidelity: Fidelity) -> Vec<String> {
    let mut keys: Vec<String> = store
        .trials()
        .unwrap()
        .into_iter()
        .filter(|t| t.fidelity == fidelity)
        .map(|t| t.arch.key())
        .collect();
    keys.sort();
    keys
}

/// The promotion rule by hand: one bucket (every model costs the same), K = 1, promote = 2. A
/// child is promoted only if its low-fidelity reward beats the bucket's incumbent's.
#[test]
fn a_child_is_promoted_only_when_it_beats_the_incumbent_at_low_fidelity() {
    // The default model is 2-2.
    const REWARDS: &[(&str, f64, f64)] = &[
        ("2-2", 5.0, 40.0),
        ("0-2", 6.0, 50.0),
        ("1-2", 4.0, 60.0), // better at full, but never promoted: 4 < 5
        ("0-0", 7.0, 45.0),
        ("0-1", 3.0, 70.0),
    ];
    let space = toy_space(3);
    let cost: Arc<dyn CostModel> = Arc::new(Flat);
    let mut s = LayerNas::new(
        LayerNasConfig {
            multi_fidelity: Some(MultiFidelity {
                promote: 2,
                ..MultiFidelity::default()
            }),
            ..LayerNasConfig::default()
        },
        Scope::default(),
        space.clone(),
        cost.clone(),
    )
    .unwrap();
    let mut store = MemoryStore::new();
    Executor::new(&*space, &*cost, Arc::new(Designed(REWARDS)))
        .run(&mut s, &mut store)
        .unwrap();
    assert_eq!(
        keys_at(&mut store, Fidelity::Low),
        ["0-0", "0-1", "0-2", "1-2", "2-2"]
    );
    assert_eq!(keys_at(&mut store, Fidelity::Full), ["0-0", "0-2", "2-2"]);
    assert_eq!(s.best().unwrap().key(), "0-2");
    let promoted: Vec<usize> = s.layer_stats().iter().map(|l| l.promoted).collect();
    assert_eq!(promoted, [1, 1]);
}

#[test]
fn the_calibrated_bar_lets_through_a_challenger_a_lucky_incumbent_blocks() {
    use layernas_search::PromotionBar;
    // The default model is 2-3. After the first layer 2-3, 0-3 and 1-3 are known at both
    // fidelities; 1-3 keeps the bucket with a lucky 12 at low fidelity, where the line through
    // the three maps its 60 to 11.76.
    const REWARDS: &[(&str, f64, f64)] = &[
        ("2-3", 5.0, 40.0),
        ("0-3", 6.0, 50.0),
        ("1-3", 12.0, 60.0),
        ("1-0", 11.9, 70.0), // blocked by 12, let through by 11.76
        ("1-1", 3.0, 30.0),
        ("1-2", 12.5, 55.0),
    ];
    let space = toy_space(4);
    let cost: Arc<dyn CostModel> = Arc::new(Flat);
    let search = |bar: PromotionBar| {
        let mut s = LayerNas::new(
            LayerNasConfig {
                multi_fidelity: Some(MultiFidelity { promote: 3, bar }),
                ..LayerNasConfig::default()
            },
            Scope::default(),
            space.clone(),
            cost.clone(),
        )
        .unwrap();
        let mut store = MemoryStore::new();
        Executor::new(&*space, &*cost, Arc::new(Designed(REWARDS)))
            .run(&mut s, &mut store)
            .unwrap();
        (keys_at(&mut store, Fidelity::Full), s.best().unwrap().key())
    };
    assert_eq!(
        search(PromotionBar::Incumbent),
        (
            vec!["0-3".into(), "1-2".into(), "1-3".into(), "2-3".into()],
            "1-3".into()
        )
    );
    assert_eq!(
        search(PromotionBar::Calibrated),
        (
            vec![
                "0-3".into(),
                "1-0".into(),
                "1-2".into(),
                "1-3".into(),
                "2-3".into()
            ],
            "1-0".into()
        )
    );
}
