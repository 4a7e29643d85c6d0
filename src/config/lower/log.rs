//! `log_format`, `access_log` and `error_log`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::{full_name, Loader};
use crate::config::template::{self, Raw, Scope};
use crate::ir::log::{AccessLog, ErrorLog, Escape, Level, LogFiles, LogFormat, LogTarget};
use crate::source::Span;
use crate::syntax::Directive;

use crate::config::defaults;

/// nginx's predefined format.
pub const COMBINED: &[u8] = b"$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

#[derive(Clone, Debug)]
pub struct AccessLogRaw {
    pub path: Raw,
    pub syslog: Option<Box<str>>,
    pub format: Box<[u8]>,
    pub condition: Option<Raw>,
    pub span: Span,
    pub end: Span,
}

#[derive(Clone, Debug)]
pub struct FormatRaw {
    pub escape: Escape,
    pub template: Raw,
    pub span: Span,
}

/// The log formats and files of the http block, shared by every level.
#[derive(Default)]
pub struct LogCx {
    pub formats: HashMap<Box<[u8]>, FormatRaw>,
    compiled: HashMap<Box<[u8]>, Arc<LogFormat>>,
    pub files: LogFiles,
    default_log: Option<Arc<[AccessLog]>>,
}

/// `error_log file [level]`.
pub fn parse_error_log(l: &mut Loader, d: &Directive) -> Option<ErrorLog> {
    let a = &d.args[0];
    let target = if a.is("stderr") {
        LogTarget::Stderr
    } else if a.as_bytes().starts_with(b"syslog:") {
        LogTarget::Syslog(a.show().into())
    } else if a.as_bytes().starts_with(b"memory:") {
        // Debian's build has debug support, so nginx keeps this in memory; rginx writes it to
        // the error stream.
        LogTarget::Stderr
    } else {
        let path = full_name(&l.paths.prefix, a.as_bytes());
        LogTarget::File(l.log_files().id(path))
    };
    let mut level = None;
    for lv in &d.args[1..] {
        if lv.as_bytes().starts_with(b"debug_") && lv.as_bytes().len() > 6 {
            level = Some(Level::Debug);
            continue;
        }
        match Level::from_name(lv.as_bytes()) {
            Some(x) if level.is_none() => level = Some(x),
            Some(_) => {
                let e = l.arg_error(d, lv, format!("duplicate log level \"{}\"", lv.show()));
                l.error(e);
                return None;
            }
            None => {
                let e = l.arg_error(d, lv, format!("invalid log level \"{}\"", lv.show()));
                l.error(e.help("levels are debug, info, notice, warn, error, crit, alert, emerg"));
                return None;
            }
        }
    }
    Some(ErrorLog {
        target,
        level: level.unwrap_or(Level::Error),
    })
}

/// `access_log`: `None` inside the result means `off`.
pub fn parse_access_log(l: &mut Loader, d: &Directive) -> Option<Option<AccessLogRaw>> {
    access_log_of(l, d, false)
}

/// The stream module's `access_log`: its formats are the stream block's own, and there is
/// no predefined `combined`, so a format must be named.
pub fn parse_stream_access_log(l: &mut Loader, d: &Directive) -> Option<Option<AccessLogRaw>> {
    access_log_of(l, d, true)
}

fn access_log_of(l: &mut Loader, d: &Directive, stream: bool) -> Option<Option<AccessLogRaw>> {
    let a = &d.args[0];
    if a.is("off") {
        if let Some(extra) = d.args.get(1) {
            let e = l.arg_error(d, extra, format!("invalid parameter \"{}\"", extra.show()));
            l.error(e.help("\"access_log off;\" takes nothing else"));
            return None;
        }
        return Some(None);
    }
    let (path, syslog) = if a.as_bytes().starts_with(b"syslog:") {
        (Raw::default(), Some(a.show().into()))
    } else {
        (template::parse(l, a, d.end)?, None)
    };
    if stream && d.args.len() < 2 {
        l.error(
            Diagnostic::error(code::LOG, "log format is not specified", d.head_span())
                .place(Place::At(d.end))
                .help(
                    "name a log_format of the stream block: stream has no predefined \"combined\"",
                ),
        );
        return None;
    }
    let format: Box<[u8]> = d
        .args
        .get(1)
        .map(|f| f.to_boxed())
        .unwrap_or_else(|| Box::from(&b"combined"[..]));
    let mut condition = None;
    for p in d.args.iter().skip(2) {
        let v = p.as_bytes();
        if let Some(s) = v.strip_prefix(b"buffer=") {
            if crate::config::value::size(s).is_none() {
                let e = l.arg_error(
                    d,
                    p,
                    format!("invalid buffer size \"{}\"", crate::source::show_bytes(s)),
                );
                l.error(e);
                return None;
            }
        } else if let Some(s) = v.strip_prefix(b"flush=") {
            if crate::config::value::msec(s).is_none() {
                let e = l.arg_error(
                    d,
                    p,
                    format!("invalid flush time \"{}\"", crate::source::show_bytes(s)),
                );
                l.error(e);
                return None;
            }
        } else if v == b"gzip" || v.starts_with(b"gzip=") {
            let e = l.arg_error(d, p, "compressed access logs are not supported by rginx");
            l.error(
                Diagnostic {
                    code: code::NOT_SUPPORTED,
                    ..e
                }
                .help("remove the gzip parameter; rotate and compress logs with logrotate instead"),
            );
            return None;
        } else if let Some(c) = v.strip_prefix(b"if=") {
            condition = Some(template::parse_bytes(l, c, p.span, d.end)?);
        } else {
            let e = l.arg_error(d, p, format!("invalid parameter \"{}\"", p.show()));
            l.error(e.help("access_log parameters are buffer=, flush=, gzip and if="));
            return None;
        }
    }
    if !l.log_format_known(&format, stream) {
        let span = d.args.get(1).map(|f| f.span).unwrap_or(a.span);
        let help = if stream {
            "define it with log_format in the stream block, before this line"
        } else {
            "define it with log_format before this line, or use \"combined\""
        };
        l.error(
            Diagnostic::error(
                code::LOG,
                format!(
                    "unknown log format \"{}\"",
                    crate::source::show_bytes(&format)
                ),
                span,
            )
            .place(Place::At(d.end))
            .help(help),
        );
        return None;
    }
    Some(Some(AccessLogRaw {
        path,
        syslog,
        format,
        condition,
        span: d.head_span(),
        end: d.end,
    }))
}

/// `log_format name [escape=...] string ...;`
pub fn parse_log_format(
    l: &mut Loader,
    d: &Directive,
    formats: &mut HashMap<Box<[u8]>, FormatRaw>,
) {
    let name = &d.args[0];
    if name.is("combined") || formats.contains_key(name.as_bytes()) {
        let e = l.arg_error(
            d,
            name,
            format!("duplicate \"log_format\" name \"{}\"", name.show()),
        );
        let e = match formats.get(name.as_bytes()) {
            Some(f) => e.also(f.span, "first defined here"),
            None => e.help("\"combined\" is predefined"),
        };
        l.error(e);
        return;
    }
    let mut s = 1;
    let mut escape = Escape::Default;
    if let Some(a) = d.args.get(1) {
        if let Some(v) = a.as_bytes().strip_prefix(b"escape=") {
            escape = match v {
                b"json" => Escape::Json,
                b"none" => Escape::None,
                b"default" => Escape::Default,
                _ => {
                    let e = l.arg_error(
                        d,
                        a,
                        format!(
                            "unknown log format escaping \"{}\"",
                            crate::source::show_bytes(v)
                        ),
                    );
                    l.error(e);
                    return;
                }
            };
            s = 2;
        }
    }
    let mut raw = Raw::default();
    for a in &d.args[s..] {
        let Some(part) = template::parse(l, a, d.end) else {
            return;
        };
        raw.parts.extend(part.parts);
    }
    formats.insert(
        name.to_boxed(),
        FormatRaw {
            escape,
            template: raw,
            span: d.head_span(),
        },
    );
}

impl Loader {
    pub fn log_files(&mut self) -> &mut LogFiles {
        &mut self.log_files
    }

    fn log_format_known(&self, name: &[u8], stream: bool) -> bool {
        if stream {
            self.stream_log_formats.contains(name)
        } else {
            name == b"combined" || self.log_formats.contains(name)
        }
    }
}

impl LogCx {
    /// Compiles every `log_format`, used or not: nginx resolves their variables when the
    /// block is finished, so a format no `access_log` names still fails on an unknown one.
    pub fn compile_all(&mut self, l: &mut Loader, scope: &mut Scope) {
        let mut names: Vec<(Span, Box<[u8]>)> = self
            .formats
            .iter()
            .map(|(n, f)| (f.span, n.clone()))
            .collect();
        names.sort_by_key(|(span, _)| (span.file.0, span.start));
        for (_, n) in names {
            self.format(l, scope, &n);
        }
    }

    fn format(&mut self, l: &mut Loader, scope: &mut Scope, name: &[u8]) -> Arc<LogFormat> {
        if let Some(f) = self.compiled.get(name) {
            return f.clone();
        }
        let f = if name == b"combined" {
            let raw = template::parse_bytes(
                l,
                COMBINED,
                Span::new(crate::source::FileId(0), 0, 0),
                Span::new(crate::source::FileId(0), 0, 0),
            )
            .unwrap_or_default();
            LogFormat {
                name: "combined".into(),
                escape: Escape::Default,
                template: scope.resolve(l, &raw),
            }
        } else {
            let raw = self.formats.get(name).cloned();
            match raw {
                Some(raw) => LogFormat {
                    name: String::from_utf8_lossy(name).into(),
                    escape: raw.escape,
                    template: scope.resolve(l, &raw.template),
                },
                None => LogFormat {
                    name: String::from_utf8_lossy(name).into(),
                    escape: Escape::Default,
                    template: crate::ir::Template::default(),
                },
            }
        };
        let f = Arc::new(f);
        self.compiled.insert(name.into(), f.clone());
        f
    }

    pub fn access_logs(
        &mut self,
        l: &mut Loader,
        scope: &mut Scope,
        list: &[AccessLogRaw],
    ) -> Arc<[AccessLog]> {
        let mut out = Vec::new();
        for raw in list {
            let format = self.format(l, scope, &raw.format);
            let target = match &raw.syslog {
                Some(s) => LogTarget::Syslog(s.clone()),
                None => match raw.path.literal_bytes() {
                    Some(p) => {
                        let path = full_name(&l.paths.prefix, &p);
                        LogTarget::File(l.log_files().id(path))
                    }
                    None => {
                        l.error(
                            Diagnostic::error(
                                code::NOT_SUPPORTED,
                                "access_log paths with variables are not supported by rginx",
                                raw.span,
                            )
                            .place(Place::At(raw.end))
                            .help("name one file per server or location instead"),
                        );
                        continue;
                    }
                },
            };
            out.push(AccessLog {
                target,
                format,
                condition: raw.condition.as_ref().map(|c| scope.resolve(l, c)),
            });
        }
        out.into()
    }

    /// `access_log <default path> combined` for a level that names no access log.
    pub fn default_access_log(&mut self, l: &mut Loader) -> Arc<[AccessLog]> {
        if let Some(d) = &self.default_log {
            return d.clone();
        }
        let mut scope = Scope::default();
        let format = self.format(l, &mut scope, b"combined");
        let path = full_name(&l.paths.prefix, defaults::HTTP_LOG_PATH.as_bytes());
        let target = LogTarget::File(l.log_files().id(path));
        let v: Arc<[AccessLog]> = Arc::from(vec![AccessLog {
            target,
            format,
            condition: None,
        }]);
        self.default_log = Some(v.clone());
        v
    }
}
