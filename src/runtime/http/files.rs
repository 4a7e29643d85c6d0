//! Static files: `root`/`alias`, `try_files`, `index`, and nginx's static handler (the
//! content phase of a location without `proxy_pass`).
//!
//! Paths are built the way nginx builds them (`ngx_http_map_uri_to_path`) from the
//! normalised `$uri`, which cannot contain `..` segments (the request parser resolves them,
//! encoded or not, and rejects a URI that climbs above `/`), so a file name stays under
//! `root`/`alias`. Two ways out are nginx's own and kept: symbolic links are followed
//! (`disable_symlinks off`, nginx's default), and an `alias` ending in `/` under a location
//! that does not (`location /img { alias /srv/img/; }`) turns `/img../x` into `/srv/img/../x`
//! (`rginx -t` warns about that configuration).
//!
//! What the content phase answers is nginx's, module by module: `try_files`
//! (`ngx_http_try_files_module.c`), `index` (`ngx_http_index_module.c`), the static handler
//! (`ngx_http_static_module.c`), then the header filters in nginx's order (`not_modified`,
//! headers and charset, `range`) and the body.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use super::body;
use crate::ir::location::{LocConf, Root, TryFiles, TryFilesFallback};
use crate::ir::{Level, Template};
use crate::runtime::base::http1::request::{escape_uri, Method};
use crate::runtime::filters::body::BodyWriter;
use crate::runtime::filters::head::{self as respond, Framing};
use crate::runtime::filters::not_modified::{self, Verdict};
use crate::runtime::filters::range::{self, Piece};
use crate::runtime::state::conn::Client;
use crate::runtime::state::log;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;
use crate::runtime::vars::path::{alias_usable, map_uri, root_of};
use nix::libc::{EACCES, ELOOP, EMLINK, ENAMETOOLONG, ENOENT, ENOTDIR};

/// The content phase without `proxy_pass`: `try_files` (nginx's precontent phase), then the
/// index module for a URI ending in `/`, else the static module.
pub async fn serve(r: &mut Request, c: &mut Client) -> Next {
    let conf = r.conf.clone();
    if let Some(tf) = &conf.try_files {
        if let Some(next) = try_files(r, &conf, tf) {
            return next;
        }
    }
    if r.uri.last() == Some(&b'/') {
        return index(r, c, &conf).await;
    }
    static_file(r, c, &conf).await
}

/// `ngx_http_try_files_handler`. Each candidate is evaluated and put after the root (or
/// alias) directory; the first that exists as what it should be (a directory for a name
/// that ended in `/`, anything else otherwise) becomes the URI and the phases go on (`None`).
/// The last element is not tested: it is `=code`, `@named`, or a URI to redirect to (its own
/// `?args` replace the request's, none leaves none).
///
/// With `alias`, a candidate with variables that starts with the location's prefix loses it
/// (`$uri` names the file under the alias), a literal one does not; in a regex location the
/// candidate is appended to the whole alias. These are nginx's rules, quirks included.
fn try_files(r: &mut Request, conf: &LocConf, tf: &TryFiles) -> Option<Next> {
    let mut base = Vec::new();
    if !alias_usable(r, conf) {
        return Some(Next::Status(500));
    }
    root_of(r, conf, &mut base);
    let alias = match &conf.root {
        Root::Root(_) => None,
        Root::Alias { location_len, .. } => Some(*location_len),
    };
    // The candidate's name, after the alias's prefix is cut.
    let name_of = |r: &mut Request, t: &Template| -> Vec<u8> {
        let mut name = r.eval_vec(t);
        if let Some(Some(n)) = alias {
            if t.has_vars() && name.len() >= n && r.uri.len() >= n && name[..n] == r.uri[..n] {
                name.drain(..n);
            }
        }
        name
    };
    for (t, test_dir) in &tf.files {
        let name = name_of(r, t);
        let mut path = base.clone();
        path.extend_from_slice(&name);
        match std::fs::metadata(OsStr::from_bytes(&path)) {
            Ok(m) if m.is_dir() == *test_dir => {}
            Ok(_) => continue,
            Err(e) => {
                if !matches!(
                    e.raw_os_error(),
                    Some(ENOENT) | Some(ENOTDIR) | Some(ENAMETOOLONG)
                ) {
                    log::error_errno(
                        r,
                        Level::Crit,
                        format_args!("stat() \"{}\" failed", String::from_utf8_lossy(&path)),
                        &e,
                    );
                }
                continue;
            }
        }
        match alias {
            None => r.uri = name,
            Some(None) => {
                if !test_dir {
                    r.uri = name;
                    r.add_uri_to_alias = true;
                }
            }
            Some(Some(n)) => {
                let mut uri = r.uri[..n.min(r.uri.len())].to_vec();
                uri.extend_from_slice(&name);
                r.uri = uri;
            }
        }
        return None;
    }
    Some(match &tf.fallback {
        // ngx_http_finalize_request with a status below 300 that is neither 201 nor 204 is no
        // special response: the request ends with nothing sent (logged as 000), and a
        // keep-alive connection goes on.
        TryFilesFallback::Code(code) if *code < 300 && !matches!(code, 201 | 204) => Next::Done,
        TryFilesFallback::Code(code) => Next::Status(*code),
        TryFilesFallback::Named(n) => Next::Named(n.to_vec()),
        TryFilesFallback::Uri(t) => {
            let v = name_of(r, t);
            if v.first() == Some(&b'@') {
                return Some(Next::Named(v));
            }
            // ngx_http_split_args.
            match v.iter().position(|&b| b == b'?') {
                Some(q) => {
                    Next::Redirect(v[..q].to_vec(), Some(Bytes::copy_from_slice(&v[q + 1..])))
                }
                None => Next::Redirect(v, None),
            }
        }
    })
}

/// `ngx_http_index_handler`: the first index name that exists is an internal redirect (an
/// absolute name at once); when none does, the directory itself is tested once, so that a
/// missing directory is a 404 and an existing one without index the content phase's 403.
async fn index(r: &mut Request, c: &mut Client, conf: &LocConf) -> Next {
    if !matches!(r.method, Method::Get | Method::Head | Method::Post) {
        return Next::Status(405);
    }
    let mut dir: Option<Vec<u8>> = None;
    let mut dir_tested = false;
    for t in conf.index.iter() {
        if let Some(lit) = t.as_literal() {
            if lit.first() == Some(&b'/') {
                return Next::Redirect(lit.to_vec(), r.args.clone());
            }
        }
        if dir.is_none() {
            let uri = r.uri.clone();
            let mut d = Vec::new();
            if !map_uri(r, conf, &uri, &mut d) {
                return Next::Status(500);
            }
            dir = Some(d);
        }
        let name = r.eval_vec(t);
        if name.first() == Some(&b'/') {
            return Next::Redirect(name, r.args.clone());
        }
        let base = dir.as_deref().unwrap_or_default();
        let mut path = base.to_vec();
        path.extend_from_slice(&name);
        let e = match std::fs::metadata(OsStr::from_bytes(&path)) {
            Ok(_) => {
                let mut u = r.uri.clone();
                u.extend_from_slice(&name);
                return Next::Redirect(u, r.args.clone());
            }
            Err(e) => e,
        };
        let code = e.raw_os_error().unwrap_or(0);
        if matches!(code, EMLINK | ELOOP) {
            return Next::Status(403);
        }
        if matches!(code, ENOTDIR | ENAMETOOLONG | EACCES) {
            return index_error(r, conf, &path, &e);
        }
        if !dir_tested {
            if let Err(next) = index_test_dir(r, conf, base, &path) {
                return next;
            }
            dir_tested = true;
        }
        if code == ENOENT {
            continue;
        }
        log::error_errno(
            r,
            Level::Crit,
            format_args!("stat() \"{}\" failed", String::from_utf8_lossy(&path)),
            &e,
        );
        return Next::Status(500);
    }
    // ngx_http_core_content_phase: no handler took the directory.
    let uri = r.uri.clone();
    let mut path = Vec::new();
    if map_uri(r, conf, &uri, &mut path) {
        log::error(
            r,
            Level::Error,
            format_args!(
                "directory index of \"{}\" is forbidden",
                String::from_utf8_lossy(&path)
            ),
        );
    }
    let _ = c;
    Next::Status(403)
}

/// `ngx_http_index_test_dir`: the directory an index name was looked for in, without its
/// trailing slash (`base` is the mapped URI, `path` the index file's name). nginx writes a
/// NUL into the file name to test the directory and puts the byte back before some of its
/// messages, which therefore name the index file.
fn index_test_dir(r: &Request, conf: &LocConf, base: &[u8], path: &[u8]) -> Result<(), Next> {
    let dir = match base {
        [rest @ .., b'/'] if !rest.is_empty() => rest,
        _ => base,
    };
    match std::fs::metadata(OsStr::from_bytes(dir)) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => {
            log::error(
                r,
                Level::Alert,
                format_args!("\"{}\" is not a directory", String::from_utf8_lossy(path)),
            );
            Err(Next::Status(500))
        }
        Err(e) => match e.raw_os_error().unwrap_or(0) {
            EMLINK | ELOOP => Err(Next::Status(403)),
            ENOENT => Err(index_error(r, conf, path, &e)),
            // Searching the directory is allowed: the index's own error said so.
            EACCES => Ok(()),
            _ => {
                log::error_errno(
                    r,
                    Level::Crit,
                    format_args!("stat() \"{}\" failed", String::from_utf8_lossy(dir)),
                    &e,
                );
                Err(Next::Status(500))
            }
        },
    }
}

/// `ngx_http_index_error`.
fn index_error(r: &Request, conf: &LocConf, file: &[u8], e: &std::io::Error) -> Next {
    if e.raw_os_error() == Some(EACCES) {
        log::error_errno(
            r,
            Level::Error,
            format_args!("\"{}\" is forbidden", String::from_utf8_lossy(file)),
            e,
        );
        return Next::Status(403);
    }
    if conf.log_not_found {
        log::error_errno(
            r,
            Level::Error,
            format_args!("\"{}\" is not found", String::from_utf8_lossy(file)),
            e,
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
    if !map_uri(r, conf, &uri, &mut path) {
        return Next::Status(500);
    }
    let (file, meta) = match open(&path) {
        Ok(x) => x,
        Err(e) => {
            let (status, level) = match e.raw_os_error().unwrap_or(0) {
                ENOENT | ENOTDIR | ENAMETOOLONG => (404, Level::Error),
                EACCES | EMLINK | ELOOP => (403, Level::Error),
                _ => (500, Level::Crit),
            };
            if status != 404 || conf.log_not_found {
                log::error_errno(
                    r,
                    level,
                    format_args!("open() \"{}\" failed", String::from_utf8_lossy(&path)),
                    &e,
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
    if !body::discard(r, c).await {
        r.keepalive = false;
    }
    let mut h = std::mem::take(&mut r.out);
    h.status = 200;
    h.content_length = Some(meta.len());
    let mtime = meta.mtime();
    h.last_modified_time = Some(mtime);
    if conf.etag {
        // ngx_http_set_etag: "MTIME-SIZE" in hex.
        let etag = format!("\"{:x}-{:x}\"", mtime, meta.len());
        let i = h.push(Bytes::from_static(b"ETag"), Bytes::from(etag.into_bytes()));
        h.etag = Some(i);
    }
    if h.content_type.is_none() {
        h.content_type = Some(r.content_type(conf));
    }
    // The header filters in nginx's order: err_status (an error_page's status replaces 200),
    // not modified, headers and charset, range, then the head itself.
    if let Some(code) = r.err_status {
        h.status = code;
        h.status_line = None;
    }
    match not_modified::header_filter(r, conf, &mut h) {
        Verdict::Send | Verdict::NotModified => {}
        Verdict::PreconditionFailed => {
            // ngx_http_filter_finalize_request: a clean head (`h` is dropped), nginx's page
            // or the error_page, then the connection closes.
            r.filter_finalize = true;
            return Next::Status(412);
        }
    }
    respond::header_filters(r, &mut h);
    let pieces = match range::header_filter(r, conf, &mut h) {
        range::Outcome::Whole => vec![Piece::File(0..meta.len())],
        range::Outcome::Partial(pieces) => pieces,
        range::Outcome::NotSatisfiable => {
            // The header filter returned 416: nginx finalizes with its page, keeping what
            // the filters added to the head (Content-Range, add_header's lines).
            r.out = h;
            return Next::Status(416);
        }
    };
    send_file(r, c, h, file, &path, &pieces).await
}

/// Opens a file as nginx does (`ngx_open_and_stat_file`): non-blocking, so that a FIFO
/// cannot hang the worker, following symbolic links (`disable_symlinks off`).
fn open(path: &[u8]) -> std::io::Result<(File, std::fs::Metadata)> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(Path::new(OsStr::from_bytes(path)))?;
    let m = f.metadata()?;
    Ok((f, m))
}

/// Sends the head, then the body's pieces (file ranges read 64 KiB at a time) through the
/// body writer.
async fn send_file(
    r: &mut Request,
    c: &mut Client,
    mut h: HeadersOut,
    file: File,
    path: &[u8],
    pieces: &[Piece],
) -> Next {
    let mut head = Vec::with_capacity(320);
    let framing = respond::write_head(r, &mut h, &mut head);
    r.sent.status = h.status;
    r.sent.header_bytes = head.len() as u64;
    let head = Bytes::from(head);
    r.sent.head = Some(head.clone());
    let timeout = r.conf.send_timeout;
    let mut w = BodyWriter::new(head, framing, r.gzip.take());
    let mut failed = false;
    if w.sends_body() {
        'pieces: for piece in pieces {
            let range = match piece {
                Piece::Mem(b) => {
                    w.pass([b.clone()], b.len());
                    continue;
                }
                Piece::File(range) => range,
            };
            let mut pos = range.start;
            while pos < range.end {
                let Some(data) = read_piece(r, &file, path, range, pos) else {
                    failed = true;
                    break 'pieces;
                };
                let n = data.len();
                pos += n as u64;
                w.pass([data], n);
                if w.queued() >= CHUNK && !write(r, c, &mut w, timeout).await {
                    return Next::Done;
                }
            }
        }
        if !failed {
            w.finish();
        }
    }
    // What was read is sent; after a read failure the response is cut short and the
    // connection closed.
    if !write(r, c, &mut w, timeout).await {
        return Next::Done;
    }
    r.sent.body_bytes = w.body_bytes();
    if failed {
        r.keepalive = false;
        r.sent.incomplete = true;
    }
    if framing == Framing::Close {
        r.keepalive = false;
    }
    Next::Done
}

/// The file is read in pieces of this size.
const CHUNK: usize = 64 * 1024;

/// Reads the next piece of `range` from `pos`; `None` after logging a failure (a file that
/// shrank since it was opened, a read error).
fn read_piece(
    r: &Request,
    file: &File,
    path: &[u8],
    range: &std::ops::Range<u64>,
    pos: u64,
) -> Option<Bytes> {
    let want = CHUNK.min((range.end - pos) as usize);
    let mut buf = vec![0u8; want];
    loop {
        return match file.read_at(&mut buf, pos) {
            Ok(0) => {
                log::error(
                    r,
                    Level::Alert,
                    format_args!(
                        "pread() read only {} of {} from \"{}\"",
                        pos - range.start,
                        range.end - range.start,
                        String::from_utf8_lossy(path)
                    ),
                );
                None
            }
            Ok(n) => {
                buf.truncate(n);
                Some(Bytes::from(buf))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::error_errno(
                    r,
                    Level::Crit,
                    format_args!("pread() \"{}\" failed", String::from_utf8_lossy(path)),
                    &e,
                );
                None
            }
        };
    }
}

/// Writes what is queued to the client; on failure, logs as nginx does and marks the
/// response incomplete.
async fn write(r: &mut Request, c: &mut Client, w: &mut BodyWriter, timeout: Duration) -> bool {
    match w.flush(&mut c.stream, timeout).await {
        Ok(()) => true,
        Err(e) => {
            r.sent.body_bytes = w.body_bytes();
            log::client_write_error(r, &e);
            r.keepalive = false;
            r.sent.incomplete = true;
            false
        }
    }
}
