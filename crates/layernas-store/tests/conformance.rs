//! One conformance suite that every trial store runs: memory, SQLite and PostgreSQL.
//!
//! The PostgreSQL run uses `LAYERNAS_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Where no server answers it is skipped with a
//! message, unless `LAYERNAS_REQUIRE_POSTGRES=1` (CI sets it), which makes it fail instead.

use layernas_core::limits::{MAX_METRICS, MAX_TEXT_BYTES};
use layernas_core::{
    Arch, Claim, Evaluation, Lead, MemoryStore, Reported, StoreError, StudyOpen, StudySpec, Trial,
    TrialState, TrialStore,
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
