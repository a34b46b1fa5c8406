//! `layernas`: constrained, multi-objective neural architecture search with LayerNAS.

mod bench;
mod inspect;
mod report;
mod search;
mod spaces;
mod study;
mod worker;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "layernas",
    version,
    about = "Constrained neural architecture search with LayerNAS (Fan et al., arXiv 2304.11517)",
    after_help = "Examples:\n  layernas search --space nb201 --dataset cifar10 --cost flops --max-cost 60\n  layernas bench --output bench-report"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Search a space for the best model under a cost cap, and the whole cost/reward front.
    #[command(after_help = search::EXAMPLES)]
    Search(Box<search::SearchArgs>),
    /// Compare strategies on the benchmark table and write a report (markdown, CSV, charts).
    #[command(after_help = bench::EXAMPLES)]
    Bench(bench::BenchArgs),
    /// Describe a search space: its layers and options, size, cost range, LayerNAS trial bound.
    #[command(after_help = inspect::SPACE_EXAMPLES)]
    Space(inspect::SpaceArgs),
    /// Show the network of one architecture, layer by layer, with MAdds and params.
    #[command(after_help = inspect::SHOW_EXAMPLES)]
    Show(inspect::ShowArgs),
    /// Time every distinct layer of a space on this machine and write a latency table.
    #[command(after_help = inspect::PROFILE_EXAMPLES)]
    Profile(inspect::ProfileArgs),
    /// Evaluate pending trials of stored studies (run any number, on any machines).
    #[command(after_help = worker::WORKER_EXAMPLES)]
    Worker(worker::WorkerArgs),
    /// Progress of stored studies: waves, trials by state, workers, failures.
    #[command(after_help = worker::STATUS_EXAMPLES)]
    Status(worker::StatusArgs),
    /// Every trial of a stored study as CSV or JSON.
    #[command(after_help = worker::EXPORT_EXAMPLES)]
    Export(worker::ExportArgs),
    /// Delete a stored study and all its trials (asks for --yes).
    #[command(after_help = worker::DELETE_EXAMPLES)]
    Delete(worker::DeleteArgs),
}

fn main() -> ExitCode {
    // Exit quietly when the reader of our output goes away (`layernas export | head`), as Unix
    // tools do, instead of panicking on a broken pipe.
    // SAFETY: resetting a signal's disposition to its default at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Search(args) => search::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Space(args) => inspect::space(&args),
        Command::Show(args) => inspect::show(&args),
        Command::Profile(args) => inspect::profile(&args),
        Command::Worker(args) => worker::worker(&args),
        Command::Status(args) => worker::status(&args),
        Command::Export(args) => worker::export(&args),
        Command::Delete(args) => worker::delete(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<study::InputError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
