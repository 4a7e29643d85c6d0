//! What nginx does with the header lines it keeps: the handlers of its `ngx_http_headers_in`
//! table that change how a request is read (Host, Connection, User-Agent's browser flags, the
//! unique lines whose repetition is a 400, Upgrade), run as each line is read, and the
//! end-of-head checks of `ngx_http_process_request_header` (a missing Host, Content-Length,
//! Transfer-Encoding, CONNECT and TRACE, Expect). It reads lines the parsers found and the
//! driver classified (`ir::header`), and keeps the first line of each known header in the
//! head's `headers_in` slots; it does not find lines, and it knows nothing of header buffers.

use std::borrow::Cow;

use super::host::validate_host;
use super::{text, Browser, Header, Known, Method, Reject, RequestHead};

/// Runs the handler of header line `index`, just added to `head.headers` and classified as
/// `k` (`ngx_http_process_request_headers` calls it as soon as the line is parsed, so a bad
/// Host or a duplicate refuses the request before the lines after it are read). The line
/// takes `k`'s slot in `head.headers_in` if it is the first.
pub(super) fn handle(
    head: &mut RequestHead,
    buf: &[u8],
    index: usize,
    k: Known,
) -> Result<(), Reject> {
    let prev = head.headers_in.first(k);
    head.headers_in.note(k, index);
    let value = value_of(buf, &head.headers, index);
    match k {
        Known::Host => process_host(head, buf, index)?,
        Known::Connection => process_connection(head, value),
        // the first line's browser flags, the first Upgrade line
        Known::UserAgent if prev.is_none() => head.browser = browser(value),
        Known::Upgrade if prev.is_none() => head.upgrade = Some(index),
        _ if is_unique(k) => {
            if let Some(prev) = prev {
                return Err(duplicate("header line", head, buf, index, prev));
            }
        }
        _ => {}
    }
    Ok(())
}

/// `ngx_http_process_request_header`: the checks once the whole head is read.
pub(super) fn process_request_header(head: &mut RequestHead, buf: &[u8]) -> Result<(), Reject> {
    let first = |head: &RequestHead, k: Known| {
        head.headers_in
            .first(k)
            .map(|i| value_of(buf, &head.headers, i))
    };
    if head.host_header.is_none() && head.http_version() > 1000 {
        return Err(Reject::BadRequest(Cow::Borrowed(
            "client sent HTTP/1.1 request without \"Host\" header",
        )));
    }
    if let Some(value) = first(head, Known::ContentLength) {
        match parse_content_length(value) {
            Some(n) => head.content_length = Some(n),
            None => {
                return Err(Reject::BadRequest(Cow::Borrowed(
                    "client sent invalid \"Content-Length\" header",
                )))
            }
        }
    }
    if let Some(te) = first(head, Known::TransferEncoding) {
        process_transfer_encoding(head, te)?;
    }
    match head.method {
        Method::Connect => return Err(Reject::NotAllowed("client sent CONNECT method")),
        Method::Trace => return Err(Reject::NotAllowed("client sent TRACE method")),
        _ => {}
    }
    if let Some(expect) = first(head, Known::Expect) {
        head.expect_continue =
            head.http_version() >= 1001 && expect.eq_ignore_ascii_case(b"100-continue");
    }
    Ok(())
}

/// The headers nginx 1.22 reads with `ngx_http_process_unique_header_line`: a second line
/// is a 400.
fn is_unique(k: Known) -> bool {
    matches!(
        k,
        Known::IfModifiedSince
            | Known::IfUnmodifiedSince
            | Known::IfMatch
            | Known::IfNoneMatch
            | Known::ContentLength
            | Known::ContentRange
            | Known::IfRange
            | Known::TransferEncoding
            | Known::Expect
            | Known::Authorization
    )
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
