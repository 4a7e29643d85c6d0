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

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::{watch, Notify};

use super::conn;
use super::io::Stream;
use super::listen::{self, Listener};
use super::request::ConnInfo;
use super::Snapshot;
use crate::ir;

/// nginx's `ngx_connection_counter`: `$connection` and the `*N` of error-log lines.
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// Takes a connection number; upstream connections take one too (`ngx_event_connect_peer`),
/// so the client numbers in the logs follow nginx's.
pub fn next_connection_number() -> u64 {
    CONNECTIONS.fetch_add(1, Ordering::Relaxed)
}

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

/// What a worker's tasks share.
struct Local {
    /// The generation this worker accepts for.
    current: RefCell<Arc<Generation>>,
    /// The snapshot new requests use ([`Orders::latest`]).
    latest: Arc<ArcSwap<Snapshot>>,
    /// Connections open on this worker (a tunnel counts as its connection).
    active: Cell<usize>,
    /// A graceful stop: no keep-alive, idle connections close.
    stopping: Cell<bool>,
    close_below: Cell<u64>,
    /// Wakes what watches the three above (idle connections, [`Kill`]).
    changed: Arc<Notify>,
    /// Counts the wake-ups of `changed`: a [`Kill`] registered since the last one need not
    /// look again (a tunnel polls its `Kill` every time it moves data).
    epoch: Cell<u64>,
    /// A connection ended.
    done: Notify,
    /// Connections waiting for a request (nginx's reusable connections), oldest first:
    /// closed first when `worker_connections` runs short.
    idle: RefCell<VecDeque<Weak<Cell<bool>>>>,
    /// The second `reusing connections` was last logged.
    reuse_logged: Cell<u64>,
}

impl Local {
    fn notify_changed(&self) {
        self.epoch.set(self.epoch.get() + 1);
        self.changed.notify_waiters();
    }

    fn raise_close_below(&self, to: u64) {
        if to > self.close_below.get() {
            self.close_below.set(to);
            self.notify_changed();
        }
    }
}

/// Acts on the orders until stopped; returns when the worker is done.
async fn follow(index: usize, mut orders: watch::Receiver<Orders>) {
    let mut o = orders.borrow_and_update().clone();
    let local = Rc::new(Local {
        current: RefCell::new(Arc::clone(&o.generation)),
        latest: Arc::clone(&o.latest),
        active: Cell::new(0),
        stopping: Cell::new(false),
        close_below: Cell::new(0),
        changed: Arc::new(Notify::new()),
        epoch: Cell::new(0),
        done: Notify::new(),
        idle: RefCell::new(VecDeque::new()),
        reuse_logged: Cell::new(0),
    });
    let mut accepts = accept_on(&local, &o.generation);
    loop {
        local.raise_close_below(o.close_below);
        if o.stop == Stop::Fast {
            return;
        }
        if o.stop == Stop::Graceful || index >= o.workers {
            *local.current.borrow_mut() = Arc::clone(&o.generation);
            break;
        }
        let newer = !Arc::ptr_eq(&o.generation, &local.current.borrow());
        if newer {
            // The old accept loops go (their descriptors with them), the new ones start on
            // the same sockets: a connection waiting in a kept socket's backlog meanwhile is
            // accepted by the new loop.
            for a in accepts.drain(..) {
                a.abort();
            }
            *local.current.borrow_mut() = Arc::clone(&o.generation);
            accepts = accept_on(&local, &o.generation);
            local.notify_changed();
        }
        if orders.changed().await.is_err() {
            return;
        }
        o = orders.borrow_and_update().clone();
    }
    // Graceful: stop accepting (the main thread closes the sockets), close idle
    // connections, finish the rest.
    for a in accepts.drain(..) {
        a.abort();
    }
    local.stopping.set(true);
    local.notify_changed();
    loop {
        let done = local.done.notified();
        if local.active.get() == 0 {
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
                // Holding no generation but the latest, so that sockets a reload (or the
                // stop) closed are not kept open here.
                *local.current.borrow_mut() = Arc::clone(&o.generation);
                local.raise_close_below(o.close_below);
            }
        }
    }
}

/// Starts an accept loop for each listening socket of `g`.
fn accept_on(local: &Rc<Local>, g: &Arc<Generation>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut accepts = Vec::with_capacity(g.listeners.len());
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
        // The socket serves specific addresses too: each connection's local address picks
        // its address configuration (S2.3).
        let lookup_local = g.snapshot.http().sockets[i].addrs.len() > 1;
        accepts.push(tokio::task::spawn_local(accept_loop(
            fd,
            l.unix,
            lookup_local,
            i,
            Arc::clone(&g.snapshot),
            Rc::clone(local),
        )));
    }
    accepts
}

async fn accept_loop(
    fd: OwnedFd,
    unix: bool,
    lookup_local: bool,
    socket: usize,
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
                    super::io::errno_text(&e)
                );
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        if !room_for_one_more(&local, &snap) {
            drop(stream);
            continue;
        }
        let sock = &snap.http().sockets[socket];
        let local_addr = match (&stream, &sock.addr) {
            (Stream::Tcp(s), ir::ListenAddr::Inet(a)) => {
                if lookup_local || a.ip().is_unspecified() {
                    s.local_addr().ok()
                } else {
                    Some(*a)
                }
            }
            _ => None,
        };
        stream.set_nodelay();
        let addr = listen::addr_conf_index(sock, local_addr);
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
        let open = Open::new(&local, &snap);
        let kill = open.kill();
        let snap = Arc::clone(&snap);
        tokio::task::spawn_local(async move {
            tokio::select! {
                _ = conn::serve(stream, conn, snap, open) => {}
                _ = kill => {}
            }
        });
    }
}

/// nginx's `worker_connections` per worker: its listening sockets and its channel take one
/// each, every client connection one more. When a connection is accepted with none left,
/// nginx logs `N worker_connections are not enough` and closes it. Before that, when few are
/// left, it closes connections that wait for a request (`ngx_drain_connections`).
fn room_for_one_more(local: &Local, snap: &Snapshot) -> bool {
    let n = snap.config.main.worker_connections as usize;
    let used = local.active.get() + snap.http().sockets.len() + 1;
    let mut free = n.saturating_sub(used);
    if free <= n / 16 {
        // The idle connections closed make room at once, as nginx reuses their slots.
        free += reuse_idle(local, n);
    }
    if free == 0 {
        tracing::error!(
            nginx_level = "alert",
            "{n} worker_connections are not enough"
        );
        return false;
    }
    true
}

/// `ngx_drain_connections`: close the oldest connections waiting for a request; returns
/// how many.
fn reuse_idle(local: &Local, n: usize) -> usize {
    let mut idle = local.idle.borrow_mut();
    idle.retain(|w| w.upgrade().is_some_and(|c| !c.get()));
    if idle.is_empty() {
        return 0;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if local.reuse_logged.get() != now {
        local.reuse_logged.set(now);
        tracing::warn!("{n} worker_connections are not enough, reusing connections");
    }
    let count = (idle.len() / 8).clamp(1, 32);
    let mut closed = 0;
    while closed < count {
        match idle.pop_front().and_then(|w| w.upgrade()) {
            Some(close) => {
                close.set(true);
                closed += 1;
            }
            None => break,
        }
    }
    drop(idle);
    local.notify_changed();
    closed
}

/// A connection, counted as open on its worker and on the snapshot it runs on until dropped
/// (a tunnel takes it over from its request). It is also the connection's view of the
/// worker's orders: whether to keep it alive, and which configuration its next request uses.
pub struct Open {
    local: Rc<Local>,
    snap: Arc<Snapshot>,
    /// The generation counted on, shared with the connection's [`Kill`].
    generation: Rc<Cell<u64>>,
    /// Its listening socket is gone from the current configuration (or serves other
    /// protocols there): it closes once its request is done.
    orphaned: bool,
}

impl Open {
    fn new(local: &Rc<Local>, snap: &Arc<Snapshot>) -> Open {
        local.active.set(local.active.get() + 1);
        snap.connections.fetch_add(1, Ordering::Relaxed);
        Open {
            local: Rc::clone(local),
            snap: Arc::clone(snap),
            generation: Rc::new(Cell::new(snap.generation)),
            orphaned: false,
        }
    }

    /// What closes the connection at once (`worker_shutdown_timeout` passed for its
    /// generation), to race against serving it.
    pub fn kill(&self) -> Kill {
        Kill {
            local: Rc::clone(&self.local),
            generation: Rc::clone(&self.generation),
            waiting: None,
            seen: 0,
        }
    }

    /// Before a request: after a reload, the connection moves to the current configuration
    /// (its socket and address configuration looked up again), so that new requests follow
    /// the new configuration while the ones in flight finish on theirs. A connection whose
    /// socket the new configuration does not have stays, and closes after this request.
    pub fn adopt(&mut self, snap: &mut Arc<Snapshot>, conn: &mut Arc<ConnInfo>) {
        if self.orphaned {
            return;
        }
        if self.local.latest.load().generation == snap.generation {
            return;
        }
        let current = self.local.latest.load_full();
        match successor(snap, conn, &current) {
            Some(next) => {
                snap.connections.fetch_sub(1, Ordering::Relaxed);
                current.connections.fetch_add(1, Ordering::Relaxed);
                self.generation.set(current.generation);
                self.snap = Arc::clone(&current);
                *conn = Arc::new(next);
                *snap = current;
            }
            None => self.orphaned = true,
        }
    }

    /// After a request: whether the connection must close rather than wait for another (a
    /// graceful stop, or its socket left the configuration).
    pub fn closing(&self) -> bool {
        self.orphaned || self.local.stopping.get()
    }

    /// Runs `wait`, the wait for the first byte of a request, unless the connection should
    /// close first: a graceful stop, a reload that removed its socket, its generation's
    /// `worker_shutdown_timeout`, or `worker_connections` running short. `None`: close it.
    pub async fn unless_closed<F: std::future::Future>(
        &self,
        conn: &ConnInfo,
        wait: F,
    ) -> Option<F::Output> {
        let reuse = Rc::new(Cell::new(false));
        {
            let mut idle = self.local.idle.borrow_mut();
            // Entries of connections that stopped waiting are dropped now and then.
            if idle.len() > 64 && idle.len() > 2 * self.local.active.get() {
                idle.retain(|w| w.strong_count() > 0);
            }
            idle.push_back(Rc::downgrade(&reuse));
        }
        tokio::pin!(wait);
        loop {
            let changed = self.local.changed.notified();
            if self.closing()
                || reuse.get()
                || self.local.close_below.get() > self.generation.get()
                || self.moved_away(conn)
            {
                return None;
            }
            tokio::select! {
                out = &mut wait => return Some(out),
                _ = changed => {}
            }
        }
    }

    /// For a connection that does not move to a new configuration (HTTP/2: its streams run
    /// on the snapshot it was accepted with): resolves when it should take no new request,
    /// that is on a graceful stop or once a newer configuration is in force.
    pub async fn retired(&self, snap: &Snapshot) {
        loop {
            let changed = self.local.changed.notified();
            if self.closing() || self.local.latest.load().generation != snap.generation {
                return;
            }
            changed.await;
        }
    }

    /// A reload removed this connection's socket (or changed what it serves).
    fn moved_away(&self, conn: &ConnInfo) -> bool {
        let current = self.local.latest.load_full();
        current.generation != self.snap.generation
            && successor(&self.snap, conn, &current).is_none()
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.snap.connections.fetch_sub(1, Ordering::Relaxed);
        self.local.active.set(self.local.active.get() - 1);
        self.local.done.notify_one();
    }
}

/// The connection as it continues on `next`: the same socket address there, and an address
/// configuration serving the same protocols; `None` if `next` has no such socket.
fn successor(snap: &Snapshot, conn: &ConnInfo, next: &Snapshot) -> Option<ConnInfo> {
    let sock = snap.http().sockets.get(conn.socket)?;
    let ac = sock.addrs.get(conn.addr)?;
    let (i, s) = next
        .http()
        .sockets
        .iter()
        .enumerate()
        .find(|(_, s)| s.addr == sock.addr)?;
    let a = listen::addr_conf_index(s, conn.local);
    let nac = &s.addrs[a];
    if (nac.ssl, nac.http2, nac.proxy_protocol) != (ac.ssl, ac.http2, ac.proxy_protocol) {
        return None;
    }
    // A TLS connection's handshake stays what it was; the server its SNI chose matters only
    // before the first request, which this connection is past.
    Some(ConnInfo {
        socket: i,
        addr: a,
        ..conn.clone()
    })
}

/// A future that resolves when a connection must close at once.
pub struct Kill {
    local: Rc<Local>,
    generation: Rc<Cell<u64>>,
    waiting: Option<std::pin::Pin<Box<tokio::sync::futures::OwnedNotified>>>,
    seen: u64,
}

impl std::future::Future for Kill {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let me = self.get_mut();
        if me.local.close_below.get() > me.generation.get() {
            return std::task::Poll::Ready(());
        }
        let epoch = me.local.epoch.get();
        if me.waiting.is_some() && me.seen == epoch {
            // Registered with this task's waker and nothing changed since: no lock taken.
            return std::task::Poll::Pending;
        }
        let mut waiting = Box::pin(Arc::clone(&me.local.changed).notified_owned());
        if std::future::Future::poll(waiting.as_mut(), cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        me.waiting = Some(waiting);
        me.seen = epoch;
        std::task::Poll::Pending
    }
}
