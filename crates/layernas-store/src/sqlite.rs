use crate::row::{metrics_json, parse_fidelity, report_row, Row, COLUMNS};
use layernas_core::limits::cap_trial;
use layernas_core::{
    now, Arch, Claim, ControllerLease, Evaluation, Fidelity, Lead, Reported, StoreError, StudyOpen,
    StudySpec, Trial, TrialStore,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    study TEXT NOT NULL REFERENCES studies(name),
    id INTEGER NOT NULL,
    arch TEXT NOT NULL,
    fidelity TEXT NOT NULL DEFAULT 'full',
    cost REAL NOT NULL,
    wave INTEGER NOT NULL,
    state TEXT NOT NULL,
    reward REAL,
    metrics TEXT,
    error TEXT,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    token INTEGER,
    heartbeat_at REAL,
    seconds REAL,
    finished_at REAL,
    PRIMARY KEY (study, id),
    UNIQUE (study, arch, fidelity)
);
CREATE INDEX IF NOT EXISTS trials_state ON trials(state, study, id);
CREATE TABLE IF NOT EXISTS workers (
    name TEXT PRIMARY KEY,
    last_seen REAL NOT NULL,
    trials INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS controllers (
    study TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
";

/// Version 2 of the schema (fidelities): the table of trials of a version-1 file, which held one
/// trial per architecture, rebuilt with a `fidelity` column (every old trial is `full`) and one
/// trial per (architecture, fidelity). Run in one transaction; afterwards the file's
/// `user_version` is 2.
const MIGRATE_V1_TRIALS: &str = "
CREATE TABLE trials_v2 (
    study TEXT NOT NULL REFERENCES studies(name),
    id INTEGER NOT NULL,
    arch TEXT NOT NULL,
    fidelity TEXT NOT NULL DEFAULT 'full',
    cost REAL NOT NULL,
    wave INTEGER NOT NULL,
    state TEXT NOT NULL,
    reward REAL,
    metrics TEXT,
    error TEXT,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    token INTEGER,
    heartbeat_at REAL,
    seconds REAL,
    finished_at REAL,
    PRIMARY KEY (study, id),
    UNIQUE (study, arch, fidelity)
);
INSERT INTO trials_v2 (study, id, arch, fidelity, cost, wave, state, reward, metrics, error,
    worker, attempts, token, heartbeat_at, seconds, finished_at)
  SELECT study, id, arch, 'full', cost, wave, state, reward, metrics, error, worker, attempts,
    token, heartbeat_at, seconds, finished_at FROM trials;
DROP TABLE trials;
ALTER TABLE trials_v2 RENAME TO trials;
CREATE INDEX IF NOT EXISTS trials_state ON trials(state, study, id);
";

/// The schema version this code writes (`PRAGMA user_version`): 2 since fidelities.
const SCHEMA_VERSION: i64 = 2;

/// Brings a store file to [`SCHEMA_VERSION`], in one write transaction (so two processes
/// opening an old file at once migrate it once). Studies of an old file stay readable and
/// resumable: their trials become full-fidelity trials.
fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    // (has a fidelity column, user_version); read first, so that an up-to-date file, which
    // may be read-only, is never written.
    let state = |c: &Connection| -> rusqlite::Result<(bool, i64)> {
        let has_fidelity = c.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('trials') WHERE name = 'fidelity'",
            [],
            |r| r.get(0),
        )?;
        let version = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok((has_fidelity, version))
    };
    if state(conn).map_err(|e| backend(path, e))? == (true, SCHEMA_VERSION) {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| backend(path, e))?;
    let (has_fidelity, version) = state(&tx).map_err(|e| backend(path, e))?;
    if !has_fidelity {
        tx.execute_batch(MIGRATE_V1_TRIALS).map_err(|e| {
            StoreError::Backend(format!(
                "SQLite store {path}: cannot migrate it to schema version {SCHEMA_VERSION}: {e}"
            ))
        })?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| backend(path, e))?;
    }
    tx.commit().map_err(|e| backend(path, e))
}

/// A backend error, naming the store's file (every message a user sees says which file).
fn backend(path: &str, e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("SQLite store {path}: {e}"))
}

/// A study store in one SQLite file: the embedded default. WAL journal, so a process killed at
/// any point loses nothing it committed; each result is committed as it arrives.
pub struct SqliteStore {
    conn: Connection,
    path: String,
    study: Option<String>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &str) -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open(path)
            .map_err(|e| StoreError::Backend(format!("cannot open SQLite store {path}: {e}")))?;
        let not_a_store = |e: rusqlite::Error| {
            StoreError::Backend(format!("{path} is not a layernas store: {e}"))
        };
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| backend(path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(not_a_store)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| backend(path, e))?;
        conn.execute_batch(SCHEMA).map_err(not_a_store)?;
        migrate(&mut conn, path)?;
        Ok(SqliteStore {
            conn,
            path: path.to_string(),
            study: None,
        })
    }

    /// Opens the existing store at `path` without creating a file (for commands that only
    /// read or serve a store: `worker`, `status`, `export`, `delete`).
    pub fn open_existing(path: &str) -> Result<SqliteStore, StoreError> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => SqliteStore::open(path),
            Ok(_) => Err(StoreError::Backend(format!(
                "SQLite store {path} is not a file"
            ))),
            Err(e) => Err(StoreError::Backend(format!(
                "no SQLite store at {path} ({e}); a search with --store {path} creates it"
            ))),
        }
    }

    fn study(&self) -> Result<&str, StoreError> {
        self.study.as_deref().ok_or(StoreError::NoStudy)
    }

    /// One trial row as `SELECT {COLUMNS}` returns it (also the dashboard reader's).
    pub(crate) fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            id: r.get(0)?,
            arch: r.get(1)?,
            cost: r.get(2)?,
            wave: r.get(3)?,
            state: r.get(4)?,
            reward: r.get(5)?,
            metrics: r.get(6)?,
            error: r.get(7)?,
            worker: r.get(8)?,
            attempts: r.get(9)?,
            seconds: r.get(10)?,
            fidelity: r.get(11)?,
        })
    }

    fn query_trials(
        &self,
        sql: &str,
        p: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Trial>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| backend(&self.path, e))?;
        let rows = stmt
            .query_map(p, Self::read_row)
            .map_err(|e| backend(&self.path, e))?;
        rows.map(|r| {
            r.map_err(|e| backend(&self.path, e))
                .and_then(Row::into_trial)
        })
        .collect()
    }

    fn touch_worker(
        path: &str,
        tx: &rusqlite::Transaction<'_>,
        worker: &str,
        reported: i64,
    ) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO workers (name, last_seen, trials) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET last_seen = excluded.last_seen, trials = workers.trials + excluded.trials",
            params![worker, now(), reported],
        )
        .map_err(|e| backend(path, e))?;
        Ok(())
    }
}

impl TrialStore for SqliteStore {
    fn open_study(
        &mut self,
        spec: &StudySpec,
        allow_changed: bool,
    ) -> Result<StudyOpen, StoreError> {
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT config_hash FROM studies WHERE name = ?1",
                [&spec.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| backend(&self.path, e))?;
        let opened = match stored {
            Some(hash) => {
                if hash != spec.hash && !allow_changed {
                    return Err(StoreError::ConfigChanged {
                        study: spec.name.clone(),
                        stored: hash,
                        given: spec.hash.clone(),
                    });
                }
                let trials: i64 = self
                    .conn
                    .query_row(
                        "SELECT COUNT(*) FROM trials WHERE study = ?1",
                        [&spec.name],
                        |r| r.get(0),
                    )
                    .map_err(|e| backend(&self.path, e))?;
                StudyOpen::Resumed {
                    trials: trials as usize,
                }
            }
            None => {
                self.conn
                    .execute(
                        "INSERT INTO studies (name, config, config_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                        params![spec.name, spec.config, spec.hash, now()],
                    )
                    .map_err(|e| backend(&self.path, e))?;
                StudyOpen::Created
            }
        };
        self.study = Some(spec.name.clone());
        Ok(opened)
    }

    fn lookup_at(&mut self, arch: &Arch, fidelity: Fidelity) -> Result<Option<Trial>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM trials WHERE study = ?1 AND arch = ?2 AND fidelity = ?3"
        );
        let study = self.study()?.to_string();
        Ok(self
            .query_trials(&sql, &[&study, &arch.key(), &fidelity.name()])?
            .pop())
    }

    fn get(&mut self, ids: &[u64]) -> Result<Vec<Trial>, StoreError> {
        let study = self.study()?.to_string();
        let sql = format!("SELECT {COLUMNS} FROM trials WHERE study = ?1 AND id = ?2");
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            out.extend(self.query_trials(&sql, &[&study, &(id as i64)])?);
        }
        Ok(out)
    }

    fn next_id(&mut self) -> Result<u64, StoreError> {
        let study = self.study()?.to_string();
        let next: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(id) + 1, 0) FROM trials WHERE study = ?1",
                [&study],
                |r| r.get(0),
            )
            .map_err(|e| backend(&self.path, e))?;
        Ok(next as u64)
    }

    fn enqueue(&mut self, trials: &[Trial]) -> Result<(), StoreError> {
        let study = self.study()?.to_string();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| backend(&self.path, e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO trials (study, id, arch, cost, wave, state, attempts, fidelity)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6) ON CONFLICT DO NOTHING",
                )
                .map_err(|e| backend(&self.path, e))?;
            for t in trials {
                stmt.execute(params![
                    study,
                    t.id as i64,
                    t.arch.key(),
                    t.cost,
                    t.wave,
                    t.fidelity.name()
                ])
                .map_err(|e| backend(&self.path, e))?;
            }
        }
        tx.commit().map_err(|e| backend(&self.path, e))
    }

    fn start(&mut self, id: u64, worker: &str) -> Result<(), StoreError> {
        let study = self.study()?.to_string();
        self.conn
            .prepare_cached(
                "UPDATE trials SET state = 'running', attempts = attempts + 1, worker = ?3, heartbeat_at = ?4
                 WHERE study = ?1 AND id = ?2",
            )
            .and_then(|mut s| s.execute(params![study, id as i64, worker, now()]))
            .map_err(|e| backend(&self.path, e))?;
        Ok(())
    }

    fn finish(&mut self, t: &Trial) -> Result<(), StoreError> {
        let t = &cap_trial(t);
        let study = self.study()?.to_string();
        self.conn
            .prepare_cached(
                "INSERT INTO trials (study, id, arch, cost, wave, state, reward, metrics, error, worker, attempts, seconds, finished_at, fidelity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT(study, id) DO UPDATE SET state = excluded.state, reward = excluded.reward,
                   metrics = excluded.metrics, error = excluded.error, worker = excluded.worker,
                   attempts = excluded.attempts, seconds = excluded.seconds, finished_at = excluded.finished_at,
                   token = NULL",
            )
            .and_then(|mut s| {
                s.execute(params![
                    study,
                    t.id as i64,
                    t.arch.key(),
                    t.cost,
                    t.wave,
                    t.state.name(),
                    t.reward,
                    metrics_json(t),
                    t.error,
                    t.worker,
                    t.attempts,
                    t.seconds,
                    now(),
                    t.fidelity.name()
                ])
            })
            .map_err(|e| backend(&self.path, e))?;
        Ok(())
    }

    fn trials(&mut self) -> Result<Vec<Trial>, StoreError> {
        let study = self.study()?.to_string();
        let sql = format!("SELECT {COLUMNS} FROM trials WHERE study = ?1 ORDER BY id");
        self.query_trials(&sql, &[&study])
    }

    fn set_done(&mut self, done: bool) -> Result<(), StoreError> {
        let study = self.study()?.to_string();
        self.conn
            .execute(
                "UPDATE studies SET done = ?2 WHERE name = ?1",
                params![study, done],
            )
            .map_err(|e| backend(&self.path, e))?;
        Ok(())
    }

    fn is_done(&mut self, study: &str) -> Result<Option<bool>, StoreError> {
        self.conn
            .query_row("SELECT done FROM studies WHERE name = ?1", [study], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| backend(&self.path, e))
    }

    fn study_config(&mut self, study: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT config FROM studies WHERE name = ?1", [study], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| backend(&self.path, e))
    }

    fn claim(
        &mut self,
        study: Option<&str>,
        worker: &str,
        lease_seconds: f64,
    ) -> Result<Option<Claim>, StoreError> {
        let t_now = now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend(&self.path, e))?;
        let found: Option<(String, i64, String, i64, String)> = tx
            .query_row(
                "SELECT study, id, arch, attempts, fidelity FROM trials
                 WHERE (?1 IS NULL OR study = ?1)
                   AND (state = 'pending' OR (state = 'running' AND heartbeat_at < ?2))
                 ORDER BY study, id LIMIT 1",
                params![study, t_now - lease_seconds],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(|e| backend(&self.path, e))?;
        let Some((study, id, arch, attempts, fidelity)) = found else {
            return Ok(None);
        };
        let token: i64 = tx
            .query_row("SELECT COALESCE(MAX(token), 0) + 1 FROM trials", [], |r| {
                r.get(0)
            })
            .map_err(|e| backend(&self.path, e))?;
        tx.execute(
            "UPDATE trials SET state = 'running', attempts = attempts + 1, worker = ?3, token = ?4, heartbeat_at = ?5
             WHERE study = ?1 AND id = ?2",
            params![study, id, worker, token, t_now],
        )
        .map_err(|e| backend(&self.path, e))?;
        Self::touch_worker(&self.path, &tx, worker, 0)?;
        tx.commit().map_err(|e| backend(&self.path, e))?;
        let arch = Arch::from_key(&arch)
            .ok_or_else(|| StoreError::Corrupt(format!("trial {id}: arch {arch:?}")))?;
        let fidelity = parse_fidelity(id, &fidelity)?;
        Ok(Some(Claim {
            study,
            id: id as u64,
            arch,
            fidelity,
            attempt: attempts as u32 + 1,
            token,
        }))
    }

    fn heartbeat(&mut self, claim: &Claim) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE trials SET heartbeat_at = ?4 WHERE study = ?1 AND id = ?2 AND token = ?3 AND state = 'running'",
                params![claim.study, claim.id as i64, claim.token, now()],
            )
            .map_err(|e| backend(&self.path, e))?;
        Ok(n == 1)
    }

    fn report(
        &mut self,
        claim: &Claim,
        result: Result<&Evaluation, &str>,
        seconds: f64,
        max_attempts: u32,
    ) -> Result<Reported, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend(&self.path, e))?;
        let held: Option<(i64, Option<String>)> = tx
            .query_row(
                "SELECT attempts, worker FROM trials WHERE study = ?1 AND id = ?2 AND token = ?3 AND state = 'running'",
                params![claim.study, claim.id as i64, claim.token],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| backend(&self.path, e))?;
        let Some((attempts, worker)) = held else {
            return Ok(Reported::Stale);
        };
        let row = report_row(result, attempts as u32, max_attempts);
        tx.execute(
            "UPDATE trials SET state = ?3, reward = ?4, metrics = ?5, error = ?6, seconds = ?7, finished_at = ?8, token = NULL
             WHERE study = ?1 AND id = ?2",
            params![claim.study, claim.id as i64, row.state, row.reward, row.metrics, row.error, seconds, now()],
        )
        .map_err(|e| backend(&self.path, e))?;
        if let Some(w) = worker {
            Self::touch_worker(&self.path, &tx, &w, 1)?;
        }
        tx.commit().map_err(|e| backend(&self.path, e))?;
        Ok(row.outcome)
    }

    fn workers(&mut self) -> Result<Vec<(String, f64, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, last_seen, trials FROM workers ORDER BY name")
            .map_err(|e| backend(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, f64>(1)?,
                    r.get::<_, i64>(2)? as u64,
                ))
            })
            .map_err(|e| backend(&self.path, e))?;
        rows.map(|r| r.map_err(|e| backend(&self.path, e)))
            .collect()
    }

    fn studies(&mut self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM studies ORDER BY name")
            .map_err(|e| backend(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| backend(&self.path, e))?;
        rows.map(|r| r.map_err(|e| backend(&self.path, e)))
            .collect()
    }

    fn delete_study(&mut self, study: &str) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend(&self.path, e))?;
        tx.execute("DELETE FROM trials WHERE study = ?1", params![study])
            .map_err(|e| backend(&self.path, e))?;
        tx.execute("DELETE FROM controllers WHERE study = ?1", params![study])
            .map_err(|e| backend(&self.path, e))?;
        let deleted = tx
            .execute("DELETE FROM studies WHERE name = ?1", params![study])
            .map_err(|e| backend(&self.path, e))?;
        tx.commit().map_err(|e| backend(&self.path, e))?;
        if self.study.as_deref() == Some(study) {
            self.study = None;
        }
        Ok(deleted > 0)
    }

    fn acquire_controller(
        &mut self,
        study: &str,
        holder: &str,
        token: i64,
        lease_seconds: f64,
        take_over: bool,
    ) -> Result<Lead, StoreError> {
        let path = &self.path;
        let t_now = now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend(path, e))?;
        let previous = tx
            .query_row(
                "SELECT holder, token, expires_at FROM controllers WHERE study = ?1 AND token <> ?2",
                params![study, token],
                |r| {
                    Ok(ControllerLease {
                        holder: r.get(0)?,
                        token: r.get(1)?,
                        expires_in: r.get::<_, f64>(2)? - t_now,
                    })
                },
            )
            .optional()
            .map_err(|e| backend(path, e))?;
        if let Some(p) = &previous {
            if p.expires_in > 0.0 && !take_over {
                return Ok(Lead::Held(p.clone()));
            }
        }
        tx.execute(
            "INSERT INTO controllers (study, holder, token, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(study) DO UPDATE SET holder = excluded.holder, token = excluded.token,
               expires_at = excluded.expires_at",
            params![study, holder, token, t_now + lease_seconds],
        )
        .map_err(|e| backend(path, e))?;
        tx.commit().map_err(|e| backend(path, e))?;
        Ok(Lead::Acquired { previous })
    }

    fn renew_controller(
        &mut self,
        study: &str,
        token: i64,
        lease_seconds: f64,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE controllers SET expires_at = ?3 WHERE study = ?1 AND token = ?2",
                params![study, token, now() + lease_seconds],
            )
            .map_err(|e| backend(&self.path, e))?;
        Ok(n == 1)
    }

    fn release_controller(&mut self, study: &str, token: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM controllers WHERE study = ?1 AND token = ?2",
                params![study, token],
            )
            .map_err(|e| backend(&self.path, e))?;
        Ok(())
    }

    fn controller(&mut self, study: &str) -> Result<Option<ControllerLease>, StoreError> {
        let t_now = now();
        self.conn
            .query_row(
                "SELECT holder, token, expires_at FROM controllers WHERE study = ?1",
                params![study],
                |r| {
                    Ok(ControllerLease {
                        holder: r.get(0)?,
                        token: r.get(1)?,
                        expires_in: r.get::<_, f64>(2)? - t_now,
                    })
                },
            )
            .optional()
            .map_err(|e| backend(&self.path, e))
    }
}
