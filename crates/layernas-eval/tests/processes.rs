//! A trial's processes never outlive the trial, the deadline covers the whole trial, and what a
//! command prints is bounded in memory and in the errors.

use layernas_core::{EvalError, Evaluation, Evaluator, Fidelity, SearchSpace, TrialRequest};
use layernas_eval::{live_trial_groups, CommandEvaluator, LINE_QUOTED, STDERR_TAIL, STDOUT_KEPT};
use layernas_spaces::Nb201Space;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn run(command: &str, timeout: Option<Duration>) -> Result<Evaluation, EvalError> {
    let e = CommandEvaluator::new(
        command,
        Arc::new(Nb201Space::new()),
        None,
        json!({}),
        timeout,
    );
    let arch = Nb201Space::new().default_arch();
    e.evaluate(&TrialRequest {
        id: 1,
        arch: &arch,
        seed: 2,
        fidelity: Fidelity::Full,
    })
}

/// Whether a process runs (a zombie, dead but not yet reaped, does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn pids(file: &Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// Waits up to `limit` for every process of `pids` to end; true when they all did.
fn all_gone(pids: &[i32], limit: Duration) -> bool {
    let start = Instant::now();
    while pids.iter().any(|&p| alive(p)) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn a_background_child_holding_the_output_does_not_hold_the_trial_and_dies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pids");
    // The reported case: the background child keeps the command's standard output open.
    let command = format!(
        "cat >/dev/null; sleep 15 & echo $! > {}; echo '{{\"reward\": 1}}'",
        file.display()
    );
    let start = Instant::now();
    let eval = run(&command, Some(Duration::from_secs(2))).unwrap();
    assert_eq!(eval.reward, 1.0);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let background = pids(&file);
    assert_eq!(background.len(), 1);
    assert!(all_gone(&background, Duration::from_secs(1)));
}

#[test]
fn the_timeout_covers_reading_the_output_of_a_process_that_left_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pids");
    // `setsid` takes the child out of the trial's process group, beyond reach; it holds the
    // standard output open for 20 s. The trial still ends within its timeout (plus a grace).
    let command = format!(
        "cat >/dev/null; setsid sh -c 'echo $$ > {}; exec sleep 20' & sleep 30",
        file.display()
    );
    let start = Instant::now();
    let err = run(&command, Some(Duration::from_millis(500)))
        .unwrap_err()
        .to_string();
    let took = start.elapsed();
    for pid in pids(&file) {
        // SAFETY: kill(2) on the stray process this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    assert!(err.contains("timed out after 0.5 s"), "{err}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_huge_result_line_is_neither_kept_nor_quoted_whole() {
    // 10 MiB on one line.
    let err = run(
        "cat >/dev/null; head -c 10485760 /dev/zero | tr '\\0' x; echo",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.len() < LINE_QUOTED + 500, "{} bytes", err.len());
    assert!(
        err.contains(&format!(
            "the result line is longer than the {STDOUT_KEPT} bytes kept"
        )) && err.ends_with("... [cut: 10485760 bytes in all]"),
        "{err}"
    );
    // A long line that fits is parsed, and quoted cut when it is not a result.
    let err = run(
        "cat >/dev/null; head -c 100000 /dev/zero | tr '\\0' x; echo",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.len() < LINE_QUOTED + 500, "{} bytes", err.len());
    assert!(
        err.contains("malformed result line \"xxx") && err.contains("[cut: 100000 bytes in all]"),
        "{err}"
    );
    // Output before the result line, however long, does not matter.
    let eval = run(
        "cat >/dev/null; head -c 5000000 /dev/zero; echo; echo '{\"reward\": 3}'",
        None,
    )
    .unwrap();
    assert_eq!(eval.reward, 3.0);
}

#[test]
fn a_huge_standard_error_is_quoted_by_its_end() {
    let err = run(
        "cat >/dev/null; head -c 3000000 /dev/zero | tr '\\0' e >&2; echo ' the end' >&2; exit 1",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.len() < STDERR_TAIL + 500, "{} bytes", err.len());
    assert!(
        err.contains("the command exited with code 1; stderr: [cut: 3000008 bytes in all] ... eee")
            && err.ends_with("eee the end"),
        "{err}"
    );
}

#[test]
fn the_trial_runs_in_a_registered_process_group_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ids");
    // The command's process group, as `ps` sees it, is registered while the trial runs.
    let command = format!(
        "cat >/dev/null; ps -o pgid= -p $$ > {0}.tmp; mv {0}.tmp {0}; sleep 1; echo '{{\"reward\": 1}}'",
        file.display()
    );
    let runner = std::thread::spawn(move || run(&command, None));
    let start = Instant::now();
    while !file.exists() {
        assert!(start.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(10));
    }
    let group: i32 = std::fs::read_to_string(&file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(group, std::process::id() as i32);
    assert!(live_trial_groups().contains(&group), "{group}");
    assert_eq!(runner.join().unwrap().unwrap().reward, 1.0);
    assert!(!live_trial_groups().contains(&group));
}

#[test]
fn a_cancelled_trial_ends_at_once_with_its_processes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pids");
    let command = format!(
        "cat >/dev/null; sleep 5 & echo $$ $! > {0}.tmp; mv {0}.tmp {0}; wait",
        file.display()
    );
    let e = CommandEvaluator::new(command, Arc::new(Nb201Space::new()), None, json!({}), None);
    let cancel = layernas_core::Cancel::new();
    let canceller = {
        let cancel = cancel.clone();
        let file = file.clone();
        std::thread::spawn(move || {
            while !file.exists() {
                std::thread::sleep(Duration::from_millis(10));
            }
            cancel.cancel();
        })
    };
    let arch = Nb201Space::new().default_arch();
    let start = Instant::now();
    let result = e.evaluate_cancellable(
        &TrialRequest {
            id: 1,
            arch: &arch,
            seed: 2,
            fidelity: Fidelity::Full,
        },
        &cancel,
    );
    canceller.join().unwrap();
    assert!(matches!(result, Err(EvalError::Cancelled)), "{result:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(all_gone(&pids(&file), Duration::from_secs(1)));
}
