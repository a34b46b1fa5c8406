//! Section 6: multi-fidelity search against training epochs, on the real table.

use layernas_bench::{
    run_bench, write_report, BenchConfig, LAYERNAS_MULTI_FIDELITY,
    LAYERNAS_MULTI_FIDELITY_CALIBRATED,
};
use layernas_tables::Dataset;

#[test]
fn the_multi_fidelity_section_scores_every_run_against_epochs() {
    let config = BenchConfig {
        seeds: 2,
        datasets: vec![Dataset::Cifar100],
        front_costs: vec!["flops".into()],
        ablation_buckets: vec![10],
        ablation_keep: vec![1],
        // Section 7 left out.
        cap_focus: 1,
        ..BenchConfig::default()
    };
    let results = run_bench(&config).unwrap();
    assert!(results.single_cap.is_empty());
    assert_eq!(results.fidelity.len(), 6 * 2);
    for r in &results.fidelity {
        assert_eq!(r.curve.len(), r.trials, "{}", r.strategy);
        assert_eq!(r.curve.last().unwrap().epochs, r.epochs);
        assert!(r.curve.windows(2).all(|w| w[0].epochs <= w[1].epochs));
        assert_eq!(r.curve.last().unwrap().hypervolume, r.hypervolume);
        let low = r.trials - r.full_trials;
        assert_eq!(r.epochs, 12.0 * low as f64 + 200.0 * r.full_trials as f64);
        match r.strategy.as_str() {
            "successive-halving" => assert_eq!((low, r.full_trials), (240, 60)),
            LAYERNAS_MULTI_FIDELITY | LAYERNAS_MULTI_FIDELITY_CALIBRATED => {
                assert!(low > 3 * r.full_trials)
            }
            _ => assert_eq!(low, 0),
        }
    }
    // Section 1's single-fidelity runs are reused as they are.
    let plain = results
        .fidelity
        .iter()
        .find(|r| r.strategy == "layernas")
        .unwrap();
    let run = results
        .runs
        .iter()
        .find(|r| r.strategy == "layernas" && r.seed == plain.seed)
        .unwrap();
    assert_eq!(plain.full_trials, run.trials);
    let regret: Vec<f64> = run.cap_regret.iter().flatten().copied().collect();
    assert!((plain.regret - regret.iter().sum::<f64>() / regret.len() as f64).abs() < 1e-12);
    // Multi-fidelity LayerNAS at most a third of the plain search's epochs.
    let multi = results
        .fidelity
        .iter()
        .find(|r| r.strategy == LAYERNAS_MULTI_FIDELITY)
        .unwrap();
    assert!(multi.epochs <= plain.epochs / 3.0);
    // Issue 14's target on CIFAR-100, which the incumbent bar misses (+0.080 points): the
    // calibrated bar's front regret within 0.05 points of the plain search's at no more than a
    // third of its epochs.
    let calibrated = results
        .fidelity
        .iter()
        .find(|r| r.strategy == LAYERNAS_MULTI_FIDELITY_CALIBRATED)
        .unwrap();
    assert!(
        multi.regret - plain.regret > 0.05,
        "{} {}",
        multi.regret,
        plain.regret
    );
    assert!(
        calibrated.regret - plain.regret <= 0.05,
        "{} {}",
        calibrated.regret,
        plain.regret
    );
    assert!(calibrated.epochs <= plain.epochs / 3.0);

    let dir = tempfile::tempdir().unwrap();
    write_report(&results, dir.path()).unwrap();
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("## 6. Multi-fidelity search"), "{md}");
    assert!(md.contains("| layernas-mf |"));
    assert!(md.contains("Multi-fidelity LayerNAS spends"));
    assert!(md.contains("With the calibrated bar, multi-fidelity LayerNAS spends"));
    // The rank tests of section 6.
    assert!(
        md.contains("| multi-fidelity LayerNAS vs | CIFAR-100 |"),
        "{md}"
    );
    assert!(
        md.contains("| successive-halving, front regret at equal epochs |"),
        "{md}"
    );
    assert!(!md.contains("## 7."));
    for file in ["fidelity_runs.csv", "fidelity_curves.csv"] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(text.lines().count() > 10, "{file}");
    }
    for stem in [
        "regret_vs_epochs_cifar100",
        "hypervolume_vs_epochs_cifar100",
    ] {
        let png = std::fs::read(dir.path().join(format!("{stem}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}

#[test]
fn an_unknown_multi_fidelity_strategy_is_refused() {
    let err = run_bench(&BenchConfig {
        seeds: 1,
        datasets: vec![Dataset::Cifar10],
        fidelity_strategies: vec!["hyperband".into()],
        ..BenchConfig::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("hyperband") && err.contains("successive-halving"),
        "{err}"
    );
}
