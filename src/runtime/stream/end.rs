//! The end of a session (`ngx_stream_finalize_session`): `$status` set, the access-log lines
//! written (stream has no default access log). A proxied session first says how it ended, as
//! `ngx_stream_proxy_process` does: which side's end closed it and the bytes each way, or
//! the `proxy_timeout` that fired, or the failed read or write, or the worker's
//! `worker_shutdown_timeout`.

use std::time::Instant;

use crate::ir::Level;
use crate::runtime::base::io;
use crate::runtime::base::tunnel::relay::Which;
use crate::runtime::base::tunnel::End;
use crate::runtime::state::session::{status, Session};
use crate::runtime::vars::line;

/// How a proxied session's tunnel went.
pub struct Ended {
    pub end: End,
    pub read_err: Option<std::io::Error>,
    /// The side whose end was read last.
    pub last_eof: Option<Which>,
    pub from_client: u64,
    pub to_client: u64,
    pub from_upstream: u64,
    pub to_upstream: u64,
    /// When the upstream's first byte was read.
    pub first_byte: Option<Instant>,
}

/// Logs how a proxied session ended, then finalizes it (status 200, as nginx finalizes
/// every proxied session that got this far).
pub fn tunnel_ended(s: &mut Session, e: Ended) {
    s.received = e.from_client;
    s.sent = e.to_client;
    if let Some(t) = s.tries.last_mut() {
        t.bytes_received = e.from_upstream;
        t.bytes_sent = e.to_upstream;
        if let Some(first) = e.first_byte {
            t.first_byte_ms = Some(first.saturating_duration_since(t.started).as_millis() as u64);
        }
        t.end();
    }
    let from = match e.last_eof {
        Some(Which::Upstream) => "upstream",
        _ => "client",
    };
    if let Some(err) = &e.read_err {
        let (level, action) = match e.last_eof {
            Some(Which::Upstream) => (Level::Error, "proxying and reading from upstream"),
            _ => (Level::Info, "proxying and reading from client"),
        };
        s.error(
            level,
            format_args!("recv() failed {}", io::errno_text(err)),
            Some(action),
        );
    }
    let action = Some("proxying connection");
    match &e.end {
        End::Closed => s.bare(
            Level::Info,
            format_args!(
                "{from} disconnected, bytes from/to client:{}/{}, bytes from/to upstream:{}/{}",
                e.from_client, e.to_client, e.from_upstream, e.to_upstream
            ),
        ),
        End::ClientTimedOut | End::UpstreamTimedOut => s.error(
            Level::Info,
            format_args!("connection timed out (110: Connection timed out)"),
            action,
        ),
        End::SendFailed(err) => s.error(
            Level::Info,
            format_args!("writev() failed {}", io::errno_text(err)),
            action,
        ),
        End::ShutDown => s.error(Level::Info, format_args!("shutdown timeout"), action),
    }
    s.status = status::OK;
    finalize(s);
}

/// `ngx_stream_finalize_session`'s log phase: the access-log lines, with `$status` as set.
pub fn finalize(s: &mut Session) {
    if let Some(t) = s.tries.last_mut() {
        t.end();
    }
    let logs = std::sync::Arc::clone(&s.snap);
    let logs = &logs.stream.servers[s.address().server.0 as usize].access_log;
    if logs.is_empty() {
        return;
    }
    let mut out = Vec::with_capacity(256);
    for log in logs.iter() {
        if !line::condition(s, log) {
            continue;
        }
        out.clear();
        line::format(s, log, &mut out);
        out.push(b'\n');
        s.snap.logs.write(&log.target, &out);
    }
}
