//! `proxy_pass` in stream (`ngx_stream_proxy_handler` up to `ngx_stream_proxy_init_upstream`):
//! the target (the load-time group, or a value with variables evaluated now: an `upstream`
//! name, an address with its port, a `unix:` path), then the tries over the group as
//! `ngx_stream_proxy_next_upstream` makes them (`proxy_next_upstream`, its tries and its
//! timeout; only a failed connect counts, as nothing was sent yet), each under
//! `proxy_connect_timeout`. The client is not read meanwhile: nginx registers its read event
//! only once the upstream is connected, so what the client sends waits in the socket (and a
//! session that ends before, closing with those bytes unread, resets the client, as nginx's
//! does). A connected session is handed over as a [`Tunnel`] for the worker's tunnel loop.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::Phases;
use crate::ir::stream::{StreamProxy, Target};
use crate::ir::upstream::{self, PeerAddr, Upstream};
use crate::ir::url::parse_url;
use crate::ir::Level;
use crate::runtime::base::io::{self, ConnectError, Stream};
use crate::runtime::state::balancer::{self, Balancer, Balancers, Tries};
use crate::runtime::state::conn::next_connection_number;
use crate::runtime::state::session::{status, Session, StreamTry};
use crate::runtime::vars::Eval;

/// A connected session, for the tunnel loop.
pub struct Tunnel {
    pub client: Stream,
    pub upstream: Stream,
    pub proxy: Arc<StreamProxy>,
    /// The peer the session holds, given back to its group when the session ends.
    pub release: Release,
}

/// The peer a session holds in its group (nginx frees it when the session is finalized).
pub struct Release {
    group: Group,
    tries: Tries,
}

impl Release {
    /// The session is over: the peer is free again (a success for the balancer).
    pub fn free(mut self) {
        let (ups, balancer) = self.group.parts();
        balancer.borrow_mut().free(ups, &mut self.tries, false);
    }
}

/// A group and this worker's state of it: one of the stream block's, or the group of one
/// address an evaluated target named.
enum Group {
    Block {
        balancers: Rc<Balancers>,
        snap: Arc<crate::runtime::state::Snapshot>,
        index: usize,
    },
    One(Box<(Upstream, RefCell<Balancer>)>),
}

impl Group {
    fn parts(&self) -> (&Upstream, &RefCell<Balancer>) {
        match self {
            Group::Block {
                balancers,
                snap,
                index,
            } => (&snap.stream.upstreams[*index], &balancers.stream[*index]),
            Group::One(b) => (&b.0, &b.1),
        }
    }
}

/// Finds the group, tries its peers, and hands the session over once one is connected.
pub async fn start(client: Stream, s: &mut Session, p: Arc<StreamProxy>) -> Phases {
    // From here the session's error lines carry the upstream part (`s->log_handler`).
    s.proxying = true;
    let group = match group(s, &p) {
        Ok(g) => g,
        Err(code) => {
            s.status = code;
            return Phases::Done(client);
        }
    };
    let mut tries = {
        let (ups, balancer) = group.parts();
        balancer.borrow().tries(ups)
    };
    if p.next_upstream_tries != 0 && tries.left > p.next_upstream_tries {
        tries.left = p.next_upstream_tries;
    }
    let started = Instant::now();
    loop {
        let picked = {
            let (ups, balancer) = group.parts();
            balancer.borrow_mut().get(ups, &mut tries)
        };
        let Ok(peer) = picked else {
            let name = Bytes::copy_from_slice(&group.parts().0.name);
            s.tries.push(StreamTry::new(name));
            s.error(
                Level::Error,
                format_args!("no live upstreams"),
                Some("connecting to upstream"),
            );
            s.status = status::BAD_GATEWAY;
            return Phases::Done(client);
        };
        let (name, addr) = {
            let (ups, balancer) = group.parts();
            (balancer.borrow().name(peer), ups.peers[peer].addr.clone())
        };
        s.tries.push(StreamTry::new(name));
        // An upstream connection takes a connection number, as nginx's do.
        next_connection_number();
        match io::connect(&addr, p.connect_timeout).await {
            Ok(upstream) => {
                connected(s, &upstream, &p);
                return Phases::Proxy(Box::new(Tunnel {
                    client,
                    upstream,
                    proxy: p,
                    release: Release { group, tries },
                }));
            }
            Err(e) => failed(s, &addr, e),
        }
        if let Some(t) = s.tries.last_mut() {
            t.end();
        }
        let disabled = {
            let (ups, balancer) = group.parts();
            balancer.borrow_mut().free(ups, &mut tries, true)
        };
        if disabled {
            s.error(
                Level::Warn,
                format_args!("upstream server temporarily disabled"),
                Some("connecting to upstream"),
            );
        }
        let timeout = p.next_upstream_timeout;
        if tries.left == 0
            || !p.next_upstream
            || (!timeout.is_zero() && started.elapsed() >= timeout)
        {
            s.status = status::BAD_GATEWAY;
            return Phases::Done(client);
        }
    }
}

/// The group of this session: the load-time one, or the one an evaluated target names.
fn group(s: &mut Session, p: &StreamProxy) -> Result<Group, u16> {
    let snap = Arc::clone(&s.snap);
    let value = match &p.target {
        Target::Static(id) => {
            return Ok(Group::Block {
                balancers: balancer::for_snapshot(&snap),
                snap,
                index: id.0 as usize,
            })
        }
        Target::Dynamic(t) => s.eval_vec(t),
    };
    let shown = String::from_utf8_lossy(&value).into_owned();
    let url = match parse_url(&value, 0, false, false) {
        Ok(u) => u,
        Err(e) => {
            s.error(
                Level::Error,
                format_args!("{e} in upstream \"{shown}\""),
                None,
            );
            return Err(status::INTERNAL_SERVER_ERROR);
        }
    };
    let st = &snap.stream;
    if let Some(id) = upstream::find(&st.upstream_names, &st.upstreams, &url) {
        return Ok(Group::Block {
            balancers: balancer::for_snapshot(&snap),
            snap: Arc::clone(&snap),
            index: id.0 as usize,
        });
    }
    let host = String::from_utf8_lossy(&url.host).into_owned();
    if url.no_port && url.unix.is_none() {
        s.error(
            Level::Error,
            format_args!("no port in upstream \"{host}\""),
            None,
        );
        return Err(status::INTERNAL_SERVER_ERROR);
    }
    match url.literal_addr() {
        Some(addr) => {
            let one = Upstream::one_peer(&addr);
            let b = RefCell::new(Balancer::new(&one));
            Ok(Group::One(Box::new((one, b))))
        }
        None => {
            // A name that is not an upstream needs a resolver, which rginx does not have.
            s.error(
                Level::Error,
                format_args!("no resolver defined to resolve {host}"),
                None,
            );
            Err(status::INTERNAL_SERVER_ERROR)
        }
    }
}

/// `ngx_stream_proxy_init_upstream`: the info line, the connect time, the socket options.
fn connected(s: &mut Session, upstream: &Stream, p: &StreamProxy) {
    if let Some(t) = s.tries.last_mut() {
        t.connect_ms = Some(t.started.elapsed().as_millis() as u64);
    }
    if s.server().tcp_nodelay {
        upstream.set_nodelay();
    }
    if p.socket_keepalive {
        if let Stream::Tcp(t) = upstream {
            let _ = socket2::SockRef::from(t).set_keepalive(true);
        }
    }
    if s.logs_at(Level::Info) {
        let local = match upstream {
            Stream::Tcp(t) => t
                .local_addr()
                .map_or_else(|_| "unix:".to_string(), |a| a.to_string()),
            _ => "unix:".to_string(),
        };
        let peer = s
            .tries
            .last()
            .map(|t| String::from_utf8_lossy(&t.peer).into_owned())
            .unwrap_or_default();
        s.bare(
            Level::Info,
            format_args!("proxy {local} connected to {peer}"),
        );
    }
}

/// A failed try, logged as nginx logs it: a TCP connect's failure is found when the
/// connection completes (`connect() failed`), a unix socket's at once (`connect() to PATH
/// failed`, at crit unless the socket refused); a timer `upstream timed out`.
fn failed(s: &mut Session, addr: &PeerAddr, e: ConnectError) {
    let action = Some("connecting to upstream");
    match (e, addr) {
        (ConnectError::TimedOut, _) => s.error(
            Level::Error,
            format_args!("upstream timed out (110: Connection timed out)"),
            action,
        ),
        (ConnectError::Failed(e), PeerAddr::Unix(_)) => {
            let refused = e.raw_os_error().is_some_and(|n| {
                n == nix::errno::Errno::ECONNREFUSED as i32 || n == nix::errno::Errno::EAGAIN as i32
            });
            let level = if refused { Level::Error } else { Level::Crit };
            s.error(
                level,
                format_args!("connect() to {addr} failed {}", io::errno_text(&e)),
                action,
            );
        }
        (ConnectError::Failed(e), PeerAddr::Inet(_)) => s.error(
            Level::Error,
            format_args!("connect() failed {}", io::errno_text(&e)),
            action,
        ),
    }
}
