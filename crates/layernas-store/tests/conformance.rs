//! One conformance suite that every trial store runs: memory, SQLite and PostgreSQL.
//!
//! The PostgreSQL run uses `LAYERNAS_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Where no server answers it is skipped with a
//! message, unless `LAYERNAS_REQUIRE_POSTGRES=1` (CI sets it), which makes it fail instead.

use layernas_core::limits::{MAX_METRICS, MAX_TEXT_BYTES};
use layernas_core::{
    Arch, Claim, Evaluation, Fidelity, Lead, MemoryStore, Reported, StoreError, StudyOpen,
    StudySpec, Trial, TrialState, TrialStore,
};
use layernas_store::{PgStore, SqliteStore};
use std::collections::{BTreeMap, HashSet};

pub fn postgres_url() -> String {
    std::env::var("LAYERNAS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A PostgreSQL store, or None (with the reason printed) when the server is unavailable and
/// not required.
pub fn postgres() -> Option<PgStore> {
    match PgStore::connect(&postgres_url()) {
        Ok(store) => Some(store),
        Err(e) => {
            if std::env::var("LAYERNAS_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (LAYERNAS_REQUIRE_POSTGRES=1) but unavailable: {e}");
            }
            eprintln!("SKIPPED: PostgreSQL store tests: no server at {} ({e}); set LAYERNAS_REQUIRE_POSTGRES=1 to make this a failure", postgres_url());
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn spec(name: &str, hash: &str) -> StudySpec {
    StudySpec {
        name: name.into(),
        config: format!("{{\"hash\": \"{hash}\"}}"),
        hash: hash.into(),
    }
}

fn trial(id: u64, arch: &[u16]) -> Trial {
    Trial {
        id,
        arch: Arch::new(arch.to_vec()),
        fidelity: Fidelity::Full,
        cost: 10.0 + id as f64,
        state: TrialState::Pending,
        reward: None,
        metrics: BTreeMap::new(),
        error: None,
        wave: 1,
        seconds: 0.0,
        attempts: 0,
        worker: None,
    }
}

fn eval(reward: f64) -> Evaluation {
    Evaluation {
        reward,
        metrics: [("test".to_string(), reward + 1.0)].into_iter().collect(),
    }
}

fn conformance(store: &mut dyn TrialStore) {
    let name = unique("conf");
    // Studies: created, resumed, a changed configuration refused unless allowed.
    assert_eq!(
        store.open_study(&spec(&name, "h1"), false).unwrap(),
        StudyOpen::Created
    );
    assert_eq!(store.next_id().unwrap(), 0);
    store
        .enqueue(&[trial(0, &[1, 2]), trial(1, &[2, 2]), trial(2, &[3, 3])])
        .unwrap();
    store.enqueue(&[trial(0, &[1, 2])]).unwrap(); // idempotent
    assert_eq!(
        store.open_study(&spec(&name, "h1"), false).unwrap(),
        StudyOpen::Resumed { trials: 3 }
    );
    assert!(matches!(
        store.open_study(&spec(&name, "h2"), false),
        Err(StoreError::ConfigChanged { .. })
    ));
    store.open_study(&spec(&name, "h2"), true).unwrap();
    assert_eq!(
        store.study_config(&name).unwrap().unwrap(),
        "{\"hash\": \"h1\"}"
    );
    assert_eq!(store.next_id().unwrap(), 3);
    assert_eq!(store.trials().unwrap().len(), 3);
    let t = store.lookup(&Arch::new(vec![2, 2])).unwrap().unwrap();
    assert_eq!((t.id, t.state, t.cost), (1, TrialState::Pending, 11.0));
    assert!(store.lookup(&Arch::new(vec![9, 9])).unwrap().is_none());

    // Local evaluation: start, then finish with every field kept.
    store.start(0, "local").unwrap();
    let running = store.get(&[0]).unwrap().pop().unwrap();
    assert_eq!((running.state, running.attempts), (TrialState::Running, 1));
    let mut done = trial(0, &[1, 2]);
    done.state = TrialState::Complete;
    done.reward = Some(91.5);
    done.metrics.insert("test".into(), 93.25);
    done.attempts = 1;
    done.worker = Some("local".into());
    done.seconds = 0.5;
    store.finish(&done).unwrap();
    assert_eq!(store.lookup(&done.arch).unwrap().unwrap(), done);

    // Claims: pending trials in id order, each handed out once.
    let a = store.claim(Some(&name), "w1", 60.0).unwrap().unwrap();
    let b = store.claim(Some(&name), "w2", 60.0).unwrap().unwrap();
    assert_eq!((a.id, b.id), (1, 2));
    assert!(store.claim(Some(&name), "w3", 60.0).unwrap().is_none());
    assert!(store.heartbeat(&a).unwrap());
    assert_eq!(
        store.report(&a, Ok(&eval(80.0)), 1.0, 1).unwrap(),
        Reported::Complete
    );
    assert_eq!(
        store.report(&a, Ok(&eval(81.0)), 1.0, 1).unwrap(),
        Reported::Stale
    );
    assert!(!store.heartbeat(&a).unwrap());
    let t = store.get(&[1]).unwrap().pop().unwrap();
    assert_eq!(
        (t.state, t.reward, t.metrics["test"]),
        (TrialState::Complete, Some(80.0), 81.0)
    );

    // A lease that expired is handed out again; the late result is not counted.
    std::thread::sleep(std::time::Duration::from_millis(30));
    let b2: Claim = store.claim(Some(&name), "w3", 0.01).unwrap().unwrap();
    assert_eq!((b2.id, b2.attempt), (2, 2));
    assert_ne!(b2.token, b.token);
    assert_eq!(
        store.report(&b, Ok(&eval(1.0)), 1.0, 3).unwrap(),
        Reported::Stale
    );
    // Failures retry until the attempts run out.
    assert_eq!(
        store.report(&b2, Err("boom"), 1.0, 3).unwrap(),
        Reported::Retry
    );
    let b3 = store.claim(Some(&name), "w3", 60.0).unwrap().unwrap();
    assert_eq!((b3.id, b3.attempt), (2, 3));
    assert_eq!(
        store.report(&b3, Err("boom again"), 1.0, 3).unwrap(),
        Reported::Failed
    );
    let t = store.get(&[2]).unwrap().pop().unwrap();
    assert_eq!(
        (t.state, t.error.as_deref(), t.attempts),
        (TrialState::Failed, Some("boom again"), 3)
    );

    // Done flag, and claims across studies.
    assert_eq!(store.is_done(&name).unwrap(), Some(false));
    store.set_done(true).unwrap();
    assert_eq!(store.is_done(&name).unwrap(), Some(true));
    assert_eq!(store.is_done("no-such-study").unwrap(), None);
    let other = unique("conf-other");
    store.open_study(&spec(&other, "x"), false).unwrap();
    store.enqueue(&[trial(0, &[0])]).unwrap();
    let c = store.claim(None, "w4", 60.0).unwrap().unwrap();
    assert_eq!(c.study, other);
    store.report(&c, Ok(&eval(5.0)), 0.1, 1).unwrap();
    let workers = store.workers().unwrap();
    let names: HashSet<&str> = workers.iter().map(|w| w.0.as_str()).collect();
    assert!(names.contains("w1") && names.contains("w4"), "{workers:?}");

    // Deleting a study removes it and its trials, and nothing of the other study.
    let kept = store.trials().unwrap();
    assert!(store.delete_study(&name).unwrap());
    assert!(!store.delete_study(&name).unwrap());
    let studies = store.studies().unwrap();
    assert!(
        !studies.contains(&name) && studies.contains(&other),
        "{studies:?}"
    );
    assert_eq!(store.is_done(&name).unwrap(), None);
    assert_eq!(store.trials().unwrap(), kept);
    assert!(store.delete_study(&other).unwrap());
    assert!(matches!(store.trials(), Err(StoreError::NoStudy)));
    // A deleted name can be created afresh.
    assert_eq!(
        store.open_study(&spec(&name, "h9"), false).unwrap(),
        StudyOpen::Created
    );
    assert!(store.trials().unwrap().is_empty());
    assert!(store.delete_study(&name).unwrap());
}

/// Controller leases: one controller per study; a live lease is refused to others (naming its
/// holder), an expired one is taken over, `take_over` forces it, and the displaced holder's
/// renewal fails.
fn controller_leases(store: &mut dyn TrialStore) {
    let name = unique("lease");
    store.open_study(&spec(&name, "h"), false).unwrap();
    assert_eq!(store.controller(&name).unwrap(), None);
    assert_eq!(
        store
            .acquire_controller(&name, "hostA:1", 11, 60.0, false)
            .unwrap(),
        Lead::Acquired { previous: None }
    );
    // The same token again is a renewal, not a conflict.
    assert_eq!(
        store
            .acquire_controller(&name, "hostA:1", 11, 60.0, false)
            .unwrap(),
        Lead::Acquired { previous: None }
    );
    match store
        .acquire_controller(&name, "hostB:2", 22, 60.0, false)
        .unwrap()
    {
        Lead::Held(l) => {
            assert_eq!((l.holder.as_str(), l.token), ("hostA:1", 11));
            assert!(l.expires_in > 50.0 && l.expires_in <= 60.0, "{l:?}");
        }
        other => panic!("a live lease was not refused: {other:?}"),
    }
    assert!(store.renew_controller(&name, 11, 60.0).unwrap());
    assert!(!store.renew_controller(&name, 22, 60.0).unwrap());
    // Forced take-over: the old holder finds out at its next renewal.
    match store
        .acquire_controller(&name, "hostB:2", 22, 0.05, true)
        .unwrap()
    {
        Lead::Acquired { previous: Some(p) } => assert_eq!(p.holder, "hostA:1"),
        other => panic!("take-over failed: {other:?}"),
    }
    assert!(!store.renew_controller(&name, 11, 60.0).unwrap());
    assert_eq!(store.controller(&name).unwrap().unwrap().holder, "hostB:2");
    // An expired lease is taken over without force.
    std::thread::sleep(std::time::Duration::from_millis(120));
    match store
        .acquire_controller(&name, "hostC:3", 33, 60.0, false)
        .unwrap()
    {
        Lead::Acquired { previous: Some(p) } => {
            assert_eq!(p.holder, "hostB:2");
            assert!(p.expires_in < 0.0, "{p:?}");
        }
        other => panic!("an expired lease was not taken over: {other:?}"),
    }
    // Releasing with a stale token does nothing; with the holder's token frees the study.
    store.release_controller(&name, 22).unwrap();
    assert_eq!(store.controller(&name).unwrap().unwrap().token, 33);
    store.release_controller(&name, 33).unwrap();
    assert_eq!(store.controller(&name).unwrap(), None);
    assert_eq!(
        store
            .acquire_controller(&name, "hostD:4", 44, 60.0, false)
            .unwrap(),
        Lead::Acquired { previous: None }
    );
    // Deleting the study drops its lease.
    assert!(store.delete_study(&name).unwrap());
    assert_eq!(store.controller(&name).unwrap(), None);
}

/// Whatever an evaluator returns, stored text stays bounded and says it was cut.
fn bounded_text(store: &mut dyn TrialStore) {
    let name = unique("bounded");
    store.open_study(&spec(&name, "h"), false).unwrap();
    store
        .enqueue(&[trial(0, &[1]), trial(1, &[2]), trial(2, &[3])])
        .unwrap();
    let huge = "x".repeat(1_000_000);
    // A worker's report.
    let c = store.claim(Some(&name), "w", 60.0).unwrap().unwrap();
    store.report(&c, Err(&huge), 1.0, 1).unwrap();
    // A result with very many, very long metric names.
    let c = store.claim(Some(&name), "w", 60.0).unwrap().unwrap();
    let mut many = eval(1.0);
    for i in 0..500 {
        many.metrics
            .insert(format!("{i:03}{}", "m".repeat(10_000)), 1.0);
    }
    store.report(&c, Ok(&many), 1.0, 1).unwrap();
    // A local evaluation's record.
    let mut t = trial(2, &[3]);
    t.state = TrialState::Failed;
    t.error = Some(huge.clone());
    t.attempts = 1;
    store.finish(&t).unwrap();
    for t in store.trials().unwrap() {
        if let Some(e) = &t.error {
            assert!(e.len() <= MAX_TEXT_BYTES + 64, "{} bytes stored", e.len());
            assert!(
                e.ends_with("[cut: 1000000 bytes in all]"),
                "{}",
                &e[e.len() - 60..]
            );
        }
        assert!(
            t.metrics.len() <= MAX_METRICS + 1,
            "{} metrics",
            t.metrics.len()
        );
        assert!(t.metrics.keys().all(|k| k.len() < 300));
    }
    assert_eq!(store.trials().unwrap()[1].metrics["metrics_dropped"], 437.0);
    assert!(store.delete_study(&name).unwrap());
}

#[test]
fn memory_store_conforms() {
    conformance(&mut MemoryStore::default());
    controller_leases(&mut MemoryStore::default());
    bounded_text(&mut MemoryStore::default());
}

#[test]
fn sqlite_store_conforms_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let path = path.to_str().unwrap();
    conformance(&mut SqliteStore::open(path).unwrap());
    // Reopen: the data is on disk.
    let mut again = SqliteStore::open(path).unwrap();
    assert_eq!(again.workers().unwrap().len(), 4);
    controller_leases(&mut again);
    bounded_text(&mut again);
}

#[test]
fn postgres_store_conforms() {
    if let Some(mut store) = postgres() {
        conformance(&mut store);
        controller_leases(&mut store);
        bounded_text(&mut store);
    }
}

#[test]
fn a_missing_sqlite_file_is_not_created_by_open_existing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    let err = layernas_store::open_existing(path.to_str().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    assert!(!path.exists());
}

#[test]
fn sqlite_errors_name_the_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let path = path.to_str().unwrap();
    let mut store = SqliteStore::open(path).unwrap();
    store.open_study(&spec("s", "h"), false).unwrap();
    // Break the file under the open store: the next query fails, and says which file.
    let other = rusqlite::Connection::open(path).unwrap();
    other.execute_batch("DROP TABLE trials").unwrap();
    let err = store.trials().err().unwrap().to_string();
    assert!(err.contains(path), "{err}");
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(
        &path,
        b"this is not a database, just text that is long enough to matter",
    )
    .unwrap();
    let err = SqliteStore::open(path.to_str().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("not a layernas store") || err.contains("not a database"),
        "{err}"
    );
}

/// A trial is identified by (architecture, fidelity): one architecture may be held once at each
/// fidelity; lookups, claims and results keep the fidelity.
fn fidelities(store: &mut dyn TrialStore) {
    let name = unique("fid");
    store.open_study(&spec(&name, "h"), false).unwrap();
    let mut low = trial(0, &[1, 2]);
    low.fidelity = Fidelity::Low;
    let full = trial(1, &[1, 2]);
    store.enqueue(&[low.clone(), full.clone()]).unwrap();
    // Idempotent per (architecture, fidelity), whatever the id.
    let mut again = trial(7, &[1, 2]);
    again.fidelity = Fidelity::Low;
    store.enqueue(&[again]).unwrap();
    assert_eq!(store.trials().unwrap().len(), 2);
    assert_eq!(store.next_id().unwrap(), 2);
    let arch = Arch::new(vec![1, 2]);
    let l = store.lookup_at(&arch, Fidelity::Low).unwrap().unwrap();
    assert_eq!((l.id, l.fidelity), (0, Fidelity::Low));
    assert_eq!(store.lookup(&arch).unwrap().unwrap().id, 1);
    assert_eq!(
        store
            .lookup_at(&arch, Fidelity::Full)
            .unwrap()
            .unwrap()
            .fidelity,
        Fidelity::Full
    );
    assert!(store
        .lookup_at(&Arch::new(vec![2, 1]), Fidelity::Low)
        .unwrap()
        .is_none());

    // A worker is told the fidelity of what it claims.
    let a = store.claim(Some(&name), "w1", 60.0).unwrap().unwrap();
    assert_eq!((a.id, a.fidelity), (0, Fidelity::Low));
    let b = store.claim(Some(&name), "w2", 60.0).unwrap().unwrap();
    assert_eq!((b.id, b.fidelity), (1, Fidelity::Full));
    let mut cheap = eval(60.0);
    cheap.metrics.insert("epochs".into(), 12.0);
    assert_eq!(
        store.report(&a, Ok(&cheap), 0.1, 1).unwrap(),
        Reported::Complete
    );
    let l = store.lookup_at(&arch, Fidelity::Low).unwrap().unwrap();
    assert_eq!(
        (l.state, l.reward, l.metrics["epochs"], l.fidelity),
        (TrialState::Complete, Some(60.0), 12.0, Fidelity::Low)
    );
    // The full-fidelity trial is untouched by the low one's result.
    let f = store.lookup(&arch).unwrap().unwrap();
    assert_eq!((f.state, f.reward), (TrialState::Running, None));

    // Local evaluation keeps the fidelity too.
    let mut local = trial(2, &[3, 3]);
    local.fidelity = Fidelity::Low;
    store.enqueue(std::slice::from_ref(&local)).unwrap();
    store.start(2, "local").unwrap();
    local.state = TrialState::Complete;
    local.reward = Some(50.0);
    local.attempts = 1;
    local.worker = Some("local".into());
    store.finish(&local).unwrap();
    assert_eq!(
        store
            .lookup_at(&local.arch, Fidelity::Low)
            .unwrap()
            .unwrap(),
        local
    );
    assert!(store.lookup(&local.arch).unwrap().is_none());
    let all = store.trials().unwrap();
    assert_eq!(
        all.iter().map(|t| (t.id, t.fidelity)).collect::<Vec<_>>(),
        vec![(0, Fidelity::Low), (1, Fidelity::Full), (2, Fidelity::Low)]
    );
}

#[test]
fn memory_store_handles_fidelities() {
    fidelities(&mut MemoryStore::default());
}

#[test]
fn sqlite_store_handles_fidelities() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    fidelities(&mut SqliteStore::open(path.to_str().unwrap()).unwrap());
}

#[test]
fn postgres_store_handles_fidelities() {
    if let Some(mut store) = postgres() {
        fidelities(&mut store);
    }
}

/// The trials table as every store wrote it before fidelities (schema version 1).
const V1_TRIALS: &str = "
    id INTEGER NOT NULL,
    arch TEXT NOT NULL,
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
    UNIQUE (study, arch)";

/// What an old store holds: study `old` with one complete and one pending trial.
fn check_migrated(store: &mut dyn TrialStore) {
    assert_eq!(
        store.open_study(&spec("old", "h1"), false).unwrap(),
        StudyOpen::Resumed { trials: 2 }
    );
    let all = store.trials().unwrap();
    assert_eq!(
        all.iter()
            .map(|t| (t.id, t.fidelity, t.state, t.reward))
            .collect::<Vec<_>>(),
        vec![
            (0, Fidelity::Full, TrialState::Complete, Some(91.5)),
            (1, Fidelity::Full, TrialState::Pending, None),
        ]
    );
    assert_eq!(all[0].metrics["test"], 92.0);
    let arch = Arch::new(vec![1, 2]);
    assert_eq!(store.lookup(&arch).unwrap().unwrap().id, 0);
    // Resumable: the pending trial is claimed and reported; the old full-fidelity trial
    // still refuses a duplicate, and the same architecture may now get a low-fidelity trial.
    let c = store.claim(Some("old"), "w", 60.0).unwrap().unwrap();
    assert_eq!((c.id, c.fidelity), (1, Fidelity::Full));
    assert_eq!(
        store.report(&c, Ok(&eval(70.0)), 1.0, 1).unwrap(),
        Reported::Complete
    );
    store.enqueue(&[trial(5, &[1, 2])]).unwrap();
    assert_eq!(store.trials().unwrap().len(), 2);
    let mut low = trial(2, &[1, 2]);
    low.fidelity = Fidelity::Low;
    store.enqueue(&[low]).unwrap();
    assert_eq!(store.trials().unwrap().len(), 3);
    assert_eq!(
        store.lookup_at(&arch, Fidelity::Low).unwrap().unwrap().id,
        2
    );
}

const V1_ROWS: &str = "
INSERT INTO {p}studies (name, config, config_hash{created}) VALUES ('old', '{}', 'h1'{now});
INSERT INTO {p}trials (study, id, arch, cost, wave, state, reward, metrics, attempts)
  VALUES ('old', 0, '1-2', 10.0, 0, 'complete', 91.5, '{\"test\": 92.0}', 1);
INSERT INTO {p}trials (study, id, arch, cost, wave, state, attempts)
  VALUES ('old', 1, '2-2', 11.0, 1, 'pending', 0);
";

#[test]
fn an_sqlite_store_written_before_fidelities_is_migrated_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(&format!(
            "CREATE TABLE studies (name TEXT PRIMARY KEY, config TEXT NOT NULL,
               config_hash TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
               created_at REAL NOT NULL);
             CREATE TABLE trials (study TEXT NOT NULL REFERENCES studies(name), {V1_TRIALS});
             CREATE INDEX trials_state ON trials(state, study, id);
             CREATE TABLE workers (name TEXT PRIMARY KEY, last_seen REAL NOT NULL,
               trials INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE controllers (study TEXT PRIMARY KEY, holder TEXT NOT NULL,
               token INTEGER NOT NULL, expires_at REAL NOT NULL);
             {}",
            V1_ROWS
                .replace("{p}", "")
                .replace("{created}", ", created_at")
                .replace("{now}", ", 0")
        ))
        .unwrap();
    }
    let path = path.to_str().unwrap();
    check_migrated(&mut SqliteStore::open(path).unwrap());
    // Opened again: nothing left to migrate, the data is as the first run left it.
    let mut again = SqliteStore::open(path).unwrap();
    again.open_study(&spec("old", "h1"), false).unwrap();
    assert_eq!(again.trials().unwrap().len(), 3);
    let version: i64 = rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
}

#[test]
fn a_postgres_database_written_before_fidelities_is_migrated_and_resumes() {
    if postgres().is_none() {
        return;
    }
    // The old tables in a schema of their own, which the store then finds on its search path.
    let schema = unique("v1").replace('-', "_");
    let mut admin = postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap();
    let v1 = V1_TRIALS
        .replace("INTEGER", "BIGINT")
        .replace("REAL", "DOUBLE PRECISION");
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.layernas_studies (name TEXT PRIMARY KEY,
               config TEXT NOT NULL, config_hash TEXT NOT NULL,
               done BOOLEAN NOT NULL DEFAULT FALSE,
               created_at DOUBLE PRECISION NOT NULL DEFAULT EXTRACT(EPOCH FROM clock_timestamp()));
             CREATE TABLE {schema}.layernas_trials (study TEXT NOT NULL
               REFERENCES {schema}.layernas_studies(name) ON DELETE CASCADE, {v1});
             {}",
            V1_ROWS
                .replace("{p}", &format!("{schema}.layernas_"))
                .replace("{created}", "")
                .replace("{now}", "")
        ))
        .unwrap();
    // PostgreSQL's INTEGER columns of the old schema, as it had them.
    admin
        .batch_execute(&format!(
            "ALTER TABLE {schema}.layernas_trials ALTER COLUMN wave TYPE INTEGER,
               ALTER COLUMN attempts TYPE INTEGER"
        ))
        .unwrap();
    let sep = if postgres_url().contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!("{}{sep}options=-csearch_path%3D{schema}", postgres_url());
    let result = std::panic::catch_unwind(|| {
        check_migrated(&mut PgStore::connect(&url).unwrap());
        // Connecting again changes nothing.
        let mut again = PgStore::connect(&url).unwrap();
        again.open_study(&spec("old", "h1"), false).unwrap();
        assert_eq!(again.trials().unwrap().len(), 3);
    });
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
