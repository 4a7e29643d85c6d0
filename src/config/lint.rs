//! Lints: configurations nginx accepts that probably do not do what was meant.
//!
//! Each lint has a stable code, says why it matters and how to fix it. They run while the
//! http block is lowered, on the builders, because they need the spans of the settings and
//! the merged values side by side: [`inheritance`] before a level inherits (to see what it
//! drops), [`server`] after every level is merged.

use super::diagnostic::{code, Diagnostic};
use super::load::Loader;
use super::lower::loc::LocBuilder;
use super::lower::location::{Kind, LocationBuilder};
use super::lower::proxy::RawPass;
use super::lower::server::ServerBuilder;
use super::lower::upstream::Upstreams;
use super::lower::Set;
use super::template::{Raw, RawPart};
use crate::ir::proxy::HttpVersion;
use crate::source::Span;

/// A level that sets its own `proxy_set_header` / `add_header` list inherits none of its
/// parent's (S6.4): name what it silently drops.
pub fn inheritance(l: &mut Loader, child: &LocBuilder, parent: &LocBuilder, level: &str) {
    let psh = |b: &LocBuilder| {
        b.proxy().set_headers.as_ref().map(|v| {
            v.iter()
                .map(|(n, _, s)| (n.clone(), *s))
                .collect::<Vec<_>>()
        })
    };
    let ah = |b: &LocBuilder| {
        b.add_headers.as_ref().map(|v| {
            v.iter()
                .map(|h| (h.name.clone(), h.span))
                .collect::<Vec<_>>()
        })
    };
    for (what, c, p) in [
        ("proxy_set_header", psh(child), psh(parent)),
        ("add_header", ah(child), ah(parent)),
    ] {
        let (Some(c), Some(p)) = (c, p) else { continue };
        let dropped: Vec<&(Box<[u8]>, Span)> = p
            .iter()
            .filter(|(pn, _)| !c.iter().any(|(cn, _)| cn.eq_ignore_ascii_case(pn)))
            .collect();
        if dropped.is_empty() {
            continue;
        }
        let names: Vec<String> = dropped
            .iter()
            .map(|(n, _)| crate::source::show_bytes(n))
            .collect();
        let mut d = Diagnostic::lint(
            code::LINT_INHERIT_DROP,
            format!(
                "this {level}'s \"{what}\" drops the inherited {}: {}",
                if names.len() == 1 { "header" } else { "headers" },
                names.join(", ")
            ),
            c[0].1,
        )
        .label(format!("this {level} defines its own {what} list"))
        .why(format!(
            "nginx inherits {what} all or nothing: a level with any {what} of its own gets none of the enclosing level's"
        ))
        .help(format!("repeat the dropped {what} lines here (or move them all to one level)"));
        for (_, span) in dropped.iter().take(4) {
            d = d.also(*span, "inherited from here, but dropped");
        }
        l.error(d);
    }
}

/// The lints of one server, on its merged locations.
pub fn server(l: &mut Loader, s: &ServerBuilder, upstreams: &Upstreams) {
    let mut all: Vec<&LocationBuilder> = Vec::new();
    collect(&s.locations, &mut all);
    for loc in &all {
        location(l, loc, upstreams);
        websockify(l, s, loc, upstreams);
    }
    unreachable(l, &s.locations);
    novnc(l, s, &all);
}

/// `websockify_pass`: the idle timer, and VNC over a plain WebSocket to a remote desktop.
fn websockify(l: &mut Loader, s: &ServerBuilder, b: &LocationBuilder, upstreams: &Upstreams) {
    use super::lower::websockify::RawTarget;
    let w = b.loc.websockify();
    let Some(pass) = &w.pass else { return };
    let timeout = w
        .read_timeout
        .as_ref()
        .map_or(std::time::Duration::from_secs(60), |s| s.value);
    if timeout.as_secs() <= 60 {
        let mut d = Diagnostic::lint(
            code::LINT_WEBSOCKIFY_READ_TIMEOUT,
            format!(
                "websockify_pass in location \"{}\" closes idle sessions after {}s",
                crate::source::show_bytes(&b.name),
                timeout.as_secs()
            ),
            pass.span,
        )
        .label("bridges here")
        .why("websockify_read_timeout (60 s unless set) is the idle timer of a bridge, traffic in either direction resetting it: a noVNC session left alone is cut, as with proxy_read_timeout")
        .help("set \"websockify_read_timeout 1h;\" (the noVNC images use 5d) in this location");
        if let Some(t) = &w.read_timeout {
            d = d.also(t.span, "the timeout is set here");
        }
        l.error(d);
    }
    let RawTarget::Static(i) = &pass.value.0 else {
        return;
    };
    let remote = upstreams
        .entry(*i)
        .address()
        .and_then(|u| u.ip)
        .is_some_and(|ip| !ip.is_loopback());
    if let (true, Some(plain)) = (remote, s.listens.iter().find(|x| !x.ssl)) {
        l.error(
            Diagnostic::lint(
                code::LINT_WEBSOCKIFY_CLEAR,
                "websockify_pass bridges to a remote desktop from a listener without TLS",
                pass.span,
            )
            .label("a VNC server on another host")
            .also(plain.span, "this listener is plain HTTP")
            .why("VNC's own password exchange is weak (DES) and its traffic unencrypted: over a plain WebSocket anyone on the path sees the desktop and can replay the login")
            .help("serve this location on a \"listen ... ssl\" address (with ssl_certificate), or redirect plain HTTP to it"),
        );
    }
}

fn collect<'a>(level: &'a [LocationBuilder], out: &mut Vec<&'a LocationBuilder>) {
    for b in level {
        out.push(b);
        collect(&b.children, out);
    }
}

fn header<'a>(b: &'a LocBuilder, name: &str) -> Option<&'a (Box<[u8]>, Raw, Span)> {
    b.proxy()
        .set_headers
        .as_ref()?
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name.as_bytes()))
}

fn uses_var(raw: &Raw, var: &str) -> bool {
    raw.parts
        .iter()
        .any(|p| matches!(p, RawPart::Var(n, _) if **n == *var.as_bytes()))
}

/// Whether the location forwards the client's Upgrade header (a WebSocket route).
fn forwards_upgrade(b: &LocBuilder) -> Option<Span> {
    let (_, raw, span) = header(b, "upgrade")?;
    let literal_ws = raw
        .literal_bytes()
        .is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"));
    (uses_var(raw, "http_upgrade") || literal_ws).then_some(*span)
}

fn location(l: &mut Loader, b: &LocationBuilder, upstreams: &Upstreams) {
    let loc = &b.loc;
    let proxy = loc.proxy();
    if let Some(pass) = &proxy.pass {
        if let Some(up) = forwards_upgrade(loc) {
            let timeout = proxy
                .read_timeout
                .as_ref()
                .map(|s| s.value)
                .unwrap_or(std::time::Duration::from_secs(60));
            if timeout.as_secs() <= 60 {
                let mut d = Diagnostic::lint(
                    code::LINT_WS_READ_TIMEOUT,
                    format!(
                        "WebSocket location \"{}\" closes idle tunnels after {}s",
                        crate::source::show_bytes(&b.name),
                        timeout.as_secs()
                    ),
                    up,
                )
                .label("Upgrade is forwarded here")
                .why("proxy_read_timeout is the idle timer of a WebSocket tunnel (traffic in either direction resets it); at 60 s or less an idle noVNC session is cut")
                .help("set \"proxy_read_timeout 3600s;\" in this location (or longer than the longest idle period)");
                if let Some(Set { span, .. }) = &proxy.read_timeout {
                    d = d.also(*span, "the timeout is set here");
                }
                l.error(d);
            }
            if header(loc, "connection").is_none() {
                l.error(
                    Diagnostic::lint(
                        code::LINT_UPGRADE_CONNECTION,
                        "Upgrade is forwarded without a Connection header",
                        up,
                    )
                    .label("Upgrade is forwarded here")
                    .why("nginx sends \"Connection: close\" upstream unless told otherwise, so the upstream sees no upgrade request and the WebSocket handshake fails")
                    .help("add \"proxy_set_header Connection $connection_upgrade;\" (with map $http_upgrade $connection_upgrade { default upgrade; '' close; }) or \"proxy_set_header Connection \\\"upgrade\\\";\""),
                );
            }
            if proxy.http_version.as_ref().map(|s| s.value) != Some(HttpVersion::Http11) {
                let mut d = Diagnostic::lint(
                    code::LINT_UPGRADE_HTTP10,
                    "Upgrade is forwarded over HTTP/1.0",
                    up,
                )
                .label("Upgrade is forwarded here")
                .why("nginx speaks HTTP/1.0 to upstreams by default; WebSocket upgrades are defined for HTTP/1.1 and most servers (websockify included) refuse them otherwise")
                .help("add \"proxy_http_version 1.1;\" to this location");
                if let Some(s) = &proxy.http_version {
                    d = d.also(s.span, "the version is set here");
                }
                l.error(d);
            }
        }
        match &pass.value {
            RawPass::Static { upstream, .. } => {
                let entry = upstreams.entry(*upstream);
                if entry.explicit {
                    if let Some(ka) = entry.keepalive_span() {
                        let http11 = proxy.http_version.as_ref().map(|s| s.value)
                            == Some(HttpVersion::Http11);
                        let cleared = header(loc, "connection")
                            .is_some_and(|(_, raw, _)| raw.parts.is_empty());
                        if !http11 || !cleared {
                            let missing = match (http11, cleared) {
                                (false, false) => "\"proxy_http_version 1.1;\" and \"proxy_set_header Connection \\\"\\\";\"",
                                (false, true) => "\"proxy_http_version 1.1;\"",
                                _ => "\"proxy_set_header Connection \\\"\\\";\"",
                            };
                            l.error(
                                Diagnostic::lint(
                                    code::LINT_UPSTREAM_KEEPALIVE,
                                    format!(
                                        "upstream \"{}\" keeps connections alive, but this location never reuses them",
                                        crate::source::show_bytes(&entry.host)
                                    ),
                                    pass.span,
                                )
                                .label("proxies here")
                                .also(ka, "keepalive is set here")
                                .why("nginx reuses an upstream connection only for HTTP/1.1 requests whose Connection header is not \"close\" (S5.8)")
                                .help(format!("add {missing} to this location")),
                            );
                        }
                    }
                }
            }
            RawPass::Dynamic { url, .. } => {
                if let Some((_, span)) = url.var_names().find(|(n, _)| *n == b"http_host") {
                    l.error(
                        Diagnostic::lint(
                            code::LINT_HTTP_HOST,
                            "proxy_pass uses $http_host",
                            span,
                        )
                        .label("the client's raw Host header")
                        .why("$http_host is whatever the client sent (absent, with a port, in any case, or a host you did not intend); $host is the normalised host name")
                        .help("use $host, or better a fixed upstream name"),
                    );
                }
            }
        }
    }
    // `alias` and the location disagree on the trailing slash.
    if let (Some(root), Kind::Prefix | Kind::NoRegex) = (&loc.root, &b.kind) {
        if root.value.0 {
            let alias = l.sources.slice(root.span).to_vec();
            let alias_slash = alias.ends_with(b"/")
                || alias.ends_with(b"/;")
                || alias.ends_with(b"/\"")
                || alias.ends_with(b"/'");
            let loc_slash = b.name.ends_with(b"/");
            if !loc_slash && alias_slash {
                l.error(
                    Diagnostic::lint(
                        code::LINT_ALIAS_SLASH,
                        format!(
                            "location \"{}\" has no trailing slash but its alias has one: requests like \"{}../x\" escape the aliased directory",
                            crate::source::show_bytes(&b.name),
                            crate::source::show_bytes(&b.name)
                        ),
                        root.span,
                    )
                    .label("alias ends with \"/\"")
                    .also(b.span, "the location does not")
                    .why("alias replaces the location's prefix, so the rest of the URI, \"..\" included, is appended to the alias path")
                    .help(format!("end the location with a slash too: location {}/", crate::source::show_bytes(&b.name))),
                );
            } else if loc_slash && !alias_slash {
                l.error(
                    Diagnostic::lint(
                        code::LINT_ALIAS_SLASH,
                        format!(
                            "location \"{}\" ends with a slash but its alias does not: \"{}x\" maps to the alias path + \"x\" without a separator",
                            crate::source::show_bytes(&b.name),
                            crate::source::show_bytes(&b.name)
                        ),
                        root.span,
                    )
                    .label("alias does not end with \"/\"")
                    .also(b.span, "the location does")
                    .why("alias replaces the location's prefix with the path as written")
                    .help("end the alias path with \"/\" too"),
                );
            }
        }
    }
}

/// Locations that no request can reach.
fn unreachable(l: &mut Loader, level: &[LocationBuilder]) {
    let mut seen: Vec<(&str, bool, Span)> = Vec::new();
    for b in level {
        match &b.kind {
            Kind::Exact | Kind::Prefix | Kind::NoRegex
                if !b.name.starts_with(b"/") && !b.name.is_empty() =>
            {
                l.error(
                    Diagnostic::lint(
                        code::LINT_UNREACHABLE,
                        format!("location \"{}\" can never match", crate::source::show_bytes(&b.name)),
                        b.span,
                    )
                    .why("locations are matched against the normalised URI, which always starts with \"/\"")
                    .help(format!("write it as \"/{}\"", crate::source::show_bytes(&b.name))),
                );
            }
            Kind::Regex(re) => {
                if let Some((_, _, first)) = seen
                    .iter()
                    .find(|(p, c, _)| **p == *re.pattern && *c == re.caseless)
                {
                    l.error(
                        Diagnostic::lint(
                            code::LINT_UNREACHABLE,
                            format!(
                                "location \"~{} {}\" can never match",
                                if re.caseless { "*" } else { "" },
                                re.pattern
                            ),
                            b.span,
                        )
                        .also(*first, "the same regex comes first and always wins")
                        .why("regex locations are tried in order and the first match wins")
                        .help("remove the second location or merge the two"),
                    );
                } else {
                    seen.push((&re.pattern, re.caseless, b.span));
                }
                let p = re.pattern.as_bytes();
                if p.len() > 1 && p[0] == b'^' && p[1].is_ascii_alphanumeric() {
                    l.error(
                        Diagnostic::lint(
                            code::LINT_UNREACHABLE,
                            format!("location \"~ {}\" can never match", re.pattern),
                            b.span,
                        )
                        .why("the URI always starts with \"/\", so a regex anchored at \"^\" must start with \"/\"")
                        .help(format!("write it as \"^/{}\"", &re.pattern[1..])),
                    );
                }
            }
            _ => {}
        }
        unreachable(l, &b.children);
    }
}

/// noVNC served under a prefix opens its WebSocket at `/websockify` (its default path, from
/// the site's root): that URI must reach a location that forwards Upgrade.
fn novnc(l: &mut Loader, s: &ServerBuilder, all: &[&LocationBuilder]) {
    let page = all.iter().find(|b| {
        if forwards_upgrade(&b.loc).is_some()
            && b.name
                .windows(10)
                .any(|w| w.eq_ignore_ascii_case(b"websockify"))
        {
            return false;
        }
        let root_novnc = b
            .loc
            .root
            .as_ref()
            .is_some_and(|r| contains_ci(l.sources.slice(r.span), b"novnc"));
        root_novnc || (contains_ci(&b.name, b"vnc") && b.loc.proxy().pass.is_some())
    });
    let Some(page) = page else { return };
    let target = route(&s.locations, b"/websockify");
    let ok = target.is_some_and(|t| {
        (t.loc.proxy().pass.is_some() && forwards_upgrade(&t.loc).is_some())
            || t.loc.websockify().pass.is_some()
    });
    if ok {
        return;
    }
    let why = match target {
        Some(t) => format!(
            "/websockify is handled by location \"{}\", which does not proxy a WebSocket",
            crate::source::show_bytes(&t.name)
        ),
        None => "no location handles /websockify".to_string(),
    };
    l.error(
        Diagnostic::lint(
            code::LINT_NOVNC_WEBSOCKET,
            format!(
                "noVNC served under \"{}\" has no WebSocket route at /websockify",
                crate::source::show_bytes(&page.name)
            ),
            page.span,
        )
        .label("noVNC's page is served here")
        .why(format!(
            "noVNC opens its WebSocket at /websockify on the same host unless its \"path\" setting says otherwise; {why}"
        ))
        .help("add: location /websockify { proxy_pass http://<websockify>; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; proxy_read_timeout 3600s; }"),
    );
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Which location a URI reaches, by nginx's rules (S3.2), on the builders.
fn route<'a>(level: &'a [LocationBuilder], uri: &[u8]) -> Option<&'a LocationBuilder> {
    if let Some(b) = level
        .iter()
        .find(|b| matches!(b.kind, Kind::Exact) && *b.name == *uri)
    {
        return Some(b);
    }
    let prefix = level
        .iter()
        .filter(|b| matches!(b.kind, Kind::Prefix | Kind::NoRegex) && uri.starts_with(&b.name))
        .max_by_key(|b| b.name.len());
    if let Some(p) = prefix {
        if let Some(inner) = route(&p.children, uri) {
            return Some(inner);
        }
        if matches!(p.kind, Kind::NoRegex) {
            return Some(p);
        }
    }
    for b in level {
        if let Kind::Regex(re) = &b.kind {
            if re.re.is_match(uri) {
                return route(&b.children, uri).or(Some(b));
            }
        }
    }
    prefix
}
