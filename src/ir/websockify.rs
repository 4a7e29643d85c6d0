//! `websockify_pass` and the `websockify_*` directives of one location (the third-party
//! websockify-nginx-module, which rginx has built in): where the bridge connects, its
//! timers, and its buffer size.

use std::time::Duration;

use super::upstream::UpstreamId;
use super::var::Template;

/// The port a target without one connects to (VNC's first display).
pub const DEFAULT_PORT: u16 = 5900;

/// What `websockify_pass` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An address, `unix:` path or `upstream {}` name without variables: its group is known
    /// at load time (an implicit one for an address, as the module's `ngx_http_upstream_add`).
    Static(UpstreamId),
    /// A value with variables, evaluated per request (`map $arg_token $vnc`): an `upstream`
    /// name, an address literal or a `unix:` path. An empty value is refused (404).
    Dynamic(Template),
}

/// Everything a `websockify_pass` location needs, merged from http, server and location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Websockify {
    pub target: Target,
    /// The argument as written, for logs.
    pub text: Box<[u8]>,
    pub connect_timeout: Duration,
    /// The bridge's idle timer (both directions), as `proxy_read_timeout` for a tunnel.
    pub read_timeout: Duration,
    /// A blocked write to the target.
    pub send_timeout: Duration,
    /// `websockify_buffer_size`: the largest frame a client may send is this less 8 bytes
    /// (a header and a mask, as the module counts), and one read from the target (one
    /// message to the client) is at most that too, and at most 65,535 bytes.
    pub buffer_size: usize,
}

impl Websockify {
    /// The module's default `websockify_buffer_size`: a 65,535-byte frame, its header and
    /// its mask.
    pub const DEFAULT_BUFFER_SIZE: usize = 65_535 + 4 + 4;

    /// The largest client frame payload accepted.
    pub fn max_frame(&self) -> u64 {
        self.buffer_size.saturating_sub(8).max(125) as u64
    }

    /// The most bytes one message to the client carries.
    pub fn max_message(&self) -> usize {
        self.buffer_size.saturating_sub(8).clamp(1, 65_535)
    }
}
