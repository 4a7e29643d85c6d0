//! The upstream side of the differential tests (`tests/nginx_diff.rs`): an in-process echo
//! upstream and two kinds of unusable upstream addresses.
//!
//! [`Echo`] is a std-only (threads, blocking sockets) port of
//! `shared/docs/nginx-probes/echo_upstream.py`, the upstream every rule of the nginx
//! specification was probed with. Its default reply is a `200` whose body is the exact bytes of
//! the request it received (head + body), so a client sees what the proxy sent. A marker
//! anywhere in the request target selects another behaviour:
//!
//! | marker | behaviour |
//! |---|---|
//! | `__close` | read the request, close without answering |
//! | `__slowhdr=S` | sleep S seconds (fractions allowed) before answering, then go on |
//! | `__drip=N,I` | send the head (`Content-Length: N`), then N bytes `x`, I seconds apart |
//! | `__stream[=I]` | chunked reply, 3 parts (`part0\n` ...) I seconds apart (default 1) |
//! | `__stream10[=I]` | HTTP/1.0 reply without length, 3 parts I seconds apart, then close |
//! | `__xab=V` | like `__stream` plus `X-Accel-Buffering: V` |
//! | `__hop` | many hop-by-hop / `X-Accel-*` / `Server` / `Date` headers, then close |
//! | `__status=NNN` | that status, reason `X`, body `status NNN\n` |
//! | `__big=N` | body of N `x` bytes, no Content-Type |
//! | `__bighdr=N` | an `X-Big` header of N bytes, body `ok` |
//! | `__html` | `200 text/html`, a 272-byte page |
//! | `__loc=URL` | `302` with `Location: URL` and `Refresh: 5; url=URL` (URL percent-decoded) |
//! | `__nolen` | HTTP/1.1 reply with neither length nor chunking, then close |
//! | `__headonly` | `Content-Length: 5` but only 2 bytes, then close |
//!
//! Every reply carries `X-Upstream-Port`, `X-Conn-Id` (connections numbered from 1 per echo,
//! in accept order) and `X-Req-Seq` (requests numbered from 1 per connection). A connection is
//! kept open for the next request when the request was HTTP/1.1 without `Connection: close`
//! (exactly the Python rule), so an upstream keepalive pool shows as a repeated `X-Conn-Id`.
//!
//! Deliberate differences from the Python original, all so that two runs give the same bytes
//! and the suite stays fast: streamed parts carry no timestamp (`part0\n`, not
//! `part0 t=1700000000.1\n`); `__stream`/`__stream10` take an optional interval; the WebSocket
//! markers (`__ws`, `__ws200`) are not implemented yet (WebSocket is a later issue).
//!
//! What the echo does not do: validate HTTP beyond what the Python does (first header of a name
//! wins, a chunked body ends at the first `0\r\n\r\n`), or bind anything but 127.0.0.1.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One request as the echo received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `X-Conn-Id` of the connection it came on.
    pub conn: u64,
    /// `X-Req-Seq`: its position on that connection, from 1.
    pub seq: u64,
    /// Head + body, byte for byte.
    pub raw: Vec<u8>,
}

/// A running echo upstream on 127.0.0.1; it serves until dropped.
pub struct Echo {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    port: u16,
    stop: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped by `reset`; a connection of an older generation records nothing.
    generation: u64,
    next_conn: u64,
    records: Vec<Record>,
    /// Clones of the open connections, so `reset` and `drop` can end them.
    live: Vec<Live>,
    /// Connections holding part of a request not recorded yet.
    partial: usize,
}

struct Live {
    gen: u64,
    cid: u64,
    sock: TcpStream,
}

impl Echo {
    /// Binds 127.0.0.1:0 and starts serving.
    pub fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo upstream");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            port,
            stop: AtomicBool::new(false),
            state: Mutex::new(State {
                next_conn: 1,
                ..State::default()
            }),
        });
        let sh = shared.clone();
        thread::Builder::new()
            .name(format!("echo-{port}"))
            .spawn(move || accept_loop(listener, sh))
            .expect("spawn echo accept thread");
        Echo { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The raw bytes (head + body) of every request received since the last take, in order.
    pub fn take_requests(&self) -> Vec<Vec<u8>> {
        self.take_records().into_iter().map(|r| r.raw).collect()
    }

    /// Like `take_requests`, with the connection id and sequence number of each request.
    ///
    /// A request whose bytes are still arriving (or whose connection has just ended) is waited
    /// for, up to a second, so that a take right after the client's exchange sees it.
    pub fn take_records(&self) -> Vec<Record> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let mut st = self.shared.state.lock().unwrap();
            if st.partial == 0 || Instant::now() >= deadline {
                return std::mem::take(&mut st.records);
            }
            drop(st);
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// How many connections were accepted since the last `reset`.
    pub fn connections(&self) -> u64 {
        self.shared.state.lock().unwrap().next_conn - 1
    }

    /// Forgets everything: connection ids start again at 1, records are cleared, and the
    /// connections still open are shut down (their handlers record nothing more).
    pub fn reset(&self) {
        let mut st = self.shared.state.lock().unwrap();
        st.generation += 1;
        st.next_conn = 1;
        st.records.clear();
        for l in st.live.drain(..) {
            let _ = l.sock.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept; the loop sees the flag and ends.
        let _ = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(1),
        );
        let mut st = self.shared.state.lock().unwrap();
        for l in st.live.drain(..) {
            let _ = l.sock.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
    for sock in listener.incoming() {
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(sock) = sock else { continue };
        let _ = sock.set_nodelay(true);
        // A safety net only: the proxy normally closes first.
        let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
        let (gen, cid) = {
            let mut st = sh.state.lock().unwrap();
            let cid = st.next_conn;
            st.next_conn += 1;
            let gen = st.generation;
            if let Ok(c) = sock.try_clone() {
                st.live.push(Live { gen, cid, sock: c });
            }
            (gen, cid)
        };
        let sh = sh.clone();
        let conn = Conn {
            sock,
            sh,
            gen,
            cid,
            partial: false,
        };
        // Out of threads: the connection is dropped (closed), which the proxy reports.
        let _ = thread::Builder::new()
            .name(format!("echo-conn-{cid}"))
            .spawn(move || conn.serve());
    }
}

/// One accepted connection.
struct Conn {
    sock: TcpStream,
    sh: Arc<Shared>,
    gen: u64,
    cid: u64,
    /// Counted in `State::partial`.
    partial: bool,
}

/// A parsed request: the request line, the headers (lower-cased names, trimmed values, the
/// first of a repeated name wins, as Python's `setdefault`) and the raw bytes.
struct Request {
    line: String,
    headers: Vec<(String, String)>,
    raw: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn target(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or("")
    }

    /// The Python rule: HTTP/1.1 and no `Connection: close`.
    fn keep_alive(&self) -> bool {
        self.line.ends_with("HTTP/1.1")
            && !self
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// What a handler does after answering.
enum Next {
    /// Read the next request if the request allowed keep-alive.
    KeepIfAllowed,
    Close,
}

impl Conn {
    fn serve(mut self) {
        let mut buf = Vec::new();
        let mut seq = 0;
        while let Some(req) = self.read_request(&mut buf) {
            seq += 1;
            if !self.record(seq, &req.raw) {
                break;
            }
            if !buf.is_empty() {
                self.set_partial(true);
            }
            let next = self.answer(&req, seq);
            if matches!(next, Next::Close) || !req.keep_alive() {
                break;
            }
        }
        let _ = self.sock.shutdown(Shutdown::Both);
        let (gen, cid) = (self.gen, self.cid);
        let mut st = self.sh.state.lock().unwrap();
        st.live.retain(|l| !(l.gen == gen && l.cid == cid));
    }

    /// Appends a record unless a `reset` happened since this connection was accepted.
    fn record(&mut self, seq: u64, raw: &[u8]) -> bool {
        self.set_partial(false);
        let mut st = self.sh.state.lock().unwrap();
        if st.generation != self.gen {
            return false;
        }
        st.records.push(Record {
            conn: self.cid,
            seq,
            raw: raw.to_vec(),
        });
        true
    }

    fn read_more(&mut self, buf: &mut Vec<u8>) -> bool {
        let mut chunk = [0u8; 65536];
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    self.set_partial(true);
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }

    /// Notes whether this connection holds part of an unrecorded request.
    fn set_partial(&mut self, on: bool) {
        if on != self.partial {
            self.partial = on;
            let mut st = self.sh.state.lock().unwrap();
            if on {
                st.partial += 1;
            } else {
                st.partial = st.partial.saturating_sub(1);
            }
        }
    }

    /// Reads one request; `buf` keeps what follows it (pipelined bytes). A request cut short
    /// by the end of the connection is returned with the bytes that did arrive; a head that
    /// never completed is not a request.
    fn read_request(&mut self, buf: &mut Vec<u8>) -> Option<Request> {
        let r = self.read_request_inner(buf);
        if r.is_none() {
            self.set_partial(false);
        }
        r
    }

    fn read_request_inner(&mut self, buf: &mut Vec<u8>) -> Option<Request> {
        let head_end = loop {
            if let Some(i) = find(buf, b"\r\n\r\n") {
                break i + 4;
            }
            if !self.read_more(buf) {
                return None;
            }
        };
        let text: String = buf[..head_end - 4].iter().map(|&b| b as char).collect();
        let mut lines = text.split("\r\n");
        let line = lines.next().unwrap_or("").to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if !headers.iter().any(|(n, _)| *n == k) {
                    headers.push((k, v.trim().to_string()));
                }
            }
        }
        let mut req = Request {
            line,
            headers,
            raw: Vec::new(),
        };
        let body_len = if let Some(cl) = req.header("content-length") {
            let n: usize = cl.parse().unwrap_or(0);
            while buf.len() < head_end + n {
                if !self.read_more(buf) {
                    break;
                }
            }
            n.min(buf.len() - head_end)
        } else if req
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            // Naive, as the original: the body ends at the first "0\r\n\r\n".
            loop {
                if let Some(i) = find(&buf[head_end..], b"0\r\n\r\n") {
                    break i + 5;
                }
                if !self.read_more(buf) {
                    break buf.len() - head_end;
                }
            }
        } else {
            0
        };
        req.raw = buf.drain(..head_end + body_len).collect();
        Some(req)
    }

    fn send(&mut self, data: &[u8]) {
        let _ = self.sock.write_all(data);
    }

    /// Answers one request as the markers in its target say.
    fn answer(&mut self, req: &Request, seq: u64) -> Next {
        let target = req.target().to_string();
        let common = format!(
            "X-Upstream-Port: {}\r\nX-Conn-Id: {}\r\nX-Req-Seq: {seq}\r\n",
            self.sh.port, self.cid
        );
        if target.contains("__close") {
            return Next::Close;
        }
        if let Some(s) = marker(&target, "__slowhdr=", is_decimal) {
            thread::sleep(secs(s));
        }
        if let Some(st) = marker(&target, "__status=", is_digit) {
            let body = format!("status {st}\n");
            self.send(
                format!(
                    "HTTP/1.1 {st} X\r\n{common}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
            return Next::KeepIfAllowed;
        }
        if let Some((n, every)) = drip(&target) {
            self.send(format!("HTTP/1.1 200 OK\r\n{common}Content-Length: {n}\r\n\r\n").as_bytes());
            for _ in 0..n {
                thread::sleep(every);
                self.send(b"x");
            }
            return Next::KeepIfAllowed;
        }
        if target.contains("__stream10") {
            let every =
                marker(&target, "__stream10=", is_decimal).map_or(Duration::from_secs(1), secs);
            self.send(
                format!("HTTP/1.0 200 OK\r\n{common}Content-Type: text/plain\r\n\r\n").as_bytes(),
            );
            for i in 0..3 {
                self.send(format!("part{i}\n").as_bytes());
                thread::sleep(every);
            }
            return Next::Close;
        }
        let xab = marker(&target, "__xab=", |c| c.is_ascii_alphanumeric() || c == '_');
        if target.contains("__stream") || xab.is_some() {
            let every =
                marker(&target, "__stream=", is_decimal).map_or(Duration::from_secs(1), secs);
            let extra = xab.map_or(String::new(), |v| format!("X-Accel-Buffering: {v}\r\n"));
            self.send(
                format!(
                    "HTTP/1.1 200 OK\r\n{common}{extra}Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                .as_bytes(),
            );
            for i in 0..3 {
                let part = format!("part{i}\n");
                self.send(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes());
                thread::sleep(every);
            }
            self.send(b"0\r\n\r\n");
            return Next::KeepIfAllowed;
        }
        if target.contains("__hop") {
            let body = "hop\n";
            self.send(
                format!(
                    "HTTP/1.1 200 OK\r\n{common}Connection: close, X-Drop-Me\r\nX-Drop-Me: 1\r\nKeep-Alive: timeout=99\r\n\
                     Server: echo-up/1.0\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nX-Powered-By: echo\r\n\
                     Upgrade: h2c\r\nProxy-Connection: keep-alive\r\nTrailer: X-T\r\nTE: trailers\r\n\
                     X-Accel-Expires: 10\r\nX-Accel-Charset: utf-8\r\nX-Accel-Limit-Rate: 1000\r\nX-Accel-Buffering: yes\r\n\
                     Content-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
            return Next::Close;
        }
        if target.contains("__html") {
            let body = format!("<html><body>{}</body></html>\n", "hello world ".repeat(20));
            self.send(
                format!(
                    "HTTP/1.1 200 OK\r\n{common}Content-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
            return Next::KeepIfAllowed;
        }
        if let Some(url) = marker(&target, "__loc=", |c| c != '&' && !c.is_whitespace()) {
            let url = percent_decode(url);
            let mut head = format!("HTTP/1.1 302 Found\r\n{common}Location: ").into_bytes();
            head.extend_from_slice(&url);
            head.extend_from_slice(b"\r\nRefresh: 5; url=");
            head.extend_from_slice(&url);
            head.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
            self.send(&head);
            return Next::KeepIfAllowed;
        }
        if let Some(n) = marker(&target, "__bighdr=", is_digit) {
            let n: usize = n.parse().unwrap_or(0);
            self.send(
                format!(
                    "HTTP/1.1 200 OK\r\n{common}X-Big: {}\r\nContent-Length: 2\r\n\r\nok",
                    "h".repeat(n)
                )
                .as_bytes(),
            );
            return Next::KeepIfAllowed;
        }
        if let Some(n) = marker(&target, "__big=", is_digit) {
            let n: usize = n.parse().unwrap_or(0);
            let mut out =
                format!("HTTP/1.1 200 OK\r\n{common}Content-Length: {n}\r\n\r\n").into_bytes();
            out.resize(out.len() + n, b'x');
            self.send(&out);
            return Next::KeepIfAllowed;
        }
        if target.contains("__nolen") {
            self.send(
                format!(
                    "HTTP/1.1 200 OK\r\n{common}Content-Type: text/plain\r\n\r\nno length body\n"
                )
                .as_bytes(),
            );
            return Next::Close;
        }
        if target.contains("__headonly") {
            self.send(format!("HTTP/1.1 200 OK\r\n{common}Content-Length: 5\r\n\r\nab").as_bytes());
            return Next::Close;
        }
        let mut out = format!(
            "HTTP/1.1 200 OK\r\n{common}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            req.raw.len()
        )
        .into_bytes();
        out.extend_from_slice(&req.raw);
        self.send(&out);
        Next::KeepIfAllowed
    }
}

/// The value after `key` in `target`: the longest run of characters accepted by `ok`.
fn marker<'a>(target: &'a str, key: &str, ok: impl Fn(char) -> bool) -> Option<&'a str> {
    let start = target.find(key)? + key.len();
    let rest = &target[start..];
    let end = rest.find(|c: char| !ok(c)).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_decimal(c: char) -> bool {
    c.is_ascii_digit() || c == '.'
}

/// Seconds, fractions allowed (`0.3`); anything unparsable is 0.
fn secs(s: &str) -> Duration {
    Duration::from_secs_f64(s.parse::<f64>().unwrap_or(0.0).max(0.0))
}

/// `__drip=N,I`.
fn drip(target: &str) -> Option<(usize, Duration)> {
    let v = marker(target, "__drip=", |c| is_decimal(c) || c == ',')?;
    let (n, every) = v.split_once(',')?;
    Some((n.parse().ok()?, secs(every)))
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A free port on `ip`, found by binding port 0 and releasing it. Ports handed out here are
/// never handed out again by this process, so tests running in parallel threads do not get the
/// same one (the kernel readily reuses a just-released port).
pub fn free_port(ip: IpAddr) -> SocketAddr {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let l = TcpListener::bind((ip, 0)).expect("bind a free port");
        let addr = l.local_addr().unwrap();
        if HANDED_OUT.lock().unwrap().insert(addr.port()) {
            return addr;
        }
    }
}

/// A port on 127.0.0.1 that refuses connections: a free port nobody listens on.
pub fn closed_port() -> u16 {
    free_port(IpAddr::from([127, 0, 0, 1])).port()
}

/// An upstream address that never answers, for timeout cases; it is released when dropped.
pub struct BlackHole {
    port: u16,
    _listener: TcpListener,
    /// Connections held open (the queue fillers, or what the silent listener accepted).
    held: Arc<Mutex<Vec<TcpStream>>>,
    /// Set for a silent listener: its accept thread must be woken to end.
    stop: Option<Arc<AtomicBool>>,
}

impl BlackHole {
    /// A listener whose accept queue is full: the kernel drops new SYNs, so `connect()` to it
    /// hangs until the connecting side gives up (a connect timeout).
    pub fn full_queue() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind black hole");
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        // The queue holds backlog + 1 connections (std listens with 128, possibly capped by
        // somaxconn); the first connect that cannot complete shows that it is full.
        for _ in 0..8192 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(150)) {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
        BlackHole {
            port: addr.port(),
            _listener: listener,
            held: Arc::new(Mutex::new(held)),
            stop: None,
        }
    }

    /// A listener that accepts every connection, reads whatever arrives and never answers
    /// (a read timeout on the connecting side).
    pub fn silent() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind silent upstream");
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = listener.try_clone().expect("clone listener");
        let (h, st) = (held.clone(), stop.clone());
        thread::Builder::new()
            .name(format!("silent-{port}"))
            .spawn(move || {
                for s in accept.incoming().flatten() {
                    if st.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut reader) = s.try_clone() else {
                        continue;
                    };
                    h.lock().unwrap().push(s);
                    thread::spawn(move || {
                        let mut sink = [0u8; 4096];
                        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
                    });
                }
            })
            .expect("spawn silent accept thread");
        BlackHole {
            port,
            _listener: listener,
            held,
            stop: Some(stop),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], self.port)),
                Duration::from_secs(1),
            );
        }
        for s in self.held.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
