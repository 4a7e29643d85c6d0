//! The tunnel engine: two sockets and the bytes between them, moved as nginx's event loop
//! moves an upgraded HTTP connection (`ngx_http_upstream_process_upgraded`) and a stream
//! session (`ngx_stream_proxy_process`), which follow the same rules:
//!
//! - a side is read when its socket says it is readable, and each read is written on at once;
//!   only what the other side does not take is kept, and nothing more is read from that
//!   side until it is written (at most one buffer's worth in flight per direction);
//! - when a side's read ends (EOF or error), what was already read from it is written on, and
//!   the tunnel is over; bytes still owed to the side that ended are dropped. With
//!   `proxy_half_close` (stream) the end is passed on as a shutdown of the other side's
//!   writing half instead, and the tunnel lasts until both sides have ended.
//!
//! [`side`] is a socket with nginx's `ready` flags and its TLS if any (rustls driven
//! directly); [`relay`] moves the bytes. What owns a tunnel (the worker's tunnel loop, in
//! `serve`) gives it its events and runs its timers; what a tunnel means (an HTTP request's
//! access-log line, a stream session's) is the floor above's.

pub mod relay;
pub mod side;

use std::io;

/// Size of the per-worker read buffer: one read takes at most this much from a side (64 KiB,
/// websockify's read, and room for a frame header before it).
pub const SCRATCH: usize = 64 * 1024 + 16;

/// Why a tunnel ended.
#[derive(Debug)]
pub enum End {
    /// A side's read ended and what it had sent was passed on.
    Closed,
    ClientTimedOut,
    UpstreamTimedOut,
    /// A write failed, logged at info as nginx does (`send() failed (32: Broken pipe)`).
    SendFailed(io::Error),
    /// The generation's `worker_shutdown_timeout` passed (after a reload or a graceful
    /// stop): closed at once, logged like any tunnel that ends.
    ShutDown,
}
