//! The tokenizer: nginx's `ngx_conf_read_token`, byte for byte, written with nom.
//!
//! One call to [`Lexer::next_statement`] reads what nginx reads in one call of its tokenizer:
//! the words of one directive up to its `;` or `{`, or a lone `}`, or the end of input.
//! The rules it keeps (nginx-semantics S1.1–S1.5):
//!
//! - words are separated by space, TAB, CR and LF; `;` and `{` also end an unquoted word, except
//!   a `{` right after `$` (the start of `${var}`);
//! - `#` starts a comment only where a word could start;
//! - a word starting with `"` or `'` runs to the next unescaped same quote, across lines; after
//!   it must come a space, `;`, `{` or `)` (which starts the next word);
//! - a backslash keeps the next byte from ending the word; escape processing then turns `\"`,
//!   `\'`, `\\` into the bare character and `\n`, `\r`, `\t` into control bytes, and keeps any
//!   other `\x` whole;
//! - nginx reads through a 4096-byte buffer, and a word (or comment) that cannot fit in it is
//!   an error; [`too_long`] reproduces exactly when that happens.
//!
//! The lexer knows nothing of directives or blocks; [`super::parser`] builds those.

use bytes::Bytes;
use nom::branch::alt;
use nom::bytes::complete::{tag, take, take_till, take_while1};
use nom::combinator::recognize;
use nom::multi::{many0_count, many1_count};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use super::ast::{Terminator, Word};
use super::error::{SyntaxError, SyntaxErrorKind};
use crate::source::{FileId, Span};

/// nginx's configuration read buffer (`NGX_CONF_BUFFER`).
const CONF_BUFFER: usize = 4096;

/// What one statement read produced.
#[derive(Debug)]
pub enum Statement {
    /// A name and its arguments, ended by `;` or `{` (at `end`).
    Directive {
        name: Word,
        args: Box<[Word]>,
        terminator: Terminator,
        end: Span,
    },
    /// A `}` at the start of a statement.
    BlockEnd(Span),
    /// The end of the input, between statements.
    Eof,
}

/// Reads statements from one file's bytes.
pub struct Lexer<'a> {
    input: &'a [u8],
    /// The same bytes, shared: words without escapes are slices of it.
    owner: &'a Bytes,
    pos: usize,
    file: FileId,
    /// `-g` directives: there is no file, and the end of input is worded differently.
    param: bool,
    /// The words of the statement being read (reused from one statement to the next).
    words: Vec<Word>,
}

type In<'a> = &'a [u8];

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A comment: `#` to the end of the line (the LF itself is whitespace).
fn comment(i: In) -> IResult<In, In> {
    recognize(preceded(tag(&b"#"[..]), take_till(|b| b == b'\n'))).parse(i)
}

/// One run of blanks or one comment, returning the comment if it was one.
fn blank(i: In) -> IResult<In, Option<In>> {
    alt((take_while1(is_space).map(|_| None), comment.map(Some))).parse(i)
}

/// One piece of an unquoted word: a backslash pair, a run of `$` with the `{` that may follow
/// it, or a run of ordinary bytes.
fn unquoted_piece(i: In) -> IResult<In, In> {
    alt((
        recognize(preceded(tag(&b"\\"[..]), take(1usize))),
        recognize((
            take_while1(|b| b == b'$'),
            nom::combinator::opt(tag(&b"{"[..])),
        )),
        take_while1(|b: u8| !is_space(b) && !matches!(b, b';' | b'{' | b'\\' | b'$')),
    ))
    .parse(i)
}

/// An unquoted word's raw bytes, up to (not including) its terminator.
fn unquoted(i: In) -> IResult<In, In> {
    recognize(many1_count(unquoted_piece)).parse(i)
}

/// The body of a quoted word (after the opening quote), up to the unescaped closing quote.
fn quoted_body(q: u8) -> impl Fn(In) -> IResult<In, In> {
    move |i| {
        recognize(many0_count(alt((
            recognize(preceded(tag(&b"\\"[..]), take(1usize))),
            take_while1(|b: u8| b != q && b != b'\\'),
        ))))
        .parse(i)
    }
}

/// nginx's escape processing of a word's raw bytes (`ngx_conf_read_token`, when the word is
/// stored).
pub fn unescape(raw: &[u8]) -> Box<[u8]> {
    if !raw.contains(&b'\\') {
        return Box::from(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            match raw.get(i + 1) {
                Some(b'"') | Some(b'\'') | Some(b'\\') => {
                    out.push(raw[i + 1]);
                    i += 2;
                    continue;
                }
                Some(b't') => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                Some(b'r') => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out.into_boxed_slice()
}

/// Whether a segment of nginx's read buffer overflows it.
///
/// nginx keeps the bytes of the word being read (from `start`) when it refills its 4096-byte
/// buffer, and fails when that word already fills the whole buffer. `start` moves when the
/// next word (or blank) begins, which is at `moves_at`; the buffer needs refilling before the
/// byte at `start + 4096` is read, so the word overflows when `moves_at >= start + 4096` and
/// the file still has bytes there (otherwise the end of the file is reported instead).
pub fn too_long(start: usize, moves_at: usize, input_len: usize) -> bool {
    moves_at >= start + CONF_BUFFER && input_len > start + CONF_BUFFER
}

impl<'a> Lexer<'a> {
    pub fn new(owner: &'a Bytes, file: FileId) -> Lexer<'a> {
        Lexer {
            input: &owner[..],
            owner,
            words: Vec::with_capacity(8),
            pos: 0,
            file,
            param: false,
        }
    }

    /// A lexer for `-g` directives, which have no file.
    pub fn for_param(owner: &'a Bytes, file: FileId) -> Lexer<'a> {
        Lexer {
            param: true,
            ..Lexer::new(owner, file)
        }
    }

    /// A word's value: the file's own bytes when escape processing changes nothing.
    fn value(&self, start: usize, raw: &[u8]) -> Bytes {
        if raw.contains(&b'\\') {
            Bytes::from(unescape(raw))
        } else {
            self.owner.slice(start..start + raw.len())
        }
    }

    pub fn is_param(&self) -> bool {
        self.param
    }

    pub fn input(&self) -> &'a [u8] {
        self.input
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    /// nginx's line at a byte: 1 + the line feeds before it (a LF itself counts).
    fn line_at(&self, at: usize) -> usize {
        let upto = (at + 1).min(self.input.len());
        1 + self.input[..upto].iter().filter(|b| **b == b'\n').count()
    }

    fn eof_line(&self) -> usize {
        1 + self.input.iter().filter(|b| **b == b'\n').count()
    }

    fn error(&self, kind: SyntaxErrorKind, at: usize, len: usize, line: usize) -> SyntaxError {
        SyntaxError {
            kind,
            span: self.span(at, (at + len).min(self.input.len())),
            line,
            opened: None,
        }
    }

    fn eof_error(&self, opened: Option<Span>) -> SyntaxError {
        let kind = if self.param {
            SyntaxErrorKind::EndOfParameter
        } else {
            SyntaxErrorKind::EofInDirective
        };
        let end = self.input.len();
        let mut e = self.error(kind, end, 0, self.eof_line());
        e.opened = opened;
        e
    }

    fn too_long_error(&self, start: usize, quote: Option<u8>) -> SyntaxError {
        let kind = match quote {
            Some(q) => SyntaxErrorKind::TooLongQuoted(q),
            None => SyntaxErrorKind::TooLong {
                started: self.input[start..(start + 10).min(self.input.len())].to_vec(),
            },
        };
        // nginx names the line where the word started.
        self.error(
            kind,
            start,
            CONF_BUFFER.min(self.input.len() - start),
            self.start_line(start),
        )
    }

    /// The line of the byte at `start`, as nginx records `start_line` for a word.
    fn start_line(&self, start: usize) -> usize {
        1 + self.input[..start.min(self.input.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }

    /// Skips blanks and comments; a comment too long for nginx's buffer is an error.
    fn skip_blanks(&mut self) -> Result<(), SyntaxError> {
        let mut rest = &self.input[self.pos..];
        while let Ok((next, comment)) = blank(rest) {
            if let Some(c) = comment {
                let start = self.input.len() - rest.len();
                // The comment's segment ends where its LF is read (or at the end of input).
                if too_long(start, start + c.len(), self.input.len()) {
                    return Err(self.too_long_error(start, None));
                }
            }
            rest = next;
        }
        self.pos = self.input.len() - rest.len();
        Ok(())
    }

    /// Reads one statement, as one call of nginx's `ngx_conf_read_token` does.
    pub fn next_statement(&mut self) -> Result<Statement, SyntaxError> {
        let mut words = std::mem::take(&mut self.words);
        words.clear();
        let r = self.statement(&mut words);
        self.words = words;
        r
    }

    fn statement(&mut self, words: &mut Vec<Word>) -> Result<Statement, SyntaxError> {
        loop {
            self.skip_blanks()?;
            let Some(&ch) = self.input.get(self.pos) else {
                if words.is_empty() {
                    return Ok(Statement::Eof);
                }
                let opened = words.first().map(|w| w.span);
                return Err(self.eof_error(opened));
            };
            let at = self.pos;
            match ch {
                b';' | b'{' => {
                    if words.is_empty() {
                        return Err(self.error(
                            SyntaxErrorKind::Unexpected(ch),
                            at,
                            1,
                            self.line_at(at),
                        ));
                    }
                    self.pos += 1;
                    let terminator = if ch == b';' {
                        Terminator::Semicolon
                    } else {
                        Terminator::BlockStart
                    };
                    // Exact-size argument lists: a large configuration has hundreds of
                    // thousands of them.
                    let mut drain = words.drain(..);
                    let name = drain.next().expect("checked non-empty above");
                    let args: Box<[Word]> = drain.collect();
                    return Ok(Statement::Directive {
                        name,
                        args,
                        terminator,
                        end: self.span(at, at + 1),
                    });
                }
                b'}' => {
                    if !words.is_empty() {
                        let mut e =
                            self.error(SyntaxErrorKind::Unexpected(b'}'), at, 1, self.line_at(at));
                        e.opened = Some(words[0].span.to(words[words.len() - 1].span));
                        return Err(e);
                    }
                    self.pos += 1;
                    return Ok(Statement::BlockEnd(self.span(at, at + 1)));
                }
                b'"' | b'\'' => words.push(self.quoted(ch)?),
                _ => words.push(self.unquoted()?),
            }
        }
    }

    /// A quoted word, and nginx's check of what may follow its closing quote.
    fn quoted(&mut self, q: u8) -> Result<Word, SyntaxError> {
        let open = self.pos;
        let body_start = open + 1;
        let rest = &self.input[body_start..];
        // quoted_body cannot fail: it accepts the empty body.
        let (after, body) = quoted_body(q)(rest).unwrap_or((rest, &rest[..0]));
        let close = body_start + body.len();
        if after.is_empty() {
            // No closing quote: nginx runs out of buffer first if the rest is long enough.
            if too_long(body_start, self.input.len(), self.input.len()) {
                return Err(self.too_long_error(body_start, Some(q)));
            }
            return Err(self.eof_error(Some(self.span(open, open + 1))));
        }
        if too_long(body_start, close, self.input.len()) {
            // Still inside the quotes when the buffer ran out.
            return Err(self.too_long_error(body_start, Some(q)));
        }
        let next = close + 1;
        let word = Word {
            value: self.value(body_start, body),
            span: self.span(open, next),
            quote: Some(q),
        };
        // need_space: the byte after the quote decides when nginx moves `start`.
        match self.input.get(next) {
            None => {
                return Err(self.eof_error(Some(word.span)));
            }
            Some(&b) if is_space(b) => {
                // The blank is swallowed without moving `start`; the byte after it moves it.
                if too_long(body_start, next + 1, self.input.len()) {
                    return Err(self.too_long_error(body_start, None));
                }
                self.pos = next + 1;
            }
            Some(b';' | b'{' | b')') => {
                if too_long(body_start, next, self.input.len()) {
                    return Err(self.too_long_error(body_start, None));
                }
                self.pos = next;
            }
            Some(&b) => {
                return Err(self.error(
                    SyntaxErrorKind::Unexpected(b),
                    next,
                    1,
                    self.line_at(next),
                ));
            }
        }
        Ok(word)
    }

    /// An unquoted word, which ends at a blank, `;` or `{`.
    fn unquoted(&mut self) -> Result<Word, SyntaxError> {
        let start = self.pos;
        let rest = &self.input[start..];
        // The caller saw a byte that is none of the terminators, so one piece always matches;
        // a lone backslash at the very end of the input is the only exception.
        let raw = match unquoted(rest) {
            Ok((_, raw)) => raw,
            Err(_) => &rest[..0],
        };
        let end = start + raw.len();
        // A backslash pair at the end of input is cut short by `take(1)`: the word has not
        // ended, so this is the end of the file inside a directive.
        let cut_escape = end < self.input.len() && self.input[end] == b'\\';
        if end >= self.input.len() || cut_escape {
            if too_long(start, self.input.len(), self.input.len()) {
                return Err(self.too_long_error(start, None));
            }
            return Err(self.eof_error(Some(self.span(start, self.input.len()))));
        }
        // A blank terminator moves `start` only at the byte after it; `;` and `{` end the
        // statement, and the next statement starts right after them.
        let moves_at = if is_space(self.input[end]) {
            end + 1
        } else {
            end
        };
        if too_long(start, moves_at, self.input.len()) {
            return Err(self.too_long_error(start, None));
        }
        self.pos = end;
        Ok(Word {
            value: self.value(start, raw),
            span: self.span(start, end),
            quote: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_follows_nginx() {
        let check = |raw: &[u8], want: &[u8]| assert_eq!(&*unescape(raw), want, "{raw:?}");
        check(br#"a\"b"#, b"a\"b");
        check(br"it\'s", b"it's");
        check(br"\\", b"\\");
        check(br"\t\r\n", b"\t\r\n");
        check(br"\d\$host", b"\\d\\$host");
        check(br"a\ b", b"a\\ b");
    }

    #[test]
    fn too_long_boundaries_match_nginx() {
        // Observed with nginx 1.22.1: an unquoted word of 4095 bytes followed by a blank
        // overflows, one of 4095 followed by `;` does not.
        assert!(!too_long(0, 4095, 10_000));
        assert!(too_long(0, 4096, 10_000));
        assert!(!too_long(0, 4096, 4096));
    }
}
