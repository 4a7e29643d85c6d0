//! `bench-load`: the load side of the WebSocket and TLS benchmarks (`tests/bench/ws_tls.sh`;
//! the noVNC-shaped modes of `tests/bench/bridge.sh` are in `load_vnc.rs`).
//!
//! One program with a mode per job: a WebSocket echo upstream (`upstream`), the WebSocket echo
//! load (`echo`), many idle WebSocket tunnels held open (`idle`), TLS handshakes on a new
//! connection each (`handshake`, in `load_tls.rs`), and a readiness check that speaks ws:// and
//! https:// (`check`); the chores shared with `runtime.sh` (ports, starting processes, sampling `/proc`
//! from the script) are in `helper.py`. The load modes sample the proxy's CPU time or memory
//! from `/proc` themselves (`load_proc.rs`), at the exact edges of their measured window, so
//! nothing else (connecting, warm-up, the final in-flight messages) leaks into the figures. It
//! is a benchmark tool, not a test: nothing here asserts timing, and CI only builds it. It does
//! not compute ratios or goals: the script does.
//!
//! WebSocket frames are written and parsed here (RFC 6455 §5.2, the few lines an echo needs)
//! rather than with tungstenite: the client and the upstream share the load core, which
//! saturates first, so every microsecond they spend per message is a message the proxy never
//! sees. The client sends one precomputed masked frame again and again, and checks each echo
//! byte for byte.

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::{Parser, Subcommand};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod load_proc;
mod load_tls;
mod load_vnc;
use load_proc::{alive, sample};
use load_tls::{handshake, server_name, tls_connector};

#[derive(Parser)]
#[command(
    name = "bench-load",
    about = "load generator for tests/bench/ws_tls.sh and tests/bench/bridge.sh"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Wait until URL answers: http://, https:// (any certificate) or ws:// (upgrade, then one
    /// echoed frame). Connection refused is retried until the timeout; any other failure, or a
    /// status other than the expected one, fails at once
    Check {
        url: String,
        #[arg(long, default_value_t = 200)]
        expect: u16,
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
        /// fail as soon as this process has exited
        #[arg(long)]
        pid: Option<u32>,
    },
    /// WebSocket echo server (the upstream behind the proxy): answers the upgrade with 101 and
    /// echoes every data frame, answers ping with pong and close with close
    Upstream {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// CONNS WebSocket connections through the proxy, each sending a SIZE-byte binary frame and
    /// waiting for its echo, again and again; counts the echoes of the measured window
    Echo {
        #[command(flatten)]
        ws: WsTarget,
        #[arg(long, default_value_t = 50)]
        conns: usize,
        #[arg(long, default_value_t = 32)]
        size: usize,
        #[command(flatten)]
        window: Window,
    },
    /// Open CONNS WebSocket tunnels through the proxy (upgrade and one echoed frame each), hold
    /// them idle, and report the proxy's resident memory before and with them
    Idle {
        #[command(flatten)]
        ws: WsTarget,
        #[arg(long, default_value_t = 9000)]
        conns: usize,
        /// tunnels being opened at once
        #[arg(long, default_value_t = 64)]
        parallel: usize,
        /// seconds to wait once all are open, before sampling
        #[arg(long, default_value_t = 1.0)]
        settle: f64,
        /// seconds to keep them open after sampling
        #[arg(long, default_value_t = 0.0)]
        hold: f64,
        /// the proxy whose memory is reported (with its descendants)
        #[arg(long)]
        rss_of: u32,
        /// give up when the tunnels are not all open after this many seconds
        #[arg(long, default_value_t = 120.0)]
        timeout: f64,
    },
    #[command(flatten)]
    Vnc(load_vnc::VncMode),
    /// CONNS clients, each looping: new TCP connection, full TLS handshake (no resumption; only
    /// ECDSA P-256 SHA-256 signatures accepted, the certificate itself is not verified),
    /// `GET PATH` with `Connection: close`, the whole response up to the server's close
    Handshake {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value = "/")]
        path: String,
        #[arg(long, default_value = "localhost")]
        server_name: String,
        /// 1.3 or 1.2
        #[arg(long, default_value = "1.3")]
        tls: String,
        #[arg(long, default_value_t = 32)]
        conns: usize,
        #[command(flatten)]
        window: Window,
    },
}

#[derive(clap::Args)]
struct WsTarget {
    /// the proxy's address
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, default_value = "/ws")]
    path: String,
}

#[derive(clap::Args)]
struct Window {
    /// seconds of unmeasured load first, on the same connections
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// seconds measured
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// the proxy whose CPU time (with its descendants) is sampled at the window's edges; given
    /// more than once, their sum (nginx and websockify)
    #[arg(long)]
    cpu_of: Vec<u32>,
    /// fail when no message completes for this many seconds
    #[arg(long, default_value_t = 10.0)]
    stall: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::Check {
            url,
            expect,
            timeout,
            pid,
        } => run_local(check(url, expect, timeout, pid)),
        Mode::Upstream { listen } => run_local(upstream(listen)),
        Mode::Echo {
            ws,
            conns,
            size,
            window,
        } => run_local(echo(ws, conns, size, window)),
        Mode::Idle {
            ws,
            conns,
            parallel,
            settle,
            hold,
            rss_of,
            timeout,
        } => run_local(idle(ws, conns, parallel, settle, hold, rss_of, timeout)),
        Mode::Vnc(m) => load_vnc::run(m),
        Mode::Handshake {
            addr,
            path,
            server_name,
            tls,
            conns,
            window,
        } => run_local(handshake(addr, path, server_name, tls, conns, window)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every mode runs on one thread: the load core is shared with the upstream, so more threads
/// would only contend for it.
fn run_local(f: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    raise_nofile();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    tokio::task::LocalSet::new().block_on(&rt, f)
}

/// Thousands of tunnels need thousands of descriptors: take all the hard limit allows.
fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

fn err(what: impl Display) -> impl FnOnce(std::io::Error) -> String {
    move |e| format!("{what}: {e}")
}

// ------------------------------------------------------------------ chores --

/// `scheme://host:port/path` of `check`.
struct Url {
    scheme: String,
    addr: SocketAddr,
    host: String,
    path: String,
}

fn parse_url(url: &str) -> Result<Url, String> {
    let bad = || format!("not a scheme://IP:PORT/path URL: {url}");
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok(Url {
        scheme: scheme.to_string(),
        addr: host.parse().map_err(|_| bad())?,
        host: host.to_string(),
        path: path.to_string(),
    })
}

async fn check(url: String, expect: u16, timeout: f64, pid: Option<u32>) -> Result<(), String> {
    let u = parse_url(&url)?;
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let tcp = loop {
        if let Some(pid) = pid {
            if !alive(pid) {
                return Err(format!("{url}: process {pid} exited before answering"));
            }
        }
        match TcpStream::connect(u.addr).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(format!("{url}: not listening after {timeout} s ({e})")),
        }
    };
    // Once connected, the proxy is up: whatever goes wrong now is its answer, so no retry.
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
    let status = tokio::time::timeout(left, check_once(&u, tcp))
        .await
        .map_err(|_| format!("{url}: no complete answer within {timeout} s"))??;
    if status != expect {
        return Err(format!("{url}: status {status}, expected {expect}"));
    }
    Ok(())
}

async fn check_once(u: &Url, tcp: TcpStream) -> Result<u16, String> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        u.path, u.host
    );
    match u.scheme.as_str() {
        "http" => http_status(tcp, &request).await,
        "https" => {
            let tls = tls_connector(None)?
                .connect(server_name("localhost")?, tcp)
                .await
                .map_err(|e| {
                    format!(
                        "TLS handshake with {} failed: {e} (does the proxy serve TLS on this port?)",
                        u.addr
                    )
                })?;
            http_status(tls, &request).await
        }
        "ws" => {
            let (mut s, status) = ws_upgrade(tcp, &u.host, &u.path).await?;
            if status == 101 {
                let frame = client_frame(&payload(32));
                echo_once(&mut s, &frame, &payload(32)).await?;
            }
            Ok(status)
        }
        other => Err(format!("unknown scheme {other} (http, https or ws)")),
    }
}

/// Sends `request` (with `Connection: close`) and reads the response to the server's close.
async fn http_status<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &str,
) -> Result<u16, String> {
    s.write_all(request.as_bytes())
        .await
        .map_err(err("sending the request"))?;
    let mut response = Vec::new();
    match s.read_to_end(&mut response).await {
        Ok(_) => {}
        // A TLS peer that closes without close_notify: the response is complete all the same.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(format!("reading the response: {e}")),
    }
    status_of(&response)
}

fn status_of(head: &[u8]) -> Result<u16, String> {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    text.strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {:?}", String::from_utf8_lossy(head)))
}

// --------------------------------------------------------------- WebSocket --

/// The key of RFC 6455's example handshake, and the accept value that answers it.
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Largest frame the echo upstream accepts: the benchmark sends small ones.
const MAX_FRAME: usize = 1 << 20;

fn accept_key(key: &str) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{WS_GUID}").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A final, masked binary frame carrying `payload` (at most 125 bytes: one length byte).
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x82, 0x80 | payload.len() as u8];
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// Reads an HTTP head (up to the blank line) into `buf`; returns its length.
async fn read_head<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Result<usize, String> {
    loop {
        if let Some(i) = memchr::memmem::find(buf, b"\r\n\r\n") {
            return Ok(i + 4);
        }
        if buf.len() > 16 * 1024 {
            return Err("HTTP head longer than 16 KiB".into());
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.map_err(err("reading a head"))?;
        if n == 0 {
            return Err(format!(
                "connection closed in the HTTP head (got {:?})",
                String::from_utf8_lossy(buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends the upgrade request; on 101 checks the accept key. Returns the status.
async fn ws_upgrade(mut s: TcpStream, host: &str, path: &str) -> Result<(TcpStream, u16), String> {
    let _ = s.set_nodelay(true);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(request.as_bytes())
        .await
        .map_err(err("sending the upgrade"))?;
    let mut head = Vec::new();
    let len = read_head(&mut s, &mut head).await?;
    let status = status_of(&head)?;
    if status == 101 {
        let text = String::from_utf8_lossy(&head[..len]);
        if !text.contains(WS_ACCEPT) {
            return Err(format!(
                "101 without the right Sec-WebSocket-Accept: {text:?}"
            ));
        }
        if len != head.len() {
            return Err("bytes from the upstream before any frame was sent".into());
        }
    }
    Ok((s, status))
}

async fn ws_connect(addr: SocketAddr, path: &str) -> Result<TcpStream, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(err(format_args!("connecting to {addr}")))?;
    match ws_upgrade(tcp, &addr.to_string(), path).await? {
        (s, 101) => Ok(s),
        (_, status) => Err(format!("upgrade of {path} answered {status}, not 101")),
    }
}

/// One frame out, its echo back, checked byte for byte.
async fn echo_once(s: &mut TcpStream, frame: &[u8], payload: &[u8]) -> Result<(), String> {
    let mut echo = [0u8; 2 + 125];
    let echo = &mut echo[..2 + payload.len()];
    s.write_all(frame).await.map_err(err("sending a frame"))?;
    s.read_exact(echo).await.map_err(err("reading the echo"))?;
    if echo[0] != 0x82 || usize::from(echo[1]) != payload.len() || echo[2..] != *payload {
        return Err(format!("wrong echo: {echo:02x?}"));
    }
    Ok(())
}

async fn upstream(listen: SocketAddr) -> Result<(), String> {
    let l = TcpListener::bind(listen)
        .await
        .map_err(err(format_args!("bind {listen}")))?;
    loop {
        let (s, _) = match l.accept().await {
            Ok(x) => x,
            // Out of descriptors or the like: leave the backlog alone for a moment.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::task::spawn_local(async move {
            let _ = upstream_conn(s).await;
        });
    }
}

async fn upstream_conn(mut s: TcpStream) -> Result<(), String> {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    let len = read_head(&mut s, &mut buf).await?;
    let head = String::from_utf8_lossy(&buf[..len]).into_owned();
    let key = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_string())
    });
    let Some(key) = key else {
        let _ = s
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return Ok(());
    };
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    );
    s.write_all(answer.as_bytes()).await.map_err(err("101"))?;
    buf.drain(..len);
    let mut out = Vec::new();
    loop {
        // Answer every complete frame in the buffer with one write.
        let mut at = 0;
        let mut close = false;
        while let Some((frame_len, opcode)) = echo_frame(&buf[at..], &mut out)? {
            at += frame_len;
            if opcode == 0x8 {
                close = true;
                break;
            }
        }
        buf.drain(..at);
        if !out.is_empty() {
            s.write_all(&out).await.map_err(err("echo"))?;
            out.clear();
        }
        if close {
            return Ok(());
        }
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(4096);
        }
        if s.read_buf(&mut buf).await.map_err(err("read"))? == 0 {
            return Ok(());
        }
    }
}

/// If `buf` starts with a complete client frame, appends the server's answer to `out` (the same
/// frame unmasked; pong for ping) and returns the frame's length and opcode.
fn echo_frame(buf: &[u8], out: &mut Vec<u8>) -> Result<Option<(usize, u8)>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let (len, mut at) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (
                usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX),
                10,
            )
        }
        126 | 127 => return Ok(None),
        n => (usize::from(n), 2),
    };
    if len > MAX_FRAME {
        return Err(format!("frame of {len} bytes"));
    }
    let masked = b1 & 0x80 != 0;
    let key_at = at;
    if masked {
        at += 4;
    }
    if buf.len() < at + len {
        return Ok(None);
    }
    let opcode = b0 & 0x0f;
    out.push(if opcode == 0x9 { (b0 & 0xf0) | 0xa } else { b0 });
    match len {
        0..=125 => out.push(len as u8),
        126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    let data = &buf[at..at + len];
    if masked {
        let key = &buf[key_at..key_at + 4];
        out.extend(data.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(data);
    }
    Ok(Some((at + len, opcode)))
}

/// What the load tasks share with the measuring loop.
#[derive(Default)]
struct Progress {
    connected: Cell<usize>,
    done: Cell<u64>,
    stop: Cell<bool>,
    failure: RefCell<Option<String>>,
}

impl Progress {
    fn fail(&self, e: String) {
        self.failure.borrow_mut().get_or_insert(e);
    }
}

/// Runs the warm-up and the measured window over load that counts into `p.done`, sampling the
/// proxy's CPU at the window's edges; prints the BENCH line.
async fn measure(
    p: &Progress,
    w: &Window,
    conns: usize,
    unit: &str,
    extra: &str,
) -> Result<(), String> {
    let stall = Duration::from_secs_f64(w.stall);
    // Wait for every connection (its first message included) before the clock starts.
    let t = Instant::now();
    while p.connected.get() < conns {
        tick(p).await?;
        if t.elapsed() > stall {
            return Err(format!(
                "only {} of {conns} connections up after {} s",
                p.connected.get(),
                w.stall
            ));
        }
    }
    let warm_end = Instant::now() + Duration::from_secs_f64(w.warmup);
    let mut last = (p.done.get(), Instant::now());
    let mut watch = |p: &Progress| -> Result<(), String> {
        if p.done.get() != last.0 {
            last = (p.done.get(), Instant::now());
        } else if last.1.elapsed() > stall {
            return Err(format!("no {unit} completed for {} s", w.stall));
        }
        Ok(())
    };
    while Instant::now() < warm_end {
        tick(p).await?;
        watch(p)?;
    }
    let cpu0 = (!w.cpu_of.is_empty()).then(|| sample(&w.cpu_of));
    let (n0, t0) = (p.done.get(), Instant::now());
    let end = t0 + Duration::from_secs_f64(w.duration);
    while Instant::now() < end {
        tokio::time::sleep_until(end.min(Instant::now() + Duration::from_millis(100)).into()).await;
        if let Some(e) = p.failure.borrow().clone() {
            return Err(e);
        }
        watch(p)?;
    }
    let (n1, t1) = (p.done.get(), Instant::now());
    let cpu1 = (!w.cpu_of.is_empty()).then(|| sample(&w.cpu_of));
    p.stop.set(true);
    let mut line = format!(
        "BENCH {unit}={} duration_us={} conns={conns}{extra}",
        n1 - n0,
        (t1 - t0).as_micros()
    );
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        line += &format!(
            " cpu_ticks={} user_ticks={} rss_kib={} procs={}",
            b.ticks - a.ticks,
            b.user_ticks - a.user_ticks,
            b.rss_kib,
            b.processes
        );
    }
    println!("{line}");
    Ok(())
}

async fn tick(p: &Progress) -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    match p.failure.borrow().clone() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn echo(ws: WsTarget, conns: usize, size: usize, w: Window) -> Result<(), String> {
    if !(1..=125).contains(&size) {
        return Err(format!(
            "--size must be 1..125 (one length byte), got {size}"
        ));
    }
    let payload: Rc<[u8]> = payload(size).into();
    let frame: Rc<[u8]> = client_frame(&payload).into();
    let p = Rc::new(Progress::default());
    for _ in 0..conns {
        let (p, payload, frame, path) =
            (p.clone(), payload.clone(), frame.clone(), ws.path.clone());
        tokio::task::spawn_local(async move {
            let run = async {
                let mut s = ws_connect(ws.addr, &path).await?;
                echo_once(&mut s, &frame, &payload).await?;
                p.connected.set(p.connected.get() + 1);
                while !p.stop.get() {
                    echo_once(&mut s, &frame, &payload).await?;
                    p.done.set(p.done.get() + 1);
                }
                Ok::<(), String>(())
            };
            if let Err(e) = run.await {
                p.fail(e);
            }
        });
    }
    measure(&p, &w, conns, "messages", &format!(" size={size}")).await
}

#[allow(clippy::too_many_arguments)]
async fn idle(
    ws: WsTarget,
    conns: usize,
    parallel: usize,
    settle: f64,
    hold: f64,
    rss_of: u32,
    timeout: f64,
) -> Result<(), String> {
    if !alive(rss_of) {
        return Err(format!("process {rss_of} is not running"));
    }
    let before = sample(&[rss_of]);
    let t0 = Instant::now();
    let gate = Rc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let open: Rc<RefCell<Vec<TcpStream>>> = Rc::new(RefCell::new(Vec::with_capacity(conns)));
    let p = Rc::new(Progress::default());
    let payload: Rc<[u8]> = payload(32).into();
    let frame: Rc<[u8]> = client_frame(&payload).into();
    for _ in 0..conns {
        let (gate, open, p, payload, frame, path) = (
            gate.clone(),
            open.clone(),
            p.clone(),
            payload.clone(),
            frame.clone(),
            ws.path.clone(),
        );
        tokio::task::spawn_local(async move {
            let Ok(_permit) = gate.acquire().await else {
                return;
            };
            let run = async {
                let mut s = ws_connect(ws.addr, &path).await?;
                echo_once(&mut s, &frame, &payload).await?;
                Ok::<TcpStream, String>(s)
            };
            match run.await {
                Ok(s) => {
                    open.borrow_mut().push(s);
                    p.connected.set(p.connected.get() + 1);
                }
                Err(e) => p.fail(format!("tunnel {}: {e}", p.connected.get() + 1)),
            }
        });
    }
    while p.connected.get() < conns {
        tick(&p).await?;
        if t0.elapsed().as_secs_f64() > timeout {
            return Err(format!(
                "only {} of {conns} tunnels open after {timeout} s",
                p.connected.get()
            ));
        }
        if !alive(rss_of) {
            return Err(format!(
                "process {rss_of} exited with {} tunnels open",
                p.connected.get()
            ));
        }
    }
    let opened = t0.elapsed();
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    // Every tunnel must still be there: a proxy that dropped some would look cheap.
    let mut closed = 0;
    for s in open.borrow().iter() {
        let mut b = [0u8; 1];
        if !matches!(s.try_read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            closed += 1;
        }
    }
    let with = sample(&[rss_of]);
    if closed > 0 {
        return Err(format!(
            "{closed} of {conns} idle tunnels were closed or sent data"
        ));
    }
    println!(
        "BENCH tunnels={conns} rss_before_kib={} rss_kib={} hwm_kib={} procs={} open_ms={}",
        before.rss_kib,
        with.rss_kib,
        with.hwm_kib,
        with.processes,
        opened.as_millis()
    );
    let _ = std::io::stdout().flush();
    tokio::time::sleep(Duration::from_secs_f64(hold)).await;
    Ok(())
}
