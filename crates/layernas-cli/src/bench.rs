//! `layernas bench`.

use clap::Args;
use layernas_bench::{run_bench, write_report, BenchConfig};
use layernas_study::output::check_writable_dir;
use layernas_study::StudyError;
use layernas_tables::Dataset;
use std::path::PathBuf;

pub const EXAMPLES: &str = "Examples:
  # everything: 5 strategies x 3 datasets x 30 seeds, significance, whole fronts,
  # assumption check, H/K ablation, multi-fidelity search against training epochs
  layernas bench --output bench-report

  # a quick look: CIFAR-10 only, 2 seeds
  layernas bench --datasets cifar10 --seeds 2 --output /tmp/quick";

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Report directory (created if missing).
    #[arg(long, short, default_value = "bench-report", value_name = "DIR")]
    pub output: PathBuf,
    /// Seeds per strategy and dataset.
    #[arg(long, default_value_t = 30)]
    pub seeds: usize,
    /// Trial budget of every run.
    #[arg(long, default_value_t = 300)]
    pub budget: u64,
    /// Datasets, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "cifar10,cifar100,imagenet16"
    )]
    pub datasets: Vec<String>,
    /// Strategies compared, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "layernas,random,evolution,reinforce,nsga2"
    )]
    pub strategies: Vec<String>,
    /// Cost caps of the front-regret section.
    #[arg(long, default_value_t = 10)]
    pub caps: usize,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Multi-fidelity LayerNAS's promote in the multi-fidelity section, at least 1.
    #[arg(long, default_value_t = 1)]
    pub promote: usize,
    /// Cap focus F of the single-cap section (plain LayerNAS against cap_focus = F at each
    /// cap); 1 leaves the section out.
    #[arg(long, default_value_t = 2, value_name = "F")]
    pub cap_focus: usize,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let datasets = args
        .datasets
        .iter()
        .map(|d| Dataset::parse(d).map_err(StudyError::input))
        .collect::<Result<Vec<_>, _>>()?;
    let config = BenchConfig {
        seeds: args.seeds,
        budget: args.budget,
        datasets,
        strategies: args.strategies.clone(),
        caps: args.caps,
        threads: args.threads,
        promote: args.promote,
        cap_focus: args.cap_focus,
        ..BenchConfig::default()
    };
    config.validate().map_err(StudyError::input)?;
    check_writable_dir(&args.output, "the bench report to")?;
    eprintln!(
        "layernas bench: {} strategies x {} datasets x {} seeds, budget {} trials ...",
        config.strategies.len(),
        config.datasets.len(),
        config.seeds,
        config.budget
    );
    let results = run_bench(&config)?;
    write_report(&results, &args.output)?;
    print!("{}", layernas_bench::headline(&results));
    println!(
        "\nreport written to {} (report.md, CSVs, charts) in {:.1} s",
        args.output.display(),
        results.seconds
    );
    Ok(())
}
