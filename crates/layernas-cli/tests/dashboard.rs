//! `layernas dashboard`, the real binary: it serves a store's studies, its downloads equal
//! `layernas export` byte for byte, and its flags are checked (exit code 2).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_layernas")
}

/// A dashboard process, killed when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET `path` from `addr` (HTTP/1.1, one request per connection): status and body.
fn get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    assert!(
        head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, raw[split + 4..].to_vec())
}

fn export(db: &str, format: &str) -> Vec<u8> {
    let out = Command::new(bin())
        .args(["export", "--store", db, "--format", format])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn the_dashboard_serves_a_store_and_its_downloads_equal_export() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    let ok = Command::new(bin())
        .args(["search", "--max-cost", "60", "--store", db, "--quiet"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let mut child = Command::new(bin())
        .args(["dashboard", "--store", db, "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    // "layernas dashboard: http://127.0.0.1:PORT/ (read-only; Ctrl-C stops it)"
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let (status, body) = get(&addr, "/api/studies");
    assert_eq!(status, 200);
    let studies: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(studies["studies"][0]["study"], "default");
    assert_eq!(studies["studies"][0]["counts"]["complete"], 144);
    for format in ["csv", "json"] {
        let (status, body) = get(&addr, &format!("/api/studies/default/export.{format}"));
        assert_eq!(status, 200);
        assert!(body == export(db, format), "export.{format} differs");
    }
    let (status, page) = get(&addr, "/");
    assert_eq!(status, 200);
    assert!(String::from_utf8(page).unwrap().contains("/assets/app.js"));
    drop(served);
}

#[test]
fn dashboard_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let out = Command::new(bin())
        .args(["dashboard", "--store", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.db"));
    assert!(!missing.exists());
    let db = dir.path().join("s.db");
    let db = db.to_str().unwrap();
    let ok = Command::new(bin())
        .args([
            "search",
            "--max-cost",
            "60",
            "--max-trials",
            "3",
            "--store",
            db,
            "--quiet",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let out = Command::new(bin())
        .args(["dashboard", "--store", db, "--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("--token"), "{e}");
    let out = Command::new(bin())
        .args(["dashboard", "--store", db, "--token", "short"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let help = Command::new(bin())
        .args(["dashboard", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("layernas dashboard --store study.db"),
        "{help}"
    );
}
