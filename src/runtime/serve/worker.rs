//! The worker threads (nginx's worker processes): each runs a single-threaded tokio runtime
//! that accepts on every listening socket (as nginx's workers share them) and serves its
//! connections as local tasks.
//!
//! A worker acts on the [`Orders`] the main thread publishes ([`super::process`]): a new
//! configuration [`Generation`] (accept on its sockets from now on; connections take it up at
//! their next request), a graceful or fast stop, and the generation below which connections
//! are closed at once (`worker_shutdown_timeout` has passed). Every connection is counted
//! ([`Open`]) on the worker, for a graceful stop, and on its snapshot, for the reload log.
//!
//! What a worker does not do: read configuration files, bind sockets, or touch the pid file
//! and the logs' paths; the main thread does those, with the privileges it started with.

use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::listen::{self, Listener};
use super::open::{room_for_one_more, Local, Open};
use super::{conn, session};
use crate::ir;
use crate::runtime::base::io::{self, Stream};
use crate::runtime::state::conn::{next_connection_number, ConnInfo};
use crate::runtime::state::Snapshot;

/// How the process was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Running,
    /// `QUIT`: finish what is in flight.
    Graceful,
    /// `TERM`/`INT`: close now.
    Fast,
}

/// A configuration as the workers serve it: its snapshot, and a listening socket for each
/// of the snapshot's sockets (same index).
pub struct Generation {
    pub snapshot: Arc<Snapshot>,
    pub listeners: Vec<Arc<Listener>>,
}

/// What the main thread tells the workers; each acts on the latest.
#[derive(Clone)]
pub struct Orders {
    pub generation: Arc<Generation>,
    pub stop: Stop,
    /// Connections on a generation older than this one are closed now.
    pub close_below: u64,
    /// Workers numbered this or higher stop gracefully (a reload lowered
    /// `worker_processes`).
    pub workers: usize,
    /// The newest snapshot, stored before the orders that carry it are published: a request
    /// looks here (without a lock) so that it follows a reload even before its worker has
    /// read the new orders.
    pub latest: Arc<ArcSwap<Snapshot>>,
}

/// A worker thread ended: its number, and whether it panicked (rather than stopping as
/// told, or failing to start).
pub type Exited = (usize, bool);

/// Starts worker thread `index`. It drops to `user` first (for itself only: the main thread
/// keeps its privileges, as nginx's master does) and reports on `ready` whether it could.
/// When it ends, even by a panic, it says so on `exited`.
pub fn spawn(
    index: usize,
    orders: watch::Receiver<Orders>,
    user: Option<ir::User>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    exited: tokio::sync::mpsc::UnboundedSender<Exited>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    struct Report(usize, tokio::sync::mpsc::UnboundedSender<Exited>);
    impl Drop for Report {
        fn drop(&mut self) {
            let _ = self.1.send((self.0, std::thread::panicking()));
        }
    }
    std::thread::Builder::new()
        .name(format!("rginx-worker-{index}"))
        .spawn(move || {
            let _report = Report(index, exited);
            worker(index, orders, user, ready);
        })
}

fn worker(
    index: usize,
    orders: watch::Receiver<Orders>,
    user: Option<ir::User>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    if let Some(u) = &user {
        if let Err(msg) = drop_privileges(u) {
            let _ = ready.send(Err(msg));
            return;
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("could not start a worker runtime ({e})")));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, follow(index, orders));
    // Dropping the LocalSet drops every connection still open: a fast stop, or the end of
    // `worker_shutdown_timeout`.
}

/// `ngx_worker_process_init`: `initgroups`, `setgid`, `setuid`, for this thread.
fn drop_privileges(u: &ir::User) -> Result<(), String> {
    use rustix::thread::{Gid, Uid};
    let mut groups = vec![Gid::from_raw(u.gid)];
    if let Ok(name) = std::ffi::CString::new(u.name.as_bytes()) {
        if let Ok(list) = nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(u.gid)) {
            groups = list.iter().map(|g| Gid::from_raw(g.as_raw())).collect();
        }
    }
    rustix::thread::set_thread_groups(&groups)
        .map_err(|e| format!("initgroups({}, {}) failed ({e})", u.name, u.gid))?;
    let gid = Gid::from_raw(u.gid);
    rustix::thread::set_thread_res_gid(gid, gid, gid)
        .map_err(|e| format!("setgid({}) failed ({e})", u.gid))?;
    let uid = Uid::from_raw(u.uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid)
        .map_err(|e| format!("setuid({}) failed ({e})", u.uid))?;
    Ok(())
}

/// Acts on the orders until stopped; returns when the worker is done.
async fn follow(index: usize, mut orders: watch::Receiver<Orders>) {
    let mut o = orders.borrow_and_update().clone();
    let local = Local::new(Arc::clone(&o.latest));
    // Holding no generation but the latest, so that sockets a reload (or the stop) closed
    // are not kept open here.
    let mut current = Arc::clone(&o.generation);
    let mut accepts = accept_on(&local, &o.generation);
    loop {
        local.raise_close_below(o.close_below);
        if o.stop == Stop::Fast {
            return;
        }
        if o.stop == Stop::Graceful || index >= o.workers {
            break;
        }
        let newer = !Arc::ptr_eq(&o.generation, &current);
        if newer {
            // The old accept loops go (their descriptors with them), the new ones start on
            // the same sockets: a connection waiting in a kept socket's backlog meanwhile is
            // accepted by the new loop.
            for a in accepts.drain(..) {
                a.abort();
            }
            current = Arc::clone(&o.generation);
            accepts = accept_on(&local, &o.generation);
            local.notify_changed();
        }
        if orders.changed().await.is_err() {
            return;
        }
        o = orders.borrow_and_update().clone();
    }
    // Graceful: stop accepting (the main thread closes the sockets), close idle
    // connections, finish the rest. No generation is held from now on, so that sockets a
    // reload or the stop closed are not kept open here.
    for a in accepts.drain(..) {
        a.abort();
    }
    drop(current);
    local.stop();
    loop {
        let done = local.connection_ended();
        if local.active() == 0 {
            return;
        }
        tokio::select! {
            _ = done => {}
            changed = orders.changed() => {
                if changed.is_err() {
                    return;
                }
                let o = orders.borrow_and_update().clone();
                if o.stop == Stop::Fast {
                    return;
                }
                local.raise_close_below(o.close_below);
            }
        }
    }
}

/// Starts an accept loop for each listening socket of `g`: the http block's sockets first,
/// then the stream block's (the order `ir::Config::listening` binds them in).
fn accept_on(local: &Rc<Local>, g: &Arc<Generation>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut accepts = Vec::with_capacity(g.listeners.len());
    let http = g.snapshot.http().sockets.len();
    for (i, l) in g.listeners.iter().enumerate() {
        let fd = match l.fd.try_clone() {
            Ok(fd) => fd,
            Err(e) => {
                tracing::error!(
                    nginx_level = "alert",
                    "dup() of a listening socket failed ({e})"
                );
                continue;
            }
        };
        let serves = if i < http {
            Serves::Http(i)
        } else {
            Serves::Stream(i - http)
        };
        accepts.push(tokio::task::spawn_local(accept_loop(
            fd,
            l.unix,
            serves,
            Arc::clone(&g.snapshot),
            Rc::clone(local),
        )));
    }
    accepts
}

/// What a listening socket's connections are, by its index in the block's sockets.
#[derive(Clone, Copy)]
enum Serves {
    Http(usize),
    Stream(usize),
}

async fn accept_loop(
    fd: OwnedFd,
    unix: bool,
    serves: Serves,
    snap: Arc<Snapshot>,
    local: Rc<Local>,
) {
    enum L {
        Tcp(tokio::net::TcpListener),
        Unix(tokio::net::UnixListener),
    }
    let listener = if unix {
        match tokio::net::UnixListener::from_std(std::os::unix::net::UnixListener::from(fd)) {
            Ok(l) => L::Unix(l),
            Err(_) => return,
        }
    } else {
        match tokio::net::TcpListener::from_std(std::net::TcpListener::from(fd)) {
            Ok(l) => L::Tcp(l),
            Err(_) => return,
        }
    };
    // The socket serves specific addresses too: each connection's local address picks its
    // address configuration (S2.3).
    let (listen_addr, addrs): (&ir::ListenAddr, Vec<&ir::ListenAddr>) = match serves {
        Serves::Http(i) => {
            let s = &snap.http().sockets[i];
            (&s.addr, s.addrs.iter().map(|a| &a.addr).collect())
        }
        Serves::Stream(i) => {
            let s = &snap.stream.sockets[i];
            (&s.addr, s.addrs.iter().map(|a| &a.addr).collect())
        }
    };
    let lookup_local = addrs.len() > 1;
    loop {
        let accepted = match &listener {
            L::Tcp(l) => l
                .accept()
                .await
                .map(|(s, peer)| (Stream::Tcp(s), Some(peer))),
            L::Unix(l) => l.accept().await.map(|(s, _)| (Stream::Unix(s), None)),
        };
        let (stream, remote) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE/ENFILE: nginx logs and stops accepting for a moment.
                tracing::error!(
                    nginx_level = "crit",
                    "accept4() failed {}",
                    io::errno_text(&e)
                );
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        if !room_for_one_more(&local, &snap) {
            drop(stream);
            continue;
        }
        let local_addr = match (&stream, listen_addr) {
            (Stream::Tcp(s), ir::ListenAddr::Inet(a)) => {
                if lookup_local || a.ip().is_unspecified() {
                    s.local_addr().ok()
                } else {
                    Some(*a)
                }
            }
            _ => None,
        };
        let addr = listen::addr_conf_index(addrs.iter().copied(), local_addr);
        let open = Open::new(&local, &snap);
        let snap = Arc::clone(&snap);
        match serves {
            Serves::Http(socket) => {
                stream.set_nodelay();
                let conn = ConnInfo {
                    number: next_connection_number(),
                    remote,
                    local: local_addr,
                    https: false,
                    tls: None,
                    http2: false,
                    accepted: Instant::now(),
                    socket,
                    addr,
                };
                let kill = open.kill();
                // Boxed before the task takes it: the connection's state machine is some
                // tens of KiB (TLS, HTTP/1 and HTTP/2 and the request phases inlined), and
                // tokio moves a task's future by value when it spawns, polls to completion
                // and drops it; a box moves as a pointer. Without it the `new` benchmark
                // (one connection a request) spends more time in memcpy than in parsing.
                let serve = Box::pin(conn::serve(stream, conn, snap, open));
                tokio::task::spawn_local(async move {
                    tokio::select! {
                        _ = serve => {}
                        _ = kill => {}
                    }
                });
            }
            Serves::Stream(socket) => {
                let at = session::Arrival {
                    number: next_connection_number(),
                    remote,
                    local: local_addr,
                    socket,
                    addr,
                };
                tokio::task::spawn_local(Box::pin(session::serve(stream, at, snap, open)));
            }
        }
    }
}
