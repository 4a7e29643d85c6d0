//! A request made of a parsed head (`new_request`: the server its host names, `$host`, the
//! first keep-alive decision), and the heads nginx refuses (`refuse`: logged, answered with
//! nginx's page, the connection closed). HTTP/1 connections and HTTP/2 streams both start
//! their requests here.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use crate::ir::server::SrvConf;
use crate::ir::{Level, Server};
use crate::runtime::base::http1::request::{Limits, Reject, RequestHead};
use crate::runtime::base::io;
use crate::runtime::http::log::access;
use crate::runtime::http::route;
use crate::runtime::http::special::special;
use crate::runtime::state::conn::{Client, ConnInfo};
use crate::runtime::state::log;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::{Request, Sent, URI_CHANGES};
use crate::runtime::state::response::HeadersOut;
use crate::runtime::state::upstream::UpstreamState;
use crate::runtime::state::Snapshot;

/// The server whose header buffers and timeout a connection starts with: the one SNI chose,
/// else the address's default, until a Host names another.
pub fn first_server<'a>(snap: &'a Snapshot, conn: &ConnInfo) -> &'a Server {
    let ac = &snap.http().sockets[conn.socket].addrs[conn.addr];
    let first = conn
        .tls
        .as_ref()
        .and_then(|t| t.server)
        .unwrap_or(ac.default_server);
    &snap.http().servers[first.0 as usize]
}

pub fn first_srv<'a>(snap: &'a Snapshot, conn: &ConnInfo) -> &'a SrvConf {
    &first_server(snap, conn).srv
}

pub fn limits_of(srv: &SrvConf) -> Limits {
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
pub async fn refuse(
    snap: &Arc<Snapshot>,
    conn: &Arc<ConnInfo>,
    c: &mut Client,
    rej: Reject,
    head: Box<RequestHead>,
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
    let next = special(&mut r, c, rej.status()).await;
    debug_assert!(matches!(next, Next::Done));
    access(&mut r);
    io::close(&mut c.stream, false).await;
}

/// nginx logs each header line it ignores (S6.7), at info, while it reads the head: with the
/// default server and no host unless the Host line came first.
pub fn log_invalid_headers(r: &Request) {
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
pub fn new_request(
    snap: &Arc<Snapshot>,
    conn: &Arc<ConnInfo>,
    head: Box<RequestHead>,
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
