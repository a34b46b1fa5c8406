//! The JSON API against a real server on an ephemeral port, over SQLite and PostgreSQL, while a
//! search and two workers write to the same store: no writer ever meets a locked store, the
//! dashboard follows the search as it runs, and its answers agree with `export` and `status`.

mod common;

use common::*;
use layernas_dashboard::{Dashboard, DashboardError, Options};
use layernas_store::StoreReader;
use layernas_study::outcome::{trial_rows, StoreStatus};
use layernas_study::worker::{run_worker, WorkerOptions};
use layernas_study::Overrides;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn start(store: &str) -> Dashboard {
    Dashboard::start(Options {
        store: store.to_string(),
        bind: "127.0.0.1:0".parse().unwrap(),
        token: None,
    })
    .unwrap()
}

/// The trial rows of an API page without the dashboard's extra timing fields: what `export`
/// writes.
fn as_exported(trials: &Value) -> Vec<Value> {
    trials
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let mut t = t.clone();
            let o = t.as_object_mut().unwrap();
            assert!(o.remove("finished_at").is_some() && o.remove("heartbeat_at").is_some());
            t
        })
        .collect()
}

/// Everything one poll of the study page reads, checked for consistency within each answer.
fn poll_once(base: &str, name: &str) -> Value {
    let api = study_api(base, name);
    let s = json(&api);
    let c = &s["counts"];
    let n = |k: &str| c[k].as_u64().unwrap();
    assert_eq!(
        n("pending") + n("running") + n("complete") + n("failed"),
        n("trials"),
        "{s}"
    );
    let points = json(&format!("{api}/points"));
    if points["version"] == s["version"] {
        assert_eq!(points["id"].as_array().unwrap().len() as u64, n("complete"));
    }
    let page = json(&format!(
        "{api}/trials?per_page=1000&sort=reward&order=desc"
    ));
    if page["version"] == s["version"] {
        assert_eq!(page["total"].as_u64().unwrap(), n("trials"));
    }
    // One answer is one snapshot: its front holds only its completed trials.
    let ids: BTreeSet<u64> = s["front"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert!(ids.len() as u64 <= n("complete"));
    if points["version"] == s["version"] {
        let complete: BTreeSet<u64> = points["id"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap())
            .collect();
        assert!(ids.is_subset(&complete));
    }
    assert!(json(&format!("{api}/front")).is_array());
    json(&format!("{api}/workers"));
    json(&format!("{api}/failures"));
    let all = json(&format!("{base}/api/studies"));
    assert!(all["studies"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["study"] == name));
    s
}

/// A search with `--workers 0` and two workers writing to `store` while the dashboard reads.
fn live(store: &str, name: &str) {
    let overrides = study(store, name, 0, 0.00002);
    let search = spawn(overrides);
    // The search creates the store and its study; the dashboard opens what exists.
    wait_for(Duration::from_secs(60), "the study in the store", || {
        StoreReader::open(store)
            .ok()
            .and_then(|mut r| r.version(name).ok().flatten())
            .is_some()
    });
    let logs = Arc::new(Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let o = WorkerOptions {
                store: store.to_string(),
                study: Some(name.to_string()),
                name: Some(format!("w{i}")),
                lease: 5.0,
                heartbeat: 0.2,
                idle_exit: None,
                poll: 0.02,
                wait: 30.0,
            };
            let logs = logs.clone();
            std::thread::spawn(move || {
                run_worker(&o, &|line| logs.lock().unwrap().push(line.to_string()))
            })
        })
        .collect();
    let dashboard = start(store);
    let base = format!("http://{}", dashboard.addr());
    let api = study_api(&base, name);
    let mut seen = BTreeSet::new();
    let mut saw_lease = false;
    while !search.is_finished() {
        let s = poll_once(&base, name);
        seen.insert(s["counts"]["complete"].as_u64().unwrap());
        let w = json(&format!("{api}/workers"));
        saw_lease |= w["running"].as_array().unwrap().iter().any(|r| {
            r["leased"] == true && r["worker"].as_str().is_some_and(|w| w.starts_with('w'))
        });
    }
    let outcome = search
        .join()
        .unwrap()
        .expect("the controller never met a store error");
    for w in workers {
        w.join().unwrap().expect("the workers never failed");
    }
    let logs = logs.lock().unwrap();
    assert!(
        !logs
            .iter()
            .any(|l| l.contains("store error") || l.contains("locked")),
        "a worker met a store error while the dashboard read: {logs:?}"
    );
    assert!(
        seen.len() >= 3,
        "the dashboard did not follow the search as it ran: saw {seen:?} complete"
    );
    assert!(saw_lease, "no worker lease was ever shown");

    // The end shows within 2 s.
    let finished = Instant::now();
    wait_for(Duration::from_secs(2), "the finished study", || {
        let s = json(&api);
        s["state"] == "finished" && s["counts"]["complete"].as_u64() == Some(outcome.trials)
    });
    eprintln!("finished study shown after {:?}", finished.elapsed());

    // Consistent with `export` (the same library call) and `status`.
    let exported = serde_json::to_value(trial_rows(store, name).unwrap()).unwrap();
    assert_eq!(json(&format!("{api}/export.json")), exported);
    let mut paged = Vec::new();
    for page in 1.. {
        let t = json(&format!("{api}/trials?per_page=50&page={page}"));
        paged.extend(as_exported(&t["trials"]));
        if page >= t["pages"].as_u64().unwrap() {
            break;
        }
    }
    assert_eq!(Value::Array(paged), exported);
    let s = json(&api);
    let status = StoreStatus::read(store, Some(name)).unwrap();
    let best = status.studies[0].best.as_ref().unwrap();
    assert_eq!(s["best"]["arch"], best.arch.as_str());
    assert_eq!(s["best"]["reward"], best.reward);
    assert_eq!(s["best"]["cost"], best.cost);
    let outcome_best = outcome.best.as_ref().unwrap();
    assert_eq!(s["best"]["arch"], outcome_best.arch.as_str());
    // The front is the search's own.
    let front = json(&format!("{api}/front"));
    let front = front.as_array().unwrap();
    assert_eq!(front.len(), outcome.front.len());
    for (a, b) in front.iter().zip(&outcome.front) {
        assert_eq!(a["arch"], b.arch.as_str());
        assert_eq!(a["reward"], b.reward);
        assert!((a["cost"].as_f64().unwrap() - b.cost).abs() < 1e-9);
    }
    assert_eq!(s["front"], Value::Array(front.clone()));
    // LayerNAS progress: one row per layer, each searched, with the run's statistics.
    let layers = s["layers"].as_array().unwrap();
    assert_eq!(layers.len(), outcome.layers.len());
    for (a, b) in layers.iter().zip(&outcome.layers) {
        assert_eq!(a["stats"], serde_json::to_value(b).unwrap());
    }
    assert_eq!(s["info"]["trial_bound"], outcome.trial_bound);

    // Filter, sort and page.
    let t = json(&format!(
        "{api}/trials?state=complete&sort=reward&order=desc&per_page=7&page=2"
    ));
    assert_eq!(t["total"].as_u64(), Some(outcome.trials - outcome.failed));
    let mut rewards: Vec<f64> = exported
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["reward"].as_f64())
        .collect();
    rewards.sort_by(|a, b| b.total_cmp(a));
    let page: Vec<f64> = t["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reward"].as_f64().unwrap())
        .collect();
    assert_eq!(page, rewards[7..14]);
    // A trial page: its row, and no network for the cell space.
    let id = s["best"]["id"].as_u64().unwrap();
    let trial = json(&format!("{api}/trials/{id}"));
    assert_eq!(trial["trial"]["arch"], s["best"]["arch"]);
    assert_eq!(trial["best"], true);
    assert_eq!(trial["on_front"], true);
    assert!(trial["network"].is_null());
    assert!(trial["table_index"].is_u64());
    // The workers' reports are counted.
    let w = json(&format!("{api}/workers"));
    let reported: u64 = w["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["name"].as_str().is_some_and(|n| n == "w0" || n == "w1"))
        .map(|x| x["trials"].as_u64().unwrap())
        .sum();
    assert!(reported >= outcome.trials, "{w}");
    dashboard.stop();
}

#[test]
fn sqlite_dashboard_follows_a_search_and_its_workers_and_agrees_with_export() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    live(db.to_str().unwrap(), "live");
}

#[test]
fn postgres_dashboard_follows_a_search_and_its_workers_and_agrees_with_export() {
    if let Some(url) = postgres_url() {
        let name = unique("dash");
        live(&url, &name);
        let mut store = layernas_store::open(&url).unwrap();
        assert!(store.delete_study(&name).unwrap());
    }
}

#[test]
fn errors_are_json_and_nothing_mutates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    run(&study(db, "s", 1, 0.0));
    let before = std::fs::read(db).unwrap();
    let d = start(db);
    let base = format!("http://{}", d.addr());
    let api = study_api(&base, "s");
    for (url, status) in [
        (format!("{base}/api/studies/nope"), 404),
        (format!("{api}/trials/99999"), 404),
        (format!("{api}/trials/x"), 400),
        (format!("{api}/trials?state=done"), 400),
        (format!("{api}/trials?sort=arch;DROP"), 400),
        (format!("{api}/trials?per_page=0"), 400),
        (format!("{api}/trials?page=0"), 400),
        (format!("{api}/trials?order=up"), 400),
        (format!("{base}/api/nothing"), 404),
        (format!("{base}/assets/nothing.js"), 404),
    ] {
        let (got, body) = get_with(&url, &[]);
        assert_eq!(got, status, "{url}: {body}");
        if url.contains("/api/") {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert!(v["error"].is_string(), "{body}");
        }
    }
    // A page past the end is empty, not an error.
    let t = json(&format!("{api}/trials?page=1000"));
    assert_eq!(t["trials"].as_array().unwrap().len(), 0);
    // Only GET.
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = agent()
            .run(
                ureq::http::Request::builder()
                    .method(method)
                    .uri(format!("{api}/trials"))
                    .body(())
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(r.status().as_u16(), 405, "{method}");
    }
    // Pages carry a policy that forbids inline scripts.
    let r = agent().get(&format!("{base}/study/s")).call().unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    d.stop();
    // Reading changed nothing: the store file is byte for byte what the search left.
    assert_eq!(std::fs::read(db).unwrap(), before);
}

#[test]
fn studies_named_with_markup_come_back_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let db = db.to_str().unwrap();
    let name = "<script>alert(1)</script>";
    run(&Overrides {
        max_trials: Some(3),
        ..study(db, name, 1, 0.0)
    });
    let d = start(db);
    let base = format!("http://{}", d.addr());
    let all = json(&format!("{base}/api/studies"));
    assert_eq!(all["studies"][0]["study"], name);
    let s = json(&study_api(&base, name));
    assert_eq!(s["study"], name);
    // The page itself never carries a study's name: the script writes it as text.
    let (status, page) = get_with(&format!("{base}/study/{}", encode(name)), &[]);
    assert_eq!(status, 200);
    assert!(!page.contains("alert(1)"));
    let (_, csv) = get_with(&format!("{}/export.csv", study_api(&base, name)), &[]);
    assert!(csv.starts_with("id,arch,key,state,cost,reward"));
    d.stop();
}

#[test]
fn a_token_guards_every_request_and_hosts_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db = db.to_str().unwrap();
    run(&Overrides {
        max_trials: Some(2),
        ..study(db, "t", 1, 0.0)
    });
    // Beyond loopback, a token is required; a short one is refused.
    let wide = Dashboard::start(Options {
        store: db.into(),
        bind: "0.0.0.0:0".parse().unwrap(),
        token: None,
    });
    assert!(matches!(wide, Err(DashboardError::NeedsToken(_))));
    let short = Dashboard::start(Options {
        store: db.into(),
        bind: "127.0.0.1:0".parse().unwrap(),
        token: Some("short".into()),
    });
    assert!(matches!(short, Err(DashboardError::BadToken(_))));
    let token = "0123456789abcdef-token";
    let d = Dashboard::start(Options {
        store: db.into(),
        bind: "127.0.0.1:0".parse().unwrap(),
        token: Some(token.into()),
    })
    .unwrap();
    let base = format!("http://{}", d.addr());
    for path in ["/", "/api/studies", "/api/studies/t", "/assets/app.js"] {
        let (status, _) = get_with(&format!("{base}{path}"), &[]);
        assert_eq!(status, 401, "{path}");
        let (status, _) = get_with(
            &format!("{base}{path}"),
            &[("Authorization", "Bearer 0123456789abcdef-wrong")],
        );
        assert_eq!(status, 401, "{path}");
        let bearer = format!("Bearer {token}");
        let (status, _) = get_with(&format!("{base}{path}"), &[("Authorization", &bearer)]);
        assert_eq!(status, 200, "{path}");
        let cookie = format!("layernas_token={token}");
        let (status, _) = get_with(&format!("{base}{path}"), &[("Cookie", &cookie)]);
        assert_eq!(status, 200, "{path}");
    }
    // Opening /?token= once leaves the token in a cookie for the page's own requests.
    let r = agent()
        .get(&format!("{base}/?token={token}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    d.stop();
    // On loopback, a page reached under another host name (DNS rebinding) is refused.
    let d = start(db);
    let (status, _) = get_with(
        &format!("http://{}/api/studies", d.addr()),
        &[("Host", "attacker.example")],
    );
    assert_eq!(status, 421);
    d.stop();
}

#[test]
fn a_missing_or_foreign_store_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let e = Dashboard::start(Options {
        store: missing.to_str().unwrap().into(),
        bind: "127.0.0.1:0".parse().unwrap(),
        token: None,
    })
    .err()
    .unwrap();
    assert!(e.is_input(), "{e}");
    assert!(!missing.exists());
    let foreign = dir.path().join("foreign.db");
    std::fs::write(&foreign, b"not a database at all").unwrap();
    let e = Dashboard::start(Options {
        store: foreign.to_str().unwrap().into(),
        bind: "127.0.0.1:0".parse().unwrap(),
        token: None,
    })
    .err()
    .unwrap();
    assert!(e.to_string().contains("foreign.db"), "{e}");
}

#[test]
fn network_spaces_show_the_layer_table() {
    // A study of a network space, stored with trials written as a worker would.
    use layernas_core::{Trial, TrialState};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.db");
    let db = db.to_str().unwrap();
    let study = Overrides {
        space: Some("mobilenetv2".into()),
        evaluator: Some("command".into()),
        command: Some("true".into()),
        store: Some(db.into()),
        study: Some("net".into()),
        max_cost: None,
        ..Overrides::default()
    }
    .resolve()
    .unwrap();
    let space = layernas_study::Space::resolve(&study.space, study.dataset).unwrap();
    let cost = layernas_study::wiring::cost_model(&space, &study).unwrap();
    let space = space.dyn_space();
    let mut store = layernas_store::open(db).unwrap();
    store.open_study(&study.spec(), false).unwrap();
    let arch = space.default_arch();
    store
        .finish(&Trial {
            id: 0,
            cost: cost.cost(&arch),
            arch: arch.clone(),
            state: TrialState::Complete,
            reward: Some(0.9),
            metrics: [("test".to_string(), 0.88)].into_iter().collect(),
            error: None,
            wave: 0,
            seconds: 1.5,
            attempts: 1,
            worker: Some("w".into()),
            fidelity: layernas_core::Fidelity::Full,
        })
        .unwrap();
    drop(store);
    let d = start(db);
    let api = study_api(&format!("http://{}", d.addr()), "net");
    let t = json(&format!("{api}/trials/0"));
    let layers = t["network"].as_array().expect("a layer table");
    assert!(layers.len() > 10);
    let madds: f64 = layers.iter().map(|l| l["madds"].as_f64().unwrap()).sum();
    assert!((madds / 1e6 - t["trial"]["cost"].as_f64().unwrap()).abs() < 1e-6);
    assert!(layers[0]["op"]["op"].is_string() && layers[0]["out_channels"].is_u64());
    assert_eq!(t["trial"]["metrics"]["test"], 0.88);
    d.stop();
}
