//! A connection as its worker sees it: counted while open ([`Open`]), on its worker (for a
//! graceful stop and `worker_connections`) and on the snapshot it runs on (for the reload
//! log); told when to close ([`Kill`], idle connections closed when connections run short,
//! by a stop or by a reload that removed its socket); and moved to the newest configuration
//! between requests.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use super::listen;
use crate::runtime::state::conn::ConnInfo;
use crate::runtime::state::Snapshot;

/// What a worker's tasks share.
pub struct Local {
    /// The snapshot new requests use (the master stores it before telling the workers).
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
    /// A worker's state at its start; `latest` is where the master stores the newest
    /// snapshot.
    pub fn new(latest: Arc<ArcSwap<Snapshot>>) -> Rc<Local> {
        Rc::new(Local {
            latest,
            active: Cell::new(0),
            stopping: Cell::new(false),
            close_below: Cell::new(0),
            changed: Arc::new(Notify::new()),
            epoch: Cell::new(0),
            done: Notify::new(),
            idle: RefCell::new(VecDeque::new()),
            reuse_logged: Cell::new(0),
        })
    }

    /// Connections open on this worker.
    pub fn active(&self) -> usize {
        self.active.get()
    }

    /// A graceful stop begins: idle connections close, keep-alive ends.
    pub fn stop(&self) {
        self.stopping.set(true);
        self.notify_changed();
    }

    /// Resolves when a connection of this worker ended.
    pub fn connection_ended(&self) -> tokio::sync::futures::Notified<'_> {
        self.done.notified()
    }

    /// Tells what watches the worker's state (idle connections, [`Kill`]s) to look again.
    pub fn notify_changed(&self) {
        self.epoch.set(self.epoch.get() + 1);
        self.changed.notify_waiters();
    }

    /// Connections of generations below `to` close now (`worker_shutdown_timeout`).
    pub fn raise_close_below(&self, to: u64) {
        if to > self.close_below.get() {
            self.close_below.set(to);
            self.notify_changed();
        }
    }
}

/// nginx's `worker_connections` per worker: its listening sockets and its channel take one
/// each, every client connection one more. When a connection is accepted with none left,
/// nginx logs `N worker_connections are not enough` and closes it. Before that, when few are
/// left, it closes connections that wait for a request (`ngx_drain_connections`).
pub fn room_for_one_more(local: &Local, snap: &Snapshot) -> bool {
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
    /// Counts a new connection on `local` and `snap`.
    pub fn new(local: &Rc<Local>, snap: &Arc<Snapshot>) -> Open {
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
            generation: Rc::clone(&self.generation),
            changes: Changes::new(&self.local),
        }
    }

    /// Whether the connection must close at once: its generation's `worker_shutdown_timeout`
    /// passed (what [`Kill`] waits for).
    pub fn killed(&self) -> bool {
        self.local.close_below.get() > self.generation.get()
    }

    /// The worker the connection is counted on.
    pub fn local(&self) -> &Rc<Local> {
        &self.local
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
    let a = listen::addr_conf_index(s.addrs.iter().map(|a| &a.addr), conn.local);
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
    generation: Rc<Cell<u64>>,
    changes: Changes,
}

impl std::future::Future for Kill {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let me = self.get_mut();
        loop {
            if me.changes.local.close_below.get() > me.generation.get() {
                return std::task::Poll::Ready(());
            }
            if !me.changes.poll_changed(cx) {
                return std::task::Poll::Pending;
            }
        }
    }
}

/// One task's watch on its worker's orders (a stop, `worker_shutdown_timeout`, idle
/// connections to close). Polled every time the task runs (a tunnel runs for every message),
/// so it takes no lock unless the worker's state changed since the task last looked.
pub struct Changes {
    local: Rc<Local>,
    waiting: Option<std::pin::Pin<Box<tokio::sync::futures::OwnedNotified>>>,
    seen: u64,
}

impl Changes {
    pub fn new(local: &Rc<Local>) -> Changes {
        Changes {
            local: Rc::clone(local),
            waiting: None,
            seen: 0,
        }
    }

    /// Whether the worker's state changed since the last call (`false` at the first); the
    /// task is woken at the next change.
    pub fn poll_changed(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let epoch = self.local.epoch.get();
        if self.waiting.is_some() && self.seen == epoch {
            // Registered with this task's waker and nothing changed since: no lock taken.
            return false;
        }
        let changed = self.waiting.is_some();
        let mut waiting = Box::pin(Arc::clone(&self.local.changed).notified_owned());
        if std::future::Future::poll(waiting.as_mut(), cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        self.waiting = Some(waiting);
        self.seen = epoch;
        changed
    }
}
