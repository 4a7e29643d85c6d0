//! `proxy_pass` and the `proxy_*` directives (S4, S6, S9, S10): parsing, nginx's merge rules
//! (`ngx_http_proxy_merge_loc_conf`) and the header list of `ngx_http_proxy_init_headers`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::shared::{LocKind, Shared};
use super::upstream::parse_url;
use super::{inherit, or, Slot};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::{directive_error, Loader};
use crate::config::registry::Spec;
use crate::config::template::{self, Raw, Scope};
use crate::config::value;
use crate::ir::proxy::{
    HeaderValue, HttpVersion, IgnoreHeaders, NextUpstream, Proxy, ProxyHeader, ProxyHeaders,
    ProxyPass, ProxyTarget, RedirectFrom, RedirectRule, Scheme,
};
use crate::ir::Template;
use crate::source::Span;
use crate::syntax::Directive;

/// `proxy_set_header NAME VALUE`: the name as written, the value, where.
pub type SetHeader = (Box<[u8]>, Raw, Span);

#[derive(Clone, Debug)]
pub enum RawPass {
    Static {
        scheme: Scheme,
        upstream: usize,
        uri: Option<Vec<u8>>,
        proxy_host: Vec<u8>,
        proxy_port: Vec<u8>,
        url: Vec<u8>,
        location: Vec<u8>,
        uri_ignored: bool,
    },
    Dynamic {
        url: Raw,
        text: Vec<u8>,
        location: Vec<u8>,
    },
}

#[derive(Clone, Debug)]
pub enum RawRedirectFrom {
    Prefix(Raw),
    Regex(crate::ir::regex::Regex),
}

#[derive(Clone, Debug)]
pub enum RawRedirects {
    Off,
    /// `default` entries are kept unresolved until the merge knows the proxy_pass.
    Rules(Vec<RawRedirectRule>),
}

#[derive(Clone, Debug)]
pub enum RawRedirectRule {
    Default(Span),
    Rule(RawRedirectFrom, Raw),
}

#[derive(Clone, Debug, Default)]
pub struct ProxyBuilder {
    pub pass: Slot<RawPass>,
    pub set_headers: Option<Vec<SetHeader>>,
    pub http_version: Slot<HttpVersion>,
    pub connect_timeout: Slot<Duration>,
    pub send_timeout: Slot<Duration>,
    pub read_timeout: Slot<Duration>,
    pub buffering: Slot<bool>,
    pub buffer_size: Slot<u64>,
    pub buffers: Slot<(u32, u64)>,
    pub busy_buffers_size: Slot<u64>,
    pub request_buffering: Slot<bool>,
    pub pass_request_headers: Slot<bool>,
    pub pass_request_body: Slot<bool>,
    pub redirects: Option<RawRedirects>,
    pub redirect_span: Option<Span>,
    pub next_upstream: Slot<NextUpstream>,
    pub next_upstream_tries: Slot<u32>,
    pub next_upstream_timeout: Slot<Duration>,
    pub hide_headers: Option<Vec<Box<[u8]>>>,
    pub pass_headers: Option<Vec<Box<[u8]>>>,
    pub ignore_headers: Slot<IgnoreHeaders>,
    pub intercept_errors: Slot<bool>,
}

impl ProxyBuilder {
    pub const EMPTY: ProxyBuilder = ProxyBuilder {
        pass: None,
        set_headers: None,
        http_version: None,
        connect_timeout: None,
        send_timeout: None,
        read_timeout: None,
        buffering: None,
        buffer_size: None,
        buffers: None,
        busy_buffers_size: None,
        request_buffering: None,
        pass_request_headers: None,
        pass_request_body: None,
        redirects: None,
        redirect_span: None,
        next_upstream: None,
        next_upstream_tries: None,
        next_upstream_timeout: None,
        hide_headers: None,
        pass_headers: None,
        ignore_headers: None,
        intercept_errors: None,
    };
}

macro_rules! slot {
    ($l:expr, $d:expr, $slot:expr, $parse:expr) => {{
        if !$l.is_dup(&$slot, $d) {
            if let Some(v) = $parse {
                $l.once(&mut $slot, $d, v);
            }
        }
    }};
}

impl ProxyBuilder {
    pub fn directive(
        &mut self,
        l: &mut Loader,
        d: &Directive,
        spec: &'static Spec,
        loc: &LocKind,
    ) -> bool {
        match spec.name {
            "proxy_pass" => self.pass(l, d, loc),
            "proxy_set_header" => {
                if let Some(raw) = template::parse(l, &d.args[1], d.end) {
                    self.set_headers.get_or_insert_with(Vec::new).push((
                        d.args[0].to_boxed(),
                        raw,
                        d.head_span(),
                    ));
                }
            }
            "proxy_http_version" => slot!(l, d, self.http_version, {
                match d.args[0].as_bytes() {
                    b"1.0" => Some(HttpVersion::Http10),
                    b"1.1" => Some(HttpVersion::Http11),
                    _ => {
                        let e = l.arg_error(
                            d,
                            &d.args[0],
                            format!("invalid value \"{}\"", d.args[0].show()),
                        );
                        l.error(e.help("\"1.0\" or \"1.1\""));
                        None
                    }
                }
            }),
            "proxy_connect_timeout" => slot!(l, d, self.connect_timeout, l.msec_arg(d, 0)),
            "proxy_send_timeout" => slot!(l, d, self.send_timeout, l.msec_arg(d, 0)),
            "proxy_read_timeout" => slot!(l, d, self.read_timeout, l.msec_arg(d, 0)),
            "proxy_buffering" => slot!(l, d, self.buffering, l.flag_arg(d)),
            "proxy_request_buffering" => slot!(l, d, self.request_buffering, l.flag_arg(d)),
            "proxy_pass_request_headers" => slot!(l, d, self.pass_request_headers, l.flag_arg(d)),
            "proxy_pass_request_body" => slot!(l, d, self.pass_request_body, l.flag_arg(d)),
            "proxy_intercept_errors" => slot!(l, d, self.intercept_errors, l.flag_arg(d)),
            "proxy_buffer_size" => slot!(l, d, self.buffer_size, l.size_arg(d, 0)),
            "proxy_busy_buffers_size" => slot!(
                l,
                d,
                self.busy_buffers_size,
                value::size(d.args[0].as_bytes())
            ),
            "proxy_buffers" => slot!(l, d, self.buffers, {
                let n = value::number(d.args[0].as_bytes());
                let s = value::size(d.args[1].as_bytes());
                match (n, s) {
                    (Some(n), Some(s)) if n > 0 && s > 0 => Some((n as u32, s)),
                    _ => {
                        l.error(
                            directive_error(d, "proxy_buffers", "invalid value")
                                .help("\"proxy_buffers number size;\", e.g. 8 4k"),
                        );
                        None
                    }
                }
            }),
            "proxy_next_upstream" => self.next_upstream(l, d),
            "proxy_next_upstream_tries" => slot!(
                l,
                d,
                self.next_upstream_tries,
                l.num_arg(d, 0).map(|n| n as u32)
            ),
            "proxy_next_upstream_timeout" => {
                slot!(l, d, self.next_upstream_timeout, l.msec_arg(d, 0))
            }
            "proxy_hide_header" => self
                .hide_headers
                .get_or_insert_with(Vec::new)
                .push(d.args[0].as_bytes().to_ascii_lowercase().into()),
            "proxy_pass_header" => self
                .pass_headers
                .get_or_insert_with(Vec::new)
                .push(d.args[0].as_bytes().to_ascii_lowercase().into()),
            "proxy_ignore_headers" => self.ignore_headers(l, d),
            "proxy_redirect" => self.redirect(l, d),
            _ => return false,
        }
        true
    }

    fn pass(&mut self, l: &mut Loader, d: &Directive, loc: &LocKind) {
        if l.is_dup(&self.pass, d) {
            return;
        }
        let a = &d.args[0];
        let v = a.as_bytes();
        let location = if loc.named || loc.regex {
            Vec::new()
        } else {
            loc.name.to_vec()
        };
        if template::has_dollar(v) {
            let Some(url) = template::parse(l, a, d.end) else {
                return;
            };
            l.once(
                &mut self.pass,
                d,
                RawPass::Dynamic {
                    url,
                    text: v.to_vec(),
                    location,
                },
            );
            return;
        }
        let (scheme, add) = if v.len() >= 7 && v[..7].eq_ignore_ascii_case(b"http://") {
            (Scheme::Http, 7)
        } else if v.len() >= 8 && v[..8].eq_ignore_ascii_case(b"https://") {
            (Scheme::Https, 8)
        } else {
            let e = l.arg_error(d, a, "invalid URL prefix");
            l.error(
                e.label("expected http:// or https://")
                    .help("write the URL with its scheme, e.g. proxy_pass http://127.0.0.1:6080;"),
            );
            return;
        };
        let url = match parse_url(&v[add..], scheme.default_port(), false, true) {
            Ok(u) => u,
            Err(e) => {
                let err = l.arg_error(
                    d,
                    a,
                    format!(
                        "{e} in upstream \"{}\"",
                        crate::source::show_bytes(&v[add..])
                    ),
                );
                l.error(err);
                return;
            }
        };
        let Some(upstream) = l_upstreams(l, d, &url) else {
            return;
        };
        let (proxy_host, proxy_port) = if url.unix.is_some() {
            (b"localhost".to_vec(), Vec::new())
        } else {
            let host = if url.no_port || url.port == scheme.default_port() {
                url.host.clone()
            } else {
                let mut h = url.host.clone();
                h.push(b':');
                h.extend_from_slice(&url.port_text);
                h
            };
            let port = if url.no_port {
                scheme.default_port().to_string().into_bytes()
            } else {
                url.port_text.clone()
            };
            (host, port)
        };
        let mut uri_ignored = false;
        if loc.named || loc.regex || loc.in_if {
            if url.uri.is_some() {
                l.error(
                    Diagnostic::error(
                        code::PROXY,
                        "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block",
                        a.span,
                    )
                    .place(Place::At(d.end))
                    .label("this URL has a URI part")
                    .help("remove the URI part (everything from the first \"/\" after the host), or use variables to build the whole URL"),
                );
                return;
            }
            uri_ignored = true;
        }
        l.once(
            &mut self.pass,
            d,
            RawPass::Static {
                scheme,
                upstream,
                uri: url.uri.clone(),
                proxy_host,
                proxy_port,
                url: v.to_vec(),
                location,
                uri_ignored,
            },
        );
    }

    fn next_upstream(&mut self, l: &mut Loader, d: &Directive) {
        const NAMES: &[(&str, NextUpstream)] = &[
            ("error", NextUpstream::ERROR),
            ("timeout", NextUpstream::TIMEOUT),
            ("invalid_header", NextUpstream::INVALID_HEADER),
            ("non_idempotent", NextUpstream::NON_IDEMPOTENT),
            ("http_500", NextUpstream::HTTP_500),
            ("http_502", NextUpstream::HTTP_502),
            ("http_503", NextUpstream::HTTP_503),
            ("http_504", NextUpstream::HTTP_504),
            ("http_403", NextUpstream::HTTP_403),
            ("http_404", NextUpstream::HTTP_404),
            ("http_429", NextUpstream::HTTP_429),
            ("updating", NextUpstream::empty()),
            ("off", NextUpstream::OFF),
        ];
        let mut mask = self
            .next_upstream
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(NextUpstream::empty());
        for a in &d.args {
            match NAMES
                .iter()
                .find(|(n, _)| a.as_bytes().eq_ignore_ascii_case(n.as_bytes()))
            {
                Some((_, m)) => mask |= *m,
                None => {
                    let e = l.arg_error(d, a, format!("invalid value \"{}\"", a.show()));
                    l.error(e.help("error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent or off"));
                    return;
                }
            }
        }
        self.next_upstream = Some(super::Set {
            value: mask,
            span: d.head_span(),
        });
    }

    fn ignore_headers(&mut self, l: &mut Loader, d: &Directive) {
        const NAMES: &[(&str, IgnoreHeaders)] = &[
            ("X-Accel-Redirect", IgnoreHeaders::X_ACCEL_REDIRECT),
            ("X-Accel-Expires", IgnoreHeaders::X_ACCEL_EXPIRES),
            ("X-Accel-Limit-Rate", IgnoreHeaders::X_ACCEL_LIMIT_RATE),
            ("X-Accel-Buffering", IgnoreHeaders::X_ACCEL_BUFFERING),
            ("X-Accel-Charset", IgnoreHeaders::X_ACCEL_CHARSET),
            ("Expires", IgnoreHeaders::EXPIRES),
            ("Cache-Control", IgnoreHeaders::CACHE_CONTROL),
            ("Set-Cookie", IgnoreHeaders::SET_COOKIE),
            ("Vary", IgnoreHeaders::VARY),
        ];
        let mut mask = self
            .ignore_headers
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(IgnoreHeaders::empty());
        for a in &d.args {
            match NAMES
                .iter()
                .find(|(n, _)| a.as_bytes().eq_ignore_ascii_case(n.as_bytes()))
            {
                Some((_, m)) => mask |= *m,
                None => {
                    let e = l.arg_error(d, a, format!("invalid value \"{}\"", a.show()));
                    l.error(e);
                    return;
                }
            }
        }
        self.ignore_headers = Some(super::Set {
            value: mask,
            span: d.head_span(),
        });
    }

    fn redirect(&mut self, l: &mut Loader, d: &Directive) {
        if matches!(self.redirects, Some(RawRedirects::Off)) {
            l.error(crate::config::load::duplicate(
                d,
                "proxy_redirect",
                self.redirect_span.unwrap_or(d.head_span()),
            ));
            return;
        }
        if d.args.len() == 1 {
            let a = &d.args[0];
            if a.is("off") {
                if self.redirects.is_some() {
                    l.error(crate::config::load::duplicate(
                        d,
                        "proxy_redirect",
                        self.redirect_span.unwrap_or(d.head_span()),
                    ));
                    return;
                }
                self.redirects = Some(RawRedirects::Off);
                self.redirect_span = Some(d.head_span());
                return;
            }
            if !a.is("default") {
                let e = l.arg_error(d, a, format!("invalid parameter \"{}\"", a.show()));
                l.error(e.help("\"proxy_redirect default;\", \"proxy_redirect off;\" or \"proxy_redirect from to;\""));
                return;
            }
            match &self.pass {
                Some(p) if matches!(p.value, RawPass::Dynamic { .. }) => {
                    l.error(
                        Diagnostic::error(
                            code::PROXY,
                            "\"proxy_redirect default\" cannot be used with \"proxy_pass\" directive with variables",
                            d.head_span(),
                        )
                        .place(Place::At(d.end))
                        .also(p.span, "proxy_pass with variables")
                        .help("write the rule explicitly: proxy_redirect http://backend/ /;"),
                    );
                    return;
                }
                None => {
                    l.error(
                        Diagnostic::error(
                            code::PROXY,
                            "\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive",
                            d.head_span(),
                        )
                        .place(Place::At(d.end))
                        .help("move this line below proxy_pass in the same location"),
                    );
                    return;
                }
                _ => {}
            }
            self.push_rule(d, RawRedirectRule::Default(d.head_span()));
            return;
        }
        let from = &d.args[0];
        let fv = from.as_bytes();
        let rule_from = if fv.first() == Some(&b'~') {
            let (caseless, pat) = if fv.get(1) == Some(&b'*') {
                (true, &fv[2..])
            } else {
                (false, &fv[1..])
            };
            match l.regex(pat, caseless, from.span, d.end) {
                Ok(re) => RawRedirectFrom::Regex(re),
                Err(e) => {
                    l.error(*e);
                    return;
                }
            }
        } else {
            match template::parse(l, from, d.end) {
                Some(r) => RawRedirectFrom::Prefix(r),
                None => return,
            }
        };
        let Some(to) = template::parse(l, &d.args[1], d.end) else {
            return;
        };
        self.push_rule(d, RawRedirectRule::Rule(rule_from, to));
    }

    fn push_rule(&mut self, d: &Directive, rule: RawRedirectRule) {
        self.redirect_span.get_or_insert(d.head_span());
        match &mut self.redirects {
            Some(RawRedirects::Rules(v)) => v.push(rule),
            _ => self.redirects = Some(RawRedirects::Rules(vec![rule])),
        }
    }

    pub fn inherit_from(&mut self, p: &ProxyBuilder) {
        // proxy_pass itself is not inherited (it is the location's handler).
        if self.set_headers.is_none() {
            self.set_headers.clone_from(&p.set_headers);
        }
        inherit(&mut self.http_version, &p.http_version);
        inherit(&mut self.connect_timeout, &p.connect_timeout);
        inherit(&mut self.send_timeout, &p.send_timeout);
        inherit(&mut self.read_timeout, &p.read_timeout);
        inherit(&mut self.buffering, &p.buffering);
        inherit(&mut self.buffer_size, &p.buffer_size);
        inherit(&mut self.buffers, &p.buffers);
        inherit(&mut self.busy_buffers_size, &p.busy_buffers_size);
        inherit(&mut self.request_buffering, &p.request_buffering);
        inherit(&mut self.pass_request_headers, &p.pass_request_headers);
        inherit(&mut self.pass_request_body, &p.pass_request_body);
        if self.redirects.is_none() {
            self.redirects.clone_from(&p.redirects);
        }
        inherit(&mut self.next_upstream, &p.next_upstream);
        inherit(&mut self.next_upstream_tries, &p.next_upstream_tries);
        inherit(&mut self.next_upstream_timeout, &p.next_upstream_timeout);
        if self.hide_headers.is_none() {
            self.hide_headers.clone_from(&p.hide_headers);
        }
        if self.pass_headers.is_none() {
            self.pass_headers.clone_from(&p.pass_headers);
        }
        inherit(&mut self.ignore_headers, &p.ignore_headers);
        inherit(&mut self.intercept_errors, &p.intercept_errors);
    }

    /// Checks nginx makes for every level when merging (whether or not it proxies), placed
    /// where nginx places them: at the end of the http block.
    pub fn check_buffers(&self, l: &mut Loader, at: Span) {
        let buffer_size = or(&self.buffer_size, 4096);
        let (num, size) = or(&self.buffers, (8, 4096));
        if num < 2 {
            let span = self.buffers.as_ref().map(|s| s.span).unwrap_or(at);
            l.error(
                Diagnostic::error(
                    code::PROXY,
                    "there must be at least 2 \"proxy_buffers\"",
                    span,
                )
                .place(Place::At(at)),
            );
            return;
        }
        let max = buffer_size.max(size);
        let busy = self
            .busy_buffers_size
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(2 * max);
        let span = self
            .busy_buffers_size
            .as_ref()
            .map(|s| s.span)
            .or(self.buffers.as_ref().map(|s| s.span))
            .unwrap_or(at);
        if busy < max {
            l.error(
                Diagnostic::error(
                    code::PROXY,
                    "\"proxy_busy_buffers_size\" must be equal to or greater than the maximum of the value of \"proxy_buffer_size\" and one of the \"proxy_buffers\"",
                    span,
                )
                .place(Place::At(at)),
            );
        } else if busy > (num as u64 - 1) * size {
            l.error(
                Diagnostic::error(
                    code::PROXY,
                    "\"proxy_busy_buffers_size\" must be less than the size of all \"proxy_buffers\" minus one buffer",
                    span,
                )
                .place(Place::At(at))
                .help("give more or bigger proxy_buffers, e.g. proxy_buffers 8 4k;"),
            );
        }
    }

    pub fn finish(
        &self,
        l: &mut Loader,
        scope: &mut Scope,
        shared: &mut Shared,
    ) -> Option<Arc<Proxy>> {
        let pass = self.pass.as_ref()?;
        let (pass_ir, default_rule) = match &pass.value {
            RawPass::Static {
                scheme,
                upstream,
                uri,
                proxy_host,
                proxy_port,
                url,
                location,
                uri_ignored,
            } => {
                let rule = if uri.is_some() {
                    (Template::literal(url), Template::literal(location))
                } else {
                    let mut u = url.clone();
                    u.push(b'/');
                    (Template::literal(&u), Template::literal(b"/"))
                };
                (
                    ProxyPass {
                        scheme: *scheme,
                        target: ProxyTarget::Static {
                            upstream: shared.upstreams.id(*upstream),
                            uri: uri.clone().map(Into::into),
                            proxy_host: proxy_host.clone().into(),
                            proxy_port: proxy_port.clone().into(),
                        },
                        url: url.clone().into(),
                        location_name: location.clone().into(),
                        uri_ignored: *uri_ignored,
                    },
                    Some(rule),
                )
            }
            RawPass::Dynamic {
                url,
                text,
                location,
            } => {
                let scheme = if text.len() >= 8 && text[..8].eq_ignore_ascii_case(b"https://") {
                    Scheme::Https
                } else {
                    Scheme::Http
                };
                (
                    ProxyPass {
                        scheme,
                        target: ProxyTarget::Dynamic {
                            url: scope.resolve(l, url),
                        },
                        url: text.clone().into(),
                        location_name: location.clone().into(),
                        uri_ignored: false,
                    },
                    None,
                )
            }
        };
        let redirects: Vec<RedirectRule> = match &self.redirects {
            Some(RawRedirects::Off) => Vec::new(),
            None => default_rule
                .map(|(from, to)| {
                    vec![RedirectRule {
                        from: RedirectFrom::Prefix(from),
                        to,
                    }]
                })
                .unwrap_or_default(),
            Some(RawRedirects::Rules(rules)) => rules
                .iter()
                .filter_map(|r| match r {
                    RawRedirectRule::Default(_) => {
                        default_rule.clone().map(|(from, to)| RedirectRule {
                            from: RedirectFrom::Prefix(from),
                            to,
                        })
                    }
                    RawRedirectRule::Rule(from, to) => Some(RedirectRule {
                        from: match from {
                            RawRedirectFrom::Prefix(r) => RedirectFrom::Prefix(scope.resolve(l, r)),
                            RawRedirectFrom::Regex(re) => RedirectFrom::Regex(re.clone()),
                        },
                        to: scope.resolve(l, to),
                    }),
                })
                .collect(),
        };
        let mut next_upstream = or(
            &self.next_upstream,
            NextUpstream::ERROR | NextUpstream::TIMEOUT,
        );
        if next_upstream.contains(NextUpstream::OFF) {
            next_upstream = NextUpstream::OFF;
        }
        let hide = if self.hide_headers.is_none() && self.pass_headers.is_none() {
            shared.default_hide_headers()
        } else {
            let mut hide: HashSet<Box<[u8]>> = DEFAULT_HIDE
                .iter()
                .map(|h| Box::<[u8]>::from(h.as_bytes()))
                .collect();
            for h in self.hide_headers.iter().flatten() {
                hide.insert(h.clone());
            }
            for h in self.pass_headers.iter().flatten() {
                hide.remove(h);
            }
            Arc::new(hide)
        };
        Some(Arc::new(Proxy {
            pass: pass_ir,
            http_version: or(&self.http_version, HttpVersion::Http10),
            headers: Arc::new(self.headers(l, scope)),
            pass_request_headers: or(&self.pass_request_headers, true),
            pass_request_body: or(&self.pass_request_body, true),
            connect_timeout: or(&self.connect_timeout, Duration::from_secs(60)),
            send_timeout: or(&self.send_timeout, Duration::from_secs(60)),
            read_timeout: or(&self.read_timeout, Duration::from_secs(60)),
            buffering: or(&self.buffering, true),
            buffer_size: or(&self.buffer_size, 4096) as usize,
            buffers: {
                let (n, s) = or(&self.buffers, (8, 4096));
                (n, s as usize)
            },
            request_buffering: or(&self.request_buffering, true),
            redirects: redirects.into(),
            next_upstream,
            next_upstream_tries: or(&self.next_upstream_tries, 0),
            next_upstream_timeout: or(&self.next_upstream_timeout, Duration::ZERO),
            hide_headers: hide,
            ignore_headers: or(&self.ignore_headers, IgnoreHeaders::empty()),
            intercept_errors: or(&self.intercept_errors, false),
        }))
    }

    /// nginx's header list: the effective `proxy_set_header`s, then the built-ins they do not
    /// override (S6.1, S6.2).
    fn headers(&self, l: &mut Loader, scope: &mut Scope) -> ProxyHeaders {
        let mut set = Vec::new();
        let mut replaced: Vec<Cow<'static, [u8]>> = Vec::with_capacity(12);
        let mut replace = |name: Cow<'static, [u8]>| {
            if !replaced.contains(&name) {
                replaced.push(name);
            }
        };
        let user: &[SetHeader] = self.set_headers.as_deref().unwrap_or(&[]);
        for (name, raw, _) in user {
            replace(Cow::Owned(name.to_ascii_lowercase()));
            if raw.parts.is_empty() {
                continue;
            }
            set.push(ProxyHeader {
                name: Cow::Owned(name.to_vec()),
                value: HeaderValue::Template(scope.resolve(l, raw)),
            });
        }
        // nginx's built-ins (ngx_http_proxy_headers), with their lowercased names.
        let builtins: [(&'static [u8], &'static [u8], Option<HeaderValue>); 8] = [
            (b"Host", b"host", Some(HeaderValue::ProxyHost)),
            (
                b"Connection",
                b"connection",
                Some(HeaderValue::Static(b"close")),
            ),
            (
                b"Content-Length",
                b"content-length",
                Some(HeaderValue::BodyLength),
            ),
            (
                b"Transfer-Encoding",
                b"transfer-encoding",
                Some(HeaderValue::Chunked),
            ),
            (b"TE", b"te", None),
            (b"Keep-Alive", b"keep-alive", None),
            (b"Expect", b"expect", None),
            (b"Upgrade", b"upgrade", None),
        ];
        for (name, lower, value) in builtins {
            if user.iter().any(|(n, _, _)| n.eq_ignore_ascii_case(name)) {
                continue;
            }
            replace(Cow::Borrowed(lower));
            if let Some(value) = value {
                set.push(ProxyHeader {
                    name: Cow::Borrowed(name),
                    value,
                });
            }
        }
        ProxyHeaders { set, replaced }
    }
}

impl Shared {
    pub fn default_hide_headers(&mut self) -> Arc<HashSet<Box<[u8]>>> {
        self.default_hide
            .get_or_insert_with(|| {
                Arc::new(
                    DEFAULT_HIDE
                        .iter()
                        .map(|h| Box::<[u8]>::from(h.as_bytes()))
                        .collect(),
                )
            })
            .clone()
    }
}

/// The upstream response headers nginx never passes (S13.3), lowercased.
pub const DEFAULT_HIDE: &[&str] = &[
    "date",
    "server",
    "x-pad",
    "x-accel-expires",
    "x-accel-redirect",
    "x-accel-limit-rate",
    "x-accel-buffering",
    "x-accel-charset",
];

fn l_upstreams(l: &mut Loader, d: &Directive, url: &super::upstream::Url) -> Option<usize> {
    // The upstream registry lives with the http block; it is reached through the loader's
    // current http state.
    let ups = l.upstreams.as_mut()?;
    let mut taken = std::mem::take(ups);
    let r = taken.add_implicit(l, url, d);
    if let Some(ups) = l.upstreams.as_mut() {
        *ups = taken;
    }
    r
}
