//! Rendering diagnostics: nginx's one-line messages (what tools parse), the rich report for
//! people (miette), and JSON for editors and CI. All three render the same list.

use std::fmt;

use miette::{LabeledSpan, MietteError, SourceCode, SourceSpan, SpanContents};
use serde::Serialize;

use super::diagnostic::{code, Diagnostic, Phase, Place, Severity};
use super::Loaded;
use crate::source::{FileId, SourceMap, Span};

/// The lines nginx prints for `-t`, with `program` instead of `nginx` (S1.12): warnings and
/// the first error as `PROGRAM: [level] MESSAGE in FILE:LINE`, then the verdict.
pub fn nginx_lines(loaded: &Loaded, program: &str, quiet: bool) -> Vec<String> {
    let conf = loaded.paths.conf_file.display();
    let mut out = Vec::new();
    let order = loaded.diagnostics.in_nginx_order();
    let mut syntax_ok_printed = false;
    for d in order.iter().filter(|d| d.is_nginx()) {
        if d.phase == Phase::Post && !syntax_ok_printed {
            syntax_ok_printed = true;
            if !quiet {
                out.push(format!(
                    "{program}: the configuration file {conf} syntax is ok"
                ));
            }
        }
        out.push(format!("{program}: {}", d.nginx_line(&loaded.sources)));
        if d.is_error() {
            out.push(format!("{program}: configuration file {conf} test failed"));
            return out;
        }
    }
    if !quiet {
        if !syntax_ok_printed {
            out.push(format!(
                "{program}: the configuration file {conf} syntax is ok"
            ));
        }
        out.push(format!(
            "{program}: configuration file {conf} test is successful"
        ));
    }
    out
}

/// The rich report of every diagnostic, for a terminal (colours when `color`).
pub fn render(loaded: &Loaded, color: bool, with_notes: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .with_width(100);
    let mut out = String::new();
    let list: Vec<&Diagnostic> = loaded
        .diagnostics
        .iter()
        .filter(|d| with_notes || d.severity != Severity::Note)
        .collect();
    for d in &list {
        let r = Rendered::new(d, &loaded.sources);
        let _ = handler.render_report(&mut out, &r);
        out.push('\n');
    }
    let (errors, warnings, lints) = counts(loaded);
    if errors + warnings + lints > 0 {
        out.push_str(&format!(
            "{} error(s), {} warning(s), {} lint(s)\n",
            errors, warnings, lints
        ));
    }
    out
}

/// The migration report: what rginx accepts without doing, grouped by directive.
pub fn migration(loaded: &Loaded) -> String {
    let mut ignored: Vec<(String, usize)> = Vec::new();
    let mut inert: Vec<(String, usize)> = Vec::new();
    let mut unsupported: Vec<(String, usize)> = Vec::new();
    let bump = |list: &mut Vec<(String, usize)>, name: String| match list
        .iter_mut()
        .find(|(n, _)| *n == name)
    {
        Some((_, c)) => *c += 1,
        None => list.push((name, 1)),
    };
    for d in loaded.diagnostics.iter() {
        let name = d
            .message
            .split('"')
            .nth(1)
            .unwrap_or("")
            .split(' ')
            .next()
            .unwrap_or("")
            .to_string();
        match d.code {
            code::IGNORED => bump(&mut ignored, name),
            code::INERT => bump(&mut inert, name),
            code::NOT_SUPPORTED => bump(&mut unsupported, name),
            _ => {}
        }
    }
    if ignored.is_empty() && inert.is_empty() && unsupported.is_empty() {
        return String::new();
    }
    let fmt = |list: &[(String, usize)]| {
        list.iter()
            .map(|(n, c)| {
                if *c > 1 {
                    format!("{n} (x{c})")
                } else {
                    n.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = String::from("migration report:\n");
    if !unsupported.is_empty() {
        s.push_str(&format!(
            "  not supported by rginx (errors above): {}\n",
            fmt(&unsupported)
        ));
    }
    if !ignored.is_empty() {
        s.push_str(&format!(
            "  accepted and ignored (tuning that changes nothing a client sees): {}\n",
            fmt(&ignored)
        ));
    }
    if !inert.is_empty() {
        s.push_str(&format!(
            "  accepted, no effect (they tune features that are off): {}\n",
            fmt(&inert)
        ));
    }
    s
}

fn counts(loaded: &Loaded) -> (usize, usize, usize) {
    let mut c = (0, 0, 0);
    for d in loaded.diagnostics.iter() {
        match d.severity {
            Severity::Emerg => c.0 += 1,
            Severity::Warn => c.1 += 1,
            Severity::Lint => c.2 += 1,
            Severity::Note => {}
        }
    }
    c
}

/// One diagnostic as JSON.
#[derive(Serialize)]
pub struct JsonDiagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// nginx's one-line form.
    pub nginx: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub labels: Vec<JsonLabel>,
    pub why: Option<String>,
    pub help: Option<String>,
}

#[derive(Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub byte_start: u32,
    pub byte_end: u32,
    pub text: String,
}

#[derive(Serialize)]
pub struct JsonReport {
    pub file: String,
    pub ok: bool,
    pub diagnostics: Vec<JsonDiagnostic>,
}

fn json_label(sources: &SourceMap, span: Span, text: &str) -> JsonLabel {
    let f = sources.file(span.file);
    let (line, column) = f.line_col(span.start);
    let (end_line, end_column) = f.line_col(span.end);
    JsonLabel {
        file: f.name(),
        line,
        column,
        end_line,
        end_column,
        byte_start: span.start,
        byte_end: span.end,
        text: text.to_string(),
    }
}

pub fn json(loaded: &Loaded) -> String {
    let sources = &loaded.sources;
    let diagnostics = loaded
        .diagnostics
        .iter()
        .map(|d| {
            let mut labels = Vec::new();
            if let Some(p) = &d.primary {
                labels.push(json_label(sources, p.span, &p.text));
            }
            for s in &d.secondary {
                labels.push(json_label(sources, s.span, &s.text));
            }
            let first = labels.first();
            let place_line = match d.place {
                Place::At(s) => Some(sources.nginx_location(s).1),
                Place::Line(_, l) => Some(l),
                _ => None,
            };
            JsonDiagnostic {
                severity: d.severity,
                code: d.code,
                message: d.message.clone(),
                nginx: d.nginx_line(sources),
                file: first.map(|l| l.file.clone()),
                line: first.map(|l| l.line).or(place_line),
                column: first.map(|l| l.column),
                end_line: first.map(|l| l.end_line),
                end_column: first.map(|l| l.end_column),
                labels,
                why: d.why.clone(),
                help: d.help.clone(),
            }
        })
        .collect();
    let report = JsonReport {
        file: loaded.paths.conf_file.display().to_string(),
        ok: loaded.ok(),
        diagnostics,
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// A file's bytes as a miette source, named by its path.
#[derive(Clone)]
struct FileSource {
    name: String,
    bytes: bytes::Bytes,
    line_starts: std::sync::Arc<[u32]>,
}

impl FileSource {
    fn of(sources: &SourceMap, file: FileId) -> FileSource {
        let f = sources.file(file);
        FileSource {
            name: f.name(),
            bytes: f.bytes().clone(),
            line_starts: f.line_starts().clone(),
        }
    }
}

impl SourceCode for FileSource {
    /// Hands miette only the lines around the span: miette finds lines by scanning from the
    /// start of what it is given, which would make a report of many diagnostics on a large
    /// file quadratic.
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let starts = &self.line_starts;
        let len = self.bytes.len();
        let start = span.offset().min(len);
        let end = (start + span.len()).min(len);
        let line_of = |off: usize| {
            starts
                .partition_point(|s| *s as usize <= off)
                .saturating_sub(1)
        };
        let first = line_of(start);
        let last = line_of(end.saturating_sub(1).max(start));
        let w0 = first.saturating_sub(context_lines_before + 1);
        let w1 = (last + context_lines_after + 1).min(starts.len() - 1);
        let wstart = starts[w0] as usize;
        let wend = starts.get(w1 + 1).map(|s| *s as usize).unwrap_or(len);
        let window = &self.bytes[wstart..wend];
        let inner_span = SourceSpan::new((start - wstart).into(), end - start);
        let inner = window.read_span(&inner_span, context_lines_before, context_lines_after)?;
        let data: &'a [u8] = inner.data();
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            data,
            SourceSpan::new((inner.span().offset() + wstart).into(), inner.span().len()),
            inner.line() + w0,
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// A diagnostic paired with its source, for miette.
struct Rendered {
    severity: miette::Severity,
    code: &'static str,
    message: String,
    help: Option<String>,
    source: Option<FileSource>,
    labels: Vec<LabeledSpan>,
    related: Vec<Rendered>,
}

impl Rendered {
    fn new(d: &Diagnostic, sources: &SourceMap) -> Rendered {
        let severity = match d.severity {
            Severity::Emerg => miette::Severity::Error,
            Severity::Warn | Severity::Lint => miette::Severity::Warning,
            Severity::Note => miette::Severity::Advice,
        };
        let file: Option<FileId> = d.primary.as_ref().map(|p| p.span.file);
        let source = file.map(|f| FileSource::of(sources, f));
        let mut labels = Vec::new();
        let mut related = Vec::new();
        if let Some(p) = &d.primary {
            labels.push(LabeledSpan::new_primary_with_span(
                (!p.text.is_empty()).then(|| p.text.clone()),
                (p.span.start as usize, p.span.len().max(1)),
            ));
        }
        for s in &d.secondary {
            if Some(s.span.file) == file {
                labels.push(LabeledSpan::new_with_span(
                    Some(s.text.clone()),
                    (s.span.start as usize, s.span.len().max(1)),
                ));
            } else {
                related.push(Rendered {
                    severity: miette::Severity::Advice,
                    code: d.code,
                    message: s.text.clone(),
                    help: None,
                    source: Some(FileSource::of(sources, s.span.file)),
                    labels: vec![LabeledSpan::new_primary_with_span(
                        None,
                        (s.span.start as usize, s.span.len().max(1)),
                    )],
                    related: Vec::new(),
                });
            }
        }
        let help = match (&d.why, &d.help) {
            (Some(w), Some(h)) => Some(format!("{w}\nfix: {h}")),
            (Some(w), None) => Some(w.clone()),
            (None, Some(h)) => Some(h.clone()),
            (None, None) => None,
        };
        let message = match d.place {
            Place::At(_) | Place::Line(..) | Place::Nowhere => d.message.clone(),
            Place::CommandLine => format!("{} (in -g)", d.message),
        };
        Rendered {
            severity,
            code: d.code,
            message,
            help,
            source,
            labels,
            related,
        }
    }
}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}
