//! The gzip filter (`ngx_http_gzip_filter_module` and `ngx_http_gzip_ok`): which responses
//! are compressed (`gzip`, `gzip_types`, `gzip_min_length`, `gzip_http_version`,
//! `gzip_proxied`, `gzip_disable`, the client's `Accept-Encoding`), what it does to the head
//! (`Content-Encoding: gzip` last, no `Content-Length` or `Accept-Ranges`, a weak `ETag`,
//! `Vary: Accept-Encoding` with `gzip_vary`), and the compressor every body writer passes
//! the body through. As nginx 1.22 with zlib: a gzip member with mtime 0 and OS 3 (unix),
//! each piece flushed as it is given (nginx flushes at its buffer boundaries).

use bytes::Bytes;

use crate::ir::header::Known;
use crate::ir::location::{Gzip as Conf, GzipProxied};
use crate::runtime::base::clock;
use crate::runtime::base::deflate::Encoder;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;

/// The header filter: whether this response is compressed; adjusts `h` if so. `vary` is set
/// when nginx would add `Vary: Accept-Encoding` (the response qualified, whatever the
/// client accepts).
pub fn header_filter(r: &mut Request, h: &mut HeadersOut) -> Option<Box<Encoder>> {
    let conf = r.conf.gzip.clone()?;
    let content_encoding = h
        .content_encoding
        .is_some_and(|i| h.headers[i].live && !h.headers[i].value.is_empty());
    if !matches!(h.status, 200 | 403 | 404)
        || content_encoding
        || h.content_length
            .is_some_and(|n| (n as i64) < conf.min_length)
        || !type_matches(&conf, h.content_type.as_deref())
    {
        return None;
    }
    if conf.vary {
        r.gzip_vary = true;
    }
    if !gzip_ok(r, &conf, h) {
        return None;
    }
    h.content_encoding = Some(h.push(
        Bytes::from_static(b"Content-Encoding"),
        Bytes::from_static(b"gzip"),
    ));
    h.content_length = None;
    // ngx_http_clear_accept_ranges.
    if let Some(i) = h.accept_ranges.take() {
        h.headers[i].live = false;
    }
    weak_etag(h);
    Some(Box::new(Encoder::new(conf.comp_level)))
}

/// `ngx_http_test_content_type` over the type without its parameters.
fn type_matches(conf: &Conf, content_type: Option<&[u8]>) -> bool {
    if conf.any_type {
        return true;
    }
    let Some(ct) = content_type else {
        return false;
    };
    let end = ct.iter().position(|&b| b == b';').unwrap_or(ct.len());
    let t = ct[..end].trim_ascii();
    // The table is lowercase; a type written in lowercase (the usual) needs no copy.
    if t.iter().any(u8::is_ascii_uppercase) {
        conf.types.contains(t.to_ascii_lowercase().as_slice())
    } else {
        conf.types.contains(t)
    }
}

/// `ngx_http_gzip_ok`.
fn gzip_ok(r: &Request, conf: &Conf, h: &HeadersOut) -> bool {
    let head = &r.head;
    let Some(ae) = head.known(Known::AcceptEncoding) else {
        return false;
    };
    if ae.len() < 4 || (!ae.starts_with(b"gzip,") && !accept_encoding(ae)) {
        return false;
    }
    if head.browser.msie6 && conf.disable_msie6 {
        return false;
    }
    let min = if conf.http_version_10 { 1000 } else { 1001 };
    if head.http_version() < min {
        return false;
    }
    if head.known(Known::Via).is_some() && !proxied_ok(r, conf, h) {
        return false;
    }
    if !conf.disable.is_empty() {
        if let Some(ua) = head.known(Known::UserAgent) {
            if conf.disable.iter().any(|re| re.re.is_match(ua)) {
                return false;
            }
        }
    }
    true
}

/// `gzip_proxied` for a request that came through a proxy (it has `Via`).
fn proxied_ok(r: &Request, conf: &Conf, h: &HeadersOut) -> bool {
    let p = conf.proxied;
    if p.contains(GzipProxied::OFF) {
        return false;
    }
    if p.contains(GzipProxied::ANY) {
        return true;
    }
    if p.contains(GzipProxied::AUTH) && r.head.known(Known::Authorization).is_some() {
        return true;
    }
    if let Some(i) = h.expires {
        if !p.contains(GzipProxied::EXPIRED) {
            return false;
        }
        let expires = clock::parse_http_time(&h.headers[i].value);
        if expires == -1 {
            return false;
        }
        let date = match h.date {
            Some(d) => clock::parse_http_time(&h.headers[d].value),
            None => clock::now_secs(),
        };
        if date == -1 {
            return false;
        }
        return expires < date;
    }
    if !h.cache_control.is_empty() {
        let has = |token: &[u8]| {
            h.cache_control
                .iter()
                .any(|&i| contains_token(&h.headers[i].value, token))
        };
        return (p.contains(GzipProxied::NO_CACHE) && has(b"no-cache"))
            || (p.contains(GzipProxied::NO_STORE) && has(b"no-store"))
            || (p.contains(GzipProxied::PRIVATE) && has(b"private"));
    }
    if p.contains(GzipProxied::NO_LAST_MODIFIED)
        && (h.last_modified.is_some() || h.last_modified_time.is_some())
    {
        return false;
    }
    if p.contains(GzipProxied::NO_ETAG) && h.etag.is_some() {
        return false;
    }
    true
}

/// `ngx_http_parse_multi_header_lines`: `token` as a whole comma-separated item (case
/// insensitive, a `=value` allowed after it).
fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|item| {
        let item = item.trim_ascii();
        item.len() >= token.len()
            && item[..token.len()].eq_ignore_ascii_case(token)
            && (item.len() == token.len() || matches!(item[token.len()], b'=' | b' ' | b';'))
    })
}

/// `ngx_http_gzip_accept_encoding`: `gzip` as a token, not refused by `q=0`.
fn accept_encoding(ae: &[u8]) -> bool {
    // `ngx_strcasestrn`: the first "gzip" in any case that starts a token.
    let at = (0..ae.len().saturating_sub(3)).find(|&p| {
        ae[p..p + 4].eq_ignore_ascii_case(b"gzip") && (p == 0 || matches!(ae[p - 1], b',' | b' '))
    });
    let Some(at) = at else {
        return false;
    };
    let mut p = at + 4;
    // After the token: `,`, spaces, or `;` and a q-value.
    loop {
        if p >= ae.len() {
            return true;
        }
        p += 1;
        match ae[p - 1] {
            b',' => return true,
            b';' => break,
            b' ' => {}
            _ => return false,
        }
    }
    loop {
        if p >= ae.len() {
            return true;
        }
        p += 1;
        match ae[p - 1] {
            b'q' | b'Q' => break,
            b' ' => {}
            _ => return false,
        }
    }
    if p + 2 > ae.len() || ae[p] != b'=' {
        return false;
    }
    quantity(&ae[p + 1..]) != 0
}

/// `ngx_http_gzip_quantity`: the q-value times 1000, or 0 when invalid.
fn quantity(v: &[u8]) -> u32 {
    let mut p = 0;
    let Some(&first) = v.first() else {
        return 0;
    };
    let mut q: u32 = match first {
        b'0' => 0,
        b'1' => 1,
        _ => return 0,
    };
    p += 1;
    if p == v.len() {
        return q * 1000;
    }
    if v[p] != b'.' {
        return 0;
    }
    p += 1;
    let mut decimals = 0;
    while p < v.len() {
        let c = v[p];
        p += 1;
        if c.is_ascii_digit() {
            decimals += 1;
            if decimals > 3 {
                return 0;
            }
            q = q * 10 + u32::from(c - b'0');
            continue;
        }
        if c == b',' || c == b' ' {
            break;
        }
        return 0;
    }
    q *= 10u32.pow(3 - decimals);
    if q > 1000 {
        0
    } else {
        q
    }
}

/// `ngx_http_weak_etag`.
fn weak_etag(h: &mut HeadersOut) {
    let Some(i) = h.etag else {
        return;
    };
    let v = h.headers[i].value.clone();
    if v.len() > 2 && v.starts_with(b"W/") {
        return;
    }
    if v.first() != Some(&b'"') {
        h.headers[i].live = false;
        h.etag = None;
        return;
    }
    let mut w = Vec::with_capacity(v.len() + 2);
    w.extend_from_slice(b"W/");
    w.extend_from_slice(&v);
    h.headers[i].value = Bytes::from(w);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_as_nginx() {
        for (ae, ok) in [
            (&b"gzip"[..], true),
            (b"deflate, gzip", true),
            (b"br;q=1.0, gzip;q=0.8", true),
            (b"gzip;q=0", false),
            (b"gzip;q=0.000", false),
            (b"gzip;q=0.001", true),
            (b"xgzip", false),
            (b"gzipx", false),
            (b"GZIP", true),
            (b"identity", false),
        ] {
            assert_eq!(
                ae.starts_with(b"gzip,") || accept_encoding(ae),
                ok,
                "{}",
                String::from_utf8_lossy(ae)
            );
        }
    }
}
