//! Training speed of the built-in trainer (images per second), for a plain CNN and a
//! MobileNet-style network, one epoch over 512 Fashion-MNIST images, batch 64. Run with
//! `cargo bench -p layernas-train`.
//!
//! Criterion measures the burn engine with 1 and 2 threads. Then, side by side in one run, it
//! prints the training-only images/s of every engine available here: burn (1 and 2 threads),
//! the libtorch engine (`layernas-torch` given in `$LAYERNAS_TORCH`, 1 thread) and the same
//! network in PyTorch
//! (`examples/evaluators/torch_speed.py` with `$LAYERNAS_PYTHON`, default `python3`, 1 thread)
//! where torch is installed, each with its ratio to PyTorch.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use layernas_core::SearchSpace;
use layernas_spaces::network::{Input, Network};
use layernas_spaces::space_from_toml;
use layernas_train::{adapt, train_network, FashionMnist, TrainConfig};
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
        for threads in [1, 2] {
            let config = TrainConfig {
                threads,
                ..config.clone()
            };
            group.bench_function(format!("{name}/burn-{threads}-thread"), |b| {
                b.iter(|| train_network(&net, &data, &config, 0).unwrap())
            });
        }
    }
    group.finish();
    compare(&data, &config);
}

/// PyTorch's training images/s for `net` (one thread), or `None` without torch.
fn pytorch(name: &str, net: &Network, config: &TrainConfig) -> Option<f64> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dir = std::env::temp_dir().join(format!("layernas-speed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string(net).ok()?).ok()?;
    let python = std::env::var("LAYERNAS_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .arg(format!("{root}/examples/evaluators/torch_speed.py"))
        .arg("--network")
        .arg(&path)
        .args([
            "--images",
            &config.train_subset.to_string(),
            "--batch",
            &config.batch_size.to_string(),
            "--threads",
            "1",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    images_per_second(&out.stdout)
}

/// `images_per_second` of the JSON object on a program's last output line.
fn images_per_second(stdout: &[u8]) -> Option<f64> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().last()?;
    serde_json::from_str::<serde_json::Value>(line).ok()?["images_per_second"].as_f64()
}

/// The libtorch engine's training images/s (median of three runs after a warm-up, one thread)
/// where the `layernas-torch` program is given in `$LAYERNAS_TORCH`.
fn libtorch_engine(net: &Network, config: &TrainConfig) -> Option<f64> {
    use std::io::Write;
    let program = std::env::var_os("LAYERNAS_TORCH")?;
    let trial = serde_json::json!({
        "seed": 0,
        "network": net,
        "context": {"train": TrainConfig { threads: 1, ..config.clone() }},
    });
    let run = || -> Option<f64> {
        let mut child = std::process::Command::new(&program)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        child
            .stdin
            .take()?
            .write_all(trial.to_string().as_bytes())
            .ok()?;
        let out = child
            .wait_with_output()
            .ok()
            .filter(|o| o.status.success())?;
        images_per_second(&out.stdout)
    };
    run()?;
    let mut runs = [run()?, run()?, run()?];
    runs.sort_by(f64::total_cmp);
    Some(runs[1])
}

fn compare(data: &FashionMnist, config: &TrainConfig) {
    let engines = [("burn, 1 thread", 1), ("burn, 2 threads", 2)];
    println!("\ntraining images/s, side by side (512 images, batch 64):");
    for (name, net) in networks() {
        let mut rows: Vec<(&str, f64)> = engines
            .iter()
            .map(|&(label, threads)| {
                let config = TrainConfig {
                    threads,
                    ..config.clone()
                };
                // One warm-up run, then the median of three.
                let _ = train_network(&net, data, &config, 0).unwrap();
                let mut runs: Vec<f64> = (0..3)
                    .map(|_| {
                        train_network(&net, data, &config, 0)
                            .unwrap()
                            .images_per_second
                    })
                    .collect();
                runs.sort_by(f64::total_cmp);
                (label, runs[1])
            })
            .collect();
        if let Some(t) = libtorch_engine(&net, config) {
            rows.push(("layernas-torch, 1 thread", t));
        }
        let torch = pytorch(name, &net, config);
        if let Some(t) = torch {
            rows.push(("PyTorch, 1 thread", t));
        }
        for (label, speed) in rows {
            match torch {
                Some(t) => println!(
                    "  {name:16} {label:26} {speed:7.0} images/s   {:.2}x PyTorch",
                    speed / t
                ),
                None => println!("  {name:16} {label:26} {speed:7.0} images/s"),
            }
        }
        if torch.is_none() {
            println!("  {name:16} PyTorch not installed here (set LAYERNAS_PYTHON): no ratio");
        }
    }
}

criterion_group!(benches, speed);
criterion_main!(benches);
