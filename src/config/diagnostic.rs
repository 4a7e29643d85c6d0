//! Diagnostics: every problem found in a configuration, with nginx's wording, spans, a stable
//! code, and the fix.
//!
//! A [`Diagnostic`] is plain data. The same list is rendered three ways by [`super::report`]:
//! as the lines nginx prints (`[emerg] MESSAGE in FILE:LINE`, which tools parse), as a rich
//! report for people (miette), and as JSON for editors and CI. The order of the list is the
//! order nginx would meet the problems in, so the first error is the one nginx would print.

use crate::source::{FileId, SourceMap, Span};

/// How bad it is, in nginx's log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// `[emerg]`: the configuration is rejected.
    Emerg,
    /// `[warn]`: accepted, with a warning nginx would also print.
    Warn,
    /// A lint: accepted, but probably not what was meant (rginx only).
    Lint,
    /// A note for the migration report (ignored or inert directives).
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Emerg => "emerg",
            Severity::Warn => "warn",
            Severity::Lint => "lint",
            Severity::Note => "note",
        }
    }
}

/// When nginx would meet the problem: while reading the files (before it prints
/// `syntax is ok`), or after (checking events, opening log files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Parse,
    Post,
}

/// Where nginx says the problem is, in its one-line message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// ` in FILE:LINE`, the line being the one the span ends on.
    At(Span),
    /// ` in FILE:LINE` with an explicit line.
    Line(FileId, usize),
    /// ` in command line` (`-g`).
    CommandLine,
    /// No place (e.g. `unknown "x" variable`).
    Nowhere,
}

/// A labelled span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// Stable diagnostic codes, for JSON consumers and for `--explain`-style lookups.
pub mod code {
    pub const SYNTAX: &str = "rginx::syntax";
    pub const UNKNOWN_DIRECTIVE: &str = "rginx::unknown-directive";
    pub const NOT_ALLOWED: &str = "rginx::not-allowed-here";
    pub const ARGUMENTS: &str = "rginx::arguments";
    pub const BLOCK: &str = "rginx::block";
    pub const DUPLICATE: &str = "rginx::duplicate";
    pub const INVALID_VALUE: &str = "rginx::invalid-value";
    pub const NOT_SUPPORTED: &str = "rginx::not-supported";
    pub const INCLUDE: &str = "rginx::include";
    pub const FILE: &str = "rginx::file";
    pub const UNKNOWN_VARIABLE: &str = "rginx::unknown-variable";
    pub const REGEX: &str = "rginx::regex";
    pub const LISTEN: &str = "rginx::listen";
    pub const SERVER_NAME: &str = "rginx::server-name";
    pub const LOCATION: &str = "rginx::location";
    pub const UPSTREAM: &str = "rginx::upstream";
    pub const PROXY: &str = "rginx::proxy";
    pub const MAP: &str = "rginx::map";
    pub const SSL: &str = "rginx::ssl";
    pub const LOG: &str = "rginx::log";
    pub const MODULE: &str = "rginx::module";
    pub const USER: &str = "rginx::user";
    pub const EVENTS: &str = "rginx::events";
    pub const HASH: &str = "rginx::hash";
    pub const OBSOLETE: &str = "rginx::obsolete";
    pub const IGNORED: &str = "rginx::ignored";
    pub const INERT: &str = "rginx::inert";
    pub const TLS_MAPPING: &str = "rginx::tls-mapping";

    pub const LINT_WS_READ_TIMEOUT: &str = "rginx::lint::websocket-read-timeout";
    pub const LINT_UPGRADE_CONNECTION: &str = "rginx::lint::upgrade-without-connection";
    pub const LINT_UPGRADE_HTTP10: &str = "rginx::lint::upgrade-without-http11";
    pub const LINT_INHERIT_DROP: &str = "rginx::lint::inheritance-drops-headers";
    pub const LINT_UPSTREAM_KEEPALIVE: &str = "rginx::lint::upstream-keepalive-unused";
    pub const LINT_ALIAS_SLASH: &str = "rginx::lint::alias-traversal";
    pub const LINT_UNREACHABLE: &str = "rginx::lint::unreachable-location";
    pub const LINT_HTTP_HOST: &str = "rginx::lint::http-host";
    pub const LINT_NOVNC_WEBSOCKET: &str = "rginx::lint::novnc-without-websocket";
    pub const LINT_HANDLER_OVERRIDDEN: &str = "rginx::lint::content-handler-overridden";
    pub const LINT_WEBSOCKIFY_READ_TIMEOUT: &str = "rginx::lint::websockify-read-timeout";
    pub const LINT_WEBSOCKIFY_CLEAR: &str = "rginx::lint::websockify-target-in-clear";
}

/// One problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    /// nginx's wording where nginx has one, without ` in FILE:LINE`.
    pub message: String,
    pub place: Place,
    pub phase: Phase,
    /// The main span and what to say at it.
    pub primary: Option<Label>,
    /// Other places that explain it ("first defined here").
    pub secondary: Vec<Label>,
    /// Why it matters (lints).
    pub why: Option<String>,
    /// The fix.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at a span, placed as nginx places it (the line the span ends on).
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Emerg,
            code,
            message: message.into(),
            place: Place::At(span),
            phase: Phase::Parse,
            primary: Some(Label {
                span,
                text: String::new(),
            }),
            secondary: Vec::new(),
            why: None,
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warn,
            ..Diagnostic::error(code, message, span)
        }
    }

    /// A rginx lint: not an nginx message, never printed in nginx's one-line format.
    pub fn lint(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Lint,
            ..Diagnostic::error(code, message, span)
        }
    }

    pub fn note(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Note,
            ..Diagnostic::error(code, message, span)
        }
    }

    /// An error without a span (nginx prints no place either).
    pub fn bare(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Emerg,
            code,
            message: message.into(),
            place: Place::Nowhere,
            phase: Phase::Parse,
            primary: None,
            secondary: Vec::new(),
            why: None,
            help: None,
        }
    }

    pub fn label(mut self, text: impl Into<String>) -> Diagnostic {
        if let Some(p) = &mut self.primary {
            p.text = text.into();
        }
        self
    }

    pub fn also(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn why(mut self, why: impl Into<String>) -> Diagnostic {
        self.why = Some(why.into());
        self
    }

    pub fn place(mut self, place: Place) -> Diagnostic {
        self.place = place;
        self
    }

    pub fn post(mut self) -> Diagnostic {
        self.phase = Phase::Post;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Emerg
    }

    /// Whether nginx itself would print this (errors and nginx's own warnings).
    pub fn is_nginx(&self) -> bool {
        matches!(self.severity, Severity::Emerg | Severity::Warn)
    }

    /// The one line nginx prints, without the program prefix:
    /// `[emerg] MESSAGE in FILE:LINE`.
    pub fn nginx_line(&self, sources: &SourceMap) -> String {
        // nginx formats configuration errors into a 1024-byte buffer (NGX_MAX_CONF_ERRSTR).
        let mut message = self.message.clone();
        if message.len() > 1024 {
            let mut cut = 1024;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let place = match self.place {
            Place::At(span) => {
                let (file, line) = sources.nginx_location(span);
                format!(" in {file}:{line}")
            }
            Place::Line(file, line) => format!(" in {}:{line}", sources.file(file).name()),
            Place::CommandLine => " in command line".to_string(),
            Place::Nowhere => String::new(),
        };
        format!("[{}] {message}{place}", self.severity.as_str())
    }
}

/// The diagnostics of one load, in the order nginx would meet them.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    list: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.list.extend(other.list);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.list.iter().filter(|d| d.is_error())
    }

    /// Parse-phase diagnostics first, then post-parse ones, each in the order found.
    pub fn in_nginx_order(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.list.iter().collect();
        v.sort_by_key(|d| d.phase);
        v
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.list
    }
}
