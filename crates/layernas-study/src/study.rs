//! A study: what to search, merged from a study file and the command line's [`Overrides`]
//! (they win), then validated once into [`Study`], whose parts are typed values.

use crate::file::{
    EvolutionFile, FidelityName, HalvingFile, LayerNasFile, Nsga2File, PromoteBarName,
    ReinforceFile, SelectName, SpacingName, StudyFile,
};
use crate::names::{CostName, SpaceName};
use crate::StudyError;
use layernas_core::StudySpec;
use layernas_search::{
    number, CostWindow, EvolutionConfig, HalvingConfig, LayerNasConfig, MultiFidelity, Nsga2Config,
    PromotionBar, ReinforceConfig, Scope, Selection, Spacing, StrategyConfig,
    MULTI_FIDELITY_STRATEGIES, STRATEGIES,
};
use layernas_tables::{DataSource, Dataset, MAX_TIME_SCALE};
use layernas_train::{DataFormat, DataSpec, Engine, TrainConfig};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The most evaluations a study runs at once in one process (`workers`).
pub const MAX_WORKERS: usize = 1_024;
/// The most extra attempts of a failed trial (`retries`).
pub const MAX_RETRIES: u32 = 100;
/// The longest trial timeout, in seconds (`trial_timeout`; about 116 days).
pub const MAX_TRIAL_TIMEOUT: f64 = 1e7;

/// A strategy of `layernas_search`'s registry, by its name: a value that can only be a strategy
/// `build_strategy` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyName(&'static str);

impl StrategyName {
    /// LayerNAS.
    pub const LAYERNAS: StrategyName = StrategyName("layernas");

    /// The strategy called `name`.
    pub fn parse(name: &str) -> Result<Self, StudyError> {
        STRATEGIES
            .iter()
            .chain(MULTI_FIDELITY_STRATEGIES)
            .find(|s| **s == name)
            .map(|s| StrategyName(s))
            .ok_or_else(|| StudyError::Unknown {
                field: "strategy",
                value: name.to_string(),
                allowed: format!(
                    "{}, {}",
                    STRATEGIES.join(", "),
                    MULTI_FIDELITY_STRATEGIES.join(", ")
                ),
            })
    }

    /// Its name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for StrategyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<&str> for StrategyName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The evaluator of a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvaluatorKind {
    /// The benchmark table (NAS-Bench-201's default).
    Table,
    /// The built-in trainer (either engine).
    Train,
    /// A user command per trial.
    Command,
}

impl EvaluatorKind {
    /// Every name.
    pub const NAMES: &'static [&'static str] = &["table", "train", "command"];

    /// The evaluator called `name`.
    pub fn parse(name: &str) -> Result<Self, StudyError> {
        match name {
            "table" => Ok(EvaluatorKind::Table),
            "train" => Ok(EvaluatorKind::Train),
            "command" => Ok(EvaluatorKind::Command),
            _ => Err(StudyError::Unknown {
                field: "evaluator",
                value: name.to_string(),
                allowed: Self::NAMES.join(", "),
            }),
        }
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        match self {
            EvaluatorKind::Table => "table",
            EvaluatorKind::Train => "train",
            EvaluatorKind::Command => "command",
        }
    }
}

/// The data set a study names: one vocabulary for every evaluator and engine. The benchmark
/// table's three, the built-in trainer's Fashion-MNIST, and the user's own (`--data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudyDataset {
    /// A data set of the NAS-Bench-201 table (also the shape of `nats-sss` networks).
    Table(Dataset),
    /// Fashion-MNIST (28x28 grayscale, 10 classes), the built-in trainer's data set.
    FashionMnist,
    /// The user's data set in this format ([`Study::data_spec`] says where and how).
    Files(DataFormat),
}

impl StudyDataset {
    /// Every name a study may give.
    pub const NAMES: &'static [&'static str] =
        &["cifar10", "cifar100", "imagenet16", "fashion-mnist"];

    /// The data set called `name`.
    pub fn parse(name: &str) -> Result<Self, StudyError> {
        if name == "fashion-mnist" {
            return Ok(StudyDataset::FashionMnist);
        }
        Dataset::parse(name)
            .map(StudyDataset::Table)
            .map_err(|_| StudyError::Unknown {
                field: "dataset",
                value: name.to_string(),
                allowed: Self::NAMES.join(", "),
            })
    }

    /// Its name, as the user wrote it and as every evaluator and engine receives it.
    pub fn name(&self) -> &'static str {
        match self {
            StudyDataset::Table(d) => d.name(),
            StudyDataset::FashionMnist => "fashion-mnist",
            StudyDataset::Files(f) => f.name(),
        }
    }

    /// The benchmark table's data set, if it is one.
    pub fn table(&self) -> Option<Dataset> {
        match self {
            StudyDataset::Table(d) => Some(*d),
            StudyDataset::FashionMnist | StudyDataset::Files(_) => None,
        }
    }

    /// The table data set whose input size and classes shape a dataset-dependent space
    /// (`nats-sss`) and its costs: its own, or CIFAR-10's for Fashion-MNIST and the user's data
    /// (the trainer then adapts the network to the data it trains on).
    pub fn shape(&self) -> Dataset {
        self.table().unwrap_or(Dataset::Cifar10)
    }
}

/// What the command line sets over the study file (each `Some` wins over the file). The CLI
/// fills it from its flags; errors about a set field name it as its flag (`--epochs`).
#[derive(Debug, Default, Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct Overrides {
    /// Study file (TOML); flags override its values.
    #[cfg_attr(
        feature = "clap",
        arg(short = 'c', long = "config", value_name = "FILE")
    )]
    pub config: Option<PathBuf>,
    /// Strategy: layernas, random, evolution, reinforce, nsga2, exhaustive, successive-halving
    /// [default: layernas].
    #[cfg_attr(feature = "clap", arg(long))]
    pub strategy: Option<String>,
    /// Search space: nb201, mobilenetv2, mobilenetv3-large, mobilenetv3-small, nats-sss, or a
    /// .toml space file [default: nb201].
    #[cfg_attr(feature = "clap", arg(long))]
    pub space: Option<String>,
    /// Dataset: cifar10, cifar100, imagenet16 (the benchmark table's; nats-sss takes its input
    /// size and classes from it) or fashion-mnist (the built-in trainer's) [default: cifar10;
    /// your own images: --data].
    #[cfg_attr(feature = "clap", arg(long))]
    pub dataset: Option<String>,
    /// Cost: flops, params or latency:<device> on nb201; madds or params on network spaces
    /// [default: flops on nb201, madds otherwise].
    #[cfg_attr(feature = "clap", arg(long))]
    pub cost: Option<String>,
    /// Lowest acceptable cost of the answer (a finite number, 0 or more).
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "COST", allow_negative_numbers = true)
    )]
    pub min_cost: Option<f64>,
    /// Highest acceptable cost of the answer (a finite number, 0 or more); omit for a front
    /// search.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "COST", allow_negative_numbers = true)
    )]
    pub max_cost: Option<f64>,
    /// Table column used as reward [default: <dataset>_valid].
    #[cfg_attr(feature = "clap", arg(long, value_name = "COLUMN"))]
    pub reward_column: Option<String>,
    /// Table column reported as test accuracy [default: <dataset>_test].
    #[cfg_attr(feature = "clap", arg(long, value_name = "COLUMN"))]
    pub test_column: Option<String>,
    /// Seed, 0 to 2^64-1 [default: 0].
    #[cfg_attr(feature = "clap", arg(long))]
    pub seed: Option<u64>,
    /// Stop after this many trials, at least 1 [default: none for layernas and exhaustive, 300
    /// for the other baselines].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub max_trials: Option<u64>,
    /// Evaluations run at once within a wave, 0 to 1024; 0 leaves them to `layernas worker`
    /// processes [default: 1].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub workers: Option<usize>,
    /// Read the tables from DIR (laid out as the repository's data/) instead of the embedded copy.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DIR"))]
    pub data_dir: Option<PathBuf>,
    /// Your data set for the built-in trainer (and the command evaluator's context): an image
    /// folder (train/<class>/*.png|jpg, optional val/ and test/), CIFAR-10/100 binary batches,
    /// or IDX files. Decoded once and cached ($LAYERNAS_DATA_CACHE, default ~/.cache/layernas).
    #[cfg_attr(feature = "clap", arg(long, value_name = "PATH"))]
    pub data: Option<PathBuf>,
    /// Format of --data: imagefolder, cifar or idx [default: detected from its files].
    #[cfg_attr(feature = "clap", arg(long, value_name = "FORMAT"))]
    pub data_format: Option<String>,
    /// Image folders (--data): the side images are resized (shorter side) and centre-cropped
    /// to, 1 to 1024 [default: 32].
    #[cfg_attr(feature = "clap", arg(long, value_name = "PIXELS"))]
    pub image_size: Option<u32>,
    /// Trial store: a SQLite file (created if missing), postgres://..., or memory [default:
    /// memory]. The same command against the same store resumes the study.
    #[cfg_attr(feature = "clap", arg(long, value_name = "URL"))]
    pub store: Option<String>,
    /// Evaluator: table (the benchmark table; default where the space has one), train (the
    /// built-in trainer, on fashion-mnist) or command (run --command per trial: the trial as JSON
    /// on stdin, a JSON result line on stdout).
    #[cfg_attr(feature = "clap", arg(long))]
    pub evaluator: Option<String>,
    /// Built-in trainer (--evaluator train): epochs per trial [default: 2].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub epochs: Option<usize>,
    /// Built-in trainer (--evaluator train): training images per trial [default: 4000].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub train_subset: Option<usize>,
    /// Built-in trainer (--evaluator train): threads per trial [default: 1]; results are
    /// deterministic for a seed and thread count.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub train_threads: Option<usize>,
    /// Built-in trainer engine (--evaluator train): burn (pure Rust, CPU) or torch (libtorch,
    /// CPU or CUDA: runs the separate layernas-torch program, found via $LAYERNAS_TORCH, beside
    /// layernas or on PATH; torch/README.md) [default: burn].
    #[cfg_attr(feature = "clap", arg(long, value_name = "ENGINE"))]
    pub engine: Option<String>,
    /// Device of the torch engine (--engine torch): cpu, cuda or cuda:N [default: cpu].
    #[cfg_attr(feature = "clap", arg(long, value_name = "DEVICE"))]
    pub device: Option<String>,
    /// The command of `--evaluator command`, run with `sh -c`.
    #[cfg_attr(feature = "clap", arg(long, value_name = "COMMAND"))]
    pub command: Option<String>,
    /// Study name within the store, non-empty [default: default].
    #[cfg_attr(feature = "clap", arg(long, value_name = "NAME"))]
    pub study: Option<String>,
    /// Continue a stored study even though its configuration changed (study file:
    /// allow_changed_config = true).
    #[cfg_attr(feature = "clap", arg(long))]
    pub allow_changed_config: bool,
    /// Extra attempts for a failed trial before the search goes on without it, 0 to 100
    /// [default: 0].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub retries: Option<u32>,
    /// A trial running longer than SECONDS fails ("timed out"); above 0, at most 1e7
    /// [default: none].
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "SECONDS", allow_negative_numbers = true)
    )]
    pub trial_timeout: Option<f64>,
    /// Table evaluator: sleep SCALE x each trial's simulated training time (CIFAR-10), to
    /// rehearse long or distributed searches; 0 to 1 [default: 0].
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "SCALE", allow_negative_numbers = true)
    )]
    pub sim_time_scale: Option<f64>,
    /// LayerNAS: cost buckets per layer, H, 1 to 1000000 [default: 100].
    #[cfg_attr(feature = "clap", arg(long, value_name = "H"))]
    pub buckets: Option<usize>,
    /// LayerNAS: bucket spacing [default: linear].
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub spacing: Option<SpacingName>,
    /// LayerNAS: candidates kept per bucket, K, 1 to 1000000 [default: 1].
    #[cfg_attr(feature = "clap", arg(long, value_name = "K"))]
    pub keep: Option<usize>,
    /// LayerNAS: sample N children per layer (at least 1) instead of expanding all.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub children_per_layer: Option<usize>,
    /// LayerNAS: choose the answer from the last layer's kept candidates or from every
    /// evaluated model [default: kept].
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub select: Option<SelectName>,
    /// Evolution and NSGA-II: population size, 1 to 1000000 for evolution [default: 10], 2 to
    /// 10000 for NSGA-II [default: 20].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub population: Option<usize>,
    /// Evolution: tournament sample size, 1 to the population [default: 3].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub sample_size: Option<usize>,
    /// Evolution: layers changed per mutation, 1 to the space's layers [default: 1].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub mutated_layers: Option<usize>,
    /// REINFORCE: Adam learning rate, above 0 and at most 10 [default: 0.01].
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "LR", allow_negative_numbers = true)
    )]
    pub learning_rate: Option<f64>,
    /// REINFORCE: moving-average baseline momentum, in [0, 1) [default: 0.9].
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "M", allow_negative_numbers = true)
    )]
    pub baseline_momentum: Option<f64>,
    /// NSGA-II: probability of uniform crossover, 0 to 1 [default: 0.9].
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "P", allow_negative_numbers = true)
    )]
    pub crossover_prob: Option<f64>,
    /// NSGA-II: per-layer mutation probability, above 0 and at most 1 [default: 1/layers].
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "P", allow_negative_numbers = true)
    )]
    pub mutation_prob: Option<f64>,
    /// LayerNAS: single (every trial at full fidelity) or multi (each layer's children first at
    /// low fidelity; the best per bucket promoted to full fidelity) [default: single].
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub fidelity: Option<FidelityName>,
    /// Multi-fidelity LayerNAS: children promoted to full fidelity per bucket and layer, 1 to
    /// 1000000 [default: 1].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub promote: Option<usize>,
    /// Multi-fidelity LayerNAS: what a full bucket's challengers must beat at low fidelity:
    /// incumbent (the K-th's own low-fidelity reward) or calibrated (the lower of that and what
    /// a line fitted to every model known at both fidelities maps to its full-fidelity reward)
    /// [default: incumbent].
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub promote_bar: Option<PromoteBarName>,
    /// LayerNAS: cap focus F, 1 (off) to 1000000; above 1 it needs --max-cost. The last layer's
    /// parents come from the buckets nearest the cap, F x K per bucket, as many as K per bucket
    /// would keep: a better answer at the cap, for the same trial bound, but worse answers for
    /// cheaper targets [default: 1].
    #[cfg_attr(feature = "clap", arg(long, value_name = "F"))]
    pub cap_focus: Option<usize>,
    /// Successive halving: models sampled per bracket, 1 to 1000000 [default: 20].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub rung: Option<usize>,
    /// Successive halving: one in ETA of a bracket goes on to full fidelity, 2 to 1000000
    /// [default: 4].
    #[cfg_attr(feature = "clap", arg(long, value_name = "ETA"))]
    pub eta: Option<usize>,
}

/// A validated study.
#[derive(Debug, Clone)]
pub struct Study {
    /// The space: a built-in one or a `.toml` space file.
    pub space: SpaceName,
    /// The strategy.
    pub strategy: StrategyName,
    /// The data set, by one vocabulary (table data sets and the trainer's).
    pub dataset: StudyDataset,
    /// The cost model (checked against the kind of space).
    pub cost: CostName,
    /// The table column used as reward.
    pub reward_column: String,
    /// The table column reported as test accuracy.
    pub test_column: String,
    /// The trial budget, if any.
    pub max_trials: Option<u64>,
    /// Evaluations at once in the controller (0: left to workers).
    pub workers: usize,
    /// Where the tables and data sets are read from.
    pub data: DataSource,
    /// The user's data set (resolved: absolute path, format), where the study names one.
    pub data_spec: Option<DataSpec>,
    /// The cost window and seed ([`StrategyConfig::scope`]) and the knobs of every strategy.
    pub strategies: StrategyConfig,
    /// The store URL (memory when absent).
    pub store: Option<String>,
    /// The study's name in the store.
    pub study: String,
    /// The evaluator named, if one was ([`Study::evaluator_kind`] applies the default).
    pub evaluator: Option<EvaluatorKind>,
    /// The command of the command evaluator.
    pub command: Option<String>,
    /// The built-in trainer's recipe.
    pub train: TrainConfig,
    /// Resume even though the stored configuration differs.
    pub allow_changed_config: bool,
    /// Extra attempts of a failed trial.
    pub retries: u32,
    /// Seconds after which a trial fails.
    pub trial_timeout: Option<f64>,
    /// Sleep this fraction of a table trial's simulated training time.
    pub sim_time_scale: f64,
    /// The merged study file: what is stored with the study and what workers rebuild it from.
    pub file: StudyFile,
}

impl Overrides {
    /// Merges the study file (if any) under the flags and validates the result.
    pub fn resolve(&self) -> Result<Study, StudyError> {
        let file = match &self.config {
            Some(path) => StudyFile::read(path)?,
            None => StudyFile::default(),
        };
        self.merge(file)
    }

    /// Merges `file` under the flags and validates the result.
    pub fn merge(&self, file: StudyFile) -> Result<Study, StudyError> {
        let lf = file.layernas.unwrap_or_default();
        let ef = file.evolution.unwrap_or_default();
        let rf = file.reinforce.unwrap_or_default();
        let nf = file.nsga2.unwrap_or_default();
        let hf = file.successive_halving.unwrap_or_default();
        let strategy = StrategyName::parse(
            &self
                .strategy
                .clone()
                .or(file.strategy)
                .unwrap_or_else(|| "layernas".into()),
        )?;
        // `--population` sizes NSGA-II's population when it runs, evolution's otherwise (where
        // it is checked, then refused below unless evolution runs).
        let population_of = |name: &str| {
            self.population
                .filter(|_| (strategy == "nsga2") == (name == "nsga2"))
        };
        let evolution_default = EvolutionConfig::default();
        let evolution = EvolutionConfig {
            population: population_of("evolution")
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
        let nsga2_default = Nsga2Config::default();
        let nsga2 = Nsga2Config {
            population: population_of("nsga2")
                .or(nf.population)
                .unwrap_or(nsga2_default.population),
            crossover_prob: self
                .crossover_prob
                .or(nf.crossover_prob)
                .unwrap_or(nsga2_default.crossover_prob),
            mutation_prob: self.mutation_prob.or(nf.mutation_prob),
        };
        nsga2.validate()?;
        let halving_default = HalvingConfig::default();
        let halving = HalvingConfig {
            rung: self.rung.or(hf.rung).unwrap_or(halving_default.rung),
            eta: self.eta.or(hf.eta).unwrap_or(halving_default.eta),
        };
        halving.validate()?;
        // A flag of another strategy would be silently ignored: refuse it. (A study file may
        // hold tables for several strategies, so that `--strategy` can switch between them.)
        let owned: [(&str, &[&str], bool); 18] = [
            ("--fidelity", &["layernas"], self.fidelity.is_some()),
            ("--cap-focus", &["layernas"], self.cap_focus.is_some()),
            ("--promote-bar", &["layernas"], self.promote_bar.is_some()),
            ("--promote", &["layernas"], self.promote.is_some()),
            ("--rung", &["successive-halving"], self.rung.is_some()),
            ("--eta", &["successive-halving"], self.eta.is_some()),
            ("--buckets", &["layernas"], self.buckets.is_some()),
            ("--spacing", &["layernas"], self.spacing.is_some()),
            ("--keep", &["layernas"], self.keep.is_some()),
            (
                "--children-per-layer",
                &["layernas"],
                self.children_per_layer.is_some(),
            ),
            ("--select", &["layernas"], self.select.is_some()),
            (
                "--population",
                &["evolution", "nsga2"],
                self.population.is_some(),
            ),
            (
                "--crossover-prob",
                &["nsga2"],
                self.crossover_prob.is_some(),
            ),
            ("--mutation-prob", &["nsga2"], self.mutation_prob.is_some()),
            ("--sample-size", &["evolution"], self.sample_size.is_some()),
            (
                "--mutated-layers",
                &["evolution"],
                self.mutated_layers.is_some(),
            ),
            (
                "--learning-rate",
                &["reinforce"],
                self.learning_rate.is_some(),
            ),
            (
                "--baseline-momentum",
                &["reinforce"],
                self.baseline_momentum.is_some(),
            ),
        ];
        if let Some((flag, owners, _)) = owned
            .iter()
            .find(|(_, owners, set)| *set && !owners.contains(&strategy.as_str()))
        {
            return Err(StudyError::Input(format!(
                "{flag} is a knob of --strategy {}, but the strategy is {strategy}",
                owners.join(" and --strategy ")
            )));
        }
        // A space file is stored by its absolute path, so a worker started in another
        // directory (or a `status` run anywhere) rebuilds the same space.
        let space = SpaceName::parse(
            &self
                .space
                .clone()
                .or(file.space)
                .unwrap_or_else(|| "nb201".into()),
        )?;
        let dataset_given = self.dataset.is_some() || file.dataset.is_some();
        let dataset_name = self
            .dataset
            .clone()
            .or(file.dataset)
            .unwrap_or_else(|| "cifar10".into());
        let data_spec = self.data_spec(file.data.clone())?;
        let dataset = match &data_spec {
            Some(spec) => StudyDataset::Files(spec.data_format()),
            None => StudyDataset::parse(&dataset_name)?,
        };
        if let (Some(spec), true) = (&data_spec, dataset_given) {
            return Err(StudyError::Input(format!(
                "--dataset names a built-in data set and --data your own ({}): give one of them",
                spec.path.display()
            )));
        }
        if matches!(dataset, StudyDataset::Files(_)) && space.is_table() {
            return Err(StudyError::Input(
                "your data (--data) has no NAS-Bench-201 table: the built-in trainer needs a \
                 network space (mobilenetv2, mobilenetv3-large, mobilenetv3-small, nats-sss or \
                 a .toml space)"
                    .into(),
            ));
        }
        if dataset == StudyDataset::FashionMnist && space.is_table() {
            return Err(StudyError::Input(
                "dataset fashion-mnist has no NAS-Bench-201 table (space nb201 takes cifar10, \
                 cifar100 or imagenet16); the built-in trainer, which trains on \
                 fashion-mnist, needs a network space (mobilenetv2, mobilenetv3-large, \
                 mobilenetv3-small, nats-sss or a .toml space)"
                    .into(),
            ));
        }
        let workers = self.workers.or(file.workers).unwrap_or(1);
        if workers > MAX_WORKERS {
            return Err(StudyError::Input(format!(
                "invalid workers {workers}: must be 0 to {MAX_WORKERS}"
            )));
        }
        let max_trials = self.max_trials.or(file.max_trials);
        if max_trials == Some(0) {
            return Err(StudyError::Input(
                "invalid max_trials 0: must be at least 1".into(),
            ));
        }
        let trial_timeout = self.trial_timeout.or(file.trial_timeout);
        if let Some(t) = trial_timeout {
            if !(t > 0.0 && t <= MAX_TRIAL_TIMEOUT) {
                return Err(StudyError::Input(format!(
                    "invalid trial_timeout {}: must be a number of seconds above 0 and at most \
                     {MAX_TRIAL_TIMEOUT:e}",
                    number(t)
                )));
            }
        }
        let sim_time_scale = self.sim_time_scale.or(file.sim_time_scale).unwrap_or(0.0);
        if !(0.0..=MAX_TIME_SCALE).contains(&sim_time_scale) {
            return Err(StudyError::Input(format!(
                "invalid sim_time_scale {}: must be 0 to {MAX_TIME_SCALE}",
                number(sim_time_scale)
            )));
        }
        let store = self.store.clone().or(file.store.clone());
        if let Some(url) = &store {
            if url.trim().is_empty() {
                return Err(StudyError::Input(
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
            return Err(StudyError::Input(format!(
                "invalid study {study_name:?}: must be non-empty, without control characters"
            )));
        }
        let retries = self.retries.or(file.retries).unwrap_or(0);
        if retries > MAX_RETRIES {
            return Err(StudyError::Input(format!(
                "invalid retries {retries}: must be 0 to {MAX_RETRIES}"
            )));
        }
        let data = match self.data_dir.clone().or(file.data_dir) {
            Some(dir) => DataSource::Dir(dir),
            None => DataSource::Embedded,
        };
        let layernas = LayerNasConfig {
            buckets: self.buckets.or(lf.buckets).unwrap_or(100),
            spacing: match self.spacing.or(lf.spacing).unwrap_or(SpacingName::Linear) {
                SpacingName::Linear => Spacing::Linear,
                SpacingName::Log => Spacing::Log,
            },
            keep: self.keep.or(lf.keep).unwrap_or(1),
            children_per_layer: self.children_per_layer.or(lf.children_per_layer),
            select: match self.select.or(lf.select).unwrap_or(SelectName::Kept) {
                SelectName::Kept => Selection::Kept,
                SelectName::Evaluated => Selection::Evaluated,
            },
            multi_fidelity: match self.fidelity.or(lf.fidelity) {
                Some(FidelityName::Multi) => Some(MultiFidelity {
                    promote: self.promote.or(lf.promote).unwrap_or(1),
                    bar: match self.promote_bar.or(lf.promote_bar) {
                        Some(PromoteBarName::Calibrated) => PromotionBar::Calibrated,
                        _ => PromotionBar::Incumbent,
                    },
                }),
                _ => None,
            },
            cap_focus: self.cap_focus.or(lf.cap_focus).unwrap_or(1),
        };
        if layernas.multi_fidelity.is_none() && self.promote_bar.or(lf.promote_bar).is_some() {
            return Err(StudyError::Input(
                "promote_bar is a knob of multi-fidelity LayerNAS: add fidelity = \"multi\" (--fidelity multi)"
                    .into(),
            ));
        }
        if layernas.multi_fidelity.is_none() && self.promote.or(lf.promote).is_some() {
            return Err(StudyError::Input(
                "promote is a knob of multi-fidelity LayerNAS: add fidelity = \"multi\" (--fidelity multi)"
                    .into(),
            ));
        }
        layernas.validate()?;
        let scope = Scope {
            window: CostWindow {
                min: self.min_cost.or(file.min_cost),
                max: self.max_cost.or(file.max_cost),
            },
            seed: self.seed.or(file.seed).unwrap_or(0),
        };
        scope.window.validate()?;
        let evaluator = self
            .evaluator
            .clone()
            .or(file.evaluator.clone())
            .map(|e| EvaluatorKind::parse(&e))
            .transpose()?;
        // The evaluator that will run: nb201 defaults to its table; network spaces have none.
        let runs = evaluator.or(space.is_table().then_some(EvaluatorKind::Table));
        let runs_name = runs.map_or("none", |e| e.name());
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
                    return Err(StudyError::Input(format!(
                        "unknown engine {other:?} (expected burn or torch)"
                    )))
                }
            };
        }
        if let Some(d) = &self.device {
            train.device = d.clone();
        }
        train.validate().map_err(StudyError::Input)?;
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
                return Err(StudyError::Input(format!(
                    "{flag} sets the built-in trainer, but the evaluator is {runs_name} (add \
                     --evaluator train)"
                )));
            }
        }
        if command.is_some() && runs_name != "command" {
            return Err(StudyError::Input(format!(
                "--command is run by --evaluator command, but the evaluator is {runs_name}"
            )));
        }
        let multi_fidelity = (strategy == "layernas" && layernas.multi_fidelity.is_some())
            || MULTI_FIDELITY_STRATEGIES.contains(&strategy.as_str());
        if multi_fidelity && runs_name == "train" && train.engine == Engine::Torch {
            return Err(StudyError::Input(
                "the torch engine does not train low-fidelity trials (its program ignores the \
                 trial's fidelity); a multi-fidelity search with the built-in trainer needs \
                 engine burn"
                    .into(),
            ));
        }
        if sim_time_scale > 0.0 && runs_name != "table" {
            return Err(StudyError::Input(format!(
                "--sim-time-scale scales the table's simulated training time, but the evaluator \
                 is {runs_name}"
            )));
        }
        let reward_column = self.reward_column.clone().or(file.reward_column);
        let test_column = self.test_column.clone().or(file.test_column);
        if runs_name != "table" {
            // A stored study carries the defaults; only other columns were asked for.
            for (flag, column, default) in [
                (
                    "--reward-column",
                    &reward_column,
                    dataset.shape().valid_column(),
                ),
                ("--test-column", &test_column, dataset.shape().test_column()),
            ] {
                if column.as_ref().is_some_and(|c| *c != default) {
                    return Err(StudyError::Input(format!(
                        "{flag} names a column of the benchmark table, but the evaluator is \
                         {runs_name}"
                    )));
                }
            }
        }
        // A measured latency table of a network space is kept by its absolute path, as the
        // space file.
        let cost = match self.cost.clone().or(file.cost) {
            Some(c) => CostName::parse(&c, &space)?,
            None => space.default_cost(),
        };
        let mut study = Study {
            train,
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
            space,
            strategy,
            strategies: StrategyConfig {
                scope,
                layernas,
                max_trials,
                evolution,
                reinforce,
                nsga2,
                random_batch: workers,
                halving,
            },
            reward_column: reward_column.unwrap_or_else(|| dataset.shape().valid_column()),
            test_column: test_column.unwrap_or_else(|| dataset.shape().test_column()),
            dataset,
            cost,
            max_trials,
            workers,
            data,
            data_spec,
        };
        study.file = study.to_file();
        Ok(study)
    }
}

impl Overrides {
    /// The user's data set: the study file's `[data]` table under `--data`, `--data-format`
    /// and `--image-size`, resolved (format detected, path absolute, settings checked).
    fn data_spec(&self, file: Option<DataSpec>) -> Result<Option<DataSpec>, StudyError> {
        let mut spec = match (&self.data, file) {
            (Some(path), Some(f)) => DataSpec {
                path: path.clone(),
                ..f
            },
            (Some(path), None) => DataSpec::new(path),
            (None, Some(f)) => f,
            (None, None) => {
                let flag = [
                    ("--data-format", self.data_format.is_some()),
                    ("--image-size", self.image_size.is_some()),
                ]
                .into_iter()
                .find_map(|(flag, set)| set.then_some(flag));
                return match flag {
                    Some(flag) => Err(StudyError::Input(format!(
                        "{flag} describes your data set: add --data PATH"
                    ))),
                    None => Ok(None),
                };
            }
        };
        if let Some(f) = &self.data_format {
            spec.format = Some(DataFormat::parse(f).map_err(StudyError::input)?);
        }
        if let Some(n) = self.image_size {
            spec.image_size = Some(n);
        }
        spec.resolve().map(Some).map_err(StudyError::input)
    }
}

impl Study {
    /// The study's LayerNAS strategy over `space` and `cost`: its knobs, cost window and seed.
    pub fn layernas(
        &self,
        space: std::sync::Arc<dyn layernas_core::SearchSpace>,
        cost: std::sync::Arc<dyn layernas_core::CostModel>,
    ) -> Result<layernas_search::LayerNas, StudyError> {
        layernas_search::LayerNas::new(
            self.strategies.layernas.clone(),
            self.strategies.scope,
            space,
            cost,
        )
        .map_err(StudyError::input)
    }

    /// The evaluator that runs: the one named, else the table where the space has one.
    pub fn evaluator_kind(&self) -> Option<EvaluatorKind> {
        self.evaluator
            .or(self.space.is_table().then_some(EvaluatorKind::Table))
    }

    /// The study stored as `json` under `name` (what workers, `status` and `export` rebuild).
    pub fn from_stored(name: &str, json: &str) -> Result<Study, StudyError> {
        Overrides::default().merge(StudyFile::from_stored(name, json)?)
    }

    /// The complete study file of this study: stored with it, so that workers and `status`
    /// can rebuild it.
    pub fn to_file(&self) -> StudyFile {
        let l = &self.strategies.layernas;
        let window = self.strategies.scope.window;
        let e = &self.strategies.evolution;
        let r = &self.strategies.reinforce;
        let n = &self.strategies.nsga2;
        StudyFile {
            space: Some(self.space.to_string()),
            // The user's data is named by its `[data]` table.
            dataset: self
                .data_spec
                .is_none()
                .then(|| self.dataset.name().to_string()),
            data: self.data_spec.clone(),
            cost: Some(self.cost.to_string()),
            min_cost: window.min,
            max_cost: window.max,
            reward_column: Some(self.reward_column.clone()),
            test_column: Some(self.test_column.clone()),
            seed: Some(self.strategies.scope.seed),
            max_trials: self.max_trials,
            workers: Some(self.workers),
            data_dir: match &self.data {
                DataSource::Dir(d) => Some(d.clone()),
                DataSource::Embedded => None,
            },
            store: None,
            study: Some(self.study.clone()),
            evaluator: self.evaluator.map(|e| e.name().to_string()),
            command: self.command.clone(),
            train: Some(self.train.clone()),
            retries: Some(self.retries),
            trial_timeout: self.trial_timeout,
            sim_time_scale: Some(self.sim_time_scale),
            strategy: Some(self.strategy.to_string()),
            layernas: Some(LayerNasFile {
                buckets: Some(l.buckets),
                spacing: Some(match l.spacing {
                    Spacing::Linear => SpacingName::Linear,
                    Spacing::Log => SpacingName::Log,
                }),
                keep: Some(l.keep),
                children_per_layer: l.children_per_layer,
                select: Some(match l.select {
                    Selection::Kept => SelectName::Kept,
                    Selection::Evaluated => SelectName::Evaluated,
                }),
                // Stored only for multi-fidelity studies, so that the hash of every other study
                // is what it was before fidelities existed.
                fidelity: l.multi_fidelity.map(|_| FidelityName::Multi),
                promote: l.multi_fidelity.map(|m| m.promote),
                promote_bar: l
                    .multi_fidelity
                    .filter(|m| m.bar == PromotionBar::Calibrated)
                    .map(|_| PromoteBarName::Calibrated),
                cap_focus: (l.cap_focus != 1).then_some(l.cap_focus),
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
            // Stored only for NSGA-II studies, so that the hash of every other study is what
            // it was before NSGA-II existed.
            nsga2: (self.strategy == "nsga2").then_some(Nsga2File {
                population: Some(n.population),
                crossover_prob: Some(n.crossover_prob),
                mutation_prob: n.mutation_prob,
            }),
            successive_halving: (self.strategy == "successive-halving").then_some(HalvingFile {
                rung: Some(self.strategies.halving.rung),
                eta: Some(self.strategies.halving.eta),
            }),
            allow_changed_config: None,
        }
    }

    /// Hash of what decides the study's trials: everything but the budget, workers, retries,
    /// timeouts, time scaling, data location, store and whether trials score the test set
    /// (`skip_test` changes no reward: a study resumes with it switched either way).
    pub fn config_hash(&self) -> String {
        let mut f = self.to_file();
        if let Some(train) = f.train.as_mut() {
            train.skip_test = false;
        }
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
    use std::path::Path;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    /// Stored studies are matched by this hash: typing the study (space, cost, cost window)
    /// must not change it. The values are what the release before those types stored for the
    /// same flags (read back from its SQLite stores).
    #[test]
    fn configuration_hashes_are_those_stored_before_the_typed_study() {
        let cases = [
            (
                Overrides {
                    max_trials: Some(3),
                    ..Overrides::default()
                },
                "da5ac3ccf8d47e20591f998ec20e451d2a1da070912b1e8ce76242df565965d7",
            ),
            (
                Overrides {
                    dataset: Some("cifar100".into()),
                    cost: Some("latency:pixel3".into()),
                    max_cost: Some(12.0),
                    seed: Some(7),
                    strategy: Some("evolution".into()),
                    max_trials: Some(3),
                    ..Overrides::default()
                },
                "9fbbd6e9cacd9bb4f31251a5accd853d5fb3e49e7b3a55cb4c99fd62565fb4bf",
            ),
            (
                Overrides {
                    space: Some("mobilenetv3-small".into()),
                    evaluator: Some("command".into()),
                    command: Some("echo 1".into()),
                    max_cost: Some(50.0),
                    max_trials: Some(1),
                    ..Overrides::default()
                },
                "9f4fcc59eb9aaf1a083e7f06a973f4bcc359ea577c446c14706e5f86dbe3a34e",
            ),
        ];
        for (overrides, hash) in cases {
            let study = overrides.resolve().unwrap();
            assert_eq!(study.config_hash(), hash, "{:?}", study.file);
        }
    }

    #[test]
    fn skipping_the_test_set_keeps_the_hash_and_the_recipe_does_not() {
        let hash = |train: &str| {
            let f = file(&format!(
                "space = \"mobilenetv2\"\nevaluator = \"train\"\ndataset = \"fashion-mnist\"\n[train]\n{train}"
            ));
            Overrides {
                config: Some(f.path().into()),
                ..Overrides::default()
            }
            .resolve()
            .unwrap()
            .config_hash()
        };
        let plain = hash("epochs = 3\n");
        assert_eq!(hash("epochs = 3\nskip_test = true\n"), plain);
        assert_ne!(hash("epochs = 4\nskip_test = true\n"), plain);
    }

    #[test]
    fn flags_override_the_file() {
        let f = file("dataset = \"cifar100\"\nmax_cost = 50.0\n[layernas]\nkeep = 3\n");
        let args = Overrides {
            config: Some(f.path().into()),
            max_cost: Some(70.0),
            ..Overrides::default()
        };
        let study = args.resolve().unwrap();
        assert_eq!(study.dataset, StudyDataset::Table(Dataset::Cifar100));
        assert_eq!(study.strategies.scope.window.max, Some(70.0));
        assert_eq!(study.strategies.layernas.keep, 3);
        assert_eq!(study.reward_column, "cifar100_valid");
    }

    #[test]
    fn the_train_table_sets_the_proxy() {
        let f = file("space = \"mobilenetv2\"\nevaluator = \"train\"\ndataset = \"fashion-mnist\"\n[train]\nepochs = 3\noptimizer = \"adam\"\nschedule = \"constant\"\nwidth = 0.5\n");
        let args = Overrides {
            config: Some(f.path().into()),
            ..Overrides::default()
        };
        let study = args.resolve().unwrap();
        assert_eq!(study.train.epochs, 3);
        assert_eq!(study.train.width, 0.5);
        assert_eq!(study.dataset.name(), "fashion-mnist");
        let bad = file("[train]\noptimiser = \"adam\"\n");
        let args = Overrides {
            config: Some(bad.path().into()),
            ..Overrides::default()
        };
        let err = args.resolve().unwrap_err().to_string();
        assert!(err.contains("unknown field `optimiser`"), "{err}");
    }

    /// The error of a study file's text merged under `args`.
    fn file_error(text: &str, args: Overrides) -> String {
        let f = file(text);
        let args = Overrides {
            config: Some(f.path().into()),
            ..args
        };
        let e = args.resolve().expect_err("accepted").to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    fn flag_error(args: Overrides) -> String {
        let e = args.resolve().expect_err("accepted").to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    #[test]
    fn extreme_numbers_are_refused_with_their_range() {
        let e = flag_error(Overrides {
            trial_timeout: Some(1e300),
            ..Overrides::default()
        });
        assert!(
            e.contains("invalid trial_timeout 1e300") && e.contains("at most 1e7"),
            "{e}"
        );
        let e = file_error("trial_timeout = 1e300\n", Overrides::default());
        assert!(e.contains("invalid trial_timeout"), "{e}");
        let e = flag_error(Overrides {
            strategy: Some("reinforce".into()),
            learning_rate: Some(1e308),
            ..Overrides::default()
        });
        assert!(
            e.contains("invalid learning_rate") && e.contains("at most 10"),
            "{e}"
        );
        let e = file_error("[reinforce]\nlearning_rate = 1e308\n", Overrides::default());
        assert!(e.contains("invalid learning_rate"), "{e}");
        let e = flag_error(Overrides {
            buckets: Some(usize::MAX),
            ..Overrides::default()
        });
        assert!(
            e.contains("invalid buckets 18446744073709551615: must be 1 to 1000000"),
            "{e}"
        );
        let e = flag_error(Overrides {
            keep: Some(usize::MAX),
            ..Overrides::default()
        });
        assert!(e.contains("invalid keep"), "{e}");
        let e = file_error("[layernas]\nbuckets = 4294967296\n", Overrides::default());
        assert!(e.contains("invalid buckets 4294967296"), "{e}");
        let e = flag_error(Overrides {
            workers: Some(1_000_000),
            ..Overrides::default()
        });
        assert!(
            e.contains("invalid workers 1000000: must be 0 to 1024"),
            "{e}"
        );
        let e = flag_error(Overrides {
            retries: Some(u32::MAX),
            ..Overrides::default()
        });
        assert!(e.contains("invalid retries"), "{e}");
        let e = flag_error(Overrides {
            sim_time_scale: Some(1e300),
            ..Overrides::default()
        });
        assert!(e.contains("invalid sim_time_scale"), "{e}");
        let e = file_error("max_cost = -1.0\n", Overrides::default());
        assert!(e.contains("invalid max_cost -1: must be 0 or more"), "{e}");
        let e = flag_error(Overrides {
            min_cost: Some(f64::NAN),
            ..Overrides::default()
        });
        assert!(e.contains("invalid min_cost NaN"), "{e}");
        let e = flag_error(Overrides {
            population: Some(4),
            sample_size: Some(5),
            ..Overrides::default()
        });
        assert!(
            e.contains("invalid sample_size 5: must be 1 to the population (4)"),
            "{e}"
        );
        let e = file_error("[evolution]\nsample_size = 11\n", Overrides::default());
        assert!(e.contains("invalid sample_size 11"), "{e}");
    }

    #[test]
    fn silently_ignored_inputs_are_refused() {
        let e = flag_error(Overrides {
            store: Some(String::new()),
            ..Overrides::default()
        });
        assert!(e.contains("invalid store \"\""), "{e}");
        let e = flag_error(Overrides {
            study: Some(" ".into()),
            ..Overrides::default()
        });
        assert!(e.contains("invalid study"), "{e}");
        let e = flag_error(Overrides {
            command: Some("true".into()),
            ..Overrides::default()
        });
        assert!(
            e.contains("--command is run by --evaluator command, but the evaluator is table"),
            "{e}"
        );
        let e = flag_error(Overrides {
            epochs: Some(3),
            ..Overrides::default()
        });
        assert!(
            e.contains("--epochs sets the built-in trainer, but the evaluator is table"),
            "{e}"
        );
        let e = flag_error(Overrides {
            engine: Some("torch".into()),
            ..Overrides::default()
        });
        assert!(e.contains("--engine sets the built-in trainer"), "{e}");
        let e = file_error("[train]\nepochs = 5\n", Overrides::default());
        assert!(
            e.contains("the [train] table sets the built-in trainer"),
            "{e}"
        );
        let e = flag_error(Overrides {
            space: Some("mobilenetv2".into()),
            evaluator: Some("command".into()),
            epochs: Some(3),
            ..Overrides::default()
        });
        assert!(e.contains("but the evaluator is command"), "{e}");
        let e = flag_error(Overrides {
            space: Some("mobilenetv2".into()),
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("train".into()),
            reward_column: Some("cifar10_test".into()),
            ..Overrides::default()
        });
        assert!(
            e.contains("--reward-column names a column of the benchmark table"),
            "{e}"
        );
        let e = flag_error(Overrides {
            space: Some("mobilenetv2".into()),
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("train".into()),
            sim_time_scale: Some(0.5),
            ..Overrides::default()
        });
        assert!(e.contains("--sim-time-scale"), "{e}");
        // The knobs of the evaluator that runs are fine.
        Overrides {
            space: Some("mobilenetv2".into()),
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("train".into()),
            epochs: Some(3),
            engine: Some("torch".into()),
            ..Overrides::default()
        }
        .resolve()
        .unwrap();
        Overrides {
            evaluator: Some("command".into()),
            command: Some("true".into()),
            ..Overrides::default()
        }
        .resolve()
        .unwrap();
    }

    #[test]
    fn fashion_mnist_is_no_table_dataset() {
        let e = flag_error(Overrides {
            dataset: Some("fashion-mnist".into()),
            ..Overrides::default()
        });
        assert!(
            e.contains("dataset fashion-mnist has no NAS-Bench-201 table"),
            "{e}"
        );
        let e = flag_error(Overrides {
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("command".into()),
            command: Some("true".into()),
            ..Overrides::default()
        });
        assert!(e.contains("has no NAS-Bench-201 table"), "{e}");
        let study = Overrides {
            space: Some("mobilenetv2".into()),
            dataset: Some("fashion-mnist".into()),
            evaluator: Some("command".into()),
            command: Some("true".into()),
            ..Overrides::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(study.dataset.name(), "fashion-mnist");
    }

    #[test]
    fn allow_changed_config_is_a_study_file_key_never_stored() {
        let f = file("allow_changed_config = true\n");
        let study = Overrides {
            config: Some(f.path().into()),
            ..Overrides::default()
        }
        .resolve()
        .unwrap();
        assert!(study.allow_changed_config);
        let plain = Overrides::default().resolve().unwrap();
        assert_eq!(study.config_hash(), plain.config_hash());
        assert_eq!(study.spec().config, plain.spec().config);
        assert!(!study.spec().config.contains("allow_changed_config"));
    }

    #[test]
    fn every_stored_study_rebuilds() {
        // What `to_file` stores must pass validation again (workers rebuild studies from it).
        for args in [
            Overrides::default(),
            Overrides {
                space: Some("mobilenetv2".into()),
                dataset: Some("fashion-mnist".into()),
                evaluator: Some("train".into()),
                epochs: Some(1),
                ..Overrides::default()
            },
            Overrides {
                space: Some("mobilenetv2".into()),
                evaluator: Some("command".into()),
                command: Some("true".into()),
                max_cost: Some(100.0),
                ..Overrides::default()
            },
            Overrides {
                strategy: Some("evolution".into()),
                sim_time_scale: Some(0.001),
                reward_column: Some("e12_cifar10_valid".into()),
                ..Overrides::default()
            },
        ] {
            let study = args.resolve().unwrap();
            let rebuilt = Overrides::default().merge(study.file.clone()).unwrap();
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
            if let Ok(file) = StudyFile::parse(&text, path) {
                if let Err(e) = Overrides::default().merge(file) {
                    proptest::prop_assert!(!e.to_string().contains('\n'), "{}", e);
                }
            }
        }

        /// Known keys with extreme values: a valid study (whose stored file rebuilds it) or a
        /// one-line error.
        #[test]
        fn extreme_study_files_are_refused_or_valid(text in study_text()) {
            match StudyFile::parse(&text, Path::new("s.toml")) {
                Err(e) => proptest::prop_assert!(!e.to_string().contains('\n'), "{}", e),
                Ok(file) => match Overrides::default().merge(file) {
                    Err(e) => proptest::prop_assert!(!e.to_string().contains('\n'), "{}", e),
                    Ok(study) => {
                        let rebuilt = Overrides::default().merge(study.file.clone());
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
        let args = Overrides {
            config: Some(f.path().into()),
            ..Overrides::default()
        };
        let err = args.resolve().unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("bukets"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn nsga2_knobs_come_from_flags_and_its_table() {
        let f = file(
            "strategy = \"nsga2\"\n[nsga2]\ncrossover_prob = 0.5\n[evolution]\npopulation = 7\n",
        );
        let study = Overrides {
            config: Some(f.path().into()),
            population: Some(30),
            ..Overrides::default()
        }
        .resolve()
        .unwrap();
        let n = &study.strategies.nsga2;
        assert_eq!((n.population, n.crossover_prob), (30, 0.5));
        // --population went to the strategy that runs; evolution keeps its table's.
        assert_eq!(study.strategies.evolution.population, 7);
        let rebuilt = Overrides::default().merge(study.file.clone()).unwrap();
        assert_eq!(rebuilt.config_hash(), study.config_hash());
        assert_eq!(rebuilt.strategies.nsga2.population, 30);
        let e = flag_error(Overrides {
            strategy: Some("nsga2".into()),
            mutation_prob: Some(0.0),
            ..Overrides::default()
        });
        assert!(e.contains("mutation"), "{e}");
        let e = flag_error(Overrides {
            crossover_prob: Some(0.5),
            ..Overrides::default()
        });
        assert!(
            e.contains(
                "--crossover-prob is a knob of --strategy nsga2, but the strategy is layernas"
            ),
            "{e}"
        );
    }

    #[test]
    fn cap_focus_comes_from_the_flag_or_the_table_and_is_stored_only_when_on() {
        let f = file("max_cost = 60.0\n[layernas]\ncap_focus = 3\n");
        let study = Overrides {
            config: Some(f.path().into()),
            ..Overrides::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(study.strategies.layernas.cap_focus, 3);
        assert!(
            study.spec().config.contains("\"cap_focus\":3"),
            "{}",
            study.spec().config
        );
        let rebuilt = Overrides::default().merge(study.file.clone()).unwrap();
        assert_eq!(rebuilt.config_hash(), study.config_hash());
        let flag = Overrides {
            config: Some(f.path().into()),
            cap_focus: Some(2),
            ..Overrides::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(flag.strategies.layernas.cap_focus, 2);
        // Off (1) is not stored: every other study keeps its hash.
        let off = Overrides {
            cap_focus: Some(1),
            ..Overrides::default()
        }
        .resolve()
        .unwrap();
        assert!(!off.spec().config.contains("cap_focus"));
        assert_eq!(
            off.config_hash(),
            Overrides::default().resolve().unwrap().config_hash()
        );
        let e = flag_error(Overrides {
            cap_focus: Some(0),
            max_cost: Some(60.0),
            ..Overrides::default()
        });
        assert!(e.contains("cap_focus 0"), "{e}");
        let e = flag_error(Overrides {
            strategy: Some("random".into()),
            cap_focus: Some(2),
            ..Overrides::default()
        });
        assert!(
            e.contains("--cap-focus is a knob of --strategy layernas"),
            "{e}"
        );
    }

    #[test]
    fn studies_of_other_strategies_store_no_nsga2_table() {
        // Their configuration hash is what it was before NSGA-II existed, so they resume.
        let study = Overrides::default().resolve().unwrap();
        assert!(
            !study.spec().config.contains("nsga2"),
            "{}",
            study.spec().config
        );
    }
}
