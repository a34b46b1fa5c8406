//! Trial stores: [`SqliteStore`] (the embedded default, `--store study.db`) and [`PgStore`]
//! (`--store postgres://...`, for workers on many machines), beside the core's
//! [`MemoryStore`](layernas_core::MemoryStore). All implement
//! [`TrialStore`](layernas_core::TrialStore) and pass one conformance suite
//! (`tests/conformance.rs`).
//!
//! ```
//! use layernas_core::{StudySpec, TrialStore};
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = layernas_store::open(dir.path().join("study.db").to_str().unwrap()).unwrap();
//! let spec = StudySpec { name: "demo".into(), config: "{}".into(), hash: "h".into() };
//! store.open_study(&spec, false).unwrap();
//! assert!(store.trials().unwrap().is_empty());
//! ```
#![warn(missing_docs)]

mod pg;
mod reader;
mod row;
mod sqlite;
mod tls;

pub use pg::PgStore;
pub use reader::{
    LiveState, RunningTrial, StoreReader, StudyRecord, StudySnapshot, StudyVersion, TrialTimes,
};
pub use sqlite::SqliteStore;

use layernas_core::{MemoryStore, StoreError, TrialStore};

/// Opens the store a `--store` value names: `memory`, `postgres://...` / `postgresql://...`,
/// or a SQLite file path (created if missing).
pub fn open(url: &str) -> Result<Box<dyn TrialStore>, StoreError> {
    if url == "memory" {
        Ok(Box::new(MemoryStore::default()))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PgStore::connect(url)?))
    } else {
        Ok(Box::new(SqliteStore::open(url)?))
    }
}

/// Like [`open`], but never creates a SQLite file: a missing file is an error naming it. For
/// commands that serve or read an existing store (`worker`, `status`, `export`, `delete`).
pub fn open_existing(url: &str) -> Result<Box<dyn TrialStore>, StoreError> {
    if url == "memory" || url.starts_with("postgres://") || url.starts_with("postgresql://") {
        open(url)
    } else {
        Ok(Box::new(SqliteStore::open_existing(url)?))
    }
}
