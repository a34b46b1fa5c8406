//! `layernas-torch`: trains one trial with libtorch, speaking layernas's command-evaluator
//! protocol (the trial as one JSON object on stdin, the result as one JSON line on stdout).

use clap::Parser;
use layernas_proxy::{load, proxy, DataSpec, FashionMnist, LoadOptions, TrainConfig};
use layernas_spaces::network::Network;
use serde::Deserialize;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// Trains one layernas trial with libtorch (tch 0.26, libtorch 2.13), on the CPU or CUDA.
///
/// Reads the trial from standard input as `layernas search --engine torch` writes it: `seed`,
/// `network` (the space's network description) and `context.train` (the `[train]` knobs; the
/// defaults where absent), `context.data` (the user's data set, as `layernas` resolved it: read
/// with the same loader and cache, so both engines train and validate on the same images) or
/// else `context.dataset` (`fashion-mnist`, the only named data set it trains; any other is
/// refused) from `context.data_dir` (Fashion-MNIST IDX files; the embedded subset where absent).
/// Trains the proxy (depth, then input/classes/width from the data) and prints
/// `{"reward": <validation %>, "test": <test %>, "train_seconds": ..., "images_per_second": ...}`
/// (`test` only where the data has test images and the recipe does not skip them).
///
/// Example: layernas search --space examples/spaces/fashion-cnn.toml --dataset fashion-mnist
/// --evaluator train --engine torch --device cuda --max-cost 1.5
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Override `context.train.device` (cpu, cuda, cuda:N).
    #[arg(long)]
    device: Option<String>,
}

#[derive(Deserialize)]
struct Trial {
    seed: u64,
    /// The description plus `madds` and `params`, which layernas adds for other programs.
    network: Option<serde_json::Value>,
    #[serde(default)]
    context: Context,
}

/// The one data set this engine trains on, by the name layernas gives it.
const DATASET: &str = "fashion-mnist";

#[derive(Deserialize, Default)]
struct Context {
    /// The data set the user named (`--dataset`); Fashion-MNIST where absent.
    #[serde(default)]
    dataset: Option<String>,
    #[serde(default)]
    train: Option<TrainConfig>,
    #[serde(default)]
    data_dir: Option<PathBuf>,
    #[serde(default)]
    data: Option<DataSpec>,
}

fn run(args: Args) -> Result<serde_json::Value, String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the trial from stdin: {e}"))?;
    let trial: Trial =
        serde_json::from_str(&text).map_err(|e| format!("malformed trial JSON: {e}"))?;
    let mut network = trial
        .network
        .ok_or("the trial has no network description (the space must be a network space)")?;
    if let Some(fields) = network.as_object_mut() {
        fields.remove("madds");
        fields.remove("params");
    }
    // A user's data set (`context.data`) is read as given; without one, the named data set must
    // be the one this engine has.
    if let Some(named) = trial
        .context
        .dataset
        .as_deref()
        .filter(|d| *d != DATASET && trial.context.data.is_none())
    {
        return Err(format!(
            "layernas-torch trains on {DATASET}, not {named} (the trial's context.dataset)"
        ));
    }
    let network: Network = serde_json::from_value(network)
        .map_err(|e| format!("malformed network description: {e}"))?;
    let mut config = trial.context.train.unwrap_or_default();
    if let Some(d) = args.device {
        config.device = d;
    }
    config.validate()?;
    let data = match (&trial.context.data, &trial.context.data_dir) {
        (Some(spec), _) => {
            // No progress bar: layernas reads this program's output.
            let options = LoadOptions {
                progress: false,
                ..LoadOptions::for_recipe(&config)
            };
            load(spec, &options).map(|(data, _)| data)
        }
        (None, Some(dir)) => FashionMnist::from_dir(dir),
        (None, None) => FashionMnist::embedded(),
    }
    .map_err(|e| e.to_string())?;
    let proxy = proxy(&network, data.input(), data.classes() as u32, &config)?;
    eprintln!(
        "layernas-torch: training {} layers on {} for {} epochs",
        proxy.layers.len(),
        config.device,
        config.epochs
    );
    let r = layernas_torch::train(&proxy, &data, &config, trial.seed)?;
    let mut result = serde_json::json!({
        "reward": r.valid_accuracy,
        "train_seconds": r.train_seconds,
        "images_per_second": r.images_per_second,
        "final_loss": r.final_loss,
    });
    if let Some(test) = r.test_accuracy {
        result["test"] = serde_json::json!(test);
    }
    Ok(result)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
