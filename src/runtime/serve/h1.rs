//! An HTTP/1 connection (S13.4): reading request heads with nginx's header buffers and
//! timers (S9, S13.10), running each request through the phases, keep-alive and pipelining,
//! a tunnel after an upgrade (S11), and closing the way nginx closes (lingering after a body
//! the client may still be sending).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};

use super::open::Open;
use super::request::{first_srv, limits_of, log_invalid_headers, new_request, refuse};
use crate::ir::Level;
use crate::runtime::base::http1::request::{
    self as http1, BufferState, Limits, Parse, Reject, RequestHead,
};
use crate::runtime::base::io::{self, IoError, Stream};
use crate::runtime::http::log::access;
use crate::runtime::http::{body, phases, tunnel};
use crate::runtime::state::conn::{Client, ConnInfo};
use crate::runtime::state::log;
use crate::runtime::state::Snapshot;

/// How waiting for a request head ended without one.
enum NoHead {
    /// Closed or idle: close silently (nginx logs nothing, or at info).
    Quiet,
    /// Part of a request arrived, then a timeout (408) or the client closed (400): nginx
    /// logs the request with that status and closes without answering.
    Partial(Partial),
    /// The head is malformed or too large: nginx answers with its error page. The head is
    /// what nginx knew of the request when it refused it.
    Reject(Reject, Box<RequestHead>),
}

/// A head cut short by a timeout or a close: the status nginx logs, what it knew, and its
/// error-log line.
struct Partial {
    status: u16,
    head: Box<RequestHead>,
    msg: String,
    action: &'static str,
}

impl Partial {
    fn new(status: u16, c: &Client, limits: &Limits, state: BufferState, msg: String) -> Partial {
        let mut head = http1::rejected_head(&c.buf, limits, state);
        let mut action = "reading client request headers";
        if head.request_line.is_empty() {
            // The request line is incomplete: nginx logs what arrived of it.
            let start = c
                .buf
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .unwrap_or(c.buf.len());
            let end = c.buf[start..]
                .iter()
                .position(|&b| b == b'\r' || b == b'\n')
                .map_or(c.buf.len(), |n| start + n);
            head = RequestHead::bad_request(Bytes::copy_from_slice(&c.buf[start..end]));
            action = "reading client request line";
        }
        Partial {
            status,
            head: Box::new(head),
            msg,
            action,
        }
    }
}

/// Serves HTTP/1 requests on a connection until it closes. `plain_on_tls`: a plain HTTP
/// request on a TLS address, answered with nginx's 497 (S12.5).
pub async fn serve(
    stream: Stream,
    mut conn: Arc<ConnInfo>,
    mut snap: Arc<Snapshot>,
    mut open: Open,
    plain_on_tls: bool,
) {
    let (limits, header_timeout) = {
        let srv = first_srv(&snap, &conn);
        (limits_of(srv), srv.client_header_timeout)
    };
    let mut c = Client {
        stream,
        buf: BytesMut::with_capacity(limits.client_header_buffer_size.max(1024)),
    };
    let mut requests = 0u64;
    let mut idle_timeout: Option<Duration> = None;
    let mut state = BufferState::fresh(&limits);
    loop {
        let pipelined = !c.buf.is_empty();
        if !pipelined {
            state = BufferState::fresh(&limits);
        }
        let (head, started, started_wall) = match read_head(
            &mut c,
            &limits,
            state,
            header_timeout,
            idle_timeout,
            &snap,
            &conn,
            &open,
        )
        .await
        {
            Ok(x) => x,
            Err(NoHead::Quiet) => return,
            Err(NoHead::Partial(p)) => {
                requests += 1;
                let mut r = new_request(&snap, &conn, *p.head, requests, pipelined, false, None);
                let host_known = r.head.host_header.is_some();
                log::error_parse(
                    &r,
                    Level::Info,
                    format_args!("{}", p.msg),
                    p.action,
                    host_known,
                );
                r.sent.status = p.status;
                r.sent.incomplete = true;
                access(&mut r);
                return;
            }
            Err(NoHead::Reject(rej, head)) => {
                requests += 1;
                refuse(&snap, &conn, &mut c, rej, *head, requests, pipelined).await;
                return;
            }
        };
        requests += 1;
        state = head.buffer;
        // After a reload, a new request runs on the new configuration.
        open.adopt(&mut snap, &mut conn);
        let mut r = new_request(
            &snap,
            &conn,
            head,
            requests,
            pipelined,
            true,
            Some((started, started_wall)),
        );
        log_invalid_headers(&r);
        if plain_on_tls {
            // S12.5: the whole head was read; nginx then refuses it with its 497 (sent as
            // 400 unless an error_page handles 497).
            log::error_full(
                &r,
                Level::Info,
                format_args!("client sent plain HTTP request to HTTPS port"),
                Some("reading client request headers"),
                None,
            );
            phases::handle_status(&mut r, &mut c, 497).await;
        } else {
            phases::handle(&mut r, &mut c).await;
        }
        if let Some(up) = r.upgraded.take() {
            // The connection is a tunnel from now on: a task of its own, so that this
            // pipeline's state is freed while the tunnel idles.
            let pipelined = c.buf.split().freeze();
            let Client { stream, .. } = c;
            // Boxed before the task takes it: the task's size is what an idle tunnel costs.
            let r = Box::new(r);
            // A tunnel outlives reloads on its own configuration, until it ends or its
            // generation's `worker_shutdown_timeout` passes.
            let kill = open.kill();
            tokio::task::spawn_local(async move {
                tunnel::run(r, stream, pipelined, up, kill).await;
                drop(open);
            });
            return;
        }
        access(&mut r);
        idle_timeout = Some(r.conf.keepalive_timeout);
        let body_bytes = r
            .request_length
            .saturating_sub(r.head.request_length as u64);
        state = state.advance(body_bytes as usize);
        // A graceful stop (or a reload that removed this socket) ends keep-alive.
        if !r.keepalive || open.closing() {
            // nginx lingers only when the client may still be sending (a body, more bytes).
            let linger = (r.lingering_close && !r.body_done) || !c.buf.is_empty();
            io::close(&mut c.stream, linger).await;
            return;
        }
        if !r.body_done && !body::finish_discard(&mut r, &mut c).await {
            io::close(&mut c.stream, false).await;
            return;
        }
    }
}

/// Reads until a complete head is buffered. The first request waits `client_header_timeout`
/// from the accept, later ones `keepalive_timeout` for their first byte and then
/// `client_header_timeout` for the rest (S9).
#[allow(clippy::too_many_arguments)] // the head's state, the names logs need, the orders
async fn read_head(
    c: &mut Client,
    limits: &Limits,
    state: BufferState,
    header_timeout: Duration,
    idle_timeout: Option<Duration>,
    snap: &Snapshot,
    conn: &ConnInfo,
    open: &Open,
) -> Result<(RequestHead, Instant, SystemTime), NoHead> {
    // The clock is read as few times as possible: once here, once when the first byte of a
    // request arrives.
    let entered = Instant::now();
    let mut started = if c.buf.is_empty() {
        None
    } else {
        Some((entered, SystemTime::now()))
    };
    let first_deadline = entered + idle_timeout.unwrap_or(header_timeout);
    let mut now = Some(entered);
    let mut head_deadline = match (idle_timeout, started) {
        (None, _) => Some(conn.accepted + header_timeout),
        (Some(_), Some((t, _))) => Some(t + header_timeout),
        (Some(_), None) => None,
    };
    loop {
        if !c.buf.is_empty() {
            match http1::parse_buf(&mut c.buf, limits, state) {
                Ok(Parse::Complete(head)) => {
                    let (t, w) = started.unwrap_or((Instant::now(), SystemTime::now()));
                    return Ok((head, t, w));
                }
                Ok(Parse::Partial) => {}
                Err(rej) => {
                    let head = http1::rejected_head(&c.buf, limits, state);
                    return Err(NoHead::Reject(rej, Box::new(head)));
                }
            }
        }
        let deadline = head_deadline.unwrap_or(first_deadline);
        let now = now.take().unwrap_or_else(Instant::now);
        let timeout = deadline.saturating_duration_since(now);
        if c.buf.capacity() - c.buf.len() < 512 {
            c.buf.reserve(limits.large_buffer_size.max(1024));
        }
        // Waiting for a request's first byte, the connection is idle (nginx's reusable
        // connection): a graceful stop, a reload or a shortage of connections may close it.
        let idle = c.buf.is_empty();
        let read = io::read_buf(&mut c.stream, &mut c.buf, timeout);
        let read = if idle {
            match open.unless_closed(conn, read).await {
                Some(r) => r,
                None => return Err(NoHead::Quiet),
            }
        } else {
            read.await
        };
        match read {
            Ok(0) => {
                if c.buf.is_empty() {
                    match idle_timeout {
                        None => log::conn_error(
                            snap,
                            conn,
                            Level::Info,
                            format_args!("client closed connection"),
                            Some("waiting for request"),
                        ),
                        // nginx's keep-alive handler logs without the usual context.
                        Some(_) => log::conn_bare(
                            snap,
                            conn,
                            Level::Info,
                            format_args!("closed keepalive connection"),
                        ),
                    }
                    return Err(NoHead::Quiet);
                }
                return Err(NoHead::Partial(Partial::new(
                    400,
                    c,
                    limits,
                    state,
                    "client prematurely closed connection".to_string(),
                )));
            }
            Ok(_) => {
                if started.is_none() {
                    let t = Instant::now();
                    started = Some((t, SystemTime::now()));
                    if head_deadline.is_none() {
                        head_deadline = Some(t + header_timeout);
                    }
                }
            }
            Err(IoError::TimedOut) => {
                if c.buf.is_empty() {
                    if idle_timeout.is_none() {
                        log::conn_error(
                            snap,
                            conn,
                            Level::Info,
                            format_args!("client timed out (110: Connection timed out)"),
                            Some("waiting for request"),
                        );
                    }
                    return Err(NoHead::Quiet);
                }
                return Err(NoHead::Partial(Partial::new(
                    408,
                    c,
                    limits,
                    state,
                    "client timed out (110: Connection timed out)".to_string(),
                )));
            }
            Err(IoError::Io(e)) => {
                log::conn_error(
                    snap,
                    conn,
                    Level::Info,
                    format_args!("recv() failed {}", io::errno_text(&e)),
                    Some("reading client request headers"),
                );
                return Err(NoHead::Quiet);
            }
        }
    }
}
