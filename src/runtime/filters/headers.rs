//! The headers filter (`ngx_http_headers_filter_module`): `expires` and `add_header`
//! (S13.7), on the statuses nginx allows them on (`always` for the others).

use bytes::Bytes;

use crate::ir::location::{AddKind, Expires, LocConf};
use crate::runtime::base::clock;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::{HeadersOut, OutHeader};

/// `ngx_http_headers_filter`: `expires` and `add_header` (S13.7).
pub fn headers_filter(r: &mut Request, conf: &LocConf, h: &mut HeadersOut) {
    if conf.expires.is_none() && conf.add_headers.is_empty() {
        return;
    }
    let safe = matches!(
        h.status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    );
    if safe {
        if let Some(e) = &conf.expires {
            set_expires(r, e, h);
        }
    }
    for ah in conf.add_headers.iter() {
        if !safe && !ah.always {
            continue;
        }
        let value = Bytes::from(r.eval_vec(&ah.value));
        let name = ah.name.clone();
        match ah.kind {
            AddKind::CacheControl if !value.is_empty() => {
                let i = h.push(name, value);
                h.cache_control.push(i);
            }
            AddKind::LastModified => {
                h.last_modified_time = None;
                replace(h, |h| &mut h.last_modified, name, value);
            }
            AddKind::ETag => replace(h, |h| &mut h.etag, name, value),
            AddKind::CacheControl | AddKind::Link | AddKind::Other => {
                if !value.is_empty() {
                    h.push(name, value);
                }
            }
        }
    }
}

/// `ngx_http_set_response_header`: replace the line in place, or add it; empty removes.
fn replace(
    h: &mut HeadersOut,
    slot: fn(&mut HeadersOut) -> &mut Option<usize>,
    name: Bytes,
    value: Bytes,
) {
    let old = *slot(h);
    if value.is_empty() {
        if let Some(i) = old {
            h.headers[i].live = false;
        }
        *slot(h) = None;
        return;
    }
    match old {
        Some(i) => {
            h.headers[i] = OutHeader {
                name,
                value,
                live: true,
            };
        }
        None => {
            let i = h.push(name, value);
            *slot(h) = Some(i);
        }
    }
}

/// `ngx_http_set_expires`.
fn set_expires(r: &mut Request, e: &Expires, h: &mut HeadersOut) {
    let parsed;
    let e = match e {
        Expires::Template(t) => {
            let v = r.eval_vec(t);
            match crate::ir::value::parse_expires(&v, false) {
                Ok(p) => {
                    parsed = p;
                    &parsed
                }
                Err(_) => return,
            }
        }
        other => other,
    };
    if matches!(e, Expires::Off | Expires::Template(_)) {
        return;
    }
    let ei = match h.expires {
        Some(i) => i,
        None => {
            let i = h.push(Bytes::from_static(b"Expires"), Bytes::new());
            h.expires = Some(i);
            i
        }
    };
    let ci = match h.cache_control.first() {
        Some(&first) => {
            for &i in &h.cache_control[1..] {
                h.headers[i].live = false;
            }
            first
        }
        None => {
            let i = h.push(Bytes::from_static(b"Cache-Control"), Bytes::new());
            h.cache_control.push(i);
            i
        }
    };
    let set = |h: &mut HeadersOut, exp: Bytes, cc: Bytes| {
        h.headers[ei].value = exp;
        h.headers[ei].live = true;
        h.headers[ci].value = cc;
        h.headers[ci].live = true;
    };
    let now = clock::now_secs();
    let (expires_at, max_age, negative) = match *e {
        Expires::Epoch => {
            set(
                h,
                Bytes::from_static(b"Thu, 01 Jan 1970 00:00:01 GMT"),
                Bytes::from_static(b"no-cache"),
            );
            return;
        }
        Expires::Max => {
            set(
                h,
                Bytes::from_static(b"Thu, 31 Dec 2037 23:55:55 GMT"),
                Bytes::from_static(b"max-age=315360000"),
            );
            return;
        }
        Expires::Delta { seconds: 0, .. } => {
            set(
                h,
                Bytes::copy_from_slice(&clock::http_date()),
                Bytes::from_static(b"max-age=0"),
            );
            return;
        }
        Expires::Daily { seconds } => {
            let next = clock::next_time(seconds);
            (next, next - now, seconds < 0)
        }
        Expires::Delta { seconds, modified } => match h.last_modified_time.filter(|_| modified) {
            Some(lm) => (lm + seconds, lm + seconds - now, seconds < 0),
            None => (now + seconds, seconds, seconds < 0),
        },
        Expires::Off | Expires::Template(_) => return,
    };
    let exp = Bytes::from(clock::http_date_of(expires_at).into_bytes());
    let cc = if negative || max_age < 0 {
        Bytes::from_static(b"no-cache")
    } else {
        Bytes::from(format!("max-age={max_age}").into_bytes())
    };
    set(h, exp, cc);
}
