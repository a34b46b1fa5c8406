//! The dashboard in a real browser: Debian's headless Chromium, driven through chromedriver
//! (WebDriver, with fantoccini). The page follows a running search to its end, draws as many
//! front points as the API's front, opens a trial when one is clicked, renders a study named
//! with markup as text, and leaves screenshots (`$CARGO_TARGET_TMPDIR/dashboard-*.png`).
//!
//! Skipped when `chromium` or `chromedriver` is missing, unless LAYERNAS_REQUIRE_BROWSER=1 (CI
//! installs both and sets it).

mod common;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use layernas_dashboard::{Dashboard, Options};
use layernas_study::Overrides;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(program))
            .find(|f| f.is_file())
    })
}

/// Chromium and chromedriver, or `None` (a skip) when missing and not required.
fn browser() -> Option<(PathBuf, PathBuf)> {
    match (which("chromium"), which("chromedriver")) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            if std::env::var("LAYERNAS_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!("chromium and chromedriver are required (LAYERNAS_REQUIRE_BROWSER=1) but missing: apt-get install chromium chromium-driver");
            }
            eprintln!("SKIPPED: browser test: chromium or chromedriver missing (apt-get install chromium chromium-driver); set LAYERNAS_REQUIRE_BROWSER=1 to make this a failure");
            None
        }
    }
}

/// A chromedriver process, killed when dropped.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn driver(path: &PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(20), "chromedriver", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    Driver(child, port)
}

async fn connect(chromium: &PathBuf, port: u16, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1280,1500",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("chromedriver starts a headless Chromium")
}

/// The text of the first element `css` selects, once there is one. Read in the page (the page
/// redraws parts of itself every second, so a handle to an element may go stale).
async fn text(c: &Client, css: &str) -> String {
    let start = Instant::now();
    loop {
        let found = c
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
                vec![json!(css)],
            )
            .await
            .unwrap();
        if let Some(t) = found.as_str() {
            return t.to_string();
        }
        if start.elapsed() > Duration::from_secs(20) {
            let body = eval(c, "return document.body.innerText").await;
            panic!("no {css}; the page says: {body}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn eval(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

fn shot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn a_browser_follows_a_study_draws_its_front_and_opens_a_trial() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("browser.db");
    let db = db.to_str().unwrap().to_string();
    let marked = "<script>alert(1)</script>";
    run(&Overrides {
        max_trials: Some(5),
        ..study(&db, marked, 1, 0.0)
    });
    // The README's search, slowed down so that the page sees it run.
    let search = spawn(study(&db, "cifar10-60mflops", 2, 0.00002));
    wait_for(Duration::from_secs(30), "the study", || {
        layernas_store::StoreReader::open(&db)
            .ok()
            .and_then(|mut r| r.version("cifar10-60mflops").ok().flatten())
            .is_some()
    });
    let dashboard = Dashboard::start(Options {
        store: db.clone(),
        bind: "127.0.0.1:0".parse().unwrap(),
        token: None,
    })
    .unwrap();
    let base = format!("http://{}", dashboard.addr());
    let driver = driver(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let c = connect(&chromium, driver.1, profile.path()).await;
        let study_url = format!("{base}/study/cifar10-60mflops");
        c.goto(&study_url).await.unwrap();
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("#scatter[data-ready='1']"))
            .await
            .expect("the chart is drawn");
        // Live: the page shows the search's end within 2 s of it.
        let outcome = search.join().unwrap().unwrap();
        let ended = Instant::now();
        loop {
            let state = text(&c, "#config .badge").await;
            if state == "finished" {
                break;
            }
            assert!(
                ended.elapsed() < Duration::from_secs(2) + Duration::from_millis(500),
                "the page still says {state:?} {:?} after the search ended",
                ended.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("page showed the end after {:?}", ended.elapsed());
        // The chart was redrawn with the final trials: as many front points as the API's front.
        let api = json(&study_api(&base, "cifar10-60mflops"));
        let front = api["front"].as_array().unwrap().clone();
        assert_eq!(front.len(), outcome.front.len());
        let mut drawn = 0;
        for _ in 0..100 {
            let points = eval(
                &c,
                "const s = document.querySelector('#scatter[data-ready]'); \
                 return s ? [s.querySelectorAll('.front-point').length, +s.dataset.points] : [0, 0];",
            )
            .await;
            drawn = points[0].as_u64().unwrap();
            if drawn == front.len() as u64 && points[1] == api["counts"]["complete"] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(drawn, front.len() as u64, "front points drawn");
        // The answer is ringed among them.
        let best = eval(&c, "return document.querySelectorAll('#scatter .front-point.best').length").await;
        assert_eq!(best, 1);
        c.screenshot()
            .await
            .map(|png| std::fs::write(shot_path("dashboard-study.png"), png).unwrap())
            .unwrap();
        // Hovering a front point shows its architecture; clicking it opens its trial.
        let points = c
            .find_all(Locator::Css("#scatter .front-point"))
            .await
            .unwrap();
        let pick = &points[points.len() / 2];
        let id = pick.attr("data-id").await.unwrap().unwrap();
        let expected = front
            .iter()
            .find(|p| p["id"].as_u64().map(|i| i.to_string()).as_deref() == Some(id.as_str()))
            .unwrap()
            .clone();
        pick.click().await.unwrap();
        let trial_url = format!("{study_url}/trial/{id}");
        let clicked = Instant::now();
        while c.current_url().await.unwrap().as_str() != trial_url {
            assert!(clicked.elapsed() < Duration::from_secs(10), "the click opened no trial");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(text(&c, "#trial-id").await, id);
        assert_eq!(text(&c, "#trial-arch").await, expected["arch"].as_str().unwrap());
        c.screenshot()
            .await
            .map(|png| std::fs::write(shot_path("dashboard-trial.png"), png).unwrap())
            .unwrap();

        // A study named with markup: text in the list and on its page, never a script.
        c.goto(&base).await.unwrap();
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::LinkText(marked))
            .await
            .expect("the study's name as the text of its link");
        c.goto(&format!("{base}/study/{}", encode(marked))).await.unwrap();
        assert_eq!(text(&c, "#study-name").await, marked);
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("#scatter[data-ready='1']"))
            .await
            .unwrap();
        assert!(c.get_alert_text().await.is_err(), "an alert opened");
        let scripts = eval(&c, "return document.scripts.length").await;
        assert_eq!(scripts, 1, "only the dashboard's own script");
        assert_eq!(eval(&c, "return document.title").await, format!("{marked} · layernas"));
        c.close().await.unwrap();
    });
    dashboard.stop();
    eprintln!("screenshots: {}", shot_path("dashboard-*.png").display());
}
