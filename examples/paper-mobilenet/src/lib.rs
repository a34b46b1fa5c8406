//! The LayerNAS paper's MobileNet experiment in miniature (examples/paper-mobilenet/README.md).
//!
//! For each MobileNet space and each reference model (the backbone, and the backbone with every
//! stage at the narrowest width the space offers), LayerNAS searches the space under the
//! reference's MAdds at 224x224 with real training on Fashion-MNIST; then the search's answer
//! and the reference are trained with one final recipe over several seeds and reported side by
//! side, with a chart of each search's cost/accuracy front with the references marked.
//!
//! Every step is resumable: searches live in one SQLite store under the output folder (a
//! second run resumes them), and each final training writes its result file as it ends.
#![warn(missing_docs)]

use layernas_bench::plot::{Chart, Marker, Series};
use layernas_core::Cancel;
use layernas_core::{Arch, ProgressEvent, SearchSpace};
use layernas_spaces::network::Network;
use layernas_spaces::TemplateSpace;
use layernas_study::run::{PlanReport, RunOptions, Search};
use layernas_study::{Event, Overrides, Point, Study, StudyError, StudyFile};
use layernas_train::{
    proxy_network, train_into, train_network, ImageData, RunEvent, RunSpec, TrainConfig,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Where Debian's `dataset-fashion-mnist` puts the full data set.
pub const DEBIAN_DATA: &str = "/usr/share/datasets/fashion-mnist";

/// The spaces of the experiment, with the names the report gives their backbones.
pub const SPACES: [(&str, &str); 2] = [
    ("mobilenetv3-small", "MobileNetV3-Small"),
    ("mobilenetv2", "MobileNetV2"),
];

/// Why the experiment stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A study could not be built or run.
    #[error(transparent)]
    Study(#[from] StudyError),
    /// The data set is missing or corrupt.
    #[error("{0}")]
    Data(String),
    /// A file could not be written or read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A trial failed where the experiment needs its result.
    #[error("{0}")]
    Training(String),
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// How the experiment runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The small run: the repository's Fashion-MNIST subset, a coarse search, short training.
    pub quick: bool,
    /// Print and write the plan (targets, caps, trial bounds, recipes) without training.
    pub dry_run: bool,
    /// Output folder: the store, results, report and charts.
    pub out: PathBuf,
    /// Fashion-MNIST in IDX files (default: Debian's folder; `--quick`: the embedded subset).
    pub data_dir: Option<PathBuf>,
    /// Seeds of the final training.
    pub seeds: u64,
    /// Threads per training.
    pub threads: usize,
}

/// The search and final-training settings.
#[derive(Debug, Clone, Serialize)]
pub struct Recipe {
    /// LayerNAS buckets per layer, H.
    pub buckets: usize,
    /// Candidates kept per bucket, K.
    pub keep: usize,
    /// Search trials, and final trainings, trained at once (each on one thread: the recipes'
    /// `threads` are 1).
    pub workers: usize,
    /// The proxy training of every search trial.
    pub search: TrainConfig,
    /// The final training of the answers and the references.
    pub last: TrainConfig,
}

/// Batch-norm recalibration batches of a search trial ([`TrainConfig::bn_recalibration`]).
pub const SEARCH_RECALIBRATION: usize = 8;

impl Recipe {
    /// The settings of `options` (`--quick` or the full run).
    pub fn of(options: &Options) -> Recipe {
        // The proxies are small: one training does not keep two threads busy (a 2-thread
        // trial kept about one core busy), so `--threads` trainings run at once on one thread
        // each, the search's trials and the final trainings' seeds alike (measured: 40 quick
        // trials in 31.7 s against 47.8 s one at a time on two threads, twice each).
        let workers = options.threads;
        let proxy = TrainConfig {
            width: 0.5,
            depth: 0.5,
            threads: 1,
            ..TrainConfig::default()
        };
        // A search trial's training is short: without recalibration its batch norms' running
        // averages still describe the first steps' network, and the MobileNet proxies
        // evaluate at chance (measured: V3-Small 9.6% -> 43.2%, V2 10.9% -> 52.5% with 4
        // batches, one epoch over 1,000 images).
        // The search's reward is the validation accuracy: its trials never score the test set
        // (on the full data 10,000 forward passes a trial, more than the 4,000 images it
        // trains on), which the final training alone reports.
        let search = TrainConfig {
            bn_recalibration: SEARCH_RECALIBRATION,
            skip_test: true,
            ..proxy.clone()
        };
        if options.quick {
            Recipe {
                buckets: 2,
                keep: 1,
                workers,
                search: TrainConfig {
                    epochs: 1,
                    train_subset: 1000,
                    valid_size: 1000,
                    ..search
                },
                last: TrainConfig {
                    epochs: 2,
                    train_subset: 5000,
                    valid_size: 1000,
                    ..proxy
                },
            }
        } else {
            Recipe {
                buckets: 10,
                keep: 1,
                workers,
                search: TrainConfig {
                    epochs: 2,
                    train_subset: 4000,
                    valid_size: 2000,
                    ..search
                },
                last: TrainConfig {
                    epochs: 8,
                    train_subset: 58_000,
                    valid_size: 2000,
                    ..proxy
                },
            }
        }
    }
}

/// One search: a space under the MAdds of one of its reference models.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    /// The space.
    pub space: String,
    /// The reference model's name in the report.
    pub label: String,
    /// The reference model, as the space writes it.
    pub reference: String,
    /// Its MAdds at 224x224 and 1,000 classes (M): the search's cap.
    pub cap: f64,
    /// Its parameters at 224x224 and 1,000 classes (M).
    pub params: f64,
    /// The study's name in the store.
    pub study: String,
    /// LayerNAS's trial bound, stated before the search.
    pub trial_bound: u64,
}

/// `arch` as the shortest string the space parses back to it: `backbone`, or the layers where
/// it differs from the backbone (every layer not named keeps its backbone value).
fn short(space: &TemplateSpace, arch: &Arch) -> String {
    let Some(backbone) = space.backbone() else {
        return space.format(arch);
    };
    let changed: Vec<String> = space
        .layers()
        .iter()
        .enumerate()
        .filter(|&(i, _)| arch.get(i) != backbone.get(i))
        .map(|(i, l)| format!("{}={}", l.name, l.options[arch.get(i)]))
        .collect();
    if changed.is_empty() {
        "backbone".into()
    } else {
        changed.join(",")
    }
}

/// The reference models of a space: its backbone, and the backbone with every stage at the
/// narrowest width the space offers.
fn references(space: &TemplateSpace, name: &str) -> Vec<(String, Arch)> {
    let backbone = space
        .backbone()
        .expect("MobileNet spaces have a backbone")
        .clone();
    let narrow = Arch::new(
        space
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if l.name.ends_with(".out") {
                    0
                } else {
                    backbone.get(i) as u16
                }
            })
            .collect(),
    );
    vec![
        (name.to_string(), backbone),
        (format!("{name}, stages at width 0.75"), narrow),
    ]
}

fn template(space: &str) -> Result<Arc<TemplateSpace>, Error> {
    Ok(layernas_study::inspect::template_of(
        space,
        "fashion-mnist",
        "the experiment searches MobileNet spaces",
    )?)
}

/// The study file of a search: the space under `cap`, the built-in trainer, the recipe.
fn study_of(target: &Target, options: &Options, recipe: &Recipe) -> Result<Study, Error> {
    let overrides = Overrides {
        space: Some(target.space.clone()),
        dataset: Some("fashion-mnist".into()),
        evaluator: Some("train".into()),
        max_cost: Some(target.cap),
        buckets: Some(recipe.buckets),
        keep: Some(recipe.keep),
        workers: Some(recipe.workers),
        data_dir: data_dir(options),
        store: Some(options.out.join("studies.db").display().to_string()),
        study: Some(target.study.clone()),
        ..Overrides::default()
    };
    let file = StudyFile {
        train: Some(recipe.search.clone()),
        ..StudyFile::default()
    };
    Ok(overrides.merge(file)?)
}

fn data_dir(options: &Options) -> Option<PathBuf> {
    match (&options.data_dir, options.quick) {
        (Some(d), _) => Some(d.clone()),
        (None, true) => None,
        (None, false) => Some(PathBuf::from(DEBIAN_DATA)),
    }
}

/// The searches of the experiment, with their caps and trial bounds (no training).
pub fn targets(options: &Options) -> Result<Vec<Target>, Error> {
    let recipe = Recipe::of(options);
    let mut out = Vec::new();
    for (space_name, label) in SPACES {
        let space = template(space_name)?;
        let madds =
            layernas_spaces::NetworkCost::new(space.clone(), layernas_spaces::Metric::Madds);
        let params =
            layernas_spaces::NetworkCost::new(space.clone(), layernas_spaces::Metric::Params);
        for (i, (name, arch)) in references(&space, label).into_iter().enumerate() {
            use layernas_core::CostModel;
            let mut target = Target {
                space: space_name.to_string(),
                label: name,
                reference: short(&space, &arch),
                cap: madds.cost(&arch),
                params: params.cost(&arch),
                study: format!("{space_name}-ref{i}"),
                trial_bound: 0,
            };
            // The plan needs no data: a dry run works without the data set.
            let study = study_of(&target, options, &recipe)?;
            target.trial_bound = PlanReport::of(&study)?.trial_bound;
            out.push(target);
        }
    }
    Ok(out)
}

/// One model of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// The search it belongs to.
    pub target: Target,
    /// `answer` (the search's) or `reference`.
    pub model: String,
    /// The architecture, as the space writes it.
    pub arch: String,
    /// MAdds at 224x224, 1,000 classes (M).
    pub madds_224: f64,
    /// Parameters at 224x224, 1,000 classes (M).
    pub params_224: f64,
    /// MAdds of the trained proxy network (28x28x1, 10 classes, width and depth proxies) (M).
    pub madds_proxy: f64,
    /// Validation accuracy with the search's proxy recipe (%).
    pub proxy_accuracy: f64,
    /// Test accuracy after the final recipe, one per seed (%).
    pub final_accuracy: Vec<f64>,
    /// Trials of the search (answers only).
    pub search_trials: Option<u64>,
    /// Hours the search took (answers only).
    pub search_hours: Option<f64>,
}

/// A finished search, as the experiment keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResult {
    /// The search.
    pub target: Target,
    /// The answer: the best model by validation accuracy under the cap.
    pub answer: Point,
    /// The cost/accuracy front of every evaluated model.
    pub front: Vec<Point>,
    /// Trials run.
    pub trials: u64,
    /// Seconds the search took, summed over resumed runs.
    pub seconds: f64,
}

/// The experiment's report: the machine, the recipe, one row per model.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: String,
    /// `quick` or `full`.
    pub mode: String,
    /// The settings.
    pub recipe: Recipe,
    /// The data set used.
    pub data: String,
    /// Seeds of the final training.
    pub seeds: u64,
    /// The searches.
    pub searches: Vec<SearchResult>,
    /// Answers and references.
    pub rows: Vec<Row>,
}

/// This machine, for the report: host name, CPU model and logical cores.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} logical cores")
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| file_error(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_error(path, e)),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).expect("results serialize");
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| file_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))
}

fn load_data(options: &Options) -> Result<ImageData, Error> {
    match data_dir(options) {
        None => ImageData::embedded().map_err(|e| Error::Data(e.to_string())),
        Some(dir) => ImageData::from_dir(&dir).map_err(|e| {
            Error::Data(format!(
                "{e} (the full run trains on Fashion-MNIST: run examples/paper-mobilenet/run.sh, \
                 which installs Debian's dataset-fashion-mnist, or pass --data-dir, or --quick)"
            ))
        }),
    }
}

/// How a model is trained: the search's recipe in memory (short), or the final recipe into a
/// folder with a checkpoint after every epoch (`layernas train`'s runner), so that a killed run
/// goes on from its last finished epoch.
enum Training<'a> {
    Proxy,
    Final {
        dir: PathBuf,
        data_dir: Option<PathBuf>,
        log: &'a (dyn Fn(&str) + Sync),
    },
}

/// Trains `arch` of `space` with `config` and `seed`: (validation %, test % unless the recipe
/// skips the test set, proxy MAdds in M).
fn train(
    space: &TemplateSpace,
    arch: &Arch,
    data: &ImageData,
    config: &TrainConfig,
    seed: u64,
    how: &Training,
) -> Result<(f64, Option<f64>, f64), Error> {
    let network: Network = space.network(arch);
    let proxy =
        proxy_network(&network, data, config).map_err(|e| Error::Training(e.to_string()))?;
    let madds = proxy
        .totals()
        .map_err(|e| Error::Training(e.to_string()))?
        .madds as f64
        / 1e6;
    let failed = |e: &dyn std::fmt::Display| {
        Error::Training(format!("training {}: {e}", space.format(arch)))
    };
    match how {
        Training::Proxy => {
            let result = train_network(&proxy, data, config, seed).map_err(|e| failed(&e))?;
            Ok((result.valid_accuracy, result.test_accuracy, madds))
        }
        Training::Final { dir, data_dir, log } => {
            let spec = RunSpec {
                network: proxy,
                recipe: config.clone(),
                seed,
                dataset: "fashion-mnist".into(),
                data_dir: data_dir.clone(),
                data: None,
            };
            let about = serde_json::json!({ "space": space.name(), "arch": space.format(arch) });
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            let mut events = |event: RunEvent| match event {
                RunEvent::Started { resumed_epochs, .. } if resumed_epochs > 0 => {
                    log(&format!("  {name}: resuming after epoch {resumed_epochs}"))
                }
                RunEvent::Epoch(e) => log(&format!(
                    "  {name}: epoch {}/{}: loss {:.4}, validation {:.2}, {:.0} s",
                    e.epoch, config.epochs, e.loss, e.valid_accuracy, e.train_seconds
                )),
                _ => {}
            };
            let report = train_into(&spec, &about, data, dir, false, &Cancel::new(), &mut events)
                .map_err(|e| failed(&e))?;
            let last = report
                .epochs
                .last()
                .ok_or_else(|| failed(&"no epoch trained"))?;
            let test = last
                .test_accuracy
                .ok_or_else(|| failed(&"no test images"))?;
            Ok((last.valid_accuracy, Some(test), madds))
        }
    }
}

/// Where a step of `target`'s search keeps its result: `OUT/results/<study>-<what>.json`
/// (`search`, `search-seconds`, `<model>-proxy`, `<model>-final-seed<N>`).
fn result_file(options: &Options, target: &Target, what: &str) -> PathBuf {
    options
        .out
        .join("results")
        .join(format!("{}-{what}.json", target.study))
}

/// A training's result, kept so that a rerun skips it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Trained {
    valid: f64,
    #[serde(default)]
    test: Option<f64>,
    madds_proxy: f64,
}

fn trained(
    path: &Path,
    space: &TemplateSpace,
    arch: &Arch,
    data: &ImageData,
    config: &TrainConfig,
    seed: u64,
    how: &Training,
) -> Result<Trained, Error> {
    if let Some(t) = read_json::<Trained>(path)? {
        return Ok(t);
    }
    let (valid, test, madds_proxy) = train(space, arch, data, config, seed, how)?;
    let t = Trained {
        valid,
        test,
        madds_proxy,
    };
    write_json(path, &t)?;
    Ok(t)
}

/// Runs the experiment (resuming whatever an earlier run finished) and writes the report.
pub fn run(options: &Options, log: &(dyn Fn(&str) + Sync)) -> Result<Report, Error> {
    let recipe = Recipe::of(options);
    let targets = targets(options)?;
    std::fs::create_dir_all(options.out.join("results"))
        .map_err(|e| file_error(&options.out, e))?;
    let data = load_data(options)?;
    let mut searches = Vec::new();
    let mut rows = Vec::new();
    for target in &targets {
        let space = template(&target.space)?;
        let done = result_file(options, target, "search");
        let search = match read_json::<SearchResult>(&done)? {
            Some(s) => s,
            None => {
                log(&format!(
                    "searching {} under {:.2} M MAdds ({}; at most {} trials)",
                    target.space, target.cap, target.label, target.trial_bound
                ));
                let started = Instant::now();
                // The search's time so far, kept at every wave so that a killed search resumed
                // later reports the time of all its runs.
                let spent = result_file(options, target, "search-seconds");
                // A store that is gone takes the search's trials with it: its time restarts.
                if !options.out.join("studies.db").exists() {
                    let _ = std::fs::remove_file(&spent);
                }
                let before = read_json::<f64>(&spent)?.unwrap_or(0.0);
                let study = study_of(target, options, &recipe)?;
                let events = |e: &Event| match e {
                    Event::Progress(ProgressEvent::WaveStarted {
                        label, new, reused, ..
                    }) => {
                        log(&format!(
                            "  {label}: {new} trials ({reused} already stored)"
                        ));
                        let so_far = before + started.elapsed().as_secs_f64();
                        if let Err(e) = write_json(&spent, &so_far) {
                            log(&format!(
                                "  note: the search's time so far was not kept: {e}"
                            ));
                        }
                    }
                    Event::Notice(n) => log(&format!("  {n}")),
                    _ => {}
                };
                let outcome = Search::build(study)?.run(&RunOptions::default(), &events)?;
                let answer = outcome.best.clone().ok_or_else(|| {
                    Error::Training(format!(
                        "the search of {} found no model under the cap ({} trials, {} failed{})",
                        target.study,
                        outcome.trials,
                        outcome.failed,
                        outcome
                            .first_failure
                            .as_deref()
                            .map(|f| format!(": {f}"))
                            .unwrap_or_default()
                    ))
                })?;
                let s = SearchResult {
                    target: target.clone(),
                    answer,
                    front: outcome.front.clone(),
                    trials: outcome.trials,
                    seconds: before + started.elapsed().as_secs_f64(),
                };
                write_json(&done, &s)?;
                // Only kept while the search runs; a missing file is no error here.
                let _ = std::fs::remove_file(&spent);
                s
            }
        };
        let mut models = Vec::new();
        for (model, arch_text) in [
            ("answer", search.answer.arch.clone()),
            ("reference", target.reference.clone()),
        ] {
            let arch = space
                .parse_arch(&arch_text)
                .map_err(|e| Error::Training(e.to_string()))?;
            // The answer's proxy accuracy is the search's own; the reference is trained once
            // with the search's recipe for a comparable figure.
            let proxy_accuracy = if model == "answer" {
                search.answer.reward
            } else {
                let path = result_file(options, target, &format!("{model}-proxy"));
                if !path.exists() {
                    log(&format!("proxy training of {}", target.label));
                }
                trained(
                    &path,
                    &space,
                    &arch,
                    &data,
                    &recipe.search,
                    0,
                    &Training::Proxy,
                )?
                .valid
            };
            models.push((model, arch, proxy_accuracy));
        }
        // Every final training of this search (both models, every seed) in one queue that
        // `workers` threads (one training at a time each, like the search's trials) take from
        // as they finish: a finished training (its result file kept) is skipped at once.
        let jobs: Vec<(usize, u64)> = (0..models.len())
            .flat_map(|m| (0..options.seeds).map(move |seed| (m, seed)))
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<Result<Trained, Error>>>> =
            jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..recipe.workers.clamp(1, jobs.len().max(1)) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(&(m, seed)) = jobs.get(i) else {
                        break;
                    };
                    let (model, arch, _) = &models[m];
                    let path = result_file(options, target, &format!("{model}-final-seed{seed}"));
                    if !path.exists() {
                        log(&format!(
                            "final training of the {model} of {} (seed {seed})",
                            target.study
                        ));
                    }
                    let how = Training::Final {
                        dir: options
                            .out
                            .join("train")
                            .join(format!("{}-{model}-seed{seed}", target.study)),
                        data_dir: data_dir(options),
                        log,
                    };
                    let result = trained(&path, &space, arch, &data, &recipe.last, seed, &how);
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                });
            }
        });
        let mut finals: Vec<Vec<f64>> = vec![Vec::new(); models.len()];
        let mut madds_proxy = vec![0.0; models.len()];
        for (&(m, _), slot) in jobs.iter().zip(slots) {
            let t = slot
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every queued training ran")?;
            madds_proxy[m] = t.madds_proxy;
            finals[m].push(t.test.ok_or_else(|| {
                Error::Training(format!(
                    "a final training of {} has no test accuracy",
                    target.study
                ))
            })?);
        }
        for (m, (model, arch, proxy_accuracy)) in models.into_iter().enumerate() {
            use layernas_core::CostModel;
            let cost =
                |metric| layernas_spaces::NetworkCost::new(space.clone(), metric).cost(&arch);
            rows.push(Row {
                target: target.clone(),
                model: model.to_string(),
                arch: short(&space, &arch),
                madds_224: cost(layernas_spaces::Metric::Madds),
                params_224: cost(layernas_spaces::Metric::Params),
                madds_proxy: madds_proxy[m],
                proxy_accuracy,
                final_accuracy: std::mem::take(&mut finals[m]),
                search_trials: (model == "answer").then_some(search.trials),
                search_hours: (model == "answer").then_some(search.seconds / 3600.0),
            });
        }
        searches.push(search);
    }
    let report = Report {
        machine: machine(),
        mode: if options.quick { "quick" } else { "full" }.into(),
        recipe,
        data: match data_dir(options) {
            Some(d) => format!("Fashion-MNIST from {}", d.display()),
            None => "the repository's Fashion-MNIST subset (6,000 train, 1,000 test)".into(),
        },
        seeds: options.seeds,
        searches,
        rows,
    };
    write_report(&report, &options.out)?;
    Ok(report)
}

/// Mean and sample standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The report's table, as markdown.
pub fn markdown(report: &Report) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "Mode {}, data: {}; machine: {}. Search: LayerNAS H={} K={}, proxy training {} epoch(s) \
         over {} images, width {}, depth {}, batch norms recalibrated on {} batches, not scored on the test set; final: {} epochs over {} images, {} seeds.\n\n",
        report.mode,
        report.data,
        report.machine,
        report.recipe.buckets,
        report.recipe.keep,
        report.recipe.search.epochs,
        report.recipe.search.train_subset,
        report.recipe.search.width,
        report.recipe.search.depth,
        report.recipe.search.bn_recalibration,
        report.recipe.last.epochs,
        report.recipe.last.train_subset,
        report.seeds
    ));
    md.push_str("| search cap | model | MAdds at 224 (M) | params (M) | MAdds, proxy (M) | proxy accuracy (%) | final test accuracy (%) | search trials | search hours |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for r in &report.rows {
        let (mean, std) = mean_std(&r.final_accuracy);
        md.push_str(&format!(
            "| {} ({:.1} M) | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} ± {:.2} | {} | {} |\n",
            r.target.label,
            r.target.cap,
            if r.model == "answer" {
                "LayerNAS answer".to_string()
            } else {
                r.target.label.clone()
            },
            r.madds_224,
            r.params_224,
            r.madds_proxy,
            r.proxy_accuracy,
            mean,
            std,
            r.search_trials.map_or("".into(), |t| t.to_string()),
            r.search_hours.map_or("".into(), |h| format!("{h:.2}")),
        ));
    }
    md.push_str("\nArchitectures:\n\n");
    for r in &report.rows {
        md.push_str(&format!(
            "- {} / {}: `{}`\n",
            r.target.study, r.model, r.arch
        ));
    }
    md
}

/// Writes `report.md`, `report.json` and one front chart per space (`front-<space>.svg/png`).
pub fn write_report(report: &Report, out: &Path) -> Result<(), Error> {
    let md = markdown(report);
    let path = out.join("report.md");
    std::fs::write(&path, &md).map_err(|e| file_error(&path, e))?;
    write_json(&out.join("report.json"), report)?;
    for (space, name) in SPACES {
        let searches: Vec<&SearchResult> = report
            .searches
            .iter()
            .filter(|s| s.target.space == space)
            .collect();
        if searches.is_empty() {
            continue;
        }
        let chart = Chart {
            title: format!("{name} space: LayerNAS fronts (validation accuracy, proxy recipe)"),
            x_label: "MAdds at 224x224 (M)".into(),
            y_label: "validation accuracy (%)".into(),
            series: searches
                .iter()
                .map(|s| Series {
                    name: format!("search under {:.1} M ({})", s.target.cap, s.target.label),
                    points: s.front.iter().map(|p| (p.cost, p.reward)).collect(),
                    reference: false,
                })
                .collect(),
            markers: report
                .rows
                .iter()
                .filter(|r| r.target.space == space && r.model == "reference")
                .map(|r| Marker {
                    label: r.target.label.clone(),
                    point: (r.madds_224, r.proxy_accuracy),
                })
                .collect(),
            background: &[],
            y_range: None,
        };
        chart
            .write(&out.join(format!("front-{space}")))
            .map_err(|e| Error::File {
                path: out.display().to_string(),
                reason: e.to_string(),
            })?;
    }
    Ok(())
}

/// What a dry run prints: the searches, the recipes and how much training the run will do.
pub fn plan_text(options: &Options, targets: &[Target]) -> String {
    let recipe = Recipe::of(options);
    let mut text = format!(
        "paper-mobilenet ({}): {} searches, then {} final trainings ({} seeds x 2 models x {} searches) and {} proxy trainings of the references\n",
        if options.quick { "quick" } else { "full" },
        targets.len(),
        options.seeds as usize * 2 * targets.len(),
        options.seeds,
        targets.len(),
        targets.len()
    );
    text.push_str(&format!(
        "data: {}\nsearch: LayerNAS H={} K={}; proxy training {} epoch(s) over {} images, {} held out, width {}, depth {}, batch {}, batch norms recalibrated on {} batches, not scored on the test set, {} trials at once on one thread each\nfinal: {} epochs over {} images, same proxies, scored on the test set; {} trainings at once on one thread each (both models' seeds in one queue)\n",
        match data_dir(options) {
            Some(d) => d.display().to_string(),
            None => "embedded subset".into(),
        },
        recipe.buckets,
        recipe.keep,
        recipe.search.epochs,
        recipe.search.train_subset,
        recipe.search.valid_size,
        recipe.search.width,
        recipe.search.depth,
        recipe.search.batch_size,
        recipe.search.bn_recalibration,
        recipe.workers,
        recipe.last.epochs,
        recipe.last.train_subset,
        recipe.workers,
    ));
    for t in targets {
        text.push_str(&format!(
            "- {}: cap {:.2} M MAdds = {} ({:.2} M params), at most {} trials; reference `{}`\n",
            t.study, t.cap, t.label, t.params, t.trial_bound, t.reference
        ));
    }
    text
}

/// Whether `dir` holds the four Fashion-MNIST IDX files (gzipped or not).
pub fn has_data(dir: &Path) -> bool {
    [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    .iter()
    .all(|f| dir.join(f).exists() || dir.join(format!("{f}.gz")).exists())
}
