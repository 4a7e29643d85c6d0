//! The IR: a validated, typed, immutable configuration.
//!
//! Plain data only: enums, typed ids, socket addresses, compiled templates and regexes,
//! certificates already read. Nothing here is a string to interpret while serving, and
//! nothing refers back to the AST. `config::load` builds it; the runtime only reads it.

pub mod header;
pub mod location;
pub mod log;
pub mod map;
pub mod proxy;
pub mod regex;
pub mod rewrite;
pub mod server;
pub mod stream;
pub mod tls;
pub mod upstream;
pub mod url;
pub mod value;
pub mod var;
pub mod websockify;

use std::path::PathBuf;
use std::time::Duration;

pub use location::{LocConf, LocId, Location, LocationKind, LocationTree};
pub use log::{AccessLog, ErrorLog, Level, LogFiles, LogFormat, LogTarget};
pub use map::Map;
pub use proxy::{Proxy, ProxyPass, ProxyTarget};
pub use server::{AddrConf, ListenAddr, Server, ServerId, Socket};
pub use upstream::{Peer, PeerAddr, Upstream, UpstreamId};
pub use var::{MapId, Part, Template, Var};

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub paths: Paths,
    pub main: Main,
    pub http: Option<Http>,
    pub stream: Option<stream::Stream>,
    pub log_files: LogFiles,
}

/// A socket to listen on, as the master binds it: the http block's sockets first, then the
/// stream block's (a worker tells them apart by index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listening {
    pub addr: ListenAddr,
    pub opts: server::SocketOpts,
    /// The socket also serves specific addresses of its port (S2.3).
    pub specifics: bool,
}

impl Config {
    /// Every listening socket: http's, then stream's.
    pub fn listening(&self) -> Vec<Listening> {
        let http = self.http.iter().flat_map(|h| {
            h.sockets.iter().map(|s| Listening {
                addr: s.addr.clone(),
                opts: s.opts.clone(),
                specifics: s.addrs.len() > 1,
            })
        });
        let stream = self.stream.iter().flat_map(|st| {
            st.sockets.iter().map(|s| Listening {
                addr: s.addr.clone(),
                opts: s.opts.clone(),
                specifics: s.addrs.len() > 1,
            })
        });
        http.chain(stream).collect()
    }
}

/// The prefix and configuration paths, as nginx computes them (`-p`, `-c`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// `-p`, with a trailing `/`.
    pub prefix: PathBuf,
    /// The main configuration file.
    pub conf_file: PathBuf,
    /// Its directory, with a trailing `/`: relative `include`s and certificates resolve here.
    pub conf_prefix: PathBuf,
}

/// A user and group to switch to (`user`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: Box<str>,
    pub group: Box<str>,
    pub uid: u32,
    pub gid: u32,
}

/// The main and events contexts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Main {
    pub user: Option<User>,
    /// `None` = `auto`.
    pub worker_processes: Option<u32>,
    pub pid: PathBuf,
    pub daemon: bool,
    pub master_process: bool,
    pub worker_rlimit_nofile: Option<u64>,
    pub worker_connections: u32,
    pub worker_shutdown_timeout: Option<Duration>,
    pub error_log: Vec<ErrorLog>,
}

/// The http context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Http {
    pub servers: Vec<Server>,
    pub sockets: Vec<Socket>,
    pub upstreams: Vec<Upstream>,
    /// The upstreams by lower-cased name, in creation order: where a `proxy_pass` URL
    /// evaluated per request finds its group (nginx compares names case-insensitively).
    pub upstream_names: std::collections::HashMap<Box<[u8]>, Vec<UpstreamId>>,
    pub maps: Vec<Map>,
    /// Names of the variables `set` declares, by index ([`Var::Set`]).
    pub set_vars: Vec<Box<str>>,
}
