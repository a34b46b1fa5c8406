//! One network trained properly into an output folder (`layernas train`): a checkpoint after
//! every epoch, resumed by running the same command again, and the results as files.
//!
//! The folder holds `run.json` (what is trained: network, recipe, seed, data; a resumed run
//! must match it), `network.json` (the network description), `state.json` and `checkpoint-N/`
//! (the last finished epoch: model and optimizer state as burnpack files, the step count and the
//! plan's position), `metrics.json` (per epoch: loss, validation and test accuracy, seconds),
//! `training.png`/`training.svg` (the curves) and, at the end, `model.safetensors` (the weights,
//! named after the lowering's blocks and parts: [`layernas_proxy::Weights`], the one weights
//! format, which `layernas export-model` reads). Checkpoints keep burn's own records instead:
//! the optimizer's state is keyed to the model record's parameter ids.
//!
//! Each file is written to a temporary name and renamed, and `state.json` names the checkpoint
//! folder only once that folder is complete, so a kill at any moment leaves the last finished
//! epoch to resume from. Resuming restores the model's parameters and running statistics, the
//! optimizer's state (momentum or Adam's moments, keyed by the parameters' ids, which the model
//! record keeps), the step count (the learning-rate schedule) and the plan's image order and
//! the positions of its shuffling and augmentation generators; nothing else in training is
//! random, so a resumed run gives the same numbers as one never stopped, augmented or not.

use crate::evaluator::seeded_model;
use crate::train::{Trainer, TrainerState};
use burn::prelude::Device;
use layernas_core::{Cancel, EvalError};
use layernas_plot::{write_stacked, Chart, Series};
use layernas_proxy::{DataSpec, Engine, ImageData, TrainConfig, Weights};
use layernas_spaces::network::Network;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The network description of a run folder (written when the run starts).
pub const NETWORK_FILE: &str = "network.json";
/// The trained weights of a run folder (written when its training has finished).
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The last complete checkpoint of a run folder (present while its training goes on).
pub const STATE_FILE: &str = "state.json";
/// What a run folder's network expects as input ([`InputSpec`], written with the weights).
pub const INPUT_FILE: &str = "input.json";

/// What a trained network expects as input, for whoever deploys it: images of `shape`, each
/// pixel scaled to [0, 1] and normalised per channel, `(pixel / 255 - mean[c]) / std[c]`, in
/// NCHW batches; its logits are in the order of `classes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// `[channels, height, width]` of one image.
    pub shape: [usize; 3],
    /// Per-channel mean of the training images' values in [0, 1].
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of the training images' values.
    pub std: Vec<f32>,
    /// Class names, in the order of the logits.
    pub classes: Vec<String>,
}

impl InputSpec {
    /// The input of networks trained on `data`.
    pub fn of(data: &ImageData) -> InputSpec {
        let train = &data.train;
        InputSpec {
            shape: [train.channels, train.rows, train.cols],
            mean: train.mean.clone(),
            std: train.std.clone(),
            classes: data.class_names.clone(),
        }
    }

    /// Whether this describes `network`'s input: one mean and standard deviation per channel,
    /// the network's image shape, and (when it names classes) one name per logit.
    pub fn check(&self, network: &Network) -> Result<(), String> {
        let channels = self.shape[0];
        if self.mean.len() != channels || self.std.len() != channels {
            return Err(format!(
                "{channels} channels but {} means and {} standard deviations",
                self.mean.len(),
                self.std.len()
            ));
        }
        let input = &network.input;
        let (c, r) = (input.channels as usize, input.resolution as usize);
        if self.shape != [c, r, r] {
            return Err(format!(
                "input shape {:?} is not the network's {:?}",
                self.shape,
                [c, r, r]
            ));
        }
        let classes = layernas_proxy::lower(network)
            .map_err(|e| e.to_string())?
            .classes;
        if !self.classes.is_empty() && self.classes.len() != classes {
            return Err(format!(
                "{} class names for a network of {classes} classes",
                self.classes.len()
            ));
        }
        Ok(())
    }
}

/// What a finished run left in its folder ([`load_trained`]).
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// The network trained ([`NETWORK_FILE`]).
    pub network: Network,
    /// Its trained weights ([`WEIGHTS_FILE`]).
    pub weights: Weights,
    /// The input it expects ([`INPUT_FILE`]); `None` for a folder written before layernas
    /// recorded it.
    pub input: Option<InputSpec>,
}

/// What a run trains; a resumed run must be given the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The network trained (already a proxy and adapted to the data, if it is one).
    pub network: Network,
    /// The recipe.
    pub recipe: TrainConfig,
    /// The seed of the initialisation and of the batches.
    pub seed: u64,
    /// The data set's name.
    pub dataset: String,
    /// Where Fashion-MNIST's files are (`None`: the embedded subset).
    pub data_dir: Option<PathBuf>,
    /// The user's data set (`--data`), resolved, where the run trains on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataSpec>,
}

/// One epoch's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Mean training loss over its batches.
    pub loss: f64,
    /// Validation accuracy (%) after it.
    pub valid_accuracy: f64,
    /// Test accuracy (%) after it (reported only; `None` when the data has no test images or
    /// the recipe skips them, [`layernas_proxy::TrainConfig::skip_test`]).
    pub test_accuracy: Option<f64>,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Seconds of measuring the accuracies.
    pub eval_seconds: f64,
}

/// What happens during a run, for the caller's progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent<'a> {
    /// Training starts (or goes on after `resumed_epochs` epochs of an earlier run).
    Started {
        /// Epochs already trained by an earlier run of the folder.
        resumed_epochs: usize,
        /// Epochs in all.
        epochs: usize,
        /// Batches per epoch.
        batches: usize,
    },
    /// A batch of epoch `epoch` (from 1) is done.
    Batch {
        /// The epoch.
        epoch: usize,
        /// Batches done in it.
        done: usize,
    },
    /// An epoch is done and checkpointed.
    Epoch(&'a EpochMetrics),
}

/// Why a run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The output folder holds another run.
    #[error("output folder {dir} holds the training of {what}; use --restart to replace it, or another --output")]
    Stale {
        /// The folder.
        dir: String,
        /// What differs.
        what: String,
    },
    /// A bad setting.
    #[error("{0}")]
    Input(String),
    /// The run folder's training has not finished: it has no trained weights yet.
    #[error(
        "{dir} has no {weights} yet: its training has not finished (run the same layernas train again to resume it)",
        weights = WEIGHTS_FILE
    )]
    Unfinished {
        /// The folder.
        dir: String,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {reason}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Training failed or was cancelled.
    #[error("training failed: {0}")]
    Train(#[from] EvalError),
}

impl RunError {
    /// Whether the error is the user's input (a stale folder, a bad setting, an unfinished run).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            RunError::Stale { .. } | RunError::Input(_) | RunError::Unfinished { .. }
        )
    }
}

/// What a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The output folder.
    pub output: PathBuf,
    /// Epochs trained by an earlier run of the folder (0 for a fresh one).
    pub resumed_epochs: usize,
    /// Every epoch's measurements, the earlier runs' included.
    pub epochs: Vec<EpochMetrics>,
    /// Training images per epoch.
    pub train_images: usize,
    /// Validation images.
    pub valid_images: usize,
    /// Test images.
    pub test_images: usize,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// `run.json`.
#[derive(Serialize, Deserialize)]
struct RunFile {
    spec: RunSpec,
    about: serde_json::Value,
}

/// `state.json`: the last complete checkpoint.
#[derive(Serialize, Deserialize)]
struct StateFile {
    checkpoint: String,
    trainer: TrainerState,
    epochs: Vec<EpochMetrics>,
}

/// `metrics.json`.
#[derive(Serialize)]
struct MetricsFile<'a> {
    about: &'a serde_json::Value,
    dataset: &'a str,
    seed: u64,
    recipe: &'a TrainConfig,
    train_images: usize,
    valid_images: usize,
    test_images: usize,
    finished: bool,
    epochs: &'a [EpochMetrics],
}

/// The files of a run folder, removed by `--restart` (nothing else in the folder is touched).
const RUN_FILES: &[&str] = &[
    "run.json",
    STATE_FILE,
    NETWORK_FILE,
    "metrics.json",
    WEIGHTS_FILE,
    INPUT_FILE,
    "training.png",
    "training.svg",
];

fn io(action: &'static str, path: &Path, e: impl std::fmt::Display) -> RunError {
    RunError::Io {
        action,
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename: a kill leaves the old file
/// or the new one, never half of one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("write", path, e))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(value).expect("run files serialize") + "\n";
    write_atomic(path, text.as_bytes())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, RunError> {
    let text = std::fs::read_to_string(path).map_err(|e| io("read", path, e))?;
    serde_json::from_str(&text).map_err(|e| io("read", path, e))
}

/// The first place where two JSON values differ, as `key.key: old -> new`.
fn first_difference(path: &str, old: &serde_json::Value, new: &serde_json::Value) -> String {
    use serde_json::Value;
    if let (Value::Object(a), Value::Object(b)) = (old, new) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let (x, y) = (a.get(k), b.get(k));
            if x != y {
                let inner = format!("{path}{}{k}", if path.is_empty() { "" } else { "." });
                return first_difference(
                    &inner,
                    x.unwrap_or(&Value::Null),
                    y.unwrap_or(&Value::Null),
                );
            }
        }
    }
    let short = |v: &Value| {
        let s = v.to_string();
        if s.chars().count() > 60 {
            format!("{}...", s.chars().take(57).collect::<String>())
        } else {
            s
        }
    };
    format!("{path}: {} here, {} asked", short(old), short(new))
}

/// Describes how the stored run differs from `spec`, or `None` if it does not.
fn difference(stored: &RunSpec, spec: &RunSpec) -> Option<String> {
    if stored == spec {
        return None;
    }
    let what = if stored.network != spec.network {
        "another network"
    } else if stored.recipe != spec.recipe {
        "another recipe"
    } else {
        "another seed or data set"
    };
    let (a, b) = (
        serde_json::to_value(stored).expect("a spec serializes"),
        serde_json::to_value(spec).expect("a spec serializes"),
    );
    Some(format!("{what} ({})", first_difference("", &a, &b)))
}

/// Prepares `dir`: refuses another run's folder unless `restart` (which removes that run's
/// files), and returns the state to resume from, if any.
fn prepare(
    dir: &Path,
    spec: &RunSpec,
    about: &serde_json::Value,
    restart: bool,
) -> Result<Option<StateFile>, RunError> {
    if dir.exists() && !dir.is_dir() {
        return Err(RunError::Input(format!(
            "output {} exists and is not a folder",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| io("write", dir, e))?;
    let run_path = dir.join("run.json");
    if run_path.exists() && !restart {
        let stored: RunFile = read_json(&run_path)?;
        if let Some(what) = difference(&stored.spec, spec) {
            return Err(RunError::Stale {
                dir: dir.display().to_string(),
                what,
            });
        }
        let state_path = dir.join(STATE_FILE);
        if state_path.exists() {
            return Ok(Some(read_json(&state_path)?));
        }
    } else if restart {
        for name in RUN_FILES {
            let p = dir.join(name);
            if p.exists() {
                std::fs::remove_file(&p).map_err(|e| io("write", &p, e))?;
            }
        }
        remove_checkpoints(dir, None)?;
    }
    write_json(
        &run_path,
        &RunFile {
            spec: spec.clone(),
            about: about.clone(),
        },
    )?;
    write_json(&dir.join(NETWORK_FILE), &spec.network)?;
    Ok(None)
}

/// Removes the checkpoint folders of `dir` but `keep`.
fn remove_checkpoints(dir: &Path, keep: Option<&str>) -> Result<(), RunError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io("read", dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("checkpoint-") && Some(name.as_str()) != keep {
            std::fs::remove_dir_all(entry.path()).map_err(|e| io("write", &entry.path(), e))?;
        }
    }
    Ok(())
}

/// Trains `spec` on `data` into folder `output` (resuming the run found there, refusing another
/// one unless `restart`); `about` (where the network came from) is stored with the results.
/// Training runs on a pool of `spec.recipe.threads` threads and stops at the next batch once
/// `cancel` is set.
pub fn train_into(
    spec: &RunSpec,
    about: &serde_json::Value,
    data: &ImageData,
    output: &Path,
    restart: bool,
    cancel: &Cancel,
    on_event: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<RunReport, RunError> {
    if spec.recipe.engine != Engine::Burn {
        return Err(RunError::Input(format!(
            "layernas train trains with the burn engine only (the {} engine's program trains one \
             trial without checkpoints); use --engine burn",
            spec.recipe.engine.name()
        )));
    }
    spec.recipe.validate().map_err(RunError::Input)?;
    let state = prepare(output, spec, about, restart)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(spec.recipe.threads)
        .build()
        .map_err(|e| RunError::Input(format!("cannot start training threads: {e}")))?;
    pool.install(|| run(spec, about, data, output, state, cancel, on_event))
}

fn run(
    spec: &RunSpec,
    about: &serde_json::Value,
    data: &ImageData,
    dir: &Path,
    state: Option<StateFile>,
    cancel: &Cancel,
    on_event: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<RunReport, RunError> {
    let device = Device::flex().autodiff();
    let model = seeded_model(&spec.network, &device, spec.seed)?;
    let mut trainer = Trainer::new(model, data, &spec.recipe, spec.seed, &device);
    let mut epochs = Vec::new();
    if let Some(state) = state {
        trainer
            .restore(&dir.join(&state.checkpoint), &state.trainer)
            .map_err(|e| RunError::Io {
                action: "read",
                path: dir.join(STATE_FILE).display().to_string(),
                reason: e,
            })?;
        epochs = state.epochs;
    }
    let resumed_epochs = trainer.epochs_done();
    let batches = trainer
        .train_images()
        .div_ceil(spec.recipe.batch_size.max(1));
    on_event(RunEvent::Started {
        resumed_epochs,
        epochs: spec.recipe.epochs,
        batches,
    });
    let counts = (
        trainer.train_images(),
        trainer.valid_images(),
        data.test.len(),
    );
    while trainer.epochs_done() < spec.recipe.epochs {
        let epoch = trainer.epochs_done() + 1;
        let started = Instant::now();
        let loss = trainer.epoch(cancel, &mut |done, _| {
            on_event(RunEvent::Batch { epoch, done })
        })?;
        let train_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let (valid_accuracy, test_accuracy) = trainer.evaluate(cancel)?;
        epochs.push(EpochMetrics {
            epoch,
            loss: loss.mean_loss,
            valid_accuracy,
            test_accuracy,
            train_seconds,
            eval_seconds: started.elapsed().as_secs_f64(),
        });
        checkpoint(dir, &trainer, &epochs)?;
        write_results(dir, spec, about, counts, &epochs, false)?;
        on_event(RunEvent::Epoch(epochs.last().expect("just pushed")));
    }
    let mut files = write_results(dir, spec, about, counts, &epochs, true)?;
    let input = dir.join(INPUT_FILE);
    write_json(&input, &InputSpec::of(data))?;
    files.push(input);
    let weights = dir.join(WEIGHTS_FILE);
    write_atomic(&weights, &trainer.model().weights().to_safetensors())?;
    files.push(weights);
    Ok(RunReport {
        output: dir.to_path_buf(),
        resumed_epochs,
        epochs,
        train_images: counts.0,
        valid_images: counts.1,
        test_images: counts.2,
        files,
    })
}

/// Saves the trainer into `checkpoint-<epochs>/`, then points `state.json` at it and removes
/// the older checkpoint.
fn checkpoint(dir: &Path, trainer: &Trainer, epochs: &[EpochMetrics]) -> Result<(), RunError> {
    let name = format!("checkpoint-{}", trainer.epochs_done());
    let folder = dir.join(&name);
    if folder.exists() {
        std::fs::remove_dir_all(&folder).map_err(|e| io("write", &folder, e))?;
    }
    std::fs::create_dir_all(&folder).map_err(|e| io("write", &folder, e))?;
    let trainer_state = trainer
        .save(&folder)
        .map_err(|reason| io("write", &folder, reason))?;
    write_json(
        &dir.join(STATE_FILE),
        &StateFile {
            checkpoint: name.clone(),
            trainer: trainer_state,
            epochs: epochs.to_vec(),
        },
    )?;
    remove_checkpoints(dir, Some(&name))
}

/// Writes `metrics.json` and the training curves; returns their paths.
fn write_results(
    dir: &Path,
    spec: &RunSpec,
    about: &serde_json::Value,
    (train_images, valid_images, test_images): (usize, usize, usize),
    epochs: &[EpochMetrics],
    finished: bool,
) -> Result<Vec<PathBuf>, RunError> {
    let metrics = dir.join("metrics.json");
    write_json(
        &metrics,
        &MetricsFile {
            about,
            dataset: &spec.dataset,
            seed: spec.seed,
            recipe: &spec.recipe,
            train_images,
            valid_images,
            test_images,
            finished,
            epochs,
        },
    )?;
    let points = |f: fn(&EpochMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .filter_map(|e| Some((e.epoch as f64, f(e)?)))
            .collect()
    };
    let mut accuracy = vec![Series::line(
        "validation",
        points(|e| Some(e.valid_accuracy)),
    )];
    let test = points(|e| e.test_accuracy);
    if !test.is_empty() {
        accuracy.push(Series::line("test", test));
    }
    let charts = [
        Chart {
            title: format!("accuracy on {} after each epoch", spec.dataset),
            x_label: "epoch".into(),
            y_label: "accuracy (%)".into(),
            series: accuracy,
            markers: Vec::new(),
            background: &[],
            y_range: None,
        },
        Chart {
            title: "training loss (mean over the epoch)".into(),
            x_label: "epoch".into(),
            y_label: "cross-entropy".into(),
            series: vec![Series::line("loss", points(|e| Some(e.loss)))],
            markers: Vec::new(),
            background: &[],
            y_range: None,
        },
    ];
    let stem = dir.join("training");
    write_stacked(&charts, &stem).map_err(|e| RunError::Io {
        action: "write",
        path: e.path,
        reason: e.reason,
    })?;
    Ok(vec![
        dir.join(NETWORK_FILE),
        metrics,
        stem.with_extension("png"),
        stem.with_extension("svg"),
    ])
}

/// The most bytes a run folder's text files ([`NETWORK_FILE`], [`INPUT_FILE`]) may have when read
/// back (as any configuration file of layernas).
const MAX_RUN_TEXT_BYTES: u64 = 16 << 20;

/// Reads the trained model that a finished run left in folder `dir`: its network description
/// ([`NETWORK_FILE`]), trained weights ([`WEIGHTS_FILE`]) and, where the folder has one, its
/// input description ([`INPUT_FILE`], checked against the network: [`InputSpec::check`]). A
/// run whose training has not finished (a [`STATE_FILE`] and no weights yet) is refused as
/// [`RunError::Unfinished`]; every other error is [`RunError::Input`], naming the file.
pub fn load_trained(dir: &Path) -> Result<TrainedModel, RunError> {
    let network = read_network(&dir.join(NETWORK_FILE))?;
    let weights_file = dir.join(WEIGHTS_FILE);
    if !weights_file.exists() && dir.join(STATE_FILE).exists() {
        return Err(RunError::Unfinished {
            dir: dir.display().to_string(),
        });
    }
    let weights = Weights::load(&weights_file).map_err(|e| RunError::Input(e.to_string()))?;
    let path = dir.join(INPUT_FILE);
    let input = match path.exists() {
        false => None,
        true => {
            let fail = |why: String| RunError::Input(format!("{}: {why}", path.display()));
            let text = layernas_core::limits::read_bounded_text(&path, MAX_RUN_TEXT_BYTES)
                .map_err(|why| fail(format!("cannot read it: {why}")))?;
            let spec: InputSpec = serde_json::from_str(&text)
                .map_err(|e| fail(format!("not an input description: {e}")))?;
            spec.check(&network).map_err(fail)?;
            Some(spec)
        }
    };
    Ok(TrainedModel {
        network,
        weights,
        input,
    })
}

/// Reads and checks the network description at `path`.
fn read_network(path: &Path) -> Result<Network, RunError> {
    let text =
        layernas_core::limits::read_bounded_text(path, MAX_RUN_TEXT_BYTES).map_err(|why| {
            RunError::Input(format!(
                "cannot read network description {}: {why}",
                path.display()
            ))
        })?;
    let network: Network = serde_json::from_str(&text).map_err(|e| {
        RunError::Input(format!(
            "{}: not a network description: {e}",
            path.display()
        ))
    })?;
    network
        .layer_costs()
        .map_err(|e| RunError::Input(format!("{}: {e}", path.display())))?;
    Ok(network)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An input description must describe the network: a mean and standard deviation per
    /// channel, the network's shape, one class name per logit (or none).
    #[test]
    fn an_input_description_is_checked_against_its_network() {
        let network = layernas_proxy::conformance::learner();
        let spec = |shape: [usize; 3], means: usize, classes: usize| InputSpec {
            shape,
            mean: vec![0.25; means],
            std: vec![0.5; means],
            classes: (0..classes).map(|c| format!("c{c}")).collect(),
        };
        assert_eq!(spec([1, 28, 28], 1, 10).check(&network), Ok(()));
        assert_eq!(spec([1, 28, 28], 1, 0).check(&network), Ok(()));
        for (bad, why) in [
            (spec([1, 28, 28], 3, 10), "1 channels but 3 means"),
            (spec([1, 32, 32], 1, 10), "is not the network's [1, 28, 28]"),
            (
                spec([1, 28, 28], 1, 3),
                "3 class names for a network of 10 classes",
            ),
        ] {
            let err = bad.check(&network).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn the_first_difference_is_named() {
        let a = serde_json::json!({"recipe": {"epochs": 3, "width": 1.0}, "seed": 0});
        let b = serde_json::json!({"recipe": {"epochs": 5, "width": 1.0}, "seed": 0});
        assert_eq!(
            first_difference("", &a, &b),
            "recipe.epochs: 3 here, 5 asked"
        );
    }
}
