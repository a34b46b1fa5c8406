//! The `layernas` binary end to end on the embedded table, and every bad input the issue names.

use assert_cmd::Command;
use layernas_core::SearchSpace;
use layernas_spaces::Nb201Space;
use layernas_tables::{Dataset, Nb201Table};
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
    let bench = Nb201Table::embedded().unwrap();
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
    for (args, example) in [
        (&["--help"][..], "layernas search --space nb201"),
        (&["search", "--help"][..], "layernas search --space nb201"),
        (&["bench", "--help"][..], "layernas bench --output"),
        (&["space", "--help"][..], "layernas space mobilenetv3-large"),
        (
            &["show", "--help"][..],
            "layernas show --space mobilenetv2 --arch backbone",
        ),
    ] {
        let out = layernas().args(args).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(example), "{args:?}: {text}");
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
    // Bad knobs are refused before the report folder is made.
    let never = dir.path().join("never");
    for knob in [
        "--seeds",
        "--budget",
        "--caps",
        "--threads",
        "--promote",
        "--cap-focus",
    ] {
        let e = fails_with(&["bench", knob, "0", "--output", never.to_str().unwrap()]);
        assert!(e.contains("must be at least 1"), "{knob}: {e}");
    }
    assert!(!never.exists());
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

fn run_json(args: &[&str]) -> Value {
    let out = layernas().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn show_reproduces_the_reference_backbones() {
    for (space, madds, params) in [
        ("mobilenetv2", 300_774_272u64, 3_504_872u64),
        ("mobilenetv3-large", 216_589_760, 5_483_032),
    ] {
        let json = run_json(&["show", "--space", space, "--arch", "backbone", "--json"]);
        assert_eq!(json["madds"].as_u64(), Some(madds), "{space}");
        assert_eq!(json["params"].as_u64(), Some(params), "{space}");
        assert_eq!(json["input"]["resolution"], 224);
        assert!(json["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["op"] == "mbconv"));
    }
    let json = run_json(&[
        "show",
        "--space",
        "nats-sss",
        "--arch",
        "64:64:64:64:64",
        "--json",
    ]);
    assert_eq!(json["params"].as_u64(), Some(713_674));
    let out = layernas()
        .args(["show", "--space", "mobilenetv2", "--arch", "backbone"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "input",
        "operator",
        "kernel",
        "expansion",
        "stride",
        "SE",
        "act",
        "MAdds",
        "params",
        "300774272",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
}

#[test]
fn space_prints_sizes_ranges_and_the_trial_bound() {
    for space in [
        "nb201",
        "mobilenetv2",
        "mobilenetv3-large",
        "mobilenetv3-small",
        "nats-sss",
    ] {
        let json = run_json(&["space", space, "--json"]);
        let models: u128 = json["models"].as_str().unwrap().parse().unwrap();
        assert!(models > 1000, "{space}");
        assert!(json["trial_bound"].as_u64().unwrap() > 0);
        let costs = json["costs"].as_array().unwrap();
        assert!(costs[0]["min"].as_f64() < costs[0]["max"].as_f64());
    }
    let json = run_json(&["space", "nats-sss", "--json"]);
    assert_eq!(json["models"], "32768");
    let json = run_json(&["space", "nb201", "--json"]);
    assert_eq!(json["models"], "15625");
    let text = String::from_utf8(
        layernas()
            .args(["space", "mobilenetv2"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        text.contains("backbone 300.7743") && text.contains("LayerNAS trial bound"),
        "{text}"
    );
}

#[test]
fn dry_run_plans_network_space_searches() {
    let json = run_json(&[
        "search",
        "--space",
        "mobilenetv3-large",
        "--cost",
        "madds",
        "--max-cost",
        "220",
        "--dry-run",
        "--json",
        "-",
    ]);
    let plan = json["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 74);
    let total: u64 = 1 + plan
        .iter()
        .map(|r| r["children"].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(json["trial_bound"].as_u64(), Some(total));
    let e = fails_with(&["search", "--space", "mobilenetv2", "--max-cost", "300"]);
    assert!(
        e.contains("no benchmark table")
            && e.contains("--evaluator command")
            && e.contains("--dry-run"),
        "{e}"
    );
    let e = fails_with(&[
        "search",
        "--space",
        "nats-sss",
        "--cost",
        "flops",
        "--dry-run",
    ]);
    assert!(
        e.contains("unknown cost \"flops\"") && e.contains("madds, params"),
        "{e}"
    );
    let e = fails_with(&[
        "search",
        "--space",
        "mobilenetv2",
        "--max-cost",
        "50",
        "--dry-run",
    ]);
    assert!(e.contains("below the cheapest model"), "{e}");
}

#[test]
fn user_defined_spaces_load_from_toml() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/spaces/tiny-mobilenet.toml");
    let json = run_json(&["space", example.to_str().unwrap(), "--json"]);
    assert_eq!(json["space"], "tiny-mobilenet");
    let json = run_json(&[
        "show",
        "--space",
        example.to_str().unwrap(),
        "--arch",
        "b3.skip=skip,b1.kernel=3",
        "--json",
    ]);
    assert_eq!(json["classes"], 10);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"b\"\nclasses = 10\ninput = { resolution = 8, channels = 3 }\n[[layers]]\nop = \"conv\"\nout = [8, 0]\nkernel = 3\n").unwrap();
    let e = fails_with(&["space", bad.to_str().unwrap()]);
    assert!(e.contains("out must be positive, got 0"), "{e}");
    std::fs::write(&bad, "name = \"b\"\nclasses = 10\ninput = { resolution = 8, channels = 3 }\n[[layers]]\nop = \"conv\"\nout = [8, 16]\nkernel = 3\nstride = 16\n").unwrap();
    let e = fails_with(&["space", bad.to_str().unwrap()]);
    assert!(e.contains("below 1x1"), "{e}");
}

#[test]
fn architectures_outside_the_space_are_refused() {
    let e = fails_with(&[
        "show",
        "--space",
        "mobilenetv2",
        "--arch",
        "block2.kernel=9",
    ]);
    assert!(
        e.contains("no option \"9\"") && e.contains("allowed: 3, 5, 7"),
        "{e}"
    );
    let e = fails_with(&["show", "--space", "nats-sss", "--arch", "8:8:8"]);
    assert!(e.contains("expected 5 values"), "{e}");
    let e = fails_with(&[
        "show",
        "--space",
        "mobilenetv2",
        "--arch",
        "block99.kernel=3",
    ]);
    assert!(e.contains("no search layer named"), "{e}");
    let e = fails_with(&["show", "--space", "nb201", "--arch", "backbone"]);
    assert!(e.contains("no network description"), "{e}");
    let e = fails_with(&["space", "resnet"]);
    assert!(
        e.contains("unknown space \"resnet\"") && e.contains("mobilenetv3-small"),
        "{e}"
    );
}

/// A stand-in trainer: reward grows with the network's parameters (and the cell's conv count
/// on nb201); fails on request for architectures whose key contains "4".
const TOY_TRAINER: &str = r#"python3 -c '
import json, math, os, sys
t = json.load(sys.stdin)
if os.environ.get("FAIL_ON_4") and "4" in t["key"]:
    print("simulated crash", file=sys.stderr); sys.exit(1)
size = t["network"]["params"] if t["network"] else t["arch"].count("conv")
r = 100 * (1 - math.exp(-size / 3e5)) if t["network"] else 80 + 2 * size
print(json.dumps({"reward": r, "test": r - 0.5}))
'"#;

#[test]
fn the_command_evaluator_searches_any_space_with_the_same_json() {
    let json = search_json(&[
        "--space",
        "nats-sss",
        "--cost",
        "madds",
        "--max-cost",
        "40",
        "--buckets",
        "10",
        "--evaluator",
        "command",
        "--command",
        TOY_TRAINER,
        "--workers",
        "2",
    ]);
    let best = &json["best"];
    assert!(best["cost"].as_f64().unwrap() <= 40.0);
    assert_eq!(
        best["test"].as_f64().unwrap(),
        best["reward"].as_f64().unwrap() - 0.5
    );
    assert!(json["front"].as_array().unwrap().len() > 3);
    assert_eq!(json["reward_column"], "reward");
    // nb201 takes a command too, with the arch string as the CLI prints it.
    let json = search_json(&[
        "--evaluator",
        "command",
        "--command",
        TOY_TRAINER,
        "--max-cost",
        "30",
        "--buckets",
        "10",
    ]);
    assert!(json["best"]["arch"].as_str().unwrap().starts_with('|'));
}

#[test]
fn failing_commands_become_failed_trials_and_the_search_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    let out = layernas()
        .env("FAIL_ON_4", "1")
        .args([
            "search",
            "--space",
            "nats-sss",
            "--max-cost",
            "40",
            "--buckets",
            "10",
            "--evaluator",
            "command",
            "--retries",
            "1",
            "--quiet",
            "--json",
            "-",
            "--command",
            TOY_TRAINER,
            "--store",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["failed"].as_u64().unwrap() > 0);
    let first = json["first_failure"].as_str().unwrap();
    assert!(first.contains("simulated crash"), "{first}");
    assert!(json["best"].is_object());
    let status = layernas()
        .args(["status", "--store"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8(status.stdout).unwrap();
    assert!(
        text.contains("2 attempts") && text.contains("simulated crash"),
        "{text}"
    );
}

#[test]
fn evaluator_choices_are_checked() {
    let e = fails_with(&["search", "--space", "mobilenetv2", "--evaluator", "command"]);
    assert!(e.contains("needs --command"), "{e}");
    let e = fails_with(&["search", "--space", "mobilenetv2", "--evaluator", "table"]);
    assert!(e.contains("no benchmark table"), "{e}");
    let e = fails_with(&["search", "--evaluator", "oracle"]);
    assert!(
        e.contains("unknown evaluator \"oracle\"") && e.contains("table, train, command"),
        "{e}"
    );
}

#[test]
fn the_built_in_trainer_searches_a_network_space() {
    let space =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/spaces/fashion-cnn.toml");
    let json = search_json(&[
        "--space",
        space.to_str().unwrap(),
        "--dataset",
        "fashion-mnist",
        "--evaluator",
        "train",
        "--epochs",
        "1",
        "--train-subset",
        "300",
        "--strategy",
        "random",
        "--max-trials",
        "2",
        "--workers",
        "2",
    ]);
    assert_eq!(json["trials"], 2);
    let best = &json["best"];
    assert!(best["reward"].as_f64().unwrap() > 10.0, "{best}");
    assert!(best["test"].as_f64().is_some());
    assert_eq!(json["dataset"], "fashion-mnist");
    let e = fails_with(&[
        "search",
        "--space",
        space.to_str().unwrap(),
        "--evaluator",
        "train",
    ]);
    assert!(e.contains("--dataset fashion-mnist"), "{e}");
    let e = fails_with(&[
        "search",
        "--evaluator",
        "train",
        "--dataset",
        "fashion-mnist",
    ]);
    assert!(e.contains("needs a network space"), "{e}");
    let e = fails_with(&[
        "search",
        "--space",
        space.to_str().unwrap(),
        "--dataset",
        "fashion-mnist",
        "--evaluator",
        "train",
        "--epochs",
        "0",
    ]);
    assert!(e.contains("epochs"), "{e}");
    let bad = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "--space",
            space.to_str().unwrap(),
            "--dataset",
            "fashion-mnist",
            "--evaluator",
            "train",
        ];
        args.extend_from_slice(extra);
        fails_with(&args)
    };
    let e = bad(&["--train-threads", "0"]);
    assert!(e.contains("threads must be at least 1"), "{e}");
    let e = bad(&["--engine", "jax"]);
    assert!(e.contains("unknown engine \"jax\""), "{e}");
    let e = bad(&["--device", "cuda"]);
    assert!(e.contains("burn engine runs on the CPU only"), "{e}");
    let e = bad(&["--engine", "torch", "--device", "gpu0"]);
    assert!(e.contains("invalid train setting: device \"gpu0\""), "{e}");
    let missing = layernas()
        .env("LAYERNAS_TORCH", "/nonexistent/layernas-torch")
        .args([
            "search",
            "--space",
            space.to_str().unwrap(),
            "--dataset",
            "fashion-mnist",
            "--evaluator",
            "train",
            "--engine",
            "torch",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let e = String::from_utf8_lossy(&missing.stderr);
    assert!(
        e.contains("engine torch runs the layernas-torch program")
            && e.contains("LAYERNAS_TORCH=/nonexistent/layernas-torch is no file"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let study = dir.path().join("study.toml");
    std::fs::write(&study, "[train]\ndepth = 1.5\n").unwrap();
    let e = bad(&["--config", study.to_str().unwrap()]);
    assert!(e.contains("depth must be in (0, 1]"), "{e}");
}

#[test]
fn profile_writes_a_latency_table_that_prices_searches() {
    let space =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/spaces/fashion-cnn.toml");
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("latency.json");
    let out = layernas()
        .args([
            "profile",
            "--space",
            space.to_str().unwrap(),
            "--warmup",
            "1",
            "--repeats",
            "3",
            "--check",
            "5",
            "--output",
        ])
        .arg(&table)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("layer configurations timed") && text.contains("Spearman"),
        "{text}"
    );
    let cost = format!("latency:{}", table.display());
    let json = run_json(&[
        "search",
        "--space",
        space.to_str().unwrap(),
        "--cost",
        &cost,
        "--dry-run",
        "--json",
        "-",
    ]);
    assert_eq!(json["cost"]["unit"], "ms");
    let e = fails_with(&[
        "search",
        "--space",
        "nats-sss",
        "--cost",
        &cost,
        "--dry-run",
    ]);
    assert!(
        e.contains("measured for space fashion-cnn, not nats-sss"),
        "{e}"
    );
    let e = fails_with(&[
        "search",
        "--space",
        "nats-sss",
        "--cost",
        "latency:/nonexistent.json",
        "--dry-run",
    ]);
    assert!(e.contains("cannot read latency table"), "{e}");

    // tract times the same layers as ONNX graphs; the report is JSON on request.
    let tract_table = dir.path().join("tract.json");
    let report = run_json(&[
        "profile",
        "--space",
        space.to_str().unwrap(),
        "--engine",
        "tract",
        "--warmup",
        "1",
        "--repeats",
        "3",
        "--sample-ms",
        "0.2",
        "--check",
        "4",
        "--json",
        "--output",
        tract_table.to_str().unwrap(),
    ]);
    assert_eq!(report["engine"], "tract");
    assert_eq!(report["space"], "fashion-cnn");
    assert_eq!(report["check"]["networks"].as_array().unwrap().len(), 4);
    assert!(report["check"]["spearman"].is_number());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&tract_table).unwrap()).unwrap();
    assert!(written["engine"].as_str().unwrap().starts_with("tract"));
    assert!(written["base_ms"].as_f64().unwrap().is_finite());
    assert_eq!(report["calibration"], 20);
    assert_eq!(written["base_ms"], report["base_ms"]);
    let out = layernas()
        .args(["profile", "--space", "nats-sss", "--engine", "onnxruntime"])
        .args(["--output", tract_table.to_str().unwrap()])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("unknown engine \"onnxruntime\": burn or tract"),
        "{e}"
    );
    let e = fails_with(&[
        "profile",
        "--space",
        space.to_str().unwrap(),
        "--sample-ms",
        "0",
        "--output",
        tract_table.to_str().unwrap(),
    ]);
    assert!(e.contains("--sample-ms must be more than 0"), "{e}");
}

#[test]
fn engine_torch_runs_the_layernas_torch_program_with_the_recipe_in_its_context() {
    // A stand-in for torch/'s program: it checks what layernas hands it (the network, the
    // `[train]` knobs, the data directory) and answers like the real one.
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("layernas-torch");
    std::fs::write(
        &program,
        r#"#!/usr/bin/env python3
import json, sys
t = json.load(sys.stdin)
train = t["context"]["train"]
assert train["engine"] == "torch" and train["device"] == "cpu", train
assert train["epochs"] == 3 and train["threads"] == 2 and train["depth"] == 0.5, train
assert t["context"]["data_dir"] is None
assert t["network"]["layers"] and t["network"]["madds"] > 0
print(json.dumps({"reward": t["network"]["madds"] / 1e4, "test": 1.0, "train_seconds": 0.1}))
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let study = dir.path().join("study.toml");
    std::fs::write(&study, "[train]\nepochs = 3\ndepth = 0.5\n").unwrap();
    let space =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/spaces/fashion-cnn.toml");
    let out = layernas()
        .env("LAYERNAS_TORCH", &program)
        .args(["search", "--space", space.to_str().unwrap(), "--config"])
        .arg(&study)
        .args([
            "--dataset",
            "fashion-mnist",
            "--evaluator",
            "train",
            "--engine",
            "torch",
            "--train-threads",
            "2",
            "--strategy",
            "random",
            "--max-trials",
            "3",
            "--quiet",
            "--json",
            "-",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["trials"], 3, "{json}");
    assert_eq!(json["failed"], 0, "{json}");
    assert!(json["best"]["reward"].as_f64().unwrap() > 0.0, "{json}");
}

const U64_MAX: &str = "18446744073709551615";

#[test]
fn extreme_numbers_are_one_line_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let study = dir.path().join("study.toml");
    std::fs::write(&study, "trial_timeout = 1e300\n").unwrap();
    for (args, needle) in [
        (
            &["search", "--trial-timeout", "1e300"][..],
            "invalid trial_timeout 1e300",
        ),
        (
            &["search", "-c", study.to_str().unwrap()][..],
            "invalid trial_timeout 1e300",
        ),
        (
            &[
                "search",
                "--strategy",
                "reinforce",
                "--learning-rate",
                "1e308",
            ][..],
            "invalid learning_rate",
        ),
        (
            &["search", "--buckets", U64_MAX][..],
            "invalid buckets 18446744073709551615: must be 1 to 1000000",
        ),
        (
            &[
                "search",
                "--dry-run",
                "--space",
                "mobilenetv3-large",
                "--max-cost",
                "220",
                "--buckets",
                U64_MAX,
                "--keep",
                U64_MAX,
            ][..],
            "invalid buckets",
        ),
        (
            &["search", "--buckets", "4294967296"][..],
            "invalid buckets",
        ),
        (&["search", "--keep", "4294967296"][..], "invalid keep"),
        (
            &["space", "nb201", "--buckets", U64_MAX][..],
            "invalid buckets",
        ),
        (&["search", "--workers", "1000000"][..], "invalid workers"),
        (
            &["search", "--sim-time-scale", "1e300"][..],
            "invalid sim_time_scale",
        ),
        (
            &["search", "--retries", "4294967295"][..],
            "invalid retries",
        ),
    ] {
        let e = fails_with(args);
        assert!(e.contains(needle), "{args:?}: {e}");
    }
}

#[test]
fn negative_costs_are_values_and_refused_by_name() {
    let e = fails_with(&["search", "--max-cost", "-1"]);
    assert!(e.contains("invalid max_cost -1: must be 0 or more"), "{e}");
    let e = fails_with(&["search", "--min-cost", "-0.5", "--max-cost", "60"]);
    assert!(e.contains("invalid min_cost -0.5"), "{e}");
    let e = fails_with(&["search", "--trial-timeout", "-3"]);
    assert!(e.contains("invalid trial_timeout -3"), "{e}");
}

#[test]
fn large_buckets_and_keep_search_in_bounded_memory() {
    // The largest H and K: buckets are stored only where candidates lie.
    let json = search_json(&[
        "--max-cost",
        "60",
        "--buckets",
        "1000000",
        "--keep",
        "1000000",
    ]);
    assert!(json["trials"].as_u64().unwrap() <= 15_625);
    assert!(json["trial_bound"].as_u64().unwrap() <= 15_625);
    assert!(json["best"]["cost"].as_f64().unwrap() <= 60.0);
    // The dry-run plan of a large space stays within the space and its total fits.
    let out = layernas()
        .args([
            "search",
            "--dry-run",
            "--space",
            "mobilenetv3-large",
            "--max-cost",
            "220",
            "--buckets",
            "1000000",
            "--keep",
            "1000000",
            "--json",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let models: u128 = plan["models"].as_str().unwrap().parse().unwrap();
    assert!(u128::from(plan["trial_bound"].as_u64().unwrap()) <= models);
}

#[test]
fn reinforce_with_a_high_learning_rate_does_bounded_work() {
    // It used to redraw up to 100,000 times per trial once the policy collapsed, each redraw an
    // Adam update: minutes of CPU. Now it is seconds at most.
    let started = std::time::Instant::now();
    let json = search_json(&[
        "--strategy",
        "reinforce",
        "--learning-rate",
        "1",
        "--max-cost",
        "60",
        "--max-trials",
        "100",
    ]);
    assert_eq!(json["trials"], 100);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn user_space_sizes_that_overflow_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let head = "name = \"b\"\nclasses = 10\ninput = { resolution = 32, channels = 3 }\n";
    for (body, needle) in [
        (
            "[[layers]]\nop = \"conv\"\nout = [8, 4294967295]\nkernel = 3\n",
            "out 4294967295 is too large (at most 1000000)",
        ),
        (
            "[[layers]]\nop = \"conv\"\nout = 8\nkernel = [3, 4294967295]\n",
            "kernel 4294967295 is too large",
        ),
        (
            "[[layers]]\nname = \"a=b\"\nop = \"conv\"\nout = [8, 16]\nkernel = 3\n",
            "without '='",
        ),
        (
            "[[layers]]\nname = \"a,b\"\nop = \"conv\"\nout = [8, 16]\nkernel = 3\n",
            "without '='",
        ),
        (
            "[[layers]]\nop = \"conv\"\nout = [8, 16]\nkernel = 3\n[[layers]]\nop = \"conv\"\ndepthwise = true\nout = 32\nkernel = [3, 5]\n",
            "a depthwise conv keeps its input channels; remove out",
        ),
    ] {
        let path = dir.path().join("s.toml");
        std::fs::write(&path, format!("{head}{body}")).unwrap();
        for args in [
            vec!["space", path.to_str().unwrap()],
            vec!["show", "--space", path.to_str().unwrap(), "--arch", ""],
        ] {
            let e = fails_with(&args);
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }
}

#[test]
fn an_architecture_naming_a_layer_twice_is_refused() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/spaces/tiny-mobilenet.toml");
    let e = fails_with(&[
        "show",
        "--space",
        example.to_str().unwrap(),
        "--arch",
        "b1.kernel=3,b1.kernel=5",
    ]);
    assert!(e.contains("layer b1.kernel is named twice"), "{e}");
}

#[test]
fn inputs_that_would_be_ignored_are_refused() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/spaces/tiny-mobilenet.toml");
    for (args, needle) in [
        (&["search", "--store", ""][..], "invalid store \"\""),
        (
            &["search", "--command", "true"][..],
            "--command is run by --evaluator command, but the evaluator is table",
        ),
        (
            &["search", "--epochs", "3"][..],
            "--epochs sets the built-in trainer, but the evaluator is table",
        ),
        (
            &["search", "--engine", "torch"][..],
            "--engine sets the built-in trainer",
        ),
        (
            &["search", "--strategy", "evolution", "--sample-size", "11"][..],
            "invalid sample_size 11: must be 1 to the population (10)",
        ),
        (
            &[
                "search",
                "--strategy",
                "evolution",
                "--mutated-layers",
                "99",
            ][..],
            "invalid mutated_layers 99",
        ),
        (
            &[
                "search",
                "--space",
                example.to_str().unwrap(),
                "--evaluator",
                "command",
                "--command",
                "true",
                "--epochs",
                "2",
            ][..],
            "but the evaluator is command",
        ),
    ] {
        let e = fails_with(args);
        assert!(e.contains(needle), "{args:?}: {e}");
    }
}

#[test]
fn a_dataset_the_table_does_not_have_is_an_error() {
    for extra in [&[][..], &["--evaluator", "table"][..]] {
        let mut args = vec!["search", "--dataset", "fashion-mnist"];
        args.extend_from_slice(extra);
        let e = fails_with(&args);
        assert!(
            e.contains("dataset fashion-mnist has no NAS-Bench-201 table"),
            "{e}"
        );
    }
}

#[test]
fn allow_changed_config_is_a_study_file_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let study = dir.path().join("study.toml");
    search_json(&["--max-cost", "60", "--store", store.to_str().unwrap()]);
    let e = fails_with(&[
        "search",
        "--max-cost",
        "50",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(e.contains("allow"), "{e}");
    std::fs::write(&study, "max_cost = 50.0\nallow_changed_config = true\n").unwrap();
    search_json(&[
        "-c",
        study.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
}

#[test]
fn a_flops_search_needs_no_latency_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    std::fs::create_dir_all(dir.path().join("nasbench201")).unwrap();
    std::fs::copy(
        data.join("nasbench201/tss.csv.gz"),
        dir.path().join("nasbench201/tss.csv.gz"),
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let json = search_json(&["--max-cost", "60", "--data-dir", d]);
    assert!(json["best"]["cost"].as_f64().unwrap() <= 60.0);
    let e = fails_with(&["search", "--cost", "latency:pixel3", "--data-dir", d]);
    assert!(
        e.contains("cannot read data file") && e.contains("latency.csv"),
        "{e}"
    );
}

#[test]
fn help_texts_name_every_choice_once() {
    let text = |args: &[&str]| {
        let out = layernas().args(args).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let search = text(&["search", "--help"]);
    // Help wraps lines: compare with whitespace collapsed.
    let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let search = flat(&search);
    for needle in [
        "train (the built-in trainer",
        "fashion-mnist (the built-in trainer's)",
        "runs the separate layernas-torch program, found via $LAYERNAS_TORCH, beside layernas or on PATH",
        "H, 1 to 1000000",
        "above 0 and at most 10",
        "above 0, at most 1e7",
    ] {
        assert!(search.contains(needle), "{needle}: {search}");
    }
    assert!(!search.contains("--features torch"), "{search}");
    for command in ["search", "space", "show", "profile", "bench"] {
        let help = flat(&text(&[command, "--help"]));
        let mut rest = help.as_str();
        while let Some(at) = rest.find("[default: ") {
            rest = &rest[at + 10..];
            let end = rest.find(']').unwrap();
            let tail = rest[end + 1..].trim_start();
            assert!(
                !tail.starts_with("[default: "),
                "{command}: a doubled default near {}",
                &rest[..end]
            );
        }
    }
}
