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
