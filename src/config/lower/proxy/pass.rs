//! `proxy_pass`: the URL (static, or a template with variables), the implicit upstream a
//! static one adds, and what it means for the request URI and for `proxy_redirect default`.
//!
//! nginx's `ngx_http_proxy_pass` and the pass half of its merge; the other `proxy_*`
//! directives are the rest of this module's.

use super::ProxyBuilder;
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::lower::shared::{LocKind, Shared};
use crate::config::lower::upstream::Upstreams;
use crate::config::template::{self, Raw, Scope};
use crate::ir::proxy::{Dest, FixedHost, ProxyPass, ProxyTarget, Scheme};
use crate::ir::url;
use crate::ir::{Part, Template};
use crate::syntax::Directive;

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

impl ProxyBuilder {
    pub(super) fn pass(&mut self, l: &mut Loader, d: &Directive, loc: &LocKind) {
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
        let url = match url::parse_url(&v[add..], scheme.default_port(), false, true) {
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
        let (proxy_host, proxy_port) = url.proxy_vars(scheme.default_port());
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
}

impl RawPass {
    /// The pass as the IR has it, and the rule `proxy_redirect default` stands for (none for a
    /// URL with variables, where nginx refuses `default`).
    pub(super) fn finish(
        &self,
        l: &mut Loader,
        scope: &mut Scope,
        shared: &mut Shared,
    ) -> (ProxyPass, Option<(Template, Template)>) {
        match self {
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
                let url = scope.resolve(l, url);
                let host = fixed_host(&url, &shared.upstreams);
                (
                    ProxyPass {
                        scheme,
                        target: ProxyTarget::Dynamic { url, host },
                        url: text.clone().into(),
                        location_name: location.clone().into(),
                        uri_ignored: false,
                    },
                    None,
                )
            }
        }
    }
}

/// The host of a `proxy_pass` URL with variables, when its scheme and host are literal: the
/// search nginx makes per request (`ngx_http_upstream_init_request`) made once here, over the
/// same complete list of upstreams. A host that does not parse is left to the request, where
/// nginx reports it (500 and its error line).
fn fixed_host(url: &Template, upstreams: &Upstreams) -> Option<Box<FixedHost>> {
    let Some(Part::Literal(first)) = url.parts.first() else {
        return None;
    };
    let (add, https) = url::scheme_len(first)?;
    let (scheme, default_port) = if https {
        (Scheme::Https, 443)
    } else {
        (Scheme::Http, 80)
    };
    let rest = &first[add..];
    let (host_end, uri_begin) = url::uri_start(rest)?;
    let parsed = url::parse_url(&rest[..host_end], default_port, false, true).ok()?;
    let dest = match (upstreams.find(&parsed), parsed.literal_addr()) {
        (Some(id), _) => Dest::Group(id),
        (None, Some(addr)) => Dest::Addr(addr),
        (None, None) => Dest::Unresolved(parsed.host.clone().into()),
    };
    let (proxy_host, proxy_port) = parsed.proxy_vars(default_port);
    let mut parts = Vec::with_capacity(url.parts.len());
    let tail = first.slice(add + uri_begin..);
    if !tail.is_empty() {
        parts.push(Part::Literal(tail));
    }
    parts.extend(url.parts[1..].iter().cloned());
    Some(Box::new(FixedHost {
        scheme,
        dest,
        proxy_host: proxy_host.into(),
        proxy_port: proxy_port.into(),
        uri: Template {
            parts: parts.into(),
        },
    }))
}

fn l_upstreams(l: &mut Loader, d: &Directive, url: &url::Url) -> Option<usize> {
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
