//! Builds the block structure from the lexer's statements, as nginx's `ngx_conf_parse` does
//! for one file: `}` closes the innermost block, the end of the file must come at top level.
//!
//! The parser is iterative (an explicit stack of open blocks), so no input, however deeply
//! nested, can exhaust the call stack. It stops at the first syntax error, as nginx does, and
//! returns everything read before it: blocks left open are marked incomplete.

use bytes::Bytes;

use super::ast::{Block, Directive, ParsedFile, Terminator, Word};
use super::error::{SyntaxError, SyntaxErrorKind};
use super::lexer::{Lexer, Statement};
use crate::source::{FileId, Span};

/// How deep blocks may nest. nginx recurses for every block and crashes long before a
/// hostile input runs out; real configurations nest a handful of levels.
pub const MAX_DEPTH: usize = 256;

/// Parses one configuration file.
pub fn parse(input: &[u8], file: FileId) -> ParsedFile {
    parse_bytes(&Bytes::copy_from_slice(input), file)
}

/// Parses one configuration file held in shared bytes: words are slices of them.
pub fn parse_bytes(input: &Bytes, file: FileId) -> ParsedFile {
    run(Lexer::new(input, file), file)
}

/// Parses the directives given with `-g`, which may not open blocks.
pub fn parse_param(input: &Bytes, file: FileId) -> ParsedFile {
    run(Lexer::for_param(input, file), file)
}

/// A block being read: the directive that opened it and the directives read so far.
struct Open {
    name: Word,
    args: Box<[Word]>,
    end: Span,
    directives: Vec<Directive>,
}

fn run(mut lexer: Lexer<'_>, file: FileId) -> ParsedFile {
    let mut root: Vec<Directive> = Vec::new();
    let mut stack: Vec<Open> = Vec::new();

    let error = loop {
        let statement = match lexer.next_statement() {
            Ok(s) => s,
            Err(e) => break Some(e),
        };
        match statement {
            Statement::Eof => {
                if let Some(open) = stack.last() {
                    let end = lexer.input().len();
                    let line = 1 + lexer.input().iter().filter(|b| **b == b'\n').count();
                    break Some(SyntaxError {
                        kind: SyntaxErrorKind::EofInBlock,
                        span: Span::new(file, end, end),
                        line,
                        opened: Some(open.end),
                    });
                }
                break None;
            }
            Statement::BlockEnd(span) => match stack.pop() {
                Some(mut open) => {
                    open.directives.shrink_to_fit();
                    let directive = Directive {
                        name: open.name,
                        args: open.args,
                        terminator: Terminator::BlockStart,
                        end: open.end,
                        block: Some(Box::new(Block {
                            directives: open.directives,
                            close: Some(span),
                            complete: true,
                        })),
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.directives.push(directive),
                        None => root.push(directive),
                    }
                }
                None => {
                    let line = line_of(lexer.input(), span.start as usize);
                    break Some(SyntaxError {
                        kind: SyntaxErrorKind::Unexpected(b'}'),
                        span,
                        line,
                        opened: None,
                    });
                }
            },
            Statement::Directive {
                name,
                args: words,
                terminator,
                end,
            } => {
                if terminator == Terminator::BlockStart && lexer.is_param() {
                    break Some(SyntaxError {
                        kind: SyntaxErrorKind::BlockInParameter,
                        span: end,
                        line: 0,
                        opened: None,
                    });
                }
                if terminator == Terminator::BlockStart && stack.len() >= MAX_DEPTH {
                    break Some(SyntaxError {
                        kind: SyntaxErrorKind::TooDeep,
                        span: end,
                        line: line_of(lexer.input(), end.start as usize),
                        opened: None,
                    });
                }
                match terminator {
                    Terminator::BlockStart => stack.push(Open {
                        name,
                        args: words,
                        end,
                        directives: Vec::new(),
                    }),
                    Terminator::Semicolon => {
                        let directive = Directive {
                            name,
                            args: words,
                            terminator,
                            end,
                            block: None,
                        };
                        match stack.last_mut() {
                            Some(parent) => parent.directives.push(directive),
                            None => root.push(directive),
                        }
                    }
                }
            }
        }
    };

    // Close whatever a syntax error left open, innermost first, as incomplete blocks.
    let complete = error.is_none();
    while let Some(open) = stack.pop() {
        let directive = Directive {
            name: open.name,
            args: open.args,
            terminator: Terminator::BlockStart,
            end: open.end,
            block: Some(Box::new(Block {
                directives: open.directives,
                close: None,
                complete: false,
            })),
        };
        match stack.last_mut() {
            Some(parent) => parent.directives.push(directive),
            None => root.push(directive),
        }
    }

    ParsedFile {
        file,
        root: Block {
            directives: root,
            close: None,
            complete,
        },
        error,
    }
}

fn line_of(input: &[u8], at: usize) -> usize {
    1 + input[..at.min(input.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}
