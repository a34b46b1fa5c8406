//! `layernas space`, `layernas show` and `layernas profile`: the study library describes,
//! this module renders.

use clap::Args;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, CellAlignment, Table};
use layernas_latency::{Engine, Method};
use layernas_study::inspect::{NetworkView, ProfileRequest, ProfileStage, SpaceSummary};

pub const SPACE_EXAMPLES: &str = "Examples:
  layernas space mobilenetv3-large
  layernas space nats-sss --dataset imagenet16 --buckets 50 --keep 3
  layernas space examples/spaces/tiny-mobilenet.toml --json";

pub const SHOW_EXAMPLES: &str = "Examples:
  layernas show --space mobilenetv2 --arch backbone
  layernas show --space mobilenetv3-small --arch 'block2.kernel=5,block4.se=off' --json
  layernas show --space nats-sss --arch 8:16:32:64:64";

#[derive(Debug, Args)]
pub struct SpaceArgs {
    /// Space: nb201, mobilenetv2, mobilenetv3-large, mobilenetv3-small, nats-sss or a .toml file.
    pub space: String,
    /// Dataset: cifar10, cifar100 or imagenet16 (sets nats-sss's input and classes; nb201's
    /// table costs).
    #[arg(long, default_value = "cifar10")]
    pub dataset: String,
    /// LayerNAS buckets per layer, H, for the trial bound (1 to 1000000).
    #[arg(long, default_value_t = 100)]
    pub buckets: usize,
    /// LayerNAS candidates kept per bucket, K, for the trial bound (1 to 1000000).
    #[arg(long, default_value_t = 1)]
    pub keep: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Space: mobilenetv2, mobilenetv3-large, mobilenetv3-small, nats-sss or a .toml file.
    #[arg(long)]
    pub space: String,
    /// Architecture as the space writes it, or `backbone`.
    #[arg(long)]
    pub arch: String,
    /// Dataset: cifar10, cifar100 or imagenet16 (sets nats-sss's input and classes).
    #[arg(long, default_value = "cifar10")]
    pub dataset: String,
    /// Print the network description as JSON, with `madds` and `params` totals.
    #[arg(long)]
    pub json: bool,
}

pub fn space(args: &SpaceArgs) -> anyhow::Result<()> {
    let summary = SpaceSummary::of(&args.space, &args.dataset, args.buckets, args.keep)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!("space {}\n\n{}\n", summary.space, summary.description);
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
        "#",
        "search layer",
        "options",
        "default",
    ]);
    for (i, l) in summary.layers.iter().enumerate() {
        table.add_row(vec![
            (i + 1).to_string(),
            l.name.clone(),
            l.options.join(" "),
            l.default.clone(),
        ]);
    }
    println!("{table}");
    println!(
        "\nmodels: {} (distinct networks), {} search layers",
        summary.models,
        summary.layers.len()
    );
    for s in &summary.costs {
        println!(
            "{} range: {:.4} .. {:.4} {}{}",
            s.name,
            s.min,
            s.max,
            s.unit,
            s.backbone
                .map(|b| format!(" (backbone {b:.4})"))
                .unwrap_or_default()
        );
    }
    println!(
        "LayerNAS trial bound for H={} K={}: {} (paper's H*K*|S|*L = {})",
        args.buckets, args.keep, summary.trial_bound, summary.paper_bound
    );
    Ok(())
}

pub fn show(args: &ShowArgs) -> anyhow::Result<()> {
    let view = NetworkView::of(&args.space, &args.dataset, &args.arch)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    println!("space {}: {}\n", view.space, view.arch);
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
        "#",
        "input",
        "operator",
        "kernel",
        "expansion",
        "out",
        "stride",
        "SE",
        "act",
        "MAdds",
        "params",
    ]);
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    for (i, r) in view.rows.iter().enumerate() {
        table.add_row(vec![
            Cell::new(i + 1),
            Cell::new(&r.input),
            Cell::new(&r.op),
            Cell::new(&r.kernel),
            Cell::new(&r.expansion),
            right(r.out.to_string()),
            Cell::new(&r.stride),
            Cell::new(&r.se),
            Cell::new(&r.act),
            right(r.madds.to_string()),
            right(r.params.to_string()),
        ]);
    }
    let mut total = vec![Cell::new("total")];
    total.extend((0..8).map(|_| Cell::new("")));
    total.extend([
        right(view.madds.to_string()),
        right(view.params.to_string()),
    ]);
    table.add_row(total);
    println!("{table}");
    println!(
        "\n{:.2} M MAdds, {:.3} M params (MAdds: multiply-accumulates of convolutions, squeeze-and-excite included, and fully connected layers; params: weights, biases and batch-norm scale/shift)",
        view.madds as f64 / 1e6,
        view.params as f64 / 1e6
    );
    Ok(())
}

pub const PROFILE_EXAMPLES: &str = "Examples:
  layernas profile --space examples/spaces/fashion-cnn.toml --output fashion-latency.json --check 50
  layernas profile --space nats-sss --engine tract --output nats-tract.json --check 50 --json
  layernas search --space examples/spaces/fashion-cnn.toml --cost latency:fashion-latency.json --max-cost 1.0 --dry-run";

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Space: mobilenetv2, mobilenetv3-large, mobilenetv3-small, nats-sss or a .toml file.
    #[arg(long)]
    pub space: String,
    /// Dataset: cifar10, cifar100 or imagenet16 (sets nats-sss's input and classes).
    #[arg(long, default_value = "cifar10")]
    pub dataset: String,
    /// Where to write the latency table (JSON).
    #[arg(long, short)]
    pub output: std::path::PathBuf,
    /// What runs the layers: burn (the built-in trainer's engine) or tract (an ONNX runtime,
    /// each layer the ONNX graph export-model writes).
    #[arg(long, default_value = "burn")]
    pub engine: Engine,
    /// Untimed runs of each layer before it is timed.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed samples per layer, taken in rounds over all layers in a random order; the median
    /// is kept.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    /// The least time one sample lasts (ms): it times as many runs back to back as fit.
    #[arg(long, default_value_t = 1.0)]
    pub sample_ms: f64,
    /// Random whole networks timed to fit what a network costs beyond its layers' entries
    /// (the table's base_ms; 0: one call's cost alone). --check never checks on them.
    #[arg(long, value_name = "N", default_value_t = layernas_latency::CALIBRATION)]
    pub calibrate: usize,
    /// Also time N random whole networks and report how well the table predicts them
    /// (Spearman rank correlation, mean error).
    #[arg(long, value_name = "N")]
    pub check: Option<usize>,
    /// Seed of the random networks of --check (and of the weights timed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the report as JSON (the check's networks included).
    #[arg(long)]
    pub json: bool,
}

pub fn profile(args: &ProfileArgs) -> anyhow::Result<()> {
    use indicatif::{ProgressBar, ProgressStyle};
    let request = ProfileRequest {
        space: args.space.clone(),
        dataset: args.dataset.clone(),
        output: args.output.clone(),
        engine: args.engine,
        method: Method {
            warmup: args.warmup,
            repeats: args.repeats,
            sample_ms: args.sample_ms,
        },
        calibration: args.calibrate,
        check: args.check,
        seed: args.seed,
    };
    let plan = request.plan()?;
    eprintln!(
        "profiling {} distinct layer configurations of {} with {}",
        plan.layers,
        plan.space_name,
        args.engine.description()
    );
    let bar = ProgressBar::new(plan.layers as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {pos}/{len} {prefix} {elapsed} ETA {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_message("profiling");
    bar.set_prefix("layers and calibration networks");
    let mut stage = ProfileStage::Layers;
    let report = plan.run(|now, done, total| {
        if now != stage {
            stage = now;
            bar.reset();
            bar.set_message("checking");
            bar.set_prefix("networks");
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} layer configurations timed, with {} calibration networks, in {:.1} s ({}); table written to {}",
        report.layers,
        report.calibration,
        report.seconds,
        args.engine,
        args.output.display()
    );
    if report.calibration > 0 {
        println!(
            "a network costs {:.4} ms beyond its layers' entries (the table's base_ms, fitted on the calibration networks)",
            report.base_ms
        );
    } else {
        println!(
            "a network costs {:.4} ms beyond its layers' entries (the table's base_ms: one call)",
            report.base_ms
        );
    }
    if let Some(check) = &report.check {
        println!(
            "check on {} random networks ({:.1} s): Spearman rank correlation {:.3} between the table's predictions and the measured whole-network latencies; mean error {:.1}% (predicted/measured {:.2} on average)",
            check.networks.len(),
            report.check_seconds.unwrap_or(0.0),
            check.spearman,
            100.0 * check.mean_error,
            check.mean_ratio
        );
    }
    Ok(())
}
