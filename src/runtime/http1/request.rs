//! nginx's HTTP/1.x request-head parser: the request line, the header lines, the URI
//! normalisation that yields `$uri`, and the checks nginx makes before it looks at the
//! configuration (Host, Content-Length, Transfer-Encoding, duplicate unique headers).
//!
//! It answers exactly what nginx 1.22.1 answers for the same bytes, including the header
//! buffer limits: nginx reads a request into a `client_header_buffer_size` buffer, then
//! moves an unfinished line into one of `large_client_header_buffers` (copying the partial
//! line to the start of the new buffer), so whether a head fits depends on where its lines
//! fall. [`parse`] replays that packing on stream offsets instead of copying anything.
//!
//! Pure code: no IO, no configuration lookups (server selection, locations, `405` for
//! TRACE/CONNECT and the body are the caller's), and no allocation besides the returned
//! `uri` and header list. Everything else is a range into the caller's buffer.

use std::ops::Range;

use bytes::Bytes;

/// Limits from the server configuration (defaults: 1024, 4, 8192, false, true, true).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `client_header_buffer_size`: the first buffer a request is read into.
    pub client_header_buffer_size: usize,
    /// `large_client_header_buffers` number.
    pub large_buffers: usize,
    /// `large_client_header_buffers` size: also the longest request line or header line.
    pub large_buffer_size: usize,
    /// `underscores_in_headers`.
    pub underscores_in_headers: bool,
    /// `ignore_invalid_headers`.
    pub ignore_invalid_headers: bool,
    /// `merge_slashes`.
    pub merge_slashes: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            client_header_buffer_size: 1024,
            large_buffers: 4,
            large_buffer_size: 8192,
            underscores_in_headers: false,
            ignore_invalid_headers: true,
            merge_slashes: true,
        }
    }
}

/// The request method. Any other token of `A-Z`, `_` and `-` is `Other` (nginx accepts and
/// proxies it); the name as sent is [`RequestHead::method_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Mkcol,
    Copy,
    Move,
    Options,
    Propfind,
    Proppatch,
    Lock,
    Unlock,
    Patch,
    Trace,
    Connect,
    Other,
}

/// A header line as received (names and values are ranges into the request buffer; the
/// value is trimmed as nginx trims it).
///
/// nginx trims only spaces, not tabs. A line without a colon is a header whose name is the
/// whole line and whose value is empty (nginx 1.22.1 forwards it as `Name: `).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// What nginx derives from the User-Agent (for the MSIE/Chrome error page padding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Browser {
    pub msie: bool,
    pub msie6: bool,
    pub opera: bool,
    pub gecko: bool,
    pub chrome: bool,
    pub safari: bool,
    pub konqueror: bool,
}

/// A parsed request head. Ranges index the buffer given to [`parse`]; the accessor methods
/// read them from [`RequestHead::buf`], where the caller keeps those bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// The method as sent.
    pub method_name: Range<usize>,
    /// `$request`: the request line without leading blank lines and without CRLF (trailing
    /// spaces after the version are kept, as nginx keeps them).
    pub request_line: Range<usize>,
    /// `$request_uri`: the target as sent. For an absolute-form target this starts at the
    /// path; with no path it is the `/` of `://` (or `?args` when the path is empty and a
    /// query follows, see [`RequestHead::valid_unparsed_uri`]).
    pub unparsed_uri: Range<usize>,
    /// `$uri`: `%XX` decoded, `/./` and `/../` resolved, slashes merged (`merge_slashes`),
    /// cut at `?` and `#`.
    pub uri: Vec<u8>,
    /// `$args` as sent (empty range when none).
    pub args: Range<usize>,
    /// nginx's `quoted_uri`: the path contained a `%` escape. `proxy_pass` with a URI part
    /// re-escapes `$uri` (with [`escape_uri`]) only then.
    pub quoted_uri: bool,
    /// 1.x, or 0.9 for HTTP/0.9. A minor version above 255 (nginx accepts up to 999) is
    /// kept as 255, which compares the same everywhere nginx looks at it.
    pub http_major: u8,
    pub http_minor: u8,
    pub http09: bool,
    /// The host of an absolute-form target, as sent (port excluded, brackets kept); it is
    /// valid per [`validate_host`] and takes precedence over the Host header.
    pub absolute_host: Option<Range<usize>>,
    /// Header lines in order, without the invalid ones nginx ignores (names with `_` unless
    /// `underscores_in_headers`, other invalid characters when `ignore_invalid_headers`).
    pub headers: Vec<Header>,
    /// The Host header value (valid per [`validate_host`]; a second one is rejected).
    pub host: Option<Range<usize>>,
    /// The Host header's index in `headers`.
    pub host_header: Option<usize>,
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// The last Connection header containing `close` or `keep-alive` (case-insensitive
    /// substring, `close` checked first) decides these two; they never are both true.
    pub connection_close: bool,
    pub connection_keep_alive: bool,
    /// Some Connection header contains `upgrade` (case-insensitive substring). nginx itself
    /// does not look; this is for the WebSocket tunnel.
    pub connection_upgrade: bool,
    /// An Upgrade header is present (any value).
    pub upgrade: bool,
    /// `Expect: 100-continue` (case-insensitive, exact) on HTTP/1.1 or later: nginx sends
    /// `100 Continue` before reading the body.
    pub expect_continue: bool,
    pub browser: Browser,
    /// Bytes consumed: leading blank lines, request line, header lines and the empty line.
    /// Bytes after it (a body, a pipelined request) are not looked at.
    pub head_len: usize,
    /// The head's bytes (`buf[..head_len]` of [`parse`]), for the accessors. [`parse`] leaves
    /// it empty: the caller moves the bytes in (typically without copying, from its read
    /// buffer) once the head is complete.
    pub buf: Bytes,
}

/// Why a request is rejected, with the status nginx answers and the error-log text nginx
/// writes (at `info` level).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    /// 400 with the "400 Bad Request" page.
    BadRequest(&'static str),
    /// 414, "client sent too long URI".
    UriTooLong,
    /// 400 with the "Request Header Or Cookie Too Large" page (nginx's internal 494).
    HeaderTooLarge(&'static str),
    /// 501.
    NotImplemented(&'static str),
    /// 505, "client sent invalid version".
    VersionNotSupported,
    /// Close the connection without answering.
    Close,
}

impl Reject {
    /// The status line nginx sends (0 for [`Reject::Close`]).
    pub fn status(&self) -> u16 {
        match self {
            Reject::BadRequest(_) | Reject::HeaderTooLarge(_) => 400,
            Reject::UriTooLong => 414,
            Reject::NotImplemented(_) => 501,
            Reject::VersionNotSupported => 505,
            Reject::Close => 0,
        }
    }

    /// The error-log text (nginx adds details such as the offending line after some).
    pub fn message(&self) -> &'static str {
        match self {
            Reject::BadRequest(m) | Reject::HeaderTooLarge(m) | Reject::NotImplemented(m) => m,
            Reject::UriTooLong => "client sent too long URI",
            Reject::VersionNotSupported => "client sent invalid version",
            Reject::Close => "",
        }
    }
}

/// The result of a parse that did not reject.
// The head moves out once per request; boxing it would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parse {
    Complete(RequestHead),
    /// More bytes are needed.
    Partial,
}

impl RequestHead {
    /// A stand-in for a request that was rejected before its head was complete: only the
    /// request line (`$request`, the `request: "..."` of error-log lines) is known.
    pub fn bad_request(line: Bytes) -> RequestHead {
        let len = line.len();
        RequestHead {
            method: Method::Other,
            method_name: 0..0,
            request_line: 0..len,
            unparsed_uri: 0..0,
            uri: Vec::new(),
            args: 0..0,
            quoted_uri: false,
            http_major: 1,
            http_minor: 0,
            http09: false,
            absolute_host: None,
            headers: Vec::new(),
            host: None,
            host_header: None,
            content_length: None,
            chunked: false,
            connection_close: false,
            connection_keep_alive: false,
            connection_upgrade: false,
            upgrade: false,
            expect_continue: false,
            browser: Browser::default(),
            head_len: len,
            buf: line,
        }
    }

    /// The bytes of a range of the head (empty before `buf` is set).
    pub fn bytes(&self, r: Range<usize>) -> &[u8] {
        self.buf.get(r).unwrap_or_default()
    }

    /// Header line `i`: name and value.
    pub fn header(&self, i: usize) -> (&[u8], &[u8]) {
        let h = &self.headers[i];
        (self.bytes(h.name.clone()), self.bytes(h.value.clone()))
    }

    /// The value of the first header line called `name` (ASCII case-insensitive).
    pub fn find(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| self.bytes(h.name.clone()).eq_ignore_ascii_case(name))
            .map(|h| self.bytes(h.value.clone()))
    }

    /// `$request_uri`.
    pub fn request_uri(&self) -> &[u8] {
        self.bytes(self.unparsed_uri.clone())
    }

    /// `$args`, `None` when empty (nginx makes no difference).
    pub fn args_bytes(&self) -> Option<Bytes> {
        if self.args.is_empty() || self.buf.get(self.args.clone()).is_none() {
            return None;
        }
        Some(self.buf.slice(self.args.clone()))
    }

    /// The host the server is selected by (S2.4): the absolute-form host, else the Host
    /// header, normalised by [`validate_host`]; `None` without either.
    pub fn host_name(&self) -> Option<Vec<u8>> {
        let r = self.absolute_host.clone().or_else(|| self.host.clone())?;
        validate_host(self.bytes(r))
    }

    /// `$server_protocol`: `HTTP/1.1` as sent (with any trailing spaces, as nginx keeps
    /// them); empty for HTTP/0.9.
    pub fn protocol(&self) -> &[u8] {
        let line = self.bytes(self.request_line.clone());
        if self.http09 {
            return b"";
        }
        // The version is the last token; it is preceded by a space and may be followed by
        // spaces that nginx counts as part of it.
        let trimmed = line.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
        let start = line[..trimmed]
            .iter()
            .rposition(|&c| c == b' ')
            .map_or(0, |i| i + 1);
        &line[start..]
    }

    /// nginx's `valid_unparsed_uri`: false for an absolute-form target with an empty path
    /// and a query (`GET http://h?a`), whose `unparsed_uri` is `?a`; proxying without a
    /// URI part then sends `$uri?$args` instead of the raw target.
    pub fn valid_unparsed_uri(&self) -> bool {
        self.buf.get(self.unparsed_uri.start) != Some(&b'?')
    }

    /// `$request_length` of the head: from the request line (leading blank lines excluded)
    /// to the end of the empty line.
    pub fn request_length(&self) -> usize {
        self.head_len - self.request_line.start
    }

    /// Whether the client asked for keep-alive, as nginx decides it before looking at the
    /// response: Connection close / keep-alive, otherwise HTTP/1.1 and later.
    pub fn keepalive_requested(&self) -> bool {
        if self.connection_close {
            false
        } else if self.connection_keep_alive {
            true
        } else {
            self.http_major == 1 && self.http_minor >= 1
        }
    }
}

/// Parses a request head at the start of `buf` (bytes received so far). `Partial` when more
/// bytes are needed; the caller reads more and calls again with the longer buffer (re-parsing
/// from the start is fine). Rejects, never loops or panics, on any input; enforces the
/// buffer limits on partial input too (a request line already longer than the limit is
/// `UriTooLong` before it ends).
///
/// The buffer packing assumes the request is the first on its connection (or that nginx
/// would start it in a fresh `client_header_buffer_size` buffer).
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Parse, Reject> {
    let Some(start) = buf.iter().position(|&c| c != b'\r' && c != b'\n') else {
        return Ok(Parse::Partial);
    };
    let mut room = Room::new(limits, start);

    // The request line.
    let limit = room.line_limit(start);
    let line = match scan_request_line(buf, start, buf.len().min(limit))? {
        Some(line) => line,
        None if buf.len() >= limit => return Err(Reject::UriTooLong),
        None => return Ok(Parse::Partial),
    };
    room.commit(start, line.next);
    let method = Method::from_token(&buf[start..line.method_end]);
    let http09 = line.major == 0;
    if http09 && method != Method::Get {
        return Err(Reject::BadRequest(
            "client sent invalid method in HTTP/0.9 request",
        ));
    }
    let target = process_uri(buf, &line, limits.merge_slashes)?;
    if let Some(host) = &line.host {
        if host_len(&buf[host.clone()]).is_none() {
            return Err(Reject::BadRequest(
                "client sent invalid host in request line",
            ));
        }
    }

    let mut head = RequestHead {
        method,
        method_name: start..line.method_end,
        request_line: start..line.request_end,
        unparsed_uri: line.uri_start..line.uri_end,
        uri: Vec::new(),
        args: target.args.clone(),
        quoted_uri: target.quoted,
        http_major: line.major,
        http_minor: if http09 { 9 } else { line.minor.min(255) as u8 },
        http09,
        absolute_host: line.host,
        headers: Vec::new(),
        host: None,
        host_header: None,
        content_length: None,
        chunked: false,
        connection_close: false,
        connection_keep_alive: false,
        connection_upgrade: false,
        upgrade: false,
        expect_continue: false,
        browser: Browser::default(),
        head_len: line.next,
        buf: Bytes::new(),
    };
    if http09 {
        head.uri = target.into_uri(buf);
        return Ok(Parse::Complete(head));
    }

    // The header lines.
    head.headers.reserve(16);
    let mut seen = Seen::default();
    let mut pos = line.next;
    let mut any_line = false;
    loop {
        if pos == room.end && !room.fresh(pos) {
            // The previous line ended exactly at the end of the last buffer nginx may use.
            return Err(Reject::HeaderTooLarge(if any_line {
                "client sent too long header line"
            } else {
                "client sent too large request"
            }));
        }
        let limit = room.line_limit(pos);
        let scanned = scan_header_line(
            buf,
            pos,
            buf.len().min(limit),
            limits.underscores_in_headers,
        );
        any_line = true;
        match scanned {
            HeaderScan::Invalid => {
                return Err(Reject::BadRequest("client sent invalid header line"))
            }
            HeaderScan::More if buf.len() >= limit => {
                return Err(Reject::HeaderTooLarge("client sent too long header line"))
            }
            HeaderScan::More => return Ok(Parse::Partial),
            HeaderScan::End(next) => {
                room.commit(pos, next);
                head.head_len = next;
                break;
            }
            HeaderScan::Line {
                name,
                value,
                invalid,
                next,
            } => {
                room.commit(pos, next);
                pos = next;
                if invalid && limits.ignore_invalid_headers {
                    continue;
                }
                seen.header(buf, &mut head, name.clone(), value.clone())?;
                head.headers.push(Header { name, value });
            }
        }
    }
    seen.finish(buf, &mut head)?;
    head.uri = target.into_uri(buf);
    Ok(Parse::Complete(head))
}

/// nginx's host validation (ngx_http_validate_host): lowercased, port cut, one trailing dot
/// stripped; None = invalid (400).
pub fn validate_host(host: &[u8]) -> Option<Vec<u8>> {
    let len = host_len(host)?;
    Some(host[..len].to_ascii_lowercase())
}

/// nginx's URI escaping for proxying (ngx_escape_uri with NGX_ESCAPE_URI), S4.2: escapes
/// controls, space, `"`, `#`, `%`, `<`, `>`, `?`, `\`, `^`, `` ` ``, `{`, `|`, `}`, DEL and
/// bytes from 0x80, as `%XX` with upper-case hex. Appends to `out`.
pub fn escape_uri(src: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(src.len());
    for &c in src {
        if ESCAPE_URI[c as usize] {
            out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 0xf) as usize]]);
        } else {
            out.push(c);
        }
    }
}

/// Whether `buf` starts with a complete HTTP/0.9 request line (no version). A request
/// rejected after such a line is answered as HTTP/0.9: the error page without a status
/// line or headers (nginx knows the version by then); one rejected earlier gets a normal
/// HTTP/1.1 response. Meant for the rejection path only (it scans the line again).
pub fn http09_request_line(buf: &[u8], limits: &Limits) -> bool {
    let Some(start) = buf.iter().position(|&c| c != b'\r' && c != b'\n') else {
        return false;
    };
    let limit = Room::new(limits, start).line_limit(start);
    matches!(
        scan_request_line(buf, start, buf.len().min(limit)),
        Ok(Some(line)) if line.major == 0
    )
}

/// nginx's `ngx_http_parse_complex_uri` on a path (from its `/`): `%XX` decoded, dot segments
/// resolved, slashes merged with `merge_slashes`, cut at an unescaped `?` or `#`. For URIs
/// that do not come from a request line (internal redirects); `Err` where a request line
/// would get 400, or when `uri` does not start with `/`.
pub fn normalize_uri(uri: &[u8], merge_slashes: bool) -> Result<Vec<u8>, Reject> {
    if uri.first() != Some(&b'/') {
        return Err(INVALID_REQUEST);
    }
    let mut out = Vec::with_capacity(uri.len());
    match normalize(uri, false, merge_slashes, &mut out) {
        Some(_) => Ok(out),
        None => Err(INVALID_REQUEST),
    }
}

/// `$arg_NAME` (ngx_http_arg): the value of the first `name=` parameter of `args`, the name
/// compared ASCII case-insensitively; the value runs to the next `&`.
pub fn arg<'a>(args: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    if name.is_empty() {
        return None;
    }
    let n = name.len();
    // There must be room for the `=` after the name.
    let last = args.len().checked_sub(n + 1)?;
    (0..=last)
        .find(|&p| {
            (p == 0 || args[p - 1] == b'&')
                && args[p + n] == b'='
                && args[p..p + n].eq_ignore_ascii_case(name)
        })
        .map(|p| {
            let value = &args[p + n + 1..];
            let end = value.iter().position(|&c| c == b'&').unwrap_or(value.len());
            &value[..end]
        })
}

impl Method {
    /// The method for a token as sent (case-sensitive, as nginx).
    pub fn from_token(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"MKCOL" => Method::Mkcol,
            b"COPY" => Method::Copy,
            b"MOVE" => Method::Move,
            b"OPTIONS" => Method::Options,
            b"PROPFIND" => Method::Propfind,
            b"PROPPATCH" => Method::Proppatch,
            b"LOCK" => Method::Lock,
            b"UNLOCK" => Method::Unlock,
            b"PATCH" => Method::Patch,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }
}

/// nginx's header buffers, replayed on stream offsets.
///
/// `end` is where the buffer being filled ends. When nginx has consumed a whole buffer
/// and the current line is unfinished, it takes a large buffer and copies the line's
/// start into it, unless the line already has `large_buffer_size` bytes or all large
/// buffers are in use; a buffer that ends exactly between two lines is replaced without
/// a copy. Blank lines before the request line just recycle the first buffer.
struct Room {
    end: usize,
    busy: usize,
    count: usize,
    size: usize,
}

impl Room {
    fn new(limits: &Limits, start: usize) -> Room {
        let first = limits.client_header_buffer_size.max(1);
        Room {
            end: (start / first + 1).saturating_mul(first),
            busy: 0,
            count: limits.large_buffers,
            size: limits.large_buffer_size,
        }
    }

    /// The offset a line starting at `start` must end by (its last byte's offset + 1).
    fn line_limit(&self, start: usize) -> usize {
        if self.end - start < self.size && self.busy < self.count {
            start.saturating_add(self.size)
        } else {
            self.end
        }
    }

    /// Accounts for a finished line `start..next` (within `line_limit(start)`).
    fn commit(&mut self, start: usize, next: usize) {
        if next > self.end {
            self.end = start.saturating_add(self.size);
            self.busy += 1;
        }
    }

    /// A line starts exactly at the end of the buffer: takes a fresh large buffer.
    fn fresh(&mut self, pos: usize) -> bool {
        if self.busy < self.count {
            self.end = pos.saturating_add(self.size);
            self.busy += 1;
            true
        } else {
            false
        }
    }
}

/// Positions found in a complete request line.
struct RequestLine {
    method_end: usize,
    uri_start: usize,
    uri_end: usize,
    /// First byte after the `?` that ends the path, when the line parser saw it.
    args_start: Option<usize>,
    host: Option<Range<usize>>,
    complex: bool,
    quoted: bool,
    empty_path: bool,
    major: u8,
    minor: u16,
    request_end: usize,
    next: usize,
}

#[derive(Clone, Copy)]
enum Rl {
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
    H,
    Ht,
    Htt,
    Http,
    FirstMajor,
    Major,
    FirstMinor,
    Minor,
    SpacesAfterDigit,
    AlmostDone,
}

const INVALID_METHOD: Reject = Reject::BadRequest("client sent invalid method");
const INVALID_REQUEST: Reject = Reject::BadRequest("client sent invalid request");

/// Scans a request line starting at `start` (its first byte is not CR or LF) up to `end`;
/// `None` when it does not end before `end`. The states are nginx's, and so is what each
/// byte means in each of them.
fn scan_request_line(buf: &[u8], start: usize, end: usize) -> Result<Option<RequestLine>, Reject> {
    if !is_method_char(buf[start]) {
        return Err(INVALID_METHOD);
    }
    let mut line = RequestLine {
        method_end: start,
        uri_start: start,
        uri_end: start,
        args_start: None,
        host: None,
        complex: false,
        quoted: false,
        empty_path: false,
        major: 0,
        minor: 0,
        request_end: start,
        next: start,
    };
    let mut schema_end = start;
    let mut host_start = start;
    let mut state = Rl::Method;
    let mut p = start + 1;
    while p < end {
        let ch = buf[p];
        match state {
            Rl::Method => {
                if ch == b' ' {
                    line.method_end = p;
                    state = Rl::SpacesBeforeUri;
                } else if !is_method_char(ch) {
                    return Err(INVALID_METHOD);
                }
            }
            Rl::SpacesBeforeUri => {
                if ch == b'/' {
                    line.uri_start = p;
                    state = Rl::AfterSlashInUri;
                } else if ch.is_ascii_alphabetic() {
                    state = Rl::Schema;
                } else if ch != b' ' {
                    return Err(INVALID_REQUEST);
                }
            }
            Rl::Schema => {
                if ch == b':' {
                    schema_end = p;
                    state = Rl::SchemaSlash;
                } else if !(ch.is_ascii_alphanumeric() || matches!(ch, b'+' | b'-' | b'.')) {
                    return Err(INVALID_REQUEST);
                }
            }
            Rl::SchemaSlash | Rl::SchemaSlashSlash => {
                if ch != b'/' {
                    return Err(INVALID_REQUEST);
                }
                state = match state {
                    Rl::SchemaSlash => Rl::SchemaSlashSlash,
                    _ => Rl::HostStart,
                };
            }
            Rl::HostStart => {
                host_start = p;
                if ch == b'[' {
                    state = Rl::HostIpLiteral;
                } else {
                    // The byte is looked at again as part of the host name.
                    state = Rl::Host;
                    continue;
                }
            }
            Rl::Host => {
                if !(ch.is_ascii_alphanumeric() || ch == b'.' || ch == b'-') {
                    state = Rl::HostEnd;
                    continue;
                }
            }
            Rl::HostEnd => {
                line.host = Some(host_start..p);
                match ch {
                    b':' => state = Rl::Port,
                    b'/' => {
                        line.uri_start = p;
                        state = Rl::AfterSlashInUri;
                    }
                    b'?' => {
                        line.uri_start = p;
                        line.args_start = Some(p + 1);
                        line.empty_path = true;
                        state = Rl::Uri;
                    }
                    b' ' => {
                        // No path: nginx points the URI at the first `/` of `://`.
                        line.uri_start = schema_end + 1;
                        line.uri_end = schema_end + 2;
                        state = Rl::Http09;
                    }
                    _ => return Err(INVALID_REQUEST),
                }
            }
            Rl::HostIpLiteral => {
                if ch == b']' {
                    state = Rl::HostEnd;
                } else if !(ch.is_ascii_alphanumeric()
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
                    ))
                {
                    return Err(INVALID_REQUEST);
                }
            }
            Rl::Port => match ch {
                b'0'..=b'9' => {}
                b'/' => {
                    line.uri_start = p;
                    state = Rl::AfterSlashInUri;
                }
                b'?' => {
                    line.uri_start = p;
                    line.args_start = Some(p + 1);
                    line.empty_path = true;
                    state = Rl::Uri;
                }
                b' ' => {
                    line.uri_start = schema_end + 1;
                    line.uri_end = schema_end + 2;
                    state = Rl::Http09;
                }
                _ => return Err(INVALID_REQUEST),
            },
            Rl::AfterSlashInUri | Rl::CheckUri => {
                if USUAL[ch as usize] {
                    // The common case: run through the segment at once.
                    p += 1;
                    while p < end && USUAL[buf[p] as usize] {
                        p += 1;
                    }
                    state = Rl::CheckUri;
                    continue;
                }
                let after_slash = matches!(state, Rl::AfterSlashInUri);
                match ch {
                    b' ' | b'\r' | b'\n' => {
                        line.uri_end = p;
                        match ch {
                            b' ' => state = Rl::Http09,
                            b'\r' => {
                                state = Rl::AlmostDone;
                            }
                            _ => {
                                line.request_end = p;
                                line.next = p + 1;
                                return Ok(Some(line));
                            }
                        }
                    }
                    b'.' if after_slash => {
                        line.complex = true;
                        state = Rl::Uri;
                    }
                    b'/' if after_slash => {
                        line.complex = true;
                        state = Rl::Uri;
                    }
                    b'.' => {}
                    b'/' => state = Rl::AfterSlashInUri,
                    b'%' => {
                        line.quoted = true;
                        state = Rl::Uri;
                    }
                    b'?' => {
                        line.args_start = Some(p + 1);
                        state = Rl::Uri;
                    }
                    b'#' => {
                        line.complex = true;
                        state = Rl::Uri;
                    }
                    b'+' => {}
                    _ => return Err(INVALID_REQUEST),
                }
            }
            Rl::Uri => {
                if USUAL[ch as usize] {
                    p += 1;
                    while p < end && USUAL[buf[p] as usize] {
                        p += 1;
                    }
                    continue;
                }
                match ch {
                    b' ' => {
                        line.uri_end = p;
                        state = Rl::Http09;
                    }
                    b'\r' => {
                        line.uri_end = p;
                        state = Rl::AlmostDone;
                    }
                    b'\n' => {
                        line.uri_end = p;
                        line.request_end = p;
                        line.next = p + 1;
                        return Ok(Some(line));
                    }
                    b'#' => line.complex = true,
                    c if c < 0x20 || c == 0x7f => return Err(INVALID_REQUEST),
                    _ => {}
                }
            }
            Rl::Http09 => match ch {
                b' ' => {}
                b'\r' => {
                    state = Rl::AlmostDone;
                }
                b'\n' => {
                    line.request_end = p;
                    line.next = p + 1;
                    return Ok(Some(line));
                }
                b'H' => state = Rl::H,
                _ => return Err(INVALID_REQUEST),
            },
            Rl::H | Rl::Ht | Rl::Htt | Rl::Http => {
                let (want, next) = match state {
                    Rl::H => (b'T', Rl::Ht),
                    Rl::Ht => (b'T', Rl::Htt),
                    Rl::Htt => (b'P', Rl::Http),
                    _ => (b'/', Rl::FirstMajor),
                };
                if ch != want {
                    return Err(INVALID_REQUEST);
                }
                state = next;
            }
            Rl::FirstMajor => {
                if !(b'1'..=b'9').contains(&ch) {
                    return Err(INVALID_REQUEST);
                }
                if ch > b'1' {
                    return Err(Reject::VersionNotSupported);
                }
                line.major = 1;
                state = Rl::Major;
            }
            Rl::Major => {
                if ch == b'.' {
                    state = Rl::FirstMinor;
                } else if ch.is_ascii_digit() {
                    // The major version is 1 here, so any further digit makes it > 1.
                    return Err(Reject::VersionNotSupported);
                } else {
                    return Err(INVALID_REQUEST);
                }
            }
            Rl::FirstMinor => {
                if !ch.is_ascii_digit() {
                    return Err(INVALID_REQUEST);
                }
                line.minor = u16::from(ch - b'0');
                state = Rl::Minor;
            }
            Rl::Minor => match ch {
                b'\r' => {
                    state = Rl::AlmostDone;
                }
                b'\n' => {
                    line.request_end = p;
                    line.next = p + 1;
                    return Ok(Some(line));
                }
                b' ' => state = Rl::SpacesAfterDigit,
                b'0'..=b'9' if line.minor <= 99 => {
                    line.minor = line.minor * 10 + u16::from(ch - b'0');
                }
                _ => return Err(INVALID_REQUEST),
            },
            Rl::SpacesAfterDigit => match ch {
                b' ' => {}
                b'\r' => {
                    state = Rl::AlmostDone;
                }
                b'\n' => {
                    line.request_end = p;
                    line.next = p + 1;
                    return Ok(Some(line));
                }
                _ => return Err(INVALID_REQUEST),
            },
            Rl::AlmostDone => {
                if ch != b'\n' {
                    return Err(INVALID_REQUEST);
                }
                // The line ends at its CR.
                line.request_end = p - 1;
                line.next = p + 1;
                return Ok(Some(line));
            }
        }
        p += 1;
    }
    Ok(None)
}

/// What `ngx_http_process_request_uri` makes of the target.
struct Target {
    /// `$uri` when it had to be decoded or normalised.
    decoded: Option<Vec<u8>>,
    /// Otherwise `$uri` is this part of the buffer (copied only once the head is complete).
    path: Range<usize>,
    args: Range<usize>,
    quoted: bool,
}

impl Target {
    fn into_uri(self, buf: &[u8]) -> Vec<u8> {
        match self.decoded {
            Some(uri) => uri,
            None => buf[self.path].to_vec(),
        }
    }
}

fn process_uri(buf: &[u8], line: &RequestLine, merge_slashes: bool) -> Result<Target, Reject> {
    let uri_start = line.uri_start;
    let uri_end = line.uri_end;
    let no_args = uri_end..uri_end;
    if line.complex || line.quoted || line.empty_path {
        let src = &buf[uri_start..uri_end];
        let mut uri = Vec::with_capacity(src.len() + 1);
        let Some(decoded) = normalize(src, line.empty_path, merge_slashes, &mut uri) else {
            return Err(INVALID_REQUEST);
        };
        let args = decoded
            .args
            .map_or(no_args, |a| uri_start + a.start..uri_start + a.end);
        Ok(Target {
            decoded: Some(uri),
            path: uri_start..uri_start,
            args,
            quoted: line.quoted || decoded.quoted,
        })
    } else {
        let (path_end, args) = match line.args_start {
            Some(a) => (a - 1, a..uri_end),
            None => (uri_end, no_args),
        };
        Ok(Target {
            decoded: None,
            path: uri_start..path_end,
            args,
            quoted: false,
        })
    }
}

struct Normalized {
    /// Relative to the target: after the `?`, up to a `#` or the end.
    args: Option<Range<usize>>,
    /// A `%` escape was decoded.
    quoted: bool,
}

#[derive(Clone, Copy)]
enum Norm {
    Usual,
    Slash,
    Dot,
    DotDot,
    Quoted,
    QuotedSecond,
}

/// nginx's `ngx_http_parse_complex_uri`: decodes `%XX` and resolves `.`/`..` segments and
/// repeated slashes of `src` (the target from its `/`, or from `?` when the path is empty)
/// into `out`. A decoded byte is then treated like the same byte sent raw (so `%2F` is a
/// slash and `%2E%2E` a parent segment), except that `%25` (`%`), `%23` (`#`) and `%3F`
/// (`?`) stay literal. `None` for a bad escape, `%00`, or `..` above the root.
fn normalize(
    src: &[u8],
    empty_path: bool,
    merge_slashes: bool,
    out: &mut Vec<u8>,
) -> Option<Normalized> {
    enum Exit {
        End,
        Fragment,
        Args(usize),
    }
    let len = src.len();
    // nginx reads one byte past the target (the space or CR after it) but never acts on it.
    let at = |p: usize| if p < len { src[p] } else { 0 };
    let mut quoted = false;
    if empty_path {
        out.push(b'/');
    }
    let mut state = Norm::Usual;
    let mut before_quote = Norm::Usual;
    let mut high = 0u8;
    let mut ch = at(0);
    let mut p = 1;
    let exit = loop {
        if p > len {
            break Exit::End;
        }
        match state {
            Norm::Usual | Norm::Slash | Norm::Dot | Norm::DotDot if USUAL[ch as usize] => {
                state = Norm::Usual;
                out.push(ch);
            }
            Norm::Usual => match ch {
                b'/' => {
                    state = Norm::Slash;
                    out.push(ch);
                }
                b'%' => {
                    before_quote = state;
                    state = Norm::Quoted;
                }
                b'?' => break Exit::Args(p),
                b'#' => break Exit::Fragment,
                _ => out.push(ch),
            },
            Norm::Slash => match ch {
                b'/' => {
                    if !merge_slashes {
                        out.push(ch);
                    }
                }
                b'.' => {
                    state = Norm::Dot;
                    out.push(ch);
                }
                b'%' => {
                    before_quote = state;
                    state = Norm::Quoted;
                }
                b'?' => break Exit::Args(p),
                b'#' => break Exit::Fragment,
                _ => {
                    state = Norm::Usual;
                    out.push(ch);
                }
            },
            Norm::Dot => match ch {
                b'/' => {
                    state = Norm::Slash;
                    out.pop();
                }
                b'.' => {
                    state = Norm::DotDot;
                    out.push(ch);
                }
                b'%' => {
                    before_quote = state;
                    state = Norm::Quoted;
                }
                b'?' => {
                    out.pop();
                    break Exit::Args(p);
                }
                b'#' => {
                    out.pop();
                    break Exit::Fragment;
                }
                _ => {
                    state = Norm::Usual;
                    out.push(ch);
                }
            },
            Norm::DotDot => match ch {
                b'/' | b'?' | b'#' => {
                    parent(out)?;
                    match ch {
                        b'?' => break Exit::Args(p),
                        b'#' => break Exit::Fragment,
                        _ => state = Norm::Slash,
                    }
                }
                b'%' => {
                    before_quote = state;
                    state = Norm::Quoted;
                }
                _ => {
                    state = Norm::Usual;
                    out.push(ch);
                }
            },
            Norm::Quoted => {
                quoted = true;
                high = hex_digit(ch)?;
                state = Norm::QuotedSecond;
            }
            Norm::QuotedSecond => {
                let low = hex_digit(ch)?;
                ch = (high << 4) | low;
                let literal = if low < 10 {
                    // nginx checks `%`, `#` and NUL on the digit path, `?` on the letter path.
                    match ch {
                        0 => return None,
                        b'%' | b'#' => true,
                        _ => false,
                    }
                } else {
                    ch == b'?'
                };
                if !literal {
                    // The decoded byte is looked at again in the state before the `%`.
                    state = before_quote;
                    continue;
                }
                state = Norm::Usual;
                out.push(ch);
            }
        }
        ch = at(p);
        p += 1;
    };
    let args = match exit {
        Exit::End => {
            match state {
                Norm::Quoted | Norm::QuotedSecond => return None,
                Norm::Dot => {
                    out.pop();
                }
                Norm::DotDot => parent(out)?,
                _ => {}
            }
            None
        }
        Exit::Fragment => None,
        Exit::Args(start) => {
            let end = src[start..]
                .iter()
                .position(|&c| c == b'#')
                .map_or(len, |i| start + i);
            Some(start..end)
        }
    };
    Some(Normalized { args, quoted })
}

/// Resolves a `/..` just written to `out`: drops it and the segment before it.
fn parent(out: &mut Vec<u8>) -> Option<()> {
    // `out` ends with "/..": look for the slash before the segment that precedes it.
    let mut u = out.len().checked_sub(4)?;
    loop {
        if out[u] == b'/' {
            out.truncate(u + 1);
            return Some(());
        }
        u = u.checked_sub(1)?;
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        _ => {
            let l = c | 0x20;
            if (b'a'..=b'f').contains(&l) {
                Some(l - b'a' + 10)
            } else {
                None
            }
        }
    }
}

enum HeaderScan {
    /// A header line; `invalid` when its name has characters nginx calls invalid.
    Line {
        name: Range<usize>,
        value: Range<usize>,
        invalid: bool,
        next: usize,
    },
    /// The empty line that ends the head; the head ends before `next`.
    End(usize),
    /// A byte nginx rejects the request for.
    Invalid,
    /// The line does not end before the scan limit.
    More,
}

/// Scans one header line (nginx's `ngx_http_parse_header_line` for a client request)
/// starting at `start`, up to `end`. Straight-line code for nginx's states: the name, the
/// spaces before the value, the value (its trailing spaces are not part of it), then any
/// number of CRs before the LF.
fn scan_header_line(buf: &[u8], start: usize, end: usize, underscores: bool) -> HeaderScan {
    if start >= end {
        return HeaderScan::More;
    }
    match buf[start] {
        b'\r' => {
            return match buf[start + 1..end].first() {
                None => HeaderScan::More,
                Some(b'\n') => HeaderScan::End(start + 2),
                Some(_) => HeaderScan::Invalid,
            }
        }
        b'\n' => return HeaderScan::End(start + 1),
        b':' => return HeaderScan::Invalid,
        _ => {}
    }
    let mut invalid = false;
    let mut p = start;
    let name_end = loop {
        while p < end && NAME[buf[p] as usize] == NameClass::Token {
            p += 1;
        }
        let Some(&ch) = buf[..end].get(p) else {
            return HeaderScan::More;
        };
        match NAME[ch as usize] {
            NameClass::Colon => break p,
            NameClass::Underscore => invalid |= !underscores,
            NameClass::Other => invalid = true,
            NameClass::Bad => return HeaderScan::Invalid,
            // A line without a colon: all name, empty value.
            NameClass::Lf => return line(start..p, p..p, invalid, p + 1),
            NameClass::Cr => return line_end(buf, start..p, p..p, invalid, p + 1, end),
            NameClass::Token => {}
        }
        p += 1;
    };
    p += 1;
    while p < end && buf[p] == b' ' {
        p += 1;
    }
    let Some(&ch) = buf[..end].get(p) else {
        return HeaderScan::More;
    };
    match ch {
        b'\r' => return line_end(buf, start..name_end, p..p, invalid, p + 1, end),
        b'\n' => return line(start..name_end, p..p, invalid, p + 1),
        0 => return HeaderScan::Invalid,
        _ => {}
    }
    let value_start = p;
    p = line_stop(buf, p, end);
    let Some(&ch) = buf[..end].get(p) else {
        return HeaderScan::More;
    };
    let mut value_end = p;
    while buf[value_end - 1] == b' ' {
        // Stops at the value's first byte, which is not a space.
        value_end -= 1;
    }
    let value = value_start..value_end;
    match ch {
        b'\n' => line(start..name_end, value, invalid, p + 1),
        b'\r' => line_end(buf, start..name_end, value, invalid, p + 1, end),
        _ => HeaderScan::Invalid,
    }
}

/// After a header line's CR at `p - 1`: more CRs, then the LF.
fn line_end(
    buf: &[u8],
    name: Range<usize>,
    value: Range<usize>,
    invalid: bool,
    mut p: usize,
    end: usize,
) -> HeaderScan {
    while p < end && buf[p] == b'\r' {
        p += 1;
    }
    match buf[..end].get(p) {
        None => HeaderScan::More,
        Some(b'\n') => line(name, value, invalid, p + 1),
        Some(_) => HeaderScan::Invalid,
    }
}

fn line(name: Range<usize>, value: Range<usize>, invalid: bool, next: usize) -> HeaderScan {
    HeaderScan::Line {
        name,
        value,
        invalid,
        next,
    }
}

/// The first CR, LF or NUL in `buf[p..end]`, or `end`. Values are most of a head, so this
/// looks at eight bytes at a time for one below 0x0E (the three, or a rare tab or other
/// control) before looking at single bytes.
fn line_stop(buf: &[u8], mut p: usize, end: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    loop {
        while let Some(chunk) = buf.get(p..p + 8).filter(|_| p + 8 <= end) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let v = u64::from_le_bytes(word);
            if v.wrapping_sub(ONES * 0x0e) & !v & HIGH != 0 {
                break;
            }
            p += 8;
        }
        let stop = end.min(p + 8);
        while p < stop {
            if matches!(buf[p], b'\r' | b'\n' | 0) {
                return p;
            }
            p += 1;
        }
        if p >= end {
            return end;
        }
    }
}

/// The headers nginx's `ngx_http_headers_in` table gives a handler that matters here.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    Host,
    Connection,
    UserAgent,
    Upgrade,
    /// A header nginx rejects when repeated (`ngx_http_process_unique_header_line`); the
    /// value is its bit in [`Seen::unique`].
    Unique(u16),
}

const CONTENT_LENGTH: u16 = 1;
const TRANSFER_ENCODING: u16 = 2;
const EXPECT: u16 = 4;

fn known(name: &[u8]) -> Option<Known> {
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    let k = match name.len() {
        4 if is(b"host") => Known::Host,
        6 if is(b"expect") => Known::Unique(EXPECT),
        7 if is(b"upgrade") => Known::Upgrade,
        8 if is(b"if-match") => Known::Unique(8),
        8 if is(b"if-range") => Known::Unique(16),
        10 if is(b"connection") => Known::Connection,
        10 if is(b"user-agent") => Known::UserAgent,
        13 if is(b"if-none-match") => Known::Unique(32),
        13 if is(b"content-range") => Known::Unique(64),
        13 if is(b"authorization") => Known::Unique(128),
        14 if is(b"content-length") => Known::Unique(CONTENT_LENGTH),
        17 if is(b"transfer-encoding") => Known::Unique(TRANSFER_ENCODING),
        17 if is(b"if-modified-since") => Known::Unique(256),
        19 if is(b"if-unmodified-since") => Known::Unique(512),
        _ => return None,
    };
    Some(k)
}

/// What the header handlers remember while the lines arrive.
#[derive(Default)]
struct Seen {
    unique: u16,
    user_agent: bool,
    content_length: Option<Range<usize>>,
    transfer_encoding: Option<Range<usize>>,
    expect: Option<Range<usize>>,
}

impl Seen {
    /// nginx's handler for one accepted header line (rejections happen at that line, before
    /// the rest of the head arrives).
    fn header(
        &mut self,
        buf: &[u8],
        head: &mut RequestHead,
        name: Range<usize>,
        value: Range<usize>,
    ) -> Result<(), Reject> {
        let Some(k) = known(&buf[name]) else {
            return Ok(());
        };
        let v = &buf[value.clone()];
        match k {
            Known::Host => {
                if head.host.is_some() {
                    return Err(Reject::BadRequest("client sent duplicate host header"));
                }
                head.host = Some(value);
                head.host_header = Some(head.headers.len());
                if host_len(v).is_none() {
                    return Err(Reject::BadRequest("client sent invalid host header"));
                }
            }
            Known::Connection => {
                if contains_ignore_case(v, b"close") {
                    head.connection_close = true;
                    head.connection_keep_alive = false;
                } else if contains_ignore_case(v, b"keep-alive") {
                    head.connection_close = false;
                    head.connection_keep_alive = true;
                }
                head.connection_upgrade |= contains_ignore_case(v, b"upgrade");
            }
            Known::UserAgent => {
                if !self.user_agent {
                    self.user_agent = true;
                    head.browser = browser(v);
                }
            }
            Known::Upgrade => head.upgrade = true,
            Known::Unique(bit) => {
                if self.unique & bit != 0 {
                    return Err(Reject::BadRequest("client sent duplicate header line"));
                }
                self.unique |= bit;
                match bit {
                    CONTENT_LENGTH => self.content_length = Some(value),
                    TRANSFER_ENCODING => self.transfer_encoding = Some(value),
                    EXPECT => self.expect = Some(value),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// nginx's checks once the head is complete (`ngx_http_process_request_header`), in
    /// its order. TRACE and CONNECT (405) come after these and are the caller's.
    fn finish(self, buf: &[u8], head: &mut RequestHead) -> Result<(), Reject> {
        let http11 = head.http_minor >= 1;
        if head.host.is_none() && http11 {
            return Err(Reject::BadRequest(
                "client sent HTTP/1.1 request without \"Host\" header",
            ));
        }
        if let Some(cl) = self.content_length {
            match parse_offset(&buf[cl]) {
                Some(n) => head.content_length = Some(n),
                None => {
                    return Err(Reject::BadRequest(
                        "client sent invalid \"Content-Length\" header",
                    ))
                }
            }
        }
        if let Some(te) = self.transfer_encoding {
            if !http11 {
                return Err(Reject::BadRequest(
                    "client sent HTTP/1.0 request with \"Transfer-Encoding\" header",
                ));
            }
            if !buf[te].eq_ignore_ascii_case(b"chunked") {
                return Err(Reject::NotImplemented(
                    "client sent unknown \"Transfer-Encoding\"",
                ));
            }
            if head.content_length.is_some() {
                return Err(Reject::BadRequest(
                    "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time",
                ));
            }
            head.chunked = true;
        }
        if let Some(e) = self.expect {
            head.expect_continue = http11 && buf[e].eq_ignore_ascii_case(b"100-continue");
        }
        Ok(())
    }
}

/// nginx's `ngx_atoof`: decimal digits only, at most `i64::MAX`.
fn parse_offset(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(n as u64)
}

/// The length of the host part nginx keeps (before lowercasing), or `None` when nginx
/// rejects the value: a `..`, a `/`, a control byte or space, or nothing left.
fn host_len(h: &[u8]) -> Option<usize> {
    let mut dot: Option<usize> = None;
    let mut len = h.len();
    // 0: looking for the port; 1: inside a leading `[...]`; 2: after the host.
    let mut state = 0u8;
    for (i, &c) in h.iter().enumerate() {
        match c {
            b'.' => {
                if i > 0 && dot == Some(i - 1) {
                    return None;
                }
                dot = Some(i);
            }
            b':' if state == 0 => {
                len = i;
                state = 2;
            }
            b'[' if i == 0 => state = 1,
            b']' if state == 1 => {
                len = i + 1;
                state = 2;
            }
            b'/' => return None,
            c if c <= 0x20 || c == 0x7f => return None,
            _ => {}
        }
    }
    if len > 0 && dot == Some(len - 1) {
        len -= 1;
    }
    (len > 0).then_some(len)
}

/// nginx's `ngx_http_process_user_agent`. nginx searches the value once per word; one
/// pass that tries each word where its first letter appears finds the same ones.
fn browser(ua: &[u8]) -> Browser {
    let mut msie_at = None;
    let (mut opera, mut gecko, mut chrome, mut safari, mut mac, mut konqueror) =
        (false, false, false, false, false, false);
    for (i, &c) in ua.iter().enumerate() {
        let rest = &ua[i..];
        match c {
            b'M' => {
                if msie_at.is_none() && rest.starts_with(b"MSIE ") {
                    msie_at = Some(i);
                }
                mac |= rest.starts_with(b"Mac OS X");
            }
            b'O' => opera |= rest.starts_with(b"Opera"),
            b'G' => gecko |= rest.starts_with(b"Gecko/"),
            b'C' => chrome |= rest.starts_with(b"Chrome/"),
            b'S' => safari |= rest.starts_with(b"Safari/"),
            b'K' => konqueror |= rest.starts_with(b"Konqueror"),
            _ => {}
        }
    }
    let mut b = Browser::default();
    if let Some(i) = msie_at {
        // Only the first "MSIE " counts, and only with two more bytes after the version.
        if i + 7 < ua.len() {
            b.msie = true;
            if ua[i + 6] == b'.' {
                match ua[i + 5] {
                    b'4' | b'5' => b.msie6 = true,
                    b'6' => b.msie6 = find(&ua[i + 8..], b"SV1").is_none(),
                    _ => {}
                }
            }
        }
    }
    if opera {
        b.opera = true;
        b.msie = false;
        b.msie6 = false;
    }
    if !b.msie && !b.opera {
        if gecko {
            b.gecko = true;
        } else if chrome {
            b.chrome = true;
        } else if safari && mac {
            b.safari = true;
        } else if konqueror {
            b.konqueror = true;
        }
    }
    b
}

/// The first occurrence of `needle` (not empty) in `haystack`: a scan for its first byte,
/// then a comparison, as nginx's `ngx_strstrn`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last_start {
        let at = haystack[i..=last_start].iter().position(|&c| c == first)?;
        i += at;
        if haystack[i + 1..i + needle.len()] == *rest {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Whether `needle` (lower case, not empty) occurs in `haystack` ignoring ASCII case, as
/// nginx's `ngx_strcasestrn`.
fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    let Some(last_start) = haystack.len().checked_sub(needle.len()) else {
        return false;
    };
    (0..=last_start).any(|i| {
        haystack[i] | 0x20 == needle[0]
            && haystack[i..i + needle.len()].eq_ignore_ascii_case(needle)
    })
}

fn is_method_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c == b'_' || c == b'-'
}

/// nginx's `usual` table (Unix): bytes that need no attention in a path. Not usual: controls,
/// DEL, space, `#`, `%`, `+`, `.`, `/`, `?`.
static USUAL: [bool; 256] = {
    let mut t = [true; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = false;
        c += 1;
    }
    t[0x7f] = false;
    let special = b" #%+./?";
    let mut i = 0;
    while i < special.len() {
        t[special[i] as usize] = false;
        i += 1;
    }
    t
};

/// nginx's NGX_ESCAPE_URI table.
static ESCAPE_URI: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = c <= 0x20 || c >= 0x7f;
        c += 1;
    }
    let special = b"\"#%<>?\\^`{|}";
    let mut i = 0;
    while i < special.len() {
        t[special[i] as usize] = true;
        i += 1;
    }
    t
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum NameClass {
    /// Letters, digits and `-` (nginx's `lowcase` table).
    Token,
    Underscore,
    Colon,
    Cr,
    Lf,
    /// Space, other controls, DEL: the request is rejected.
    Bad,
    /// Anything else makes the line invalid (ignored when `ignore_invalid_headers`).
    Other,
}

static NAME: [NameClass; 256] = {
    let mut t = [NameClass::Other; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphanumeric() || b == b'-' {
            NameClass::Token
        } else if b <= 0x20 || b == 0x7f {
            NameClass::Bad
        } else {
            NameClass::Other
        };
        c += 1;
    }
    t[b'_' as usize] = NameClass::Underscore;
    t[b':' as usize] = NameClass::Colon;
    t[b'\r' as usize] = NameClass::Cr;
    t[b'\n' as usize] = NameClass::Lf;
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// Parses `input` with `limits` and renders the outcome on one line; also checks that
    /// every prefix of `input` gives `Partial` or the same outcome, and never a different
    /// one (nginx decides at the same byte whatever the reads look like).
    fn outcome(input: &[u8], limits: &Limits) -> String {
        let full = render(input, parse(input, limits));
        let step = if input.len() > 4096 { 97 } else { 1 };
        let mut decided = false;
        for k in (0..input.len()).step_by(step) {
            let got = render(&input[..k], parse(&input[..k], limits));
            if got == "Partial" {
                assert!(!decided, "prefix {k} went back to Partial after a decision");
            } else {
                assert_eq!(got, full, "prefix of {k} bytes decided differently");
                decided = true;
            }
        }
        full
    }

    fn check(input: &str, expect: &str) {
        check_with(&Limits::default(), input.as_bytes(), expect);
    }

    fn check_with(limits: &Limits, input: &[u8], expect: &str) {
        let got = outcome(input, limits);
        assert_eq!(got, expect, "input: {:?}", String::from_utf8_lossy(input));
    }

    fn text(b: &[u8]) -> String {
        let mut s = String::new();
        for &c in b {
            if (0x20..0x7f).contains(&c) {
                s.push(c as char);
            } else {
                let _ = write!(s, "\\x{c:02X}");
            }
        }
        s
    }

    fn render(buf: &[u8], r: Result<Parse, Reject>) -> String {
        let h = match r {
            Err(e) => return format!("{e:?}"),
            Ok(Parse::Partial) => return "Partial".into(),
            Ok(Parse::Complete(h)) => h,
        };
        let mut s = format!("{} uri={}", text(&buf[h.method_name.clone()]), text(&h.uri));
        if !h.args.is_empty() {
            let _ = write!(s, " args={}", text(&buf[h.args.clone()]));
        }
        let mut plain = h.uri.clone();
        if !h.args.is_empty() {
            plain.push(b'?');
            plain.extend_from_slice(&buf[h.args.clone()]);
        }
        if buf[h.unparsed_uri.clone()] != plain[..] {
            let _ = write!(s, " ru={}", text(&buf[h.unparsed_uri.clone()]));
        }
        let _ = write!(s, " {}.{}", h.http_major, h.http_minor);
        assert_eq!(h.http09, h.http_major == 0);
        if h.method != Method::from_token(&buf[h.method_name.clone()]) {
            s.push_str(" BAD-METHOD");
        }
        let flags = [
            (h.quoted_uri, "quoted"),
            (h.chunked, "chunked"),
            (h.connection_close, "close"),
            (h.connection_keep_alive, "keep-alive"),
            (h.connection_upgrade, "conn-upgrade"),
            (h.upgrade, "upgrade"),
            (h.expect_continue, "expect"),
        ];
        for (on, name) in flags {
            if on {
                let _ = write!(s, " {name}");
            }
        }
        if let Some(a) = &h.absolute_host {
            let _ = write!(s, " abs={}", text(&buf[a.clone()]));
        }
        if let Some(a) = &h.host {
            let _ = write!(s, " host={}", text(&buf[a.clone()]));
        }
        if let Some(n) = h.content_length {
            let _ = write!(s, " cl={n}");
        }
        if h.browser != Browser::default() {
            let _ = write!(s, " {:?}", h.browser);
        }
        let headers: Vec<String> = h
            .headers
            .iter()
            .map(|x| {
                format!(
                    "{}:{}",
                    text(&buf[x.name.clone()]),
                    text(&buf[x.value.clone()])
                )
            })
            .collect();
        if !headers.is_empty() {
            let _ = write!(s, " [{}]", headers.join("|"));
        }
        let _ = write!(s, " len={}", h.head_len);
        s
    }

    const HOST: &str = "Host: x\r\n";

    /// S13.11, the malformed request table (verified p13), plus the error-log texts.
    #[test]
    fn malformed_requests() {
        let cases: &[(&str, &str)] = &[
            (
                "get / HTTP/1.1\r\nHost: x\r\n\r\n",
                r#"BadRequest("client sent invalid method")"#,
            ),
            (
                "FOO / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                "FOO uri=/ 1.1 close host=x [Host:x|Connection:close] len=46",
            ),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", "VersionNotSupported"),
            (
                "GET / HTTP/1.2\r\nHost: x\r\n\r\n",
                "GET uri=/ 1.2 host=x [Host:x] len=27",
            ),
            ("HELLO\r\n\r\n", r#"BadRequest("client sent invalid method")"#),
            (
                "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n",
                "TRACE uri=/ 1.1 host=x [Host:x] len=29",
            ),
            (
                "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                r#"BadRequest("client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time")"#,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                r#"NotImplemented("client sent unknown \"Transfer-Encoding\"")"#,
            ),
            (
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                r#"BadRequest("client sent HTTP/1.0 request with \"Transfer-Encoding\" header")"#,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
                r#"BadRequest("client sent duplicate header line")"#,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                r#"BadRequest("client sent invalid \"Content-Length\" header")"#,
            ),
            // nginx 1.22.1 keeps a line without a colon as a header with an empty value and
            // forwards it as `BadHeader: ` (observed on nginx; S6.7 says "ignored").
            (
                "GET / HTTP/1.1\r\nHost: x\r\nBadHeader\r\n\r\n",
                "GET uri=/ 1.1 host=x [Host:x|BadHeader:] len=38",
            ),
            (
                "GET /ret HTTP/1.1\r\nHost: x\r\nX-A : 1\r\nConnection: close\r\n\r\n",
                r#"BadRequest("client sent invalid header line")"#,
            ),
            (
                "GET /ret HTTP/1.1\nHost: x\nConnection: close\n\n",
                "GET uri=/ret 1.1 close host=x [Host:x|Connection:close] len=45",
            ),
            (
                "GET https://x/ret HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n",
                "GET uri=/ret 1.1 close abs=x host=y [Host:y|Connection:close] len=58",
            ),
            (
                "GET /ret HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                "GET uri=/ret 1.0 keep-alive [Connection:keep-alive] len=45",
            ),
        ];
        for (input, expect) in cases {
            check(input, expect);
        }
    }

    /// Headers nginx rejects when repeated (ngx_http_headers_in), and some it does not.
    #[test]
    fn duplicate_headers() {
        let dup = r#"BadRequest("client sent duplicate header line")"#;
        for name in [
            "Content-Length: 1",
            "transfer-encoding: chunked",
            "Expect: 100-continue",
            "Authorization: x",
            "If-Modified-Since: x",
            "If-Unmodified-Since: x",
            "If-Match: x",
            "IF-NONE-MATCH: x",
            "If-Range: x",
            "Content-Range: x",
        ] {
            check(
                &format!("POST / HTTP/1.1\r\n{HOST}{name}\r\n{name}\r\n"),
                dup,
            );
        }
        check(
            "GET / HTTP/1.1\r\nHost: x\r\nhost: x\r\n",
            r#"BadRequest("client sent duplicate host header")"#,
        );
        // Repeatable: the first User-Agent decides the browser flags.
        check(
            "GET / HTTP/1.1\r\nHost: x\r\nCookie: a\r\nCookie: b\r\nUser-Agent: x Chrome/1\r\nUser-Agent: MSIE 6.0; x\r\nUpgrade: a\r\nUpgrade: b\r\n\r\n",
            "GET uri=/ 1.1 upgrade host=x Browser { msie: false, msie6: false, opera: false, gecko: false, chrome: true, safari: false, konqueror: false } [Host:x|Cookie:a|Cookie:b|User-Agent:x Chrome/1|User-Agent:MSIE 6.0; x|Upgrade:a|Upgrade:b] len=122",
        );
    }

    #[test]
    fn request_line() {
        let cases: &[(&str, &str)] = &[
            // HTTP/0.9 (S2.7): no headers are read.
            ("GET /\r\n", "GET uri=/ 0.9 len=7"),
            ("GET /x?y\nHost: x\r\n", "GET uri=/x args=y 0.9 len=9"),
            ("GET / \r\n", "GET uri=/ 0.9 len=8"),
            (
                "POST /x\r\n",
                r#"BadRequest("client sent invalid method in HTTP/0.9 request")"#,
            ),
            (
                "HEAD /\r\n",
                r#"BadRequest("client sent invalid method in HTTP/0.9 request")"#,
            ),
            // Leading blank lines are skipped; spaces around the target are allowed.
            (
                "\r\n\n\r\nGET  /a  HTTP/1.1  \r\nHost: x\r\n\r\n",
                "GET uri=/a 1.1 host=x [Host:x] len=37",
            ),
            (
                "GET / HTTP/1.999\r\nHost: x\r\n\r\n",
                "GET uri=/ 1.255 host=x [Host:x] len=29",
            ),
            (
                "GET / HTTP/1.1000\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            // HTTP/1.01 is 1.1: Host is mandatory.
            (
                "GET / HTTP/1.01\r\nHost: x\r\n\r\n",
                "GET uri=/ 1.1 host=x [Host:x] len=28",
            ),
            (
                "GET / HTTP/1.01\r\n\r\n",
                r#"BadRequest("client sent HTTP/1.1 request without \"Host\" header")"#,
            ),
            (
                "GET / HTTP/0.9\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            ("GET / HTTP/10.0\r\n", "VersionNotSupported"),
            ("GET / HTTP/3\r\n", "VersionNotSupported"),
            (
                "GET / HTTP/1\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET / HTTP/1.\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET / http/1.1\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET / HTTP/1.1 x\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET / HTTP/1.1\rx",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET /a\tb HTTP/1.1\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET /a\x7f HTTP/1.1\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET * HTTP/1.1\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET\tHTTP/1.1\r\n",
                r#"BadRequest("client sent invalid method")"#,
            ),
            (
                " GET / HTTP/1.1\r\n",
                r#"BadRequest("client sent invalid method")"#,
            ),
            (
                "\x16\x03\x01",
                r#"BadRequest("client sent invalid method")"#,
            ),
            ("GET", "Partial"),
            ("\r\n\r\n", "Partial"),
            ("", "Partial"),
            // Method tokens: upper case, `_` and `-`, matched exactly.
            ("M-_X / HTTP/1.0\r\n\r\n", "M-_X uri=/ 1.0 len=19"),
            ("PROPPATCH / HTTP/1.0\r\n\r\n", "PROPPATCH uri=/ 1.0 len=24"),
            ("GETS / HTTP/1.0\r\n\r\n", "GETS uri=/ 1.0 len=19"),
            (
                "CONNECT http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
                "CONNECT uri=/ 1.1 abs=x host=x [Host:x] len=39",
            ),
        ];
        for (input, expect) in cases {
            check(input, expect);
        }
        let m = |s: &str| match parse(s.as_bytes(), &Limits::default()) {
            Ok(Parse::Complete(h)) => h.method,
            other => panic!("{other:?}"),
        };
        assert_eq!(m("PROPPATCH / HTTP/1.0\r\n\r\n"), Method::Proppatch);
        assert_eq!(m("GETS / HTTP/1.0\r\n\r\n"), Method::Other);
        assert_eq!(m("M-_X / HTTP/1.0\r\n\r\n"), Method::Other);
        assert_eq!(m("TRACE / HTTP/1.0\r\n\r\n"), Method::Trace);
        assert_eq!(m("OPTIONS / HTTP/1.0\r\n\r\n"), Method::Options);
    }

    /// Renders what a target becomes: `$uri`, `?$args`, `quoted`, or the rejection.
    fn target(limits: &Limits, target: &str) -> String {
        let input = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        let full = outcome(input.as_bytes(), limits);
        match parse(input.as_bytes(), limits) {
            Ok(Parse::Complete(h)) => {
                let mut s = text(&h.uri);
                if !h.args.is_empty() {
                    let _ = write!(s, " ?{}", text(&input.as_bytes()[h.args.clone()]));
                }
                if h.quoted_uri {
                    s.push_str(" quoted");
                }
                s
            }
            _ => full,
        }
    }

    /// S3.1/S3.2 normalisation; rows marked (nginx) were also sent to nginx 1.22.1 and its
    /// `$uri`/`$args` compared (as were thousands of generated targets while writing this).
    #[test]
    fn uri_normalisation() {
        let invalid = r#"BadRequest("client sent invalid request")"#;
        let cases: &[(&str, &str)] = &[
            ("/%61/b", "/a/b quoted"),
            ("/a%2Fb", "/a/b quoted"),
            ("//images//x.gif", "/images/x.gif"),
            ("/images/./x.php", "/images/x.php"),
            ("/../x", invalid),
            ("/sp%00", invalid),
            ("/a/b/../c", "/a/c"),
            ("/a/..", "/"),
            ("/a/.", "/a/"),
            ("/a/b/..?x", "/a/ ?x"),
            ("/..", invalid),
            ("/a/%2e%2E/../x", invalid), // (nginx)
            ("/%2e%2e/x", invalid),
            ("/a/%2e%2e", "/ quoted"),
            ("/a/..%2f", "/ quoted"),
            ("/a%3Fb?c#d", "/a?b ?c quoted"), // (nginx)
            ("/a%20b/./c//d?x=1#f", "/a b/c/d ?x=1 quoted"), // (nginx)
            ("/%25%23%3f", "/%#? quoted"),
            ("/a%2", invalid),
            ("/a%", invalid),
            ("/a%zz", invalid),
            ("/a%2g", invalid),
            ("/a#b?c", "/a"),
            ("/a?b#c", "/a ?b"),
            ("/a?b%20c", "/a ?b%20c"),
            ("/a/./b?%", "/a/b ?%"),
            ("/a//b/./%41", "/a/b/A quoted"),
            ("/a+b", "/a+b"),
            ("/\u{fc}", "/\\xC3\\xBC"),
            ("/%0a%7F", "/\\x0A\\x7F quoted"),
            ("/?", "/"),
            ("/a?", "/a"),
            ("/.?x", "/ ?x"),
            ("/x/.#", "/x/"),
            ("/a/b/../../..", invalid),
            ("http://x", "/"),
            ("http://x:80?a", "/ ?a"),
            ("http://x/a/../b", "/b"),
            ("http://[::1]:8/a", "/a"),
        ];
        for (t, expect) in cases {
            assert_eq!(target(&Limits::default(), t), *expect, "target {t:?}");
        }
        let keep = Limits {
            merge_slashes: false,
            ..Limits::default()
        };
        for (t, expect) in [
            ("//a//b", "//a//b"),
            ("//a/../b", "//b"),
            ("/a//..", "/a/"),
            ("//..", "/"),
            ("/..//", invalid),
        ] {
            assert_eq!(
                target(&keep, t),
                expect,
                "target {t:?} without merge_slashes"
            );
        }
    }

    #[test]
    fn absolute_form() {
        let cases: &[(&str, &str)] = &[
            (
                "GET http://Abs.Test:99?q=1 HTTP/1.1\r\nHost: y\r\n\r\n",
                "GET uri=/ args=q=1 ru=?q=1 1.1 abs=Abs.Test host=y [Host:y] len=48",
            ),
            (
                "GET http://abs.test HTTP/1.1\r\nHost: y\r\n\r\n",
                "GET uri=/ 1.1 abs=abs.test host=y [Host:y] len=41",
            ),
            (
                "GET HTTP://[::1]:8080/a?b HTTP/1.0\r\n\r\n",
                "GET uri=/a args=b 1.0 abs=[::1] len=38",
            ),
            (
                "GET h2+x-y.z://h/ HTTP/1.0\r\n\r\n",
                "GET uri=/ 1.0 abs=h len=30",
            ),
            // The Host header stays mandatory for HTTP/1.1 (nginx).
            (
                "GET http://abs.test/x HTTP/1.1\r\n\r\n",
                r#"BadRequest("client sent HTTP/1.1 request without \"Host\" header")"#,
            ),
            (
                "GET http://a..b/ HTTP/1.1\r\nHost: x\r\n\r\n",
                r#"BadRequest("client sent invalid host in request line")"#,
            ),
            (
                "GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n",
                r#"BadRequest("client sent invalid host in request line")"#,
            ),
            (
                "GET http:/x HTTP/1.1\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET http://x\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET http://x:8a/ HTTP/1.1\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET http://[::1 HTTP/1.1\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
            (
                "GET 1http://x/ HTTP/1.1\r\n",
                r#"BadRequest("client sent invalid request")"#,
            ),
        ];
        for (input, expect) in cases {
            check(input, expect);
        }
        let h = complete(b"GET http://x?a HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(!h.valid_unparsed_uri());
        assert_eq!(h.request_uri(), b"?a");
        let h = complete(b"GET http://x/?a HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(h.valid_unparsed_uri());
        // The server is selected by the absolute-form host.
        let h = complete(b"GET http://Abs.Test.:1/ HTTP/1.1\r\nHost: Y\r\n\r\n");
        assert_eq!(h.host_name().as_deref(), Some(&b"abs.test"[..]));
        let h = complete(b"GET / HTTP/1.1\r\nHost: Y:80\r\n\r\n");
        assert_eq!(h.host_name().as_deref(), Some(&b"y"[..]));
        let h = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(h.host_name(), None);
    }

    /// A complete head with `buf` set, as a caller would keep it.
    fn complete(input: &[u8]) -> RequestHead {
        match parse(input, &Limits::default()) {
            Ok(Parse::Complete(mut h)) => {
                h.buf = Bytes::copy_from_slice(&input[..h.head_len]);
                h
            }
            other => panic!("{other:?}"),
        }
    }

    /// S2.6 (verified p02) and ngx_http_validate_host's other rules.
    #[test]
    fn hosts() {
        let cases: &[(&str, Option<&str>)] = &[
            ("EXACT.Test.", Some("exact.test")),
            ("exact.test:9999", Some("exact.test")),
            ("[::1]:27080", Some("[::1]")),
            ("[::1]", Some("[::1]")),
            ("[::1", Some("[::1")),
            ("127.0.0.1", Some("127.0.0.1")),
            ("_", Some("_")),
            (".x", Some(".x")),
            ("a.:80", Some("a")),
            ("x.", Some("x")),
            ("\u{dc}.X", Some("\u{dc}.x")),
            ("", None),
            ("..", None),
            (".", None),
            ("/", None),
            (":80", None),
            ("a..b", None),
            ("x..", None),
            ("a b", None),
            ("a\tb", None),
            ("a\x7f", None),
            ("a:1..2", None),
            ("a:b/c", None),
            ("[]", Some("[]")),
        ];
        for (host, expect) in cases {
            let got = validate_host(host.as_bytes());
            assert_eq!(got.as_deref(), expect.map(str::as_bytes), "host {host:?}");
        }
        check(
            "GET / HTTP/1.1\r\nHost: a/b\r\n",
            r#"BadRequest("client sent invalid host header")"#,
        );
        check(
            "GET / HTTP/1.1\r\nHost: \r\n",
            r#"BadRequest("client sent invalid host header")"#,
        );
        check(
            "GET / HTTP/1.1\r\nHost:x:80\r\n\r\n",
            "GET uri=/ 1.1 host=x:80 [Host:x:80] len=29",
        );
        // HTTP/1.0 without Host is fine (matched as an empty host).
        check("GET / HTTP/1.0\r\n\r\n", "GET uri=/ 1.0 len=18");
    }

    /// S4.2 (p04c): what proxy_pass with a URI part sends for a client target: `$uri`,
    /// re-escaped only when the target had a `%` escape.
    #[test]
    fn escaping() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"/a%20b", b"/a%20b"),
            ("/\u{fc}".as_bytes(), "/\u{fc}".as_bytes()),
            ("/\u{fc}%20".as_bytes(), b"/%C3%BC%20"),
            (b"/a%22b%27c%3Cd%3E", b"/a%22b'c%3Cd%3E"),
            (b"/a\"b", b"/a\"b"),
            (b"/a%2Bb+c", b"/a+b+c"),
            (b"/%41%42", b"/AB"),
            (b"/a{b}", b"/a{b}"),
            (b"/a%7Bb%7D", b"/a%7Bb%7D"),
        ];
        for (client, upstream) in cases {
            let mut input = b"GET ".to_vec();
            input.extend_from_slice(client);
            input.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
            let Ok(Parse::Complete(h)) = parse(&input, &Limits::default()) else {
                panic!("{client:?}")
            };
            let mut out = Vec::new();
            if h.quoted_uri {
                escape_uri(&h.uri, &mut out);
            } else {
                out = h.uri.clone();
            }
            assert_eq!(
                text(&out),
                text(upstream),
                "client target {:?}",
                text(client)
            );
        }
        let mut out = b"x".to_vec();
        escape_uri(b" \"#%<>?\\^`{|}\x7f\x00\x1f\xff", &mut out);
        assert_eq!(
            out,
            b"x%20%22%23%25%3C%3E%3F%5C%5E%60%7B%7C%7D%7F%00%1F%FF".to_vec()
        );
        let kept = b"azAZ09-._~'+;!$&()*,=:@[]/";
        let mut out = Vec::new();
        escape_uri(kept, &mut out);
        assert_eq!(out, kept.to_vec());
    }

    fn big(n_rl: usize, headers: &[usize], eol: &str) -> Vec<u8> {
        let mut s = format!("GET /{} HTTP/1.1{eol}Host: x{eol}", "u".repeat(n_rl));
        for (i, n) in headers.iter().enumerate() {
            let _ = write!(s, "X-H{i}: {}{eol}", "v".repeat(*n));
        }
        s.push_str(eol);
        s.into_bytes()
    }

    fn status(input: &[u8], limits: &Limits) -> String {
        let r = outcome(input, limits);
        match r.split_once(" uri=") {
            Some(_) => "ok".into(),
            None => r,
        }
    }

    /// S13.10: `client_header_buffer_size 1k; large_client_header_buffers 4 8k`. The exact
    /// boundaries were observed on nginx 1.22.1: a request line must fit in 8192 bytes with
    /// its line end, a header line likewise, and lines are packed into at most 4 large
    /// buffers (an unfinished line moves to the next one).
    #[test]
    fn header_limits() {
        let d = Limits::default();
        let too_long_line = r#"HeaderTooLarge("client sent too long header line")"#;
        // "GET /" + n + " HTTP/1.1\r\n" is n + 16 bytes.
        assert_eq!(status(&big(8176, &[], "\r\n"), &d), "ok");
        assert_eq!(status(&big(8177, &[], "\r\n"), &d), "UriTooLong");
        assert_eq!(status(&big(8177, &[], "\n"), &d), "ok");
        assert_eq!(status(&big(8178, &[], "\n"), &d), "UriTooLong");
        // Decided before the line ends.
        let mut partial = b"GET /".to_vec();
        partial.resize(8192, b'u');
        assert_eq!(status(&partial, &d), "UriTooLong");
        assert_eq!(status(&partial[..8191], &d), "Partial");
        // "X-H0: " + n + "\r\n" is n + 8 bytes.
        assert_eq!(status(&big(1, &[8184], "\r\n"), &d), "ok");
        assert_eq!(status(&big(1, &[8185], "\r\n"), &d), too_long_line);
        let mut partial = big(1, &[], "\r\n");
        partial.pop();
        partial.pop();
        partial.extend_from_slice(b"X-Long: ");
        partial.resize(partial.len() + 9000, b'h');
        assert_eq!(status(&partial, &d), too_long_line);
        assert_eq!(status(&big(1, &[7000; 3], "\r\n"), &d), "ok");
        assert_eq!(status(&big(1, &[7000; 4], "\r\n"), &d), "ok");
        assert_eq!(status(&big(1, &[7000; 5], "\r\n"), &d), too_long_line);
        assert_eq!(status(&big(1, &[4000; 8], "\r\n"), &d), "ok");
        assert_eq!(status(&big(1, &[4000; 9], "\r\n"), &d), too_long_line);

        // Small buffers (each row also checked against nginx with the same settings).
        let small = Limits {
            client_header_buffer_size: 64,
            large_buffers: 2,
            large_buffer_size: 512,
            ..Limits::default()
        };
        // Blank lines before the request recycle the first buffer.
        let mut blank = b"\r\n".repeat(100);
        blank.extend_from_slice(&big(400, &[], "\r\n"));
        assert_eq!(status(&blank, &small), "ok");
        assert_eq!(status(&big(496, &[], "\r\n"), &small), "ok");
        assert_eq!(status(&big(497, &[], "\r\n"), &small), "UriTooLong");
        // The request line took one large buffer, the header lines get the other.
        assert_eq!(status(&big(400, &[300], "\r\n"), &small), "ok");
        assert_eq!(
            status(&big(400, &[300, 300], "\r\n"), &small),
            too_long_line
        );
        // Lines that fit the first buffer use no large buffer.
        assert_eq!(status(&big(1, &[10, 10, 400], "\r\n"), &small), "ok");
        let one = Limits {
            large_buffers: 1,
            ..small
        };
        // The request line ends exactly at the end of the only large buffer.
        assert_eq!(
            status(&big(496, &[], "\r\n"), &one),
            r#"HeaderTooLarge("client sent too large request")"#
        );
        // A first buffer larger than a large one: a line may not exceed the large size
        // when it has to move.
        let wide = Limits {
            client_header_buffer_size: 1500,
            large_buffers: 3,
            large_buffer_size: 600,
            ..Limits::default()
        };
        assert_eq!(status(&big(1000, &[], "\r\n"), &wide), "ok");
        assert_eq!(status(&big(1400, &[100], "\r\n"), &wide), "ok");
        assert_eq!(status(&big(1400, &[600], "\r\n"), &wide), too_long_line);
        assert_eq!(status(&big(1490, &[], "\r\n"), &wide), "UriTooLong");
    }

    #[test]
    fn header_lines() {
        let invalid = r#"BadRequest("client sent invalid header line")"#;
        let cases: &[(&str, &str)] = &[
            // Only spaces are trimmed; tabs belong to the value.
            ("X-B:\t v \t \r\n", "X-B:\\x09 v \\x09"),
            ("X-C:   \r\n", "X-C:"),
            ("X-D:\r\n", "X-D:"),
            ("X-E:a  b  \r\n", "X-E:a  b"),
            ("X-F: a:b\r\n", "X-F:a:b"),
            ("X-G: \u{80}\u{ff}\r\n", "X-G:\\xC2\\x80\\xC3\\xBF"),
            ("X-CR: 1\r\r\r\n", "X-CR:1"),
            ("NoColon\r\r\n", "NoColon:"),
            (
                "X-Long-Name-That-Is-Longer-Than-32-Bytes: v\r\n",
                "X-Long-Name-That-Is-Longer-Than-32-Bytes:v",
            ),
            // Ignored invalid names.
            ("X_U: 1\r\n", ""),
            ("X.Y: 1\r\n", ""),
            ("X-\u{e9}: 1\r\n", ""),
            ("@: 1\r\n", ""),
            // Rejected.
            ("X-A : 1\r\n", invalid),
            (" folded\r\n", invalid),
            ("\tX: y\r\n", invalid),
            (":x\r\n", invalid),
            ("X-N: a\x00b\r\n", invalid),
            ("X-N:\x00\r\n", invalid),
            ("X-N: a \x00\r\n", invalid),
            ("X-A\x01: 1\r\n", invalid),
            ("X-Z: a\rb\r\n", invalid),
            ("\rX\r\n", invalid),
        ];
        for (line, expect) in cases {
            let input = format!("GET / HTTP/1.0\r\n{line}\r\n");
            let got = outcome(input.as_bytes(), &Limits::default());
            let got = match got.find(" [") {
                Some(i) => got[i + 2..got.rfind(']').unwrap()].to_string(),
                None if got.starts_with("GET") => String::new(),
                None => got,
            };
            assert_eq!(got, *expect, "line {line:?}");
        }
        let input = b"GET / HTTP/1.0\r\nX_U: 1\r\nX.Y: 2\r\nA: 3\r\n\r\n";
        let names = |limits: &Limits| match parse(input, limits) {
            Ok(Parse::Complete(h)) => h
                .headers
                .iter()
                .map(|x| text(&input[x.name.clone()]))
                .collect::<Vec<_>>()
                .join(","),
            other => panic!("{other:?}"),
        };
        let d = Limits::default();
        assert_eq!(names(&d), "A");
        let us = Limits {
            underscores_in_headers: true,
            ..d
        };
        assert_eq!(names(&us), "X_U,A");
        let keep = Limits {
            ignore_invalid_headers: false,
            ..d
        };
        assert_eq!(names(&keep), "X_U,X.Y,A");
        // An underscore name is never a known header: no duplicate, no Content-Length.
        check_with(
            &us,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent_Length: 1\r\nContent_Length: 2\r\n\r\n",
            "POST uri=/ 1.1 host=x [Host:x|Content_Length:1|Content_Length:2] len=66",
        );
    }

    #[test]
    fn body_and_connection() {
        let cases: &[(&str, &str)] = &[
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                "POST uri=/ 1.1 host=x cl=5 [Host:x|Content-Length:5] len=47",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775807\r\n\r\n",
                "POST uri=/ 1.1 host=x cl=9223372036854775807 [Host:x|Content-Length:9223372036854775807] len=65",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n",
                r#"BadRequest("client sent invalid \"Content-Length\" header")"#,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                r#"BadRequest("client sent invalid \"Content-Length\" header")"#,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n",
                r#"BadRequest("client sent invalid \"Content-Length\" header")"#,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 007 \r\n\r\n",
                "POST uri=/ 1.1 host=x cl=7 [Host:x|Content-Length:007] len=50",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  Chunked \r\n\r\n5\r\n",
                "POST uri=/ 1.1 chunked host=x [Host:x|Transfer-Encoding:Chunked] len=58",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                r#"NotImplemented("client sent unknown \"Transfer-Encoding\"")"#,
            ),
            // The Host check comes first, then Content-Length, then Transfer-Encoding.
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: x\r\n\r\n",
                r#"BadRequest("client sent HTTP/1.1 request without \"Host\" header")"#,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: x\r\n\r\n",
                r#"BadRequest("client sent invalid \"Content-Length\" header")"#,
            ),
            (
                "POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n",
                r#"BadRequest("client sent HTTP/1.0 request with \"Transfer-Encoding\" header")"#,
            ),
            // A duplicate is refused as soon as its line ends (nginx: before the head ends).
            (
                "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\nX-Partial: ",
                r#"BadRequest("client sent duplicate host header")"#,
            ),
            // Connection: the last line naming close or keep-alive decides.
            (
                "GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
                "GET uri=/ 1.1 keep-alive conn-upgrade upgrade host=x [Host:x|Connection:Keep-Alive, Upgrade|Upgrade:websocket] len=80",
            ),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: xCLOSEx\r\nConnection: te\r\n\r\n",
                "GET uri=/ 1.1 close host=x [Host:x|Connection:keep-alive|Connection:xCLOSEx|Connection:te] len=88",
            ),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nConnection: close, keep-alive\r\n\r\n",
                "GET uri=/ 1.1 close host=x [Host:x|Connection:close, keep-alive] len=58",
            ),
            // Expect: 100-continue only from HTTP/1.1 on (nginx answered 100 only then).
            (
                "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n",
                "POST uri=/ 1.1 expect host=x [Host:x|Expect:100-Continue] len=50",
            ),
            (
                "POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
                "POST uri=/ 1.0 [Expect:100-continue] len=41",
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continued\r\n\r\n",
                "POST uri=/ 1.1 host=x [Host:x|Expect:100-continued] len=51",
            ),
        ];
        for (input, expect) in cases {
            check(input, expect);
        }
    }

    #[test]
    fn user_agents() {
        let none = Browser::default();
        let msie = Browser { msie: true, ..none };
        let msie6 = Browser {
            msie6: true,
            ..msie
        };
        let cases: &[(&str, Browser)] = &[
            ("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)", msie6),
            ("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", msie),
            ("Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)", msie6),
            ("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)", msie),
            ("xx MSIE 6.0", msie6), // (nginx: $msie = 1)
            ("xx MSIE 6.", none),   // (nginx: $msie empty) too short after "MSIE "
            (
                "Opera/9.80 (compatible; MSIE 6.0) Presto",
                Browser {
                    opera: true,
                    ..none
                },
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
                Browser {
                    gecko: true,
                    ..none
                },
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                Browser {
                    chrome: true,
                    ..none
                },
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
                Browser {
                    safari: true,
                    ..none
                },
            ),
            ("Safari/1 on Windows", none),
            (
                "Mozilla/5.0 (compatible; Konqueror/4.0; Linux)",
                Browser {
                    konqueror: true,
                    ..none
                },
            ),
            ("curl/8.0.1", none),
            ("msie 6.0; chrome/1", none),
        ];
        for (ua, expect) in cases {
            let input = format!("GET / HTTP/1.0\r\nUser-Agent: {ua}\r\n\r\n");
            let Ok(Parse::Complete(h)) = parse(input.as_bytes(), &Limits::default()) else {
                panic!("{ua}")
            };
            assert_eq!(h.browser, *expect, "{ua}");
        }
    }

    /// HTTP/0.9 (S2.7), pipelining, and the accessors.
    #[test]
    fn head_boundaries() {
        check("GET /\r\nGET /\r\n", "GET uri=/ 0.9 len=7");
        check(
            "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET uri=/ 1.1 host=x [Host:x] len=27",
        );
        check(
            "GET / HTTP/1.1\nHost: x\n\nGARBAGE",
            "GET uri=/ 1.1 host=x [Host:x] len=24",
        );
        let input = b"\r\nGET /a?b HTTP/1.1  \r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\n\r\nrest";
        let h = complete(input);
        assert_eq!(h.bytes(h.request_line.clone()), b"GET /a?b HTTP/1.1  ");
        assert_eq!(h.protocol(), b"HTTP/1.1  ");
        assert_eq!(h.bytes(h.method_name.clone()), b"GET");
        assert_eq!(h.request_uri(), b"/a?b");
        assert_eq!(h.args_bytes().as_deref(), Some(&b"b"[..]));
        assert_eq!(h.request_length(), 48);
        assert_eq!(&input[h.head_len..], b"rest");
        assert!(h.keepalive_requested());
        assert_eq!(h.host_header, Some(0));
        assert_eq!(h.header(0), (&b"Host"[..], &b"x"[..]));
        assert_eq!(h.find(b"x-a"), Some(&b"1"[..]));
        assert_eq!(h.find(b"x-b"), None);
        let h = complete(b"GET /a?b \r\n");
        assert!(h.http09 && (h.http_major, h.http_minor) == (0, 9));
        assert_eq!(h.protocol(), b"");
        assert!(!h.keepalive_requested());
        let h = complete(b"GET /? HTTP/1.0\r\n\r\n");
        assert!(!h.keepalive_requested());
        assert_eq!(h.args_bytes(), None);
        // Before `buf` is set the accessors see nothing, and do not panic.
        let Ok(Parse::Complete(h)) = parse(b"GET / HTTP/1.0\r\nA: 1\r\n\r\n", &Limits::default())
        else {
            panic!()
        };
        assert_eq!((h.find(b"a"), h.request_uri()), (None, &b""[..]));
        let bad = RequestHead::bad_request(Bytes::from_static(b"get / HTTP/1.1"));
        assert_eq!(bad.bytes(bad.request_line.clone()), b"get / HTTP/1.1");
    }

    /// A rejection after a complete HTTP/0.9 request line is answered without a status line
    /// (observed on nginx for `GET /%`, `GET http://a..b/` and `POST /`); an earlier one
    /// (`GET /\x01`) with one.
    #[test]
    fn http09_rejections() {
        let d = Limits::default();
        for (input, nine) in [
            (&b"GET /%\r\n"[..], true),
            (b"GET http://a..b/\r\n", true),
            (b"POST /\r\n", true),
            (b"\r\nPOST /\n", true),
            (b"GET /\x01\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", false),
            (b"POST /", false),
            (b"", false),
        ] {
            assert_eq!(http09_request_line(input, &d), nine, "{input:?}");
        }
    }

    #[test]
    fn uri_helpers() {
        let n = |u: &str, merge| match normalize_uri(u.as_bytes(), merge) {
            Ok(v) => text(&v),
            Err(e) => format!("{e:?}"),
        };
        assert_eq!(n("/a/./b/../%63//d?x#y", true), "/a/c/d");
        assert_eq!(n("/a//b", false), "/a//b");
        assert_eq!(n("/%3F?x", true), "/?");
        assert_eq!(
            n("/..", true),
            r#"BadRequest("client sent invalid request")"#
        );
        assert_eq!(n("a", true), r#"BadRequest("client sent invalid request")"#);
        assert_eq!(n("", true), r#"BadRequest("client sent invalid request")"#);
        // $arg_NAME: first `name=` at a parameter start, name case-insensitive (S7: `a=1&A=2`
        // gives 1 for both $arg_a and $arg_A, verified p06).
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("a=1&A=2&a=3", "a", Some("1")),
            ("a=1&A=2&a=3", "A", Some("1")),
            ("xa=1&a=2", "a", Some("2")),
            ("a&a=", "a", Some("")),
            ("a", "a", None),
            ("a=", "a", Some("")),
            ("b=1&ab=2", "ab", Some("2")),
            ("q=%20x&r", "q", Some("%20x")),
            ("", "a", None),
            ("a=1", "", None),
        ];
        for (args, name, expect) in cases {
            assert_eq!(
                arg(args.as_bytes(), name.as_bytes()),
                expect.map(str::as_bytes),
                "{args} {name}"
            );
        }
    }

    /// Every prefix of a valid request is Partial; every buffer holding all of it gives the
    /// same head, whatever follows.
    #[test]
    fn partial_at_every_byte() {
        let request: &[u8] =
            b"\r\nPOST http://Example.COM:8080/a/./b/%2e%2e/c%20d?x=1&y=%41#frag HTTP/1.1\r\n\
Host: example.com\r\nUser-Agent: Mozilla/5.0 Chrome/1\r\nConnection: keep-alive\r\n\
X_Dropped: 1\r\nContent-Length: 3\r\nCookie: a=1\r\nX-Empty:\r\n\tX\r\n";
        // (the last line is invalid on purpose: cut it off for the valid request)
        let valid_end = request.len() - 4;
        let mut input = request[..valid_end].to_vec();
        input.extend_from_slice(b"\r\n");
        let head_len = input.len();
        input.extend_from_slice(b"abcGET / HTTP/1.1\r\n");
        let limits = Limits::default();
        let Ok(Parse::Complete(full)) = parse(&input, &limits) else {
            panic!()
        };
        assert_eq!(full.head_len, head_len);
        assert_eq!(full.uri, b"/a/c d");
        assert_eq!(&input[full.args.clone()], b"x=1&y=%41");
        for k in 0..input.len() {
            match parse(&input[..k], &limits) {
                Ok(Parse::Partial) => assert!(k < head_len, "Partial at {k}"),
                Ok(Parse::Complete(h)) => {
                    assert!(k >= head_len);
                    assert_eq!(h, full, "prefix of {k} bytes");
                }
                Err(e) => panic!("prefix of {k} bytes: {e:?}"),
            }
        }
        // The invalid last line is refused as soon as its first byte arrives.
        assert_eq!(
            parse(&request[..valid_end + 1], &limits),
            Err(Reject::BadRequest("client sent invalid header line"))
        );
    }

    #[test]
    fn reject_statuses() {
        let cases = [
            (
                Reject::BadRequest("client sent invalid method"),
                400,
                "client sent invalid method",
            ),
            (Reject::UriTooLong, 414, "client sent too long URI"),
            (
                Reject::HeaderTooLarge("client sent too long header line"),
                400,
                "client sent too long header line",
            ),
            (
                Reject::NotImplemented("client sent unknown \"Transfer-Encoding\""),
                501,
                "client sent unknown \"Transfer-Encoding\"",
            ),
            (
                Reject::VersionNotSupported,
                505,
                "client sent invalid version",
            ),
            (Reject::Close, 0, ""),
        ];
        for (r, status, message) in cases {
            assert_eq!((r.status(), r.message()), (status, message));
        }
    }

    /// Arbitrary bytes never panic; any outcome is fine.
    #[test]
    fn garbage_does_not_panic() {
        let mut x: u32 = 0x1234_5678;
        let alphabet = b"GET /.%?#:[]HTP1\r\n \t\x00\x7fAz_-0";
        for len in 0..300 {
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf.push(alphabet[(x as usize) % alphabet.len()]);
            }
            let tiny = Limits {
                client_header_buffer_size: 7,
                large_buffers: 2,
                large_buffer_size: 16,
                ..Limits::default()
            };
            let _ = parse(&buf, &Limits::default());
            let _ = parse(&buf, &tiny);
        }
    }
}
