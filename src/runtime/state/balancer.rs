//! Upstream peers per worker: nginx's smooth weighted round robin (S5.2), failure accounting
//! (S5.3–S5.5), and the keep-alive cache of idle upstream connections (S5.8).
//!
//! Like nginx without a `zone`, every worker keeps its own state, so nothing here is shared
//! between threads and no lock is taken.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use super::Snapshot;
use crate::ir::upstream::Upstream;
use crate::runtime::base::io::Stream;

#[derive(Clone, Debug)]
struct Peer {
    current_weight: i64,
    effective_weight: i64,
    fails: u32,
    /// nginx's `accessed` / `checked`, in seconds (nginx compares whole seconds).
    accessed: i64,
    checked: i64,
    conns: u32,
}

/// An idle upstream connection kept for reuse.
pub struct Idle {
    pub stream: Stream,
    pub peer: usize,
    pub since: Instant,
    /// Requests already served on it.
    pub requests: u32,
    pub created: Instant,
}

/// One upstream group's state in one worker.
pub struct Balancer {
    peers: Vec<Peer>,
    /// Each peer's address as nginx prints it (`$upstream_addr`, logs), made once.
    names: Vec<bytes::Bytes>,
    primaries: usize,
    single: bool,
    pool: VecDeque<Idle>,
}

/// The peers tried so far for one request (nginx's `ngx_http_upstream_rr_peer_data_t`).
#[derive(Debug)]
pub struct Tries {
    tried: Vec<u64>,
    backup: bool,
    /// Tries left (nginx's `pc->tries`).
    pub left: u32,
    pub current: Option<usize>,
}

/// No peer is available (`no live upstreams`).
#[derive(Debug)]
pub struct Busy;

fn now_secs() -> i64 {
    thread_local! {
        static START: Instant = Instant::now();
    }
    // Whole seconds of a monotonic clock, plus one so that 0 means "never".
    START.with(|s| s.elapsed().as_secs() as i64 + 1)
}

impl Balancer {
    pub fn new(u: &Upstream) -> Balancer {
        let peers = u
            .peers
            .iter()
            .map(|p| Peer {
                current_weight: 0,
                effective_weight: p.weight as i64,
                fails: 0,
                accessed: 0,
                checked: 0,
                conns: 0,
            })
            .collect();
        Balancer {
            peers,
            names: u
                .peers
                .iter()
                .map(|p| bytes::Bytes::from(p.addr.to_string()))
                .collect(),
            primaries: u.peers.iter().filter(|p| !p.backup).count(),
            single: u.single_peer(),
            pool: VecDeque::new(),
        }
    }

    /// Peer `i`'s address text.
    pub fn name(&self, i: usize) -> bytes::Bytes {
        self.names[i].clone()
    }

    /// A request's tries: the non-`down` peers, primaries and backups (S5.5).
    pub fn tries(&self, u: &Upstream) -> Tries {
        let live = u.peers.iter().filter(|p| !p.down).count() as u32;
        Tries {
            tried: vec![0; u.peers.len().div_ceil(64).max(1)],
            backup: false,
            left: if self.single { 1 } else { live },
            current: None,
        }
    }

    /// `ngx_http_upstream_get_round_robin_peer`.
    pub fn get(&mut self, u: &Upstream, t: &mut Tries) -> Result<usize, Busy> {
        if !t.backup {
            if self.single {
                let p = &u.peers[0];
                if !(p.down || (p.max_conns != 0 && self.peers[0].conns >= p.max_conns)) {
                    t.current = Some(0);
                    self.peers[0].conns += 1;
                    return Ok(0);
                }
            } else if let Some(i) = self.pick(u, t, 0..self.primaries) {
                return Ok(i);
            }
            if self.primaries == u.peers.len() {
                return Err(Busy);
            }
            // Backups: a fresh "tried" set, as nginx switches to the backup peer list.
            t.backup = true;
            t.tried.iter_mut().for_each(|w| *w = 0);
        }
        self.pick(u, t, self.primaries..u.peers.len()).ok_or(Busy)
    }

    /// `ngx_http_upstream_get_peer` over `range`.
    fn pick(
        &mut self,
        u: &Upstream,
        t: &mut Tries,
        range: std::ops::Range<usize>,
    ) -> Option<usize> {
        let now = now_secs();
        let mut best: Option<(usize, i64)> = None;
        let mut total = 0i64;
        for i in range {
            let bit = 1u64 << (i % 64);
            if t.tried[i / 64] & bit != 0 {
                continue;
            }
            let conf = &u.peers[i];
            let p = &mut self.peers[i];
            if conf.down {
                continue;
            }
            if conf.max_fails != 0
                && p.fails >= conf.max_fails
                && now - p.checked <= conf.fail_timeout.as_secs() as i64
            {
                continue;
            }
            if conf.max_conns != 0 && p.conns >= conf.max_conns {
                continue;
            }
            p.current_weight += p.effective_weight;
            total += p.effective_weight;
            if p.effective_weight < conf.weight as i64 {
                p.effective_weight += 1;
            }
            if best.is_none_or(|(_, w)| p.current_weight > w) {
                best = Some((i, p.current_weight));
            }
        }
        let (b, _) = best?;
        t.tried[b / 64] |= 1u64 << (b % 64);
        t.current = Some(b);
        let p = &mut self.peers[b];
        p.current_weight -= total;
        if now - p.checked > u.peers[b].fail_timeout.as_secs() as i64 {
            p.checked = now;
        }
        p.conns += 1;
        Some(b)
    }

    /// `ngx_http_upstream_free_round_robin_peer`. Returns `true` when the peer just reached
    /// `max_fails` (nginx warns "upstream server temporarily disabled").
    pub fn free(&mut self, u: &Upstream, t: &mut Tries, failed: bool) -> bool {
        let Some(i) = t.current.take() else {
            return false;
        };
        let p = &mut self.peers[i];
        p.conns = p.conns.saturating_sub(1);
        if self.single {
            t.left = 0;
            return false;
        }
        let conf = &u.peers[i];
        let mut disabled = false;
        if failed {
            let now = now_secs();
            p.fails += 1;
            p.accessed = now;
            p.checked = now;
            if let Some(step) = conf.weight.checked_div(conf.max_fails) {
                p.effective_weight -= step as i64;
                disabled = p.fails >= conf.max_fails;
            }
            if p.effective_weight < 0 {
                p.effective_weight = 0;
            }
        } else if p.accessed < p.checked {
            p.fails = 0;
        }
        t.left = t.left.saturating_sub(1);
        disabled
    }

    /// An idle connection to `peer`, if the cache has a usable one (S5.8).
    pub fn take_idle(&mut self, u: &Upstream, peer: usize) -> Option<Idle> {
        let ka = u.keepalive.as_ref()?;
        while let Some(pos) = self.pool.iter().position(|c| c.peer == peer) {
            let c = self.pool.remove(pos)?;
            if c.since.elapsed() <= ka.timeout && !c.stream.idle_broken() {
                return Some(c);
            }
        }
        None
    }

    /// Keeps a connection for reuse, evicting the oldest when the cache is full.
    pub fn put_idle(&mut self, u: &Upstream, mut c: Idle) {
        let Some(ka) = u.keepalive.as_ref() else {
            return;
        };
        c.requests += 1;
        if c.requests >= ka.requests || c.created.elapsed() > ka.time {
            return;
        }
        c.since = Instant::now();
        if self.pool.len() >= ka.connections as usize {
            self.pool.pop_back();
        }
        self.pool.push_front(c);
    }
}

/// Every upstream group's state in this worker, for one configuration snapshot.
pub struct Balancers {
    pub generation: u64,
    /// The http block's groups, by [`crate::ir::UpstreamId`].
    pub groups: Vec<RefCell<Balancer>>,
    /// The stream block's.
    pub stream: Vec<RefCell<Balancer>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Balancers>>> = const { RefCell::new(None) };
}

/// This worker's balancers for the snapshot `generation` (created on first use; a reload
/// starts fresh state, as nginx's new workers do).
pub fn for_snapshot(snap: &Snapshot) -> Rc<Balancers> {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let fresh = || {
            Rc::new(Balancers {
                generation: snap.generation,
                groups: snap
                    .http()
                    .upstreams
                    .iter()
                    .map(|u| RefCell::new(Balancer::new(u)))
                    .collect(),
                stream: snap
                    .stream
                    .upstreams
                    .iter()
                    .map(|u| RefCell::new(Balancer::new(u)))
                    .collect(),
            })
        };
        match c.as_ref() {
            Some(b) if b.generation == snap.generation => return Rc::clone(b),
            // A request still on an older snapshot after a reload: it gets state of its
            // own rather than evicting the current generation's (and its keep-alive pool).
            Some(b) if b.generation > snap.generation => return fresh(),
            _ => {}
        }
        let b = fresh();
        *c = Some(Rc::clone(&b));
        b
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::upstream::{Peer as IrPeer, PeerAddr};
    use std::time::Duration;

    fn upstream(weights: &[(u32, bool)]) -> Upstream {
        Upstream {
            name: b"u".to_vec().into(),
            implicit: false,
            port: 0,
            peers: weights
                .iter()
                .enumerate()
                .map(|(i, &(w, backup))| IrPeer {
                    addr: PeerAddr::Inet(format!("127.0.0.1:{}", 1000 + i).parse().unwrap()),
                    name: format!("127.0.0.1:{}", 1000 + i).into(),
                    weight: w,
                    max_fails: 1,
                    fail_timeout: Duration::from_secs(10),
                    max_conns: 0,
                    backup,
                    down: false,
                })
                .collect(),
            keepalive: None,
        }
    }

    /// S5.2: weights 5,1,1 give A A B A C A A.
    #[test]
    fn smooth_weighted_round_robin() {
        let u = upstream(&[(5, false), (1, false), (1, false)]);
        let mut b = Balancer::new(&u);
        let mut seq = String::new();
        for _ in 0..14 {
            let mut t = b.tries(&u);
            let i = b.get(&u, &mut t).unwrap();
            seq.push((b'1' + i as u8) as char);
            b.free(&u, &mut t, false);
        }
        assert_eq!(seq, "11213111121311");
    }

    /// S5.4/S5.5: a failed primary is skipped; backups only when primaries are exhausted.
    #[test]
    fn failures_and_backups() {
        let u = upstream(&[(1, false), (1, false), (1, true)]);
        let mut b = Balancer::new(&u);
        let mut t = b.tries(&u);
        assert_eq!(t.left, 3);
        let first = b.get(&u, &mut t).unwrap();
        assert!(b.free(&u, &mut t, true), "max_fails=1 disables at once");
        let second = b.get(&u, &mut t).unwrap();
        assert_ne!(first, second);
        b.free(&u, &mut t, true);
        assert_eq!(b.get(&u, &mut t).unwrap(), 2, "then the backup");
        b.free(&u, &mut t, true);
        // The next request finds every peer failed within fail_timeout.
        let mut t = b.tries(&u);
        assert!(b.get(&u, &mut t).is_err());
    }

    /// S5.3: a single peer is never marked failed.
    #[test]
    fn single_peer_is_always_tried() {
        let u = upstream(&[(1, false)]);
        let mut b = Balancer::new(&u);
        for _ in 0..3 {
            let mut t = b.tries(&u);
            assert_eq!(b.get(&u, &mut t).unwrap(), 0);
            b.free(&u, &mut t, true);
            assert_eq!(t.left, 0);
        }
    }
}
