//! The access log (`log_format`, `access_log`) and the error log, in nginx's formats.
//!
//! Access lines are built from compiled templates with nginx's escaping and written with one
//! `write` each (O_APPEND keeps lines whole, as nginx relies on). Error lines have nginx's
//! layout, `YYYY/MM/DD HH:MM:SS [level] PID#TID: *CONN message, client: ..., server: ...`,
//! so tools that read nginx's error log read rginx's. Process-level events go through
//! `tracing` and a layer that writes them to the main `error_log` in the same layout.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::request::Request;
use crate::ir::log::{AccessLog, Escape, LogTarget};
use crate::ir::{ErrorLog, Level, Part};

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
                .map_err(|e| {
                    format!(
                        "open() \"{}\" failed {}",
                        p.display(),
                        super::io::errno_text(&e)
                    )
                })?;
            files.push(Some(f));
        }
        Ok(LogFiles {
            files: ArcSwap::from_pointee(files),
            paths: paths.to_vec(),
        })
    }

    /// `USR1`: reopen every file by its path (after logrotate moved them away).
    pub fn reopen(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut files = Vec::with_capacity(self.paths.len());
        for p in &self.paths {
            match std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
            {
                Ok(f) => files.push(Some(f)),
                Err(e) => {
                    errors.push(format!(
                        "open() \"{}\" failed {}",
                        p.display(),
                        super::io::errno_text(&e)
                    ));
                    files.push(None);
                }
            }
        }
        self.files.store(Arc::new(files));
        errors
    }

    fn write(&self, target: &LogTarget, line: &[u8]) {
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

/// Writes the access log lines of a finished request.
pub fn access(r: &mut Request) {
    let logs = r.conf.access_log.clone();
    if logs.is_empty() {
        return;
    }
    let mut line = Vec::with_capacity(256);
    for log in logs.iter() {
        if !condition(r, log) {
            continue;
        }
        line.clear();
        format(r, log, &mut line);
        line.push(b'\n');
        r.snap.logs.write(&log.target, &line);
    }
}

fn condition(r: &mut Request, log: &AccessLog) -> bool {
    match &log.condition {
        None => true,
        Some(t) => {
            let v = r.eval_vec(t);
            !(v.is_empty() || v == b"0")
        }
    }
}

/// One line of `log.format`.
pub fn format(r: &mut Request, log: &AccessLog, out: &mut Vec<u8>) {
    let mut value = Vec::with_capacity(64);
    for part in log.format.template.parts.iter() {
        match part {
            Part::Literal(b) => out.extend_from_slice(b),
            Part::Var(v) => {
                value.clear();
                let found = r.var(v, &mut value);
                match log.format.escape {
                    Escape::Default => {
                        if found {
                            escape_default(&value, out)
                        } else {
                            out.push(b'-')
                        }
                    }
                    Escape::None => {
                        if found {
                            out.extend_from_slice(&value)
                        } else {
                            out.push(b'-')
                        }
                    }
                    Escape::Json => escape_json(&value, out),
                }
            }
        }
    }
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
    line.extend_from_slice(super::io::errno_text(e).as_bytes());
}

/// An error-log line about a request, without an action or upstream.
pub fn error(r: &Request, level: Level, msg: fmt::Arguments<'_>) {
    error_full(r, level, msg, None, None)
}

/// An error-log line about a connection with no request yet (`, client: X, server: ADDR`).
pub fn conn_error(
    snap: &super::Snapshot,
    conn: &super::request::ConnInfo,
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
pub fn conn_bare(
    snap: &super::Snapshot,
    conn: &super::request::ConnInfo,
    level: Level,
    msg: fmt::Arguments<'_>,
) {
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
        super::clock::log_time(),
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

/// A process-level line (no connection) to the main error log targets, in nginx's layout.
pub fn main_line(files: &LogFiles, targets: &[ErrorLog], level: Level, msg: &str) {
    if !targets.iter().any(|t| level <= t.level) {
        return;
    }
    let mut line = Vec::with_capacity(96 + msg.len());
    prefix(level, None, &mut line);
    line.extend_from_slice(msg.as_bytes());
    finish(&mut line);
    for t in targets.iter().filter(|t| level <= t.level) {
        files.write(&t.target, &line);
    }
}

/// The `tracing` layer for process-level events: nginx's level names, nginx's line layout,
/// the main `error_log` targets. An event may carry `nginx_level = "emerg"|"alert"|"crit"|
/// "notice"` where tracing has no such level.
pub struct ErrorLogLayer {
    pub files: Arc<LogFiles>,
    pub targets: Arc<ArcSwap<Vec<ErrorLog>>>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ErrorLogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _cx: tracing_subscriber::layer::Context<'_, S>) {
        // Only rginx's own events: libraries' (hyper, h2, rustls) are not nginx's lines.
        if !event.metadata().target().starts_with("rginx") {
            return;
        }
        struct Visit {
            msg: String,
            level: Option<Level>,
        }
        impl tracing::field::Visit for Visit {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                match field.name() {
                    "nginx_level" => self.level = Level::from_name(value.as_bytes()),
                    "message" => self.msg.push_str(value),
                    _ => {}
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                if field.name() == "message" {
                    let _ = fmt::write(&mut self.msg, format_args!("{value:?}"));
                }
            }
        }
        let mut v = Visit {
            msg: String::new(),
            level: None,
        };
        event.record(&mut v);
        let level = v.level.unwrap_or(match *event.metadata().level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Notice,
            tracing::Level::DEBUG => Level::Info,
            tracing::Level::TRACE => Level::Debug,
        });
        let targets = self.targets.load();
        main_line(&self.files, &targets, level, &v.msg);
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
