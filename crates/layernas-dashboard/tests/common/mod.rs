//! Shared by the dashboard's tests: HTTP requests, stores, searches that write while the
//! dashboard reads.
#![allow(dead_code)]

use layernas_study::{Outcome, Overrides, Search};
use serde_json::Value;
use std::time::{Duration, Instant};

/// An HTTP client that reports every status instead of failing on 4xx/5xx.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// GET `url` with extra headers: status and body.
pub fn get_with(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = agent().get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .unwrap();
    (status, body)
}

/// GET `url`, expecting 200 and JSON.
pub fn json(url: &str) -> Value {
    let (status, body) = get_with(url, &[]);
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

/// The path of a study's API.
pub fn study_api(base: &str, study: &str) -> String {
    format!("{base}/api/studies/{}", encode(study))
}

/// Percent-encodes a path segment.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The test PostgreSQL server, if there is one (required when LAYERNAS_REQUIRE_POSTGRES=1).
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("LAYERNAS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match layernas_store::PgStore::connect(&url) {
        Ok(_) => Some(url),
        Err(e) => {
            if std::env::var("LAYERNAS_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (LAYERNAS_REQUIRE_POSTGRES=1) but unavailable: {e}");
            }
            eprintln!("SKIPPED: dashboard PostgreSQL test: no server at {url} ({e}); set LAYERNAS_REQUIRE_POSTGRES=1 to make this a failure");
            None
        }
    }
}

/// A study name no other test run uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// The study of these tests: the README's capped CIFAR-10 LayerNAS search (144 trials),
/// each trial sleeping `scale` x its simulated training time.
pub fn study(store: &str, name: &str, workers: usize, scale: f64) -> Overrides {
    Overrides {
        max_cost: Some(60.0),
        store: Some(store.to_string()),
        study: Some(name.to_string()),
        workers: Some(workers),
        sim_time_scale: Some(scale),
        ..Overrides::default()
    }
}

/// Runs a search to its end (as `layernas search` does).
pub fn run(overrides: &Overrides) -> Outcome {
    let study = overrides.resolve().unwrap();
    Search::build(study)
        .unwrap()
        .run(&Default::default(), &|_| {})
        .unwrap()
}

/// Runs a search on its own thread.
pub fn spawn(
    overrides: Overrides,
) -> std::thread::JoinHandle<Result<Outcome, layernas_study::StudyError>> {
    std::thread::spawn(move || {
        let study = overrides.resolve()?;
        Search::build(study)?.run(&Default::default(), &|_| {})
    })
}

/// Waits until `f` holds, at most `limit`.
pub fn wait_for(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
