//! Byte ranges (`ngx_http_range_filter_module`): the `Range` and `If-Range` request headers on
//! a response that allows ranges (static files), `max_ranges`, and what nginx answers: 206
//! with `Content-Range` for one range, 206 `multipart/byteranges` built exactly as nginx
//! builds it for several, 416 with `Content-Range: bytes */LEN` for none, or the whole
//! response with `Accept-Ranges: bytes`.
//!
//! This module decides and describes; `files` sends. It does not apply to proxied responses:
//! nginx 1.22.1 allows ranges on them only with `proxy_force_ranges on` or a cache, neither
//! of which rginx has, so a proxied `Range` is the upstream's business.

use std::io::Write;
use std::ops::Range;

use bytes::Bytes;

use crate::ir::header::Known;
use crate::ir::location::LocConf;
use crate::runtime::base::{clock, temp};
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;

/// What `ngx_http_range_parse` made of a `Range` value (after `bytes=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The ranges to send, each `start..end` (end exclusive), in the request's order.
    Ranges(Vec<Range<u64>>),
    /// 416.
    NotSatisfiable,
    /// Ignore the header: send the whole response (too many ranges, ranges larger than the
    /// response together, or one that starts at 0 and is empty).
    Declined,
}

/// What the range filter did to a response.
#[derive(Debug)]
pub enum Outcome {
    /// The whole response.
    Whole,
    /// 206: the head is set; the body is these pieces.
    Partial(Vec<Piece>),
    /// 416: `Content-Range` was added; the response becomes nginx's error page.
    NotSatisfiable,
}

/// A piece of a partial body: bytes of the multipart framing, or a range of the file.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    Mem(Bytes),
    File(Range<u64>),
}

/// `ngx_http_range_header_filter` for a response whose length is `h.content_length`; runs
/// after the headers and charset filters, as in nginx, so `Content-Range` and
/// `Accept-Ranges` follow `add_header`'s lines and a multipart part's `Content-Type` carries
/// the charset.
pub fn header_filter(r: &Request, conf: &LocConf, h: &mut HeadersOut) -> Outcome {
    let Some(len) = h.content_length else {
        return Outcome::Whole;
    };
    if r.head.http09 || h.status != 200 || conf.max_ranges == 0 {
        return Outcome::Whole;
    }
    match satisfy(r, conf, h, len) {
        Some(Parsed::Ranges(ranges)) => {
            h.status = 206;
            h.status_line = None;
            if let [one] = &ranges[..] {
                let v = format!("bytes {}-{}/{len}", one.start, one.end - 1);
                h.push(Bytes::from_static(b"Content-Range"), v.into_bytes());
                h.content_length = Some(one.end - one.start);
                return Outcome::Partial(vec![Piece::File(one.clone())]);
            }
            let boundary = temp::next_number();
            let (ct, pieces) = multipart(boundary, h.content_type.as_deref(), &ranges, len);
            h.content_type = Some(ct);
            h.content_length = Some(pieces.iter().map(Piece::size).sum());
            Outcome::Partial(pieces)
        }
        Some(Parsed::NotSatisfiable) => {
            h.status = 416;
            h.push(
                Bytes::from_static(b"Content-Range"),
                format!("bytes */{len}").into_bytes(),
            );
            h.content_length = None;
            Outcome::NotSatisfiable
        }
        Some(Parsed::Declined) | None => {
            h.accept_ranges = Some(h.push(
                Bytes::from_static(b"Accept-Ranges"),
                Bytes::from_static(b"bytes"),
            ));
            Outcome::Whole
        }
    }
}

/// The request's `Range` parsed, if it applies: a `bytes=` value (the first `Range` line
/// counts), and `If-Range` matching the response's `ETag` exactly (a value ending in `"`) or
/// its modification time.
fn satisfy(r: &Request, conf: &LocConf, h: &HeadersOut, len: u64) -> Option<Parsed> {
    let range = r.head.known(Known::Range)?;
    if range.len() < 7 || !range[..6].eq_ignore_ascii_case(b"bytes=") {
        return None;
    }
    if let Some(ir) = r.head.known(Known::IfRange) {
        if ir.len() >= 2 && ir.last() == Some(&b'"') {
            let etag = h.etag.map(|i| &h.headers[i]).filter(|e| e.live)?;
            if etag.value[..] != ir[..] {
                return None;
            }
        } else {
            let lm = last_modified_time(h)?;
            if clock::parse_http_time(ir) != lm {
                return None;
            }
        }
    }
    Some(parse(&range[6..], len as i64, conf.max_ranges))
}

/// nginx's `headers_out.last_modified_time`: the file's, or what an `add_header
/// Last-Modified` set.
fn last_modified_time(h: &HeadersOut) -> Option<i64> {
    if let Some(t) = h.last_modified_time {
        return Some(t);
    }
    let i = h.last_modified.filter(|&i| h.headers[i].live)?;
    Some(clock::parse_http_time(&h.headers[i].value)).filter(|&t| t != -1)
}

/// `ngx_http_range_parse`: `spec` is the value after `bytes=`, `max_ranges` how many ranges
/// may be listed before the header is ignored. Spaces (not tabs) may surround the numbers; a
/// syntax error anywhere is 416, as are ranges that all start past the end.
pub fn parse(spec: &[u8], content_length: i64, max_ranges: u64) -> Parsed {
    const CUTOFF: i64 = i64::MAX / 10;
    const CUTLIM: i64 = i64::MAX % 10;
    // nginx's header values end with a NUL, which ends the last range.
    let at = |i: usize| spec.get(i).copied().unwrap_or(0);
    let digit = |i: usize| at(i).is_ascii_digit();
    let mut p = 0;
    let mut size: i64 = 0;
    let mut left = max_ranges;
    let mut ranges = Vec::new();
    loop {
        let mut start: i64 = 0;
        let mut end: i64 = 0;
        let mut suffix = false;
        let mut open_ended = false;
        while at(p) == b' ' {
            p += 1;
        }
        if at(p) != b'-' {
            if !digit(p) {
                return Parsed::NotSatisfiable;
            }
            while digit(p) {
                let d = i64::from(at(p) - b'0');
                if start >= CUTOFF && (start > CUTOFF || d > CUTLIM) {
                    return Parsed::NotSatisfiable;
                }
                start = start * 10 + d;
                p += 1;
            }
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) != b'-' {
                return Parsed::NotSatisfiable;
            }
            p += 1;
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) == b',' || at(p) == 0 {
                end = content_length;
                open_ended = true;
            }
        } else {
            suffix = true;
            p += 1;
        }
        if !open_ended {
            if !digit(p) {
                return Parsed::NotSatisfiable;
            }
            while digit(p) {
                let d = i64::from(at(p) - b'0');
                if end >= CUTOFF && (end > CUTOFF || d > CUTLIM) {
                    return Parsed::NotSatisfiable;
                }
                end = end * 10 + d;
                p += 1;
            }
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) != b',' && at(p) != 0 {
                return Parsed::NotSatisfiable;
            }
            if suffix {
                start = if end < content_length {
                    content_length - end
                } else {
                    0
                };
                end = content_length - 1;
            }
            if end >= content_length {
                end = content_length;
            } else {
                end += 1;
            }
        }
        if start < end {
            ranges.push(start as u64..end as u64);
            if size > i64::MAX - (end - start) {
                return Parsed::NotSatisfiable;
            }
            size += end - start;
            if left == 0 {
                return Parsed::Declined;
            }
            left -= 1;
        } else if start == 0 {
            return Parsed::Declined;
        }
        let sep = at(p);
        p += 1;
        if sep != b',' {
            break;
        }
    }
    if ranges.is_empty() {
        return Parsed::NotSatisfiable;
    }
    if size > content_length {
        return Parsed::Declined;
    }
    Parsed::Ranges(ranges)
}

/// `ngx_http_range_multipart_header` and `_body`: the response's `Content-Type` and its body.
/// Each part is `CRLF "--" BOUNDARY CRLF`, the original `Content-Type` line (none if there was
/// no type), `Content-Range: bytes S-E/LEN` CRLF CRLF and the data; the last boundary ends with
/// `--` CRLF. The boundary is nginx's temp number, zero-padded to 20 digits.
pub fn multipart(
    boundary: u64,
    content_type: Option<&[u8]>,
    ranges: &[Range<u64>],
    len: u64,
) -> (Bytes, Vec<Piece>) {
    let mut head = Vec::with_capacity(96);
    let _ = write!(head, "\r\n--{boundary:020}\r\n");
    if let Some(ct) = content_type.filter(|ct| !ct.is_empty()) {
        head.extend_from_slice(b"Content-Type: ");
        head.extend_from_slice(ct);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"Content-Range: bytes ");
    let mut pieces = Vec::with_capacity(ranges.len() * 2 + 1);
    for range in ranges {
        let mut part = head.clone();
        let _ = write!(part, "{}-{}/{len}\r\n\r\n", range.start, range.end - 1);
        pieces.push(Piece::Mem(Bytes::from(part)));
        pieces.push(Piece::File(range.clone()));
    }
    pieces.push(Piece::Mem(Bytes::from(format!(
        "\r\n--{boundary:020}--\r\n"
    ))));
    let ct = format!("multipart/byteranges; boundary={boundary:020}");
    (Bytes::from(ct), pieces)
}

impl Piece {
    pub fn size(&self) -> u64 {
        match self {
            Piece::Mem(b) => b.len() as u64,
            Piece::File(r) => r.end - r.start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ngx_http_range_parse` of `bytes=SPEC` on a 36-byte response, `max_ranges` unlimited.
    fn check(spec: &str, want: &str) {
        check_max(spec, 36, u64::from(i32::MAX as u32), want);
    }

    fn check_max(spec: &str, len: i64, max: u64, want: &str) {
        let got = match parse(spec.as_bytes(), len, max) {
            Parsed::Ranges(rs) => rs
                .iter()
                .map(|r| format!("{}-{}", r.start, r.end))
                .collect::<Vec<_>>()
                .join(","),
            Parsed::NotSatisfiable => "416".into(),
            Parsed::Declined => "whole".into(),
        };
        assert_eq!(got, want, "bytes={spec} of {len} (max_ranges {max})");
    }

    #[test]
    fn range_parse_follows_nginx() {
        // Ranges are start..end, end exclusive.
        check("0-4", "0-5");
        check("0-0", "0-1");
        check("10-", "10-36");
        check("-5", "31-36");
        check("30-100", "30-36");
        check("35-35", "35-36");
        // Suffix longer than the body: all of it.
        check("-100", "0-36");
        // Spaces around numbers and separators; not tabs.
        check(" 1 - 2 , 4 - 5 ", "1-3,4-6");
        check("1-2,\t4-5", "416");
        // Several ranges, overlapping ones included, while their sum fits.
        check("0-4,10-12", "0-5,10-13");
        check("0-10,5-15", "0-11,5-16");
        check("0-30,0-30", "whole");
        // Empty ranges past the end are skipped; none left is 416.
        check("36-", "416");
        check("100-200", "416");
        check("5-2", "416");
        check("-0", "416");
        check("100-200,1-2", "1-3");
        // An empty range among others is skipped.
        check("0-4,5-2", "0-5");
        // Syntax errors anywhere: 416.
        check("abc", "416");
        check("1", "416");
        check("1-2x", "416");
        check("1-2;3-4", "416");
        check("--1", "416");
        check("1-2,", "416");
        check(",1-2", "416");
        check("", "416");
        // Overflow.
        check("9223372036854775807-", "416");
        check("9223372036854775808-", "416");
        check("0-9223372036854775807", "0-36");
        check("0-9223372036854775808", "416");
        // Empty body: `0-` and suffixes are empty ranges at 0, declined.
        check_max("0-", 0, 10, "whole");
        check_max("-5", 0, 10, "whole");
        check_max("1-", 0, 10, "416");
        // max_ranges: one more than allowed declines.
        check_max("0-1,3-4", 36, 1, "whole");
        check_max("0-1", 36, 1, "0-2");
        check_max("0-1,3-4", 36, 2, "0-2,3-5");
        check_max("0-1,3-4,6-7", 36, 2, "whole");
    }

    #[test]
    fn multipart_is_built_as_nginx_builds_it() {
        let (ct, pieces) = multipart(1, Some(b"text/plain"), &[0..5, 10..13], 36);
        assert_eq!(
            &ct[..],
            b"multipart/byteranges; boundary=00000000000000000001"
        );
        let mut body = Vec::new();
        let data = b"0123456789abcdefghijklmnopqrstuvwxyz";
        for p in &pieces {
            match p {
                Piece::Mem(b) => body.extend_from_slice(b),
                Piece::File(r) => body.extend_from_slice(&data[r.start as usize..r.end as usize]),
            }
        }
        // Observed from nginx 1.22.1 (Content-Length: 204).
        let want = "\r\n--00000000000000000001\r\nContent-Type: text/plain\r\n\
                    Content-Range: bytes 0-4/36\r\n\r\n01234\
                    \r\n--00000000000000000001\r\nContent-Type: text/plain\r\n\
                    Content-Range: bytes 10-12/36\r\n\r\nabc\
                    \r\n--00000000000000000001--\r\n";
        assert_eq!(String::from_utf8_lossy(&body), want);
        assert_eq!(pieces.iter().map(Piece::size).sum::<u64>(), 204);
        // Without a type, no Content-Type line.
        let (_, pieces) = multipart(12, None, &[0..1, 2..3], 3);
        assert_eq!(
            pieces[0],
            Piece::Mem(Bytes::from_static(
                b"\r\n--00000000000000000012\r\nContent-Range: bytes 0-0/3\r\n\r\n"
            ))
        );
    }
}
