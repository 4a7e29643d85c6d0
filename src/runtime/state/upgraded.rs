//! What a request whose upstream switched protocols (101) hands over to its tunnel: the
//! upstream connection, the bytes it sent after its head, the tunnel's timers and the
//! upstream part of its log lines.

use std::time::Duration;

use bytes::Bytes;

use crate::runtime::base::io::Stream;

/// What the request pipeline hands over after writing the 101 head.
pub struct Upgraded {
    pub upstream: Stream,
    /// Bytes the upstream sent right after its 101 (the RFB greeting, say): the client's first.
    pub early: Bytes,
    /// `proxy_read_timeout`: the tunnel's idle timer.
    pub read_timeout: Duration,
    /// `proxy_send_timeout`: a blocked write to the upstream.
    pub upstream_send_timeout: Duration,
    /// `send_timeout`: a blocked write to the client.
    pub client_send_timeout: Duration,
    /// The upstream part of error-log lines (`upstream: "http://..."`).
    pub log_schema: &'static [u8],
    pub log_name: Bytes,
    pub log_unix: bool,
    pub log_uri: Bytes,
}
