//! The study file (`-c study.toml`): every field optional, unknown fields refused. The same
//! type, complete, is what a study stores, so workers and `status` rebuild it exactly.

use crate::StudyError;
use layernas_train::{DataSpec, TrainConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bucket spacing, as study files and flags spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SpacingName {
    /// Equal-width buckets.
    Linear,
    /// Geometric bucket edges.
    Log,
}

/// Final selection rule of LayerNAS, as study files and flags spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SelectName {
    /// From the candidates kept after the last layer.
    Kept,
    /// From every evaluated model.
    Evaluated,
}

/// Fidelities of a LayerNAS search, as study files and flags spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum FidelityName {
    /// Every trial at full fidelity (the paper's method).
    Single,
    /// Screen each layer's children at low fidelity, promote the best per bucket.
    Multi,
}

/// Multi-fidelity LayerNAS's promotion bar, as study files and flags spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum PromoteBarName {
    /// The K-th incumbent's own low-fidelity reward.
    Incumbent,
    /// The lower of that and the fitted line's value at the incumbent's full-fidelity reward.
    Calibrated,
}

/// The study file. Every field is optional; the README's study-file reference gives defaults.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StudyFile {
    pub space: Option<String>,
    pub dataset: Option<String>,
    pub cost: Option<String>,
    pub min_cost: Option<f64>,
    pub max_cost: Option<f64>,
    pub reward_column: Option<String>,
    pub test_column: Option<String>,
    pub seed: Option<u64>,
    pub max_trials: Option<u64>,
    pub workers: Option<usize>,
    pub data_dir: Option<PathBuf>,
    pub store: Option<String>,
    pub study: Option<String>,
    pub evaluator: Option<String>,
    pub command: Option<String>,
    pub train: Option<TrainConfig>,
    pub retries: Option<u32>,
    pub trial_timeout: Option<f64>,
    pub sim_time_scale: Option<f64>,
    pub strategy: Option<String>,
    pub layernas: Option<LayerNasFile>,
    pub evolution: Option<EvolutionFile>,
    pub reinforce: Option<ReinforceFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsga2: Option<Nsga2File>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successive_halving: Option<HalvingFile>,
    /// The user's data set (`--data`, `--data-format`, `--image-size`): stored only when given,
    /// so that the hash of every other study is what it was before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataSpec>,
    /// Never stored with a study (nor hashed): it is a decision of the run, like the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_changed_config: Option<bool>,
}

/// The `[evolution]` table.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct EvolutionFile {
    pub population: Option<usize>,
    pub sample_size: Option<usize>,
    pub mutated_layers: Option<usize>,
}

/// The `[reinforce]` table.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ReinforceFile {
    pub learning_rate: Option<f64>,
    pub baseline_momentum: Option<f64>,
}

/// The `[nsga2]` table.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Nsga2File {
    pub population: Option<usize>,
    pub crossover_prob: Option<f64>,
    pub mutation_prob: Option<f64>,
}

/// The `[successive_halving]` table.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct HalvingFile {
    pub rung: Option<usize>,
    pub eta: Option<usize>,
}

/// The `[layernas]` table.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct LayerNasFile {
    pub buckets: Option<usize>,
    pub spacing: Option<SpacingName>,
    pub keep: Option<usize>,
    pub children_per_layer: Option<usize>,
    pub select: Option<SelectName>,
    /// Stored only for multi-fidelity studies (other studies keep their hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<FidelityName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote: Option<usize>,
    /// Stored only when it is `calibrated` (other studies keep their hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_bar: Option<PromoteBarName>,
    /// Stored only when it is not 1 (other studies keep their hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_focus: Option<usize>,
}

impl StudyFile {
    /// Reads and parses the study file at `path`; errors name the file (and the line).
    pub fn read(path: &Path) -> Result<StudyFile, StudyError> {
        let text = read_text_file(path, "study file")?;
        StudyFile::parse(&text, path)
    }

    /// Parses the text of the study file at `path`; errors name the file and the line.
    pub fn parse(text: &str, path: &Path) -> Result<StudyFile, StudyError> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| line_of(&text.as_bytes()[..s.start.min(text.len())]));
            let at = line.map(|l| format!(", line {l}")).unwrap_or_default();
            StudyError::Input(format!(
                "malformed study file {}{at}: {}",
                path.display(),
                e.message().trim().replace('\n', " ")
            ))
        })
    }

    /// The study file stored with study `name` (its JSON form).
    pub fn from_stored(name: &str, json: &str) -> Result<StudyFile, StudyError> {
        serde_json::from_str(json).map_err(|e| {
            StudyError::Input(format!(
                "study {name}: unreadable stored configuration: {e}"
            ))
        })
    }
}

/// The line a byte offset lies on (1-based); byte-wise, so any offset works.
fn line_of(before: &[u8]) -> usize {
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// The most bytes a configuration file (study, space, latency table) may have.
pub const MAX_CONFIG_FILE: u64 = 16 << 20;

/// Reads a configuration file as text: a regular file (not a device such as `/dev/zero` or a
/// FIFO, which would never end or never open) of at most [`MAX_CONFIG_FILE`] bytes, in UTF-8.
/// Errors name `what` and the path.
pub fn read_text_file(path: &Path, what: &str) -> Result<String, StudyError> {
    layernas_core::limits::read_bounded_text(path, MAX_CONFIG_FILE)
        .map_err(|why| StudyError::Input(format!("cannot read {what} {}: {why}", path.display())))
}

/// A duration knob: `value` must be a finite number of seconds in `lo..=hi` (`hi_open`:
/// below `hi`). One rule and one message for every such knob of every command.
pub fn check_seconds(
    knob: &str,
    value: f64,
    lo: f64,
    hi: f64,
    hi_open: bool,
) -> Result<(), StudyError> {
    let fits = value.is_finite() && value >= lo && if hi_open { value < hi } else { value <= hi };
    if fits {
        return Ok(());
    }
    let upper = if hi_open {
        format!("below {hi}")
    } else {
        format!("at most {hi}")
    };
    Err(StudyError::Input(format!(
        "{knob} must be a number of seconds from {lo}, {upper}; got {value:?}"
    )))
}
