//! `upstream {}` blocks and the implicit upstreams of `proxy_pass http://host:port`, matched
//! and merged as nginx's `ngx_http_upstream_add` does, and resolved at load (S5.1, S5.9).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::Slot;
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::registry::Spec;
use crate::config::value;
use crate::ir::upstream::{Keepalive, Peer, PeerAddr, Upstream, UpstreamId};
use crate::source::Span;
use crate::syntax::Directive;

/// A parsed `host[:port]`, `[v6][:port]` or `unix:path` (nginx's `ngx_url_t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub host: Vec<u8>,
    pub port: u16,
    /// The port was not written (the default applies).
    pub no_port: bool,
    /// The port as written.
    pub port_text: Vec<u8>,
    /// From the first `/` (or, for `unix:`, after the path's `:`).
    pub uri: Option<Vec<u8>>,
    pub unix: Option<PathBuf>,
    /// An IP literal, if the host is one.
    pub ip: Option<IpAddr>,
    /// The last port of a `listen` port range.
    pub last_port: Option<u16>,
}

/// `ngx_parse_url`: `listen` mode accepts a bare port and `*`; `uri_part` allows a URI.
pub fn parse_url(
    raw: &[u8],
    default_port: u16,
    listen: bool,
    uri_part: bool,
) -> Result<Url, &'static str> {
    let mut u = Url {
        host: Vec::new(),
        port: default_port,
        no_port: false,
        port_text: Vec::new(),
        uri: None,
        unix: None,
        ip: None,
        last_port: None,
    };
    if raw.len() >= 5 && raw[..5].eq_ignore_ascii_case(b"unix:") {
        return unix_url(u, raw, uri_part);
    }
    if raw.first() == Some(&b'[') {
        return ipv6_url(u, raw, listen, uri_part);
    }
    let mut last = raw.len();
    let port = raw.iter().position(|b| *b == b':');
    let mut uri = raw.iter().position(|b| *b == b'/');
    if let Some(a) = raw.iter().position(|b| *b == b'?') {
        if uri.is_none_or(|x| a < x) {
            uri = Some(a);
        }
    }
    let mut port = port;
    if let Some(x) = uri {
        if listen || !uri_part {
            return Err("invalid host");
        }
        u.uri = Some(raw[x..].to_vec());
        last = x;
        if port.is_some_and(|p| x < p) {
            port = None;
        }
    }
    if let Some(p) = port {
        let text = &raw[p + 1..last];
        let (first, l) = split_range(text, listen);
        if let Some(l) = l {
            u.last_port = Some(port_num(l).ok_or("invalid port")?);
        }
        u.port = port_num(first).ok_or("invalid port")?;
        if u.last_port.is_some_and(|l| u.port > l) {
            return Err("invalid port range");
        }
        u.port_text = text.to_vec();
        last = p;
    } else {
        if uri.is_none() && listen {
            // A bare port (or port range).
            let text = &raw[..last];
            let (first, l) = split_range(text, true);
            if let Some(n) = value::number(first) {
                if let Some(l) = l {
                    match port_num(l) {
                        Some(l) => u.last_port = Some(l),
                        None => return Err("invalid port"),
                    }
                }
                if !(1..=65535).contains(&n) {
                    return Err("invalid port");
                }
                u.port = n as u16;
                if u.last_port.is_some_and(|l| u.port > l) {
                    return Err("invalid port range");
                }
                u.port_text = text.to_vec();
                u.ip = Some(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                u.host = Vec::new();
                return Ok(u);
            }
        }
        u.no_port = true;
        u.port = default_port;
    }
    let host = &raw[..last];
    if host.is_empty() {
        return Err("no host");
    }
    u.host = host.to_vec();
    if listen && host == b"*" {
        u.ip = Some(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        return Ok(u);
    }
    // ngx_inet_addr: dotted quad only.
    if let Some(ip) = std::str::from_utf8(host)
        .ok()
        .and_then(|h| h.parse::<std::net::Ipv4Addr>().ok())
    {
        if host.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
            u.ip = Some(IpAddr::V4(ip));
        }
    }
    Ok(u)
}

/// `unix:path` (with `:uri` after the path when a URI part is allowed).
fn unix_url(mut u: Url, raw: &[u8], uri_part: bool) -> Result<Url, &'static str> {
    use std::os::unix::ffi::OsStrExt;
    let mut path = &raw[5..];
    if uri_part {
        if let Some(i) = path.iter().position(|b| *b == b':') {
            u.uri = Some(path[i + 1..].to_vec());
            path = &path[..i];
        }
    }
    if path.is_empty() {
        return Err("no path in the unix domain socket");
    }
    if path.len() + 1 > 108 {
        return Err("too long path in the unix domain socket");
    }
    u.host = path.to_vec();
    u.unix = Some(PathBuf::from(std::ffi::OsStr::from_bytes(path)));
    Ok(u)
}

/// `[v6]`, `[v6]:port` (a range in `listen`), with a URI when one is allowed.
fn ipv6_url(mut u: Url, raw: &[u8], listen: bool, uri_part: bool) -> Result<Url, &'static str> {
    let close = raw.iter().position(|b| *b == b']').ok_or("invalid host")?;
    let host = &raw[1..close];
    let mut rest = &raw[close + 1..];
    if let Some(i) = rest.iter().position(|b| *b == b'/') {
        if listen || !uri_part {
            return Err("invalid host");
        }
        u.uri = Some(rest[i..].to_vec());
        rest = &rest[..i];
    }
    if !rest.is_empty() {
        if rest[0] != b':' {
            return Err("invalid host");
        }
        let p = &rest[1..];
        let (first, last) = split_range(p, listen);
        if let Some(last) = last {
            u.last_port = Some(port_num(last).ok_or("invalid port")?);
        }
        u.port = port_num(first).ok_or("invalid port")?;
        if u.last_port.is_some_and(|l| u.port > l) {
            return Err("invalid port range");
        }
        u.port_text = p.to_vec();
    } else {
        u.no_port = true;
    }
    if host.is_empty() {
        return Err("no host");
    }
    let ip: std::net::Ipv6Addr = std::str::from_utf8(host)
        .ok()
        .and_then(|h| h.parse().ok())
        .ok_or("invalid IPv6 address")?;
    u.host = raw[..close + 1].to_vec();
    u.ip = Some(IpAddr::V6(ip));
    Ok(u)
}

/// A port number, 1 to 65535.
fn port_num(p: &[u8]) -> Option<u16> {
    value::number(p)
        .filter(|n| (1..=65535).contains(n))
        .map(|n| n as u16)
}

fn split_range(p: &[u8], listen: bool) -> (&[u8], Option<&[u8]>) {
    if listen {
        if let Some(i) = p.iter().position(|b| *b == b'-') {
            return (&p[..i], Some(&p[i + 1..]));
        }
    }
    (p, None)
}

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
    keepalive: Slot<u32>,
    keepalive_timeout: Slot<Duration>,
    keepalive_requests: Slot<u32>,
    keepalive_time: Slot<Duration>,
}

/// Every upstream of the http block, in the order nginx creates them.
#[derive(Default)]
pub struct Upstreams {
    pub entries: Vec<Entry>,
    /// Entries by lowercased host, in creation order (nginx scans them all; a config with
    /// thousands of `proxy_pass` hosts must not be quadratic).
    by_host: std::collections::HashMap<Vec<u8>, Vec<usize>>,
}

impl Upstreams {
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
        let url = match parse_url(&name, 80, false, false) {
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
                keepalive: None,
                keepalive_timeout: None,
                keepalive_requests: None,
                keepalive_time: None,
            },
        );
        l.walk(d, crate::config::registry::UPS, &mut |l, d, spec| {
            entry.directive(l, d, spec)
        });
        if entry.servers.is_empty() && !l.stopped {
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
        self.entries.iter().map(|e| e.finish(l)).collect()
    }

    pub fn id(&self, index: usize) -> UpstreamId {
        UpstreamId(index as u32)
    }

    pub fn entry(&self, index: usize) -> &Entry {
        &self.entries[index]
    }
}

impl Entry {
    /// Where `keepalive` is set, if it is.
    pub fn keepalive_span(&self) -> Option<Span> {
        self.keepalive.as_ref().map(|k| k.span)
    }

    fn directive(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec) {
        match spec.name {
            "server" => self.server(l, d),
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

    fn server(&mut self, l: &mut Loader, d: &Directive) {
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
        match parse_url(d.args[0].as_bytes(), 80, false, false) {
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

    fn finish(&self, l: &mut Loader) -> Upstream {
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
        if let Some(url) = &self.url {
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
