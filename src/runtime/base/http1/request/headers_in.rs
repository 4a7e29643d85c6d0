//! What nginx does with the header lines it keeps: the handlers of its `ngx_http_headers_in`
//! table that change how a request is read (Host, Connection, User-Agent's browser flags, the
//! unique lines whose repetition is a 400, Upgrade), run as each line is read, and the
//! end-of-head checks of `ngx_http_process_request_header` (a missing Host, Content-Length,
//! Transfer-Encoding, CONNECT and TRACE, Expect). It reads lines the parsers found; it does not
//! find them, and it knows nothing of header buffers.

use std::borrow::Cow;

use super::host::validate_host;
use super::{text, Browser, Header, Method, Reject, RequestHead};

/// What the handlers remember from one line to the next.
#[derive(Default)]
pub(super) struct Handled {
    /// The first line of each of `UNIQUE`, by index into `RequestHead::headers`.
    unique: [Option<usize>; UNIQUE.len()],
    user_agent_seen: bool,
}

/// Runs the handler of header line `index`, just added to `head.headers`
/// (`ngx_http_process_request_headers` calls it as soon as the line is parsed, so a bad Host
/// or a duplicate refuses the request before the lines after it are read).
pub(super) fn handle(
    head: &mut RequestHead,
    buf: &[u8],
    index: usize,
    handled: &mut Handled,
) -> Result<(), Reject> {
    let h = &head.headers[index];
    let value = &buf[h.value.clone()];
    match known(&buf[h.name.clone()]) {
        Known::Host => process_host(head, buf, index)?,
        Known::Connection => process_connection(head, value),
        Known::UserAgent => {
            if !handled.user_agent_seen {
                handled.user_agent_seen = true;
                head.browser = browser(value);
            }
        }
        Known::Upgrade => {
            if head.upgrade.is_none() {
                head.upgrade = Some(index);
            }
        }
        Known::Unique(slot) => match handled.unique[slot] {
            Some(prev) => return Err(duplicate("header line", head, buf, index, prev)),
            None => handled.unique[slot] = Some(index),
        },
        Known::Other => {}
    }
    Ok(())
}

/// `ngx_http_process_request_header`: the checks once the whole head is read.
pub(super) fn process_request_header(
    head: &mut RequestHead,
    buf: &[u8],
    handled: &Handled,
) -> Result<(), Reject> {
    if head.host_header.is_none() && head.http_version() > 1000 {
        return Err(Reject::BadRequest(Cow::Borrowed(
            "client sent HTTP/1.1 request without \"Host\" header",
        )));
    }
    if let Some(i) = handled.unique[CONTENT_LENGTH] {
        match parse_content_length(value_of(buf, &head.headers, i)) {
            Some(n) => head.content_length = Some(n),
            None => {
                return Err(Reject::BadRequest(Cow::Borrowed(
                    "client sent invalid \"Content-Length\" header",
                )))
            }
        }
    }
    if let Some(i) = handled.unique[TRANSFER_ENCODING] {
        process_transfer_encoding(head, value_of(buf, &head.headers, i))?;
    }
    match head.method {
        Method::Connect => return Err(Reject::NotAllowed("client sent CONNECT method")),
        Method::Trace => return Err(Reject::NotAllowed("client sent TRACE method")),
        _ => {}
    }
    if let Some(i) = handled.unique[EXPECT] {
        head.expect_continue = head.http_version() >= 1001
            && value_of(buf, &head.headers, i).eq_ignore_ascii_case(b"100-continue");
    }
    Ok(())
}

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

/// `ngx_http_process_host`: one Host line, and a valid one; the host of an absolute-form
/// target, already in `head.host`, takes precedence.
fn process_host(head: &mut RequestHead, buf: &[u8], index: usize) -> Result<(), Reject> {
    if let Some(prev) = head.host_header {
        return Err(duplicate("host header", head, buf, index, prev));
    }
    head.host_header = Some(index);
    match validate_host(value_of(buf, &head.headers, index)) {
        Some(host) => {
            if head.host.is_none() {
                head.host = Some(host);
            }
            Ok(())
        }
        None => Err(Reject::BadRequest(Cow::Borrowed(
            "client sent invalid host header",
        ))),
    }
}

/// `ngx_http_process_connection`: the last line naming `close` or `keep-alive` decides.
fn process_connection(head: &mut RequestHead, value: &[u8]) {
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

/// Transfer-Encoding in `ngx_http_process_request_header`: HTTP/1.1 only, `chunked` only, and
/// not together with Content-Length.
fn process_transfer_encoding(head: &mut RequestHead, te: &[u8]) -> Result<(), Reject> {
    if head.http_version() < 1001 {
        return Err(Reject::BadRequest(Cow::Borrowed(
            "client sent HTTP/1.0 request with \"Transfer-Encoding\" header",
        )));
    }
    if !te.eq_ignore_ascii_case(b"chunked") {
        return Err(Reject::NotImplemented(Cow::Owned(format!(
            "client sent unknown \"Transfer-Encoding\": \"{}\"",
            text(te)
        ))));
    }
    if head.content_length.is_some() {
        return Err(Reject::BadRequest(Cow::Borrowed(
            "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time",
        )));
    }
    head.chunked = true;
    Ok(())
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
