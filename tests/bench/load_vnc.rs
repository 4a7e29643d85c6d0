//! `bench-load`'s noVNC-shaped modes, the load side of `tests/bench/bridge.sh`: a raw TCP "VNC
//! server" (`vnc-target`, the target of websockify and of `websockify_pass`), a WebSocket server
//! that answers the same way (`ws-vnc-upstream`, the upstream of a proxied WebSocket), the
//! client load (`vnc-load`), idle sessions held open (`vnc-idle`) and a readiness check that
//! speaks both (`vnc-check`). The two servers are in `load_vnc_serve.rs`.
//!
//! The conversation has RFB's shape, not its content: the server speaks first (the 12-byte
//! `RFB 003.008\n` banner), then every client message is one of RFB's input events
//! (PointerEvent 6 bytes, KeyEvent 8, FramebufferUpdateRequest 10, told apart by their first
//! byte, so a server finds the events whatever its reads cut), and the server answers each with
//! UPDATES updates of 200-1500 bytes, written one by one with TCP_NODELAY as a VNC server sends
//! rectangles. A bridge makes one message of each read from its target, so two updates that
//! arrive together may travel as one message: the client counts the answer's bytes, never its
//! frames. The sizes follow from the event's last two bytes, so client and server agree on them
//! without sharing state, and byte j of an answer is `pattern()[j % 251]`, which the client
//! checks with one comparison per piece (it shares the load core with the servers, which
//! saturates first: every microsecond spent here is a message the proxy never sees).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Subcommand;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "load_vnc_serve.rs"]
mod serve;

use super::load_proc::{alive, mem_available_kib, pss_kib, sample};
use super::{
    err, measure, parse_url, read_head, run_local, status_of, tick, Progress, Window, WsTarget,
    MASK, WS_ACCEPT, WS_KEY,
};

#[derive(Subcommand)]
pub enum VncMode {
    /// Raw TCP "VNC server" (websockify's target): the banner, then every input event answered
    /// with UPDATES separate writes
    VncTarget {
        #[arg(long)]
        listen: SocketAddr,
        #[command(flatten)]
        answer: Answer,
    },
    /// WebSocket server (a proxied WebSocket's upstream) answering as vnc-target does, with one
    /// binary message, one write, per update
    WsVncUpstream {
        #[arg(long)]
        listen: SocketAddr,
        #[command(flatten)]
        answer: Answer,
    },
    /// CONNS WebSocket sessions (subprotocol binary, as noVNC), each in a closed loop: one input
    /// event, then its whole answer; counts messages (an event or an update)
    VncLoad {
        #[command(flatten)]
        ws: WsTarget,
        #[arg(long, default_value_t = 50)]
        conns: usize,
        #[command(flatten)]
        answer: Answer,
        #[command(flatten)]
        window: Window,
    },
    /// Open CONNS sessions (handshake, then the banner), hold them idle, and report the memory of
    /// the --mem-of process trees before and with them (VmRSS and PSS, summed)
    VncIdle {
        #[command(flatten)]
        ws: WsTarget,
        #[arg(long, default_value_t = 5000)]
        conns: usize,
        /// sessions being opened at once
        #[arg(long, default_value_t = 64)]
        parallel: usize,
        /// seconds to wait once all are open, before sampling
        #[arg(long, default_value_t = 1.0)]
        settle: f64,
        /// a process whose tree is sampled (given more than once: the sum)
        #[arg(long, required = true)]
        mem_of: Vec<u32>,
        /// give up when the sessions are not all open after this many seconds
        #[arg(long, default_value_t = 600.0)]
        timeout: f64,
        /// give up before the machine's MemAvailable falls below this (websockify forks a
        /// process of ~3-4 MB per session)
        #[arg(long, default_value_t = 2048)]
        min_available_mib: u64,
    },
    /// Wait until URL answers as a VNC server: tcp:// (the banner, one event and its answer) or
    /// ws:// (the upgrade with subprotocol binary, then the same in binary messages). Connection
    /// refused is retried until the timeout; any other failure fails at once
    VncCheck {
        url: String,
        #[command(flatten)]
        answer: Answer,
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
        /// fail as soon as this process has exited (given more than once: any of them)
        #[arg(long)]
        pid: Vec<u32>,
    },
}

/// How a server answers an input event.
#[derive(clap::Args, Clone, Copy)]
pub struct Answer {
    /// updates answering each input event
    #[arg(long, default_value_t = 4)]
    updates: usize,
    /// bytes of the smallest update
    #[arg(long, default_value_t = 200)]
    min_update: usize,
    /// bytes of the largest update
    #[arg(long, default_value_t = 1500)]
    max_update: usize,
}

impl Answer {
    fn validate(&self) -> Result<(), String> {
        if self.updates == 0 || self.min_update == 0 || self.min_update > self.max_update {
            return Err("need --updates >= 1 and 1 <= --min-update <= --max-update".into());
        }
        if self.max_update > 65_535 {
            return Err("--max-update is at most 65535 (one 16-bit frame length)".into());
        }
        Ok(())
    }

    /// The size of update `i` of the answer to an event with this seed.
    fn size(&self, seed: u16, i: usize) -> usize {
        let span = self.max_update - self.min_update + 1;
        self.min_update + (usize::from(seed) * 7919 + i * 389) % span
    }

    fn total(&self, seed: u16) -> usize {
        (0..self.updates).map(|i| self.size(seed, i)).sum()
    }
}

pub fn run(m: VncMode) -> Result<(), String> {
    match m {
        VncMode::VncTarget { listen, answer } => run_local(serve::serve(listen, answer, false)),
        VncMode::WsVncUpstream { listen, answer } => run_local(serve::serve(listen, answer, true)),
        VncMode::VncLoad {
            ws,
            conns,
            answer,
            window,
        } => run_local(load(ws, conns, answer, window)),
        VncMode::VncIdle {
            ws,
            conns,
            parallel,
            settle,
            mem_of,
            timeout,
            min_available_mib,
        } => run_local(idle(
            ws,
            conns,
            parallel,
            settle,
            mem_of,
            timeout,
            min_available_mib,
        )),
        VncMode::VncCheck {
            url,
            answer,
            timeout,
            pid,
        } => run_local(check(url, answer, timeout, pid)),
    }
}

// ----------------------------------------------------------- the exchange --

const BANNER: &[u8] = b"RFB 003.008\n";
/// The period of the answers' bytes: prime, so it lines up with no frame or buffer size.
const PERIOD: usize = 251;
/// The client's read buffer per session.
const RX_BUF: usize = 16 * 1024;

/// `PERIOD` bytes and then `len` more of the same cycle, so that any piece of up to `len`
/// bytes at any offset of an answer is one slice of it.
fn pattern(len: usize) -> Rc<[u8]> {
    (0..PERIOD + len)
        .map(|i| (i % PERIOD) as u8 ^ 0x5a)
        .collect::<Vec<u8>>()
        .into()
}

/// The length of an RFB client message by its type byte, for the three input events sent.
fn event_len(kind: u8) -> Option<usize> {
    match kind {
        3 => Some(10), // FramebufferUpdateRequest: incremental, x, y, w, h
        4 => Some(8),  // KeyEvent: down flag, 2 padding bytes, keysym
        5 => Some(6),  // PointerEvent: button mask, x, y
        _ => None,
    }
}

/// Event number `n` of a session, its last two bytes (y, the keysym's low half, h) the seed of
/// the answer's sizes.
fn event(n: u64, seed: u16) -> ([u8; 10], usize) {
    let mut e = [0u8; 10];
    e[0] = [5, 4, 3][(n % 3) as usize];
    e[1] = 1;
    let len = event_len(e[0]).unwrap_or(6);
    e[2..4].copy_from_slice(&((n % 1024) as u16).to_be_bytes());
    e[len - 2..len].copy_from_slice(&seed.to_be_bytes());
    (e, len)
}

fn seed_of(event: &[u8]) -> u16 {
    u16::from_be_bytes([event[event.len() - 2], event[event.len() - 1]])
}

/// Input events arriving in pieces, cut into whole events.
#[derive(Default)]
struct Events {
    buf: Vec<u8>,
}

impl Events {
    /// Appends `bytes`; the seeds of the events completed go to `seeds`.
    fn feed(&mut self, bytes: &[u8], seeds: &mut Vec<u16>) -> Result<(), String> {
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        while at < self.buf.len() {
            let len = event_len(self.buf[at])
                .ok_or_else(|| format!("not an input event: type {}", self.buf[at]))?;
            if self.buf.len() - at < len {
                break;
            }
            seeds.push(seed_of(&self.buf[at..at + len]));
            at += len;
        }
        self.buf.drain(..at);
        Ok(())
    }
}

// ------------------------------------------------------------- the client --

/// The client's reading side of a session: the server's frames, their payloads handed on
/// piece by piece, and how many data frames came.
struct Rx {
    buf: Box<[u8]>,
    at: usize,
    end: usize,
    /// Payload bytes of the current frame not yet handed on.
    left: usize,
    frames: u64,
}

impl Rx {
    fn new(early: &[u8]) -> Result<Rx, String> {
        if early.len() > RX_BUF {
            return Err("too many bytes behind the 101".into());
        }
        let mut buf = vec![0u8; RX_BUF].into_boxed_slice();
        buf[..early.len()].copy_from_slice(early);
        Ok(Rx {
            buf,
            at: 0,
            end: early.len(),
            left: 0,
            frames: 0,
        })
    }

    async fn fill(&mut self, s: &mut TcpStream) -> Result<(), String> {
        if self.at == self.end {
            (self.at, self.end) = (0, 0);
        } else if self.at > 0 {
            self.buf.copy_within(self.at..self.end, 0);
            (self.at, self.end) = (0, self.end - self.at);
        }
        match s.read(&mut self.buf[self.end..]).await {
            Ok(0) => Err("the proxy closed the session".into()),
            Ok(n) => {
                self.end += n;
                Ok(())
            }
            Err(e) => Err(format!("reading the session: {e}")),
        }
    }

    /// Reads the next frame's header: a data frame's payload is then `left`.
    async fn header(&mut self, s: &mut TcpStream) -> Result<(), String> {
        loop {
            let b = &self.buf[self.at..self.end];
            let parsed = match b.get(1).map(|b1| b1 & 0x7f) {
                None => None,
                Some(126) if b.len() >= 4 => {
                    Some((usize::from(u16::from_be_bytes([b[2], b[3]])), 4))
                }
                Some(127) if b.len() >= 10 => {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(&b[2..10]);
                    Some((
                        usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX),
                        10,
                    ))
                }
                Some(126 | 127) => None,
                Some(n) => Some((usize::from(n), 2)),
            };
            let Some((len, hl)) = parsed else {
                self.fill(s).await?;
                continue;
            };
            let (b0, b1) = (b[0], b[1]);
            if b1 & 0x80 != 0 {
                return Err("a masked frame from the server".into());
            }
            match b0 {
                0x82 | 0x02 | 0x80 | 0x00 => {}
                0x88 => return Err(self.closed(s, hl, len).await),
                _ => return Err(format!("unexpected frame, first byte {b0:#04x}")),
            }
            self.at += hl;
            self.left = len;
            self.frames += 1;
            return Ok(());
        }
    }

    /// What a close frame from the server said (as much of it as arrives).
    async fn closed(&mut self, s: &mut TcpStream, hl: usize, len: usize) -> String {
        while self.end - self.at < hl + len.min(125) && self.fill(s).await.is_ok() {}
        let p = &self.buf[(self.at + hl).min(self.end)..(self.at + hl + len).min(self.end)];
        match p {
            [a, b, reason @ ..] => format!(
                "the server closed the session: {} {:?}",
                u16::from_be_bytes([*a, *b]),
                String::from_utf8_lossy(reason)
            ),
            _ => "the server closed the session".into(),
        }
    }

    /// Reads `n` payload bytes, over as many frames as they came in, handing each piece and
    /// its offset in the `n` bytes to `check`.
    async fn payload(
        &mut self,
        s: &mut TcpStream,
        n: usize,
        mut check: impl FnMut(&[u8], usize) -> bool,
    ) -> Result<(), String> {
        let mut got = 0;
        while got < n {
            if self.left == 0 {
                self.header(s).await?;
                continue;
            }
            if self.at == self.end {
                self.fill(s).await?;
            }
            let take = self.left.min(n - got).min(self.end - self.at);
            if !check(&self.buf[self.at..self.at + take], got) {
                return Err(format!(
                    "wrong bytes at offset {got} of a {n}-byte answer: {:02x?}",
                    &self.buf[self.at..self.at + take.min(16)]
                ));
            }
            (self.at, self.left, got) = (self.at + take, self.left - take, got + take);
        }
        Ok(())
    }

    async fn banner(&mut self, s: &mut TcpStream) -> Result<(), String> {
        self.payload(s, BANNER.len(), |piece, at| {
            piece == &BANNER[at..at + piece.len()]
        })
        .await
        .map_err(|e| format!("the banner: {e}"))
    }
}

/// The upgrade noVNC sends (subprotocol binary) on a connected socket; the reading side with
/// what came behind the 101.
async fn upgrade(s: &mut TcpStream, host: &str, path: &str) -> Result<Rx, String> {
    let _ = s.set_nodelay(true);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: binary\r\n\r\n"
    );
    s.write_all(request.as_bytes())
        .await
        .map_err(err("sending the upgrade"))?;
    let mut head = Vec::new();
    let len = read_head(s, &mut head).await?;
    let status = status_of(&head)?;
    let text = String::from_utf8_lossy(&head[..len]);
    if status != 101 {
        return Err(format!("upgrade of {path} answered {status}, not 101"));
    }
    if !text.contains(WS_ACCEPT) {
        return Err(format!(
            "101 without the right Sec-WebSocket-Accept: {text:?}"
        ));
    }
    let protocol = text.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("sec-websocket-protocol")
            .then(|| v.trim())
    });
    if protocol.is_some_and(|p| p != "binary") {
        return Err(format!(
            "101 with a subprotocol other than binary: {text:?}"
        ));
    }
    Rx::new(&head[len..])
}

async fn connect(addr: SocketAddr, path: &str) -> Result<(TcpStream, Rx), String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(err(format_args!("connecting to {addr}")))?;
    let rx = upgrade(&mut s, &addr.to_string(), path).await?;
    Ok((s, rx))
}

/// One round: event number `n` out, masked as a client must, and its whole answer in.
async fn round(
    s: &mut TcpStream,
    rx: &mut Rx,
    a: &Answer,
    pat: &[u8],
    n: u64,
    seed: u16,
) -> Result<(), String> {
    let (e, len) = event(n, seed);
    let mut frame = [0u8; 2 + 4 + 10];
    frame[0] = 0x82;
    frame[1] = 0x80 | len as u8;
    frame[2..6].copy_from_slice(&MASK);
    for (i, b) in e[..len].iter().enumerate() {
        frame[6 + i] = b ^ MASK[i % 4];
    }
    s.write_all(&frame[..6 + len])
        .await
        .map_err(err("sending an event"))?;
    rx.payload(s, a.total(seed), |piece, at| {
        *piece == pat[at % PERIOD..][..piece.len()]
    })
    .await
}

fn seed(conn: usize, n: u64) -> u16 {
    (conn as u64)
        .wrapping_mul(7919)
        .wrapping_add(n.wrapping_mul(104_729)) as u16
}

async fn load(ws: WsTarget, conns: usize, a: Answer, w: Window) -> Result<(), String> {
    a.validate()?;
    let pat = pattern(RX_BUF.max(a.max_update));
    let p = Rc::new(Progress::default());
    // Over the whole run, not the window: how many frames the answers came in (a bridge may
    // put two updates read together in one message).
    let frames = Rc::new(Cell::new(0u64));
    let answers = Rc::new(Cell::new(0u64));
    let per_round = 1 + a.updates as u64;
    for c in 0..conns {
        let (p, pat, frames, answers, path) = (
            p.clone(),
            pat.clone(),
            frames.clone(),
            answers.clone(),
            ws.path.clone(),
        );
        let addr = ws.addr;
        tokio::task::spawn_local(async move {
            let run = async {
                let (mut s, mut rx) = connect(addr, &path).await?;
                rx.banner(&mut s).await?;
                round(&mut s, &mut rx, &a, &pat, 0, seed(c, 0)).await?;
                p.connected.set(p.connected.get() + 1);
                let mut n = 1;
                while !p.stop.get() {
                    let f0 = rx.frames;
                    round(&mut s, &mut rx, &a, &pat, n, seed(c, n)).await?;
                    p.done.set(p.done.get() + per_round);
                    frames.set(frames.get() + rx.frames - f0);
                    answers.set(answers.get() + 1);
                    n += 1;
                }
                Ok::<(), String>(())
            };
            if let Err(e) = run.await {
                p.fail(e);
            }
        });
    }
    let extra = format!(
        " updates={} min_update={} max_update={}",
        a.updates, a.min_update, a.max_update
    );
    measure(&p, &w, conns, "messages", &extra).await?;
    println!("FRAMES answers={} frames={}", answers.get(), frames.get());
    Ok(())
}

async fn idle(
    ws: WsTarget,
    conns: usize,
    parallel: usize,
    settle: f64,
    mem_of: Vec<u32>,
    timeout: f64,
    min_available_mib: u64,
) -> Result<(), String> {
    if let Some(pid) = mem_of.iter().find(|&&p| !alive(p)) {
        return Err(format!("process {pid} is not running"));
    }
    let (rss0, (pss0, _)) = (sample(&mem_of), pss_kib(&mem_of));
    let t0 = Instant::now();
    let gate = Rc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let open: Rc<RefCell<Vec<TcpStream>>> = Rc::new(RefCell::new(Vec::with_capacity(conns)));
    let p = Rc::new(Progress::default());
    for _ in 0..conns {
        let (gate, open, p, path) = (gate.clone(), open.clone(), p.clone(), ws.path.clone());
        let addr = ws.addr;
        tokio::task::spawn_local(async move {
            let Ok(_permit) = gate.acquire().await else {
                return;
            };
            let run = async {
                let (mut s, mut rx) = connect(addr, &path).await?;
                rx.banner(&mut s).await?;
                // The reading side goes: an idle session holds nothing here but its socket.
                Ok::<TcpStream, String>(s)
            };
            match run.await {
                Ok(s) => {
                    open.borrow_mut().push(s);
                    p.connected.set(p.connected.get() + 1);
                }
                Err(e) => p.fail(format!("session {}: {e}", p.connected.get() + 1)),
            }
        });
    }
    while p.connected.get() < conns {
        tick(&p).await?;
        let n = p.connected.get();
        if t0.elapsed().as_secs_f64() > timeout {
            return Err(format!(
                "only {n} of {conns} sessions open after {timeout} s"
            ));
        }
        if let Some(pid) = mem_of.iter().find(|&&p| !alive(p)) {
            return Err(format!("process {pid} exited with {n} sessions open"));
        }
        let avail = mem_available_kib() / 1024;
        if avail < min_available_mib {
            return Err(format!(
                "stopped with {n} of {conns} sessions open: the machine's MemAvailable is down \
                 to {avail} MiB (--min-available-mib {min_available_mib})"
            ));
        }
    }
    let opened = t0.elapsed();
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    // Every session must still be there: a proxy that dropped some would look cheap.
    let mut closed = 0;
    for s in open.borrow().iter() {
        let mut b = [0u8; 1];
        if !matches!(s.try_read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            closed += 1;
        }
    }
    let (rss1, (pss1, procs)) = (sample(&mem_of), pss_kib(&mem_of));
    if closed > 0 {
        return Err(format!(
            "{closed} of {conns} idle sessions were closed or sent data"
        ));
    }
    println!(
        "BENCH sessions={conns} rss_before_kib={} rss_kib={} pss_before_kib={pss0} \
         pss_kib={pss1} procs_before={} procs={procs} open_ms={} available_mib={}",
        rss0.rss_kib,
        rss1.rss_kib,
        rss0.processes,
        opened.as_millis(),
        mem_available_kib() / 1024
    );
    Ok(())
}

async fn check(url: String, a: Answer, timeout: f64, pids: Vec<u32>) -> Result<(), String> {
    a.validate()?;
    let u = parse_url(&url)?;
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let mut s = loop {
        if let Some(pid) = pids.iter().find(|&&p| !alive(p)) {
            return Err(format!("{url}: process {pid} exited before answering"));
        }
        match TcpStream::connect(u.addr).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(format!("{url}: not listening after {timeout} s ({e})")),
        }
    };
    // Once connected, the server is up: whatever goes wrong now is its answer, so no retry.
    let pat = pattern(RX_BUF.max(a.max_update));
    let once = async {
        match u.scheme.as_str() {
            "ws" => {
                let mut rx = upgrade(&mut s, &u.host, &u.path).await?;
                rx.banner(&mut s).await?;
                round(&mut s, &mut rx, &a, &pat, 0, seed(0, 0)).await
            }
            "tcp" => {
                let mut b = vec![0u8; BANNER.len()];
                s.read_exact(&mut b).await.map_err(err("the banner"))?;
                if b != BANNER {
                    return Err(format!("not the banner: {b:02x?}"));
                }
                let (e, len) = event(0, seed(0, 0));
                s.write_all(&e[..len])
                    .await
                    .map_err(err("sending an event"))?;
                let mut answer = vec![0u8; a.total(seed(0, 0))];
                s.read_exact(&mut answer)
                    .await
                    .map_err(err("reading the answer"))?;
                if answer != pat[..answer.len()] {
                    return Err("wrong bytes in the answer".into());
                }
                Ok(())
            }
            other => Err(format!("unknown scheme {other} (tcp or ws)")),
        }
    };
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
    tokio::time::timeout(left, once)
        .await
        .map_err(|_| format!("{url}: no complete answer within {timeout} s"))?
        .map_err(|e| format!("{url}: {e}"))
}
