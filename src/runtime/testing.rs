//! Test support: a configuration loaded from text and requests built from raw bytes, the way a
//! connection builds them, for the table tests of the request-path modules.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use super::base::http1::request::{self as http1, BufferState, Limits, Parse};
use super::base::log::LogFiles;
use super::state::conn::ConnInfo;
use super::state::request::Request;
use super::state::Snapshot;
use crate::config::{load, Options};

/// A loaded configuration and the directory it lives in.
pub struct Env {
    pub snap: Arc<Snapshot>,
    _dir: tempfile::TempDir,
}

/// Loads `events {} http { access_log off; HTTP }`; panics with the errors if it does not load.
pub fn env(http: &str) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!("events {{}}\nhttp {{ access_log off;\n{http}\n}}\n"),
    )
    .expect("write");
    let loaded = load(&Options {
        prefix: Some(dir.path().to_path_buf()),
        conf_file: Some(conf),
        params: None,
        error_log: None,
        open_logs: false,
    });
    let errors: Vec<String> = loaded
        .diagnostics
        .errors()
        .map(|d| d.message.clone())
        .collect();
    let config = loaded.config.unwrap_or_else(|| panic!("{errors:?}"));
    let snap = Snapshot::new(config, Arc::new(LogFiles::default()), 1);
    Env {
        snap: Arc::new(snap),
        _dir: dir,
    }
}

impl Env {
    /// A request for `raw` (a complete head) arriving on the first listening socket from
    /// 127.0.0.1:40000.
    pub fn request(&self, raw: &str) -> Request {
        let mut buf = BytesMut::from(raw.as_bytes());
        let limits = Limits::default();
        let head = match http1::parse_buf(&mut buf, &limits, BufferState::fresh(&limits)) {
            Ok(Parse::Complete(h)) => h,
            other => panic!("{raw:?} did not parse: {:?}", other.err()),
        };
        let sock = &self.snap.http().sockets[0];
        let local = match &sock.addr {
            crate::ir::ListenAddr::Inet(a) => Some(*a),
            crate::ir::ListenAddr::Unix(_) => None,
        };
        let conn = Arc::new(ConnInfo {
            number: 1,
            remote: Some("127.0.0.1:40000".parse::<SocketAddr>().expect("addr")),
            local,
            https: false,
            tls: None,
            http2: false,
            accepted: Instant::now(),
            socket: 0,
            addr: sock.addrs.len() - 1,
        });
        super::serve::request::new_request(&self.snap, &conn, head, 1, false, true, None)
    }
}
