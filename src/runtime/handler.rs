//! nginx's request phases for one request, and every way a request ends.
//!
//! The phases: server-level `return` (server rewrite), the location search with the automatic
//! 301 and `client_max_body_size` (find config), location `return` (rewrite), `allow`/`deny`
//! (access), then content: `proxy_pass` or static files. A phase ends the request with a
//! [`Next`]: done, a status for nginx's special response (where `error_page` applies), or an
//! internal redirect that starts the phases again. Every error response goes through
//! [`special`], the one place that turns a status into nginx's response.

use bytes::Bytes;

use super::body;
use super::conn::Client;
use super::http1::request::{escape_uri, normalize_uri, Method};
use super::io;
use super::log;
use super::page;
use super::request::Request;
use super::respond::{self, Framing, HeadersOut};
use super::rewrite::{self, Flow};
use super::route::{self, Found};
use crate::ir::location::{AccessRule, ErrorPage, LocConf, Net, Return};
use crate::ir::{Level, LocId};

/// How a phase ended.
#[derive(Debug)]
pub enum Next {
    /// The response was sent (or the connection must close).
    Done,
    /// Finalize with this status: nginx's special response, after `error_page`.
    Status(u16),
    /// An internal redirect to a URI and optional arguments.
    Redirect(Vec<u8>, Option<Bytes>),
    /// A jump to a named location.
    Named(Vec<u8>),
}

/// Runs the request to its end.
pub async fn handle(r: &mut Request, c: &mut Client) {
    let next = phases(r, c, None).await;
    run(r, c, next).await
}

/// A request nginx finalizes with `code` before its phases run (the 497 of plain HTTP on a
/// TLS port, S12.5): the server's error pages apply.
pub async fn handle_status(r: &mut Request, c: &mut Client, code: u16) {
    r.conf = r.server().conf.clone();
    let next = special(r, c, code).await;
    run(r, c, next).await
}

async fn run(r: &mut Request, c: &mut Client, mut next: Next) {
    loop {
        next = match next {
            Next::Done => {
                // ngx_http_filter_finalize_request ends the request in NGX_ERROR once its
                // response is out: the connection closes.
                if r.filter_finalize {
                    r.keepalive = false;
                }
                return;
            }
            Next::Status(code) => special(r, c, code).await,
            Next::Redirect(uri, args) => match internal_redirect(r, uri, args) {
                Ok(()) => phases(r, c, None).await,
                Err(code) => Next::Status(code),
            },
            Next::Named(name) => match named_location(r, &name) {
                Ok(id) => phases(r, c, Some(id)).await,
                Err(code) => Next::Status(code),
            },
        };
    }
}

/// The phases from the server rewrite phase, or from a named location's rewrite phase.
async fn phases(r: &mut Request, c: &mut Client, named: Option<LocId>) -> Next {
    match named {
        Some(id) => {
            r.conf = r.server().locations[id.0 as usize].conf.clone();
            update_location_config(r);
        }
        None => {
            r.conf = r.server().conf.clone();
            // Server rewrite phase.
            if let Some(script) = r.server().script.clone() {
                match rewrite::run(r, &script.ops) {
                    Flow::Go | Flow::Break | Flow::Last => {}
                    Flow::Return(ret) => return do_return(r, c, &ret).await,
                    Flow::Status(code) => return Next::Status(code),
                }
            }
            // Find config, location rewrite and post rewrite phases: a rewritten URI searches
            // the location again.
            loop {
                match find_config(r, c).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(next) => return next,
                }
                let Some(script) = r.conf.script.clone() else {
                    break;
                };
                r.uri_research = false;
                match rewrite::run(r, &script.ops) {
                    Flow::Go | Flow::Last => {}
                    Flow::Break => break,
                    Flow::Return(ret) => return do_return(r, c, &ret).await,
                    Flow::Status(code) => return Next::Status(code),
                }
                if !r.uri_research {
                    break;
                }
                // ngx_http_core_post_rewrite_phase.
                r.uri_changes -= 1;
                if r.uri_changes == 0 {
                    log::error(
                        r,
                        Level::Error,
                        format_args!(
                            "rewrite or internal redirection cycle while processing \"{}\"",
                            String::from_utf8_lossy(&r.uri)
                        ),
                    );
                    return Next::Status(500);
                }
                r.conf = r.server().conf.clone();
            }
            return after_rewrite(r, c).await;
        }
    }
    // The rewrite phase of a named location.
    if let Some(script) = r.conf.script.clone() {
        match rewrite::run(r, &script.ops) {
            Flow::Go | Flow::Last | Flow::Break => {}
            Flow::Return(ret) => return do_return(r, c, &ret).await,
            Flow::Status(code) => return Next::Status(code),
        }
    }
    after_rewrite(r, c).await
}

/// The find config phase (`ngx_http_core_find_config_phase`): the location, `internal`,
/// `client_max_body_size`, the automatic 301. `Ok(true)` when a location's rewrite phase
/// follows (not for a request no location matched).
async fn find_config(r: &mut Request, c: &mut Client) -> Result<bool, Next> {
    r.uri_research = false;
    let (found, caps) = route::find_location(r.server(), &r.uri);
    if let Some(caps) = caps {
        r.matched(caps);
    }
    let (redirect, has_location) = match found {
        Found::Location(id) => {
            r.conf = r.server().locations[id.0 as usize].conf.clone();
            (None, true)
        }
        Found::Redirect(id) => {
            r.conf = r.server().locations[id.0 as usize].conf.clone();
            (Some(id), true)
        }
        Found::Server => {
            r.conf = r.server().conf.clone();
            (None, false)
        }
    };
    if !r.internal && r.conf.internal {
        return Err(Next::Status(404));
    }
    update_location_config(r);
    let max = r.conf.client_max_body_size;
    if let Some(len) = r.head.content_length {
        if max != 0 && len > max && !r.body_done {
            log::error(
                r,
                Level::Error,
                format_args!("client intended to send too large body: {len} bytes"),
            );
            r.expect_tested = true;
            if !body::discard(r, c).await {
                r.keepalive = false;
            }
            return Err(Next::Status(413));
        }
    }
    if let Some(id) = redirect {
        let mut v = Vec::new();
        escape_uri(&r.server().locations[id.0 as usize].name, &mut v);
        if !r.args().is_empty() {
            v.push(b'?');
            v.extend_from_slice(r.args());
        }
        r.out.set_location(v);
        return Err(Next::Status(301));
    }
    Ok(has_location)
}

/// The phases after rewriting: access, then content.
async fn after_rewrite(r: &mut Request, c: &mut Client) -> Next {
    if !access_allowed(r) {
        log::error(r, Level::Error, format_args!("access forbidden by rule"));
        return Next::Status(403);
    }
    if let Some(proxy) = r.conf.proxy.clone() {
        return super::proxy::run(r, c, &proxy).await;
    }
    super::files::serve(r, c).await
}

/// `ngx_http_update_location_config`: keep-alive as the location allows (S9, S13.4).
pub fn update_location_config(r: &mut Request) {
    if r.keepalive {
        let conf = &r.conf;
        if conf.keepalive_timeout.is_zero()
            || r.conn_requests >= conf.keepalive_requests as u64
            || r.conn.accepted.elapsed() > conf.keepalive_time
            || (r.head.browser.msie6 && r.head.method == Method::Post)
        {
            r.keepalive = false;
        }
    }
}

/// `ngx_http_internal_redirect`.
fn internal_redirect(r: &mut Request, uri: Vec<u8>, args: Option<Bytes>) -> Result<(), u16> {
    r.uri_changes -= 1;
    if r.uri_changes == 0 {
        log::error(
            r,
            Level::Error,
            format_args!(
                "rewrite or internal redirection cycle while internally redirecting to \"{}\"",
                String::from_utf8_lossy(&uri)
            ),
        );
        return Err(500);
    }
    r.uri = uri;
    r.args = args;
    r.internal = true;
    r.uri_changed = true;
    Ok(())
}

/// `ngx_http_named_location`.
fn named_location(r: &mut Request, name: &[u8]) -> Result<LocId, u16> {
    r.uri_changes -= 1;
    if r.uri_changes == 0 {
        log::error(
            r,
            Level::Error,
            format_args!(
                "rewrite or internal redirection cycle while redirect to named location \"{}\"",
                String::from_utf8_lossy(name)
            ),
        );
        return Err(500);
    }
    match r.server().named.get(name).copied() {
        Some(id) => {
            r.internal = true;
            Ok(id)
        }
        None => {
            log::error(
                r,
                Level::Error,
                format_args!(
                    "could not find named location \"{}\"",
                    String::from_utf8_lossy(name)
                ),
            );
            Err(500)
        }
    }
}

/// `allow`/`deny` in order; the first rule that matches decides.
fn access_allowed(r: &Request) -> bool {
    let ip = r.conn.remote_ip();
    for rule in r.conf.access.iter() {
        let (allow, net) = match rule {
            AccessRule::Allow(n) => (true, n),
            AccessRule::Deny(n) => (false, n),
        };
        let hit = match (net, ip) {
            (Net::All, _) => true,
            (Net::Unix, None) => true,
            (Net::Cidr { addr, prefix }, Some(ip)) => in_net(ip, *addr, *prefix),
            _ => false,
        };
        if hit {
            return allow;
        }
    }
    true
}

fn in_net(ip: std::net::IpAddr, net: std::net::IpAddr, prefix: u8) -> bool {
    use std::net::IpAddr;
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix.min(32))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix.min(128) as u32)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `return` (`ngx_http_script_return_code`).
async fn do_return(r: &mut Request, c: &mut Client, ret: &Return) -> Next {
    let code = ret.code;
    if code == 444 {
        // nginx's NGX_HTTP_CLOSE: no response at all.
        return close(r, 444);
    }
    if code >= 400 && ret.value.is_none() {
        return Next::Status(code);
    }
    let value = match &ret.value {
        Some(t) => r.eval_vec(t),
        None => Vec::new(),
    };
    // ngx_http_send_response.
    if !body::discard(r, c).await {
        r.keepalive = false;
    }
    if matches!(code, 301 | 302 | 303 | 307 | 308) {
        r.out.set_location(value);
        return Next::Status(code);
    }
    let mut h = std::mem::take(&mut r.out);
    h.status = code;
    h.content_length = Some(value.len() as u64);
    if h.content_type.is_none() {
        h.content_type = Some(content_type(r, &r.conf.clone()));
    }
    send(r, c, h, &value).await
}

/// `ngx_http_set_content_type`: by the extension of `$uri`, else `default_type`; then the
/// `charset` filter.
pub fn content_type(r: &Request, conf: &LocConf) -> Bytes {
    let ext = exten(&r.uri);
    let t: &[u8] = if ext.is_empty() {
        &conf.default_type
    } else {
        let lower = ext.to_ascii_lowercase();
        conf.types
            .by_extension
            .get(&lower[..])
            .map(|t| &t[..])
            .unwrap_or(&conf.default_type)
    };
    Bytes::copy_from_slice(t)
}

/// nginx's `r->exten` (`ngx_http_set_exten`): what follows the last `.` of the last path
/// segment, unless that dot starts the segment (`/.htaccess` has none).
pub fn exten(uri: &[u8]) -> &[u8] {
    for i in (2..uri.len()).rev() {
        if uri[i] == b'.' && uri[i - 1] != b'/' {
            return &uri[i + 1..];
        }
        if uri[i] == b'/' {
            break;
        }
    }
    b""
}

/// nginx's `ngx_http_special_response_handler`, after `error_page`.
pub async fn special(r: &mut Request, c: &mut Client, code: u16) -> Next {
    if matches!(code, 408 | 444 | 499) {
        return close(r, code);
    }
    r.err_status = Some(code);
    if r.keepalive && matches!(code, 400 | 413 | 414 | 497 | 495 | 496 | 500 | 501) {
        r.keepalive = false;
    }
    r.out.content_type = None;
    if !r.error_page && r.uri_changes != 0 {
        if let Some(p) = r.conf.error_pages.pages.get(&code).cloned() {
            if !r.conf.recursive_error_pages {
                r.error_page = true;
            }
            return send_error_page(r, c, code, &p).await;
        }
    }
    r.expect_tested = true;
    if !body::discard(r, c).await {
        r.keepalive = false;
    }
    send_special(r, c, code).await
}

/// `ngx_http_send_error_page`.
async fn send_error_page(r: &mut Request, c: &mut Client, code: u16, p: &ErrorPage) -> Next {
    match p.overwrite {
        Some(Some(o)) => {
            if o != 200 {
                r.expect_tested = true;
            }
            r.err_status = Some(o);
        }
        Some(None) => r.err_status = None,
        None => {
            if (494..=497).contains(&code) {
                r.err_status = Some(400);
            }
        }
    }
    let value = r.eval_vec(&p.uri);
    if value.first() == Some(&b'/') {
        let (uri, args) = match value.iter().position(|&b| b == b'?') {
            Some(q) => (
                value[..q].to_vec(),
                Some(Bytes::copy_from_slice(&value[q + 1..])),
            ),
            None => (value, None),
        };
        if r.method != Method::Head {
            r.method = Method::Get;
            r.method_get = true;
        }
        return Next::Redirect(uri, args);
    }
    if value.first() == Some(&b'@') {
        return Next::Named(value);
    }
    r.expect_tested = true;
    if !body::discard(r, c).await {
        r.keepalive = false;
    }
    let status = match p.overwrite {
        Some(Some(o @ (301 | 302 | 303 | 307 | 308))) => o,
        _ => 302,
    };
    r.err_status = Some(status);
    r.out.set_location(value);
    send_special(r, c, status).await
}

/// `ngx_http_send_special_response`: nginx's page for `code` (or an empty body).
async fn send_special(r: &mut Request, c: &mut Client, code: u16) -> Next {
    let status = r.err_status.unwrap_or(code);
    let wire = page::wire_status(status);
    if wire != status {
        r.err_status = Some(wire);
    }
    let conf = r.conf.clone();
    let padding = conf.msie_padding
        && (r.head.browser.msie || r.head.browser.chrome)
        && !r.head.http09
        && code >= 400;
    let page = page::error_page(code, conf.server_tokens, padding);
    let mut h = std::mem::take(&mut r.out);
    h.status = wire;
    h.status_line = None;
    h.last_modified = None;
    h.last_modified_time = None;
    if let Some(i) = h.etag.take() {
        h.headers[i].live = false;
    }
    let body = match page {
        Some(p) => {
            h.content_length = Some(p.len() as u64);
            h.content_type = Some(Bytes::from_static(b"text/html"));
            p
        }
        None => {
            h.content_length = Some(0);
            Vec::new()
        }
    };
    send(r, c, h, &body).await
}

/// Sends a complete response whose body is in memory.
pub async fn send(r: &mut Request, c: &mut Client, mut h: HeadersOut, body: &[u8]) -> Next {
    let mut head = Vec::with_capacity(256 + if body.len() <= 4096 { body.len() } else { 0 });
    let framing = respond::filter_and_write(r, &mut h, &mut head);
    r.sent.status = h.status;
    r.sent.header_bytes = head.len() as u64;
    let timeout = r.conf.send_timeout;
    let compressed;
    let body = match r.gzip.take() {
        Some(mut g) if framing != Framing::None => {
            let mut out = Vec::with_capacity(body.len() / 2 + 64);
            g.push(body, &mut out);
            g.finish(&mut out);
            compressed = out;
            &compressed[..]
        }
        _ => body,
    };
    let result = match framing {
        Framing::None => io::write_all(&mut c.stream, &head, timeout).await,
        Framing::Length(_) | Framing::Close => {
            r.sent.body_bytes = body.len() as u64;
            io::write_two(&mut c.stream, &head, body, timeout).await
        }
        Framing::Chunked => {
            let mut b = Vec::with_capacity(body.len() + 16);
            respond::chunk(body, &mut b);
            b.extend_from_slice(respond::LAST_CHUNK);
            r.sent.body_bytes = b.len() as u64;
            io::write_two(&mut c.stream, &head, &b, timeout).await
        }
    };
    r.sent.head = Some(Bytes::from(head));
    if let Err(e) = result {
        client_write_error(r, &e);
        r.keepalive = false;
        r.sent.incomplete = true;
    }
    if framing == Framing::Close {
        r.keepalive = false;
    }
    Next::Done
}

/// Logs a failed write to the client (nginx logs these at info).
pub fn client_write_error(r: &Request, e: &io::IoError) {
    match e {
        io::IoError::TimedOut => log::error_full(
            r,
            Level::Info,
            format_args!("client timed out (110: Connection timed out)"),
            Some("sending to client"),
            None,
        ),
        io::IoError::Io(e) => log::error_full(
            r,
            Level::Info,
            format_args!("writev() failed {}", io::errno_text(e)),
            Some("sending to client"),
            None,
        ),
    }
}

/// Ends the request with no response (444, 408, 499) and closes the connection.
pub fn close(r: &mut Request, code: u16) -> Next {
    r.keepalive = false;
    r.sent.status = code;
    r.sent.incomplete = true;
    Next::Done
}

/// Parses an internal redirect target the way `X-Accel-Redirect` does (normalising it).
pub fn normalized(uri: &[u8], merge_slashes: bool) -> Option<Vec<u8>> {
    normalize_uri(uri, merge_slashes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_follow_ngx_http_set_exten() {
        assert_eq!(exten(b"/a/b.HTML"), b"HTML");
        assert_eq!(exten(b"/a.d/b"), b"");
        assert_eq!(exten(b"/a/b.tar.gz"), b"gz");
        assert_eq!(exten(b"/"), b"");
        assert_eq!(exten(b"/.htaccess"), b"");
        assert_eq!(exten(b"/a/.x.txt"), b"txt");
        assert_eq!(exten(b"/a."), b"");
    }

    #[test]
    fn cidr_matching() {
        let ip = |s: &str| s.parse().unwrap();
        assert!(in_net(ip("10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(!in_net(ip("11.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_net(ip("::ffff:10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_net(ip("::1"), ip("::1"), 128));
        assert!(in_net(ip("1.2.3.4"), ip("0.0.0.0"), 0));
    }
}
