//! `train_into`: a run stopped after an epoch and resumed gives exactly the numbers and weights
//! of a run never stopped, with augmentation too; a folder holding another run is refused.

use layernas_core::{Cancel, EvalError};
use layernas_spaces::network::Network;
use layernas_train::{train_into, ImageData, RunError, RunEvent, RunSpec, TrainConfig};
use std::path::Path;

const CNN: &str = r#"
name = "tiny"
classes = 10
input = { resolution = 28, channels = 1 }
[[layers]]
op = "conv"
out = [4, 8]
kernel = 3
stride = 2
[[layers]]
op = "mbconv"
out = 8
kernel = 3
expand = 2
se = true
[[layers]]
op = "global_pool"
[[layers]]
op = "linear"
"#;

fn spec(data: &ImageData) -> RunSpec {
    let space = layernas_spaces::space_from_toml(CNN, "tiny.toml").unwrap();
    let network: Network = space.network(&layernas_core::SearchSpace::default_arch(&space));
    let recipe = TrainConfig {
        epochs: 3,
        train_subset: 256,
        valid_size: 100,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let network = layernas_train::proxy_network(&network, data, &recipe).unwrap();
    RunSpec {
        network,
        recipe,
        seed: 3,
        dataset: "fashion-mnist".into(),
        data_dir: None,
        data: None,
    }
}

fn files(dir: &Path) -> (String, Vec<u8>) {
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    let epochs = metrics["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["epoch"], e["loss"], e["valid_accuracy"], e["test_accuracy"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    (
        epochs,
        std::fs::read(dir.join("model.safetensors")).unwrap(),
    )
}

/// Trains `spec` into `root/straight` in one go and into `root/stopped`, stopped after epoch 1
/// and resumed; checks that both give the same numbers and weights.
fn stop_and_resume(data: &ImageData, spec: &RunSpec, root: &Path) {
    let about = serde_json::json!({"test": true});
    let (straight, stopped) = (root.join("straight"), root.join("stopped"));

    let report = train_into(
        spec,
        &about,
        data,
        &straight,
        false,
        &Cancel::new(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.epochs.len(), 3);
    assert_eq!(report.resumed_epochs, 0);

    // Stopped at the first batch after epoch 1's checkpoint.
    let cancel = Cancel::new();
    let stop = cancel.clone();
    let err = train_into(spec, &about, data, &stopped, false, &cancel, &mut |e| {
        if let RunEvent::Epoch(m) = e {
            if m.epoch == 1 {
                stop.cancel();
            }
        }
    })
    .unwrap_err();
    assert!(
        matches!(err, RunError::Train(EvalError::Cancelled)),
        "{err}"
    );
    assert!(!stopped.join("model.safetensors").exists());

    let mut resumed_at = None;
    let report = train_into(
        spec,
        &about,
        data,
        &stopped,
        false,
        &Cancel::new(),
        &mut |e| {
            if let RunEvent::Started { resumed_epochs, .. } = e {
                resumed_at = Some(resumed_epochs);
            }
        },
    )
    .unwrap();
    assert_eq!(resumed_at, Some(1));
    assert_eq!(report.resumed_epochs, 1);
    let (a, b) = (files(&straight), files(&stopped));
    assert_eq!(a.0, b.0, "per-epoch metrics differ");
    assert!(a.1 == b.1, "the weights differ");
    eprintln!("{}", a.0);
}

#[test]
fn a_run_stopped_after_an_epoch_resumes_to_the_same_numbers() {
    let data = ImageData::embedded().unwrap();
    let spec = spec(&data);
    let about = serde_json::json!({"test": true});
    let tmp = tempfile::tempdir().unwrap();
    stop_and_resume(&data, &spec, tmp.path());
    let stopped = tmp.path().join("stopped");
    for name in ["network.json", "run.json", "training.png", "training.svg"] {
        assert!(stopped.join(name).exists(), "{name}");
    }
    let checkpoints: Vec<_> = std::fs::read_dir(&stopped)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("checkpoint-"))
        .collect();
    assert_eq!(checkpoints, ["checkpoint-3"]);

    // Another recipe in the same folder: refused, naming the difference, unless restarted.
    let mut other = spec.clone();
    other.recipe.epochs = 4;
    let err = train_into(
        &other,
        &about,
        &data,
        &stopped,
        false,
        &Cancel::new(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.is_input());
    assert_eq!(
        err.to_string(),
        format!(
            "output folder {} holds the training of another recipe (recipe.epochs: 3 here, 4 asked); use --restart to replace it, or another --output",
            stopped.display()
        )
    );
}

/// With augmentation (random crops and flips drawn from the plan's own generator), a resumed run
/// crops and flips as the uninterrupted one: the checkpoint holds that generator's position.
#[test]
fn an_augmented_run_stopped_after_an_epoch_resumes_to_the_same_numbers() {
    let data = ImageData::embedded().unwrap();
    let mut spec = spec(&data);
    spec.recipe.random_crop = 3;
    spec.recipe.horizontal_flip = true;
    let tmp = tempfile::tempdir().unwrap();
    stop_and_resume(&data, &spec, tmp.path());
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("stopped/state.json")).unwrap(),
    )
    .unwrap();
    assert_ne!(
        state["trainer"]["plan"]["augment_word"], "0",
        "the augmentation generator moved and its position is saved"
    );
}
