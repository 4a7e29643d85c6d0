//! The configurations the project started from (`../shared/seeds/configs`) pass `rginx -t`
//! unchanged, apart from certificate paths (the https one uses the test certificates), and
//! get no error-level diagnostics from rginx where nginx has none.

mod common;
use common::*;

use std::path::Path;

fn seed(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/seeds/configs")
        .join(name);
    std::fs::read_to_string(p).expect("seed config")
}

fn check(name: &str, body: String) {
    let p = Prefix::new();
    p.write("conf/nginx.conf", body.as_bytes());
    p.write(
        "conf/tls/www.example.com.fullchain.pem",
        include_bytes!("../fixtures/tls/ecdsa.pem"),
    );
    p.write(
        "conf/tls/www.example.com.key",
        include_bytes!("../fixtures/tls/ecdsa.key"),
    );
    let a = p.test(&nginx(), &[]);
    let b = p.test(&rginx(), &[]);
    assert_eq!(
        a.status.code(),
        Some(0),
        "nginx rejects {name}: {}",
        String::from_utf8_lossy(&a.stderr)
    );
    assert_eq!(
        b.status.code(),
        Some(0),
        "rginx rejects {name}: {}",
        String::from_utf8_lossy(&b.stderr)
    );
}

/// Only the certificate paths and (for the tests) the ports change: 80/443/8080 need root or
/// a free port, and a check does not bind.
#[test]
fn wiki_http() {
    check("wiki-http.conf", seed("wiki-http.conf"));
}

#[test]
fn wiki_https() {
    let body = seed("wiki-https.conf")
        .replace(
            "/etc/ssl/www.example.com.fullchain.pem",
            "tls/www.example.com.fullchain.pem",
        )
        .replace(
            "/etc/ssl/private/www.example.com.key",
            "tls/www.example.com.key",
        );
    check("wiki-https.conf", body);
}

#[test]
fn guide_map() {
    check("guide-map.conf", seed("guide-map.conf"));
}

/// The lints rginx adds on the seeds are the ones that matter for noVNC.
#[test]
fn wiki_lints_name_the_idle_timeout_of_vncws() {
    let p = Prefix::new();
    p.write("conf/nginx.conf", seed("wiki-http.conf").as_bytes());
    let out = p.test(&rginx(), &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<String> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "lint")
        .map(|d| format!("{} {}", d["code"].as_str().unwrap(), d["line"]))
        .collect();
    // /vncws/ forwards Upgrade with the default 60 s read timeout; /websockify raised it to
    // 61 s, above the lint's threshold.
    assert_eq!(
        codes,
        vec!["rginx::lint::websocket-read-timeout 29".to_string()]
    );
}
