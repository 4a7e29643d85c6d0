//! A tunnel as a task of its own, for streams that are not plain sockets (a TLS client, an
//! upstream of `proxy_pass https://`): each direction is pumped through the streams'
//! `AsyncRead`/`AsyncWrite`, the task's one timer set to the earliest of nginx's three.
//!
//! The task is spawned once the 101 head is written, so the request pipeline's state (and its
//! buffers) is freed: what an idle tunnel keeps is the two streams, the request (for the
//! access-log line written when the tunnel ends) and this task's small state.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWrite;

use super::{finish, End, Meta, Outcome, SCRATCH};
use crate::runtime::base::clock::Coarse;
use crate::runtime::base::io::{close, Stream};
use crate::runtime::state::request::Request;

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
    mut upstream: Stream,
    early: Bytes,
    meta: Meta,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let started = std::time::Instant::now();
    let clock = Coarse::start();
    upstream.set_nodelay();
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
        from_upstream: early.len() as u64,
    };
    drop(pipelined);
    drop(early);

    // One timer for the three of nginx's: it is set to the earliest deadline that may apply
    // and, when it fires early (traffic moved `last` on), set again. Traffic itself never
    // touches the timer.
    let sleep = tokio::time::sleep(meta.read_timeout);
    tokio::pin!(sleep);
    tokio::pin!(shutdown);
    let end = std::future::poll_fn(|cx| loop {
        if let Some(end) = t.poll_step(cx) {
            return Poll::Ready(end);
        }
        if shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(End::ShutDown);
        }
        let (deadline, fired) = meta.deadline(t.last, t.up_blocked, t.down_blocked);
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
    let out = Outcome {
        end,
        read_err: t.read_err.take(),
        from_upstream: t.from_upstream,
        down_owed: t.down_owed(),
        started,
    };
    drop(t);
    let linger = finish(&mut r, &meta, out) && client.data_ready();
    drop(upstream);
    close(&mut client, linger).await;
}
