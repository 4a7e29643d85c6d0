//! `server` blocks: `listen` (S2.1, S2.2), `server_name` (S2.5), the server-level settings
//! read before the Host is known, TLS, and the server's locations.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::loc::LocBuilder;
use super::location::{self, LocationBuilder};
use super::shared::LocKind;
use super::ssl::SslSlot;
use super::upstream::resolve;
use super::{inherit, Slot};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::registry::{Spec, Support, SRV};
use crate::config::value;
use crate::ir::regex::Regex;
use crate::ir::server::{ListenAddr, SoKeepalive, SocketOpts};
use crate::ir::url::{parse_url, Url};
use crate::source::Span;
use crate::syntax::Directive;

/// One address of a `listen` line with its parameters.
#[derive(Clone, Debug)]
pub struct Listen {
    pub addr: ListenAddr,
    /// nginx's text for the address in messages (`127.0.0.1:8080`, `0.0.0.0:80`).
    pub text: String,
    pub default_server: bool,
    pub ssl: bool,
    pub http2: bool,
    pub proxy_protocol: bool,
    pub opts: SocketOpts,
    /// Whether socket options were given (they may be given once per address).
    pub set: bool,
    pub span: Span,
    pub end: Span,
}

#[derive(Clone, Debug)]
pub enum Name {
    Exact(Box<[u8]>),
    /// `*.a.com` (suffix `.a.com`) or `.a.com` (also exact `a.com`).
    Head(Box<[u8]>, bool),
    /// `www.*` (prefix `www.`).
    Tail(Box<[u8]>),
    /// A name with `*` elsewhere: invalid once names are hashed.
    Bad(Box<[u8]>),
    Regex(Regex),
}

/// Server-level settings that can also be set in the http block.
#[derive(Clone, Debug, Default)]
pub struct SrvBuilder {
    pub client_header_timeout: Slot<Duration>,
    pub client_header_buffer_size: Slot<u64>,
    pub large_client_header_buffers: Slot<(u32, u64)>,
    pub underscores_in_headers: Slot<bool>,
    pub ignore_invalid_headers: Slot<bool>,
    pub merge_slashes: Slot<bool>,
    pub http2_max_concurrent_streams: Slot<u32>,
    /// `http2 on` (nginx 1.25.1's form of `listen ... http2`).
    pub http2: Slot<bool>,
}

impl SrvBuilder {
    pub fn directive(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec) -> bool {
        macro_rules! flag {
            ($slot:expr) => {{
                if !l.is_dup(&$slot, d) {
                    if let Some(v) = l.flag_arg(d) {
                        l.once(&mut $slot, d, v);
                    }
                }
            }};
        }
        match spec.name {
            "client_header_timeout" => {
                if !l.is_dup(&self.client_header_timeout, d) {
                    if let Some(v) = l.msec_arg(d, 0) {
                        l.once(&mut self.client_header_timeout, d, v);
                    }
                }
            }
            "client_header_buffer_size" => {
                if !l.is_dup(&self.client_header_buffer_size, d) {
                    if let Some(v) = l.size_arg(d, 0) {
                        l.once(&mut self.client_header_buffer_size, d, v);
                    }
                }
            }
            "large_client_header_buffers" => {
                if !l.is_dup(&self.large_client_header_buffers, d) {
                    let n = value::number(d.args[0].as_bytes());
                    let s = value::size(d.args[1].as_bytes());
                    match (n, s) {
                        (Some(n), Some(s)) if n > 0 && s > 0 => {
                            l.once(&mut self.large_client_header_buffers, d, (n as u32, s))
                        }
                        _ => l.error(
                            crate::config::load::directive_error(d, spec.name, "invalid value")
                                .help("\"large_client_header_buffers number size;\", e.g. 4 8k"),
                        ),
                    }
                }
            }
            "underscores_in_headers" => flag!(self.underscores_in_headers),
            "ignore_invalid_headers" => flag!(self.ignore_invalid_headers),
            "merge_slashes" => flag!(self.merge_slashes),
            "http2" => flag!(self.http2),
            "http2_max_concurrent_streams" => {
                if !l.is_dup(&self.http2_max_concurrent_streams, d) {
                    if let Some(v) = l.num_arg(d, 0) {
                        l.once(&mut self.http2_max_concurrent_streams, d, v as u32);
                    }
                }
            }
            _ => return false,
        }
        true
    }

    pub fn inherit_from(&mut self, p: &SrvBuilder) {
        inherit(&mut self.client_header_timeout, &p.client_header_timeout);
        inherit(
            &mut self.client_header_buffer_size,
            &p.client_header_buffer_size,
        );
        inherit(
            &mut self.large_client_header_buffers,
            &p.large_client_header_buffers,
        );
        inherit(&mut self.underscores_in_headers, &p.underscores_in_headers);
        inherit(&mut self.ignore_invalid_headers, &p.ignore_invalid_headers);
        inherit(&mut self.merge_slashes, &p.merge_slashes);
        inherit(
            &mut self.http2_max_concurrent_streams,
            &p.http2_max_concurrent_streams,
        );
        inherit(&mut self.http2, &p.http2);
    }
}

#[derive(Clone, Debug)]
pub struct ServerBuilder {
    pub span: Span,
    pub end: Span,
    pub listens: Vec<Listen>,
    pub names: Vec<(Name, Box<[u8]>, Span)>,
    pub srv: SrvBuilder,
    pub ssl: SslSlot,
    pub loc: LocBuilder,
    pub locations: Vec<LocationBuilder>,
}

impl ServerBuilder {
    pub fn parse(l: &mut Loader, d: &Directive) -> ServerBuilder {
        let mut s = ServerBuilder {
            span: d.head_span(),
            end: d.end,
            listens: Vec::new(),
            names: Vec::new(),
            srv: SrvBuilder::default(),
            ssl: SslSlot::default(),
            loc: LocBuilder::default(),
            locations: Vec::new(),
        };
        let mut had_listen = false;
        l.walk(d, SRV, &mut |l, d, spec| match spec.name {
            "listen" => {
                had_listen = true;
                s.listen(l, d);
            }
            "server_name" => s.server_name(l, d),
            "location" => {
                if let Some(loc) = location::parse(l, d, None) {
                    s.locations.push(loc);
                }
            }
            _ => {
                if s.srv.directive(l, d, spec)
                    || s.ssl.directive(l, d, spec)
                    || s.loc.directive(l, d, spec, &LocKind::default())
                {
                    return;
                }
                if spec.support == Support::Implemented {
                    super::unreachable_directive(l, d, spec);
                }
            }
        });
        if !had_listen && !l.stopped {
            // A server without listen listens on *:80 (*:8000 when not started as root).
            let port = if nix::unistd::getuid().is_root() {
                80
            } else {
                8000
            };
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
            s.listens.push(Listen {
                addr: ListenAddr::Inet(addr),
                text: addr.to_string(),
                default_server: false,
                ssl: false,
                http2: false,
                proxy_protocol: false,
                opts: SocketOpts {
                    ipv6only: true,
                    ..SocketOpts::default()
                },
                set: false,
                span: s.span,
                end: s.end,
            });
        }
        s
    }

    fn listen(&mut self, l: &mut Loader, d: &Directive) {
        let a = &d.args[0];
        let url = match parse_url(a.as_bytes(), 80, true, false) {
            Ok(u) => u,
            Err(e) => {
                let err = l.arg_error(
                    d,
                    a,
                    format!("{e} in \"{}\" of the \"listen\" directive", a.show()),
                );
                l.error(err.help("listen takes address:port, port, [ipv6]:port or unix:/path"));
                return;
            }
        };
        let Some(params) = listen_params(l, d) else {
            return;
        };
        let ListenParams {
            opts,
            default_server,
            ssl,
            http2,
            proxy_protocol,
            set,
        } = params;
        if proxy_protocol {
            l.error(
                Diagnostic::error(code::NOT_SUPPORTED, "the \"proxy_protocol\" parameter of \"listen\" is not supported by rginx", d.head_span())
                    .place(Place::At(d.end))
                    .help("terminate the PROXY protocol in front of rginx, or keep nginx for this listener"),
            );
            return;
        }
        let Some(addrs) = listen_addrs(l, d, &url) else {
            return;
        };
        for addr in addrs {
            let text = match &addr {
                ListenAddr::Inet(sa) => sa.to_string(),
                ListenAddr::Unix(p) => format!("unix:{}", p.display()),
            };
            if let Some(first) = self.listens.iter().find(|x| x.addr == addr) {
                let first = first.span;
                l.error(
                    Diagnostic::error(
                        code::LISTEN,
                        format!("a duplicate listen {text}"),
                        d.head_span(),
                    )
                    .place(Place::At(d.end))
                    .also(first, "first listen here"),
                );
                return;
            }
            self.listens.push(Listen {
                addr,
                text,
                default_server,
                ssl,
                http2,
                proxy_protocol,
                opts: opts.clone(),
                set,
                span: d.head_span(),
                end: d.end,
            });
        }
    }

    fn server_name(&mut self, l: &mut Loader, d: &Directive) {
        for a in &d.args {
            let v = a.as_bytes();
            let ch = v.first().copied().unwrap_or(0);
            if (ch == b'*' && (v.len() < 3 || v[1] != b'.')) || (ch == b'.' && v.len() < 2) {
                let e = l.arg_error(d, a, format!("server name \"{}\" is invalid", a.show()));
                l.error(e.help("wildcards are \"*.example.com\", \".example.com\" or \"www.*\""));
                return;
            }
            if v.contains(&b'/') {
                l.error(
                    Diagnostic::warning(
                        code::SERVER_NAME,
                        format!("server name \"{}\" has suspicious symbols", a.show()),
                        a.span,
                    )
                    .place(Place::At(d.end)),
                );
            }
            if ch == b'~' {
                if v.len() == 1 {
                    let e =
                        l.arg_error(d, a, format!("empty regex in server name \"{}\"", a.show()));
                    l.error(e);
                    return;
                }
                let pat = &v[1..];
                let caseless = pat.iter().any(|b| b.is_ascii_uppercase());
                match l.regex(pat, caseless, a.span, d.end) {
                    Ok(re) => {
                        for n in re.names.iter().flatten() {
                            l.scope.captures.insert(n.clone());
                        }
                        self.names.push((Name::Regex(re), v.into(), a.span));
                    }
                    Err(e) => {
                        l.error(*e);
                        return;
                    }
                }
                continue;
            }
            let name: Vec<u8> = if v.eq_ignore_ascii_case(b"$hostname") {
                nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().as_bytes().to_vec())
                    .unwrap_or_default()
            } else {
                v.to_ascii_lowercase()
            };
            let stars = name.iter().filter(|b| **b == b'*').count();
            let parsed = if name.starts_with(b"*.") && stars == 1 {
                Name::Head(name[1..].into(), false)
            } else if name.first() == Some(&b'.') && stars == 0 {
                Name::Head(name.clone().into(), true)
            } else if name.ends_with(b".*") && stars == 1 && name.len() > 2 {
                Name::Tail(name[..name.len() - 1].into())
            } else if stars > 0 {
                Name::Bad(name.clone().into())
            } else {
                Name::Exact(name.clone().into())
            };
            self.names.push((parsed, name.into(), a.span));
        }
    }

    /// `$server_name`: the first name (a regex keeps its `~`, `.a.com` is `a.com`).
    pub fn server_name_var(&self) -> Box<[u8]> {
        match self.names.first() {
            Some((Name::Head(s, true), _, _)) => s[1..].into(),
            Some((_, written, _)) => written.clone(),
            None => Box::new([]),
        }
    }
}

const LISTEN_PARAMS: &[&str] = &[
    "default_server",
    "ssl",
    "http2",
    "proxy_protocol",
    "bind",
    "backlog=",
    "rcvbuf=",
    "sndbuf=",
    "deferred",
    "reuseport",
    "ipv6only=",
    "so_keepalive=",
    "fastopen=",
];

pub fn parse_so_keepalive(k: &[u8]) -> Option<SoKeepalive> {
    let mut parts = k.splitn(3, |b| *b == b':');
    let idle = parts.next().unwrap_or_default();
    let intvl = parts.next().unwrap_or_default();
    let cnt = parts.next().unwrap_or_default();
    let idle = if idle.is_empty() {
        None
    } else {
        Some(value::sec(idle)?)
    };
    let interval = if intvl.is_empty() {
        None
    } else {
        Some(value::sec(intvl)?)
    };
    let count = if cnt.is_empty() {
        None
    } else {
        Some(value::number(cnt)? as u32)
    };
    let zero = |d: Option<Duration>| d.is_none_or(|d| d.is_zero());
    if zero(idle) && zero(interval) && count.unwrap_or(0) == 0 {
        return None;
    }
    Some(SoKeepalive::Params {
        idle,
        interval,
        count,
    })
}

/// What the parameters of one `listen` ask for.
struct ListenParams {
    opts: SocketOpts,
    default_server: bool,
    ssl: bool,
    http2: bool,
    proxy_protocol: bool,
    /// Whether socket options were given (they may be given once per address).
    set: bool,
}

/// The parameters of a `listen` after its address, or `None` once one was reported wrong.
fn listen_params(l: &mut Loader, d: &Directive) -> Option<ListenParams> {
    let mut opts = SocketOpts {
        ipv6only: true,
        ..SocketOpts::default()
    };
    let (mut default_server, mut ssl, mut http2, mut proxy_protocol, mut set) =
        (false, false, false, false, false);
    for p in &d.args[1..] {
        let v = p.as_bytes();
        let bad = |l: &mut Loader, what: &str| {
            let e = l.arg_error(d, p, format!("invalid {what} \"{}\"", p.show()));
            l.error(e);
            None
        };
        if v == b"default_server" || v == b"default" {
            default_server = true;
        } else if v == b"bind" {
            set = true;
            opts.bind = true;
        } else if let Some(n) = v.strip_prefix(b"fastopen=") {
            set = true;
            opts.bind = true;
            match value::number(n) {
                Some(n) => opts.fastopen = Some(n as i32),
                None => return bad(l, "fastopen"),
            }
        } else if let Some(n) = v.strip_prefix(b"backlog=") {
            set = true;
            opts.bind = true;
            match value::number(n) {
                Some(n) if n != 0 => opts.backlog = Some(n as i32),
                _ => return bad(l, "backlog"),
            }
        } else if let Some(n) = v.strip_prefix(b"rcvbuf=") {
            set = true;
            opts.bind = true;
            match value::size(n) {
                Some(n) => opts.rcvbuf = Some(n as i32),
                None => return bad(l, "rcvbuf"),
            }
        } else if let Some(n) = v.strip_prefix(b"sndbuf=") {
            set = true;
            opts.bind = true;
            match value::size(n) {
                Some(n) => opts.sndbuf = Some(n as i32),
                None => return bad(l, "sndbuf"),
            }
        } else if v.starts_with(b"accept_filter=") {
            set = true;
            opts.bind = true;
            l.error(
                Diagnostic::warning(
                    code::LISTEN,
                    format!(
                        "accept filters \"{}\" are not supported on this platform, ignored",
                        p.show()
                    ),
                    p.span,
                )
                .place(Place::At(d.end)),
            );
        } else if v == b"deferred" {
            set = true;
            opts.bind = true;
            opts.deferred = true;
        } else if let Some(x) = v.strip_prefix(b"ipv6only=o") {
            match x {
                b"n" => opts.ipv6only = true,
                b"ff" => opts.ipv6only = false,
                _ => {
                    let e = l.arg_error(
                        d,
                        p,
                        format!(
                            "invalid ipv6only flags \"{}\"",
                            crate::source::show_bytes(&v[9..])
                        ),
                    );
                    l.error(e);
                    return None;
                }
            }
            set = true;
            opts.bind = true;
        } else if v == b"reuseport" {
            set = true;
            opts.bind = true;
            opts.reuseport = true;
        } else if v == b"ssl" {
            ssl = true;
        } else if v == b"http2" {
            http2 = true;
        } else if let Some(k) = v.strip_prefix(b"so_keepalive=") {
            let ka = match k {
                b"on" => Some(SoKeepalive::On),
                b"off" => Some(SoKeepalive::Off),
                _ => parse_so_keepalive(k),
            };
            match ka {
                Some(ka) => opts.so_keepalive = Some(ka),
                None => {
                    let e = l.arg_error(
                        d,
                        p,
                        format!(
                            "invalid so_keepalive value: \"{}\"",
                            crate::source::show_bytes(k)
                        ),
                    );
                    l.error(e);
                    return None;
                }
            }
            set = true;
            opts.bind = true;
        } else if v == b"proxy_protocol" {
            proxy_protocol = true;
        } else {
            let e = l.arg_error(d, p, format!("invalid parameter \"{}\"", p.show()));
            let e = match crate::config::registry::suggest_word(v, LISTEN_PARAMS) {
                Some(s) => e.help(format!("did you mean \"{s}\"?")),
                None => e.help(format!(
                    "listen parameters are: {}",
                    LISTEN_PARAMS.join(", ")
                )),
            };
            l.error(e);
            return None;
        }
    }
    Some(ListenParams {
        opts,
        default_server,
        ssl,
        http2,
        proxy_protocol,
        set,
    })
}

/// The addresses a `listen` names: a unix socket, an IP with a port range, or a host's
/// addresses; `None` once a host was not found.
pub fn listen_addrs(l: &mut Loader, d: &Directive, url: &Url) -> Option<Vec<ListenAddr>> {
    let a = &d.args[0];
    let addrs: Vec<ListenAddr> = if let Some(path) = &url.unix {
        vec![ListenAddr::Unix(path.clone())]
    } else if let Some(ip) = url.ip {
        let last = url.last_port.unwrap_or(url.port);
        (url.port..=last)
            .map(|p| ListenAddr::Inet(SocketAddr::new(ip, p)))
            .collect()
    } else {
        match resolve(&url.host, url.port) {
            Some(v) => v.into_iter().map(ListenAddr::Inet).collect(),
            None => {
                let e = l.arg_error(
                    d,
                    a,
                    format!(
                        "host not found in \"{}\" of the \"listen\" directive",
                        a.show()
                    ),
                );
                l.error(e);
                return None;
            }
        }
    };
    Some(addrs)
}
