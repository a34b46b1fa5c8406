//! The live web dashboard of layernas studies: `layernas dashboard --store URL`.
//!
//! One read-only process over a SQLite file or a PostgreSQL database, safe beside a running
//! search and its workers: it reads through [`layernas_store::StoreReader`] (a read-only
//! SQLite connection in WAL mode, or a read-only PostgreSQL session; every read one short
//! transaction) and computes what it shows through [`layernas_study::views`]. Pages and the
//! JSON API under `/api/` are served by axum; every asset is embedded in the binary. No
//! endpoint changes anything.
//!
//! ```no_run
//! use layernas_dashboard::{Dashboard, Options};
//! let dashboard = Dashboard::start(Options {
//!     store: "study.db".into(),
//!     bind: "127.0.0.1:0".parse().unwrap(),
//!     token: None,
//! })
//! .unwrap();
//! println!("http://{}/", dashboard.addr());
//! dashboard.stop();
//! ```
#![warn(missing_docs)]

mod api;
mod app;
mod assets;
mod guard;

pub use app::App;

use layernas_core::StoreError;
use std::net::SocketAddr;
use std::sync::Arc;

/// How the dashboard runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The store: a SQLite file or a `postgres://` URL.
    pub store: String,
    /// The address to listen on (`127.0.0.1:8080` by default in the CLI; port 0 picks one).
    pub bind: SocketAddr,
    /// The token every request must carry when set (required off the loopback interface).
    pub token: Option<String>,
}

/// Why the dashboard cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bound to another interface than loopback without a token.
    #[error("--bind {0} listens beyond this machine: give --token TOKEN (every request must then carry it), or bind 127.0.0.1")]
    NeedsToken(SocketAddr),
    /// The token is unusable.
    #[error(
        "--token must be 16 to 256 printable ASCII characters without spaces (got {0} characters)"
    )]
    BadToken(usize),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The async runtime cannot start.
    #[error("cannot start the server's runtime: {0}")]
    Runtime(std::io::Error),
}

impl DashboardError {
    /// Whether the error is the user's input (a flag), rather than the environment's.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            DashboardError::NeedsToken(_) | DashboardError::BadToken(_)
        ) || matches!(self, DashboardError::Store(StoreError::Backend(m)) if m.starts_with("no SQLite store") || m.contains("is not a layernas store") || m.contains("memory store"))
    }
}

impl Options {
    /// Checks the token rules: a token off loopback, and a usable token.
    pub fn check(&self) -> Result<(), DashboardError> {
        if let Some(t) = &self.token {
            let ok = (16..=256).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(DashboardError::BadToken(t.chars().count()));
            }
        } else if !self.bind.ip().is_loopback() {
            return Err(DashboardError::NeedsToken(self.bind));
        }
        Ok(())
    }
}

/// A dashboard serving on a background thread (tests, benchmarks and the CLI use it).
pub struct Dashboard {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dashboard {
    /// Opens the store, binds the address and starts serving; returns once it listens.
    pub fn start(options: Options) -> Result<Dashboard, DashboardError> {
        options.check()?;
        let app = Arc::new(App::open(&options)?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("layernas-dashboard")
            .enable_all()
            .build()
            .map_err(DashboardError::Runtime)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(options.bind))
            .map_err(|source| DashboardError::Bind {
                addr: options.bind,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DashboardError::Bind {
                addr: options.bind,
                source,
            })?;
        app.set_listening(addr);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = api::router(app);
        let thread = std::thread::Builder::new()
            .name("layernas-dashboard".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let served = axum::serve(listener, router).with_graceful_shutdown(async {
                        let _ = rx.await;
                    });
                    if let Err(e) = served.await {
                        eprintln!("dashboard: server error: {e}");
                    }
                });
                runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            })
            .map_err(DashboardError::Runtime)?;
        Ok(Dashboard {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server thread.
    pub fn stop(mut self) {
        self.halt();
    }

    /// Serves until the process ends (the CLI's signal handling ends it on SIGINT/SIGTERM).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn halt(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.halt();
    }
}
