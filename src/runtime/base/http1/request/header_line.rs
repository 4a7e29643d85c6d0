//! The header lines: nginx's `ngx_http_parse_header_line`, one line at a time. It finds the
//! name, the value without its surrounding spaces and the line end, and says whether nginx
//! would call the line invalid (dropped with `ignore_invalid_headers`) or fatal (400). What a
//! header means is `headers_in`'s business; where lines may end is `buffers`'.

use std::borrow::Cow;
use std::ops::Range;

use super::{text, Reject, CR, LF};

pub(super) enum HeaderStep {
    Line {
        name: Range<usize>,
        value: Range<usize>,
        /// nginx's `header_end` (end of the logged text of an ignored line).
        header_end: usize,
        invalid: bool,
        end: usize,
    },
    /// The blank line; the head ends at the offset.
    Done(usize),
    Again,
    /// `client sent invalid header line: "<start..header_end>\xNN..."`.
    Invalid {
        header_end: usize,
    },
}

/// Runs nginx's header-line state machine over `buf[start..limit]`.
pub(super) fn header_line(buf: &[u8], start: usize, limit: usize, underscores: bool) -> HeaderStep {
    let mut p = start;
    if p >= limit {
        return HeaderStep::Again;
    }
    let mut invalid = false;

    // sw_start
    match buf[p] {
        CR => {
            return match buf.get(p + 1) {
                _ if p + 1 >= limit => HeaderStep::Again,
                Some(&LF) => HeaderStep::Done(p + 2),
                _ => HeaderStep::Invalid { header_end: p },
            };
        }
        LF => return HeaderStep::Done(p + 1),
        ch => match name_byte(ch) {
            NameByte::Token => {}
            NameByte::Underscore => invalid = !underscores,
            NameByte::Colon | NameByte::Fatal => return HeaderStep::Invalid { header_end: p },
            NameByte::Other => invalid = true,
        },
    }
    p += 1;

    // sw_name
    let name_end = loop {
        if p >= limit {
            return HeaderStep::Again;
        }
        let ch = buf[p];
        match name_byte(ch) {
            NameByte::Token => {}
            NameByte::Underscore => invalid |= !underscores,
            NameByte::Colon => break p,
            NameByte::Other => invalid = true,
            NameByte::Fatal if ch == CR => {
                // a line without a colon: a header with an empty value
                return almost_done(buf, start..p, p..p, p, invalid, p + 1, limit);
            }
            NameByte::Fatal if ch == LF => {
                return HeaderStep::Line {
                    name: start..p,
                    value: p..p,
                    header_end: p,
                    invalid,
                    end: p + 1,
                };
            }
            // `X-A : 1` and friends
            NameByte::Fatal => return HeaderStep::Invalid { header_end: p },
        }
        p += 1;
    };
    let name = start..name_end;
    p += 1;

    // sw_space_before_value
    loop {
        if p >= limit {
            return HeaderStep::Again;
        }
        match buf[p] {
            b' ' => p += 1,
            CR => return almost_done(buf, name, p..p, p, invalid, p + 1, limit),
            LF => {
                return HeaderStep::Line {
                    name,
                    value: p..p,
                    header_end: p,
                    invalid,
                    end: p + 1,
                };
            }
            0 => return HeaderStep::Invalid { header_end: p },
            _ => break,
        }
    }
    let value_start = p;

    // sw_value and sw_space_after_value amount to: the value runs to the first CR, LF or NUL
    // (NUL is an error), without its trailing spaces. Only `' '` is trimmed: a tab is kept.
    let stop = buf[p..limit]
        .iter()
        .position(|&c| VALUE_END[usize::from(c)])
        .map(|n| p + n);
    let Some(p) = stop else {
        return HeaderStep::Again;
    };
    if buf[p] == 0 {
        return HeaderStep::Invalid { header_end: p };
    }
    let mut header_end = p;
    while buf[header_end - 1] == b' ' {
        header_end -= 1; // stops at the first value byte, which is not a space
    }
    let value = value_start..header_end;
    if buf[p] == CR {
        return almost_done(buf, name, value, header_end, invalid, p + 1, limit);
    }
    HeaderStep::Line {
        name,
        value,
        header_end,
        invalid,
        end: p + 1,
    }
}

/// 400, `client sent invalid header line: "<start..header_end>\xNN..."` for
/// [`HeaderStep::Invalid`] on the line at `start`.
pub(super) fn invalid_header_line(buf: &[u8], start: usize, header_end: usize) -> Reject {
    Reject::BadRequest(Cow::Owned(format!(
        "client sent invalid header line: \"{}\\x{:02x}...\"",
        text(&buf[start..header_end]),
        buf[header_end]
    )))
}

/// nginx's `sw_almost_done`: after a CR, further CRs are tolerated, then LF ends the line.
fn almost_done(
    buf: &[u8],
    name: Range<usize>,
    value: Range<usize>,
    header_end: usize,
    invalid: bool,
    mut p: usize,
    limit: usize,
) -> HeaderStep {
    while p < limit {
        match buf[p] {
            LF => {
                return HeaderStep::Line {
                    name,
                    value,
                    header_end,
                    invalid,
                    end: p + 1,
                };
            }
            CR => p += 1,
            _ => return HeaderStep::Invalid { header_end },
        }
    }
    HeaderStep::Again
}

/// How nginx's header-name table sees a byte.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameByte {
    /// `-`, digits, letters: nginx's `lowcase` table.
    Token,
    Underscore,
    Colon,
    /// Controls, space, DEL: the line is an error.
    Fatal,
    /// Anything else makes the line invalid (dropped with ignore_invalid_headers).
    Other,
}

fn name_byte(ch: u8) -> NameByte {
    NAME_BYTES[usize::from(ch)]
}

static NAME_BYTES: [NameByte; 256] = {
    let mut t = [NameByte::Other; 256];
    let mut i = 0;
    while i < 256 {
        let ch = i as u8;
        t[i] = match ch {
            b'-' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => NameByte::Token,
            b'_' => NameByte::Underscore,
            b':' => NameByte::Colon,
            0..=0x20 | 0x7f => NameByte::Fatal,
            _ => NameByte::Other,
        };
        i += 1;
    }
    t
};

/// Bytes that end a header value: CR, LF and NUL (an error).
static VALUE_END: [bool; 256] = {
    let mut t = [false; 256];
    t[CR as usize] = true;
    t[LF as usize] = true;
    t[0] = true;
    t
};
