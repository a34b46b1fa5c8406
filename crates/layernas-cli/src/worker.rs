//! `layernas worker`: evaluates pending trials of stored studies.

use crate::search::build_evaluator;
use crate::study::{check_seconds, InputError, StudyArgs, StudyFile};
use clap::Args;
use layernas_core::{
    evaluate_guarded, trial_seed, Cancel, Claim, Evaluator, Reported, StoreError, TrialStore,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const WORKER_EXAMPLES: &str = "Examples:
  # evaluate trials of study `s1` until it is finished
  layernas worker --store postgres://user@db:5432/nas --study s1

  # any study in the store; exit after 5 idle minutes
  layernas worker --store postgres://user@db:5432/nas --idle-exit 300";

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Trial store shared with the controller: postgres://... or a SQLite file on this machine.
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// Only this study [default: any study with pending trials].
    #[arg(long, value_name = "NAME")]
    pub study: Option<String>,
    /// Worker name in the store [default: <hostname>:<pid>].
    #[arg(long)]
    pub name: Option<String>,
    /// Seconds without a heartbeat after which a trial is handed to another worker
    /// (0.1 to 86400).
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "SECONDS",
        default_value_t = 30.0
    )]
    pub lease: f64,
    /// Seconds between heartbeats (0.01 or more, shorter than --lease; well under it).
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "SECONDS",
        default_value_t = 5.0
    )]
    pub heartbeat: f64,
    /// Exit after this many seconds without work (0 to 31536000; never when --study is given:
    /// then the worker exits when the study is finished).
    #[arg(allow_hyphen_values = true, long, value_name = "SECONDS")]
    pub idle_exit: Option<f64>,
    /// Seconds between looks at the store while idle (0.01 to 60).
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "SECONDS",
        default_value_t = 0.2
    )]
    pub poll: f64,
    /// Seconds to wait for the store (a SQLite file) and the --study to appear, since workers
    /// may start before their controller; then a missing one is an error (0 to 86400).
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "SECONDS",
        default_value_t = 30.0
    )]
    pub wait: f64,
}

impl WorkerArgs {
    /// Every numeric knob within its documented range.
    fn validate(&self) -> Result<(), InputError> {
        if let Some(name) = &self.name {
            // The name is printed by `status` and stored: no empty name, no terminal escapes.
            if name.trim().is_empty() || name.chars().any(char::is_control) || name.len() > 200 {
                return Err(InputError(format!(
                    "invalid --name {name:?}: must be non-empty, at most 200 bytes, without \
                     control characters"
                )));
            }
        }
        check_seconds("--lease", self.lease, 0.1, 86400.0, false)?;
        check_seconds("--heartbeat", self.heartbeat, 0.01, self.lease, true)
            .map_err(|e| InputError(format!("{} (--lease is {})", e.0, self.lease)))?;
        if let Some(idle) = self.idle_exit {
            check_seconds("--idle-exit", idle, 0.0, 31_536_000.0, false)?;
        }
        check_seconds("--poll", self.poll, 0.01, 60.0, false)?;
        check_seconds("--wait", self.wait, 0.0, 86400.0, false)
    }
}

/// This machine's name (for worker and controller names).
pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "worker".into())
}

struct StudyRuntime {
    evaluator: Arc<dyn Evaluator>,
    seed: u64,
    max_attempts: u32,
    timeout: Option<Duration>,
}

fn runtime(store: &mut dyn TrialStore, study: &str) -> anyhow::Result<StudyRuntime> {
    let config = store
        .study_config(study)?
        .ok_or_else(|| InputError(format!("study {study} is not in the store")))?;
    let file: StudyFile = serde_json::from_str(&config).map_err(|e| {
        InputError(format!(
            "study {study}: unreadable stored configuration: {e}"
        ))
    })?;
    let study = StudyArgs::default().merge(file)?;
    let space = crate::spaces::resolve(&study.space, study.dataset)?;
    let built = build_evaluator(&study, &space)?;
    Ok(StudyRuntime {
        evaluator: built.evaluator,
        seed: study.layernas.seed,
        max_attempts: study.retries + 1,
        timeout: built.executor_timeout,
    })
}

/// Opens the worker's store, waiting up to `--wait` seconds for a SQLite file to appear and
/// (with `--study`) for the study to be created; never creates a file.
fn open_for_worker(args: &WorkerArgs, name: &str) -> anyhow::Result<Box<dyn TrialStore>> {
    let deadline = Instant::now() + Duration::from_secs_f64(args.wait);
    let mut said = false;
    let mut store = loop {
        // The controller may create the file between our look and our open: a failure while
        // the file was missing just before is a retry, not an error.
        let missing_before = is_missing_file(&args.store);
        match layernas_store::open_existing(&args.store) {
            Ok(s) => break s,
            Err(_) if missing_before && !is_missing_file(&args.store) => continue,
            Err(e) if Instant::now() < deadline && is_missing_file(&args.store) => {
                if !said {
                    eprintln!(
                        "worker {name}: no store at {} yet; waiting up to {} s for it",
                        args.store, args.wait
                    );
                    said = true;
                }
                let _ = e;
                std::thread::sleep(Duration::from_secs_f64(args.poll));
            }
            Err(e) if is_missing_file(&args.store) => {
                return Err(InputError(format!(
                    "{e} (waited {} s; --wait sets how long)",
                    args.wait
                ))
                .into())
            }
            Err(e) => return Err(e.into()),
        }
    };
    if let Some(study) = &args.study {
        let mut said = false;
        while store.is_done(study)?.is_none() {
            if Instant::now() >= deadline {
                let known = store.studies()?;
                return Err(InputError(format!(
                    "study {study} is not in store {} (studies there: {}; waited {} s for it, \
                     --wait sets how long)",
                    args.store,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    },
                    args.wait
                ))
                .into());
            }
            if !said {
                eprintln!(
                    "worker {name}: study {study} is not in store {} yet; waiting up to {} s for \
                     its controller to create it",
                    args.store, args.wait
                );
                said = true;
            }
            std::thread::sleep(Duration::from_secs_f64(args.poll));
        }
    }
    Ok(store)
}

pub(crate) fn is_missing_file(url: &str) -> bool {
    url != "memory" && !url.contains("://") && !std::path::Path::new(url).exists()
}

pub fn worker(args: &WorkerArgs) -> anyhow::Result<()> {
    args.validate()?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}:{}", hostname(), std::process::id()));
    let mut store = open_for_worker(args, &name)?;
    let mut beat_store = layernas_store::open_existing(&args.store)?;
    let mut runtimes: HashMap<String, StudyRuntime> = HashMap::new();
    let mut idle_since = Instant::now();
    let mut store_errors = 0;
    eprintln!(
        "worker {name}: waiting for trials in {}",
        args.study.as_deref().unwrap_or("any study")
    );
    loop {
        // Store errors (a busy SQLite file, a dropped connection) are retried: a worker must
        // outlive them. Evaluation errors are results, not errors.
        let step = worker_step(
            args,
            &name,
            &mut *store,
            &mut *beat_store,
            &mut runtimes,
            &mut idle_since,
        );
        match step {
            Ok(Step::Exit) => return Ok(()),
            Ok(Step::Worked) | Ok(Step::Idle) => store_errors = 0,
            Err(e)
                if e.downcast_ref::<StoreError>().is_some() && store_errors < MAX_STORE_ERRORS =>
            {
                store_errors += 1;
                eprintln!("worker {name}: store error ({e}); retrying");
                std::thread::sleep(Duration::from_secs_f64(args.poll * 5.0));
            }
            Err(e) => return Err(e),
        }
    }
}

const MAX_STORE_ERRORS: u32 = 100;

enum Step {
    Worked,
    Idle,
    Exit,
}

fn worker_step(
    args: &WorkerArgs,
    name: &str,
    store: &mut dyn TrialStore,
    beat_store: &mut dyn TrialStore,
    runtimes: &mut HashMap<String, StudyRuntime>,
    idle_since: &mut Instant,
) -> anyhow::Result<Step> {
    let Some(claim) = store.claim(args.study.as_deref(), name, args.lease)? else {
        if let Some(study) = &args.study {
            match store.is_done(study)? {
                Some(true) => {
                    eprintln!("worker {name}: study {study} is finished");
                    return Ok(Step::Exit);
                }
                Some(false) => {}
                None => {
                    return Err(InputError(format!(
                        "study {study} was deleted from store {}",
                        args.store
                    ))
                    .into())
                }
            }
        } else if args
            .idle_exit
            .is_some_and(|s| idle_since.elapsed().as_secs_f64() > s)
        {
            eprintln!("worker {name}: idle, exiting");
            return Ok(Step::Exit);
        }
        std::thread::sleep(Duration::from_secs_f64(args.poll));
        return Ok(Step::Idle);
    };
    if !runtimes.contains_key(&claim.study) {
        let rt = runtime(store, &claim.study)?;
        runtimes.insert(claim.study.clone(), rt);
    }
    let rt = &runtimes[&claim.study];
    let (result, seconds) = evaluate_with_heartbeat(beat_store, &claim, rt, args.heartbeat);
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
                eprintln!(
                    "worker {name}: cannot record trial {} yet ({e}); retrying",
                    claim.id
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let what = match (&result, reported) {
        (_, Reported::Stale) => "lease lost: result discarded".to_string(),
        (Ok(e), _) => format!("reward {:.3}", e.reward),
        (Err(e), Reported::Retry) => format!("failed ({e}), will retry"),
        (Err(e), _) => format!("failed ({e})"),
    };
    eprintln!(
        "worker {name}: study {} trial {} attempt {}: {what} in {seconds:.2} s",
        claim.study, claim.id, claim.attempt
    );
    *idle_since = Instant::now();
    Ok(Step::Worked)
}

/// Evaluates a claimed trial while a second connection renews its lease.
fn evaluate_with_heartbeat(
    beat_store: &mut dyn TrialStore,
    claim: &Claim,
    rt: &StudyRuntime,
    every: f64,
) -> (Result<layernas_core::Evaluation, String>, f64) {
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
        let r = evaluate_guarded(
            &rt.evaluator,
            claim.id,
            &claim.arch,
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
