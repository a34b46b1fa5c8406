//! `layernas space` and `layernas show`.

use anyhow::Context;
use clap::Args;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, CellAlignment, Table};
use layernas_core::{CostModel, SearchSpace, Strategy};
use layernas_search::LayerNas;
use layernas_spaces::network::Op;
use layernas_spaces::{Metric, NetworkCost};
use layernas_study::wiring::cost_model;
use layernas_study::{Overrides, Space, StudyDataset, StudyError};
use serde::Serialize;
use std::sync::Arc;

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

#[derive(Serialize)]
struct CostSummary {
    name: String,
    unit: String,
    min: f64,
    max: f64,
    backbone: Option<f64>,
}

#[derive(Serialize)]
struct LayerJson<'a> {
    name: &'a str,
    options: &'a [String],
    default: &'a str,
}

fn study_for(space: &str, dataset: &str, cost: &str, buckets: usize, keep: usize) -> Overrides {
    Overrides {
        space: Some(space.into()),
        dataset: Some(dataset.into()),
        cost: Some(cost.into()),
        buckets: Some(buckets),
        keep: Some(keep),
        ..Overrides::default()
    }
}

pub fn space(args: &SpaceArgs) -> anyhow::Result<()> {
    let dataset = StudyDataset::parse(&args.dataset)?;
    let resolved = Space::resolve(&args.space, dataset)?;
    let space = resolved.dyn_space();
    let (costs, description, backbone) = match &resolved {
        Space::Nb201(_) => (
            vec!["flops", "params"],
            "NAS-Bench-201 / NATS-Bench topology space: a cell of 4 nodes whose 6 edges (the search layers, in arch-string order) each take one of 5 ops; default nor_conv_3x3 (the most costly). Costs and accuracies come from the embedded benchmark table.".to_string(),
            None,
        ),
        Space::Template(t) => (
            vec!["madds", "params"],
            t.description().to_string(),
            t.backbone().cloned(),
        ),
    };
    let mut summaries = Vec::new();
    let mut bound = 0;
    let mut paper = 0;
    for name in costs {
        let study =
            study_for(&args.space, &args.dataset, name, args.buckets, args.keep).resolve()?;
        let cost: Arc<dyn CostModel> = cost_model(&resolved, &study)?;
        let all = vec![true; space.layers().len()];
        let range = cost.range(&*space, &space.default_arch(), &all);
        summaries.push(CostSummary {
            name: name.into(),
            unit: cost.unit().into(),
            min: range.min,
            max: range.max,
            backbone: backbone.as_ref().map(|b| cost.cost(b)),
        });
        let strategy = LayerNas::new(study.layernas.clone(), space.clone(), cost.clone())
            .map_err(|e| StudyError::Input(e.to_string()))?;
        bound = strategy.trial_bound().unwrap_or(0);
        paper = strategy.paper_bound();
    }
    if args.json {
        let layers: Vec<LayerJson> = space
            .layers()
            .iter()
            .map(|l| LayerJson {
                name: &l.name,
                options: &l.options,
                default: &l.options[l.default],
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "space": space.name(),
                "description": description,
                "layers": layers,
                "models": space.num_models().to_string(),
                "costs": summaries,
                "backbone": backbone.as_ref().map(|b| space.format(b)),
                "buckets": args.buckets,
                "keep": args.keep,
                "trial_bound": bound,
                "paper_bound": paper,
            }))?
        );
        return Ok(());
    }
    println!("space {}\n\n{description}\n", space.name());
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
        "#",
        "search layer",
        "options",
        "default",
    ]);
    for (i, l) in space.layers().iter().enumerate() {
        table.add_row(vec![
            (i + 1).to_string(),
            l.name.clone(),
            l.options.join(" "),
            l.options[l.default].clone(),
        ]);
    }
    println!("{table}");
    println!(
        "\nmodels: {} (distinct networks), {} search layers",
        space.num_models(),
        space.layers().len()
    );
    for s in &summaries {
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
        "LayerNAS trial bound for H={} K={}: {bound} (paper's H*K*|S|*L = {paper})",
        args.buckets, args.keep
    );
    Ok(())
}

pub fn show(args: &ShowArgs) -> anyhow::Result<()> {
    let dataset = StudyDataset::parse(&args.dataset)?;
    let template = match Space::resolve(&args.space, dataset)? {
        Space::Template(t) => t,
        Space::Nb201(_) => {
            return Err(StudyError::Input(
                "space nb201 has no network description: its costs and accuracies come from the benchmark table (try layernas space nb201)".into(),
            )
            .into())
        }
    };
    let arch = template
        .parse_arch(&args.arch)
        .map_err(|e| StudyError::Input(e.to_string()))?;
    let network = template
        .validate(&arch)
        .map_err(|e| StudyError::Input(format!("architecture {} is invalid: {e}", args.arch)))?;
    let rows = network
        .layer_costs()
        .map_err(|e| StudyError::Input(e.to_string()))?;
    let madds = NetworkCost::new(template.clone(), Metric::Madds).cost(&arch);
    let totals = network
        .totals()
        .map_err(|e| StudyError::Input(e.to_string()))?;
    debug_assert_eq!(madds, totals.madds as f64 / 1e6);
    if args.json {
        #[derive(Serialize)]
        struct ShowJson<'a> {
            space: &'a str,
            arch: String,
            #[serde(flatten)]
            network: &'a layernas_spaces::network::Network,
            madds: u64,
            params: u64,
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&ShowJson {
                space: template.name(),
                arch: template.format(&arch),
                network: &network,
                madds: totals.madds,
                params: totals.params,
            })?
        );
        return Ok(());
    }
    println!("space {}: {}\n", template.name(), template.format(&arch));
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
    for (i, (op, row)) in network.layers.iter().zip(&rows).enumerate() {
        let dash = || "-".to_string();
        let (kernel, expansion, stride, se, act) = match op {
            Op::Conv {
                kernel,
                stride,
                act,
                ..
            } => (
                kernel.to_string(),
                dash(),
                stride.to_string(),
                dash(),
                act.name().to_string(),
            ),
            Op::Mbconv {
                kernel,
                expanded,
                stride,
                se,
                act,
                ..
            } => (
                kernel.to_string(),
                format!(
                    "{expanded} ({:.2}x)",
                    *expanded as f64 / row.in_channels as f64
                ),
                stride.to_string(),
                se.map_or("-".into(), |s| s.to_string()),
                act.name().to_string(),
            ),
            Op::Pool { kernel, stride, .. } => (
                kernel.to_string(),
                dash(),
                stride.to_string(),
                dash(),
                dash(),
            ),
            Op::ResBlock { stride, .. } => (
                "3".into(),
                dash(),
                stride.to_string(),
                dash(),
                "relu".into(),
            ),
            Op::NatsCell { .. } => ("3".into(), dash(), "1".into(), dash(), "relu".into()),
            Op::BnAct { act } => (dash(), dash(), dash(), dash(), act.name().to_string()),
            Op::Linear { act, .. } => (dash(), dash(), dash(), dash(), act.name().to_string()),
            Op::GlobalPool => (dash(), dash(), dash(), dash(), dash()),
        };
        table.add_row(vec![
            Cell::new(i + 1),
            Cell::new(format!("{0}x{0}x{1}", row.input, row.in_channels)),
            Cell::new(op.name()),
            Cell::new(kernel),
            Cell::new(expansion),
            right(row.out_channels.to_string()),
            Cell::new(stride),
            Cell::new(se),
            Cell::new(act),
            right(row.madds.to_string()),
            right(row.params.to_string()),
        ]);
    }
    table.add_row(vec![
        Cell::new("total"),
        Cell::new(""),
        Cell::new(""),
        Cell::new(""),
        Cell::new(""),
        Cell::new(""),
        Cell::new(""),
        Cell::new(""),
        Cell::new(""),
        right(totals.madds.to_string()),
        right(totals.params.to_string()),
    ]);
    println!("{table}");
    println!(
        "\n{:.2} M MAdds, {:.3} M params (MAdds: multiply-accumulates of convolutions, squeeze-and-excite included, and fully connected layers; params: weights, biases and batch-norm scale/shift)",
        totals.madds as f64 / 1e6,
        totals.params as f64 / 1e6
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
    use layernas_core::Arch;
    use rand::{Rng, SeedableRng};
    let dataset = StudyDataset::parse(&args.dataset)?;
    let template = match Space::resolve(&args.space, dataset)? {
        Space::Template(t) => t,
        Space::Nb201(_) => {
            return Err(StudyError::Input(
                "space nb201 has measured latencies already: use --cost latency:<device> (27 devices in the table)".into(),
            )
            .into())
        }
    };
    if args.repeats == 0 {
        return Err(StudyError::Input("--repeats must be at least 1".into()).into());
    }
    crate::search::check_writable(&args.output, "the latency table")?;
    let total = layernas_spaces::distinct_layers(&template).len();
    eprintln!(
        "profiling {total} distinct layer configurations of {}",
        template.name()
    );
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} layers {elapsed} ETA {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message("profiling");
    let started = std::time::Instant::now();
    let table = layernas_train::profile(&template, args.warmup, args.repeats, |done, _| {
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    std::fs::write(&args.output, serde_json::to_string_pretty(&table)? + "\n")
        .with_context(|| format!("cannot write the latency table {}", args.output.display()))?;
    println!(
        "{} layer configurations timed in {:.1} s; table written to {}",
        table.entries.len(),
        started.elapsed().as_secs_f64(),
        args.output.display()
    );
    if let Some(n) = args.check.filter(|&n| n > 1) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
        let cost =
            layernas_spaces::TableLatency::new(template.clone(), table.clone(), "latency".into())
                .map_err(StudyError::Input)?;
        let mut predicted = Vec::with_capacity(n);
        let mut measured = Vec::with_capacity(n);
        for _ in 0..n {
            let arch = template.canonical(&Arch::new(
                template
                    .layers()
                    .iter()
                    .map(|l| rng.random_range(0..l.options.len()) as u16)
                    .collect(),
            ));
            predicted.push(cost.cost(&arch));
            measured.push(layernas_train::network_latency(
                &template.network(&arch),
                args.warmup,
                args.repeats,
            ));
        }
        let rho = layernas_spaces::spearman(&predicted, &measured);
        let ratio: f64 = predicted
            .iter()
            .zip(&measured)
            .map(|(p, m)| p / m)
            .sum::<f64>()
            / n as f64;
        println!(
            "check on {n} random networks: Spearman rank correlation {rho:.3} between table sums and measured whole-network latency; mean sum/measured ratio {ratio:.2}"
        );
    }
    Ok(())
}
