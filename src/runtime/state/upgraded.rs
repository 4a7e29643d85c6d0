//! What a request whose connection switched protocols (101) hands over to its tunnel: the
//! upstream connection, the bytes it sent after its head, how the tunnel carries bytes, the
//! tunnel's timers and the upstream part of its log lines.

use std::time::Duration;

use bytes::Bytes;

use crate::runtime::base::io::Stream;

/// What the request pipeline hands over after writing the 101 head.
pub struct Upgraded {
    pub upstream: Stream,
    /// Bytes the upstream sent right after its 101 (the RFB greeting, say): the client's first.
    pub early: Bytes,
    pub carry: Carry,
    /// `proxy_read_timeout` (`websockify_read_timeout`): the tunnel's idle timer.
    pub read_timeout: Duration,
    /// `proxy_send_timeout` (`websockify_send_timeout`): a blocked write to the upstream.
    pub upstream_send_timeout: Duration,
    /// `send_timeout`: a blocked write to the client.
    pub client_send_timeout: Duration,
    /// The upstream part of error-log lines (`upstream: "http://..."`).
    pub log_schema: &'static [u8],
    pub log_name: Bytes,
    pub log_unix: bool,
    pub log_uri: Bytes,
}

/// How a tunnel carries bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carry {
    /// As they are (a proxied WebSocket: the upstream speaks it).
    Bytes,
    /// Bridged (`websockify_pass`): WebSocket frames on the client's side, a byte stream on
    /// the target's.
    Bridge(BridgeMode),
}

/// A bridge's protocol and sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgeMode {
    /// websockify's `base64` subprotocol: text messages of base64 both ways.
    pub base64: bool,
    /// The largest frame payload a client may send (1009 beyond).
    pub max_frame: u64,
    /// The most bytes of the target's one message to the client carries.
    pub max_message: usize,
}
