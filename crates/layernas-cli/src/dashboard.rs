//! `layernas dashboard`: the live web dashboard over a store (the server is
//! `layernas-dashboard`; this module parses its flags and starts it).

use clap::Args;
use layernas_dashboard::{Dashboard, Options};
use layernas_study::StudyError;
use std::io::Write;
use std::net::SocketAddr;

pub const EXAMPLES: &str = "Examples:
  # beside a running search: open http://127.0.0.1:8080/
  layernas dashboard --store study.db
  # for a team, over PostgreSQL; every request must carry the token
  layernas dashboard --store postgres://user@db:5432/nas --bind 0.0.0.0:8080 --token 9f2c61d0a4b7e8c3d5f1

Read-only: it never writes to the store, and is safe while searches and workers write to it.
The JSON API is under /api/ (see the README).";

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Trial store: a SQLite file or postgres://...
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Token every request must carry (Authorization: Bearer TOKEN, or open /?token=TOKEN
    /// once); 16 to 256 printable characters; required when --bind is not a loopback address.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// Serves until the process is stopped (Ctrl-C).
pub fn run(args: &DashboardArgs) -> anyhow::Result<()> {
    let dashboard = Dashboard::start(Options {
        store: args.store.clone(),
        bind: args.bind,
        token: args.token.clone(),
    })
    .map_err(|e| -> anyhow::Error {
        if e.is_input() {
            StudyError::Input(e.to_string()).into()
        } else {
            e.into()
        }
    })?;
    let mut out = std::io::stdout();
    writeln!(
        out,
        "layernas dashboard: http://{}/{} (read-only; Ctrl-C stops it)",
        dashboard.addr(),
        if args.token.is_some() {
            " (open /?token=TOKEN once)"
        } else {
            ""
        }
    )?;
    out.flush()?;
    dashboard.wait();
    Ok(())
}
