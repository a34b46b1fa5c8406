//! The worker loop of distributed studies: `claim` a pending trial, evaluate it (the
//! executor's guarded evaluation: timeouts, panics, non-finite rewards) while a second
//! connection renews its lease, then `report` it (the store applies the one retry rule).

use crate::file::check_seconds;
use crate::study::Study;
use crate::wiring::{build_evaluator, is_missing_file, Space};
use crate::StudyError;
use layernas_core::{
    evaluate_guarded_at, trial_seed, Cancel, Claim, Evaluation, Evaluator, Reported, TrialStore,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// This machine's name (for worker and controller names).
pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "worker".into())
}

/// How a worker runs (the knobs of `layernas worker`).
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The store: a SQLite file or postgres://...
    pub store: String,
    /// Only this study (and exit when it is finished); any study otherwise.
    pub study: Option<String>,
    /// The worker's name [default: host:pid].
    pub name: Option<String>,
    /// Seconds a claimed trial stays ours without a heartbeat.
    pub lease: f64,
    /// Seconds between heartbeats (below `lease`).
    pub heartbeat: f64,
    /// Exit after this many idle seconds (without `study`).
    pub idle_exit: Option<f64>,
    /// Seconds between polls for work.
    pub poll: f64,
    /// Seconds to wait for the store and the study to appear.
    pub wait: f64,
}

impl WorkerOptions {
    /// Every numeric knob within its documented range, and a printable name.
    pub fn validate(&self) -> Result<(), StudyError> {
        if let Some(name) = &self.name {
            // The name is printed by `status` and stored: no empty name, no terminal escapes.
            if name.trim().is_empty() || name.chars().any(char::is_control) || name.len() > 200 {
                return Err(StudyError::Input(format!(
                    "invalid --name {name:?}: must be non-empty, at most 200 bytes, without \
                     control characters"
                )));
            }
        }
        check_seconds("--lease", self.lease, 0.1, 86400.0, false)?;
        check_seconds("--heartbeat", self.heartbeat, 0.01, self.lease, true)
            .map_err(|e| StudyError::Input(format!("{e} (--lease is {})", self.lease)))?;
        if let Some(idle) = self.idle_exit {
            check_seconds("--idle-exit", idle, 0.0, 31_536_000.0, false)?;
        }
        check_seconds("--poll", self.poll, 0.01, 60.0, false)?;
        check_seconds("--wait", self.wait, 0.0, 86400.0, false)
    }

    /// The worker's name: `--name`, or `host:pid`.
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}:{}", hostname(), std::process::id()))
    }
}

/// What a worker needs of a study to evaluate its trials, rebuilt from the stored study file.
struct StudyRuntime {
    evaluator: Arc<dyn Evaluator>,
    seed: u64,
    max_attempts: u32,
    timeout: Option<Duration>,
}

fn runtime(store: &mut dyn TrialStore, name: &str) -> Result<StudyRuntime, StudyError> {
    let config = store
        .study_config(name)?
        .ok_or_else(|| StudyError::Input(format!("study {name} is not in the store")))?;
    let study = Study::from_stored(name, &config)?;
    let space = Space::resolve(&study.space, study.dataset)?;
    let built = build_evaluator(&study, &space)?;
    Ok(StudyRuntime {
        evaluator: built.evaluator,
        seed: study.strategies.scope.seed,
        max_attempts: study.retries + 1,
        timeout: built.executor_timeout,
    })
}

/// Opens the worker's store, waiting up to `wait` seconds for a SQLite file to appear and
/// (with `study`) for the study to be created; never creates a file.
fn open_for_worker(
    o: &WorkerOptions,
    name: &str,
    log: &dyn Fn(&str),
) -> Result<Box<dyn TrialStore>, StudyError> {
    let deadline = Instant::now() + Duration::from_secs_f64(o.wait);
    let mut said = false;
    let mut store = loop {
        // The controller may create the file between our look and our open: a failure while
        // the file was missing just before is a retry, not an error.
        let missing_before = is_missing_file(&o.store);
        match layernas_store::open_existing(&o.store) {
            Ok(s) => break s,
            Err(_) if missing_before && !is_missing_file(&o.store) => continue,
            Err(_) if Instant::now() < deadline && is_missing_file(&o.store) => {
                if !said {
                    log(&format!(
                        "worker {name}: no store at {} yet; waiting up to {} s for it",
                        o.store, o.wait
                    ));
                    said = true;
                }
                std::thread::sleep(Duration::from_secs_f64(o.poll));
            }
            Err(e) if is_missing_file(&o.store) => {
                return Err(StudyError::Input(format!(
                    "{e} (waited {} s; --wait sets how long)",
                    o.wait
                )))
            }
            Err(e) => return Err(e.into()),
        }
    };
    if let Some(study) = &o.study {
        let mut said = false;
        while store.is_done(study)?.is_none() {
            if Instant::now() >= deadline {
                let known = store.studies()?;
                return Err(StudyError::Input(format!(
                    "study {study} is not in store {} (studies there: {}; waited {} s for it, \
                     --wait sets how long)",
                    o.store,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    },
                    o.wait
                )));
            }
            if !said {
                log(&format!(
                    "worker {name}: study {study} is not in store {} yet; waiting up to {} s for \
                     its controller to create it",
                    o.store, o.wait
                ));
                said = true;
            }
            std::thread::sleep(Duration::from_secs_f64(o.poll));
        }
    }
    Ok(store)
}

/// Store errors in a row a worker outlives before it gives up.
const MAX_STORE_ERRORS: u32 = 100;

/// Runs a worker until its study is finished (or it idles out), writing its log lines to `log`.
pub fn run_worker(o: &WorkerOptions, log: &dyn Fn(&str)) -> Result<(), StudyError> {
    o.validate()?;
    let name = o.name();
    let mut store = open_for_worker(o, &name, log)?;
    let mut beat_store = layernas_store::open_existing(&o.store)?;
    let mut state = Loop {
        runtimes: HashMap::new(),
        idle_since: Instant::now(),
    };
    let mut store_errors = 0;
    log(&format!(
        "worker {name}: waiting for trials in {}",
        o.study.as_deref().unwrap_or("any study")
    ));
    loop {
        // Store errors (a busy SQLite file, a dropped connection) are retried: a worker must
        // outlive them. Evaluation errors are results, not errors.
        match state.step(o, &name, &mut *store, &mut *beat_store, log) {
            Ok(Step::Exit) => return Ok(()),
            Ok(Step::Worked) | Ok(Step::Idle) => store_errors = 0,
            Err(StudyError::Store(e)) if store_errors < MAX_STORE_ERRORS => {
                store_errors += 1;
                log(&format!("worker {name}: store error ({e}); retrying"));
                std::thread::sleep(Duration::from_secs_f64(o.poll * 5.0));
            }
            Err(e) => return Err(e),
        }
    }
}

enum Step {
    Worked,
    Idle,
    Exit,
}

struct Loop {
    runtimes: HashMap<String, StudyRuntime>,
    idle_since: Instant,
}

impl Loop {
    fn step(
        &mut self,
        o: &WorkerOptions,
        name: &str,
        store: &mut dyn TrialStore,
        beat_store: &mut dyn TrialStore,
        log: &dyn Fn(&str),
    ) -> Result<Step, StudyError> {
        let Some(claim) = store.claim(o.study.as_deref(), name, o.lease)? else {
            if let Some(study) = &o.study {
                match store.is_done(study)? {
                    Some(true) => {
                        log(&format!("worker {name}: study {study} is finished"));
                        return Ok(Step::Exit);
                    }
                    Some(false) => {}
                    None => {
                        return Err(StudyError::Input(format!(
                            "study {study} was deleted from store {}",
                            o.store
                        )))
                    }
                }
            } else if o
                .idle_exit
                .is_some_and(|s| self.idle_since.elapsed().as_secs_f64() > s)
            {
                log(&format!("worker {name}: idle, exiting"));
                return Ok(Step::Exit);
            }
            std::thread::sleep(Duration::from_secs_f64(o.poll));
            return Ok(Step::Idle);
        };
        if !self.runtimes.contains_key(&claim.study) {
            let rt = runtime(store, &claim.study)?;
            self.runtimes.insert(claim.study.clone(), rt);
        }
        let rt = &self.runtimes[&claim.study];
        let (result, seconds) = evaluate_with_heartbeat(beat_store, &claim, rt, o.heartbeat);
        // A result is worth a few tries to record; if it cannot be, the lease expires and the
        // trial is handed out again.
        let mut tries = 0;
        let reported = loop {
            match store.report(
                &claim,
                result.as_ref().map_err(|e| e.as_str()),
                seconds,
                rt.max_attempts,
            ) {
                Ok(r) => break r,
                Err(e) if tries < 20 => {
                    tries += 1;
                    log(&format!(
                        "worker {name}: cannot record trial {} yet ({e}); retrying",
                        claim.id
                    ));
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(StudyError::Store(e)),
            }
        };
        let what = match (&result, reported) {
            (_, Reported::Stale) => "lease lost: result discarded".to_string(),
            (Ok(e), _) => format!("reward {:.3}", e.reward),
            (Err(e), Reported::Retry) => format!("failed ({e}), will retry"),
            (Err(e), _) => format!("failed ({e})"),
        };
        log(&format!(
            "worker {name}: study {} trial {} attempt {}: {what} in {seconds:.2} s",
            claim.study, claim.id, claim.attempt
        ));
        self.idle_since = Instant::now();
        Ok(Step::Worked)
    }
}

/// Evaluates a claimed trial while a second connection renews its lease.
fn evaluate_with_heartbeat(
    beat_store: &mut dyn TrialStore,
    claim: &Claim,
    rt: &StudyRuntime,
    every: f64,
) -> (Result<Evaluation, String>, f64) {
    let stop = AtomicBool::new(false);
    let lost = Cancel::new();
    let start = Instant::now();
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut last = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
                if last.elapsed().as_secs_f64() >= every {
                    last = Instant::now();
                    // A failed heartbeat is retried at the next beat; a lost lease ends them
                    // and stops the evaluation: its result could not be recorded.
                    if let Ok(false) = beat_store.heartbeat(claim) {
                        lost.cancel();
                        return;
                    }
                }
            }
        });
        let r = evaluate_guarded_at(
            &rt.evaluator,
            claim.id,
            &claim.arch,
            claim.fidelity,
            trial_seed(rt.seed, claim.id),
            rt.timeout,
            &lost,
        )
        .map_err(|e| e.to_string());
        stop.store(true, Ordering::SeqCst);
        r
    });
    (result, start.elapsed().as_secs_f64())
}
