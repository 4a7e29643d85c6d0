//! nginx's HTTP/1.x client request-head parser.
//!
//! This module owns everything nginx 1.22.1 does with the bytes of a request head before a
//! location is chosen: the request line (`ngx_http_parse_request_line`), the header lines
//! (`ngx_http_parse_header_line`), the URI normalisation that produces `$uri`
//! (`ngx_http_parse_complex_uri`, S3.1), Host validation (`ngx_http_validate_host`, S2.6), the
//! per-header handlers of the `ngx_http_headers_in` table (duplicate unique headers, Connection,
//! User-Agent), the end-of-head checks (`ngx_http_process_request_header`) and — the subtle part —
//! the header-buffer limits of `client_header_buffer_size` / `large_client_header_buffers`
//! (`ngx_http_alloc_large_header_buffer`, S13.10), simulated exactly so that a request is
//! refused (or accepted) at the same byte nginx would refuse (or accept) it.
//!
//! It also carries three small helpers other code needs with nginx's exact semantics:
//! [`escape_uri`] (`ngx_escape_uri(NGX_ESCAPE_URI)`, S4.2), [`arg`] (`ngx_http_arg`, `$arg_*`)
//! and [`normalize_uri`].
//!
//! Pure code: no IO, no async. [`parse`] is stateless: it is called again with the longer buffer
//! when it answered [`Parse::Partial`]. Every offset in a [`RequestHead`] indexes into
//! [`RequestHead::buf`], a cheap slice of the caller's buffer; on the hot path (a well-formed
//! request) the only allocations are the vectors of the returned struct.

use std::borrow::Cow;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Expands one of nginx's 8 x 32-bit character bitmaps into a lookup table.
const fn bitmap(words: [u32; 8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = words[i >> 5] & (1 << (i & 0x1f)) != 0;
        i += 1;
    }
    table
}

/// nginx's `usual` table (ngx_http_parse.c): URI bytes that need no attention from the URI
/// state machines (everything but controls, space, `#`, `%`, `+`, `.`, `/`, `?` and DEL).
static USUAL: [bool; 256] = bitmap([
    0x0000_0000,
    0x7fff_37d6,
    0xffff_ffff,
    0x7fff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
]);

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

/// Bytes that end a header value: CR, LF and NUL (an error).
static VALUE_END: [bool; 256] = {
    let mut t = [false; 256];
    t[CR as usize] = true;
    t[LF as usize] = true;
    t[0] = true;
    t
};

/// The directives that shape request-head parsing; `Default` is nginx's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `client_header_buffer_size` (default 1k): the first buffer a request head is read into.
    pub client_header_buffer_size: usize,
    /// `large_client_header_buffers` number (default 4): at most this many large buffers per
    /// request (per connection when pipelining, see [`BufferState`]).
    pub large_buffers: u32,
    /// `large_client_header_buffers` size (default 8k): no request line or header line may be
    /// longer than this, line ending included.
    pub large_buffer_size: usize,
    /// `underscores_in_headers` (default off): a name containing `_` is an invalid header.
    pub underscores_in_headers: bool,
    /// `ignore_invalid_headers` (default on): invalid header lines are dropped, not kept.
    pub ignore_invalid_headers: bool,
    /// `merge_slashes` (default on): `//` collapses to `/` in `$uri`.
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

/// The methods `ngx_http_parse_request_line` recognises. Any other token of `A-Z`, `_` and `-`
/// is [`Method::Other`] and is proxied as sent (see [`RequestHead::method_name`]).
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

impl Method {
    /// Maps a method token (exact, case-sensitive, as nginx) to a [`Method`].
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

    /// The method's name, `None` for [`Method::Other`].
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Mkcol => "MKCOL",
            Method::Copy => "COPY",
            Method::Move => "MOVE",
            Method::Options => "OPTIONS",
            Method::Propfind => "PROPFIND",
            Method::Proppatch => "PROPPATCH",
            Method::Lock => "LOCK",
            Method::Unlock => "UNLOCK",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Other => return None,
        })
    }
}

/// One header line nginx kept, as ranges into [`RequestHead::buf`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The name exactly as sent.
    pub name: Range<usize>,
    /// The value without leading and trailing spaces (only `' '` is trimmed: a tab is part of
    /// the value, as in nginx). Empty for a line without a colon, which nginx keeps as a header
    /// with an empty value.
    pub value: Range<usize>,
}

/// The browser flags `ngx_http_process_user_agent` derives from the first `User-Agent` line
/// (used for the MSIE/Chrome error-page padding, S13.5, and `msie_refresh`).
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

/// Where nginx's header buffer stands when a request head starts (S13.10).
///
/// A fresh request (first on a connection, or after an idle keep-alive) starts at the beginning
/// of a `client_header_buffer_size` buffer with every large buffer available: that is
/// [`BufferState::fresh`], what [`parse`] uses. A *pipelined* request (its first bytes were
/// already read together with the previous request) starts where the previous one ended, inside
/// the same buffer: pass [`RequestHead::buffer`] of the previous head, minus the body bytes
/// taken from it, to [`parse_pipelined`]. If that buffer was a large one, nginx keeps it busy and
/// the new request can get only `large_buffers - 1` more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferState {
    /// Bytes left in the current buffer from the start of the request (stream) on.
    pub room: usize,
    /// The current buffer is a large one (`large_client_header_buffers`), not the
    /// `client_header_buffer_size` one.
    pub large: bool,
}

impl BufferState {
    /// A request that starts at the beginning of an empty `client_header_buffer_size` buffer.
    pub fn fresh(limits: &Limits) -> BufferState {
        BufferState {
            room: limits.client_header_buffer_size,
            large: false,
        }
    }

    /// Consumes `n` bytes (e.g. preread body bytes) from the room left in the buffer.
    pub fn advance(self, n: usize) -> BufferState {
        BufferState {
            room: self.room.saturating_sub(n),
            large: self.large,
        }
    }
}

/// A request head: a complete, accepted one from the parse functions, or what nginx knew of a
/// refused one ([`rejected_head`], [`RequestHead::bad_request`]).
#[derive(Clone, Debug)]
pub struct RequestHead {
    /// The head bytes (any CR/LF nginx skipped before the request line, the request line, the
    /// header lines, the final blank line); every range below indexes into it.
    pub buf: Bytes,
    pub method: Method,
    /// `$request_method`.
    pub method_name: Range<usize>,
    /// `$request`: the request line without its line ending (trailing spaces before a CR
    /// included, as nginx).
    pub request_line: Range<usize>,
    /// `$request_uri`: the request-target as sent; for the absolute form the part from the path
    /// on (`/p?q` of `http://h/p?q`, `?q` of `http://h?q`, and a `/` for `http://h`).
    pub unparsed_uri: Range<usize>,
    /// `$uri`: decoded and normalised (S3.1).
    pub uri: Vec<u8>,
    /// `$args`: the raw query string without `?`. `None` when there is no `?` *or* nothing
    /// follows it — nginx's `r->args` is empty in both cases, so `$is_args` is empty for `/?`
    /// too (verified). A `#fragment` is not part of it.
    pub args: Option<Range<usize>>,
    /// nginx `r->quoted_uri`: the path (before `?`/`#`) contained a `%`. `$uri` is re-escaped
    /// with [`escape_uri`] for `proxy_pass` with a URI part only then (S4.2).
    pub quoted_uri: bool,
    /// nginx `r->complex_uri`: the path had `//`, `/.`, or a `#`.
    pub complex_uri: bool,
    /// nginx `r->plus_in_uri`: a `+` (raw or `%2B`) in the path; rewrite captures are escaped
    /// when this or `quoted_uri` is set.
    pub plus_in_uri: bool,
    /// nginx `r->valid_unparsed_uri`: false for an absolute-form target with an empty path
    /// (`http://h?q`), where `proxy_pass` without a URI part sends `$uri?$args` instead of
    /// `$request_uri`.
    pub valid_unparsed_uri: bool,
    pub http_major: u16,
    pub http_minor: u16,
    /// `GET /\r\n`: no headers, and the response is the body only (S2.7).
    pub http09: bool,
    /// `$server_protocol` (`HTTP/1.1`), empty for HTTP/0.9.
    pub http_protocol: Range<usize>,
    /// The host of an absolute-form target (`GET http://Host:1/p`), validated and normalised
    /// like Host (S2.6); it takes precedence over the Host header for server selection.
    pub absolute_host: Option<Vec<u8>>,
    /// Header lines nginx kept, in order (invalid ones skipped per S6.7).
    pub headers: Vec<Header>,
    /// Lines nginx ignored as invalid (`client sent invalid header line: "..."` at info level):
    /// each range is the text nginx logs.
    pub invalid_headers: Vec<Range<usize>>,
    /// The normalised host (S2.6): `absolute_host`, else the Host header's. `None` when neither
    /// is present (then `$host` is the server name).
    pub host: Option<Vec<u8>>,
    /// Index into `headers` of the Host line (`$http_host`).
    pub host_header: Option<usize>,
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked` (the only accepted value, case-insensitive).
    pub chunked: bool,
    /// nginx's `connection_type`: the last Connection line containing `close` or `keep-alive`
    /// (case-insensitive substring, `close` winning within one line) decides (S13.4).
    pub connection_close: bool,
    pub connection_keep_alive: bool,
    /// Some Connection line contains `upgrade` (case-insensitive substring). nginx's HTTP/1
    /// request parser itself does not look at it; it is here for the WebSocket path (S11).
    pub connection_upgrade: bool,
    /// Index into `headers` of the first Upgrade line.
    pub upgrade: Option<usize>,
    /// `Expect: 100-continue` (exactly, case-insensitive) on an HTTP/1.1+ request, as
    /// `ngx_http_test_expect`.
    pub expect_continue: bool,
    pub browser: Browser,
    /// Bytes of the input consumed by the head; pipelined requests or body bytes follow.
    pub head_len: usize,
    /// nginx's `r->request_length` after the head: `head_len` without the CR/LF skipped before
    /// the request line (`$request_length` adds the body to it).
    pub request_length: usize,
    /// nginx's header buffer after the head, for a pipelined next request (see
    /// [`BufferState`]).
    pub buffer: BufferState,
}

impl RequestHead {
    /// A stand-in for a request nginx could not parse (a request-line error): only `$request`
    /// is known, which is `line`, and `$request_length` is 0. Version 1.0 as nginx's default,
    /// so the error response has a status line and headers.
    pub fn bad_request(line: Bytes) -> RequestHead {
        let len = line.len();
        RequestHead::stand_in(line, 0..len, false)
    }

    fn stand_in(buf: Bytes, request_line: Range<usize>, http09: bool) -> RequestHead {
        let at = request_line.start;
        RequestHead {
            buf,
            method: Method::Other,
            method_name: at..at,
            request_line,
            unparsed_uri: at..at,
            uri: Vec::new(),
            args: None,
            quoted_uri: false,
            complex_uri: false,
            plus_in_uri: false,
            valid_unparsed_uri: false,
            http_major: if http09 { 0 } else { 1 },
            http_minor: if http09 { 9 } else { 0 },
            http09,
            http_protocol: at..at,
            absolute_host: None,
            headers: Vec::new(),
            invalid_headers: Vec::new(),
            host: None,
            host_header: None,
            content_length: None,
            chunked: false,
            connection_close: false,
            connection_keep_alive: false,
            connection_upgrade: false,
            upgrade: None,
            expect_continue: false,
            browser: Browser::default(),
            head_len: 0,
            request_length: 0,
            buffer: BufferState {
                room: 0,
                large: false,
            },
        }
    }

    /// The name and value of header `i`.
    pub fn header(&self, i: usize) -> (&[u8], &[u8]) {
        let h = &self.headers[i];
        (&self.buf[h.name.clone()], &self.buf[h.value.clone()])
    }

    /// The value of the first header named `name` (ASCII case-insensitive), as nginx's
    /// `$http_*` in 1.22.1 (which does not join repeated lines except Cookie/X-Forwarded-For).
    pub fn find(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers.iter().find_map(|h| {
            self.buf[h.name.clone()]
                .eq_ignore_ascii_case(name)
                .then(|| &self.buf[h.value.clone()])
        })
    }

    /// The values of every header named `name` (ASCII case-insensitive), in order.
    pub fn find_all<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |h| self.buf[h.name.clone()].eq_ignore_ascii_case(name))
            .map(move |h| &self.buf[h.value.clone()])
    }

    /// `$request_uri`.
    pub fn request_uri(&self) -> &[u8] {
        &self.buf[self.unparsed_uri.clone()]
    }

    /// `$args` (empty when there are none).
    pub fn args(&self) -> &[u8] {
        self.args.as_ref().map_or(&[], |r| &self.buf[r.clone()])
    }

    /// `$is_args`.
    pub fn is_args(&self) -> &'static [u8] {
        if self.args.is_some() {
            b"?"
        } else {
            b""
        }
    }

    /// `$request_method`.
    pub fn method_name(&self) -> &[u8] {
        &self.buf[self.method_name.clone()]
    }

    /// `$request`.
    pub fn request_line(&self) -> &[u8] {
        &self.buf[self.request_line.clone()]
    }

    /// `$server_protocol`.
    pub fn protocol(&self) -> &[u8] {
        &self.buf[self.http_protocol.clone()]
    }

    /// `$http_host`: the raw Host value.
    pub fn host_header_value(&self) -> Option<&[u8]> {
        self.host_header.map(|i| self.header(i).1)
    }

    /// nginx's `r->http_version`: `major * 1000 + minor` (9 for HTTP/0.9, 1001 for HTTP/1.1).
    pub fn http_version(&self) -> u32 {
        u32::from(self.http_major) * 1000 + u32::from(self.http_minor)
    }

    /// nginx's initial `r->keepalive` (`ngx_http_handler`): Connection decides, else HTTP/1.1+
    /// keeps the connection and HTTP/1.0 (and 0.9) closes it (S13.4).
    pub fn keepalive(&self) -> bool {
        if self.connection_close {
            false
        } else if self.connection_keep_alive {
            true
        } else {
            self.http_version() > 1000
        }
    }
}

/// Why nginx refuses a request head. Every rejection closes the connection: nginx has not set
/// `r->keepalive` yet when it finalizes these (verified for 400, 405, 414, 501).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    /// 400. The text is nginx's error-log message (info level), e.g. `client sent invalid
    /// method`, `client sent invalid host header`, `client sent duplicate header line: ...`.
    BadRequest(Cow<'static, str>),
    /// 400 to a request line recognised as HTTP/0.9 (`POST /\r\n`, `GET /../\r\n`): nginx sends
    /// the error page body only, without status line or headers.
    Http09BadRequest(&'static str),
    /// 414, `client sent too long URI`.
    UriTooLong,
    /// nginx's 494, sent as `400 Bad Request` with the "Request Header Or Cookie Too Large"
    /// page; the text is `client sent too long header line: "..."` or `client sent too large
    /// request`.
    HeaderTooLarge(Cow<'static, str>),
    /// 405 for `CONNECT` and `TRACE` (`client sent CONNECT method`).
    NotAllowed(&'static str),
    /// 501, `client sent unknown "Transfer-Encoding": "gzip"`.
    NotImplemented(Cow<'static, str>),
    /// 505 for `HTTP/2.0` (and any major version > 1) in the request line,
    /// `client sent invalid version`.
    VersionNotSupported,
}

impl Reject {
    /// nginx's status code (494 for [`Reject::HeaderTooLarge`]; it goes out as 400).
    pub fn status(&self) -> u16 {
        match self {
            Reject::BadRequest(_) | Reject::Http09BadRequest(_) => 400,
            Reject::UriTooLong => 414,
            Reject::HeaderTooLarge(_) => 494,
            Reject::NotAllowed(_) => 405,
            Reject::NotImplemented(_) => 501,
            Reject::VersionNotSupported => 505,
        }
    }

    /// nginx's error-log message (without the `while reading ...` context).
    pub fn message(&self) -> &str {
        match self {
            Reject::BadRequest(m) | Reject::HeaderTooLarge(m) | Reject::NotImplemented(m) => m,
            Reject::Http09BadRequest(m) | Reject::NotAllowed(m) => m,
            Reject::UriTooLong => "client sent too long URI",
            Reject::VersionNotSupported => "client sent invalid version",
        }
    }
}

/// The outcome of [`parse`] on the bytes received so far.
// Returned once per request and matched at once: boxing the head would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Parse {
    Complete(RequestHead),
    /// The head is incomplete and nginx would still be reading it (no limit exceeded yet).
    Partial,
}

/// Parses the request head at the start of `buf` (which may hold more: pipelined requests or
/// body bytes) as the first request on a connection ([`BufferState::fresh`]).
/// [`RequestHead::buf`] is a copy of the head; [`parse_buf`] and [`parse_bytes`] avoid it.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Parse, Reject> {
    Ok(
        match scan(buf, limits, BufferState::fresh(limits), &mut None)? {
            Some(mut head) => {
                head.buf = Bytes::copy_from_slice(&buf[..head.head_len]);
                Parse::Complete(head)
            }
            None => Parse::Partial,
        },
    )
}

/// [`parse`] without a copy: [`RequestHead::buf`] is a slice of `buf`. `state` says where
/// nginx's header buffer stands ([`BufferState::fresh`] unless pipelined).
pub fn parse_bytes(buf: &Bytes, limits: &Limits, state: BufferState) -> Result<Parse, Reject> {
    Ok(match scan(buf, limits, state, &mut None)? {
        Some(mut head) => {
            head.buf = buf.slice(..head.head_len);
            Parse::Complete(head)
        }
        None => Parse::Partial,
    })
}

/// [`parse_bytes`] on a read buffer: on success the head is split off the front of `buf` (no
/// copy), leaving the bytes that follow it (body, pipelined requests); otherwise `buf` is
/// untouched.
pub fn parse_buf(buf: &mut BytesMut, limits: &Limits, state: BufferState) -> Result<Parse, Reject> {
    Ok(match scan(buf, limits, state, &mut None)? {
        Some(mut head) => {
            head.buf = buf.split_to(head.head_len).freeze();
            Parse::Complete(head)
        }
        None => Parse::Partial,
    })
}

/// The request as nginx knew it when it refused `buf` (the same input that made a parse return
/// `Err`), for the access log and the error page's variables (verified against nginx's access
/// log): a request-line error leaves only `$request` (the line up to the first CR/LF read, or to
/// the buffer end for a 414); a URI error adds method, protocol and `$request_length`; a header
/// error has everything parsed up to and including the failing line (so `$http_host` is the
/// invalid Host value). `request_length` is nginx's `$request_length` at that point (0 for a
/// request-line error). If `buf` is in fact acceptable or incomplete, this is its parse as far as
/// it goes (a stand-in with an empty request line when nothing was parsed).
pub fn rejected_head(buf: &[u8], limits: &Limits, state: BufferState) -> RequestHead {
    let mut stash = None;
    let mut head = match scan(buf, limits, state, &mut stash) {
        Ok(Some(head)) => head,
        Ok(None) | Err(_) => {
            stash.unwrap_or_else(|| RequestHead::stand_in(Bytes::new(), 0..0, false))
        }
    };
    head.buf = Bytes::copy_from_slice(buf);
    head
}

// ---------------------------------------------------------------------------------------------
// Header buffers (ngx_http_alloc_large_header_buffer)
// ---------------------------------------------------------------------------------------------

/// nginx's header buffers, tracked as windows over the byte stream. nginx fills a buffer to the
/// end before it looks for another one, and then moves only the incomplete current line into a
/// new large buffer, so whether a head fits is a function of the bytes alone.
struct Buffers {
    /// Stream offset where the current buffer ends.
    end: usize,
    large: bool,
    /// Large buffers this request may still take.
    left: u32,
    client_size: usize,
    large_size: usize,
}

impl Buffers {
    fn new(limits: &Limits, state: BufferState) -> Buffers {
        Buffers {
            end: state.room,
            large: state.large,
            left: if state.large {
                limits.large_buffers.saturating_sub(1)
            } else {
                limits.large_buffers
            },
            // nginx's configuration never allows empty buffers; clamping keeps every window
            // non-empty, so the loops below always make progress.
            client_size: limits.client_header_buffer_size.max(1),
            large_size: limits.large_buffer_size.max(1),
        }
    }

    /// The current buffer is full and the line that started at `line_start` is incomplete:
    /// move it to a new large buffer. `false` when nginx declines: the part already read is as
    /// long as a large buffer, or none is left.
    fn take_large(&mut self, line_start: usize) -> bool {
        if self.end - line_start >= self.large_size || self.left == 0 {
            return false;
        }
        self.left -= 1;
        self.large = true;
        self.end = line_start + self.large_size;
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Request line (ngx_http_parse_request_line)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineError {
    Method,
    Request,
    Version,
    Method09,
}

#[derive(Clone, Debug, Default)]
struct Line {
    start: usize,
    method_end: usize,
    uri_start: usize,
    uri_end: usize,
    args_start: Option<usize>,
    schema_end: usize,
    host: Option<Range<usize>>,
    protocol_start: Option<usize>,
    request_end: Option<usize>,
    /// Offset just past the line's LF.
    end: usize,
    major: u16,
    minor: u16,
    complex: bool,
    quoted: bool,
    plus: bool,
    empty_path: bool,
}

enum LineStep {
    Done(Line, Method),
    /// Ran out of bytes; `Some(request_start)` once past the CR/LF nginx skips before a request.
    Again(Option<usize>),
    Invalid(LineError),
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

fn is_method_char(ch: u8) -> bool {
    ch.is_ascii_uppercase() || ch == b'_' || ch == b'-'
}

/// Runs nginx's request-line state machine over `buf[from..limit]`.
fn request_line(buf: &[u8], from: usize, limit: usize) -> LineStep {
    let mut l = Line {
        start: from,
        ..Line::default()
    };
    let mut method = Method::Other;
    let mut state = Ls::Start;
    let mut p = from;

    while p < limit {
        let ch = buf[p];
        match state {
            Ls::Start => {
                // CR/LF before a request line are skipped
                l.start = p;
                if ch != CR && ch != LF {
                    if !is_method_char(ch) {
                        return LineStep::Invalid(LineError::Method);
                    }
                    state = Ls::Method;
                }
            }
            Ls::Method => {
                if ch == b' ' {
                    l.method_end = p;
                    method = Method::from_token(&buf[l.start..p]);
                    state = Ls::SpacesBeforeUri;
                } else if !is_method_char(ch) {
                    return LineStep::Invalid(LineError::Method);
                }
            }
            Ls::SpacesBeforeUri => {
                if ch == b'/' {
                    l.uri_start = p;
                    state = Ls::AfterSlashInUri;
                } else if ch.is_ascii_alphabetic() {
                    state = Ls::Schema;
                } else if ch != b' ' {
                    // `*` and authority-form (`CONNECT h:443`) end here
                    return LineStep::Invalid(LineError::Request);
                }
            }
            Ls::Schema => {
                if ch == b':' {
                    l.schema_end = p;
                    state = Ls::SchemaSlash;
                } else if !(ch.is_ascii_alphanumeric() || matches!(ch, b'+' | b'-' | b'.')) {
                    return LineStep::Invalid(LineError::Request);
                }
            }
            Ls::SchemaSlash | Ls::SchemaSlashSlash => {
                if ch != b'/' {
                    return LineStep::Invalid(LineError::Request);
                }
                state = if matches!(state, Ls::SchemaSlash) {
                    Ls::SchemaSlashSlash
                } else {
                    Ls::HostStart
                };
            }
            Ls::HostStart => {
                l.host = Some(p..p);
                if ch == b'[' {
                    state = Ls::HostIpLiteral;
                } else {
                    state = Ls::Host;
                    continue; // the same byte again, as nginx's fall through
                }
            }
            Ls::Host => {
                if !(ch.is_ascii_alphanumeric() || ch == b'.' || ch == b'-') {
                    state = Ls::HostEnd;
                    continue;
                }
            }
            Ls::HostEnd => {
                if let Some(host) = &mut l.host {
                    host.end = p;
                }
                match ch {
                    b':' => state = Ls::Port,
                    b'/' => {
                        l.uri_start = p;
                        state = Ls::AfterSlashInUri;
                    }
                    b'?' => {
                        l.uri_start = p;
                        l.args_start = Some(p + 1);
                        l.empty_path = true;
                        state = Ls::Uri;
                    }
                    b' ' => {
                        // nginx points the URI at the second `/` of `://`
                        l.uri_start = l.schema_end + 1;
                        l.uri_end = l.schema_end + 2;
                        state = Ls::Http09;
                    }
                    _ => return LineStep::Invalid(LineError::Request),
                }
            }
            Ls::HostIpLiteral => {
                let ok = ch.is_ascii_alphanumeric()
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
                    );
                if ch == b']' {
                    state = Ls::HostEnd;
                } else if !ok {
                    return LineStep::Invalid(LineError::Request);
                }
            }
            Ls::Port => match ch {
                b'0'..=b'9' => {}
                b'/' => {
                    l.uri_start = p;
                    state = Ls::AfterSlashInUri;
                }
                b'?' => {
                    l.uri_start = p;
                    l.args_start = Some(p + 1);
                    l.empty_path = true;
                    state = Ls::Uri;
                }
                b' ' => {
                    l.uri_start = l.schema_end + 1;
                    l.uri_end = l.schema_end + 2;
                    state = Ls::Http09;
                }
                _ => return LineStep::Invalid(LineError::Request),
            },
            Ls::AfterSlashInUri => {
                if USUAL[usize::from(ch)] {
                    state = Ls::CheckUri;
                } else {
                    match ch {
                        b' ' => {
                            l.uri_end = p;
                            state = Ls::Http09;
                        }
                        CR => {
                            l.uri_end = p;
                            l.minor = 9;
                            state = Ls::AlmostDone;
                        }
                        LF => {
                            l.uri_end = p;
                            l.minor = 9;
                            return done(l, method, p);
                        }
                        b'.' | b'/' | b'#' => {
                            l.complex = true;
                            state = Ls::Uri;
                        }
                        b'%' => {
                            l.quoted = true;
                            state = Ls::Uri;
                        }
                        b'?' => {
                            l.args_start = Some(p + 1);
                            state = Ls::Uri;
                        }
                        b'+' => l.plus = true,
                        _ if ch < 0x20 || ch == 0x7f => {
                            return LineStep::Invalid(LineError::Request);
                        }
                        _ => state = Ls::CheckUri,
                    }
                }
            }
            Ls::CheckUri => {
                if USUAL[usize::from(ch)] {
                    // the common case: skip the run of plain bytes
                    p += 1;
                    while p < limit && USUAL[usize::from(buf[p])] {
                        p += 1;
                    }
                    continue;
                }
                match ch {
                    b'/' => state = Ls::AfterSlashInUri,
                    b'.' => {}
                    b' ' => {
                        l.uri_end = p;
                        state = Ls::Http09;
                    }
                    CR => {
                        l.uri_end = p;
                        l.minor = 9;
                        state = Ls::AlmostDone;
                    }
                    LF => {
                        l.uri_end = p;
                        l.minor = 9;
                        return done(l, method, p);
                    }
                    b'%' => {
                        l.quoted = true;
                        state = Ls::Uri;
                    }
                    b'?' => {
                        l.args_start = Some(p + 1);
                        state = Ls::Uri;
                    }
                    b'#' => {
                        l.complex = true;
                        state = Ls::Uri;
                    }
                    b'+' => l.plus = true,
                    _ if ch < 0x20 || ch == 0x7f => {
                        return LineStep::Invalid(LineError::Request);
                    }
                    _ => {}
                }
            }
            Ls::Uri => {
                if USUAL[usize::from(ch)] {
                    p += 1;
                    while p < limit && USUAL[usize::from(buf[p])] {
                        p += 1;
                    }
                    continue;
                }
                match ch {
                    b' ' => {
                        l.uri_end = p;
                        state = Ls::Http09;
                    }
                    CR => {
                        l.uri_end = p;
                        l.minor = 9;
                        state = Ls::AlmostDone;
                    }
                    LF => {
                        l.uri_end = p;
                        l.minor = 9;
                        return done(l, method, p);
                    }
                    b'#' => l.complex = true,
                    _ if ch < 0x20 || ch == 0x7f => {
                        return LineStep::Invalid(LineError::Request);
                    }
                    _ => {}
                }
            }
            Ls::Http09 => match ch {
                b' ' => {}
                CR => {
                    l.minor = 9;
                    state = Ls::AlmostDone;
                }
                LF => {
                    l.minor = 9;
                    return done(l, method, p);
                }
                b'H' => {
                    l.protocol_start = Some(p);
                    state = Ls::HttpH;
                }
                _ => return LineStep::Invalid(LineError::Request),
            },
            Ls::HttpH | Ls::HttpHt | Ls::HttpHtt | Ls::HttpHttp => {
                let (want, next) = match state {
                    Ls::HttpH => (b'T', Ls::HttpHt),
                    Ls::HttpHt => (b'T', Ls::HttpHtt),
                    Ls::HttpHtt => (b'P', Ls::HttpHttp),
                    _ => (b'/', Ls::FirstMajorDigit),
                };
                if ch != want {
                    return LineStep::Invalid(LineError::Request);
                }
                state = next;
            }
            Ls::FirstMajorDigit => {
                if !(b'1'..=b'9').contains(&ch) {
                    return LineStep::Invalid(LineError::Request);
                }
                l.major = u16::from(ch - b'0');
                if l.major > 1 {
                    return LineStep::Invalid(LineError::Version);
                }
                state = Ls::MajorDigit;
            }
            Ls::MajorDigit => {
                if ch == b'.' {
                    state = Ls::FirstMinorDigit;
                } else if ch.is_ascii_digit() {
                    l.major = l.major * 10 + u16::from(ch - b'0');
                    if l.major > 1 {
                        return LineStep::Invalid(LineError::Version);
                    }
                } else {
                    return LineStep::Invalid(LineError::Request);
                }
            }
            Ls::FirstMinorDigit => {
                if !ch.is_ascii_digit() {
                    return LineStep::Invalid(LineError::Request);
                }
                l.minor = u16::from(ch - b'0');
                state = Ls::MinorDigit;
            }
            Ls::MinorDigit => match ch {
                CR => state = Ls::AlmostDone,
                LF => return done(l, method, p),
                b' ' => state = Ls::SpacesAfterDigit,
                b'0'..=b'9' => {
                    if l.minor > 99 {
                        return LineStep::Invalid(LineError::Request);
                    }
                    l.minor = l.minor * 10 + u16::from(ch - b'0');
                }
                _ => return LineStep::Invalid(LineError::Request),
            },
            Ls::SpacesAfterDigit => match ch {
                b' ' => {}
                CR => state = Ls::AlmostDone,
                LF => return done(l, method, p),
                _ => return LineStep::Invalid(LineError::Request),
            },
            Ls::AlmostDone => {
                l.request_end = Some(p - 1);
                if ch != LF {
                    return LineStep::Invalid(LineError::Request);
                }
                return done(l, method, p);
            }
        }
        p += 1;
    }

    LineStep::Again(match state {
        Ls::Start => None,
        _ => Some(l.start),
    })
}

/// The request line ended with the LF at `p`.
fn done(mut l: Line, method: Method, p: usize) -> LineStep {
    l.end = p + 1;
    if l.request_end.is_none() {
        l.request_end = Some(p);
    }
    if l.major == 0 && l.minor == 9 && method != Method::Get {
        return LineStep::Invalid(LineError::Method09);
    }
    LineStep::Done(l, method)
}

// ---------------------------------------------------------------------------------------------
// Header lines (ngx_http_parse_header_line)
// ---------------------------------------------------------------------------------------------

enum HeaderStep {
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

/// Runs nginx's header-line state machine over `buf[start..limit]`.
fn header_line(buf: &[u8], start: usize, limit: usize, underscores: bool) -> HeaderStep {
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

// ---------------------------------------------------------------------------------------------
// The head (ngx_http_process_request_line / _headers / _header)
// ---------------------------------------------------------------------------------------------

/// Headers with a handler in nginx's `ngx_http_headers_in` table that matter here.
#[derive(Clone, Copy)]
enum Known {
    Host,
    Connection,
    UserAgent,
    Upgrade,
    /// `ngx_http_process_unique_header_line`: a second line is a 400. Index into `UNIQUE`.
    Unique(usize),
    Other,
}

const UNIQUE: [&[u8]; 10] = [
    b"if-modified-since",
    b"if-unmodified-since",
    b"if-match",
    b"if-none-match",
    b"content-length",
    b"content-range",
    b"if-range",
    b"transfer-encoding",
    b"expect",
    b"authorization",
];
const CONTENT_LENGTH: usize = 4;
const TRANSFER_ENCODING: usize = 7;
const EXPECT: usize = 8;

fn known(name: &[u8]) -> Known {
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    let unique = |i: usize| {
        if is(UNIQUE[i]) {
            Known::Unique(i)
        } else {
            Known::Other
        }
    };
    match name.len() {
        4 if is(b"host") => Known::Host,
        6 => unique(EXPECT),
        7 if is(b"upgrade") => Known::Upgrade,
        8 if is(b"if-match") => Known::Unique(2),
        8 => unique(6),
        10 if is(b"connection") => Known::Connection,
        10 if is(b"user-agent") => Known::UserAgent,
        13 if is(b"if-none-match") => Known::Unique(3),
        13 if is(b"content-range") => Known::Unique(5),
        13 => unique(9),
        14 => unique(CONTENT_LENGTH),
        17 if is(b"if-modified-since") => Known::Unique(0),
        17 => unique(TRANSFER_ENCODING),
        19 => unique(1),
        _ => Known::Other,
    }
}

fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// nginx caps a logged header line at NGX_MAX_ERROR_STR - 300 bytes.
const MAX_LOGGED_LINE: usize = 2048 - 300;

fn invalid_request(e: LineError) -> Reject {
    match e {
        LineError::Method => Reject::BadRequest(Cow::Borrowed("client sent invalid method")),
        LineError::Request => Reject::BadRequest(Cow::Borrowed("client sent invalid request")),
        LineError::Version => Reject::VersionNotSupported,
        LineError::Method09 => {
            Reject::Http09BadRequest("client sent invalid method in HTTP/0.9 request")
        }
    }
}

/// The whole parse over a plain slice; `Ok(None)` = nginx would still be reading. On a
/// rejection, `stash` receives the request as nginx knew it at that point (see
/// [`rejected_head`]), and so does an incomplete head once its request line is complete;
/// `RequestHead::buf` is left empty for the caller to set.
fn scan(
    buf: &[u8],
    limits: &Limits,
    state: BufferState,
    stash: &mut Option<RequestHead>,
) -> Result<Option<RequestHead>, Reject> {
    let mut bufs = Buffers::new(limits, state);

    // The request line. Each time the current buffer fills up with the line incomplete, nginx
    // either recycles it (nothing but CR/LF so far) or moves the line to a large buffer.
    let mut from = 0;
    let (line, method) = loop {
        let limit = bufs.end.min(buf.len());
        match request_line(buf, from, limit) {
            LineStep::Done(line, method) => break (line, method),
            LineStep::Invalid(e) => {
                // nginx logs the line from its first byte to the first CR/LF read so far
                let start = from
                    + buf[from..limit]
                        .iter()
                        .position(|&c| c != CR && c != LF)
                        .unwrap_or(limit - from);
                let end = buf[start..limit]
                    .iter()
                    .position(|&c| c == CR || c == LF)
                    .map_or(limit, |n| start + n);
                *stash = Some(RequestHead::stand_in(
                    Bytes::new(),
                    start..end,
                    e == LineError::Method09,
                ));
                return Err(invalid_request(e));
            }
            LineStep::Again(_) if limit < bufs.end => return Ok(None),
            LineStep::Again(None) => {
                // "the client fills up the buffer with \r\n": reuse it from its start
                from = bufs.end;
                bufs.end += if bufs.large {
                    bufs.large_size
                } else {
                    bufs.client_size
                };
            }
            LineStep::Again(Some(request_start)) => {
                if !bufs.take_large(request_start) {
                    *stash = Some(RequestHead::stand_in(
                        Bytes::new(),
                        request_start..bufs.end,
                        false,
                    ));
                    return Err(Reject::UriTooLong);
                }
                from = request_start;
            }
        }
    };

    let http09 = line.major == 0;
    let request_end = line.request_end.unwrap_or(line.end - 1);
    let mut head = RequestHead {
        buf: Bytes::new(),
        method,
        method_name: line.start..line.method_end,
        request_line: line.start..request_end,
        unparsed_uri: line.uri_start..line.uri_start,
        uri: Vec::new(),
        args: None,
        quoted_uri: line.quoted,
        complex_uri: line.complex,
        plus_in_uri: line.plus,
        valid_unparsed_uri: !line.empty_path,
        http_major: line.major,
        http_minor: line.minor,
        http09,
        http_protocol: line
            .protocol_start
            .map_or(request_end..request_end, |s| s..request_end),
        absolute_host: None,
        headers: Vec::new(),
        invalid_headers: Vec::new(),
        host: None,
        host_header: None,
        content_length: None,
        chunked: false,
        connection_close: false,
        connection_keep_alive: false,
        connection_upgrade: false,
        upgrade: None,
        expect_continue: false,
        browser: Browser::default(),
        head_len: line.end,
        request_length: line.end - line.start,
        buffer: BufferState {
            room: bufs.end - line.end,
            large: bufs.large,
        },
    };
    macro_rules! reject {
        ($e:expr) => {{
            let e = $e;
            *stash = Some(head);
            return Err(e);
        }};
    }
    let reject_line = |msg: &'static str| {
        if http09 {
            Reject::Http09BadRequest(msg)
        } else {
            Reject::BadRequest(Cow::Borrowed(msg))
        }
    };

    // ngx_http_process_request_uri
    let raw = &buf[line.uri_start..line.uri_end];
    if line.complex || line.quoted || line.empty_path {
        match complex_uri(raw, line.empty_path, limits.merge_slashes) {
            Ok(c) => {
                head.uri = c.uri;
                head.args = c
                    .args
                    .map(|a| line.uri_start + a.start..line.uri_start + a.end);
                head.quoted_uri |= c.quoted;
                head.plus_in_uri |= c.plus;
            }
            Err(()) => reject!(reject_line("client sent invalid request")),
        }
    } else if let Some(a) = line.args_start {
        head.uri = buf[line.uri_start..a - 1].to_vec();
        head.args = Some(a..line.uri_end);
    } else {
        head.uri = raw.to_vec();
    }
    head.args = head.args.filter(|a| !a.is_empty());
    head.unparsed_uri = line.uri_start..line.uri_end;

    if let Some(h) = &line.host {
        match validate_host(&buf[h.clone()]) {
            Some(host) => {
                head.host = Some(host.clone());
                head.absolute_host = Some(host);
            }
            None => reject!(reject_line("client sent invalid host in request line")),
        }
    }

    if http09 {
        // HTTP/0.9 has no headers: the request is processed right after its line (S2.7)
        return Ok(Some(head));
    }
    head.headers.reserve(16);

    // The header lines.
    let mut p = line.end;
    let mut last_line_start: Option<usize> = None;
    let mut unique: [Option<usize>; UNIQUE.len()] = [None; UNIQUE.len()];
    let mut user_agent_seen = false;
    loop {
        let limit = bufs.end.min(buf.len());
        match header_line(buf, p, limit, limits.underscores_in_headers) {
            HeaderStep::Done(end) => {
                head.request_length += end - p;
                head.head_len = end;
                break;
            }
            HeaderStep::Invalid { header_end } => {
                reject!(Reject::BadRequest(Cow::Owned(format!(
                    "client sent invalid header line: \"{}\\x{:02x}...\"",
                    text(&buf[p..header_end]),
                    buf[header_end]
                ))));
            }
            HeaderStep::Line {
                name,
                value,
                header_end,
                invalid,
                end,
            } => {
                last_line_start = Some(p);
                head.request_length += end - p;
                head.head_len = end;
                p = end;
                if invalid && limits.ignore_invalid_headers {
                    head.invalid_headers.push(name.start..header_end);
                    continue;
                }
                let index = head.headers.len();
                head.headers.push(Header {
                    name: name.clone(),
                    value: value.clone(),
                });
                let value = &buf[value];
                match known(&buf[name]) {
                    Known::Host => {
                        if let Some(prev) = head.host_header {
                            reject!(duplicate("host header", &head, buf, index, prev));
                        }
                        head.host_header = Some(index);
                        match validate_host(value) {
                            Some(host) => {
                                if head.host.is_none() {
                                    head.host = Some(host);
                                }
                            }
                            None => reject!(Reject::BadRequest(Cow::Borrowed(
                                "client sent invalid host header"
                            ))),
                        }
                    }
                    Known::Connection => {
                        if contains_ignore_case(value, b"close") {
                            head.connection_close = true;
                            head.connection_keep_alive = false;
                        } else if contains_ignore_case(value, b"keep-alive") {
                            head.connection_close = false;
                            head.connection_keep_alive = true;
                        }
                        if contains_ignore_case(value, b"upgrade") {
                            head.connection_upgrade = true;
                        }
                    }
                    Known::UserAgent => {
                        if !user_agent_seen {
                            user_agent_seen = true;
                            head.browser = browser(value);
                        }
                    }
                    Known::Upgrade => {
                        if head.upgrade.is_none() {
                            head.upgrade = Some(index);
                        }
                    }
                    Known::Unique(slot) => match unique[slot] {
                        Some(prev) => {
                            reject!(duplicate("header line", &head, buf, index, prev));
                        }
                        None => unique[slot] = Some(index),
                    },
                    Known::Other => {}
                }
            }
            HeaderStep::Again if limit < bufs.end => {
                // Incomplete: what is known so far, for a timeout or a close (408/400 logs).
                *stash = Some(head);
                return Ok(None);
            }
            HeaderStep::Again => {
                // the buffer is full: a line never spans buffers
                if p == bufs.end {
                    // between lines: a new large buffer, nothing to move
                    if bufs.left > 0 {
                        bufs.left -= 1;
                        bufs.large = true;
                        bufs.end = p + bufs.large_size;
                        continue;
                    }
                    // nginx logs the last line it parsed, if any, as the "too long" one
                    reject!(match last_line_start {
                        Some(start) => too_long_header_line(buf, start, bufs.end),
                        None =>
                            Reject::HeaderTooLarge(Cow::Borrowed("client sent too large request",)),
                    });
                }
                if !bufs.take_large(p) {
                    reject!(too_long_header_line(buf, p, bufs.end));
                }
            }
        }
    }
    head.buffer = BufferState {
        room: bufs.end - head.head_len,
        large: bufs.large,
    };

    // ngx_http_process_request_header
    if head.host_header.is_none() && head.http_version() > 1000 {
        reject!(Reject::BadRequest(Cow::Borrowed(
            "client sent HTTP/1.1 request without \"Host\" header",
        )));
    }
    if let Some(i) = unique[CONTENT_LENGTH] {
        match parse_content_length(value_of(buf, &head.headers, i)) {
            Some(n) => head.content_length = Some(n),
            None => reject!(Reject::BadRequest(Cow::Borrowed(
                "client sent invalid \"Content-Length\" header",
            ))),
        }
    }
    if let Some(i) = unique[TRANSFER_ENCODING] {
        if head.http_version() < 1001 {
            reject!(Reject::BadRequest(Cow::Borrowed(
                "client sent HTTP/1.0 request with \"Transfer-Encoding\" header",
            )));
        }
        let te = value_of(buf, &head.headers, i);
        if !te.eq_ignore_ascii_case(b"chunked") {
            reject!(Reject::NotImplemented(Cow::Owned(format!(
                "client sent unknown \"Transfer-Encoding\": \"{}\"",
                text(te)
            ))));
        }
        if head.content_length.is_some() {
            reject!(Reject::BadRequest(Cow::Borrowed(
                "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time",
            )));
        }
        head.chunked = true;
    }
    match head.method {
        Method::Connect => reject!(Reject::NotAllowed("client sent CONNECT method")),
        Method::Trace => reject!(Reject::NotAllowed("client sent TRACE method")),
        _ => {}
    }
    if let Some(i) = unique[EXPECT] {
        head.expect_continue = head.http_version() >= 1001
            && value_of(buf, &head.headers, i).eq_ignore_ascii_case(b"100-continue");
    }

    Ok(Some(head))
}

/// The value of header `i` while the head is being built (`RequestHead::buf` is not set yet).
fn value_of<'b>(buf: &'b [u8], headers: &[Header], i: usize) -> &'b [u8] {
    &buf[headers[i].value.clone()]
}

fn duplicate(what: &str, head: &RequestHead, buf: &[u8], new: usize, prev: usize) -> Reject {
    let field = |i: usize| {
        let h: &Header = &head.headers[i];
        (text(&buf[h.name.clone()]), text(&buf[h.value.clone()]))
    };
    let ((name, value), (prev_name, prev_value)) = (field(new), field(prev));
    Reject::BadRequest(Cow::Owned(format!(
        "client sent duplicate {what}: \"{name}: {value}\", previous value: \"{prev_name}: {prev_value}\""
    )))
}

fn too_long_header_line(buf: &[u8], start: usize, end: usize) -> Reject {
    let end = end.min(start + MAX_LOGGED_LINE).min(buf.len());
    Reject::HeaderTooLarge(Cow::Owned(format!(
        "client sent too long header line: \"{}...\"",
        text(&buf[start..end])
    )))
}

/// `ngx_atoof`: digits only, not empty, at most `i64::MAX`.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &c| {
        if !c.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(c - b'0')))
            .filter(|&n| n <= i64::MAX as u64)
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// `ngx_http_process_user_agent`. nginx runs one `strstr` per browser; the same first
/// occurrences are found here in a single pass over the value.
fn browser(ua: &[u8]) -> Browser {
    const MSIE: usize = 0;
    const OPERA: usize = 1;
    const GECKO: usize = 2;
    const CHROME: usize = 3;
    const SAFARI: usize = 4;
    const MAC_OS_X: usize = 5;
    const KONQUEROR: usize = 6;
    const NEEDLES: [&[u8]; 7] = [
        b"MSIE ",
        b"Opera",
        b"Gecko/",
        b"Chrome/",
        b"Safari/",
        b"Mac OS X",
        b"Konqueror",
    ];
    let mut at: [Option<usize>; 7] = [None; 7];
    for (i, &c) in ua.iter().enumerate() {
        if !matches!(c, b'M' | b'O' | b'G' | b'C' | b'S' | b'K') {
            continue;
        }
        for (k, needle) in NEEDLES.iter().enumerate() {
            if at[k].is_none() && needle[0] == c && ua[i..].starts_with(needle) {
                at[k] = Some(i);
            }
        }
    }

    let mut b = Browser::default();
    if let Some(m) = at[MSIE].filter(|&m| m + 7 < ua.len()) {
        b.msie = true;
        if ua[m + 6] == b'.' {
            match ua[m + 5] {
                b'4' | b'5' => b.msie6 = true,
                b'6' if !contains(&ua[m + 8..], b"SV1") => b.msie6 = true,
                _ => {}
            }
        }
    }
    if at[OPERA].is_some() {
        b.opera = true;
        b.msie = false;
        b.msie6 = false;
    }
    if !b.msie && !b.opera {
        if at[GECKO].is_some() {
            b.gecko = true;
        } else if at[CHROME].is_some() {
            b.chrome = true;
        } else if at[SAFARI].is_some() && at[MAC_OS_X].is_some() {
            b.safari = true;
        } else if at[KONQUEROR].is_some() {
            b.konqueror = true;
        }
    }
    b
}

// ---------------------------------------------------------------------------------------------
// Host (ngx_http_validate_host)
// ---------------------------------------------------------------------------------------------

/// S2.6: lowercases, cuts the port at the first `:` outside a leading `[...]`, keeps the
/// brackets, strips one trailing dot. `None` (nginx: 400) for `..`, `/`, a byte <= 0x20 or DEL
/// anywhere in the value (port included), or an empty result.
pub fn validate_host(host: &[u8]) -> Option<Vec<u8>> {
    #[derive(PartialEq, Eq)]
    enum S {
        Usual,
        Literal,
        Rest,
    }
    let mut state = S::Usual;
    let mut dot: Option<usize> = None;
    let mut len = host.len();

    for (i, &ch) in host.iter().enumerate() {
        match ch {
            b'.' => {
                if i > 0 && dot == Some(i - 1) {
                    return None;
                }
                dot = Some(i);
            }
            b':' if state == S::Usual => {
                len = i;
                state = S::Rest;
            }
            b'[' if i == 0 => state = S::Literal,
            b']' if state == S::Literal => {
                len = i + 1;
                state = S::Rest;
            }
            b'/' | 0..=0x20 | 0x7f => return None,
            _ => {}
        }
    }
    // the last dot anywhere (even in the port) decides, as in nginx
    if len > 0 && dot == Some(len - 1) {
        len -= 1;
    }
    if len == 0 {
        return None;
    }
    Some(host[..len].to_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------------
// URI (ngx_http_parse_complex_uri)
// ---------------------------------------------------------------------------------------------

struct Complex {
    uri: Vec<u8>,
    /// Relative to the input.
    args: Option<Range<usize>>,
    quoted: bool,
    plus: bool,
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

/// S3.1: decodes `%XX` (`%2F` included), removes `/./`, resolves `/../` (above the root: error),
/// merges `//` when `merge_slashes`, refuses `%00` and a broken escape, and ends the path at the
/// first raw `?` or `#` (a decoded `%3F` or `%23` stays part of the path).
#[allow(clippy::result_unit_err)]
pub fn normalize_uri(raw_path: &[u8], merge_slashes: bool) -> Result<Vec<u8>, ()> {
    complex_uri(raw_path, false, merge_slashes).map(|c| c.uri)
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

/// One byte (raw, or decoded from `%XX`) through the path states.
fn uri_step(
    state: &mut Us,
    quoted_state: &mut Us,
    out: &mut Vec<u8>,
    plus: &mut bool,
    merge_slashes: bool,
    ch: u8,
) -> Result<Flow, ()> {
    let usual = USUAL[usize::from(ch)];
    match *state {
        Us::Usual => {
            if usual {
                out.push(ch);
                return Ok(Flow::Next);
            }
            match ch {
                b'/' => {
                    *state = Us::Slash;
                    out.push(ch);
                }
                b'%' => {
                    *quoted_state = Us::Usual;
                    *state = Us::Quoted;
                }
                b'?' => return Ok(Flow::Args),
                b'#' => return Ok(Flow::Fragment),
                _ => {
                    *plus |= ch == b'+';
                    out.push(ch);
                }
            }
        }
        Us::Slash => {
            if usual {
                *state = Us::Usual;
                out.push(ch);
                return Ok(Flow::Next);
            }
            match ch {
                b'/' => {
                    if !merge_slashes {
                        out.push(ch);
                    }
                }
                b'.' => {
                    *state = Us::Dot;
                    out.push(ch);
                }
                b'%' => {
                    *quoted_state = Us::Slash;
                    *state = Us::Quoted;
                }
                b'?' => return Ok(Flow::Args),
                b'#' => return Ok(Flow::Fragment),
                _ => {
                    *plus |= ch == b'+';
                    *state = Us::Usual;
                    out.push(ch);
                }
            }
        }
        Us::Dot => {
            if usual {
                *state = Us::Usual;
                out.push(ch);
                return Ok(Flow::Next);
            }
            match ch {
                b'/' => {
                    *state = Us::Slash;
                    out.pop();
                }
                b'.' => {
                    *state = Us::DotDot;
                    out.push(ch);
                }
                b'%' => {
                    *quoted_state = Us::Dot;
                    *state = Us::Quoted;
                }
                b'?' => {
                    out.pop();
                    return Ok(Flow::Args);
                }
                b'#' => {
                    out.pop();
                    return Ok(Flow::Fragment);
                }
                _ => {
                    *plus |= ch == b'+';
                    *state = Us::Usual;
                    out.push(ch);
                }
            }
        }
        Us::DotDot => {
            if usual {
                *state = Us::Usual;
                out.push(ch);
                return Ok(Flow::Next);
            }
            match ch {
                b'/' | b'?' | b'#' => {
                    dot_dot(out)?;
                    match ch {
                        b'?' => return Ok(Flow::Args),
                        b'#' => return Ok(Flow::Fragment),
                        _ => *state = Us::Slash,
                    }
                }
                b'%' => {
                    *quoted_state = Us::DotDot;
                    *state = Us::Quoted;
                }
                _ => {
                    *plus |= ch == b'+';
                    *state = Us::Usual;
                    out.push(ch);
                }
            }
        }
        // the escape states are handled by the caller, on raw bytes only
        Us::Quoted | Us::QuotedSecond => return Err(()),
    }
    Ok(Flow::Next)
}

fn hex_value(ch: u8) -> Option<(u8, bool)> {
    match ch {
        b'0'..=b'9' => Some((ch - b'0', true)),
        b'a'..=b'f' => Some((ch - b'a' + 10, false)),
        b'A'..=b'F' => Some((ch - b'A' + 10, false)),
        _ => None,
    }
}

/// `ngx_http_parse_complex_uri` over a whole unparsed URI (path, then maybe `?args`, `#frag`).
fn complex_uri(raw: &[u8], empty_path: bool, merge_slashes: bool) -> Result<Complex, ()> {
    let mut out = Vec::with_capacity(raw.len() + usize::from(empty_path));
    if empty_path {
        out.push(b'/');
    }
    let mut state = Us::Usual;
    let mut quoted_state = Us::Usual;
    let mut decoded = 0u8;
    let mut quoted = false;
    let mut plus = false;
    let mut args = None;

    let mut i = 0;
    while i < raw.len() {
        let ch = raw[i];
        i += 1;
        let flow = match state {
            Us::Quoted => {
                quoted = true;
                decoded = hex_value(ch).ok_or(())?.0;
                state = Us::QuotedSecond;
                continue;
            }
            Us::QuotedSecond => {
                let (low, digit) = hex_value(ch).ok_or(())?;
                let c = (decoded << 4) + low;
                // nginx keeps a decoded `%`, `#` and `?` as plain path bytes, and refuses NUL
                if (digit && (c == b'%' || c == b'#')) || (!digit && c == b'?') {
                    state = Us::Usual;
                    out.push(c);
                    continue;
                }
                if c == 0 {
                    return Err(());
                }
                plus |= c == b'+';
                state = quoted_state;
                uri_step(
                    &mut state,
                    &mut quoted_state,
                    &mut out,
                    &mut plus,
                    merge_slashes,
                    c,
                )?
            }
            _ => uri_step(
                &mut state,
                &mut quoted_state,
                &mut out,
                &mut plus,
                merge_slashes,
                ch,
            )?,
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
                return Ok(Complex {
                    uri: out,
                    args,
                    quoted,
                    plus,
                });
            }
            Flow::Fragment => {
                return Ok(Complex {
                    uri: out,
                    args,
                    quoted,
                    plus,
                });
            }
        }
    }

    match state {
        Us::Quoted | Us::QuotedSecond => return Err(()),
        Us::Dot => {
            out.pop();
        }
        Us::DotDot => dot_dot(&mut out)?,
        Us::Usual | Us::Slash => {}
    }
    Ok(Complex {
        uri: out,
        args,
        quoted,
        plus,
    })
}

// ---------------------------------------------------------------------------------------------
// ngx_escape_uri, ngx_http_arg
// ---------------------------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(req: &[u8], limits: &Limits) -> Result<Parse, Reject> {
        parse(req, limits)
    }

    fn ok_with(req: &[u8], limits: &Limits) -> RequestHead {
        match run(req, limits) {
            Ok(Parse::Complete(h)) => h,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(req)),
        }
    }

    fn ok(req: &[u8]) -> RequestHead {
        ok_with(req, &Limits::default())
    }

    fn err_with(req: &[u8], limits: &Limits) -> Reject {
        match run(req, limits) {
            Err(e) => e,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(req)),
        }
    }

    fn err(req: &[u8]) -> Reject {
        err_with(req, &Limits::default())
    }

    fn partial(req: &[u8]) -> bool {
        matches!(run(req, &Limits::default()), Ok(Parse::Partial))
    }

    fn bad(msg: &str) -> Reject {
        Reject::BadRequest(Cow::Owned(msg.to_owned()))
    }

    /// `GET <target> HTTP/1.1` with a Host header.
    fn get(target: &str) -> RequestHead {
        ok(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
    }

    fn get_err(target: &str) -> Reject {
        err(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
    }

    fn s(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn hot_path_get_with_eight_headers() {
        let req = b"GET /index.html?x=1&a=2 HTTP/1.1\r\n\
            Host: Example.COM:8080\r\n\
            User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n\
            Accept: */*\r\n\
            Accept-Language: en\r\n\
            Accept-Encoding: gzip\r\n\
            Connection: keep-alive\r\n\
            Cookie: a=1\r\n\
            Referer: http://example.com/\r\n\
            \r\nPIPELINED";
        let h = ok(req);
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.method_name(), b"GET");
        assert_eq!(h.request_line(), b"GET /index.html?x=1&a=2 HTTP/1.1");
        assert_eq!(h.request_uri(), b"/index.html?x=1&a=2");
        assert_eq!(h.uri, b"/index.html");
        assert_eq!(h.args(), b"x=1&a=2");
        assert_eq!(h.is_args(), b"?");
        assert_eq!(h.protocol(), b"HTTP/1.1");
        assert_eq!((h.http_major, h.http_minor, h.http_version()), (1, 1, 1001));
        assert!(!h.http09 && !h.quoted_uri && !h.complex_uri && h.valid_unparsed_uri);
        assert_eq!(h.headers.len(), 8);
        assert_eq!(h.header(0), (&b"Host"[..], &b"Example.COM:8080"[..]));
        assert_eq!(h.host.as_deref(), Some(&b"example.com"[..]));
        assert_eq!(h.host_header_value(), Some(&b"Example.COM:8080"[..]));
        assert_eq!(h.find(b"cookie"), Some(&b"a=1"[..]));
        assert_eq!(h.find(b"x-missing"), None);
        assert!(h.connection_keep_alive && !h.connection_close && h.keepalive());
        assert!(h.browser.gecko && !h.browser.chrome);
        assert_eq!(h.content_length, None);
        assert!(!h.chunked && !h.expect_continue);
        assert_eq!(h.head_len, req.len() - b"PIPELINED".len());
        assert_eq!(h.request_length, h.head_len);
        assert_eq!(&h.buf[..], &req[..h.head_len]);
        assert_eq!(arg(h.args(), b"a"), Some(&b"2"[..]));
    }

    #[test]
    fn parse_buf_splits_the_head_off() {
        let mut b = BytesMut::from(&b"GET / HTTP/1.0\r\n\r\nGET /2 HTTP/1.0\r\n"[..]);
        let limits = Limits::default();
        let Ok(Parse::Complete(h)) = parse_buf(&mut b, &limits, BufferState::fresh(&limits)) else {
            panic!()
        };
        assert_eq!(&h.buf[..], b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(&b[..], b"GET /2 HTTP/1.0\r\n");
        assert!(matches!(
            parse_buf(&mut b, &limits, h.buffer),
            Ok(Parse::Partial)
        ));
        assert_eq!(b.len(), 17);
    }

    // ----- S3.1 URI normalisation (verified against nginx 1.22.1, p03 + differential runs) -----

    #[test]
    fn s3_1_uri_normalisation() {
        for (target, uri, args) in [
            ("/%61/b", "/a/b", ""),
            ("/a%2Fb", "/a/b", ""),
            ("//images//x.gif", "/images/x.gif", ""),
            ("/images/./x.php", "/images/x.php", ""),
            ("/a%20b/../c?x=1&a=2", "/c", "x=1&a=2"),
            ("/a/b/..", "/a/", ""),
            ("/a/b/.", "/a/b/", ""),
            ("/a/b/..?q", "/a/", "q"),
            ("/a/b/.#q", "/a/b/", ""),
            ("/a/%2e%2e/b", "/b", ""),
            ("/a/%2E./b", "/b", ""),
            ("/a/.%2e", "/", ""),
            ("/a/...", "/a/...", ""),
            ("/a/.x/..y", "/a/.x/..y", ""),
            ("/%2F%2F", "/", ""),
            ("/a%3Fb?c=1", "/a?b", "c=1"),
            ("/a%3fb%23c%25d", "/a?b#c%d", ""),
            ("/a?b#c", "/a", "b"),
            ("/a#b?c", "/a", ""),
            ("/?#x", "/", ""),
            ("/%0a", "/\n", ""),
        ] {
            let h = get(target);
            assert_eq!(s(&h.uri), uri, "{target}");
            assert_eq!(s(h.args()), args, "{target}");
            assert_eq!(s(h.request_uri()), target);
        }
        // `/a/b/..?q`: the args were cut before decoding, `?q` stays in $args
        assert_eq!(get("/a/b/..?q").args(), b"q");
        assert_eq!(get("/a/b/..?q").uri, b"/a/");
    }

    #[test]
    fn s3_1_invalid_uris_are_400() {
        for target in [
            "/../x", "/sp%00", "/%", "/%4", "/%4g", "/a/../..", "/%2e%2e",
        ] {
            assert_eq!(
                get_err(target),
                bad("client sent invalid request"),
                "{target}"
            );
        }
        // a broken escape in the query is not looked at
        assert_eq!(get("/a?%zz").args(), b"%zz");
        // control bytes are refused by the request-line parser itself
        assert_eq!(get_err("/a\x01"), bad("client sent invalid request"));
        assert_eq!(get_err("/a\x7f"), bad("client sent invalid request"));
    }

    #[test]
    fn s3_1_normalize_uri_api() {
        assert_eq!(normalize_uri(b"/a//b/./c/../d", true).unwrap(), b"/a/b/d");
        assert_eq!(normalize_uri(b"/a//b/./c/../d", false).unwrap(), b"/a//b/d");
        assert_eq!(normalize_uri(b"//x", false).unwrap(), b"//x");
        assert_eq!(normalize_uri(b"/a%3Fb?c", true).unwrap(), b"/a?b");
        assert_eq!(normalize_uri(b"/x#frag", true).unwrap(), b"/x");
        assert_eq!(normalize_uri(b"/a%2B", true).unwrap(), b"/a+");
        assert!(normalize_uri(b"/..", true).is_err());
        assert!(normalize_uri(b"/%00", true).is_err());
        assert_eq!(normalize_uri(b"", true).unwrap(), b"");
    }

    #[test]
    fn s3_1_merge_slashes_off() {
        let limits = Limits {
            merge_slashes: false,
            ..Limits::default()
        };
        let h = ok_with(b"GET //a//b HTTP/1.0\r\n\r\n", &limits);
        assert_eq!(h.uri, b"//a//b");
    }

    #[test]
    fn s4_2_request_targets_from_the_proxy_table() {
        let h = get("/nouri/a%20b//c/../d?x=%41&y");
        assert_eq!(h.request_uri(), b"/nouri/a%20b//c/../d?x=%41&y");
        assert_eq!(h.uri, b"/nouri/a b/d");
        assert_eq!(h.args(), b"x=%41&y");
        assert!(h.quoted_uri);
        let h = get("/slash/%2F%3F?x");
        assert_eq!(h.uri, b"/slash/?");
        assert_eq!(h.args(), b"x");
        let mut up = b"/".to_vec();
        escape_uri(&h.uri[b"/slash/".len()..], &mut up);
        assert_eq!(up, b"/%3F");
        assert_eq!(get("/slash/%7E%41").uri, b"/slash/~A");
        // `+` flags (rewrite escapes captures when set)
        assert!(get("/a+b").plus_in_uri);
        assert!(get("/a%2Bb").plus_in_uri);
        assert!(!get("/a?b+c").plus_in_uri);
        // quoted_uri is about the path only
        assert!(!get("/a?x=%41").quoted_uri);
        assert!(get("/a/./%41").quoted_uri);
        assert!(get("/a/./b").complex_uri);
    }

    #[test]
    fn s4_2_escape_set() {
        let escaped: Vec<u8> = (0..=255u8)
            .filter(|&c| {
                let mut out = Vec::new();
                escape_uri(&[c], &mut out);
                out.len() == 3
            })
            .collect();
        let mut expected: Vec<u8> = (0..=0x20).collect();
        expected.extend_from_slice(b"\"#%<>?\\^`{|}");
        expected.extend(0x7f..=0xff);
        expected.sort_unstable();
        assert_eq!(escaped, expected);
        let mut out = b"x".to_vec();
        escape_uri(b"/a b/\xc3\xa9?#%~", &mut out);
        assert_eq!(out, b"x/a%20b/%C3%A9%3F%23%25~");
    }

    #[test]
    fn ngx_http_arg() {
        let args = b"a=1&A=2&a=3";
        assert_eq!(arg(args, b"a"), Some(&b"1"[..]));
        assert_eq!(arg(args, b"A"), Some(&b"1"[..]));
        assert_eq!(arg(b"ba=1&a=2", b"a"), Some(&b"2"[..]));
        assert_eq!(arg(b"xa=1", b"a"), None);
        assert_eq!(arg(b"a", b"a"), None);
        assert_eq!(arg(b"a=", b"a"), Some(&b""[..]));
        assert_eq!(arg(b"a=&b=2", b"b"), Some(&b"2"[..]));
        assert_eq!(arg(b"token=abc", b"token"), Some(&b"abc"[..]));
        assert_eq!(arg(b"", b"a"), None);
        assert_eq!(arg(b"a=1", b""), None);
        assert_eq!(arg(b"aa=1&a=2", b"a"), Some(&b"2"[..]));
    }

    #[test]
    fn args_none_when_empty_like_nginx() {
        // nginx: `/?` has an empty $args and an empty $is_args (verified)
        let h = get("/?");
        assert_eq!(h.args, None);
        assert_eq!(h.is_args(), b"");
        assert_eq!(h.request_uri(), b"/?");
        assert_eq!(get("/").args, None);
        assert_eq!(get("/?a").args(), b"a");
    }

    // ----- S2.6 Host -----

    #[test]
    fn s2_6_validate_host() {
        for (raw, host) in [
            ("EXACT.Test.", Some("exact.test")),
            ("exact.test:9999", Some("exact.test")),
            ("[::1]:27080", Some("[::1]")),
            ("[::1", Some("[::1")),
            ("[::1]x:80", Some("[::1]")),
            ("a.b.:80", Some("a.b")),
            ("a.:8.0", Some("a.")), // the last dot anywhere decides, as nginx
            ("127.0.0.1", Some("127.0.0.1")),
            ("_", Some("_")),
            ("\u{e9}X", Some("\u{e9}x")),
            ("", None),
            (":80", None),
            (".", None),
            ("a..b", None),
            ("a/b", None),
            ("a\tb", None),
            ("a b", None),
            ("a:1..2", None),
            ("a\x7f", None),
        ] {
            assert_eq!(
                validate_host(raw.as_bytes()).as_deref(),
                host.map(str::as_bytes),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn s2_6_host_header_rules() {
        assert_eq!(
            err(b"GET / HTTP/1.1\r\n\r\n"),
            bad("client sent HTTP/1.1 request without \"Host\" header")
        );
        let h = ok(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!((h.host, h.host_header), (None, None));
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n"),
            bad("client sent invalid host header")
        );
        assert_eq!(
            err(b"GET / HTTP/1.0\r\nHost: \r\n\r\n"),
            bad("client sent invalid host header")
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n"),
            bad("client sent duplicate host header: \"HOST: b\", previous value: \"host: a\"")
        );
        // the first failing line decides
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\nHost: a..b\r\n\r\n"),
            bad(
                "client sent duplicate header line: \"Content-Length: 0\", previous value: \"Content-Length: 0\""
            )
        );
    }

    #[test]
    fn s2_4_absolute_form_host() {
        let h = ok(b"GET http://Ex.com:99/p?q HTTP/1.1\r\nHost: b\r\n\r\n");
        assert_eq!(h.absolute_host.as_deref(), Some(&b"ex.com"[..]));
        assert_eq!(h.host.as_deref(), Some(&b"ex.com"[..]));
        assert_eq!(h.host_header_value(), Some(&b"b"[..]));
        assert_eq!(h.request_uri(), b"/p?q");
        assert_eq!((&h.uri[..], h.args()), (&b"/p"[..], &b"q"[..]));
        // HTTP/1.1 still needs a Host header (verified)
        assert_eq!(
            err(b"GET http://Ex.com:99/p?q HTTP/1.1\r\n\r\n"),
            bad("client sent HTTP/1.1 request without \"Host\" header")
        );
        // an invalid Host header is refused even when the target names a host
        assert_eq!(
            err(b"GET http://a/p HTTP/1.1\r\nHost: bad..host\r\n\r\n"),
            bad("client sent invalid host header")
        );
        assert!(ok(b"GET https://x/ret HTTP/1.1\r\nHost: a\r\n\r\n").uri == b"/ret");
        // no path: nginx points $request_uri at a `/`
        let h = get("http://Ex.com:80");
        assert_eq!((h.request_uri(), &h.uri[..]), (&b"/"[..], &b"/"[..]));
        assert!(h.valid_unparsed_uri);
        let h = get("http://Ex.com?a=1");
        assert_eq!(h.request_uri(), b"?a=1");
        assert_eq!((&h.uri[..], h.args()), (&b"/"[..], &b"a=1"[..]));
        assert!(!h.valid_unparsed_uri);
        let h = get("http://[::1]:80/p");
        assert_eq!(h.host.as_deref(), Some(&b"[::1]"[..]));
        for target in [
            "http:///p",
            "http://a..b/p",
            "http://a:x/p",
            "http:/a/p",
            "http://a_b/p",
            "http://[::1]x/p",
        ] {
            let e = get_err(target);
            assert!(
                e == bad("client sent invalid request")
                    || e == bad("client sent invalid host in request line"),
                "{target}: {e:?}"
            );
        }
        assert_eq!(
            get_err("http:///p"),
            bad("client sent invalid host in request line")
        );
    }

    // ----- S2.7 HTTP/0.9 -----

    #[test]
    fn s2_7_http09() {
        let h = ok(b"GET /x?a=1\r\nrest");
        assert!(h.http09);
        assert_eq!((h.http_major, h.http_minor, h.http_version()), (0, 9, 9));
        assert_eq!(h.protocol(), b"");
        assert_eq!(h.request_line(), b"GET /x?a=1");
        assert_eq!(h.head_len, 12);
        assert!(h.headers.is_empty() && !h.keepalive());
        assert_eq!(ok(b"GET /\n").request_line(), b"GET /");
        assert_eq!(ok(b"GET / \r\n").request_line(), b"GET / ");
        // errors after the line is known to be 0.9 are answered 0.9-style (body only; verified)
        assert_eq!(
            err(b"POST /x\r\n"),
            Reject::Http09BadRequest("client sent invalid method in HTTP/0.9 request")
        );
        assert_eq!(
            err(b"HEAD /x\r\n"),
            Reject::Http09BadRequest("client sent invalid method in HTTP/0.9 request")
        );
        assert_eq!(
            err(b"GET /../\r\n"),
            Reject::Http09BadRequest("client sent invalid request")
        );
        assert_eq!(
            err(b"GET http://a..b/\r\n"),
            Reject::Http09BadRequest("client sent invalid host in request line")
        );
        assert_eq!(
            ok(b"GET http://Ex.Com./p\r\n").host.as_deref(),
            Some(&b"ex.com"[..])
        );
    }

    // ----- S13.11 malformed requests -----

    #[test]
    fn s13_11_methods() {
        assert_eq!(
            err(b"get / HTTP/1.1\r\nHost: a\r\n\r\n"),
            bad("client sent invalid method")
        );
        assert_eq!(
            err(b"G3T / HTTP/1.1\r\n"),
            bad("client sent invalid method")
        );
        assert_eq!(err(b"GET\r\n\r\n"), bad("client sent invalid method"));
        assert_eq!(
            err(b" GET / HTTP/1.1\r\n"),
            bad("client sent invalid method")
        );
        let h = ok(b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((h.method, h.method_name()), (Method::Other, &b"FOO"[..]));
        assert_eq!(
            ok(b"F_O-O / HTTP/1.1\r\nHost: a\r\n\r\n").method_name(),
            b"F_O-O"
        );
        for (name, m) in [
            ("GET", Method::Get),
            ("HEAD", Method::Head),
            ("POST", Method::Post),
            ("PUT", Method::Put),
            ("DELETE", Method::Delete),
            ("MKCOL", Method::Mkcol),
            ("COPY", Method::Copy),
            ("MOVE", Method::Move),
            ("OPTIONS", Method::Options),
            ("PROPFIND", Method::Propfind),
            ("PROPPATCH", Method::Proppatch),
            ("LOCK", Method::Lock),
            ("UNLOCK", Method::Unlock),
            ("PATCH", Method::Patch),
        ] {
            let h = ok(format!("{name} / HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            assert_eq!(h.method, m);
            assert_eq!(m.as_str(), Some(name));
        }
        assert_eq!(
            err(b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Reject::NotAllowed("client sent TRACE method")
        );
        assert_eq!(
            err(b"TRACE / HTTP/1.1\r\n\r\n"),
            bad("client sent HTTP/1.1 request without \"Host\" header")
        );
        assert_eq!(
            err(b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Reject::NotAllowed("client sent CONNECT method")
        );
        // authority-form and asterisk-form never get past the request-line parser
        assert_eq!(
            err(b"CONNECT h:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
            bad("client sent invalid request")
        );
        assert_eq!(
            err(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
            bad("client sent invalid request")
        );
    }

    #[test]
    fn s13_11_versions() {
        let h = ok(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n");
        assert_eq!((h.http_major, h.http_minor), (1, 2));
        assert_eq!(
            err(b"GET / HTTP/1.2\r\n\r\n"),
            bad("client sent HTTP/1.1 request without \"Host\" header")
        );
        assert_eq!(
            ok(b"GET / HTTP/1.01\r\nHost: a\r\n\r\n").http_version(),
            1001
        );
        assert_eq!(ok(b"GET / HTTP/1.999\r\nHost: a\r\n\r\n").http_minor, 999);
        assert_eq!(err(b"GET / HTTP/2.0\r\n"), Reject::VersionNotSupported);
        assert_eq!(err(b"GET / HTTP/10.0\r\n"), Reject::VersionNotSupported);
        assert_eq!(err(b"GET / HTTP/2"), Reject::VersionNotSupported);
        assert_eq!(Reject::VersionNotSupported.status(), 505);
        for line in [
            "GET / HTTP/0.9\r\n",
            "GET / HTTP/1.1000\r\n",
            "GET / HTTP/1\r\n",
            "GET / HTTP/1.\r\n",
            "GET / http/1.1\r\n",
            "GET / HTTP/1.1 x\r\n",
            "GET / HTTP/1.1\r\r\n",
            "GET / HTTP/1.1\rx",
            "GET / FOO\r\n",
        ] {
            assert_eq!(
                err(line.as_bytes()),
                bad("client sent invalid request"),
                "{line:?}"
            );
        }
        // spaces around the target and after the version are allowed, and kept in $request
        let h = ok(b"GET  /  HTTP/1.1  \r\nHost: a\r\n\r\n");
        assert_eq!(h.request_line(), b"GET  /  HTTP/1.1  ");
        assert_eq!(h.protocol(), b"HTTP/1.1  ");
        assert_eq!(h.request_uri(), b"/");
        // CR/LF before the request line are skipped
        let h = ok(b"\r\n\n\rGET / HTTP/1.0\r\n\r\n");
        assert_eq!(h.request_line(), b"GET / HTTP/1.0");
        assert_eq!(h.request_line.start, 4);
    }

    #[test]
    fn s13_11_bare_lf() {
        let h = ok(b"GET / HTTP/1.1\nHost: a\nX:v\n\n");
        assert_eq!(h.request_line(), b"GET / HTTP/1.1");
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.header(1), (&b"X"[..], &b"v"[..]));
    }

    #[test]
    fn s13_11_body_headers() {
        let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0012 \r\n\r\n");
        assert_eq!(h.content_length, Some(12));
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n")
                .content_length,
            Some(i64::MAX as u64)
        );
        for cl in ["abc", "", "+0", "-1", "\t0", "1 2", "9223372036854775808"] {
            assert_eq!(
                err(
                    format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {cl}\r\n\r\n")
                        .as_bytes()
                ),
                bad("client sent invalid \"Content-Length\" header"),
                "{cl:?}"
            );
        }
        assert_eq!(
            err(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            bad(
                "client sent duplicate header line: \"Content-Length: 2\", previous value: \"Content-Length: 1\""
            )
        );
        let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n");
        assert!(h.chunked);
        assert_eq!(h.content_length, None);
        assert_eq!(
            err(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            bad("client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time")
        );
        let e = err(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(e.status(), 501);
        assert_eq!(
            e.message(),
            "client sent unknown \"Transfer-Encoding\": \"gzip\""
        );
        assert_eq!(
            err(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").status(),
            501
        );
        assert_eq!(
            err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            bad("client sent HTTP/1.0 request with \"Transfer-Encoding\" header")
        );
    }

    #[test]
    fn s13_11_unique_headers() {
        for name in [
            "If-Modified-Since",
            "If-Unmodified-Since",
            "If-Match",
            "If-None-Match",
            "Content-Length",
            "Content-Range",
            "If-Range",
            "Transfer-Encoding",
            "Expect",
            "Authorization",
        ] {
            let lower = name.to_ascii_lowercase();
            let req = format!("GET / HTTP/1.1\r\nHost: a\r\n{name}: 1\r\n{lower}: 2\r\n\r\n");
            assert_eq!(
                err(req.as_bytes()),
                bad(&format!(
                    "client sent duplicate header line: \"{lower}: 2\", previous value: \"{name}: 1\""
                ))
            );
        }
        // repeatable ones
        let h = ok(b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: a\r\nUser-Agent: b\r\nUpgrade: x\r\nUpgrade: y\r\nCookie: a\r\nCookie: b\r\n\r\n");
        assert_eq!(h.upgrade, Some(3));
        assert_eq!(h.find_all(b"cookie").collect::<Vec<_>>(), [b"a", b"b"]);
    }

    // ----- S6.7 header lines -----

    #[test]
    fn s6_7_invalid_header_lines() {
        let h = ok(
            b"GET / HTTP/1.1\r\nHost: a\r\nX_Y: v\r\n_X: v\r\nX.Y: v\r\nX\xffY: v\r\nOK: 1\r\n\r\n",
        );
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.header(1), (&b"OK"[..], &b"1"[..]));
        let logged: Vec<&[u8]> = h
            .invalid_headers
            .iter()
            .map(|r| &h.buf[r.clone()])
            .collect();
        assert_eq!(logged, [&b"X_Y: v"[..], b"_X: v", b"X.Y: v", b"X\xffY: v"]);

        let underscores = Limits {
            underscores_in_headers: true,
            ..Limits::default()
        };
        let h = ok_with(
            b"GET / HTTP/1.1\r\nHost: a\r\nX_Y: v\r\nX.Y: v\r\n\r\n",
            &underscores,
        );
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.find(b"x_y"), Some(&b"v"[..]));

        let keep = Limits {
            ignore_invalid_headers: false,
            ..Limits::default()
        };
        let h = ok_with(
            b"GET / HTTP/1.1\r\nHost: a\r\nX_Y: v\r\nX.Y: w\r\n\r\n",
            &keep,
        );
        assert_eq!(h.headers.len(), 3);
        assert!(h.invalid_headers.is_empty());
    }

    #[test]
    fn s6_7_colonless_line_is_kept_with_an_empty_value() {
        // nginx keeps it and proxies it as `NoColon: ` (verified with an echo upstream)
        let h = ok(b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\nX:   v1 \t x  \r\nY:\r\n\r\n");
        assert_eq!(h.headers.len(), 4);
        assert_eq!(h.header(1), (&b"NoColon"[..], &b""[..]));
        assert_eq!(h.header(2), (&b"X"[..], &b"v1 \t x"[..]));
        assert_eq!(h.header(3), (&b"Y"[..], &b""[..]));
    }

    #[test]
    fn s6_7_fatal_header_lines() {
        for (line, msg) in [
            (
                "X-A : 1",
                "client sent invalid header line: \"X-A\\x20...\"",
            ),
            (
                "No Colon",
                "client sent invalid header line: \"No\\x20...\"",
            ),
            (": v", "client sent invalid header line: \"\\x3a...\""),
            (" X: v", "client sent invalid header line: \"\\x20...\""),
            ("\tX: v", "client sent invalid header line: \"\\x09...\""),
            ("X\x7f: v", "client sent invalid header line: \"X\\x7f...\""),
            (
                "X: a\x00b",
                "client sent invalid header line: \"X: a\\x00...\"",
            ),
            ("X:\x00", "client sent invalid header line: \"X:\\x00...\""),
            (
                "X: a \x00",
                "client sent invalid header line: \"X: a \\x00...\"",
            ),
            (
                "X: a\rb",
                "client sent invalid header line: \"X: a\\x0d...\"",
            ),
            (
                "X: a  \rb",
                "client sent invalid header line: \"X: a\\x20...\"",
            ),
            ("X\rb", "client sent invalid header line: \"X\\x0d...\""),
            ("\rX", "client sent invalid header line: \"\\x0d...\""),
        ] {
            let req = format!("GET / HTTP/1.1\r\nHost: a\r\n{line}\r\n\r\n");
            assert_eq!(err(req.as_bytes()), bad(msg), "{line:?}");
        }
        // extra CRs before the LF of a header line are tolerated
        assert_eq!(
            ok(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n").header(1),
            (&b"X"[..], &b"a"[..])
        );
    }

    #[test]
    fn s13_4_connection_and_expect() {
        let head = |extra: &str, version: &str| {
            ok(format!("GET / HTTP/{version}\r\nHost: a\r\n{extra}\r\n").as_bytes())
        };
        assert!(head("", "1.1").keepalive());
        assert!(!head("", "1.0").keepalive());
        assert!(!head("Connection: close\r\n", "1.1").keepalive());
        assert!(head("Connection: Keep-Alive\r\n", "1.0").keepalive());
        assert!(!head("Connection: keep-alive, close\r\n", "1.0").keepalive());
        assert!(!head("Connection: xclosex\r\nConnection: foo\r\n", "1.1").keepalive());
        assert!(head("Connection: close\r\nConnection: keep-alive\r\n", "1.0").keepalive());
        let h = head(
            "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n",
            "1.1",
        );
        assert!(h.connection_upgrade && h.connection_keep_alive);
        assert_eq!(h.upgrade, Some(2));
        assert!(head("Expect: 100-Continue\r\n", "1.1").expect_continue);
        assert!(!head("Expect: 100-continue\r\n", "1.0").expect_continue);
        assert!(!head("Expect: 100-continue, x\r\n", "1.1").expect_continue);
    }

    #[test]
    fn s13_5_browser_flags() {
        let ua = |v: &str| {
            ok(
                format!("GET / HTTP/1.0\r\nUser-Agent: {v}\r\nUser-Agent: Opera\r\n\r\n")
                    .as_bytes(),
            )
            .browser
        };
        let chrome = ua(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        );
        assert!(chrome.chrome && !chrome.gecko && !chrome.safari);
        let b = ua("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)");
        assert!(b.msie && b.msie6);
        let b = ua("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)");
        assert!(b.msie && !b.msie6);
        let b = ua("Mozilla/4.0 (compatible; MSIE 8.0)");
        assert!(b.msie && !b.msie6);
        assert!(!ua("xx MSIE 8").msie); // too short after "MSIE "
        let b = ua("Opera/9.80 (MSIE 6.0)");
        assert!(b.opera && !b.msie && !b.msie6);
        assert!(ua("Mozilla/5.0 (Macintosh; Mac OS X 10_15) AppleWebKit Safari/605").safari);
        assert!(ua("Mozilla/5.0 (compatible; Konqueror/4.0)").konqueror);
        assert_eq!(ua("curl/8.0"), Browser::default());
    }

    // ----- S13.10 header buffers (every number verified against nginx 1.22.1) -----

    fn request_line_of(len: usize) -> Vec<u8> {
        // "GET /" + path + " HTTP/1.1\r\n" is `len` bytes
        let mut r = b"GET /".to_vec();
        r.resize(len - 11, b'a');
        r.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        r
    }

    fn header_line_of(len: usize) -> Vec<u8> {
        // "X: " + value + "\r\n" is `len` bytes
        let mut r = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        r.resize(r.len() + len - 5, b'a');
        r.extend_from_slice(b"\r\n\r\n");
        r
    }

    fn headers_of_7000(count: usize) -> Vec<u8> {
        let mut r = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..count {
            r.extend_from_slice(format!("X{i}: ").as_bytes());
            r.resize(r.len() + 7000 - 6, b'a');
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"\r\n");
        r
    }

    #[test]
    fn s13_10_request_line_limits() {
        for len in [1020, 1030, 8180, 8191, 8192] {
            let h = ok(&request_line_of(len));
            assert_eq!(h.request_line().len(), len - 2);
        }
        for len in [8193, 8200] {
            assert_eq!(err(&request_line_of(len)), Reject::UriTooLong);
        }
        // CR/LF before the line are not moved to the large buffer
        let mut r = b"\r\n".repeat(600);
        r.extend_from_slice(&request_line_of(8192));
        ok(&r);
        let mut r = b"\r\n".repeat(600);
        r.extend_from_slice(&request_line_of(8193));
        assert_eq!(err(&r), Reject::UriTooLong);
        // the 414 comes as soon as the large buffer is full, without a line end
        let mut r = b"GET /".to_vec();
        r.resize(8192, b'a');
        assert_eq!(err(&r), Reject::UriTooLong);
        assert!(partial(&r[..8191]));
    }

    #[test]
    fn s13_10_header_line_limits() {
        for len in [6000, 7000, 8100, 8191, 8192] {
            assert_eq!(ok(&header_line_of(len)).header(1).1.len(), len - 5);
        }
        let e = err(&header_line_of(8193));
        assert_eq!(e.status(), 494);
        assert!(e
            .message()
            .starts_with("client sent too long header line: \"X: aaaa"));
        assert!(e.message().ends_with("aaa...\""));
        // nginx logs at most 1748 bytes of the line
        assert_eq!(
            e.message().len(),
            "client sent too long header line: \"...\"".len() + 1748
        );
    }

    #[test]
    fn s13_10_whole_head_limits() {
        ok(&headers_of_7000(3));
        ok(&headers_of_7000(4));
        let e = err(&headers_of_7000(5));
        assert!(matches!(e, Reject::HeaderTooLarge(_)));
        assert!(e
            .message()
            .starts_with("client sent too long header line: \"X4: aaa"));
        // garbage after an HTTP/1.0 request line: one endless header name
        let mut r = b"GET / HTTP/1.0\r\n".to_vec();
        r.resize(9000, b'a');
        assert!(err(&r)
            .message()
            .starts_with("client sent too long header line: \"aaaa"));
    }

    #[test]
    fn s13_10_small_buffers() {
        // client_header_buffer_size 100; large_client_header_buffers 1 8k (verified)
        let limits = Limits {
            client_header_buffer_size: 100,
            large_buffers: 1,
            ..Limits::default()
        };
        assert_eq!(
            err_with(&request_line_of(8192), &limits),
            Reject::HeaderTooLarge(Cow::Borrowed("client sent too large request"))
        );
        assert_eq!(
            err_with(&request_line_of(8191), &limits),
            Reject::HeaderTooLarge(Cow::Borrowed("client sent too long header line: \"H...\""))
        );
        ok_with(&request_line_of(100), &limits);
        let mut r = request_line_of(90);
        r.truncate(r.len() - 2);
        r.extend_from_slice(b"X: ");
        r.resize(r.len() + 50, b'b');
        r.extend_from_slice(b"\r\n\r\n");
        ok_with(&r, &limits);
        let mut r = request_line_of(90);
        r.truncate(r.len() - 2);
        r.extend_from_slice(b"X: ");
        r.resize(r.len() + 8000, b'b');
        r.extend_from_slice(b"\r\nY: ");
        r.resize(r.len() + 500, b'c');
        r.extend_from_slice(b"\r\n\r\n");
        assert!(err_with(&r, &limits)
            .message()
            .starts_with("client sent too long header line: \"Y: ccc"));
        let mut r = b"\r\n".repeat(150);
        r.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        ok_with(&r, &limits);
        let mut r = b"\r\n".repeat(45);
        r.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        ok_with(&r, &limits);
        // no large buffers at all
        let none = Limits {
            large_buffers: 0,
            ..Limits::default()
        };
        assert_eq!(err_with(&request_line_of(1025), &none), Reject::UriTooLong);
        assert!(matches!(
            err_with(&header_line_of(1100), &none),
            Reject::HeaderTooLarge(_)
        ));
    }

    #[test]
    fn s13_10_pipelined_requests_share_buffers() {
        // verified: after a head that ended in a large buffer, the next pipelined request
        // gets only 3 more large buffers
        let limits = Limits::default();
        let mut first = b"GET /1 HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        first.resize(first.len() + 2000, b'a');
        first.extend_from_slice(b"\r\n\r\n");
        let h = ok(&first);
        assert!(h.buffer.large);
        // the X line was moved to a large buffer from its start (offset 26)
        assert_eq!(h.buffer.room, 26 + 8192 - first.len());
        for (count, fits) in [(3, true), (4, false)] {
            let second = Bytes::from(headers_of_7000(count));
            match parse_bytes(&second, &limits, h.buffer) {
                Ok(Parse::Complete(_)) => assert!(fits),
                Err(Reject::HeaderTooLarge(m)) => {
                    assert!(!fits);
                    assert!(m.starts_with("client sent too long header line: \"X3: "));
                }
                other => panic!("{other:?}"),
            }
            assert!(matches!(parse(&second, &limits), Ok(Parse::Complete(_))));
        }
        // pipelined inside the 1k buffer: the line limit is still 8k (verified)
        let h = ok(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            h.buffer,
            BufferState {
                room: 1024 - 28,
                large: false
            }
        );
        let second = Bytes::from(request_line_of(8192));
        assert!(matches!(
            parse_bytes(&second, &limits, h.buffer),
            Ok(Parse::Complete(_))
        ));
        let second = Bytes::from(request_line_of(8193));
        assert_eq!(
            parse_bytes(&second, &limits, h.buffer).unwrap_err(),
            Reject::UriTooLong
        );
        assert_eq!(h.buffer.advance(2000).room, 0);
    }

    #[test]
    fn rejected_head_matches_nginx_access_log() {
        // [$request_length|$request_method|$request|$uri|$server_protocol|$args|$request_uri|
        //  $host|$http_host] as nginx 1.22.1 logged them for these rejected requests
        let l = Limits::default();
        let fresh = BufferState::fresh(&l);
        let view = |req: &[u8]| {
            let h = rejected_head(req, &l, fresh);
            format!(
                "{}|{}|{}|{}|{}|{}|{}|{}|{}",
                h.request_length,
                s(h.method_name()),
                String::from_utf8_lossy(&h.request_line()[..h.request_line().len().min(20)]),
                s(&h.uri),
                s(h.protocol()),
                s(h.args()),
                s(h.request_uri()),
                s(h.host.as_deref().unwrap_or(b"")),
                s(h.host_header_value().unwrap_or(b"")),
            )
        };
        assert_eq!(view(b"get / HTTP/1.1\r\n\r\n"), "0||get / HTTP/1.1||||||");
        assert_eq!(
            view(b"\r\n\r\nget / HTTP/1.1\r\n\r\n"),
            "0||get / HTTP/1.1||||||"
        );
        assert_eq!(view(b"GET / HTTP/2.0\r\n\r\n"), "0||GET / HTTP/2.0||||||");
        assert_eq!(view(b"POST /x\r\n"), "0||POST /x||||||");
        assert!(rejected_head(b"POST /x\r\n", &l, fresh).http09);
        assert_eq!(
            view(b"GET /a?b HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n"),
            "28|GET|GET /a?b HTTP/1.1|/a|HTTP/1.1|b|/a?b|x|x"
        );
        assert_eq!(
            view(b"GET /a?b HTTP/1.1\r\n\r\n"),
            "21|GET|GET /a?b HTTP/1.1|/a|HTTP/1.1|b|/a?b||"
        );
        assert_eq!(
            view(b"GET /../a?b HTTP/1.1\r\nHost: x\r\n\r\n"),
            "22|GET|GET /../a?b HTTP/1.1||HTTP/1.1||||"
        );
        assert_eq!(
            view(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
            "52|GET|GET / HTTP/1.1|/|HTTP/1.1||/|x|x"
        );
        let mut long = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
        long.resize(9000, b'a');
        assert_eq!(view(&long), "25|GET|GET / HTTP/1.1|/|HTTP/1.1||/|x|x");
        assert_eq!(
            view(b"GET http://Foo/a?b HTTP/1.1\r\nHost: a..b\r\n\r\n"),
            "41|GET|GET http://Foo/a?b H|/a|HTTP/1.1|b|/a?b|foo|a..b"
        );
        // a 414 logs the line up to the end of the large buffer
        let mut uri = b"GET /".to_vec();
        uri.resize(9000, b'a');
        assert_eq!(rejected_head(&uri, &l, fresh).request_line().len(), 8192);
        // the stand-in the connection code builds from a first line
        let h = RequestHead::bad_request(Bytes::from_static(b"get / HTTP/1.1"));
        assert_eq!(h.request_line(), b"get / HTTP/1.1");
        assert_eq!(
            (h.http_version(), h.request_length, h.headers.len()),
            (1000, 0, 0)
        );
        // request_length leaves out the CR/LF skipped before the request line
        let h = ok(b"\r\nGET / HTTP/1.0\r\n\r\n");
        assert_eq!((h.head_len, h.request_length), (20, 18));
    }

    // ----- Partial -----

    #[test]
    fn every_prefix_is_partial() {
        for req in [
            &b"GET /a%20b/../c?x=1 HTTP/1.1\r\nHost: Foo.COM.:80\r\nX:  y \r\n\r\n"[..],
            b"\r\nGET http://[::1]:8/p HTTP/1.0\r\nNoColon\r\nX: a\r\r\n\r\n",
            b"GET /x?a=1\r\n",
            b"GET / HTTP/1.1\nHost: a\n\n",
        ] {
            for n in 0..req.len() {
                assert!(
                    partial(&req[..n]),
                    "{:?}",
                    String::from_utf8_lossy(&req[..n])
                );
            }
            assert_eq!(ok(req).head_len, req.len());
        }
        // a lone CR at the end of a header line is not an error yet
        assert!(partial(b"GET / HTTP/1.1\r\nHost: a\r\n\r"));
        assert!(partial(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r"));
        // CR/LF alone keep nginx waiting forever, buffer after buffer
        assert!(partial(&b"\r\n".repeat(5000)));
    }

    // ----- robustness -----

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn check_invariants(input: &[u8], limits: &Limits) {
        let bytes = Bytes::copy_from_slice(input);
        let full = parse(&bytes, limits);
        if let Ok(Parse::Complete(h)) = &full {
            let len = h.buf.len();
            assert_eq!(len, h.head_len);
            assert!(h.head_len <= input.len());
            for r in [
                &h.method_name,
                &h.request_line,
                &h.unparsed_uri,
                &h.http_protocol,
            ] {
                assert!(r.start <= r.end && r.end <= len);
            }
            for hd in &h.headers {
                assert!(hd.name.end <= len && hd.value.end <= len);
            }
            if let Some(a) = &h.args {
                assert!(a.end <= len);
            }
        }
        // nginx decides monotonically: a prefix is either still waiting or decided the same
        let cut = input.len() / 2;
        match (parse(&bytes.slice(..cut), limits), &full) {
            (Ok(Parse::Partial), _) => {}
            (Err(a), Err(b)) => assert_eq!(&a, b),
            (Ok(Parse::Complete(a)), Ok(Parse::Complete(b))) => {
                assert_eq!(a.head_len, b.head_len);
                assert_eq!(a.uri, b.uri);
            }
            (a, b) => panic!("prefix {a:?} vs full {b:?} for {input:?}"),
        }
    }

    #[test]
    fn fuzz_random_bytes_and_mutations() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let small = Limits {
            client_header_buffer_size: 64,
            large_buffers: 2,
            large_buffer_size: 128,
            ..Limits::default()
        };
        let seeds: [&[u8]; 5] = [
            b"GET /a%20b/../c?x=1&a=2 HTTP/1.1\r\nHost: Foo.COM.:80\r\nContent-Length: 3\r\n\r\n",
            b"POST http://[::1]:8/p/./q//%2e%2e/r?x#y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nUser-Agent: MSIE 6.0 x\r\n\r\n",
            b"GET /x?a=1\r\n",
            b"\r\nGET / HTTP/1.0\nX_y: 1\nNoColon\nExpect: 100-continue\n\n",
            b"OPTIONS /%3F%23%25%00 HTTP/1.1\r\nHost: [v6]\r\n\r\n",
        ];
        let alphabet = b" \r\n%./?#:_\x00\t[]+-Aa09\x7f\xffH=&";
        for round in 0..20_000 {
            let mut input: Vec<u8> = if round % 4 == 0 {
                let len = rng.below(200);
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                seeds[rng.below(seeds.len())].to_vec()
            };
            for _ in 0..rng.below(4) {
                let pos = if input.is_empty() {
                    0
                } else {
                    rng.below(input.len())
                };
                let byte = alphabet[rng.below(alphabet.len())];
                match rng.below(3) {
                    0 if !input.is_empty() => input[pos] = byte,
                    1 => input.insert(pos, byte),
                    _ if !input.is_empty() => {
                        input.remove(pos);
                    }
                    _ => {}
                }
            }
            check_invariants(&input, &Limits::default());
            check_invariants(&input, &small);
            let _ = rejected_head(&input, &small, BufferState::fresh(&small));
            let _ = rejected_head(
                &input,
                &Limits::default(),
                BufferState {
                    room: 3,
                    large: true,
                },
            );
            let _ = normalize_uri(&input, rng.below(2) == 0);
            let _ = validate_host(&input);
            let _ = arg(&input, &input[..input.len().min(rng.below(4))]);
            let mut out = Vec::new();
            escape_uri(&input, &mut out);
        }
    }

    #[test]
    fn degenerate_limits_terminate() {
        let zero = Limits {
            client_header_buffer_size: 0,
            large_buffers: 3,
            large_buffer_size: 0,
            ..Limits::default()
        };
        let _ = run(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &zero);
        let _ = run(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &zero);
    }
}
