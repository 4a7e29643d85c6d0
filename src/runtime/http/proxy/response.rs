//! What becomes of the upstream's answer (S13.2, S13.3): intercepted by an `error_page`
//! (`proxy_intercept_errors`), turned into an internal redirect (`X-Accel-Redirect`), or
//! given to the client: its head built from the upstream's (hidden headers dropped,
//! `Location` and `Refresh` rewritten by `proxy_redirect`, `X-Accel-Buffering` and
//! `X-Accel-Charset` obeyed), then its body relayed or the connection upgraded.

use bytes::Bytes;
use std::rc::Rc;

use super::error::PeerLog;
use super::job::Job;
use super::peer::{Got, Group};
use super::relay::Relay;
use super::upgrade;
use crate::ir::header::Known;
use crate::ir::proxy::{IgnoreHeaders, Proxy, RedirectFrom};
use crate::ir::Level;
use crate::runtime::base::http1::request::{normalize_uri, Method};
use crate::runtime::base::http1::response::{self as resp, Framing};
use crate::runtime::filters::charset::known_charset;
use crate::runtime::state::captures::Captures;
use crate::runtime::state::conn::Client;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;
use crate::runtime::state::upstream::UpstreamHead;

/// The upstream answered: intercept, redirect, or relay it to the client.
pub async fn respond(
    r: &mut Request,
    c: &mut Client,
    job: &Job<'_>,
    log: &PeerLog<'_>,
    mut got: Got,
    group: &Group<'_>,
) -> Next {
    let proxy = job.proxy;
    let status = got.head.status;
    let upstream = Rc::new(UpstreamHead {
        buf: got.buf.split_to(got.head.head_len).freeze(),
        head: got.head.clone(),
    });
    r.upstream.head = Some(Rc::clone(&upstream));
    if let Some(next) = intercept(r, proxy, &upstream) {
        return next;
    }
    if let Some(next) = accel_redirect(r, proxy, &upstream) {
        return next;
    }
    if got.head.is_http09() {
        log.log(
            r,
            Level::Error,
            format_args!("{}", resp::LOG_NO_VALID_HEADER),
            "reading response header from upstream",
        );
    }
    let (mut h, buffering) = client_head(r, proxy, &upstream);
    check_charset(r, log, &mut h);
    let framing = resp::framing(&got.head, job.is_head);
    h.content_length = got.head.content_length;
    if framing == Framing::Chunked || got.head.is_http09() {
        h.content_length = None;
    }
    if status == 101 && r.head.upgrade.is_some() {
        r.keepalive = false;
        return upgrade::upgrade(r, c, proxy, log, got, h).await;
    }
    Relay::new(r, proxy, got, h, framing, buffering)
        .run(r, c, log, group)
        .await
}

/// `proxy_intercept_errors` with an `error_page` for this status: the status is the
/// request's, the upstream's body is not read (a 401's `WWW-Authenticate` is kept).
fn intercept(r: &mut Request, proxy: &Proxy, u: &UpstreamHead) -> Option<Next> {
    let status = u.head.status;
    if !(proxy.intercept_errors && status >= 300 && r.conf.error_pages.pages.contains_key(&status))
    {
        return None;
    }
    if status == 401 {
        if let Some(v) = find(u, Known::WwwAuthenticate) {
            r.out.push(Bytes::from_static(b"WWW-Authenticate"), v);
        }
    }
    Some(Next::Status(status))
}

/// `X-Accel-Redirect`: an internal redirect to the URI (or named location) it names; the
/// response headers nginx keeps for a redirect are kept.
fn accel_redirect(r: &mut Request, proxy: &Proxy, u: &UpstreamHead) -> Option<Next> {
    if proxy
        .ignore_headers
        .contains(IgnoreHeaders::X_ACCEL_REDIRECT)
    {
        return None;
    }
    let target = find(u, Known::XAccelRedirect)?;
    // The headers nginx keeps for the redirect (`ngx_http_upstream_process_headers`).
    const KEPT: [Known; 7] = [
        Known::ContentType,
        Known::SetCookie,
        Known::ContentDisposition,
        Known::CacheControl,
        Known::Expires,
        Known::AcceptRanges,
        Known::ContentEncoding,
    ];
    // Through the same copy as a passed response's lines, so later filters find the slots.
    let mut out = std::mem::take(&mut r.out);
    for h in &u.head.headers {
        if !h.known.is_some_and(|k| KEPT.contains(&k))
            || proxy.hide_headers.contains(h.known, h.name_in(&u.buf))
        {
            continue;
        }
        let value = u.buf.slice(h.value.clone());
        pass_header(
            r,
            proxy,
            &mut out,
            h.known,
            u.buf.slice(h.name.clone()),
            value,
        );
    }
    r.out = out;
    if target.first() == Some(&b'@') {
        return Some(Next::Named(target.to_vec()));
    }
    let (path, args) = match target.iter().position(|&b| b == b'?') {
        Some(q) => (&target[..q], Some(target.slice(q + 1..))),
        None => (&target[..], None),
    };
    let Ok(uri) = normalize_uri(path, r.server().srv.merge_slashes) else {
        return Some(Next::Status(404));
    };
    if r.method != Method::Head {
        r.method = Method::Get;
        r.method_get = true;
    }
    Some(Next::Redirect(uri, args))
}

/// The client's response head from the upstream's (S13.2, S13.3), and whether the body is
/// buffered (`proxy_buffering`, or what `X-Accel-Buffering` says).
fn client_head(r: &mut Request, proxy: &Proxy, u: &UpstreamHead) -> (HeadersOut, bool) {
    let mut h = std::mem::take(&mut r.out);
    h.status = u.head.status;
    h.status_line = Some(u.buf.slice(u.head.status_text.clone()));
    let mut buffering = proxy.buffering;
    let ignored = |flag| proxy.ignore_headers.contains(flag);
    for line in &u.head.headers {
        let value = u.buf.slice(line.value.clone());
        match line.known {
            Some(Known::XAccelCharset) if !ignored(IgnoreHeaders::X_ACCEL_CHARSET) => {
                h.override_charset = Some(value.clone());
            }
            Some(Known::XAccelBuffering) if !ignored(IgnoreHeaders::X_ACCEL_BUFFERING) => {
                if value.eq_ignore_ascii_case(b"yes") {
                    buffering = true;
                } else if value.eq_ignore_ascii_case(b"no") {
                    buffering = false;
                }
            }
            _ => {}
        }
        let name = line.name_in(&u.buf);
        if proxy.hide_headers.contains(line.known, name) || resp::header_hash(name) == 0 {
            continue;
        }
        let name = u.buf.slice(line.name.clone());
        pass_header(r, proxy, &mut h, line.known, name, value);
    }
    (h, buffering)
}

/// One upstream header line onto the client's head, noting the lines later filters read.
fn pass_header(
    r: &mut Request,
    proxy: &Proxy,
    h: &mut HeadersOut,
    known: Option<Known>,
    name: Bytes,
    value: Bytes,
) {
    use Known::*;
    let Some(known) = known else {
        h.push(name, value);
        return;
    };
    match known {
        ContentType => h.content_type = Some(value),
        // The client's framing and connection are nginx's own.
        ContentLength | TransferEncoding | Connection | KeepAlive => {}
        Location => {
            let (value, rewritten) = rewrite_redirect(r, proxy, value, 0);
            let i = h.push(name, value.clone());
            // A rewritten Location is made absolute later; an untouched relative one
            // stays relative (S4.5).
            if rewritten || (proxy.redirects.is_empty() && value.first() != Some(&b'/')) {
                h.location = Some(i);
            }
        }
        Refresh => {
            let value = match find_ci(&value, b"url=") {
                Some(p) => rewrite_redirect(r, proxy, value.clone(), p + 4).0,
                None => value,
            };
            h.push(name, value);
        }
        LastModified => h.last_modified = Some(h.push(name, value)),
        Etag => h.etag = Some(h.push(name, value)),
        Expires => h.expires = Some(h.push(name, value)),
        CacheControl => {
            let i = h.push(name, value);
            h.cache_control.push(i);
        }
        Server => h.server = Some(h.push(name, value)),
        ContentEncoding => h.content_encoding = Some(h.push(name, value)),
        AcceptRanges => h.accept_ranges = Some(h.push(name, value)),
        Date => h.date = Some(h.push(name, value)),
        _ => {
            h.push(name, value);
        }
    }
}

/// An `X-Accel-Charset` the configuration does not know is dropped, with nginx's line.
fn check_charset(r: &Request, log: &PeerLog<'_>, h: &mut HeadersOut) {
    let Some(o) = h.override_charset.clone() else {
        return;
    };
    if h.content_type.is_some() && !o.is_empty() && !known_charset(&r.conf, &o) {
        log.log(
            r,
            Level::Error,
            format_args!(
                "unknown charset \"{}\" to override",
                crate::source::show_bytes(&o)
            ),
            "reading response header from upstream",
        );
        h.override_charset = None;
    }
}

/// `ngx_http_proxy_rewrite_redirect`: `proxy_redirect` rules on a Location/Refresh value
/// from `prefix` on. Returns the value and whether a rule rewrote it.
fn rewrite_redirect(r: &mut Request, proxy: &Proxy, value: Bytes, prefix: usize) -> (Bytes, bool) {
    for rule in proxy.redirects.iter() {
        let rest = &value[prefix..];
        match &rule.from {
            RedirectFrom::Prefix(t) => {
                let pattern = r.eval_vec(t);
                if pattern.len() > rest.len() || rest[..pattern.len()] != pattern[..] {
                    continue;
                }
                let replacement = r.eval_vec(&rule.to);
                let mut v = Vec::with_capacity(value.len() + replacement.len());
                v.extend_from_slice(&value[..prefix]);
                v.extend_from_slice(&replacement);
                v.extend_from_slice(&rest[pattern.len()..]);
                return (Bytes::from(v), true);
            }
            RedirectFrom::Regex(re) => {
                let Some(caps) = Captures::from_regex(re, rest) else {
                    continue;
                };
                r.matched(caps);
                let replacement = r.eval_vec(&rule.to);
                let mut v = Vec::with_capacity(prefix + replacement.len());
                v.extend_from_slice(&value[..prefix]);
                v.extend_from_slice(&replacement);
                return (Bytes::from(v), true);
            }
        }
    }
    (value, false)
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// The value of the first upstream header line of a kind, as a slice of the head.
fn find(u: &UpstreamHead, k: Known) -> Option<Bytes> {
    let i = u.head.headers_in.first(k)?;
    Some(u.buf.slice(u.head.headers[i].value.clone()))
}
