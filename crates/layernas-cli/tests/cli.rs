//! The `layernas` binary end to end on the embedded table, and every bad input the issue names.

use assert_cmd::Command;
use layernas_core::SearchSpace;
use layernas_spaces::Nb201Space;
use layernas_tables::{Dataset, Nb201Bench};
use serde_json::Value;
use std::path::Path;

fn layernas() -> Command {
    Command::cargo_bin("layernas").unwrap()
}

fn search_json(args: &[&str]) -> Value {
    let out = layernas()
        .arg("search")
        .args(args)
        .args(["--quiet", "--json", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs a failing command and returns its one-line error.
fn fails_with(args: &[&str]) -> String {
    let out = layernas().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    stderr
}

#[test]
fn capped_search_returns_a_model_under_the_cap_with_the_tables_numbers() {
    let json = search_json(&[
        "--space",
        "nb201",
        "--dataset",
        "cifar10",
        "--cost",
        "flops",
        "--max-cost",
        "60",
    ]);
    for key in ["trials", "trial_bound", "best", "front"] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert!(json["trials"].as_u64().unwrap() <= json["trial_bound"].as_u64().unwrap());
    let best = &json["best"];
    let cost = best["cost"].as_f64().unwrap();
    assert!(cost <= 60.0);
    let space = Nb201Space::new();
    let arch = space.parse(best["arch"].as_str().unwrap()).unwrap();
    let code = Nb201Space::code(&arch);
    let bench = Nb201Bench::embedded().unwrap();
    assert_eq!(cost, bench.column("flops_m_cifar10").unwrap()[code]);
    assert_eq!(
        best["reward"].as_f64().unwrap(),
        bench.column("cifar10_valid").unwrap()[code]
    );
    assert_eq!(
        best["test"].as_f64().unwrap(),
        bench.column("cifar10_test").unwrap()[code]
    );
    // The front is a Pareto set: cost up, reward strictly up.
    let front = json["front"].as_array().unwrap();
    assert!(!front.is_empty());
    for pair in front.windows(2) {
        assert!(pair[0]["cost"].as_f64() < pair[1]["cost"].as_f64());
        assert!(pair[0]["reward"].as_f64() < pair[1]["reward"].as_f64());
    }
}

#[test]
fn front_search_finds_a_top_cifar10_cell_within_300_trials() {
    let json = search_json(&["--dataset", "cifar10"]);
    assert!(json["trials"].as_u64().unwrap() <= 300);
    assert!(
        json["best"]["test"].as_f64().unwrap() >= 94.30,
        "{}",
        json["best"]
    );
    assert!(json["sim_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn human_output_shows_bound_trials_answer_and_front() {
    let out = layernas()
        .args([
            "search",
            "--dataset",
            "cifar100",
            "--cost",
            "params",
            "--max-cost",
            "0.5",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "trial bound:",
        "trials used:",
        "best with params <= 0.5",
        "validation",
        "test",
        "front",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn runs_are_deterministic() {
    let args = [
        "--dataset",
        "imagenet16",
        "--cost",
        "latency:pixel3",
        "--keep",
        "2",
        "--children-per-layer",
        "40",
        "--seed",
        "7",
    ];
    let mut a = search_json(&args);
    let mut b = search_json(&args);
    a["elapsed_seconds"] = Value::Null;
    b["elapsed_seconds"] = Value::Null;
    assert_eq!(a, b);
}

#[test]
fn study_file_equals_flags_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("study.toml");
    std::fs::write(
        &path,
        "space = \"nb201\"\ndataset = \"cifar100\"\ncost = \"flops\"\nmax_cost = 80.0\nseed = 3\n\n[layernas]\nbuckets = 50\nkeep = 2\nspacing = \"log\"\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let mut from_file = search_json(&["-c", p]);
    let mut from_flags = search_json(&[
        "--dataset",
        "cifar100",
        "--cost",
        "flops",
        "--max-cost",
        "80",
        "--seed",
        "3",
        "--buckets",
        "50",
        "--keep",
        "2",
        "--spacing",
        "log",
    ]);
    from_file["elapsed_seconds"] = Value::Null;
    from_flags["elapsed_seconds"] = Value::Null;
    assert_eq!(from_file, from_flags);
    let overridden = search_json(&["-c", p, "--max-cost", "40"]);
    assert_eq!(overridden["max_cost"].as_f64(), Some(40.0));
    assert!(overridden["best"]["cost"].as_f64().unwrap() <= 40.0);
}

#[test]
fn json_file_is_written_beside_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    layernas()
        .args(["search", "--quiet", "--max-cost", "30", "--json"])
        .arg(&out)
        .assert()
        .success();
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(json["best"]["cost"].as_f64().unwrap() <= 30.0);
}

#[test]
fn unknown_names_list_the_allowed_values() {
    let e = fails_with(&["search", "--space", "nb101"]);
    assert!(
        e.contains("unknown space \"nb101\"") && e.contains("nb201"),
        "{e}"
    );
    let e = fails_with(&["search", "--dataset", "mnist"]);
    assert!(
        e.contains("unknown dataset \"mnist\"") && e.contains("cifar10, cifar100, imagenet16"),
        "{e}"
    );
    let e = fails_with(&["search", "--cost", "energy"]);
    assert!(
        e.contains("unknown cost \"energy\"") && e.contains("latency:<device>"),
        "{e}"
    );
    let e = fails_with(&["search", "--cost", "latency:iphone"]);
    assert!(
        e.contains("unknown latency device \"iphone\"") && e.contains("pixel3"),
        "{e}"
    );
    let e = fails_with(&["search", "--reward-column", "cifar10_vald"]);
    assert!(
        e.contains("unknown column \"cifar10_vald\"") && e.contains("cifar10_valid"),
        "{e}"
    );
}

#[test]
fn a_cap_below_the_cheapest_model_is_refused() {
    let e = fails_with(&["search", "--max-cost", "5"]);
    assert!(
        e.contains("max_cost 5") && e.contains("below the cheapest model") && e.contains("7.78305"),
        "{e}"
    );
    let e = fails_with(&["search", "--min-cost", "50", "--max-cost", "40"]);
    assert!(e.contains("above max_cost"), "{e}");
    let e = fails_with(&["search", "--buckets", "0"]);
    assert!(e.contains("buckets"), "{e}");
}

#[test]
fn malformed_study_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "dataset = \"cifar10\nmax_cost = 3\n").unwrap();
    let e = fails_with(&["search", "-c", bad.to_str().unwrap()]);
    assert!(
        e.contains("malformed study file") && e.contains("line 1"),
        "{e}"
    );
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "dataset = \"cifar10\"\n[layernas]\nbukets = 10\n").unwrap();
    let e = fails_with(&["search", "-c", unknown.to_str().unwrap()]);
    assert!(
        e.contains("line 3") && e.contains("unknown field `bukets`"),
        "{e}"
    );
    let e = fails_with(&[
        "search",
        "-c",
        dir.path().join("none.toml").to_str().unwrap(),
    ]);
    assert!(e.contains("cannot read study file"), "{e}");
}

fn write_data_dir(dir: &Path, tss: &str) {
    std::fs::create_dir_all(dir.join("nasbench201")).unwrap();
    std::fs::create_dir_all(dir.join("hw-nas-bench")).unwrap();
    std::fs::write(dir.join("nasbench201/tss.csv"), tss).unwrap();
}

#[test]
fn missing_or_corrupt_data_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = fails_with(&["search", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(
        e.contains("cannot read data file") && e.contains("tss.csv"),
        "{e}"
    );

    let corrupt = dir.path().join("corrupt");
    write_data_dir(
        &corrupt,
        "index,arch,cifar10_valid\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,abc\n",
    );
    let e = fails_with(&["search", "--data-dir", corrupt.to_str().unwrap()]);
    assert!(
        e.contains("corrupt data file")
            && e.contains("line 2")
            && e.contains("\"abc\" is not a number"),
        "{e}"
    );

    let gz = dir.path().join("gz");
    write_data_dir(&gz, "");
    std::fs::write(gz.join("nasbench201/tss.csv.gz"), b"definitely not gzip").unwrap();
    let e = fails_with(&["search", "--data-dir", gz.to_str().unwrap()]);
    assert!(
        e.contains("corrupt data file") && e.contains("not valid gzip"),
        "{e}"
    );
}

#[test]
fn a_copy_of_the_data_directory_gives_the_same_answer() {
    // The repository's own data/ directory, read from disk instead of the embedded copy.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let mut from_dir = search_json(&["--max-cost", "60", "--data-dir", data.to_str().unwrap()]);
    let mut embedded = search_json(&["--max-cost", "60"]);
    from_dir["elapsed_seconds"] = Value::Null;
    embedded["elapsed_seconds"] = Value::Null;
    assert_eq!(from_dir, embedded);
    let _ = Dataset::Cifar10;
}

#[test]
fn every_command_has_help_with_an_example() {
    for args in [&["--help"][..], &["search", "--help"][..]] {
        let out = layernas().args(args).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("layernas search --space nb201"), "{text}");
    }
}

#[test]
fn every_baseline_runs_from_the_cli_under_a_cap() {
    for strategy in ["random", "evolution", "reinforce", "exhaustive"] {
        let json = search_json(&[
            "--strategy",
            strategy,
            "--max-cost",
            "50",
            "--max-trials",
            "80",
        ]);
        assert_eq!(json["strategy"], strategy);
        assert!(json["trials"].as_u64().unwrap() <= 80);
        assert!(json["best"]["cost"].as_f64().unwrap() <= 50.0);
        for p in json["front"].as_array().unwrap() {
            assert!(
                p["cost"].as_f64().unwrap() <= 50.0,
                "{strategy} evaluated over the cap"
            );
        }
    }
    let e = fails_with(&["search", "--strategy", "bayesian"]);
    assert!(
        e.contains("unknown strategy \"bayesian\"") && e.contains("reinforce"),
        "{e}"
    );
}

#[test]
fn bench_writes_a_report_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = layernas()
        .args([
            "bench",
            "--datasets",
            "cifar100",
            "--seeds",
            "1",
            "--budget",
            "60",
            "--output",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("| layernas |") && text.contains("optimum in the table"),
        "{text}"
    );
    assert!(dir.path().join("report.md").exists());
    assert!(dir.path().join("front_cifar100.svg").exists());
    let e = fails_with(&["bench", "--datasets", "mnist"]);
    assert!(e.contains("unknown dataset"), "{e}");
    let e = fails_with(&["bench", "--strategies", "exhaustive"]);
    assert!(e.contains("always included"), "{e}");
}

#[test]
fn bench_help_has_an_example() {
    let out = layernas().args(["bench", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("layernas bench --output bench-report"),
        "{text}"
    );
}
