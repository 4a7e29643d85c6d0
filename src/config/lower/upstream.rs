//! `upstream {}` blocks and the implicit upstreams of `proxy_pass http://host:port`, matched
//! and merged as nginx's `ngx_http_upstream_add` does, and resolved at load (S5.1, S5.9).

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::Slot;
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::registry::Spec;
use crate::config::value;
use crate::ir::upstream::{Keepalive, Peer, PeerAddr, Upstream, UpstreamId};
use crate::ir::url::{parse_url, Url};
use crate::source::Span;
use crate::syntax::Directive;

/// Resolves a host name at load time, as nginx does (`ngx_inet_resolve_host`).
pub fn resolve(host: &[u8], port: u16) -> Option<Vec<SocketAddr>> {
    let h = std::str::from_utf8(host).ok()?;
    let addrs: Vec<SocketAddr> = (h, port).to_socket_addrs().ok()?.collect();
    if addrs.is_empty() {
        return None;
    }
    // getaddrinfo may list an address once per socket type; nginx keeps each once.
    let mut seen = Vec::new();
    for a in addrs {
        if !seen.contains(&a) {
            seen.push(a);
        }
    }
    Some(seen)
}

#[derive(Clone, Debug)]
struct ServerLine {
    url: Url,
    weight: u32,
    max_fails: u32,
    fail_timeout: Duration,
    max_conns: u32,
    backup: bool,
    down: bool,
    span: Span,
}

/// One upstream, explicit or implicit, as `ngx_http_upstream_srv_conf_t`.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The host name as written.
    pub host: Vec<u8>,
    /// The port of an implicit upstream, 0 for an explicit one.
    pub port: u16,
    pub no_port: bool,
    pub explicit: bool,
    /// Where it was first named (the `upstream` line or the `proxy_pass`).
    pub span: Span,
    pub end: Span,
    /// An implicit upstream's own address, from the `proxy_pass` URL.
    url: Option<Url>,
    servers: Vec<ServerLine>,
    /// `server` lines read, including refused ones (no "no servers" on top of them).
    server_lines: u32,
    /// An error about this upstream was reported: it is not resolved on top of it.
    failed: bool,
    keepalive: Slot<u32>,
    keepalive_timeout: Slot<Duration>,
    keepalive_requests: Slot<u32>,
    keepalive_time: Slot<Duration>,
}

/// Every upstream of the http block (or of the stream block: a namespace of its own), in
/// the order nginx creates them.
#[derive(Default)]
pub struct Upstreams {
    pub entries: Vec<Entry>,
    /// The stream block's (`ngx_stream_upstream_add`): its addresses have no default port,
    /// and its blocks take the stream upstream context's directives.
    stream: bool,
    /// Entries by lowercased host, in creation order (nginx scans them all; a config with
    /// thousands of `proxy_pass` hosts must not be quadratic).
    by_host: std::collections::HashMap<Vec<u8>, Vec<usize>>,
}

impl Upstreams {
    /// The stream block's upstreams.
    pub fn stream() -> Upstreams {
        Upstreams {
            stream: true,
            ..Upstreams::default()
        }
    }

    /// The port an address without one gets: 80 in http, none (0) in stream.
    fn default_port(&self) -> u16 {
        if self.stream {
            0
        } else {
            80
        }
    }

    /// `ngx_http_upstream_add` for `proxy_pass` (not creating): finds an upstream by host
    /// (case-insensitively) and port, or creates an implicit one.
    pub fn add_implicit(&mut self, l: &mut Loader, url: &Url, d: &Directive) -> Option<usize> {
        let key = url.host.to_ascii_lowercase();
        for &i in self.by_host.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
            let e = &self.entries[i];
            if e.explicit && !url.no_port {
                l.error(
                    Diagnostic::error(
                        code::UPSTREAM,
                        format!(
                            "upstream \"{}\" may not have port {}",
                            crate::source::show_bytes(&url.host),
                            url.port
                        ),
                        d.args[0].span,
                    )
                    .place(Place::At(d.end))
                    .also(e.span, "the upstream is defined here")
                    .help("an upstream's servers carry their own ports: name it without a port, e.g. http://name/"),
                );
                return None;
            }
            if e.port != 0 && e.port != url.port {
                continue;
            }
            return Some(i);
        }
        self.entries.push(Entry {
            host: url.host.clone(),
            port: url.port,
            no_port: url.no_port,
            explicit: false,
            span: d.args[0].span,
            end: d.end,
            url: Some(url.clone()),
            servers: Vec::new(),
            server_lines: 0,
            failed: false,
            keepalive: None,
            keepalive_timeout: None,
            keepalive_requests: None,
            keepalive_time: None,
        });
        self.by_host
            .entry(key)
            .or_default()
            .push(self.entries.len() - 1);
        Some(self.entries.len() - 1)
    }

    /// `upstream name { ... }`.
    pub fn block(&mut self, l: &mut Loader, d: &Directive) {
        let name = d.args[0].as_bytes().to_vec();
        let url = match parse_url(&name, self.default_port(), false, false) {
            Ok(u) => u,
            Err(e) => {
                let err = l.arg_error(
                    d,
                    &d.args[0],
                    format!("{e} in upstream \"{}\"", d.args[0].show()),
                );
                l.error(err);
                return;
            }
        };
        let key = url.host.to_ascii_lowercase();
        // nginx takes the first upstream of that name: it is either a duplicate, an implicit
        // one with a port (an error), or an implicit one this block now defines.
        let index = self.by_host.get(&key).and_then(|v| v.first().copied());
        if let Some(i) = index {
            let e = &self.entries[i];
            if e.explicit {
                l.error(
                    Diagnostic::error(
                        code::UPSTREAM,
                        format!("duplicate upstream \"{}\"", d.args[0].show()),
                        d.args[0].span,
                    )
                    .place(Place::At(d.end))
                    .also(e.span, "first defined here")
                    .help("upstream names must be unique"),
                );
                return;
            }
            if !e.no_port {
                l.error(
                    Diagnostic::error(
                        code::UPSTREAM,
                        format!(
                            "upstream \"{}\" may not have port {}",
                            d.args[0].show(),
                            e.port
                        ),
                        e.span,
                    )
                    .place(Place::Line(e.end.file, l.sources.nginx_location(e.end).1))
                    .also(d.args[0].span, "the upstream is defined here")
                    .help("an upstream's servers carry their own ports: name it without a port"),
                );
                self.entries[i].failed = true;
                return;
            }
        }
        let i = match index {
            Some(i) => {
                let e = &mut self.entries[i];
                e.explicit = true;
                e.port = 0;
                e.span = d.args[0].span;
                e.end = d.end;
                e.url = None;
                i
            }
            None => {
                self.entries.push(Entry {
                    host: url.host.clone(),
                    port: 0,
                    no_port: true,
                    explicit: true,
                    span: d.args[0].span,
                    end: d.end,
                    url: None,
                    servers: Vec::new(),
                    server_lines: 0,
                    failed: false,
                    keepalive: None,
                    keepalive_timeout: None,
                    keepalive_requests: None,
                    keepalive_time: None,
                });
                self.by_host
                    .entry(key)
                    .or_default()
                    .push(self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        let mut entry = std::mem::replace(
            &mut self.entries[i],
            Entry {
                host: Vec::new(),
                port: 0,
                no_port: true,
                explicit: true,
                span: d.args[0].span,
                end: d.end,
                url: None,
                servers: Vec::new(),
                server_lines: 0,
                failed: false,
                keepalive: None,
                keepalive_timeout: None,
                keepalive_requests: None,
                keepalive_time: None,
            },
        );
        let (context, default_port) = if self.stream {
            (crate::config::registry::STREAM_UPS, 0)
        } else {
            (crate::config::registry::UPS, 80)
        };
        l.walk(d, context, &mut |l, d, spec| {
            entry.directive(l, d, spec, default_port)
        });
        if entry.servers.is_empty() && entry.server_lines == 0 && !l.stopped {
            let close = d.block.as_ref().and_then(|b| b.close).unwrap_or(d.end);
            l.error(
                Diagnostic::error(
                    code::UPSTREAM,
                    "no servers are inside upstream",
                    d.head_span(),
                )
                .place(Place::At(close))
                .help("add at least one \"server address;\" line"),
            );
        }
        self.entries[i] = entry;
    }

    /// Resolves every upstream into the IR, in creation order (their ids).
    pub fn finish(&self, l: &mut Loader) -> Vec<Upstream> {
        self.entries
            .iter()
            .map(|e| e.finish(l, self.stream))
            .collect()
    }

    /// `ngx_http_upstream_init_request`'s search for an evaluated `proxy_pass` URL: the first
    /// upstream of that name (case-insensitively) whose port is 0 where the URL has none, or
    /// the URL's port.
    pub fn find(&self, url: &Url) -> Option<UpstreamId> {
        let key = url.host.to_ascii_lowercase();
        self.by_host.get(&key)?.iter().copied().find_map(|i| {
            let e = &self.entries[i];
            ((e.port == 0 && url.no_port) || e.port == url.port).then(|| self.id(i))
        })
    }

    /// The upstreams by lower-cased name, for the searches made per request.
    pub fn names(&self) -> std::collections::HashMap<Box<[u8]>, Vec<UpstreamId>> {
        self.by_host
            .iter()
            .map(|(k, v)| (k.clone().into(), v.iter().map(|&i| self.id(i)).collect()))
            .collect()
    }

    pub fn id(&self, index: usize) -> UpstreamId {
        UpstreamId(index as u32)
    }

    pub fn entry(&self, index: usize) -> &Entry {
        &self.entries[index]
    }
}

impl Entry {
    /// An implicit upstream's own address (`proxy_pass http://ADDR`, `websockify_pass ADDR`);
    /// `None` for an `upstream {}` block.
    pub fn address(&self) -> Option<&Url> {
        self.url.as_ref()
    }

    /// Where `keepalive` is set, if it is.
    pub fn keepalive_span(&self) -> Option<Span> {
        self.keepalive.as_ref().map(|k| k.span)
    }

    fn directive(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec, default_port: u16) {
        match spec.name {
            "server" => self.server(l, d, default_port),
            "keepalive" => {
                if l.is_dup(&self.keepalive, d) {
                    return;
                }
                match value::number(d.args[0].as_bytes()) {
                    Some(n) if n > 0 => l.once(&mut self.keepalive, d, n as u32),
                    _ => {
                        let e = l.arg_error(
                            d,
                            &d.args[0],
                            format!(
                                "invalid value \"{}\" in \"keepalive\" directive",
                                d.args[0].show()
                            ),
                        );
                        l.error(e.help("the number of idle connections to keep, at least 1"));
                    }
                }
            }
            "keepalive_timeout" => {
                if !l.is_dup(&self.keepalive_timeout, d) {
                    if let Some(v) = l.msec_arg(d, 0) {
                        l.once(&mut self.keepalive_timeout, d, v);
                    }
                }
            }
            "keepalive_time" => {
                if !l.is_dup(&self.keepalive_time, d) {
                    if let Some(v) = l.msec_arg(d, 0) {
                        l.once(&mut self.keepalive_time, d, v);
                    }
                }
            }
            "keepalive_requests" => {
                if !l.is_dup(&self.keepalive_requests, d) {
                    if let Some(v) = l.num_arg(d, 0) {
                        l.once(&mut self.keepalive_requests, d, v as u32);
                    }
                }
            }
            _ => {
                if spec.support == crate::config::registry::Support::Implemented {
                    super::unreachable_directive(l, d, spec)
                }
            }
        }
    }

    fn server(&mut self, l: &mut Loader, d: &Directive, default_port: u16) {
        self.server_lines += 1;
        let mut line = ServerLine {
            url: parse_url(b"0", 80, false, false).unwrap_or_else(|_| unreachable_url()),
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            max_conns: 0,
            backup: false,
            down: false,
            span: d.head_span(),
        };
        for a in &d.args[1..] {
            let v = a.as_bytes();
            let ok = if let Some(n) = v.strip_prefix(b"weight=") {
                value::number(n)
                    .filter(|n| *n > 0)
                    .map(|n| line.weight = n as u32)
                    .is_some()
            } else if let Some(n) = v.strip_prefix(b"max_conns=") {
                value::number(n)
                    .map(|n| line.max_conns = n as u32)
                    .is_some()
            } else if let Some(n) = v.strip_prefix(b"max_fails=") {
                value::number(n)
                    .map(|n| line.max_fails = n as u32)
                    .is_some()
            } else if let Some(t) = v.strip_prefix(b"fail_timeout=") {
                value::sec(t).map(|t| line.fail_timeout = t).is_some()
            } else if v == b"backup" {
                line.backup = true;
                true
            } else if v == b"down" {
                line.down = true;
                true
            } else {
                false
            };
            if !ok {
                let e = l.arg_error(d, a, format!("invalid parameter \"{}\"", a.show()));
                l.error(e.help(
                    "server parameters are weight=N (N >= 1), max_fails=N, fail_timeout=TIME, max_conns=N, backup, down",
                ));
                return;
            }
        }
        match parse_url(d.args[0].as_bytes(), default_port, false, false) {
            Ok(u) if u.no_port && u.unix.is_none() && default_port == 0 => {
                // ngx_stream_upstream_server: a stream peer names its port.
                let e = l.arg_error(
                    d,
                    &d.args[0],
                    format!("no port in upstream \"{}\"", d.args[0].show()),
                );
                l.error(e.help("a stream upstream's server is address:port or unix:/path"));
                return;
            }
            Ok(u) => line.url = u,
            Err(e) => {
                let err = l.arg_error(
                    d,
                    &d.args[0],
                    format!("{e} in upstream \"{}\"", d.args[0].show()),
                );
                l.error(err.help(
                    "a server is host[:port], [ipv6][:port] or unix:/path, without scheme or URI",
                ));
                return;
            }
        }
        // Host names are resolved when the line is read, as nginx does.
        if line.url.ip.is_none()
            && line.url.unix.is_none()
            && resolve(&line.url.host, line.url.port).is_none()
        {
            let e = l.arg_error(
                d,
                &d.args[0],
                format!("host not found in upstream \"{}\"", d.args[0].show()),
            );
            l.error(e.help("the name must resolve when the configuration is loaded"));
            return;
        }
        self.servers.push(line);
    }

    fn finish(&self, l: &mut Loader, stream: bool) -> Upstream {
        let mut peers = Vec::new();
        let keepalive = self.keepalive.as_ref().map(|k| Keepalive {
            connections: k.value,
            timeout: self
                .keepalive_timeout
                .as_ref()
                .map(|s| s.value)
                .unwrap_or(Duration::from_secs(60)),
            requests: self
                .keepalive_requests
                .as_ref()
                .map(|s| s.value)
                .unwrap_or(1000),
            time: self
                .keepalive_time
                .as_ref()
                .map(|s| s.value)
                .unwrap_or(Duration::from_secs(3600)),
        });
        if let Some(url) = self
            .url
            .as_ref()
            .filter(|u| stream && u.no_port && u.unix.is_none())
        {
            // ngx_stream_upstream_init_round_robin: an implicit stream upstream needs a port.
            l.error(
                Diagnostic::error(
                    code::UPSTREAM,
                    format!(
                        "no port in upstream \"{}\"",
                        crate::source::show_bytes(&url.host)
                    ),
                    self.span,
                )
                .place(Place::At(self.end))
                .help(
                    "name the port, e.g. proxy_pass 127.0.0.1:5900; (stream has no default port)",
                ),
            );
        } else if let Some(url) = self.url.as_ref().filter(|_| !self.failed) {
            // Implicit: the proxy_pass address, resolved now.
            let addrs = addrs_of(url);
            match addrs {
                Some(addrs) => {
                    for a in addrs {
                        peers.push(Peer {
                            name: peer_name(&a),
                            addr: a,
                            weight: 1,
                            max_fails: 1,
                            fail_timeout: Duration::from_secs(10),
                            max_conns: 0,
                            backup: false,
                            down: false,
                        });
                    }
                }
                None => l.error(
                    Diagnostic::error(
                        code::UPSTREAM,
                        format!("host not found in upstream \"{}\"", crate::source::show_bytes(&self.host)),
                        self.span,
                    )
                    .place(Place::At(self.end))
                    .label("cannot be resolved")
                    .help("the name must resolve when the configuration is loaded, or define an upstream block with this name"),
                ),
            }
        }
        // Primaries first, then backups (nginx keeps two peer lists).
        for backup in [false, true] {
            for s in self.servers.iter().filter(|s| s.backup == backup) {
                for a in addrs_of(&s.url).unwrap_or_default() {
                    peers.push(Peer {
                        name: peer_name(&a),
                        addr: a,
                        weight: s.weight,
                        max_fails: s.max_fails,
                        fail_timeout: s.fail_timeout,
                        max_conns: s.max_conns,
                        backup: s.backup,
                        down: s.down,
                    });
                }
            }
        }
        let _ = &self.servers.first().map(|s| s.span);
        Upstream {
            name: self.host.clone().into(),
            implicit: !self.explicit,
            port: if self.explicit { 0 } else { self.port },
            peers,
            keepalive,
        }
    }
}

fn peer_name(a: &PeerAddr) -> Box<str> {
    a.to_string().into()
}

fn addrs_of(u: &Url) -> Option<Vec<PeerAddr>> {
    if let Some(p) = &u.unix {
        return Some(vec![PeerAddr::Unix(p.clone())]);
    }
    if let Some(ip) = u.ip {
        return Some(vec![PeerAddr::Inet(SocketAddr::new(ip, u.port))]);
    }
    resolve(&u.host, u.port).map(|v| v.into_iter().map(PeerAddr::Inet).collect())
}

fn unreachable_url() -> Url {
    Url {
        host: Vec::new(),
        port: 80,
        no_port: true,
        port_text: Vec::new(),
        uri: None,
        unix: None,
        ip: None,
        last_port: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_as_nginx() {
        let u = parse_url(b"127.0.0.1:6080", 80, false, true).unwrap();
        assert_eq!((u.port, u.no_port, u.uri.is_none()), (6080, false, true));
        let u = parse_url(b"vnc_proxy/", 80, false, true).unwrap();
        assert_eq!(
            (u.host.as_slice(), u.no_port, u.uri.as_deref()),
            (&b"vnc_proxy"[..], true, Some(&b"/"[..]))
        );
        let u = parse_url(b"unix:/run/x.sock:/u/", 80, false, true).unwrap();
        assert_eq!(u.uri.as_deref(), Some(&b"/u/"[..]));
        let u = parse_url(b"[::1]:8080", 80, false, true).unwrap();
        assert_eq!((u.port, u.host.as_slice()), (8080, &b"[::1]"[..]));
        assert_eq!(
            parse_url(b"127.0.0.1:99999", 80, true, false),
            Err("invalid port")
        );
        assert_eq!(parse_url(b":80", 80, true, false), Err("no host"));
        assert_eq!(
            parse_url(b"127.0.0.1:8080/x", 80, true, false),
            Err("invalid host")
        );
        assert_eq!(parse_url(b"[::1:80", 80, true, false), Err("invalid host"));
        let u = parse_url(b"8080", 80, true, false).unwrap();
        assert_eq!(u.port, 8080);
        assert!(u.ip.unwrap().is_unspecified());
    }
}
