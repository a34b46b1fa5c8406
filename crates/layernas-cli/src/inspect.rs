//! `layernas space`, `layernas show` and `layernas profile`: the study library describes,
//! this module renders.

use clap::Args;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, CellAlignment, Table};
use layernas_study::inspect::{NetworkView, ProfileRequest, SpaceSummary};

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
    /// Untimed runs before each measurement.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed runs per layer; the median is kept.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    /// Also time N random whole networks and report how well the table's sums rank them
    /// (Spearman correlation).
    #[arg(long, value_name = "N")]
    pub check: Option<usize>,
    /// Seed of the random networks of --check.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn profile(args: &ProfileArgs) -> anyhow::Result<()> {
    use indicatif::{ProgressBar, ProgressStyle};
    let request = ProfileRequest {
        space: args.space.clone(),
        dataset: args.dataset.clone(),
        output: args.output.clone(),
        warmup: args.warmup,
        repeats: args.repeats,
        check: args.check,
        seed: args.seed,
    };
    let plan = request.plan()?;
    eprintln!(
        "profiling {} distinct layer configurations of {}",
        plan.layers, plan.space_name
    );
    let bar = ProgressBar::new(plan.layers as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} layers {elapsed} ETA {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message("profiling");
    let report = plan.run(|done, _| bar.set_position(done as u64));
    bar.finish_and_clear();
    let report = report?;
    println!(
        "{} layer configurations timed in {:.1} s; table written to {}",
        report.layers,
        report.seconds,
        args.output.display()
    );
    if let Some(check) = report.check {
        println!(
            "check on {} random networks: Spearman rank correlation {:.3} between table sums and measured whole-network latency; mean sum/measured ratio {:.2}",
            check.networks, check.spearman, check.mean_ratio
        );
    }
    Ok(())
}
