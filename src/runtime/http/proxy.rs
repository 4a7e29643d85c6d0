//! `proxy_pass` (S4–S6, S9, S10, S13.3): the request line and headers sent upstream, the
//! tries over the upstream's peers with nginx's failure rules, and the response relayed to
//! the client with nginx's header filtering, framing and buffering.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixStream};

use super::body::{self, Body};
use super::upstream::{self, Idle, Tries};
use crate::ir::proxy::{
    HeaderValue, HttpVersion, IgnoreHeaders, NextUpstream, Proxy, ProxyTarget, RedirectFrom,
};
use crate::ir::upstream::{PeerAddr, Upstream};
use crate::ir::{Level, UpstreamId};
use crate::runtime::base::deflate::Encoder;
use crate::runtime::base::http1::decode::{Decoder, Pieces};
use crate::runtime::base::http1::encode;
use crate::runtime::base::http1::request::{escape_uri, normalize_uri, Method};
use crate::runtime::base::http1::response::{self as resp, HeadError, ResponseHead};
use crate::runtime::base::io::{self, IoError, Stream};
use crate::runtime::filters::charset::known_charset;
use crate::runtime::filters::head::{self as respond, Framing};
use crate::runtime::state::body::BodyReader;
use crate::runtime::state::captures::Captures;
use crate::runtime::state::conn::{next_connection_number, Client};
use crate::runtime::state::log::{self, Upstream as LogUpstream};
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;
use crate::runtime::state::upgraded::Upgraded;

/// Where the request goes: an upstream group (by id) or one address from a `proxy_pass` with
/// variables.
enum Target {
    Group(UpstreamId),
    /// An address literal from an evaluated URL, with no balancing (nginx's implicit
    /// single-peer upstream).
    Addr(PeerAddr),
}

/// The resolved `proxy_pass` for this request.
struct Pass {
    target: Target,
    /// The request-target sent upstream.
    uri: Vec<u8>,
    /// `http://` or `https://`, for logs.
    schema: &'static [u8],
}

/// A failed try: why, whether the request was (being) sent, what nginx was doing, and whether
/// the connection came from the keep-alive cache.
struct TryError {
    fail: Fail,
    sent: bool,
    action: &'static str,
    cached: bool,
}

/// Why one try failed (nginx's `NGX_HTTP_UPSTREAM_FT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fail {
    Error,
    Timeout,
    InvalidHeader,
    Http(u16),
    /// The client's body failed while streaming it: the request ends, no retry.
    Client,
}

impl Fail {
    fn flag(self) -> NextUpstream {
        match self {
            Fail::Error => NextUpstream::ERROR,
            Fail::Timeout => NextUpstream::TIMEOUT,
            Fail::InvalidHeader => NextUpstream::INVALID_HEADER,
            Fail::Http(500) => NextUpstream::HTTP_500,
            Fail::Http(502) => NextUpstream::HTTP_502,
            Fail::Http(503) => NextUpstream::HTTP_503,
            Fail::Http(504) => NextUpstream::HTTP_504,
            Fail::Http(403) => NextUpstream::HTTP_403,
            Fail::Http(404) => NextUpstream::HTTP_404,
            Fail::Http(429) => NextUpstream::HTTP_429,
            Fail::Http(_) | Fail::Client => NextUpstream::empty(),
        }
    }

    /// The status the client gets when this is the last failure.
    fn status(self) -> u16 {
        match self {
            Fail::Timeout | Fail::Http(504) => 504,
            Fail::Http(s @ (500 | 503 | 403 | 404 | 429)) => s,
            _ => 502,
        }
    }
}

/// The content handler of a `proxy_pass` location.
pub async fn run(r: &mut Request, c: &mut Client, proxy: &Arc<Proxy>) -> Next {
    let pass = match resolve(r, proxy) {
        Ok(p) => p,
        Err(next) => return next,
    };
    if pass.uri.is_empty() {
        log::error(r, Level::Error, format_args!("zero length URI to proxy"));
        return Next::Status(500);
    }

    // The request body (S10.6): read whole first, unless it may be streamed.
    let stream_body = !proxy.request_buffering
        && proxy.pass_request_body
        && !r.body_done
        && (r.head.content_length.is_some_and(|n| n > 0)
            || (r.head.chunked && proxy.http_version == HttpVersion::Http11))
        && !body::preread_complete(r, c);
    let mut body = Body::Empty;
    // nginx reads the body even when it does not pass it on (proxy_pass_request_body off).
    if !stream_body && !r.body_done {
        match body::read_all(r, c).await {
            Ok(b) => body = b,
            Err(body::BodyError::Status(code)) => return Next::Status(code),
            Err(body::BodyError::Closed) => return r.close_with(400),
            Err(body::BodyError::TimedOut) => return r.close_with(408),
        }
    }
    if !proxy.pass_request_body {
        body = Body::Empty;
    }
    let chunked_upstream = stream_body && r.head.chunked;
    let body_length: Option<u64> = if !proxy.pass_request_body || stream_body {
        if chunked_upstream {
            None
        } else {
            r.head.content_length
        }
    } else if r.head.chunked {
        Some(body.len())
    } else {
        r.head.content_length
    };

    let head = build_head(r, proxy, &pass, body_length, chunked_upstream);
    let is_head = r.method == Method::Head;

    match pass.target {
        Target::Group(id) => {
            attempts(r, c, proxy, &pass, id, head, body, stream_body, is_head).await
        }
        Target::Addr(ref addr) => {
            let addr = addr.clone();
            single(r, c, proxy, &pass, addr, head, body, stream_body, is_head).await
        }
    }
}

/// S4.2–S4.4: the upstream and the request-target.
fn resolve(r: &mut Request, proxy: &Proxy) -> Result<Pass, Next> {
    let p = &proxy.pass;
    let schema: &'static [u8] = match p.scheme {
        crate::ir::proxy::Scheme::Http => b"http://",
        crate::ir::proxy::Scheme::Https => b"https://",
    };
    match &p.target {
        ProxyTarget::Static {
            upstream,
            uri,
            proxy_host,
            proxy_port,
        } => {
            r.upstream.proxy_host = Bytes::copy_from_slice(proxy_host);
            r.upstream.proxy_port = Bytes::copy_from_slice(proxy_port);
            let uri_part = if p.uri_ignored { None } else { uri.as_deref() };
            let loc_len = if uri_part.is_some() {
                p.location_name.len()
            } else {
                0
            };
            Ok(Pass {
                target: Target::Group(*upstream),
                uri: target_uri(r, uri_part, loc_len),
                schema,
            })
        }
        ProxyTarget::Dynamic { url } => {
            let url = r.eval_vec(url);
            let skip = schema.len().min(url.len());
            let rest = &url[skip..];
            let (hostport, uri) = match rest.iter().position(|&b| b == b'/') {
                Some(i) => (&rest[..i], Some(&rest[i..])),
                None => (rest, None),
            };
            let (host, port) = split_port(hostport);
            let default_port = p.scheme.default_port();
            let port_n = port.and_then(|p| std::str::from_utf8(p).ok()?.parse::<u16>().ok());
            r.upstream.proxy_host = Bytes::copy_from_slice(if port_n == Some(default_port) {
                host
            } else {
                hostport
            });
            r.upstream.proxy_port = Bytes::from(port_n.unwrap_or(default_port).to_string());
            let target_uri = match uri {
                Some(u) => u.to_vec(),
                None => target_uri(r, None, 0),
            };
            // ngx_http_upstream_init_request: an upstream{} (port 0) matches a URL without a
            // port, an implicit one the same port; names compare case-insensitively.
            let want_port = port_n.unwrap_or(default_port);
            let ups = &r.snap.http().upstreams;
            let found = ups.iter().position(|u| {
                u.name.eq_ignore_ascii_case(host)
                    && ((u.port == 0 && port.is_none()) || (u.port != 0 && u.port == want_port))
            });
            if let Some(i) = found {
                return Ok(Pass {
                    target: Target::Group(UpstreamId(i as u32)),
                    uri: target_uri,
                    schema,
                });
            }
            let ip_text = host
                .strip_prefix(b"[")
                .and_then(|h| h.strip_suffix(b"]"))
                .unwrap_or(host);
            match std::str::from_utf8(ip_text)
                .ok()
                .and_then(|s| s.parse::<IpAddr>().ok())
            {
                Some(ip) => Ok(Pass {
                    target: Target::Addr(PeerAddr::Inet(SocketAddr::new(
                        ip,
                        port_n.unwrap_or(default_port),
                    ))),
                    uri: target_uri,
                    schema,
                }),
                None => {
                    log::error(
                        r,
                        Level::Error,
                        format_args!(
                            "no resolver defined to resolve {}",
                            String::from_utf8_lossy(host)
                        ),
                    );
                    Err(Next::Status(502))
                }
            }
        }
    }
}

fn split_port(hostport: &[u8]) -> (&[u8], Option<&[u8]>) {
    let search_from = if hostport.first() == Some(&b'[') {
        hostport.iter().position(|&b| b == b']').unwrap_or(0)
    } else {
        0
    };
    match hostport[search_from..].iter().rposition(|&b| b == b':') {
        Some(i) => (
            &hostport[..search_from + i],
            Some(&hostport[search_from + i + 1..]),
        ),
        None => (hostport, None),
    }
}

/// S4.2: the request-target sent upstream (`ngx_http_proxy_create_request`).
pub fn target_uri(r: &Request, uri_part: Option<&[u8]>, loc_len: usize) -> Vec<u8> {
    if uri_part.is_none() && !r.uri_changed && r.head.valid_unparsed_uri {
        return r.request_uri().to_vec();
    }
    // After `rewrite ... break` the URI part is not used: `$uri` goes whole.
    let uri_part = uri_part.filter(|_| r.valid_location);
    let loc_len = if uri_part.is_some() {
        loc_len.min(r.uri.len())
    } else {
        0
    };
    let tail = &r.uri[loc_len..];
    let mut out =
        Vec::with_capacity(uri_part.map_or(0, |u| u.len()) + tail.len() + 1 + r.args().len());
    if let Some(u) = uri_part {
        out.extend_from_slice(u);
    }
    if r.head.quoted_uri || r.internal {
        escape_uri(tail, &mut out);
    } else {
        out.extend_from_slice(tail);
    }
    if !r.args().is_empty() {
        out.push(b'?');
        out.extend_from_slice(r.args());
    }
    out
}

/// S6.1/S6.2: the request head sent upstream.
fn build_head(
    r: &mut Request,
    proxy: &Proxy,
    pass: &Pass,
    body_length: Option<u64>,
    chunked: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + r.head.buf.len());
    out.extend_from_slice(r.method_name());
    out.push(b' ');
    out.extend_from_slice(&pass.uri);
    out.extend_from_slice(match proxy.http_version {
        HttpVersion::Http10 => b" HTTP/1.0\r\n",
        HttpVersion::Http11 => b" HTTP/1.1\r\n",
    });
    let headers = proxy.headers.clone();
    for h in &headers.set {
        let start = out.len();
        out.extend_from_slice(&h.name);
        out.extend_from_slice(b": ");
        let value_start = out.len();
        match &h.value {
            HeaderValue::Template(t) => r.eval(t, &mut out),
            HeaderValue::ProxyHost => out.extend_from_slice(&r.upstream.proxy_host),
            HeaderValue::Static(v) => out.extend_from_slice(v),
            HeaderValue::BodyLength => {
                if let Some(n) = body_length {
                    let _ = write!(out, "{n}");
                }
            }
            HeaderValue::Chunked => {
                if chunked {
                    out.extend_from_slice(b"chunked");
                }
            }
        }
        if out.len() == value_start {
            out.truncate(start);
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    if proxy.pass_request_headers {
        for i in 0..r.head.headers.len() {
            let (name, value) = r.head.header(i);
            if headers
                .replaced
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
            {
                continue;
            }
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What one try produced.
struct Got {
    stream: Stream,
    head: ResponseHead,
    /// The buffer the head was read into; body bytes may follow the head.
    buf: BytesMut,
    peer: usize,
    created: Instant,
    requests: u32,
}

/// A proxied connection's per-try context for the logs.
struct TryCx<'a> {
    schema: &'static [u8],
    name: Bytes,
    unix: bool,
    uri: &'a [u8],
}

impl TryCx<'_> {
    fn log(&self, r: &Request, level: Level, msg: std::fmt::Arguments<'_>, action: &str) {
        log::error_full(
            r,
            level,
            msg,
            Some(action),
            Some(&LogUpstream {
                schema: self.schema,
                name: &self.name,
                unix: self.unix,
                uri: self.uri,
            }),
        );
    }
}

/// The tries over an upstream group (S5.2–S5.7).
#[allow(clippy::too_many_arguments)]
async fn attempts(
    r: &mut Request,
    c: &mut Client,
    proxy: &Proxy,
    pass: &Pass,
    id: UpstreamId,
    head: Vec<u8>,
    mut body: Body,
    stream_body: bool,
    is_head: bool,
) -> Next {
    let snap = Arc::clone(&r.snap);
    let ups: &Upstream = &snap.http().upstreams[id.0 as usize];
    let balancers = upstream::for_snapshot(&snap);
    let group = &balancers.groups[id.0 as usize];
    let mut tries: Tries = group.borrow().tries(ups);
    let started = Instant::now();
    let non_idempotent = matches!(r.method, Method::Post | Method::Lock | Method::Patch);
    loop {
        let picked = group.borrow_mut().get(ups, &mut tries);
        let peer = match picked {
            Ok(p) => p,
            Err(upstream::Busy) => {
                r.upstream.addrs.push(Bytes::copy_from_slice(&ups.name));
                r.upstream.statuses.push(502);
                r.upstream.response_ms.push(0);
                let cx = TryCx {
                    schema: pass.schema,
                    name: Bytes::copy_from_slice(&ups.name),
                    unix: false,
                    uri: &pass.uri,
                };
                cx.log(
                    r,
                    Level::Error,
                    format_args!("no live upstreams"),
                    "connecting to upstream",
                );
                return Next::Status(502);
            }
        };
        let addr = ups.peers[peer].addr.clone();
        let name = group.borrow().name(peer);
        let cx = TryCx {
            schema: pass.schema,
            name: name.clone(),
            unix: matches!(addr, PeerAddr::Unix(_)),
            uri: &pass.uri,
        };
        r.upstream.addrs.push(name);
        let idle = group.borrow_mut().take_idle(ups, peer);
        let outcome = one_try(
            r,
            c,
            proxy,
            &cx,
            &addr,
            idle,
            peer,
            &head,
            &mut body,
            stream_body,
            is_head,
        )
        .await;
        let mut action = "reading response header from upstream";
        let mut cached = false;
        let (fail, request_sent) = match outcome {
            Ok(got) => {
                // S5.6: a listed status with tries left goes to the next peer.
                let status = got.head.status;
                let f = Fail::Http(status);
                let flag = f.flag();
                let mask = if non_idempotent {
                    flag | NextUpstream::NON_IDEMPOTENT
                } else {
                    flag
                };
                let timeout = proxy.next_upstream_timeout;
                if !flag.is_empty()
                    && tries.left > 1
                    && proxy.next_upstream.contains(mask)
                    && !stream_body
                    && (timeout.is_zero() || started.elapsed() < timeout)
                {
                    (f, true)
                } else {
                    let disabled = {
                        let mut g = group.borrow_mut();
                        g.free(ups, &mut tries, false)
                    };
                    let _ = disabled;
                    return respond(r, c, proxy, ups, &cx, got, is_head, Some(group)).await;
                }
            }
            Err(e) => {
                if e.fail == Fail::Client {
                    return r.close_with(400);
                }
                action = e.action;
                cached = e.cached;
                (e.fail, e.sent)
            }
        };
        // ngx_http_upstream_next.
        let failed = !matches!(fail, Fail::Http(403 | 404));
        let disabled = group.borrow_mut().free(ups, &mut tries, failed);
        if disabled {
            cx.log(
                r,
                Level::Warn,
                format_args!("upstream server temporarily disabled"),
                action,
            );
        }
        if fail == Fail::Timeout {
            cx.log(
                r,
                Level::Error,
                format_args!("upstream timed out (110: Connection timed out)"),
                action,
            );
        }
        if cached && fail == Fail::Error {
            tries.left += 1;
        }
        let status = fail.status();
        if r.upstream.statuses.len() < r.upstream.addrs.len() {
            r.upstream.statuses.push(status);
        }
        let flag = fail.flag();
        let mask = if request_sent && non_idempotent {
            flag | NextUpstream::NON_IDEMPOTENT
        } else {
            flag
        };
        let timeout = proxy.next_upstream_timeout;
        let tries_limit = proxy.next_upstream_tries;
        let used = r.upstream.addrs.len() as u32;
        if tries.left == 0
            || !proxy.next_upstream.contains(mask)
            || (request_sent && stream_body)
            || (!timeout.is_zero() && started.elapsed() >= timeout)
            || (tries_limit != 0 && used >= tries_limit)
        {
            return Next::Status(status);
        }
    }
}

/// A `proxy_pass` with variables naming an address: one peer, one try.
#[allow(clippy::too_many_arguments)]
async fn single(
    r: &mut Request,
    c: &mut Client,
    proxy: &Proxy,
    pass: &Pass,
    addr: PeerAddr,
    head: Vec<u8>,
    mut body: Body,
    stream_body: bool,
    is_head: bool,
) -> Next {
    let name = Bytes::from(addr.to_string());
    let cx = TryCx {
        schema: pass.schema,
        name: name.clone(),
        unix: matches!(addr, PeerAddr::Unix(_)),
        uri: &pass.uri,
    };
    r.upstream.addrs.push(name);
    let ups = Upstream {
        name: Box::from(&b""[..]),
        implicit: true,
        port: 0,
        peers: Vec::new(),
        keepalive: None,
    };
    match one_try(
        r,
        c,
        proxy,
        &cx,
        &addr,
        None,
        0,
        &head,
        &mut body,
        stream_body,
        is_head,
    )
    .await
    {
        Ok(got) => respond(r, c, proxy, &ups, &cx, got, is_head, None).await,
        Err(e) => {
            let fail = e.fail;
            if fail == Fail::Client {
                return r.close_with(400);
            }
            if fail == Fail::Timeout {
                cx.log(
                    r,
                    Level::Error,
                    format_args!("upstream timed out (110: Connection timed out)"),
                    e.action,
                );
            }
            let status = fail.status();
            r.upstream.statuses.push(status);
            Next::Status(status)
        }
    }
}

/// Connects (or reuses), sends the request, reads the response head.
#[allow(clippy::too_many_arguments)]
async fn one_try(
    r: &mut Request,
    c: &mut Client,
    proxy: &Proxy,
    cx: &TryCx<'_>,
    addr: &PeerAddr,
    idle: Option<Idle>,
    peer: usize,
    head: &[u8],
    body: &mut Body,
    stream_body: bool,
    is_head: bool,
) -> Result<Got, TryError> {
    let t0 = Instant::now();
    let cached = idle.is_some();
    let err = |fail, sent, action| TryError {
        fail,
        sent,
        action,
        cached,
    };
    let https = matches!(proxy.pass.scheme, crate::ir::proxy::Scheme::Https);
    let (mut stream, created, requests) = match idle {
        Some(i) => (i.stream, i.created, i.requests),
        None => match connect(addr, proxy.connect_timeout, https).await {
            Ok(s) => (s, Instant::now(), 0),
            Err(Connect::Handshake(e)) => {
                cx.log(
                    r,
                    Level::Error,
                    format_args!("SSL_do_handshake() failed (rustls: {e})"),
                    "SSL handshaking to upstream",
                );
                r.upstream.connect_ms.push(None);
                r.upstream.header_ms.push(None);
                r.upstream.response_ms.push(t0.elapsed().as_millis() as u64);
                return Err(err(Fail::Error, false, "SSL handshaking to upstream"));
            }
            Err(Connect::Io(IoError::TimedOut)) => {
                r.upstream.connect_ms.push(None);
                r.upstream.header_ms.push(None);
                r.upstream.response_ms.push(t0.elapsed().as_millis() as u64);
                return Err(err(Fail::Timeout, false, "connecting to upstream"));
            }
            Err(Connect::Io(IoError::Io(e))) => {
                cx.log(
                    r,
                    Level::Error,
                    format_args!("connect() failed {}", io::errno_text(&e)),
                    "connecting to upstream",
                );
                r.upstream.connect_ms.push(None);
                r.upstream.header_ms.push(None);
                r.upstream.response_ms.push(t0.elapsed().as_millis() as u64);
                return Err(err(Fail::Error, false, "connecting to upstream"));
            }
        },
    };
    r.upstream
        .connect_ms
        .push(Some(t0.elapsed().as_millis() as u64));

    // Send the request (S6, S10.6).
    let mut sent_bytes = head.len() as u64;
    let send = send_request(
        r,
        c,
        proxy,
        &mut stream,
        head,
        body,
        stream_body,
        &mut sent_bytes,
    )
    .await;
    r.upstream.bytes_sent.push(sent_bytes);
    if let Err(e) = send {
        r.upstream.header_ms.push(None);
        r.upstream.response_ms.push(t0.elapsed().as_millis() as u64);
        const ACTION: &str = "sending request to upstream";
        return Err(match e {
            SendError::Upstream(IoError::TimedOut) => err(Fail::Timeout, true, ACTION),
            SendError::Upstream(IoError::Io(e)) => {
                cx.log(
                    r,
                    Level::Error,
                    format_args!("writev() failed {}", io::errno_text(&e)),
                    ACTION,
                );
                err(Fail::Error, true, ACTION)
            }
            SendError::Client => TryError {
                fail: Fail::Client,
                sent: true,
                action: ACTION,
                cached,
            },
        });
    }

    // Read the response head (S10.5).
    const ACTION: &str = "reading response header from upstream";
    let limit = proxy.buffer_size;
    let mut buf = BytesMut::with_capacity(limit.max(16 * 1024));
    let mut received = 0u64;
    let head_result = loop {
        match resp::parse_head(&buf, limit) {
            Ok(resp::Parse::Complete(h)) => break Ok(h),
            Ok(resp::Parse::Partial) => {}
            Err(HeadError::TooBig) => {
                cx.log(
                    r,
                    Level::Error,
                    format_args!("upstream sent too big header"),
                    ACTION,
                );
                break Err(Fail::InvalidHeader);
            }
            Err(e) => {
                cx.log(r, Level::Error, format_args!("{}", e.message(&buf)), ACTION);
                break Err(Fail::InvalidHeader);
            }
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(limit);
        }
        match io::read_buf(&mut stream, &mut buf, proxy.read_timeout).await {
            Ok(0) => {
                // A head cut short is never a response, whatever arrived (nginx 1.22.1,
                // observed with `HTTP/1.1 2` then close): the next peer under `error`.
                cx.log(
                    r,
                    Level::Error,
                    format_args!("upstream prematurely closed connection"),
                    ACTION,
                );
                break Err(Fail::Error);
            }
            Ok(n) => received += n as u64,
            Err(IoError::TimedOut) => break Err(Fail::Timeout),
            Err(IoError::Io(e)) => {
                cx.log(
                    r,
                    Level::Error,
                    format_args!("recv() failed {}", io::errno_text(&e)),
                    ACTION,
                );
                break Err(Fail::Error);
            }
        }
    };
    r.upstream.bytes_received.push(received);
    match head_result {
        Ok(h) => {
            r.upstream
                .header_ms
                .push(Some(t0.elapsed().as_millis() as u64));
            r.upstream.statuses.push(h.status);
            r.upstream.response_ms.push(t0.elapsed().as_millis() as u64);
            let _ = is_head;
            Ok(Got {
                stream,
                head: h,
                buf,

                peer,
                created,
                requests,
            })
        }
        Err(f) => {
            r.upstream.header_ms.push(None);
            r.upstream.response_ms.push(t0.elapsed().as_millis() as u64);
            Err(err(f, true, ACTION))
        }
    }
}

enum Connect {
    Io(IoError),
    /// `proxy_pass https://`: the TLS handshake failed.
    Handshake(std::io::Error),
}

async fn connect(addr: &PeerAddr, timeout: Duration, https: bool) -> Result<Stream, Connect> {
    next_connection_number();
    let fut = async {
        match addr {
            // Nagle stays on, as nginx leaves it: a request goes out in one write.
            PeerAddr::Inet(a) => TcpStream::connect(a).await.map(Stream::Tcp),
            PeerAddr::Unix(p) => UnixStream::connect(p).await.map(Stream::Unix),
        }
    };
    let tcp = match io::timed(timeout, fut).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(Connect::Io(IoError::Io(e))),
        Err(_) => return Err(Connect::Io(IoError::TimedOut)),
    };
    if !https {
        return Ok(tcp);
    }
    // nginx's defaults: proxy_ssl_verify off, proxy_ssl_server_name off (no SNI: rustls
    // sends none for an address), sessions reused; the handshake under the connect timeout.
    let name = match addr {
        PeerAddr::Inet(a) => rustls::pki_types::ServerName::IpAddress(a.ip().into()),
        PeerAddr::Unix(_) => {
            rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into())
        }
    };
    let connector = tokio_rustls::TlsConnector::from(upstream_tls());
    match io::timed(timeout, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(Stream::TlsUpstream(Box::new(s))),
        Ok(Err(e)) => Err(Connect::Handshake(e)),
        Err(_) => Err(Connect::Io(IoError::TimedOut)),
    }
}

/// The client configuration of `proxy_pass https://`, as nginx's defaults: the upstream's
/// certificate is not verified (`proxy_ssl_verify off`), TLS 1.2, sessions reused.
fn upstream_tls() -> std::sync::Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                // nginx 1.22's proxy_ssl_protocols: TLSv1 TLSv1.1 TLSv1.2, of which rustls
                // (and Debian's OpenSSL at its security level) speak TLS 1.2.
                .with_protocol_versions(&[&rustls::version::TLS12])
                .expect("ring supports TLS 1.2")
                .dangerous()
                .with_custom_certificate_verifier(std::sync::Arc::new(NoVerify(provider)))
                .with_no_client_auth();
            std::sync::Arc::new(config)
        })
        .clone()
}

/// `proxy_ssl_verify off`: any certificate, but the handshake's signatures are checked.
#[derive(Debug)]
struct NoVerify(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

enum SendError {
    Upstream(IoError),
    /// The client's body could not be read (already logged); the request ends.
    Client,
}

/// Writes the head and the body: buffered (memory or file, re-sendable) or streamed from the
/// client (S10.6; chunked re-encoding when the client's body is chunked).
#[allow(clippy::too_many_arguments)]
async fn send_request(
    r: &mut Request,
    c: &mut Client,
    proxy: &Proxy,
    up: &mut Stream,
    head: &[u8],
    body: &mut Body,
    stream_body: bool,
    sent: &mut u64,
) -> Result<(), SendError> {
    let t = proxy.send_timeout;
    match body {
        Body::Empty if !stream_body => io::write_all(up, head, t)
            .await
            .map_err(SendError::Upstream)?,
        Body::Memory(pieces, _) => {
            // Head and body in one writev (Nagle is on: no small trailing segment).
            let mut q = OutQueue::default();
            q.push(Bytes::copy_from_slice(head));
            for p in pieces.iter() {
                q.push(p.clone());
            }
            while !q.is_empty() {
                q.write_some(up, t).await.map_err(SendError::Upstream)?;
            }
            *sent += pieces.iter().map(|p| p.len() as u64).sum::<u64>();
        }
        Body::File(f, _) => {
            use std::io::Seek;
            f.rewind()
                .map_err(|e| SendError::Upstream(IoError::Io(e)))?;
            let mut chunk = Vec::new();
            let mut first = true;
            loop {
                let n = body::read_file_chunk(f, &mut chunk, 64 * 1024)
                    .map_err(|e| SendError::Upstream(IoError::Io(e)))?;
                if first {
                    // The head goes with the first part of the body.
                    io::write_two(up, head, &chunk, t)
                        .await
                        .map_err(SendError::Upstream)?;
                    first = false;
                } else if n > 0 {
                    io::write_all(up, &chunk, t)
                        .await
                        .map_err(SendError::Upstream)?;
                }
                *sent += n as u64;
                if n == 0 {
                    break;
                }
            }
        }
        Body::Empty => {
            // Streaming (proxy_request_buffering off): pieces go out as they come, so Nagle
            // is off, as nginx sets TCP_NODELAY for an unbuffered body.
            up.set_nodelay();
            io::write_all(up, head, t)
                .await
                .map_err(SendError::Upstream)?;
            let chunked = r.head.chunked;
            body::test_expect(r, c)
                .await
                .map_err(|_| SendError::Client)?;
            let mut rd = BodyReader::new(&r.head, r.conf.client_max_body_size);
            let mut frame = Vec::with_capacity(32);
            loop {
                let piece = match body::next(r, c, &mut rd).await {
                    Ok(p) => p,
                    Err(_) => return Err(SendError::Client),
                };
                match piece {
                    Some(p) if chunked => {
                        frame.clear();
                        let _ = write!(frame, "{:x}\r\n", p.len());
                        io::write_all(up, &frame, t)
                            .await
                            .map_err(SendError::Upstream)?;
                        io::write_two(up, &p, b"\r\n", t)
                            .await
                            .map_err(SendError::Upstream)?;
                        *sent += (frame.len() + p.len() + 2) as u64;
                    }
                    Some(p) => {
                        io::write_all(up, &p, t)
                            .await
                            .map_err(SendError::Upstream)?;
                        *sent += p.len() as u64;
                    }
                    None => break,
                }
            }
            if chunked {
                io::write_all(up, encode::LAST_CHUNK, t)
                    .await
                    .map_err(SendError::Upstream)?;
                *sent += encode::LAST_CHUNK.len() as u64;
            }
            r.body_done = true;
        }
    }
    let _ = up.flush().await;
    Ok(())
}

/// The upstream answered: intercept, redirect, or relay it to the client.
#[allow(clippy::too_many_arguments)]
async fn respond(
    r: &mut Request,
    c: &mut Client,
    proxy: &Proxy,
    ups: &Upstream,
    cx: &TryCx<'_>,
    mut got: Got,
    is_head: bool,
    group: Option<&std::cell::RefCell<upstream::Balancer>>,
) -> Next {
    let status = got.head.status;
    let head_bytes = got.buf.split_to(got.head.head_len).freeze();
    let headers: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = got
        .head
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    r.upstream.head = Some((head_bytes.clone(), headers.clone()));

    // proxy_intercept_errors with an error_page for this status.
    if proxy.intercept_errors && status >= 300 && r.conf.error_pages.pages.contains_key(&status) {
        if status == 401 {
            if let Some(v) = find(&head_bytes, &headers, b"www-authenticate") {
                r.out.push(Bytes::from_static(b"WWW-Authenticate"), v);
            }
        }
        return Next::Status(status);
    }

    // X-Accel-Redirect: an internal redirect (its "redirect" headers are kept).
    if !proxy
        .ignore_headers
        .contains(IgnoreHeaders::X_ACCEL_REDIRECT)
    {
        if let Some(target) = find(&head_bytes, &headers, b"x-accel-redirect") {
            for (n, v) in &headers {
                let name = &head_bytes[n.clone()];
                if [
                    "content-type",
                    "set-cookie",
                    "content-disposition",
                    "cache-control",
                    "expires",
                    "accept-ranges",
                    "content-encoding",
                ]
                .iter()
                .any(|k| name.eq_ignore_ascii_case(k.as_bytes()))
                    && !proxy.hide_headers.contains(&name.to_ascii_lowercase()[..])
                {
                    if name.eq_ignore_ascii_case(b"content-type") {
                        r.out.content_type = Some(head_bytes.slice(v.clone()));
                    } else {
                        r.out
                            .push(head_bytes.slice(n.clone()), head_bytes.slice(v.clone()));
                    }
                }
            }
            if target.first() == Some(&b'@') {
                return Next::Named(target.to_vec());
            }
            let (path, args) = match target.iter().position(|&b| b == b'?') {
                Some(q) => (&target[..q], Some(target.slice(q + 1..))),
                None => (&target[..], None),
            };
            let Ok(uri) = normalize_uri(path, r.server().srv.merge_slashes) else {
                return Next::Status(404);
            };
            if r.method != Method::Head {
                r.method = Method::Get;
                r.method_get = true;
            }
            return Next::Redirect(uri, args);
        }
    }

    if got.head.is_http09() {
        cx.log(
            r,
            Level::Error,
            format_args!("{}", resp::LOG_NO_VALID_HEADER),
            "reading response header from upstream",
        );
    }
    // The client's response head (S13.2, S13.3).
    let mut h = std::mem::take(&mut r.out);
    h.status = status;
    h.status_line = Some(head_bytes.slice(got.head.status_text.clone()));
    let mut buffering = proxy.buffering;
    for (n, v) in &headers {
        let name = &head_bytes[n.clone()];
        let lower = name.to_ascii_lowercase();
        let value = head_bytes.slice(v.clone());
        if lower == b"x-accel-charset"
            && !proxy
                .ignore_headers
                .contains(IgnoreHeaders::X_ACCEL_CHARSET)
        {
            h.override_charset = Some(value.clone());
        }
        if lower == b"x-accel-buffering"
            && !proxy
                .ignore_headers
                .contains(IgnoreHeaders::X_ACCEL_BUFFERING)
        {
            if value.eq_ignore_ascii_case(b"yes") {
                buffering = true;
            } else if value.eq_ignore_ascii_case(b"no") {
                buffering = false;
            }
        }
        if proxy.hide_headers.contains(&lower[..]) || resp::header_hash(name) == 0 {
            continue;
        }
        let name_b = head_bytes.slice(n.clone());
        match &lower[..] {
            b"content-type" => h.content_type = Some(value),
            b"content-length" | b"transfer-encoding" | b"connection" | b"keep-alive" => {}
            b"location" => {
                let (value, rewritten) = rewrite_redirect(r, proxy, value, 0);
                let i = h.push(name_b, value.clone());
                // A rewritten Location is made absolute later; an untouched relative one
                // stays relative (S4.5).
                if rewritten || (proxy.redirects.is_empty() && value.first() != Some(&b'/')) {
                    h.location = Some(i);
                }
            }
            b"refresh" => {
                let value = match find_ci(&value, b"url=") {
                    Some(p) => rewrite_redirect(r, proxy, value.clone(), p + 4).0,
                    None => value,
                };
                h.push(name_b, value);
            }
            b"last-modified" => {
                let i = h.push(name_b, value);
                h.last_modified = Some(i);
            }
            b"etag" => {
                let i = h.push(name_b, value);
                h.etag = Some(i);
            }
            b"expires" => {
                let i = h.push(name_b, value);
                h.expires = Some(i);
            }
            b"cache-control" => {
                let i = h.push(name_b, value);
                h.cache_control.push(i);
            }
            b"server" => {
                let i = h.push(name_b, value);
                h.server = Some(i);
            }
            b"date" => {
                let i = h.push(name_b, value);
                h.date = Some(i);
            }
            _ => {
                h.push(name_b, value);
            }
        }
    }
    if let Some(o) = h.override_charset.clone() {
        if h.content_type.is_some() && !o.is_empty() && !known_charset(&r.conf, &o) {
            cx.log(
                r,
                Level::Error,
                format_args!(
                    "unknown charset \"{}\" to override",
                    crate::source::show_bytes(&o)
                ),
                "reading response header from upstream",
            );
            h.override_charset = None;
        }
    }
    let framing = resp::framing(&got.head, is_head);
    h.content_length = got.head.content_length;
    if matches!(framing, resp::Framing::Chunked) || got.head.is_http09() {
        h.content_length = None;
    }

    let upgraded = status == 101 && r.head.upgrade.is_some();
    if upgraded {
        r.keepalive = false;
        r.upstream.response_length.push(0);
        return upgrade(r, c, proxy, cx, got, h).await;
    }

    relay(r, c, proxy, ups, cx, got, h, framing, buffering, group).await
}

/// `ngx_http_proxy_rewrite_redirect`: `proxy_redirect` rules on a Location/Refresh value
/// from `prefix` on. Returns the value and whether a rule rewrote it.
fn rewrite_redirect(r: &mut Request, proxy: &Proxy, value: Bytes, prefix: usize) -> (Bytes, bool) {
    for rule in proxy.redirects.iter() {
        let rest = &value[prefix..];
        match &rule.from {
            RedirectFrom::Prefix(t) => {
                let pattern = r.eval_vec(t);
                if pattern.len() > rest.len() || rest[..pattern.len()] != pattern[..] {
                    continue;
                }
                let replacement = r.eval_vec(&rule.to);
                let mut v = Vec::with_capacity(value.len() + replacement.len());
                v.extend_from_slice(&value[..prefix]);
                v.extend_from_slice(&replacement);
                v.extend_from_slice(&rest[pattern.len()..]);
                return (Bytes::from(v), true);
            }
            RedirectFrom::Regex(re) => {
                let Some(caps) = Captures::from_regex(re, rest) else {
                    continue;
                };
                r.matched(caps);
                let replacement = r.eval_vec(&rule.to);
                let mut v = Vec::with_capacity(prefix + replacement.len());
                v.extend_from_slice(&value[..prefix]);
                v.extend_from_slice(&replacement);
                return (Bytes::from(v), true);
            }
        }
    }
    (value, false)
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

fn find(
    buf: &Bytes,
    headers: &[(std::ops::Range<usize>, std::ops::Range<usize>)],
    lower: &[u8],
) -> Option<Bytes> {
    headers
        .iter()
        .find(|(n, _)| buf[n.clone()].eq_ignore_ascii_case(lower))
        .map(|(_, v)| buf.slice(v.clone()))
}

/// The client side of a relay: frames waiting to be written, oldest first.
#[derive(Default)]
struct OutQueue {
    frames: std::collections::VecDeque<Bytes>,
    len: usize,
}

impl OutQueue {
    fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.frames.push_back(b);
        }
    }

    fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Drops `n` written bytes from the front.
    fn advance(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let f = self
                .frames
                .front_mut()
                .expect("advance within queued bytes");
            if n >= f.len() {
                n -= f.len();
                self.frames.pop_front();
            } else {
                let _ = f.split_to(n);
                n = 0;
            }
        }
    }

    /// One `writev` of the queued frames.
    async fn write_some(&mut self, w: &mut Stream, timeout: Duration) -> Result<usize, IoError> {
        let iov: Vec<std::io::IoSlice<'_>> = self
            .frames
            .iter()
            .take(64)
            .map(|f| std::io::IoSlice::new(f))
            .collect();
        let n = match io::timed(timeout, w.write_vectored(&iov)).await {
            Ok(Ok(0)) => return Err(IoError::Io(std::io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(IoError::Io(e)),
            Err(_) => return Err(IoError::TimedOut),
        };
        self.advance(n);
        if w.is_tls() {
            // Records rustls could not send yet must not wait for the next write.
            io::flush(w, timeout).await?;
        }
        Ok(n)
    }
}

/// How the upstream body ends, and its decoder.
struct UpstreamBody {
    decoder: Decoder,
    done: bool,
    /// The upstream sent more than its framing allows: nginx drops it, warns, and does not
    /// keep the connection.
    excess: Option<&'static str>,
    /// With `proxy_buffering on`: payload held until a buffer's worth (or the end) is there,
    /// as nginx's event pipe passes only full buffers on (one chunk per pass).
    held: Vec<Bytes>,
    held_len: usize,
}

impl UpstreamBody {
    /// Takes the payload out of `data` (decoding the upstream's framing); what follows the
    /// body's end is dropped with nginx's warning.
    fn take(&mut self, data: &mut BytesMut, out: &mut Pieces) -> Result<(), &'static str> {
        self.decoder
            .decode(data, out)
            .map_err(|_| "upstream sent invalid chunked response")?;
        if self.decoder.is_done() {
            self.done = true;
            if !data.is_empty() {
                self.excess = Some(if self.decoder.is_chunked() {
                    resp::LOG_DATA_AFTER_FINAL_CHUNK
                } else {
                    resp::LOG_MORE_DATA_THAN_CONTENT_LENGTH
                });
                data.clear();
            }
        }
        Ok(())
    }
}

/// Appends `pieces` to the client queue as one pass of nginx's output filters: one chunk
/// when the client gets chunked framing.
fn emit(
    q: &mut OutQueue,
    pieces: impl IntoIterator<Item = Bytes>,
    total: usize,
    chunked: bool,
    gz: Option<&mut Encoder>,
) {
    if total == 0 {
        return;
    }
    if let Some(g) = gz {
        // The gzip filter: what a pass gives is compressed and flushed as one piece.
        let mut out = Vec::with_capacity(total / 2 + 64);
        for p in pieces {
            g.push(&p, &mut out);
        }
        g.flush(&mut out);
        let n = out.len();
        return emit(q, [Bytes::from(out)], n, chunked, None);
    }
    if chunked {
        q.push(Bytes::from(format!("{total:x}\r\n").into_bytes()));
    }
    for p in pieces {
        q.push(p);
    }
    if chunked {
        q.push(Bytes::from_static(b"\r\n"));
    }
}

/// Sends the head, then the body as it arrives (S10.1–S10.4); returns the upstream
/// connection to the keep-alive cache when it may be reused (S5.8).
///
/// With `proxy_buffering on` the upstream is read ahead while the client is slow, up to
/// `proxy_buffers` (nginx would go on into a temporary file); with `off`, each read is
/// written before the next read, so a slow client holds the upstream back.
#[allow(clippy::too_many_arguments)]
async fn relay(
    r: &mut Request,
    c: &mut Client,
    proxy: &Proxy,
    ups: &Upstream,
    cx: &TryCx<'_>,
    mut got: Got,
    mut h: HeadersOut,
    framing: resp::Framing,
    buffering: bool,
    group: Option<&std::cell::RefCell<upstream::Balancer>>,
) -> Next {
    let mut head = Vec::with_capacity(512);
    let client_framing = if got.head.is_http09() {
        // No status line from the upstream: nginx passes the bytes as they are, no head.
        r.keepalive = false;
        h.status = 200;
        Framing::Close
    } else {
        respond::filter_and_write(r, &mut h, &mut head)
    };
    let head_len = head.len();
    r.sent.status = h.status;
    r.sent.header_bytes = head_len as u64;
    let head = Bytes::from(head);
    r.sent.head = Some(head.clone());
    let send_timeout = r.conf.send_timeout;
    let read_timeout = proxy.read_timeout;
    let t0 = Instant::now();
    let chunked = client_framing == Framing::Chunked;
    let to_client = client_framing != Framing::None;
    let mut gz = r.gzip.take().filter(|_| to_client);

    let decoder = Decoder::new(framing);
    let mut ub = UpstreamBody {
        done: decoder.is_done(),
        decoder,
        excess: None,
        held: Vec::new(),
        held_len: 0,
    };
    if ub.done && !got.buf.is_empty() {
        // Bytes after a head that announced no body; a HEAD response is dropped silently.
        if !r.is_head() {
            ub.excess = Some(resp::LOG_MORE_DATA_THAN_CONTENT_LENGTH);
        }
        got.buf.clear();
        ub.excess.get_or_insert("");
    }
    let mut q = OutQueue::default();
    q.push(head);
    let mut failed: Option<String> = None;
    let mut client_failed = false;
    let mut upstream_eof = false;
    let mut written = 0usize;
    // With buffering, nginx reads ahead up to its buffers while the client is slow, passes
    // the body on a buffer at a time, and holds the head until the first pass (the write
    // filter's postpone_output). Without, every read is written at once.
    let unit = proxy.buffers.1.max(1);
    let ahead_limit = if buffering {
        (proxy.buffers.0 as usize * proxy.buffers.1).max(proxy.buffer_size)
    } else {
        0
    };
    // Large reads: fewer system calls per body (nginx reads into its 4k buffers).
    let read_size = proxy.buffer_size.max(64 * 1024);
    let mut buf = std::mem::take(&mut got.buf);
    let mut last_queued = false;
    // Whether the queue may be written (in buffered mode only once a pass was made).
    let mut flushable = !buffering;

    loop {
        if !buf.is_empty() && !ub.done {
            let mut pieces = Pieces::default();
            match ub.take(&mut buf, &mut pieces) {
                Ok(()) => {
                    if to_client {
                        // A chunked upstream body goes on chunk by chunk (nginx's
                        // chunked input filter asks the pipe for one chunk at a time).
                        if buffering && !ub.decoder.is_chunked() {
                            for p in pieces.drain() {
                                ub.held_len += p.len();
                                ub.held.push(p);
                            }
                        } else {
                            let total = pieces.iter().map(|p| p.len()).sum();
                            emit(&mut q, pieces.drain(), total, chunked, gz.as_deref_mut());
                        }
                    }
                }
                Err(msg) => {
                    failed = Some(msg.to_string());
                    ub.done = true;
                }
            }
        }
        if buffering && (ub.held_len >= unit || (ub.done && failed.is_none())) {
            let total = ub.held_len;
            emit(&mut q, ub.held.drain(..), total, chunked, gz.as_deref_mut());
            ub.held_len = 0;
            flushable = true;
        }
        if ub.done && failed.is_none() && !last_queued && (chunked || gz.is_some()) {
            if let Some(g) = gz.as_deref_mut() {
                let mut tail = Vec::with_capacity(32);
                g.finish(&mut tail);
                let n = tail.len();
                emit(&mut q, [Bytes::from(tail)], n, chunked, None);
            }
            if chunked {
                q.push(Bytes::from_static(encode::LAST_CHUNK));
            }
            last_queued = true;
            flushable = true;
        }
        if ub.done && failed.is_none() {
            flushable = true;
        }
        let writable = flushable && !q.is_empty();
        if !writable {
            if ub.done {
                break;
            }
        } else if ub.done || q.len + ub.held_len > ahead_limit {
            // Only writing is possible or allowed.
            match q.write_some(&mut c.stream, send_timeout).await {
                Ok(n) => written += n,
                Err(e) => {
                    log::client_write_error(r, &e);
                    client_failed = true;
                    break;
                }
            }
            continue;
        }
        if ub.done {
            continue;
        }
        // Read (and, with data queued and room to read ahead, write at the same time).
        buf.reserve(read_size);
        let read = if !writable {
            io::read_buf(&mut got.stream, &mut buf, read_timeout).await
        } else {
            tokio::select! {
                biased;
                w = q.write_some(&mut c.stream, send_timeout) => {
                    match w {
                        Ok(n) => written += n,
                        Err(e) => {
                            log::client_write_error(r, &e);
                            client_failed = true;
                            break;
                        }
                    }
                    continue;
                }
                rd = io::read_buf(&mut got.stream, &mut buf, read_timeout) => rd,
            }
        };
        match read {
            Ok(0) => {
                upstream_eof = true;
                let incomplete = !ub.decoder.complete_at_eof();
                if incomplete {
                    failed = Some("upstream prematurely closed connection".to_string());
                } else if buffering && to_client {
                    // End of a close-delimited body: the held rest goes out with it.
                    let total = ub.held_len;
                    emit(&mut q, ub.held.drain(..), total, chunked, gz.as_deref_mut());
                    ub.held_len = 0;
                }
                ub.done = true;
            }
            Ok(_) => {}
            Err(IoError::TimedOut) => {
                failed = Some("upstream timed out (110: Connection timed out)".to_string());
                ub.done = true;
            }
            Err(IoError::Io(e)) => {
                failed = Some(format!("recv() failed {}", io::errno_text(&e)));
                ub.done = true;
            }
        }
        if failed.is_some() && buffering {
            // nginx still sends what it has (head and data so far) before closing.
            let total = ub.held_len;
            emit(&mut q, ub.held.drain(..), total, chunked, gz.as_deref_mut());
            ub.held_len = 0;
            flushable = true;
            while !q.is_empty() {
                match q.write_some(&mut c.stream, send_timeout).await {
                    Ok(n) => written += n,
                    Err(_) => break,
                }
            }
        }
    }
    r.sent.body_bytes = written.saturating_sub(head_len) as u64;
    r.upstream.response_length.push(ub.decoder.received());
    if let Some(ms) = r.upstream.response_ms.last_mut() {
        *ms += t0.elapsed().as_millis() as u64;
    }
    if let Some(msg) = &failed {
        cx.log(r, Level::Error, format_args!("{msg}"), "reading upstream");
    }
    if let Some(msg) = ub.excess.filter(|m| !m.is_empty()) {
        cx.log(r, Level::Warn, format_args!("{msg}"), "reading upstream");
    }
    if failed.is_some() || client_failed {
        // nginx closes the client connection: the body is cut short and a chunked response
        // gets no last chunk.
        r.keepalive = false;
        r.sent.incomplete = true;
        return Next::Done;
    }
    if client_framing == Framing::Close {
        r.keepalive = false;
    }
    // S5.8: keep the upstream connection when the response was read exactly to its end.
    let reusable = !upstream_eof
        && ub.excess.is_none()
        && !got.head.connection_close
        && !matches!(framing, resp::Framing::Close)
        && (got.head.http_major, got.head.http_minor) >= (1, 1)
        && buf.is_empty();
    if let (true, Some(g), Some(_)) = (reusable, group, ups.keepalive.as_ref()) {
        g.borrow_mut().put_idle(
            ups,
            Idle {
                stream: got.stream,
                peer: got.peer,
                since: Instant::now(),
                requests: got.requests,
                created: got.created,
            },
        );
    }
    Next::Done
}

/// S11.2: the 101 head goes to the client; the connection then becomes a tunnel
/// ([`super::tunnel`]), run once the request's pipeline has returned.
async fn upgrade(
    r: &mut Request,
    c: &mut Client,
    proxy: &Proxy,
    cx: &TryCx<'_>,
    mut got: Got,
    mut h: HeadersOut,
) -> Next {
    let mut out = Vec::with_capacity(256);
    respond::filter_and_write(r, &mut h, &mut out);
    r.sent.status = 101;
    r.sent.header_bytes = out.len() as u64;
    let send_timeout = r.conf.send_timeout;
    let written = io::write_all(&mut c.stream, &out, send_timeout).await;
    r.sent.head = Some(Bytes::from(out));
    if let Err(e) = written {
        log::client_write_error(r, &e);
        r.sent.incomplete = true;
        return Next::Done;
    }
    // The upstream's head stays for `$upstream_http_*` in the access log, but not the 16 KiB
    // buffer it was read into: a tunnel may idle for hours.
    if let Some((b, _)) = &mut r.upstream.head {
        *b = Bytes::copy_from_slice(b);
    }
    r.upgraded = Some(Box::new(Upgraded {
        upstream: got.stream,
        early: got.buf.split().freeze(),
        read_timeout: proxy.read_timeout,
        upstream_send_timeout: proxy.send_timeout,
        client_send_timeout: send_timeout,
        log_schema: cx.schema,
        log_name: cx.name.clone(),
        log_unix: cx.unix,
        log_uri: Bytes::copy_from_slice(cx.uri),
    }));
    Next::Done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::http::route::{find_location, Found};
    use crate::runtime::testing::env;

    /// The request-target sent upstream for a request to one location (S4.2, S4.3).
    fn target(location: &str, raw_target: &str) -> String {
        let e = env(&format!(
            "upstream vnc_proxy {{ server 127.0.0.1:1; }}\nserver {{ listen 127.0.0.1:8080; {location} }}"
        ));
        let mut r = e.request(&format!("GET {raw_target} HTTP/1.1\r\nHost: x\r\n\r\n"));
        let (found, caps) = find_location(r.server(), &r.uri);
        r.captures = caps;
        let Found::Location(id) = found else {
            panic!("{location}: {raw_target}: {found:?}")
        };
        r.conf = r.server().locations[id.0 as usize].conf.clone();
        let proxy = r.conf.proxy.clone().expect("proxy_pass");
        match resolve(&mut r, &proxy) {
            Ok(p) => String::from_utf8_lossy(&p.uri).into_owned(),
            Err(n) => panic!("{n:?}"),
        }
    }

    /// S4.2's table.
    #[test]
    fn request_targets_follow_s4_2() {
        let up = "http://127.0.0.1:1";
        let table: &[(String, &str, &str)] = &[
            (
                format!("location /nouri/ {{ proxy_pass {up}; }}"),
                "/nouri/a%20b//c/../d?x=%41&y",
                "/nouri/a%20b//c/../d?x=%41&y",
            ),
            (
                format!("location /slash/ {{ proxy_pass {up}/; }}"),
                "/slash/a%20b?q=1",
                "/a%20b?q=1",
            ),
            (
                format!("location /slash/ {{ proxy_pass {up}/; }}"),
                "/slash/a/../b",
                "/b",
            ),
            (
                format!("location /slash/ {{ proxy_pass {up}/; }}"),
                "/slash//x",
                "/x",
            ),
            (
                format!("location /slash/ {{ proxy_pass {up}/; }}"),
                "/slash/%7E%41",
                "/~A",
            ),
            (
                format!("location /slash/ {{ proxy_pass {up}/; }}"),
                "/slash/%2F%3F?x",
                "/%3F?x",
            ),
            (
                format!("location /noslash {{ proxy_pass {up}/; }}"),
                "/noslash",
                "/",
            ),
            (
                format!("location /noslash {{ proxy_pass {up}/; }}"),
                "/noslashfoo",
                "/foo",
            ),
            (
                format!("location /noslash {{ proxy_pass {up}/; }}"),
                "/noslash/x",
                "//x",
            ),
            (
                format!("location /repl/ {{ proxy_pass {up}/new/path/; }}"),
                "/repl/x/y?z",
                "/new/path/x/y?z",
            ),
            (
                format!("location /repl2/ {{ proxy_pass {up}/new; }}"),
                "/repl2/x",
                "/newx",
            ),
            (
                "location /ups/ { proxy_pass http://vnc_proxy/; }".into(),
                "/ups/x?y",
                "/x?y",
            ),
            (
                "location /websockify { proxy_pass http://vnc_proxy/; }".into(),
                "/websockify?token=abc",
                "/?token=abc",
            ),
            (
                "location /websockify { proxy_pass http://vnc_proxy/; }".into(),
                "/websockify/x",
                "//x",
            ),
            (
                "location /websockify { proxy_pass http://vnc_proxy/; }".into(),
                "/websockifyX",
                "/X",
            ),
            (
                format!("location = /exact {{ proxy_pass {up}/e; }}"),
                "/exact?q",
                "/e?q",
            ),
            (
                format!("location ~ ^/re/(.*)$ {{ proxy_pass {up}; }}"),
                "/re/a%20b?q",
                "/re/a%20b?q",
            ),
            (
                format!(
                    "location /rw/ {{ rewrite ^/rw/(.*)$ /rewritten/$1 break; proxy_pass {up}; }}"
                ),
                "/rw/a%20b?q=1",
                "/rewritten/a%20b?q=1",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/a%22b%27c%3Cd%3E",
                "/a%22b'c%3Cd%3E",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/a\"b",
                "/a\"b",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/a%2Bb+c",
                "/a+b+c",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/%41%42",
                "/AB",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/a{b}",
                "/a{b}",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/a%7Bb%7D",
                "/a%7Bb%7D",
            ),
            // S4.3: a URL with variables and a URI part is the whole target, unescaped.
            (
                format!("location ~ ^/recap/(.*)$ {{ proxy_pass {up}/cap/$1; }}"),
                "/recap/a%20b?q=1",
                "/cap/a b",
            ),
            (
                format!("location ~ ^/recap/(.*)$ {{ proxy_pass {up}/cap/$1$is_args$args; }}"),
                "/recap/a%20b?q=1",
                "/cap/a b?q=1",
            ),
        ];
        for (location, raw, want) in table {
            // The rewrite row needs its rewrite run first.
            let got = if location.contains("rewrite") {
                let e = env(&format!("server {{ listen 127.0.0.1:8080; {location} }}"));
                let mut r = e.request(&format!("GET {raw} HTTP/1.1\r\nHost: x\r\n\r\n"));
                let (found, _) = find_location(r.server(), &r.uri);
                let Found::Location(id) = found else { panic!() };
                r.conf = r.server().locations[id.0 as usize].conf.clone();
                let script = r.conf.script.clone().expect("script");
                let _ = crate::runtime::http::rewrite::run(&mut r, &script.ops);
                let proxy = r.conf.proxy.clone().expect("proxy");
                String::from_utf8_lossy(&resolve(&mut r, &proxy).map_err(|_| ()).expect("pass").uri)
                    .into_owned()
            } else {
                target(location, raw)
            };
            assert_eq!(got, *want, "{location} {raw}");
        }
    }

    /// S6.1/S6.2: nginx's header order and replacements on S6.2's request.
    #[test]
    fn upstream_request_head_follows_s6_2() {
        let e = env("proxy_set_header X-From-Http \"http-level\";\nserver { listen 127.0.0.1:8080; location /a/ { proxy_pass http://127.0.0.1:27081; } }");
        let raw = "GET /a/?a=1&A=2&a=3 HTTP/1.1\r\nHost: Client.Test:8443\r\nUser-Agent: probe\r\n\
            Connection: keep-alive, X-Hop\r\nX-Hop: hop-value\r\nKeep-Alive: 300\r\nTE: trailers\r\n\
            Upgrade: websocket\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 1.2.3.4\r\n\
            X-Forwarded-For: 5.6.7.8\r\nX_Underscore: dropped?\r\nX-Empty:\r\nCookie: a=1\r\nCookie: b=2\r\n\
            X-Dup: 1\r\nX-Dup: 2\r\nAccept: */*\r\nx-lower: from-client\r\nX-Real-IP: 9.9.9.9\r\n\r\n";
        let mut r = e.request(raw);
        let (found, _) = find_location(r.server(), &r.uri);
        let Found::Location(id) = found else { panic!() };
        r.conf = r.server().locations[id.0 as usize].conf.clone();
        let proxy = r.conf.proxy.clone().unwrap();
        let pass = resolve(&mut r, &proxy).map_err(|_| ()).unwrap();
        let head = build_head(&mut r, &proxy, &pass, None, false);
        assert_eq!(
            String::from_utf8_lossy(&head),
            "GET /a/?a=1&A=2&a=3 HTTP/1.0\r\nX-From-Http: http-level\r\nHost: 127.0.0.1:27081\r\n\
             Connection: close\r\nUser-Agent: probe\r\nX-Hop: hop-value\r\nProxy-Connection: keep-alive\r\n\
             X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\nX-Empty: \r\nCookie: a=1\r\nCookie: b=2\r\n\
             X-Dup: 1\r\nX-Dup: 2\r\nAccept: */*\r\nx-lower: from-client\r\nX-Real-IP: 9.9.9.9\r\n\r\n"
        );
    }
}
