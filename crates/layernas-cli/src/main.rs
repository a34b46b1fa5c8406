//! `layernas`: constrained, multi-objective neural architecture search with LayerNAS.

mod bench;
mod dashboard;
mod export_model;
mod inspect;
mod report;
mod search;
mod studies;
mod train;
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
    /// Train one architecture (given, or picked from a stored study), resumable, into a folder.
    #[command(after_help = train::EXAMPLES)]
    Train(Box<train::TrainArgs>),
    /// Show the network of one architecture, layer by layer, with MAdds and params.
    #[command(after_help = inspect::SHOW_EXAMPLES)]
    Show(inspect::ShowArgs),
    /// Time every distinct layer of a space on this machine and write a latency table.
    #[command(after_help = inspect::PROFILE_EXAMPLES)]
    Profile(inspect::ProfileArgs),
    /// Write a trained model (or an architecture with initial weights) as an ONNX file.
    #[command(after_help = export_model::EXAMPLES)]
    ExportModel(export_model::ExportModelArgs),
    /// Evaluate pending trials of stored studies (run any number, on any machines).
    #[command(after_help = worker::WORKER_EXAMPLES)]
    Worker(worker::WorkerArgs),
    /// Progress of stored studies: waves, trials by state, workers, failures.
    #[command(after_help = studies::STATUS_EXAMPLES)]
    Status(studies::StatusArgs),
    /// Every trial of a stored study as CSV or JSON.
    #[command(after_help = studies::EXPORT_EXAMPLES)]
    Export(studies::ExportArgs),
    /// Delete a stored study and all its trials (asks for --yes).
    #[command(after_help = studies::DELETE_EXAMPLES)]
    Delete(studies::DeleteArgs),
    /// Serve a live web dashboard of a store's studies (read-only).
    #[command(after_help = dashboard::EXAMPLES)]
    Dashboard(dashboard::DashboardArgs),
}

fn main() -> ExitCode {
    // SIGPIPE stays ignored (as Rust sets it up), so that a trial command closing its input
    // can never kill layernas; a closed standard output or error ends layernas quietly below.
    layernas_eval::die_quietly_on_closed_output();
    // SIGINT, SIGTERM and SIGHUP reach the running trial commands before layernas exits.
    if let Err(e) = layernas_eval::install_signal_forwarding() {
        eprintln!("warning: cannot forward signals to trial commands: {e}");
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Search(args) => search::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Space(args) => inspect::space(&args),
        Command::Train(args) => train::run(&args),
        Command::Show(args) => inspect::show(&args),
        Command::Profile(args) => inspect::profile(&args),
        Command::ExportModel(args) => export_model::run(&args),
        Command::Worker(args) => worker::worker(&args),
        Command::Status(args) => studies::status(&args),
        Command::Export(args) => studies::export(&args),
        Command::Delete(args) => studies::delete(&args),
        Command::Dashboard(args) => dashboard::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if layernas_eval::is_closed_output(err.as_ref()) => {
            layernas_eval::die_of_sigpipe()
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            if err
                .downcast_ref::<layernas_study::StudyError>()
                .is_some_and(layernas_study::StudyError::is_input)
            {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
