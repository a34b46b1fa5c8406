//! Multi-fidelity searches through the binary: `--fidelity multi` and
//! `--strategy successive-halving` run, report their epochs, store each trial's fidelity, and
//! `export` and `status` read them back.

use std::process::Command;

fn layernas(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_layernas"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("layernas runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_multi_fidelity_search_reports_and_stores_its_fidelities() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mf.db");
    let db = db.to_str().unwrap();
    let (code, out, err) = layernas(&[
        "search",
        "--fidelity",
        "multi",
        "--store",
        db,
        "--quiet",
        "--json",
        "-",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let low = json["low_fidelity_trials"].as_u64().unwrap();
    let trials = json["trials"].as_u64().unwrap();
    assert!(low > 0 && low < trials, "{json}");
    let epochs = json["epochs"].as_f64().unwrap();
    assert_eq!(epochs, 12.0 * low as f64 + 200.0 * (trials - low) as f64);
    assert_eq!(json["config"]["multi_fidelity"]["promote"], 1);

    // The human report says it too.
    let (code, out, err) = layernas(&["search", "--fidelity", "multi", "--store", db, "--quiet"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!(
            "multi-fidelity: {low} of those trials at low fidelity, {} at full; {epochs} training epochs in all",
            trials - low
        )),
        "{out}"
    );

    let (code, csv, err) = layernas(&["export", "--store", db, "--format", "csv"]);
    assert_eq!(code, Some(0), "{err}");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "fidelity").unwrap();
    let low_rows = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(col) == Some("low"))
        .count();
    assert_eq!(low_rows as u64, low);
    let (code, _, err) = layernas(&["status", "--store", db]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn successive_halving_runs_by_name_and_its_knobs_are_checked() {
    let (code, out, err) = layernas(&[
        "search",
        "--strategy",
        "successive-halving",
        "--max-trials",
        "30",
        "--rung",
        "8",
        "--quiet",
        "--json",
        "-",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Brackets of 8 with 2 promoted: 3 brackets (30 trials), 24 low and 6 full.
    assert_eq!(json["trials"], 30);
    assert_eq!(json["low_fidelity_trials"], 24);
    assert!(json["best"]["arch"].is_string());
    let (code, _, err) = layernas(&["search", "--rung", "8"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--rung is a knob of --strategy successive-halving"),
        "{err}"
    );
    let (code, _, err) = layernas(&["search", "--promote", "2"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("fidelity"), "{err}");
}

#[test]
fn the_calibrated_promotion_bar_is_a_flag_of_multi_fidelity_searches() {
    let (code, out, err) = layernas(&[
        "search",
        "--fidelity",
        "multi",
        "--promote-bar",
        "calibrated",
        "--quiet",
        "--json",
        "-",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["config"]["multi_fidelity"]["bar"], "calibrated");
    let (code, _, err) = layernas(&["search", "--promote-bar", "calibrated"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("promote_bar") && err.contains("fidelity"),
        "{err}"
    );
}

/// Issue 14, part 5: the single-cap option through the binary.
#[test]
fn cap_focus_is_a_flag_of_capped_searches() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "--dataset",
            "imagenet16",
            "--max-cost",
            "28.49548",
            "--reward-column",
            "imagenet16_valid",
            "--test-column",
            "nats_imagenet16_test",
            "--quiet",
            "--json",
            "-",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = layernas(&args);
        assert_eq!(code, Some(0), "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let plain = run(&[]);
    let focused = run(&["--cap-focus", "2"]);
    assert_eq!(focused["config"]["cap_focus"], 2);
    assert!(plain["config"].get("cap_focus").is_none(), "{plain}");
    assert!(focused["trials"].as_u64().unwrap() <= plain["trials"].as_u64().unwrap());
    let (code, _, err) = layernas(&["search", "--cap-focus", "2"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cap_focus 2: needs a max_cost"), "{err}");
}
