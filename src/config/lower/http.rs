//! The http block: its servers, upstreams, maps and log formats, and what nginx does once the
//! block is read (`ngx_http_block`): merge settings downwards, build location trees, resolve
//! upstreams and variables, and group listening addresses with their server name tables (S2).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::loc::{Finish, LocBuilder};
use super::location;
use super::log::{parse_log_format, LogCx};
use super::map::{self, MapRaw};
use super::server::{Listen, Name, ServerBuilder, SrvBuilder};
use super::shared::{LocKind, Shared};
use super::ssl::SslSlot;
use super::upstream::Upstreams;
use super::{or, Slot};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::registry::{Spec, Support};
use crate::config::template::Scope;
use crate::ir::server::{AddrConf, ListenAddr, Server, ServerId, Socket, SocketOpts, SrvConf};
use crate::ir::{Http, MapId};
use crate::source::Span;
use crate::syntax::Directive;

pub struct HttpBuilder {
    loc: LocBuilder,
    srv: SrvBuilder,
    ssl: SslSlot,
    /// Boxed: a growing vector of large builders would waste as much as it holds (a vector
    /// doubles its capacity; ten thousand servers are common in generated configurations).
    #[allow(clippy::vec_box)]
    servers: Vec<Box<ServerBuilder>>,
    maps: Vec<MapRaw>,
    logs: LogCx,
    server_names_hash_bucket_size: Slot<u64>,
    map_hash_bucket_size: Slot<u64>,
    /// The `}` of the http block, where nginx reports what it finds while finishing it.
    close: Span,
}

impl HttpBuilder {
    pub fn new(l: &mut Loader, d: &Directive) -> HttpBuilder {
        l.upstreams = Some(Upstreams::default());
        l.scope = Scope::default();
        l.scope.geoip = l.loaded_modules.contains("ngx_http_geoip_module.so");
        HttpBuilder {
            loc: LocBuilder::default(),
            srv: SrvBuilder::default(),
            ssl: SslSlot::default(),
            servers: Vec::new(),
            maps: Vec::new(),
            logs: LogCx::default(),
            server_names_hash_bucket_size: None,
            map_hash_bucket_size: None,
            close: d.block.as_ref().and_then(|b| b.close).unwrap_or(d.end),
        }
    }

    pub fn directive(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec) {
        match spec.name {
            "server" => {
                let s = ServerBuilder::parse(l, d);
                self.servers.push(Box::new(s));
            }
            "upstream" => {
                if let Some(mut ups) = l.upstreams.take() {
                    ups.block(l, d);
                    l.upstreams = Some(ups);
                }
            }
            "map" => {
                if let Some(m) = map::parse(l, d) {
                    map::check_bucket(l, &m, or(&self.map_hash_bucket_size, 64), "http");
                    let id = MapId(self.maps.len() as u32);
                    l.scope.maps.insert(m.name.clone(), id);
                    self.maps.push(m);
                }
            }
            "log_format" => {
                parse_log_format(l, d, &mut self.logs.formats);
                l.log_formats.insert(d.args[0].to_boxed());
            }
            "server_names_hash_bucket_size" => {
                if !l.is_dup(&self.server_names_hash_bucket_size, d) {
                    if let Some(v) = l.size_arg(d, 0) {
                        l.once(&mut self.server_names_hash_bucket_size, d, v);
                    }
                }
            }
            "map_hash_bucket_size" => {
                if !l.is_dup(&self.map_hash_bucket_size, d) {
                    if let Some(v) = l.size_arg(d, 0) {
                        l.once(&mut self.map_hash_bucket_size, d, v);
                    }
                }
            }
            "server_names_hash_max_size" | "map_hash_max_size" => {
                l.num_arg(d, 0);
            }
            _ => {
                if self.srv.directive(l, d, spec)
                    || self.ssl.directive(l, d, spec)
                    || self.loc.directive(l, d, spec, &LocKind::default())
                {
                    return;
                }
                if spec.support == Support::Implemented {
                    super::unreachable_directive(l, d, spec);
                }
            }
        }
    }

    /// nginx's work once the http block is read: merge, build trees and tables, resolve.
    /// Consumes the builders as it goes, so they and the IR do not both peak in memory.
    pub fn finish(mut self, l: &mut Loader) -> Http {
        let close = self.close;
        let mut fin = Finish {
            scope: std::mem::take(&mut l.scope),
            logs: std::mem::take(&mut self.logs),
            shared: Shared::with_upstreams(l.upstreams.take().unwrap_or_default()),
        };
        let upstreams = fin.shared.upstreams.finish(l);
        let upstream_names = fin.shared.upstreams.names();
        self.loc.proxy().check_buffers(l, close);

        let listens: Vec<ServerListens> =
            self.servers.iter().map(|s| ServerListens::of(s)).collect();
        let mut servers = Vec::with_capacity(self.servers.len());
        for mut boxed in std::mem::take(&mut self.servers) {
            let sb = &mut *boxed;
            crate::config::lint::inheritance(l, &sb.loc, &self.loc, "server");
            sb.loc.inherit_from(&self.loc);
            sb.srv.inherit_from(&self.srv);
            sb.ssl.inherit_from(&self.ssl);
            sb.loc.proxy().check_buffers(l, close);
            let mut conf = sb
                .loc
                .finish(l, &mut fin.scope, &mut fin.logs, &mut fin.shared);
            // The server's rewrite directives run in the server rewrite phase only (nginx
            // skips the location rewrite phase for a request no location matched).
            let script = conf.script.take();
            let mut out = Vec::new();
            let mut named = HashMap::new();
            let tree = location::build(
                l,
                &mut fin,
                &mut sb.locations,
                &sb.loc,
                close,
                &mut out,
                &mut named,
            );
            crate::config::lint::server(l, sb, &fin.shared.upstreams);
            let needs_tls = sb.listens.iter().any(|x| x.ssl) || or(&sb.ssl.get().ssl_on, false);
            let tls = sb.ssl.get().finish(l, needs_tls, sb.span, sb.end);
            servers.push(Server {
                server_name: sb.server_name_var(),
                srv: SrvConf {
                    client_header_timeout: or(
                        &sb.srv.client_header_timeout,
                        Duration::from_secs(60),
                    ),
                    client_header_buffer_size: or(&sb.srv.client_header_buffer_size, 1024) as usize,
                    large_client_header_buffers: {
                        let (n, s) = or(&sb.srv.large_client_header_buffers, (4, 8192));
                        (n, s as usize)
                    },
                    underscores_in_headers: or(&sb.srv.underscores_in_headers, false),
                    ignore_invalid_headers: or(&sb.srv.ignore_invalid_headers, true),
                    merge_slashes: or(&sb.srv.merge_slashes, true),
                },
                script,
                locations: out,
                tree,
                named,
                conf: Arc::new(conf),
                tls,
                http2_max_concurrent_streams: or(&sb.srv.http2_max_concurrent_streams, 128),
                http2: or(&sb.srv.http2, false),
            });
        }
        let mut scope = fin.scope;
        fin.logs.compile_all(l, &mut scope);
        let maps = self
            .maps
            .iter()
            .map(|m| map::finish(l, &mut scope, m))
            .collect();
        let sockets = self.sockets(l, &listens);
        let set_vars = scope
            .set_vars
            .iter()
            .map(|n| String::from_utf8_lossy(n).into())
            .collect();
        l.scope = scope;
        Http {
            servers,
            sockets,
            upstreams,
            upstream_names,
            maps,
            set_vars,
        }
    }

    /// Groups every `listen` by address (S2.2, S2.3) and builds each address's name table.
    fn sockets(&self, l: &mut Loader, servers: &[ServerListens]) -> Vec<Socket> {
        let entries = group_listens(l, servers);
        let bucket = or(&self.server_names_hash_bucket_size, 64);
        let mut confs: Vec<(AddrConf, SocketOpts)> = Vec::new();
        for e in &entries {
            let default = e.default.map(|(s, _)| s).unwrap_or(e.servers[0]);
            let mut conf = AddrConf {
                addr: e.addr.clone(),
                ssl: e.ssl,
                http2: e.http2,
                proxy_protocol: e.proxy_protocol,
                default_server: ServerId(default as u32),
                exact: HashMap::new(),
                wildcard_head: Vec::new(),
                wildcard_tail: Vec::new(),
                regexes: Vec::new(),
            };
            let captures = servers[default]
                .names
                .iter()
                .any(|(n, _, _)| matches!(n, Name::Regex(r) if r.names.len() > 1));
            if e.servers.len() > 1 || captures {
                Self::names(l, servers, e.servers.as_slice(), &e.text, bucket, &mut conf);
            }
            let opts = e.opts.clone().map(|o| o.0).unwrap_or(SocketOpts {
                ipv6only: true,
                ..SocketOpts::default()
            });
            confs.push((conf, opts));
        }
        bind_sockets(&confs)
    }

    /// The server name tables of one address (`ngx_http_server_names`).
    fn names(
        l: &mut Loader,
        all: &[ServerListens],
        servers: &[usize],
        text: &str,
        bucket: u64,
        conf: &mut AddrConf,
    ) {
        for &si in servers {
            let id = ServerId(si as u32);
            for (name, written, span) in &all[si].names {
                let conflict = |l: &mut Loader, shown: &[u8]| {
                    l.error(
                        Diagnostic::warning(
                            code::SERVER_NAME,
                            format!(
                                "conflicting server name \"{}\" on {text}, ignored",
                                crate::source::show_bytes(shown)
                            ),
                            *span,
                        )
                        .place(Place::Nowhere)
                        .help(
                            "another server on this address has the same name; the first one wins",
                        ),
                    );
                };
                match name {
                    Name::Exact(n) => {
                        if !map::fits_bucket(n.len(), bucket) {
                            hash_error(l, *span, n.len(), bucket);
                            continue;
                        }
                        if conf.exact.contains_key(n) {
                            conflict(l, n);
                        } else {
                            conf.exact.insert(n.clone(), id);
                        }
                    }
                    Name::Head(suffix, dot) => {
                        if conf.wildcard_head.iter().any(|(s, _)| s == suffix) {
                            conflict(l, written);
                            continue;
                        }
                        conf.wildcard_head.push((suffix.clone(), id));
                        if *dot {
                            let exact: Box<[u8]> = suffix[1..].into();
                            match conf.exact.entry(exact) {
                                std::collections::hash_map::Entry::Occupied(e) => {
                                    conflict(l, e.key())
                                }
                                std::collections::hash_map::Entry::Vacant(e) => {
                                    e.insert(id);
                                }
                            }
                        }
                    }
                    Name::Tail(prefix) => {
                        if conf.wildcard_tail.iter().any(|(s, _)| s == prefix) {
                            conflict(l, written);
                        } else {
                            conf.wildcard_tail.push((prefix.clone(), id));
                        }
                    }
                    Name::Bad(n) => {
                        l.error(
                            Diagnostic::error(
                                code::SERVER_NAME,
                                format!("invalid server name or wildcard \"{}\" on {text}", crate::source::show_bytes(n)),
                                *span,
                            )
                            .place(Place::Nowhere)
                            .help("a \"*\" may only start (\"*.a.com\") or end (\"www.*\") a name; use a regex (~...) otherwise"),
                        );
                    }
                    Name::Regex(re) => conf.regexes.push((re.clone(), id)),
                }
            }
        }
        conf.wildcard_head
            .sort_by_key(|w| std::cmp::Reverse(w.0.len()));
        conf.wildcard_tail
            .sort_by_key(|w| std::cmp::Reverse(w.0.len()));
    }
}

/// What address grouping needs of a server, kept when its builder is consumed.
struct ServerListens {
    listens: Vec<Listen>,
    names: Vec<(Name, Box<[u8]>, Span)>,
}

impl ServerListens {
    fn of(s: &ServerBuilder) -> ServerListens {
        let mut names = s.names.clone();
        if names.is_empty() {
            // ngx_http_core_merge_srv_conf: a server without server_name has the name "",
            // which requests without a Host match.
            names.push((Name::Exact(Box::new([])), Box::new([]), s.span));
        }
        ServerListens {
            listens: s.listens.clone(),
            names,
        }
    }
}

fn listen_error(x: &Listen, message: String) -> Diagnostic {
    Diagnostic::error(code::LISTEN, message, x.span).place(Place::At(x.end))
}

fn hash_error(l: &mut Loader, span: Span, len: usize, bucket: u64) {
    l.error(
        Diagnostic::error(
            code::HASH,
            format!("could not build server_names_hash, you should increase server_names_hash_bucket_size: {bucket}"),
            span,
        )
        .place(Place::Nowhere)
        .label(format!("this name is {len} bytes long"))
        .help(format!("add \"server_names_hash_bucket_size {};\" to the http block", (len + 18).div_ceil(64) * 64)),
    );
}

/// The listens of one address, gathered from every server (nginx's `ngx_http_conf_addr_t`).
struct Entry {
    addr: ListenAddr,
    text: String,
    servers: Vec<usize>,
    default: Option<(usize, Span)>,
    ssl: bool,
    http2: bool,
    proxy_protocol: bool,
    opts: Option<(SocketOpts, Span)>,
}

/// Gathers the listens of every server by address, reporting a second default server or a
/// second set of socket options for one address.
fn group_listens(l: &mut Loader, servers: &[ServerListens]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for (si, s) in servers.iter().enumerate() {
        for x in &s.listens {
            let i = match entries.iter().position(|e| e.addr == x.addr) {
                Some(i) => i,
                None => {
                    entries.push(Entry {
                        addr: x.addr.clone(),
                        text: x.text.clone(),
                        servers: Vec::new(),
                        default: None,
                        ssl: false,
                        http2: false,
                        proxy_protocol: false,
                        opts: None,
                    });
                    entries.len() - 1
                }
            };
            let e = &mut entries[i];
            if x.set {
                if let Some((_, first)) = &e.opts {
                    let first = *first;
                    l.error(listen_error(x, format!("duplicate listen options for {}", e.text)).also(first, "options first given here")
                        .help("socket options (backlog, reuseport, ...) may be given on one listen line per address"));
                } else {
                    e.opts = Some((x.opts.clone(), x.span));
                }
            }
            if x.default_server {
                if let Some((_, first)) = e.default {
                    l.error(
                        listen_error(x, format!("a duplicate default server for {}", e.text))
                            .also(first, "the default server is already here")
                            .help("only one server per address may be default_server"),
                    );
                } else {
                    e.default = Some((si, x.span));
                }
            }
            e.ssl |= x.ssl;
            e.http2 |= x.http2;
            e.proxy_protocol |= x.proxy_protocol;
            if !e.servers.contains(&si) {
                e.servers.push(si);
            }
        }
    }
    entries
}

/// The sockets to open, each with the addresses it serves.
fn bind_sockets(confs: &[(AddrConf, SocketOpts)]) -> Vec<Socket> {
    // S2.3: a wildcard address of a port serves the specific addresses of the same family
    // and port, unless they asked for their own socket with `bind` (or other options).
    let mut sockets: Vec<Socket> = Vec::new();
    let is_wild = |a: &ListenAddr| matches!(a, ListenAddr::Inet(sa) if sa.ip().is_unspecified());
    for (conf, opts) in confs {
        if let ListenAddr::Inet(sa) = &conf.addr {
            if !sa.ip().is_unspecified() && !opts.bind {
                let wild = confs.iter().any(|(c, _)| match &c.addr {
                    ListenAddr::Inet(w) => {
                        w.ip().is_unspecified()
                            && w.port() == sa.port()
                            && w.is_ipv4() == sa.is_ipv4()
                    }
                    _ => false,
                });
                if wild {
                    continue;
                }
            }
        }
        let mut addrs = Vec::new();
        if is_wild(&conf.addr) {
            if let ListenAddr::Inet(w) = &conf.addr {
                for (c, o) in confs {
                    if let ListenAddr::Inet(sa) = &c.addr {
                        if !sa.ip().is_unspecified()
                            && !o.bind
                            && sa.port() == w.port()
                            && sa.is_ipv4() == w.is_ipv4()
                        {
                            addrs.push(c.clone());
                        }
                    }
                }
            }
        }
        addrs.push(conf.clone());
        sockets.push(Socket {
            addr: conf.addr.clone(),
            opts: opts.clone(),
            addrs,
        });
    }
    sockets
}
