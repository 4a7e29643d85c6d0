//! The stream module against nginx (Debian's `libnginx-mod-stream`, loaded with `load_module`
//! as Debian's `modules-enabled` does; rginx has the module built in and accepts the line):
//! every test runs the same configuration under the real nginx first, so the test itself is
//! checked against the oracle, then under rginx, and asserts the same of both:
//!
//! - bytes both ways, exactly, up to a MiB at a time; which side's end closes the session and
//!   nginx's `... disconnected, bytes from/to client:N/N, bytes from/to upstream:N/N` line;
//!   `proxy_half_close`; a unix-socket upstream;
//! - a refused connect (502, `connect() failed (111: ...)`), the next peer of a group (with
//!   `upstream server temporarily disabled`), a connect that never completes
//!   (`proxy_connect_timeout`, `upstream timed out`), an idle session (`proxy_timeout`,
//!   `connection timed out`), each timed for both servers;
//! - `allow`/`deny` (403), `return` with variables, a target chosen by `map`, TLS termination
//!   (`listen ... ssl`) with its handshake failures (500) and `ssl_handshake_timeout`;
//! - the access-log line of each (`$status`, the byte counts, `$upstream_addr` and the
//!   upstream byte counts per try), and the error-log lines, normalised only for client ports
//!   and connection numbers;
//! - `-t`'s messages for the mistakes nginx refuses in a stream block.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::server::{free_port, Server, MAIN};
use common::upstream::{closed_port, BlackHole};
use common::{levels, nginx, rginx, Prefix};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};

fn programs() -> [PathBuf; 2] {
    [nginx(), rginx()]
}

/// The access-log format of these tests: everything but the times, which are checked apart.
const FORMAT: &str = "log_format s '$remote_addr $protocol $status $bytes_sent $bytes_received \"$upstream_addr\" \"$upstream_bytes_sent\" \"$upstream_bytes_received\" \"$upstream_connect_time\" $session_time';";

/// A stream configuration around `servers`, with an http server on `ready` to tell when the
/// server is up (a probe of a stream port would be a session of its own).
fn conf(ready: u16, servers: &str) -> String {
    format!(
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n{MAIN}events {{}}\n\
         http {{ access_log off; server {{ listen 127.0.0.1:{ready}; return 204; }} }}\n\
         stream {{\n  {FORMAT}\n  access_log logs/access.log s;\n{servers}\n}}\n"
    )
}

fn start(program: &Path, servers: &str) -> Server {
    let ready = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], ready).into();
    // The stream sockets are bound with the http one: a connection made as soon as that
    // one answers waits in its socket's backlog until it is accepted.
    Server::start(program, Prefix::new(), &conf(ready, servers), &[addr])
}

fn who(s: &Server) -> &'static str {
    if s.is_nginx() {
        "nginx"
    } else {
        "rginx"
    }
}

/// The session lines of the error log, without times, pids, client ports and connection
/// numbers: `[level] message`.
fn session_lines(s: &Server) -> Vec<String> {
    let keep = [
        " connected to ",
        "disconnected, bytes",
        "while connecting to upstream",
        "while proxying",
        "while initializing session",
        "while SSL handshaking",
        "while returning",
    ];
    s.error_log()
        .lines()
        .filter(|l| keep.iter().any(|k| l.contains(k)))
        .map(|l| normalise(&common::control::strip_log_prefix(l)))
        .collect()
}

fn normalise(line: &str) -> String {
    let mut out = Vec::new();
    for word in line.split(' ') {
        // `*12`: connection numbers.
        if word.starts_with('*') && word[1..].chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        out.push(word.to_string());
    }
    let line = out.join(" ");
    // `client 127.0.0.1:40228 connected`, `proxy 127.0.0.1:47310 connected`.
    let mut line = line;
    for who in ["client 127.0.0.1:", "proxy 127.0.0.1:"] {
        if let Some(i) = line.find(who) {
            let from = i + who.len();
            let end = line[from..].find(' ').map_or(line.len(), |e| from + e);
            line.replace_range(from..end, "PORT");
        }
    }
    line
}

/// Waits until the access log has `n` lines; returns them without their times.
fn access_lines(s: &Server, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<String> = s.access_log().lines().map(str::to_string).collect();
        if lines.len() >= n {
            return lines
                .iter()
                .map(|l| {
                    // The last field is $session_time; check its shape, then drop it.
                    let (rest, t) = l.rsplit_once(' ').unwrap();
                    assert!(is_time(t), "{}: session time {t:?} in {l}", who(s));
                    // $upstream_connect_time: each try's time becomes T ("-" stays).
                    let (rest, connect) = rest.rsplit_once(" \"").unwrap();
                    let items: Vec<&str> = connect.trim_matches('"').split(", ").collect();
                    let shapes: Vec<&str> = items
                        .iter()
                        .map(|i| match *i {
                            "-" => "-",
                            t if is_time(t) => "T",
                            other => panic!("{}: connect time {other:?} in {l}", who(s)),
                        })
                        .collect();
                    format!("{rest} \"{}\"", shapes.join(", "))
                })
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "{}: {n} access-log lines expected, got {lines:?}",
            who(s)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `1.234`: nginx's seconds with milliseconds.
fn is_time(t: &str) -> bool {
    t.split_once('.').is_some_and(|(s, ms)| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_digit())
            && ms.len() == 3
            && ms.chars().all(|c| c.is_ascii_digit())
    })
}

/// Waits until the error log has a session line containing `needle`.
fn wait_line(s: &Server, needle: &str) -> String {
    s.wait_error_log(needle, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{}: no \"{needle}\" in\n{}", who(s), s.error_log()))
}

/// A TCP echo upstream on 127.0.0.1.
async fn echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// An upstream that says `banner` and closes, as a VNC server that refuses does.
async fn banner_then_close(banner: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.write_all(banner).await;
        }
    });
    addr
}

/// An upstream that reads until the end, then answers how much it read and closes.
async fn counts_then_answers() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                let _ = s.read_to_end(&mut all).await;
                let _ = s.write_all(format!("read {}", all.len()).as_bytes()).await;
            });
        }
    });
    addr
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

/// Reads until the peer closes, with a deadline; the bytes and whether it ended by a reset.
async fn read_all(s: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let mut all = Vec::new();
    let r = tokio::time::timeout(within, s.read_to_end(&mut all)).await;
    match r {
        Ok(Ok(_)) => (all, false),
        Ok(Err(_)) => (all, true),
        Err(_) => panic!("the proxy did not close within {within:?}"),
    }
}

#[tokio::test]
async fn bytes_both_ways_then_the_client_closes() {
    let up = echo().await;
    for program in programs() {
        let port = free_port();
        let s = start(
            &program,
            &format!("server {{ listen 127.0.0.1:{port}; proxy_pass {up}; }}"),
        );
        let mut c = connect(port).await;
        let mut sent = 0usize;
        for size in [5usize, 1, 70_000, 1 << 20] {
            let msg: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
            c.write_all(&msg).await.unwrap();
            let mut back = vec![0u8; size];
            tokio::time::timeout(Duration::from_secs(10), c.read_exact(&mut back))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(back, msg, "{}: echo of {size} bytes", who(&s));
            sent += size;
        }
        drop(c);
        let end = wait_line(&s, "disconnected");
        let lines = session_lines(&s);
        assert_eq!(
            lines,
            vec![
                format!("[info] client 127.0.0.1:PORT connected to 127.0.0.1:{port}"),
                format!("[info] proxy 127.0.0.1:PORT connected to {up}"),
                format!("[info] client disconnected, bytes from/to client:{sent}/{sent}, bytes from/to upstream:{sent}/{sent}"),
            ],
            "{}: {end}",
            who(&s)
        );
        assert_eq!(
            access_lines(&s, 1),
            vec![format!(
                "127.0.0.1 TCP 200 {sent} {sent} \"{up}\" \"{sent}\" \"{sent}\" \"T\""
            )],
            "{}",
            who(&s)
        );
    }
}

#[tokio::test]
async fn the_upstream_closes_first() {
    let up = banner_then_close(b"RFB 003.008\n").await;
    for program in programs() {
        let port = free_port();
        let s = start(
            &program,
            &format!("server {{ listen 127.0.0.1:{port}; proxy_pass {up}; }}"),
        );
        let mut c = connect(port).await;
        let (got, reset) = read_all(&mut c, Duration::from_secs(5)).await;
        assert_eq!(
            (got.as_slice(), reset),
            (&b"RFB 003.008\n"[..], false),
            "{}",
            who(&s)
        );
        wait_line(&s, "disconnected");
        assert_eq!(
            session_lines(&s).last().unwrap(),
            "[info] upstream disconnected, bytes from/to client:0/12, bytes from/to upstream:12/0",
            "{}",
            who(&s)
        );
        assert_eq!(
            access_lines(&s, 1),
            vec![format!(
                "127.0.0.1 TCP 200 12 0 \"{up}\" \"0\" \"12\" \"T\""
            )],
            "{}",
            who(&s)
        );
    }
}

/// Without `proxy_half_close` the client's end ends the session (the upstream's answer is
/// lost); with it, the end goes on to the upstream and its answer comes back.
#[tokio::test]
async fn half_close() {
    let up = counts_then_answers().await;
    for program in programs() {
        for (half, want) in [("off", &b""[..]), ("on", &b"read 3"[..])] {
            let port = free_port();
            let conf = format!(
                "server {{ listen 127.0.0.1:{port}; proxy_pass {up}; proxy_half_close {half}; }}"
            );
            let s = start(&program, &conf);
            let mut c = connect(port).await;
            c.write_all(b"abc").await.unwrap();
            c.shutdown().await.unwrap();
            let (got, _) = read_all(&mut c, Duration::from_secs(5)).await;
            assert_eq!(got, want, "{} proxy_half_close {half}", who(&s));
            let end = wait_line(&s, "disconnected");
            let want_end = if half == "on" {
                "upstream disconnected, bytes from/to client:3/6, bytes from/to upstream:6/3"
            } else {
                "client disconnected, bytes from/to client:3/0, bytes from/to upstream:0/3"
            };
            assert!(
                end.ends_with(want_end),
                "{} half_close {half}: {end}",
                who(&s)
            );
        }
    }
}

#[tokio::test]
async fn a_unix_socket_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vnc.sock");
    let l = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    for program in programs() {
        let port = free_port();
        let conf = format!(
            "server {{ listen 127.0.0.1:{port}; proxy_pass unix:{}; }}",
            path.display()
        );
        let s = start(&program, &conf);
        let mut c = connect(port).await;
        c.write_all(b"over unix").await.unwrap();
        let mut back = [0u8; 9];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"over unix", "{}", who(&s));
        drop(c);
        wait_line(&s, "disconnected");
        assert_eq!(
            session_lines(&s)[1],
            format!("[info] proxy unix: connected to unix:{}", path.display()),
            "{}",
            who(&s)
        );
        let a = access_lines(&s, 1);
        assert!(
            a[0].starts_with(&format!(
                "127.0.0.1 TCP 200 9 9 \"unix:{}\" \"9\" \"9\"",
                path.display()
            )),
            "{}: {a:?}",
            who(&s)
        );
    }
}

#[tokio::test]
async fn a_refused_connect_is_502() {
    let dead = closed_port();
    for program in programs() {
        let port = free_port();
        let s = start(
            &program,
            &format!("server {{ listen 127.0.0.1:{port}; proxy_pass 127.0.0.1:{dead}; }}"),
        );
        let mut c = connect(port).await;
        let (got, _) = read_all(&mut c, Duration::from_secs(5)).await;
        assert!(got.is_empty(), "{}", who(&s));
        wait_line(&s, "connect() failed");
        assert_eq!(
            session_lines(&s)[1..],
            [format!(
                "[error] connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: 127.0.0.1:{port}, upstream: \"127.0.0.1:{dead}\", bytes from/to client:0/0, bytes from/to upstream:0/0"
            )],
            "{}",
            who(&s)
        );
        assert_eq!(
            access_lines(&s, 1),
            vec![format!(
                "127.0.0.1 TCP 502 0 0 \"127.0.0.1:{dead}\" \"0\" \"0\" \"-\""
            )],
            "{}",
            who(&s)
        );
    }
}

#[tokio::test]
async fn the_next_peer_of_a_group() {
    let up = echo().await;
    let dead = closed_port();
    for program in programs() {
        let port = free_port();
        let conf = format!(
            "upstream g {{ server 127.0.0.1:{dead}; server {up}; }}\n\
             server {{ listen 127.0.0.1:{port}; proxy_pass g; }}"
        );
        let s = start(&program, &conf);
        let mut c = connect(port).await;
        c.write_all(b"grp").await.unwrap();
        let mut back = [0u8; 3];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"grp", "{}", who(&s));
        drop(c);
        wait_line(&s, "disconnected");
        let lines = session_lines(&s);
        let tail = format!(
            "while connecting to upstream, client: 127.0.0.1, server: 127.0.0.1:{port}, upstream: \"127.0.0.1:{dead}\", bytes from/to client:0/0, bytes from/to upstream:0/0"
        );
        assert_eq!(
            lines[1..],
            [
                format!("[error] connect() failed (111: Connection refused) {tail}"),
                format!("[warn] upstream server temporarily disabled {tail}"),
                format!("[info] proxy 127.0.0.1:PORT connected to {up}"),
                "[info] client disconnected, bytes from/to client:3/3, bytes from/to upstream:3/3"
                    .to_string(),
            ],
            "{}",
            who(&s)
        );
        assert_eq!(
            access_lines(&s, 1),
            vec![format!(
                "127.0.0.1 TCP 200 3 3 \"127.0.0.1:{dead}, {up}\" \"0, 3\" \"0, 3\" \"-, T\""
            )],
            "{}",
            who(&s)
        );
    }
}

#[tokio::test]
async fn a_connect_that_never_completes() {
    let hole = BlackHole::full_queue();
    for program in programs() {
        let port = free_port();
        let conf = format!(
            "server {{ listen 127.0.0.1:{port}; proxy_pass 127.0.0.1:{}; proxy_connect_timeout 400ms; }}",
            hole.port()
        );
        let s = start(&program, &conf);
        let t = Instant::now();
        let mut c = connect(port).await;
        c.write_all(b"12345").await.unwrap();
        // The client's bytes were never read: the close resets it.
        let (got, reset) = read_all(&mut c, Duration::from_secs(5)).await;
        let took = t.elapsed();
        assert!(
            got.is_empty() && reset,
            "{}: {got:?} reset {reset}",
            who(&s)
        );
        assert!(
            took >= Duration::from_millis(380) && took < Duration::from_secs(3),
            "{}: closed after {took:?}, proxy_connect_timeout is 400ms",
            who(&s)
        );
        let line = wait_line(&s, "upstream timed out");
        assert!(line.contains("[error] "), "{}: {line}", who(&s));
        assert!(
            line.contains(&format!(
                "upstream timed out (110: Connection timed out) while connecting to upstream, client: 127.0.0.1, server: 127.0.0.1:{port}, upstream: \"127.0.0.1:{}\", bytes from/to client:0/0",
                hole.port()
            )),
            "{}: {line}",
            who(&s)
        );
        let a = access_lines(&s, 1);
        assert_eq!(
            a,
            vec![format!(
                "127.0.0.1 TCP 502 0 0 \"127.0.0.1:{}\" \"0\" \"0\" \"-\"",
                hole.port()
            )],
            "{}",
            who(&s)
        );
    }
}

#[tokio::test]
async fn an_idle_session_times_out() {
    let up = echo().await;
    for program in programs() {
        let port = free_port();
        let conf =
            format!("server {{ listen 127.0.0.1:{port}; proxy_pass {up}; proxy_timeout 600ms; }}");
        let s = start(&program, &conf);
        let mut c = connect(port).await;
        c.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        c.read_exact(&mut one).await.unwrap();
        let t = Instant::now();
        // Traffic within the timeout keeps the session.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            c.write_all(b"y").await.unwrap();
            c.read_exact(&mut one).await.unwrap();
        }
        let quiet = Instant::now();
        let (got, _) = read_all(&mut c, Duration::from_secs(5)).await;
        let idle = quiet.elapsed();
        assert!(got.is_empty(), "{}", who(&s));
        assert!(t.elapsed() >= Duration::from_millis(900), "{}", who(&s));
        assert!(
            idle >= Duration::from_millis(550) && idle < Duration::from_secs(3),
            "{}: closed after {idle:?} of quiet, proxy_timeout is 600ms",
            who(&s)
        );
        let line = wait_line(&s, "connection timed out");
        assert!(
            line.ends_with(&format!(
                "[info] connection timed out (110: Connection timed out) while proxying connection, client: 127.0.0.1, server: 127.0.0.1:{port}, upstream: \"{up}\", bytes from/to client:4/4, bytes from/to upstream:4/4"
            ).replace("[info] ", "")),
            "{}: {line}",
            who(&s)
        );
        assert_eq!(
            access_lines(&s, 1),
            vec![format!("127.0.0.1 TCP 200 4 4 \"{up}\" \"4\" \"4\" \"T\"")],
            "{}",
            who(&s)
        );
    }
}

#[tokio::test]
async fn access_rules() {
    let up = echo().await;
    for program in programs() {
        let (denied, allowed) = (free_port(), free_port());
        let conf = format!(
            "server {{ listen 127.0.0.1:{denied}; deny 127.0.0.1; proxy_pass {up}; }}\n\
             server {{ listen 127.0.0.1:{allowed}; allow 127.0.0.0/8; deny all; proxy_pass {up}; }}"
        );
        let s = start(&program, &conf);
        let mut c = connect(denied).await;
        let (got, _) = read_all(&mut c, Duration::from_secs(5)).await;
        assert!(got.is_empty(), "{}", who(&s));
        let line = wait_line(&s, "access forbidden");
        assert!(
            line.ends_with(&format!(
                "access forbidden by rule while initializing session, client: 127.0.0.1, server: 127.0.0.1:{denied}"
            )),
            "{}: {line}",
            who(&s)
        );
        assert_eq!(
            access_lines(&s, 1),
            vec!["127.0.0.1 TCP 403 0 0 \"-\" \"-\" \"-\" \"-\"".to_string()],
            "{}",
            who(&s)
        );
        let mut c = connect(allowed).await;
        c.write_all(b"in").await.unwrap();
        let mut back = [0u8; 2];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"in", "{}", who(&s));
    }
}

#[tokio::test]
async fn return_with_variables() {
    for program in programs() {
        let port = free_port();
        let conf = format!(
            "server {{ listen 127.0.0.1:{port}; return \"$remote_addr $protocol $server_port $status\\n\"; }}"
        );
        let s = start(&program, &conf);
        let mut c = connect(port).await;
        let (got, _) = read_all(&mut c, Duration::from_secs(5)).await;
        assert_eq!(
            String::from_utf8_lossy(&got),
            format!("127.0.0.1 TCP {port} 000\n"),
            "{}",
            who(&s)
        );
        let n = got.len();
        assert_eq!(
            access_lines(&s, 1),
            vec![format!("127.0.0.1 TCP 200 {n} 0 \"-\" \"-\" \"-\" \"-\"")],
            "{}",
            who(&s)
        );
    }
}

/// `map` picks the target per session: an upstream group by name, or an address.
#[tokio::test]
async fn a_target_from_a_map() {
    let up = echo().await;
    let dead = closed_port();
    for program in programs() {
        let (a, b) = (free_port(), free_port());
        let conf = format!(
            "upstream echoes {{ server {up}; }}\n\
             map $server_port $target {{ {a} echoes; default 127.0.0.1:{dead}; }}\n\
             server {{ listen 127.0.0.1:{a}; listen 127.0.0.1:{b}; proxy_pass $target; }}"
        );
        let s = start(&program, &conf);
        let mut c = connect(a).await;
        c.write_all(b"mapped").await.unwrap();
        let mut back = [0u8; 6];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"mapped", "{}", who(&s));
        drop(c);
        wait_line(&s, "disconnected");
        let mut c = connect(b).await;
        let (got, _) = read_all(&mut c, Duration::from_secs(5)).await;
        assert!(got.is_empty(), "{}", who(&s));
        let lines = access_lines(&s, 2);
        assert_eq!(
            lines,
            vec![
                format!("127.0.0.1 TCP 200 6 6 \"{up}\" \"6\" \"6\" \"T\""),
                format!("127.0.0.1 TCP 502 0 0 \"127.0.0.1:{dead}\" \"0\" \"0\" \"-\""),
            ],
            "{}",
            who(&s)
        );
    }
}

/// `-t` refuses what nginx refuses in a stream block, in nginx's words.
#[test]
fn config_errors_as_nginx_words_them() {
    let cases = [
        ("server { listen 127.0.0.1:1; proxy_pass 127.0.0.1; }", "no port in upstream \"127.0.0.1\""),
        ("server { listen 127.0.0.1:1; }", "no handler for server"),
        ("server { proxy_pass 127.0.0.1:1; }", "no \"listen\" is defined for server"),
        ("server { listen 127.0.0.1:1; proxy_pass 127.0.0.1:2; access_log logs/a.log; }", "log format is not specified"),
        ("server { listen 127.0.0.1:1; proxy_pass 127.0.0.1:2; access_log logs/a.log combined; }", "unknown log format \"combined\""),
        ("server { listen 127.0.0.1:1; proxy_pass 127.0.0.1:2; } server { listen 127.0.0.1:1; return x; }", "duplicate \"127.0.0.1:1\" address and port pair"),
        ("server { listen 127.0.0.1:1 default_server; proxy_pass 127.0.0.1:2; }", "the invalid \"default_server\" parameter"),
        ("server { listen 127.0.0.1:1 ssl; proxy_pass 127.0.0.1:2; }", "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive"),
        ("server { listen 127.0.0.1:1; proxy_pass $request; }", "unknown \"request\" variable"),
        ("server { listen 127.0.0.1:1; proxy_pass u:80; } upstream u { server 127.0.0.1:1; }", "upstream \"u\" may not have port 80"),
        ("upstream u { server 127.0.0.1; } server { listen 127.0.0.1:1; proxy_pass u; }", "no port in upstream \"127.0.0.1\""),
        ("server { listen 127.0.0.1:1; proxy_pass 127.0.0.1:2; proxy_pass 127.0.0.1:3; }", "\"proxy_pass\" directive is duplicate"),
    ];
    for (body, want) in cases {
        let conf = format!(
            "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n{MAIN}events {{}}\nstream {{\n{body}\n}}\n"
        );
        let mut seen = Vec::new();
        for program in programs() {
            let p = Prefix::new();
            p.write("conf/nginx.conf", conf.as_bytes());
            let out = p.test(&program, &[]);
            assert!(
                !out.status.success(),
                "{}: {body} passed -t",
                program.display()
            );
            let lines = levels(&out.stderr, p.path());
            assert!(
                lines
                    .first()
                    .is_some_and(|l| l.starts_with(&format!("[emerg] {want}"))),
                "{}: {body}: {lines:?}",
                program.display()
            );
            seen.push(lines[0].clone());
        }
        assert_eq!(seen[0], seen[1], "nginx and rginx word it alike: {body}");
    }
}

/// The tests' certificate, written into a server's prefix.
fn certificate(s_prefix: &Prefix) {
    s_prefix.write("conf/cert.pem", include_bytes!("../fixtures/tls/ecdsa.pem"));
    s_prefix.write("conf/cert.key", include_bytes!("../fixtures/tls/ecdsa.key"));
}

/// Starts `program` on `servers` with the tests' certificate in its prefix (`cert.pem`,
/// `cert.key` next to the configuration).
fn start_tls(program: &Path, servers: &str) -> Server {
    let ready = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], ready).into();
    let prefix = Prefix::new();
    certificate(&prefix);
    Server::start(program, prefix, &conf(ready, servers), &[addr])
}

async fn tls_connect(
    port: u16,
    offer: common::tls::Offer<'_>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let (config, _) = common::tls::client(offer);
    let tcp = connect(port).await;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
}

/// `listen ... ssl`: the session is decrypted and proxied; `$ssl_*` describe the handshake;
/// `ssl_alpn` is what a client may pick (a client offering none of it is refused).
#[tokio::test]
async fn tls_termination() {
    let up = echo().await;
    for program in programs() {
        let port = free_port();
        let conf = format!(
            "log_format t '$status $ssl_protocol $ssl_server_name $ssl_alpn_protocol $bytes_received $bytes_sent [$ssl_cipher] [$ssl_curve] [$ssl_session_reused]';\n\
             server {{ listen 127.0.0.1:{port} ssl; ssl_certificate cert.pem; ssl_certificate_key cert.key;\n\
               ssl_protocols TLSv1.2 TLSv1.3; ssl_alpn vnc; access_log logs/tls.log t; proxy_pass {up}; }}"
        );
        let s = start_tls(&program, &conf);
        let offer = common::tls::Offer {
            alpn: &[b"x", b"vnc"],
            ..Default::default()
        };
        let mut c = tls_connect(port, offer).await.unwrap();
        assert_eq!(
            c.get_ref().1.alpn_protocol(),
            Some(&b"vnc"[..]),
            "{}",
            who(&s)
        );
        c.write_all(b"secret").await.unwrap();
        let mut back = [0u8; 6];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"secret", "{}", who(&s));
        c.shutdown().await.unwrap();
        drop(c);
        // A client whose protocols are not in ssl_alpn is refused in the handshake.
        let refused = common::tls::Offer {
            alpn: &[b"h2"],
            ..Default::default()
        };
        assert!(
            tls_connect(port, refused).await.is_err(),
            "{}: a client offering only h2 got through ssl_alpn vnc",
            who(&s)
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let log = loop {
            let l =
                std::fs::read_to_string(s.prefix.path().join("logs/tls.log")).unwrap_or_default();
            if l.lines().count() >= 2 || Instant::now() > deadline {
                break l;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(
            lines,
            [
                "200 TLSv1.3 localhost vnc 6 6 [TLS_AES_256_GCM_SHA384] [X25519] [.]",
                "500 TLSv1.3 localhost - 0 0 [(NONE)] [X25519] [.]"
            ],
            "{}",
            who(&s)
        );
    }
}

/// A client that does not speak TLS to a TLS address, and one that says nothing: both end
/// with 500; the first is logged at info, the second (`ssl_handshake_timeout`) is not.
#[tokio::test]
async fn tls_handshakes_that_fail() {
    let up = echo().await;
    for program in programs() {
        let port = free_port();
        let conf = format!(
            "server {{ listen 127.0.0.1:{port} ssl; ssl_certificate cert.pem; ssl_certificate_key cert.key;\n\
               ssl_handshake_timeout 500ms; proxy_pass {up}; }}"
        );
        let s = start_tls(&program, &conf);
        let mut c = connect(port).await;
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let _ = read_all(&mut c, Duration::from_secs(5)).await;
        let line = wait_line(&s, "SSL_do_handshake() failed");
        assert!(
            line.contains("[info] ")
                && line.ends_with(&format!(
                    "while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:{port}"
                )),
            "{}: {line}",
            who(&s)
        );
        let t = Instant::now();
        let mut quiet = connect(port).await;
        let (got, _) = read_all(&mut quiet, Duration::from_secs(5)).await;
        let took = t.elapsed();
        assert!(got.is_empty(), "{}", who(&s));
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(3),
            "{}: a silent client was closed after {took:?} (ssl_handshake_timeout 500ms)",
            who(&s)
        );
        let a = access_lines(&s, 2);
        assert_eq!(
            a,
            vec![
                "127.0.0.1 TCP 500 0 0 \"-\" \"-\" \"-\" \"-\"".to_string(),
                "127.0.0.1 TCP 500 0 0 \"-\" \"-\" \"-\" \"-\"".to_string(),
            ],
            "{}",
            who(&s)
        );
        let handshake_lines = session_lines(&s)
            .iter()
            .filter(|l| l.contains("SSL"))
            .count();
        assert_eq!(handshake_lines, 1, "{}: the timeout is not logged", who(&s));
    }
}

/// A reload: a session opened before it carries on (on its old configuration) while new
/// sessions take the new one; the old configuration's `worker_shutdown_timeout` ends it
/// then, with nginx's `shutdown timeout` line and its access-log line.
#[test]
fn a_reload_keeps_sessions_until_the_old_shutdown_timeout() {
    use common::control::{Proc, MAIN as MASTER};
    use std::io::{Read, Write};
    let up = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let _ = std::io::copy(&mut r, &mut s);
                });
            }
        });
        addr
    };
    for program in programs() {
        let (ready, port, tag) = (free_port(), free_port(), free_port());
        let conf = |gen: &str, extra: &str| {
            format!(
                "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n{MASTER}{extra}\nevents {{}}\n\
                 http {{ access_log off; server {{ listen 127.0.0.1:{ready}; return 204; }} }}\n\
                 stream {{\n  {FORMAT}\n  access_log logs/access.log s;\n\
                   server {{ listen 127.0.0.1:{port}; proxy_pass {up}; }}\n\
                   server {{ listen 127.0.0.1:{tag}; return {gen}; }}\n}}\n"
            )
        };
        let p = Proc::foreground(
            &program,
            Prefix::new(),
            &conf("gen1", "worker_shutdown_timeout 1s;"),
            "",
            &[([127, 0, 0, 1], ready).into()],
        );
        let who = if p.is_nginx() { "nginx" } else { "rginx" };
        let read_tag = || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", tag)).unwrap();
            let mut v = String::new();
            let _ = s.read_to_string(&mut v);
            v
        };
        let mut old = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        old.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let echo = |s: &mut std::net::TcpStream, m: &[u8]| -> bool {
            let mut back = vec![0u8; m.len()];
            s.write_all(m).is_ok() && s.read_exact(&mut back).is_ok() && back == m
        };
        assert!(echo(&mut old, b"before"), "{who}: echo before the reload");
        p.prefix
            .write("conf/nginx.conf", conf("gen2", "").as_bytes());
        let reloaded = Instant::now();
        assert_eq!(p.ctl(&["-s", "reload"]).status.code(), Some(0), "{who}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while read_tag() != "gen2" {
            assert!(Instant::now() < deadline, "{who}: gen2 never served");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            echo(&mut old, b"after"),
            "{who}: the old session after the reload"
        );
        let mut new = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        new.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(echo(&mut new, b"new"), "{who}: a new session");
        // The old session ends once the old configuration's shutdown timeout passed.
        let mut rest = Vec::new();
        let _ = old.read_to_end(&mut rest);
        let ended = reloaded.elapsed();
        assert!(
            ended >= Duration::from_millis(900) && ended < Duration::from_secs(6),
            "{who}: the old session ended {ended:?} after the reload (worker_shutdown_timeout 1s)"
        );
        let lines = p.wait_log("bytes from/to client:11/11", 1, Duration::from_secs(5));
        assert_eq!(
            normalise(&common::control::strip_log_prefix(&lines[0])),
            format!(
                "[info] shutdown timeout while proxying connection, client: 127.0.0.1, server: 127.0.0.1:{port}, upstream: \"{up}\", bytes from/to client:11/11, bytes from/to upstream:11/11"
            ),
            "{who}"
        );
        // nginx's old workers may still accept for a moment after the new ones started, so
        // its "new" session may be an old one, ended with the old session; rginx's accept
        // loops move to the new configuration at once.
        if !echo(&mut new, b"still") {
            assert!(
                p.is_nginx(),
                "{who}: a session opened after the reload was ended by it"
            );
            p.wait_log("bytes from/to client:3/3", 1, Duration::from_secs(5));
        }
    }
}
