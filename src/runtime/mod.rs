//! Runtime: executes the IR with nginx's semantics on tokio.
//!
//! HTTP/1 on both sides (clients and upstreams) uses rginx's own codec (`http1`), which
//! follows nginx's parsers byte for byte: header order and case, nginx's error pages for
//! malformed requests, HTTP/0.9. hyper keeps header case and order private
//! (hyperium/hyper#2695, #3914), so it serves HTTP/2, where neither exists on the wire.
//!
//! The process model is nginx's, in threads: `worker_processes` worker threads, each running
//! its own single-threaded tokio runtime that accepts on the shared listening sockets. Like
//! nginx's workers, each keeps its own upstream balancer state and keep-alive pools, so the
//! request path takes no lock and shares no cache line with another worker. The
//! configuration is an immutable [`Snapshot`] each connection holds an `Arc` of: a reload
//! swaps the snapshot new connections get, and old connections finish on the old one.
//!
//! Layout: `process` is nginx's master (start, signals, reload, stop) and `daemon` detaches
//! it; `listen` binds sockets; `worker` runs the accept loops and counts connections per
//! configuration generation; `conn` reads requests off a connection (keep-alive, pipelining,
//! timeouts); `handler` runs nginx's phases for one request; `proxy`/`upstream` talk to
//! upstreams; `files` serves static files (with `range` and `not_modified`, their filters);
//! `respond` and
//! `page` build responses; `vars` evaluates variables; `log` writes the logs.

pub mod body;
pub mod clock;
pub mod conn;
pub mod daemon;
pub mod files;
pub mod gzip;
pub mod h2;
pub mod handler;
pub mod http1;
pub mod io;
pub mod listen;
pub mod log;
pub mod not_modified;
pub mod page;
pub mod process;
pub mod proxy;
pub mod range;
pub mod request;
pub mod respond;
pub mod rewrite;
pub mod route;
#[cfg(test)]
pub mod testing;
pub mod tls;
pub mod tunnel;
pub mod upstream;
pub mod vars;
pub mod worker;

use std::sync::Arc;

use crate::ir;

/// Everything a connection needs, built once per configuration load.
pub struct Snapshot {
    pub config: ir::Config,
    /// An empty http block stands in when the configuration has none.
    pub http: ir::Http,
    pub logs: Arc<log::LogFiles>,
    /// `$hostname`.
    pub hostname: String,
    /// Counts configuration loads; connections log which one they run on.
    pub generation: u64,
    /// Connections (tunnels included) now served on this snapshot: a reload reports the
    /// ones still draining on an old one.
    pub connections: std::sync::atomic::AtomicUsize,
}

impl Snapshot {
    pub fn new(mut config: ir::Config, logs: Arc<log::LogFiles>, generation: u64) -> Snapshot {
        let http = config.http.take().unwrap_or(ir::Http {
            servers: Vec::new(),
            sockets: Vec::new(),
            upstreams: Vec::new(),
            maps: Vec::new(),
            set_vars: Vec::new(),
        });
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        Snapshot {
            config,
            http,
            logs,
            hostname,
            generation,
            connections: Default::default(),
        }
    }

    pub fn http(&self) -> &ir::Http {
        &self.http
    }
}

pub use process::run;
