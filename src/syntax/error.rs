//! Syntax errors, worded as nginx words them.
//!
//! nginx stops at the first syntax error, and so does the parser: a [`SyntaxError`] carries the
//! place nginx would name (`in FILE:LINE`) and a span for the rich report.

use crate::source::Span;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyntaxErrorKind {
    /// `unexpected "X"`: a byte that may not stand where it stands.
    Unexpected(u8),
    /// `unexpected end of file, expecting ";" or "}"`: the file ended inside a directive.
    EofInDirective,
    /// `unexpected end of file, expecting "}"`: the file ended inside a block.
    EofInBlock,
    /// `unexpected end of parameter, expecting ";"`: a `-g` directive without `;`.
    EndOfParameter,
    /// `block directives are not supported in -g option`.
    BlockInParameter,
    /// `too long parameter "XXXXXXXXXX..." started`: an unquoted word (or comment) that does not
    /// fit nginx's 4096-byte read buffer.
    TooLong { started: Vec<u8> },
    /// `too long parameter, probably missing terminating "X" character`.
    TooLongQuoted(u8),
    /// More nested blocks than rginx reads (nginx would exhaust its stack).
    TooDeep,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub kind: SyntaxErrorKind,
    /// Where the problem is.
    pub span: Span,
    /// The line nginx names in its message (1-based).
    pub line: usize,
    /// Where the construct that is left open started (the unterminated directive, the
    /// unclosed block, the opening quote), for a secondary label.
    pub opened: Option<Span>,
}

impl SyntaxError {
    /// The message exactly as nginx prints it, without the ` in FILE:LINE` suffix.
    pub fn message(&self) -> String {
        match &self.kind {
            SyntaxErrorKind::Unexpected(b) => {
                format!("unexpected \"{}\"", crate::source::show_bytes(&[*b]))
            }
            SyntaxErrorKind::EofInDirective => {
                "unexpected end of file, expecting \";\" or \"}\"".to_string()
            }
            SyntaxErrorKind::EofInBlock => "unexpected end of file, expecting \"}\"".to_string(),
            SyntaxErrorKind::EndOfParameter => {
                "unexpected end of parameter, expecting \";\"".to_string()
            }
            SyntaxErrorKind::BlockInParameter => {
                "block directives are not supported in -g option".to_string()
            }
            SyntaxErrorKind::TooLong { started } => format!(
                "too long parameter \"{}...\" started",
                crate::source::show_bytes(started)
            ),
            SyntaxErrorKind::TooDeep => format!(
                "blocks nested too deeply (more than {} levels)",
                super::parser::MAX_DEPTH
            ),
            SyntaxErrorKind::TooLongQuoted(q) => format!(
                "too long parameter, probably missing terminating \"{}\" character",
                *q as char
            ),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}
