//! What every request passes: the token (when one is set), the Host check against DNS
//! rebinding (on loopback), and the security headers of every response.

use crate::App;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The cookie a browser keeps the token in after opening `/?token=...`.
pub const COOKIE: &str = "layernas_token";

/// Pages may load only their own script, style and data: even a string that escaped
/// escaping could not run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Compares without an early exit, so the time taken tells nothing about the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_string())
        })
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": message }).to_string(),
    )
        .into_response()
}

/// Whether `host` (a Host header) names this loopback server.
fn loopback_host(host: &str, port: u16) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, p)) if !name.is_empty() && !p.contains(']') => {
            if p.parse::<u16>().ok() != Some(port) {
                return false;
            }
            name
        }
        _ => {
            if port != 80 {
                return false;
            }
            host
        }
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

/// The middleware.
pub async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "the dashboard is read-only: only GET",
        );
    }
    if let Some(addr) = app.listening.get() {
        if addr.ip().is_loopback() {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            if !loopback_host(host, addr.port()) {
                return refuse(
                    StatusCode::MISDIRECTED_REQUEST,
                    "this dashboard answers only to 127.0.0.1, localhost or [::1]",
                );
            }
        }
    }
    let mut set_cookie = None;
    if let Some(token) = &app.token {
        let from_query = query_token(request.uri().query());
        let given = bearer_token(request.headers())
            .or_else(|| cookie_token(request.headers()))
            .or(from_query.clone());
        let valid = |t: &Option<String>| {
            t.as_ref()
                .is_some_and(|t| same(t.as_bytes(), token.as_bytes()))
        };
        if !valid(&given) && !valid(&from_query) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "this dashboard needs its token: open /?token=TOKEN once, or send Authorization: Bearer TOKEN",
            );
        }
        if valid(&from_query) {
            set_cookie = Some(format!(
                "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
            ));
        }
    }
    let is_api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if is_api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::SET_COOKIE, c);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_this_loopback_server_only() {
        assert!(loopback_host("127.0.0.1:8080", 8080));
        assert!(loopback_host("localhost:8080", 8080));
        assert!(loopback_host("[::1]:8080", 8080));
        assert!(!loopback_host("evil.example:8080", 8080));
        assert!(!loopback_host("127.0.0.1:9090", 8080));
        assert!(!loopback_host("127.0.0.1", 8080));
        assert!(loopback_host("localhost", 80));
        assert!(!loopback_host("", 8080));
    }

    #[test]
    fn tokens_from_query_and_cookie() {
        assert_eq!(
            query_token(Some("a=1&token=abc%21def")),
            Some("abc!def".into())
        );
        assert_eq!(query_token(Some("a=1")), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; layernas_token=tok"),
        );
        assert_eq!(cookie_token(&h), Some("tok".into()));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    }
}
