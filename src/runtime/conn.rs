//! One client connection: reading request heads with nginx's buffers and timers, choosing the
//! virtual server (S2.4, S2.6), running each request, keep-alive and pipelining (S13.4), and
//! closing the way nginx closes (lingering after errors).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use super::handler;
use super::http1::request::{self as http1, BufferState, Limits, Parse, Reject, RequestHead};
use super::io::{self, IoError, Stream};
use super::log;
use super::request::{ConnInfo, Request, Sent, UpstreamState, URI_CHANGES};
use super::respond::HeadersOut;
use super::route;
use super::tls;
use super::worker::Open;
use super::Snapshot;
use crate::ir::Level;

/// The client side of a connection: the stream and the bytes read but not yet used
/// (a pipelined request, the start of a body).
pub struct Client {
    pub stream: Stream,
    pub buf: BytesMut,
}

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

/// Serves a connection until it closes.
pub async fn serve(stream: Stream, mut conn: ConnInfo, mut snap: Arc<Snapshot>, mut open: Open) {
    let mut plain_on_tls = false;
    let stream = if snap.http().sockets[conn.socket].addrs[conn.addr].ssl {
        match tls::accept(stream, &snap, &conn).await {
            tls::Accepted::Tls(s, info) => {
                conn.https = true;
                conn.tls = Some(info);
                s
            }
            tls::Accepted::Plain(s) => {
                plain_on_tls = true;
                s
            }
            tls::Accepted::Closed => return,
        }
    } else {
        stream
    };
    {
        let ac = &snap.http().sockets[conn.socket].addrs[conn.addr];
        let default = &snap.http().servers[ac.default_server.0 as usize];
        // S12.7: h2 when ALPN chose it; a plaintext `listen ... http2` speaks only HTTP/2;
        // with `http2 on` (nginx 1.25.1) a plaintext address speaks both, by the preface.
        conn.http2 = match &conn.tls {
            Some(t) => t.alpn.as_deref() == Some(b"h2"),
            None if plain_on_tls => false,
            None if ac.http2 => true,
            None if default.http2 && !ac.ssl => {
                starts_with_preface(&stream, default.srv.client_header_timeout).await
            }
            None => false,
        };
    }
    let mut conn = Arc::new(conn);
    if conn.http2 {
        return super::h2::serve(stream, conn, snap, open).await;
    }
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
                log::access(&mut r);
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
            handler::handle_status(&mut r, &mut c, 497).await;
        } else {
            handler::handle(&mut r, &mut c).await;
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
                super::tunnel::run(r, stream, pipelined, up, kill).await;
                drop(open);
            });
            return;
        }
        log::access(&mut r);
        idle_timeout = Some(r.conf.keepalive_timeout);
        let body_bytes = r
            .request_length
            .saturating_sub(r.head.request_length as u64);
        state = state.advance(body_bytes as usize);
        // A graceful stop (or a reload that removed this socket) ends keep-alive.
        if !r.keepalive || open.closing() {
            // nginx lingers only when the client may still be sending (a body, more bytes).
            let linger = (r.lingering_close && !r.body_done) || !c.buf.is_empty();
            close(&mut c, linger).await;
            return;
        }
        if !r.body_done && !super::body::finish_discard(&mut r, &mut c).await {
            close(&mut c, false).await;
            return;
        }
    }
}

/// Whether a plaintext connection opens with HTTP/2's connection preface (nginx 1.25's test
/// for `http2 on`), looking without taking: the bytes stay for whichever protocol reads them.
async fn starts_with_preface(stream: &Stream, timeout: Duration) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let Stream::Tcp(tcp) = stream else {
        return false;
    };
    let until = Instant::now() + timeout;
    let mut seen = 0;
    let mut buf = [0u8; 24];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let n = match io::timed(left, tcp.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return false,
        };
        if n == 0 || buf[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        if n == seen {
            // A preface split over packets (rare): look again shortly.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen = n;
    }
}

/// One HTTP/2 stream's request, on its pipe (see `h2`): `head` is the HTTP/1 form of its
/// headers, parsed here with the limits of the connection's server and then marked HTTP/2.0.
pub(crate) async fn serve_h2_stream(
    stream: Stream,
    mut head: BytesMut,
    conn: Arc<ConnInfo>,
    snap: Arc<Snapshot>,
    n: u64,
) {
    let started = (Instant::now(), SystemTime::now());
    let srv = first_srv(&snap, &conn);
    let limits = Limits {
        // HTTP/2 headers are not read into nginx's header buffers: only the line limit.
        client_header_buffer_size: head.len().max(srv.client_header_buffer_size),
        ..limits_of(srv)
    };
    let state = BufferState::fresh(&limits);
    let mut c = Client {
        stream,
        buf: BytesMut::new(),
    };
    let head = match http1::parse_buf(&mut head, &limits, state) {
        Ok(Parse::Complete(mut h)) => {
            // Parsed as 1.1; the line says what the client spoke. The buffer is the parser's
            // own (nothing else holds it), so this is no copy.
            let mut buf = std::mem::take(&mut h.buf)
                .try_into_mut()
                .unwrap_or_else(|b| BytesMut::from(&b[..]));
            buf[h.http_protocol.clone()].copy_from_slice(b"HTTP/2.0");
            h.buf = buf.freeze();
            h.http_major = 2;
            h.http_minor = 0;
            h
        }
        Ok(Parse::Partial) => return,
        Err(rej) => {
            let rejected = http1::rejected_head(&head, &limits, state);
            refuse(&snap, &conn, &mut c, rej, rejected, n, false).await;
            return;
        }
    };
    let mut r = new_request(&snap, &conn, head, n, false, true, Some(started));
    log_invalid_headers(&r);
    handler::handle(&mut r, &mut c).await;
    // No tunnel over HTTP/2 (nginx 1.22 has no extended CONNECT): an upgrade is dropped.
    drop(r.upgraded.take());
    log::access(&mut r);
    // A body the request did not read is not drained: the stream ends here (hyper resets
    // it if the client is still sending), there is no next request on it.
    close(&mut c, false).await;
}

/// The server whose header buffers and timeout a connection starts with: the one SNI chose,
/// else the address's default, until a Host names another.
pub(crate) fn first_server<'a>(snap: &'a Snapshot, conn: &ConnInfo) -> &'a crate::ir::Server {
    let ac = &snap.http().sockets[conn.socket].addrs[conn.addr];
    let first = conn.tls.as_ref().map_or(ac.default_server, |t| t.server);
    &snap.http().servers[first.0 as usize]
}

fn first_srv<'a>(snap: &'a Snapshot, conn: &ConnInfo) -> &'a crate::ir::server::SrvConf {
    &first_server(snap, conn).srv
}

fn limits_of(srv: &crate::ir::server::SrvConf) -> Limits {
    Limits {
        client_header_buffer_size: srv.client_header_buffer_size,
        large_buffers: srv.large_client_header_buffers.0,
        large_buffer_size: srv.large_client_header_buffers.1,
        underscores_in_headers: srv.underscores_in_headers,
        ignore_invalid_headers: srv.ignore_invalid_headers,
        merge_slashes: srv.merge_slashes,
    }
}

/// A head nginx refuses with its error page (malformed, too large, ...): logged, answered,
/// and the connection closed, as nginx has not decided on keep-alive yet.
async fn refuse(
    snap: &Arc<Snapshot>,
    conn: &Arc<ConnInfo>,
    c: &mut Client,
    rej: Reject,
    head: RequestHead,
    n: u64,
    pipelined: bool,
) {
    // Refusals after the whole head (ngx_http_process_request_header) come once the server
    // was looked up, even for an empty host.
    let after_head = reject_after_head(&rej);
    let mut r = new_request(snap, conn, head, n, pipelined, after_head, None);
    r.keepalive = false;
    if matches!(rej, Reject::Http09BadRequest(_)) {
        // The page alone, as to any HTTP/0.9 request.
        r.head.http09 = true;
    }
    log::error_full(
        &r,
        Level::Info,
        format_args!("{}", rej.message()),
        Some(reject_action(&rej)),
        None,
    );
    let next = handler::special(&mut r, c, rej.status()).await;
    debug_assert!(matches!(next, handler::Next::Done));
    log::access(&mut r);
    close(c, false).await;
}

/// nginx logs each header line it ignores (S6.7), at info, while it reads the head: with the
/// default server and no host unless the Host line came first.
fn log_invalid_headers(r: &Request) {
    for line in &r.head.invalid_headers {
        let host_first = r
            .head
            .host_header
            .is_some_and(|i| r.head.headers[i].name.start < line.start);
        log::error_parse(
            r,
            Level::Info,
            format_args!(
                "client sent invalid header line: \"{}\"",
                crate::source::show_bytes(&r.head.buf[line.clone()])
            ),
            "reading client request headers",
            host_first,
        );
    }
}

/// Whether nginx refuses this in `ngx_http_process_request_header`, after every header line.
fn reject_after_head(rej: &Reject) -> bool {
    match rej {
        Reject::NotAllowed(_) => true,
        Reject::NotImplemented(_) => true,
        Reject::BadRequest(m) => {
            m.starts_with("client sent HTTP/1.1 request without")
                || m.starts_with("client sent invalid \"Content-Length\"")
                || m.starts_with("client sent HTTP/1.0 request with")
                || m.starts_with("client sent \"Content-Length\" and")
        }
        _ => false,
    }
}

/// Which phase nginx was in when it refused a head (the `while ...` of its log line).
fn reject_action(rej: &Reject) -> &'static str {
    match rej {
        Reject::UriTooLong | Reject::VersionNotSupported | Reject::Http09BadRequest(_) => {
            "reading client request line"
        }
        Reject::BadRequest(m)
            if m.starts_with("client sent invalid method")
                || m == "client sent invalid request"
                || m.starts_with("client sent invalid host in request line") =>
        {
            "reading client request line"
        }
        _ => "reading client request headers",
    }
}

/// A request for a head; `complete`: the head was accepted (nginx then looks up the server
/// even for an empty host), rather than refused or cut short (the server is the default one
/// unless a Host line was already processed).
pub(crate) fn new_request(
    snap: &Arc<Snapshot>,
    conn: &Arc<ConnInfo>,
    head: RequestHead,
    n: u64,
    pipelined: bool,
    complete: bool,
    started: Option<(Instant, SystemTime)>,
) -> Request {
    let (start, start_wall) = started.unwrap_or_else(|| (Instant::now(), SystemTime::now()));
    let ac = &snap.http().sockets[conn.socket].addrs[conn.addr];
    let host_in = head.host.clone().unwrap_or_default();
    let (server_id, captures) = if complete || head.host.is_some() {
        route::select_server(ac, &host_in)
    } else {
        (ac.default_server, None)
    };
    let server = &snap.http().servers[server_id.0 as usize];
    let has_host = !host_in.is_empty();
    let host = if has_host {
        Bytes::from(host_in)
    } else {
        Bytes::copy_from_slice(&server.server_name)
    };
    let keepalive = !head.http09 && head.keepalive();
    let args = head
        .args
        .clone()
        .filter(|a| !a.is_empty())
        .map(|a| head.buf.slice(a));
    let uri = head.uri.clone();
    let request_length = head.request_length as u64;
    let lingering_close = head.content_length.is_some_and(|n| n > 0) || head.chunked;
    let mut r = Request {
        snap: Arc::clone(snap),
        conn: Arc::clone(conn),
        method: head.method,
        method_get: false,
        uri,
        args,
        head,
        conn_requests: n,
        start,
        start_wall,
        server_id,
        uri_changed: false,
        uri_research: false,
        valid_location: true,
        set_vars: Vec::new(),
        internal: false,
        uri_changes: URI_CHANGES,
        error_page: false,
        err_status: None,
        host,
        has_host,
        conf: Arc::clone(&server.conf),
        captures: None,
        named_captures: Vec::new(),
        maps: Vec::new(),
        keepalive,
        lingering_close,
        expect_tested: false,
        upstream: UpstreamState::default(),
        sent: Sent::default(),
        request_length,
        body_done: false,
        body_reader: None,
        out: HeadersOut::default(),
        pipelined,
        add_uri_to_alias: false,
        filter_finalize: false,
        upgraded: None,
        gzip: None,
        gzip_vary: false,
    };
    if let Some(caps) = captures {
        r.matched(caps);
    }
    r
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

/// Closes the connection; with `linger`, nginx's lingering close: stop sending, then read and
/// drop what the client still sends (up to `lingering_timeout`, 5 s, between reads and
/// `lingering_time`, 30 s, in all), so the client sees the response rather than a reset.
async fn close(c: &mut Client, linger: bool) {
    close_stream(&mut c.stream, linger).await;
}

/// [`close`] for a bare stream (a tunnel's client side).
pub(crate) async fn close_stream(stream: &mut Stream, linger: bool) {
    // A TLS stream sends its close_notify first, which may wait for room in the socket.
    let _ = io::timed(tls::SHUTDOWN_TIMEOUT, stream.shutdown()).await;
    if !linger {
        return;
    }
    let until = Instant::now() + Duration::from_secs(30);
    let mut sink = BytesMut::with_capacity(4096);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        sink.clear();
        match io::read_buf(stream, &mut sink, left.min(Duration::from_secs(5))).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
