//! The URI: nginx's `ngx_http_parse_complex_uri` (S3.1), which turns the request-target's
//! path into `$uri` (decoding `%XX`, resolving `.` and `..`, merging slashes) and finds
//! `$args`; and the helpers other code needs with nginx's semantics: [`normalize_uri`],
//! [`escape_uri`] (`ngx_escape_uri(NGX_ESCAPE_URI)`, S4.2) and [`arg`] (`ngx_http_arg`). The
//! request line (`line`) decides whether a URI needs this parse at all.

use std::ops::Range;

use super::{bitmap, USUAL};

/// S3.1: decodes `%XX` (`%2F` included), removes `/./`, resolves `/../` (above the root: error),
/// merges `//` when `merge_slashes`, refuses `%00` and a broken escape, and ends the path at the
/// first raw `?` or `#` (a decoded `%3F` or `%23` stays part of the path).
#[allow(clippy::result_unit_err)]
pub fn normalize_uri(raw_path: &[u8], merge_slashes: bool) -> Result<Vec<u8>, ()> {
    complex_uri(raw_path, false, merge_slashes).map(|c| c.uri)
}

/// `ngx_escape_uri(NGX_ESCAPE_URI)` of `src`, appended to `out` (S4.2): controls, space, `"`,
/// `#`, `%`, `<`, `>`, `?`, `\`, `^`, the backtick, `{`, `|`, `}`, DEL and bytes >= 0x80 become
/// `%XX` (uppercase hex).
pub fn escape_uri(src: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(src.len());
    for &c in src {
        if ESCAPE_URI[usize::from(c)] {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 0xf)]]);
        } else {
            out.push(c);
        }
    }
}

/// `ngx_http_arg` (`$arg_name`): the raw value of the first `name=` argument in `args`, the
/// name compared ASCII case-insensitively; it must start the query or follow a `&`.
pub fn arg<'a>(args: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let len = name.len();
    if len == 0 {
        return None;
    }
    // a match must leave room for the `=` after it
    let last = args.len().checked_sub(len)?;
    (0..last)
        .filter(|&m| args[m..m + len].eq_ignore_ascii_case(name))
        .find(|&m| (m == 0 || args[m - 1] == b'&') && args[m + len] == b'=')
        .map(|m| {
            let value = &args[m + len + 1..];
            let end = value.iter().position(|&c| c == b'&').unwrap_or(value.len());
            &value[..end]
        })
}

/// What `ngx_http_parse_complex_uri` makes of an unparsed URI.
pub(super) struct Complex {
    pub(super) uri: Vec<u8>,
    /// Relative to the input.
    pub(super) args: Option<Range<usize>>,
    pub(super) quoted: bool,
    pub(super) plus: bool,
}

/// `ngx_http_parse_complex_uri` over a whole unparsed URI (path, then maybe `?args`, `#frag`).
pub(super) fn complex_uri(
    raw: &[u8],
    empty_path: bool,
    merge_slashes: bool,
) -> Result<Complex, ()> {
    let mut path = Path {
        out: Vec::with_capacity(raw.len() + usize::from(empty_path)),
        state: Us::Usual,
        quoted_state: Us::Usual,
        plus: false,
        merge_slashes,
    };
    if empty_path {
        path.out.push(b'/');
    }
    let mut decoded = 0u8;
    let mut quoted = false;
    let mut args = None;

    let mut i = 0;
    while i < raw.len() {
        let ch = raw[i];
        i += 1;
        let flow = match path.state {
            Us::Quoted => {
                quoted = true;
                decoded = hex_value(ch).ok_or(())?.0;
                path.state = Us::QuotedSecond;
                continue;
            }
            Us::QuotedSecond => {
                let (low, digit) = hex_value(ch).ok_or(())?;
                let c = (decoded << 4) + low;
                // nginx keeps a decoded `%`, `#` and `?` as plain path bytes, and refuses NUL
                if (digit && (c == b'%' || c == b'#')) || (!digit && c == b'?') {
                    path.state = Us::Usual;
                    path.out.push(c);
                    continue;
                }
                if c == 0 {
                    return Err(());
                }
                path.plus |= c == b'+';
                path.state = path.quoted_state;
                path.step(c)?
            }
            _ => path.step(ch)?,
        };
        match flow {
            Flow::Next => {}
            Flow::Args => {
                // the query runs to a `#`, if any
                let end = raw[i..]
                    .iter()
                    .position(|&c| c == b'#')
                    .map_or(raw.len(), |n| i + n);
                args = Some(i..end);
                return Ok(path.into_complex(args, quoted));
            }
            Flow::Fragment => return Ok(path.into_complex(args, quoted)),
        }
    }

    match path.state {
        Us::Quoted | Us::QuotedSecond => return Err(()),
        Us::Dot => {
            path.out.pop();
        }
        Us::DotDot => dot_dot(&mut path.out)?,
        Us::Usual | Us::Slash => {}
    }
    Ok(path.into_complex(args, quoted))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Us {
    Usual,
    Slash,
    Dot,
    DotDot,
    Quoted,
    QuotedSecond,
}

enum Flow {
    Next,
    Args,
    Fragment,
}

/// The path being decoded: the output so far and where nginx's state machine stands.
struct Path {
    out: Vec<u8>,
    state: Us,
    /// The state a `%XX` goes back to once decoded.
    quoted_state: Us,
    plus: bool,
    merge_slashes: bool,
}

impl Path {
    /// One byte (raw, or decoded from `%XX`) through the path states.
    fn step(&mut self, ch: u8) -> Result<Flow, ()> {
        let usual = USUAL[usize::from(ch)];
        match self.state {
            Us::Usual => Ok(self.usual(ch, usual)),
            Us::Slash => Ok(self.slash(ch, usual)),
            Us::Dot => Ok(self.dot(ch, usual)),
            Us::DotDot => self.dot_dot(ch, usual),
            // the escape states are handled by the caller, on raw bytes only
            Us::Quoted | Us::QuotedSecond => Err(()),
        }
    }

    /// `sw_usual`.
    fn usual(&mut self, ch: u8, usual: bool) -> Flow {
        if usual {
            self.out.push(ch);
            return Flow::Next;
        }
        match ch {
            b'/' => {
                self.state = Us::Slash;
                self.out.push(ch);
            }
            b'%' => self.quoted(Us::Usual),
            b'?' => return Flow::Args,
            b'#' => return Flow::Fragment,
            _ => {
                self.plus |= ch == b'+';
                self.out.push(ch);
            }
        }
        Flow::Next
    }

    /// `sw_slash`.
    fn slash(&mut self, ch: u8, usual: bool) -> Flow {
        if usual {
            self.state = Us::Usual;
            self.out.push(ch);
            return Flow::Next;
        }
        match ch {
            b'/' => {
                if !self.merge_slashes {
                    self.out.push(ch);
                }
            }
            b'.' => {
                self.state = Us::Dot;
                self.out.push(ch);
            }
            b'%' => self.quoted(Us::Slash),
            b'?' => return Flow::Args,
            b'#' => return Flow::Fragment,
            _ => {
                self.plus |= ch == b'+';
                self.state = Us::Usual;
                self.out.push(ch);
            }
        }
        Flow::Next
    }

    /// `sw_dot`.
    fn dot(&mut self, ch: u8, usual: bool) -> Flow {
        if usual {
            self.state = Us::Usual;
            self.out.push(ch);
            return Flow::Next;
        }
        match ch {
            b'/' => {
                self.state = Us::Slash;
                self.out.pop();
            }
            b'.' => {
                self.state = Us::DotDot;
                self.out.push(ch);
            }
            b'%' => self.quoted(Us::Dot),
            b'?' => {
                self.out.pop();
                return Flow::Args;
            }
            b'#' => {
                self.out.pop();
                return Flow::Fragment;
            }
            _ => {
                self.plus |= ch == b'+';
                self.state = Us::Usual;
                self.out.push(ch);
            }
        }
        Flow::Next
    }

    /// `sw_dot_dot`.
    fn dot_dot(&mut self, ch: u8, usual: bool) -> Result<Flow, ()> {
        if usual {
            self.state = Us::Usual;
            self.out.push(ch);
            return Ok(Flow::Next);
        }
        match ch {
            b'/' | b'?' | b'#' => {
                dot_dot(&mut self.out)?;
                match ch {
                    b'?' => return Ok(Flow::Args),
                    b'#' => return Ok(Flow::Fragment),
                    _ => self.state = Us::Slash,
                }
            }
            b'%' => self.quoted(Us::DotDot),
            _ => {
                self.plus |= ch == b'+';
                self.state = Us::Usual;
                self.out.push(ch);
            }
        }
        Ok(Flow::Next)
    }

    /// A `%` in state `from`: the escape's two digits follow.
    fn quoted(&mut self, from: Us) {
        self.quoted_state = from;
        self.state = Us::Quoted;
    }

    fn into_complex(self, args: Option<Range<usize>>, quoted: bool) -> Complex {
        Complex {
            uri: self.out,
            args,
            quoted,
            plus: self.plus,
        }
    }
}

/// nginx's "/.." resolution: the output ends with `/..`; drop it and the segment before it.
fn dot_dot(out: &mut Vec<u8>) -> Result<(), ()> {
    let mut u = out.len().checked_sub(4).ok_or(())?;
    loop {
        if out[u] == b'/' {
            out.truncate(u + 1);
            return Ok(());
        }
        u = u.checked_sub(1).ok_or(())?;
    }
}

fn hex_value(ch: u8) -> Option<(u8, bool)> {
    match ch {
        b'0'..=b'9' => Some((ch - b'0', true)),
        b'a'..=b'f' => Some((ch - b'a' + 10, false)),
        b'A'..=b'F' => Some((ch - b'A' + 10, false)),
        _ => None,
    }
}

/// The `uri` table of `ngx_escape_uri` (NGX_ESCAPE_URI, S4.2): controls, space, `"`, `#`, `%`,
/// `<`, `>`, `?`, `\`, `^`, the backtick, `{`, `|`, `}`, DEL and every byte >= 0x80.
static ESCAPE_URI: [bool; 256] = bitmap([
    0xffff_ffff,
    0xd000_002d,
    0x5000_0000,
    0xb800_0001,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
]);
