//! The configuration as the runtime serves it: the IR of one load, its open log files, and
//! the counters a reload reports. Built once per load (start or reload); every connection
//! holds an `Arc` of the snapshot it runs on, and nothing in it changes while serving.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use crate::ir;
use crate::runtime::base::log::LogFiles;

/// Everything a connection needs, built once per configuration load.
pub struct Snapshot {
    pub config: ir::Config,
    /// An empty http block stands in when the configuration has none.
    pub http: ir::Http,
    /// And an empty stream block.
    pub stream: ir::stream::Stream,
    pub logs: Arc<LogFiles>,
    /// `$hostname`.
    pub hostname: String,
    /// Counts configuration loads; connections log which one they run on.
    pub generation: u64,
    /// Connections (tunnels included) now served on this snapshot: a reload reports the
    /// ones still draining on an old one.
    pub connections: AtomicUsize,
}

impl Snapshot {
    pub fn new(mut config: ir::Config, logs: Arc<LogFiles>, generation: u64) -> Snapshot {
        let http = config.http.take().unwrap_or(ir::Http {
            servers: Vec::new(),
            sockets: Vec::new(),
            upstreams: Vec::new(),
            upstream_names: Default::default(),
            maps: Vec::new(),
            set_vars: Vec::new(),
        });
        let stream = config.stream.take().unwrap_or_default();
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        Snapshot {
            config,
            http,
            stream,
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
