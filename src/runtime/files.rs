//! Static files: `root`/`alias`, `try_files`, `index`, and nginx's static handler (the
//! content phase of a location without `proxy_pass`).
//!
//! Paths are built the way nginx builds them (`ngx_http_map_uri_to_path`) from the
//! normalised `$uri`, which cannot contain `..` segments (the request parser resolves them
//! and rejects a URI that climbs above `/`), so a file name never leaves `root`/`alias`.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use bytes::Bytes;

use super::conn::Client;
use super::handler::{self, Next};
use super::http1::request::{escape_uri, Method};
use super::io;
use super::log;
use super::request::Request;
use super::respond::{self, Framing, HeadersOut};
use crate::ir::location::{LocConf, Root, TryFilesFallback};
use crate::ir::{Level, Var};

/// `$document_root`, `$realpath_root`, `$request_filename`.
pub fn path_var(r: &mut Request, v: &Var, out: &mut Vec<u8>) {
    let conf = r.conf.clone();
    match v {
        Var::DocumentRoot => root_of(r, &conf, out),
        Var::RealpathRoot => {
            let mut root = Vec::new();
            root_of(r, &conf, &mut root);
            match std::fs::canonicalize(OsStr::from_bytes(&root)) {
                Ok(p) => out.extend_from_slice(p.as_os_str().as_bytes()),
                Err(_) => out.extend_from_slice(&root),
            }
        }
        _ => {
            let uri = r.uri.clone();
            map_uri(r, &conf, &uri, out);
        }
    }
}

/// The root (or alias) directory, evaluated.
fn root_of(r: &mut Request, conf: &LocConf, out: &mut Vec<u8>) {
    match &conf.root {
        Root::Root(t) => r.eval(t, out),
        Root::Alias { path, .. } => r.eval(path, out),
    }
}

/// `ngx_http_map_uri_to_path`: the file name for `uri`.
fn map_uri(r: &mut Request, conf: &LocConf, uri: &[u8], out: &mut Vec<u8>) {
    match &conf.root {
        Root::Root(t) => {
            r.eval(t, out);
            out.extend_from_slice(uri);
        }
        Root::Alias {
            path,
            location_len: Some(n),
        } => {
            r.eval(path, out);
            out.extend_from_slice(&uri[(*n).min(uri.len())..]);
        }
        Root::Alias {
            path,
            location_len: None,
        } => {
            r.eval(path, out);
            if r.add_uri_to_alias {
                out.extend_from_slice(uri);
            }
        }
    }
}

/// The content phase without `proxy_pass`: `try_files`, then index or static.
pub async fn serve(r: &mut Request, c: &mut Client) -> Next {
    let conf = r.conf.clone();
    if let Some(tf) = &conf.try_files {
        let mut found = false;
        for (t, test_dir) in &tf.files {
            let name = r.eval_vec(t);
            let mut path = Vec::new();
            let alias_len = match &conf.root {
                Root::Alias { location_len, .. } => Some(*location_len),
                Root::Root(_) => None,
            };
            // The candidate relative to root/alias.
            let rel: Vec<u8> = match alias_len {
                Some(Some(n)) if name.len() >= n && r.uri.len() >= n && name[..n] == r.uri[..n] => {
                    name[n..].to_vec()
                }
                _ => name.clone(),
            };
            root_of(r, &conf, &mut path);
            path.extend_from_slice(&rel);
            let meta = std::fs::metadata(OsStr::from_bytes(&path));
            match meta {
                Ok(m) if m.is_dir() == *test_dir => {
                    match alias_len {
                        None => r.uri = name,
                        Some(None) => {
                            if !test_dir {
                                r.uri = name;
                                r.add_uri_to_alias = true;
                            }
                        }
                        Some(Some(n)) => {
                            let mut u = r.uri[..n.min(r.uri.len())].to_vec();
                            u.extend_from_slice(&rel);
                            r.uri = u;
                        }
                    }
                    found = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    let code = e.raw_os_error().unwrap_or(0);
                    if !matches!(code, 2 | 20 | 36) {
                        log::error(
                            r,
                            Level::Crit,
                            format_args!(
                                "stat() \"{}\" failed {}",
                                String::from_utf8_lossy(&path),
                                io::errno_text(&e)
                            ),
                        );
                    }
                }
            }
        }
        if !found {
            return match &tf.fallback {
                TryFilesFallback::Code(code) => Next::Status(*code),
                TryFilesFallback::Named(n) => Next::Named(n.to_vec()),
                TryFilesFallback::Uri(t) => {
                    let v = r.eval_vec(t);
                    let (uri, args) = match v.iter().position(|&b| b == b'?') {
                        Some(q) => (v[..q].to_vec(), Some(Bytes::copy_from_slice(&v[q + 1..]))),
                        None => (v, r.args.clone()),
                    };
                    Next::Redirect(uri, args)
                }
            };
        }
    }
    if r.uri.last() == Some(&b'/') {
        return index(r, c, &conf).await;
    }
    static_file(r, c, &conf).await
}

/// The index module, then the directory answer.
async fn index(r: &mut Request, c: &mut Client, conf: &LocConf) -> Next {
    if !matches!(r.method, Method::Get | Method::Head | Method::Post) {
        return Next::Status(405);
    }
    let uri = r.uri.clone();
    let mut dir = Vec::new();
    map_uri(r, conf, &uri, &mut dir);
    let mut dir_tested = false;
    for t in conf.index.iter() {
        let name = r.eval_vec(t);
        if name.first() == Some(&b'/') {
            return Next::Redirect(name, r.args.clone());
        }
        let mut path = dir.clone();
        path.extend_from_slice(&name);
        match std::fs::metadata(OsStr::from_bytes(&path)) {
            Ok(_) => {
                let mut u = r.uri.clone();
                u.extend_from_slice(&name);
                return Next::Redirect(u, r.args.clone());
            }
            Err(e) => {
                let code = e.raw_os_error().unwrap_or(0);
                if matches!(code, 20 | 36 | 13) {
                    return index_error(r, conf, &path, &e);
                }
                if !dir_tested {
                    match std::fs::metadata(OsStr::from_bytes(&dir)) {
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            log::error(
                                r,
                                Level::Alert,
                                format_args!(
                                    "\"{}\" is not a directory",
                                    String::from_utf8_lossy(&dir)
                                ),
                            );
                            return Next::Status(500);
                        }
                        // nginx cut the path at the directory to test it, then put the
                        // byte back: the message names the index file.
                        Err(e) if e.raw_os_error() == Some(2) => {
                            return index_error(r, conf, &path, &e)
                        }
                        Err(e) if e.raw_os_error() == Some(13) => {}
                        Err(e) => {
                            log::error(
                                r,
                                Level::Crit,
                                format_args!(
                                    "stat() \"{}\" failed {}",
                                    String::from_utf8_lossy(&dir),
                                    io::errno_text(&e)
                                ),
                            );
                            return Next::Status(500);
                        }
                    }
                    dir_tested = true;
                }
                if code == 2 {
                    continue;
                }
                log::error(
                    r,
                    Level::Crit,
                    format_args!(
                        "stat() \"{}\" failed {}",
                        String::from_utf8_lossy(&path),
                        io::errno_text(&e)
                    ),
                );
                return Next::Status(500);
            }
        }
    }
    log::error(
        r,
        Level::Error,
        format_args!(
            "directory index of \"{}\" is forbidden",
            String::from_utf8_lossy(&dir)
        ),
    );
    let _ = c;
    Next::Status(403)
}

fn index_error(r: &Request, conf: &LocConf, file: &[u8], e: &std::io::Error) -> Next {
    if e.raw_os_error() == Some(13) {
        log::error(
            r,
            Level::Error,
            format_args!(
                "\"{}\" is forbidden {}",
                String::from_utf8_lossy(file),
                io::errno_text(e)
            ),
        );
        return Next::Status(403);
    }
    if conf.log_not_found {
        log::error(
            r,
            Level::Error,
            format_args!(
                "\"{}\" is not found {}",
                String::from_utf8_lossy(file),
                io::errno_text(e)
            ),
        );
    }
    Next::Status(404)
}

/// `ngx_http_static_handler`.
async fn static_file(r: &mut Request, c: &mut Client, conf: &LocConf) -> Next {
    if !matches!(r.method, Method::Get | Method::Head | Method::Post) {
        return Next::Status(405);
    }
    let uri = r.uri.clone();
    let mut path = Vec::new();
    map_uri(r, conf, &uri, &mut path);
    let p = Path::new(OsStr::from_bytes(&path));
    let file = std::fs::File::open(p).and_then(|f| f.metadata().map(|m| (f, m)));
    let (file, meta) = match file {
        Ok(x) => x,
        Err(e) => {
            let (status, level) = match e.raw_os_error().unwrap_or(0) {
                2 | 20 | 36 => (404, Level::Error),
                13 | 31 | 40 => (403, Level::Error),
                _ => (500, Level::Crit),
            };
            if status != 404 || conf.log_not_found {
                log::error(
                    r,
                    level,
                    format_args!(
                        "open() \"{}\" failed {}",
                        String::from_utf8_lossy(&path),
                        io::errno_text(&e)
                    ),
                );
            }
            return Next::Status(status);
        }
    };
    if meta.is_dir() {
        // A directory without the slash: 301 to it.
        let mut loc = Vec::with_capacity(uri.len() + 2 + r.args().len());
        escape_uri(&uri, &mut loc);
        loc.push(b'/');
        if !r.args().is_empty() {
            loc.push(b'?');
            loc.extend_from_slice(r.args());
        }
        r.out.set_location(loc);
        return Next::Status(301);
    }
    if !meta.is_file() {
        log::error(
            r,
            Level::Crit,
            format_args!(
                "\"{}\" is not a regular file",
                String::from_utf8_lossy(&path)
            ),
        );
        return Next::Status(404);
    }
    if r.method == Method::Post {
        return Next::Status(405);
    }
    if !super::body::discard(r, c).await {
        r.keepalive = false;
    }
    let mut h = std::mem::take(&mut r.out);
    h.status = 200;
    h.content_length = Some(meta.len());
    let mtime = meta.mtime();
    h.last_modified_time = Some(mtime);
    if conf.etag {
        let etag = format!("\"{:x}-{:x}\"", mtime, meta.len());
        let i = h.push(Bytes::from_static(b"ETag"), Bytes::from(etag.into_bytes()));
        h.etag = Some(i);
    }
    if h.content_type.is_none() {
        h.content_type = Some(handler::content_type(r, conf));
    }
    // ngx_http_not_modified_filter: If-Modified-Since / If-None-Match.
    if not_modified(r, conf, &h, mtime) {
        h.status = 304;
        h.content_type = None;
        h.content_length = None;
        return send_file(r, c, h, None).await;
    }
    // The range filter's `Accept-Ranges` for a full 200 response.
    h.push(
        Bytes::from_static(b"Accept-Ranges"),
        Bytes::from_static(b"bytes"),
    );
    send_file(r, c, h, Some(file)).await
}

fn not_modified(r: &Request, conf: &LocConf, h: &HeadersOut, mtime: i64) -> bool {
    use crate::ir::location::IfModifiedSince;
    let ims = r.head.find(b"if-modified-since");
    let inm = r.head.find(b"if-none-match");
    if ims.is_none() && inm.is_none() {
        return false;
    }
    if let Some(v) = ims {
        if conf.if_modified_since == IfModifiedSince::Off {
            return false;
        }
        let Some(t) = std::str::from_utf8(v)
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok())
        else {
            return false;
        };
        let since = t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let ok = match conf.if_modified_since {
            IfModifiedSince::Exact => since == mtime,
            IfModifiedSince::Before => since >= mtime,
            IfModifiedSince::Off => false,
        };
        if !ok {
            return false;
        }
    }
    if let Some(v) = inm {
        let Some(etag) = h.etag.map(|i| h.headers[i].value.clone()) else {
            return false;
        };
        if v != b"*" && !v.split(|&b| b == b',').any(|t| t.trim_ascii() == &etag[..]) {
            return false;
        }
    }
    true
}

/// Sends the head, then the file in 64 KiB reads.
async fn send_file(
    r: &mut Request,
    c: &mut Client,
    mut h: HeadersOut,
    file: Option<std::fs::File>,
) -> Next {
    let mut head = Vec::with_capacity(320);
    let framing = respond::filter_and_write(r, &mut h, &mut head);
    r.sent.status = h.status;
    r.sent.header_bytes = head.len() as u64;
    r.sent.head = Some(Bytes::copy_from_slice(&head));
    let timeout = r.conf.send_timeout;
    let mut file = match (framing, file) {
        (Framing::None, _) | (_, None) => {
            if let Err(e) = io::write_all(&mut c.stream, &head, timeout).await {
                handler::client_write_error(r, &e);
                r.keepalive = false;
                r.sent.incomplete = true;
            }
            return Next::Done;
        }
        (_, Some(f)) => f,
    };
    let chunked = framing == Framing::Chunked;
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = Some(head);
    let mut sent = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                log::error(
                    r,
                    Level::Crit,
                    format_args!("read() failed {}", io::errno_text(&e)),
                );
                r.keepalive = false;
                r.sent.incomplete = true;
                return Next::Done;
            }
        };
        let mut frame = first.take().unwrap_or_default();
        if chunked && n > 0 {
            respond::chunk(&buf[..n], &mut frame);
        } else {
            frame.extend_from_slice(&buf[..n]);
        }
        if n == 0 && chunked {
            frame.extend_from_slice(respond::LAST_CHUNK);
        }
        if !frame.is_empty() {
            if let Err(e) = io::write_all(&mut c.stream, &frame, timeout).await {
                handler::client_write_error(r, &e);
                r.keepalive = false;
                r.sent.incomplete = true;
                return Next::Done;
            }
            sent += frame.len() as u64;
        }
        if n == 0 {
            break;
        }
    }
    r.sent.body_bytes = sent.saturating_sub(r.sent.header_bytes);
    if framing == Framing::Close {
        r.keepalive = false;
    }
    Next::Done
}
