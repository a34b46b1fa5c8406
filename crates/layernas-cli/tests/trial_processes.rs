//! Trial commands against the real binary: a command that ignores its input fails its trial
//! and nothing more; a trial's processes end with the trial and with the layernas process that
//! runs it (SIGINT, SIGTERM, SIGKILL); a closed output ends layernas quietly; what a command
//! prints stays bounded.

use serde_json::Value;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_layernas")
}

fn space() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/spaces/fashion-cnn.toml")
}

/// `layernas search` of the repro: three trials of `command`.
fn search(command: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("search")
        .arg("--space")
        .arg(space())
        .args(["--evaluator", "command", "--command", command])
        .args(["--max-trials", "3"])
        .args(extra);
    c
}

fn json_run(command: &str) -> (Output, Value) {
    let out = search(command, &["--quiet", "--json", "-"])
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{command}: {e}: {:?}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
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

fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A trial command that writes its shell's pid and a background child's pid to `pids`, then
/// waits for the child (30 s).
fn sleeper(dir: &Path) -> (String, PathBuf) {
    let pids = dir.join("pids");
    let script = dir.join("trial.sh");
    std::fs::write(
        &script,
        format!(
            "cat > /dev/null\nsleep 30 &\necho $$ $! > '{0}.tmp'\nmv '{0}.tmp' '{0}'\nwait\n",
            pids.display()
        ),
    )
    .unwrap();
    (format!("sh '{}'", script.display()), pids)
}

/// Waits for the sleeper to have started and returns its pids.
fn sleeper_pids(pids: &Path) -> Vec<i32> {
    let start = Instant::now();
    while !pids.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the trial did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pids: Vec<i32> = std::fs::read_to_string(pids)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&p| alive(p)));
    pids
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on a child process this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

fn trial_states(db: &Path) -> Vec<String> {
    let out = Command::new(bin())
        .args(["export", "--format", "json", "--store"])
        .arg(db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let trials: Value = serde_json::from_slice(&out.stdout).unwrap();
    let trials = trials
        .as_array()
        .or_else(|| trials["trials"].as_array())
        .unwrap_or_else(|| panic!("{trials}"))
        .clone();
    trials
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_command_that_does_not_read_its_input_fails_its_trial_and_the_search_goes_on() {
    // The exit code of a search whose every trial fails the same way, reading its input.
    let (reference, json) = json_run("cat >/dev/null");
    assert!(reference.status.code().is_some(), "{:?}", reference.status);
    assert_eq!(json["failed"], 3);
    // The repro, as given: before, SIGPIPE killed layernas in 11 runs of 20.
    let out = search("true", &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), reference.status.code(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the command printed no result line")
            || stderr.contains("the command printed no result line"),
        "{stderr}"
    );
    for _ in 0..20 {
        let (out, json) = json_run("true");
        assert_eq!(
            out.status.code(),
            reference.status.code(),
            "{:?}",
            out.status
        );
        assert_eq!(json["failed"], 3);
        assert!(json["first_failure"]
            .as_str()
            .unwrap()
            .contains("the command printed no result line"));
    }
    for _ in 0..5 {
        let (out, json) = json_run("/nonexistent/cmd");
        assert_eq!(
            out.status.code(),
            reference.status.code(),
            "{:?}",
            out.status
        );
        assert_eq!(json["failed"], 3);
        let failure = json["first_failure"].as_str().unwrap();
        assert!(
            failure.contains(
                "the command exited with code 127 (command not found); stderr: sh: 1: /nonexistent/cmd: not found"
            ),
            "{failure}"
        );
    }
}

#[test]
fn a_worker_serving_a_command_that_does_not_read_its_input_survives() {
    for command in ["true", "/nonexistent/cmd"] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("study.db");
        let mut controller = search(command, &["--workers", "0", "--quiet", "--store"])
            .arg(&db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let worker = Command::new(bin())
            .args(["worker", "--study", "default", "--poll", "0.05", "--store"])
            .arg(&db)
            .output()
            .unwrap();
        assert!(
            worker.status.success(),
            "{command}: {:?}: {}",
            worker.status,
            String::from_utf8_lossy(&worker.stderr)
        );
        let status = wait_for(&mut controller, Duration::from_secs(30)).expect("controller ends");
        assert!(status.code().is_some(), "{command}: {status:?}");
        assert_eq!(trial_states(&db), ["failed"; 3]);
    }
}

#[test]
fn sigterm_and_sigint_end_the_search_and_its_trial_commands() {
    for (sig, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("study.db");
        let (command, pids) = sleeper(dir.path());
        let mut search = search(&command, &["--quiet", "--store"])
            .arg(&db)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pids = sleeper_pids(&pids);
        let sent = Instant::now();
        signal(&search, sig);
        let status = wait_for(&mut search, Duration::from_secs(5)).expect("search ends");
        assert!(
            status.signal() == Some(sig) || status.code() == Some(code),
            "{status:?}"
        );
        assert!(
            all_gone(&pids, Duration::from_secs(2)),
            "signal {sig}: the trial's processes outlived layernas"
        );
        assert!(sent.elapsed() < Duration::from_secs(4));
        // The interrupted trial was not recorded as failed: a resume runs it again.
        let states = trial_states(&db);
        assert!(
            states.iter().all(|s| s != "failed" && s != "complete"),
            "{states:?}"
        );
    }
}

#[test]
fn sigkill_of_a_worker_ends_its_trial_command() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("study.db");
    let (command, pids) = sleeper(dir.path());
    let mut controller = search(&command, &["--workers", "0", "--quiet", "--store"])
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut worker = Command::new(bin())
        .args(["worker", "--study", "default", "--poll", "0.05", "--store"])
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pids = sleeper_pids(&pids);
    worker.kill().unwrap();
    worker.wait().unwrap();
    let gone = all_gone(&pids, Duration::from_secs(2));
    signal(&controller, libc::SIGTERM);
    wait_for(&mut controller, Duration::from_secs(5)).expect("controller ends");
    for &pid in &pids {
        // SAFETY: kill(2) on a process this test started, should it have survived.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    assert!(gone, "the trial's processes outlived the worker");
}

#[test]
fn the_trial_timeout_holds_when_a_background_child_keeps_the_output_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pids");
    // The case, which took 15 s a trial, plus a note of the background child's pid.
    let command = format!(
        "cat >/dev/null; sleep 15 & echo $! >> '{}'; echo \"{{\\\"reward\\\": 1}}\"",
        file.display()
    );
    let start = Instant::now();
    let (out, json) = {
        let out = search(
            &command,
            &["--trial-timeout", "2", "--quiet", "--json", "-"],
        )
        .output()
        .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out, json)
    };
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json["failed"], 0);
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    let pids: Vec<i32> = std::fs::read_to_string(&file)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 3);
    assert!(all_gone(&pids, Duration::from_secs(1)));
}

#[test]
fn a_huge_result_line_stays_out_of_the_report() {
    let (_, json) = json_run("cat >/dev/null; head -c 10485760 /dev/zero | tr '\\0' x; echo");
    assert_eq!(json["failed"], 3);
    let failure = json["first_failure"].as_str().unwrap();
    assert!(failure.len() < 3000, "{} bytes", failure.len());
    assert!(
        failure.contains("[cut: 10485760 bytes in all]"),
        "{failure}"
    );
}

#[test]
fn a_closed_output_ends_layernas_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("study.db");
    let made = search(
        "cat >/dev/null; echo '{\"reward\": 1}'",
        &["--quiet", "--store"],
    )
    .arg(&db)
    .output()
    .unwrap();
    assert!(made.status.success(), "{made:?}");
    let store = db.to_str().unwrap();
    for args in [
        vec!["export", "--store", store, "--format", "json"],
        vec!["export", "--store", store, "--format", "csv"],
        vec!["status", "--store", store],
        vec!["space", "mobilenetv2"],
    ] {
        // The reader is gone before anything is written: its end of the pipe is closed before
        // layernas starts (closing it after the spawn raced with a short output that fits in
        // the pipe's buffer, which rightly exits 0).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(bin())
            .args(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {out:?}"
        );
        assert!(out.stderr.is_empty(), "{args:?}: {out:?}");
    }
}

#[test]
fn sigterm_reaches_the_trial_command_before_layernas_exits() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let stopped = dir.path().join("stopped");
    // A trainer that saves its work when asked to stop.
    let script = dir.path().join("trial.sh");
    std::fs::write(
        &script,
        format!(
            "trap 'echo saved > \"{}\"; exit 1' TERM\ncat > /dev/null\ntouch '{}'\nwhile :; do sleep 0.05; done\n",
            stopped.display(),
            started.display()
        ),
    )
    .unwrap();
    let mut search = search(&format!("sh '{}'", script.display()), &["--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !started.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no trial started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&search, libc::SIGTERM);
    let status = wait_for(&mut search, Duration::from_secs(5)).expect("search ends");
    assert!(
        status.signal() == Some(libc::SIGTERM) || status.code() == Some(143),
        "{status:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&stopped).unwrap_or_default(),
        "saved\n",
        "the trial command did not get the SIGTERM"
    );
}
