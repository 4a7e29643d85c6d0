//! HTTP/2 to clients (S12.7): `listen ... ssl http2` offers `h2` in ALPN, a plaintext
//! `listen ... http2` speaks HTTP/2 with prior knowledge only, as nginx 1.22.
//!
//! hyper's HTTP/2 server (`hyper::server::conn::http2`) runs the connection: framing, HPACK,
//! flow control, stream limits (`http2_max_concurrent_streams`). Each stream becomes a request
//! of rginx's own pipeline, the same one HTTP/1 requests run through (server and location
//! selection, rewrite, proxy, static files, error pages, logs): its head is written as the
//! HTTP/1 head nginx's HTTP/2 module would have built (pseudo-headers to request line and
//! Host, cookies joined with `; `), parsed by the HTTP/1 parser with the version then set to
//! 2.0 (`$server_protocol`, `$request`), and run on one end of an in-memory pipe whose other
//! end carries the request body in and the response out. The response head is parsed back
//! and given to hyper without the connection-level headers HTTP/2 forbids; its body is
//! de-framed as it streams. WebSocket stays on HTTP/1.1, as nginx 1.22 has no extended
//! CONNECT.

use std::cell::Cell;
use std::convert::Infallible;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::AsyncWriteExt;

use super::open::Open;
use super::request::{
    first_server, first_srv, limits_of, log_invalid_headers, new_request, refuse,
};
use crate::ir::header::Known;
use crate::runtime::base::http1::decode::{Decoder, Framing, Pieces};
use crate::runtime::base::http1::encode;
use crate::runtime::base::http1::request::{self as http1, BufferState, Limits, Parse};
use crate::runtime::base::http1::response as upstream;
use crate::runtime::base::io::{self, Stream};
use crate::runtime::http::log::access;
use crate::runtime::http::phases;
use crate::runtime::state::conn::{Client, ConnInfo};
use crate::runtime::state::log;
use crate::runtime::state::Snapshot;

/// The in-memory pipe between a stream and its request: enough for a response's first
/// writes without making a slow client's data pile up.
const PIPE: usize = 64 * 1024;

/// Runs hyper's executor on the worker's `LocalSet`: streams are local tasks, like
/// connections.
#[derive(Clone, Copy)]
struct Local;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for Local {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// Serves an HTTP/2 connection until the client ends it or it stays idle for the default
/// server's `keepalive_timeout` (nginx 1.19.7+ uses it for HTTP/2 idleness).
pub async fn serve(stream: Stream, conn: Arc<ConnInfo>, snap: Arc<Snapshot>, open: Open) {
    let server = first_server(&snap, &conn);
    let idle_timeout = server.conf.keepalive_timeout;
    let active = Rc::new(Cell::new(0usize));
    let requests = Rc::new(Cell::new(0u64));
    let streams = Rc::clone(&requests);
    let changed = Rc::new(tokio::sync::Notify::new());
    let service = {
        let (conn, snap, active, changed) = (
            Arc::clone(&conn),
            Arc::clone(&snap),
            Rc::clone(&active),
            Rc::clone(&changed),
        );
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            requests.set(requests.get() + 1);
            let n = requests.get();
            let guard = Active::new(Rc::clone(&active), Rc::clone(&changed));
            let (conn, snap) = (Arc::clone(&conn), Arc::clone(&snap));
            async move { Ok::<_, Infallible>(stream_request(req, conn, snap, n, guard).await) }
        })
    };
    let mut builder = hyper::server::conn::http2::Builder::new(Local);
    builder.max_concurrent_streams(server.http2_max_concurrent_streams);
    let served = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(served);
    {
        let retired = open.retired(&snap);
        tokio::pin!(retired);
        let mut retiring = false;
        loop {
            let idle = active.get() == 0;
            tokio::select! {
                // A graceful stop, or a reload: GOAWAY, as nginx's exiting workers send it; the
                // streams in flight finish, the client opens a new connection for more.
                _ = retired.as_mut(), if !retiring => {
                    retiring = true;
                    served.as_mut().graceful_shutdown();
                }
                done = served.as_mut() => {
                    if let Err(e) = done {
                        // An HTTP/1 request on a plaintext `listen ... http2` port, say (S12.7).
                        // hyper reports a bad preface as a PROTOCOL_ERROR before any stream.
                        let text = format!("{e:?}");
                        if streams.get() == 0 && text.contains("PROTOCOL_ERROR") {
                            log::conn_error(
                                &snap,
                                &conn,
                                crate::ir::Level::Info,
                                format_args!("invalid connection preface"),
                                Some("processing HTTP/2 connection"),
                            );
                        }
                    }
                    break;
                }
                _ = changed.notified() => {}
                _ = tokio::time::sleep(idle_timeout), if idle => {
                    served.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), served.as_mut()).await;
                    break;
                }
            }
        }
    }
    drop(open);
}

/// Counts a stream as open while its response is being sent (idleness is no open stream).
struct Active {
    count: Rc<Cell<usize>>,
    changed: Rc<tokio::sync::Notify>,
}

impl Active {
    fn new(count: Rc<Cell<usize>>, changed: Rc<tokio::sync::Notify>) -> Active {
        count.set(count.get() + 1);
        changed.notify_one();
        Active { count, changed }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.count.set(self.count.get() - 1);
        self.changed.notify_one();
    }
}

/// One stream: the request runs on its pipe; the response comes back through it.
async fn stream_request(
    req: hyper::Request<Incoming>,
    conn: Arc<ConnInfo>,
    snap: Arc<Snapshot>,
    n: u64,
    guard: Active,
) -> hyper::Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let is_head = parts.method == hyper::Method::HEAD;
    let has_body = !body.is_end_stream();
    let chunked = has_body && !parts.headers.contains_key(hyper::header::CONTENT_LENGTH);
    let head = request_head(&parts, chunked);
    let (ours, theirs) = tokio::io::duplex(PIPE);
    tokio::task::spawn_local(serve_stream(Stream::Pipe(ours), head, conn, snap, n));
    let (mut rd, mut wr) = tokio::io::split(theirs);
    // The pipe's write side stays open until the response is done (the request may read its
    // body to the end, or not at all): `done` is dropped with the response body.
    let (done, mut response_done) = tokio::sync::oneshot::channel::<()>();
    let mut keep = None;
    if has_body {
        tokio::task::spawn_local(async move {
            let mut body = body;
            let mut frame_head = Vec::with_capacity(16);
            // Once the request stops reading, the rest is read and dropped, so that the
            // stream is not reset under a response still being sent.
            let mut sink = true;
            loop {
                let frame = tokio::select! {
                    f = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)) => f,
                    _ = &mut response_done => return,
                };
                let Some(frame) = frame else {
                    break;
                };
                let Ok(frame) = frame else {
                    // The client reset the stream: the request sees its body cut short.
                    return;
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if data.is_empty() || !sink {
                    continue;
                }
                if chunked {
                    frame_head.clear();
                    encode::chunk(&data, &mut frame_head);
                    sink = wr.write_all(&frame_head).await.is_ok();
                } else {
                    sink = wr.write_all(&data).await.is_ok();
                }
            }
            if chunked && sink {
                let _ = wr.write_all(encode::LAST_CHUNK).await;
            }
            let _ = response_done.await;
        });
    } else {
        keep = Some(wr);
    }
    // The response head.
    let mut buf = BytesMut::with_capacity(4096);
    let head = loop {
        match upstream::parse_head(&buf, 1 << 20) {
            // `Expect: 100-continue`: the interim answer is not the response (hyper sends
            // the stream's 100 itself when the body is read).
            Ok(upstream::Parse::Complete(h)) if h.status == 100 => {
                buf.advance(h.head_len);
                continue;
            }
            Ok(upstream::Parse::Complete(h)) => break Some(h),
            Ok(upstream::Parse::Partial) => {}
            Err(_) => break None,
        }
        match tokio::io::AsyncReadExt::read_buf(&mut rd, &mut buf).await {
            Ok(0) | Err(_) => break None,
            Ok(_) => {}
        }
    };
    let Some(head) = head else {
        // The request closed without a response (nginx's 444, a client-side abort): reset.
        return reset();
    };
    let mut resp = hyper::Response::builder().status(head.status);
    for h in &head.headers {
        // The connection-level headers HTTP/2 forbids (RFC 9113 8.2.2).
        if matches!(
            h.known,
            Some(
                Known::Connection
                    | Known::KeepAlive
                    | Known::TransferEncoding
                    | Known::ProxyConnection
                    | Known::Upgrade
            )
        ) {
            continue;
        }
        let name = h.name_in(&buf);
        let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name),
            hyper::header::HeaderValue::from_bytes(h.value_in(&buf)),
        ) else {
            continue;
        };
        resp = resp.header(name, value);
    }
    let framing = upstream::framing(&head, is_head);
    buf.advance(head.head_len);
    let body = ResponseBody {
        rd: Some(rd),
        buf,
        empty: framing == Framing::Empty,
        decoder: Decoder::new(framing),
        _guard: Some(guard),
        _done: Some(done),
        _keep: keep,
    };
    resp.body(body).unwrap_or_else(|_| reset())
}

fn reset() -> hyper::Response<ResponseBody> {
    // A body that fails makes hyper reset the stream.
    let mut r = hyper::Response::new(ResponseBody {
        rd: None,
        buf: BytesMut::new(),
        empty: false,
        decoder: Decoder::new(Framing::Close),
        _guard: None,
        _done: None,
        _keep: None,
    });
    *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
    r
}

/// The HTTP/1 head nginx's HTTP/2 module builds from a stream's headers.
fn request_head(parts: &hyper::http::request::Parts, chunked: bool) -> BytesMut {
    let mut h = BytesMut::with_capacity(512);
    h.extend_from_slice(parts.method.as_str().as_bytes());
    h.extend_from_slice(b" ");
    match parts.uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() => h.extend_from_slice(pq.as_str().as_bytes()),
        _ => h.extend_from_slice(b"/"),
    }
    // Parsed as 1.1, then marked 2.0 (same length, see `conn::serve_h2_stream`).
    h.extend_from_slice(b" HTTP/1.1\r\n");
    if !parts.headers.contains_key(hyper::header::HOST) {
        if let Some(a) = parts.uri.authority() {
            h.extend_from_slice(b"Host: ");
            h.extend_from_slice(a.as_str().as_bytes());
            h.extend_from_slice(b"\r\n");
        }
    }
    let mut cookies: Vec<&[u8]> = Vec::new();
    for (name, value) in &parts.headers {
        if name == hyper::header::COOKIE {
            cookies.push(value.as_bytes());
            continue;
        }
        h.extend_from_slice(name.as_str().as_bytes());
        h.extend_from_slice(b": ");
        h.extend_from_slice(value.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    if !cookies.is_empty() {
        h.extend_from_slice(b"cookie: ");
        h.extend_from_slice(&cookies.join(&b"; "[..]));
        h.extend_from_slice(b"\r\n");
    }
    if chunked {
        h.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    h.extend_from_slice(b"\r\n");
    h
}

/// A response body as it comes out of the pipe, without its HTTP/1 framing.
pub struct ResponseBody {
    rd: Option<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
    buf: BytesMut,
    /// The response has no body (HEAD, 204, 304, `Content-Length: 0`).
    empty: bool,
    decoder: Decoder,
    /// Keeps the stream counted as open until the response is sent.
    _guard: Option<Active>,
    /// Dropped with the body: the request body's feeder may close the pipe.
    _done: Option<tokio::sync::oneshot::Sender<()>>,
    /// A bodiless request's pipe write side, open as long as the response.
    _keep: Option<tokio::io::WriteHalf<tokio::io::DuplexStream>>,
}

impl ResponseBody {
    /// Takes the body bytes that `buf` holds; `None` when the body is complete.
    fn take(&mut self) -> Result<Option<Bytes>, std::io::Error> {
        if self.decoder.is_done() {
            return Ok(None);
        }
        let mut pieces = Pieces::default();
        self.decoder
            .decode(&mut self.buf, &mut pieces)
            .map_err(|_| std::io::Error::other("invalid chunked response"))?;
        Ok(match pieces.concat() {
            Some(b) => Some(b),
            None if self.decoder.is_done() => None,
            None => Some(Bytes::new()),
        })
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let me = self.get_mut();
        loop {
            if me.rd.is_none() {
                return Poll::Ready(Some(Err(std::io::Error::other("no response"))));
            }
            match me.take() {
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(None) => return Poll::Ready(None),
                Ok(Some(b)) if !b.is_empty() => return Poll::Ready(Some(Ok(Frame::data(b)))),
                Ok(Some(_)) => {}
            }
            let Some(rd) = me.rd.as_mut() else {
                return Poll::Ready(None);
            };
            me.buf.reserve(16 * 1024);
            match tokio_util::io::poll_read_buf(Pin::new(rd), cx, &mut me.buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(0)) => {
                    // The request ended: a body delimited by the close is complete; a
                    // shorter one was cut (the stream is reset, as nginx does).
                    return if me.decoder.complete_at_eof() {
                        Poll::Ready(None)
                    } else {
                        Poll::Ready(Some(Err(std::io::Error::other("response cut short"))))
                    };
                }
                Poll::Ready(Ok(_)) => {}
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.empty && self.rd.is_some()
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// One HTTP/2 stream's request, on its pipe (see `h2`): `head` is the HTTP/1 form of its
/// headers, parsed here with the limits of the connection's server and then marked HTTP/2.0.
async fn serve_stream(
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
    phases::handle(&mut r, &mut c).await;
    // No tunnel over HTTP/2 (nginx 1.22 has no extended CONNECT): an upgrade is dropped.
    drop(r.upgraded.take());
    access(&mut r);
    // A body the request did not read is not drained: the stream ends here (hyper resets
    // it if the client is still sending), there is no next request on it.
    io::close(&mut c.stream, false).await;
}
