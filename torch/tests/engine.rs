//! The libtorch engine learns, is deterministic for a seed on the CPU, builds every op of the
//! network schema, and its program speaks the command protocol.

use layernas_core::SearchSpace;
use layernas_proxy::{adapt, FashionMnist, TrainConfig};
use layernas_spaces::network::{Input, Network};
use layernas_spaces::{mobilenet_v3_space, nats_sss_space, space_from_toml};
use std::io::Write;
use std::process::{Command, Stdio};

const CNN: &str = r#"
name = "cnn"
classes = 10
input = { resolution = 28, channels = 1 }
[[layers]]
op = "conv"
out = 16
kernel = 3
stride = 2
[[layers]]
op = "mbconv"
out = 16
kernel = [3, 5]
expand = 2
se = true
act = "hswish"
[[layers]]
op = "conv"
out = 32
kernel = 3
stride = 2
[[layers]]
op = "global_pool"
[[layers]]
op = "linear"
"#;

fn cnn() -> Network {
    let space = space_from_toml(CNN, "cnn.toml").unwrap();
    space.network(&space.default_arch())
}

fn mnist_input() -> Input {
    Input {
        resolution: 28,
        channels: 1,
    }
}

#[test]
fn a_short_cpu_run_learns_far_above_chance_and_is_deterministic() {
    let data = FashionMnist::embedded().unwrap();
    let config = TrainConfig {
        epochs: 2,
        train_subset: 3000,
        valid_size: 500,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let a = layernas_torch::train(&cnn(), &data, &config, 3).unwrap();
    eprintln!(
        "valid {:.2} test {:?} in {:.1} s ({:.0} img/s)",
        a.valid_accuracy, a.test_accuracy, a.train_seconds, a.images_per_second
    );
    assert!(a.valid_accuracy > 50.0, "{a:?}");
    assert!(a.test_accuracy.is_some_and(|t| t > 50.0), "{a:?}");
    let b = layernas_torch::train(&cnn(), &data, &config, 3).unwrap();
    assert_eq!(
        (a.valid_accuracy, a.test_accuracy),
        (b.valid_accuracy, b.test_accuracy)
    );
}

#[test]
fn nats_and_mobilenet_networks_build_and_train_a_step() {
    let data = FashionMnist::embedded().unwrap();
    let config = TrainConfig {
        epochs: 1,
        train_subset: 64,
        valid_size: 100,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let nats = nats_sss_space(32, 10);
    let v3 = mobilenet_v3_space(false);
    for net in [
        nats.network(&nats.parse("8:16:24:32:40").unwrap()),
        v3.network(v3.backbone().unwrap()),
    ] {
        let proxy = adapt(&net, mnist_input(), 10, 0.25).unwrap();
        let r = layernas_torch::train(&proxy, &data, &config, 1).unwrap();
        assert!(
            r.valid_accuracy.is_finite() && r.final_loss.is_finite(),
            "{r:?}"
        );
    }
}

#[test]
fn an_unavailable_device_is_a_clear_error() {
    let data = FashionMnist::embedded().unwrap();
    let config = TrainConfig {
        engine: layernas_proxy::Engine::Torch,
        device: "cuda:64".into(),
        ..TrainConfig::default()
    };
    let e = layernas_torch::train(&cnn(), &data, &config, 0).unwrap_err();
    assert!(e.contains("cuda:64 is not available"), "{e}");
}

fn program(input: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_layernas-torch"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn the_program_speaks_the_command_protocol() {
    // As layernas writes it: the description with its MAdds and params added.
    let mut network = serde_json::to_value(cnn()).unwrap();
    network["madds"] = serde_json::json!(1000);
    network["params"] = serde_json::json!(100);
    let trial = serde_json::json!({
        "trial": 7,
        "seed": 1,
        "arch": "x",
        "network": network,
        "context": {
            "study": "t",
            "dataset": "fashion-mnist",
            "data_dir": null,
            "train": {"epochs": 1, "train_subset": 200, "valid_size": 100, "depth": 0.5},
        },
    });
    let (code, stdout, stderr) = program(&trial.to_string());
    assert_eq!(code, Some(0), "{stderr}");
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(last["reward"].as_f64().unwrap().is_finite(), "{last}");
    assert!(last["test"].as_f64().is_some(), "{last}");
    let (code, _, stderr) = program("{not json");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("malformed trial JSON"), "{stderr}");
    let bad = serde_json::json!({"seed": 1, "network": cnn(), "context": {"train": {"epochs": 0}}});
    let (code, _, stderr) = program(&bad.to_string());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("epochs must be at least 1"), "{stderr}");
}

#[test]
fn parameters_start_as_pytorch_initialises_them() {
    // tch's own defaults (ReLU-gain Kaiming, batch-norm scale drawn from U(0, 1)) trained about
    // six points worse than burn and PyTorch on the same recipe.
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let net = adapt(&cnn(), mnist_input(), 10, 1.0).unwrap();
    layernas_torch::TorchNet::build(&net, &vs.root()).unwrap();
    let mut checked = 0;
    for (name, t) in vs.variables() {
        let size = t.size();
        if name.contains("bn") && name.ends_with("weight") {
            assert_eq!(t.min().double_value(&[]), 1.0, "{name}");
            assert_eq!(t.max().double_value(&[]), 1.0, "{name}");
            checked += 1;
        } else if name.ends_with("weight") && size.len() >= 2 {
            let fan_in: i64 = size[1..].iter().product();
            let bound = 1.0 / (fan_in as f64).sqrt();
            let max = t.abs().max().double_value(&[]);
            assert!(
                max <= bound && max > 0.5 * bound,
                "{name}: {max} vs {bound}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked}");
}

#[test]
fn the_program_trains_the_dataset_the_user_named_and_refuses_another() {
    // layernas passes the user's `--dataset` as `context.dataset`; this engine only has
    // Fashion-MNIST, so a trial for another data set must fail rather than train the wrong data.
    let trial = |dataset: &str| {
        serde_json::json!({
            "seed": 1,
            "network": cnn(),
            "context": {"dataset": dataset, "train": {"epochs": 1, "train_subset": 64, "valid_size": 100}},
        })
        .to_string()
    };
    let (code, stdout, stderr) = program(&trial("fashion-mnist"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("\"reward\""), "{stdout}");
    let (code, stdout, stderr) = program(&trial("cifar10"));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stderr.contains("trains on fashion-mnist, not cifar10"),
        "{stderr}"
    );
}
