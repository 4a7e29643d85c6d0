//! Why a try failed (or the relay after it), as one type: what went wrong, in which phase,
//! on which side, and what that means for `proxy_next_upstream` (pingora's `Error { etype,
//! esource, retry }` is the model; nginx's `NGX_HTTP_UPSTREAM_FT_*` flags are the retry
//! conditions). Each failure is turned into nginx's log line and the client's status here,
//! and nowhere else.

use std::io;

use bytes::Bytes;

use crate::ir::proxy::NextUpstream;
use crate::ir::Level;
use crate::runtime::base::io::errno_text;
use crate::runtime::state::log::{self, Upstream as LogUpstream};
use crate::runtime::state::request::Request;

/// Where the exchange with the upstream was when it failed: the `while ...` of nginx's log
/// lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Handshaking,
    Sending,
    ReadingHeader,
    /// The response head went to the client; its body was being relayed.
    Reading,
}

impl Phase {
    pub fn action(self) -> &'static str {
        match self {
            Phase::Connecting => "connecting to upstream",
            Phase::Handshaking => "SSL handshaking to upstream",
            Phase::Sending => "sending request to upstream",
            Phase::ReadingHeader => "reading response header from upstream",
            Phase::Reading => "reading upstream",
        }
    }
}

/// What went wrong.
#[derive(Debug)]
pub enum Kind {
    /// The operation's timer fired (`proxy_connect_timeout`, `proxy_send_timeout`,
    /// `proxy_read_timeout`).
    Timeout,
    /// A system call on the upstream connection failed (`connect()`, `writev()`, `recv()`
    /// by the phase).
    Io(io::Error),
    /// `proxy_pass https://`: the TLS handshake failed.
    Handshake(io::Error),
    /// The upstream closed the connection before its head, or its body, was complete.
    Closed,
    /// A response head nginx cannot use; the text is nginx's (`upstream sent too big
    /// header`, `upstream sent invalid header: "..."`).
    InvalidHeader(String),
    /// A chunked response body that breaks nginx's grammar.
    InvalidChunked,
    /// The response's status is one `proxy_next_upstream` lists.
    Status(u16),
    /// Every peer is down or failed (`no live upstreams`).
    NoLiveUpstreams,
    /// The client side failed while its body was streamed (already logged): the request
    /// ends without a response and nothing is retried.
    Client,
}

/// Which side of the proxy a failure is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Upstream,
    Client,
}

/// A failed try.
#[derive(Debug)]
pub struct ProxyError {
    pub kind: Kind,
    pub phase: Phase,
    /// The request was (being) sent: a non-idempotent one is retried only with
    /// `proxy_next_upstream non_idempotent`.
    pub sent: bool,
    /// The connection came from the keep-alive cache: an error on it does not use up a try
    /// (nginx gives the try back, as the peer is not to blame).
    pub cached: bool,
}

impl ProxyError {
    pub fn new(kind: Kind, phase: Phase) -> ProxyError {
        ProxyError {
            kind,
            phase,
            sent: matches!(
                phase,
                Phase::Sending | Phase::ReadingHeader | Phase::Reading
            ),
            cached: false,
        }
    }

    pub fn side(&self) -> Side {
        match self.kind {
            Kind::Client => Side::Client,
            _ => Side::Upstream,
        }
    }

    /// The `proxy_next_upstream` condition this failure is (nginx's `ft_type`); empty for
    /// those that are never retried.
    pub fn condition(&self) -> NextUpstream {
        match self.kind {
            Kind::Timeout => NextUpstream::TIMEOUT,
            Kind::Io(_) | Kind::Handshake(_) | Kind::Closed => NextUpstream::ERROR,
            Kind::InvalidHeader(_) => NextUpstream::INVALID_HEADER,
            Kind::Status(500) => NextUpstream::HTTP_500,
            Kind::Status(502) => NextUpstream::HTTP_502,
            Kind::Status(503) => NextUpstream::HTTP_503,
            Kind::Status(504) => NextUpstream::HTTP_504,
            Kind::Status(403) => NextUpstream::HTTP_403,
            Kind::Status(404) => NextUpstream::HTTP_404,
            Kind::Status(429) => NextUpstream::HTTP_429,
            _ => NextUpstream::empty(),
        }
    }

    /// Whether the peer is charged with the failure (`ngx_http_upstream_next`: a 403 or 404
    /// answer is not the peer's fault).
    pub fn counts_against_peer(&self) -> bool {
        !matches!(self.kind, Kind::Status(403 | 404))
    }

    /// The status the client gets when this is the last failure.
    pub fn status(&self) -> u16 {
        match self.kind {
            Kind::Timeout | Kind::Status(504) => 504,
            Kind::Status(s @ (500 | 503 | 403 | 404 | 429)) => s,
            _ => 502,
        }
    }

    /// nginx's error-log line, logged when the failure happens: every failure but a
    /// timeout (which `ngx_http_upstream_next` logs after the peer's accounting, see
    /// [`ProxyError::log_next`]) and what is no error of the upstream's.
    pub fn log(&self, r: &Request, peer: &PeerLog<'_>) {
        let msg = match &self.kind {
            Kind::Io(e) => {
                let call = match self.phase {
                    Phase::Connecting => "connect()",
                    Phase::Sending => "writev()",
                    _ => "recv()",
                };
                format!("{call} failed {}", errno_text(e))
            }
            Kind::Handshake(e) => format!("SSL_do_handshake() failed (rustls: {e})"),
            Kind::Closed => "upstream prematurely closed connection".to_string(),
            Kind::InvalidHeader(m) => m.clone(),
            Kind::InvalidChunked => "upstream sent invalid chunked response".to_string(),
            Kind::NoLiveUpstreams => "no live upstreams".to_string(),
            Kind::Timeout if self.phase == Phase::Reading => {
                "upstream timed out (110: Connection timed out)".to_string()
            }
            Kind::Timeout | Kind::Status(_) | Kind::Client => return,
        };
        peer.log(r, Level::Error, format_args!("{msg}"), self.phase.action());
    }

    /// The line nginx logs when it moves on from the failed peer: a timeout is said here.
    pub fn log_next(&self, r: &Request, peer: &PeerLog<'_>) {
        if matches!(self.kind, Kind::Timeout) {
            peer.log(
                r,
                Level::Error,
                format_args!("upstream timed out (110: Connection timed out)"),
                self.phase.action(),
            );
        }
    }
}

/// The upstream part of a try's error-log lines (`upstream: "http://127.0.0.1:8081/x"`).
pub struct PeerLog<'a> {
    pub schema: &'static [u8],
    /// The peer's address, or the upstream's name when no peer was live.
    pub name: Bytes,
    pub unix: bool,
    /// The request-target sent upstream.
    pub uri: &'a [u8],
}

impl PeerLog<'_> {
    pub fn log(&self, r: &Request, level: Level, msg: std::fmt::Arguments<'_>, action: &str) {
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
