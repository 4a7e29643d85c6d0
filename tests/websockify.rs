//! `websockify_pass` at the protocol level, with websockify itself (Debian's, 0.10) as the
//! oracle: the same client session goes through websockify and through rginx's bridge to the
//! same kind of target, and the test asserts that the client gets the same frames and the
//! target the same bytes. A WebSocket client written by hand sends exactly the frames each
//! case needs (fragments, pings between them, bad frames); a target on loopback plays the VNC
//! server (a greeting, then it records what it receives, or closes first).
//!
//! What is compared: the handshake's subprotocol; the client's view as data (the payloads of
//! the data frames, joined, as a TCP stream cuts them where it likes), pongs and the close
//! frame (code and reason); the target's bytes; the end of both connections. websockify's
//! close reasons spell "Procotol"; rginx spells it "Protocol", which the comparison allows.
//!
//! Where rginx deliberately differs, each case says why and checks rginx alone: the module's
//! `base64` protocol (websockify 0.10 dropped it), frames over `websockify_buffer_size`, the
//! checks RFC 6455 asks for that websockify skips (long control frames, close codes), an
//! empty close answered with an empty one, nginx's 400 for a request that is no handshake,
//! token routing by `map`, timeouts and log lines.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::server::{free_port, Server, MAIN};
use common::{rginx, Prefix};

// ---------------------------------------------------------------- the target ---

/// What the target does with each connection.
#[derive(Clone)]
enum Script {
    /// Sends its greeting, then records what it receives until the connection ends.
    Greet(Vec<u8>),
    /// Sends these bytes, then closes its side.
    SendThenClose(Vec<u8>),
    /// Sends its greeting, records what it receives, and closes once it has this many bytes.
    GreetUntil(Vec<u8>, usize),
}

/// A target on loopback; each ended connection reports what it received.
struct Target {
    addr: SocketAddr,
    got: mpsc::Receiver<Vec<u8>>,
}

impl Target {
    fn start(script: Script) -> Target {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, got) = mpsc::channel();
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let tx = tx.clone();
                let script = script.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    match script {
                        Script::Greet(g) => {
                            let _ = s.write_all(&g);
                            let mut b = vec![0u8; 1 << 16];
                            loop {
                                match s.read(&mut b) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => got.extend_from_slice(&b[..n]),
                                }
                            }
                        }
                        Script::GreetUntil(g, want) => {
                            let reader = s.try_clone().unwrap();
                            let writer = thread::spawn(move || {
                                let _ = s.write_all(&g);
                                s
                            });
                            let mut reader = reader;
                            let mut b = vec![0u8; 1 << 16];
                            while got.len() < want {
                                match reader.read(&mut b) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => got.extend_from_slice(&b[..n]),
                                }
                            }
                            let s = writer.join().unwrap();
                            let _ = s.shutdown(Shutdown::Both);
                        }
                        Script::SendThenClose(bytes) => {
                            let _ = s.write_all(&bytes);
                            thread::sleep(Duration::from_millis(50));
                            let _ = s.shutdown(Shutdown::Both);
                        }
                    }
                    let _ = tx.send(got);
                });
            }
        });
        Target { addr, got }
    }

    /// What the next connection that ended received.
    fn received(&self) -> Vec<u8> {
        self.got
            .recv_timeout(Duration::from_secs(30))
            .expect("the target's connection ends")
    }
}

// ---------------------------------------------------------------- the fronts ---

/// websockify or rginx, listening for WebSocket clients in front of a target.
enum Front {
    Websockify(Child, u16),
    Rginx(Server, u16),
}

impl Front {
    fn websockify(target: SocketAddr) -> Front {
        let port = free_port();
        let child = Command::new("websockify")
            .arg(format!("127.0.0.1:{port}"))
            .arg(target.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("websockify (Debian's package) runs");
        wait_listening(port);
        Front::Websockify(child, port)
    }

    fn rginx(target: &str, extra: &str, http_extra: &str) -> Front {
        let port = free_port();
        let conf = format!(
            "{MAIN}events {{}}\nhttp {{\n  access_log logs/access.log;\n  {http_extra}\n  server {{\n    \
             listen 127.0.0.1:{port};\n    location /websockify {{\n      websockify_pass {target};\n      \
             {extra}\n    }}\n  }}\n}}\n"
        );
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let server = Server::start(&rginx(), Prefix::new(), &conf, &[addr]);
        Front::Rginx(server, port)
    }

    fn port(&self) -> u16 {
        match self {
            Front::Websockify(_, p) | Front::Rginx(_, p) => *p,
        }
    }

    fn server(&self) -> &Server {
        match self {
            Front::Rginx(s, _) => s,
            Front::Websockify(..) => panic!("websockify has no rginx logs"),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Front::Websockify(..) => "websockify",
            Front::Rginx(..) => "rginx",
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Front::Websockify(c, _) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- the client ---

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x88];
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

fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    frame(true, 0x8, &p)
}

/// What the client saw: data (the data frames' payloads, joined), pongs and the close, in
/// order, then whether the server closed the connection.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Data(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Eof,
}

/// A session's handshake answer and what came after it.
#[derive(Debug)]
struct Session {
    status: u16,
    protocol: Option<String>,
    seen: Vec<Seen>,
}

/// The handshake with `protocols` offered, then `frames` sent (each item written apart),
/// then everything read until the server closes or `quiet` passes with nothing new.
fn session(port: u16, protocols: Option<&str>, frames: &[Vec<u8>], quiet: Duration) -> Session {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    let mut req = format!(
        "GET /websockify HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n"
    );
    if let Some(p) = protocols {
        req.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let (status, head) = read_head(&mut s);
    let protocol = header(&head, "sec-websocket-protocol");
    if status == 101 {
        assert_eq!(
            header(&head, "sec-websocket-accept").as_deref(),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{head}"
        );
    }
    let writer = s.try_clone().unwrap();
    // A browser answers the server's close with its own, unless it closed first.
    let answer = if frames
        .iter()
        .any(|f| f.first().is_some_and(|b| b & 0x0f == 0x8))
    {
        None
    } else {
        Some(s.try_clone().unwrap())
    };
    let frames = frames.to_vec();
    let sender = thread::spawn(move || {
        let mut w = writer;
        for f in frames {
            if w.write_all(&f).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    });
    let seen = if status == 101 {
        read_frames(&mut s, quiet, answer)
    } else {
        Vec::new()
    };
    let _ = sender.join();
    Session {
        status,
        protocol,
        seen,
    }
}

fn read_head(s: &mut TcpStream) -> (u16, String) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn read_frames(s: &mut TcpStream, quiet: Duration, mut answer: Option<TcpStream>) -> Vec<Seen> {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = Vec::new();
    let mut out: Vec<Seen> = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        // Whole frames first.
        while let Some((fin_op, payload, len)) = server_frame(&buf) {
            let _ = fin_op;
            match fin_op & 0x0f {
                0x0..=0x2 => match out.last_mut() {
                    Some(Seen::Data(d)) => d.extend_from_slice(&payload),
                    _ => out.push(Seen::Data(payload)),
                },
                0x8 => {
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default())
                        .replace("Procotol", "Protocol");
                    out.push(Seen::Close(code, reason));
                    if let Some(mut w) = answer.take() {
                        let _ = w.write_all(&close(code.unwrap_or(1000), b""));
                    }
                }
                0xa => out.push(Seen::Pong(payload)),
                op => panic!("the server sent opcode {op:#x}"),
            }
            buf.drain(..len);
        }
        match s.read(&mut chunk) {
            Ok(0) => {
                out.push(Seen::Eof);
                return out;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                out.push(Seen::Eof);
                return out;
            }
            Err(_) => return out,
        }
    }
}

/// A server frame at the start of `b`: (first byte, payload, frame length).
fn server_frame(b: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if b.len() < 2 {
        return None;
    }
    assert_eq!(b[1] & 0x80, 0, "a server frame is masked");
    let (len, at) = match b[1] & 0x7f {
        126 => (u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = b.get(at..at + len)?.to_vec();
    Some((b[0], payload, at + len))
}

/// What the client saw, short: data as its length and a digest.
fn summary(seen: &[Seen]) -> String {
    let parts: Vec<String> = seen
        .iter()
        .map(|s| match s {
            Seen::Data(d) => format!(
                "Data({} bytes, sum {})",
                d.len(),
                d.iter().map(|&b| b as u64).sum::<u64>()
            ),
            other => format!("{other:?}"),
        })
        .collect();
    parts.join(", ")
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

/// A case run through websockify and through rginx: both see the same, and so does the
/// target. `extra` goes into rginx's location.
fn same_as_websockify(
    case: &str,
    script: Script,
    protocols: Option<&str>,
    frames: &[Vec<u8>],
    extra: &str,
) -> Session {
    compare(
        case,
        script,
        protocols,
        frames,
        extra,
        true,
        Duration::from_secs(3),
    )
}

/// [`same_as_websockify`], with the target's bytes compared or not, and how long a silence
/// ends the session.
fn compare(
    case: &str,
    script: Script,
    protocols: Option<&str>,
    frames: &[Vec<u8>],
    extra: &str,
    target_too: bool,
    quiet: Duration,
) -> Session {
    let mut views = Vec::new();
    for which in ["websockify", "rginx"] {
        let target = Target::start(script.clone());
        let front = if which == "websockify" {
            Front::websockify(target.addr)
        } else {
            Front::rginx(&target.addr.to_string(), extra, "")
        };
        let s = session(front.port(), protocols, frames, quiet);
        assert_eq!(
            s.status,
            101,
            "{case}: {} refused the handshake",
            front.name()
        );
        let got = target.received();
        views.push((s, got));
    }
    let (rg, rg_got) = views.pop().unwrap();
    let (ws, ws_got) = views.pop().unwrap();
    assert_eq!(rg.protocol, ws.protocol, "{case}: the subprotocol");
    assert!(
        rg.seen == ws.seen,
        "{case}: what the client saw differs:\n  rginx:      {}\n  websockify: {}",
        summary(&rg.seen),
        summary(&ws.seen)
    );
    assert!(
        !target_too || rg_got == ws_got,
        "{case}: what the target got ({} bytes through rginx, {} through websockify)",
        rg_got.len(),
        ws_got.len()
    );
    rg
}

// ---------------------------------------------------------------- the cases ---

const GREETING: &[u8] = b"RFB 003.008\n";

#[test]
fn messages_both_ways_and_a_clean_close() {
    let mut frames = vec![frame(true, 0x2, b"RFB 003.008\n")];
    for (n, seed) in [(1, 1), (125, 2), (126, 3), (65_535, 4)] {
        frames.push(frame(true, 0x2, &pattern(n, seed)));
    }
    frames.push(frame(true, 0x9, b"are you there"));
    frames.push(close(4001, b"client says bye"));
    let s = same_as_websockify(
        "binary",
        Script::Greet(GREETING.to_vec()),
        Some("binary"),
        &frames,
        "",
    );
    assert_eq!(s.protocol.as_deref(), Some("binary"));
    assert_eq!(
        s.seen,
        vec![
            Seen::Data(GREETING.to_vec()),
            Seen::Pong(b"are you there".to_vec()),
            Seen::Close(Some(4001), "client says bye".into()),
            Seen::Eof,
        ]
    );
}

#[test]
fn no_subprotocol_means_binary_and_binary_is_preferred() {
    let frames = [frame(true, 0x2, b"x"), close(1000, b"")];
    let s = same_as_websockify("none", Script::Greet(GREETING.to_vec()), None, &frames, "");
    assert_eq!(s.protocol, None);
    // websockify splits the list on commas without trimming: no spaces for it.
    let s = same_as_websockify(
        "both",
        Script::Greet(GREETING.to_vec()),
        Some("base64,binary"),
        &frames,
        "",
    );
    assert_eq!(s.protocol.as_deref(), Some("binary"));
}

#[test]
fn fragments_with_control_frames_between_them() {
    // The second message's last fragment has a 64-bit length: over the module's default
    // frame limit, so the buffer is raised.
    let frames = [
        frame(false, 0x2, b"frag"),
        frame(true, 0x9, b"ping between"),
        frame(false, 0x0, b"men"),
        frame(true, 0x0, b"ted"),
        frame(false, 0x2, &pattern(70_000, 9)[..1000]),
        frame(true, 0x0, &pattern(70_000, 9)[1000..]),
        close(1000, b"done"),
    ];
    same_as_websockify(
        "fragments",
        Script::Greet(Vec::new()),
        Some("binary"),
        &frames,
        "websockify_buffer_size 1m;",
    );
}

#[test]
fn large_messages_both_ways() {
    // 16 MiB from the target; 16 MiB from the client in fragments and as one frame (rginx
    // takes frames that large once websockify_buffer_size allows them, see below).
    // The target closes once it has both: the session then ends with "Target closed". (A
    // client's close right behind the data would end websockify's session before it wrote
    // what it had decoded to the target: websockify drops it; rginx writes it first.)
    let big = pattern(16 << 20, 5);
    let mut frames: Vec<Vec<u8>> = big
        .chunks(64 * 1024)
        .enumerate()
        .map(|(i, c)| {
            let last = (i + 1) * 64 * 1024 >= big.len();
            frame(last, if i == 0 { 0x2 } else { 0x0 }, c)
        })
        .collect();
    frames.push(frame(true, 0x2, &big));
    // websockify gathers a frame by appending each 4 KiB read to a bytes object: a 16 MiB
    // frame takes it many seconds.
    let s = compare(
        "large",
        Script::GreetUntil(big.clone(), 2 * big.len()),
        Some("binary"),
        &frames,
        "websockify_buffer_size 17m;",
        true,
        Duration::from_secs(60),
    );
    assert!(matches!(&s.seen[0], Seen::Data(d) if d == &big));
    assert_eq!(s.seen[1], Seen::Close(Some(1000), "Target closed".into()));
}

#[test]
fn the_target_closing_first_ends_with_target_closed() {
    let s = same_as_websockify(
        "target closes",
        Script::SendThenClose(b"bye from the target".to_vec()),
        Some("binary"),
        &[],
        "",
    );
    assert_eq!(
        s.seen,
        vec![
            Seen::Data(b"bye from the target".to_vec()),
            Seen::Close(Some(1000), "Target closed".into()),
            Seen::Eof
        ]
    );
}

#[test]
fn the_client_vanishing_ends_the_target_connection() {
    for front_kind in ["websockify", "rginx"] {
        let target = Target::start(Script::Greet(Vec::new()));
        let front = if front_kind == "websockify" {
            Front::websockify(target.addr)
        } else {
            Front::rginx(&target.addr.to_string(), "", "")
        };
        let mut s = TcpStream::connect(("127.0.0.1", front.port())).unwrap();
        s.write_all(
            b"GET /websockify HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        assert_eq!(read_head(&mut s).0, 101);
        s.write_all(&frame(true, 0x2, b"last words")).unwrap();
        thread::sleep(Duration::from_millis(100));
        drop(s);
        assert_eq!(target.received(), b"last words", "{front_kind}");
    }
}

#[test]
fn a_target_refusing_the_connection_closes_with_1011() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut seen = Vec::new();
    for which in ["websockify", "rginx"] {
        let front = if which == "websockify" {
            Front::websockify(closed)
        } else {
            Front::rginx(&closed.to_string(), "", "")
        };
        let s = session(front.port(), Some("binary"), &[], Duration::from_secs(3));
        assert_eq!(s.status, 101, "{which}");
        seen.push(s.seen);
        if let Front::Rginx(server, _) = &front {
            assert!(
                server.error_log().contains(
                    "connect() failed (111: Connection refused) while connecting to upstream"
                ),
                "{}",
                server.error_log()
            );
        }
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(
        seen[1],
        vec![
            Seen::Close(Some(1011), "Failed to connect to downstream server".into()),
            Seen::Eof
        ]
    );
}

#[test]
fn bad_frames_get_websockifys_close_codes() {
    let unmasked = vec![0x82, 0x01, b'x'];
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", unmasked, 1002),
        ("text without base64", frame(true, 0x1, b"hi"), 1003),
        ("reserved opcode", frame(true, 0x3, b""), 1003),
        ("fragmented ping", frame(false, 0x9, b"p"), 1003),
        ("lone continuation", frame(true, 0x0, b"x"), 1002),
        ("close reason not UTF-8", close(1000, b"\xff\xfe"), 1002),
    ];
    for (case, bad, code) in cases {
        let frames = [frame(true, 0x2, b"before"), bad];
        let s = same_as_websockify(case, Script::Greet(Vec::new()), Some("binary"), &frames, "");
        assert!(
            matches!(s.seen.first(), Some(Seen::Close(Some(c), _)) if *c == code),
            "{case}: {:?}",
            s.seen
        );
    }
    // A new message inside a fragmented one. websockify holds a message until its last
    // fragment, so the target got nothing of it; rginx passes a fragment on as it arrives
    // (no frame is ever held whole), so the target got the first fragment. The client sees
    // the same.
    let frames = [frame(false, 0x2, b"a"), frame(true, 0x2, b"b")];
    compare(
        "new frame inside",
        Script::Greet(Vec::new()),
        Some("binary"),
        &frames,
        "",
        false,
        Duration::from_secs(3),
    );
}

// ------------------------------------------------- rginx's own, with reasons ---

/// The module's `base64` protocol (websockify 0.10 no longer speaks it): text messages of
/// base64 both ways, decoded across fragments; bad base64 closes with 1007.
#[test]
fn base64_protocol() {
    let target = Target::start(Script::Greet(b"RFB 003.008\n".to_vec()));
    let front = Front::rginx(&target.addr.to_string(), "", "");
    let frames = [
        frame(false, 0x1, b"aGVsbG8g"),
        frame(true, 0x0, b"d29ybGQ="),
        frame(true, 0x1, b"not base64!"),
    ];
    let s = session(
        front.port(),
        Some("base64"),
        &frames,
        Duration::from_secs(3),
    );
    assert_eq!(s.protocol.as_deref(), Some("base64"));
    assert_eq!(s.seen[0], Seen::Data(b"UkZCIDAwMy4wMDgK".to_vec()));
    assert!(
        matches!(&s.seen[1], Seen::Close(Some(1007), _)),
        "{:?}",
        s.seen
    );
    assert_eq!(target.received(), b"hello world");
}

/// RFC 6455's checks websockify skips: a control frame over 125 bytes, a close code that
/// may not be sent, a one-byte close; a frame over `websockify_buffer_size` (the module's
/// limit, 65,535 bytes by default) is 1009; an empty close is answered with an empty one
/// (websockify sends 1005, which the RFC forbids on the wire); a 64-bit length with its top
/// bit set is 1002.
#[test]
fn rfc_checks_websockify_skips() {
    let target = Target::start(Script::Greet(Vec::new()));
    let front = Front::rginx(&target.addr.to_string(), "", "");
    let huge = vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    for (case, bad, want) in [
        ("long ping", frame(true, 0x9, &[0u8; 126]), Some(1002)),
        ("close code 1005", close(1005, b""), Some(1002)),
        ("one-byte close", frame(true, 0x8, b"\x03"), Some(1002)),
        (
            "frame over the limit",
            frame(true, 0x2, &[7u8; 65_536]),
            Some(1009),
        ),
        ("empty close", frame(true, 0x8, b""), None),
        ("2^63 length", huge, Some(1002)),
    ] {
        let s = session(front.port(), Some("binary"), &[bad], Duration::from_secs(3));
        match (&s.seen[0], want) {
            (Seen::Close(c, _), w) => assert_eq!(*c, w, "{case}: {:?}", s.seen),
            other => panic!("{case}: {other:?}"),
        }
        assert_eq!(s.seen.last(), Some(&Seen::Eof), "{case}");
        let _ = target.received();
    }
}

/// A request that is no handshake websockify accepts gets nginx's 400 page, as the module
/// gives it; the target is not connected to.
#[test]
fn not_a_handshake_is_nginxs_400() {
    let target = Target::start(Script::Greet(Vec::new()));
    let front = Front::rginx(&target.addr.to_string(), "", "");
    for (case, req) in [
        ("no upgrade", "GET /websockify HTTP/1.1\r\nHost: x\r\n\r\n"),
        (
            "version 12",
            "GET /websockify HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a2V5\r\nSec-WebSocket-Version: 12\r\n\r\n",
        ),
        (
            "no key",
            "GET /websockify HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ),
        (
            "only chat",
            "GET /websockify HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a2V5\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
        ),
        (
            "POST",
            "POST /websockify HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a2V5\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
        ),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", front.port())).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.read_to_string(&mut resp);
        assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{case}: {resp}");
        assert!(resp.contains("<center><h1>400 Bad Request</h1></center>"), "{case}");
    }
    assert!(
        target.got.recv_timeout(Duration::from_millis(200)).is_err(),
        "the target was connected to"
    );
}

/// Token routing is plain nginx: `map $arg_token $vnc` with the tokens, `websockify_pass
/// $vnc`. A known token reaches its target (an address, a unix socket, or an `upstream`
/// name); an unknown one is a 404 with an error-log line, and nothing is connected to.
#[test]
fn token_routing_by_map() {
    let a = Target::start(Script::Greet(b"I am A".to_vec()));
    let b = Target::start(Script::Greet(b"I am B".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("vnc.sock");
    let unix = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    thread::spawn(move || {
        for s in unix.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.write_all(b"I am the unix one");
            thread::sleep(Duration::from_millis(300));
        }
    });
    let http = format!(
        "map $arg_token $vnc {{\n    default \"\";\n    alpha {};\n    beta group_b;\n    gamma unix:{};\n  }}\n  \
         upstream group_b {{ server {}; }}",
        a.addr,
        sock.display(),
        b.addr
    );
    let front = Front::rginx("$vnc", "", &http);
    let port = front.port();
    let get = |token: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(format!(
            "GET /websockify?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).as_bytes()).unwrap();
        let (status, _) = read_head(&mut s);
        let seen = if status == 101 {
            read_frames(&mut s, Duration::from_millis(500), None)
        } else {
            Vec::new()
        };
        (status, seen)
    };
    assert_eq!(get("alpha"), (101, vec![Seen::Data(b"I am A".to_vec())]));
    assert_eq!(get("beta"), (101, vec![Seen::Data(b"I am B".to_vec())]));
    assert_eq!(
        get("gamma").1.first(),
        Some(&Seen::Data(b"I am the unix one".to_vec()))
    );
    assert_eq!(get("nosuchtoken").0, 404);
    let log = front.server().error_log();
    assert!(
        log.contains("no websockify target for this request: \"$vnc\" is empty"),
        "{log}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !front
        .server()
        .access_log()
        .contains("\"GET /websockify?token=nosuchtoken HTTP/1.1\" 404 ")
    {
        assert!(Instant::now() < deadline, "{}", front.server().access_log());
        thread::sleep(Duration::from_millis(20));
    }
}

/// A target that never answers the connect: after `websockify_connect_timeout` the session
/// closes with 1011, and the error log says the upstream timed out while connecting.
#[test]
fn a_silent_target_times_out_the_connect() {
    // A listener whose queue is full drops further SYNs: connecting to it hangs.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    let front = Front::rginx(&addr.to_string(), "websockify_connect_timeout 1s;", "");
    let t0 = Instant::now();
    let s = session(front.port(), Some("binary"), &[], Duration::from_secs(5));
    let took = t0.elapsed();
    assert_eq!(
        s.seen,
        vec![
            Seen::Close(Some(1011), "Failed to connect to downstream server".into()),
            Seen::Eof
        ]
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let log = front.server().error_log();
    assert!(
        log.contains("upstream timed out (110: Connection timed out) while connecting to upstream"),
        "{log}"
    );
    drop(socket);
}

/// The bridge is a tunnel like a proxied WebSocket: `websockify_read_timeout` cuts an idle
/// session (logged at info), and the access log has its 101 line with the target's address.
#[test]
fn idle_sessions_end_at_the_read_timeout_and_are_logged() {
    let target = Target::start(Script::Greet(b"hello".to_vec()));
    let front = Front::rginx(&target.addr.to_string(), "websockify_read_timeout 1s;", "");
    let t0 = Instant::now();
    let s = session(front.port(), Some("binary"), &[], Duration::from_secs(5));
    let took = t0.elapsed();
    assert_eq!(s.seen, vec![Seen::Data(b"hello".to_vec()), Seen::Eof]);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    let _ = target.received();
    let server = front.server();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.access_log().contains(" 101 ") {
        assert!(
            Instant::now() < deadline,
            "no access-log line: {}",
            server.access_log()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let log = server.error_log();
    assert!(
        log.contains(&format!(
            "upstream timed out (110: Connection timed out) while proxying upgraded connection, client: 127.0.0.1, server: , request: \"GET /websockify HTTP/1.1\", upstream: \"websockify://{}\"",
            target.addr
        )),
        "{log}"
    );
}
