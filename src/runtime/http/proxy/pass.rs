//! Where `proxy_pass` sends a request (S4.2–S4.4): the upstream group, `$proxy_host` and
//! `$proxy_port`, and the request-target (`ngx_http_proxy_create_request`'s URI rules).
//!
//! A `proxy_pass` without variables names its group at load time, and so does one whose
//! variables are all in its URI part (the loader made the host's search). One with variables
//! in its scheme or host is evaluated here, parsed as the loader parses a URL, and its host
//! found as `ngx_http_upstream_init_request` finds it: a configured upstream of that name
//! (and port), else an address literal or `unix:` path, which becomes a group of its own with
//! that one peer (nginx's implicit round-robin peer), else nothing (rginx has no resolver).

use bytes::Bytes;

use crate::ir::proxy::{Dest, Proxy, ProxyTarget, Scheme};
use crate::ir::upstream::{PeerAddr, Upstream};
use crate::ir::url::{self, Url};
use crate::ir::{Level, UpstreamId};
use crate::runtime::base::http1::request::escape_uri;
use crate::runtime::state::log;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;

/// Where the request goes.
pub enum Target {
    /// A configured group (an `upstream {}` block or an implicit one).
    Group(UpstreamId),
    /// The one address an evaluated URL named.
    Addr(PeerAddr),
}

/// The resolved `proxy_pass` of this request.
pub struct Pass {
    pub target: Target,
    /// The request-target sent upstream.
    pub uri: Vec<u8>,
    /// `http://` or `https://`, for logs.
    pub schema: &'static [u8],
    /// The scheme the upstream is spoken to with (an evaluated URL names its own).
    pub scheme: Scheme,
}

fn schema_of(scheme: Scheme) -> &'static [u8] {
    match scheme {
        Scheme::Http => b"http://",
        Scheme::Https => b"https://",
    }
}

/// S4.2–S4.4: the upstream and the request-target; sets `$proxy_host` and `$proxy_port`.
pub fn resolve(r: &mut Request, proxy: &Proxy) -> Result<Pass, Next> {
    let p = &proxy.pass;
    match &p.target {
        ProxyTarget::Static {
            upstream,
            uri,
            proxy_host,
            proxy_port,
        } => {
            r.upstream.proxy_host = Bytes::copy_from_slice(proxy_host);
            r.upstream.proxy_port = Bytes::copy_from_slice(proxy_port);
            let uri_part = if p.uri_ignored { None } else { uri.as_deref() };
            let loc_len = if uri_part.is_some() {
                p.location_name.len()
            } else {
                0
            };
            Ok(Pass {
                target: Target::Group(*upstream),
                uri: target_uri(r, uri_part, loc_len),
                schema: schema_of(p.scheme),
                scheme: p.scheme,
            })
        }
        ProxyTarget::Dynamic {
            host: Some(fixed), ..
        } => {
            // The host was found at load time; only the URI part is evaluated.
            r.upstream.proxy_host = Bytes::copy_from_slice(&fixed.proxy_host);
            r.upstream.proxy_port = Bytes::copy_from_slice(&fixed.proxy_port);
            let uri = r.eval_vec(&fixed.uri);
            let target = match &fixed.dest {
                Dest::Group(id) => Target::Group(*id),
                Dest::Addr(addr) => Target::Addr(addr.clone()),
                Dest::Unresolved(host) => return Err(no_resolver(r, host)),
            };
            Ok(Pass {
                target,
                uri: evaluated_uri(r, uri),
                schema: schema_of(fixed.scheme),
                scheme: fixed.scheme,
            })
        }
        ProxyTarget::Dynamic { url, host: None } => {
            let url = r.eval_vec(url);
            dynamic(r, &url)
        }
    }
}

/// A `proxy_pass` with variables in its scheme or host, evaluated to `url`
/// (`ngx_http_proxy_eval`, then `ngx_http_upstream_init_request`'s search; S4.3).
fn dynamic(r: &mut Request, url: &[u8]) -> Result<Pass, Next> {
    let Some((add, https)) = url::scheme_len(url) else {
        log::error(
            r,
            Level::Error,
            format_args!("invalid URL prefix in \"{}\"", String::from_utf8_lossy(url)),
        );
        return Err(Next::Status(500));
    };
    let (scheme, default_port) = if https {
        (Scheme::Https, 443)
    } else {
        (Scheme::Http, 80)
    };
    let parsed = match url::parse_url(&url[add..], default_port, false, true) {
        Ok(u) => u,
        Err(e) => {
            log::error(
                r,
                Level::Error,
                format_args!(
                    "{e} in upstream \"{}\"",
                    String::from_utf8_lossy(&url[add..])
                ),
            );
            return Err(Next::Status(500));
        }
    };
    let (proxy_host, proxy_port) = parsed.proxy_vars(default_port);
    r.upstream.proxy_host = proxy_host.into();
    r.upstream.proxy_port = proxy_port.into();
    let uri = evaluated_uri(r, parsed.uri.clone().unwrap_or_default());
    let target = match find_upstream(r, &parsed) {
        Some(id) => Target::Group(id),
        None => match parsed.literal_addr() {
            Some(addr) => Target::Addr(addr),
            None => return Err(no_resolver(r, &parsed.host)),
        },
    };
    Ok(Pass {
        target,
        uri,
        schema: schema_of(scheme),
        scheme,
    })
}

/// An evaluated URL's URI part is the whole request-target (a `?` first gets a `/` before
/// it); without one, the request's own target goes, as for a URL without a URI part.
fn evaluated_uri(r: &Request, mut uri: Vec<u8>) -> Vec<u8> {
    match uri.first() {
        None => target_uri(r, None, 0),
        Some(b'?') => {
            uri.insert(0, b'/');
            uri
        }
        Some(_) => uri,
    }
}

fn no_resolver(r: &Request, host: &[u8]) -> Next {
    log::error(
        r,
        Level::Error,
        format_args!(
            "no resolver defined to resolve {}",
            String::from_utf8_lossy(host)
        ),
    );
    Next::Status(502)
}

/// `ngx_http_upstream_init_request`'s search (see [`crate::ir::upstream::find`]).
pub fn find_upstream(r: &Request, url: &Url) -> Option<UpstreamId> {
    let http = r.snap.http();
    crate::ir::upstream::find(&http.upstream_names, &http.upstreams, url)
}

/// The group of one address an evaluated URL named (see [`Upstream::one_peer`]).
pub fn one_peer_group(addr: &PeerAddr) -> Upstream {
    Upstream::one_peer(addr)
}

/// S4.2: the request-target sent upstream (`ngx_http_proxy_create_request`).
pub fn target_uri(r: &Request, uri_part: Option<&[u8]>, loc_len: usize) -> Vec<u8> {
    if uri_part.is_none() && !r.uri_changed && r.head.valid_unparsed_uri {
        return r.request_uri().to_vec();
    }
    // After `rewrite ... break` the URI part is not used: `$uri` goes whole.
    let uri_part = uri_part.filter(|_| r.valid_location);
    let loc_len = if uri_part.is_some() {
        loc_len.min(r.uri.len())
    } else {
        0
    };
    let tail = &r.uri[loc_len..];
    let mut out =
        Vec::with_capacity(uri_part.map_or(0, |u| u.len()) + tail.len() + 1 + r.args().len());
    if let Some(u) = uri_part {
        out.extend_from_slice(u);
    }
    if r.head.quoted_uri || r.internal {
        escape_uri(tail, &mut out);
    } else {
        out.extend_from_slice(tail);
    }
    if !r.args().is_empty() {
        out.push(b'?');
        out.extend_from_slice(r.args());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::http::route::{find_location, Found};
    use crate::runtime::testing::env;

    /// The request-target sent upstream for a request to one location (S4.2, S4.3).
    fn target(location: &str, raw_target: &str) -> String {
        let e = env(&format!(
            "upstream vnc_proxy {{ server 127.0.0.1:1; }}\nserver {{ listen 127.0.0.1:8080; {location} }}"
        ));
        let mut r = e.request(&format!("GET {raw_target} HTTP/1.1\r\nHost: x\r\n\r\n"));
        let (found, caps) = find_location(r.server(), &r.uri);
        r.captures = caps;
        let Found::Location(id) = found else {
            panic!("{location}: {raw_target}: {found:?}")
        };
        r.conf = r.server().locations[id.0 as usize].conf.clone();
        let proxy = r.conf.proxy.clone().expect("proxy_pass");
        match resolve(&mut r, &proxy) {
            Ok(p) => String::from_utf8_lossy(&p.uri).into_owned(),
            Err(n) => panic!("{n:?}"),
        }
    }

    /// S4.2's table.
    #[test]
    fn request_targets_follow_s4_2() {
        let up = "http://127.0.0.1:1";
        let table: &[(String, &str, &str)] = &[
            (
                format!("location /nouri/ {{ proxy_pass {up}; }}"),
                "/nouri/a%20b//c/../d?x=%41&y",
                "/nouri/a%20b//c/../d?x=%41&y",
            ),
            (
                format!("location /slash/ {{ proxy_pass {up}/; }}"),
                "/slash/a%20b?q=1",
                "/a%20b?q=1",
            ),
            (
                format!("location /slash/ {{ proxy_pass {up}/; }}"),
                "/slash/a/../b",
                "/b",
            ),
            (
                format!("location /slash/ {{ proxy_pass {up}/; }}"),
                "/slash//x",
                "/x",
            ),
            (
                format!("location /slash/ {{ proxy_pass {up}/; }}"),
                "/slash/%7E%41",
                "/~A",
            ),
            (
                format!("location /slash/ {{ proxy_pass {up}/; }}"),
                "/slash/%2F%3F?x",
                "/%3F?x",
            ),
            (
                format!("location /noslash {{ proxy_pass {up}/; }}"),
                "/noslash",
                "/",
            ),
            (
                format!("location /noslash {{ proxy_pass {up}/; }}"),
                "/noslashfoo",
                "/foo",
            ),
            (
                format!("location /noslash {{ proxy_pass {up}/; }}"),
                "/noslash/x",
                "//x",
            ),
            (
                format!("location /repl/ {{ proxy_pass {up}/new/path/; }}"),
                "/repl/x/y?z",
                "/new/path/x/y?z",
            ),
            (
                format!("location /repl2/ {{ proxy_pass {up}/new; }}"),
                "/repl2/x",
                "/newx",
            ),
            (
                "location /ups/ { proxy_pass http://vnc_proxy/; }".into(),
                "/ups/x?y",
                "/x?y",
            ),
            (
                "location /websockify { proxy_pass http://vnc_proxy/; }".into(),
                "/websockify?token=abc",
                "/?token=abc",
            ),
            (
                "location /websockify { proxy_pass http://vnc_proxy/; }".into(),
                "/websockify/x",
                "//x",
            ),
            (
                "location /websockify { proxy_pass http://vnc_proxy/; }".into(),
                "/websockifyX",
                "/X",
            ),
            (
                format!("location = /exact {{ proxy_pass {up}/e; }}"),
                "/exact?q",
                "/e?q",
            ),
            (
                format!("location ~ ^/re/(.*)$ {{ proxy_pass {up}; }}"),
                "/re/a%20b?q",
                "/re/a%20b?q",
            ),
            (
                format!(
                    "location /rw/ {{ rewrite ^/rw/(.*)$ /rewritten/$1 break; proxy_pass {up}; }}"
                ),
                "/rw/a%20b?q=1",
                "/rewritten/a%20b?q=1",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/a%22b%27c%3Cd%3E",
                "/a%22b'c%3Cd%3E",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/a\"b",
                "/a\"b",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/a%2Bb+c",
                "/a+b+c",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/%41%42",
                "/AB",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/a{b}",
                "/a{b}",
            ),
            (
                format!("location / {{ proxy_pass {up}/; }}"),
                "/a%7Bb%7D",
                "/a%7Bb%7D",
            ),
            // S4.3: a URL with variables and a URI part is the whole target, unescaped.
            (
                format!("location ~ ^/recap/(.*)$ {{ proxy_pass {up}/cap/$1; }}"),
                "/recap/a%20b?q=1",
                "/cap/a b",
            ),
            (
                format!("location ~ ^/recap/(.*)$ {{ proxy_pass {up}/cap/$1$is_args$args; }}"),
                "/recap/a%20b?q=1",
                "/cap/a b?q=1",
            ),
        ];
        for (location, raw, want) in table {
            // The rewrite row needs its rewrite run first.
            let got = if location.contains("rewrite") {
                let e = env(&format!("server {{ listen 127.0.0.1:8080; {location} }}"));
                let mut r = e.request(&format!("GET {raw} HTTP/1.1\r\nHost: x\r\n\r\n"));
                let (found, _) = find_location(r.server(), &r.uri);
                let Found::Location(id) = found else { panic!() };
                r.conf = r.server().locations[id.0 as usize].conf.clone();
                let script = r.conf.script.clone().expect("script");
                let _ = crate::runtime::http::rewrite::run(&mut r, &script.ops);
                let proxy = r.conf.proxy.clone().expect("proxy");
                String::from_utf8_lossy(&resolve(&mut r, &proxy).map_err(|_| ()).expect("pass").uri)
                    .into_owned()
            } else {
                target(location, raw)
            };
            assert_eq!(got, *want, "{location} {raw}");
        }
    }

    /// S4.3: where an evaluated URL goes, with `$proxy_host` and `$proxy_port`; the host found
    /// at load time where only the URI part has variables, per request otherwise.
    #[test]
    fn evaluated_urls_find_their_host_as_nginx_does() {
        let e = env(
            "upstream vnc_proxy { server 127.0.0.1:1; }\n\
             map $arg_h $h { default vnc_proxy; ip 127.0.0.2:81; sock unix:/tmp/v.sock:/s; nowhere other.example; }\n\
             server { listen 127.0.0.1:8080;\n\
               location /fixed/ { proxy_pass http://VNC_proxy/f$is_args$args; }\n\
               location /ip/ { proxy_pass http://127.0.0.3:8081/i$uri; }\n\
               location /unix/ { proxy_pass http://unix:/tmp/u.sock:$uri; }\n\
               location /q/ { proxy_pass http://127.0.0.3?$args; }\n\
               location /name/ { proxy_pass http://other.example/$uri; }\n\
               location /var/ { proxy_pass http://$h; }\n\
               location /bad/ { proxy_pass $arg_u; } }",
        );
        let pass = |target: &str| {
            let mut r = e.request(&format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
            let (found, caps) = find_location(r.server(), &r.uri);
            r.captures = caps;
            let Found::Location(id) = found else {
                panic!("{target}: {found:?}")
            };
            r.conf = r.server().locations[id.0 as usize].conf.clone();
            let proxy = r.conf.proxy.clone().expect("proxy_pass");
            let fixed = matches!(
                &proxy.pass.target,
                ProxyTarget::Dynamic { host: Some(_), .. }
            );
            let got = match resolve(&mut r, &proxy) {
                Ok(p) => format!(
                    "{} {} {}",
                    match p.target {
                        Target::Group(id) => format!("group {}", id.0),
                        Target::Addr(a) => format!("addr {a}"),
                    },
                    String::from_utf8_lossy(&p.uri),
                    String::from_utf8_lossy(p.schema),
                ),
                Err(Next::Status(s)) => format!("status {s}"),
                Err(n) => panic!("{n:?}"),
            };
            (
                fixed,
                got,
                format!(
                    "{}|{}",
                    String::from_utf8_lossy(&r.upstream.proxy_host),
                    String::from_utf8_lossy(&r.upstream.proxy_port)
                ),
            )
        };
        let table: &[(&str, bool, &str, &str)] = &[
            (
                "/fixed/a?x=1",
                true,
                "group 0 /f?x=1 http://",
                "VNC_proxy|80",
            ),
            (
                "/ip/a",
                true,
                "addr 127.0.0.3:8081 /i/ip/a http://",
                "127.0.0.3:8081|8081",
            ),
            (
                "/unix/a",
                true,
                "addr unix:/tmp/u.sock /unix/a http://",
                "localhost|",
            ),
            (
                "/q/a?k=v",
                true,
                "addr 127.0.0.3:80 /?k=v http://",
                "127.0.0.3|80",
            ),
            ("/name/a", true, "status 502", "other.example|80"),
            ("/var/a", false, "group 0 /var/a http://", "vnc_proxy|80"),
            (
                "/var/a?h=ip",
                false,
                "addr 127.0.0.2:81 /var/a?h=ip http://",
                "127.0.0.2:81|81",
            ),
            (
                "/var/a?h=sock",
                false,
                "addr unix:/tmp/v.sock /s http://",
                "localhost|",
            ),
            ("/var/a?h=nowhere", false, "status 502", "other.example|80"),
            ("/bad/?u=ftp://x/", false, "status 500", "|"),
            (
                "/bad/?u=https://127.0.0.4/z",
                false,
                "addr 127.0.0.4:443 /z https://",
                "127.0.0.4|443",
            ),
        ];
        for (target, fixed, want, vars) in table {
            let got = pass(target);
            assert_eq!(
                got,
                (*fixed, want.to_string(), vars.to_string()),
                "{target}"
            );
        }
    }
}
