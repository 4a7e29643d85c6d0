//! Where `proxy_pass` sends a request (S4.2–S4.4): the upstream group, `$proxy_host` and
//! `$proxy_port`, and the request-target (`ngx_http_proxy_create_request`'s URI rules).
//!
//! A `proxy_pass` without variables names its group at load time. One with variables is
//! evaluated here, and its host found as `ngx_http_upstream_init_request` finds it: a
//! configured upstream of that name (and port), else an address literal, which becomes a
//! group of its own with that one peer (nginx's implicit round-robin peer), else nothing
//! (rginx has no resolver).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::ir::proxy::{Proxy, ProxyTarget, Scheme};
use crate::ir::upstream::{Peer, PeerAddr, Upstream};
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
}

/// S4.2–S4.4: the upstream and the request-target; sets `$proxy_host` and `$proxy_port`.
pub fn resolve(r: &mut Request, proxy: &Proxy) -> Result<Pass, Next> {
    let p = &proxy.pass;
    let schema: &'static [u8] = match p.scheme {
        Scheme::Http => b"http://",
        Scheme::Https => b"https://",
    };
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
                schema,
            })
        }
        ProxyTarget::Dynamic { url } => {
            let url = r.eval_vec(url);
            dynamic(r, p.scheme, schema, &url)
        }
    }
}

/// A `proxy_pass` with variables, evaluated to `url` (S4.3).
fn dynamic(
    r: &mut Request,
    scheme: Scheme,
    schema: &'static [u8],
    url: &[u8],
) -> Result<Pass, Next> {
    let rest = &url[schema.len().min(url.len())..];
    let (hostport, uri) = match rest.iter().position(|&b| b == b'/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let (host, port) = split_port(hostport);
    let default_port = scheme.default_port();
    let port_n = port.and_then(|p| std::str::from_utf8(p).ok()?.parse::<u16>().ok());
    r.upstream.proxy_host = Bytes::copy_from_slice(if port_n == Some(default_port) {
        host
    } else {
        hostport
    });
    r.upstream.proxy_port = Bytes::from(port_n.unwrap_or(default_port).to_string());
    // A URI part is the whole request-target, as it was evaluated.
    let uri = match uri {
        Some(u) => u.to_vec(),
        None => target_uri(r, None, 0),
    };
    let want_port = port_n.unwrap_or(default_port);
    if let Some(id) = find_upstream(r, host, port.is_some(), want_port) {
        return Ok(Pass {
            target: Target::Group(id),
            uri,
            schema,
        });
    }
    let ip_text = host
        .strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(host);
    match std::str::from_utf8(ip_text)
        .ok()
        .and_then(|s| s.parse::<IpAddr>().ok())
    {
        Some(ip) => Ok(Pass {
            target: Target::Addr(PeerAddr::Inet(SocketAddr::new(ip, want_port))),
            uri,
            schema,
        }),
        None => {
            log::error(
                r,
                Level::Error,
                format_args!(
                    "no resolver defined to resolve {}",
                    String::from_utf8_lossy(host)
                ),
            );
            Err(Next::Status(502))
        }
    }
}

/// `ngx_http_upstream_init_request`'s search: an `upstream {}` block (port 0) matches a URL
/// without a port, an implicit upstream the same port; names compare case-insensitively.
fn find_upstream(r: &Request, host: &[u8], has_port: bool, port: u16) -> Option<UpstreamId> {
    r.snap
        .http()
        .upstreams
        .iter()
        .position(|u| {
            u.name.eq_ignore_ascii_case(host)
                && ((u.port == 0 && !has_port) || (u.port != 0 && u.port == port))
        })
        .map(|i| UpstreamId(i as u32))
}

/// The group of one address an evaluated URL named: one peer, never marked failed, no
/// keep-alive (nginx's `ngx_http_upstream_create_round_robin_peer`).
pub fn one_peer_group(addr: &PeerAddr) -> Upstream {
    Upstream {
        name: addr.to_string().into_bytes().into(),
        implicit: true,
        port: 0,
        peers: vec![Peer {
            addr: addr.clone(),
            name: addr.to_string().into(),
            weight: 1,
            max_fails: 1,
            fail_timeout: std::time::Duration::from_secs(10),
            max_conns: 0,
            backup: false,
            down: false,
        }],
        keepalive: None,
    }
}

fn split_port(hostport: &[u8]) -> (&[u8], Option<&[u8]>) {
    let search_from = if hostport.first() == Some(&b'[') {
        hostport.iter().position(|&b| b == b']').unwrap_or(0)
    } else {
        0
    };
    match hostport[search_from..].iter().rposition(|&b| b == b':') {
        Some(i) => (
            &hostport[..search_from + i],
            Some(&hostport[search_from + i + 1..]),
        ),
        None => (hostport, None),
    }
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
}
