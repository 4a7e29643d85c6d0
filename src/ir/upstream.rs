//! Upstream groups: explicit `upstream {}` blocks and the implicit ones nginx creates for
//! `proxy_pass http://host:port`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Index of an upstream in [`super::Http::upstreams`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UpstreamId(pub u32);

/// Where a peer listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    Inet(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Inet(a) => write!(f, "{a}"),
            PeerAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// One address of a `server` line (a name resolving to several addresses gives several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub addr: PeerAddr,
    /// The `server` argument as written (nginx's `$upstream_addr` uses the address).
    pub name: Box<str>,
    pub weight: u32,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub max_conns: u32,
    pub backup: bool,
    pub down: bool,
}

/// `keepalive` and its companions (upstream context).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle connections kept per worker.
    pub connections: u32,
    pub timeout: Duration,
    pub requests: u32,
    pub time: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// The name: the `upstream` name, or `host:port` of an implicit one.
    pub name: Box<[u8]>,
    /// Created by `proxy_pass http://host:port` rather than an `upstream {}` block.
    pub implicit: bool,
    /// An implicit upstream's port (a `proxy_pass` with variables finds it by name and port);
    /// 0 for an `upstream {}` block.
    pub port: u16,
    /// Primary peers first, then backups, in configuration order.
    pub peers: Vec<Peer>,
    pub keepalive: Option<Keepalive>,
}

impl Upstream {
    /// nginx never marks the only primary peer failed when there is no backup (S5.3).
    pub fn single_peer(&self) -> bool {
        self.peers.iter().filter(|p| !p.backup).count() == 1 && !self.peers.iter().any(|p| p.backup)
    }
}
