//! The stream context: TCP (and TLS) servers that proxy byte streams (`ngx_stream_*`), their
//! listening sockets, upstreams, maps and logs. nginx 1.22's stream has no `server_name`:
//! an address belongs to exactly one server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::location::AccessRule;
use super::log::{AccessLog, ErrorLog};
use super::map::Map;
use super::server::{ListenAddr, SocketOpts};
use super::tls::ServerTls;
use super::upstream::{Upstream, UpstreamId};
use super::var::Template;

/// Index of a server in [`Stream::servers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamServerId(pub u32);

/// The stream block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stream {
    pub servers: Vec<StreamServer>,
    pub sockets: Vec<StreamSocket>,
    /// The stream block's own upstreams (a namespace apart from http's).
    pub upstreams: Vec<Upstream>,
    /// By lower-cased name: where a `proxy_pass` with variables finds its group.
    pub upstream_names: HashMap<Box<[u8]>, Vec<UpstreamId>>,
    pub maps: Vec<Map>,
}

/// What a stream server does with a connection (the last of `proxy_pass` and `return` in
/// the server, as nginx keeps the last content handler set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handler {
    Proxy(Arc<StreamProxy>),
    /// `return value`: sends it and closes.
    Return(Template),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamServer {
    pub handler: Handler,
    /// The TLS of `listen ... ssl` (loaded only when some listen of the server has `ssl`).
    pub tls: Option<Arc<ServerTls>>,
    /// `ssl_handshake_timeout`.
    pub handshake_timeout: Duration,
    /// `tcp_nodelay` on the client's and the upstream's connections.
    pub tcp_nodelay: bool,
    /// `allow` / `deny`, checked before the TLS handshake (nginx's access phase comes first).
    pub access: Arc<[AccessRule]>,
    /// Empty when there is none (stream has no default access log).
    pub access_log: Arc<[AccessLog]>,
    /// Empty: the main error log.
    pub error_log: Arc<[ErrorLog]>,
}

/// `proxy_pass` and the stream `proxy_*` directives of one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamProxy {
    pub target: Target,
    pub connect_timeout: Duration,
    /// `proxy_timeout`: the session's idle timer, re-armed by every event on either side.
    pub timeout: Duration,
    /// `proxy_buffer_size`: one read from a side is at most this, and at most this much is
    /// in flight per direction.
    pub buffer_size: usize,
    pub next_upstream: bool,
    /// 0: as many tries as the group has peers.
    pub next_upstream_tries: u32,
    /// Zero: no limit.
    pub next_upstream_timeout: Duration,
    /// `proxy_socket_keepalive`: SO_KEEPALIVE on the upstream connection.
    pub socket_keepalive: bool,
    /// `proxy_half_close`: a side's end is passed on as a shutdown of the other's writing
    /// side, and the session lasts until both have ended.
    pub half_close: bool,
}

/// Where `proxy_pass` goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Static(UpstreamId),
    /// A value with variables, evaluated per session (an upstream name, an address with
    /// its port, or a `unix:` path).
    Dynamic(Template),
}

/// A listening socket of the stream block: the addresses it serves, specific ones first
/// (matched against the connection's local address), the socket's own last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSocket {
    pub addr: ListenAddr,
    pub opts: SocketOpts,
    pub addrs: Vec<StreamAddr>,
}

/// One address of a stream `listen`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamAddr {
    pub addr: ListenAddr,
    pub server: StreamServerId,
    pub ssl: bool,
    /// The address as nginx prints it in `connected to ...` and `server: ...`.
    pub text: Box<str>,
}
