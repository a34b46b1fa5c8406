//! The command protocol end to end with small shell and Python scripts: the input a command
//! receives, a good result, and every failure mode.

use layernas_core::{Arch, EvalError, Evaluator, Fidelity, SearchSpace, TrialRequest};
use layernas_eval::CommandEvaluator;
use layernas_spaces::{nats_sss_space, Nb201Space};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn nb201(command: &str, timeout: Option<Duration>) -> CommandEvaluator {
    CommandEvaluator::new(
        command,
        Arc::new(Nb201Space::new()),
        None,
        json!({"dataset": "cifar10"}),
        timeout,
    )
}

fn run(e: &CommandEvaluator) -> Result<layernas_core::Evaluation, EvalError> {
    let arch = Nb201Space::new().default_arch();
    e.evaluate(&TrialRequest {
        id: 7,
        arch: &arch,
        seed: 42,
        fidelity: Fidelity::Full,
    })
}

fn has_python() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_command_reads_the_trial_and_its_last_line_is_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("input.json");
    let cmd = format!(
        "cat > {0}; echo 'progress: epoch 1' ; echo '{{\"reward\": 91.5, \"test\": 90.25, \"note\": \"x\"}}'",
        seen.display()
    );
    let eval = run(&nb201(&cmd, None)).unwrap();
    assert_eq!(eval.reward, 91.5);
    assert_eq!(eval.metrics["test"], 90.25);
    assert!(!eval.metrics.contains_key("note"));
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(input["trial"], 7);
    assert_eq!(input["seed"], 42);
    assert_eq!(input["arch"], "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|");
    assert_eq!(input["space"], "nb201");
    assert_eq!(input["context"]["dataset"], "cifar10");
    assert!(input["network"].is_null());
}

#[test]
fn network_spaces_send_the_network_description() {
    let space = Arc::new(nats_sss_space(32, 10));
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("input.json");
    let cmd = format!("cat > {}; echo '{{\"reward\": 1}}'", seen.display());
    let e = CommandEvaluator::new(cmd, space.clone(), Some(space.clone()), json!({}), None);
    let arch = space.parse("8:8:8:8:8").unwrap();
    e.evaluate(&TrialRequest {
        id: 0,
        arch: &arch,
        seed: 1,
        fidelity: Fidelity::Full,
    })
    .unwrap();
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(input["arch"], "8:8:8:8:8");
    assert_eq!(input["network"]["params"], 11714);
    assert_eq!(input["network"]["layers"][1]["op"], "nats_cell");
}

#[test]
fn every_failure_mode_is_a_failed_trial_with_its_reason() {
    let cases: Vec<(&str, &str)> = vec![
        (
            "echo 'cuda error' >&2; exit 3",
            "the command exited with code 3; stderr: cuda error",
        ),
        ("true", "printed no result line"),
        ("echo 'not json'", "malformed result line"),
        ("echo '[1, 2]'", "not a JSON object"),
        ("echo '{\"accuracy\": 3}'", "has no \"reward\""),
        (
            "echo '{\"reward\": \"high\"}'",
            "\"reward\" is not a number",
        ),
        ("echo '{\"reward\": NaN}'", "non-finite reward"),
        (
            "/nonexistent/trainer",
            "the command exited with code 127 (command not found); stderr: sh: 1: /nonexistent/trainer: not found",
        ),
        (
            "kill -s KILL $$",
            "the command was killed by signal 9 (SIGKILL)",
        ),
        (
            "sh -c 'kill -s SEGV $$'",
            "the command exited with code 139 (= 128 + SIGSEGV: its program was killed)",
        ),
    ];
    for (cmd, reason) in cases {
        let err = run(&nb201(cmd, None)).unwrap_err().to_string();
        assert!(err.contains(reason), "{cmd}: {err}");
    }
}

#[test]
fn a_timeout_kills_the_command_and_its_children() {
    let start = Instant::now();
    let err = run(&nb201(
        "echo working >&2; sleep 30 & sleep 30",
        Some(Duration::from_millis(300)),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("timed out after 0.3 s") && err.contains("working"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn python_scripts_work_including_json_nan() {
    if !has_python() {
        eprintln!("SKIPPED: python3 not found");
        return;
    }
    let ok = "python3 -c 'import json,sys; t=json.load(sys.stdin); print(json.dumps({\"reward\": len(t[\"arch\"]), \"test\": t[\"seed\"]}))'";
    let e = run(&nb201(ok, None)).unwrap();
    assert_eq!((e.reward, e.metrics["test"]), (95.0, 42.0));
    let nan = "python3 -c 'import json; print(json.dumps({\"reward\": float(\"nan\")}))'";
    assert!(matches!(
        run(&nb201(nan, None)),
        Err(EvalError::NonFinite(_))
    ));
    let _ = Arch::new(vec![]);
}
