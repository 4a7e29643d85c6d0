//! An HTTP/1 connection (S13.4): reading request heads with nginx's header buffers and
//! timers (S9, S13.10), running each request through the phases, keep-alive and pipelining,
//! a tunnel after an upgrade (S11), and closing the way nginx closes (lingering after a body
//! the client may still be sending).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};

use super::open::Open;
use super::request::{first_srv, limits_of, log_invalid_headers, new_request, refuse};
use super::tunnels;
use crate::ir::Level;
use crate::runtime::base::http1::request::{
    self as http1, BufferState, Limits, Parse, Reject, RequestHead,
};
use crate::runtime::base::io::{self, IoError, Stream};
use crate::runtime::http::log::access;
use crate::runtime::http::{body, phases, tunnel};
use crate::runtime::state::conn::{Client, ConnInfo};
use crate::runtime::state::log;
use crate::runtime::state::request::Request;
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
            head = Box::new(RequestHead::bad_request(Bytes::copy_from_slice(
                &c.buf[start..end],
            )));
            action = "reading client request line";
        }
        Partial {
            status,
            head,
            msg,
            action,
        }
    }
}

/// An HTTP/1 connection while it serves requests.
struct Connection {
    c: Client,
    snap: Arc<Snapshot>,
    conn: Arc<ConnInfo>,
    open: Open,
    /// The header buffers and timeout of the server the connection starts with.
    limits: Limits,
    header_timeout: Duration,
    /// Requests so far (`$connection_requests`).
    requests: u64,
}

/// Where the next head starts and how long it may take to come.
#[derive(Clone, Copy)]
struct Wait {
    state: BufferState,
    /// `keepalive_timeout` before a later request's first byte; `None` for the first
    /// request, which has `client_header_timeout` from the accept.
    idle_timeout: Option<Duration>,
}

/// Serves HTTP/1 requests on a connection until it closes. `plain_on_tls`: a plain HTTP
/// request on a TLS address, answered with nginx's 497 (S12.5).
pub async fn serve(
    stream: Stream,
    conn: Arc<ConnInfo>,
    snap: Arc<Snapshot>,
    open: Open,
    plain_on_tls: bool,
) {
    let (limits, header_timeout) = {
        let srv = first_srv(&snap, &conn);
        (limits_of(srv), srv.client_header_timeout)
    };
    let c = Client {
        stream,
        buf: BytesMut::with_capacity(limits.client_header_buffer_size.max(1024)),
    };
    let mut k = Connection {
        c,
        snap,
        conn,
        open,
        limits,
        header_timeout,
        requests: 0,
    };
    let mut wait = Wait {
        state: BufferState::fresh(&k.limits),
        idle_timeout: None,
    };
    loop {
        let pipelined = !k.c.buf.is_empty();
        if !pipelined {
            wait.state = BufferState::fresh(&k.limits);
        }
        let (head, started) = match k.read_head(wait).await {
            Ok(x) => x,
            Err(no) => return k.no_head(no, pipelined).await,
        };
        k.requests += 1;
        wait.state = head.buffer;
        // After a reload, a new request runs on the new configuration.
        k.open.adopt(&mut k.snap, &mut k.conn);
        let mut r = new_request(
            &k.snap,
            &k.conn,
            head,
            k.requests,
            pipelined,
            true,
            Some(started),
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
            phases::handle_status(&mut r, &mut k.c, 497).await;
        } else {
            phases::handle(&mut r, &mut k.c).await;
        }
        if r.upgraded.is_some() {
            return k.into_tunnel(r);
        }
        access(&mut r);
        wait.idle_timeout = Some(r.conf.keepalive_timeout);
        let body_bytes = r
            .request_length
            .saturating_sub(r.head.request_length as u64);
        wait.state = wait.state.advance(body_bytes as usize);
        if !k.keep_alive(&mut r).await {
            return;
        }
    }
}

impl Connection {
    /// Whether the connection waits for another request; closes it if not.
    async fn keep_alive(&mut self, r: &mut Request) -> bool {
        // A graceful stop (or a reload that removed this socket) ends keep-alive.
        if !r.keepalive || self.open.closing() {
            // nginx lingers only when the client may still be sending (a body, more bytes).
            let linger = (r.lingering_close && !r.body_done) || !self.c.buf.is_empty();
            io::close(&mut self.c.stream, linger).await;
            return false;
        }
        if !r.body_done && !body::finish_discard(r, &mut self.c).await {
            io::close(&mut self.c.stream, false).await;
            return false;
        }
        true
    }

    /// The connection is a tunnel from now on: the worker's tunnel loop takes its sockets,
    /// so this pipeline's state is freed while the tunnel idles (the request, boxed, stays
    /// for the access-log line written when the tunnel ends).
    fn into_tunnel(self, mut r: Request) {
        let Some(up) = r.upgraded.take() else {
            return;
        };
        let Connection { mut c, open, .. } = self;
        let pipelined = c.buf.split().freeze();
        let (upstream, early, carry, meta) = tunnel::Meta::split(*up);
        // nginx sets TCP_NODELAY on both connections of an upgraded one.
        c.stream.set_nodelay();
        upstream.set_nodelay();
        // Both are sockets (an HTTP/2 stream is never upgraded); should tokio not let one
        // go, the connection closes.
        if let (Some(client), Some(upstream)) = (tunnels::side(c.stream), tunnels::side(upstream)) {
            let handoff = tunnels::Handoff {
                client,
                upstream,
                pipelined: &pipelined,
                early: &early,
                carry,
                meta,
            };
            tunnels::adopt(open, Box::new(r), handoff);
        }
    }

    /// No head came: a part of one (logged with its status, no answer), a refused one
    /// (answered with nginx's page), or nothing.
    async fn no_head(mut self, no: NoHead, pipelined: bool) {
        match no {
            NoHead::Quiet => {}
            NoHead::Partial(p) => {
                self.requests += 1;
                let (snap, conn) = (&self.snap, &self.conn);
                let mut r = new_request(snap, conn, p.head, self.requests, pipelined, false, None);
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
            }
            NoHead::Reject(rej, head) => {
                self.requests += 1;
                let (snap, conn) = (&self.snap, &self.conn);
                refuse(snap, conn, &mut self.c, rej, head, self.requests, pipelined).await;
            }
        }
    }

    /// Reads until a complete head is buffered. The first request waits
    /// `client_header_timeout` from the accept, later ones `keepalive_timeout` for their
    /// first byte and then `client_header_timeout` for the rest (S9).
    async fn read_head(&mut self, wait: Wait) -> Result<(Box<RequestHead>, Started), NoHead> {
        // The clock is read as few times as possible: once here, once when the first byte
        // of a request arrives.
        let entered = Instant::now();
        let mut started = if self.c.buf.is_empty() {
            None
        } else {
            Some((entered, SystemTime::now()))
        };
        let header_timeout = self.header_timeout;
        let first_deadline = entered + wait.idle_timeout.unwrap_or(header_timeout);
        let mut now = Some(entered);
        let mut head_deadline = match (wait.idle_timeout, started) {
            (None, _) => Some(self.conn.accepted + header_timeout),
            (Some(_), Some((t, _))) => Some(t + header_timeout),
            (Some(_), None) => None,
        };
        loop {
            if let Some(parsed) = self.parse(wait.state, started)? {
                return Ok(parsed);
            }
            let deadline = head_deadline.unwrap_or(first_deadline);
            let now = now.take().unwrap_or_else(Instant::now);
            let timeout = deadline.saturating_duration_since(now);
            let c = &mut self.c;
            if c.buf.capacity() - c.buf.len() < 512 {
                c.buf.reserve(self.limits.large_buffer_size.max(1024));
            }
            // Waiting for a request's first byte, the connection is idle (nginx's reusable
            // connection): a graceful stop, a reload or a shortage of connections may close
            // it.
            let idle = c.buf.is_empty();
            let read = io::read_buf(&mut c.stream, &mut c.buf, timeout);
            let read = if idle {
                match self.open.unless_closed(&self.conn, read).await {
                    Some(r) => r,
                    None => return Err(NoHead::Quiet),
                }
            } else {
                read.await
            };
            match read {
                Ok(0) => return Err(self.closed(wait)),
                Ok(_) => {
                    if started.is_none() {
                        let t = Instant::now();
                        started = Some((t, SystemTime::now()));
                        head_deadline.get_or_insert(t + header_timeout);
                    }
                }
                Err(e) => return Err(self.failed(wait, e)),
            }
        }
    }

    /// Parses what is buffered: a complete head, a refusal, or `None` for more bytes.
    fn parse(
        &mut self,
        state: BufferState,
        started: Option<Started>,
    ) -> Result<Option<(Box<RequestHead>, Started)>, NoHead> {
        if self.c.buf.is_empty() {
            return Ok(None);
        }
        match http1::parse_buf(&mut self.c.buf, &self.limits, state) {
            Ok(Parse::Complete(head)) => {
                let started = started.unwrap_or_else(|| (Instant::now(), SystemTime::now()));
                Ok(Some((head, started)))
            }
            Ok(Parse::Partial) => Ok(None),
            Err(rej) => {
                let head = http1::rejected_head(&self.c.buf, &self.limits, state);
                Err(NoHead::Reject(rej, head))
            }
        }
    }

    /// The client closed the connection while a head was awaited.
    fn closed(&self, wait: Wait) -> NoHead {
        let (snap, conn) = (&self.snap, &self.conn);
        if !self.c.buf.is_empty() {
            let msg = "client prematurely closed connection".to_string();
            return NoHead::Partial(Partial::new(400, &self.c, &self.limits, wait.state, msg));
        }
        match wait.idle_timeout {
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
        NoHead::Quiet
    }

    /// A read failed or timed out while a head was awaited.
    fn failed(&self, wait: Wait, e: IoError) -> NoHead {
        let (snap, conn) = (&self.snap, &self.conn);
        match e {
            IoError::TimedOut if self.c.buf.is_empty() => {
                if wait.idle_timeout.is_none() {
                    log::conn_error(
                        snap,
                        conn,
                        Level::Info,
                        format_args!("client timed out (110: Connection timed out)"),
                        Some("waiting for request"),
                    );
                }
                NoHead::Quiet
            }
            IoError::TimedOut => {
                let msg = "client timed out (110: Connection timed out)".to_string();
                NoHead::Partial(Partial::new(408, &self.c, &self.limits, wait.state, msg))
            }
            IoError::Io(e) => {
                log::conn_error(
                    snap,
                    conn,
                    Level::Info,
                    format_args!("recv() failed {}", io::errno_text(&e)),
                    Some("reading client request headers"),
                );
                NoHead::Quiet
            }
        }
    }
}

/// When a request's first byte arrived (monotonic and wall clock).
type Started = (Instant, SystemTime);
