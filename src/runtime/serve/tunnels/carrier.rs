//! What moves a tunnel's bytes in the worker's tunnel loop: the relay of a proxied WebSocket
//! or a stream session, or `websockify_pass`'s bridge ([`Carrier`]); and a client's or an
//! upstream's stream taken out of tokio's reactor to be a side of one ([`side`]).

use crate::runtime::base::io::Stream;
use crate::runtime::base::tunnel::relay::{Readiness, Relay, Which};
use crate::runtime::base::tunnel::side::{Side, Sock};
use crate::runtime::base::tunnel::End;
use crate::runtime::http::websockify::bridge::Bridge;

/// What moves a tunnel's bytes.
pub enum Carrier {
    Relay(Relay),
    Bridge(Bridge),
}

impl Carrier {
    pub fn event(
        &mut self,
        which: Which,
        ready: Readiness,
        scratch: &mut [u8],
    ) -> Result<bool, End> {
        match self {
            Carrier::Relay(r) => r.event(which, ready, scratch),
            Carrier::Bridge(b) => b.event(which, ready, scratch),
        }
    }

    pub fn over(&self) -> bool {
        match self {
            Carrier::Relay(r) => r.over(),
            Carrier::Bridge(b) => b.over(),
        }
    }

    pub fn blocked(&self) -> (bool, bool) {
        match self {
            Carrier::Relay(r) => r.blocked(),
            Carrier::Bridge(b) => b.blocked(),
        }
    }

    pub fn client(&self) -> &Side {
        match self {
            Carrier::Relay(r) => &r.client,
            Carrier::Bridge(b) => b.client(),
        }
    }

    pub fn upstream(&self) -> &Side {
        match self {
            Carrier::Relay(r) => &r.upstream,
            Carrier::Bridge(b) => b.target(),
        }
    }

    /// The sides, the read error that ended one, bytes from the upstream, bytes to the
    /// client.
    pub fn into_parts(self) -> (Side, Side, Option<std::io::Error>, u64, u64) {
        match self {
            Carrier::Relay(r) => {
                let (from, owed) = (r.from_upstream, r.down_owed());
                let (c, u, e) = r.into_parts();
                (c, u, e, from, from - owed)
            }
            Carrier::Bridge(b) => {
                let (from, to) = (b.from_target, b.to_client_bytes);
                let (c, u, e) = b.into_parts();
                (c, u, e, from, to)
            }
        }
    }
}

/// A socket back in tokio's reactor, for a lingering close.
pub fn into_stream(s: Sock) -> Option<Stream> {
    match s {
        Sock::Tcp(s) => tokio::net::TcpStream::from_std(s).ok().map(Stream::Tcp),
        Sock::Unix(s) => tokio::net::UnixStream::from_std(s).ok().map(Stream::Unix),
    }
}

/// A stream as a side of a tunnel: its socket out of tokio's reactor, with its TLS state if
/// any. `None` for a stream that is no socket (an HTTP/2 stream's pipe: never upgraded), or
/// a socket tokio would not let go (deregistering does not fail in practice).
pub fn side(stream: Stream) -> Option<Side> {
    match stream {
        Stream::Tcp(s) => s.into_std().ok().map(|s| Side::new(Sock::Tcp(s), None)),
        Stream::Unix(s) => s.into_std().ok().map(|s| Side::new(Sock::Unix(s), None)),
        Stream::Tls(t) => {
            let (io, conn) = t.into_inner();
            let inner = side(io)?;
            Some(Side::new(
                inner.sock,
                Some(rustls::Connection::Server(conn)),
            ))
        }
        Stream::TlsUpstream(t) => {
            let (io, conn) = t.into_inner();
            let inner = side(io)?;
            Some(Side::new(
                inner.sock,
                Some(rustls::Connection::Client(conn)),
            ))
        }
        Stream::Pipe(_) => None,
    }
}
