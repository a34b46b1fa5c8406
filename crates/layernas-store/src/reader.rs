//! A read-only view of a store, for viewers that run beside a live search (the dashboard).
//!
//! It never creates a store, a table or a file, and never writes: a SQLite file is opened
//! read-only (`SQLITE_OPEN_READ_ONLY`, `query_only`), so its WAL readers never take the write
//! lock a controller or worker needs; a PostgreSQL session is set read-only
//! (`default_transaction_read_only`). Every read is one short transaction: a consistent
//! snapshot, held only while its rows are read.

use crate::row::COLUMNS;
use layernas_core::{now, ControllerLease, StoreError, Trial};
use postgres::Client;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// A stored study, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyRecord {
    /// Study name.
    pub name: String,
    /// Its stored configuration (JSON).
    pub config: String,
    /// Whether its controller marked it finished.
    pub done: bool,
    /// When it was created (Unix seconds).
    pub created_at: f64,
}

/// A cheap summary of a study's trials that changes whenever a trial is added, claimed,
/// started, retried or finished, or the study is marked done: a viewer rereads the trials
/// only when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StudyVersion {
    /// Trials stored.
    pub trials: u64,
    /// Attempts over all trials (grows with every claim or start).
    pub attempts: u64,
    /// Trials complete.
    pub complete: u64,
    /// Trials failed for good.
    pub failed: u64,
    /// Trials running.
    pub running: u64,
    /// The latest finish time (Unix seconds; 0 when none).
    pub last_finished: f64,
    /// Whether the study is marked done.
    pub done: bool,
}

/// The bookkeeping of a stored trial that a viewer shows beside the trial itself.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrialTimes {
    /// Its lease's last heartbeat (or start), while it runs or since it last ran.
    pub heartbeat_at: Option<f64>,
    /// When its last evaluation ended (Unix seconds).
    pub finished_at: Option<f64>,
    /// Whether a worker holds a lease token on it.
    pub leased: bool,
}

/// A study and its trials, read in one transaction.
#[derive(Debug, Clone)]
pub struct StudySnapshot {
    /// The study.
    pub study: StudyRecord,
    /// Every trial, by id.
    pub trials: Vec<Trial>,
    /// Their bookkeeping, in the same order.
    pub times: Vec<TrialTimes>,
    /// The version of these trials.
    pub version: StudyVersion,
}

/// What is live right now: the controller lease, the running trials' leases, the workers.
#[derive(Debug, Clone)]
pub struct LiveState {
    /// The store's clock when read (Unix seconds; the server's for PostgreSQL, whose leases
    /// are in server time).
    pub now: f64,
    /// The study's controller lease, live or expired.
    pub controller: Option<ControllerLease>,
    /// Running trials: id, worker, attempt, last heartbeat, whether a lease token is held.
    pub running: Vec<RunningTrial>,
    /// Workers: name, last seen (Unix seconds), trials reported.
    pub workers: Vec<(String, f64, u64)>,
}

/// A trial being evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningTrial {
    /// Trial id.
    pub id: u64,
    /// Architecture key.
    pub arch: String,
    /// Worker evaluating it.
    pub worker: Option<String>,
    /// Attempt number.
    pub attempts: u32,
    /// Last heartbeat (or start), Unix seconds.
    pub heartbeat_at: Option<f64>,
    /// Whether it is claimed with a lease token (a `layernas worker`) rather than evaluated
    /// by the controller's own threads.
    pub leased: bool,
}

/// A read-only connection to a store (see the module's documentation).
pub struct StoreReader {
    backend: Backend,
}

enum Backend {
    Sqlite {
        conn: Box<Connection>,
        path: String,
        /// `PRAGMA data_version` when each study's version was last read: while it stays the
        /// same, no other connection committed anything, and the version is known without
        /// reading the trials again.
        versions: std::collections::HashMap<String, (i64, Option<StudyVersion>)>,
    },
    Postgres {
        client: Box<Client>,
    },
}

/// The extra columns a viewer reads after the trial's own.
const EXTRA: &str = "heartbeat_at, finished_at, token IS NOT NULL";

fn sqlite_err(path: &str, e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("SQLite store {path}: {e}"))
}

fn pg_err(e: postgres::Error) -> StoreError {
    StoreError::Backend(format!("PostgreSQL: {}", crate::pg::describe(&e)))
}

impl StoreReader {
    /// Opens the store a `--store` value names, read-only. A SQLite file must exist and be a
    /// layernas store; a PostgreSQL database must hold the layernas tables.
    pub fn open(url: &str) -> Result<StoreReader, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url)
        } else if url == "memory" {
            Err(StoreError::Backend(
                "a memory store lives only inside its search process: give a SQLite file or a postgres:// URL".into(),
            ))
        } else {
            Self::open_sqlite(url)
        }
    }

    fn open_sqlite(path: &str) -> Result<StoreReader, StoreError> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(StoreError::Backend(format!(
                    "SQLite store {path} is not a file"
                )))
            }
            Err(e) => {
                return Err(StoreError::Backend(format!(
                    "no SQLite store at {path} ({e}); a search with --store {path} creates it"
                )))
            }
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Backend(format!("cannot open SQLite store {path}: {e}")))?;
        // A reader waits out a writer's brief exclusive moments (WAL recovery, checkpoints)
        // instead of failing; writers never wait for it.
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| sqlite_err(path, e))?;
        conn.pragma_update(None, "query_only", true)
            .map_err(|e| sqlite_err(path, e))?;
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('studies', 'trials', 'workers', 'controllers')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::Backend(format!("{path} is not a layernas store: {e}")))?;
        if tables != 4 {
            return Err(StoreError::Backend(format!(
                "{path} is not a layernas store (its tables are missing)"
            )));
        }
        Ok(StoreReader {
            backend: Backend::Sqlite {
                conn: Box::new(conn),
                path: path.to_string(),
                versions: Default::default(),
            },
        })
    }

    fn open_postgres(url: &str) -> Result<StoreReader, StoreError> {
        let (driver_url, tls) = crate::tls::connector(url)?;
        let mut client = Client::connect(&driver_url, tls).map_err(|e| {
            StoreError::Backend(format!(
                "cannot connect to PostgreSQL store {}: {}",
                crate::tls::redact(url),
                crate::pg::describe(&e)
            ))
        })?;
        client
            .batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; SET default_transaction_read_only = on")
            .map_err(pg_err)?;
        let found: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() \
                 AND table_name IN ('layernas_studies', 'layernas_trials', 'layernas_workers', 'layernas_controllers')",
                &[],
            )
            .map_err(pg_err)?
            .get(0);
        if found != 4 {
            return Err(StoreError::Backend(format!(
                "PostgreSQL store {} holds no layernas tables (a search with --store creates them)",
                crate::tls::redact(url)
            )));
        }
        Ok(StoreReader {
            backend: Backend::Postgres {
                client: Box::new(client),
            },
        })
    }

    /// Every study, by name.
    pub fn studies(&mut self) -> Result<Vec<StudyRecord>, StoreError> {
        match &mut self.backend {
            Backend::Sqlite { conn, path, .. } => {
                let path = path.as_str();
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT name, config, done, created_at FROM studies ORDER BY name",
                    )
                    .map_err(|e| sqlite_err(path, e))?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok(StudyRecord {
                            name: r.get(0)?,
                            config: r.get(1)?,
                            done: r.get(2)?,
                            created_at: r.get(3)?,
                        })
                    })
                    .map_err(|e| sqlite_err(path, e))?;
                rows.map(|r| r.map_err(|e| sqlite_err(path, e))).collect()
            }
            Backend::Postgres { client } => Ok(client
                .query(
                    "SELECT name, config, done, created_at FROM layernas_studies ORDER BY name",
                    &[],
                )
                .map_err(pg_err)?
                .iter()
                .map(|r| StudyRecord {
                    name: r.get(0),
                    config: r.get(1),
                    done: r.get(2),
                    created_at: r.get(3),
                })
                .collect()),
        }
    }

    /// The version of `study`'s trials; `None` if there is no such study.
    pub fn version(&mut self, study: &str) -> Result<Option<StudyVersion>, StoreError> {
        match &mut self.backend {
            Backend::Sqlite {
                conn,
                path,
                versions,
            } => {
                let path = path.as_str();
                let tx = conn.transaction().map_err(|e| sqlite_err(path, e))?;
                let data: i64 = tx
                    .query_row("PRAGMA data_version", [], |r| r.get(0))
                    .map_err(|e| sqlite_err(path, e))?;
                if let Some((seen, v)) = versions.get(study) {
                    if *seen == data {
                        return Ok(*v);
                    }
                }
                let v = sqlite_version(&tx, path, study)?;
                tx.finish().map_err(|e| sqlite_err(path, e))?;
                versions.insert(study.to_string(), (data, v));
                Ok(v)
            }
            Backend::Postgres { client } => {
                let mut tx = client.transaction().map_err(pg_err)?;
                let v = pg_version(&mut tx, study)?;
                tx.commit().map_err(pg_err)?;
                Ok(v)
            }
        }
    }

    /// The study, its trials and their version, read in one transaction; `None` if there is
    /// no such study.
    pub fn snapshot(&mut self, study: &str) -> Result<Option<StudySnapshot>, StoreError> {
        match &mut self.backend {
            Backend::Sqlite { conn, path, .. } => {
                let path = path.as_str();
                let tx = conn.transaction().map_err(|e| sqlite_err(path, e))?;
                let Some(version) = sqlite_version(&tx, path, study)? else {
                    return Ok(None);
                };
                let record = tx
                    .query_row(
                        "SELECT name, config, done, created_at FROM studies WHERE name = ?1",
                        [study],
                        |r| {
                            Ok(StudyRecord {
                                name: r.get(0)?,
                                config: r.get(1)?,
                                done: r.get(2)?,
                                created_at: r.get(3)?,
                            })
                        },
                    )
                    .map_err(|e| sqlite_err(path, e))?;
                // A file written before trials had a fidelity (which only a writer migrates):
                // its trials are all full fidelity.
                let has_fidelity: bool = tx
                    .query_row(
                        "SELECT COUNT(*) > 0 FROM pragma_table_info('trials') WHERE name = 'fidelity'",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(|e| sqlite_err(path, e))?;
                let columns = if has_fidelity {
                    COLUMNS.to_string()
                } else {
                    COLUMNS.replace("fidelity", "'full' AS fidelity")
                };
                let (trials, times) = {
                    let mut stmt = tx
                        .prepare_cached(&format!(
                            "SELECT {columns}, {EXTRA} FROM trials WHERE study = ?1 ORDER BY id"
                        ))
                        .map_err(|e| sqlite_err(path, e))?;
                    let rows = stmt
                        .query_map([study], |r| {
                            Ok((
                                crate::sqlite::SqliteStore::read_row(r)?,
                                r.get::<_, Option<f64>>(12)?,
                                r.get::<_, Option<f64>>(13)?,
                                r.get::<_, bool>(14)?,
                            ))
                        })
                        .map_err(|e| sqlite_err(path, e))?;
                    let mut trials = Vec::new();
                    let mut times = Vec::new();
                    for r in rows {
                        let (row, heartbeat_at, finished_at, leased) =
                            r.map_err(|e| sqlite_err(path, e))?;
                        trials.push(row.into_trial()?);
                        times.push(TrialTimes {
                            heartbeat_at,
                            finished_at,
                            leased,
                        });
                    }
                    (trials, times)
                };
                tx.finish().map_err(|e| sqlite_err(path, e))?;
                Ok(Some(StudySnapshot {
                    study: record,
                    trials,
                    times,
                    version,
                }))
            }
            Backend::Postgres { client } => {
                let mut tx = client
                    .build_transaction()
                    .isolation_level(postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .map_err(pg_err)?;
                let Some(version) = pg_version(&mut tx, study)? else {
                    return Ok(None);
                };
                let r = tx
                    .query_one(
                        "SELECT name, config, done, created_at FROM layernas_studies WHERE name = $1",
                        &[&study],
                    )
                    .map_err(pg_err)?;
                let record = StudyRecord {
                    name: r.get(0),
                    config: r.get(1),
                    done: r.get(2),
                    created_at: r.get(3),
                };
                let rows = tx
                    .query(
                        &format!(
                            "SELECT {COLUMNS}, {EXTRA} FROM layernas_trials WHERE study = $1 ORDER BY id"
                        ),
                        &[&study],
                    )
                    .map_err(pg_err)?;
                tx.commit().map_err(pg_err)?;
                let trials = rows
                    .iter()
                    .map(|r| crate::pg::PgStore::read(r).into_trial())
                    .collect::<Result<Vec<_>, StoreError>>()?;
                let times = rows
                    .iter()
                    .map(|r| TrialTimes {
                        heartbeat_at: r.get(12),
                        finished_at: r.get(13),
                        leased: r.get(14),
                    })
                    .collect();
                Ok(Some(StudySnapshot {
                    study: record,
                    trials,
                    times,
                    version,
                }))
            }
        }
    }

    /// The live state of `study`: its controller, running trials and the store's workers.
    pub fn live(&mut self, study: &str) -> Result<LiveState, StoreError> {
        match &mut self.backend {
            Backend::Sqlite { conn, path, .. } => {
                let path = path.as_str();
                let tx = conn.transaction().map_err(|e| sqlite_err(path, e))?;
                let t_now = now();
                let controller = tx
                    .query_row(
                        "SELECT holder, token, expires_at FROM controllers WHERE study = ?1",
                        [study],
                        |r| {
                            Ok(ControllerLease {
                                holder: r.get(0)?,
                                token: r.get(1)?,
                                expires_in: r.get::<_, f64>(2)? - t_now,
                            })
                        },
                    )
                    .optional()
                    .map_err(|e| sqlite_err(path, e))?;
                let running = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT id, arch, worker, attempts, heartbeat_at, token IS NOT NULL FROM trials
                             WHERE state = 'running' AND study = ?1 ORDER BY id",
                        )
                        .map_err(|e| sqlite_err(path, e))?;
                    let rows = stmt
                        .query_map([study], |r| {
                            Ok(RunningTrial {
                                id: r.get::<_, i64>(0)? as u64,
                                arch: r.get(1)?,
                                worker: r.get(2)?,
                                attempts: r.get::<_, i64>(3)? as u32,
                                heartbeat_at: r.get(4)?,
                                leased: r.get(5)?,
                            })
                        })
                        .map_err(|e| sqlite_err(path, e))?;
                    rows.map(|r| r.map_err(|e| sqlite_err(path, e)))
                        .collect::<Result<Vec<_>, _>>()?
                };
                let workers = {
                    let mut stmt = tx
                        .prepare_cached("SELECT name, last_seen, trials FROM workers ORDER BY name")
                        .map_err(|e| sqlite_err(path, e))?;
                    let rows = stmt
                        .query_map([], |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, f64>(1)?,
                                r.get::<_, i64>(2)? as u64,
                            ))
                        })
                        .map_err(|e| sqlite_err(path, e))?;
                    rows.map(|r| r.map_err(|e| sqlite_err(path, e)))
                        .collect::<Result<Vec<_>, _>>()?
                };
                tx.finish().map_err(|e| sqlite_err(path, e))?;
                Ok(LiveState {
                    now: t_now,
                    controller,
                    running,
                    workers,
                })
            }
            Backend::Postgres { client } => {
                let mut tx = client
                    .build_transaction()
                    .isolation_level(postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .map_err(pg_err)?;
                let t_now: f64 = tx
                    .query_one("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8", &[])
                    .map_err(pg_err)?
                    .get(0);
                let controller = tx
                    .query_opt(
                        "SELECT holder, token, expires_at FROM layernas_controllers WHERE study = $1",
                        &[&study],
                    )
                    .map_err(pg_err)?
                    .map(|r| ControllerLease {
                        holder: r.get(0),
                        token: r.get(1),
                        expires_in: r.get::<_, f64>(2) - t_now,
                    });
                let running = tx
                    .query(
                        "SELECT id, arch, worker, attempts, heartbeat_at, token IS NOT NULL FROM layernas_trials
                         WHERE state = 'running' AND study = $1 ORDER BY id",
                        &[&study],
                    )
                    .map_err(pg_err)?
                    .iter()
                    .map(|r| RunningTrial {
                        id: r.get::<_, i64>(0) as u64,
                        arch: r.get(1),
                        worker: r.get(2),
                        attempts: r.get::<_, i32>(3) as u32,
                        heartbeat_at: r.get(4),
                        leased: r.get(5),
                    })
                    .collect();
                let workers = tx
                    .query(
                        "SELECT name, last_seen, trials FROM layernas_workers ORDER BY name",
                        &[],
                    )
                    .map_err(pg_err)?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2) as u64))
                    .collect();
                tx.commit().map_err(pg_err)?;
                Ok(LiveState {
                    now: t_now,
                    controller,
                    running,
                    workers,
                })
            }
        }
    }
}

fn sqlite_version(
    tx: &rusqlite::Transaction<'_>,
    path: &str,
    study: &str,
) -> Result<Option<StudyVersion>, StoreError> {
    let done: Option<bool> = tx
        .query_row("SELECT done FROM studies WHERE name = ?1", [study], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| sqlite_err(path, e))?;
    let Some(done) = done else {
        return Ok(None);
    };
    tx.query_row(
        "SELECT COUNT(*), COALESCE(SUM(attempts), 0), COALESCE(SUM(state = 'complete'), 0),
                COALESCE(SUM(state = 'failed'), 0), COALESCE(SUM(state = 'running'), 0),
                COALESCE(MAX(finished_at), 0)
         FROM trials WHERE study = ?1",
        [study],
        |r| {
            Ok(StudyVersion {
                trials: r.get::<_, i64>(0)? as u64,
                attempts: r.get::<_, i64>(1)? as u64,
                complete: r.get::<_, i64>(2)? as u64,
                failed: r.get::<_, i64>(3)? as u64,
                running: r.get::<_, i64>(4)? as u64,
                last_finished: r.get(5)?,
                done,
            })
        },
    )
    .map(Some)
    .map_err(|e| sqlite_err(path, e))
}

fn pg_version(
    tx: &mut postgres::Transaction<'_>,
    study: &str,
) -> Result<Option<StudyVersion>, StoreError> {
    let Some(done) = tx
        .query_opt(
            "SELECT done FROM layernas_studies WHERE name = $1",
            &[&study],
        )
        .map_err(pg_err)?
        .map(|r| r.get::<_, bool>(0))
    else {
        return Ok(None);
    };
    let r = tx
        .query_one(
            "SELECT COUNT(*)::bigint, COALESCE(SUM(attempts), 0)::bigint,
                    COUNT(*) FILTER (WHERE state = 'complete')::bigint,
                    COUNT(*) FILTER (WHERE state = 'failed')::bigint,
                    COUNT(*) FILTER (WHERE state = 'running')::bigint,
                    COALESCE(MAX(finished_at), 0)::float8
             FROM layernas_trials WHERE study = $1",
            &[&study],
        )
        .map_err(pg_err)?;
    Ok(Some(StudyVersion {
        trials: r.get::<_, i64>(0) as u64,
        attempts: r.get::<_, i64>(1) as u64,
        complete: r.get::<_, i64>(2) as u64,
        failed: r.get::<_, i64>(3) as u64,
        running: r.get::<_, i64>(4) as u64,
        last_finished: r.get(5),
        done,
    }))
}
