//! The worker's tunnel loop: every tunnel between two plain sockets on this worker thread is
//! moved by one loop, as nginx's event loop moves its upgraded connections.
//!
//! A tunnel carries a message with a read and a write; what surrounds them is the cost the
//! tunnel adds. As a task of its own, every message also paid tokio's per-socket readiness
//! (a lock to register, a lock to wake), a task wake-up and poll, and its timers' polls: more
//! user time than the two system calls. Here the sockets leave tokio's reactor for an epoll
//! set of the loop's own (edge-triggered, as nginx registers connections), which tokio watches
//! as one descriptor. An event goes straight to its tunnel's [`Relay`] (or, for
//! `websockify_pass`, its [`Bridge`]) with nginx's `ready`
//! flags; the clock is read once per batch of events; timers are a heap of deadlines re-armed
//! lazily (traffic only moves a deadline later, so nothing is done per message); the worker's
//! orders (a stop, `worker_shutdown_timeout`) are one watch for all tunnels. An idle tunnel is
//! its two descriptors, its request (for the access-log line) and this loop's record of it:
//! no task, no buffer.
//!
//! TLS on either side (a client on an `ssl` address, `proxy_pass https://`) is rustls driven
//! by the same events: the stream's TLS state leaves tokio-rustls with its socket.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::io::Errno;
use tokio::io::unix::AsyncFd;
use tokio::time::{Instant, Sleep};

mod carrier;
mod owner;

pub use carrier::side;

use super::open::{Changes, Local, Open};
use crate::runtime::base::clock::Coarse;
use crate::runtime::base::tunnel::relay::{Readiness, Relay, Which};
use crate::runtime::base::tunnel::side::Side;
use crate::runtime::base::tunnel::{End, SCRATCH};
use crate::runtime::http::tunnel::Meta;
use crate::runtime::http::websockify::bridge::Bridge;
use crate::runtime::state::request::Request;
use crate::runtime::state::session::Session;
use crate::runtime::state::upgraded::Carry;
use crate::runtime::stream;
use carrier::Carrier;
use owner::Owner;

/// Events taken from the kernel at a time.
const BATCH: usize = 256;

thread_local! {
    /// This worker thread's loop, started with its first tunnel.
    static LOOP: RefCell<Option<Rc<Tunnels>>> = const { RefCell::new(None) };
}

/// A connection the request pipeline hands to the loop after its 101.
pub struct Handoff<'a> {
    pub client: Side,
    pub upstream: Side,
    /// Bytes the client sent behind its request: the upstream's first.
    pub pipelined: &'a [u8],
    /// Bytes the upstream sent behind its 101: the client's first.
    pub early: &'a [u8],
    /// A tunnel's bytes as they are, or a bridge's frames.
    pub carry: Carry,
    pub meta: Meta,
}

/// Hands a tunnel to this worker's loop; `open` counts its connection until it ends, and
/// `r` is its request (for the access-log line).
pub fn adopt(open: Open, r: Box<Request>, h: Handoff<'_>) {
    let Handoff {
        client,
        upstream,
        pipelined,
        early,
        carry,
        meta,
    } = h;
    let carrier = match carry {
        Carry::Bytes => Carrier::Relay(Relay::new(client, upstream, pipelined, early)),
        Carry::Bridge(mode) => Carrier::Bridge(Bridge::new(client, upstream, pipelined, mode)),
    };
    add(open, carrier, Owner::Http { r, meta });
}

/// Hands a connected stream session to this worker's loop (`ngx_stream_proxy_init_upstream`
/// onwards).
pub fn adopt_session(open: Open, s: Box<Session>, t: stream::Tunnel) {
    let stream::Tunnel {
        client,
        upstream,
        proxy,
        release,
    } = t;
    let (Some(client), Some(upstream)) = (side(client), side(upstream)) else {
        return;
    };
    let relay =
        Relay::new(client, upstream, &[], &[]).with_limits(proxy.buffer_size, proxy.half_close);
    let owner = Owner::Stream {
        s,
        release,
        timeout: proxy.timeout,
    };
    add(open, Carrier::Relay(relay), owner);
}

fn add(open: Open, relay: Carrier, owner: Owner) {
    let tunnels = match LOOP.with(|l| l.borrow().clone()) {
        Some(t) => t,
        None => match Tunnels::start(open.local()) {
            Ok(t) => t,
            Err(e) => {
                // No epoll set (out of descriptors or memory): the tunnel cannot run.
                tracing::error!(
                    nginx_level = "alert",
                    "epoll_create1() failed {}",
                    crate::runtime::base::io::errno_text(&e)
                );
                return;
            }
        },
    };
    tunnels.add(Tunnel {
        relay,
        owner,
        open,
        last: Instant::now(),
        armed: Instant::now(),
        started: std::time::Instant::now(),
    });
}

/// A tunnel as the loop keeps it.
struct Tunnel {
    relay: Carrier,
    owner: Owner,
    /// The connection, counted on its worker and generation until the tunnel ends.
    open: Open,
    /// When it last moved anything: the base of its timers.
    last: Instant,
    /// Its earliest deadline in the loop's heap (later entries for it are stale).
    armed: Instant,
    started: std::time::Instant,
}

struct Slot {
    /// Bumped when the slot is freed, so that an event for its former tunnel is ignored.
    generation: u32,
    tunnel: Option<Box<Tunnel>>,
}

/// The loop: the epoll set (which tokio watches) and the tunnels.
struct Tunnels {
    epoll: AsyncFd<OwnedFd>,
    inner: RefCell<Inner>,
}

struct Inner {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Deadlines: (when, slot, its generation).
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    scratch: Box<[u8]>,
    events: Vec<epoll::Event>,
    clock: Coarse,
    /// The loop's task and when its timer fires: a new tunnel whose deadline comes sooner
    /// wakes it to set the timer again.
    waker: Option<Waker>,
    sleep_at: Option<Instant>,
    changes: Changes,
}

impl Tunnels {
    fn start(local: &Rc<Local>) -> std::io::Result<Rc<Tunnels>> {
        let fd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        // tokio deprecated this constructor because a type's `as_raw_fd` may change while
        // registered (tokio#8587); an `OwnedFd`'s cannot, which is what its unsafe successor
        // asks the caller to promise (and this crate forbids `unsafe`).
        #[allow(deprecated)]
        let epoll = AsyncFd::with_interest(fd, tokio::io::Interest::READABLE)?;
        let me = Rc::new(Tunnels {
            epoll,
            inner: RefCell::new(Inner {
                slots: Vec::new(),
                free: Vec::new(),
                timers: BinaryHeap::new(),
                scratch: vec![0u8; SCRATCH].into_boxed_slice(),
                events: Vec::with_capacity(BATCH),
                clock: Coarse::start(),
                waker: None,
                sleep_at: None,
                changes: Changes::new(local),
            }),
        });
        LOOP.with(|l| *l.borrow_mut() = Some(Rc::clone(&me)));
        tokio::task::spawn_local(run(Rc::clone(&me)));
        Ok(me)
    }

    /// Registers a tunnel's two sockets; their first events come at once with what they are
    /// ready for (the bytes owed to either side go then).
    fn add(&self, mut t: Tunnel) {
        let mut inner = self.inner.borrow_mut();
        let now = inner.clock.now();
        t.last = now;
        let (deadline, _) = t.owner.deadline(now, false, false);
        t.armed = deadline;
        let index = match inner.free.pop() {
            Some(i) => i,
            None => {
                inner.slots.push(Slot {
                    generation: 0,
                    tunnel: None,
                });
                (inner.slots.len() - 1) as u32
            }
        };
        let generation = inner.slots[index as usize].generation;
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        let fd = self.epoll.get_ref();
        let registered = epoll::add(
            fd,
            &t.relay.client().sock,
            EventData::new_u64(key(index, generation, Which::Client)),
            flags,
        )
        .and_then(|()| {
            epoll::add(
                fd,
                &t.relay.upstream().sock,
                EventData::new_u64(key(index, generation, Which::Upstream)),
                flags,
            )
            .inspect_err(|_| {
                let _ = epoll::delete(fd, &t.relay.client().sock);
            })
        });
        if let Err(e) = registered {
            inner.free.push(index);
            drop(inner);
            tracing::error!(
                nginx_level = "alert",
                "epoll_ctl(1) failed {}",
                crate::runtime::base::io::errno_text(&e.into())
            );
            return;
        }
        inner.slots[index as usize].tunnel = Some(Box::new(t));
        inner.timers.push(Reverse((deadline, index, generation)));
        if inner.sleep_at.is_none_or(|at| deadline < at) {
            if let Some(w) = &inner.waker {
                w.wake_by_ref();
            }
        }
    }

    /// One turn of the loop: the worker's orders, the events, the timers.
    fn poll(&self, cx: &mut Context<'_>, mut sleep: Pin<&mut Sleep>) {
        let mut inner = self.inner.borrow_mut();
        match &mut inner.waker {
            Some(w) => w.clone_from(cx.waker()),
            slot => *slot = Some(cx.waker().clone()),
        }
        if inner.changes.poll_changed(cx) {
            inner.kill_expired(self.epoll.get_ref());
        }
        loop {
            match self.epoll.poll_read_ready(cx) {
                Poll::Ready(Ok(mut guard)) => {
                    inner.events(self.epoll.get_ref());
                    guard.clear_ready();
                }
                Poll::Ready(Err(e)) => {
                    tracing::error!(
                        nginx_level = "alert",
                        "epoll_wait() failed {}",
                        crate::runtime::base::io::errno_text(&e)
                    );
                    break;
                }
                Poll::Pending => break,
            }
        }
        // The coarse clock, as for the tunnels' own times; the precise one only when the
        // timer fired, as the coarse one may lag it by a tick.
        let mut now = inner.clock.now();
        loop {
            inner.expire(self.epoll.get_ref(), now);
            let Some(&Reverse((at, _, _))) = inner.timers.peek() else {
                inner.sleep_at = None;
                return;
            };
            if inner.sleep_at != Some(at) {
                sleep.as_mut().reset(at);
                inner.sleep_at = Some(at);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return;
            }
            now = Instant::now();
        }
    }
}

/// The loop's task: runs as long as the worker.
async fn run(me: Rc<Tunnels>) {
    let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
    tokio::pin!(sleep);
    std::future::poll_fn(|cx| {
        me.poll(cx, sleep.as_mut());
        Poll::<()>::Pending
    })
    .await
}

/// An event's key: the slot, its generation, and the side.
fn key(index: u32, generation: u32, which: Which) -> u64 {
    (u64::from(generation) << 32) | (u64::from(index) << 1) | u64::from(which == Which::Upstream)
}

impl Inner {
    /// Takes the events the kernel has and gives each to its tunnel.
    fn events(&mut self, epoll: &OwnedFd) {
        loop {
            self.events.clear();
            match epoll::wait(
                epoll,
                rustix::buffer::spare_capacity(&mut self.events),
                Some(&rustix::time::Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                }),
            ) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => {
                    tracing::error!(
                        nginx_level = "alert",
                        "epoll_wait() failed {}",
                        crate::runtime::base::io::errno_text(&e.into())
                    );
                    return;
                }
            }
            let n = self.events.len();
            let now = self.clock.now();
            for i in 0..n {
                let ev = self.events[i];
                self.event(epoll, ev.data.u64(), ev.flags, now);
            }
            if n < BATCH {
                return;
            }
        }
    }

    fn event(&mut self, epoll: &OwnedFd, key: u64, flags: EventFlags, now: Instant) {
        let index = ((key >> 1) & 0x7fff_ffff) as u32;
        let generation = (key >> 32) as u32;
        let which = if key & 1 == 1 {
            Which::Upstream
        } else {
            Which::Client
        };
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        if slot.generation != generation {
            return;
        }
        let Some(t) = slot.tunnel.as_mut() else {
            return;
        };
        let failed = EventFlags::HUP | EventFlags::ERR;
        let ready = Readiness {
            readable: flags.intersects(EventFlags::IN | EventFlags::RDHUP | failed),
            writable: flags.intersects(EventFlags::OUT | failed),
            rdhup: flags.intersects(EventFlags::RDHUP | EventFlags::HUP),
        };
        let end = match t.relay.event(which, ready, &mut self.scratch) {
            Ok(moved) => {
                if moved {
                    t.last = now;
                }
                if t.relay.over() {
                    Some(End::Closed)
                } else {
                    // A blocked write may bring the deadline forward; traffic only moves it
                    // on, which the deadline's entry finds when it comes due.
                    let (up, down) = t.relay.blocked();
                    let (deadline, _) = t.owner.deadline(t.last, up, down);
                    if deadline < t.armed {
                        t.armed = deadline;
                        self.timers.push(Reverse((deadline, index, generation)));
                    }
                    None
                }
            }
            Err(end) => Some(end),
        };
        if let Some(end) = end {
            self.end(epoll, index, end);
        }
    }

    /// Ends the tunnels whose deadline passed; re-queues those that moved since.
    fn expire(&mut self, epoll: &OwnedFd, now: Instant) {
        while let Some(&Reverse((at, index, generation))) = self.timers.peek() {
            if at > now {
                return;
            }
            self.timers.pop();
            let slot = &mut self.slots[index as usize];
            if slot.generation != generation {
                continue;
            }
            let Some(t) = slot.tunnel.as_mut() else {
                continue;
            };
            if t.armed != at {
                continue;
            }
            let (up, down) = t.relay.blocked();
            let (deadline, fired) = t.owner.deadline(t.last, up, down);
            if deadline <= now {
                self.end(epoll, index, fired);
            } else {
                t.armed = deadline;
                self.timers.push(Reverse((deadline, index, generation)));
            }
        }
    }

    /// After the worker's orders changed: the tunnels of generations past their
    /// `worker_shutdown_timeout` end now.
    fn kill_expired(&mut self, epoll: &OwnedFd) {
        for index in 0..self.slots.len() {
            let killed = self.slots[index]
                .tunnel
                .as_ref()
                .is_some_and(|t| t.open.killed());
            if killed {
                self.end(epoll, index as u32, End::ShutDown);
            }
        }
    }

    /// Ends a tunnel: its log lines, then its sockets closed as nginx closes them.
    fn end(&mut self, epoll: &OwnedFd, index: u32, end: End) {
        let slot = &mut self.slots[index as usize];
        let Some(t) = slot.tunnel.take() else {
            return;
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        let Tunnel {
            relay,
            owner,
            open,
            started,
            ..
        } = *t;
        let _ = epoll::delete(epoll, &relay.client().sock);
        let _ = epoll::delete(epoll, &relay.upstream().sock);
        owner.end(relay, end, open, started);
    }
}
