//! The log files and nginx's error-log line layout: every file `access_log` and `error_log`
//! name, opened (creating) at start and reopened by path on `USR1`; lines written whole with
//! one `write` (O_APPEND keeps them whole, as nginx relies on); the line prefix
//! `YYYY/MM/DD HH:MM:SS [level] PID#TID: *CONN `, nginx's 2048-byte line limit, process-level
//! lines, and nginx's escaping for access-log values. What the lines about requests say is
//! the error log's (`state::log`).

use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::{clock, io};
use crate::ir::log::LogTarget;
use crate::ir::{ErrorLog, Level};

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

/// nginx builds each line in a 2048-byte buffer (NGX_MAX_ERROR_STR): longer lines are cut,
/// the newline kept.
pub const MAX_ERROR_STR: usize = 2048;

pub fn finish(line: &mut Vec<u8>) {
    if line.len() > MAX_ERROR_STR - 1 {
        line.truncate(MAX_ERROR_STR - 1);
    }
    line.push(b'\n');
}

/// `2026/11/21 14:37:01 [error] 1234#1234: *5 `
pub fn prefix(level: Level, conn: Option<u64>, out: &mut Vec<u8>) {
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
    fn json_escape_matches_ngx_escape_json() {
        let mut out = Vec::new();
        escape_json(b"a\"b\\c\n\x01\x1f\xc3\xa9", &mut out);
        assert_eq!(out, b"a\\\"b\\\\c\\n\\u0001\\u001F\xc3\xa9");
    }
}
