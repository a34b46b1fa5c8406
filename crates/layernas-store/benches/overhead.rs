//! Durable overhead per trial: what the executor writes for one trial evaluated in process
//! (its share of the wave's `enqueue`, then `start` and `finish`), for the memory, SQLite and
//! PostgreSQL stores side by side. Run with `cargo bench -p layernas-store`; PostgreSQL is
//! measured when `LAYERNAS_TEST_POSTGRES` (default postgres://postgres@127.0.0.1:5432/test)
//! answers.

use criterion::{criterion_group, criterion_main, Criterion};
use layernas_core::{Arch, Fidelity, MemoryStore, StudySpec, Trial, TrialState, TrialStore};
use layernas_store::{PgStore, SqliteStore};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const WAVE: u64 = 100;

fn trial(id: u64) -> Trial {
    Trial {
        id,
        arch: Arch::new(vec![
            (id % 5) as u16,
            ((id / 5) % 5) as u16,
            (id / 25) as u16,
        ]),
        fidelity: Fidelity::Full,
        cost: id as f64,
        state: TrialState::Pending,
        reward: None,
        metrics: BTreeMap::new(),
        error: None,
        wave: (id / WAVE) as u32,
        seconds: 0.0,
        attempts: 0,
        worker: None,
    }
}

/// Time for `iters` trials: waves of `WAVE` enqueued at once, then each started and finished.
fn per_trial(store: &mut dyn TrialStore, iters: u64) -> Duration {
    let name = format!(
        "bench-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let spec = StudySpec {
        name: format!("{name}-{}", layernas_core::now()),
        config: "{}".into(),
        hash: "h".into(),
    };
    store.open_study(&spec, false).unwrap();
    let start = Instant::now();
    let mut id = 0;
    while id < iters {
        let wave: Vec<Trial> = (id..(id + WAVE).min(iters)).map(trial).collect();
        store.enqueue(&wave).unwrap();
        for mut t in wave {
            store.start(t.id, "bench").unwrap();
            t.state = TrialState::Complete;
            t.reward = Some(90.0);
            t.metrics.insert("test".into(), 91.0);
            t.attempts = 1;
            store.finish(&t).unwrap();
        }
        id += WAVE;
    }
    let elapsed = start.elapsed();
    // Leave no benchmark studies behind (PostgreSQL's database is shared).
    store.delete_study(&spec.name).unwrap();
    elapsed
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("store-overhead-per-trial");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("memory", |b| {
        b.iter_custom(|iters| per_trial(&mut MemoryStore::default(), iters))
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let mut sqlite = SqliteStore::open(path.to_str().unwrap()).unwrap();
    group.bench_function("sqlite", |b| {
        b.iter_custom(|iters| per_trial(&mut sqlite, iters))
    });
    let url = std::env::var("LAYERNAS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match PgStore::connect(&url) {
        Ok(mut pg) => {
            group.sample_size(20);
            group.bench_function("postgres", |b| {
                b.iter_custom(|iters| per_trial(&mut pg, iters))
            });
        }
        Err(e) => eprintln!("postgres not measured: {e}"),
    }
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
