//! The response head as nginx writes it (`ngx_http_header_filter`, with the chunked filter's
//! decision before it): the status line, nginx's header order (S13.2), absolute redirects
//! (S13.6), keep-alive (S13.4, S13.12) and the framing of the body (S10.4); and the order in
//! which the header filters run before it.

use std::io::Write;

use super::{charset, gzip, headers};
use crate::ir::location::LocConf;
pub use crate::runtime::base::http1::Framing;
use crate::runtime::base::{clock, page};
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;

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
    headers::headers_filter(r, &conf, h);
    charset::charset_filter(r, &conf, h);
    r.gzip = gzip::header_filter(r, h);
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
            Framing::Empty
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
        Framing::Empty
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
