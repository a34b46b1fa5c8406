//! Training speed of the built-in trainer (images per second), for a plain CNN and a
//! MobileNet-style network, one epoch over 512 Fashion-MNIST images, batch 64, on the
//! pure-Rust Flex CPU backend. Run with `cargo bench -p layernas-train`.
//!
//! After the criterion measurements it prints, for each network, the training-only images/s of
//! the built-in trainer and, where PyTorch is installed, of the same network in PyTorch
//! (`examples/evaluators/torch_speed.py`, one thread each), with their ratio.

use burn::prelude::Device;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use layernas_core::SearchSpace;
use layernas_spaces::network::{Input, Network};
use layernas_spaces::space_from_toml;
use layernas_train::{adapt, build, train, FashionMnist, TrainConfig};
use std::time::Duration;

const PLAIN: &str = r#"
name = "plain-cnn"
classes = 10
input = { resolution = 28, channels = 1 }
[[layers]]
op = "conv"
out = 16
kernel = [3, 5]
stride = 1
[[layers]]
op = "conv"
out = 32
kernel = 3
stride = 2
[[layers]]
op = "conv"
out = 64
kernel = 3
stride = 2
[[layers]]
op = "global_pool"
[[layers]]
op = "linear"
"#;

/// The two benchmarked networks, adapted to 28x28x1 inputs and 10 classes.
fn networks() -> Vec<(&'static str, Network)> {
    let fashion = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/spaces/fashion-cnn.toml"
    ))
    .unwrap();
    let input = Input {
        resolution: 28,
        channels: 1,
    };
    [
        ("plain-cnn", PLAIN.to_string()),
        ("mobilenet-style", fashion),
    ]
    .into_iter()
    .map(|(name, text)| {
        let space = space_from_toml(&text, name).unwrap();
        let net = adapt(&space.network(&space.default_arch()), input, 10, 1.0).unwrap();
        (name, net)
    })
    .collect()
}

fn speed(c: &mut Criterion) {
    let data = FashionMnist::embedded().unwrap();
    let config = TrainConfig {
        epochs: 1,
        train_subset: 512,
        valid_size: 100,
        batch_size: 64,
        ..TrainConfig::default()
    };
    let mut group = c.benchmark_group("train-images");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(512));
    for (name, net) in networks() {
        group.bench_function(name, |b| {
            b.iter(|| {
                let device = Device::flex().autodiff();
                device.seed(0);
                train(build(&net, &device).unwrap(), &data, &config, 0, &device)
            })
        });
    }
    group.finish();
    compare_with_pytorch(&data, &config);
}

fn compare_with_pytorch(data: &FashionMnist, config: &TrainConfig) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for (name, net) in networks() {
        let device = Device::flex().autodiff();
        device.seed(0);
        let ours = train(build(&net, &device).unwrap(), data, config, 0, &device).images_per_second;
        let dir = std::env::temp_dir().join(format!("layernas-speed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string(&net).unwrap()).unwrap();
        let out = std::process::Command::new("python3")
            .arg(format!("{root}/examples/evaluators/torch_speed.py"))
            .arg("--network")
            .arg(&path)
            .args([
                "--images",
                &config.train_subset.to_string(),
                "--batch",
                &config.batch_size.to_string(),
            ])
            .output();
        let torch = out.ok().filter(|o| o.status.success()).and_then(|o| {
            let line = String::from_utf8_lossy(&o.stdout)
                .lines()
                .last()?
                .to_string();
            serde_json::from_str::<serde_json::Value>(&line).ok()?["images_per_second"].as_f64()
        });
        match torch {
            Some(t) => println!(
                "{name}: built-in {ours:.0} images/s, PyTorch {t:.0} images/s, ratio {:.2}",
                ours / t
            ),
            None => println!(
                "{name}: built-in {ours:.0} images/s; PyTorch not installed here, no ratio"
            ),
        }
    }
}

criterion_group!(benches, speed);
criterion_main!(benches);
