//! The tries of one request over its upstream group (S5.2–S5.7), in one loop: the balancer
//! picks a peer (`ngx_http_upstream_get_round_robin_peer`), a try connects (or takes an idle
//! keep-alive connection), sends the request and reads the response head, and a failure is
//! handled as `ngx_http_upstream_next` handles it: the peer is charged, the failure logged,
//! and the next peer tried while `proxy_next_upstream`, its tries and its timeout allow.
//! Each try leaves one record on the request (`$upstream_*`).
//!
//! A `proxy_pass` with variables that named an address tries a group of that one peer.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use super::error::{Kind, PeerLog, Phase, ProxyError, Side};
use super::job::Job;
use super::pass::{one_peer_group, Target};
use super::peer::{Got, Group};
use super::{connect, read, response, send};
use crate::ir::proxy::{NextUpstream, Scheme};
use crate::ir::upstream::{PeerAddr, Upstream};
use crate::ir::Level;
use crate::runtime::base::http1::request::Method;
use crate::runtime::http::body::Body;
use crate::runtime::state::balancer::{self, Balancer, Idle, Tries};
use crate::runtime::state::conn::Client;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;
use crate::runtime::state::upstream::UpstreamTry;

/// The tries of one request: the group and the balancer's view of what was tried.
struct Attempts<'a> {
    group: Group<'a>,
    tries: Tries,
    started: Instant,
    /// POST, LOCK and PATCH are retried after being sent only with `non_idempotent`.
    non_idempotent: bool,
}

/// Tries the peers until one answers or nginx gives up.
pub async fn run(r: &mut Request, c: &mut Client, job: &Job<'_>, mut body: Body) -> Next {
    let snap = Arc::clone(&r.snap);
    let balancers = balancer::for_snapshot(&snap);
    let one;
    let one_balancer;
    let group = match &job.pass.target {
        Target::Group(id) => Group {
            ups: &snap.http().upstreams[id.0 as usize],
            balancer: &balancers.groups[id.0 as usize],
        },
        Target::Addr(addr) => {
            one = one_peer_group(addr);
            one_balancer = RefCell::new(Balancer::new(&one));
            Group {
                ups: &one,
                balancer: &one_balancer,
            }
        }
    };
    let mut a = Attempts {
        tries: group.balancer.borrow().tries(group.ups),
        group,
        started: Instant::now(),
        non_idempotent: matches!(r.method, Method::Post | Method::Lock | Method::Patch),
    };
    loop {
        let picked = a.group.balancer.borrow_mut().get(a.group.ups, &mut a.tries);
        let Ok(peer) = picked else {
            return no_live_upstreams(r, job, a.group.ups);
        };
        let name = a.group.balancer.borrow().name(peer);
        let addr = &a.group.ups.peers[peer].addr;
        let log = PeerLog {
            schema: job.pass.schema,
            name: name.clone(),
            unix: matches!(addr, PeerAddr::Unix(_)),
            uri: &job.pass.uri,
        };
        r.upstream.tries.push(UpstreamTry::new(name));
        let idle = a.group.balancer.borrow_mut().take_idle(a.group.ups, peer);
        let e = match one_try(r, c, job, &mut body, addr, peer, idle).await {
            Ok(got) => match a.retried_status(job, got.head.status) {
                None => {
                    a.group
                        .balancer
                        .borrow_mut()
                        .free(a.group.ups, &mut a.tries, false);
                    return response::respond(r, c, job, &log, got, &a.group).await;
                }
                Some(e) => e,
            },
            Err(e) => e,
        };
        if let Some(next) = a.next_upstream(r, job, &log, e) {
            return next;
        }
    }
}

impl Attempts<'_> {
    /// S5.6: a status `proxy_next_upstream` lists, with tries left, is a failure to move on
    /// from (the request was sent).
    fn retried_status(&self, job: &Job<'_>, status: u16) -> Option<ProxyError> {
        let e = ProxyError::new(Kind::Status(status), Phase::ReadingHeader);
        let condition = e.condition();
        let mut mask = condition;
        if self.non_idempotent {
            mask |= NextUpstream::NON_IDEMPOTENT;
        }
        let timeout = job.proxy.next_upstream_timeout;
        let retry = !condition.is_empty()
            && self.tries.left > 1
            && job.proxy.next_upstream.contains(mask)
            && !job.stream_body
            && (timeout.is_zero() || self.started.elapsed() < timeout);
        retry.then_some(e)
    }

    /// `ngx_http_upstream_next`: charges the peer, logs, and says whether to try again
    /// (`None`) or how the request ends.
    fn next_upstream(
        &mut self,
        r: &mut Request,
        job: &Job<'_>,
        log: &PeerLog<'_>,
        e: ProxyError,
    ) -> Option<Next> {
        let g = &self.group;
        if e.side() == Side::Client {
            // The client's body failed while it was streamed: the request ends here.
            g.balancer.borrow_mut().free(g.ups, &mut self.tries, false);
            return Some(r.close_with(400));
        }
        e.log(r, log);
        let disabled =
            g.balancer
                .borrow_mut()
                .free(g.ups, &mut self.tries, e.counts_against_peer());
        if disabled {
            log.log(
                r,
                Level::Warn,
                format_args!("upstream server temporarily disabled"),
                e.phase.action(),
            );
        }
        e.log_next(r, log);
        if e.cached && e.condition() == NextUpstream::ERROR {
            // A keep-alive connection the upstream had closed: the peer is not to blame.
            self.tries.left += 1;
        }
        let status = e.status();
        if let Some(t) = r.upstream.current() {
            t.status.get_or_insert(status);
        }
        let mut mask = e.condition();
        if e.sent && self.non_idempotent {
            mask |= NextUpstream::NON_IDEMPOTENT;
        }
        let proxy = job.proxy;
        let timeout = proxy.next_upstream_timeout;
        let limit = proxy.next_upstream_tries;
        let used = r.upstream.tries.len() as u32;
        let give_up = self.tries.left == 0
            || !proxy.next_upstream.contains(mask)
            || (e.sent && job.stream_body)
            || (!timeout.is_zero() && self.started.elapsed() >= timeout)
            || (limit != 0 && used >= limit);
        give_up.then_some(Next::Status(status))
    }
}

/// No peer may be tried (`no live upstreams`): 502, with a record naming the upstream.
fn no_live_upstreams(r: &mut Request, job: &Job<'_>, ups: &Upstream) -> Next {
    let name = bytes::Bytes::copy_from_slice(&ups.name);
    r.upstream.tries.push(UpstreamTry {
        status: Some(502),
        response_ms: Some(0),
        ..UpstreamTry::new(name.clone())
    });
    let log = PeerLog {
        schema: job.pass.schema,
        name,
        unix: false,
        uri: &job.pass.uri,
    };
    ProxyError::new(Kind::NoLiveUpstreams, Phase::Connecting).log(r, &log);
    Next::Status(502)
}

/// One try: connect (or reuse `idle`), send the request, read the response head. The try's
/// record is filled as it goes.
async fn one_try(
    r: &mut Request,
    c: &mut Client,
    job: &Job<'_>,
    body: &mut Body,
    addr: &PeerAddr,
    peer: usize,
    idle: Option<Idle>,
) -> Result<Got, ProxyError> {
    let t0 = Instant::now();
    let cached = idle.is_some();
    let ms = |t0: Instant| Some(t0.elapsed().as_millis() as u64);
    let ended = |r: &mut Request, mut e: ProxyError| {
        e.cached = cached;
        record(r, |t| t.response_ms = ms(t0));
        e
    };
    let (mut stream, created, requests) = match idle {
        Some(i) => (i.stream, i.created, i.requests),
        None => {
            let https = job.pass.scheme == Scheme::Https;
            match connect::connect(addr, job.proxy.connect_timeout, https).await {
                Ok(s) => (s, Instant::now(), 0),
                Err(e) => return Err(ended(r, e)),
            }
        }
    };
    record(r, |t| t.connect_ms = ms(t0));
    let mut sent = 0;
    let result = send::send(r, c, job, body, &mut stream, &mut sent).await;
    record(r, |t| t.bytes_sent = sent);
    if let Err(e) = result {
        return Err(ended(r, e));
    }
    let mut received = 0;
    let head = read::head(&mut stream, job.proxy, &mut received).await;
    record(r, |t| t.bytes_received = received);
    let head = head.map_err(|e| ended(r, e))?;
    record(r, |t| {
        t.header_ms = ms(t0);
        t.status = Some(head.head.status);
        t.response_ms = ms(t0);
    });
    Ok(Got {
        stream,
        head: head.head,
        buf: head.buf,
        peer,
        created,
        requests,
    })
}

/// Changes the record of the try in progress.
fn record(r: &mut Request, f: impl FnOnce(&mut UpstreamTry)) {
    if let Some(t) = r.upstream.current() {
        f(t);
    }
}
