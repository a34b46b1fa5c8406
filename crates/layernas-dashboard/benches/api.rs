//! API response times of the dashboard on a study of 100,000 trials (SQLite): the study's
//! summary (with its front and layers), one sorted page of the trials table, the front, the
//! scatter's points; and what a change costs: the version check, and rereading and
//! recomputing the study (snapshot + view, the front in O(n log n)).
//!
//! The study is synthetic: 100,000 distinct MobileNetV3-Large architectures with their real
//! MAdds and a made-up reward (a saturating function of cost plus noise), written as complete
//! trials. Run with `cargo bench -p layernas-dashboard`.

use criterion::{criterion_group, criterion_main, Criterion};
use layernas_core::{Arch, Trial, TrialState};
use layernas_dashboard::{Dashboard, Options};
use layernas_store::StoreReader;
use layernas_study::views::StudyView;
use layernas_study::Overrides;
use std::collections::HashSet;
use std::time::Duration;

const TRIALS: u64 = 100_000;
const STUDY: &str = "bench100k";

/// Writes the study once (reused by later runs).
fn store() -> String {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-100k.db");
    let url = path.to_str().unwrap().to_string();
    if let Ok(mut r) = StoreReader::open(&url) {
        if r.version(STUDY).ok().flatten().map(|v| v.complete) == Some(TRIALS) {
            return url;
        }
    }
    let _ = std::fs::remove_file(&path);
    let study = Overrides {
        space: Some("mobilenetv3-large".into()),
        strategy: Some("random".into()),
        max_trials: Some(TRIALS),
        evaluator: Some("command".into()),
        command: Some("true".into()),
        store: Some(url.clone()),
        study: Some(STUDY.into()),
        ..Overrides::default()
    }
    .resolve()
    .unwrap();
    let space = layernas_study::Space::resolve(&study.space, study.dataset).unwrap();
    let cost = layernas_study::wiring::cost_model(&space, &study).unwrap();
    let space = space.dyn_space();
    let sizes: Vec<u64> = space
        .layers()
        .iter()
        .map(|l| l.options.len() as u64)
        .collect();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut seen = HashSet::new();
    let mut trials = Vec::with_capacity(TRIALS as usize);
    while trials.len() < TRIALS as usize {
        let arch = space.canonical(&Arch::new(
            sizes.iter().map(|&n| (next() % n) as u16).collect(),
        ));
        if !seen.insert(arch.clone()) {
            continue;
        }
        let c = cost.cost(&arch);
        let noise = (next() % 10_000) as f64 / 10_000.0 * 0.04;
        let reward = 0.55 + 0.35 * (1.0 - (-c / 150.0).exp()) + noise;
        let id = trials.len() as u64;
        trials.push(Trial {
            id,
            arch,
            cost: c,
            state: TrialState::Complete,
            reward: Some(reward),
            metrics: [("test".to_string(), reward - 0.01)].into_iter().collect(),
            error: None,
            wave: (id / 1000) as u32,
            seconds: 1.0 + (id % 7) as f64,
            attempts: 1,
            worker: Some(format!("w{}", id % 8)),
            fidelity: layernas_core::Fidelity::Full,
        });
    }
    let mut store = layernas_store::open(&url).unwrap();
    store.open_study(&study.spec(), false).unwrap();
    store.enqueue(&trials).unwrap();
    for t in &trials {
        store.finish(t).unwrap();
    }
    url
}

fn get(agent: &ureq::Agent, url: &str) -> usize {
    let mut r = agent.get(url).call().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{url}");
    r.body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap()
        .len()
}

fn bench(c: &mut Criterion) {
    let url = store();
    let dashboard = Dashboard::start(Options {
        store: url.clone(),
        bind: "127.0.0.1:0".parse().unwrap(),
        token: None,
    })
    .unwrap();
    let base = format!("http://{}/api/studies/{STUDY}", dashboard.addr());
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    // The first request reads and computes the study.
    let first = std::time::Instant::now();
    let bytes = get(&agent, &base);
    eprintln!(
        "first request (read + compute {TRIALS} trials): {:?}, {bytes} bytes",
        first.elapsed()
    );
    let mut g = c.benchmark_group("api_100k");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    g.bench_function("study", |b| b.iter(|| get(&agent, &base)));
    let page = format!("{base}/trials?sort=reward&order=desc&page=500&per_page=50");
    g.bench_function("trials_page_sorted", |b| b.iter(|| get(&agent, &page)));
    let filtered = format!("{base}/trials?state=complete&sort=cost&page=1&per_page=50");
    g.bench_function("trials_page_filtered", |b| {
        b.iter(|| get(&agent, &filtered))
    });
    g.bench_function("front", |b| {
        b.iter(|| get(&agent, &format!("{base}/front")))
    });
    g.bench_function("points", |b| {
        b.iter(|| get(&agent, &format!("{base}/points")))
    });
    g.finish();

    let mut g = c.benchmark_group("change_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let mut reader = StoreReader::open(&url).unwrap();
    g.bench_function("version_check", |b| {
        b.iter(|| reader.version(STUDY).unwrap().unwrap())
    });
    g.bench_function("snapshot_and_view", |b| {
        b.iter(|| {
            StudyView::build(reader.snapshot(STUDY).unwrap().unwrap())
                .front
                .len()
        })
    });
    g.finish();
    dashboard.stop();
}

criterion_group!(benches, bench);
criterion_main!(benches);
