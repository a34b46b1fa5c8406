//! `layernas export-model`: the real binary writes ONNX files from an architecture or a trained
//! model's directory, and refuses bad input with exit code 2 before any work.

mod common;

use std::process::Command;

fn layernas(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_layernas"))
        .args(args)
        .output()
        .expect("the layernas binary runs")
}

#[test]
fn an_architecture_exports_with_initial_weights_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.onnx");
    let run = layernas(&[
        "export-model",
        "--space",
        "nats-sss",
        "--dataset",
        "cifar100",
        "--arch",
        "8:16:32:48:64",
        "--output",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["trained"], false);
    assert_eq!(report["classes"], 100);
    assert_eq!(report["opset"], 13);
    assert_eq!(
        report["input_shape"],
        serde_json::json!(["batch", 3, 32, 32])
    );
    assert_eq!(
        report["bytes"].as_u64().unwrap(),
        std::fs::metadata(&out).unwrap().len()
    );
    assert!(report["ops"]["Conv"].as_u64().unwrap() > 10);
}

#[test]
fn a_trained_model_directory_is_read_and_written_beside() {
    // A directory as `layernas train` leaves it: network.json and model.safetensors.
    let dir = tempfile::tempdir().unwrap();
    let network = layernas_proxy::conformance::networks().swap_remove(2);
    std::fs::write(
        dir.path().join("network.json"),
        serde_json::to_string(&network).unwrap(),
    )
    .unwrap();
    layernas_train::initial_weights(&network, 1)
        .unwrap()
        .save(&dir.path().join("model.safetensors"))
        .unwrap();
    let run = layernas(&["export-model", dir.path().to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8(run.stdout).unwrap();
    assert!(text.contains("trained model of"), "{text}");
    assert!(dir.path().join("model.onnx").exists());
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "required"),
        (
            vec![
                "--space".into(),
                "nb201".into(),
                "--arch".into(),
                "backbone".into(),
            ],
            "nb201 has no network description",
        ),
        (vec![dir.path().display().to_string()], "network.json"),
        (
            vec![
                "--space".into(),
                "mobilenetv2".into(),
                "--arch".into(),
                "backbone".into(),
                "--output".into(),
                dir.path().display().to_string(),
            ],
            "it is a directory",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["export-model".to_string()];
        all.extend(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let run = layernas(&refs);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{all:?}: {err}");
        assert!(err.contains(expected), "{all:?}: {err}");
    }
}

/// The path a user takes: `layernas train` (one short epoch), then `layernas export-model` on
/// its output folder; the file is the export of the folder's network and trained weights (the
/// onnx crate's tests hold an exported model's logits to the trainer's, after training too),
/// with the input normalisation and class names the folder records.
#[test]
fn a_trained_model_exports_its_trained_weights() {
    let dir = tempfile::tempdir().unwrap();
    let space = common::write_tiny_space(dir.path());
    let out = dir.path().join("trained");
    let run = layernas(&[
        "train",
        "--space",
        &space,
        "--arch",
        "stem.out=8,b1.kernel=5",
        "--epochs",
        "1",
        "--train-subset",
        "256",
        "--batch-size",
        "32",
        "--set",
        "valid_size=100",
        "--output",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let run = layernas(&["export-model", out.to_str().unwrap(), "--json"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["trained"], true);
    assert_eq!(report["classes"], 10);
    let onnx = out.join("model.onnx");
    assert_eq!(report["output"], onnx.to_str().unwrap());

    let trained = layernas_train::load_trained(&out).unwrap();
    let (network, weights) = (&trained.network, &trained.weights);
    // The trained running statistics are in the file (a fresh batch norm's are 0 and 1).
    let var = weights.get("0.bn.running_var").unwrap().data();
    assert!(var.iter().any(|v| (v - 1.0).abs() > 1e-3), "{var:?}");
    // The folder records what the network expects as input: the training data's
    // normalisation and class names, and the file carries it as metadata.
    let input = trained.input.clone().unwrap();
    let data = layernas_train::ImageData::embedded().unwrap();
    assert_eq!(input, layernas_train::InputSpec::of(&data));
    assert_eq!(input.shape, [1, 28, 28]);
    assert_eq!(input.classes.len(), 10);
    assert_eq!(
        report["input_spec"]["mean"][0].as_f64().unwrap() as f32,
        input.mean[0]
    );
    let mut expected = layernas_onnx::export(network, weights).unwrap();
    expected.add_metadata(
        layernas_study::export_model::INPUT_METADATA,
        &serde_json::to_string(&input).unwrap(),
    );
    assert!(
        std::fs::read(&onnx).unwrap() == expected.to_bytes(),
        "model.onnx is not the export of the trained network and weights with its input"
    );
}
