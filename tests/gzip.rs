//! The gzip filter against nginx 1.22.1 (`ngx_http_gzip_filter_module`, `ngx_http_gzip_ok`;
//! Debian's stock nginx.conf has `gzip on;`, which compresses noVNC's `vnc.html`). Compressed
//! bytes depend on the zlib and on where each side flushes, so each case compares, between
//! nginx and rginx: the status, every header line (in order, `Date` masked), and the body
//! after removing the chunked framing and gunzipping it (a gzip body must be a valid member
//! whose content is exactly the uncompressed response).
//!
//! Rules (section 15 of the spec lists `gzip` among the directives of a typical nginx.conf;
//! these are nginx's, observed on 1.22.1):
//! - G1 what is compressed: `gzip on`, status 200/403/404, a type in `gzip_types` (text/html
//!   by default), at least `gzip_min_length` bytes when the length is known, no
//!   `Content-Encoding` already, for HEAD too (the head says gzip, no body follows);
//! - G2 whom for: `Accept-Encoding` with a `gzip` token not refused by `q=0`, HTTP/1.1 unless
//!   `gzip_http_version 1.0`, not through a proxy (`Via`) unless `gzip_proxied` allows it;
//! - G3 the head: `Content-Encoding: gzip` after the other lines, no `Content-Length` or
//!   `Accept-Ranges` (so no byte ranges), a weak `ETag`, chunked (or close for HTTP/1.0),
//!   `Vary: Accept-Encoding` after `Connection` with `gzip_vary on`;
//! - G4 the body of static files, `return`, error pages and proxied responses (buffered or
//!   not), as one gzip member.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::server::{free_port, Server, MAIN};
use common::{nginx, rginx, Prefix};

fn programs() -> [PathBuf; 2] {
    [nginx(), rginx()]
}

fn config(port: u16, up: u16, root: &Path) -> String {
    let root = root.display();
    format!(
        "{MAIN}events {{}}\nhttp {{\n  include /etc/nginx/mime.types;\n  access_log logs/access.log;\n  gzip on;\n  \
         server {{ listen 127.0.0.1:{up}; root {root}; location /enc {{ add_header Content-Encoding br; }} }}\n  \
         server {{\n    listen 127.0.0.1:{port};\n    root {root};\n    \
         location /r {{ default_type text/html; return 200 \"<p>hello hello hello hello hello</p>\"; }}\n    \
         location /v {{ gzip_vary on; default_type text/html; add_header X-A b; return 200 \"<p>hello hello hello hello hello</p>\"; }}\n    \
         location /s {{ default_type text/html; return 200 \"short\"; }}\n    \
         location /e {{ return 404; }}\n    \
         location /p/ {{ proxy_pass http://127.0.0.1:{up}/; }}\n    \
         location /u/ {{ proxy_buffering off; proxy_pass http://127.0.0.1:{up}/; }}\n    \
         location /h10/ {{ gzip_http_version 1.0; alias {root}/; }}\n    \
         location /any/ {{ gzip_proxied any; alias {root}/; }}\n    \
         location /js/ {{ gzip_types application/javascript; gzip_vary on; alias {root}/; }}\n    \
         location /min/ {{ gzip_min_length 2000; alias {root}/; }}\n    \
         location /ce/ {{ add_header Content-Encoding foo; alias {root}/; }}\n    \
         location /ar/ {{ add_header Accept-Ranges none; alias {root}/; }}\n  }}\n}}\n"
    )
}

/// A response as compared: status line, header lines (Date masked), decoded body.
#[derive(Debug, PartialEq)]
struct Seen {
    status: String,
    headers: Vec<String>,
    body: Vec<u8>,
}

fn fetch(port: u16, raw: &str) -> Seen {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let headers: Vec<String> = lines
        .map(|l| {
            if l.starts_with("Date: ") {
                "Date: -".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    let mut body = buf[end + 4..].to_vec();
    let has = |h: &str| headers.iter().any(|l| l.eq_ignore_ascii_case(h));
    if has("Transfer-Encoding: chunked") {
        body = dechunk(&body);
    }
    if has("Content-Encoding: gzip") && !raw.starts_with("HEAD") {
        let mut d = flate2::read::GzDecoder::new(&body[..]);
        let mut out = Vec::new();
        d.read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("not a gzip member ({e}): {raw}"));
        body = out;
    }
    Seen {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

fn get(path: &str, headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: gz.test\r\n{headers}Connection: close\r\n\r\n")
}

#[test]
fn gzip_as_nginx() {
    let dir = tempfile::tempdir().unwrap();
    let html: String = (0..100).map(|i| format!("<p>hello {i}</p>\n")).collect();
    std::fs::write(dir.path().join("a.html"), &html).unwrap();
    std::fs::write(
        dir.path().join("app.js"),
        "export const x = 1;\n".repeat(200),
    )
    .unwrap();
    std::fs::write(dir.path().join("img.png"), vec![7u8; 4000]).unwrap();
    std::fs::write(dir.path().join("enc"), "<p>already encoded</p>".repeat(10)).unwrap();
    let ae = "Accept-Encoding: gzip, deflate\r\n";
    let cases: Vec<(&str, String)> = vec![
        ("G1 G3 G4 static html", get("/a.html", ae)),
        ("G1 no Accept-Encoding", get("/a.html", "")),
        ("G1 G4 return", get("/r", ae)),
        ("G3 gzip_vary and add_header", get("/v", ae)),
        ("G3 gzip_vary without gzip from the client", get("/v", "")),
        ("G1 below gzip_min_length", get("/s", ae)),
        ("G1 gzip_min_length on a file", get("/min/a.html", ae)),
        ("G1 G4 error page", get("/e", ae)),
        (
            "G1 HEAD",
            format!("HEAD /a.html HTTP/1.1\r\nHost: gz.test\r\n{ae}Connection: close\r\n\r\n"),
        ),
        (
            "G3 no ranges",
            get("/a.html", &format!("{ae}Range: bytes=0-9\r\n")),
        ),
        ("G4 proxied, buffered", get("/p/a.html", ae)),
        ("G4 proxied, unbuffered", get("/u/a.html", ae)),
        ("G1 upstream Content-Encoding kept", get("/p/enc", ae)),
        ("G2 HTTP/1.0", format!("GET /a.html HTTP/1.0\r\n{ae}\r\n")),
        (
            "G2 gzip_http_version 1.0",
            format!("GET /h10/a.html HTTP/1.0\r\n{ae}\r\n"),
        ),
        ("G2 Via", get("/a.html", &format!("{ae}Via: 1.1 cache\r\n"))),
        (
            "G2 Via, gzip_proxied any",
            get("/any/a.html", &format!("{ae}Via: 1.1 cache\r\n")),
        ),
        (
            "G2 q=0",
            get("/a.html", "Accept-Encoding: gzip;q=0, deflate\r\n"),
        ),
        (
            "G2 q=0.5",
            get("/a.html", "Accept-Encoding: br, gzip; q=0.5\r\n"),
        ),
        (
            "G2 not a token",
            get("/a.html", "Accept-Encoding: xgzip\r\n"),
        ),
        ("G1 gzip_types", get("/js/app.js", ae)),
        ("G1 type not listed", get("/js/img.png", ae)),
        // nginx's gzip looks at the Content-Encoding and Accept-Ranges slots an upstream or
        // the range filter fill, not at lines add_header adds (it runs before gzip).
        ("G1 add_header Content-Encoding", get("/ce/a.html", ae)),
        ("G3 add_header Accept-Ranges", get("/ar/a.html", ae)),
    ];
    let mut all = Vec::new();
    for program in programs() {
        let (port, up) = (free_port(), free_port());
        let ready: Vec<SocketAddr> = [port, up]
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect();
        let server = Server::start(
            &program,
            Prefix::new(),
            &config(port, up, dir.path()),
            &ready,
        );
        let who = program.display().to_string();
        let seen: Vec<Seen> = cases.iter().map(|(_, raw)| fetch(port, raw)).collect();
        // What the cases are about, asserted on both.
        let gz = |i: usize| {
            seen[i]
                .headers
                .contains(&"Content-Encoding: gzip".to_string())
        };
        assert!(
            gz(0) && seen[0].body == html.as_bytes(),
            "{who}: {:?}",
            seen[0]
        );
        assert!(
            !gz(1) && !gz(5) && !gz(6) && !gz(13) && !gz(15) && !gz(17) && !gz(19) && !gz(21),
            "{who}"
        );
        assert!(
            gz(2)
                && gz(3)
                && gz(7)
                && gz(8)
                && gz(10)
                && gz(11)
                && gz(14)
                && gz(16)
                && gz(18)
                && gz(20),
            "{who}"
        );
        assert!(
            seen[3]
                .headers
                .contains(&"Vary: Accept-Encoding".to_string()),
            "{who}"
        );
        assert_eq!(seen[9].status, "HTTP/1.1 200 OK", "{who}");
        assert!(seen[8].body.is_empty(), "{who}");
        assert!(
            gz(22)
                && seen[22]
                    .headers
                    .contains(&"Content-Encoding: foo".to_string()),
            "{who}: {:?}",
            seen[22]
        );
        assert!(
            gz(23)
                && seen[23]
                    .headers
                    .contains(&"Accept-Ranges: none".to_string()),
            "{who}: {:?}",
            seen[23]
        );
        assert_eq!(
            seen[12].body,
            "<p>already encoded</p>".repeat(10).as_bytes(),
            "{who}"
        );
        drop(server);
        all.push(seen);
    }
    let mut failures = Vec::new();
    for (i, (name, _)) in cases.iter().enumerate() {
        if all[0][i] != all[1][i] {
            failures.push(format!(
                "{name}:\n  nginx {:?}\n  rginx {:?}",
                all[0][i], all[1][i]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
