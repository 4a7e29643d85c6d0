//! The request line: nginx's `ngx_http_parse_request_line` state machine, byte for byte
//! (`sw_*` states as [`Ls`]). It finds the method, the target's parts (schema, host, port,
//! path, the flags that send the URI through `ngx_http_parse_complex_uri`) and the version;
//! it does not decode the URI (`uri`), validate the host (`host`) or know about header buffers
//! (the driver in `scan` runs it again over a longer window).

use std::borrow::Cow;
use std::ops::Range;

use super::{Method, Reject, CR, LF, USUAL};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LineError {
    Method,
    Request,
    Version,
    Method09,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Line {
    pub(super) start: usize,
    pub(super) method_end: usize,
    pub(super) uri_start: usize,
    pub(super) uri_end: usize,
    pub(super) args_start: Option<usize>,
    pub(super) schema_end: usize,
    pub(super) host: Option<Range<usize>>,
    pub(super) protocol_start: Option<usize>,
    pub(super) request_end: Option<usize>,
    /// Offset just past the line's LF.
    pub(super) end: usize,
    pub(super) major: u16,
    pub(super) minor: u16,
    pub(super) complex: bool,
    pub(super) quoted: bool,
    pub(super) plus: bool,
    pub(super) empty_path: bool,
}

pub(super) enum LineStep {
    Done(Line, Method),
    /// Ran out of bytes; `Some(request_start)` once past the CR/LF nginx skips before a request.
    Again(Option<usize>),
    Invalid(LineError),
}

/// Runs nginx's request-line state machine over `buf[from..limit]`.
pub(super) fn request_line(buf: &[u8], from: usize, limit: usize) -> LineStep {
    let mut m = Machine {
        buf,
        limit,
        p: from,
        state: Ls::Start,
        l: Line {
            start: from,
            ..Line::default()
        },
        method: Method::Other,
    };

    while m.p < limit {
        let ch = buf[m.p];
        let flow = match m.state {
            Ls::Start | Ls::Method | Ls::SpacesBeforeUri => m.method(ch),
            Ls::Schema | Ls::SchemaSlash | Ls::SchemaSlashSlash => m.schema(ch),
            Ls::HostStart | Ls::Host | Ls::HostEnd | Ls::HostIpLiteral | Ls::Port => m.host(ch),
            Ls::AfterSlashInUri => m.after_slash_in_uri(ch),
            Ls::CheckUri => m.check_uri(ch),
            Ls::Uri => m.uri(ch),
            Ls::Http09 => m.http09(ch),
            _ => m.version(ch),
        };
        match flow {
            Flow::Next => m.p += 1,
            Flow::Stay => {}
            Flow::Done => return m.done(),
            Flow::Invalid(e) => return LineStep::Invalid(e),
        }
    }

    LineStep::Again(match m.state {
        Ls::Start => None,
        _ => Some(m.l.start),
    })
}

/// The [`Reject`] nginx answers a request-line error with.
pub(super) fn invalid_request(e: LineError) -> Reject {
    match e {
        LineError::Method => Reject::BadRequest(Cow::Borrowed("client sent invalid method")),
        LineError::Request => Reject::BadRequest(Cow::Borrowed("client sent invalid request")),
        LineError::Version => Reject::VersionNotSupported,
        LineError::Method09 => {
            Reject::Http09BadRequest("client sent invalid method in HTTP/0.9 request")
        }
    }
}

/// The `sw_*` states of `ngx_http_parse_request_line`.
#[derive(Clone, Copy)]
enum Ls {
    Start,
    Method,
    SpacesBeforeUri,
    Schema,
    SchemaSlash,
    SchemaSlashSlash,
    HostStart,
    Host,
    HostEnd,
    HostIpLiteral,
    Port,
    AfterSlashInUri,
    CheckUri,
    Uri,
    Http09,
    HttpH,
    HttpHt,
    HttpHtt,
    HttpHttp,
    FirstMajorDigit,
    MajorDigit,
    FirstMinorDigit,
    MinorDigit,
    SpacesAfterDigit,
    AlmostDone,
}

/// The state machine between two bytes: where it is and what it found so far.
struct Machine<'b> {
    buf: &'b [u8],
    limit: usize,
    /// The byte being looked at.
    p: usize,
    state: Ls,
    l: Line,
    method: Method,
}

/// What a state did with the byte at `p`.
enum Flow {
    /// On to the next byte.
    Next,
    /// The byte at `p` again: in the new state (nginx's fall through), or `p` already moved
    /// past a run of plain URI bytes.
    Stay,
    /// The LF at `p` ends the line.
    Done,
    Invalid(LineError),
}

fn is_method_char(ch: u8) -> bool {
    ch.is_ascii_uppercase() || ch == b'_' || ch == b'-'
}

impl Machine<'_> {
    /// `sw_start`, `sw_method`, `sw_spaces_before_uri`.
    fn method(&mut self, ch: u8) -> Flow {
        let (l, p) = (&mut self.l, self.p);
        match self.state {
            Ls::Start => {
                // CR/LF before a request line are skipped
                l.start = p;
                if ch != CR && ch != LF {
                    if !is_method_char(ch) {
                        return Flow::Invalid(LineError::Method);
                    }
                    self.state = Ls::Method;
                }
            }
            Ls::Method => {
                if ch == b' ' {
                    l.method_end = p;
                    self.method = Method::from_token(&self.buf[l.start..p]);
                    self.state = Ls::SpacesBeforeUri;
                } else if !is_method_char(ch) {
                    return Flow::Invalid(LineError::Method);
                }
            }
            _ => {
                if ch == b'/' {
                    l.uri_start = p;
                    self.state = Ls::AfterSlashInUri;
                } else if ch.is_ascii_alphabetic() {
                    self.state = Ls::Schema;
                } else if ch != b' ' {
                    // `*` and authority-form (`CONNECT h:443`) end here
                    return Flow::Invalid(LineError::Request);
                }
            }
        }
        Flow::Next
    }

    /// `sw_schema`, `sw_schema_slash`, `sw_schema_slash_slash`.
    fn schema(&mut self, ch: u8) -> Flow {
        match self.state {
            Ls::Schema => {
                if ch == b':' {
                    self.l.schema_end = self.p;
                    self.state = Ls::SchemaSlash;
                } else if !(ch.is_ascii_alphanumeric() || matches!(ch, b'+' | b'-' | b'.')) {
                    return Flow::Invalid(LineError::Request);
                }
            }
            _ => {
                if ch != b'/' {
                    return Flow::Invalid(LineError::Request);
                }
                self.state = if matches!(self.state, Ls::SchemaSlash) {
                    Ls::SchemaSlashSlash
                } else {
                    Ls::HostStart
                };
            }
        }
        Flow::Next
    }

    /// `sw_host_start`, `sw_host`, `sw_host_end`, `sw_host_ip_literal`, `sw_port`.
    fn host(&mut self, ch: u8) -> Flow {
        let (l, p) = (&mut self.l, self.p);
        match self.state {
            Ls::HostStart => {
                l.host = Some(p..p);
                if ch == b'[' {
                    self.state = Ls::HostIpLiteral;
                } else {
                    self.state = Ls::Host;
                    return Flow::Stay; // the same byte again, as nginx's fall through
                }
            }
            Ls::Host => {
                if !(ch.is_ascii_alphanumeric() || ch == b'.' || ch == b'-') {
                    self.state = Ls::HostEnd;
                    return Flow::Stay;
                }
            }
            Ls::HostEnd => {
                if let Some(host) = &mut l.host {
                    host.end = p;
                }
                if ch == b':' {
                    self.state = Ls::Port;
                } else {
                    return self.after_host(ch);
                }
            }
            Ls::HostIpLiteral => {
                if ch == b']' {
                    self.state = Ls::HostEnd;
                } else if !is_ip_literal_char(ch) {
                    return Flow::Invalid(LineError::Request);
                }
            }
            _ => {
                if !ch.is_ascii_digit() {
                    return self.after_host(ch);
                }
            }
        }
        Flow::Next
    }

    /// What may follow the host (and port) of an absolute-form target: the path, the query,
    /// or a space (then there is no path at all).
    fn after_host(&mut self, ch: u8) -> Flow {
        let (l, p) = (&mut self.l, self.p);
        match ch {
            b'/' => {
                l.uri_start = p;
                self.state = Ls::AfterSlashInUri;
            }
            b'?' => {
                l.uri_start = p;
                l.args_start = Some(p + 1);
                l.empty_path = true;
                self.state = Ls::Uri;
            }
            b' ' => {
                // nginx points the URI at the second `/` of `://`
                l.uri_start = l.schema_end + 1;
                l.uri_end = l.schema_end + 2;
                self.state = Ls::Http09;
            }
            _ => return Flow::Invalid(LineError::Request),
        }
        Flow::Next
    }

    /// `sw_after_slash_in_uri`.
    fn after_slash_in_uri(&mut self, ch: u8) -> Flow {
        if USUAL[usize::from(ch)] {
            self.state = Ls::CheckUri;
            return Flow::Next;
        }
        match ch {
            b' ' | CR | LF => return self.end_uri(ch),
            b'.' | b'/' | b'#' => {
                self.l.complex = true;
                self.state = Ls::Uri;
            }
            b'%' => {
                self.l.quoted = true;
                self.state = Ls::Uri;
            }
            b'?' => {
                self.l.args_start = Some(self.p + 1);
                self.state = Ls::Uri;
            }
            b'+' => self.l.plus = true,
            _ if ch < 0x20 || ch == 0x7f => return Flow::Invalid(LineError::Request),
            _ => self.state = Ls::CheckUri,
        }
        Flow::Next
    }

    /// `sw_check_uri`.
    fn check_uri(&mut self, ch: u8) -> Flow {
        if USUAL[usize::from(ch)] {
            // the common case: skip the run of plain bytes
            return self.skip_usual();
        }
        match ch {
            b'/' => self.state = Ls::AfterSlashInUri,
            b'.' => {}
            b' ' | CR | LF => return self.end_uri(ch),
            b'%' => {
                self.l.quoted = true;
                self.state = Ls::Uri;
            }
            b'?' => {
                self.l.args_start = Some(self.p + 1);
                self.state = Ls::Uri;
            }
            b'#' => {
                self.l.complex = true;
                self.state = Ls::Uri;
            }
            b'+' => self.l.plus = true,
            _ if ch < 0x20 || ch == 0x7f => return Flow::Invalid(LineError::Request),
            _ => {}
        }
        Flow::Next
    }

    /// `sw_uri`.
    fn uri(&mut self, ch: u8) -> Flow {
        if USUAL[usize::from(ch)] {
            return self.skip_usual();
        }
        match ch {
            b' ' | CR | LF => return self.end_uri(ch),
            b'#' => self.l.complex = true,
            _ if ch < 0x20 || ch == 0x7f => return Flow::Invalid(LineError::Request),
            _ => {}
        }
        Flow::Next
    }

    /// Moves `p` past the run of plain URI bytes that starts at it.
    fn skip_usual(&mut self) -> Flow {
        self.p += 1;
        while self.p < self.limit && USUAL[usize::from(self.buf[self.p])] {
            self.p += 1;
        }
        Flow::Stay
    }

    /// A space, CR or LF ends the URI in each URI state: a version follows the space, and a
    /// line end makes the request HTTP/0.9.
    fn end_uri(&mut self, ch: u8) -> Flow {
        self.l.uri_end = self.p;
        match ch {
            b' ' => {
                self.state = Ls::Http09;
                Flow::Next
            }
            CR => {
                self.l.minor = 9;
                self.state = Ls::AlmostDone;
                Flow::Next
            }
            _ => {
                self.l.minor = 9;
                Flow::Done
            }
        }
    }

    /// `sw_http_09`: after the URI and its spaces, a line end (HTTP/0.9) or `HTTP/`.
    fn http09(&mut self, ch: u8) -> Flow {
        match ch {
            b' ' => {}
            CR => {
                self.l.minor = 9;
                self.state = Ls::AlmostDone;
            }
            LF => {
                self.l.minor = 9;
                return Flow::Done;
            }
            b'H' => {
                self.l.protocol_start = Some(self.p);
                self.state = Ls::HttpH;
            }
            _ => return Flow::Invalid(LineError::Request),
        }
        Flow::Next
    }

    /// `sw_http_H` through `sw_almost_done`: `HTTP/`, the version and the line end.
    fn version(&mut self, ch: u8) -> Flow {
        let l = &mut self.l;
        match self.state {
            Ls::HttpH | Ls::HttpHt | Ls::HttpHtt | Ls::HttpHttp => {
                let (want, next) = match self.state {
                    Ls::HttpH => (b'T', Ls::HttpHt),
                    Ls::HttpHt => (b'T', Ls::HttpHtt),
                    Ls::HttpHtt => (b'P', Ls::HttpHttp),
                    _ => (b'/', Ls::FirstMajorDigit),
                };
                if ch != want {
                    return Flow::Invalid(LineError::Request);
                }
                self.state = next;
            }
            Ls::FirstMajorDigit => {
                if !(b'1'..=b'9').contains(&ch) {
                    return Flow::Invalid(LineError::Request);
                }
                l.major = u16::from(ch - b'0');
                if l.major > 1 {
                    return Flow::Invalid(LineError::Version);
                }
                self.state = Ls::MajorDigit;
            }
            Ls::MajorDigit => {
                if ch == b'.' {
                    self.state = Ls::FirstMinorDigit;
                } else if ch.is_ascii_digit() {
                    l.major = l.major * 10 + u16::from(ch - b'0');
                    if l.major > 1 {
                        return Flow::Invalid(LineError::Version);
                    }
                } else {
                    return Flow::Invalid(LineError::Request);
                }
            }
            Ls::FirstMinorDigit => {
                if !ch.is_ascii_digit() {
                    return Flow::Invalid(LineError::Request);
                }
                l.minor = u16::from(ch - b'0');
                self.state = Ls::MinorDigit;
            }
            _ => return self.line_end(ch),
        }
        Flow::Next
    }

    /// `sw_minor_digit`, `sw_spaces_after_digit`, `sw_almost_done`.
    fn line_end(&mut self, ch: u8) -> Flow {
        let l = &mut self.l;
        match self.state {
            Ls::MinorDigit => match ch {
                CR => self.state = Ls::AlmostDone,
                LF => return Flow::Done,
                b' ' => self.state = Ls::SpacesAfterDigit,
                b'0'..=b'9' => {
                    if l.minor > 99 {
                        return Flow::Invalid(LineError::Request);
                    }
                    l.minor = l.minor * 10 + u16::from(ch - b'0');
                }
                _ => return Flow::Invalid(LineError::Request),
            },
            Ls::SpacesAfterDigit => match ch {
                b' ' => {}
                CR => self.state = Ls::AlmostDone,
                LF => return Flow::Done,
                _ => return Flow::Invalid(LineError::Request),
            },
            _ => {
                l.request_end = Some(self.p - 1);
                if ch != LF {
                    return Flow::Invalid(LineError::Request);
                }
                return Flow::Done;
            }
        }
        Flow::Next
    }

    /// The request line ended with the LF at `p`.
    fn done(self) -> LineStep {
        let mut l = self.l;
        l.end = self.p + 1;
        if l.request_end.is_none() {
            l.request_end = Some(self.p);
        }
        if l.major == 0 && l.minor == 9 && self.method != Method::Get {
            return LineStep::Invalid(LineError::Method09);
        }
        LineStep::Done(l, self.method)
    }
}

/// The bytes `sw_host_ip_literal` accepts inside `[...]` besides `]`.
fn is_ip_literal_char(ch: u8) -> bool {
    ch.is_ascii_alphanumeric()
        || matches!(
            ch,
            b':' | b'-'
                | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}
