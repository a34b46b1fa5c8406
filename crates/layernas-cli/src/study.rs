//! The flags that define a study, over the study file: turned into the study library's
//! [`Overrides`] and resolved there (validation, defaults and errors live in the library).

use clap::Args;
use layernas_study::file::{FidelityName, PromoteBarName, SelectName, SpacingName};
use layernas_study::{Overrides, Study, StudyError};
use std::path::PathBuf;

/// The user's data set: `layernas search` and `layernas train` (so a search's winner trains on
/// the same images) share these flags.
#[derive(Debug, Default, Args)]
pub struct DataArgs {
    /// Your data set for the built-in trainer (and the command evaluator's context): an image
    /// folder (train/<class>/*.png|jpg, optional val/ and test/), CIFAR-10/100 binary batches,
    /// or IDX files. Decoded once and cached ($LAYERNAS_DATA_CACHE, default ~/.cache/layernas).
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Format of --data: imagefolder, cifar or idx [default: detected from its files].
    #[arg(long, value_name = "FORMAT")]
    pub data_format: Option<String>,
    /// Image folders (--data): the side images are resized (shorter side) and centre-cropped
    /// to, 1 to 1024 [default: 32].
    #[arg(long, value_name = "PIXELS")]
    pub image_size: Option<u32>,
}

impl DataArgs {
    /// `overrides` with these flags set.
    pub fn apply(&self, overrides: Overrides) -> Overrides {
        Overrides {
            data: self.data.clone(),
            data_format: self.data_format.clone(),
            image_size: self.image_size,
            ..overrides
        }
    }
}

/// Flags shared by commands that define a study.
#[derive(Debug, Default, Args)]
pub struct StudyArgs {
    /// Study file (TOML); flags override its values.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Strategy: layernas, random, evolution, reinforce, nsga2, exhaustive, successive-halving
    /// [default: layernas].
    #[arg(long)]
    pub strategy: Option<String>,
    /// Search space: nb201, mobilenetv2, mobilenetv3-large, mobilenetv3-small, nats-sss, or a
    /// .toml space file [default: nb201].
    #[arg(long)]
    pub space: Option<String>,
    /// Dataset: cifar10, cifar100, imagenet16 (the benchmark table's; nats-sss takes its input
    /// size and classes from it) or fashion-mnist (the built-in trainer's) [default: cifar10;
    /// your own images: --data].
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
    /// The user's data set.
    #[command(flatten)]
    pub data: DataArgs,
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
    pub spacing: Option<SpacingName>,
    /// LayerNAS: candidates kept per bucket, K, 1 to 1000000 [default: 1].
    #[arg(long, value_name = "K")]
    pub keep: Option<usize>,
    /// LayerNAS: sample N children per layer (at least 1) instead of expanding all.
    #[arg(long, value_name = "N")]
    pub children_per_layer: Option<usize>,
    /// LayerNAS: choose the answer from the last layer's kept candidates or from every
    /// evaluated model [default: kept].
    #[arg(long, value_enum)]
    pub select: Option<SelectName>,
    /// Evolution and NSGA-II: population size, 1 to 1000000 for evolution [default: 10], 2 to
    /// 10000 for NSGA-II [default: 20].
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
    /// NSGA-II: probability of uniform crossover, 0 to 1 [default: 0.9].
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub crossover_prob: Option<f64>,
    /// NSGA-II: per-layer mutation probability, above 0 and at most 1 [default: 1/layers].
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub mutation_prob: Option<f64>,
    /// LayerNAS: single (every trial at full fidelity) or multi (each layer's children first at
    /// low fidelity; the best per bucket promoted to full fidelity) [default: single].
    #[arg(long, value_enum)]
    pub fidelity: Option<FidelityName>,
    /// Multi-fidelity LayerNAS: children promoted to full fidelity per bucket and layer, 1 to
    /// 1000000 [default: 1].
    #[arg(long, value_name = "N")]
    pub promote: Option<usize>,
    /// Multi-fidelity LayerNAS: what a full bucket's challengers must beat at low fidelity:
    /// incumbent (the K-th's own low-fidelity reward) or calibrated (the lower of that and what
    /// a line fitted to every model known at both fidelities maps to its full-fidelity reward)
    /// [default: incumbent].
    #[arg(long, value_enum)]
    pub promote_bar: Option<PromoteBarName>,
    /// LayerNAS: cap focus F, 1 (off) to 1000000; above 1 it needs --max-cost. The last layer's
    /// parents come from the buckets nearest the cap, F x K per bucket, as many as K per bucket
    /// would keep: a better answer at the cap, for the same trial bound, but worse answers for
    /// cheaper targets [default: 1].
    #[arg(long, value_name = "F")]
    pub cap_focus: Option<usize>,
    /// Successive halving: models sampled per bracket, 1 to 1000000 [default: 20].
    #[arg(long, value_name = "N")]
    pub rung: Option<usize>,
    /// Successive halving: one in ETA of a bracket goes on to full fidelity, 2 to 1000000
    /// [default: 4].
    #[arg(long, value_name = "ETA")]
    pub eta: Option<usize>,
}

impl StudyArgs {
    /// The flags as the library's overrides of the study file.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            strategy: self.strategy.clone(),
            space: self.space.clone(),
            dataset: self.dataset.clone(),
            cost: self.cost.clone(),
            min_cost: self.min_cost,
            max_cost: self.max_cost,
            reward_column: self.reward_column.clone(),
            test_column: self.test_column.clone(),
            seed: self.seed,
            max_trials: self.max_trials,
            workers: self.workers,
            data_dir: self.data_dir.clone(),
            data: self.data.data.clone(),
            data_format: self.data.data_format.clone(),
            image_size: self.data.image_size,
            store: self.store.clone(),
            evaluator: self.evaluator.clone(),
            epochs: self.epochs,
            train_subset: self.train_subset,
            train_threads: self.train_threads,
            engine: self.engine.clone(),
            device: self.device.clone(),
            command: self.command.clone(),
            study: self.study.clone(),
            allow_changed_config: self.allow_changed_config,
            retries: self.retries,
            trial_timeout: self.trial_timeout,
            sim_time_scale: self.sim_time_scale,
            buckets: self.buckets,
            spacing: self.spacing,
            keep: self.keep,
            children_per_layer: self.children_per_layer,
            select: self.select,
            population: self.population,
            sample_size: self.sample_size,
            mutated_layers: self.mutated_layers,
            learning_rate: self.learning_rate,
            baseline_momentum: self.baseline_momentum,
            crossover_prob: self.crossover_prob,
            mutation_prob: self.mutation_prob,
            fidelity: self.fidelity,
            promote: self.promote,
            promote_bar: self.promote_bar,
            cap_focus: self.cap_focus,
            rung: self.rung,
            eta: self.eta,
        }
    }

    /// Merges the study file (if any) under the flags and validates the result.
    pub fn resolve(&self) -> Result<Study, StudyError> {
        self.overrides().resolve()
    }
}
