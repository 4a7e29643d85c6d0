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

impl Upstream {
    /// The group of one address an evaluated target named: one peer, never marked failed,
    /// no keep-alive (nginx's `ngx_http_upstream_create_round_robin_peer`, and stream's).
    pub fn one_peer(addr: &PeerAddr) -> Upstream {
        Upstream {
            name: addr.to_string().into_bytes().into(),
            implicit: true,
            port: 0,
            peers: vec![Peer {
                addr: addr.clone(),
                name: addr.to_string().into(),
                weight: 1,
                max_fails: 1,
                fail_timeout: Duration::from_secs(10),
                max_conns: 0,
                backup: false,
                down: false,
            }],
            keepalive: None,
        }
    }
}

/// `ngx_http_upstream_init_request`'s search for an evaluated target (stream's is the
/// same): an `upstream {}` block (port 0) matches a name without a port, an implicit
/// upstream the same port; names compare case-insensitively.
pub fn find(
    names: &std::collections::HashMap<Box<[u8]>, Vec<UpstreamId>>,
    upstreams: &[Upstream],
    url: &super::url::Url,
) -> Option<UpstreamId> {
    let ids = names.get(&*url.host.to_ascii_lowercase())?;
    ids.iter().copied().find(|id| {
        let u = &upstreams[id.0 as usize];
        (u.port == 0 && url.no_port) || u.port == url.port
    })
}
