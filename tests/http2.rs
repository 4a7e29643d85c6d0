//! HTTP/2 to clients (S12.7), against the real nginx: ALPN offers `h2` only on
//! `listen ... ssl http2`; a plaintext `listen ... http2` speaks HTTP/2 with prior knowledge
//! (an HTTP/1 request there is refused and logged as nginx logs it); streams on one connection
//! are requests as over HTTP/1 (`$server_protocol` `HTTP/2.0`, `$http2`, `:authority` as the
//! host, cookies joined, request bodies passed to an upstream, error pages, HEAD), and the
//! access log says so. Every case runs on nginx, then rginx, and both must agree.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::server::{free_port, Server, MAIN};
use common::{nginx, rginx, Prefix};
use tokio::net::TcpStream;

fn programs() -> [PathBuf; 2] {
    [nginx(), rginx()]
}

/// A TLS client offering `alpn` (the certificate is the test's own).
fn tls_client(alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let (config, _) = common::tls::client(common::tls::Offer {
        alpn,
        ..Default::default()
    });
    tokio_rustls::TlsConnector::from(config)
}

fn config(tls_h2: u16, tls_h1: u16, h2c: u16, upstream: u16) -> String {
    format!(
        "{MAIN}events {{}}\nhttp {{\n  log_format p '$request $status $body_bytes_sent $server_protocol [$http2]';\n  \
         access_log logs/access.log p;\n  ssl_protocols TLSv1.2 TLSv1.3;\n  \
         server {{ listen 127.0.0.1:{upstream}; location / {{ return 200 \"up $request_method $request_uri cookie=[$http_cookie] len=$content_length\\n\"; }} }}\n  \
         server {{\n    listen 127.0.0.1:{tls_h2} ssl http2;\n    listen 127.0.0.1:{tls_h1} ssl;\n    listen 127.0.0.1:{h2c} http2;\n    \
         server_name a.test;\n    ssl_certificate ecdsa.pem;\n    ssl_certificate_key ecdsa.key;\n    \
         location / {{ add_header X-Seen \"$host\"; return 200 \"$scheme $server_protocol [$http2] [$ssl_alpn_protocol] host=$host args=$args\\n\"; }}\n    \
         location /up/ {{ proxy_pass http://127.0.0.1:{upstream}; }}\n    \
         location /files/ {{ root /nonexistent; }}\n    \
         location /small/ {{ client_max_body_size 1k; proxy_pass http://127.0.0.1:{upstream}; }}\n  }}\n}}\n"
    )
}

struct Ports {
    tls_h2: u16,
    tls_h1: u16,
    h2c: u16,
}

fn start(program: &Path) -> (Server, Ports) {
    let ports = Ports {
        tls_h2: free_port(),
        tls_h1: free_port(),
        h2c: free_port(),
    };
    let upstream = free_port();
    let p = Prefix::new();
    p.write(
        "conf/ecdsa.pem",
        include_bytes!("../fixtures/tls/ecdsa.pem"),
    );
    p.write(
        "conf/ecdsa.key",
        include_bytes!("../fixtures/tls/ecdsa.key"),
    );
    let ready: Vec<SocketAddr> = [ports.tls_h2, ports.tls_h1, ports.h2c, upstream]
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let s = Server::start(
        program,
        p,
        &config(ports.tls_h2, ports.tls_h1, ports.h2c, upstream),
        &ready,
    );
    (s, ports)
}

/// A response as compared: status, headers but `date`, body.
type Seen = (u16, Vec<(String, String)>, String);

async fn send(
    h2: &mut h2::client::SendRequest<Bytes>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Seen {
    let mut req = http::Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let req = req.body(()).unwrap();
    let (resp, mut stream) = h2.send_request(req, body.is_none()).unwrap();
    if let Some(b) = body {
        stream
            .send_data(Bytes::copy_from_slice(b.as_bytes()), true)
            .unwrap();
    }
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(n, _)| *n != "date")
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    (status, headers, String::from_utf8_lossy(&out).into_owned())
}

async fn exchange<T>(io: T, authority: &str) -> Vec<Seen>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut h2, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let base = format!("https://{authority}");
    let mut seen = Vec::new();
    seen.push(send(&mut h2, "GET", &format!("{base}/x?a=1"), &[], None).await);
    seen.push(
        send(
            &mut h2,
            "POST",
            &format!("{base}/up/p?q"),
            &[
                ("cookie", "a=1"),
                ("cookie", "b=2"),
                ("content-length", "7"),
            ],
            Some("hello=1"),
        )
        .await,
    );
    seen.push(
        send(
            &mut h2,
            "POST",
            &format!("{base}/up/chunk"),
            &[],
            Some("no length"),
        )
        .await,
    );
    seen.push(send(&mut h2, "GET", &format!("{base}/files/missing"), &[], None).await);
    seen.push(send(&mut h2, "HEAD", &format!("{base}/x"), &[], None).await);
    // A body over client_max_body_size: 413 while the client is still sending, and the
    // connection goes on.
    let big = "x".repeat(200_000);
    seen.push(send(&mut h2, "POST", &format!("{base}/small/"), &[], Some(&big)).await);
    // Concurrent streams on the one connection.
    let mut many = Vec::new();
    for i in 0..8 {
        let mut h = h2.clone();
        let uri = format!("{base}/x?n={i}");
        many.push(tokio::spawn(async move {
            send(&mut h, "GET", &uri, &[], None).await
        }));
    }
    for m in many {
        seen.push(m.await.unwrap());
    }
    seen
}

#[test]
fn http2_streams_as_nginx() {
    let mut all = Vec::new();
    for program in programs() {
        let who = program.display().to_string();
        let (server, ports) = start(&program);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let got = rt.block_on(async {
            // ALPN: h2 where the listen has http2, http/1.1 elsewhere.
            let name = rustls::pki_types::ServerName::try_from("a.test").unwrap();
            let tcp = TcpStream::connect(("127.0.0.1", ports.tls_h1))
                .await
                .unwrap();
            let s = tls_client(&[b"h2", b"http/1.1"])
                .connect(name.clone(), tcp)
                .await
                .unwrap();
            let h1_alpn = s.get_ref().1.alpn_protocol().map(|a| a.to_vec());
            let tcp = TcpStream::connect(("127.0.0.1", ports.tls_h2))
                .await
                .unwrap();
            let s = tls_client(&[b"h2", b"http/1.1"])
                .connect(name, tcp)
                .await
                .unwrap();
            let h2_alpn = s.get_ref().1.alpn_protocol().map(|a| a.to_vec());
            let tls = exchange(s, "a.test").await;
            // Prior knowledge on the plaintext http2 port.
            let tcp = TcpStream::connect(("127.0.0.1", ports.h2c)).await.unwrap();
            let h2c = exchange(tcp, "b.test").await;
            // HTTP/1 on that port is not HTTP/2: refused.
            let mut tcp = TcpStream::connect(("127.0.0.1", ports.h2c)).await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            tcp.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .unwrap();
            let mut refused = Vec::new();
            let _ = tcp.read_to_end(&mut refused).await;
            (h1_alpn, h2_alpn, tls, h2c, refused.starts_with(b"HTTP/"))
        });
        assert_eq!(got.0.as_deref(), Some(&b"http/1.1"[..]), "{who}");
        assert_eq!(got.1.as_deref(), Some(&b"h2"[..]), "{who}");
        assert_eq!(got.2[0].0, 200, "{who}");
        assert_eq!(
            got.2[0].2, "https HTTP/2.0 [h2] [h2] host=a.test args=a=1\n",
            "{who}"
        );
        assert_eq!(
            got.2[1].2, "up POST /up/p?q cookie=[a=1; b=2] len=7\n",
            "{who}"
        );
        assert_eq!(got.2[3].0, 404, "{who}");
        assert_eq!(got.2[5].0, 413, "{who}");
        assert_eq!(
            got.3[0].2, "http HTTP/2.0 [h2c] [] host=b.test args=a=1\n",
            "{who}"
        );
        assert!(!got.4, "{who}: an HTTP/1 answer on a prior-knowledge port");
        let line = server
            .wait_error_log(
                "invalid connection preface",
                std::time::Duration::from_secs(5),
            )
            .unwrap_or_else(|| panic!("{who}: {}", server.error_log()));
        assert!(line.contains("invalid connection preface while processing HTTP/2 connection, client: 127.0.0.1, server: 127.0.0.1:"), "{who}: {line}");
        // The access log: one line per stream, in whatever order streams finished.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut log: Vec<String> = server.access_log().lines().map(String::from).collect();
        log.sort();
        all.push((got.2, got.3, log));
    }
    assert_eq!(all[0], all[1], "nginx and rginx differ");
}

/// `http2 on` (nginx 1.25.1; 1.22.1 does not know the directive, so rginx alone is tested,
/// against nginx's documentation of it): ALPN offers h2 where the server SNI picks has it
/// on, and a plaintext address whose default server has it speaks HTTP/2 to clients that
/// open with the preface and HTTP/1 to the others.
#[test]
fn http2_on() {
    let (tls, plain) = (free_port(), free_port());
    let p = Prefix::new();
    p.write(
        "conf/ecdsa.pem",
        include_bytes!("../fixtures/tls/ecdsa.pem"),
    );
    p.write(
        "conf/ecdsa.key",
        include_bytes!("../fixtures/tls/ecdsa.key"),
    );
    let conf = format!(
        "{MAIN}events {{}}\nhttp {{\n  ssl_protocols TLSv1.2 TLSv1.3;\n  \
         server {{\n    listen 127.0.0.1:{tls} ssl;\n    listen 127.0.0.1:{plain};\n    http2 on;\n    \
         server_name a.test;\n    ssl_certificate ecdsa.pem;\n    ssl_certificate_key ecdsa.key;\n    \
         location / {{ return 200 \"$server_protocol [$http2]\\n\"; }}\n  }}\n  \
         server {{\n    listen 127.0.0.1:{tls} ssl;\n    server_name b.test;\n    \
         ssl_certificate ecdsa.pem;\n    ssl_certificate_key ecdsa.key;\n    return 200;\n  }}\n}}\n"
    );
    let ready: Vec<SocketAddr> = [tls, plain]
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let server = Server::start(&rginx(), p, &conf, &ready);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let alpn = |sni: &'static str| async move {
            let tcp = TcpStream::connect(("127.0.0.1", tls)).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from(sni).unwrap();
            let s = tls_client(&[b"h2", b"http/1.1"])
                .connect(name, tcp)
                .await
                .unwrap();
            s.get_ref().1.alpn_protocol().map(|a| a.to_vec())
        };
        assert_eq!(alpn("a.test").await.as_deref(), Some(&b"h2"[..]));
        assert_eq!(alpn("b.test").await.as_deref(), Some(&b"http/1.1"[..]));
        // Plaintext: HTTP/2 with the preface...
        let tcp = TcpStream::connect(("127.0.0.1", plain)).await.unwrap();
        let seen = exchange(tcp, "a.test").await;
        assert_eq!(seen[0].2, "HTTP/2.0 [h2c]\n");
        // ... and HTTP/1.1 without it, on the same port.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = TcpStream::connect(("127.0.0.1", plain)).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        tcp.read_to_end(&mut out).await.unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nHTTP/1.1 []\n"), "{out}");
    });
    drop(server);
}
