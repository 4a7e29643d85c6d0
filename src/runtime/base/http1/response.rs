//! Upstream response heads as nginx 1.22.1's proxy module reads them: the status line
//! (`ngx_http_parse_status_line`, with HTTP/0.9 fallback), the header lines
//! (`ngx_http_parse_header_line` as `ngx_http_proxy_process_header` drives it), and the body
//! framing they announce (`ngx_http_proxy_input_filter_init`; the body itself is
//! `decode`'s).
//!
//! Pure code: no IO, no logging, no allocation except the `headers` vector of a parsed head.
//! Positions are ranges into the caller's buffer, so nothing is copied. This module does not
//! decide which headers reach the client (S13.3), nor retries (S5.6); it reports what nginx
//! would have seen and the words nginx logs, and leaves the acting to the proxy code.
//!
//! Behaviour checked against the real nginx 1.22.1 (a raw Python upstream sending exact
//! bytes); the tests say which cases were observed. Points where nginx 1.22.1 is laxer than
//! later versions or the RFCs, and which this module follows on purpose:
//! - a `Content-Length` that is not a plain decimal number is ignored (the body is then
//!   close-delimited), it is not an invalid header; the last `Content-Length` line wins;
//! - `Transfer-Encoding` containing `chunked` anywhere, in any case, means chunked, also on an
//!   HTTP/1.0 response, and it overrides `Content-Length`;
//! - a response that does not start with a valid status line is HTTP/0.9: every byte
//!   received is body, nginx logs `upstream sent no valid HTTP/1.0 header` and answers the
//!   client with the raw body and no status line or headers at all;
//! - header names may hold any byte above 0x20 except 0x7f (`@`, `.`, 0x80..); a line
//!   without a colon is a header with an empty value; bare LF line ends are accepted.

use std::ops::Range;

pub use super::decode::Framing;
pub use super::known::{HeadersIn, Known};

use super::known::classify;

/// One upstream header line: positions of its name and of its value in the parsed buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The name as sent (case kept).
    pub name: Range<usize>,
    /// The value without its leading and trailing spaces (0x20 only: tabs are kept, as in
    /// nginx). Empty for a line with nothing after the colon, or with no colon at all.
    pub value: Range<usize>,
    /// The header of nginx's tables this line is, classified once as it was read.
    pub known: Option<Known>,
}

/// The head of an upstream response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// 0.9 when the upstream sent no status line. nginx accepts versions up to 999.999; the
    /// fields saturate at 255, which changes no decision (only "below 1.1" matters).
    pub http_major: u8,
    pub http_minor: u8,
    /// Three digits, so 0..=999: nginx 1.22.1 accepts `000` as well (observed). 200 for
    /// HTTP/0.9.
    pub status: u16,
    /// The status line after "HTTP/x.y " (e.g. "404 Not Found"), as sent: nginx passes the
    /// upstream's reason phrase verbatim (S13.1) and so prints `HTTP/1.1 ` + this to the
    /// client (observed: `200` alone, `403.1 Forbidden`, `000 Zero`). It starts two bytes
    /// before the third digit of the code, which is the first digit unless the upstream put
    /// spaces inside the code (`2 0 0 OK` gives `0 0 OK`, observed). Empty for HTTP/0.9.
    pub status_text: Range<usize>,
    /// Every header line in order, except the repeated `HTTP/...` status lines that nginx
    /// skips (for IIS).
    pub headers: Vec<Header>,
    /// The length nginx uses: the last `Content-Length` line when it is a valid number
    /// (`ngx_atoof`), `None` when absent, invalid, or when the response is chunked (nginx
    /// clears it then).
    pub content_length: Option<u64>,
    /// A `Transfer-Encoding` line contains `chunked` (case-insensitive substring), whatever
    /// the HTTP version of the response (nginx 1.22.1 decodes chunked HTTP/1.0 responses,
    /// observed).
    pub chunked: bool,
    /// The upstream connection cannot be kept alive: the response is older than HTTP/1.1
    /// (whatever its `Connection` says), or a `Connection` line contains `close`
    /// (case-insensitive substring), or it is HTTP/0.9.
    pub connection_close: bool,
    /// Bytes of the head, status line through the blank line; the body starts here. 0 for
    /// HTTP/0.9, where every byte received is body (observed also when the first bytes came
    /// in an earlier read).
    pub head_len: usize,
    /// The first line of each known header (nginx's `u->headers_in`): read with
    /// [`ResponseHead::known`] and [`ResponseHead::known_all`].
    pub headers_in: HeadersIn,
}

/// Result of an attempt to parse something that may not have arrived entirely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parse<T> {
    Complete(T),
    /// More bytes are needed (and may still come within the limit).
    Partial,
}

/// Why a response head was rejected. Both lead nginx to `proxy_next_upstream`'s
/// `invalid_header` condition: 502 unless `invalid_header` is listed and another try is
/// allowed; either way the peer counts as failed (observed: with the default
/// `error timeout` an invalid header is not retried, and the peer is disabled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// `upstream sent too big header`: no complete head within `proxy_buffer_size`.
    TooBig,
    /// `upstream sent invalid header: "<start..end>\xNN..."`, where `NN` is the byte at `end`
    /// (see `log_message`). `start` is where the bad line begins.
    InvalidHeader { start: usize, end: usize },
}

/// Logged at `[error]` when the upstream answers without a status line (HTTP/0.9); the
/// response still goes to the client.
pub const LOG_NO_VALID_HEADER: &str = "upstream sent no valid HTTP/1.0 header";

/// Logged at `[warn]` when an upstream sends more body than its framing allows; the excess is
/// dropped and the upstream connection is not kept alive.
pub const LOG_MORE_DATA_THAN_CONTENT_LENGTH: &str =
    "upstream sent more data than specified in \"Content-Length\" header";

/// Logged at `[warn]` when bytes follow the last chunk of an upstream body in the same read;
/// they are dropped and the upstream connection is not kept alive (observed).
pub const LOG_DATA_AFTER_FINAL_CHUNK: &str = "upstream sent data after final chunk";

/// Parses an upstream response head at the start of `buf`. `Partial` if more bytes are
/// needed. `limit` is `proxy_buffer_size`: a head that does not end within `limit` bytes is
/// `TooBig` (observed with 1k: a 1024-byte head passes, 1025 bytes is a 502; also a status
/// line longer than the limit). An invalid line inside the first `limit` bytes is reported as
/// invalid even when the head would also be too big, as nginx does.
///
/// The parse restarts from the beginning of `buf` on each call; a head usually arrives in one
/// read, and is never longer than `limit`.
pub fn parse_head(buf: &[u8], limit: usize) -> Result<Parse<ResponseHead>, HeadError> {
    let full = buf.len() >= limit;
    let window = if full { &buf[..limit] } else { buf };
    match parse_head_window(window)? {
        Some(head) => Ok(Parse::Complete(head)),
        None if full => Err(HeadError::TooBig),
        None => Ok(Parse::Partial),
    }
}

/// How nginx delimits the body of `head`, answering a request whose method was HEAD or not
/// (`ngx_http_proxy_input_filter_init`): 204, 304 and HEAD have no body; then chunked, then
/// a known length, else the body ends when the upstream closes (also for HTTP/0.9 and
/// HTTP/1.1 without a length, observed). A 101 that does not become a tunnel (S11.6) is
/// framed like any other status.
pub fn framing(head: &ResponseHead, request_method_is_head: bool) -> Framing {
    if head.status == 204 || head.status == 304 || request_method_is_head {
        Framing::Empty
    } else if head.chunked {
        Framing::Chunked
    } else {
        match head.content_length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    }
}

/// nginx's hash of a header name as the upstream module computes it (`ngx_hash` over the
/// lowercased letters, digits, `-` and `_`, other bytes skipped). nginx does not send a header
/// whose hash is 0 to the client: a name made only of other bytes (`@@`, `\x80\x81`) is
/// parsed but silently dropped (observed), while `A@` passes.
pub fn header_hash(name: &[u8]) -> usize {
    name.iter().fold(0usize, |hash, &c| match lowcase(c) {
        0 if c == b'_' => hash.wrapping_mul(31).wrapping_add(usize::from(c)),
        0 => hash,
        l => hash.wrapping_mul(31).wrapping_add(usize::from(l)),
    })
}

impl Header {
    /// The name in the parsed buffer.
    pub fn name_in<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.name.clone()]
    }

    /// The value in the parsed buffer.
    pub fn value_in<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.value.clone()]
    }

    /// Whether nginx would drop this header on output because its name hashes to 0.
    pub fn is_unsendable(&self, buf: &[u8]) -> bool {
        header_hash(self.name_in(buf)) == 0
    }
}

impl ResponseHead {
    /// nginx's `http_version`: major * 1000 + minor (9 for HTTP/0.9).
    pub fn http_version(&self) -> u32 {
        u32::from(self.http_major) * 1000 + u32::from(self.http_minor)
    }

    /// The upstream sent no status line; the caller logs `LOG_NO_VALID_HEADER` and sends the
    /// body to the client without any status line or header.
    pub fn is_http09(&self) -> bool {
        self.http_major == 0
    }

    /// The status line after "HTTP/x.y ", as `status_text` locates it.
    pub fn status_text_in<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.status_text.clone()]
    }

    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn find<'a>(&self, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name_in(buf).eq_ignore_ascii_case(name))
            .map(|h| h.value_in(buf))
    }

    /// The value of the first line of known header `k` in `buf`, the parsed buffer.
    pub fn known<'a>(&self, buf: &'a [u8], k: Known) -> Option<&'a [u8]> {
        self.headers_in
            .first(k)
            .map(|i| self.headers[i].value_in(buf))
    }

    /// The values of every line of known header `k` in `buf`, in order (found by their
    /// classification, not by name).
    pub fn known_all<'a>(&'a self, buf: &'a [u8], k: Known) -> impl Iterator<Item = &'a [u8]> {
        let from = self.headers_in.first(k).unwrap_or(self.headers.len());
        self.headers[from..]
            .iter()
            .filter(move |h| h.known == Some(k))
            .map(move |h| h.value_in(buf))
    }

    fn http09() -> Self {
        ResponseHead {
            http_major: 0,
            http_minor: 9,
            status: 200,
            status_text: 0..0,
            headers: Vec::new(),
            content_length: None,
            chunked: false,
            connection_close: true,
            head_len: 0,
            headers_in: HeadersIn::new(),
        }
    }
}

impl HeadError {
    /// `log_message` as text, bytes that are not UTF-8 replaced.
    pub fn message(&self, buf: &[u8]) -> String {
        String::from_utf8_lossy(&self.log_message(buf)).into_owned()
    }

    /// nginx's error-log text (raw bytes, as nginx writes them) for this error in `buf`, the
    /// buffer given to `parse_head`: `upstream sent too big header` or
    /// `upstream sent invalid header: "Foo\x20..."` (observed).
    pub fn log_message(&self, buf: &[u8]) -> Vec<u8> {
        match *self {
            HeadError::TooBig => b"upstream sent too big header".to_vec(),
            HeadError::InvalidHeader { start, end } => {
                let mut out = b"upstream sent invalid header: \"".to_vec();
                out.extend_from_slice(buf.get(start..end).unwrap_or_default());
                let byte = buf.get(end).copied().unwrap_or(0);
                let hex = b"0123456789abcdef";
                out.extend_from_slice(b"\\x");
                out.push(hex[usize::from(byte >> 4)]);
                out.push(hex[usize::from(byte & 0xf)]);
                out.extend_from_slice(b"...\"");
                out
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// nginx's `NGX_MAX_OFF_T_VALUE` on 64-bit systems.
const MAX_OFF_T: u64 = i64::MAX as u64;

/// nginx's header-name `lowcase` table: letters (lowercased), digits and `-`; 0 otherwise.
fn lowcase(c: u8) -> u8 {
    match c {
        b'a'..=b'z' | b'0'..=b'9' | b'-' => c,
        b'A'..=b'Z' => c | 0x20,
        _ => 0,
    }
}

/// `ngx_atoof`: plain decimal digits, at least one, at most `NGX_MAX_OFF_T_VALUE`.
fn content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in v {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
        if n > MAX_OFF_T {
            return None;
        }
    }
    Some(n)
}

/// `ngx_strlcasestrn`: `needle` (lowercase) occurs in `hay`, ASCII case-insensitively.
fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Byte `i` of the window, or the end of the parse with "need more bytes".
macro_rules! byte_at {
    ($b:expr, $i:expr) => {
        match $b.get($i) {
            Some(&c) => c,
            None => return Ok(None),
        }
    };
}

/// The head parse over the bytes nginx would hold: `Ok(None)` when they end before the head.
fn parse_head_window(b: &[u8]) -> Result<Option<ResponseHead>, HeadError> {
    let (major, minor, status, status_text, mut i) = match status_line(b) {
        StatusLine::Partial => return Ok(None),
        StatusLine::Http09 => return Ok(Some(ResponseHead::http09())),
        StatusLine::Ok(line) => line,
    };

    let mut head = ResponseHead {
        http_major: u8::try_from(major).unwrap_or(u8::MAX),
        http_minor: u8::try_from(minor).unwrap_or(u8::MAX),
        status,
        status_text,
        headers: Vec::with_capacity(16),
        content_length: None,
        chunked: false,
        connection_close: major * 1000 + minor < 1001,
        head_len: 0,
        headers_in: HeadersIn::new(),
    };

    'lines: loop {
        let start = i;
        let c = byte_at!(b, i);
        match c {
            b'\r' => {
                // Only LF may follow the CR of the blank line.
                return if byte_at!(b, i + 1) == b'\n' {
                    head.head_len = i + 2;
                    if head.chunked {
                        head.content_length = None;
                    }
                    Ok(Some(head))
                } else {
                    Err(HeadError::InvalidHeader { start, end: start })
                };
            }
            b'\n' => {
                head.head_len = i + 1;
                if head.chunked {
                    head.content_length = None;
                }
                return Ok(Some(head));
            }
            0..=0x20 | 0x7f | b':' => return Err(HeadError::InvalidHeader { start, end: start }),
            _ => {}
        }

        // The name: anything but controls, space and DEL, up to the colon or the line end.
        i += 1;
        let name_end = loop {
            match byte_at!(b, i) {
                b':' => {
                    i += 1;
                    break i - 1;
                }
                b'\r' | b'\n' => break i,
                // A repeated status line (IIS sends them): skipped up to its LF.
                b'/' if i - start == 4 && &b[start..i] == b"HTTP" => {
                    match b[i..].iter().position(|&c| c == b'\n') {
                        Some(lf) => i += lf + 1,
                        None => return Ok(None),
                    }
                    continue 'lines;
                }
                0..=0x20 | 0x7f => return Err(HeadError::InvalidHeader { start, end: i }),
                _ => i += 1,
            }
        };

        // The value: spaces (not tabs) before and after it are not part of it; NUL is fatal.
        while byte_at!(b, i) == b' ' {
            i += 1;
        }
        let value_start = i;
        let mut value_end = i;
        loop {
            match byte_at!(b, i) {
                b'\r' | b'\n' => break,
                0 => return Err(HeadError::InvalidHeader { start, end: i }),
                b' ' => i += 1,
                _ => {
                    i += 1;
                    value_end = i;
                }
            }
        }
        // The line end: LF, or one or more CRs and LF.
        if b[i] == b'\r' {
            i += 1;
            loop {
                match byte_at!(b, i) {
                    b'\n' => break,
                    b'\r' => i += 1,
                    _ => {
                        return Err(HeadError::InvalidHeader {
                            start,
                            end: value_end,
                        })
                    }
                }
            }
        }
        i += 1;

        let known = classify(&b[start..name_end]);
        if let Some(k) = known {
            note_header(&mut head, k, &b[value_start..value_end]);
        }
        head.headers.push(Header {
            name: start..name_end,
            value: value_start..value_end,
            known,
        });
    }
}

/// What nginx's upstream header handlers record for framing and keep-alive, for the line
/// about to become `head.headers[head.headers.len()]`, classified as `k`; the line takes `k`'s
/// slot if it is the first.
fn note_header(head: &mut ResponseHead, k: Known, value: &[u8]) {
    head.headers_in.note(k, head.headers.len());
    match k {
        Known::Connection => {
            head.connection_close |= contains_ignore_case(value, b"close");
        }
        Known::ContentLength => {
            head.content_length = content_length(value);
        }
        Known::TransferEncoding => {
            head.chunked |= contains_ignore_case(value, b"chunked");
        }
        _ => {}
    }
}

enum StatusLine {
    Partial,
    Http09,
    /// major, minor, code, status text, offset after the line.
    Ok((u32, u32, u16, Range<usize>, usize)),
}

/// `ngx_http_parse_status_line`: any byte that does not fit makes the response HTTP/0.9.
fn status_line(b: &[u8]) -> StatusLine {
    macro_rules! next {
        ($i:expr) => {
            match b.get($i) {
                Some(&c) => c,
                None => return StatusLine::Partial,
            }
        };
    }
    for (k, &want) in b"HTTP/".iter().enumerate() {
        if next!(k) != want {
            return StatusLine::Http09;
        }
    }
    let mut i = 5;

    // Major: 1-9 then digits while it stays below 1000; then a dot.
    let c = next!(i);
    if !(b'1'..=b'9').contains(&c) {
        return StatusLine::Http09;
    }
    let mut major = u32::from(c - b'0');
    i += 1;
    loop {
        let c = next!(i);
        i += 1;
        match c {
            b'.' => break,
            b'0'..=b'9' if major <= 99 => major = major * 10 + u32::from(c - b'0'),
            _ => return StatusLine::Http09,
        }
    }

    // Minor: digits (leading zeros allowed) while below 1000, then one space.
    let c = next!(i);
    if !c.is_ascii_digit() {
        return StatusLine::Http09;
    }
    let mut minor = u32::from(c - b'0');
    i += 1;
    loop {
        let c = next!(i);
        i += 1;
        match c {
            b' ' => break,
            b'0'..=b'9' if minor <= 99 => minor = minor * 10 + u32::from(c - b'0'),
            _ => return StatusLine::Http09,
        }
    }

    // Three digits; spaces are skipped before and between them.
    let mut code: u16 = 0;
    let mut digits = 0;
    let text_start;
    loop {
        let c = next!(i);
        match c {
            b' ' => {}
            b'0'..=b'9' => {
                code = code * 10 + u16::from(c - b'0');
                digits += 1;
                if digits == 3 {
                    text_start = i - 2;
                    i += 1;
                    break;
                }
            }
            _ => return StatusLine::Http09,
        }
        i += 1;
    }

    // Then a space or a dot (IIS's `403.1`) and any text, or the line end right away.
    match next!(i) {
        b' ' | b'.' => {
            i += 1;
            match b[i..].iter().position(|&c| c == b'\r' || c == b'\n') {
                Some(k) => i += k,
                None => return StatusLine::Partial,
            }
        }
        b'\r' | b'\n' => {}
        _ => return StatusLine::Http09,
    }
    let text_end = i;
    if b[i] == b'\r' {
        i += 1;
        if next!(i) != b'\n' {
            return StatusLine::Http09;
        }
    }
    StatusLine::Ok((major, minor, code, text_start..text_end, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cases marked "observed" were sent byte for byte by a raw Python upstream to nginx
    // 1.22.1 (`proxy_pass`, default buffering, proxy_buffer_size 4k, or 1k where said), and
    // the client's bytes and the error log compared.

    /// One line describing a parse result, for table tests.
    fn render(buf: &[u8], r: &Result<Parse<ResponseHead>, HeadError>) -> String {
        match r {
            Ok(Parse::Partial) => "partial".to_string(),
            Err(HeadError::TooBig) => "too big".to_string(),
            Err(e @ HeadError::InvalidHeader { .. }) => {
                let msg = e.message(buf);
                let prefix = "upstream sent invalid header: ";
                format!("invalid {}", msg.strip_prefix(prefix).unwrap_or(&msg))
            }
            Ok(Parse::Complete(h)) => {
                let mut s = format!(
                    "{}.{} {} [{}]",
                    h.http_major,
                    h.http_minor,
                    h.status,
                    String::from_utf8_lossy(h.status_text_in(buf))
                );
                for hd in &h.headers {
                    s += &format!(
                        " {{{}:{}}}",
                        String::from_utf8_lossy(hd.name_in(buf)),
                        String::from_utf8_lossy(hd.value_in(buf))
                    );
                }
                if let Some(n) = h.content_length {
                    s += &format!(" cl={n}");
                }
                if h.chunked {
                    s += " chunked";
                }
                if h.connection_close {
                    s += " close";
                }
                s + &format!(" len={}", h.head_len)
            }
        }
    }

    /// Parses `input` with `limit`, compares with `expected`, and checks that every prefix
    /// (the head arriving split at any byte) gives `partial` until the answer is known and
    /// that same answer afterwards.
    fn check(input: &[u8], limit: usize, expected: &str) {
        let got = render(input, &parse_head(input, limit));
        assert_eq!(got, expected, "input {:?}", String::from_utf8_lossy(input));
        let mut decided = false;
        for k in 0..=input.len() {
            let part = render(&input[..k], &parse_head(&input[..k], limit));
            if part == "partial" {
                assert!(!decided, "partial again at {k} for {input:?}");
                continue;
            }
            decided = true;
            // A longer buffer may only add body bytes, never change the head.
            assert_eq!(
                part,
                expected,
                "prefix {k} of {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    const L: usize = 4096;

    #[test]
    fn status_lines() {
        let cases: &[(&[u8], &str)] = &[
            (b"HTTP/1.1 200 OK\r\n\r\n", "1.1 200 [200 OK] len=19"),
            (b"HTTP/1.0 200 OK\r\n\r\n", "1.0 200 [200 OK] close len=19"),
            // Reason phrases are kept as sent (S13.1, observed `404 X`, `299 X`).
            (b"HTTP/1.1 404 X\r\n\r\nbody", "1.1 404 [404 X] len=18"),
            (b"HTTP/1.1 299 X\r\n\r\n", "1.1 299 [299 X] len=18"),
            (
                b"HTTP/1.1 404 Not Found\r\n\r\n",
                "1.1 404 [404 Not Found] len=26",
            ),
            // No reason: nginx sends `HTTP/1.1 200` to the client (observed).
            (b"HTTP/1.1 200\r\n\r\n", "1.1 200 [200] len=16"),
            (b"HTTP/1.1 200 \r\n\r\n", "1.1 200 [200 ] len=17"),
            // IIS sub-statuses (observed `403.1 Forbidden`).
            (
                b"HTTP/1.1 403.1 Forbidden\r\n\r\n",
                "1.1 403 [403.1 Forbidden] len=28",
            ),
            // Spaces before and inside the code are skipped; the text starts two bytes
            // before the third digit (observed `HTTP/1.1 0 0 OK` to the client).
            (b"HTTP/1.1   200 OK\r\n\r\n", "1.1 200 [200 OK] len=21"),
            (b"HTTP/1.1 2 0 0 OK\r\n\r\n", "1.1 200 [0 0 OK] len=21"),
            // `000` is accepted (observed `HTTP/1.1 000 Zero`).
            (b"HTTP/1.1 000 Zero\r\n\r\n", "1.1 0 [000 Zero] len=21"),
            // Any text, even bytes nginx would refuse in a header.
            (
                b"HTTP/1.1 200 a\tb\x00\xff\r\n\r\n",
                "1.1 200 [200 a\tb\0\u{fffd}] len=22",
            ),
            // Bare LF.
            (b"HTTP/1.1 200 OK\n\n", "1.1 200 [200 OK] len=17"),
            (b"HTTP/1.1 200\n\n", "1.1 200 [200] len=14"),
            // Versions: 2.0 and 999.999 are >= 1.1 (observed: no close); leading zeros in
            // the minor are fine; 1000 is too big (observed HTTP/0.9).
            (b"HTTP/2.0 200 OK\r\n\r\n", "2.0 200 [200 OK] len=19"),
            (
                b"HTTP/999.999 200 OK\r\n\r\n",
                "255.255 200 [200 OK] len=23",
            ),
            (b"HTTP/1.01 200 OK\r\n\r\n", "1.1 200 [200 OK] len=20"),
            (b"HTTP/1.00 200 OK\r\n\r\n", "1.0 200 [200 OK] close len=20"),
            (b"HTTP/0.9 200 OK\r\n\r\n", "0.9 200 [] close len=0"),
        ];
        for (input, expected) in cases {
            check(input, L, expected);
        }
    }

    #[test]
    fn http09_responses() {
        // Anything that is not a status line is body (observed: the client gets exactly
        // these bytes, no status line, and nginx logs "upstream sent no valid HTTP/1.0
        // header").
        let h09 = "0.9 200 [] close len=0";
        let cases: &[&[u8]] = &[
            b"hello world\n",
            b" HTTP/1.1 200 OK\r\n\r\n",
            b"http/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 20x OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 20\r\n\r\n",
            b"HTTP/1.1 200 OK\r\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 200\rX",
            b"HTTP/1000.1 200 OK\r\n\r\n",
            b"HTTP/1.1000 200 OK\r\n\r\n",
            b"HTTP/01.1 200 OK\r\n\r\n",
            b"HTTP/1. 200 OK\r\n\r\n",
            b"HTTP/1.1\t200 OK\r\n\r\n",
            b"HTTP/11 200 OK\r\n\r\n",
            b"HTTX hello\n",
        ];
        for input in cases {
            check(input, L, h09);
        }
        // A prefix of a status line waits for more, and is too big once the limit is hit
        // (observed with 1k: a 2000-byte status line is a 502).
        check(b"HTT", L, "partial");
        check(b"HTTP/1.1 200 OK", L, "partial");
        // (A head the upstream stops sending midway is a premature close, observed 502:
        // the proxy's, not the parser's, decision.)
        let mut long = b"HTTP/1.1 200 ".to_vec();
        long.extend(std::iter::repeat_n(b'O', 2000));
        check(&long, 1024, "too big");
    }

    #[test]
    fn header_lines() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A:   spaced   \r\n\r\n",
                "1.1 200 [200 OK] {Content-Type:text/plain} {X-A:spaced} len=63",
            ),
            // Empty values; a line without a colon is a header with an empty value (observed
            // `Foo: ` and `Bar: ` sent to the client).
            (
                b"HTTP/1.1 200 OK\r\nFoo\r\nBar:\r\nBaz:   \r\n\r\n",
                "1.1 200 [200 OK] {Foo:} {Bar:} {Baz:} len=39",
            ),
            // Only spaces are trimmed, tabs stay (observed `Foo: \ta b \t`).
            (
                b"HTTP/1.1 200 OK\r\nFoo:\ta b \t \r\n\r\n",
                "1.1 200 [200 OK] {Foo:\ta b \t} len=32",
            ),
            // Names may hold odd bytes; underscores are fine (observed: `A@` and `X_Y` sent,
            // `@@` and `\x80\x81` parsed but dropped for their zero hash).
            (
                b"HTTP/1.1 200 OK\r\n@@: x\r\nA@: y\r\nX_Y: u\r\n\r\n",
                "1.1 200 [200 OK] {@@:x} {A@:y} {X_Y:u} len=41",
            ),
            // Several CRs before the LF are accepted (observed).
            (
                b"HTTP/1.1 200 OK\r\nFoo: a\r\r\r\n\r\n",
                "1.1 200 [200 OK] {Foo:a} len=29",
            ),
            // Bare LF line ends (observed).
            (
                b"HTTP/1.1 200 OK\nFoo:  bar  \nContent-Length: 2\n\nok",
                "1.1 200 [200 OK] {Foo:bar} {Content-Length:2} cl=2 len=47",
            ),
            // Repeated status lines are skipped (observed).
            (
                b"HTTP/1.1 200 OK\r\nHTTP/1.1 100 Continue\r\nA: 1\r\n\r\n",
                "1.1 200 [200 OK] {A:1} len=48",
            ),
            (
                b"HTTP/1.1 200 OK\r\nHTTP/\x00\r\r\n\r\n",
                "1.1 200 [200 OK] len=28",
            ),
            // ... but only with `HTTP` exactly.
            (
                b"HTTP/1.1 200 OK\r\nhttp/1.1: x\r\n\r\n",
                "1.1 200 [200 OK] {http/1.1:x} len=32",
            ),
            // Value bytes: anything but NUL, CR and LF.
            (
                b"HTTP/1.1 200 OK\r\nA: \x01\x7f\xff:\r\n\r\n",
                "1.1 200 [200 OK] {A:\u{1}\u{7f}\u{fffd}:} len=28",
            ),
        ];
        for (input, expected) in cases {
            check(input, L, expected);
        }
    }

    #[test]
    fn invalid_headers() {
        // The messages are nginx's (observed for `Foo Bar`, `Foo :`, a folded line, NUL in a
        // value, `:` first, CR CR LF at the end).
        let cases: &[(&[u8], &str)] = &[
            (
                b"HTTP/1.1 200 OK\r\nFoo Bar: x\r\n\r\n",
                r#"invalid "Foo\x20...""#,
            ),
            (
                b"HTTP/1.1 200 OK\r\nFoo : x\r\n\r\n",
                r#"invalid "Foo\x20...""#,
            ),
            (
                b"HTTP/1.1 200 OK\r\nFoo\t: x\r\n\r\n",
                r#"invalid "Foo\x09...""#,
            ),
            (
                b"HTTP/1.1 200 OK\r\nA: 1\r\n b\r\n\r\n",
                r#"invalid "\x20...""#,
            ),
            (b"HTTP/1.1 200 OK\r\n\tb\r\n\r\n", r#"invalid "\x09...""#),
            (
                b"HTTP/1.1 200 OK\r\nFoo: a\x00b\r\n\r\n",
                r#"invalid "Foo: a\x00...""#,
            ),
            (
                b"HTTP/1.1 200 OK\r\nFoo:\x00\r\n\r\n",
                r#"invalid "Foo:\x00...""#,
            ),
            (
                b"HTTP/1.1 200 OK\r\nFoo: a \x00\r\n\r\n",
                r#"invalid "Foo: a \x00...""#,
            ),
            (b"HTTP/1.1 200 OK\r\n: x\r\n\r\n", r#"invalid "\x3a...""#),
            (
                b"HTTP/1.1 200 OK\r\n\x7fA: x\r\n\r\n",
                r#"invalid "\x7f...""#,
            ),
            (
                b"HTTP/1.1 200 OK\r\nA\x7f: x\r\n\r\n",
                r#"invalid "A\x7f...""#,
            ),
            (
                b"HTTP/1.1 200 OK\r\nA\x00: x\r\n\r\n",
                r#"invalid "A\x00...""#,
            ),
            (b"HTTP/1.1 200 OK\r\n\x00\r\n\r\n", r#"invalid "\x00...""#),
            (b"HTTP/1.1 200 OK\r\nA: 2\r\n\r\r\n", r#"invalid "\x0d...""#),
            (b"HTTP/1.1 200 OK\r\nA: 2\r\n\rX", r#"invalid "\x0d...""#),
            // A CR inside a line: the message shows the value up to its end.
            (
                b"HTTP/1.1 200 OK\r\nFoo: a\rb\r\n\r\n",
                r#"invalid "Foo: a\x0d...""#,
            ),
            (
                b"HTTP/1.1 200 OK\r\nFoo: a  \rb\r\n\r\n",
                r#"invalid "Foo: a\x20...""#,
            ),
            (
                b"HTTP/1.1 200 OK\r\nFoo\rb\r\n\r\n",
                r#"invalid "Foo\x0d...""#,
            ),
            (
                b"HTTP/1.1 200 OK\r\nFoo:\rb\r\n\r\n",
                r#"invalid "Foo:\x0d...""#,
            ),
        ];
        for (input, expected) in cases {
            check(input, L, expected);
        }
    }

    #[test]
    fn content_length_and_framing_headers() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                "1.1 200 [200 OK] {Content-Length:5} cl=5 len=38",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-LENGTH:   5   \r\n\r\n",
                "1.1 200 [200 OK] {content-LENGTH:5} cl=5 len=43",
            ),
            // Invalid lengths are ignored, not errors (observed: 200, body until close,
            // re-chunked to the client); tabs are not trimmed.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:abc} len=40",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length:\t5\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:\t5} len=38",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:-1} len=39",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:+5} len=39",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:5 5} len=40",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:} len=36",
            ),
            // Up to NGX_MAX_OFF_T_VALUE.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:9223372036854775807} cl=9223372036854775807 len=56",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:9223372036854775808} len=56",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 00000000000000000000000012\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:00000000000000000000000012} cl=12 len=63",
            ),
            // The last line wins (observed: `3` then `5` gives 5), also an invalid one.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:3} {Content-Length:5} cl=5 len=57",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: x\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:3} {Content-Length:x} len=57",
            ),
            // Chunked anywhere in the value, any case, any version; it clears the length
            // (observed for HTTP/1.0 + chunked, `gzip, CHUNKED`, and length + chunked).
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length:100} {Transfer-Encoding:chunked} chunked len=68",
            ),
            (
                b"HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n",
                "1.0 200 [200 OK] {Transfer-Encoding:gzip, CHUNKED} chunked close len=53",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                "1.1 200 [200 OK] {Transfer-Encoding:gzip} len=44",
            ),
            // Connection: `close` anywhere, any case; keep-alive does not help HTTP/1.0.
            (
                b"HTTP/1.1 200 OK\r\nConnection: xCLOSEx\r\n\r\n",
                "1.1 200 [200 OK] {Connection:xCLOSEx} close len=40",
            ),
            (
                b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n",
                "1.1 200 [200 OK] {Connection:keep-alive} len=43",
            ),
            (
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
                "1.0 200 [200 OK] {Connection:keep-alive} close len=43",
            ),
            // Names must match exactly, case aside.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length2: 5\r\nX-Connection: close\r\n\r\n",
                "1.1 200 [200 OK] {Content-Length2:5} {X-Connection:close} len=60",
            ),
        ];
        for (input, expected) in cases {
            check(input, L, expected);
        }
    }

    #[test]
    fn buffer_size_limit() {
        fn head(total: usize) -> Vec<u8> {
            let mut v = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Big: ".to_vec();
            let pad = total - v.len() - 4;
            v.extend(std::iter::repeat_n(b'h', pad));
            v.extend_from_slice(b"\r\n\r\n");
            v
        }
        fn outcome(buf: &[u8], limit: usize) -> String {
            match parse_head(buf, limit) {
                Ok(Parse::Complete(h)) => format!("ok {}", h.head_len),
                other => render(buf, &other),
            }
        }
        // S10.5: 3000 bytes pass with 4096, 5000 are too big (observed); the edge is the
        // buffer size itself (observed with 1k: 1024 passes, 1025 is a 502; with 4k: 4096
        // passes, 4097 is a 502).
        for (total, limit, expected) in [
            (3000, 4096, "ok 3000"),
            (5000, 4096, "too big"),
            (4096, 4096, "ok 4096"),
            (4097, 4096, "too big"),
            (1024, 1024, "ok 1024"),
            (1025, 1024, "too big"),
            (1500, 1024, "too big"),
        ] {
            let mut buf = head(total);
            assert_eq!(outcome(&buf, limit), expected, "{total} with {limit}");
            // Body bytes after the head change nothing.
            buf.extend_from_slice(b"ok");
            assert_eq!(outcome(&buf, limit), expected, "{total}+2 with {limit}");
            // Before the limit is reached the head is just incomplete.
            assert_eq!(outcome(&buf[..limit.min(total) - 1], limit), "partial");
        }
        // The whole check helper with a small limit: partial, then too big at the limit.
        check(b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n", 20, "too big");
        check(
            b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n",
            25,
            "1.1 200 [200 OK] {A:1} len=25",
        );
        // An invalid line within the limit is invalid, not too big.
        check(
            b"HTTP/1.1 200 OK\r\nA B\r\n\r\n",
            20,
            r#"invalid "A\x20...""#,
        );
        // 0.9 is decided on the first byte, whatever the limit.
        check(b"x", 1, "0.9 200 [] close len=0");
        assert_eq!(outcome(b"", 0), "too big");
    }

    #[test]
    fn body_framing() {
        fn frame(input: &[u8], head_request: bool) -> Framing {
            match parse_head(input, L) {
                Ok(Parse::Complete(h)) => framing(&h, head_request),
                other => panic!("{other:?}"),
            }
        }
        let cases: &[(&[u8], bool, Framing)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                false,
                Framing::Length(5),
            ),
            // HEAD: the client gets the upstream's length and no body (observed).
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                true,
                Framing::Empty,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                true,
                Framing::Empty,
            ),
            // 204 and 304 never have a body, even with a length (observed: `Content-Length:
            // 5` passed on, body dropped with the "more data" warning).
            (
                b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                false,
                Framing::Empty,
            ),
            (b"HTTP/1.1 304 Not Modified\r\n\r\n", false, Framing::Empty),
            (
                b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Framing::Empty,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                false,
                Framing::Empty,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Framing::Chunked,
            ),
            // Chunked also on HTTP/1.0 (observed).
            (
                b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Framing::Chunked,
            ),
            // No length: until close, for 1.0 and 1.1 (observed, p10), also with an invalid
            // length (observed).
            (b"HTTP/1.0 200 OK\r\n\r\n", false, Framing::Close),
            (b"HTTP/1.1 200 OK\r\n\r\n", false, Framing::Close),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
                false,
                Framing::Close,
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                false,
                Framing::Close,
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\n", false, Framing::Close),
            (
                b"HTTP/1.1 205 Reset Content\r\nContent-Length: 3\r\n\r\n",
                false,
                Framing::Length(3),
            ),
            (b"hello", false, Framing::Close),
            (b"hello", true, Framing::Empty),
        ];
        for (input, head_request, expected) in cases {
            assert_eq!(
                frame(input, *head_request),
                *expected,
                "{:?} head={head_request}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn head_accessors() {
        let buf = b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\nx-a: 2\r\n@@: 3\r\n\r\n";
        let Ok(Parse::Complete(h)) = parse_head(buf, L) else {
            panic!()
        };
        assert_eq!(h.http_version(), 1001);
        assert!(!h.is_http09());
        assert_eq!(h.status_text_in(buf), b"404 Not Found");
        assert_eq!(h.find(buf, b"X-a"), Some(&b"1"[..]));
        assert_eq!(h.find(buf, b"X-B"), None);
        let unsendable: Vec<bool> = h.headers.iter().map(|hd| hd.is_unsendable(buf)).collect();
        assert_eq!(unsendable, [false, false, true]);
        // ngx_hash over lowercased name bytes: "a" is 97, "ab" 97 * 31 + 98.
        assert_eq!(header_hash(b"A"), 97);
        assert_eq!(header_hash(b"Ab"), 97 * 31 + 98);
        assert_eq!(header_hash(b"a@b"), header_hash(b"ab"));
        assert_eq!(header_hash(b"_"), 95);
        assert_eq!(header_hash(b"\x80\x81"), 0);
        let Ok(Parse::Complete(h09)) = parse_head(b"hi", L) else {
            panic!()
        };
        assert!(h09.is_http09());
        assert_eq!(h09.http_version(), 9);
    }

    #[test]
    fn headers_in_slots() {
        let buf = b"HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nX-A: 1\r\nHTTP/1.1 200 OK\r\n\
            SET-COOKIE: b=2\r\nLocation: /x\r\nSet_Cookie: c\r\nContent-Length: 5\r\n\
            content-length: 7\r\nETAG: \"e\"\r\n\r\n";
        let Ok(Parse::Complete(h)) = parse_head(buf, L) else {
            panic!()
        };
        let known: Vec<_> = h.headers.iter().map(|hd| hd.known).collect();
        assert_eq!(
            known,
            [
                Some(Known::SetCookie),
                None,
                Some(Known::SetCookie),
                Some(Known::Location),
                None,
                Some(Known::ContentLength),
                Some(Known::ContentLength),
                Some(Known::Etag),
            ]
        );
        assert_eq!(h.headers_in.first(Known::SetCookie), Some(0));
        assert_eq!(h.headers_in.first(Known::ContentLength), Some(5));
        assert_eq!(h.known(buf, Known::Location), Some(&b"/x"[..]));
        assert_eq!(h.known(buf, Known::Etag), Some(&b"\"e\""[..]));
        assert_eq!(h.known(buf, Known::Server), None);
        // the slot is the first line; the framing is still the last valid length
        assert_eq!(h.known(buf, Known::ContentLength), Some(&b"5"[..]));
        assert_eq!(h.content_length, Some(7));
        let cookies: Vec<&[u8]> = h.known_all(buf, Known::SetCookie).collect();
        assert_eq!(cookies, [&b"a=1"[..], b"b=2"]);
        for k in Known::ALL {
            assert_eq!(h.known(buf, k), h.find(buf, k.name().as_bytes()), "{k:?}");
        }
    }

    /// A small deterministic generator for the robustness tests.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn random_heads_never_panic_and_split_alike() {
        // Bytes that matter to the parser, so that random inputs reach deep states.
        const HEAD_ALPHABET: &[u8] = b"HTTP/1.0 2\r\n\r\n: aC\x00\t/";
        let mut rng = Lcg(0x5eed);
        for round in 0..1500 {
            let len = (rng.next() % 40) as usize;
            let mut input: Vec<u8> = (0..len)
                .map(|_| HEAD_ALPHABET[(rng.next() % HEAD_ALPHABET.len() as u64) as usize])
                .collect();
            if round % 2 == 1 {
                input.splice(0..0, b"HTTP/1.1 200 OK\r\n".iter().copied());
            }
            let limit = 1 + (rng.next() % 64) as usize;
            let head = render(&input, &parse_head(&input, limit));
            for k in 0..input.len() {
                let part = render(&input[..k], &parse_head(&input[..k], limit));
                assert!(
                    part == "partial" || part == head,
                    "{input:?} at {k}: {part} vs {head}"
                );
            }
        }
    }

    #[test]
    fn too_big_header_words() {
        assert_eq!(
            HeadError::TooBig.log_message(b""),
            b"upstream sent too big header"
        );
    }
}
