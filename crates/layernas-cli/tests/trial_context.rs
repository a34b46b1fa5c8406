//! Every evaluator is told the dataset the user named: the trial context of a command
//! evaluator and of the libtorch engine on a network space says `fashion-mnist`, never the
//! table's default `cifar10`.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const SPACE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/spaces/fashion-cnn.toml"
);

/// A shell command that saves the trial it reads to `seen` and answers a reward.
fn recorder(seen: &Path) -> String {
    format!(
        "cat > '{}'; echo '{{\"reward\": 1}}'",
        seen.to_str().expect("UTF-8 path")
    )
}

/// Runs one fashion-mnist trial with `extra` arguments; the trial the evaluator received.
fn one_trial(seen: &Path, torch: Option<&Path>, extra: &[&str]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_layernas"));
    if let Some(program) = torch {
        command.env("LAYERNAS_TORCH", program);
    }
    let out = command
        .args(["search", "--space", SPACE, "--dataset", "fashion-mnist"])
        .args(["--cost", "madds", "--max-trials", "1", "--quiet"])
        .args(extra)
        .output()
        .expect("layernas runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(seen).expect("the evaluator ran"))
        .expect("the trial is JSON")
}

#[test]
fn the_command_evaluator_receives_the_dataset_the_user_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = dir.path().join("trial.json");
    let command = recorder(&seen);
    let trial = one_trial(
        &seen,
        None,
        &["--evaluator", "command", "--command", &command],
    );
    assert_eq!(trial["context"]["dataset"], "fashion-mnist", "{trial}");
}

#[test]
fn the_torch_engine_receives_the_dataset_the_user_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = dir.path().join("trial.json");
    // A stand-in for the layernas-torch program: it records its trial.
    let program = dir.path().join("layernas-torch");
    std::fs::write(&program, format!("#!/bin/sh\n{}\n", recorder(&seen))).expect("write");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let trial = one_trial(
        &seen,
        Some(&program),
        &["--evaluator", "train", "--engine", "torch"],
    );
    assert_eq!(trial["context"]["dataset"], "fashion-mnist", "{trial}");
}
