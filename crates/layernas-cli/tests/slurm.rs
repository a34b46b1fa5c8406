//! The README's Slurm recipe on a real one-node Slurm cluster (`.ci/slurm-up` starts one) with
//! the PostgreSQL store, run by the README's own commands:
//! - a controller with `--workers 0` and the workers as the `sbatch --array` job of
//!   `examples/distributed/slurm-workers.sbatch`: the study finishes with every architecture
//!   complete exactly once and the single-process answer, every array task exits 0, and
//!   `layernas status` names the workers by their Slurm names;
//! - preemption: the controller itself a Slurm job; mid-search one array task is cancelled
//!   (`scancel`: SIGTERM, then SIGKILL), another requeued (`scontrol requeue`) and then the
//!   controller requeued. The trials the killed workers held run again once their leases
//!   expire, the requeued task rejoins, the requeued controller resumes from the store, and the
//!   study ends as above.
//!
//! Without a cluster (`.ci/slurm-up --check` fails) or without the PostgreSQL server the tests
//! print `SKIPPED` with the reason; `LAYERNAS_REQUIRE_SLURM=1` and `LAYERNAS_REQUIRE_POSTGRES=1`
//! (both set by `.ci/run`) make that a failure. The two cluster tests take turns on the node.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The study file of the recipe: a capped CIFAR-10 LayerNAS search on the table (144 trials),
/// each trial sleeping 0.0002 x its simulated training time (0.45 s on average), so that
/// trials are running when the jobs are cancelled and requeued.
const STUDY_TOML: &str = "dataset = \"cifar10\"\ncost = \"flops\"\nmax_cost = 60\n\
                          sim_time_scale = 0.0002\n";
/// The controller, outside Slurm.
const CONTROLLER: &str = "layernas search -c study.toml --store \"$LAYERNAS_STORE\" \
                          --study \"$LAYERNAS_STUDY\" --workers 0 --json result.json";
/// The README's `sbatch --array` example, its resource requests overridden to fit a small node.
const WORKERS: &str = "sbatch --array=0-2 --cpus-per-task=1 --mem=256M \
                       examples/distributed/slurm-workers.sbatch";
/// The controller as a Slurm job of its own, requeueable.
const CONTROLLER_JOB: &str = "sbatch --job-name=layernas-controller --requeue \
    --open-mode=append --output=layernas-controller-%j.log --cpus-per-task=1 --mem=512M \
    --wrap 'exec layernas search -c study.toml --store \"$LAYERNAS_STORE\" \
    --study \"$LAYERNAS_STUDY\" --workers 0 --json result.json'";
/// Four workers, for the preemption test.
const WORKERS_4: &str = "sbatch --array=0-3 --cpus-per-task=1 --mem=256M \
                         examples/distributed/slurm-workers.sbatch";
/// Where the workers are listed.
const STATUS: &str = "layernas status --store \"$LAYERNAS_STORE\"";
/// Short worker leases, so that trials of killed workers are handed out again within seconds.
const LEASE: [(&str, &str); 2] = [("LAYERNAS_LEASE", "3"), ("LAYERNAS_HEARTBEAT", "0.5")];

/// The cluster is one small node: its tests take turns.
static CLUSTER: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_layernas")
}

/// Collapses the shell line continuations of a text (`\` and a newline) into spaces, and runs
/// of spaces into one.
fn one_line(text: &str) -> String {
    text.replace("\\\n", " ")
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_readme_shows_the_commands_these_tests_run() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("### Slurm")
        .expect("README has a `### Slurm` section");
    let end = ["\n## ", "\n### "]
        .iter()
        .filter_map(|h| readme[start + 1..].find(h))
        .min()
        .map_or(readme.len(), |e| start + 1 + e);
    let section = one_line(&readme[start..end]);
    for cmd in [CONTROLLER, WORKERS, CONTROLLER_JOB, WORKERS_4, STATUS] {
        let cmd = one_line(cmd);
        assert!(
            section.contains(&cmd),
            "README's Slurm section lacks the command the Slurm test runs:\n{cmd}"
        );
    }
    assert!(
        readme[start..end].contains(STUDY_TOML),
        "README's Slurm section lacks the test's study file:\n{STUDY_TOML}"
    );
    for (var, value) in LEASE {
        assert!(section.contains(&format!("{var}={value}")), "{var}");
    }
}

/// Whether a Slurm cluster takes jobs here; otherwise why not (a failure when required).
fn cluster() -> bool {
    let check = Command::new(root().join(".ci/slurm-up"))
        .arg("--check")
        .output();
    let why = match check {
        Ok(out) if out.status.success() => return true,
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(e) => format!("cannot run .ci/slurm-up --check: {e}"),
    };
    if std::env::var("LAYERNAS_REQUIRE_SLURM").as_deref() == Ok("1") {
        panic!("a Slurm cluster is required (LAYERNAS_REQUIRE_SLURM=1) but unavailable: {why}");
    }
    eprintln!("SKIPPED: Slurm test: {why}; set LAYERNAS_REQUIRE_SLURM=1 to make this a failure");
    false
}

fn postgres_url() -> Option<String> {
    let url = std::env::var("LAYERNAS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match layernas_store::PgStore::connect(&url) {
        Ok(_) => Some(url),
        Err(e) => {
            if std::env::var("LAYERNAS_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (LAYERNAS_REQUIRE_POSTGRES=1) but unavailable: {e}");
            }
            eprintln!("SKIPPED: Slurm test: no PostgreSQL server at {url} ({e}); set LAYERNAS_REQUIRE_POSTGRES=1 to make this a failure");
            None
        }
    }
}

/// A study of one test: its directory (the jobs' working directory, with `study.toml` and the
/// `examples` of the repository), the store and the study's name.
struct Recipe {
    dir: tempfile::TempDir,
    store: String,
    study: String,
    /// Jobs submitted, cancelled when the test ends (a no-op for finished ones).
    jobs: Vec<String>,
    /// A controller outside Slurm, killed when the test ends early.
    controller: Option<Child>,
}

impl Recipe {
    fn new(store: &str, what: &str) -> Recipe {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("study.toml"), STUDY_TOML).unwrap();
        std::os::unix::fs::symlink(root().join("examples"), dir.path().join("examples")).unwrap();
        Recipe {
            dir,
            store: store.to_string(),
            study: format!(
                "slurm-{what}-{}-{}",
                std::process::id(),
                layernas_core::now() as u64
            ),
            jobs: Vec::new(),
            controller: None,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A shell command as a user runs it: in the study's directory, `layernas` (the binary
    /// under test) on PATH, LAYERNAS_STORE, LAYERNAS_STUDY and the short leases exported.
    fn sh(&self, cmd: &str) -> Command {
        let bin_dir = Path::new(bin()).parent().unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin_dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(cmd)
            .current_dir(self.dir.path())
            .env("PATH", std::env::join_paths(dirs).unwrap())
            .env("LAYERNAS_STORE", &self.store)
            .env("LAYERNAS_STUDY", &self.study)
            .envs(LEASE);
        c
    }

    /// Runs `sbatch ...`; the id of the job it submitted.
    fn submit(&mut self, cmd: &str) -> String {
        let out = self.sh(cmd).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{cmd}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = text
            .trim()
            .strip_prefix("Submitted batch job ")
            .unwrap_or_else(|| panic!("{cmd}: unexpected output {text:?}"))
            .to_string();
        self.jobs.push(id.clone());
        id
    }

    /// The study's trials (`layernas export`); `None` while it is not in the store yet.
    fn try_export(&self) -> Option<Vec<Value>> {
        let out = Command::new(bin())
            .args(["export", "--store", &self.store, "--study", &self.study])
            .args(["--format", "json"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && err.contains("is not in store") {
            return None;
        }
        assert!(out.status.success(), "{err}");
        Some(
            serde_json::from_slice::<Value>(&out.stdout)
                .unwrap()
                .as_array()
                .unwrap()
                .clone(),
        )
    }

    fn export(&self) -> Vec<Value> {
        self.try_export().expect("the study is in the store")
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// Everything the jobs and the controller wrote, for a failure message.
    fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".log") {
                let text = self.log(&name);
                let tail: String = text
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                all += &format!("--- {name} (last lines)\n{tail}\n");
            }
        }
        all
    }

    /// Deletes the study (the PostgreSQL database is shared by the tests).
    fn delete(&self) {
        let out = Command::new(bin())
            .args(["delete", "--store", &self.store])
            .args(["--study", &self.study, "--yes"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Recipe {
    fn drop(&mut self) {
        if let Some(mut c) = self.controller.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for job in &self.jobs {
            let _ = Command::new("scancel")
                .arg(job)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// `scontrol show job -o ID`: the fields of each of its records (of an array job, one per
/// task, and one for tasks not started yet).
fn job_records(id: &str) -> Vec<BTreeMap<String, String>> {
    let out = Command::new("scontrol")
        .args(["show", "job", "-o", id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scontrol show job {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn field<'a>(record: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    record.get(key).map_or("", String::as_str)
}

fn job_state(id: &str) -> String {
    job_records(id)
        .first()
        .map_or(String::new(), |r| field(r, "JobState").to_string())
}

const ENDED: [&str; 9] = [
    "COMPLETED",
    "CANCELLED",
    "FAILED",
    "TIMEOUT",
    "NODE_FAIL",
    "PREEMPTED",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
];

/// Polls `ready` until it holds, failing with `what` and the logs at the deadline.
fn wait_for(recipe: &Recipe, deadline: Instant, what: &str, mut ready: impl FnMut() -> bool) {
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            recipe.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every record of the job (each array task) has ended.
fn wait_ended(recipe: &Recipe, id: &str, deadline: Instant) -> Vec<BTreeMap<String, String>> {
    let mut records = Vec::new();
    wait_for(recipe, deadline, &format!("job {id} to end"), || {
        records = job_records(id);
        !records.is_empty()
            && records
                .iter()
                .all(|r| ENDED.contains(&field(r, "JobState")))
    });
    records
}

/// The answer part of a search's JSON: what must not depend on interruptions.
fn answer(v: &Value) -> (Value, Value, Value) {
    (v["trials"].clone(), v["best"].clone(), v["front"].clone())
}

/// The single-process answer of the study (no sleeping: the time scale changes no result).
fn reference(recipe: &Recipe) -> Value {
    let out = recipe
        .sh("layernas search -c study.toml --sim-time-scale 0 --json reference.json --quiet")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&recipe.log("reference.json")).unwrap()
}

/// The study ended with the single-process answer, every architecture complete exactly once;
/// returns the trials.
fn check_answer(recipe: &Recipe, reference: &Value) -> Vec<Value> {
    let result: Value = serde_json::from_str(&recipe.log("result.json")).unwrap();
    assert_eq!(answer(&result), answer(reference));
    let trials = recipe.export();
    assert_eq!(
        trials.len() as u64,
        reference["trials"].as_u64().unwrap(),
        "trials in the store"
    );
    let incomplete: Vec<&Value> = trials.iter().filter(|t| t["state"] != "complete").collect();
    assert!(incomplete.is_empty(), "trials not complete: {incomplete:?}");
    let archs: BTreeSet<&str> = trials.iter().map(|t| t["arch"].as_str().unwrap()).collect();
    assert_eq!(archs.len(), trials.len(), "an architecture recorded twice");
    trials
}

/// `layernas status` (text and JSON) lists each of `names` as a worker.
fn check_status_names(recipe: &Recipe, names: &BTreeSet<String>) {
    let text = recipe.sh(STATUS).output().unwrap();
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    let json = recipe.sh(&format!("{STATUS} --json")).output().unwrap();
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    let listed: BTreeSet<&str> = json["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    for name in names {
        assert!(text.contains(name.as_str()), "status lacks {name}:\n{text}");
        assert!(listed.contains(name.as_str()), "status --json lacks {name}");
    }
}

#[test]
fn the_readme_slurm_recipe_finishes_with_the_single_process_answer() {
    let _turn = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    if !cluster() {
        return;
    }
    let Some(url) = postgres_url() else { return };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let mut recipe = Recipe::new(&url, "recipe");
    let reference = reference(&recipe);

    let log = std::fs::File::create(recipe.path("controller.log")).unwrap();
    recipe.controller = Some(
        recipe
            .sh(CONTROLLER)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let job = recipe.submit(WORKERS);
    let status = loop {
        if let Some(s) = recipe.controller.as_mut().unwrap().try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the search did not finish\n{}",
            recipe.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    recipe.controller = None;
    assert!(status.success(), "controller: {status}\n{}", recipe.logs());

    // Every array task exits 0 once the study is finished.
    let tasks = wait_ended(&recipe, &job, deadline);
    let ids: BTreeSet<&str> = tasks.iter().map(|r| field(r, "ArrayTaskId")).collect();
    assert_eq!(ids, BTreeSet::from(["0", "1", "2"]), "{tasks:?}");
    for t in &tasks {
        assert_eq!(
            (field(t, "JobState"), field(t, "ExitCode")),
            ("COMPLETED", "0:0"),
            "task {}\n{}",
            field(t, "ArrayTaskId"),
            recipe.logs()
        );
    }

    let trials = check_answer(&recipe, &reference);
    let names: BTreeSet<String> = (0..3).map(|t| format!("slurm-{job}_{t}")).collect();
    let by: BTreeSet<String> = trials
        .iter()
        .map(|t| t["worker"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(by, names, "the trials' workers");
    check_status_names(&recipe, &names);
    recipe.delete();
    eprintln!(
        "Slurm recipe: {} trials by {} array tasks in {:.1} s",
        trials.len(),
        names.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Waits until worker `name` runs a trial while at least two others are pending (so that,
/// killed now, it leaves a trial behind whatever it was about to do).
fn wait_busy(recipe: &Recipe, name: &str, deadline: Instant) {
    wait_for(recipe, deadline, &format!("{name} to run a trial"), || {
        let trials = recipe.try_export().unwrap_or_default();
        let pending = trials.iter().filter(|t| t["state"] == "pending").count();
        pending >= 2
            && trials
                .iter()
                .any(|t| t["state"] == "running" && t["worker"] == name)
    });
}

/// The trials `name` held when it was stopped: still `running` under its name.
fn stranded(recipe: &Recipe, name: &str) -> Vec<u64> {
    recipe
        .export()
        .iter()
        .filter(|t| t["state"] == "running" && t["worker"] == name)
        .map(|t| t["id"].as_u64().unwrap())
        .collect()
}

fn complete_count(recipe: &Recipe) -> usize {
    recipe
        .try_export()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["state"] == "complete")
        .count()
}

/// `scontrol requeue ID`, waiting until the job is back in the queue (its processes gone).
fn requeue(recipe: &Recipe, id: &str, deadline: Instant) {
    let out = Command::new("scontrol")
        .args(["requeue", id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scontrol requeue {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(recipe, deadline, &format!("{id} to be requeued"), || {
        job_state(id) == "PENDING"
    });
    std::thread::sleep(Duration::from_millis(300));
}

/// Lifts the delay Slurm puts on a requeued job (it becomes eligible about two minutes
/// later), so that it starts again now. Not within the second of its requeue, though: slurmd
/// refuses to launch it then ("Job credential revoked": a credential made in the second it
/// revoked the job's ones counts as revoked too).
fn start_now(id: &str) {
    std::thread::sleep(Duration::from_secs(2));
    let out = Command::new("scontrol")
        .args(["update", &format!("JobId={id}"), "StartTime=now"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scontrol update JobId={id} StartTime=now: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn workers_and_controller_survive_scancel_and_requeue() {
    let _turn = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    if !cluster() {
        return;
    }
    let Some(url) = postgres_url() else { return };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let mut recipe = Recipe::new(&url, "preempt");
    let reference = reference(&recipe);
    let total = reference["trials"].as_u64().unwrap() as usize;

    let controller = recipe.submit(CONTROLLER_JOB);
    let job = recipe.submit(WORKERS_4);
    let name = |t: u32| format!("slurm-{job}_{t}");

    // scancel: SIGTERM, then SIGKILL after KillWait; the task ends CANCELLED.
    let (cancelled, requeued) = (name(1), name(2));
    wait_for(&recipe, deadline, "10 trials to complete", || {
        complete_count(&recipe) >= 10
    });
    wait_busy(&recipe, &cancelled, deadline);
    let task = format!("{job}_1");
    assert!(Command::new("scancel")
        .arg(&task)
        .status()
        .unwrap()
        .success());
    wait_for(&recipe, deadline, "the cancelled task to end", || {
        job_state(&task) == "CANCELLED"
    });
    std::thread::sleep(Duration::from_millis(300));
    let left_by_cancelled = stranded(&recipe, &cancelled);

    // scontrol requeue: the task is killed the same way, then starts again.
    wait_busy(&recipe, &requeued, deadline);
    requeue(&recipe, &format!("{job}_2"), deadline);
    let left_by_requeued = stranded(&recipe, &requeued);
    start_now(&format!("{job}_2"));

    // The controller, requeued mid-search, resumes from the store.
    let done_before = complete_count(&recipe);
    wait_for(&recipe, deadline, "more trials to complete", || {
        complete_count(&recipe) >= done_before + 10
    });
    assert!(
        complete_count(&recipe) < total,
        "the search ended before its controller was requeued"
    );
    requeue(&recipe, &controller, deadline);
    start_now(&controller);

    let ended = wait_ended(&recipe, &controller, deadline);
    let c = &ended[0];
    assert_eq!(
        (
            field(c, "JobState"),
            field(c, "ExitCode"),
            field(c, "Restarts")
        ),
        ("COMPLETED", "0:0", "1"),
        "controller job\n{}",
        recipe.logs()
    );
    let controller_log = recipe.log(&format!("layernas-controller-{controller}.log"));
    assert!(
        controller_log.contains("taking over study"),
        "the requeued controller did not resume the study:\n{controller_log}"
    );
    // The cancelled task died of the SIGTERM (exit code 0:15), the others exited 0, the
    // requeued one after its second run.
    let tasks = wait_ended(&recipe, &job, deadline);
    let states: BTreeMap<&str, (&str, &str, &str)> = tasks
        .iter()
        .map(|r| {
            let f = |k| field(r, k);
            (
                f("ArrayTaskId"),
                (f("JobState"), f("ExitCode"), f("Restarts")),
            )
        })
        .collect();
    let expected = BTreeMap::from([
        ("0", ("COMPLETED", "0:0", "0")),
        ("1", ("CANCELLED", "0:15", "0")),
        ("2", ("COMPLETED", "0:0", "1")),
        ("3", ("COMPLETED", "0:0", "0")),
    ]);
    assert_eq!(states, expected, "array tasks\n{}", recipe.logs());

    // The requeued task rejoined: a second run in its log, which evaluated trials.
    let log = recipe.log(&format!("layernas-worker-{job}_2.log"));
    let runs: Vec<&str> = log.split("waiting for trials").collect();
    assert_eq!(runs.len(), 3, "two runs in the requeued task's log:\n{log}");
    assert!(
        runs[2].contains(" reward "),
        "the requeued task evaluated nothing after it rejoined:\n{log}"
    );

    let trials = check_answer(&recipe, &reference);
    // The trials the stopped workers held ran again once their leases expired.
    assert!(
        !left_by_cancelled.is_empty() && !left_by_requeued.is_empty(),
        "no trial left behind (cancelled {left_by_cancelled:?}, requeued {left_by_requeued:?})"
    );
    for id in left_by_cancelled.iter().chain(&left_by_requeued) {
        let t = trials.iter().find(|t| t["id"] == *id).unwrap();
        assert!(t["attempts"].as_u64().unwrap() >= 2, "trial {id}: {t}");
    }
    for id in &left_by_cancelled {
        let t = trials.iter().find(|t| t["id"] == *id).unwrap();
        assert_ne!(t["worker"].as_str(), Some(cancelled.as_str()), "{t}");
    }
    let names: BTreeSet<String> = (0..4).map(name).collect();
    let by: BTreeSet<String> = trials
        .iter()
        .map(|t| t["worker"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(by.is_subset(&names), "the trials' workers: {by:?}");
    check_status_names(&recipe, &names);
    recipe.delete();
    eprintln!(
        "Slurm preemption: {} trials; trials left by the cancelled task {left_by_cancelled:?}, \
         by the requeued one {left_by_requeued:?}; {:.1} s",
        trials.len(),
        started.elapsed().as_secs_f64()
    );
}
