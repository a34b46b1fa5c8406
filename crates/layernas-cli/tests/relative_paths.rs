//! A study names its space file by a path relative to where its controller started; a worker
//! or `status` started elsewhere must still rebuild the same space.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_layernas"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("layernas starts")
}

/// Waits for `child` at most `limit`; its exit code and standard error.
fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_worker_elsewhere_rebuilds_a_space_file_named_by_a_relative_path() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let store = elsewhere.path().join("study.db");
    let store = store.to_str().expect("UTF-8");
    let controller = spawn(
        root,
        &[
            "search",
            "--space",
            "examples/spaces/tiny-mobilenet.toml",
            "--evaluator",
            "command",
            "--command",
            "cat >/dev/null; echo '{\"reward\": 1}'",
            "--strategy",
            "random",
            "--max-trials",
            "2",
            "--workers",
            "0",
            "--store",
            store,
            "--study",
            "s",
            "--quiet",
        ],
    );
    let worker = spawn(
        elsewhere.path(),
        &["worker", "--store", store, "--study", "s", "--poll", "0.05"],
    );
    let (code, err) = finish(worker, Duration::from_secs(60));
    let mut controller = controller;
    if code != Some(0) {
        // Never leave a controller waiting for workers behind a failed test.
        let _ = controller.kill();
    }
    assert_eq!(code, Some(0), "worker: {err}");
    let (code, err) = finish(controller, Duration::from_secs(60));
    assert_eq!(code, Some(0), "controller: {err}");
    let status = spawn(
        elsewhere.path(),
        &["status", "--store", store, "--study", "s"],
    );
    let (code, err) = finish(status, Duration::from_secs(30));
    assert_eq!(code, Some(0), "status: {err}");
    assert!(!err.contains("cannot be rebuilt"), "status: {err}");
}
