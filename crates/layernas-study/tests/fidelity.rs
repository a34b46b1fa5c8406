//! Multi-fidelity studies: the knobs (stored only where used, so other studies keep their hash),
//! a multi-fidelity search against a SQLite store, its resume, and external workers evaluating
//! each trial at its fidelity.

use layernas_core::Fidelity;
use layernas_study::file::FidelityName;
use layernas_study::worker::{run_worker, WorkerOptions};
use layernas_study::{Outcome, Overrides, Search, Study};

fn resolve(o: Overrides) -> Result<Study, String> {
    o.resolve().map_err(|e| e.to_string())
}

fn multi(store: Option<String>) -> Overrides {
    Overrides {
        fidelity: Some(FidelityName::Multi),
        store,
        dataset: Some("cifar100".into()),
        ..Overrides::default()
    }
}

#[test]
fn fidelity_knobs_are_stored_only_where_used() {
    let study = resolve(Overrides {
        promote: Some(2),
        ..multi(None)
    })
    .unwrap();
    let mf = study.strategies.layernas.multi_fidelity.unwrap();
    assert_eq!(mf.promote, 2);
    let spec = study.spec();
    assert!(
        spec.config.contains("\"fidelity\":\"multi\""),
        "{}",
        spec.config
    );
    let rebuilt = Study::from_stored(&study.study, &spec.config).unwrap();
    assert_eq!(rebuilt.config_hash(), study.config_hash());
    assert_eq!(rebuilt.strategies.layernas.multi_fidelity, Some(mf));
    // A multi-fidelity study is another study than the plain one.
    let plain = resolve(Overrides {
        dataset: Some("cifar100".into()),
        ..Overrides::default()
    })
    .unwrap();
    assert_ne!(plain.config_hash(), study.config_hash());
    // Studies that use none of it store none of it: their hash is what it was before.
    for strategy in ["layernas", "random", "evolution"] {
        let s = resolve(Overrides {
            strategy: Some(strategy.into()),
            ..Overrides::default()
        })
        .unwrap();
        let config = s.spec().config;
        for key in ["fidelity", "promote", "successive_halving", "low_"] {
            assert!(!config.contains(key), "{strategy}: {key} in {config}");
        }
    }
    // `single` is the default, spelled out.
    let single = resolve(Overrides {
        fidelity: Some(FidelityName::Single),
        ..Overrides::default()
    })
    .unwrap();
    assert_eq!(
        single.config_hash(),
        resolve(Overrides::default()).unwrap().config_hash()
    );
    // Successive halving stores its table.
    let sh = resolve(Overrides {
        strategy: Some("successive-halving".into()),
        eta: Some(3),
        ..Overrides::default()
    })
    .unwrap();
    assert_eq!(
        (sh.strategies.halving.rung, sh.strategies.halving.eta),
        (20, 3)
    );
    let rebuilt = Study::from_stored("default", &sh.spec().config).unwrap();
    assert_eq!(rebuilt.strategies.halving, sh.strategies.halving);
}

#[test]
fn misplaced_fidelity_knobs_are_errors() {
    let err = |o: Overrides| resolve(o).unwrap_err();
    let e = err(Overrides {
        promote: Some(2),
        ..Overrides::default()
    });
    assert!(e.contains("fidelity = \"multi\""), "{e}");
    let e = err(Overrides {
        strategy: Some("random".into()),
        ..multi(None)
    });
    assert!(
        e.contains("--fidelity is a knob of --strategy layernas"),
        "{e}"
    );
    let e = err(Overrides {
        rung: Some(10),
        ..Overrides::default()
    });
    assert!(
        e.contains("--rung is a knob of --strategy successive-halving"),
        "{e}"
    );
    let e = err(Overrides {
        strategy: Some("successive-halving".into()),
        eta: Some(1),
        ..Overrides::default()
    });
    assert!(e.contains("eta"), "{e}");
    let e = err(Overrides {
        promote: Some(0),
        ..multi(None)
    });
    assert!(e.contains("promote"), "{e}");
    // The strategy list names the multi-fidelity baseline.
    let e = err(Overrides {
        strategy: Some("hyperband".into()),
        ..Overrides::default()
    });
    assert!(e.contains("successive-halving"), "{e}");
}

fn run(study: Study) -> Outcome {
    Search::build(study)
        .unwrap()
        .run(&Default::default(), &|_| {})
        .unwrap()
}

fn trials(url: &str) -> Vec<(u64, String, Fidelity, Option<f64>)> {
    let mut store = layernas_store::open_existing(url).unwrap();
    let study = layernas_core::StudySpec {
        name: "default".into(),
        config: String::new(),
        hash: String::new(),
    };
    store.open_study(&study, true).unwrap();
    store
        .trials()
        .unwrap()
        .into_iter()
        .map(|t| (t.id, t.arch.key(), t.fidelity, t.reward))
        .collect()
}

#[test]
fn a_multi_fidelity_search_is_stored_resumed_and_reports_its_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("s.db").to_str().unwrap().to_string();
    let whole = run(resolve(multi(None)).unwrap());
    assert!(whole.low_fidelity_trials > 0);
    let full = whole.trials - whole.low_fidelity_trials;
    assert_eq!(
        whole.epochs,
        Some(12.0 * whole.low_fidelity_trials as f64 + 200.0 * full as f64)
    );
    assert!(full < whole.low_fidelity_trials);
    // The answer and the front are full-fidelity results: their test accuracy is the
    // 200-epoch column's.
    let best = whole.best.clone().unwrap();
    let table = layernas_tables::Nb201Table::embedded().unwrap();
    let test = table.column("cifar100_test").unwrap();
    let valid = table.column("cifar100_valid").unwrap();
    let index = |arch: &str| {
        let space = layernas_spaces::Nb201Space::new();
        layernas_spaces::Nb201Space::code(&layernas_core::SearchSpace::parse(&space, arch).unwrap())
    };
    assert_eq!(best.test, Some(test[index(&best.arch)]));
    for p in &whole.front {
        assert_eq!(p.reward, valid[index(&p.arch)]);
    }

    // Cut by the budget, then resumed without it: the uninterrupted search, trial for trial.
    run(resolve(Overrides {
        max_trials: Some(40),
        ..multi(Some(url.clone()))
    })
    .unwrap());
    assert_eq!(trials(&url).len(), 40);
    let resumed = run(resolve(multi(Some(url.clone()))).unwrap());
    assert_eq!(resumed.trials, whole.trials);
    assert_eq!(resumed.best.unwrap().arch, best.arch);
    assert_eq!(resumed.epochs, whole.epochs);
    let stored = trials(&url);
    assert!(stored.iter().any(|t| t.2 == Fidelity::Low));
    // Run again: nothing new is evaluated.
    let again = run(resolve(multi(Some(url.clone()))).unwrap());
    assert_eq!(trials(&url), stored);
    assert_eq!(again.best.unwrap().arch, best.arch);
}

#[test]
fn workers_evaluate_each_trial_at_its_fidelity() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("w.db").to_str().unwrap().to_string();
    let here = run(resolve(Overrides {
        strategy: Some("successive-halving".into()),
        max_trials: Some(50),
        ..Overrides::default()
    })
    .unwrap());
    let study = resolve(Overrides {
        strategy: Some("successive-halving".into()),
        max_trials: Some(50),
        workers: Some(0),
        store: Some(url.clone()),
        ..Overrides::default()
    })
    .unwrap();
    let controller = std::thread::spawn(move || run(study));
    let options = WorkerOptions {
        store: url.clone(),
        study: Some("default".into()),
        name: Some("w1".into()),
        lease: 30.0,
        heartbeat: 1.0,
        idle_exit: None,
        poll: 0.02,
        wait: 30.0,
    };
    run_worker(&options, &|_| {}).unwrap();
    let there = controller.join().unwrap();
    assert_eq!(there.trials, 50);
    assert_eq!(there.low_fidelity_trials, here.low_fidelity_trials);
    assert_eq!(there.epochs, here.epochs);
    assert_eq!(there.best.unwrap().arch, here.best.unwrap().arch);
    // 40 models at 12 epochs, 10 promoted at 200.
    assert_eq!(here.low_fidelity_trials, 40);
    assert_eq!(here.epochs, Some(40.0 * 12.0 + 10.0 * 200.0));
    assert!(trials(&url).iter().all(|t| t.3.is_some()));
}

#[test]
fn the_torch_engine_is_refused_for_multi_fidelity_searches() {
    for o in [
        multi(None),
        Overrides {
            strategy: Some("successive-halving".into()),
            ..Overrides::default()
        },
    ] {
        let e = resolve(Overrides {
            space: Some("mobilenetv3-small".into()),
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("train".into()),
            engine: Some("torch".into()),
            ..o
        })
        .unwrap_err();
        assert!(
            e.contains("torch engine does not train low-fidelity trials"),
            "{e}"
        );
    }
    // The burn engine trains them.
    resolve(Overrides {
        space: Some("mobilenetv3-small".into()),
        dataset: Some("fashion-mnist".into()),
        evaluator: Some("train".into()),
        ..multi(None)
    })
    .unwrap();
}
