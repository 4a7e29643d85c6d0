//! A stream `server` block: its `listen` lines (`ngx_stream_core_listen`, with the stream
//! module's own parameters and words), its content handler (`proxy_pass` or `return`, the
//! last one written winning as in nginx) and its settings.

use super::conf::StreamConf;
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::lower::server::{listen_addrs, parse_so_keepalive};
use crate::config::registry::{Support, STREAM_SRV};
use crate::config::template::{self, Raw};
use crate::config::value;
use crate::ir::server::{ListenAddr, SoKeepalive, SocketOpts};
use crate::ir::url::parse_url;
use crate::source::Span;
use crate::syntax::Directive;

/// One address of a stream `listen`.
#[derive(Clone, Debug)]
pub struct Listen {
    pub addr: ListenAddr,
    pub text: String,
    pub ssl: bool,
    pub opts: SocketOpts,
    pub span: Span,
    pub end: Span,
}

/// The content handler as written.
#[derive(Clone, Debug)]
pub enum RawHandler {
    /// `proxy_pass` with its target: an address or upstream name, or a value with variables.
    Proxy(Raw),
    Return(Raw),
}

/// A handler and the directive that set it.
#[derive(Clone, Debug)]
pub struct HandlerSet {
    pub handler: RawHandler,
    pub span: Span,
    pub end: Span,
    /// The argument's span.
    pub arg: Span,
}

#[derive(Clone, Debug)]
pub struct StreamServerBuilder {
    pub span: Span,
    pub end: Span,
    pub listens: Vec<Listen>,
    pub conf: StreamConf,
    /// The last `proxy_pass` or `return`.
    pub handler: Option<HandlerSet>,
    /// The upstream a `proxy_pass` without variables names (found or created as the line
    /// is read, as `ngx_stream_upstream_add` does).
    pub upstream: Option<usize>,
    /// A `proxy_pass` or `return` was refused (reported): no "no handler" on top of it.
    pub refused: bool,
    /// The first `proxy_pass` (nginx's "is duplicate" is per directive).
    proxy_pass: Option<Span>,
    ret: Option<Span>,
}

impl StreamServerBuilder {
    /// Reads a `server { ... }` of the stream block; `all` are the listens read so far in
    /// the whole block (an address may be listened on once).
    pub fn parse(l: &mut Loader, d: &Directive, all: &mut Vec<(ListenAddr, Span)>) -> Self {
        let mut s = StreamServerBuilder {
            span: d.head_span(),
            end: d.end,
            listens: Vec::new(),
            conf: StreamConf::default(),
            handler: None,
            upstream: None,
            refused: false,
            proxy_pass: None,
            ret: None,
        };
        let mut had_listen = false;
        l.walk(d, STREAM_SRV, &mut |l, d, spec| match spec.name {
            "listen" => {
                had_listen = true;
                s.listen(l, d, all);
            }
            "proxy_pass" => s.proxy_pass(l, d),
            "return" => s.ret(l, d),
            _ => {
                if s.conf.directive(l, d, spec) {
                    return;
                }
                if spec.support == Support::Implemented {
                    crate::config::lower::unreachable_directive(l, d, spec);
                }
            }
        });
        if !had_listen && !l.stopped {
            l.error(
                Diagnostic::error(
                    code::LISTEN,
                    "no \"listen\" is defined for server",
                    s.span,
                )
                .place(Place::Line(s.span.file, l.sources.nginx_location(s.span).1))
                .help("a stream server needs \"listen address:port;\" (stream has no default address)"),
            );
        }
        s
    }

    /// `proxy_pass` and `return` both set the server's content handler: in nginx the one
    /// written last wins, silently. rginx does the same and says so.
    fn set_handler(&mut self, l: &mut Loader, d: &Directive, handler: RawHandler) {
        let set = HandlerSet {
            handler,
            span: d.head_span(),
            end: d.end,
            arg: d.args[0].span,
        };
        if let Some(old) = self.handler.replace(set) {
            let name = match old.handler {
                RawHandler::Proxy(_) => "proxy_pass",
                RawHandler::Return(_) => "return",
            };
            l.error(
                Diagnostic::lint(
                    code::LINT_HANDLER_OVERRIDDEN,
                    format!("\"{}\" overrides \"{name}\" in this server", d.name.show()),
                    d.head_span(),
                )
                .label(format!(
                    "nginx uses this one; the \"{name}\" before it has no effect"
                ))
                .also(old.span, format!("this \"{name}\" is ignored"))
                .help("keep one of proxy_pass and return per stream server"),
            );
        }
    }

    fn proxy_pass(&mut self, l: &mut Loader, d: &Directive) {
        if let Some(first) = self.proxy_pass {
            l.error(crate::config::load::duplicate(d, "proxy_pass", first));
            return;
        }
        self.proxy_pass = Some(d.head_span());
        self.refused = true;
        let Some(raw) = template::parse(l, &d.args[0], d.end) else {
            return;
        };
        if raw.is_literal() {
            // ngx_stream_upstream_add, when the line is read.
            let url = match parse_url(d.args[0].as_bytes(), 0, false, false) {
                Ok(u) => u,
                Err(e) => {
                    let err = l.arg_error(
                        d,
                        &d.args[0],
                        format!("{e} in upstream \"{}\"", d.args[0].show()),
                    );
                    l.error(err.help(
                        "stream proxy_pass takes address:port, an upstream name or unix:/path (no scheme, no URI)",
                    ));
                    return;
                }
            };
            let Some(mut ups) = l.upstreams.take() else {
                return;
            };
            self.upstream = ups.add_implicit(l, &url, d);
            l.upstreams = Some(ups);
            if self.upstream.is_none() {
                return;
            }
        }
        self.refused = false;
        self.set_handler(l, d, RawHandler::Proxy(raw));
    }

    fn ret(&mut self, l: &mut Loader, d: &Directive) {
        if let Some(first) = self.ret {
            l.error(crate::config::load::duplicate(d, "return", first));
            return;
        }
        self.ret = Some(d.head_span());
        match template::parse(l, &d.args[0], d.end) {
            Some(raw) => self.set_handler(l, d, RawHandler::Return(raw)),
            None => self.refused = true,
        }
    }

    fn listen(&mut self, l: &mut Loader, d: &Directive, all: &mut Vec<(ListenAddr, Span)>) {
        let a = &d.args[0];
        // No default port: `listen 127.0.0.1;` listens on port 0 (a port the kernel picks),
        // as nginx's stream module does.
        let url = match parse_url(a.as_bytes(), 0, true, false) {
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
        let Some((opts, ssl)) = stream_listen_params(l, d) else {
            return;
        };
        let Some(addrs) = listen_addrs(l, d, &url) else {
            return;
        };
        for addr in addrs {
            let text = addr.to_string();
            if let Some((_, first)) = all.iter().find(|(x, _)| *x == addr) {
                let first = *first;
                l.error(
                    Diagnostic::error(
                        code::LISTEN,
                        format!("duplicate \"{text}\" address and port pair"),
                        d.head_span(),
                    )
                    .place(Place::At(d.end))
                    .also(first, "first listened on here")
                    .help("a stream address belongs to one server (nginx 1.22's stream has no server_name)"),
                );
                return;
            }
            all.push((addr.clone(), d.head_span()));
            self.listens.push(Listen {
                addr,
                text,
                ssl,
                opts: opts.clone(),
                span: d.head_span(),
                end: d.end,
            });
        }
    }
}

const STREAM_LISTEN_PARAMS: &[&str] = &[
    "ssl",
    "bind",
    "backlog=",
    "rcvbuf=",
    "sndbuf=",
    "reuseport",
    "ipv6only=",
    "so_keepalive=",
    "fastopen=",
];

/// The parameters of a stream `listen` after its address: the socket options and `ssl`.
fn stream_listen_params(l: &mut Loader, d: &Directive) -> Option<(SocketOpts, bool)> {
    let mut opts = SocketOpts {
        ipv6only: true,
        ..SocketOpts::default()
    };
    let mut ssl = false;
    for p in &d.args[1..] {
        let v = p.as_bytes();
        let bad = |l: &mut Loader, what: &str| {
            let e = l.arg_error(d, p, format!("invalid {what} \"{}\"", p.show()));
            l.error(e);
            None
        };
        if v == b"ssl" {
            ssl = true;
        } else if v == b"bind" {
            opts.bind = true;
        } else if v == b"reuseport" {
            opts.bind = true;
            opts.reuseport = true;
        } else if let Some(n) = v.strip_prefix(b"backlog=") {
            opts.bind = true;
            match value::number(n) {
                Some(n) if n != 0 => opts.backlog = Some(n as i32),
                _ => return bad(l, "backlog"),
            }
        } else if let Some(n) = v.strip_prefix(b"fastopen=") {
            opts.bind = true;
            match value::number(n) {
                Some(n) => opts.fastopen = Some(n as i32),
                None => return bad(l, "fastopen"),
            }
        } else if let Some(n) = v.strip_prefix(b"rcvbuf=") {
            opts.bind = true;
            match value::size(n) {
                Some(n) => opts.rcvbuf = Some(n as i32),
                None => return bad(l, "rcvbuf"),
            }
        } else if let Some(n) = v.strip_prefix(b"sndbuf=") {
            opts.bind = true;
            match value::size(n) {
                Some(n) => opts.sndbuf = Some(n as i32),
                None => return bad(l, "sndbuf"),
            }
        } else if let Some(x) = v.strip_prefix(b"ipv6only=o") {
            opts.ipv6only = match x {
                b"n" => true,
                b"ff" => false,
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
            };
            opts.bind = true;
        } else if let Some(k) = v.strip_prefix(b"so_keepalive=") {
            let ka = match k {
                b"on" => Some(SoKeepalive::On),
                b"off" => Some(SoKeepalive::Off),
                _ => parse_so_keepalive(k),
            };
            let Some(ka) = ka else {
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
            };
            opts.so_keepalive = Some(ka);
            opts.bind = true;
        } else if v == b"udp" || v == b"proxy_protocol" {
            l.error(
                Diagnostic::error(
                    code::NOT_SUPPORTED,
                    format!(
                        "the \"{}\" parameter of \"listen\" is not supported by rginx",
                        p.show()
                    ),
                    p.span,
                )
                .place(Place::At(d.end))
                .help(if v == b"udp" {
                    "rginx proxies TCP streams; keep nginx for UDP"
                } else {
                    "terminate the PROXY protocol in front of rginx, or keep nginx for this listener"
                }),
            );
            return None;
        } else {
            let e = l.arg_error(d, p, format!("the invalid \"{}\" parameter", p.show()));
            let e = match crate::config::registry::suggest_word(v, STREAM_LISTEN_PARAMS) {
                Some(s) => e.help(format!("did you mean \"{s}\"?")),
                None => e.help(format!(
                    "stream listen parameters are: {} (no default_server: stream has no server names)",
                    STREAM_LISTEN_PARAMS.join(", ")
                )),
            };
            l.error(e);
            return None;
        }
    }
    Some((opts, ssl))
}
