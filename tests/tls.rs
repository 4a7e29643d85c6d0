//! TLS on client connections (S12), against the real nginx: every case runs on nginx first
//! (checking the test against the oracle), then on rginx, and what the client saw must be the
//! same: the server that answered, the certificate presented, the negotiated protocol and
//! cipher, the `$ssl_*` variables, and nginx's exact bytes for plain HTTP on a TLS port.
//!
//! - S12.2: several certificates; an ECDSA-capable client gets the ECDSA one, a client that
//!   offers only RSA suites the RSA one; the whole chain of a certificate file is sent.
//! - S12.3: SNI picks the handshake's server (certificate), Host picks the server that
//!   answers; no SNI means the default server.
//! - S12.4: `ssl_protocols` defaults to TLS 1.2 here (a TLS 1.3-only client is refused);
//!   session resumption with the default settings (tickets).
//! - S12.5: plain HTTP on a TLS port: 400 with nginx's page, and `error_page 497`.
//! - S12.8: `$scheme`, `$https`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::server::{free_port, Server, MAIN};
use common::tls::Presented;
use common::{nginx, rginx, Prefix};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn programs() -> [PathBuf; 2] {
    [nginx(), rginx()]
}

const ECDSA_PEM: &[u8] = include_bytes!("../fixtures/tls/ecdsa.pem");
const ECDSA_KEY: &[u8] = include_bytes!("../fixtures/tls/ecdsa.key");
const RSA_PEM: &[u8] = include_bytes!("../fixtures/tls/rsa.pem");
const RSA_KEY: &[u8] = include_bytes!("../fixtures/tls/rsa.key");

fn der(pem: &[u8]) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .next()
        .expect("a certificate")
        .expect("PEM")
        .to_vec()
}

/// A client: TLS versions, and optionally only these TLS 1.2 suites.
struct Client {
    config: Arc<ClientConfig>,
    record: Arc<Presented>,
}

impl Client {
    fn new(tls13: bool, tls12: bool, only_suites: Option<&[rustls::CipherSuite]>) -> Client {
        let (config, record) = common::tls::client(common::tls::Offer {
            tls13,
            tls12,
            suites: only_suites,
            alpn: &[],
        });
        Client { config, record }
    }

    /// One request on a new connection; `sni` None connects by address (no SNI sent).
    /// Returns the response body and the leaf certificate, or the handshake error.
    async fn get(&self, port: u16, sni: Option<&str>, host: &str) -> Result<Seen, String> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = match sni {
            Some(n) => ServerName::try_from(n.to_string()).unwrap(),
            None => ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.config));
        let mut s = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = Vec::new();
        // nginx and rginx both end with close_notify; a bare EOF would be an error here.
        s.read_to_end(&mut resp).await.map_err(|e| e.to_string())?;
        let resp = String::from_utf8_lossy(&resp).into_owned();
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok(Seen {
            body,
            chain: self.record.chain(),
        })
    }
}

#[derive(Debug, PartialEq)]
struct Seen {
    body: String,
    chain: Vec<Vec<u8>>,
}

const VARS: &str = "$scheme $https [$ssl_protocol] [$ssl_cipher] [$ssl_server_name] [$ssl_session_reused] host=$host";

/// Two servers on one TLS address: `a.test` (default; ECDSA and RSA certificates) and
/// `b.test` (the RSA certificate with the ECDSA one appended as a second chain element).
fn sni_config(port: u16, protocols: &str) -> String {
    format!(
        "{MAIN}events {{}}\nhttp {{\n  access_log logs/access.log;\n  {protocols}\n  \
         server {{\n    listen 127.0.0.1:{port} ssl default_server;\n    server_name a.test;\n    \
         ssl_certificate ecdsa.pem;\n    ssl_certificate_key ecdsa.key;\n    \
         ssl_certificate rsa.pem;\n    ssl_certificate_key rsa.key;\n    \
         location / {{ return 200 \"a {VARS}\\n\"; }}\n  }}\n  \
         server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name b.test;\n    \
         ssl_certificate chain.pem;\n    ssl_certificate_key rsa.key;\n    \
         location / {{ return 200 \"b {VARS}\\n\"; }}\n  }}\n}}\n"
    )
}

fn start(program: &Path, conf: impl Fn(u16) -> String) -> (Server, u16) {
    let port = free_port();
    let p = Prefix::new();
    p.write("conf/ecdsa.pem", ECDSA_PEM);
    p.write("conf/ecdsa.key", ECDSA_KEY);
    p.write("conf/rsa.pem", RSA_PEM);
    p.write("conf/rsa.key", RSA_KEY);
    p.write("conf/chain.pem", &[RSA_PEM, ECDSA_PEM].concat());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let conf = conf(port);
    (Server::start(program, p, &conf, &[addr]), port)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// S12.2, S12.3, S12.8: which server answers, which certificate comes, and the variables.
#[test]
fn sni_picks_the_certificate_host_picks_the_server() {
    let ecdsa = der(ECDSA_PEM);
    let rsa = der(RSA_PEM);
    let mut results = Vec::new();
    for program in programs() {
        let (server, port) = start(&program, |p| {
            sni_config(p, "ssl_protocols TLSv1.2 TLSv1.3;")
        });
        let who = program.display().to_string();
        let seen = rt().block_on(async {
            let tls13 = Client::new(true, true, None);
            let rsa_only = Client::new(
                false,
                true,
                Some(&[rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]),
            );
            vec![
                // SNI a.test, Host b.test: a's certificate (ECDSA first), b answers.
                tls13.get(port, Some("a.test"), "b.test").await,
                // SNI b.test, Host a.test: b's chain (two certificates), a answers.
                tls13.get(port, Some("b.test"), "a.test").await,
                // No SNI: the default server's certificate; $ssl_server_name empty.
                tls13.get(port, None, "a.test").await,
                // Unknown SNI: the default server's.
                tls13.get(port, Some("c.test"), "c.test").await,
                // Only an ECDHE-RSA suite offered: a's RSA certificate (S12.2).
                rsa_only.get(port, Some("a.test"), "a.test").await,
            ]
        });
        let seen: Vec<Seen> = seen
            .into_iter()
            .map(|s| s.unwrap_or_else(|e| panic!("{who}: {e}\n{}", server.error_log())))
            .collect();
        assert_eq!(seen[0].chain, vec![ecdsa.clone()], "{who}");
        assert!(
            seen[0].body.starts_with("b https on [TLSv1.3] [TLS_AES_"),
            "{who}: {}",
            seen[0].body
        );
        assert!(
            seen[0].body.contains("[a.test] [.] host=b.test"),
            "{who}: {}",
            seen[0].body
        );
        assert_eq!(seen[1].chain, vec![rsa.clone(), ecdsa.clone()], "{who}");
        assert!(
            seen[1].body.starts_with("a https on"),
            "{who}: {}",
            seen[1].body
        );
        assert!(seen[1].body.contains("[b.test]"), "{who}: {}", seen[1].body);
        assert_eq!(seen[2].chain, vec![ecdsa.clone()], "{who}");
        assert!(
            seen[2].body.contains("[] [.] host=a.test"),
            "{who}: {}",
            seen[2].body
        );
        assert_eq!(seen[3].chain, vec![ecdsa.clone()], "{who}");
        assert!(seen[3].body.starts_with("a "), "{who}: {}", seen[3].body);
        assert_eq!(seen[4].chain, vec![rsa.clone()], "{who}");
        assert_eq!(
            seen[4].body,
            "a https on [TLSv1.2] [ECDHE-RSA-AES128-GCM-SHA256] [a.test] [.] host=a.test\n",
            "{who}"
        );
        results.push(seen);
    }
    assert_eq!(results[0], results[1], "nginx and rginx differ");
}

/// S12.4: without `ssl_protocols`, nginx 1.22.1 (on Debian's OpenSSL) speaks TLS 1.2 only; a
/// second connection of the same client resumes its session (`$ssl_session_reused` = `r`).
#[test]
fn default_protocols_and_resumption() {
    for program in programs() {
        let (server, port) = start(&program, |p| sni_config(p, ""));
        let who = program.display().to_string();
        rt().block_on(async {
            let only13 = Client::new(true, false, None);
            let refused = only13.get(port, Some("a.test"), "a.test").await;
            assert!(
                refused.is_err(),
                "{who}: TLS 1.3 only was accepted: {refused:?}"
            );
            let c = Client::new(true, true, None);
            let first = c.get(port, Some("a.test"), "a.test").await.unwrap();
            assert!(first.body.contains("[TLSv1.2]"), "{who}: {}", first.body);
            assert!(first.body.contains("[.]"), "{who}: {}", first.body);
            let second = c.get(port, Some("a.test"), "a.test").await.unwrap();
            assert!(second.body.contains("[r]"), "{who}: {}", second.body);
        });
        drop(server);
    }
    // With TLS 1.3 on, resumption uses TLS 1.3 tickets.
    for program in programs() {
        let (_server, port) = start(&program, |p| sni_config(p, "ssl_protocols TLSv1.3;"));
        let who = program.display().to_string();
        rt().block_on(async {
            let c = Client::new(true, true, None);
            let first = c.get(port, Some("a.test"), "a.test").await.unwrap();
            assert!(
                first.body.contains("[TLSv1.3]") && first.body.contains("[.]"),
                "{who}: {}",
                first.body
            );
            let second = c.get(port, Some("a.test"), "a.test").await.unwrap();
            assert!(second.body.contains("[r]"), "{who}: {}", second.body);
        });
    }
}

/// What a plain HTTP client gets from a TLS port, with the Date line masked.
async fn plain(port: u16, req: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp).await;
    String::from_utf8_lossy(&resp)
        .lines()
        .map(|l| {
            if l.starts_with("Date: ") {
                "Date: -"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// S12.5: plain HTTP on a TLS port gets nginx's 400 page (the 497 code); `error_page 497`
/// redirects instead; both logged at info as nginx logs them.
#[test]
fn plain_http_on_a_tls_port() {
    let mut all = Vec::new();
    for program in programs() {
        let redirect = free_port();
        let (server, port) = start(&program, |p| {
            format!(
                "{}  server {{\n    listen 127.0.0.1:{redirect} ssl;\n    ssl_certificate ecdsa.pem;\n    \
                 ssl_certificate_key ecdsa.key;\n    error_page 497 https://$host:{redirect}$request_uri;\n    \
                 location / {{ return 200 ok; }}\n  }}\n}}\n",
                sni_config(p, "").trim_end().trim_end_matches('}')
            )
        });
        let ready: SocketAddr = ([127, 0, 0, 1], redirect).into();
        while std::net::TcpStream::connect(ready).is_err() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let who = program.display().to_string();
        let got = rt().block_on(async {
            vec![
                plain(port, "GET /x?y=1 HTTP/1.1\r\nHost: a.test\r\n\r\n").await,
                plain(port, "HEAD / HTTP/1.0\r\n\r\n").await,
                plain(redirect, "GET /x?y=1 HTTP/1.1\r\nHost: r.test\r\n\r\n").await,
            ]
        });
        assert!(
            got[0].ends_with(
                "<html>\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\n\
                 <body>\n<center><h1>400 Bad Request</h1></center>\n\
                 <center>The plain HTTP request was sent to HTTPS port</center>\n\
                 <hr><center>nginx/1.22.1</center>\n</body>\n</html>"
            ),
            "{who}: {}",
            got[0]
        );
        assert!(
            got[0].starts_with("HTTP/1.1 400 Bad Request\n"),
            "{who}: {}",
            got[0]
        );
        assert!(
            got[2].starts_with("HTTP/1.1 302 Moved Temporarily\n"),
            "{who}: {}",
            got[2]
        );
        assert!(
            got[2].contains(&format!("\nLocation: https://r.test:{redirect}/x?y=1\n")),
            "{who}: {}",
            got[2]
        );
        let line = server
            .wait_error_log(
                "client sent plain HTTP request to HTTPS port",
                std::time::Duration::from_secs(5),
            )
            .unwrap_or_else(|| panic!("{who}: no log line\n{}", server.error_log()));
        let tail = line.split_once("*").map(|x| x.1).unwrap_or_default();
        let tail = tail
            .split_once(' ')
            .map(|x| x.1)
            .unwrap_or_default()
            .to_string();
        let got: Vec<String> = got
            .into_iter()
            .map(|g| g.replace(&format!(":{redirect}/"), ":PORT/"))
            .collect();
        all.push((got, tail));
    }
    assert_eq!(all[0], all[1], "nginx and rginx differ");
}

/// `proxy_pass https://` with nginx's defaults: no SNI, TLS 1.2, the certificate not verified.
#[test]
fn proxy_pass_https() {
    let mut all = Vec::new();
    for program in programs() {
        let front = free_port();
        let (server, _port) = start(&program, |p| {
            format!(
                "{}  server {{\n    listen 127.0.0.1:{front};\n    \
                 location / {{ proxy_pass https://127.0.0.1:{p}; proxy_set_header Host b.test; }}\n  }}\n}}\n",
                sni_config(p, "ssl_protocols TLSv1.2 TLSv1.3;")
                    .trim_end()
                    .trim_end_matches('}')
            )
        });
        let ready: SocketAddr = ([127, 0, 0, 1], front).into();
        while std::net::TcpStream::connect(ready).is_err() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let who = program.display().to_string();
        let got = rt().block_on(async {
            let mut v = Vec::new();
            for _ in 0..2 {
                let r = plain(front, "GET / HTTP/1.0\r\nHost: x\r\n\r\n").await;
                v.push(r.split_once("\n\n").map(|x| x.1.to_string()).unwrap_or(r));
            }
            v
        });
        assert!(
            got[0].starts_with("b https on [TLSv1.2] [ECDHE-ECDSA-")
                && got[0].contains("[] [.] host=b.test"),
            "{who}: {got:?}\n{}",
            server.error_log()
        );
        // The second connection resumes the first one's session.
        assert!(got[1].contains("[] [r] host=b.test"), "{who}: {got:?}");
        all.push(got);
    }
    assert_eq!(all[0], all[1], "nginx and rginx differ");
}
