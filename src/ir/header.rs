//! The header names nginx 1.22.1 knows: one [`Known`] per distinct name of its two tables,
//! the request's `ngx_http_headers_in` (`ngx_http_request.c`) and the upstream response's
//! `ngx_http_upstream_headers_in` (`ngx_http_upstream.c`), plus `Proxy-Connection` and
//! `X-Pad`, which nginx's filters also name. A parser classifies each line once with
//! [`classify`] and later code reads the slot, the way nginx's `headers_in` does; the
//! configuration resolves `$http_*` names ([`Known::from_var_suffix`]) and header directives to
//! the same values when it is loaded.
//!
//! Plain data: no table of handlers (what a header means is the code that reads its slot), no
//! allocation, nothing from `config` or `runtime`.

/// A header name of nginx's tables. The discriminants are dense from 0, so a `Known` indexes
/// an array of [`Known::COUNT`] slots ([`Known::index`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Known {
    // ngx_http_headers_in, in nginx's order
    Host,
    Connection,
    IfModifiedSince,
    IfUnmodifiedSince,
    IfMatch,
    IfNoneMatch,
    UserAgent,
    Referer,
    ContentLength,
    ContentRange,
    ContentType,
    Range,
    IfRange,
    TransferEncoding,
    Te,
    Expect,
    Upgrade,
    AcceptEncoding,
    Via,
    Authorization,
    KeepAlive,
    XForwardedFor,
    XRealIp,
    Accept,
    AcceptLanguage,
    Depth,
    Destination,
    Overwrite,
    Date,
    Cookie,
    // ngx_http_upstream_headers_in, the names not above
    Status,
    LastModified,
    Etag,
    Server,
    WwwAuthenticate,
    Location,
    Refresh,
    SetCookie,
    ContentDisposition,
    CacheControl,
    Expires,
    AcceptRanges,
    Vary,
    Link,
    XAccelExpires,
    XAccelRedirect,
    XAccelLimitRate,
    XAccelBuffering,
    XAccelCharset,
    ContentEncoding,
    // named by nginx's proxy module and its error pages
    ProxyConnection,
    XPad,
}

impl Known {
    /// Every variant, in discriminant order.
    pub const ALL: [Known; 52] = [
        Known::Host,
        Known::Connection,
        Known::IfModifiedSince,
        Known::IfUnmodifiedSince,
        Known::IfMatch,
        Known::IfNoneMatch,
        Known::UserAgent,
        Known::Referer,
        Known::ContentLength,
        Known::ContentRange,
        Known::ContentType,
        Known::Range,
        Known::IfRange,
        Known::TransferEncoding,
        Known::Te,
        Known::Expect,
        Known::Upgrade,
        Known::AcceptEncoding,
        Known::Via,
        Known::Authorization,
        Known::KeepAlive,
        Known::XForwardedFor,
        Known::XRealIp,
        Known::Accept,
        Known::AcceptLanguage,
        Known::Depth,
        Known::Destination,
        Known::Overwrite,
        Known::Date,
        Known::Cookie,
        Known::Status,
        Known::LastModified,
        Known::Etag,
        Known::Server,
        Known::WwwAuthenticate,
        Known::Location,
        Known::Refresh,
        Known::SetCookie,
        Known::ContentDisposition,
        Known::CacheControl,
        Known::Expires,
        Known::AcceptRanges,
        Known::Vary,
        Known::Link,
        Known::XAccelExpires,
        Known::XAccelRedirect,
        Known::XAccelLimitRate,
        Known::XAccelBuffering,
        Known::XAccelCharset,
        Known::ContentEncoding,
        Known::ProxyConnection,
        Known::XPad,
    ];

    /// How many variants there are: the length of an array with a slot per known header.
    pub const COUNT: usize = Known::ALL.len();

    /// The variant's slot in an array of [`Known::COUNT`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name as nginx's tables spell it (`ETag`, `WWW-Authenticate`, `X-Real-IP`, `TE`).
    pub const fn name(self) -> &'static str {
        NAMES[self as usize]
    }

    /// The header a `$http_NAME` (or `$upstream_http_NAME`, `$sent_http_NAME`) variable reads,
    /// from the variable's suffix as nginx spells it: lowercase, `_` for `-` (`user_agent` for
    /// `User-Agent`). An uppercase letter matches nothing, as in nginx, which compares the
    /// lowercased header name with the variable's name.
    pub fn from_var_suffix(s: &[u8]) -> Option<Known> {
        let first = *s.first()?;
        candidates(s.len(), first).iter().copied().find(|k| {
            k.name().bytes().zip(s).all(|(n, &v)| match n {
                b'-' => v == b'_',
                _ => n.to_ascii_lowercase() == v,
            })
        })
    }
}

/// The header called `name` (ASCII case-insensitive), if nginx's tables know it. Dispatches on
/// the length and the first letter, then compares with at most two names; allocates nothing.
pub fn classify(name: &[u8]) -> Option<Known> {
    let first = *name.first()?;
    candidates(name.len(), first.to_ascii_lowercase())
        .iter()
        .copied()
        .find(|k| k.name().as_bytes().eq_ignore_ascii_case(name))
}

/// The known headers whose names are `len` bytes long and start with `first` (a lowercase
/// letter; anything else has no candidate). A test checks this against [`Known::ALL`].
fn candidates(len: usize, first: u8) -> &'static [Known] {
    use Known::*;
    match (len, first) {
        (2, b't') => &[Te],
        (3, b'v') => &[Via],
        (4, b'd') => &[Date],
        (4, b'e') => &[Etag],
        (4, b'h') => &[Host],
        (4, b'l') => &[Link],
        (4, b'v') => &[Vary],
        (5, b'd') => &[Depth],
        (5, b'r') => &[Range],
        (5, b'x') => &[XPad],
        (6, b'a') => &[Accept],
        (6, b'c') => &[Cookie],
        (6, b'e') => &[Expect],
        (6, b's') => &[Status, Server],
        (7, b'e') => &[Expires],
        (7, b'r') => &[Referer, Refresh],
        (7, b'u') => &[Upgrade],
        (8, b'i') => &[IfMatch, IfRange],
        (8, b'l') => &[Location],
        (9, b'o') => &[Overwrite],
        (9, b'x') => &[XRealIp],
        (10, b'c') => &[Connection],
        (10, b'k') => &[KeepAlive],
        (10, b's') => &[SetCookie],
        (10, b'u') => &[UserAgent],
        (11, b'd') => &[Destination],
        (12, b'c') => &[ContentType],
        (13, b'a') => &[Authorization, AcceptRanges],
        (13, b'c') => &[ContentRange, CacheControl],
        (13, b'i') => &[IfNoneMatch],
        (13, b'l') => &[LastModified],
        (14, b'c') => &[ContentLength],
        (15, b'a') => &[AcceptEncoding, AcceptLanguage],
        (15, b'x') => &[XForwardedFor, XAccelExpires, XAccelCharset],
        (16, b'c') => &[ContentEncoding],
        (16, b'p') => &[ProxyConnection],
        (16, b'w') => &[WwwAuthenticate],
        (16, b'x') => &[XAccelRedirect],
        (17, b'i') => &[IfModifiedSince],
        (17, b't') => &[TransferEncoding],
        (17, b'x') => &[XAccelBuffering],
        (18, b'x') => &[XAccelLimitRate],
        (19, b'c') => &[ContentDisposition],
        (19, b'i') => &[IfUnmodifiedSince],
        _ => &[],
    }
}

/// [`Known::name`] by discriminant.
const NAMES: [&str; Known::COUNT] = [
    "Host",
    "Connection",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "If-Match",
    "If-None-Match",
    "User-Agent",
    "Referer",
    "Content-Length",
    "Content-Range",
    "Content-Type",
    "Range",
    "If-Range",
    "Transfer-Encoding",
    "TE",
    "Expect",
    "Upgrade",
    "Accept-Encoding",
    "Via",
    "Authorization",
    "Keep-Alive",
    "X-Forwarded-For",
    "X-Real-IP",
    "Accept",
    "Accept-Language",
    "Depth",
    "Destination",
    "Overwrite",
    "Date",
    "Cookie",
    "Status",
    "Last-Modified",
    "ETag",
    "Server",
    "WWW-Authenticate",
    "Location",
    "Refresh",
    "Set-Cookie",
    "Content-Disposition",
    "Cache-Control",
    "Expires",
    "Accept-Ranges",
    "Vary",
    "Link",
    "X-Accel-Expires",
    "X-Accel-Redirect",
    "X-Accel-Limit-Rate",
    "X-Accel-Buffering",
    "X-Accel-Charset",
    "Content-Encoding",
    "Proxy-Connection",
    "X-Pad",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// `classify` by comparing with every name: what the dispatch must agree with.
    fn linear(name: &[u8]) -> Option<Known> {
        Known::ALL
            .iter()
            .copied()
            .find(|k| k.name().as_bytes().eq_ignore_ascii_case(name))
    }

    #[test]
    fn all_is_in_discriminant_order_and_names_are_distinct() {
        for (i, k) in Known::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "{k:?}");
        }
        for a in Known::ALL {
            for b in Known::ALL {
                if a != b {
                    assert!(!a.name().eq_ignore_ascii_case(b.name()), "{a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn every_name_classifies_back_in_any_case() {
        for k in Known::ALL {
            let name = k.name();
            assert_eq!(classify(name.as_bytes()), Some(k), "{name}");
            assert_eq!(classify(name.to_ascii_lowercase().as_bytes()), Some(k));
            assert_eq!(classify(name.to_ascii_uppercase().as_bytes()), Some(k));
            // alternating case, starting with either
            for start in 0..2 {
                let mixed: Vec<u8> = name
                    .bytes()
                    .enumerate()
                    .map(|(i, c)| {
                        if i % 2 == start {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        }
                    })
                    .collect();
                assert_eq!(classify(&mixed), Some(k), "{name}");
            }
        }
    }

    #[test]
    fn non_headers_do_not_classify() {
        for name in [
            &b""[..],
            b"X",
            b"Hos",
            b"Hostt",
            b"Host ",
            b" Host",
            b"Host:",
            b"Ho_st",
            b"Content_Length",
            b"Content-Lengths",
            b"X-Forwarded-Host",
            b"X-Accel-Foo",
            b"Accept-Charset",
            b"Cookie2",
            b"Set-Cookie2",
            b"Hdst",
            b"\xc8ost",
            b"Upgrade-Insecure-Requests",
        ] {
            assert_eq!(classify(name), None, "{:?}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn dispatch_agrees_with_comparing_every_name() {
        // every name with each byte replaced by a few others: the length and first-letter
        // dispatch must never lose a name nor find one that is not there
        let replacements = [b'a', b'A', b'-', b'_', b'0', b'@', b'`', b'\x80', b'\xc8'];
        for k in Known::ALL {
            let name = k.name().as_bytes();
            for i in 0..name.len() {
                for &r in &replacements {
                    let mut v = name.to_vec();
                    v[i] = r;
                    assert_eq!(
                        classify(&v),
                        linear(&v),
                        "{:?}",
                        String::from_utf8_lossy(&v)
                    );
                }
            }
            for cut in 0..name.len() {
                assert_eq!(classify(&name[..cut]), linear(&name[..cut]));
            }
        }
        for len in 0..24 {
            for first in 0..=255u8 {
                let v: Vec<u8> = std::iter::once(first)
                    .chain(std::iter::repeat_n(b'a', len))
                    .collect();
                assert_eq!(classify(&v), linear(&v));
            }
        }
    }

    #[test]
    fn candidates_cover_every_name_exactly_once() {
        for k in Known::ALL {
            let name = k.name().as_bytes();
            let c = candidates(name.len(), name[0].to_ascii_lowercase());
            assert_eq!(c.iter().filter(|&&x| x == k).count(), 1, "{k:?}");
        }
        let listed: usize = (0..32)
            .flat_map(|len| (b'a'..=b'z').map(move |f| candidates(len, f).len()))
            .sum();
        assert_eq!(listed, Known::COUNT);
    }

    #[test]
    fn variable_suffixes() {
        for k in Known::ALL {
            let suffix: Vec<u8> = k
                .name()
                .bytes()
                .map(|c| match c {
                    b'-' => b'_',
                    _ => c.to_ascii_lowercase(),
                })
                .collect();
            assert_eq!(Known::from_var_suffix(&suffix), Some(k), "{k:?}");
        }
        assert_eq!(
            Known::from_var_suffix(b"user_agent"),
            Some(Known::UserAgent)
        );
        assert_eq!(Known::from_var_suffix(b"x_real_ip"), Some(Known::XRealIp));
        assert_eq!(Known::from_var_suffix(b"etag"), Some(Known::Etag));
        for s in [
            &b""[..],
            b"user-agent",
            b"User_Agent",
            b"USER_AGENT",
            b"user_agen",
            b"hostx",
            b"x_forwarded_host",
        ] {
            assert_eq!(Known::from_var_suffix(s), None, "{s:?}");
        }
    }
}
