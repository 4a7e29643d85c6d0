//! The stream block (`ngx_stream_block`): its servers, upstreams, maps and log formats, and
//! what nginx does once the block is read: merge settings into each server, resolve the
//! upstreams and variables (in the stream module's own namespaces: an `upstream`, a `map`
//! or a `log_format` of the http block is not seen here, nor http's variables), load the
//! certificates of servers that listen with `ssl`, and group the listening addresses into
//! sockets (a wildcard address of a port serves the port's specific addresses, S2.3).
//!
//! [`conf`] holds the settings a server inherits from the block; [`server`] reads a server.

pub mod conf;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use super::log::{parse_log_format, LogCx};
use super::map::{self, MapRaw};
use super::upstream::Upstreams;
use super::{or, Slot};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::registry::{Spec, Support, STREAM};
use crate::config::template::Scope;
use crate::ir::server::ListenAddr;
use crate::ir::stream::{
    Handler, Stream, StreamAddr, StreamProxy, StreamServer, StreamServerId, StreamSocket, Target,
};
use crate::ir::MapId;
use crate::source::Span;
use crate::syntax::Directive;
use conf::StreamConf;
use server::{RawHandler, StreamServerBuilder};

pub struct StreamBuilder {
    conf: StreamConf,
    servers: Vec<StreamServerBuilder>,
    /// Every address listened on so far, and where (a second listen of one is an error).
    addresses: Vec<(ListenAddr, Span)>,
    maps: Vec<MapRaw>,
    logs: LogCx,
    map_hash_bucket_size: Slot<u64>,
    /// The block's own namespaces, in the loader while the block is read or finished.
    scope: Scope,
    upstreams: Upstreams,
}

impl StreamBuilder {
    /// Reads a `stream { ... }` block.
    pub fn read(l: &mut Loader, d: &Directive) -> StreamBuilder {
        let mut scope = Scope::default();
        scope.stream = true;
        scope.geoip = l.loaded_modules.contains("ngx_stream_geoip_module.so");
        let mut b = StreamBuilder {
            conf: StreamConf::default(),
            servers: Vec::new(),
            addresses: Vec::new(),
            maps: Vec::new(),
            logs: LogCx::default(),
            map_hash_bucket_size: None,
            scope,
            upstreams: Upstreams::stream(),
        };
        b.enter(l);
        l.walk(d, STREAM, &mut |l, d, spec| b.directive(l, d, spec));
        b.leave(l);
        b
    }

    /// The block's namespaces go into the loader (templates and upstreams read there)...
    fn enter(&mut self, l: &mut Loader) {
        std::mem::swap(&mut l.scope, &mut self.scope);
        let ups = std::mem::take(&mut self.upstreams);
        self.upstreams = l.upstreams.replace(ups).unwrap_or_default();
    }

    /// ... and back out, leaving the http block's where they were.
    fn leave(&mut self, l: &mut Loader) {
        self.enter(l);
    }

    fn directive(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec) {
        match spec.name {
            "server" => {
                let s = StreamServerBuilder::parse(l, d, &mut self.addresses);
                self.servers.push(s);
            }
            "upstream" => {
                if let Some(mut ups) = l.upstreams.take() {
                    ups.block(l, d);
                    l.upstreams = Some(ups);
                }
            }
            "map" => {
                if let Some(m) = map::parse(l, d) {
                    map::check_bucket(l, &m, or(&self.map_hash_bucket_size, 64), "stream");
                    let id = MapId(self.maps.len() as u32);
                    l.scope.maps.insert(m.name.clone(), id);
                    self.maps.push(m);
                }
            }
            "log_format" => {
                parse_log_format(l, d, &mut self.logs.formats);
                l.stream_log_formats.insert(d.args[0].to_boxed());
            }
            "map_hash_bucket_size" => {
                if !l.is_dup(&self.map_hash_bucket_size, d) {
                    if let Some(v) = l.size_arg(d, 0) {
                        l.once(&mut self.map_hash_bucket_size, d, v);
                    }
                }
            }
            _ => {
                if self.conf.directive(l, d, spec) {
                    return;
                }
                if spec.support == Support::Implemented {
                    super::unreachable_directive(l, d, spec);
                }
            }
        }
    }

    /// nginx's work once the stream block is read (`ngx_stream_block` after parsing).
    pub fn finish(mut self, l: &mut Loader) -> Stream {
        self.enter(l);
        let ups = l.upstreams.take().unwrap_or_default();
        let upstreams = ups.finish(l);
        let upstream_names = ups.names();
        let mut scope = std::mem::take(&mut l.scope);
        let mut servers = Vec::with_capacity(self.servers.len());
        let mut listens = Vec::new();
        for sb in std::mem::take(&mut self.servers) {
            let id = StreamServerId(servers.len() as u32);
            let fin = Finishing {
                scope: &mut scope,
                logs: &mut self.logs,
                upstreams: &ups,
                block: &self.conf,
            };
            if let Some(s) = fin.server(l, &sb) {
                listens.extend(sb.listens.iter().map(|x| (x.clone(), id)));
                servers.push(s);
            }
        }
        self.logs.compile_all(l, &mut scope);
        let maps = self
            .maps
            .iter()
            .map(|m| map::finish(l, &mut scope, m))
            .collect();
        l.scope = scope;
        l.upstreams = Some(ups);
        self.leave(l);
        Stream {
            servers,
            sockets: sockets(&listens),
            upstreams,
            upstream_names,
            maps,
        }
    }
}

/// What finishing a server needs of the block.
struct Finishing<'a> {
    scope: &'a mut Scope,
    logs: &'a mut LogCx,
    upstreams: &'a Upstreams,
    block: &'a StreamConf,
}

impl Finishing<'_> {
    /// A server's settings merged and resolved; `None` once an error was reported.
    fn server(self, l: &mut Loader, sb: &StreamServerBuilder) -> Option<StreamServer> {
        let mut c = sb.conf.clone();
        c.inherit_from(self.block);
        let Some(set) = &sb.handler else {
            if sb.refused {
                return None;
            }
            l.error(
                Diagnostic::error(code::PROXY, "no handler for server", sb.span)
                    .place(Place::Line(
                        sb.span.file,
                        l.sources.nginx_location(sb.span).1,
                    ))
                    .help(
                        "a stream server needs \"proxy_pass address:port;\" or \"return value;\"",
                    ),
            );
            return None;
        };
        let handler = match &set.handler {
            RawHandler::Return(raw) => Handler::Return(self.scope.resolve(l, raw)),
            RawHandler::Proxy(raw) => {
                let target = match (raw.is_literal(), sb.upstream) {
                    (true, Some(i)) => Target::Static(self.upstreams.id(i)),
                    // The line was refused when it was read.
                    (true, None) => return None,
                    (false, _) => Target::Dynamic(self.scope.resolve(l, raw)),
                };
                let p = &c.proxy;
                Handler::Proxy(Arc::new(StreamProxy {
                    target,
                    connect_timeout: or(&p.connect_timeout, Duration::from_secs(60)),
                    timeout: or(&p.timeout, Duration::from_secs(600)),
                    buffer_size: or(&p.buffer_size, 16384).max(1) as usize,
                    next_upstream: or(&p.next_upstream, true),
                    next_upstream_tries: or(&p.next_upstream_tries, 0),
                    next_upstream_timeout: or(&p.next_upstream_timeout, Duration::ZERO),
                    socket_keepalive: or(&p.socket_keepalive, false),
                    half_close: or(&p.half_close, false),
                }))
            }
        };
        let tls = match sb.listens.iter().find(|x| x.ssl) {
            Some(x) => {
                let alpn = c.alpn.as_ref().map(|a| a.value.clone()).unwrap_or_default();
                Some(c.ssl.get().finish_stream(l, x.span, x.end, &alpn)?)
            }
            None => None,
        };
        let access_log = match &c.access_log {
            Some(list) => self.logs.access_logs(l, self.scope, list),
            None => Arc::from(Vec::new()),
        };
        Some(StreamServer {
            handler,
            tls,
            handshake_timeout: or(&c.handshake_timeout, Duration::from_secs(60)),
            tcp_nodelay: or(&c.tcp_nodelay, true),
            access: c.access.clone().unwrap_or_default().into(),
            access_log,
            error_log: c.error_log.clone().unwrap_or_default().into(),
        })
    }
}

/// The sockets to open for the stream listens, each with the addresses it serves: a
/// wildcard address of a port serves the specific addresses of the same family and port,
/// unless they asked for their own socket (`bind` or a socket option), as in http (S2.3).
fn sockets(listens: &[(server::Listen, StreamServerId)]) -> Vec<StreamSocket> {
    let is_wild = |a: &ListenAddr| matches!(a, ListenAddr::Inet(sa) if sa.ip().is_unspecified());
    let addr_of = |(x, id): &(server::Listen, StreamServerId)| StreamAddr {
        addr: x.addr.clone(),
        server: *id,
        ssl: x.ssl,
        text: x.text.clone().into(),
    };
    let served_by_wildcard = |x: &server::Listen| {
        let ListenAddr::Inet(sa) = &x.addr else {
            return false;
        };
        !sa.ip().is_unspecified()
            && !x.opts.bind
            && listens.iter().any(|(w, _)| match &w.addr {
                ListenAddr::Inet(wa) => {
                    wa.ip().is_unspecified()
                        && wa.port() == sa.port()
                        && wa.is_ipv4() == sa.is_ipv4()
                }
                _ => false,
            })
    };
    let mut out = Vec::new();
    for entry in listens {
        let x = &entry.0;
        if served_by_wildcard(x) {
            continue;
        }
        let mut addrs = Vec::new();
        if let (true, ListenAddr::Inet(w)) = (is_wild(&x.addr), &x.addr) {
            for e in listens {
                if let ListenAddr::Inet(sa) = &e.0.addr {
                    if served_by_wildcard(&e.0)
                        && sa.port() == w.port()
                        && sa.is_ipv4() == w.is_ipv4()
                    {
                        addrs.push(addr_of(e));
                    }
                }
            }
        }
        addrs.push(addr_of(entry));
        out.push(StreamSocket {
            addr: x.addr.clone(),
            opts: x.opts.clone(),
            addrs,
        });
    }
    out
}
