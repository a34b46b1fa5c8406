//! A study: what to search, merged from a TOML study file and command-line flags (flags win),
//! then validated once into [`Study`].

use clap::{Args, ValueEnum};
use layernas_core::StudySpec;
use layernas_search::{
    number, ConfigError, EvolutionConfig, LayerNasConfig, ReinforceConfig, Selection, Spacing,
    StrategyConfig, STRATEGIES,
};
use layernas_tables::{DataSource, Dataset, MAX_TIME_SCALE};
use layernas_train::{Engine, TrainConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A bad input: a malformed or invalid study. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

impl From<ConfigError> for InputError {
    fn from(e: ConfigError) -> Self {
        InputError(e.to_string())
    }
}

/// The most evaluations a study runs at once in one process (`workers`).
pub const MAX_WORKERS: usize = 1_024;
/// The most extra attempts of a failed trial (`retries`).
pub const MAX_RETRIES: u32 = 100;
/// The longest trial timeout, in seconds (`trial_timeout`; about 116 days).
pub const MAX_TRIAL_TIMEOUT: f64 = 1e7;

/// Bucket spacing, as flags and study files spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpacingArg {
    /// Equal-width buckets.
    Linear,
    /// Geometric bucket edges.
    Log,
}

/// Final selection rule, as flags and study files spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectArg {
    /// From the candidates kept after the last layer.
    Kept,
    /// From every evaluated model.
    Evaluated,
}

/// The study file (`-c study.toml`). Every field is optional; see README for defaults.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    space: Option<String>,
    dataset: Option<String>,
    cost: Option<String>,
    min_cost: Option<f64>,
    max_cost: Option<f64>,
    reward_column: Option<String>,
    test_column: Option<String>,
    seed: Option<u64>,
    max_trials: Option<u64>,
    workers: Option<usize>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    study: Option<String>,
    evaluator: Option<String>,
    command: Option<String>,
    train: Option<TrainConfig>,
    retries: Option<u32>,
    trial_timeout: Option<f64>,
    sim_time_scale: Option<f64>,
    strategy: Option<String>,
    layernas: Option<LayerNasFile>,
    evolution: Option<EvolutionFile>,
    reinforce: Option<ReinforceFile>,
    /// Never stored with a study (nor hashed): it is a decision of the run, like the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allow_changed_config: Option<bool>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvolutionFile {
    population: Option<usize>,
    sample_size: Option<usize>,
    mutated_layers: Option<usize>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReinforceFile {
    learning_rate: Option<f64>,
    baseline_momentum: Option<f64>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerNasFile {
    buckets: Option<usize>,
    spacing: Option<SpacingArg>,
    keep: Option<usize>,
    children_per_layer: Option<usize>,
    select: Option<SelectArg>,
}

/// Flags shared by commands that define a study.
#[derive(Debug, Default, Args)]
pub struct StudyArgs {
    /// Study file (TOML); flags override its values.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Strategy: layernas, random, evolution, reinforce, exhaustive [default: layernas].
    #[arg(long)]
    pub strategy: Option<String>,
    /// Search space: nb201, mobilenetv2, mobilenetv3-large, mobilenetv3-small, nats-sss, or a
    /// .toml space file [default: nb201].
    #[arg(long)]
    pub space: Option<String>,
    /// Dataset: cifar10, cifar100, imagenet16 (the benchmark table's; nats-sss takes its input
    /// size and classes from it) or fashion-mnist (the built-in trainer's) [default: cifar10].
    #[arg(long)]
    pub dataset: Option<String>,
    /// Cost: flops, params or latency:<device> on nb201; madds or params on network spaces
    /// [default: flops on nb201, madds otherwise].
    #[arg(long)]
    pub cost: Option<String>,
    /// Lowest acceptable cost of the answer (a finite number, 0 or more).
    #[arg(long, value_name = "COST", allow_negative_numbers = true)]
    pub min_cost: Option<f64>,
    /// Highest acceptable cost of the answer (a finite number, 0 or more); omit for a front
    /// search.
    #[arg(long, value_name = "COST", allow_negative_numbers = true)]
    pub max_cost: Option<f64>,
    /// Table column used as reward [default: <dataset>_valid].
    #[arg(long, value_name = "COLUMN")]
    pub reward_column: Option<String>,
    /// Table column reported as test accuracy [default: <dataset>_test].
    #[arg(long, value_name = "COLUMN")]
    pub test_column: Option<String>,
    /// Seed, 0 to 2^64-1 [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after this many trials, at least 1 [default: none for layernas and exhaustive, 300
    /// for the other baselines].
    #[arg(long, value_name = "N")]
    pub max_trials: Option<u64>,
    /// Evaluations run at once within a wave, 0 to 1024; 0 leaves them to `layernas worker`
    /// processes [default: 1].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Read the tables from DIR (laid out as the repository's data/) instead of the embedded copy.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Trial store: a SQLite file (created if missing), postgres://..., or memory [default:
    /// memory]. The same command against the same store resumes the study.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Evaluator: table (the benchmark table; default where the space has one), train (the
    /// built-in trainer, on fashion-mnist) or command (run --command per trial: the trial as JSON
    /// on stdin, a JSON result line on stdout).
    #[arg(long)]
    pub evaluator: Option<String>,
    /// Built-in trainer (--evaluator train): epochs per trial [default: 2].
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Built-in trainer (--evaluator train): training images per trial [default: 4000].
    #[arg(long, value_name = "N")]
    pub train_subset: Option<usize>,
    /// Built-in trainer (--evaluator train): threads per trial [default: 1]; results are
    /// deterministic for a seed and thread count.
    #[arg(long, value_name = "N")]
    pub train_threads: Option<usize>,
    /// Built-in trainer engine (--evaluator train): burn (pure Rust, CPU) or torch (libtorch,
    /// CPU or CUDA: runs the separate layernas-torch program, found via $LAYERNAS_TORCH, beside
    /// layernas or on PATH; torch/README.md) [default: burn].
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Device of the torch engine (--engine torch): cpu, cuda or cuda:N [default: cpu].
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// The command of `--evaluator command`, run with `sh -c`.
    #[arg(long, value_name = "COMMAND")]
    pub command: Option<String>,
    /// Study name within the store, non-empty [default: default].
    #[arg(long, value_name = "NAME")]
    pub study: Option<String>,
    /// Continue a stored study even though its configuration changed (study file:
    /// allow_changed_config = true).
    #[arg(long)]
    pub allow_changed_config: bool,
    /// Extra attempts for a failed trial before the search goes on without it, 0 to 100
    /// [default: 0].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// A trial running longer than SECONDS fails ("timed out"); above 0, at most 1e7
    /// [default: none].
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub trial_timeout: Option<f64>,
    /// Table evaluator: sleep SCALE x each trial's simulated training time (CIFAR-10), to
    /// rehearse long or distributed searches; 0 to 1 [default: 0].
    #[arg(long, value_name = "SCALE", allow_negative_numbers = true)]
    pub sim_time_scale: Option<f64>,
    /// LayerNAS: cost buckets per layer, H, 1 to 1000000 [default: 100].
    #[arg(long, value_name = "H")]
    pub buckets: Option<usize>,
    /// LayerNAS: bucket spacing [default: linear].
    #[arg(long, value_enum)]
    pub spacing: Option<SpacingArg>,
    /// LayerNAS: candidates kept per bucket, K, 1 to 1000000 [default: 1].
    #[arg(long, value_name = "K")]
    pub keep: Option<usize>,
    /// LayerNAS: sample N children per layer (at least 1) instead of expanding all.
    #[arg(long, value_name = "N")]
    pub children_per_layer: Option<usize>,
    /// LayerNAS: choose the answer from the last layer's kept candidates or from every
    /// evaluated model [default: kept].
    #[arg(long, value_enum)]
    pub select: Option<SelectArg>,
    /// Evolution: population size, 1 to 1000000 [default: 10].
    #[arg(long, value_name = "N")]
    pub population: Option<usize>,
    /// Evolution: tournament sample size, 1 to the population [default: 3].
    #[arg(long, value_name = "N")]
    pub sample_size: Option<usize>,
    /// Evolution: layers changed per mutation, 1 to the space's layers [default: 1].
    #[arg(long, value_name = "N")]
    pub mutated_layers: Option<usize>,
    /// REINFORCE: Adam learning rate, above 0 and at most 10 [default: 0.01].
    #[arg(long, value_name = "LR", allow_negative_numbers = true)]
    pub learning_rate: Option<f64>,
    /// REINFORCE: moving-average baseline momentum, in [0, 1) [default: 0.9].
    #[arg(long, value_name = "M", allow_negative_numbers = true)]
    pub baseline_momentum: Option<f64>,
}

/// A validated study.
#[derive(Debug, Clone)]
pub struct Study {
    pub space: String,
    pub strategy: String,
    pub dataset: Dataset,
    pub cost: String,
    pub reward_column: String,
    pub test_column: String,
    pub max_trials: Option<u64>,
    pub workers: usize,
    pub data: DataSource,
    pub layernas: LayerNasConfig,
    pub strategies: StrategyConfig,
    pub store: Option<String>,
    pub study: String,
    pub evaluator: Option<String>,
    pub command: Option<String>,
    pub train: TrainConfig,
    /// The dataset as named (`fashion-mnist` for the trainer; table datasets otherwise).
    pub dataset_name: String,
    pub allow_changed_config: bool,
    pub retries: u32,
    pub trial_timeout: Option<f64>,
    pub sim_time_scale: f64,
    /// The merged study file: what is stored with the study and what workers rebuild it from.
    pub file: StudyFile,
}

/// The line a byte offset lies on (1-based); byte-wise, so any offset works.
fn bytecount_lines(before: &[u8]) -> usize {
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

fn read_study_file(path: &Path) -> Result<StudyFile, InputError> {
    let text = read_text_file(path, "study file")?;
    parse_study_file(&text, path)
}

/// A duration flag: `value` must be a finite number of seconds in `lo..=hi` (`hi_open`:
/// below `hi`). One rule and one message for every such flag of every command.
pub fn check_seconds(
    flag: &str,
    value: f64,
    lo: f64,
    hi: f64,
    hi_open: bool,
) -> Result<(), InputError> {
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

/// `path` made absolute when it names an existing file (otherwise as given: reading it later
/// reports the error with the path the user wrote).
fn absolute(path: &str) -> String {
    std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.to_str().map(str::to_string))
        .unwrap_or_else(|| path.to_string())
}

/// The most bytes a configuration file (study, space, latency table) may have.
pub const MAX_CONFIG_FILE: u64 = 16 << 20;

/// Reads a configuration file as text: a regular file (not a device such as `/dev/zero` or a
/// FIFO, which would never end or never open) of at most [`MAX_CONFIG_FILE`] bytes, in UTF-8.
/// Errors name `what` and the path.
pub fn read_text_file(path: &Path, what: &str) -> Result<String, InputError> {
    use std::io::Read;
    let fail = |why: String| InputError(format!("cannot read {what} {}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(|e| fail(e.to_string()))?
        .take(MAX_CONFIG_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG_FILE {
        return Err(fail(format!("larger than {} MiB", MAX_CONFIG_FILE >> 20)));
    }
    String::from_utf8(bytes).map_err(|e| fail(format!("not UTF-8 text ({e})")))
}

/// Parses the text of the study file at `path`; errors name the file and the line.
fn parse_study_file(text: &str, path: &Path) -> Result<StudyFile, InputError> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| bytecount_lines(&text.as_bytes()[..s.start.min(text.len())]));
        let at = line.map(|l| format!(", line {l}")).unwrap_or_default();
        InputError(format!(
            "malformed study file {}{at}: {}",
            path.display(),
            e.message().trim().replace('\n', " ")
        ))
    })
}

impl StudyArgs {
    /// Merges the study file (if any) under the flags and validates the result.
    pub fn resolve(&self) -> Result<Study, InputError> {
        let file = match &self.config {
            Some(path) => read_study_file(path)?,
            None => StudyFile::default(),
        };
        self.merge(file)
    }

    /// Merges `file` under the flags and validates the result.
    pub fn merge(&self, file: StudyFile) -> Result<Study, InputError> {
        let lf = file.layernas.unwrap_or_default();
        let ef = file.evolution.unwrap_or_default();
        let rf = file.reinforce.unwrap_or_default();
        let strategy = self
            .strategy
            .clone()
            .or(file.strategy)
            .unwrap_or_else(|| "layernas".into());
        if !STRATEGIES.contains(&strategy.as_str()) {
            return Err(InputError(format!(
                "unknown strategy {strategy:?} (allowed: {})",
                STRATEGIES.join(", ")
            )));
        }
        let evolution_default = EvolutionConfig::default();
        let evolution = EvolutionConfig {
            population: self
                .population
                .or(ef.population)
                .unwrap_or(evolution_default.population),
            sample_size: self
                .sample_size
                .or(ef.sample_size)
                .unwrap_or(evolution_default.sample_size),
            mutated_layers: self
                .mutated_layers
                .or(ef.mutated_layers)
                .unwrap_or(evolution_default.mutated_layers),
        };
        // The layer count is checked against the space when the strategy is built.
        evolution.validate(None)?;
        let reinforce_default = ReinforceConfig::default();
        let reinforce = ReinforceConfig {
            learning_rate: self
                .learning_rate
                .or(rf.learning_rate)
                .unwrap_or(reinforce_default.learning_rate),
            baseline_momentum: self
                .baseline_momentum
                .or(rf.baseline_momentum)
                .unwrap_or(reinforce_default.baseline_momentum),
        };
        reinforce.validate()?;
        // A flag of another strategy would be silently ignored: refuse it. (A study file may
        // hold tables for several strategies, so that `--strategy` can switch between them.)
        let owned = [
            ("--buckets", "layernas", self.buckets.is_some()),
            ("--spacing", "layernas", self.spacing.is_some()),
            ("--keep", "layernas", self.keep.is_some()),
            (
                "--children-per-layer",
                "layernas",
                self.children_per_layer.is_some(),
            ),
            ("--select", "layernas", self.select.is_some()),
            ("--population", "evolution", self.population.is_some()),
            ("--sample-size", "evolution", self.sample_size.is_some()),
            (
                "--mutated-layers",
                "evolution",
                self.mutated_layers.is_some(),
            ),
            ("--learning-rate", "reinforce", self.learning_rate.is_some()),
            (
                "--baseline-momentum",
                "reinforce",
                self.baseline_momentum.is_some(),
            ),
        ];
        if let Some((flag, owner, _)) = owned
            .iter()
            .find(|(_, owner, set)| *set && *owner != strategy)
        {
            return Err(InputError(format!(
                "{flag} is a knob of --strategy {owner}, but the strategy is {strategy}"
            )));
        }
        // A space file is stored by its absolute path, so a worker started in another
        // directory (or a `status` run anywhere) rebuilds the same space.
        let space = self
            .space
            .clone()
            .or(file.space)
            .map(|s| {
                if s.ends_with(".toml") {
                    absolute(&s)
                } else {
                    s
                }
            })
            .unwrap_or_else(|| "nb201".into());
        let dataset_name = self
            .dataset
            .clone()
            .or(file.dataset)
            .unwrap_or_else(|| "cifar10".into());
        // fashion-mnist is the trainer's dataset, which no table has; nats-sss then takes
        // CIFAR-10's input size and classes (the trainer adapts the network to the dataset).
        let dataset = if dataset_name == "fashion-mnist" {
            if space == "nb201" {
                return Err(InputError(
                    "dataset fashion-mnist has no NAS-Bench-201 table (space nb201 takes cifar10, \
                     cifar100 or imagenet16); the built-in trainer, which trains on \
                     fashion-mnist, needs a network space (mobilenetv2, mobilenetv3-large, \
                     mobilenetv3-small, nats-sss or a .toml space)"
                        .into(),
                ));
            }
            Dataset::Cifar10
        } else {
            Dataset::parse(&dataset_name)
                .map_err(|e| InputError(format!("{e}; fashion-mnist for --evaluator train")))?
        };
        let workers = self.workers.or(file.workers).unwrap_or(1);
        if workers > MAX_WORKERS {
            return Err(InputError(format!(
                "invalid workers {workers}: must be 0 to {MAX_WORKERS}"
            )));
        }
        let max_trials = self.max_trials.or(file.max_trials);
        if max_trials == Some(0) {
            return Err(InputError(
                "invalid max_trials 0: must be at least 1".into(),
            ));
        }
        let trial_timeout = self.trial_timeout.or(file.trial_timeout);
        if let Some(t) = trial_timeout {
            if !(t > 0.0 && t <= MAX_TRIAL_TIMEOUT) {
                return Err(InputError(format!(
                    "invalid trial_timeout {}: must be a number of seconds above 0 and at most \
                     {MAX_TRIAL_TIMEOUT:e}",
                    number(t)
                )));
            }
        }
        let sim_time_scale = self.sim_time_scale.or(file.sim_time_scale).unwrap_or(0.0);
        if !(0.0..=MAX_TIME_SCALE).contains(&sim_time_scale) {
            return Err(InputError(format!(
                "invalid sim_time_scale {}: must be 0 to {MAX_TIME_SCALE}",
                number(sim_time_scale)
            )));
        }
        let store = self.store.clone().or(file.store.clone());
        if let Some(url) = &store {
            if url.trim().is_empty() {
                return Err(InputError(
                    "invalid store \"\": name a SQLite file, postgres://... or memory (or omit it)"
                        .into(),
                ));
            }
        }
        let study_name = self
            .study
            .clone()
            .or(file.study.clone())
            .unwrap_or_else(|| "default".into());
        if study_name.trim().is_empty() || study_name.chars().any(char::is_control) {
            return Err(InputError(format!(
                "invalid study {study_name:?}: must be non-empty, without control characters"
            )));
        }
        let retries = self.retries.or(file.retries).unwrap_or(0);
        if retries > MAX_RETRIES {
            return Err(InputError(format!(
                "invalid retries {retries}: must be 0 to {MAX_RETRIES}"
            )));
        }
        let data = match self.data_dir.clone().or(file.data_dir) {
            Some(dir) => DataSource::Dir(dir),
            None => DataSource::Embedded,
        };
        let layernas = LayerNasConfig {
            buckets: self.buckets.or(lf.buckets).unwrap_or(100),
            spacing: match self.spacing.or(lf.spacing).unwrap_or(SpacingArg::Linear) {
                SpacingArg::Linear => Spacing::Linear,
                SpacingArg::Log => Spacing::Log,
            },
            keep: self.keep.or(lf.keep).unwrap_or(1),
            min_cost: self.min_cost.or(file.min_cost),
            max_cost: self.max_cost.or(file.max_cost),
            children_per_layer: self.children_per_layer.or(lf.children_per_layer),
            seed: self.seed.or(file.seed).unwrap_or(0),
            select: match self.select.or(lf.select).unwrap_or(SelectArg::Kept) {
                SelectArg::Kept => Selection::Kept,
                SelectArg::Evaluated => Selection::Evaluated,
            },
        };
        layernas.validate()?;
        let evaluator = self.evaluator.clone().or(file.evaluator.clone());
        if let Some(e) = &evaluator {
            if !crate::search::EVALUATORS.contains(&e.as_str()) {
                return Err(InputError(format!(
                    "unknown evaluator {e:?} (allowed: {})",
                    crate::search::EVALUATORS.join(", ")
                )));
            }
        }
        // The evaluator that will run: nb201 defaults to its table; network spaces have none.
        let runs = evaluator
            .clone()
            .or_else(|| (space == "nb201").then(|| "table".to_string()));
        let runs_name = runs.as_deref().unwrap_or("none");
        let file_train = file.train.clone();
        let mut train = file_train.clone().unwrap_or_default();
        if let Some(e) = self.epochs {
            train.epochs = e;
        }
        if let Some(n) = self.train_subset {
            train.train_subset = n;
        }
        if let Some(n) = self.train_threads {
            train.threads = n;
        }
        if let Some(e) = &self.engine {
            train.engine = match e.as_str() {
                "burn" => Engine::Burn,
                "torch" => Engine::Torch,
                other => {
                    return Err(InputError(format!(
                        "unknown engine {other:?} (expected burn or torch)"
                    )))
                }
            };
        }
        if let Some(d) = &self.device {
            train.device = d.clone();
        }
        train.validate().map_err(InputError)?;
        let command = self.command.clone().or(file.command.clone());
        // Knobs of another evaluator would be silently ignored: refuse them.
        if runs_name != "train" {
            let flag = [
                ("--epochs", self.epochs.is_some()),
                ("--train-subset", self.train_subset.is_some()),
                ("--train-threads", self.train_threads.is_some()),
                ("--engine", self.engine.is_some()),
                ("--device", self.device.is_some()),
                (
                    "the [train] table",
                    file_train.is_some_and(|t| t != TrainConfig::default()),
                ),
            ]
            .into_iter()
            .find_map(|(name, set)| set.then_some(name));
            if let Some(flag) = flag {
                return Err(InputError(format!(
                    "{flag} sets the built-in trainer, but the evaluator is {runs_name} (add \
                     --evaluator train)"
                )));
            }
        }
        if command.is_some() && runs_name != "command" {
            return Err(InputError(format!(
                "--command is run by --evaluator command, but the evaluator is {runs_name}"
            )));
        }
        if sim_time_scale > 0.0 && runs_name != "table" {
            return Err(InputError(format!(
                "--sim-time-scale scales the table's simulated training time, but the evaluator \
                 is {runs_name}"
            )));
        }
        let reward_column = self.reward_column.clone().or(file.reward_column);
        let test_column = self.test_column.clone().or(file.test_column);
        if runs_name != "table" {
            // A stored study carries the defaults; only other columns were asked for.
            for (flag, column, default) in [
                ("--reward-column", &reward_column, dataset.valid_column()),
                ("--test-column", &test_column, dataset.test_column()),
            ] {
                if column.as_ref().is_some_and(|c| *c != default) {
                    return Err(InputError(format!(
                        "{flag} names a column of the benchmark table, but the evaluator is \
                         {runs_name}"
                    )));
                }
            }
        }
        let mut study = Study {
            train,
            dataset_name: dataset_name.clone(),
            evaluator,
            command,
            store,
            study: study_name,
            allow_changed_config: self.allow_changed_config
                || file.allow_changed_config.unwrap_or(false),
            retries,
            trial_timeout,
            sim_time_scale,
            file: StudyFile::default(),
            space: space.clone(),
            strategy,
            strategies: StrategyConfig {
                layernas: layernas.clone(),
                max_trials,
                evolution,
                reinforce,
                random_batch: workers,
            },
            reward_column: reward_column.unwrap_or_else(|| dataset.valid_column()),
            test_column: test_column.unwrap_or_else(|| dataset.test_column()),
            dataset,
            cost: match self.cost.clone().or(file.cost) {
                // A measured latency table of a network space, by its absolute path (as the space).
                Some(c) if space != "nb201" && c.starts_with("latency:") => {
                    format!("latency:{}", absolute(&c["latency:".len()..]))
                }
                Some(c) => c,
                None if space == "nb201" => "flops".into(),
                None => "madds".into(),
            },
            max_trials,
            workers,
            data,
            layernas,
        };
        study.file = study.to_file();
        Ok(study)
    }
}

impl Study {
    /// The complete study file of this study: stored with it, so that workers and `status`
    /// can rebuild it.
    pub fn to_file(&self) -> StudyFile {
        let l = &self.layernas;
        let e = &self.strategies.evolution;
        let r = &self.strategies.reinforce;
        StudyFile {
            space: Some(self.space.clone()),
            dataset: Some(self.dataset_name.clone()),
            cost: Some(self.cost.clone()),
            min_cost: l.min_cost,
            max_cost: l.max_cost,
            reward_column: Some(self.reward_column.clone()),
            test_column: Some(self.test_column.clone()),
            seed: Some(l.seed),
            max_trials: self.max_trials,
            workers: Some(self.workers),
            data_dir: match &self.data {
                DataSource::Dir(d) => Some(d.clone()),
                DataSource::Embedded => None,
            },
            store: None,
            study: Some(self.study.clone()),
            evaluator: self.evaluator.clone(),
            command: self.command.clone(),
            train: Some(self.train.clone()),
            retries: Some(self.retries),
            trial_timeout: self.trial_timeout,
            sim_time_scale: Some(self.sim_time_scale),
            strategy: Some(self.strategy.clone()),
            layernas: Some(LayerNasFile {
                buckets: Some(l.buckets),
                spacing: Some(match l.spacing {
                    Spacing::Linear => SpacingArg::Linear,
                    Spacing::Log => SpacingArg::Log,
                }),
                keep: Some(l.keep),
                children_per_layer: l.children_per_layer,
                select: Some(match l.select {
                    Selection::Kept => SelectArg::Kept,
                    Selection::Evaluated => SelectArg::Evaluated,
                }),
            }),
            evolution: Some(EvolutionFile {
                population: Some(e.population),
                sample_size: Some(e.sample_size),
                mutated_layers: Some(e.mutated_layers),
            }),
            reinforce: Some(ReinforceFile {
                learning_rate: Some(r.learning_rate),
                baseline_momentum: Some(r.baseline_momentum),
            }),
            allow_changed_config: None,
        }
    }

    /// Hash of what decides the study's trials: everything but the budget, workers, retries,
    /// timeouts, time scaling, data location and store.
    pub fn config_hash(&self) -> String {
        let mut f = self.to_file();
        f.max_trials = None;
        f.workers = None;
        f.data_dir = None;
        f.store = None;
        f.study = None;
        f.retries = None;
        f.trial_timeout = None;
        f.sim_time_scale = None;
        let json = serde_json::to_string(&f).expect("a study file serializes");
        Sha256::digest(json.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The study as stored: its name, configuration and hash.
    pub fn spec(&self) -> StudySpec {
        StudySpec {
            name: self.study.clone(),
            config: serde_json::to_string(&self.file).expect("a study file serializes"),
            hash: self.config_hash(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn flags_override_the_file() {
        let f = file("dataset = \"cifar100\"\nmax_cost = 50.0\n[layernas]\nkeep = 3\n");
        let args = StudyArgs {
            config: Some(f.path().into()),
            max_cost: Some(70.0),
            ..StudyArgs::default()
        };
        let study = args.resolve().unwrap();
        assert_eq!(study.dataset, Dataset::Cifar100);
        assert_eq!(study.layernas.max_cost, Some(70.0));
        assert_eq!(study.layernas.keep, 3);
        assert_eq!(study.reward_column, "cifar100_valid");
    }

    #[test]
    fn the_train_table_sets_the_proxy() {
        let f = file("space = \"mobilenetv2\"\nevaluator = \"train\"\ndataset = \"fashion-mnist\"\n[train]\nepochs = 3\noptimizer = \"adam\"\nschedule = \"constant\"\nwidth = 0.5\n");
        let args = StudyArgs {
            config: Some(f.path().into()),
            ..StudyArgs::default()
        };
        let study = args.resolve().unwrap();
        assert_eq!(study.train.epochs, 3);
        assert_eq!(study.train.width, 0.5);
        assert_eq!(study.dataset_name, "fashion-mnist");
        let bad = file("[train]\noptimiser = \"adam\"\n");
        let args = StudyArgs {
            config: Some(bad.path().into()),
            ..StudyArgs::default()
        };
        let err = args.resolve().unwrap_err().to_string();
        assert!(err.contains("unknown field `optimiser`"), "{err}");
    }

    /// The error of a study file's text merged under `args`.
    fn file_error(text: &str, args: StudyArgs) -> String {
        let f = file(text);
        let args = StudyArgs {
            config: Some(f.path().into()),
            ..args
        };
        let e = args.resolve().expect_err("accepted").to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    fn flag_error(args: StudyArgs) -> String {
        let e = args.resolve().expect_err("accepted").to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    #[test]
    fn extreme_numbers_are_refused_with_their_range() {
        let e = flag_error(StudyArgs {
            trial_timeout: Some(1e300),
            ..StudyArgs::default()
        });
        assert!(
            e.contains("invalid trial_timeout 1e300") && e.contains("at most 1e7"),
            "{e}"
        );
        let e = file_error("trial_timeout = 1e300\n", StudyArgs::default());
        assert!(e.contains("invalid trial_timeout"), "{e}");
        let e = flag_error(StudyArgs {
            strategy: Some("reinforce".into()),
            learning_rate: Some(1e308),
            ..StudyArgs::default()
        });
        assert!(
            e.contains("invalid learning_rate") && e.contains("at most 10"),
            "{e}"
        );
        let e = file_error("[reinforce]\nlearning_rate = 1e308\n", StudyArgs::default());
        assert!(e.contains("invalid learning_rate"), "{e}");
        let e = flag_error(StudyArgs {
            buckets: Some(usize::MAX),
            ..StudyArgs::default()
        });
        assert!(
            e.contains("invalid buckets 18446744073709551615: must be 1 to 1000000"),
            "{e}"
        );
        let e = flag_error(StudyArgs {
            keep: Some(usize::MAX),
            ..StudyArgs::default()
        });
        assert!(e.contains("invalid keep"), "{e}");
        let e = file_error("[layernas]\nbuckets = 4294967296\n", StudyArgs::default());
        assert!(e.contains("invalid buckets 4294967296"), "{e}");
        let e = flag_error(StudyArgs {
            workers: Some(1_000_000),
            ..StudyArgs::default()
        });
        assert!(
            e.contains("invalid workers 1000000: must be 0 to 1024"),
            "{e}"
        );
        let e = flag_error(StudyArgs {
            retries: Some(u32::MAX),
            ..StudyArgs::default()
        });
        assert!(e.contains("invalid retries"), "{e}");
        let e = flag_error(StudyArgs {
            sim_time_scale: Some(1e300),
            ..StudyArgs::default()
        });
        assert!(e.contains("invalid sim_time_scale"), "{e}");
        let e = file_error("max_cost = -1.0\n", StudyArgs::default());
        assert!(e.contains("invalid max_cost -1: must be 0 or more"), "{e}");
        let e = flag_error(StudyArgs {
            min_cost: Some(f64::NAN),
            ..StudyArgs::default()
        });
        assert!(e.contains("invalid min_cost NaN"), "{e}");
        let e = flag_error(StudyArgs {
            population: Some(4),
            sample_size: Some(5),
            ..StudyArgs::default()
        });
        assert!(
            e.contains("invalid sample_size 5: must be 1 to the population (4)"),
            "{e}"
        );
        let e = file_error("[evolution]\nsample_size = 11\n", StudyArgs::default());
        assert!(e.contains("invalid sample_size 11"), "{e}");
    }

    #[test]
    fn silently_ignored_inputs_are_refused() {
        let e = flag_error(StudyArgs {
            store: Some(String::new()),
            ..StudyArgs::default()
        });
        assert!(e.contains("invalid store \"\""), "{e}");
        let e = flag_error(StudyArgs {
            study: Some(" ".into()),
            ..StudyArgs::default()
        });
        assert!(e.contains("invalid study"), "{e}");
        let e = flag_error(StudyArgs {
            command: Some("true".into()),
            ..StudyArgs::default()
        });
        assert!(
            e.contains("--command is run by --evaluator command, but the evaluator is table"),
            "{e}"
        );
        let e = flag_error(StudyArgs {
            epochs: Some(3),
            ..StudyArgs::default()
        });
        assert!(
            e.contains("--epochs sets the built-in trainer, but the evaluator is table"),
            "{e}"
        );
        let e = flag_error(StudyArgs {
            engine: Some("torch".into()),
            ..StudyArgs::default()
        });
        assert!(e.contains("--engine sets the built-in trainer"), "{e}");
        let e = file_error("[train]\nepochs = 5\n", StudyArgs::default());
        assert!(
            e.contains("the [train] table sets the built-in trainer"),
            "{e}"
        );
        let e = flag_error(StudyArgs {
            space: Some("mobilenetv2".into()),
            evaluator: Some("command".into()),
            epochs: Some(3),
            ..StudyArgs::default()
        });
        assert!(e.contains("but the evaluator is command"), "{e}");
        let e = flag_error(StudyArgs {
            space: Some("mobilenetv2".into()),
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("train".into()),
            reward_column: Some("cifar10_test".into()),
            ..StudyArgs::default()
        });
        assert!(
            e.contains("--reward-column names a column of the benchmark table"),
            "{e}"
        );
        let e = flag_error(StudyArgs {
            space: Some("mobilenetv2".into()),
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("train".into()),
            sim_time_scale: Some(0.5),
            ..StudyArgs::default()
        });
        assert!(e.contains("--sim-time-scale"), "{e}");
        // The knobs of the evaluator that runs are fine.
        StudyArgs {
            space: Some("mobilenetv2".into()),
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("train".into()),
            epochs: Some(3),
            engine: Some("torch".into()),
            ..StudyArgs::default()
        }
        .resolve()
        .unwrap();
        StudyArgs {
            evaluator: Some("command".into()),
            command: Some("true".into()),
            ..StudyArgs::default()
        }
        .resolve()
        .unwrap();
    }

    #[test]
    fn fashion_mnist_is_no_table_dataset() {
        let e = flag_error(StudyArgs {
            dataset: Some("fashion-mnist".into()),
            ..StudyArgs::default()
        });
        assert!(
            e.contains("dataset fashion-mnist has no NAS-Bench-201 table"),
            "{e}"
        );
        let e = flag_error(StudyArgs {
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("command".into()),
            command: Some("true".into()),
            ..StudyArgs::default()
        });
        assert!(e.contains("has no NAS-Bench-201 table"), "{e}");
        let study = StudyArgs {
            space: Some("mobilenetv2".into()),
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("command".into()),
            command: Some("true".into()),
            ..StudyArgs::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(study.dataset_name, "fashion-mnist");
    }

    #[test]
    fn allow_changed_config_is_a_study_file_key_never_stored() {
        let f = file("allow_changed_config = true\n");
        let study = StudyArgs {
            config: Some(f.path().into()),
            ..StudyArgs::default()
        }
        .resolve()
        .unwrap();
        assert!(study.allow_changed_config);
        let plain = StudyArgs::default().resolve().unwrap();
        assert_eq!(study.config_hash(), plain.config_hash());
        assert_eq!(study.spec().config, plain.spec().config);
        assert!(!study.spec().config.contains("allow_changed_config"));
    }

    #[test]
    fn every_stored_study_rebuilds() {
        // What `to_file` stores must pass validation again (workers rebuild studies from it).
        for args in [
            StudyArgs::default(),
            StudyArgs {
                space: Some("mobilenetv2".into()),
                dataset: Some("fashion-mnist".into()),
                evaluator: Some("train".into()),
                epochs: Some(1),
                ..StudyArgs::default()
            },
            StudyArgs {
                space: Some("mobilenetv2".into()),
                evaluator: Some("command".into()),
                command: Some("true".into()),
                max_cost: Some(100.0),
                ..StudyArgs::default()
            },
            StudyArgs {
                strategy: Some("evolution".into()),
                sim_time_scale: Some(0.001),
                reward_column: Some("e12_cifar10_valid".into()),
                ..StudyArgs::default()
            },
        ] {
            let study = args.resolve().unwrap();
            let rebuilt = StudyArgs::default().merge(study.file.clone()).unwrap();
            assert_eq!(rebuilt.config_hash(), study.config_hash());
        }
    }

    /// The parts of a study file, with extreme values.
    fn study_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let number = prop_oneof![
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("1e300".to_string()),
            Just("-1e300".to_string()),
            Just("nan".to_string()),
            Just("inf".to_string()),
            Just("9223372036854775807".to_string()),
            Just("4294967296".to_string()),
            Just("0.5".to_string()),
            (0i64..400).prop_map(|v| v.to_string()),
            Just("\"text\"".to_string()),
            Just("true".to_string()),
        ];
        let key = prop::sample::select(vec![
            "min_cost",
            "max_cost",
            "seed",
            "max_trials",
            "workers",
            "retries",
            "trial_timeout",
            "sim_time_scale",
            "allow_changed_config",
            "store",
            "study",
            "dataset",
            "space",
            "strategy",
            "evaluator",
            "command",
            "layernas.buckets",
            "layernas.keep",
            "layernas.children_per_layer",
            "evolution.population",
            "evolution.sample_size",
            "evolution.mutated_layers",
            "reinforce.learning_rate",
            "reinforce.baseline_momentum",
            "train.epochs",
            "train.threads",
            "train.width",
            "train.depth",
        ]);
        prop::collection::vec((key, number), 0..8).prop_map(|pairs| {
            let mut top = String::new();
            let mut tables: std::collections::BTreeMap<&str, String> = Default::default();
            for (key, value) in pairs {
                match key.split_once('.') {
                    Some((table, k)) => tables
                        .entry(table)
                        .or_default()
                        .push_str(&format!("{k} = {value}\n")),
                    None => top.push_str(&format!("{key} = {value}\n")),
                }
            }
            for (table, body) in tables {
                top.push_str(&format!("[{table}]\n{body}"));
            }
            top
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any text: a study or a one-line error, never a panic.
        #[test]
        fn the_study_file_parser_never_panics(text in "\\PC{0,300}") {
            let path = Path::new("s.toml");
            if let Ok(file) = parse_study_file(&text, path) {
                if let Err(e) = StudyArgs::default().merge(file) {
                    proptest::prop_assert!(!e.0.contains('\n'), "{}", e.0);
                }
            }
        }

        /// Known keys with extreme values: a valid study (whose stored file rebuilds it) or a
        /// one-line error.
        #[test]
        fn extreme_study_files_are_refused_or_valid(text in study_text()) {
            match parse_study_file(&text, Path::new("s.toml")) {
                Err(e) => proptest::prop_assert!(!e.0.contains('\n'), "{}", e.0),
                Ok(file) => match StudyArgs::default().merge(file) {
                    Err(e) => proptest::prop_assert!(!e.0.contains('\n'), "{}", e.0),
                    Ok(study) => {
                        let rebuilt = StudyArgs::default().merge(study.file.clone());
                        proptest::prop_assert!(rebuilt.is_ok(), "{text}: {:?}", rebuilt.err());
                        proptest::prop_assert!(
                            study.trial_timeout.is_none_or(|t| std::time::Duration::try_from_secs_f64(t).is_ok())
                        );
                    }
                },
            }
        }
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let f = file("dataset = \"cifar10\"\nbukets = 3\n");
        let args = StudyArgs {
            config: Some(f.path().into()),
            ..StudyArgs::default()
        };
        let err = args.resolve().unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("bukets"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
