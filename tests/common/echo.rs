//! The echo upstream and the raw HTTP/1 client of the differential tests (`tests/nginx_diff.rs`).
//!
//! `Echo` is a std::net + std::thread port of `/work/shared/docs/nginx-probes/echo_upstream.py`,
//! the upstream every rule of the nginx specification was probed with: the default reply is a
//! `200` whose body is the exact bytes of the request it received (head + body), and markers in
//! the request target select other behaviours (`__close`, `__slowhdr=N`, `__drip=N,I`,
//! `__stream`, `__stream10`, `__xab=V`, `__ws`, `__wscl`, `__ws200`, `__hop`, `__status=NNN`,
//! `__big=N`, `__bighdr=N`, `__html`, `__loc=URL`, `__nolen`, `__headonly`; see `handle`).
//! Two deliberate differences from the Python original, both so that two runs produce the same
//! bytes: the streamed parts carry no timestamp (`part0\n`, not `part0 t=1700000000.1\n`), and
//! the pause between streamed parts is `EchoOptions::tick` (1 s in the original; the suite uses a
//! fraction of a second). `SLEEPn` in a tunnel also accepts fractions (`SLEEP0.2`).
//!
//! Every connection gets an id from 1 in accept order (per instance, like one Python process),
//! and everything it received is recorded as `Event`s in a log the test reads after the run.
//!
//! `Client` is the other side: it sends raw bytes and reads responses by their framing
//! (Content-Length, chunked, 1xx/101, HEAD, close-delimited); its read timeout is only a safety
//! net. It knows nothing about normalisation, which is the suite's business.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A connected stream, TCP or unix.
pub enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Sock {
    pub fn try_clone(&self) -> io::Result<Sock> {
        Ok(match self {
            Sock::Tcp(s) => Sock::Tcp(s.try_clone()?),
            Sock::Unix(s) => Sock::Unix(s.try_clone()?),
        })
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.shutdown(how),
            Sock::Unix(s) => s.shutdown(how),
        }
    }

    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.set_read_timeout(d),
            Sock::Unix(s) => s.set_read_timeout(d),
        }
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write(buf),
            Sock::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// The echo upstream
// ------------------------------------------------------------------------------------------

/// What one upstream connection saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete request (head + body, as received); `seq` counts from 1 per connection.
    Request { seq: u32, raw: Vec<u8> },
    /// The peer closed the connection while the echo waited for a request; `leftover` are
    /// bytes received that did not form a complete request head.
    Eof { leftover: Vec<u8> },
    /// Reading a request failed (`reset`, `timeout`, ...).
    ReadError { kind: String, leftover: Vec<u8> },
    /// Bytes received inside an upgraded (`__ws`) tunnel; consecutive reads are one stream,
    /// so the suite merges adjacent `WsData` before comparing.
    WsData(Vec<u8>),
    /// EOF inside the tunnel (the echo then sends `after-eof\n` and closes).
    WsClientEof,
    /// The tunnel read timed out (`EchoOptions::io_timeout`).
    WsTimeout,
    /// A read error inside the tunnel.
    WsError(String),
    /// A request the echo could not parse (a bad Content-Length).
    Error(String),
}

/// One upstream connection: its id (accept order, from 1) and what it saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnLog {
    pub id: u64,
    pub events: Vec<Event>,
}

#[derive(Clone, Copy, Debug)]
pub struct EchoOptions {
    /// Pause between the parts of `__stream`/`__stream10`/`__xab`, and half of it around the
    /// `after-eof` write of a tunnel (1 s and 0.5 s in the Python original).
    pub tick: Duration,
    /// Read timeout on every upstream connection (300 s in the Python original).
    pub io_timeout: Duration,
}

impl Default for EchoOptions {
    fn default() -> Self {
        EchoOptions {
            tick: Duration::from_secs(1),
            io_timeout: Duration::from_secs(10),
        }
    }
}

/// Where an echo listens.
#[derive(Clone, Debug)]
pub enum EchoAddr {
    Tcp(u16),
    Unix(PathBuf),
}

struct Shared {
    /// `X-Upstream-Port` (0 on a unix socket, as the Python original run with `--port 0`).
    port: u16,
    opts: EchoOptions,
    stop: AtomicBool,
    log: Mutex<Vec<ConnLog>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// A clone of every open accepted stream, so `stop` can unblock handlers still reading.
    /// Removed when its handler ends, so that the connection is really closed then.
    live: Mutex<Vec<(u64, Sock)>>,
}

impl Shared {
    fn record(&self, cid: u64, e: Event) {
        let mut log = self.log.lock().unwrap();
        log[(cid - 1) as usize].events.push(e);
    }
}

/// A running echo upstream. `stop` it to get its log; dropping it stops it too.
pub struct Echo {
    addr: EchoAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Echo {
    /// Starts an echo on `addr`. A TCP port is bound on 127.0.0.1 with SO_REUSEADDR (std sets
    /// it on Unix), retrying for a bounded time while the previous owner lets go of it.
    pub fn start(addr: EchoAddr, opts: EchoOptions) -> io::Result<Echo> {
        let deadline = Instant::now() + Duration::from_secs(3);
        let listener = loop {
            let r = match &addr {
                EchoAddr::Tcp(port) => TcpListener::bind(("127.0.0.1", *port)).map(Listener::Tcp),
                EchoAddr::Unix(path) => {
                    let _ = std::fs::remove_file(path);
                    UnixListener::bind(path).map(Listener::Unix)
                }
            };
            match r {
                Ok(l) => break l,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(20))
                }
                Err(e) => return Err(e),
            }
        };
        let shared = Arc::new(Shared {
            port: match &addr {
                EchoAddr::Tcp(p) => *p,
                EchoAddr::Unix(_) => 0,
            },
            opts,
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            live: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        let accept = thread::Builder::new()
            .name("echo-accept".into())
            .spawn(move || accept_loop(listener, sh))?;
        Ok(Echo {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// A copy of the log so far.
    pub fn log(&self) -> Vec<ConnLog> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Stops accepting (flag + a connection to itself to unblock `accept`), waits up to `grace`
    /// for the connection handlers to end on their own (they do once the proxy closed its
    /// connections), then shuts down the sockets of any that remain and joins them, bounded.
    /// Returns the log.
    pub fn stop(mut self, grace: Duration) -> Vec<ConnLog> {
        self.stop_inner(grace);
        self.log()
    }

    fn stop_inner(&mut self, grace: Duration) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // The wake-up connection is not counted: the accept loop checks the flag first.
        let _ = match &self.addr {
            EchoAddr::Tcp(p) => {
                TcpStream::connect_timeout(&([127, 0, 0, 1], *p).into(), Duration::from_secs(1))
                    .map(drop)
            }
            EchoAddr::Unix(path) => UnixStream::connect(path).map(drop),
        };
        join_bounded(accept, Duration::from_secs(2));
        let threads: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.shared.threads.lock().unwrap());
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && threads.iter().any(|t| !t.is_finished()) {
            thread::sleep(Duration::from_millis(5));
        }
        if threads.iter().any(|t| !t.is_finished()) {
            for (_, s) in self.shared.live.lock().unwrap().iter() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        for t in threads {
            join_bounded(t, Duration::from_secs(2));
        }
        if let EchoAddr::Unix(path) = &self.addr {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop_inner(Duration::from_millis(200));
    }
}

/// Joins `t` if it finishes within `limit`; otherwise leaves it detached.
fn join_bounded(t: JoinHandle<()>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !t.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    if t.is_finished() {
        let _ = t.join();
    }
}

fn accept_loop(listener: Listener, sh: Arc<Shared>) {
    loop {
        let sock = match &listener {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Sock::Tcp(s)),
            Listener::Unix(l) => l.accept().map(|(s, _)| Sock::Unix(s)),
        };
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(sock) = sock else {
            thread::sleep(Duration::from_millis(5));
            continue;
        };
        if let Sock::Tcp(s) = &sock {
            let _ = s.set_nodelay(true);
        }
        let cid = {
            let mut log = sh.log.lock().unwrap();
            let id = log.len() as u64 + 1;
            log.push(ConnLog {
                id,
                events: Vec::new(),
            });
            log.len() as u64
        };
        if let Ok(c) = sock.try_clone() {
            sh.live.lock().unwrap().push((cid, c));
        }
        let sh2 = sh.clone();
        let t = thread::Builder::new()
            .name(format!("echo-conn-{cid}"))
            .spawn(move || {
                // `handle` drops its stream when it returns; dropping the clone too closes
                // the connection, as the Python original's `finally: sock.close()`.
                handle(sock, cid, &sh2);
                sh2.live.lock().unwrap().retain(|(id, _)| *id != cid);
            })
            .expect("spawn echo connection thread");
        sh.threads.lock().unwrap().push(t);
    }
}

/// One request as the Python original parses it.
struct Request {
    line: String,
    /// Lower-cased names, stripped values; the first of repeated names wins (`setdefault`).
    hdrs: Vec<(String, String)>,
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Request {
    fn hdr(&self, name: &str) -> Option<&str> {
        self.hdrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

enum ReadOutcome {
    Req(Request),
    Eof,
    Err(io::Error),
    Bad(String),
}

fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

/// Python's `bytes.strip()`: ASCII whitespace only.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request from `sock`, `buf` holding bytes already received (pipelined); on return
/// `buf` holds what follows the request.
fn read_request(sock: &mut Sock, buf: &mut Vec<u8>) -> ReadOutcome {
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk) {
            Ok(0) => return ReadOutcome::Eof,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return ReadOutcome::Err(e),
        }
    };
    let head: Vec<u8> = buf[..head_end].to_vec();
    let mut rest: Vec<u8> = buf[head_end..].to_vec();
    let text = latin1(&head[..head.len() - 4]);
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("").to_string();
    let mut hdrs: Vec<(String, String)> = Vec::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = py_strip(k).to_ascii_lowercase();
            if !hdrs.iter().any(|(n, _)| *n == k) {
                hdrs.push((k, py_strip(v).to_string()));
            }
        }
    }
    let mut req = Request {
        line,
        hdrs,
        head,
        body: Vec::new(),
    };
    if let Some(cl) = req.hdr("content-length") {
        let Ok(n) = cl.parse::<usize>() else {
            return ReadOutcome::Bad(format!("invalid content-length {cl:?}"));
        };
        while rest.len() < n {
            match sock.read(&mut chunk) {
                Ok(0) => break,
                Ok(k) => rest.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Logged as a read error with everything of the request received.
                    *buf = [req.head.as_slice(), &rest].concat();
                    return ReadOutcome::Err(e);
                }
            }
        }
        let n = n.min(rest.len());
        req.body = rest[..n].to_vec();
        rest.drain(..n);
    } else if req
        .hdr("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        // Like the original, naive: the body ends at the first zero chunk at a line start
        // followed by an empty line (no trailers, no "0\r\n\r\n" inside the data).
        loop {
            let end = (0..rest.len().saturating_sub(4)).find(|&p| {
                rest[p..].starts_with(b"0\r\n\r\n") && (p == 0 || &rest[p - 2..p] == b"\r\n")
            });
            if let Some(p) = end {
                req.body = rest[..p + 5].to_vec();
                rest.drain(..p + 5);
                break;
            }
            match sock.read(&mut chunk) {
                Ok(0) => {
                    req.body = std::mem::take(&mut rest);
                    break;
                }
                Ok(k) => rest.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Logged as a read error with everything of the request received.
                    *buf = [req.head.as_slice(), &rest].concat();
                    return ReadOutcome::Err(e);
                }
            }
        }
    }
    *buf = rest;
    ReadOutcome::Req(req)
}

/// The value after `key` made of bytes accepted by `ok` (at least one), at the first
/// occurrence that has one, like `re.search(key + "([...]+)")`.
fn marker<'a>(target: &'a str, key: &str, ok: impl Fn(char) -> bool) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = target[from..].find(key) {
        let start = from + i + key.len();
        let len = target[start..]
            .char_indices()
            .find(|&(_, c)| !ok(c))
            .map_or(target.len() - start, |(j, _)| j);
        if len > 0 {
            return Some(&target[start..start + len]);
        }
        from = from + i + 1;
    }
    None
}

fn digits(c: char) -> bool {
    c.is_ascii_digit()
}

fn decimal(c: char) -> bool {
    c.is_ascii_digit() || c == '.'
}

fn secs(s: &str) -> Duration {
    Duration::from_secs_f64(s.parse::<f64>().unwrap_or(0.0))
}

/// `urllib.parse.unquote` on bytes: `%XX` decoded, anything else kept.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn send(sock: &mut Sock, data: &[u8]) {
    let _ = sock.write_all(data);
}

fn kind(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "reset".into(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timeout".into(),
        k => format!("{k:?}"),
    }
}

/// One upstream connection, following `handle` of the Python original marker by marker (the
/// order of the checks matters: `__stream10` before `__stream`, `__ws200` before `__ws`, ...).
fn handle(mut sock: Sock, cid: u64, sh: &Shared) {
    let _ = sock.set_read_timeout(Some(sh.opts.io_timeout));
    let tick = sh.opts.tick;
    let mut buf: Vec<u8> = Vec::new();
    let mut seq: u32 = 0;
    loop {
        let req = match read_request(&mut sock, &mut buf) {
            ReadOutcome::Req(r) => r,
            ReadOutcome::Eof => {
                sh.record(
                    cid,
                    Event::Eof {
                        leftover: std::mem::take(&mut buf),
                    },
                );
                return;
            }
            ReadOutcome::Err(e) => {
                sh.record(
                    cid,
                    Event::ReadError {
                        kind: kind(&e),
                        leftover: std::mem::take(&mut buf),
                    },
                );
                return;
            }
            ReadOutcome::Bad(msg) => {
                sh.record(cid, Event::Error(msg));
                return;
            }
        };
        seq += 1;
        let mut raw = req.head.clone();
        raw.extend_from_slice(&req.body);
        sh.record(
            cid,
            Event::Request {
                seq,
                raw: raw.clone(),
            },
        );
        let target = req.line.split(' ').nth(1).unwrap_or("").to_string();
        let keep = req.line.ends_with("HTTP/1.1")
            && req
                .hdr("connection")
                .is_none_or(|v| !v.eq_ignore_ascii_case("close"));
        let common = format!(
            "X-Upstream-Port: {}\r\nX-Conn-Id: {}\r\nX-Req-Seq: {}\r\n",
            sh.port, cid, seq
        );
        if target.contains("__close") {
            return;
        }
        if let Some(n) = marker(&target, "__slowhdr=", decimal) {
            thread::sleep(secs(n));
        }
        if let Some(st) = marker(&target, "__status=", digits) {
            let b = format!("status {st}\n");
            let head = format!(
                "HTTP/1.1 {st} X\r\n{common}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                b.len()
            );
            send(&mut sock, format!("{head}{b}").as_bytes());
            if !keep {
                return;
            }
            continue;
        }
        if let Some((n, iv)) = drip(&target) {
            let head = format!("HTTP/1.1 200 OK\r\n{common}Content-Length: {n}\r\n\r\n");
            send(&mut sock, head.as_bytes());
            for _ in 0..n {
                thread::sleep(iv);
                send(&mut sock, b"x");
            }
            if !keep {
                return;
            }
            continue;
        }
        if target.contains("__stream10") {
            let head = format!("HTTP/1.0 200 OK\r\n{common}Content-Type: text/plain\r\n\r\n");
            send(&mut sock, head.as_bytes());
            for i in 0..3 {
                send(&mut sock, format!("part{i}\n").as_bytes());
                thread::sleep(tick);
            }
            return;
        }
        let xab = marker(&target, "__xab=", |c| c.is_alphanumeric() || c == '_');
        if target.contains("__stream") || xab.is_some() {
            let extra = xab
                .map(|v| format!("X-Accel-Buffering: {v}\r\n"))
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\n{common}{extra}Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            send(&mut sock, head.as_bytes());
            for i in 0..3 {
                let d = format!("part{i}\n");
                send(&mut sock, format!("{:x}\r\n{d}\r\n", d.len()).as_bytes());
                thread::sleep(tick);
            }
            send(&mut sock, b"0\r\n\r\n");
            if !keep {
                return;
            }
            continue;
        }
        if target.contains("__ws200") {
            let b = "no upgrade here\n";
            let r = format!(
                "HTTP/1.1 200 OK\r\n{common}Upgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            );
            send(&mut sock, r.as_bytes());
            if !keep {
                return;
            }
            continue;
        }
        if target.contains("__ws") && req.hdr("upgrade").is_some() {
            let cl = if target.contains("__wscl") {
                "Content-Length: 0\r\n"
            } else {
                ""
            };
            let r = format!(
                "HTTP/1.1 101 Switching Protocols\r\n{common}Upgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: dummy\r\nSec-WebSocket-Protocol: binary\r\nX-Custom: yes\r\n\
                 Keep-Alive: timeout=5\r\nServer: WebSockify Python/3.11\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\n{cl}\r\n"
            );
            send(&mut sock, r.as_bytes());
            if !buf.is_empty() {
                let mut early = b"early:".to_vec();
                early.extend_from_slice(&buf);
                send(&mut sock, &early);
            }
            tunnel(&mut sock, cid, sh);
            return;
        }
        if target.contains("__hop") {
            let b = "hop\n";
            let r = format!(
                "HTTP/1.1 200 OK\r\n{common}Connection: close, X-Drop-Me\r\nX-Drop-Me: 1\r\nKeep-Alive: timeout=99\r\n\
                 Server: echo-up/1.0\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nX-Powered-By: echo\r\n\
                 Upgrade: h2c\r\nProxy-Connection: keep-alive\r\nTrailer: X-T\r\nTE: trailers\r\n\
                 X-Accel-Expires: 10\r\nX-Accel-Charset: utf-8\r\nX-Accel-Limit-Rate: 1000\r\nX-Accel-Buffering: yes\r\n\
                 Content-Length: {}\r\nContent-Type: text/plain\r\n\r\n{b}",
                b.len()
            );
            send(&mut sock, r.as_bytes());
            return;
        }
        if target.contains("__html") {
            let b = format!("<html><body>{}</body></html>\n", "hello world ".repeat(20));
            let r = format!(
                "HTTP/1.1 200 OK\r\n{common}Content-Type: text/html\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            );
            send(&mut sock, r.as_bytes());
            if !keep {
                return;
            }
            continue;
        }
        if let Some(url) = marker(&target, "__loc=", |c| c != '&' && !c.is_whitespace()) {
            let url = percent_decode(url);
            let mut r = format!("HTTP/1.1 302 Found\r\n{common}Location: ").into_bytes();
            r.extend_from_slice(&url);
            r.extend_from_slice(b"\r\nRefresh: 5; url=");
            r.extend_from_slice(&url);
            r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
            send(&mut sock, &r);
            if !keep {
                return;
            }
            continue;
        }
        if let Some(n) = marker(&target, "__bighdr=", digits) {
            let n: usize = n.parse().unwrap_or(0);
            let r = format!(
                "HTTP/1.1 200 OK\r\n{common}X-Big: {}\r\nContent-Length: 2\r\n\r\nok",
                "h".repeat(n)
            );
            send(&mut sock, r.as_bytes());
            if !keep {
                return;
            }
            continue;
        }
        if let Some(n) = marker(&target, "__big=", digits) {
            let n: usize = n.parse().unwrap_or(0);
            let r = format!(
                "HTTP/1.1 200 OK\r\n{common}Content-Length: {n}\r\n\r\n{}",
                "x".repeat(n)
            );
            send(&mut sock, r.as_bytes());
            if !keep {
                return;
            }
            continue;
        }
        if target.contains("__nolen") {
            let r = format!(
                "HTTP/1.1 200 OK\r\n{common}Content-Type: text/plain\r\n\r\nno length body\n"
            );
            send(&mut sock, r.as_bytes());
            return;
        }
        if target.contains("__headonly") {
            let r = format!("HTTP/1.1 200 OK\r\n{common}Content-Length: 5\r\n\r\nab");
            send(&mut sock, r.as_bytes());
            return;
        }
        let mut r = format!(
            "HTTP/1.1 200 OK\r\n{common}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            raw.len()
        )
        .into_bytes();
        r.extend_from_slice(&raw);
        send(&mut sock, &r);
        if !keep {
            return;
        }
    }
}

/// `__drip=N,I`: N decimal digits, I seconds (fractions allowed).
fn drip(target: &str) -> Option<(usize, Duration)> {
    let mut from = 0;
    while let Some(i) = target[from..].find("__drip=") {
        let rest = &target[from + i + "__drip=".len()..];
        let n_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if n_len > 0 && rest[n_len..].starts_with(',') {
            let iv = &rest[n_len + 1..];
            let iv_len = iv.find(|c: char| !decimal(c)).unwrap_or(iv.len());
            if iv_len > 0 {
                return Some((rest[..n_len].parse().ok()?, secs(&iv[..iv_len])));
            }
        }
        from = from + i + 1;
    }
    None
}

/// The `__ws` raw echo tunnel: `CLOSE` closes, `HALF` shuts down the write side, data starting
/// with `Q` is swallowed, `SLEEPn` sleeps n seconds before echoing, anything else comes back as
/// `echo:` + data. On EOF the echo waits, writes `after-eof\n` (to show whether a half-close was
/// propagated) and closes.
fn tunnel(sock: &mut Sock, cid: u64, sh: &Shared) {
    let mut chunk = [0u8; 65536];
    loop {
        let d = match sock.read(&mut chunk) {
            Ok(0) => {
                sh.record(cid, Event::WsClientEof);
                thread::sleep(sh.opts.tick / 2);
                send(sock, b"after-eof\n");
                thread::sleep(sh.opts.tick / 2);
                return;
            }
            Ok(n) => chunk[..n].to_vec(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                sh.record(cid, Event::WsTimeout);
                return;
            }
            Err(e) => {
                sh.record(cid, Event::WsError(kind(&e)));
                return;
            }
        };
        sh.record(cid, Event::WsData(d.clone()));
        let stripped = latin1(&d);
        let stripped = py_strip(&stripped);
        if stripped == "CLOSE" {
            return;
        }
        if stripped == "HALF" {
            let _ = sock.shutdown(Shutdown::Write);
            continue;
        }
        if d.starts_with(b"Q") {
            continue;
        }
        if let Some(n) = stripped.strip_prefix("SLEEP") {
            let len = n.find(|c: char| !decimal(c)).unwrap_or(n.len());
            if len > 0 {
                thread::sleep(secs(&n[..len]));
            }
        }
        let mut out = b"echo:".to_vec();
        out.extend_from_slice(&d);
        send(sock, &out);
    }
}

// ------------------------------------------------------------------------------------------
// The raw client
// ------------------------------------------------------------------------------------------

/// What a client read, piece by piece.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// A response head: status line, header lines and the empty line.
    Head(Vec<u8>),
    /// Body bytes as they came on the wire (chunk framing kept), tunnel bytes, or bytes that
    /// did not form a response head.
    Data(Vec<u8>),
    /// The server closed the connection (or reset it).
    Eof,
    /// The safety-net timeout fired: the framing promised more than arrived.
    Timeout,
}

/// A client connection with a receive buffer, so pipelined responses are read one by one.
pub struct Client {
    sock: Sock,
    buf: Vec<u8>,
    eof: bool,
    /// Bounds every read step (safety net only).
    pub timeout: Duration,
}

enum Fill {
    More,
    Eof,
    Timeout,
}

impl Client {
    pub fn tcp(port: u16, timeout: Duration) -> io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        Ok(Client::new(Sock::Tcp(s), timeout))
    }

    pub fn unix(path: &Path, timeout: Duration) -> io::Result<Client> {
        Ok(Client::new(Sock::Unix(UnixStream::connect(path)?), timeout))
    }

    fn new(sock: Sock, timeout: Duration) -> Client {
        Client {
            sock,
            buf: Vec::new(),
            eof: false,
            timeout,
        }
    }

    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.sock.write_all(data)
    }

    /// Half-close: no more bytes from the client.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.sock.shutdown(Shutdown::Write)
    }

    fn fill(&mut self, deadline: Instant) -> Fill {
        if self.eof {
            return Fill::Eof;
        }
        let mut chunk = [0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Fill::Timeout;
            }
            let _ = self.sock.set_read_timeout(Some(left));
            match self.sock.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Fill::Eof;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Fill::More;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Fill::Timeout
                }
                Err(_) => {
                    // A reset after the server closed: the same as EOF for the transcript.
                    self.eof = true;
                    return Fill::Eof;
                }
            }
        }
    }

    /// Takes exactly `n` buffered bytes, reading more as needed; on EOF/timeout returns what
    /// there is plus the reason.
    fn take(&mut self, n: usize, deadline: Instant) -> (Vec<u8>, Option<Piece>) {
        while self.buf.len() < n {
            match self.fill(deadline) {
                Fill::More => {}
                Fill::Eof => return (std::mem::take(&mut self.buf), Some(Piece::Eof)),
                Fill::Timeout => return (std::mem::take(&mut self.buf), Some(Piece::Timeout)),
            }
        }
        (self.buf.drain(..n).collect(), None)
    }

    /// Takes a CRLF-terminated line (CRLF included).
    fn line(&mut self, deadline: Instant) -> (Vec<u8>, Option<Piece>) {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                return (self.buf.drain(..i + 2).collect(), None);
            }
            match self.fill(deadline) {
                Fill::More => {}
                Fill::Eof => return (std::mem::take(&mut self.buf), Some(Piece::Eof)),
                Fill::Timeout => return (std::mem::take(&mut self.buf), Some(Piece::Timeout)),
            }
        }
    }

    /// Reads one final response by its framing, interim `1xx` responses (`100 Continue`)
    /// included. `head_request`: the request was HEAD (no body). A 101 ends with its head
    /// (the tunnel is read with `read_n`/`read_to_eof`). When the response says
    /// `Connection: close` (or is close-delimited) the connection is read to its end, so
    /// bytes after the response and the close itself are recorded.
    pub fn response(&mut self, head_request: bool) -> Vec<Piece> {
        let deadline = Instant::now() + self.timeout;
        let mut out = Vec::new();
        loop {
            let (pieces, interim) = self.one_response(head_request, deadline);
            out.extend(pieces);
            if !interim {
                return out;
            }
        }
    }

    /// Reads one response only, even an interim `1xx` (to send a body after `100 Continue`).
    pub fn interim(&mut self) -> Vec<Piece> {
        let deadline = Instant::now() + self.timeout;
        self.one_response(false, deadline).0
    }

    /// One response; the flag says it was an interim 1xx (not 101) head.
    fn one_response(&mut self, head_request: bool, deadline: Instant) -> (Vec<Piece>, bool) {
        let mut out = Vec::new();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            match self.fill(deadline) {
                Fill::More => {}
                Fill::Eof | Fill::Timeout => {
                    let rest = std::mem::take(&mut self.buf);
                    if !rest.is_empty() {
                        out.push(Piece::Data(rest));
                    }
                    out.push(if self.eof { Piece::Eof } else { Piece::Timeout });
                    return (out, false);
                }
            }
        };
        let head: Vec<u8> = self.buf.drain(..head_end).collect();
        let text = latin1(&head);
        let status: u16 = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut content_length: Option<usize> = None;
        let mut chunked = false;
        let mut close = false;
        for l in text.split("\r\n").skip(1) {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            match k.as_str() {
                "content-length" => content_length = v.parse().ok(),
                "transfer-encoding" => chunked |= v.contains("chunked"),
                "connection" => close |= v.contains("close"),
                _ => {}
            }
        }
        out.push(Piece::Head(head));
        if (100..200).contains(&status) {
            return (out, status != 101);
        }
        let mut body = Vec::new();
        let mut end: Option<Piece> = None;
        if head_request || status == 204 || status == 304 {
        } else if chunked {
            loop {
                let (l, e) = self.line(deadline);
                body.extend_from_slice(&l);
                if e.is_some() {
                    end = e;
                    break;
                }
                let size_text = latin1(&l);
                let size_text = size_text.trim_end().split(';').next().unwrap_or("").trim();
                let Ok(size) = usize::from_str_radix(size_text, 16) else {
                    // Not chunked framing after all: keep what follows until the end.
                    let (d, e) = self.take(usize::MAX, deadline);
                    body.extend_from_slice(&d);
                    end = e;
                    break;
                };
                if size == 0 {
                    // Trailer lines up to the empty line.
                    loop {
                        let (t, e) = self.line(deadline);
                        body.extend_from_slice(&t);
                        if e.is_some() || t == b"\r\n" {
                            end = e;
                            break;
                        }
                    }
                    break;
                }
                let (d, e) = self.take(size + 2, deadline);
                body.extend_from_slice(&d);
                if e.is_some() {
                    end = e;
                    break;
                }
            }
        } else if let Some(n) = content_length {
            let (d, e) = self.take(n, deadline);
            body = d;
            end = e;
        } else {
            let (d, e) = self.take(usize::MAX, deadline);
            body = d;
            end = e;
        }
        if !body.is_empty() {
            out.push(Piece::Data(body));
        }
        if let Some(e) = end {
            out.push(e);
            return (out, false);
        }
        if close {
            out.extend(self.read_to_eof());
        }
        (out, false)
    }

    /// Reads exactly `n` bytes (tunnel data).
    pub fn read_n(&mut self, n: usize) -> Vec<Piece> {
        let deadline = Instant::now() + self.timeout;
        let (d, e) = self.take(n, deadline);
        let mut out = Vec::new();
        if !d.is_empty() {
            out.push(Piece::Data(d));
        }
        out.extend(e);
        out
    }

    /// Reads until the server closes.
    pub fn read_to_eof(&mut self) -> Vec<Piece> {
        let deadline = Instant::now() + self.timeout;
        let (d, e) = self.take(usize::MAX, deadline);
        let mut out = Vec::new();
        if !d.is_empty() {
            out.push(Piece::Data(d));
        }
        out.extend(e);
        out
    }
}
