//! Listening sockets from the IR (S2.1–S2.3), with nginx's socket options, and the address
//! configuration a connection belongs to.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use socket2::{Domain, Protocol, SockAddr, Socket as Sock, TcpKeepalive, Type};

use crate::ir::server::{ListenAddr, SoKeepalive, Socket};

/// nginx's default `backlog` on Linux (NGX_LISTEN_BACKLOG).
const BACKLOG: i32 = 511;

/// A bound, listening socket.
pub struct Listener {
    pub fd: OwnedFd,
    pub addr: ListenAddr,
    pub unix: bool,
    /// The socket serves specific addresses too: each connection's local address picks its
    /// address configuration (S2.3).
    pub wildcard_with_specifics: bool,
}

/// Binds every socket; errors use nginx's wording (`bind() to 127.0.0.1:80 failed (98:
/// Address already in use)`).
pub fn bind_all(sockets: &[Socket]) -> Result<Vec<Listener>, String> {
    sockets.iter().map(bind).collect()
}

fn bind(s: &Socket) -> Result<Listener, String> {
    let fail = |what: &str, e: std::io::Error| {
        format!("{what} to {} failed {}", s.addr, super::io::errno_text(&e))
    };
    let (sock, unix) = match &s.addr {
        ListenAddr::Inet(a) => {
            let domain = if a.is_ipv6() {
                Domain::IPV6
            } else {
                Domain::IPV4
            };
            let sock = Sock::new(
                domain,
                Type::STREAM.nonblocking().cloexec(),
                Some(Protocol::TCP),
            )
            .map_err(|e| fail("socket()", e))?;
            sock.set_reuse_address(true)
                .map_err(|e| fail("setsockopt(SO_REUSEADDR)", e))?;
            if s.opts.reuseport {
                sock.set_reuse_port(true)
                    .map_err(|e| fail("setsockopt(SO_REUSEPORT)", e))?;
            }
            if a.is_ipv6() {
                sock.set_only_v6(s.opts.ipv6only)
                    .map_err(|e| fail("setsockopt(IPV6_V6ONLY)", e))?;
            }
            if let Some(n) = s.opts.rcvbuf {
                let _ = sock.set_recv_buffer_size(n as usize);
            }
            if let Some(n) = s.opts.sndbuf {
                let _ = sock.set_send_buffer_size(n as usize);
            }
            match &s.opts.so_keepalive {
                Some(SoKeepalive::On) => {
                    let _ = sock.set_keepalive(true);
                }
                Some(SoKeepalive::Params {
                    idle,
                    interval,
                    count,
                }) => {
                    let mut ka = TcpKeepalive::new();
                    if let Some(t) = idle {
                        ka = ka.with_time(*t);
                    }
                    if let Some(t) = interval {
                        ka = ka.with_interval(*t);
                    }
                    if let Some(n) = count {
                        ka = ka.with_retries(*n);
                    }
                    let _ = sock.set_tcp_keepalive(&ka);
                }
                Some(SoKeepalive::Off) | None => {}
            }
            // `deferred` (TCP_DEFER_ACCEPT) only delays the accept until data arrives; neither
            // socket2 nor nix exposes it, and no client can tell the difference.
            sock.bind(&SockAddr::from(*a))
                .map_err(|e| fail("bind()", e))?;
            (sock, false)
        }
        ListenAddr::Unix(path) => {
            let sock = Sock::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)
                .map_err(|e| fail("socket()", e))?;
            let addr = SockAddr::unix(path).map_err(|e| fail("bind()", e))?;
            sock.bind(&addr).map_err(|e| fail("bind()", e))?;
            (sock, true)
        }
    };
    sock.listen(s.opts.backlog.unwrap_or(BACKLOG))
        .map_err(|e| {
            format!(
                "listen() to {}, backlog {} failed {}",
                s.addr,
                s.opts.backlog.unwrap_or(BACKLOG),
                super::io::errno_text(&e)
            )
        })?;
    // `fastopen=` only changes how many TCP handshakes carry data: not observable, not set.
    let wildcard_with_specifics = s.addrs.len() > 1;
    Ok(Listener {
        fd: sock.into(),
        addr: s.addr.clone(),
        unix,
        wildcard_with_specifics,
    })
}

/// The address configuration of a connection that arrived at `local` through socket `s`
/// (the specific ones first, the socket's own last).
pub fn addr_conf_index(s: &Socket, local: Option<SocketAddr>) -> usize {
    if s.addrs.len() > 1 {
        if let Some(local) = local {
            for (i, ac) in s.addrs.iter().enumerate() {
                if let ListenAddr::Inet(a) = ac.addr {
                    if a.ip() == local.ip() {
                        return i;
                    }
                }
            }
        }
    }
    s.addrs.len() - 1
}
