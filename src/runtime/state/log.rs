//! The error log's lines about requests and connections, in nginx's words and layout
//! (`message while ACTION, client: ..., server: ..., request: "...", upstream: "...", host:
//! "..."`), so tools that read nginx's error log read rginx's. The files and the line prefix
//! are `base::log`'s; the access log's lines are the log phase's (`http::log`), which
//! evaluates variables; the `tracing` layer for process-level events is the master's.

use std::fmt;
use std::io::Write;

use super::conn::ConnInfo;
use super::request::Request;
use super::snapshot::Snapshot;
use crate::ir::header::Known;
use crate::ir::{ErrorLog, Level};
use crate::runtime::base::io;
use crate::runtime::base::log::{finish, prefix, MAX_ERROR_STR};

/// Context an error-log line ends with (`ngx_http_log_error_handler`).
#[derive(Default)]
pub struct Upstream<'a> {
    /// `http://`
    pub schema: &'a [u8],
    /// The peer (`127.0.0.1:8081`) or the upstream's name when none was available.
    pub name: &'a [u8],
    pub unix: bool,
    /// The URI sent upstream.
    pub uri: &'a [u8],
}

/// An error-log line about a request: `msg[ while action], client: ..., server: ...,
/// request: "...", [upstream: "...",] host: "..."`.
pub fn error_full(
    r: &Request,
    level: Level,
    msg: fmt::Arguments<'_>,
    action: Option<&str>,
    upstream: Option<&Upstream<'_>>,
) {
    request_error(r, level, msg, None, action, upstream)
}

/// An error-log line about a request whose message ends with an errno, `(N: text)`. nginx
/// keeps room for it (`ngx_log_errno`): a message longer than the line allows is cut 50
/// bytes before the end, marked `...`, and the errno follows (a file name of 4000 bytes
/// still says why it failed).
pub fn error_errno(r: &Request, level: Level, msg: fmt::Arguments<'_>, err: &std::io::Error) {
    request_error(r, level, msg, Some(err), None, None)
}

fn request_error(
    r: &Request,
    level: Level,
    msg: fmt::Arguments<'_>,
    errno: Option<&std::io::Error>,
    action: Option<&str>,
    upstream: Option<&Upstream<'_>>,
) {
    let targets: &[ErrorLog] = if r.conf.error_log.is_empty() {
        &r.snap.config.main.error_log
    } else {
        &r.conf.error_log
    };
    if !targets.iter().any(|t| level <= t.level) {
        return;
    }
    let mut line = Vec::with_capacity(256);
    prefix(level, Some(r.conn.number), &mut line);
    let _ = line.write_fmt(msg);
    if let Some(e) = errno {
        errno_part(e, &mut line);
    }
    if let Some(a) = action {
        let _ = write!(line, " while {a}");
    }
    line.extend_from_slice(b", client: ");
    client_text(r.conn.remote, &mut line);
    line.extend_from_slice(b", server: ");
    line.extend_from_slice(&r.server().server_name);
    request_text(r, &mut line);
    if let Some(u) = upstream {
        line.extend_from_slice(b", upstream: \"");
        line.extend_from_slice(u.schema);
        line.extend_from_slice(u.name);
        if u.unix {
            line.push(b':');
        }
        line.extend_from_slice(u.uri);
        line.push(b'"');
    }
    if let Some(i) = r.head.host_header {
        line.extend_from_slice(b", host: \"");
        line.extend_from_slice(r.head.header(i).1);
        line.push(b'"');
    }
    if let Some(referer) = r.head.known(Known::Referer) {
        line.extend_from_slice(b", referrer: \"");
        line.extend_from_slice(referer);
        line.push(b'"');
    }
    finish(&mut line);
    for t in targets.iter().filter(|t| level <= t.level) {
        r.snap.logs.write(&t.target, &line);
    }
}

/// A line logged while the head is still being read: the server is the default one and there
/// is no `host:` unless the Host line was already processed (`host_known`).
pub fn error_parse(
    r: &Request,
    level: Level,
    msg: fmt::Arguments<'_>,
    action: &str,
    host_known: bool,
) {
    if host_known {
        return error_full(r, level, msg, Some(action), None);
    }
    let targets: &[ErrorLog] = &r.snap.config.main.error_log;
    if !targets.iter().any(|t| level <= t.level) {
        return;
    }
    let mut line = Vec::with_capacity(256);
    prefix(level, Some(r.conn.number), &mut line);
    let _ = line.write_fmt(msg);
    let _ = write!(line, " while {action}");
    line.extend_from_slice(b", client: ");
    client_text(r.conn.remote, &mut line);
    line.extend_from_slice(b", server: ");
    let ac = r.addr_conf();
    line.extend_from_slice(&r.snap.http().servers[ac.default_server.0 as usize].server_name);
    request_text(r, &mut line);
    finish(&mut line);
    for t in targets.iter().filter(|t| level <= t.level) {
        r.snap.logs.write(&t.target, &line);
    }
}

/// `ngx_log_errno`: ` (N: text)` after the message, which is cut to leave it room.
fn errno_part(e: &std::io::Error, line: &mut Vec<u8>) {
    if line.len() > MAX_ERROR_STR - 50 {
        line.truncate(MAX_ERROR_STR - 50);
        line.extend_from_slice(b"...");
    }
    line.push(b' ');
    line.extend_from_slice(io::errno_text(e).as_bytes());
}

/// A failed write to the client, as nginx logs it (at info).
pub fn client_write_error(r: &Request, e: &io::IoError) {
    let msg = match e {
        io::IoError::TimedOut => "client timed out (110: Connection timed out)".to_string(),
        io::IoError::Io(e) => format!("writev() failed {}", io::errno_text(e)),
    };
    error_full(
        r,
        Level::Info,
        format_args!("{msg}"),
        Some("sending to client"),
        None,
    );
}

/// An error-log line about a request, without an action or upstream.
pub fn error(r: &Request, level: Level, msg: fmt::Arguments<'_>) {
    error_full(r, level, msg, None, None)
}

/// An error-log line about a connection with no request yet (`, client: X, server: ADDR`).
pub fn conn_error(
    snap: &Snapshot,
    conn: &ConnInfo,
    level: Level,
    msg: fmt::Arguments<'_>,
    action: Option<&str>,
) {
    let targets = &snap.config.main.error_log;
    if !targets.iter().any(|t| level <= t.level) {
        return;
    }
    let mut line = Vec::with_capacity(160);
    prefix(level, Some(conn.number), &mut line);
    let _ = line.write_fmt(msg);
    if let Some(a) = action {
        let _ = write!(line, " while {a}");
    }
    line.extend_from_slice(b", client: ");
    client_text(conn.remote, &mut line);
    line.extend_from_slice(b", server: ");
    let sock = &snap.http().sockets[conn.socket];
    let _ = write!(line, "{}", sock.addr);
    finish(&mut line);
    for t in targets.iter().filter(|t| level <= t.level) {
        snap.logs.write(&t.target, &line);
    }
}

/// `, request: "..."`, which nginx leaves out until a request line byte arrived (blank lines
/// before it do not count).
fn request_text(r: &Request, line: &mut Vec<u8>) {
    if !r.request_line().is_empty() {
        line.extend_from_slice(b", request: \"");
        line.extend_from_slice(r.request_line());
        line.push(b'"');
    }
}

/// `client ADDR msg`, the keep-alive handler's lines (no context after the message).
pub fn conn_bare(snap: &Snapshot, conn: &ConnInfo, level: Level, msg: fmt::Arguments<'_>) {
    let targets = &snap.config.main.error_log;
    if !targets.iter().any(|t| level <= t.level) {
        return;
    }
    let mut line = Vec::with_capacity(96);
    prefix(level, Some(conn.number), &mut line);
    line.extend_from_slice(b"client ");
    client_text(conn.remote, &mut line);
    line.push(b' ');
    let _ = line.write_fmt(msg);
    finish(&mut line);
    for t in targets.iter().filter(|t| level <= t.level) {
        snap.logs.write(&t.target, &line);
    }
}

fn client_text(remote: Option<std::net::SocketAddr>, out: &mut Vec<u8>) {
    match remote {
        Some(a) => {
            let _ = write!(out, "{}", a.ip());
        }
        None => out.extend_from_slice(b"unix:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_keeps_its_room_as_ngx_log_errno() {
        let e = std::io::Error::from_raw_os_error(36);
        let mut line = b"short".to_vec();
        errno_part(&e, &mut line);
        assert_eq!(line, b"short (36: File name too long)");
        let mut line = vec![b'a'; 3000];
        errno_part(&e, &mut line);
        assert_eq!(line.len(), MAX_ERROR_STR - 50 + 3 + 25);
        assert!(line.ends_with(b"aaa... (36: File name too long)"));
        finish(&mut line);
        assert_eq!(line.len(), MAX_ERROR_STR - 50 + 3 + 25 + 1);
    }
}
