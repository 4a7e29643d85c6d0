//! WebSocket through the proxy at the protocol level (S11, S9.1): a tokio-tungstenite client and
//! upstreams on loopback, the noVNC wiki's `/websockify` location in between. Every test runs
//! against the real nginx first (so the test itself is checked against the oracle), then
//! against rginx, and asserts the same of both:
//!
//! - messages of every kind (text, binary up to 8 MiB, ping/pong, close codes from either side)
//!   arrive untouched;
//! - the tunnel is byte-transparent: fragmented frames and control frames between fragments,
//!   written in irregular pieces, reach the upstream and come back byte for byte;
//! - a side that stops reading is cut after its send timeout (`send_timeout` towards the
//!   client, `proxy_send_timeout` towards the upstream), logged at info as nginx logs it.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::server::{free_port, Server, MAIN};
use common::{nginx, rginx, Prefix};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

fn programs() -> [PathBuf; 2] {
    [nginx(), rginx()]
}

/// The noVNC wiki's location (seeds/configs/wiki-http.conf) in front of `upstream`, with
/// `extra` directives in it.
fn config(listen: u16, upstream: SocketAddr, extra: &str) -> String {
    format!(
        "{MAIN}events {{}}\nhttp {{\n  access_log logs/access.log;\n  upstream vnc_proxy {{ server {upstream}; }}\n  \
         server {{\n    listen 127.0.0.1:{listen};\n    location /websockify {{\n      proxy_http_version 1.1;\n      \
         proxy_pass http://vnc_proxy/;\n      proxy_set_header Upgrade $http_upgrade;\n      \
         proxy_set_header Connection \"upgrade\";\n      proxy_read_timeout 61s;\n      proxy_buffering off;\n      {extra}\n    }}\n  }}\n}}\n"
    )
}

fn start(program: &Path, upstream: SocketAddr, extra: &str) -> (Server, u16) {
    let port = free_port();
    let conf = config(port, upstream, extra);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    (Server::start(program, Prefix::new(), &conf, &[addr]), port)
}

/// A WebSocket echo upstream: every data message comes back; `close:CODE` makes it close with
/// that code; tungstenite answers pings with pongs and echoes a client's close.
async fn echo_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                if let Ok(ws) = tokio_tungstenite::accept_async(s).await {
                    echo_messages(ws).await;
                }
            });
        }
    });
    addr
}

/// The echo upstreams' session: every data message comes back; `close:CODE` makes it close
/// with that code; tungstenite answers pings with pongs and echoes a client's close.
async fn echo_messages<S>(mut ws: tokio_tungstenite::WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(m)) = ws.next().await {
        match m {
            Message::Text(t) if t.starts_with("close:") => {
                let code: u16 = t[6..].parse().unwrap();
                let _ = ws
                    .close(Some(CloseFrame {
                        code: CloseCode::from(code),
                        reason: "upstream says bye".into(),
                    }))
                    .await;
            }
            Message::Text(_) | Message::Binary(_) => {
                let echoed = ws.send(m).await;
                if echoed.is_err() {
                    return;
                }
            }
            _ => {}
        }
    }
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

#[tokio::test]
async fn messages_pass_through_untouched() {
    let up = echo_upstream().await;
    for program in programs() {
        let (server, port) = start(&program, up, "");
        let url = format!("ws://127.0.0.1:{port}/websockify");
        let (mut ws, resp) = tokio_tungstenite::connect_async(&url).await.unwrap();
        assert_eq!(resp.status(), 101);
        let who = program.display();

        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
        for (size, seed) in [(125, 1), (126, 2), (65_535, 3), (65_536, 4), (1 << 20, 5)] {
            let data = pattern(size, seed);
            ws.send(Message::binary(data.clone())).await.unwrap();
            match ws.next().await.unwrap().unwrap() {
                Message::Binary(b) => assert!(b[..] == data[..], "{who}: {size} bytes changed"),
                other => panic!("{who}: {size} bytes came back as {other:?}"),
            }
        }
        let big = pattern(8 << 20, 7);
        ws.send(Message::binary(big.clone())).await.unwrap();
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(b) => assert!(b[..] == big[..], "{who}: 8 MiB changed"),
            other => panic!("{who}: 8 MiB came back as {other:?}"),
        }
        ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(b"are you there".to_vec().into()),
            "{who}"
        );
        // A close code from the client comes back from the upstream as it was sent.
        ws.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(4001),
            reason: "client says bye".into(),
        })))
        .await
        .unwrap();
        match ws.next().await.unwrap().unwrap() {
            Message::Close(Some(f)) => {
                assert_eq!(u16::from(f.code), 4001, "{who}");
                assert_eq!(f.reason.as_str(), "client says bye", "{who}");
            }
            other => panic!("{who}: expected the close frame back, got {other:?}"),
        }

        // A close from the upstream, with its code.
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        ws.send(Message::text("close:1001")).await.unwrap();
        match ws.next().await.unwrap().unwrap() {
            Message::Close(Some(f)) => {
                assert_eq!(f.code, CloseCode::Away, "{who}");
                assert_eq!(f.reason.as_str(), "upstream says bye", "{who}");
            }
            other => panic!("{who}: expected the upstream's close, got {other:?}"),
        }
        drop(ws);
        drop(server);
    }
}

/// An upstream that answers any request with a 101 and then sends back every byte it gets,
/// recording them.
async fn raw_echo_upstream() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                let mut got = head[end..].to_vec();
                s.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                )
                .await
                .unwrap();
                if !got.is_empty() {
                    s.write_all(&got).await.unwrap();
                }
                loop {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            got.extend_from_slice(&b[..n]);
                            if s.write_all(&b[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = tx.send(got);
            });
        }
    });
    (addr, rx)
}

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

async fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).await.unwrap(), 1, "closed in the head");
        head.push(b[0]);
    }
    head
}

#[tokio::test]
async fn fragments_and_control_frames_are_byte_transparent() {
    let (up, mut records) = raw_echo_upstream().await;
    // A fragmented text message with a ping between its fragments, a fragmented binary
    // message of 70,000 bytes (16-bit and 64-bit lengths), then a close with code 4000.
    let mut stream = Vec::new();
    stream.extend(frame(false, 0x1, b"frag", [1, 2, 3, 4]));
    stream.extend(frame(true, 0x9, b"ping-in-between", [5, 6, 7, 8]));
    stream.extend(frame(false, 0x0, b"mented ", [9, 10, 11, 12]));
    stream.extend(frame(true, 0x0, b"text", [13, 14, 15, 16]));
    let bin = pattern(70_000, 9);
    stream.extend(frame(false, 0x2, &bin[..300], [17, 18, 19, 20]));
    stream.extend(frame(true, 0x0, &bin[300..], [21, 22, 23, 24]));
    let mut close = 4000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"done");
    stream.extend(frame(true, 0x8, &close, [25, 26, 27, 28]));

    for program in programs() {
        let (server, port) = start(&program, up, "");
        let who = program.display();
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        // The first frame's bytes are pipelined behind the upgrade request itself (S11.3).
        let mut req = b"GET /websockify HTTP/1.1\r\nHost: vnc.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .to_vec();
        req.extend_from_slice(&stream[..3]);
        s.write_all(&req).await.unwrap();
        let head = read_head(&mut s).await;
        assert!(head.starts_with(b"HTTP/1.1 101 "), "{who}: {head:?}");
        // The rest in irregular pieces, some apart in time.
        let mut at = 3;
        for (i, step) in [1usize, 7, 2, 50, 1000, 13, 4096, 65_536]
            .iter()
            .cycle()
            .enumerate()
        {
            if at == stream.len() {
                break;
            }
            let end = (at + step).min(stream.len());
            s.write_all(&stream[at..end]).await.unwrap();
            at = end;
            if i % 3 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let mut back = vec![0u8; stream.len()];
        s.read_exact(&mut back).await.unwrap();
        assert!(back == stream, "{who}: the echo differs from what was sent");
        drop(s);
        let got = tokio::time::timeout(Duration::from_secs(5), records.recv())
            .await
            .expect("the upstream's connection ends with the client's")
            .unwrap();
        assert!(got == stream, "{who}: the upstream got other bytes");
        drop(server);
    }
}

const SWITCH: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

/// An upstream that answers 101 and then floods the client without reading, until the proxy
/// closes the connection; it reports how long after the 101 that was.
async fn flooding_upstream() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Duration>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                read_head(&mut s).await;
                s.write_all(SWITCH).await.unwrap();
                let t0 = Instant::now();
                let chunk = vec![b'x'; 65_536];
                while s.write_all(&chunk).await.is_ok() {}
                let _ = tx.send(t0.elapsed());
            });
        }
    });
    (addr, rx)
}

/// An upstream that answers 101 and reads nothing until `drain` is notified; it then reads to
/// the end and reports whether the proxy had closed the connection.
async fn deaf_upstream(
    drain: std::sync::Arc<tokio::sync::Notify>,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<bool>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            let drain = drain.clone();
            tokio::spawn(async move {
                read_head(&mut s).await;
                s.write_all(SWITCH).await.unwrap();
                drain.notified().await;
                let mut b = vec![0u8; 65_536];
                let ended = tokio::time::timeout(Duration::from_secs(5), async {
                    loop {
                        match s.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                })
                .await
                .is_ok();
                let _ = tx.send(ended);
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_after_send_timeout() {
    let (up, mut ended) = flooding_upstream().await;
    for program in programs() {
        let (server, port) = start(&program, up, "send_timeout 1s;");
        let who = program.display();
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"GET /websockify HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .await
            .unwrap();
        // The client reads nothing more; the proxy's writes to it block.
        let took = tokio::time::timeout(Duration::from_secs(20), ended.recv())
            .await
            .unwrap_or_else(|_| panic!("{who}: the tunnel was never cut"))
            .unwrap();
        assert!(took >= Duration::from_secs(1), "{who}: cut after {took:?}");
        let line = server
            .wait_error_log("while proxying upgraded connection", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{who}: no log line:\n{}", server.error_log()));
        assert!(
            line.contains("[info]")
                && line.contains("client timed out (110: Connection timed out) while proxying upgraded connection")
                && line.contains("upstream: \"http://"),
            "{who}: {line}"
        );
        drop(s);
        drop(server);
    }
}

#[tokio::test]
async fn an_upstream_that_stops_reading_is_cut_after_proxy_send_timeout() {
    let drain = std::sync::Arc::new(tokio::sync::Notify::new());
    let (up, mut ended) = deaf_upstream(drain.clone()).await;
    for program in programs() {
        let (server, port) = start(&program, up, "proxy_send_timeout 1s;");
        let who = program.display();
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"GET /websockify HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .await
            .unwrap();
        read_head(&mut s).await;
        // Flood the upstream, which reads nothing, until the proxy gives up: it then closes
        // the upstream and ends the client's side the way it ends any request (a lingering
        // close: the client reads EOF while its writes are still taken for a while).
        let t0 = Instant::now();
        let (mut rd, mut wr) = s.into_split();
        let flood = tokio::spawn(async move {
            let chunk = vec![b'y'; 65_536];
            while wr.write_all(&chunk).await.is_ok() {}
        });
        let mut b = [0u8; 16];
        let eof = tokio::time::timeout(Duration::from_secs(20), rd.read(&mut b))
            .await
            .unwrap_or_else(|_| panic!("{who}: the tunnel was never cut"));
        assert!(matches!(eof, Ok(0)), "{who}: {eof:?}");
        flood.abort();
        assert!(
            t0.elapsed() >= Duration::from_secs(1),
            "{who}: cut after {:?}",
            t0.elapsed()
        );
        drain.notify_one();
        let closed = tokio::time::timeout(Duration::from_secs(10), ended.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(closed, "{who}: the upstream connection stayed open");
        let line = server
            .wait_error_log("while proxying upgraded connection", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{who}: no log line:\n{}", server.error_log()));
        assert!(
            line.contains("[info]")
                && line.contains("upstream timed out (110: Connection timed out) while proxying upgraded connection"),
            "{who}: {line}"
        );
        drop(server);
    }
}

/// A TLS server configuration with the ECDSA test certificate.
fn tls_server_config() -> std::sync::Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(include_bytes!("../fixtures/tls/ecdsa.pem"))
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../fixtures/tls/ecdsa.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    std::sync::Arc::new(config)
}

/// The echo upstream of [`echo_upstream`], behind TLS.
async fn tls_echo_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_server_config());
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(s) = acceptor.accept(s).await else {
                    return;
                };
                if let Ok(ws) = tokio_tungstenite::accept_async(s).await {
                    echo_messages(ws).await;
                }
            });
        }
    });
    addr
}

/// TLS on both sides of the tunnel: `wss://` to a `listen ... ssl` address, and
/// `proxy_pass https://` to a TLS upstream (noVNC behind TLS, websockify with `--cert`).
#[tokio::test]
async fn tls_on_both_sides_carries_messages_and_closes() {
    let up = tls_echo_upstream().await;
    let (client_config, _) = common::tls::client(common::tls::Offer::default());
    for program in programs() {
        let port = free_port();
        let conf = format!(
            "{MAIN}events {{}}\nhttp {{\n  access_log logs/access.log;\n  server {{\n    \
             listen 127.0.0.1:{port} ssl;\n    ssl_certificate ecdsa.pem;\n    \
             ssl_certificate_key ecdsa.key;\n    location /websockify {{\n      \
             proxy_http_version 1.1;\n      proxy_pass https://{up};\n      \
             proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection \"upgrade\";\n    }}\n  }}\n}}\n"
        );
        let prefix = Prefix::new();
        prefix.write(
            "conf/ecdsa.pem",
            include_bytes!("../fixtures/tls/ecdsa.pem"),
        );
        prefix.write(
            "conf/ecdsa.key",
            include_bytes!("../fixtures/tls/ecdsa.key"),
        );
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let server = Server::start(&program, prefix, &conf, &[addr]);
        let who = program.display();
        let url = format!("wss://localhost:{port}/websockify");
        let connect = || async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = tokio_rustls::TlsConnector::from(client_config.clone())
                .connect(name, tcp)
                .await
                .unwrap();
            tokio_tungstenite::client_async(url.clone(), tls).await
        };
        let (mut ws, resp) = connect().await.unwrap();
        assert_eq!(resp.status(), 101, "{who}");
        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
        for (size, seed) in [(1, 1), (16_384, 2), (16_385, 3), (1 << 20, 4), (4 << 20, 5)] {
            let data = pattern(size, seed);
            ws.send(Message::binary(data.clone())).await.unwrap();
            match ws.next().await.unwrap().unwrap() {
                Message::Binary(b) => assert!(b[..] == data[..], "{who}: {size} bytes changed"),
                other => panic!("{who}: {size} bytes came back as {other:?}"),
            }
        }
        ws.send(Message::Ping(b"over tls".to_vec().into()))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(b"over tls".to_vec().into()),
            "{who}"
        );
        ws.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(4002),
            reason: "client over tls".into(),
        })))
        .await
        .unwrap();
        match ws.next().await.unwrap().unwrap() {
            Message::Close(Some(f)) => {
                assert_eq!(u16::from(f.code), 4002, "{who}");
                assert_eq!(f.reason.as_str(), "client over tls", "{who}");
            }
            other => panic!("{who}: expected the close frame back, got {other:?}"),
        }
        // The connection ends after the closing handshake.
        assert!(
            matches!(
                tokio::time::timeout(Duration::from_secs(5), ws.next()).await,
                Ok(None | Some(Err(_)))
            ),
            "{who}: the tunnel stays open after the close"
        );

        let (mut ws, _) = connect().await.unwrap();
        ws.send(Message::text("close:1001")).await.unwrap();
        match ws.next().await.unwrap().unwrap() {
            Message::Close(Some(f)) => {
                assert_eq!(f.code, CloseCode::Away, "{who}");
                assert_eq!(f.reason.as_str(), "upstream says bye", "{who}");
            }
            other => panic!("{who}: expected the upstream's close, got {other:?}"),
        }
        drop(ws);
        // Both tunnels are in the access log as 101s once they ended.
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.access_log().matches(" 101 ").count() < 2 {
            assert!(Instant::now() < deadline, "{who}: {}", server.access_log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(server);
    }
}
