//! `websockify_pass`: rginx is websockify. The content handler of a bridging location, in
//! the order a request meets it:
//!
//! - `handshake`: the WebSocket upgrade as websockify checks it, the subprotocol it picks
//!   (`binary`, else `base64`, else none), and the 101 head (nginx's, with the module's
//!   headers); a request that is not such an upgrade gets nginx's 400;
//! - here: the target, evaluated per request when it has variables (an `upstream` name, an
//!   address or a `unix:` path; an empty value, such as an unknown token in a `map`, is
//!   refused with 404 and never connected to), then the connection to it, tried over its
//!   group with nginx's failure rules (`error timeout`) under `websockify_connect_timeout`;
//!   as websockify, the handshake is answered first, so a target that cannot be reached
//!   closes the session with `1011 Failed to connect to downstream server`;
//! - `bridge`: the session itself, carried by the worker's tunnel loop like a proxied
//!   WebSocket (its access-log line with 101, its info lines, its generation and
//!   `worker_shutdown_timeout`).

pub mod bridge;
mod handshake;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::body;
use super::proxy::connect::connect;
use super::proxy::error::{Kind, PeerLog, Phase, ProxyError};
use super::proxy::{find_upstream, one_peer_group};
use crate::ir::upstream::{PeerAddr, Upstream};
use crate::ir::url;
use crate::ir::websockify::{Target, Websockify, DEFAULT_PORT};
use crate::ir::{Level, UpstreamId};
use crate::runtime::base::io::{self, Stream};
use crate::runtime::base::websocket::close_frame;
use crate::runtime::state::balancer::{self, Balancer};
use crate::runtime::state::conn::Client;
use crate::runtime::state::log;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;
use crate::runtime::state::upgraded::{BridgeMode, Carry, Upgraded};
use crate::runtime::state::upstream::UpstreamTry;

/// How the upstream part of the log lines names the target (`websockify://127.0.0.1:5900`).
const SCHEMA: &[u8] = b"websockify://";

/// The content handler of a `websockify_pass` location.
pub async fn run(r: &mut Request, c: &mut Client, ws: &Arc<Websockify>) -> Next {
    let shake = match handshake::check(r) {
        Ok(s) => s,
        Err(why) => {
            log::error(
                r,
                Level::Info,
                format_args!("client sent invalid WebSocket handshake: {why}"),
            );
            return Next::Status(400);
        }
    };
    let dest = match destination(r, ws) {
        Ok(d) => d,
        Err(next) => return next,
    };
    // A body (a GET carries none) is read and dropped, as the module reads it before it
    // connects.
    if !body::discard(r, c).await {
        r.keepalive = false;
        return Next::Done;
    }
    if !handshake::answer(r, c, &shake).await {
        return Next::Done;
    }
    // After a 101 the connection is the session's, whatever happens to it.
    r.keepalive = false;
    let Some((stream, log)) = connect_target(r, ws, dest).await else {
        let frame = close_frame(Some(1011), b"Failed to connect to downstream server");
        let timeout = r.conf.send_timeout;
        match io::write_all(&mut c.stream, &frame, timeout).await {
            Ok(()) => r.sent.body_bytes += frame.len() as u64,
            Err(e) => log::client_write_error(r, &e),
        }
        return Next::Done;
    };
    r.upgraded = Some(Box::new(Upgraded {
        upstream: stream,
        early: Bytes::new(),
        carry: Carry::Bridge(BridgeMode {
            base64: shake.base64,
            max_frame: ws.max_frame(),
            max_message: ws.max_message(),
        }),
        read_timeout: ws.read_timeout,
        upstream_send_timeout: ws.send_timeout,
        client_send_timeout: r.conf.send_timeout,
        log_schema: SCHEMA,
        log_name: log.name,
        log_unix: log.unix,
        log_uri: Bytes::new(),
    }));
    Next::Done
}

/// Where a bridge connects.
enum Dest {
    Group(UpstreamId),
    Addr(PeerAddr),
}

/// The target of this request: the load-time group, or the evaluated value found as
/// `ngx_http_upstream_init_request` finds a host (an `upstream` of that name and port, else
/// an address literal or `unix:` path; rginx has no resolver for other names).
fn destination(r: &mut Request, ws: &Websockify) -> Result<Dest, Next> {
    let value = match &ws.target {
        Target::Static(id) => return Ok(Dest::Group(*id)),
        Target::Dynamic(t) => r.eval_vec(t),
    };
    if value.is_empty() {
        log::error(
            r,
            Level::Error,
            format_args!(
                "no websockify target for this request: \"{}\" is empty",
                String::from_utf8_lossy(&ws.text)
            ),
        );
        return Err(Next::Status(404));
    }
    let parsed = match url::parse_url(&value, DEFAULT_PORT, false, false) {
        Ok(u) => u,
        Err(e) => {
            log::error(
                r,
                Level::Error,
                format_args!("{e} in upstream \"{}\"", String::from_utf8_lossy(&value)),
            );
            return Err(Next::Status(500));
        }
    };
    if let Some(id) = find_upstream(r, &parsed) {
        return Ok(Dest::Group(id));
    }
    match parsed.literal_addr() {
        Some(addr) => Ok(Dest::Addr(addr)),
        None => {
            log::error(
                r,
                Level::Error,
                format_args!(
                    "no resolver defined to resolve {}",
                    String::from_utf8_lossy(&parsed.host)
                ),
            );
            Err(Next::Status(502))
        }
    }
}

/// The connection to the target: the group's peers tried in the balancer's order until one
/// accepts, nginx's `error timeout` rule for moving on, each try a record for `$upstream_*`.
async fn connect_target(
    r: &mut Request,
    ws: &Websockify,
    dest: Dest,
) -> Option<(Stream, PeerLog<'static>)> {
    let snap = Arc::clone(&r.snap);
    let balancers = balancer::for_snapshot(&snap);
    let one: Upstream;
    let one_balancer: RefCell<Balancer>;
    let (ups, balancer) = match &dest {
        Dest::Group(id) => (
            &snap.http().upstreams[id.0 as usize],
            &balancers.groups[id.0 as usize],
        ),
        Dest::Addr(addr) => {
            one = one_peer_group(addr);
            one_balancer = RefCell::new(Balancer::new(&one));
            (&one, &one_balancer)
        }
    };
    let mut tries = balancer.borrow().tries(ups);
    loop {
        let Ok(peer) = balancer.borrow_mut().get(ups, &mut tries) else {
            let name = Bytes::copy_from_slice(&ups.name);
            r.upstream.tries.push(UpstreamTry {
                status: Some(502),
                ..UpstreamTry::new(name.clone())
            });
            let log = peer_log(name, false);
            ProxyError::new(Kind::NoLiveUpstreams, Phase::Connecting).log(r, &log);
            return None;
        };
        let name = balancer.borrow().name(peer);
        let addr = &ups.peers[peer].addr;
        let log = peer_log(name.clone(), matches!(addr, PeerAddr::Unix(_)));
        r.upstream.tries.push(UpstreamTry::new(name));
        let t0 = Instant::now();
        match connect(addr, ws.connect_timeout, false).await {
            Ok(stream) => {
                balancer.borrow_mut().free(ups, &mut tries, false);
                if let Some(t) = r.upstream.current() {
                    let ms = Some(t0.elapsed().as_millis() as u64);
                    t.connect_ms = ms;
                    t.header_ms = ms;
                    t.response_ms = Some(0);
                    t.status = Some(101);
                }
                return Some((stream, log));
            }
            Err(e) => {
                e.log(r, &log);
                if balancer.borrow_mut().free(ups, &mut tries, true) {
                    log.log(
                        r,
                        Level::Warn,
                        format_args!("upstream server temporarily disabled"),
                        e.phase.action(),
                    );
                }
                e.log_next(r, &log);
                if let Some(t) = r.upstream.current() {
                    t.status = Some(e.status());
                    t.response_ms = Some(t0.elapsed().as_millis() as u64);
                }
                if tries.left == 0 {
                    return None;
                }
            }
        }
    }
}

fn peer_log(name: Bytes, unix: bool) -> PeerLog<'static> {
    PeerLog {
        schema: SCHEMA,
        name,
        unix,
        uri: b"",
    }
}
