//! The response head as nginx builds it (`ngx_http_headers_out_t` and the header filters):
//! `add_header`/`expires` (S13.7), the chunked decision and keep-alive (S10.4, S13.4, S13.12),
//! absolute redirects (S13.6), and nginx's header order (S13.2).

use std::io::Write;

use bytes::Bytes;

use super::clock;
use super::page;
use super::request::Request;
use crate::ir::location::{Expires, LocConf};

/// One header line of the response list.
#[derive(Clone, Debug)]
pub struct OutHeader {
    pub name: Bytes,
    pub value: Bytes,
    /// nginx's `hash == 0`: removed (kept in place so indexes stay valid).
    pub live: bool,
}

/// The response before its head is written.
#[derive(Debug, Default)]
pub struct HeadersOut {
    pub status: u16,
    /// A proxied response's `NNN reason`, sent verbatim (S13.1).
    pub status_line: Option<Bytes>,
    pub content_type: Option<Bytes>,
    pub content_length: Option<u64>,
    /// A modification time nginx formats itself (static files).
    pub last_modified_time: Option<i64>,
    /// Indexes into `headers` of lines other filters look at.
    pub last_modified: Option<usize>,
    pub location: Option<usize>,
    pub etag: Option<usize>,
    pub expires: Option<usize>,
    pub cache_control: Vec<usize>,
    /// `X-Accel-Charset` from the upstream: the charset to set instead of `charset`'s.
    pub override_charset: Option<Bytes>,
    /// The upstream's `Server`/`Date`, passed with `proxy_pass_header`: nginx adds its own only
    /// when these are absent.
    pub server: Option<usize>,
    pub date: Option<usize>,
    pub headers: Vec<OutHeader>,
}

impl HeadersOut {
    pub fn new(status: u16) -> HeadersOut {
        HeadersOut {
            status,
            ..HeadersOut::default()
        }
    }

    pub fn push(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> usize {
        self.headers.push(OutHeader {
            name: name.into(),
            value: value.into(),
            live: true,
        });
        self.headers.len() - 1
    }

    /// `Location` for nginx's own redirects (`return 301 ...`, S3.3): replaces any other.
    pub fn set_location(&mut self, value: impl Into<Bytes>) {
        if let Some(i) = self.location.take() {
            self.headers[i].live = false;
        }
        let i = self.push(Bytes::from_static(b"Location"), value);
        self.location = Some(i);
    }

    /// `ngx_http_clean_header`: everything but the list's storage.
    pub fn clear(&mut self) {
        *self = HeadersOut::default();
    }
}

/// The framing of the body that follows a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body is sent (HEAD, 204, 304, HTTP/0.9 aside).
    None,
    Length(u64),
    Chunked,
    /// Ends with the connection.
    Close,
}

/// The header filters, in nginx's order, and the head bytes. Returns how the body is framed.
/// `head` is `None` for HTTP/0.9, which gets no head at all (S2.7).
pub fn filter_and_write(r: &mut Request, h: &mut HeadersOut, out: &mut Vec<u8>) -> Framing {
    if let Some(code) = r.err_status {
        // ngx_http_send_header: an error_page status replaces the response's.
        h.status = code;
        h.status_line = None;
    }
    header_filters(r, h);
    write_head(r, h, out)
}

/// The header filters that change the head before the range filter: headers (`expires`,
/// `add_header`), charset and gzip. Static files run the not-modified filter before these and the
/// range filter after them, then [`write_head`], as nginx's filter order has it.
pub fn header_filters(r: &mut Request, h: &mut HeadersOut) {
    let conf = r.conf.clone();
    headers_filter(r, &conf, h);
    charset_filter(r, &conf, h);
    r.gzip = super::gzip::header_filter(r, h);
}

/// The chunked and header filters: the head's bytes, and how the body is framed.
pub fn write_head(r: &mut Request, h: &mut HeadersOut, out: &mut Vec<u8>) -> Framing {
    let conf = r.conf.clone();
    let mut header_only = r.is_head();
    // ngx_http_header_filter: Last-Modified only for 200/206/304.
    if !matches!(h.status, 200 | 206 | 304) {
        h.last_modified_time = None;
        h.last_modified = None;
    }
    // The 204/304 rules apply to statuses nginx prints itself, not to an upstream's status
    // line passed through.
    if h.status_line.is_some() {
    } else if h.status == 204 {
        header_only = true;
        h.content_type = None;
        h.last_modified_time = None;
        h.last_modified = None;
        h.content_length = None;
    } else if h.status == 304 {
        header_only = true;
    }

    // ngx_http_chunked_header_filter.
    let mut chunked = false;
    let skip_chunked = matches!(h.status, 304 | 204) || h.status < 200 || r.is_head();
    if !skip_chunked && h.content_length.is_none() {
        if r.head.http_minor >= 1 && r.head.http_major >= 1 && conf.chunked_transfer_encoding {
            chunked = true;
        } else {
            r.keepalive = false;
        }
    }

    if r.head.http09 {
        return if header_only {
            Framing::None
        } else {
            Framing::Close
        };
    }

    out.extend_from_slice(b"HTTP/1.1 ");
    match &h.status_line {
        Some(line) => out.extend_from_slice(line),
        None => {
            let mut tmp = Vec::with_capacity(40);
            page::status_line(h.status, &mut tmp);
            out.extend_from_slice(&tmp[9..tmp.len() - 2]);
        }
    }
    out.extend_from_slice(b"\r\n");
    if h.server.is_none() {
        out.extend_from_slice(page::server_header(conf.server_tokens));
    }
    if h.date.is_none() {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(&clock::http_date());
        out.extend_from_slice(b"\r\n");
    }
    // ngx_http_header_filter: an empty type (`default_type ""`) is no header.
    if let Some(ct) = h.content_type.as_ref().filter(|ct| !ct.is_empty()) {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ct);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(len) = h.content_length {
        let _ = write!(out, "Content-Length: {len}\r\n");
    }
    if h.last_modified.is_none() {
        if let Some(t) = h.last_modified_time {
            out.extend_from_slice(b"Last-Modified: ");
            out.extend_from_slice(clock::http_date_of(t).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    let mut location_written = None;
    if let Some(i) = h.location {
        let loc = &h.headers[i];
        if loc.live && loc.value.first() == Some(&b'/') && conf.absolute_redirect {
            out.extend_from_slice(b"Location: ");
            absolute_prefix(r, &conf, out);
            out.extend_from_slice(&loc.value);
            out.extend_from_slice(b"\r\n");
            location_written = Some(i);
        }
    }
    if chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if h.status == 101 {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if r.keepalive {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
        if let Some(t) = conf.keepalive_header {
            let _ = write!(out, "Keep-Alive: timeout={}\r\n", t.as_secs());
        }
    } else {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if r.gzip_vary {
        out.extend_from_slice(b"Vary: Accept-Encoding\r\n");
    }
    for (i, hd) in h.headers.iter().enumerate() {
        if !hd.live || Some(i) == location_written {
            continue;
        }
        out.extend_from_slice(&hd.name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&hd.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");

    if header_only {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else {
        match h.content_length {
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    }
}

/// `http://host[:port]` for a `Location` that starts with `/` (S13.6).
pub fn absolute_prefix(r: &Request, conf: &LocConf, out: &mut Vec<u8>) {
    out.extend_from_slice(if r.conn.https {
        b"https://"
    } else {
        b"http://"
    });
    if conf.server_name_in_redirect {
        out.extend_from_slice(&r.server().server_name);
    } else if r.has_host {
        out.extend_from_slice(&r.host);
    } else if let Some(local) = r.conn.local {
        // ngx_connection_local_sockaddr without a port: no brackets around IPv6.
        let _ = write!(out, "{}", local.ip());
    }
    let port = r.conn.local.map_or(0, |a| a.port());
    let default = if r.conn.https { 443 } else { 80 };
    if conf.port_in_redirect && port != default && port != 0 {
        let _ = write!(out, ":{port}");
    }
}

/// The charset filter: `charset` (or the upstream's `X-Accel-Charset`) appended to a text
/// type as `; charset=X` (`ngx_http_destination_charset`).
fn charset_filter(r: &mut Request, conf: &LocConf, h: &mut HeadersOut) {
    let Some(ct) = h.content_type.clone() else {
        return;
    };
    let name = if let Some(o) = h.override_charset.clone().filter(|o| !o.is_empty()) {
        // Only charsets the configuration names are known (nginx's charset list).
        if known_charset(conf, &o) {
            o.to_vec()
        } else {
            // Logged by the proxy, which knows the upstream.
            return;
        }
    } else {
        let Some(cs) = conf.charset.clone() else {
            return;
        };
        if has_charset(&ct) {
            return;
        }
        let base = ct.split(|&b| b == b';').next().unwrap_or(&ct).trim_ascii();
        if !(cs.any_type || cs.types.contains(&base.to_ascii_lowercase()[..])) {
            return;
        }
        let v = r.eval_vec(&cs.charset);
        if v.is_empty() || v.eq_ignore_ascii_case(b"off") {
            return;
        }
        v
    };
    if has_charset(&ct) {
        return;
    }
    let mut v = ct.to_vec();
    v.extend_from_slice(b"; charset=");
    v.extend_from_slice(&name);
    h.content_type = Some(Bytes::from(v));
}

/// nginx knows the charsets its configuration names (`charset`, `source_charset`,
/// `charset_map`); rginx implements `charset`.
pub fn known_charset(conf: &LocConf, name: &[u8]) -> bool {
    conf.charset
        .as_ref()
        .and_then(|c| c.charset.as_literal())
        .is_some_and(|c| c.eq_ignore_ascii_case(name))
}

fn has_charset(ct: &[u8]) -> bool {
    ct.windows(8).any(|w| w.eq_ignore_ascii_case(b"charset="))
}

/// `ngx_http_headers_filter`: `expires` and `add_header` (S13.7).
fn headers_filter(r: &mut Request, conf: &LocConf, h: &mut HeadersOut) {
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
        let name = Bytes::copy_from_slice(&ah.name);
        if ah.name.eq_ignore_ascii_case(b"cache-control") || ah.name.eq_ignore_ascii_case(b"link") {
            if !value.is_empty() {
                let i = h.push(name, value);
                if ah.name.eq_ignore_ascii_case(b"cache-control") {
                    h.cache_control.push(i);
                }
            }
        } else if ah.name.eq_ignore_ascii_case(b"last-modified") {
            h.last_modified_time = None;
            replace(h, |h| &mut h.last_modified, name, value);
        } else if ah.name.eq_ignore_ascii_case(b"etag") {
            replace(h, |h| &mut h.etag, name, value);
        } else if !value.is_empty() {
            h.push(name, value);
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
            match crate::config::value::parse_expires(&v, false) {
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

/// Appends a chunk (`len` in lowercase hex, as nginx) around `data`.
pub fn chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
