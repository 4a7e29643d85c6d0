//! The log files (opened at start, reopened by `USR1`) and the error log's lines in nginx's
//! layout, `YYYY/MM/DD HH:MM:SS [level] PID#TID: *CONN message, client: ..., server: ...`,
//! so tools that read nginx's error log read rginx's; nginx's escaping for access-log values.
//!
//! The access log's lines are the log phase's (`http::log`), which evaluates variables; the
//! `tracing` layer for process-level events is the master's.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::conn::ConnInfo;
use super::request::Request;
use super::snapshot::Snapshot;
use crate::ir::log::LogTarget;
use crate::ir::{ErrorLog, Level};
use crate::runtime::base::{clock, io};

/// The open log files, by [`crate::ir::log::LogFileId`]; swapped whole when logs are reopened.
#[derive(Default)]
pub struct LogFiles {
    files: ArcSwap<Vec<Option<File>>>,
    paths: Vec<std::path::PathBuf>,
}

impl LogFiles {
    /// Opens (creating) every file, as nginx does at start. Errors are returned with nginx's
    /// wording so start fails like nginx's.
    pub fn open(paths: &[std::path::PathBuf]) -> Result<LogFiles, String> {
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            let f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
                .map_err(|e| format!("open() \"{}\" failed {}", p.display(), io::errno_text(&e)))?;
            files.push(Some(f));
        }
        Ok(LogFiles {
            files: ArcSwap::from_pointee(files),
            paths: paths.to_vec(),
        })
    }

    /// `USR1`: reopen every file by its path (after logrotate moved them away). Started as
    /// root with a `user`, each file is given to that user as nginx's master does
    /// (`ngx_reopen_files`). Returns nginx's messages for what failed; a file that cannot
    /// be reopened keeps its old handle.
    pub fn reopen(&self, owner: Option<u32>) -> Vec<String> {
        let mut errors = Vec::new();
        let old = self.files.load();
        let mut files = Vec::with_capacity(self.paths.len());
        for (i, p) in self.paths.iter().enumerate() {
            let keep = || {
                old.get(i)
                    .and_then(|f| f.as_ref())
                    .and_then(|f| f.try_clone().ok())
            };
            let f = match std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
            {
                Ok(f) => f,
                Err(e) => {
                    errors.push(format!(
                        "open() \"{}\" failed {}",
                        p.display(),
                        io::errno_text(&e)
                    ));
                    files.push(keep());
                    continue;
                }
            };
            if let Some(uid) = owner {
                if let Err(msg) = give_to(&f, p, uid) {
                    errors.push(msg);
                    files.push(keep());
                    continue;
                }
            }
            files.push(Some(f));
        }
        self.files.store(Arc::new(files));
        errors
    }

    pub fn paths(&self) -> &[std::path::PathBuf] {
        &self.paths
    }

    pub fn write(&self, target: &LogTarget, line: &[u8]) {
        match target {
            LogTarget::File(id) => {
                let files = self.files.load();
                if let Some(Some(mut f)) = files.get(id.0 as usize).map(|f| f.as_ref()) {
                    let _ = f.write_all(line);
                }
            }
            LogTarget::Stderr | LogTarget::Syslog(_) => {
                let _ = std::io::stderr().lock().write_all(line);
            }
        }
    }
}

/// Makes `uid` the owner of a log file, readable and writable by it (`ngx_reopen_files`).
fn give_to(f: &File, path: &std::path::Path, uid: u32) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = f.metadata().map_err(|e| {
        format!(
            "stat() \"{}\" failed {}",
            path.display(),
            io::errno_text(&e)
        )
    })?;
    if meta.uid() != uid {
        nix::unistd::fchown(f, Some(nix::unistd::Uid::from_raw(uid)), None).map_err(|e| {
            format!(
                "chown(\"{}\", {uid}) failed ({}: {})",
                path.display(),
                e as i32,
                e.desc()
            )
        })?;
    }
    let mode = meta.mode();
    if mode & 0o600 != 0o600 {
        let _ = f.set_permissions(std::fs::Permissions::from_mode((mode | 0o600) & 0o7777));
    }
    Ok(())
}

/// `ngx_http_log_escape`: `"`, `\`, control bytes and bytes ≥ 0x7f as `\xXX`.
pub fn escape_default(v: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v {
        if b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f {
            out.extend_from_slice(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        } else {
            out.push(b);
        }
    }
}

/// `ngx_escape_json`.
pub fn escape_json(v: &[u8], out: &mut Vec<u8>) {
    for &b in v {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => {
                let lo = b & 0xf;
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    b'0' + (b >> 4),
                    if lo < 10 { b'0' + lo } else { b'A' + lo - 10 },
                ]);
            }
            _ => out.push(b),
        }
    }
}

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
    if let Some(referer) = r.head.find(b"referer") {
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

/// nginx builds each line in a 2048-byte buffer (NGX_MAX_ERROR_STR): longer lines are cut,
/// the newline kept.
const MAX_ERROR_STR: usize = 2048;

fn finish(line: &mut Vec<u8>) {
    if line.len() > MAX_ERROR_STR - 1 {
        line.truncate(MAX_ERROR_STR - 1);
    }
    line.push(b'\n');
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

/// `2026/11/21 14:37:01 [error] 1234#1234: *5 `
fn prefix(level: Level, conn: Option<u64>, out: &mut Vec<u8>) {
    let _ = write!(
        out,
        "{} [{}] {}#{}: ",
        clock::log_time(),
        level.as_str(),
        std::process::id(),
        tid()
    );
    if let Some(n) = conn {
        let _ = write!(out, "*{n} ");
    }
}

fn tid() -> i32 {
    thread_local! {
        static TID: i32 = nix::unistd::gettid().as_raw();
    }
    TID.with(|t| *t)
}

/// A process-level line (no connection) in nginx's layout, newline included:
/// `2026/11/21 14:37:01 [notice] 1234#1234: message`.
pub fn process_line(level: Level, msg: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(96 + msg.len());
    prefix(level, None, &mut line);
    line.extend_from_slice(msg.as_bytes());
    finish(&mut line);
    line
}

/// A process-level line (no connection) to the main error log targets, in nginx's layout.
pub fn main_line(files: &LogFiles, targets: &[ErrorLog], level: Level, msg: &str) {
    if !targets.iter().any(|t| level <= t.level) {
        return;
    }
    let line = process_line(level, msg);
    for t in targets.iter().filter(|t| level <= t.level) {
        files.write(&t.target, &line);
    }
}

/// The main context's `error_log`: where process-level events go. Swapped whole by a reload.
pub struct MainLog {
    pub files: Arc<LogFiles>,
    pub targets: Vec<ErrorLog>,
}

impl MainLog {
    pub fn line(&self, level: Level, msg: &str) {
        main_line(&self.files, &self.targets, level, msg);
    }

    /// The first target, when it is a file: nginx points its standard error there
    /// (`ngx_log_redirect_stderr`), so that whatever is written to stderr lands in the log.
    pub fn first_file(&self) -> Option<std::fs::File> {
        match self.targets.first().map(|t| &t.target) {
            Some(LogTarget::File(id)) => self
                .files
                .files
                .load()
                .get(id.0 as usize)
                .and_then(|f| f.as_ref())
                .and_then(|f| f.try_clone().ok()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_escape_matches_ngx_http_log_escape() {
        let mut out = Vec::new();
        escape_default(b"a\"b\\c\x01\x7f\xc3\xa9 ~", &mut out);
        assert_eq!(out, b"a\\x22b\\x5Cc\\x01\\x7F\\xC3\\xA9 ~");
    }

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

    #[test]
    fn json_escape_matches_ngx_escape_json() {
        let mut out = Vec::new();
        escape_json(b"a\"b\\c\n\x01\x1f\xc3\xa9", &mut out);
        assert_eq!(out, b"a\\\"b\\\\c\\n\\u0001\\u001F\xc3\xa9");
    }
}
