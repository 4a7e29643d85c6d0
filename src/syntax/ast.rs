//! The low, lossless form of a configuration file: directives, their words and blocks, each
//! with a span into the file it came from.
//!
//! The AST knows no directive: `include` is an ordinary directive here, expanded later by the
//! config loader, and the body of `map` or `types` is parsed as directives whose "name" is the
//! first word of each line. Word values are the bytes after nginx's escape processing; the
//! span covers the raw bytes, quotes included.

use bytes::Bytes;

use crate::source::{FileId, Span};

/// One word of a directive (nginx calls them all arguments; the first is the name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The value after escape processing (`\"` → `"`, `\n` → LF, other `\x` kept whole): a
    /// slice of the file's bytes when escapes changed nothing, so most words cost no copy.
    pub value: Bytes,
    /// The raw bytes in the file, quotes included.
    pub span: Span,
    /// The quote character the word was written with, if any.
    pub quote: Option<u8>,
}

impl Word {
    pub fn as_bytes(&self) -> &[u8] {
        &self.value
    }

    /// The value as an owned box, for settings that outlive the syntax tree.
    pub fn to_boxed(&self) -> Box<[u8]> {
        Box::from(&*self.value)
    }

    /// The value as UTF-8 text, if it is.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    /// The value for messages: UTF-8 as is, other bytes escaped.
    pub fn show(&self) -> String {
        crate::source::show_bytes(&self.value)
    }

    pub fn is(&self, s: &str) -> bool {
        &*self.value == s.as_bytes()
    }
}

/// How a directive ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Terminator {
    /// `;`
    Semicolon,
    /// `{`, opening a block.
    BlockStart,
}

/// One directive: `name args... ;` or `name args... { ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub name: Word,
    pub args: Box<[Word]>,
    pub terminator: Terminator,
    /// The span of the `;` or `{` that ended the directive.
    pub end: Span,
    /// The block, when the directive ended with `{`.
    pub block: Option<Box<Block>>,
}

impl Directive {
    /// From the first byte of the name to the `;`, or to the `}` of its block.
    pub fn span(&self) -> Span {
        let end = self
            .block
            .as_ref()
            .and_then(|b| b.close)
            .unwrap_or(self.end);
        self.name.span.to(end)
    }

    /// From the name to the `;` or `{`: the directive's own line(s), without its block.
    pub fn head_span(&self) -> Span {
        self.name.span.to(self.end)
    }

    pub fn file(&self) -> FileId {
        self.name.span.file
    }

    pub fn arg(&self, i: usize) -> Option<&Word> {
        self.args.get(i)
    }
}

/// The directives of a block, or of a whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Block {
    pub directives: Vec<Directive>,
    /// The `}` that closed the block (`None` for a whole file, or when a syntax error came first).
    pub close: Option<Span>,
    /// False when a syntax error stopped parsing inside this block: whatever follows its last
    /// directive was never read.
    pub complete: bool,
}

/// A parsed file: its top-level directives and the syntax error that stopped parsing, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedFile {
    pub file: FileId,
    pub root: Block,
    pub error: Option<super::SyntaxError>,
}
