//! The request head sent upstream (S6.1, S6.2; `ngx_http_proxy_create_request`): the
//! request line with the target `pass` resolved, the `proxy_set_header` lines and nginx's
//! built-ins in nginx's order, then the client's header lines that no set header replaces.

use std::io::Write as _;

use super::pass::Pass;
use crate::ir::proxy::{HeaderValue, HttpVersion, Proxy};
use crate::runtime::state::request::Request;

/// S6.1/S6.2: the request head sent upstream.
pub fn build(
    r: &mut Request,
    proxy: &Proxy,
    pass: &Pass,
    body_length: Option<u64>,
    chunked: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + r.head.buf.len());
    out.extend_from_slice(r.method_name());
    out.push(b' ');
    out.extend_from_slice(&pass.uri);
    out.extend_from_slice(match proxy.http_version {
        HttpVersion::Http10 => b" HTTP/1.0\r\n",
        HttpVersion::Http11 => b" HTTP/1.1\r\n",
    });
    let headers = &*proxy.headers;
    for h in &headers.set {
        let start = out.len();
        out.extend_from_slice(&h.name);
        out.extend_from_slice(b": ");
        let value_start = out.len();
        match &h.value {
            HeaderValue::Template(t) => r.eval(t, &mut out),
            HeaderValue::ProxyHost => out.extend_from_slice(&r.upstream.proxy_host),
            HeaderValue::Static(v) => out.extend_from_slice(v),
            HeaderValue::BodyLength => {
                if let Some(n) = body_length {
                    let _ = write!(out, "{n}");
                }
            }
            HeaderValue::Chunked => {
                if chunked {
                    out.extend_from_slice(b"chunked");
                }
            }
        }
        if out.len() == value_start {
            out.truncate(start);
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    if proxy.pass_request_headers {
        for i in 0..r.head.headers.len() {
            let (name, value) = r.head.header(i);
            if headers.replaced.contains(r.head.headers[i].known, name) {
                continue;
            }
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::pass::resolve;
    use super::*;
    use crate::runtime::http::route::{find_location, Found};
    use crate::runtime::testing::env;

    /// S6.1/S6.2: nginx's header order and replacements on S6.2's request.
    #[test]
    fn upstream_request_head_follows_s6_2() {
        let e = env("proxy_set_header X-From-Http \"http-level\";\nserver { listen 127.0.0.1:8080; location /a/ { proxy_pass http://127.0.0.1:27081; } }");
        let raw = "GET /a/?a=1&A=2&a=3 HTTP/1.1\r\nHost: Client.Test:8443\r\nUser-Agent: probe\r\n\
            Connection: keep-alive, X-Hop\r\nX-Hop: hop-value\r\nKeep-Alive: 300\r\nTE: trailers\r\n\
            Upgrade: websocket\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 1.2.3.4\r\n\
            X-Forwarded-For: 5.6.7.8\r\nX_Underscore: dropped?\r\nX-Empty:\r\nCookie: a=1\r\nCookie: b=2\r\n\
            X-Dup: 1\r\nX-Dup: 2\r\nAccept: */*\r\nx-lower: from-client\r\nX-Real-IP: 9.9.9.9\r\n\r\n";
        let mut r = e.request(raw);
        let (found, _) = find_location(r.server(), &r.uri);
        let Found::Location(id) = found else { panic!() };
        r.conf = r.server().locations[id.0 as usize].conf.clone();
        let proxy = r.conf.proxy.clone().unwrap();
        let pass = resolve(&mut r, &proxy).map_err(|_| ()).unwrap();
        let head = build(&mut r, &proxy, &pass, None, false);
        assert_eq!(
            String::from_utf8_lossy(&head),
            "GET /a/?a=1&A=2&a=3 HTTP/1.0\r\nX-From-Http: http-level\r\nHost: 127.0.0.1:27081\r\n\
             Connection: close\r\nUser-Agent: probe\r\nX-Hop: hop-value\r\nProxy-Connection: keep-alive\r\n\
             X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\nX-Empty: \r\nCookie: a=1\r\nCookie: b=2\r\n\
             X-Dup: 1\r\nX-Dup: 2\r\nAccept: */*\r\nx-lower: from-client\r\nX-Real-IP: 9.9.9.9\r\n\r\n"
        );
    }
}
