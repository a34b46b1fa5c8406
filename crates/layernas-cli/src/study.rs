//! A study: what to search, merged from a TOML study file and command-line flags (flags win),
//! then validated once into [`Study`].

use clap::{Args, ValueEnum};
use layernas_core::StudySpec;
use layernas_search::{
    EvolutionConfig, LayerNasConfig, ReinforceConfig, Selection, Spacing, StrategyConfig,
    STRATEGIES,
};
use layernas_tables::{DataSource, Dataset};
use layernas_train::{Engine, TrainConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A bad input: a malformed or invalid study. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

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
    /// Dataset of the benchmark table: cifar10, cifar100, imagenet16 [default: cifar10].
    #[arg(long)]
    pub dataset: Option<String>,
    /// Cost: flops, params or latency:<device> on nb201; madds or params on network spaces
    /// [default: flops on nb201, madds otherwise].
    #[arg(long)]
    pub cost: Option<String>,
    /// Lowest acceptable cost of the answer.
    #[arg(long, value_name = "COST")]
    pub min_cost: Option<f64>,
    /// Highest acceptable cost of the answer; omit for a front search.
    #[arg(long, value_name = "COST")]
    pub max_cost: Option<f64>,
    /// Table column used as reward [default: <dataset>_valid].
    #[arg(long, value_name = "COLUMN")]
    pub reward_column: Option<String>,
    /// Table column reported as test accuracy [default: <dataset>_test].
    #[arg(long, value_name = "COLUMN")]
    pub test_column: Option<String>,
    /// Seed [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after this many trials [default: none for layernas and exhaustive, 300 for the
    /// other baselines].
    #[arg(long, value_name = "N")]
    pub max_trials: Option<u64>,
    /// Evaluations run at once within a wave [default: 1].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Read the tables from DIR (laid out as the repository's data/) instead of the embedded copy.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Trial store: a SQLite file (created if missing), postgres://..., or memory [default:
    /// memory]. The same command against the same store resumes the study.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Evaluator: table (the benchmark table; default where the space has one) or command
    /// (run --command per trial: the trial as JSON on stdin, a JSON result line on stdout).
    #[arg(long)]
    pub evaluator: Option<String>,
    /// Built-in trainer: epochs per trial [default: 2].
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Built-in trainer: training images per trial [default: 4000].
    #[arg(long, value_name = "N")]
    pub train_subset: Option<usize>,
    /// Built-in trainer: threads per trial [default: 1]; results are deterministic for a seed
    /// and thread count.
    #[arg(long, value_name = "N")]
    pub train_threads: Option<usize>,
    /// Built-in trainer engine: burn (pure Rust, CPU) or torch (libtorch; needs a build with
    /// `--features torch`) [default: burn].
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Device of the torch engine: cpu, cuda or cuda:N [default: cpu].
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// The command of `--evaluator command`, run with `sh -c`.
    #[arg(long, value_name = "COMMAND")]
    pub command: Option<String>,
    /// Study name within the store [default: default].
    #[arg(long, value_name = "NAME")]
    pub study: Option<String>,
    /// Continue a stored study even though its configuration changed.
    #[arg(long)]
    pub allow_changed_config: bool,
    /// Extra attempts for a failed trial before the search goes on without it [default: 0].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// A trial running longer than SECONDS fails ("timed out").
    #[arg(long, value_name = "SECONDS")]
    pub trial_timeout: Option<f64>,
    /// Table evaluator: sleep SCALE x each trial's simulated training time (CIFAR-10), to
    /// rehearse long or distributed searches [default: 0].
    #[arg(long, value_name = "SCALE")]
    pub sim_time_scale: Option<f64>,
    /// LayerNAS: cost buckets per layer, H [default: 100].
    #[arg(long, value_name = "H")]
    pub buckets: Option<usize>,
    /// LayerNAS: bucket spacing [default: linear].
    #[arg(long, value_enum)]
    pub spacing: Option<SpacingArg>,
    /// LayerNAS: candidates kept per bucket, K [default: 1].
    #[arg(long, value_name = "K")]
    pub keep: Option<usize>,
    /// LayerNAS: sample N children per layer instead of expanding all.
    #[arg(long, value_name = "N")]
    pub children_per_layer: Option<usize>,
    /// LayerNAS: choose the answer from the last layer's kept candidates or from every
    /// evaluated model [default: kept].
    #[arg(long, value_enum)]
    pub select: Option<SelectArg>,
    /// Evolution: population size [default: 10].
    #[arg(long, value_name = "N")]
    pub population: Option<usize>,
    /// Evolution: tournament sample size [default: 3].
    #[arg(long, value_name = "N")]
    pub sample_size: Option<usize>,
    /// Evolution: layers changed per mutation [default: 1].
    #[arg(long, value_name = "N")]
    pub mutated_layers: Option<usize>,
    /// REINFORCE: Adam learning rate [default: 0.01].
    #[arg(long, value_name = "LR")]
    pub learning_rate: Option<f64>,
    /// REINFORCE: moving-average baseline momentum [default: 0.9].
    #[arg(long, value_name = "M")]
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

fn read_study_file(path: &Path) -> Result<StudyFile, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError(format!("cannot read study file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
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
        let positive = |field: &str, v: Option<usize>| match v {
            Some(0) => Err(InputError(format!("invalid {field} 0: must be at least 1"))),
            _ => Ok(v),
        };
        let evolution_default = EvolutionConfig::default();
        let evolution = EvolutionConfig {
            population: positive("population", self.population.or(ef.population))?
                .unwrap_or(evolution_default.population),
            sample_size: positive("sample_size", self.sample_size.or(ef.sample_size))?
                .unwrap_or(evolution_default.sample_size),
            mutated_layers: positive("mutated_layers", self.mutated_layers.or(ef.mutated_layers))?
                .unwrap_or(evolution_default.mutated_layers),
        };
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
        if !(reinforce.learning_rate.is_finite() && reinforce.learning_rate > 0.0) {
            return Err(InputError(format!(
                "invalid learning_rate {}: must be a positive number",
                reinforce.learning_rate
            )));
        }
        if !(0.0..1.0).contains(&reinforce.baseline_momentum) {
            return Err(InputError(format!(
                "invalid baseline_momentum {}: must be in [0, 1)",
                reinforce.baseline_momentum
            )));
        }
        let space = self
            .space
            .clone()
            .or(file.space)
            .unwrap_or_else(|| "nb201".into());
        let dataset_name = self
            .dataset
            .clone()
            .or(file.dataset)
            .unwrap_or_else(|| "cifar10".into());
        // fashion-mnist is the trainer's dataset; table spaces keep their own.
        let dataset = if dataset_name == "fashion-mnist" {
            Dataset::Cifar10
        } else {
            Dataset::parse(&dataset_name)
                .map_err(|e| InputError(format!("{e}; fashion-mnist for --evaluator train")))?
        };
        let workers = self.workers.or(file.workers).unwrap_or(1);
        let max_trials = self.max_trials.or(file.max_trials);
        let trial_timeout = self.trial_timeout.or(file.trial_timeout);
        if trial_timeout.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return Err(InputError(format!(
                "invalid trial_timeout {}: must be a positive number of seconds",
                trial_timeout.unwrap_or_default()
            )));
        }
        let sim_time_scale = self.sim_time_scale.or(file.sim_time_scale).unwrap_or(0.0);
        if !(sim_time_scale.is_finite() && sim_time_scale >= 0.0) {
            return Err(InputError(format!(
                "invalid sim_time_scale {sim_time_scale}: must be 0 or positive"
            )));
        }
        let store = self.store.clone().or(file.store.clone());
        let study_name = self
            .study
            .clone()
            .or(file.study.clone())
            .unwrap_or_else(|| "default".into());
        let retries = self.retries.or(file.retries).unwrap_or(0);
        if max_trials == Some(0) {
            return Err(InputError(
                "invalid max_trials 0: must be at least 1".into(),
            ));
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
        let evaluator = self.evaluator.clone().or(file.evaluator.clone());
        let mut train = file.train.clone().unwrap_or_default();
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
        let mut study = Study {
            train,
            dataset_name: dataset_name.clone(),
            evaluator,
            command,
            store,
            study: study_name,
            allow_changed_config: self.allow_changed_config,
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
            reward_column: self
                .reward_column
                .clone()
                .or(file.reward_column)
                .unwrap_or_else(|| dataset.valid_column()),
            test_column: self
                .test_column
                .clone()
                .or(file.test_column)
                .unwrap_or_else(|| dataset.test_column()),
            dataset,
            cost: self.cost.clone().or(file.cost).unwrap_or_else(|| {
                if space == "nb201" {
                    "flops".into()
                } else {
                    "madds".into()
                }
            }),
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
        let f = file("dataset = \"fashion-mnist\"\n[train]\nepochs = 3\noptimizer = \"adam\"\nschedule = \"constant\"\nwidth = 0.5\n");
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
