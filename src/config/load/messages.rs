//! The diagnostics the walk makes, in nginx's words: not supported, duplicate, a handler's
//! error, an invalid value, a syntax error; and the help for an unknown directive.
//!
//! Only constructors: what is reported when is decided by the walk.

use std::collections::HashSet;

use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::registry::{self, Build, Spec, Support};
use crate::source::{SourceMap, Span};
use crate::syntax::{Directive, SyntaxError, SyntaxErrorKind};

/// The help for an unknown directive: a dynamic module to load, a module Debian does not
/// build, a near name, a byte order mark, a third-party module.
pub(super) fn unknown_help(
    name: &[u8],
    context: u32,
    loaded: &HashSet<&'static str>,
) -> Option<String> {
    // A directive of a dynamic module that was not loaded.
    if let Some(spec) = registry::lookup(name)
        .iter()
        .find(|s| matches!(s.build, Build::Dynamic(_)))
    {
        if let Build::Dynamic(so) = spec.build {
            if !loaded.contains(so) {
                return Some(format!(
                    "\"{}\" belongs to {}, a dynamic module: add \"load_module modules/{so};\" at the top of the main file",
                    spec.name, spec.module
                ));
            }
        }
    }
    if registry::lookup(name)
        .iter()
        .any(|s| s.build == Build::Absent)
    {
        return Some("this directive's module is not part of Debian's nginx build".to_string());
    }
    if let Some(s) = registry::suggest(name, context) {
        return Some(format!("did you mean \"{s}\"?"));
    }
    let text = String::from_utf8_lossy(name);
    if text.starts_with('\u{feff}') {
        return Some("the file starts with a UTF-8 byte order mark; save it without one".into());
    }
    if text.contains("lua") || text.starts_with("more_") || text.starts_with("websockify") {
        return Some(
            "this is a third-party module's directive; nginx 1.22 and rginx do not know it".into(),
        );
    }
    None
}

/// `"x" directive is not supported by rginx`.
pub fn not_supported(d: &Directive, spec: &Spec) -> Diagnostic {
    let help = match spec.support {
        Support::Unsupported(harmless) if !harmless.is_empty() => format!(
            "rginx runs \"{}\" only as \"{} {}\" (nginx's default); remove it or keep nginx for this part of the configuration",
            spec.name,
            spec.name,
            harmless[0]
        ),
        _ => format!(
            "rginx would serve this configuration differently from nginx, so it refuses it; remove \"{}\" or keep nginx for this part of the configuration",
            spec.name
        ),
    };
    Diagnostic::error(
        code::NOT_SUPPORTED,
        format!("\"{}\" directive is not supported by rginx", spec.name),
        d.head_span(),
    )
    .place(Place::At(d.end))
    .label("not supported")
    .help(help)
}

/// `"x" directive is duplicate`, with the first definition labelled.
pub fn duplicate(d: &Directive, name: &str, first: Span) -> Diagnostic {
    Diagnostic::error(
        code::DUPLICATE,
        format!("\"{name}\" directive is duplicate"),
        d.head_span(),
    )
    .place(Place::At(d.end))
    .label("set again here")
    .also(first, "first defined here")
    .help(format!(
        "\"{name}\" may be set once per block; remove one of them"
    ))
}

/// `"x" directive MESSAGE` (nginx's form for a handler's error string).
pub fn directive_error(d: &Directive, name: &str, message: &str) -> Diagnostic {
    let span = d
        .args
        .first()
        .map(|a| a.span.to(d.args[d.args.len() - 1].span))
        .unwrap_or(d.name.span);
    Diagnostic::error(
        code::INVALID_VALUE,
        format!("\"{name}\" directive {message}"),
        span,
    )
    .place(Place::At(d.end))
}

/// `invalid value "x"` for an enum or bitmask argument.
pub(super) fn invalid_value(d: &Directive, i: usize, values: &[&str]) -> Diagnostic {
    let a = &d.args[i];
    Diagnostic::error(
        code::INVALID_VALUE,
        format!("invalid value \"{}\"", a.show()),
        a.span,
    )
    .place(Place::At(d.end))
    .help(format!("expected one of: {}", values.join(", ")))
}

/// Turns a syntax error into a diagnostic, with nginx's line.
pub fn syntax_diagnostic(e: &SyntaxError, sources: &SourceMap) -> Diagnostic {
    let mut d = Diagnostic::error(code::SYNTAX, e.message(), e.span)
        .place(Place::Line(e.span.file, e.line));
    d = match &e.kind {
        SyntaxErrorKind::Unexpected(b'}') if e.opened.is_some() => d
            .label("this \"}\" ends a directive that was not terminated")
            .help("end the directive with \";\" before the \"}\""),
        SyntaxErrorKind::Unexpected(b'}') => d
            .label("no block is open here")
            .help("remove this \"}\" or open a block before it"),
        SyntaxErrorKind::Unexpected(b';') | SyntaxErrorKind::Unexpected(b'{') => d
            .label("no directive name before this")
            .help("remove the stray character"),
        SyntaxErrorKind::Unexpected(_) => d
            .label("a quoted word must be followed by a space, \";\" or \"{\"")
            .help("separate the words with a space, or put the whole value in quotes"),
        SyntaxErrorKind::EofInDirective => d
            .label("the file ends here")
            .help("end the last directive with \";\" (or close an open quote)"),
        SyntaxErrorKind::EofInBlock => d
            .label("the file ends here")
            .help("close the open block with \"}\""),
        SyntaxErrorKind::TooLong { .. } | SyntaxErrorKind::TooLongQuoted(_) => d
            .label("longer than nginx's 4096-byte read buffer")
            .help("nginx cannot read a word this long; split it, or close the quote"),
        SyntaxErrorKind::TooDeep => d
            .label("one block too many")
            .help("no real configuration nests this deep; look for unbalanced braces"),
        SyntaxErrorKind::EndOfParameter | SyntaxErrorKind::BlockInParameter => d,
    };
    if let Some(open) = e.opened {
        let what = match e.kind {
            SyntaxErrorKind::EofInBlock => "the block opened here is never closed",
            SyntaxErrorKind::EofInDirective => "this is never terminated",
            _ => "the unterminated directive",
        };
        d = d.also(open, what);
    }
    let _ = sources;
    d
}
