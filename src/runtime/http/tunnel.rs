//! The upgraded connection (S11.3, S11.4, S9.1): after an upstream's 101, raw bytes flow both
//! ways until either side ends, with nginx's timers.
//!
//! nginx's rules, from `ngx_http_upstream_process_upgraded`:
//! - there is no half-close: when a side's read ends (EOF or error), what was already read from
//!   it is written on, then both connections close; bytes still owed to that side are dropped;
//! - one idle timer of `proxy_read_timeout`, re-armed by every event of the tunnel, in either
//!   direction; while a write is blocked, `proxy_send_timeout` (to the upstream) or
//!   `send_timeout` (to the client) also runs, re-armed the same way; a timer that fires
//!   closes both sides silently and logs at info.
//!
//! The worker's tunnel loop (`serve::tunnels`) carries every tunnel: it owns the sockets, out
//! of tokio's reactor, gives each tunnel its events and runs its timers, and moves its bytes
//! with the tunnel engine (`base::tunnel`). Here is what makes a tunnel an HTTP request's:
//! its timers ([`Meta`]) and its ending, the log lines of a tunnel that ends.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::log::access;
use crate::ir::Level;
use crate::runtime::base::io::{errno_text, Stream};
pub use crate::runtime::base::tunnel::End;
use crate::runtime::state::log::{self, Upstream as LogUpstream};
use crate::runtime::state::request::Request;
use crate::runtime::state::upgraded::{Carry, Upgraded};

/// What a tunnel keeps of its upgrade besides the sockets: nginx's three timers and the
/// upstream part of its log lines.
pub struct Meta {
    /// `proxy_read_timeout`: the tunnel's idle timer.
    pub read_timeout: Duration,
    /// `proxy_send_timeout`: a blocked write to the upstream.
    pub upstream_send_timeout: Duration,
    /// `send_timeout`: a blocked write to the client.
    pub client_send_timeout: Duration,
    log_schema: &'static [u8],
    log_name: Bytes,
    log_unix: bool,
    log_uri: Bytes,
}

impl Meta {
    /// The upgrade in its parts: the upstream stream, the bytes it sent right after its 101,
    /// and the rest.
    pub fn split(up: Upgraded) -> (Stream, Bytes, Carry, Meta) {
        let Upgraded {
            upstream,
            early,
            carry,
            read_timeout,
            upstream_send_timeout,
            client_send_timeout,
            log_schema,
            log_name,
            log_unix,
            log_uri,
        } = up;
        let meta = Meta {
            read_timeout,
            upstream_send_timeout,
            client_send_timeout,
            log_schema,
            log_name,
            log_unix,
            log_uri,
        };
        (upstream, early, carry, meta)
    }

    /// When the tunnel times out if nothing moves after `last`, and how that is logged: the
    /// idle timer, or a blocked write's timer when it comes first.
    pub fn deadline(&self, last: Instant, up_blocked: bool, down_blocked: bool) -> (Instant, End) {
        let mut deadline = last + self.read_timeout;
        let mut fired = End::UpstreamTimedOut;
        if up_blocked {
            deadline = deadline.min(last + self.upstream_send_timeout);
        }
        if down_blocked && last + self.client_send_timeout <= deadline {
            deadline = last + self.client_send_timeout;
            fired = End::ClientTimedOut;
        }
        (deadline, fired)
    }
}

/// How a tunnel went, for its log lines.
pub struct Outcome {
    pub end: End,
    /// A read that failed ended its side as an EOF does; logged when the tunnel ends.
    pub read_err: Option<io::Error>,
    /// Bytes read from the upstream (the early ones included).
    pub from_upstream: u64,
    /// Bytes the client got (`$body_bytes_sent`): for a tunnel, what was read from the
    /// upstream but what the client was still owed; for a bridge, the frames written.
    pub to_client: u64,
    /// When the tunnel started (`$upstream_response_time` grows by its length).
    pub started: std::time::Instant,
}

/// Logs the end of a tunnel as nginx does: the info line of a failed read, of a timeout or a
/// failed write, then the access-log line (status 101). Returns whether the client may be
/// closed with lingering: nginx ends a tunnel that closed, or whose upstream timed out, as
/// any request (lingering when the client has sent more), and one whose client timed out or
/// a write failed at once (`ngx_http_terminate_request`).
pub fn finish(r: &mut Request, meta: &Meta, out: Outcome) -> bool {
    let log_upstream = LogUpstream {
        schema: meta.log_schema,
        name: &meta.log_name,
        unix: meta.log_unix,
        uri: &meta.log_uri,
    };
    let say = |r: &Request, msg: std::fmt::Arguments<'_>| {
        log::error_full(
            r,
            Level::Info,
            msg,
            Some("proxying upgraded connection"),
            Some(&log_upstream),
        )
    };
    if let Some(e) = &out.read_err {
        say(r, format_args!("recv() failed {}", errno_text(e)));
    }
    match &out.end {
        End::Closed | End::ShutDown => {}
        End::ClientTimedOut => say(
            r,
            format_args!("client timed out (110: Connection timed out)"),
        ),
        End::UpstreamTimedOut => say(
            r,
            format_args!("upstream timed out (110: Connection timed out)"),
        ),
        End::SendFailed(e) => say(r, format_args!("send() failed {}", errno_text(e))),
    }
    r.sent.body_bytes = out.to_client;
    if let Some(try_) = r.upstream.current() {
        if let Some(ms) = &mut try_.response_ms {
            *ms += out.started.elapsed().as_millis() as u64;
        }
        try_.bytes_received += out.from_upstream;
    }
    access(r);
    matches!(out.end, End::Closed | End::UpstreamTimedOut)
}
