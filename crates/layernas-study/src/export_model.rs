//! `layernas export-model`: a trained model (a directory holding `network.json` and
//! `model.safetensors`) or one architecture of a network space with the trainer's initial
//! weights for a seed (for latency work), written as an ONNX file by `layernas-onnx`.

use crate::inspect::template_of;
use crate::StudyError;
use layernas_onnx::{export, BATCH, INPUT, OPSET, OUTPUT};
use layernas_train::{load_trained, InputSpec, TrainedModel};
// The files of a trained model's directory: its network description and its weights.
pub use layernas_train::{NETWORK_FILE, WEIGHTS_FILE};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The metadata key of a trained model's input description ([`InputSpec`] as JSON).
pub const INPUT_METADATA: &str = "layernas.input";

/// The default name of the exported file.
pub const ONNX_FILE: &str = "model.onnx";

/// Where the model comes from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// A directory holding [`NETWORK_FILE`] and [`WEIGHTS_FILE`] (what `layernas train` writes).
    Dir(PathBuf),
    /// An architecture of a network space, as `layernas show` builds it, with the trainer's
    /// initial weights drawn from `seed`.
    Arch {
        /// Space: a built-in network space or a `.toml` file.
        space: String,
        /// Dataset (sets dataset-dependent spaces' input and classes).
        dataset: String,
        /// The architecture as the space writes it, or `backbone`.
        arch: String,
        /// Seed of the initial weights.
        seed: u64,
    },
}

impl ModelSource {
    /// Where the ONNX file goes unless told: [`ONNX_FILE`] in the trained model's directory, or
    /// in the current directory for an architecture.
    pub fn default_output(&self) -> PathBuf {
        match self {
            ModelSource::Dir(dir) => dir.join(ONNX_FILE),
            ModelSource::Arch { .. } => PathBuf::from(ONNX_FILE),
        }
    }
}

/// What `layernas export-model` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ModelExport {
    /// The ONNX file.
    pub output: PathBuf,
    /// Where the model came from: the directory, or `space:arch`.
    pub source: String,
    /// Whether the weights are trained (from a directory) or initial (seeded).
    pub trained: bool,
    /// ONNX opset.
    pub opset: i64,
    /// The input's name.
    pub input: String,
    /// `[batch, channels, height, width]` (`batch` is dynamic).
    pub input_shape: (String, u32, u32, u32),
    /// The output's name (logits, `[batch, classes]`).
    pub output_name: String,
    /// Classes.
    pub classes: usize,
    /// Trainable parameters of the network.
    pub params: u64,
    /// Multiply-accumulates of one image.
    pub madds: u64,
    /// Nodes of the graph.
    pub nodes: usize,
    /// Nodes by op type.
    pub ops: BTreeMap<String, usize>,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// How batch norm is exported.
    pub batch_norm: String,
    /// What the input must be (normalisation, class names), for a trained model whose folder
    /// records it; also in the file's metadata as [`INPUT_METADATA`].
    pub input_spec: Option<InputSpec>,
}

/// Exports the model of `source` to `output` (ONNX).
pub fn export_model(source: &ModelSource, output: &Path) -> Result<ModelExport, StudyError> {
    let (network, weights, label, trained, input_spec) = match source {
        ModelSource::Dir(dir) => {
            // Every error of the directory is the user's: a missing, bad or unfinished model.
            let TrainedModel {
                network,
                weights,
                input,
            } = load_trained(dir).map_err(StudyError::input)?;
            (network, weights, dir.display().to_string(), true, input)
        }
        ModelSource::Arch {
            space,
            dataset,
            arch,
            seed,
        } => {
            let template = template_of(
                space,
                dataset,
                "space nb201 has no network description: its accuracies come from the benchmark table, and it has no model to export",
            )?;
            let parsed = template.parse_arch(arch).map_err(StudyError::input)?;
            let network = template
                .validate(&parsed)
                .map_err(|e| StudyError::Input(format!("architecture {arch} is invalid: {e}")))?;
            let weights = layernas_train::initial_weights(&network, *seed)
                .map_err(|e| StudyError::Run(e.to_string()))?;
            (network, weights, format!("{space}:{arch}"), false, None)
        }
    };
    let mut model = export(&network, &weights).map_err(|e| match source {
        ModelSource::Dir(dir) => {
            StudyError::Input(format!("{}: {e}", dir.join(WEIGHTS_FILE).display()))
        }
        ModelSource::Arch { .. } => StudyError::Run(e.to_string()),
    })?;
    let classes = layernas_proxy::lower(&network)
        .map_err(StudyError::input)?
        .classes;
    if let Some(spec) = &input_spec {
        let json = serde_json::to_string(spec).expect("an input description serializes");
        model.add_metadata(INPUT_METADATA, &json);
    }
    model
        .write(output)
        .map_err(|e| StudyError::Run(e.to_string()))?;
    let totals = network.totals().map_err(StudyError::input)?;
    Ok(ModelExport {
        output: output.to_path_buf(),
        source: label,
        trained,
        opset: OPSET,
        input: INPUT.into(),
        input_shape: (
            BATCH.into(),
            network.input.channels,
            network.input.resolution,
            network.input.resolution,
        ),
        output_name: OUTPUT.into(),
        classes,
        params: totals.params,
        madds: totals.madds,
        nodes: model.nodes(),
        ops: model.op_counts(),
        bytes: model.to_bytes().len() as u64,
        batch_norm:
            "folded into the preceding convolution; a batch norm without one is BatchNormalization"
                .into(),
        input_spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use layernas_spaces::network::Network;

    /// Writes `network` into `dir` as a trained model's directory, with the initial weights
    /// (seed 3) of `weights_of`: the network itself, another one, or none.
    fn write_model_dir(dir: &Path, network: &Network, weights_of: Option<&Network>) {
        std::fs::write(
            dir.join(NETWORK_FILE),
            serde_json::to_string(network).unwrap(),
        )
        .unwrap();
        if let Some(weights_of) = weights_of {
            layernas_train::initial_weights(weights_of, 3)
                .unwrap()
                .save(&dir.join(WEIGHTS_FILE))
                .unwrap();
        }
    }

    #[test]
    fn a_trained_model_directory_round_trips_through_onnx() {
        let dir = tempfile::tempdir().unwrap();
        let network = layernas_proxy::conformance::networks().swap_remove(1);
        write_model_dir(dir.path(), &network, Some(&network));
        let out = dir.path().join(ONNX_FILE);
        let report = export_model(&ModelSource::Dir(dir.path().into()), &out).unwrap();
        assert!(report.trained);
        assert_eq!(report.bytes, std::fs::metadata(&out).unwrap().len());
        assert_eq!(report.ops["Conv"], 13);
        assert_eq!(report.classes, 10);
        assert_eq!(report.input_spec, None, "a folder without input.json");
    }

    /// A folder's input description goes into the file's metadata; one that does not fit the
    /// network (another shape, another class count, a mean per channel missing) or is not one
    /// is refused naming the file, and nothing is written.
    #[test]
    fn the_input_description_is_checked_and_stored() {
        let dir = tempfile::tempdir().unwrap();
        let network = layernas_proxy::conformance::networks().swap_remove(1);
        write_model_dir(dir.path(), &network, Some(&network));
        let input = dir.path().join(layernas_train::INPUT_FILE);
        let out = dir.path().join(ONNX_FILE);
        let spec = |shape: [usize; 3], classes: usize| InputSpec {
            shape,
            mean: vec![0.25; shape[0]],
            std: vec![0.5; shape[0]],
            classes: (0..classes).map(|c| format!("c{c}")).collect(),
        };
        let text = |spec: InputSpec| serde_json::to_string(&spec).unwrap();
        for (bad, why) in [
            (
                text(spec([1, 32, 32], 10)),
                "is not the network's [1, 28, 28]",
            ),
            (
                text(spec([1, 28, 28], 3)),
                "3 class names for a network of 10 classes",
            ),
            (
                r#"{"shape":[1,28,28],"mean":[0.5,0.5],"std":[0.2],"classes":[]}"#.into(),
                "1 channels but 2 means and 1 standard deviations",
            ),
            ("{".into(), "not an input description"),
        ] {
            std::fs::write(&input, bad).unwrap();
            let err = export_model(&ModelSource::Dir(dir.path().into()), &out)
                .unwrap_err()
                .to_string();
            assert!(err.contains("input.json") && err.contains(why), "{err}");
            assert!(!out.exists());
        }
        let good = spec([1, 28, 28], 10);
        std::fs::write(&input, serde_json::to_string(&good).unwrap()).unwrap();
        let report = export_model(&ModelSource::Dir(dir.path().into()), &out).unwrap();
        assert_eq!(report.input_spec, Some(good.clone()));
        let mut expected = layernas_onnx::export(&network, &initial(&network)).unwrap();
        expected.add_metadata(INPUT_METADATA, &serde_json::to_string(&good).unwrap());
        assert_eq!(std::fs::read(&out).unwrap(), expected.to_bytes());
    }

    fn initial(network: &Network) -> layernas_proxy::Weights {
        layernas_train::initial_weights(network, 3).unwrap()
    }

    #[test]
    fn weights_of_another_network_name_the_file_and_the_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let nets = layernas_proxy::conformance::networks();
        write_model_dir(dir.path(), &nets[0], Some(&nets[1]));
        let weights_file = dir.path().join(WEIGHTS_FILE);
        let err = export_model(
            &ModelSource::Dir(dir.path().into()),
            &dir.path().join("m.onnx"),
        )
        .unwrap_err();
        assert!(err.is_input());
        assert_eq!(
            err.to_string(),
            format!(
                "{}: the weights do not fit the network: weight 1.conv.weight is missing",
                weights_file.display()
            )
        );
    }

    #[test]
    fn an_unfinished_training_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let network = layernas_proxy::conformance::networks().swap_remove(0);
        write_model_dir(dir.path(), &network, None);
        std::fs::write(dir.path().join(layernas_train::STATE_FILE), "{}").unwrap();
        let err = export_model(
            &ModelSource::Dir(dir.path().into()),
            &dir.path().join("m.onnx"),
        )
        .unwrap_err();
        assert!(err.is_input());
        assert!(
            err.to_string().contains("its training has not finished"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_network_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = export_model(
            &ModelSource::Dir(dir.path().into()),
            &dir.path().join("m.onnx"),
        )
        .unwrap_err();
        assert!(err.is_input());
        assert!(err.to_string().contains(NETWORK_FILE), "{err}");
    }
}
