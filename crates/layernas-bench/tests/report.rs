//! The bench writes every section, CSV and chart, from scratch, on the real table.

use layernas_bench::{run_bench, summary, write_report, BenchConfig, LAYERNAS_BUDGET};
use layernas_tables::Dataset;

#[test]
fn a_small_bench_writes_all_five_sections_csvs_and_charts() {
    let config = BenchConfig {
        seeds: 2,
        budget: 120,
        datasets: vec![Dataset::Cifar10, Dataset::Imagenet16],
        ablation_buckets: vec![10, 100],
        ablation_keep: vec![1, 3],
        front_costs: vec!["flops".into(), "latency:pixel3".into()],
        ..BenchConfig::default()
    };
    let results = run_bench(&config).unwrap();
    assert_eq!(config.strategies.len(), 5, "layernas and four baselines");
    assert_eq!(results.runs.len(), 5 * 2 * 2);
    // Section 5: every run under every front cost, plus LayerNAS with H fitted to the budget;
    // no run beats the true front.
    assert_eq!(results.fronts.len(), (5 + 1) * 2 * 2 * 2);
    for f in results
        .fronts
        .iter()
        .filter(|f| f.strategy == LAYERNAS_BUDGET)
    {
        // NB201's bound is 25 + 16 H for H <= 25: H = 5 is the largest within 120 trials.
        assert_eq!(f.buckets, Some(5));
        assert!(f.trials <= 105, "{f:?}");
    }
    assert_eq!(results.true_fronts.len(), 2 * 2);
    for f in &results.fronts {
        let truth = &results
            .true_fronts
            .iter()
            .find(|t| t.dataset == f.dataset && t.cost == f.cost)
            .unwrap()
            .front;
        assert!(f.score.hypervolume <= truth.hypervolume + 1e-12, "{f:?}");
        assert!(f.score.igd >= 0.0 && f.score.igd_plus >= 0.0);
        assert!(f.score.igd_plus <= f.score.igd + 1e-12);
        assert_eq!(f.hypervolume_curve.len(), f.trials);
        assert_eq!(*f.hypervolume_curve.last().unwrap(), f.score.hypervolume);
        // (The curve need not rise: a model that enters the front by validation may push out
        // one that tested better.)
    }
    for run in &results.runs {
        assert!(
            run.trials as u64 <= 120,
            "{} used {}",
            run.strategy,
            run.trials
        );
        assert_eq!(run.curve.len(), run.trials);
        assert_eq!(run.cap_regret.len(), 10);
    }
    // Regret is measured against the table's own best-by-validation model under each cap; the
    // oracle's evaluated set is the whole table, so a strategy's validation can never beat it.
    for row in &results.assumption {
        assert!(row.optimum.1 >= row.kept.map_or(f64::MIN, |k| k.1));
    }
    assert_eq!(results.ablation.len(), 2 * 2 * 2);
    // Section 7: plain and cap focus at every cap, on FLOPs (19 robustness caps + 100%) and
    // params (19); cap focus never spends more trials here.
    assert_eq!(results.single_cap.len(), 2 * 2 * (20 + 19));
    for r in results.single_cap.iter().filter(|r| r.cap_focus > 1) {
        let plain = results
            .single_cap
            .iter()
            .find(|p| {
                p.cap_focus == 1
                    && p.cost == r.cost
                    && p.dataset == r.dataset
                    && p.fraction == r.fraction
            })
            .unwrap();
        assert!(r.trials <= plain.trials, "{r:?} {plain:?}");
        let answer = r.answer.unwrap();
        assert!(answer.2 <= 100.0 && r.oracle_test > 0.0);
    }

    let dir = tempfile::tempdir().unwrap();
    write_report(&results, dir.path()).unwrap();
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for heading in [
        "## 1.",
        "## 2.",
        "## 3.",
        "## 4.",
        "## 5.",
        "## Speed",
        "optimum in the table",
        "the reference point is (1.01, 1.01)",
        "| LayerNAS vs |",
        "### Cost: latency:pixel3",
        "## 7. Single-cap search: cap focus",
        "| ImageNet16-120 | 50% | 46.32 (190) | 45.95 | 185 | 46.85 | 185 | wins |",
        "| CIFAR-10 | 25% | 93.51 (144) | 93.54 | 144 | 93.54 | 143 | wins |",
    ] {
        assert!(md.contains(heading), "missing {heading}");
    }
    assert_eq!(md, summary(&results));
    for file in [
        "runs.csv",
        "curves.csv",
        "front_regret.csv",
        "assumption.csv",
        "ablation.csv",
        "fronts.csv",
        "true_fronts.csv",
        "hypervolume_curves.csv",
        "significance.csv",
        "single_cap.csv",
    ] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(text.lines().count() > 1, "{file} is empty");
    }
    for ds in ["cifar10", "imagenet16"] {
        for stem in [
            format!("best_vs_trials_{ds}"),
            format!("front_{ds}"),
            format!("hypervolume_{ds}_flops"),
            format!("hypervolume_{ds}_latency-pixel3"),
        ] {
            let png = std::fs::read(dir.path().join(format!("{stem}.png"))).unwrap();
            assert_eq!(&png[1..4], b"PNG");
            let svg = std::fs::read_to_string(dir.path().join(format!("{stem}.svg"))).unwrap();
            assert!(svg.contains("<svg") && svg.contains("layernas"), "{stem}");
        }
    }
}

#[test]
fn zero_seeds_are_refused() {
    let err = run_bench(&BenchConfig {
        seeds: 0,
        ..BenchConfig::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("at least 1"), "{err}");
}

#[test]
fn section_one_is_typed_data_that_the_report_renders() {
    use layernas_bench::{accuracy_markdown, test_accuracy};
    let config = BenchConfig {
        seeds: 1,
        budget: 60,
        datasets: vec![Dataset::Cifar10],
        ablation_buckets: vec![10],
        ablation_keep: vec![1],
        ..BenchConfig::default()
    };
    let results = run_bench(&config).unwrap();
    let rows = test_accuracy(&results);
    // One row per strategy, then the exhaustive oracle and the table's optimum.
    assert_eq!(rows.len(), config.strategies.len() + 2);
    let optimum = rows.last().unwrap();
    assert_eq!(optimum.method, "optimum in the table (best test)");
    assert!((optimum.cells[0].0.mean - 94.37).abs() < 0.005);
    let layernas = rows.iter().find(|r| r.method == "layernas").unwrap();
    assert_eq!(layernas.cells.len(), 1);
    assert_eq!(layernas.cells[0].0.std, Some(0.0), "one seed");
    assert!(
        layernas.cells[0].1.is_some(),
        "the paper's figure is beside ours"
    );
    // The report's section 1 is exactly these rows rendered.
    let table = accuracy_markdown(&config.datasets, &rows);
    assert!(summary(&results).contains(&table));
}

#[test]
fn significance_is_left_out_without_a_baseline_and_typed_with_one() {
    use layernas_bench::{significance, Metric};
    let config = BenchConfig {
        seeds: 3,
        budget: 60,
        datasets: vec![Dataset::Cifar10],
        strategies: vec!["layernas".into()],
        front_costs: vec!["flops".into()],
        ablation_buckets: vec![10],
        ablation_keep: vec![1],
        ..BenchConfig::default()
    };
    let alone = run_bench(&config).unwrap();
    // (Section 6 has its own strategies: its table compares multi-fidelity LayerNAS with them.)
    assert!(!summary(&alone).contains("| LayerNAS vs |"));
    assert!(significance(&alone, Metric::TestAccuracy, "flops").is_empty());

    let config = BenchConfig {
        strategies: vec!["layernas".into(), "random".into(), "nsga2".into()],
        ..config
    };
    let results = run_bench(&config).unwrap();
    let rows = significance(&results, Metric::Hypervolume, "flops");
    assert_eq!(rows.len(), 2, "one per baseline");
    for row in &rows {
        assert_eq!(row.runs, (3, 3));
        assert!(row.p_holm >= row.p && row.p_holm <= 1.0);
        assert!((0.0..=1.0).contains(&row.effect));
    }
    // Holm over two: the smaller p doubled (capped at 1); the larger at least that.
    let (a, b) = (&rows[0], &rows[1]);
    let (lo, hi) = if a.p <= b.p { (a, b) } else { (b, a) };
    assert!((lo.p_holm - (2.0 * lo.p).min(1.0)).abs() < 1e-15);
    assert!(hi.p_holm >= lo.p_holm);
    // The report prints them beside the section-5 table.
    assert!(summary(&results).contains("| LayerNAS vs |"));
}
