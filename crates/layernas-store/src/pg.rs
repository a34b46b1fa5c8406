use crate::row::{metrics_json, parse_fidelity, report_row, Row, COLUMNS};
use layernas_core::limits::cap_trial;
use layernas_core::{
    Arch, Claim, ControllerLease, Evaluation, Fidelity, Lead, Reported, StoreError, StudyOpen,
    StudySpec, Trial, TrialStore,
};
use postgres::Client;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS layernas_studies (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    done BOOLEAN NOT NULL DEFAULT FALSE,
    created_at DOUBLE PRECISION NOT NULL DEFAULT EXTRACT(EPOCH FROM clock_timestamp())
);
CREATE TABLE IF NOT EXISTS layernas_trials (
    study TEXT NOT NULL REFERENCES layernas_studies(name) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    arch TEXT NOT NULL,
    fidelity TEXT NOT NULL DEFAULT 'full',
    cost DOUBLE PRECISION NOT NULL,
    wave INTEGER NOT NULL,
    state TEXT NOT NULL,
    reward DOUBLE PRECISION,
    metrics TEXT,
    error TEXT,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    token BIGINT,
    heartbeat_at DOUBLE PRECISION,
    seconds DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    PRIMARY KEY (study, id),
    UNIQUE (study, arch, fidelity)
);
CREATE INDEX IF NOT EXISTS layernas_trials_state ON layernas_trials(state, study, id);
CREATE TABLE IF NOT EXISTS layernas_workers (
    name TEXT PRIMARY KEY,
    last_seen DOUBLE PRECISION NOT NULL,
    trials BIGINT NOT NULL DEFAULT 0
);
CREATE SEQUENCE IF NOT EXISTS layernas_tokens;
CREATE TABLE IF NOT EXISTS layernas_controllers (
    study TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token BIGINT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
";

/// Version 2 of the schema (fidelities), for a database whose `layernas_trials` predates them
/// (one trial per architecture): a `fidelity` column (every old trial is `full`) and one trial
/// per (architecture, fidelity). It changes nothing when the column exists, and takes no table
/// lock then; run under the schema's advisory lock, so concurrent starts migrate once. Binaries
/// from before the migration keep working on a migrated database (their inserts get `full`).
const MIGRATE_V1_TRIALS: &str = "
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'layernas_trials'
      AND column_name = 'fidelity'
  ) THEN
    ALTER TABLE layernas_trials ADD COLUMN fidelity TEXT NOT NULL DEFAULT 'full';
    CREATE UNIQUE INDEX layernas_trials_arch_fidelity
      ON layernas_trials (study, arch, fidelity);
    ALTER TABLE layernas_trials DROP CONSTRAINT IF EXISTS layernas_trials_study_arch_key;
  END IF;
END
$$;
";

/// Server time, so leases compare clocks of one machine whatever the workers' clocks say.
const NOW: &str = "EXTRACT(EPOCH FROM clock_timestamp())::float8";

/// What went wrong, in one line: the server's own message (with its detail and hint) for a
/// server error, else the error and its causes (e.g. `error connecting to server: Connection
/// refused`).
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text.replace('\n', " ")
}

fn backend(e: postgres::Error) -> StoreError {
    StoreError::Backend(format!("PostgreSQL: {}", describe(&e)))
}

/// A store in PostgreSQL: studies shared by a controller and workers on many machines. Trials
/// are handed out with row locks (`FOR UPDATE SKIP LOCKED`), leases are renewed by heartbeats,
/// and a result is accepted only from the holder of the current lease token.
pub struct PgStore {
    client: Client,
    study: Option<String>,
}

impl PgStore {
    /// Connects and creates the tables if needed.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let (driver_url, tls) = crate::tls::connector(url)?;
        let mut client = Client::connect(&driver_url, tls).map_err(|e| {
            StoreError::Backend(format!(
                "cannot connect to PostgreSQL store {}: {}",
                crate::tls::redact(url),
                describe(&e)
            ))
        })?;
        // Serialise schema creation between workers starting at once.
        client
            .batch_execute("SELECT pg_advisory_lock(726354)")
            .map_err(backend)?;
        let created = client
            .batch_execute(SCHEMA)
            .and_then(|()| client.batch_execute(MIGRATE_V1_TRIALS))
            .map_err(backend);
        client
            .batch_execute("SELECT pg_advisory_unlock(726354)")
            .map_err(backend)?;
        created?;
        Ok(PgStore {
            client,
            study: None,
        })
    }

    /// Whether this connection is encrypted (TLS), as the server sees it.
    pub fn encrypted(&mut self) -> Result<bool, StoreError> {
        Ok(self
            .client
            .query_one(
                "SELECT COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                &[],
            )
            .map_err(backend)?
            .get(0))
    }

    fn study(&self) -> Result<String, StoreError> {
        self.study.clone().ok_or(StoreError::NoStudy)
    }

    pub(crate) fn read(r: &postgres::Row) -> Row {
        Row {
            id: r.get(0),
            arch: r.get(1),
            cost: r.get(2),
            wave: r.get::<_, i32>(3) as i64,
            state: r.get(4),
            reward: r.get(5),
            metrics: r.get(6),
            error: r.get(7),
            worker: r.get(8),
            attempts: r.get::<_, i32>(9) as i64,
            seconds: r.get(10),
            fidelity: r.get(11),
        }
    }

    fn query_trials(
        &mut self,
        sql: &str,
        p: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Trial>, StoreError> {
        self.client
            .query(sql, p)
            .map_err(backend)?
            .iter()
            .map(|r| Self::read(r).into_trial())
            .collect()
    }
}

impl TrialStore for PgStore {
    fn open_study(
        &mut self,
        spec: &StudySpec,
        allow_changed: bool,
    ) -> Result<StudyOpen, StoreError> {
        let inserted = self
            .client
            .execute(
                "INSERT INTO layernas_studies (name, config, config_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&spec.name, &spec.config, &spec.hash],
            )
            .map_err(backend)?;
        let opened = if inserted == 1 {
            StudyOpen::Created
        } else {
            let row = self
                .client
                .query_one(
                    "SELECT config_hash FROM layernas_studies WHERE name = $1",
                    &[&spec.name],
                )
                .map_err(backend)?;
            let hash: String = row.get(0);
            if hash != spec.hash && !allow_changed {
                return Err(StoreError::ConfigChanged {
                    study: spec.name.clone(),
                    stored: hash,
                    given: spec.hash.clone(),
                });
            }
            let n: i64 = self
                .client
                .query_one(
                    "SELECT COUNT(*) FROM layernas_trials WHERE study = $1",
                    &[&spec.name],
                )
                .map_err(backend)?
                .get(0);
            StudyOpen::Resumed { trials: n as usize }
        };
        self.study = Some(spec.name.clone());
        Ok(opened)
    }

    fn lookup_at(&mut self, arch: &Arch, fidelity: Fidelity) -> Result<Option<Trial>, StoreError> {
        let study = self.study()?;
        let sql = format!(
            "SELECT {COLUMNS} FROM layernas_trials WHERE study = $1 AND arch = $2 AND fidelity = $3"
        );
        Ok(self
            .query_trials(&sql, &[&study, &arch.key(), &fidelity.name()])?
            .pop())
    }

    fn get(&mut self, ids: &[u64]) -> Result<Vec<Trial>, StoreError> {
        let study = self.study()?;
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM layernas_trials WHERE study = $1 AND id = ANY($2) ORDER BY id"
        );
        self.query_trials(&sql, &[&study, &ids])
    }

    fn next_id(&mut self) -> Result<u64, StoreError> {
        let study = self.study()?;
        let n: i64 = self
            .client
            .query_one(
                "SELECT COALESCE(MAX(id) + 1, 0) FROM layernas_trials WHERE study = $1",
                &[&study],
            )
            .map_err(backend)?
            .get(0);
        Ok(n as u64)
    }

    fn enqueue(&mut self, trials: &[Trial]) -> Result<(), StoreError> {
        let study = self.study()?;
        let mut tx = self.client.transaction().map_err(backend)?;
        let stmt = tx
            .prepare(
                "INSERT INTO layernas_trials (study, id, arch, cost, wave, state, attempts, fidelity)
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6) ON CONFLICT DO NOTHING",
            )
            .map_err(backend)?;
        for t in trials {
            tx.execute(
                &stmt,
                &[
                    &study,
                    &(t.id as i64),
                    &t.arch.key(),
                    &t.cost,
                    &(t.wave as i32),
                    &t.fidelity.name(),
                ],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    fn start(&mut self, id: u64, worker: &str) -> Result<(), StoreError> {
        let study = self.study()?;
        self.client
            .execute(
                &format!("UPDATE layernas_trials SET state = 'running', attempts = attempts + 1, worker = $3, heartbeat_at = {NOW} WHERE study = $1 AND id = $2"),
                &[&study, &(id as i64), &worker],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn finish(&mut self, t: &Trial) -> Result<(), StoreError> {
        let t = &cap_trial(t);
        let study = self.study()?;
        self.client
            .execute(
                &format!(
                    "INSERT INTO layernas_trials (study, id, arch, cost, wave, state, reward, metrics, error, worker, attempts, seconds, finished_at, fidelity)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, {NOW}, $13)
                     ON CONFLICT (study, id) DO UPDATE SET state = excluded.state, reward = excluded.reward,
                       metrics = excluded.metrics, error = excluded.error, worker = excluded.worker,
                       attempts = excluded.attempts, seconds = excluded.seconds, finished_at = excluded.finished_at,
                       token = NULL"
                ),
                &[
                    &study,
                    &(t.id as i64),
                    &t.arch.key(),
                    &t.cost,
                    &(t.wave as i32),
                    &t.state.name(),
                    &t.reward,
                    &metrics_json(t),
                    &t.error,
                    &t.worker,
                    &(t.attempts as i32),
                    &t.seconds,
                    &t.fidelity.name(),
                ],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn trials(&mut self) -> Result<Vec<Trial>, StoreError> {
        let study = self.study()?;
        let sql = format!("SELECT {COLUMNS} FROM layernas_trials WHERE study = $1 ORDER BY id");
        self.query_trials(&sql, &[&study])
    }

    fn set_done(&mut self, done: bool) -> Result<(), StoreError> {
        let study = self.study()?;
        self.client
            .execute(
                "UPDATE layernas_studies SET done = $2 WHERE name = $1",
                &[&study, &done],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn is_done(&mut self, study: &str) -> Result<Option<bool>, StoreError> {
        Ok(self
            .client
            .query_opt(
                "SELECT done FROM layernas_studies WHERE name = $1",
                &[&study],
            )
            .map_err(backend)?
            .map(|r| r.get(0)))
    }

    fn study_config(&mut self, study: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .client
            .query_opt(
                "SELECT config FROM layernas_studies WHERE name = $1",
                &[&study],
            )
            .map_err(backend)?
            .map(|r| r.get(0)))
    }

    fn claim(
        &mut self,
        study: Option<&str>,
        worker: &str,
        lease_seconds: f64,
    ) -> Result<Option<Claim>, StoreError> {
        let mut tx = self.client.transaction().map_err(backend)?;
        let row = tx
            .query_opt(
                &format!(
                    "WITH c AS (
                       SELECT study, id FROM layernas_trials
                       WHERE ($1::text IS NULL OR study = $1)
                         AND (state = 'pending' OR (state = 'running' AND heartbeat_at < {NOW} - $2))
                       ORDER BY study, id LIMIT 1
                       FOR UPDATE SKIP LOCKED)
                     UPDATE layernas_trials t
                     SET state = 'running', attempts = t.attempts + 1, worker = $3,
                         token = nextval('layernas_tokens'), heartbeat_at = {NOW}
                     FROM c WHERE t.study = c.study AND t.id = c.id
                     RETURNING t.study, t.id, t.arch, t.attempts, t.token, t.fidelity"
                ),
                &[&study, &lease_seconds, &worker],
            )
            .map_err(backend)?;
        tx.execute(
            &format!(
                "INSERT INTO layernas_workers (name, last_seen) VALUES ($1, {NOW})
                 ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen"
            ),
            &[&worker],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let arch_key: String = row.get(2);
        let id: i64 = row.get(1);
        let arch = Arch::from_key(&arch_key)
            .ok_or_else(|| StoreError::Corrupt(format!("trial {id}: arch {arch_key:?}")))?;
        let fidelity = parse_fidelity(id, row.get(5))?;
        Ok(Some(Claim {
            study: row.get(0),
            id: id as u64,
            arch,
            fidelity,
            attempt: row.get::<_, i32>(3) as u32,
            token: row.get(4),
        }))
    }

    fn heartbeat(&mut self, claim: &Claim) -> Result<bool, StoreError> {
        let n = self
            .client
            .execute(
                &format!("UPDATE layernas_trials SET heartbeat_at = {NOW} WHERE study = $1 AND id = $2 AND token = $3 AND state = 'running'"),
                &[&claim.study, &(claim.id as i64), &claim.token],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    fn report(
        &mut self,
        claim: &Claim,
        result: Result<&Evaluation, &str>,
        seconds: f64,
        max_attempts: u32,
    ) -> Result<Reported, StoreError> {
        let mut tx = self.client.transaction().map_err(backend)?;
        let held = tx
            .query_opt(
                "SELECT attempts, worker FROM layernas_trials
                 WHERE study = $1 AND id = $2 AND token = $3 AND state = 'running' FOR UPDATE",
                &[&claim.study, &(claim.id as i64), &claim.token],
            )
            .map_err(backend)?;
        let Some(held) = held else {
            return Ok(Reported::Stale);
        };
        let attempts: i32 = held.get(0);
        let worker: Option<String> = held.get(1);
        let row = report_row(result, attempts as u32, max_attempts);
        tx.execute(
            &format!(
                "UPDATE layernas_trials SET state = $3, reward = $4, metrics = $5, error = $6, seconds = $7,
                   finished_at = {NOW}, token = NULL WHERE study = $1 AND id = $2"
            ),
            &[&claim.study, &(claim.id as i64), &row.state, &row.reward, &row.metrics, &row.error, &seconds],
        )
        .map_err(backend)?;
        if let Some(w) = worker {
            tx.execute(
                &format!(
                    "INSERT INTO layernas_workers (name, last_seen, trials) VALUES ($1, {NOW}, 1)
                     ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen, trials = layernas_workers.trials + 1"
                ),
                &[&w],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(row.outcome)
    }

    fn workers(&mut self) -> Result<Vec<(String, f64, u64)>, StoreError> {
        Ok(self
            .client
            .query(
                "SELECT name, last_seen, trials FROM layernas_workers ORDER BY name",
                &[],
            )
            .map_err(backend)?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2) as u64))
            .collect())
    }

    fn studies(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .client
            .query("SELECT name FROM layernas_studies ORDER BY name", &[])
            .map_err(backend)?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn delete_study(&mut self, study: &str) -> Result<bool, StoreError> {
        let mut tx = self.client.transaction().map_err(backend)?;
        tx.execute("DELETE FROM layernas_trials WHERE study = $1", &[&study])
            .map_err(backend)?;
        tx.execute(
            "DELETE FROM layernas_controllers WHERE study = $1",
            &[&study],
        )
        .map_err(backend)?;
        let deleted = tx
            .execute("DELETE FROM layernas_studies WHERE name = $1", &[&study])
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
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
        let mut tx = self.client.transaction().map_err(backend)?;
        // Serialise acquisitions of one study (the row may not exist yet to lock).
        tx.execute(
            "SELECT pg_advisory_xact_lock(726355, hashtext($1))",
            &[&study],
        )
        .map_err(backend)?;
        let previous = tx
            .query_opt(
                &format!(
                    "SELECT holder, token, expires_at - {NOW} FROM layernas_controllers
                     WHERE study = $1 AND token <> $2"
                ),
                &[&study, &token],
            )
            .map_err(backend)?
            .map(|r| ControllerLease {
                holder: r.get(0),
                token: r.get(1),
                expires_in: r.get(2),
            });
        if let Some(p) = &previous {
            if p.expires_in > 0.0 && !take_over {
                return Ok(Lead::Held(p.clone()));
            }
        }
        tx.execute(
            &format!(
                "INSERT INTO layernas_controllers (study, holder, token, expires_at)
                 VALUES ($1, $2, $3, {NOW} + $4)
                 ON CONFLICT (study) DO UPDATE SET holder = excluded.holder,
                   token = excluded.token, expires_at = excluded.expires_at"
            ),
            &[&study, &holder, &token, &lease_seconds],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(Lead::Acquired { previous })
    }

    fn renew_controller(
        &mut self,
        study: &str,
        token: i64,
        lease_seconds: f64,
    ) -> Result<bool, StoreError> {
        let n = self
            .client
            .execute(
                &format!(
                    "UPDATE layernas_controllers SET expires_at = {NOW} + $3
                     WHERE study = $1 AND token = $2"
                ),
                &[&study, &token, &lease_seconds],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    fn release_controller(&mut self, study: &str, token: i64) -> Result<(), StoreError> {
        self.client
            .execute(
                "DELETE FROM layernas_controllers WHERE study = $1 AND token = $2",
                &[&study, &token],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn controller(&mut self, study: &str) -> Result<Option<ControllerLease>, StoreError> {
        Ok(self
            .client
            .query_opt(
                &format!(
                    "SELECT holder, token, expires_at - {NOW} FROM layernas_controllers
                     WHERE study = $1"
                ),
                &[&study],
            )
            .map_err(backend)?
            .map(|r| ControllerLease {
                holder: r.get(0),
                token: r.get(1),
                expires_in: r.get(2),
            }))
    }
}
