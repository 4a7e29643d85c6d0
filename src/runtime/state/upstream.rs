//! The upstream side of a request: one record per try (nginx's `ngx_http_upstream_state_t`),
//! which `$upstream_*` and the access log read; the last response's head
//! (`$upstream_http_*`, `$upstream_cookie_*`); and `$proxy_host`/`$proxy_port`.

use bytes::Bytes;
use std::rc::Rc;

use crate::runtime::base::http1::response::ResponseHead;

/// What one try did: the peer, its answer, its times and lengths. A field stays `None` (`-`
/// in the variables) when the try did not get that far.
#[derive(Clone, Debug, Default)]
pub struct UpstreamTry {
    /// The peer's address as nginx prints it (`$upstream_addr`), or the upstream's name
    /// when no peer was live.
    pub addr: Bytes,
    /// `$upstream_status`: the response's status, or the status of the failure.
    pub status: Option<u16>,
    /// Milliseconds (`$upstream_connect_time`, `$upstream_header_time`,
    /// `$upstream_response_time`).
    pub connect_ms: Option<u64>,
    pub header_ms: Option<u64>,
    pub response_ms: Option<u64>,
    /// `$upstream_response_length`: payload bytes of the body relayed.
    pub response_length: u64,
    /// `$upstream_bytes_received`, `$upstream_bytes_sent`.
    pub bytes_received: u64,
    pub bytes_sent: u64,
}

impl UpstreamTry {
    pub fn new(addr: Bytes) -> UpstreamTry {
        UpstreamTry {
            addr,
            ..UpstreamTry::default()
        }
    }
}

/// The upstream response head the variables read: the head's bytes and its parse.
#[derive(Clone, Debug)]
pub struct UpstreamHead {
    pub buf: Bytes,
    pub head: ResponseHead,
}

impl UpstreamHead {
    /// The value of the first header line called `name` (ASCII case-insensitive).
    pub fn find(&self, name: &[u8]) -> Option<&[u8]> {
        self.head.find(&self.buf, name)
    }

    /// Every header line, as (name, value).
    pub fn lines(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.head
            .headers
            .iter()
            .map(|h| (h.name_in(&self.buf), h.value_in(&self.buf)))
    }
}

/// The upstream side of a request.
#[derive(Debug, Default)]
pub struct UpstreamState {
    /// One record per try, in order (nginx lists them with `, `).
    pub tries: Vec<UpstreamTry>,
    /// The last response's head, shared with the proxy's response phase that reads it (one
    /// allocation, not a copy of its header lines; and out of line, so that a request that
    /// was not proxied, or a tunnel idling for hours, carries a pointer and not the head).
    pub head: Option<Rc<UpstreamHead>>,
    /// `$proxy_host` / `$proxy_port` of the request being proxied.
    pub proxy_host: Bytes,
    pub proxy_port: Bytes,
}

impl UpstreamState {
    /// The record of the try in progress (or the last one).
    pub fn current(&mut self) -> Option<&mut UpstreamTry> {
        self.tries.last_mut()
    }
}
