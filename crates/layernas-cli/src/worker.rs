//! `layernas worker`: its flags; the loop is the study library's ([`run_worker`]).

use clap::Args;
use layernas_study::worker::{run_worker, WorkerOptions};

pub const WORKER_EXAMPLES: &str = "Examples:
  # evaluate trials of study `s1` until it is finished
  layernas worker --store postgres://user@db:5432/nas --study s1

  # any study in the store; exit after 5 idle minutes
  layernas worker --store postgres://user@db:5432/nas --idle-exit 300";

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Trial store shared with the controller: postgres://... or a SQLite file on this machine.
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// Only this study [default: any study with pending trials].
    #[arg(long, value_name = "NAME")]
    pub study: Option<String>,
    /// Worker name in the store [default: <hostname>:<pid>].
    #[arg(long)]
    pub name: Option<String>,
    /// Seconds without a heartbeat after which a trial is handed to another worker
    /// (0.1 to 86400).
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "SECONDS",
        default_value_t = 30.0
    )]
    pub lease: f64,
    /// Seconds between heartbeats (0.01 or more, shorter than --lease; well under it).
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "SECONDS",
        default_value_t = 5.0
    )]
    pub heartbeat: f64,
    /// Exit after this many seconds without work (0 to 31536000; never when --study is given:
    /// then the worker exits when the study is finished).
    #[arg(allow_hyphen_values = true, long, value_name = "SECONDS")]
    pub idle_exit: Option<f64>,
    /// Seconds between looks at the store while idle (0.01 to 60).
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "SECONDS",
        default_value_t = 0.2
    )]
    pub poll: f64,
    /// Seconds to wait for the store (a SQLite file) and the --study to appear, since workers
    /// may start before their controller; then a missing one is an error (0 to 86400).
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "SECONDS",
        default_value_t = 30.0
    )]
    pub wait: f64,
}

impl WorkerArgs {
    /// The flags as the library's worker options.
    fn options(&self) -> WorkerOptions {
        WorkerOptions {
            store: self.store.clone(),
            study: self.study.clone(),
            name: self.name.clone(),
            lease: self.lease,
            heartbeat: self.heartbeat,
            idle_exit: self.idle_exit,
            poll: self.poll,
            wait: self.wait,
        }
    }
}

/// Runs a worker, logging to standard error.
pub fn worker(args: &WorkerArgs) -> anyhow::Result<()> {
    Ok(run_worker(&args.options(), &|line| eprintln!("{line}"))?)
}
