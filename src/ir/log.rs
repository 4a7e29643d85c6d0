//! Access and error logs.

use std::path::PathBuf;
use std::sync::Arc;

use super::var::Template;

/// How `log_format` escapes variable values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// `"`, `\` and bytes < 0x20 or > 0x7e as `\xXX`.
    Default,
    Json,
    None,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFormat {
    pub name: Box<str>,
    pub escape: Escape,
    pub template: Template,
}

/// A log file, opened once however many directives name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogFileId(pub u32);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    File(LogFileId),
    Stderr,
    /// `syslog:` targets: rginx writes them to the error stream with the tag.
    Syslog(Box<str>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLog {
    pub target: LogTarget,
    pub format: Arc<LogFormat>,
    /// `if=`: log only when this evaluates to neither empty nor "0".
    pub condition: Option<Template>,
}

/// nginx's error log levels, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl Level {
    pub fn from_name(name: &[u8]) -> Option<Level> {
        Some(match name {
            b"emerg" => Level::Emerg,
            b"alert" => Level::Alert,
            b"crit" => Level::Crit,
            b"error" => Level::Error,
            b"warn" => Level::Warn,
            b"notice" => Level::Notice,
            b"info" => Level::Info,
            b"debug" => Level::Debug,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Emerg => "emerg",
            Level::Alert => "alert",
            Level::Crit => "crit",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// An nginx line `[emerg] message` split into its level and message (a line without a
    /// level is an emergency, as nginx's start-up messages are): how `-t`'s diagnostics are
    /// written into an error log by the start and by a reload.
    pub fn split_line(line: &str) -> (Level, &str) {
        line.strip_prefix('[')
            .and_then(|l| l.split_once("] "))
            .and_then(|(lv, msg)| Level::from_name(lv.as_bytes()).map(|lv| (lv, msg)))
            .unwrap_or((Level::Emerg, line))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorLog {
    pub target: LogTarget,
    pub level: Level,
}

/// Every file the logs write to, by [`LogFileId`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFiles {
    pub paths: Vec<PathBuf>,
}

impl LogFiles {
    pub fn id(&mut self, path: PathBuf) -> LogFileId {
        if let Some(i) = self.paths.iter().position(|p| *p == path) {
            return LogFileId(i as u32);
        }
        self.paths.push(path);
        LogFileId(self.paths.len() as u32 - 1)
    }
}
