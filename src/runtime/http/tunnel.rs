//! The upgraded connection (S11.3, S11.4, S9.1): after an upstream's 101, raw bytes flow both
//! ways until either side ends, with nginx's timers.
//!
//! A tunnel runs as its own task, spawned once the 101 head is written, so the request
//! pipeline's state (and its buffers) is freed: what an idle tunnel keeps is the two sockets,
//! the request (for the access-log line written when the tunnel ends) and this task's small
//! state. Bytes are read into one buffer per worker thread and written on at once; only bytes
//! a peer did not take yet are copied into a per-tunnel buffer, freed again once written. So an
//! idle tunnel holds no buffer at all (nginx holds two of `proxy_buffer_size`).
//!
//! nginx's rules, from `ngx_http_upstream_process_upgraded`:
//! - there is no half-close: when a side's read ends (EOF or error), what was already read from
//!   it is written on, then both connections close; bytes still owed to that side are dropped;
//! - one idle timer of `proxy_read_timeout`, re-armed by every event of the tunnel, in either
//!   direction; while a write is blocked, `proxy_send_timeout` (to the upstream) or
//!   `send_timeout` (to the client) also runs, re-armed the same way; a timer that fires
//!   closes both sides silently and logs at info.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWrite;

use super::log::access;
use crate::ir::Level;
use crate::runtime::base::clock::Coarse;
use crate::runtime::base::io::{close, errno_text, Stream};
use crate::runtime::state::log::{self, Upstream as LogUpstream};
use crate::runtime::state::request::Request;
use crate::runtime::state::upgraded::Upgraded;

/// Size of the per-worker read buffer: one read takes at most this much from a side.
const SCRATCH: usize = 16 * 1024;

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; SCRATCH].into_boxed_slice());
}

/// One direction's bytes read but not yet written (empty, with no allocation, when idle).
#[derive(Default)]
struct Owed {
    buf: Vec<u8>,
    pos: usize,
    /// A TLS stream may hold written bytes until flushed.
    unflushed: bool,
}

impl Owed {
    fn is_clear(&self) -> bool {
        self.pos == self.buf.len() && !self.unflushed
    }
}

/// Why a tunnel ended.
enum End {
    /// A side's read ended and what it had sent was passed on.
    Closed,
    ClientTimedOut,
    UpstreamTimedOut,
    /// A write failed, logged at info as nginx does (`send() failed (32: Broken pipe)`).
    SendFailed(io::Error),
    /// The generation's `worker_shutdown_timeout` passed (after a reload or a graceful
    /// stop): closed at once, logged like any tunnel that ends.
    ShutDown,
}

/// The state of a running tunnel.
struct Tunnel<'a> {
    client: &'a mut Stream,
    upstream: &'a mut Stream,
    /// Client → upstream.
    up: Owed,
    /// Upstream → client.
    down: Owed,
    client_eof: bool,
    upstream_eof: bool,
    /// A read that failed ended its side as an EOF does; logged when the tunnel ends.
    read_err: Option<io::Error>,
    /// When the tunnel last did anything: the base of all three timers, read from the
    /// coarse clock (a tunnel moves a message with no precise clock read).
    last: Instant,
    clock: Coarse,
    up_blocked: bool,
    down_blocked: bool,
    /// Bytes read from the upstream (the early ones included).
    from_upstream: u64,
}

/// Writes `owed` to `dst` as far as `dst` takes it. `Ok(true)`: all written (and flushed).
fn drain(cx: &mut Context<'_>, dst: &mut Stream, owed: &mut Owed) -> Result<bool, io::Error> {
    while owed.pos < owed.buf.len() {
        match dst.poll_write_from(cx, &owed.buf[owed.pos..]) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => {
                owed.pos += n;
                owed.unflushed |= dst.is_tls();
            }
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => return Ok(false),
        }
    }
    // Written: give the memory back.
    owed.buf = Vec::new();
    owed.pos = 0;
    if owed.unflushed {
        match Pin::new(&mut *dst).poll_flush(cx) {
            Poll::Ready(Ok(())) => owed.unflushed = false,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => return Ok(false),
        }
    }
    Ok(true)
}

/// Reads what `src` has and writes it on to `dst`; what `dst` does not take is kept in
/// `owed`. Returns whether anything moved, and marks `eof` when `src` ended.
fn pump(
    cx: &mut Context<'_>,
    src: &mut Stream,
    dst: &mut Stream,
    owed: &mut Owed,
    eof: &mut bool,
    read_err: &mut Option<io::Error>,
    moved: &mut u64,
) -> Result<bool, End> {
    let mut progress = false;
    // Only a TLS stream holds written bytes until flushed.
    let tls = dst.is_tls();
    loop {
        if !owed.is_clear() {
            let before = owed.pos;
            let done = drain(cx, dst, owed).map_err(End::SendFailed)?;
            progress |= owed.pos != before || done;
            if !done {
                return Ok(progress);
            }
        }
        if *eof {
            return Ok(progress);
        }
        let read = SCRATCH_BUF.with(|s| {
            let mut s = s.borrow_mut();
            match src.poll_read_into(cx, &mut s[..]) {
                Poll::Ready(Ok(0)) => Poll::Ready(Ok(None)),
                Poll::Ready(Ok(n)) => {
                    // Straight on to the other side; only the rest is copied.
                    let mut w = 0;
                    let mut err = None;
                    while w < n {
                        match dst.poll_write_from(cx, &s[w..n]) {
                            Poll::Ready(Ok(0)) => {
                                err = Some(io::Error::from(io::ErrorKind::WriteZero));
                                break;
                            }
                            Poll::Ready(Ok(k)) => {
                                w += k;
                                owed.unflushed |= tls;
                            }
                            Poll::Ready(Err(e)) => {
                                err = Some(e);
                                break;
                            }
                            Poll::Pending => break,
                        }
                    }
                    if w < n && err.is_none() {
                        owed.buf.extend_from_slice(&s[w..n]);
                    }
                    Poll::Ready(Ok(Some((n, err))))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        });
        match read {
            Poll::Pending => return Ok(progress),
            Poll::Ready(Ok(None)) => {
                *eof = true;
                return Ok(true);
            }
            Poll::Ready(Ok(Some((n, err)))) => {
                *moved += n as u64;
                progress = true;
                if let Some(e) = err {
                    return Err(End::SendFailed(e));
                }
            }
            Poll::Ready(Err(e)) => {
                // nginx treats a failed read as the end of that side (and says why at info).
                *eof = true;
                *read_err = Some(e);
                return Ok(true);
            }
        }
    }
}

impl Tunnel<'_> {
    /// Moves bytes until neither side can go on; `Some` when the tunnel is over. One pass
    /// does it: each direction is pumped until its read (or its blocked write) is pending,
    /// which registers the task's waker for it, and a direction never waits on the other.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Option<End> {
        let mut ignored = 0u64;
        let down = pump(
            cx,
            self.upstream,
            self.client,
            &mut self.down,
            &mut self.upstream_eof,
            &mut self.read_err,
            &mut self.from_upstream,
        );
        let down = match down {
            Ok(p) => p,
            Err(e) => return Some(e),
        };
        let up = match pump(
            cx,
            self.client,
            self.upstream,
            &mut self.up,
            &mut self.client_eof,
            &mut self.read_err,
            &mut ignored,
        ) {
            Ok(p) => p,
            Err(e) => return Some(e),
        };
        if down || up {
            self.last = self.clock.now();
        }
        // ngx_http_upstream_process_upgraded's end: a side ended and what it sent went on.
        if (self.upstream_eof && self.down.is_clear())
            || (self.client_eof && self.up.is_clear())
            || (self.upstream_eof && self.client_eof)
        {
            return Some(End::Closed);
        }
        self.up_blocked = !self.up.is_clear();
        self.down_blocked = !self.down.is_clear();
        None
    }

    fn down_owed(&self) -> u64 {
        (self.down.buf.len() - self.down.pos) as u64
    }
}

/// Runs the tunnel to its end, then writes the access-log line (status 101) and closes both
/// connections.
pub async fn run(
    mut r: Box<Request>,
    mut client: Stream,
    pipelined: Bytes,
    up: Box<Upgraded>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let Upgraded {
        mut upstream,
        early,
        read_timeout,
        upstream_send_timeout,
        client_send_timeout,
        log_schema,
        log_name,
        log_unix,
        log_uri,
    } = *up;
    let started = std::time::Instant::now();
    let clock = Coarse::start();
    upstream.set_nodelay();
    let early_len = early.len() as u64;
    let mut t = Tunnel {
        client: &mut client,
        upstream: &mut upstream,
        // Bytes the client pipelined after its request go to the upstream first.
        up: Owed {
            buf: pipelined.to_vec(),
            pos: 0,
            unflushed: false,
        },
        down: Owed {
            buf: early.to_vec(),
            pos: 0,
            unflushed: false,
        },
        client_eof: false,
        upstream_eof: false,
        read_err: None,
        last: clock.now(),
        clock,
        up_blocked: false,
        down_blocked: false,
        from_upstream: early_len,
    };
    drop(pipelined);
    drop(early);

    // One timer for the three of nginx's: it is set to the earliest deadline that may apply
    // and, when it fires early (traffic moved `last` on), set again. Traffic itself never
    // touches the timer.
    let sleep = tokio::time::sleep(read_timeout);
    tokio::pin!(sleep);
    tokio::pin!(shutdown);
    let end = std::future::poll_fn(|cx| loop {
        if let Some(end) = t.poll_step(cx) {
            return Poll::Ready(end);
        }
        if shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(End::ShutDown);
        }
        let mut deadline = t.last + read_timeout;
        let mut fired = End::UpstreamTimedOut;
        if t.up_blocked {
            deadline = deadline.min(t.last + upstream_send_timeout);
        }
        if t.down_blocked && t.last + client_send_timeout <= deadline {
            deadline = t.last + client_send_timeout;
            fired = End::ClientTimedOut;
        }
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        match sleep.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(()) if tokio::time::Instant::now() >= deadline => {
                return Poll::Ready(fired)
            }
            Poll::Ready(()) => sleep.as_mut().reset(deadline),
        }
    })
    .await;
    // What the client got: all that was read from the upstream but what it still owed.
    let to_client = t.from_upstream - t.down_owed();
    let log_upstream = LogUpstream {
        schema: log_schema,
        name: &log_name,
        unix: log_unix,
        uri: &log_uri,
    };
    let say = |r: &Request, msg: std::fmt::Arguments<'_>| {
        log::error_full(
            r,
            Level::Info,
            msg,
            Some("proxying upgraded connection"),
            Some(&log_upstream),
        )
    };
    if let Some(e) = &t.read_err {
        say(&r, format_args!("recv() failed {}", errno_text(e)));
    }
    match &end {
        End::Closed | End::ShutDown => {}
        End::ClientTimedOut => say(
            &r,
            format_args!("client timed out (110: Connection timed out)"),
        ),
        End::UpstreamTimedOut => say(
            &r,
            format_args!("upstream timed out (110: Connection timed out)"),
        ),
        End::SendFailed(e) => say(&r, format_args!("send() failed {}", errno_text(e))),
    }
    r.sent.body_bytes = to_client;
    if let Some(try_) = r.upstream.current() {
        if let Some(ms) = &mut try_.response_ms {
            *ms += started.elapsed().as_millis() as u64;
        }
        try_.bytes_received += t.from_upstream;
    }
    drop(t);
    access(&mut r);
    drop(upstream);
    // nginx ends a tunnel that closed, or whose upstream timed out, as any request (lingering
    // when the client has sent more), and one whose client timed out or a write failed at
    // once (`ngx_http_terminate_request`).
    let linger = matches!(end, End::Closed | End::UpstreamTimedOut) && client.data_ready();
    close(&mut client, linger).await;
}
