//! `layernas search`: flags in, the library's [`Search`] runs, the outcome rendered.

use crate::report::outcome_text;
use clap::Args;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use layernas_core::ProgressEvent;
use layernas_study::output::{check_writable, is_stdout, write_json};
use layernas_study::run::PlanReport;
use layernas_study::{check_seconds, Event, Overrides, RunOptions, Search};
use std::path::PathBuf;
use std::time::Instant;

pub const EXAMPLES: &str = "Examples:
  # best CIFAR-10 cell under 60 MFLOPs, and the whole front
  layernas search --space nb201 --dataset cifar10 --cost flops --max-cost 60

  # front search by Pixel 3 latency, keeping 3 per bucket, JSON to a file
  layernas search --dataset cifar100 --cost latency:pixel3 --keep 3 --json out.json

  # everything from a study file, one flag overridden
  layernas search -c study.toml --seed 1

  # the plan of a MobileNetV3 search under 220M MAdds, before training anything
  layernas search --space mobilenetv3-large --cost madds --max-cost 220 --dry-run

  # train every candidate on Fashion-MNIST (built-in engine, 2 threads per trial)
  layernas search --space examples/spaces/fashion-cnn.toml --dataset fashion-mnist \\
    --evaluator train --epochs 2 --train-subset 3000 --max-cost 1.5 --train-threads 2

  # the same on a GPU with the libtorch engine (torch/README.md)
  layernas search --space examples/spaces/fashion-cnn.toml --dataset fashion-mnist \\
    --evaluator train --engine torch --device cuda --max-cost 1.5";

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub study: Overrides,
    /// Write the result as JSON to FILE (`-` for standard output, instead of the tables).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the LayerNAS plan (per layer: bucket window, bounds on parents and on children
    /// after cost pruning; the total trial bound) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Run the study even though another controller holds it (whose lease has not expired):
    /// for a controller known to be dead. A live one stops at its next renewal.
    #[arg(long)]
    pub take_over: bool,
    /// Seconds a controller's hold on its study lasts unless renewed (it renews every third of
    /// it while it runs; another controller may take over once it expires). 1 to 86400.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub controller_lease: f64,
}

pub fn run(args: &SearchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let study = args.study.resolve()?;
    check_seconds(
        "--controller-lease",
        args.controller_lease,
        1.0,
        86400.0,
        false,
    )?;
    if let Some(path) = args.json.as_deref().filter(|p| !is_stdout(p)) {
        check_writable(path, "--json")?;
    }
    if args.dry_run {
        return dry_run(args, &PlanReport::of(&study)?);
    }
    let search = Search::build(study)?;
    let to_stdout = args.json.as_deref().is_some_and(is_stdout);
    let header = header(&search);
    if to_stdout {
        eprintln!("{header}");
    } else {
        println!("{header}");
    }
    let study = &search.study;
    let bound = search.trial_bound();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(
            Some(study.max_trials.map_or(bound, |m| m.min(bound))),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>18} [{bar:30}] {pos}/{len} trials (bound) {elapsed} ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar
    };
    let events = |event: &Event| match event {
        Event::Notice(text) => bar.suspend(|| eprintln!("{text}")),
        Event::Progress(ProgressEvent::WaveStarted { label, .. }) => bar.set_message(label.clone()),
        Event::Progress(ProgressEvent::TrialFinished { .. }) => bar.inc(1),
        Event::WaitingForWorkers => bar.set_message("waiting for workers"),
    };
    let options = RunOptions {
        take_over: args.take_over,
        controller_lease: args.controller_lease,
    };
    let result = search.run(&options, &events);
    bar.finish_and_clear();
    let mut outcome = result?;
    outcome.elapsed_seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.json {
        write_json(path, &outcome)?;
    }
    if !to_stdout {
        print!("{}", outcome_text(&outcome));
    }
    if let Some(path) = args.json.as_deref().filter(|p| !is_stdout(p)) {
        println!("\nJSON written to {}", path.display());
    }
    match outcome.every_trial_failed() {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// The search's first lines: what runs, on what, and its trial bound.
fn header(search: &Search) -> String {
    let study = &search.study;
    let (space, cost) = (&search.space, &search.cost);
    let scope = study.strategies.scope;
    let window = match (scope.window.min, scope.window.max) {
        (None, None) => "front search (no cap)".to_string(),
        (lo, hi) => format!(
            "cost window [{}, {}] {}",
            lo.map_or("-".into(), |v| v.to_string()),
            hi.map_or("-".into(), |v| v.to_string()),
            cost.unit()
        ),
    };
    let l = &study.strategies.layernas;
    let focus = if l.cap_focus > 1 {
        format!(" cap_focus={}", l.cap_focus)
    } else {
        String::new()
    };
    let knobs = match search.paper_bound() {
        Some(p) => format!(
            " (paper's H*K*|S|*L = {p}); H={} K={}{focus} seed={}",
            l.buckets, l.keep, scope.seed
        ),
        None => format!("; seed={}", scope.seed),
    };
    format!(
        "layernas search: strategy {}, space {} ({} models, {} layers), dataset {}, reward {}, cost {} ({}), {window}\n\
         trial bound: {}{knobs}",
        study.strategy,
        space.name(),
        space.num_models(),
        space.layers().len(),
        study.dataset.name(),
        search.labels().0,
        cost.name(),
        cost.unit(),
        search.trial_bound(),
    )
}

fn dry_run(args: &SearchArgs, plan: &PlanReport) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        return Ok(write_json(path, plan)?);
    }
    println!(
        "LayerNAS plan: space {} ({} models, {} layers), cost {} ({}), cap {}, H={} K={}",
        plan.space,
        plan.models,
        plan.layers,
        plan.cost.name,
        plan.cost.unit,
        plan.max_cost.map_or("none".into(), |c| c.to_string()),
        plan.config.buckets,
        plan.config.keep,
    );
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
        "#",
        "layer",
        "options",
        "bucket window",
        "parents <=",
        "new children <=",
    ]);
    for (i, r) in plan.plan.iter().enumerate() {
        table.add_row(vec![
            (i + 1).to_string(),
            r.layer.clone(),
            r.options.to_string(),
            format!("{:.3} .. {:.3}", r.window.0, r.window.1),
            r.parents.to_string(),
            r.children.to_string(),
        ]);
    }
    println!("{table}");
    println!(
        "trial bound: {} (1 default model + new children; paper's H*K*|S|*L = {})",
        plan.trial_bound, plan.paper_bound
    );
    Ok(())
}
