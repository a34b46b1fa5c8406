//! PostgreSQL connections: `sslmode` as libpq means it (TLS with rustls), and errors that say
//! what the server said. Against `LAYERNAS_TEST_POSTGRES` (default the local test server);
//! skipped without a server unless `LAYERNAS_REQUIRE_POSTGRES=1`.

use layernas_store::PgStore;

fn base_url() -> Option<String> {
    let url = std::env::var("LAYERNAS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match PgStore::connect(&with(&url, "sslmode=disable")) {
        Ok(_) => Some(url),
        Err(e) => {
            if std::env::var("LAYERNAS_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (LAYERNAS_REQUIRE_POSTGRES=1) but unavailable: {e}");
            }
            eprintln!("SKIPPED: PostgreSQL TLS tests: no server at {url} ({e})");
            None
        }
    }
}

fn with(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// Whether the server offers TLS (`SHOW ssl`).
fn server_has_ssl(url: &str) -> bool {
    let mut client = postgres::Client::connect(&with(url, "sslmode=disable"), postgres::NoTls)
        .expect("plain connection");
    let on: String = client.query_one("SHOW ssl", &[]).unwrap().get(0);
    on == "on"
}

#[test]
fn sslmode_disable_prefer_and_require_behave_as_in_libpq() {
    let Some(url) = base_url() else { return };
    let mut plain = PgStore::connect(&with(&url, "sslmode=disable")).unwrap();
    assert!(!plain.encrypted().unwrap());
    if server_has_ssl(&url) {
        for mode in ["sslmode=prefer", "sslmode=require"] {
            let mut store =
                PgStore::connect(&with(&url, mode)).unwrap_or_else(|e| panic!("{mode}: {e}"));
            assert!(store.encrypted().unwrap(), "{mode} did not encrypt");
        }
        // The local server's certificate is self-signed: verify-full with the system's roots
        // must refuse it, in one line that says why.
        let err = PgStore::connect(&with(&url, "sslmode=verify-full"))
            .err()
            .expect("an untrusted certificate was accepted")
            .to_string();
        assert!(err.contains("certificate") && !err.contains('\n'), "{err}");
    } else {
        eprintln!("the server has ssl off: checking that require is refused clearly");
        let err = PgStore::connect(&with(&url, "sslmode=require"))
            .err()
            .expect("require connected without TLS")
            .to_string();
        assert!(err.contains("TLS") && !err.contains('\n'), "{err}");
        let mut store = PgStore::connect(&with(&url, "sslmode=prefer")).unwrap();
        assert!(!store.encrypted().unwrap());
    }
}

#[test]
fn connection_errors_carry_the_servers_message() {
    let Some(url) = base_url() else { return };
    // Another database of the same server: the server says it does not exist.
    let (server, _) = url.rsplit_once('/').unwrap();
    let err = PgStore::connect(&format!("{server}/layernas_no_such_db"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("database \"layernas_no_such_db\" does not exist"),
        "{err}"
    );
    // Nothing listening: the cause, not just "error connecting to server".
    let err = PgStore::connect("postgres://postgres@127.0.0.1:1/test")
        .err()
        .unwrap()
        .to_string();
    assert!(err.to_lowercase().contains("refused"), "{err}");
}
