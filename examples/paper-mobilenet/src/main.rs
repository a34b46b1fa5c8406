//! `paper-mobilenet`: the LayerNAS paper's MobileNet experiment in miniature. See
//! examples/paper-mobilenet/README.md.

use clap::Parser;
use paper_mobilenet::{plan_text, run, targets, Options};
use std::path::PathBuf;
use std::process::ExitCode;

/// Search MobileNetV2/V3-Small spaces with LayerNAS and real training on Fashion-MNIST under
/// the backbones' MAdds, train the answers and the backbones with one final recipe over several
/// seeds, and write a report (report.md, report.json, front charts) to --out.
///
/// Example: paper-mobilenet --quick --out paper-quick
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Args {
    /// The small run: the repository's Fashion-MNIST subset, a coarse search, short training
    /// (about half an hour on 2 cores).
    #[arg(long)]
    quick: bool,
    /// Print and write the plan (plan.txt) without training.
    #[arg(long)]
    dry_run: bool,
    /// Output folder (a rerun resumes what it finished).
    #[arg(long, default_value = "paper-mobilenet-out")]
    out: PathBuf,
    /// Fashion-MNIST IDX folder [default: /usr/share/datasets/fashion-mnist; --quick: the
    /// embedded subset].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Seeds of the final training.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    seeds: u64,
    /// Threads per training.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options {
        quick: args.quick,
        dry_run: args.dry_run,
        out: args.out,
        data_dir: args.data_dir,
        seeds: args.seeds,
        threads: args.threads as usize,
    };
    let result = (|| -> Result<(), paper_mobilenet::Error> {
        let targets = targets(&options)?;
        let plan = plan_text(&options, &targets);
        print!("{plan}");
        std::fs::create_dir_all(&options.out).map_err(|e| paper_mobilenet::Error::File {
            path: options.out.display().to_string(),
            reason: e.to_string(),
        })?;
        let path = options.out.join("plan.txt");
        std::fs::write(&path, &plan).map_err(|e| paper_mobilenet::Error::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if options.dry_run {
            return Ok(());
        }
        let report = run(&options, &|line| eprintln!("{line}"))?;
        print!("{}", paper_mobilenet::markdown(&report));
        println!("report: {}", options.out.join("report.md").display());
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
