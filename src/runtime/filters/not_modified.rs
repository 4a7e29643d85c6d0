//! Conditional requests (`ngx_http_not_modified_filter_module`): `If-Unmodified-Since` and
//! `If-Match` (412 when they fail), then `If-Modified-Since` and `If-None-Match` (304 when
//! both that are present say the client's copy is current), on a 200 response that has a
//! modification time or an `ETag` (static files).
//!
//! Proxied responses are left alone: nginx 1.22.1 sets `disable_not_modified` on every
//! response it cannot cache, which without `proxy_cache` is all of them.

use crate::ir::header::Known;
use crate::ir::location::{IfModifiedSince, LocConf};
use crate::runtime::base::clock;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;

/// What the filter decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the response.
    Send,
    /// 304: the head is already changed.
    NotModified,
    /// 412: nginx finalizes the request with its page, cleaning the head, and then closes
    /// the connection (`ngx_http_filter_finalize_request` ends in `NGX_ERROR`).
    PreconditionFailed,
}

/// `ngx_http_not_modified_header_filter`. The request headers it reads are unique (a
/// second one is a 400 before this runs).
pub fn header_filter(r: &Request, conf: &LocConf, h: &mut HeadersOut) -> Verdict {
    if h.status != 200 {
        return Verdict::Send;
    }
    let etag = h
        .etag
        .map(|i| &h.headers[i])
        .filter(|e| e.live)
        .map(|e| &e.value[..]);
    let lm = h.last_modified_time;
    if let Some(v) = r.head.known(Known::IfUnmodifiedSince) {
        // ngx_http_test_if_unmodified: an unparsable date (-1) fails too.
        let unmodified = lm.is_some_and(|lm| clock::parse_http_time(v) >= lm);
        if !unmodified {
            return Verdict::PreconditionFailed;
        }
    }
    if let Some(v) = r.head.known(Known::IfMatch) {
        if !etag_matches(v, etag, false) {
            return Verdict::PreconditionFailed;
        }
    }
    let ims = r.head.known(Known::IfModifiedSince);
    let inm = r.head.known(Known::IfNoneMatch);
    if ims.is_none() && inm.is_none() {
        return Verdict::Send;
    }
    if let Some(v) = ims {
        if modified_since(v, lm, conf.if_modified_since) {
            return Verdict::Send;
        }
    }
    if let Some(v) = inm {
        if !etag_matches(v, etag, true) {
            return Verdict::Send;
        }
    }
    h.status = 304;
    h.status_line = None;
    h.content_type = None;
    h.content_length = None;
    Verdict::NotModified
}

/// `ngx_http_test_if_modified`: whether the response is newer than `If-Modified-Since`
/// says (`exact`: any other time; `before`: a later one).
pub fn modified_since(value: &[u8], lm: Option<i64>, mode: IfModifiedSince) -> bool {
    let Some(lm) = lm else {
        return true;
    };
    if mode == IfModifiedSince::Off {
        return true;
    }
    let ims = clock::parse_http_time(value);
    if ims == lm {
        return false;
    }
    mode == IfModifiedSince::Exact || ims < lm
}

/// `ngx_http_test_if_match`: whether an `If-Match` (`weak` false) or `If-None-Match` (`weak`
/// true) list names the response's ETag. `*` alone matches anything; otherwise each element
/// is compared byte for byte with the ETag, after dropping `W/` from both when `weak`.
/// Elements are separated by commas with spaces and tabs around them; nginx stops at the
/// first element shorter than the ETag that is left, and so does this.
pub fn etag_matches(list: &[u8], etag: Option<&[u8]>, weak: bool) -> bool {
    if list == b"*" {
        return true;
    }
    let Some(mut etag) = etag else {
        return false;
    };
    if weak && etag.len() > 2 && etag.starts_with(b"W/") {
        etag = &etag[2..];
    }
    let end = list.len();
    let mut start = 0;
    while start < end {
        if weak && end - start > 2 && list[start..].starts_with(b"W/") {
            start += 2;
        }
        if etag.len() > end - start {
            return false;
        }
        if list[start..].starts_with(etag) {
            start += etag.len();
            while start < end && matches!(list[start], b' ' | b'\t') {
                start += 1;
            }
            if start == end || list[start] == b',' {
                return true;
            }
        }
        while start < end && list[start] != b',' {
            start += 1;
        }
        while start < end && matches!(list[start], b' ' | b'\t' | b',') {
            start += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ngx_http_test_if_match` of `list` against `etag`: (If-Match, If-None-Match).
    fn check(list: &str, etag: Option<&str>, want: (bool, bool)) {
        let e = etag.map(str::as_bytes);
        let got = (
            etag_matches(list.as_bytes(), e, false),
            etag_matches(list.as_bytes(), e, true),
        );
        assert_eq!(got, want, "{list:?} against {etag:?}");
    }

    #[test]
    fn etag_comparison_follows_nginx() {
        let e = Some("\"6b01e66a-24\"");
        check("\"6b01e66a-24\"", e, (true, true));
        check("*", e, (true, true));
        check("*", None, (true, true));
        check("\"6b01e66a-24\"", None, (false, false));
        // Weak comparison only for If-None-Match, on either side.
        check("W/\"6b01e66a-24\"", e, (false, true));
        check("W/\"6b01e66a-24\"", Some("W/\"6b01e66a-24\""), (true, true));
        check("\"6b01e66a-24\"", Some("W/\"6b01e66a-24\""), (false, true));
        // Lists, with spaces and tabs.
        check("\"a\", \"6b01e66a-24\"", e, (true, true));
        check("\"a\",\t\"6b01e66a-24\" ,\"b\"", e, (true, true));
        check("\"a\" , W/\"6b01e66a-24\"", e, (false, true));
        check("\"6b01e66a-24\" x", e, (false, false));
        check("\"6b01e66a-24\"x", e, (false, false));
        check("\"6b01e66a-2\"", e, (false, false));
        check("6b01e66a-24", e, (false, false));
        // `*` only alone; nginx gives up at the first element shorter than the ETag left.
        check("*, \"6b01e66a-24\"", e, (true, true));
        check("\"x\", *", e, (false, false));
        check("\"6B01E66A-24\"", e, (false, false));
        check("", e, (false, false));
    }

    #[test]
    fn if_modified_since_modes() {
        let date = "Sat, 21 Nov 2026 14:37:01 GMT";
        let t = 1_795_271_821;
        for (mode, lm, want) in [
            (IfModifiedSince::Exact, t, false),
            (IfModifiedSince::Exact, t - 1, true),
            (IfModifiedSince::Exact, t + 1, true),
            (IfModifiedSince::Before, t, false),
            (IfModifiedSince::Before, t - 1, false),
            (IfModifiedSince::Before, t + 1, true),
            (IfModifiedSince::Off, t, true),
        ] {
            assert_eq!(
                modified_since(date.as_bytes(), Some(lm), mode),
                want,
                "{mode:?} lm={lm}"
            );
        }
        // No modification time, or an unparsable date: modified.
        assert!(modified_since(
            date.as_bytes(),
            None,
            IfModifiedSince::Before
        ));
        assert!(modified_since(
            b"yesterday",
            Some(t),
            IfModifiedSince::Before
        ));
        assert!(modified_since(
            b"yesterday",
            Some(t),
            IfModifiedSince::Exact
        ));
    }
}
