//! Servers, listening sockets and virtual server selection tables (S2).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::location::{LocConf, LocId, Location, LocationTree};
use super::regex::Regex;
use super::tls::ServerTls;

/// Index of a server in [`super::Http::servers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerId(pub u32);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    Inet(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Inet(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Socket options of a `listen` (given once per address, S2.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketOpts {
    pub backlog: Option<i32>,
    pub rcvbuf: Option<i32>,
    pub sndbuf: Option<i32>,
    pub reuseport: bool,
    /// `ipv6only=`; nginx's default is on.
    pub ipv6only: bool,
    pub deferred: bool,
    pub bind: bool,
    pub fastopen: Option<i32>,
    /// `so_keepalive=on|off|idle:intvl:cnt`.
    pub so_keepalive: Option<SoKeepalive>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SoKeepalive {
    On,
    Off,
    Params {
        idle: Option<Duration>,
        interval: Option<Duration>,
        count: Option<u32>,
    },
}

/// The servers reachable through one address, and how a host name picks one (S2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrConf {
    pub addr: ListenAddr,
    pub ssl: bool,
    pub http2: bool,
    pub proxy_protocol: bool,
    pub default_server: ServerId,
    /// Exact names, lowercased.
    pub exact: HashMap<Box<[u8]>, ServerId>,
    /// Leading wildcards (`*.a.com` and `.a.com`): the suffix with its leading dot, longest
    /// first; `.a.com` also matches `a.com` exactly (through `exact`).
    pub wildcard_head: Vec<(Box<[u8]>, ServerId)>,
    /// Trailing wildcards (`www.*`): the prefix with its trailing dot, longest first.
    pub wildcard_tail: Vec<(Box<[u8]>, ServerId)>,
    pub regexes: Vec<(Regex, ServerId)>,
}

/// A socket to bind: one per distinct address, unless a wildcard address of the same port
/// serves the specific ones (S2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    pub addr: ListenAddr,
    pub opts: SocketOpts,
    /// The address configurations served through this socket: specific addresses first
    /// (matched against the connection's local address), the socket's own last.
    pub addrs: Vec<AddrConf>,
}

/// Settings taken from the default server of an address before the Host is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvConf {
    pub client_header_timeout: Duration,
    pub client_header_buffer_size: usize,
    pub large_client_header_buffers: (u32, usize),
    pub underscores_in_headers: bool,
    pub ignore_invalid_headers: bool,
    pub merge_slashes: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// `$server_name`: the first name as written (`.a.com` as `a.com`), or empty.
    pub server_name: Box<[u8]>,
    pub srv: SrvConf,
    /// The rewrite directives at server level (server rewrite phase, before locations are
    /// searched).
    pub script: Option<Arc<super::rewrite::Script>>,
    pub locations: Vec<Location>,
    pub tree: LocationTree,
    pub named: HashMap<Box<[u8]>, LocId>,
    /// The configuration used when no location matches.
    pub conf: Arc<LocConf>,
    pub tls: Option<Arc<ServerTls>>,
    pub http2_max_concurrent_streams: u32,
    /// `http2 on`: HTTP/2 in ALPN when SNI picks this server; on a plaintext address whose
    /// default server this is, HTTP/2 for clients that start with its preface.
    pub http2: bool,
}
