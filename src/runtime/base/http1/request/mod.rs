//! nginx's HTTP/1.x client request-head parser.
//!
//! This module owns everything nginx 1.22.1 does with the bytes of a request head before a
//! location is chosen, split as nginx's `ngx_http_parse.c` and `ngx_http_request.c` are:
//!
//! - `line`: the request line (`ngx_http_parse_request_line`);
//! - `uri`: the URI normalisation that produces `$uri` (`ngx_http_parse_complex_uri`, S3.1);
//! - `header_line`: the header lines (`ngx_http_parse_header_line`);
//! - `headers_in`: the per-header handlers of the `ngx_http_headers_in` table (duplicate
//!   unique headers, Host, Connection, User-Agent) and the end-of-head checks
//!   (`ngx_http_process_request_header`);
//! - `host`: Host validation (`ngx_http_validate_host`, S2.6);
//! - `buffers`: the subtle part, the header-buffer limits of `client_header_buffer_size` /
//!   `large_client_header_buffers` (`ngx_http_alloc_large_header_buffer`, S13.10), simulated
//!   exactly so that a request is refused (or accepted) at the same byte nginx would refuse
//!   (or accept) it;
//! - `scan`: the driver that runs them in nginx's order over one buffer.
//!
//! This file holds the types they produce and the entry points. It also re-exports three small
//! helpers other code needs with nginx's exact semantics: [`escape_uri`]
//! (`ngx_escape_uri(NGX_ESCAPE_URI)`, S4.2), [`arg`] (`ngx_http_arg`, `$arg_*`) and
//! [`normalize_uri`], and [`validate_host`].
//!
//! Pure code: no IO, no async. [`parse`] is stateless: it is called again with the longer buffer
//! when it answered [`Parse::Partial`]. Every offset in a [`RequestHead`] indexes into
//! [`RequestHead::buf`], a cheap slice of the caller's buffer; on the hot path (a well-formed
//! request) the only allocations are the vectors of the returned struct.

mod buffers;
mod header_line;
mod headers_in;
mod host;
mod line;
mod scan;
#[cfg(test)]
mod tests;
mod uri;

use std::borrow::Cow;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

pub use super::known::{HeadersIn, Known};

pub use host::validate_host;
pub use uri::{arg, escape_uri, normalize_uri};

use scan::Scan;

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
    /// The header of nginx's tables this line is, classified once as it was read.
    pub known: Option<Known>,
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
    /// The first line of each known header (nginx's `r->headers_in`): read with
    /// [`RequestHead::known`] and [`RequestHead::known_all`].
    pub headers_in: HeadersIn,
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
            headers_in: HeadersIn::new(),
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

    /// The value of the first line of known header `k`, as nginx's `r->headers_in.<k>`.
    pub fn known(&self, k: Known) -> Option<&[u8]> {
        self.headers_in
            .first(k)
            .map(|i| &self.buf[self.headers[i].value.clone()])
    }

    /// The values of every line of known header `k`, in order (found by their
    /// classification, not by name).
    pub fn known_all(&self, k: Known) -> impl Iterator<Item = &[u8]> + '_ {
        let from = self.headers_in.first(k).unwrap_or(self.headers.len());
        self.headers[from..]
            .iter()
            .filter(move |h| h.known == Some(k))
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
#[derive(Clone, Debug)]
pub enum Parse {
    /// Boxed as it was built: the head moves on into its request as a pointer.
    Complete(Box<RequestHead>),
    /// The head is incomplete and nginx would still be reading it (no limit exceeded yet).
    Partial,
}

/// Parses the request head at the start of `buf` (which may hold more: pipelined requests or
/// body bytes) as the first request on a connection ([`BufferState::fresh`]).
/// [`RequestHead::buf`] is a copy of the head; [`parse_buf`] and [`parse_bytes`] avoid it.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Parse, Reject> {
    Ok(
        match Scan::new(buf, limits, BufferState::fresh(limits)).run()? {
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
    Ok(match Scan::new(buf, limits, state).run()? {
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
    Ok(match Scan::new(buf, limits, state).run()? {
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
pub fn rejected_head(buf: &[u8], limits: &Limits, state: BufferState) -> Box<RequestHead> {
    let mut scan = Scan::new(buf, limits, state);
    let mut head = match scan.run() {
        Ok(Some(head)) => head,
        Ok(None) | Err(_) => scan
            .into_stash()
            .unwrap_or_else(|| Box::new(RequestHead::stand_in(Bytes::new(), 0..0, false))),
    };
    head.buf = Bytes::copy_from_slice(buf);
    head
}

/// Header text for a log message, bytes that are not UTF-8 replaced.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
