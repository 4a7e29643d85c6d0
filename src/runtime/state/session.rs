//! A stream session while served (nginx's `ngx_stream_session_t`): the client connection it
//! stands for, its server, its status and byte counts, the upstream tries (for
//! `$upstream_*`), its maps' values; and its error-log lines, in nginx's words and layout
//! (`msg while ACTION, client: ADDR, server: LISTEN[, upstream: "PEER", bytes from/to
//! client:N/N, bytes from/to upstream:N/N]`).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::captures::Captures;
use super::conn::TlsInfo;
use super::request::MapSlot;
use super::snapshot::Snapshot;
use crate::ir::stream::{StreamAddr, StreamServer};
use crate::ir::{ErrorLog, Level};
use crate::runtime::base::log::{finish, prefix};

/// nginx's stream session statuses (`$status`).
pub mod status {
    pub const OK: u16 = 200;
    pub const FORBIDDEN: u16 = 403;
    pub const INTERNAL_SERVER_ERROR: u16 = 500;
    pub const BAD_GATEWAY: u16 = 502;
}

/// One upstream try of a session (`ngx_stream_upstream_state_t`).
#[derive(Clone, Debug)]
pub struct StreamTry {
    /// The peer's name (`$upstream_addr`).
    pub peer: Bytes,
    pub started: Instant,
    /// Milliseconds to connect; `None` (`-`) if it did not.
    pub connect_ms: Option<u64>,
    /// Milliseconds to the upstream's first byte.
    pub first_byte_ms: Option<u64>,
    /// Milliseconds the try lasted.
    pub session_ms: Option<u64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl StreamTry {
    pub fn new(peer: Bytes) -> StreamTry {
        StreamTry {
            peer,
            started: Instant::now(),
            connect_ms: None,
            first_byte_ms: None,
            session_ms: None,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    /// The try ended: how long it lasted.
    pub fn end(&mut self) {
        if self.session_ms.is_none() {
            self.session_ms = Some(self.started.elapsed().as_millis() as u64);
        }
    }
}

/// The session.
pub struct Session {
    pub snap: Arc<Snapshot>,
    /// `$connection`, and the `*N` of its log lines.
    pub number: u64,
    pub remote: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    /// Index of the listening socket in the stream block's sockets, and of the address in
    /// it.
    pub socket: usize,
    pub addr: usize,
    pub tls: Option<Box<TlsInfo>>,
    pub started: Instant,
    /// `$status`.
    pub status: u16,
    /// `$bytes_received`: read from the client.
    pub received: u64,
    /// `$bytes_sent`: written to the client.
    pub sent: u64,
    pub tries: Vec<StreamTry>,
    /// Once proxying has begun, the error log says which upstream and how many bytes.
    pub proxying: bool,
    pub maps: Vec<MapSlot>,
    /// The captures of the last `map` regex that matched.
    pub captures: Option<Captures>,
}

impl Session {
    pub fn address(&self) -> &StreamAddr {
        &self.snap.stream.sockets[self.socket].addrs[self.addr]
    }

    pub fn server(&self) -> &StreamServer {
        &self.snap.stream.servers[self.address().server.0 as usize]
    }

    fn error_logs(&self) -> &[ErrorLog] {
        let own = &self.server().error_log;
        if own.is_empty() {
            &self.snap.config.main.error_log
        } else {
            own
        }
    }

    /// Whether a line at `level` goes anywhere.
    pub fn logs_at(&self, level: Level) -> bool {
        self.error_logs().iter().any(|t| level <= t.level)
    }

    /// A line with no context after the message (the session's own info lines: `client ...
    /// connected to ...`, `proxy ... connected to ...`, `... disconnected, bytes ...`).
    pub fn bare(&self, level: Level, msg: std::fmt::Arguments<'_>) {
        self.write(level, |line| {
            let _ = line.write_fmt(msg);
        });
    }

    /// `msg[ while action], client: ADDR, server: LISTEN`, and the upstream part once the
    /// session proxies (`ngx_stream_log_error`, `ngx_stream_proxy_log_error`).
    pub fn error(&self, level: Level, msg: std::fmt::Arguments<'_>, action: Option<&str>) {
        self.write(level, |line| {
            let _ = line.write_fmt(msg);
            if let Some(a) = action {
                let _ = write!(line, " while {a}");
            }
            line.extend_from_slice(b", client: ");
            match self.remote {
                Some(a) => {
                    let _ = write!(line, "{}", a.ip());
                }
                None => line.extend_from_slice(b"unix:"),
            }
            // The listening socket's address, as nginx's `listening->addr_text`.
            let _ = write!(
                line,
                ", server: {}",
                self.snap.stream.sockets[self.socket].addr
            );
            if self.proxying {
                if let Some(t) = self.tries.last() {
                    line.extend_from_slice(b", upstream: \"");
                    line.extend_from_slice(&t.peer);
                    line.push(b'"');
                }
                let (up_in, up_out) = self
                    .tries
                    .last()
                    .map_or((0, 0), |t| (t.bytes_received, t.bytes_sent));
                let _ = write!(
                    line,
                    ", bytes from/to client:{}/{}, bytes from/to upstream:{}/{}",
                    self.received, self.sent, up_in, up_out
                );
            }
        });
    }

    fn write(&self, level: Level, body: impl FnOnce(&mut Vec<u8>)) {
        let targets = self.error_logs();
        if !targets.iter().any(|t| level <= t.level) {
            return;
        }
        let mut line = Vec::with_capacity(192);
        prefix(level, Some(self.number), &mut line);
        body(&mut line);
        finish(&mut line);
        for t in targets.iter().filter(|t| level <= t.level) {
            self.snap.logs.write(&t.target, &line);
        }
    }
}
