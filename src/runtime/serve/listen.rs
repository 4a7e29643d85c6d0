//! Listening sockets from the IR (S2.1–S2.3), with nginx's socket options, and the address
//! configuration a connection belongs to.
//!
//! A reload keeps the listening socket of every address the new configuration still has (as
//! nginx passes the descriptors on to its new cycle), so no connection is refused while the
//! configuration changes; only new addresses are bound.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket as Sock, TcpKeepalive, Type};

use crate::ir::server::{ListenAddr, SoKeepalive, SocketOpts};
use crate::ir::Listening;

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

/// Opens a listening socket for every socket of a configuration: the one `old` has for the
/// same address, or a new one. Binding follows `ngx_open_listening_sockets`: an address in
/// use is tried five times, half a second apart, each failure logged at `emerg`, then
/// `still could not bind()`; any other error fails at once. `log` receives nginx's messages.
pub fn open_all(
    sockets: &[Listening],
    old: &[Arc<Listener>],
    log: &mut dyn FnMut(crate::ir::Level, &str),
) -> Result<Vec<Arc<Listener>>, NotBound> {
    use crate::ir::Level;
    let mut open: Vec<Option<Arc<Listener>>> = sockets
        .iter()
        .map(|s| {
            let kept = old.iter().find(|l| l.addr == s.addr).cloned();
            if let Some(l) = &kept {
                retune(l, &s.opts);
            }
            kept
        })
        .collect();
    for tries in (0..5).rev() {
        let mut failed = false;
        for (s, slot) in sockets.iter().zip(open.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            match bind(s) {
                Ok(l) => *slot = Some(Arc::new(l)),
                Err(e) => {
                    log(Level::Emerg, &e.message);
                    if !e.in_use {
                        return Err(NotBound);
                    }
                    failed = true;
                }
            }
        }
        if !failed {
            break;
        }
        if tries == 0 {
            log(Level::Emerg, "still could not bind()");
            return Err(NotBound);
        }
        log(Level::Notice, "try again to bind() after 500ms");
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(open.into_iter().flatten().collect())
}

/// The options nginx sets on a listening socket, and sets again on one a reload keeps
/// (`ngx_configure_listening_sockets`).
fn tune(sock: &Sock, opts: &SocketOpts) {
    if let Some(n) = opts.rcvbuf {
        let _ = sock.set_recv_buffer_size(n as usize);
    }
    if let Some(n) = opts.sndbuf {
        let _ = sock.set_send_buffer_size(n as usize);
    }
    match &opts.so_keepalive {
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
}

/// A socket a reload keeps takes the new configuration's options and backlog.
fn retune(l: &Listener, opts: &SocketOpts) {
    let sock = socket2::SockRef::from(&l.fd);
    if !l.unix {
        tune(&sock, opts);
    }
    // listen() again on a listening socket changes its backlog.
    let _ = sock.listen(opts.backlog.unwrap_or(BACKLOG));
}

/// Some socket could not be opened (what went wrong was logged).
#[derive(Debug)]
pub struct NotBound;

/// A socket that could not be opened: nginx's message, and whether the address was in use
/// (the one error nginx retries).
struct BindError {
    message: String,
    in_use: bool,
}

fn bind(s: &Listening) -> Result<Listener, BindError> {
    let fail = |what: &str, e: std::io::Error| BindError {
        message: format!(
            "{what} to {} failed {}",
            s.addr,
            crate::runtime::base::io::errno_text(&e)
        ),
        in_use: e.kind() == std::io::ErrorKind::AddrInUse,
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
            tune(&sock, &s.opts);
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
        .map_err(|e| BindError {
            message: format!(
                "listen() to {}, backlog {} failed {}",
                s.addr,
                s.opts.backlog.unwrap_or(BACKLOG),
                crate::runtime::base::io::errno_text(&e)
            ),
            in_use: false,
        })?;
    // `fastopen=` only changes how many TCP handshakes carry data: not observable, not set.
    let wildcard_with_specifics = s.specifics;
    Ok(Listener {
        fd: sock.into(),
        addr: s.addr.clone(),
        unix,
        wildcard_with_specifics,
    })
}

/// The address configuration of a connection that arrived at `local` through a socket
/// whose addresses are `addrs` (the specific ones first, the socket's own last).
pub fn addr_conf_index<'a>(
    addrs: impl ExactSizeIterator<Item = &'a ListenAddr>,
    local: Option<SocketAddr>,
) -> usize {
    let n = addrs.len();
    if n > 1 {
        if let Some(local) = local {
            for (i, addr) in addrs.enumerate() {
                if let ListenAddr::Inet(a) = addr {
                    if a.ip() == local.ip() {
                        return i;
                    }
                }
            }
        }
    }
    n - 1
}
