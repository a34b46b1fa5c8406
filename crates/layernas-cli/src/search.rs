//! `layernas search`.

use crate::report::{CostInfo, Point, SearchReport};
use crate::spaces::{self, Space};
use crate::study::{InputError, Study, StudyArgs};
use anyhow::Context;
use clap::Args;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use layernas_core::{
    pareto_front, Arch, ControllerHold, CostModel, Evaluator, Executor, Lead, MemoryStore,
    ProgressEvent, SearchSpace, StoreError, Strategy, StudyOpen, TrialState, TrialStore,
};
use layernas_eval::CommandEvaluator;
use layernas_search::{build_strategy, LayerNas};
use layernas_spaces::{LatencyTable, NetworkCost, TableLatency, TemplateSpace};
use layernas_tables::{DataSource, Nb201Table, TableCost, TableEvaluator};
use layernas_train::{Engine, FashionMnist, TrainEvaluator};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

pub const EXAMPLES: &str = "Examples:
  # best CIFAR-10 cell under 60 MFLOPs, and the whole front
  layernas search --space nb201 --dataset cifar10 --cost flops --max-cost 60

  # front search by Pixel 3 latency, keeping 3 per bucket, JSON to a file
  layernas search --dataset cifar100 --cost latency:pixel3 --keep 3 --json out.json

  # everything from a study file, one flag overridden
  layernas search -c study.toml --seed 1

  # the plan of a MobileNetV3 search under 220M MAdds, before training anything
  layernas search --space mobilenetv3-large --cost madds --max-cost 220 --dry-run

  # train every candidate on Fashion-MNIST (built-in engine, 2 threads per trial)
  layernas search --space examples/spaces/fashion-cnn.toml --dataset fashion-mnist \\
    --evaluator train --epochs 2 --train-subset 3000 --max-cost 1.5 --train-threads 2

  # the same on a GPU with the libtorch engine (torch/README.md)
  layernas search --space examples/spaces/fashion-cnn.toml --dataset fashion-mnist \\
    --evaluator train --engine torch --device cuda --max-cost 1.5";

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    /// Write the result as JSON to FILE (`-` for standard output, instead of the tables).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the LayerNAS plan (per layer: bucket window, bounds on parents and on children
    /// after cost pruning; the total trial bound) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Run the study even though another controller holds it (whose lease has not expired):
    /// for a controller known to be dead. A live one stops at its next renewal.
    #[arg(long)]
    pub take_over: bool,
    /// Seconds a controller's hold on its study lasts unless renewed (it renews every third of
    /// it while it runs; another controller may take over once it expires). 1 to 86400.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub controller_lease: f64,
}

/// Checks, before any work, that `path` can be written (created or replaced): a search whose
/// results cannot be saved must not run first. Leaves no file behind.
pub fn check_writable(path: &Path, what: &str) -> Result<(), InputError> {
    let fail = |why: String| InputError(format!("cannot write {what} {}: {why}", path.display()));
    if path.is_dir() {
        return Err(fail("it is a directory".into()));
    }
    if path.exists() {
        return std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| fail(e.to_string()));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| fail(e.to_string()))?;
    std::fs::remove_file(path).map_err(|e| fail(e.to_string()))
}

/// Checks, before any work, that `dir` is (or can be made) a directory we can write files in.
pub fn check_writable_dir(dir: &Path, what: &str) -> Result<(), InputError> {
    let fail = |why: String| InputError(format!("cannot write {what} {}: {why}", dir.display()));
    if dir.exists() && !dir.is_dir() {
        return Err(fail("it exists and is not a directory".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let probe = dir.join(format!(".layernas-write-check-{}", std::process::id()));
    check_writable(&probe, what).map_err(|_| fail("the directory is not writable".into()))
}

/// The strategy a study names, built over `space` and `cost` (LayerNAS or a baseline).
pub fn build_study_strategy(
    study: &Study,
    space: Arc<dyn SearchSpace>,
    cost: Arc<dyn CostModel>,
) -> Result<Box<dyn Strategy>, InputError> {
    if study.strategy == "layernas" {
        Ok(Box::new(
            LayerNas::new(study.layernas.clone(), space, cost).map_err(input)?,
        ))
    } else {
        build_strategy(&study.strategy, &study.strategies, space, cost).map_err(input)
    }
}

/// Whether `holder` (`host:pid`) names a process of this machine that no longer exists.
fn is_dead_here(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<libc::pid_t>() else {
        return false;
    };
    if host != crate::worker::hostname() || pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let failed = unsafe { libc::kill(pid, 0) } == -1;
    failed && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Takes the controller lease of the study (see `--take-over`), saying whom it replaced.
fn lead(
    store: &mut dyn TrialStore,
    study: &Study,
    args: &SearchArgs,
) -> anyhow::Result<ControllerHold> {
    let holder = format!("{}:{}", crate::worker::hostname(), std::process::id());
    let token = rand::random::<i64>();
    let lease = args.controller_lease;
    let place = study.store.as_deref().unwrap_or("memory");
    let mut lead = store.acquire_controller(&study.study, &holder, token, lease, args.take_over)?;
    if let Lead::Held(other) = &lead {
        // A controller of this machine that is gone (killed, crashed) holds nothing: resume at
        // once instead of waiting for its lease to expire.
        if is_dead_here(&other.holder) {
            eprintln!(
                "taking over study {} from controller {}, which is no longer running",
                study.study, other.holder
            );
            lead = store.acquire_controller(&study.study, &holder, token, lease, true)?;
            if let Lead::Acquired { .. } = lead {
                lead = Lead::Acquired { previous: None };
            }
        }
    }
    match lead {
        Lead::Held(other) => anyhow::bail!(
            "study {} in store {place} is being run by another controller, {} (its lease \
             expires in {:.0} s unless renewed; it renews it while it runs): wait for it to \
             finish, or rerun with --take-over if that process is dead",
            study.study,
            other.holder,
            other.expires_in.max(0.0)
        ),
        Lead::Acquired {
            previous: Some(other),
        } => {
            if other.expires_in > 0.0 {
                eprintln!(
                    "taking over study {} from controller {} (--take-over; its lease had {:.0} s \
                     left: if it still runs, it stops at its next renewal)",
                    study.study, other.holder, other.expires_in
                );
            } else {
                eprintln!(
                    "taking over study {} from controller {}, whose lease expired {:.0} s ago",
                    study.study, other.holder, -other.expires_in
                );
            }
        }
        Lead::Acquired { previous: None } => {}
    }
    Ok(ControllerHold {
        study: study.study.clone(),
        token,
        lease: Duration::from_secs_f64(lease),
    })
}

fn input<E: std::fmt::Display>(e: E) -> InputError {
    InputError(e.to_string())
}

/// The study's tables, loaded once per process (cost model, evaluator and report all use them).
fn load_table(study: &Study) -> Result<Arc<Nb201Table>, InputError> {
    static LOADED: Mutex<Vec<(PathBuf, Arc<Nb201Table>)>> = Mutex::new(Vec::new());
    let dir = match &study.data {
        DataSource::Embedded => return Nb201Table::embedded().map_err(input),
        DataSource::Dir(dir) => dir,
    };
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, bench)) = loaded.iter().find(|(d, _)| d == dir) {
        return Ok(bench.clone());
    }
    let bench = Arc::new(Nb201Table::load(&study.data).map_err(input)?);
    loaded.push((dir.clone(), bench.clone()));
    Ok(bench)
}

/// The study's cost model over `space`.
pub fn cost_model(space: &Space, study: &Study) -> Result<Arc<dyn CostModel>, InputError> {
    Ok(match space {
        Space::Nb201(_) => {
            let bench = load_table(study)?;
            Arc::new(TableCost::new(&bench, &study.cost, study.dataset).map_err(input)?)
        }
        Space::Template(t) => match study.cost.strip_prefix("latency:") {
            Some(path) => {
                let text = crate::study::read_text_file(Path::new(path), "latency table")?;
                let table: LatencyTable = serde_json::from_str(&text)
                    .map_err(|e| InputError(format!("corrupt latency table {path}: {e}")))?;
                Arc::new(
                    TableLatency::new(t.clone(), table, study.cost.clone()).map_err(InputError)?,
                )
            }
            None => Arc::new(NetworkCost::parse(t.clone(), &study.cost).ok_or_else(|| {
                InputError(format!(
                    "unknown cost {:?} for space {} (allowed: {}, latency:FILE from layernas profile)",
                    study.cost,
                    t.name(),
                    NetworkCost::NAMES.join(", ")
                ))
            })?),
        },
    })
}

/// A study's evaluator, and the timeout the executor must enforce (the command evaluator
/// enforces its own by killing the command).
pub struct Built {
    pub evaluator: Arc<dyn Evaluator>,
    /// True for the benchmark table (reward and test are its columns).
    pub table: bool,
    pub executor_timeout: Option<Duration>,
    pub has_sim_time: bool,
}

/// Evaluator names.
pub const EVALUATORS: &[&str] = &["table", "train", "command"];

/// Builds the evaluator a study names (`table` by default where the space has a table).
pub fn build_evaluator(study: &Study, space: &Space) -> Result<Built, InputError> {
    let timeout = study.trial_timeout.map(Duration::from_secs_f64);
    let name = study.evaluator.clone().unwrap_or_else(|| match space {
        Space::Nb201(_) => "table".into(),
        Space::Template(_) => "none".into(),
    });
    match (name.as_str(), space) {
        ("table", Space::Nb201(_)) => {
            let e = table_evaluator(study)?;
            Ok(Built {
                has_sim_time: e.has_sim_time(),
                table: true,
                evaluator: Arc::new(e),
                executor_timeout: timeout,
            })
        }
        ("table", Space::Template(t)) | ("none", Space::Template(t)) => Err(InputError(format!(
            "space {} has no benchmark table: choose --evaluator train (built-in trainer, --dataset fashion-mnist) or --evaluator command --command \"...\" (or --dry-run to see the LayerNAS plan)",
            t.name()
        ))),
        ("train", Space::Template(t)) => {
            if study.dataset_name != "fashion-mnist" {
                return Err(InputError(format!(
                    "the built-in trainer trains on fashion-mnist, not {} (use --dataset fashion-mnist)",
                    study.dataset_name
                )));
            }
            if study.train.engine == Engine::Torch {
                return torch_evaluator(study, space, t, timeout);
            }
            let data = match &study.data {
                DataSource::Embedded => FashionMnist::embedded(),
                DataSource::Dir(dir) => FashionMnist::from_dir(dir),
            }
            .map_err(input)?;
            Ok(Built {
                evaluator: Arc::new(TrainEvaluator::new(t.clone(), Arc::new(data), study.train.clone())),
                table: false,
                executor_timeout: timeout,
                has_sim_time: false,
            })
        }
        ("train", Space::Nb201(_)) => Err(InputError(
            "the built-in trainer needs a network space (mobilenetv2, mobilenetv3-large, mobilenetv3-small, nats-sss or a .toml space); nb201 uses the table".into(),
        )),
        ("command", _) => {
            let command = study.command.clone().ok_or_else(|| {
                InputError("--evaluator command needs --command \"program args\"".into())
            })?;
            let network = match space {
                Space::Template(t) => Some(t.clone()),
                Space::Nb201(_) => None,
            };
            let context = serde_json::json!({
                "study": study.study,
                "dataset": study.dataset_name,
                "cost": study.cost,
            });
            Ok(Built {
                evaluator: Arc::new(CommandEvaluator::new(
                    command,
                    space.dyn_space(),
                    network,
                    context,
                    timeout,
                )),
                executor_timeout: None,
                has_sim_time: false,
                table: false,
            })
        }
        (other, _) => Err(InputError(format!(
            "unknown evaluator {other:?} (allowed: {})",
            EVALUATORS.join(", ")
        ))),
    }
}

/// Where the `layernas-torch` program is: `$LAYERNAS_TORCH`, else beside this executable, else
/// on `PATH`.
fn torch_program() -> Result<PathBuf, InputError> {
    let missing = |why: String| {
        InputError(format!(
            "engine torch runs the layernas-torch program, {why}: build it with `cargo build \
             --release --manifest-path torch/Cargo.toml` (needs libtorch 2.13; torch/README.md) \
             or set LAYERNAS_TORCH to its path"
        ))
    };
    if let Some(p) = std::env::var_os("LAYERNAS_TORCH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(missing(format!(
                "but LAYERNAS_TORCH={} is no file",
                p.display()
            )))
        };
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("layernas-torch")));
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("layernas-torch"))
                .collect()
        })
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .ok_or_else(|| missing("which is neither beside layernas nor on PATH".into()))
}

/// The libtorch engine: the `layernas-torch` program, run per trial through the command
/// protocol with the training recipe in the trial's `context`.
fn torch_evaluator(
    study: &Study,
    space: &Space,
    template: &Arc<TemplateSpace>,
    timeout: Option<Duration>,
) -> Result<Built, InputError> {
    let program = torch_program()?;
    let quoted = format!("'{}'", program.display().to_string().replace('\'', "'\\''"));
    let context = serde_json::json!({
        "study": study.study,
        "dataset": study.dataset_name,
        "data_dir": match &study.data {
            DataSource::Dir(d) => Some(d.clone()),
            DataSource::Embedded => None,
        },
        "train": study.train,
    });
    Ok(Built {
        evaluator: Arc::new(CommandEvaluator::new(
            quoted,
            space.dyn_space(),
            Some(template.clone()),
            context,
            timeout,
        )),
        executor_timeout: None,
        has_sim_time: false,
        table: false,
    })
}

/// The table evaluator of a study (nb201).
pub fn table_evaluator(study: &Study) -> Result<TableEvaluator, InputError> {
    let bench = load_table(study)?;
    TableEvaluator::new(
        &bench,
        study.dataset,
        &study.reward_column,
        &study.test_column,
    )
    .and_then(|e| e.with_time_scale(study.sim_time_scale))
    .map_err(input)
}

/// Opens the study's store (memory when none is given) and its study, refusing a changed
/// configuration unless allowed.
pub fn open_store(study: &Study) -> anyhow::Result<Box<dyn TrialStore>> {
    let mut store: Box<dyn TrialStore> = match &study.store {
        None => {
            if study.workers == 0 {
                return Err(InputError(
                    "--workers 0 leaves evaluation to `layernas worker` processes, which need a shared --store (SQLite file or postgres://...)".into(),
                )
                .into());
            }
            Box::new(MemoryStore::default())
        }
        Some(url) => layernas_store::open(url)?,
    };
    match store.open_study(&study.spec(), study.allow_changed_config) {
        Ok(StudyOpen::Resumed { trials }) => {
            eprintln!("resuming study {} ({trials} trials stored)", study.study)
        }
        Ok(StudyOpen::Created) => {}
        Err(e @ StoreError::ConfigChanged { .. }) => return Err(InputError(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    }
    Ok(store)
}

pub fn run(args: &SearchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let study = args.study.resolve()?;
    crate::study::check_seconds(
        "--controller-lease",
        args.controller_lease,
        1.0,
        86400.0,
        false,
    )?;
    if let Some(path) = args.json.as_deref().filter(|p| p.as_os_str() != "-") {
        check_writable(path, "--json")?;
    }
    let resolved = spaces::resolve(&study.space, study.dataset)?;
    let space = resolved.dyn_space();
    let cost = cost_model(&resolved, &study)?;
    if args.dry_run {
        return dry_run(args, &study, space, cost);
    }
    let built = build_evaluator(&study, &resolved)?;
    // The benchmark's architecture index, where the space is the table's.
    let bench = match &resolved {
        Space::Nb201(_) if built.table => Some(load_table(&study)?),
        Space::Nb201(_) => None,
        Space::Template(_) => None,
    };
    let mut store = open_store(&study)?;
    let hold = lead(&mut *store, &study, args)?;
    // A resumed study is in progress again (workers waiting on it keep waiting).
    store.set_done(false)?;
    let outcome = search_study(
        args,
        &study,
        (space, cost),
        &built,
        bench,
        &mut *store,
        hold.clone(),
        started,
    );
    // Let the next controller in at once, however this one ended.
    let _ = store.release_controller(&hold.study, hold.token);
    outcome
}

#[allow(clippy::too_many_arguments)]
fn search_study(
    args: &SearchArgs,
    study: &Study,
    (space, cost): (Arc<dyn SearchSpace>, Arc<dyn CostModel>),
    built: &Built,
    bench: Option<Arc<Nb201Table>>,
    store: &mut dyn TrialStore,
    hold: ControllerHold,
    started: Instant,
) -> anyhow::Result<()> {
    let has_sim_time = built.has_sim_time;
    let evaluator = built.evaluator.clone();
    let (reward_label, test_label) = if built.table {
        (study.reward_column.clone(), study.test_column.clone())
    } else {
        ("reward".to_string(), "test".to_string())
    };
    // LayerNAS is kept concrete for its per-layer statistics; the baselines are built by name.
    let mut layernas = None;
    let mut baseline = None;
    if study.strategy == "layernas" {
        layernas = Some(
            LayerNas::new(study.layernas.clone(), space.clone(), cost.clone()).map_err(input)?,
        );
    } else {
        baseline = Some(
            build_strategy(
                &study.strategy,
                &study.strategies,
                space.clone(),
                cost.clone(),
            )
            .map_err(input)?,
        );
    }
    let paper_bound = layernas.as_ref().map(LayerNas::paper_bound);
    let strategy: &mut dyn Strategy = match (&mut layernas, &mut baseline) {
        (Some(l), _) => l,
        (None, Some(b)) => b.as_mut(),
        (None, None) => unreachable!("one strategy is always built"),
    };
    let bound = strategy.trial_bound().unwrap_or(u64::MAX);
    let to_stdout = args.json.as_deref() == Some(std::path::Path::new("-"));

    let window = match (study.layernas.min_cost, study.layernas.max_cost) {
        (None, None) => "front search (no cap)".to_string(),
        (lo, hi) => format!(
            "cost window [{}, {}] {}",
            lo.map_or("-".into(), |v| v.to_string()),
            hi.map_or("-".into(), |v| v.to_string()),
            cost.unit()
        ),
    };
    let knobs = match paper_bound {
        Some(p) => format!(
            " (paper's H*K*|S|*L = {p}); H={} K={} seed={}",
            study.layernas.buckets, study.layernas.keep, study.layernas.seed
        ),
        None => format!("; seed={}", study.layernas.seed),
    };
    let header = format!(
        "layernas search: strategy {}, space {} ({} models, {} layers), dataset {}, reward {}, cost {} ({}), {window}\n\
         trial bound: {bound}{knobs}",
        study.strategy,
        space.name(),
        space.num_models(),
        space.layers().len(),
        study.dataset_name,
        reward_label,
        cost.name(),
        cost.unit(),
    );
    if to_stdout {
        eprintln!("{header}");
    } else {
        println!("{header}");
    }

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(
            Some(study.max_trials.map_or(bound, |m| m.min(bound))),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>18} [{bar:30}] {pos}/{len} trials (bound) {elapsed} ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar
    };
    let progress = |event: &ProgressEvent| match event {
        ProgressEvent::WaveStarted { label, .. } => bar.set_message(label.clone()),
        ProgressEvent::TrialFinished { .. } => bar.inc(1),
    };
    let executor = Executor {
        max_trials: study.max_trials,
        workers: study.workers,
        seed: study.layernas.seed,
        retries: study.retries,
        trial_timeout: built.executor_timeout,
        worker_name: format!("controller:{}", std::process::id()),
        progress: Some(&progress),
        controller: Some(hold),
        ..Executor::new(&*space, &*cost, evaluator)
    };
    if study.workers == 0 {
        bar.set_message("waiting for workers");
    }
    let summary = executor.run(strategy, store)?;
    // However the search ended (strategy done, budget spent, every trial failed), the study is
    // finished: workers waiting on it exit.
    store.set_done(true)?;
    bar.finish_and_clear();

    let trials = store.trials()?;
    let test_of: std::collections::HashMap<&Arch, f64> = trials
        .iter()
        .filter_map(|t| t.metrics.get("test").map(|v| (&t.arch, *v)))
        .collect();
    let point = |arch: &Arch, reward: f64| Point {
        arch: space.format(arch),
        cost: cost.cost(arch),
        reward,
        test: test_of.get(arch).copied(),
        index: bench.as_ref().map(|b| b.index(arch)),
    };
    let complete: Vec<_> = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .collect();
    let points: Vec<(f64, f64)> = complete
        .iter()
        .map(|t| (t.cost, t.reward.unwrap_or(f64::NEG_INFINITY)))
        .collect();
    let front = pareto_front(&points)
        .into_iter()
        .map(|i| point(&complete[i].arch, points[i].1))
        .collect();
    let best = strategy.best().map(|arch| {
        let reward = store
            .lookup(&arch)
            .ok()
            .flatten()
            .and_then(|t| t.reward)
            .unwrap_or(f64::NAN);
        point(&arch, reward)
    });
    let sim_seconds = has_sim_time.then(|| {
        trials
            .iter()
            .filter_map(|t| t.metrics.get("sim_seconds"))
            .sum::<f64>()
    });
    let strategy_name = strategy.name().to_string();
    let layers = layernas
        .as_ref()
        .map(|l| l.layer_stats().to_vec())
        .unwrap_or_default();
    let report = SearchReport {
        space: space.name().to_string(),
        dataset: study.dataset_name.clone(),
        strategy: strategy_name,
        cost: CostInfo {
            name: cost.name().to_string(),
            unit: cost.unit().to_string(),
        },
        reward_column: reward_label.clone(),
        test_column: test_label.clone(),
        min_cost: study.layernas.min_cost,
        max_cost: study.layernas.max_cost,
        config: study.layernas.clone(),
        trials: summary.trials,
        failed: summary.failed,
        first_failure: trials
            .iter()
            .filter(|t| t.state == TrialState::Failed)
            .find_map(|t| t.error.as_deref().map(layernas_core::limits::cap_text)),
        trial_bound: bound,
        paper_bound,
        budget_exhausted: summary.budget_exhausted,
        best,
        front,
        layers,
        sim_seconds,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&report)?;
    match &args.json {
        Some(path) if to_stdout => {
            let _ = path;
            println!("{json}");
        }
        Some(path) => {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
            print!("{}", report.to_text());
            println!("\nJSON written to {}", path.display());
        }
        None => print!("{}", report.to_text()),
    }
    if report.trials > 0 && report.failed == report.trials {
        anyhow::bail!(
            "every trial failed ({} of {}); first failure: {}",
            report.failed,
            report.trials,
            report.first_failure.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

fn dry_run(
    args: &SearchArgs,
    study: &Study,
    space: Arc<dyn SearchSpace>,
    cost: Arc<dyn CostModel>,
) -> anyhow::Result<()> {
    if study.strategy != "layernas" {
        return Err(InputError(format!(
            "--dry-run plans LayerNAS searches; strategy {} has no plan",
            study.strategy
        ))
        .into());
    }
    let strategy =
        LayerNas::new(study.layernas.clone(), space.clone(), cost.clone()).map_err(input)?;
    let plan = strategy.plan();
    let total: u64 = 1 + plan.iter().map(|r| r.children).sum::<u64>();
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&serde_json::json!({
            "space": space.name(),
            "models": space.num_models().to_string(),
            "cost": {"name": cost.name(), "unit": cost.unit()},
            "min_cost": study.layernas.min_cost,
            "max_cost": study.layernas.max_cost,
            "config": study.layernas,
            "plan": plan,
            "trial_bound": total,
            "paper_bound": strategy.paper_bound(),
        }))?;
        if path.as_os_str() == "-" {
            println!("{json}");
        } else {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        return Ok(());
    }
    println!(
        "LayerNAS plan: space {} ({} models, {} layers), cost {} ({}), cap {}, H={} K={}",
        space.name(),
        space.num_models(),
        space.layers().len(),
        cost.name(),
        cost.unit(),
        study
            .layernas
            .max_cost
            .map_or("none".into(), |c| c.to_string()),
        study.layernas.buckets,
        study.layernas.keep,
    );
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
        "#",
        "layer",
        "options",
        "bucket window",
        "parents <=",
        "new children <=",
    ]);
    for (i, r) in plan.iter().enumerate() {
        table.add_row(vec![
            (i + 1).to_string(),
            r.layer.clone(),
            r.options.to_string(),
            format!("{:.3} .. {:.3}", r.window.0, r.window.1),
            r.parents.to_string(),
            r.children.to_string(),
        ]);
    }
    println!("{table}");
    println!(
        "trial bound: {total} (1 default model + new children; paper's H*K*|S|*L = {})",
        strategy.paper_bound()
    );
    Ok(())
}
