//! The read-only reader (the dashboard's) reads a SQLite store written before trials had a
//! fidelity, without migrating it (it never writes): every old trial reads as full fidelity.

use layernas_core::Fidelity;
use layernas_store::StoreReader;

#[test]
fn the_reader_reads_a_store_written_before_fidelities_without_changing_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE studies (name TEXT PRIMARY KEY, config TEXT NOT NULL,
               config_hash TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
               created_at REAL NOT NULL);
             CREATE TABLE trials (study TEXT NOT NULL REFERENCES studies(name),
               id INTEGER NOT NULL, arch TEXT NOT NULL, cost REAL NOT NULL,
               wave INTEGER NOT NULL, state TEXT NOT NULL, reward REAL, metrics TEXT,
               error TEXT, worker TEXT, attempts INTEGER NOT NULL DEFAULT 0, token INTEGER,
               heartbeat_at REAL, seconds REAL, finished_at REAL,
               PRIMARY KEY (study, id), UNIQUE (study, arch));
             CREATE TABLE workers (name TEXT PRIMARY KEY, last_seen REAL NOT NULL,
               trials INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE controllers (study TEXT PRIMARY KEY, holder TEXT NOT NULL,
               token INTEGER NOT NULL, expires_at REAL NOT NULL);
             INSERT INTO studies (name, config, config_hash, created_at)
               VALUES ('old', '{}', 'h1', 0);
             INSERT INTO trials (study, id, arch, cost, wave, state, reward, metrics, attempts)
               VALUES ('old', 0, '1-2', 10.0, 0, 'complete', 91.5, '{\"test\": 92.0}', 1);
             INSERT INTO trials (study, id, arch, cost, wave, state, attempts)
               VALUES ('old', 1, '2-2', 11.0, 1, 'pending', 0);",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let mut reader = StoreReader::open(path.to_str().unwrap()).unwrap();
    let snapshot = reader
        .snapshot("old")
        .expect("an old store reads")
        .expect("study old is there");
    assert_eq!(snapshot.trials.len(), 2);
    assert!(snapshot.trials.iter().all(|t| t.fidelity == Fidelity::Full));
    assert_eq!(snapshot.trials[0].reward, Some(91.5));
    drop(reader);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the reader changed the file"
    );
}
