//! The bench writes every section, CSV and chart, from scratch, on the real table.

use layernas_bench::{run_bench, summary, write_report, BenchConfig};
use layernas_tables::Dataset;

#[test]
fn a_small_bench_writes_all_four_sections_csvs_and_charts() {
    let config = BenchConfig {
        seeds: 2,
        budget: 120,
        datasets: vec![Dataset::Cifar10, Dataset::Imagenet16],
        ablation_buckets: vec![10, 100],
        ablation_keep: vec![1, 3],
        ..BenchConfig::default()
    };
    let results = run_bench(&config).unwrap();
    assert_eq!(results.runs.len(), 4 * 2 * 2);
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

    let dir = tempfile::tempdir().unwrap();
    write_report(&results, dir.path()).unwrap();
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for heading in [
        "## 1.",
        "## 2.",
        "## 3.",
        "## 4.",
        "## Speed",
        "optimum in the table",
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
    ] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(text.lines().count() > 1, "{file} is empty");
    }
    for ds in ["cifar10", "imagenet16"] {
        for chart in ["best_vs_trials", "front"] {
            let png = std::fs::read(dir.path().join(format!("{chart}_{ds}.png"))).unwrap();
            assert_eq!(&png[1..4], b"PNG");
            let svg =
                std::fs::read_to_string(dir.path().join(format!("{chart}_{ds}.svg"))).unwrap();
            assert!(svg.contains("<svg") && svg.contains("layernas"));
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
