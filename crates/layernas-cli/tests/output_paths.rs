//! Outputs are checked before the work starts: a report or table that cannot be written is a
//! one-line error (exit 2) naming the path, not minutes of work followed by a bare OS error.

use std::process::Command;
use std::time::{Duration, Instant};

fn layernas(args: &[&str]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_layernas"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("layernas runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn bench_refuses_an_output_it_cannot_write_before_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let file = file.to_str().expect("UTF-8");
    let (code, err, _) = layernas(&["bench", "--output", file, "--seeds", "1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(file) && err.contains("not a directory"),
        "{err}"
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one error line, nothing ran: {err}"
    );
}

#[test]
fn profile_refuses_an_output_it_cannot_write_before_timing() {
    let (code, err, took) = layernas(&[
        "profile",
        "--space",
        "examples/spaces/fashion-cnn.toml",
        "--output",
        "/nonexistent-dir/table.json",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("/nonexistent-dir/table.json") && err.contains("latency table"),
        "{err}"
    );
    assert!(
        !err.contains("profiling"),
        "checked before profiling: {err}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn configuration_files_that_never_end_are_refused() {
    // /dev/zero as a study, space or latency file used to be read until memory ran out.
    let dir = tempfile::tempdir().expect("tempdir");
    let space = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &space).expect("symlink");
    let space = space.to_str().expect("UTF-8");
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; (16 << 20) + 1]).expect("write");
    let big = big.to_str().expect("UTF-8");
    for args in [
        vec!["search", "-c", "/dev/zero"],
        vec!["space", space],
        vec!["space", big],
        vec![
            "search",
            "--space",
            "examples/spaces/tiny-mobilenet.toml",
            "--cost",
            "latency:/dev/zero",
            "--dry-run",
        ],
    ] {
        let (code, err, took) = layernas(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains("not a regular file") || err.contains("larger than 16 MiB"),
            "{args:?}: {err}"
        );
        assert!(took < Duration::from_secs(10), "{args:?}: {took:?}");
    }
}

#[test]
fn a_knob_of_another_strategy_is_refused() {
    for (args, flag) in [
        (vec!["--population", "20"], "--population"),
        (vec!["--strategy", "random", "--buckets", "10"], "--buckets"),
        (vec!["--strategy", "evolution", "--keep", "2"], "--keep"),
        (
            vec!["--strategy", "evolution", "--learning-rate", "0.1"],
            "--learning-rate",
        ),
        (
            vec!["--strategy", "reinforce", "--mutated-layers", "2"],
            "--mutated-layers",
        ),
    ] {
        let mut all = vec!["search", "--max-cost", "60"];
        all.extend(args);
        let (code, err, _) = layernas(&all);
        assert_eq!(code, Some(2), "{all:?}: {err}");
        assert!(
            err.contains(flag) && err.contains("knob of --strategy"),
            "{err}"
        );
    }
    // The strategy's own knobs are fine.
    let (code, err, _) = layernas(&[
        "search",
        "--strategy",
        "evolution",
        "--population",
        "20",
        "--max-trials",
        "30",
    ]);
    assert_eq!(code, Some(0), "{err}");
}
