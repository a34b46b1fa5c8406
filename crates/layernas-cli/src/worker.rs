//! `layernas worker`, `layernas status`, `layernas export`.

use crate::search::build_evaluator;
use crate::study::{InputError, StudyArgs, StudyFile};
use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use layernas_core::limits::cap_text;
use layernas_core::{
    evaluate_guarded, now, trial_seed, Cancel, Claim, Evaluator, Reported, StoreError, TrialState,
    TrialStore,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const WORKER_EXAMPLES: &str = "Examples:
  # evaluate trials of study `s1` until it is finished
  layernas worker --store postgres://user@db:5432/nas --study s1

  # any study in the store; exit after 5 idle minutes
  layernas worker --store postgres://user@db:5432/nas --idle-exit 300";

pub const STATUS_EXAMPLES: &str = "Examples:
  layernas status --store study.db
  layernas status --store postgres://user@db:5432/nas --study s1 --json";

pub const DELETE_EXAMPLES: &str = "Examples:
  # what would go (nothing is deleted without --yes)
  layernas delete --store study.db --study s1
  layernas delete --store postgres://user@db:5432/nas --study s1 --yes";

pub const EXPORT_EXAMPLES: &str = "Examples:
  layernas export --store study.db --format csv > trials.csv
  layernas export --store postgres://user@db:5432/nas --study s1 --format json --output trials.json";

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

/// `value` must be a finite number in `lo..=hi` (`hi_open`: below `hi`).
fn check_range(flag: &str, value: f64, lo: f64, hi: f64, hi_open: bool) -> Result<(), InputError> {
    let fits = value.is_finite() && value >= lo && if hi_open { value < hi } else { value <= hi };
    if fits {
        return Ok(());
    }
    let upper = if hi_open {
        format!("below {hi}")
    } else {
        format!("at most {hi}")
    };
    Err(InputError(format!(
        "{flag} must be a number of seconds from {lo}, {upper}; got {value:?}"
    )))
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
        check_range("--lease", self.lease, 0.1, 86400.0, false)?;
        check_range("--heartbeat", self.heartbeat, 0.01, self.lease, true)
            .map_err(|e| InputError(format!("{} (--lease is {})", e.0, self.lease)))?;
        if let Some(idle) = self.idle_exit {
            check_range("--idle-exit", idle, 0.0, 31_536_000.0, false)?;
        }
        check_range("--poll", self.poll, 0.01, 60.0, false)?;
        check_range("--wait", self.wait, 0.0, 86400.0, false)
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

fn is_missing_file(url: &str) -> bool {
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

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Trial store.
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// Study [default: every study in the store].
    #[arg(long)]
    pub study: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn open_existing(url: &str, study: &str, store: &mut dyn TrialStore) -> anyhow::Result<()> {
    let config = store
        .study_config(study)?
        .ok_or_else(|| InputError(format!("study {study} is not in store {url}")))?;
    let spec = layernas_core::StudySpec {
        name: study.into(),
        config,
        hash: String::new(),
    };
    store.open_study(&spec, true)?;
    Ok(())
}

fn store_for(url: &str) -> anyhow::Result<Box<dyn TrialStore>> {
    if is_missing_file(url) {
        return Err(InputError(format!("no store at {url}")).into());
    }
    Ok(layernas_store::open_existing(url)?)
}

/// The stored study's answer as its search reports it: the strategy is rebuilt from the stored
/// configuration and replayed over the stored trials, so the cost window and the selection rule
/// apply. `None` when no trial qualifies; an error when the configuration cannot be rebuilt.
fn study_answer(
    config: Option<String>,
    trials: &[layernas_core::Trial],
) -> anyhow::Result<Option<(String, f64, f64)>> {
    let config = config.ok_or_else(|| anyhow::anyhow!("no stored configuration"))?;
    let file: StudyFile = serde_json::from_str(&config)?;
    let study = StudyArgs::default().merge(file)?;
    let space = crate::spaces::resolve(&study.space, study.dataset)?;
    let cost = crate::search::cost_model(&space, &study)?;
    let space = space.dyn_space();
    let mut strategy = crate::search::build_study_strategy(&study, space.clone(), cost.clone())?;
    layernas_core::replay(&mut *strategy, trials);
    Ok(strategy.best().and_then(|arch| {
        let t = trials.iter().find(|t| t.arch == arch)?;
        Some((space.format(&arch), t.reward?, t.cost))
    }))
}

pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let mut store = store_for(&args.store)?;
    let studies = match &args.study {
        Some(s) => vec![s.clone()],
        None => store.studies()?,
    };
    let mut report = Vec::new();
    for study in &studies {
        open_existing(&args.store, study, &mut *store)?;
        let trials = store.trials()?;
        let mut by_state: HashMap<&str, usize> = HashMap::new();
        for t in &trials {
            *by_state.entry(t.state.name()).or_default() += 1;
        }
        let waves = trials.iter().map(|t| t.wave).max().map_or(0, |w| w + 1);
        let failures: Vec<serde_json::Value> = trials
            .iter()
            .filter(|t| t.state == TrialState::Failed || (t.error.is_some() && !t.state.is_final()))
            .map(|t| serde_json::json!({"id": t.id, "arch": t.arch.key(), "state": t.state.name(), "attempts": t.attempts, "error": t.error.as_deref().map(cap_text)}))
            .collect();
        let config = store.study_config(study)?;
        let (best, best_note) = match study_answer(config, &trials) {
            Ok(best) => (best, None),
            Err(e) => (
                None,
                Some(format!("the study's answer cannot be rebuilt: {e}")),
            ),
        };
        let controller = store
            .controller(study)?
            .filter(|c| c.expires_in > 0.0)
            .map(|c| serde_json::json!({"holder": c.holder, "lease_expires_in": c.expires_in}));
        report.push(serde_json::json!({
            "study": study,
            "done": store.is_done(study)?,
            "controller": controller,
            "trials": trials.len(),
            "waves": waves,
            "pending": by_state.get("pending").copied().unwrap_or(0),
            "running": by_state.get("running").copied().unwrap_or(0),
            "complete": by_state.get("complete").copied().unwrap_or(0),
            "failed": by_state.get("failed").copied().unwrap_or(0),
            "best_reward": best.as_ref().map(|b| b.1),
            "best": best.as_ref().map(|(arch, reward, cost)| serde_json::json!({"arch": arch, "reward": reward, "cost": cost})),
            "best_note": best_note,
            "failures": failures,
        }));
    }
    let workers: Vec<serde_json::Value> = store
        .workers()?
        .into_iter()
        .map(|(n, seen, count)| serde_json::json!({"name": n, "seconds_since_seen": (now() - seen).max(0.0), "trials": count}))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"studies": report, "workers": workers})
            )?
        );
        return Ok(());
    }
    if report.is_empty() {
        println!("no studies in store {}", args.store);
    }
    for s in &report {
        println!(
            "study {}: {} — {} trials in {} waves: {} pending, {} running, {} complete, {} failed; best reward {}{}",
            s["study"].as_str().unwrap_or_default(),
            if s["done"] == true { "finished" } else { "in progress" },
            s["trials"], s["waves"], s["pending"], s["running"], s["complete"], s["failed"],
            s["best"].as_object().map_or("-".into(), |b| format!(
                "{:.3} (cost {:.3}: {})",
                b["reward"].as_f64().unwrap_or(f64::NAN),
                b["cost"].as_f64().unwrap_or(f64::NAN),
                b["arch"].as_str().unwrap_or_default()
            )),
            s["best_note"].as_str().map_or(String::new(), |n| format!(" ({n})")),
        );
        if let Some(c) = s["controller"].as_object() {
            println!(
                "  controller {} (lease renewed, expires in {:.0} s unless renewed)",
                c["holder"].as_str().unwrap_or_default(),
                c["lease_expires_in"].as_f64().unwrap_or(0.0)
            );
        }
        for f in s["failures"].as_array().into_iter().flatten() {
            println!(
                "  trial {} ({}, {} attempts): {}",
                f["id"],
                f["state"].as_str().unwrap_or_default(),
                f["attempts"],
                f["error"].as_str().unwrap_or_default()
            );
        }
    }
    if !workers.is_empty() {
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
            "worker",
            "last seen (s ago)",
            "trials",
        ]);
        for w in &workers {
            table.add_row(vec![
                w["name"].as_str().unwrap_or_default().to_string(),
                format!("{:.0}", w["seconds_since_seen"].as_f64().unwrap_or(0.0)),
                w["trials"].to_string(),
            ]);
        }
        println!("{table}");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Trial store.
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// Study [default: default].
    #[arg(long, default_value = "default")]
    pub study: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Write to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Formats architectures the way the stored study's space writes them (the key if the space
/// cannot be rebuilt, e.g. a space file that moved).
fn formatter(
    store: &mut dyn TrialStore,
    study: &str,
) -> Box<dyn Fn(&layernas_core::Arch) -> String> {
    let space = store
        .study_config(study)
        .ok()
        .flatten()
        .and_then(|c| serde_json::from_str::<StudyFile>(&c).ok())
        .and_then(|f| StudyArgs::default().merge(f).ok())
        .and_then(|s| crate::spaces::resolve(&s.space, s.dataset).ok())
        .map(|s| s.dyn_space());
    match space {
        Some(space) => Box::new(move |a| space.format(a)),
        None => Box::new(|a| a.key()),
    }
}

pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.output {
        crate::search::check_writable(path, "--output")?;
    }
    let mut store = store_for(&args.store)?;
    open_existing(&args.store, &args.study, &mut *store)?;
    let format = formatter(&mut *store, &args.study);
    let trials = store.trials()?;
    let text = match args.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = trials
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "id": t.id, "arch": format(&t.arch), "key": t.arch.key(),
                        "state": t.state.name(), "cost": t.cost, "reward": t.reward,
                        "metrics": t.metrics, "wave": t.wave, "attempts": t.attempts,
                        "worker": t.worker, "seconds": t.seconds, "error": t.error,
                    })
                })
                .collect();
            serde_json::to_string_pretty(&rows)? + "\n"
        }
        Format::Csv => {
            let metric_names: Vec<String> = {
                let mut names: Vec<String> = trials
                    .iter()
                    .flat_map(|t| t.metrics.keys().cloned())
                    .collect();
                names.sort();
                names.dedup();
                names
            };
            let mut w = csv::Writer::from_writer(Vec::new());
            let mut header = vec![
                "id", "arch", "key", "state", "cost", "reward", "wave", "attempts", "worker",
                "seconds", "error",
            ];
            header.extend(metric_names.iter().map(String::as_str));
            w.write_record(&header)?;
            for t in &trials {
                let mut row = vec![
                    t.id.to_string(),
                    format(&t.arch),
                    t.arch.key(),
                    t.state.name().to_string(),
                    t.cost.to_string(),
                    t.reward.map_or(String::new(), |r| r.to_string()),
                    t.wave.to_string(),
                    t.attempts.to_string(),
                    t.worker.clone().unwrap_or_default(),
                    t.seconds.to_string(),
                    t.error.clone().unwrap_or_default(),
                ];
                row.extend(
                    metric_names
                        .iter()
                        .map(|m| t.metrics.get(m).map_or(String::new(), |v| v.to_string())),
                );
                w.write_record(&row)?;
            }
            String::from_utf8(w.into_inner()?)?
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write --output {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Trial store.
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// The study to delete, with all its trials.
    #[arg(long, value_name = "NAME")]
    pub study: String,
    /// Delete; without it, only say what would be deleted.
    #[arg(long)]
    pub yes: bool,
}

/// `layernas delete`: removes one study and its trials (after `--yes`).
pub fn delete(args: &DeleteArgs) -> anyhow::Result<()> {
    let mut store = store_for(&args.store)?;
    open_existing(&args.store, &args.study, &mut *store)?;
    let trials = store.trials()?;
    let complete = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .count();
    if !args.yes {
        return Err(InputError(format!(
            "study {} holds {} trials ({complete} complete); nothing deleted: add --yes to delete it \
             (layernas export saves the trials first)",
            args.study,
            trials.len()
        ))
        .into());
    }
    store.delete_study(&args.study)?;
    println!(
        "deleted study {} and its {} trials from {}",
        args.study,
        trials.len(),
        args.store
    );
    Ok(())
}
