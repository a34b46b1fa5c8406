//! The store, the controller and the workers when a search ends early, fails, is run twice,
//! or is pointed at the wrong thing (issue 11): studies are always finished, workers exit,
//! two controllers never run one study, bad knobs and missing studies/files are clear errors.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_layernas")
}

fn layernas(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Waits for `child` to exit within `limit`; kills it and fails otherwise.
fn wait_exit(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{what} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status_json(store: &str) -> Value {
    let out = layernas(&["status", "--store", store, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_layernas_search_stopped_by_max_trials_finishes_its_study_and_its_workers_exit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    let mut controller = Command::new(bin())
        .args(["search", "--max-trials", "5", "--workers", "0", "--quiet"])
        .args(["--store", db, "--study", "s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut worker = Command::new(bin())
        .args(["worker", "--store", db, "--study", "s", "--poll", "0.05"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let c = wait_exit(&mut controller, Duration::from_secs(60), "the controller");
    assert!(c.success());
    let w = wait_exit(&mut worker, Duration::from_secs(20), "the worker");
    assert!(w.success());
    let status = status_json(db);
    assert_eq!(status["studies"][0]["done"], true, "{status}");
    assert_eq!(status["studies"][0]["complete"], 5, "{status}");
    let text = layernas(&["status", "--store", db]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("study s: finished"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

#[test]
fn status_reports_the_answer_within_the_cost_window_and_says_when_no_study_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    let json = dir.path().join("a.json");
    let out = layernas(&[
        "search",
        "--dataset",
        "cifar10",
        "--cost",
        "flops",
        "--max-cost",
        "60",
        "--store",
        db,
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let search: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let answer = search["best"]["reward"].as_f64().unwrap();
    assert_eq!(answer, 90.7);
    let status = status_json(db);
    assert_eq!(status["studies"][0]["best_reward"].as_f64(), Some(answer));
    assert_eq!(status["studies"][0]["best"]["arch"], search["best"]["arch"]);
    assert!(status["studies"][0]["best"]["cost"].as_f64().unwrap() <= 60.0);
    let text = String::from_utf8(layernas(&["status", "--store", db]).stdout).unwrap();
    assert!(text.contains("best reward 90.700"), "{text}");

    let out = layernas(&["delete", "--store", db, "--study", "default", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = layernas(&["status", "--store", db]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("no studies in store {db}")),
        "{text}"
    );
}

#[test]
fn worker_knobs_outside_their_range_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    for (flag, value) in [
        ("--poll", "0"),
        ("--poll", "-1"),
        ("--poll", "NaN"),
        ("--heartbeat", "1e-300"),
        ("--heartbeat", "30"),
        ("--idle-exit", "NaN"),
        ("--idle-exit", "inf"),
        ("--lease", "inf"),
        ("--wait", "-5"),
        ("--name", ""),
        ("--name", "evil\u{1b}[2J"),
    ] {
        let out = layernas(&["worker", "--store", db, flag, value]);
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {e}");
        assert!(
            e.contains(flag) && e.trim().lines().count() == 1 && !e.contains("panicked"),
            "{flag} {value}: {e}"
        );
    }
    assert!(
        !Path::new(db).exists(),
        "a refused worker created the store"
    );
}

#[test]
fn a_worker_for_a_missing_study_or_store_stops_with_a_clear_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let missing = missing.to_str().unwrap();
    // A missing SQLite file: after --wait, an error naming it; no file is created by any of
    // the commands that only read or serve a store.
    let started = Instant::now();
    let out = layernas(&[
        "worker", "--store", missing, "--study", "s", "--wait", "0.3",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(missing), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    for args in [
        vec!["status", "--store", missing],
        vec!["export", "--store", missing],
    ] {
        let out = layernas(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(missing), "{}", stderr(&out));
    }
    assert!(
        !Path::new(missing).exists(),
        "a read-only command created the store"
    );

    // An existing store without the study: an error naming the study and what the store holds.
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    let out = layernas(&[
        "search",
        "--max-trials",
        "2",
        "--store",
        db,
        "--study",
        "real",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let started = Instant::now();
    let out = layernas(&["worker", "--store", db, "--study", "typo", "--wait", "0.5"]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("study typo is not in store") && e.contains("real"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn unwritable_output_paths_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    let out = layernas(&[
        "search",
        "--max-trials",
        "3",
        "--store",
        db,
        "--json",
        "/nonexistent/x.json",
    ]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("/nonexistent/x.json"), "{e}");
    assert!(
        !Path::new(db).exists(),
        "the search ran before checking --json"
    );

    let out = layernas(&["search", "--max-trials", "3", "--store", db, "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = layernas(&["export", "--store", db, "-o", "/nonexistent/y.csv"]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("/nonexistent/y.csv"), "{e}");
    // A directory is no output file either.
    let out = layernas(&["export", "--store", db, "-o", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_search_in_which_every_trial_failed_exits_1_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = layernas(&[
        "search",
        "--strategy",
        "random",
        "--max-trials",
        "3",
        "--evaluator",
        "command",
        "--command",
        "echo no GPU here >&2; exit 3",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("every trial failed") && e.contains("first failure") && e.contains("no GPU"),
        "{e}"
    );
    // The report is still written, with the failures.
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["failed"], 3);
}

fn controller(db: &str, extra: &[&str]) -> Child {
    Command::new(bin())
        .args(["search", "--store", db, "--study", "s", "--quiet"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the store shows a live controller on study `s`.
fn wait_for_controller(db: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if Path::new(db).exists() {
            let out = layernas(&["status", "--store", db, "--study", "s", "--json"]);
            if out.status.success() {
                let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                if v["studies"][0]["controller"].is_object() {
                    return v["studies"][0]["controller"].clone();
                }
            }
        }
        assert!(Instant::now() < deadline, "no controller took the study");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_controllers_never_run_one_study_and_a_dead_ones_study_is_resumed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    // The first controller waits for workers that never come: it holds the study.
    let mut first = controller(db, &["--workers", "0"]);
    let held = wait_for_controller(db);
    let pid = first.id().to_string();
    assert!(held["holder"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{pid}")));

    // A second one is refused at once, naming the holder (host:pid) and the lease's expiry.
    let started = Instant::now();
    let out = layernas(&["search", "--store", db, "--study", "s", "--max-trials", "3"]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("another controller")
            && e.contains(&format!(":{pid}"))
            && e.contains("expires in")
            && e.contains("--take-over"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first controller stopped"
    );

    // The first dies (SIGKILL: its lease is not released). It ran on this machine and is gone,
    // so the study is resumed at once, without waiting for the lease to expire.
    first.kill().unwrap();
    first.wait().unwrap();
    let out = layernas(&[
        "search",
        "--store",
        db,
        "--study",
        "s",
        "--max-trials",
        "3",
        "--quiet",
    ]);
    let e = stderr(&out);
    assert!(out.status.success(), "{e}");
    assert!(
        e.contains("taking over study s") && e.contains(&pid) && e.contains("no longer running"),
        "{e}"
    );
}

#[test]
fn a_live_controller_displaced_by_take_over_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    // A live controller renewing every third of its 1 s lease...
    let mut live = controller(db, &["--workers", "0", "--controller-lease", "1"]);
    let held = wait_for_controller(db);
    assert!(held["holder"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{}", live.id())));
    // ... displaced by --take-over, notices at its next renewal and stops.
    let mut usurper = controller(db, &["--workers", "0", "--take-over"]);
    let status = wait_exit(
        &mut live,
        Duration::from_secs(15),
        "the displaced controller",
    );
    let mut e = String::new();
    std::io::Read::read_to_string(live.stderr.as_mut().unwrap(), &mut e).unwrap();
    assert_eq!(status.code(), Some(1), "{e}");
    assert!(
        e.contains("lost control of study s") && e.contains("took it over"),
        "{e}"
    );
    usurper.kill().unwrap();
    usurper.wait().unwrap();
    let mut u = String::new();
    std::io::Read::read_to_string(usurper.stderr.as_mut().unwrap(), &mut u).unwrap();
    assert!(u.contains("--take-over; its lease had"), "{u}");
}
