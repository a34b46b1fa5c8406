//! `layernas export-model`: the study library exports, this module renders.

use clap::Args;
use layernas_study::export_model::{export_model, ModelSource};
use layernas_study::StudyError;
use std::path::PathBuf;

pub const EXAMPLES: &str = "Examples:
  layernas export-model trained/                  # trained/network.json + trained/model.safetensors -> trained/model.onnx
  layernas export-model --space mobilenetv3-small --arch backbone --output mnv3s.onnx
  layernas export-model --space nats-sss --dataset cifar100 --arch 8:16:32:64:64 --seed 1 --json

The model takes normalised pixels (float[batch, channels, height, width], input `input`) and
gives logits (float[batch, classes], output `logits`); the batch is dynamic, the opset 13, and
batch norm is folded into the convolution before it.";

#[derive(Debug, Args)]
pub struct ExportModelArgs {
    /// A trained model's directory, holding network.json and model.safetensors.
    #[arg(value_name = "DIR", required_unless_present = "arch", conflicts_with_all = ["arch", "space"])]
    pub dir: Option<PathBuf>,
    /// Space of --arch: mobilenetv2, mobilenetv3-large, mobilenetv3-small, nats-sss or a .toml file.
    #[arg(long, requires = "arch")]
    pub space: Option<String>,
    /// Export this architecture (as the space writes it, or `backbone`) with the trainer's initial
    /// weights instead of trained ones (for latency measurements).
    #[arg(long, requires = "space")]
    pub arch: Option<String>,
    /// Dataset: sets nats-sss's input and classes (cifar10, cifar100, imagenet16).
    #[arg(long, default_value = "cifar10")]
    pub dataset: String,
    /// Seed of the initial weights of --arch.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the ONNX file [default: DIR/model.onnx, or model.onnx with --arch].
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ExportModelArgs) -> anyhow::Result<()> {
    let source = match (&args.dir, &args.space, &args.arch) {
        (Some(dir), _, _) => ModelSource::Dir(dir.clone()),
        (None, Some(space), Some(arch)) => ModelSource::Arch {
            space: space.clone(),
            dataset: args.dataset.clone(),
            arch: arch.clone(),
            seed: args.seed,
        },
        _ => {
            let message = "give a trained model's directory, or --space and --arch";
            return Err(StudyError::Input(message.into()).into());
        }
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| source.default_output());
    layernas_study::output::check_writable(&output, "the ONNX model")?;
    let report = export_model(&source, &output)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let (batch, c, h, w) = &report.input_shape;
    println!(
        "wrote {} ({} bytes): {} model of {}, ONNX opset {}",
        report.output.display(),
        report.bytes,
        if report.trained {
            "trained"
        } else {
            "untrained (initial weights)"
        },
        report.source,
        report.opset
    );
    let list = |v: &[f32]| {
        let items: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
        items.join(", ")
    };
    let (pixels, logits) = match &report.input_spec {
        Some(spec) => (
            format!(
                "normalised pixels: (pixel / 255 - mean) / std, mean [{}], std [{}]",
                list(&spec.mean),
                list(&spec.std)
            ),
            if spec.classes.is_empty() {
                "logits".to_string()
            } else {
                format!("logits of {}", spec.classes.join(", "))
            },
        ),
        None => ("normalised pixels".to_string(), "logits".to_string()),
    };
    println!(
        "input  {}: float[{batch}, {c}, {h}, {w}] ({pixels})\noutput {}: float[{batch}, {}] ({logits})",
        report.input, report.output_name, report.classes
    );
    let ops: Vec<String> = report
        .ops
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    println!(
        "{} nodes: {}\n{:.3} M params, {:.2} M MAdds; batch norm {}",
        report.nodes,
        ops.join(", "),
        report.params as f64 / 1e6,
        report.madds as f64 / 1e6,
        report.batch_norm
    );
    Ok(())
}
