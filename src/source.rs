//! Source files and spans.
//!
//! Configuration files are bytes, not necessarily UTF-8, so a [`SourceFile`] keeps the exact
//! bytes it was read from (shared, never copied into diagnostics). A [`Span`] is a file id plus
//! a byte range; line and column are computed only when something is rendered for a person.
//! This module does no IO: the config loader reads files and registers them here.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range inside one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both; both must be in the same file.
    pub fn to(self, other: Span) -> Span {
        debug_assert_eq!(self.file, other.file);
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.end == self.start
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Where a file came from: a real path, or the `-g` command-line directives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    CommandLine,
}

/// One configuration file's bytes, shared.
pub struct SourceFile {
    origin: Origin,
    bytes: Bytes,
    line_starts: OnceLock<std::sync::Arc<[u32]>>,
}

impl SourceFile {
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn path(&self) -> Option<&Path> {
        match &self.origin {
            Origin::File(p) => Some(p),
            Origin::CommandLine => None,
        }
    }

    /// The name nginx prints for this file in messages (`in FILE:LINE`).
    pub fn name(&self) -> String {
        match &self.origin {
            Origin::File(p) => p.display().to_string(),
            Origin::CommandLine => "command line".to_string(),
        }
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Byte offsets where each line starts (computed once, shared).
    pub fn line_starts(&self) -> &std::sync::Arc<[u32]> {
        self.line_starts.get_or_init(|| {
            let mut starts = vec![0u32];
            for (i, b) in self.bytes.iter().enumerate() {
                if *b == b'\n' {
                    starts.push(i as u32 + 1);
                }
            }
            starts.into()
        })
    }

    /// 1-based line of a byte offset, counted as nginx counts (LF only).
    pub fn line_of(&self, offset: u32) -> usize {
        let starts = self.line_starts();
        match starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// 1-based line and column (column in bytes) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = self.line_of(offset);
        let start = self.line_starts()[line - 1];
        (line, (offset - start) as usize + 1)
    }

    /// The line nginx reports for an error found once the whole file was read
    /// (end of file): one more than the number of line feeds.
    pub fn last_line(&self) -> usize {
        self.line_starts().len()
    }
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFile")
            .field("origin", &self.origin)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Every file read for one configuration load.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, origin: Origin, bytes: impl Into<Bytes>) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile {
            origin,
            bytes: bytes.into(),
            line_starts: OnceLock::new(),
        });
        id
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    /// The bytes a span covers.
    pub fn slice(&self, span: Span) -> &[u8] {
        &self.file(span.file).bytes[span.range()]
    }

    /// `FILE:LINE` of the end of a span, the place nginx names in its messages.
    pub fn nginx_location(&self, span: Span) -> (String, usize) {
        let f = self.file(span.file);
        let at = span.end.saturating_sub(1).max(span.start);
        (f.name(), f.line_of(at))
    }
}

/// Renders bytes for a message: valid UTF-8 as is, other bytes as `\xNN`.
pub fn show_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_by_line_feeds() {
        let mut map = SourceMap::new();
        let id = map.add(Origin::CommandLine, b"a\r\nbc\n\nd".to_vec());
        let f = map.file(id);
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(4), (2, 2));
        assert_eq!(f.line_col(6), (3, 1));
        assert_eq!(f.line_col(7), (4, 1));
        assert_eq!(f.last_line(), 4);
    }

    #[test]
    fn invalid_utf8_is_shown_escaped() {
        assert_eq!(show_bytes(b"a\xffb\xc3\xa9"), "a\\xFFb\u{e9}");
    }
}
