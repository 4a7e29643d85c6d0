//! The header names nginx 1.22.1 knows: one [`Known`] per distinct name of its two tables,
//! the request's `ngx_http_headers_in` (`ngx_http_request.c`) and the upstream response's
//! `ngx_http_upstream_headers_in` (`ngx_http_upstream.c`), plus `Proxy-Connection` and
//! `X-Pad`, which nginx's filters also name, and the three `Sec-WebSocket-*` request headers
//! that `websockify_pass` answers the handshake from. A parser classifies each line once with
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
    // read by the WebSocket handshake of `websockify_pass`
    SecWebSocketKey,
    SecWebSocketVersion,
    SecWebSocketProtocol,
}

impl Known {
    /// Every variant, in discriminant order.
    pub const ALL: [Known; 55] = [
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
        Known::SecWebSocketKey,
        Known::SecWebSocketVersion,
        Known::SecWebSocketProtocol,
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
/// the length and the first letter (a table built at compile time), then compares with at most
/// three names, a word of up to eight bytes at a time rather than byte by byte; allocates
/// nothing. Parsers call it on every header line.
pub fn classify(name: &[u8]) -> Option<Known> {
    let first = *name.first()?;
    let candidates = candidates(name.len(), first.to_ascii_lowercase());
    if candidates.is_empty() {
        return None;
    }
    let words = words(name);
    candidates.iter().copied().find(|k| {
        let Folded { lower, letters } = &FOLDED[k.index()];
        (0..WORDS).all(|i| words[i] | letters[i] == lower[i])
    })
}

/// The known headers whose names are `len` bytes long and start with `first` (a lowercase
/// letter; anything else has no candidate), in [`Known::ALL`]'s order.
fn candidates(len: usize, first: u8) -> &'static [Known] {
    let bucket = BY_SHAPE
        .ranges
        .get(len)
        .and_then(|row| row.get(usize::from(first.wrapping_sub(b'a'))));
    match bucket {
        Some(&(start, end)) => BY_SHAPE
            .known
            .get(usize::from(start)..usize::from(end))
            .unwrap_or_default(),
        None => &[],
    }
}

/// One more than the longest name's length.
const SHAPE_LENS: usize = 23;

/// [`Known::ALL`] grouped by length, then first letter; the table behind [`candidates`].
static BY_SHAPE: Shapes = shapes();

struct Shapes {
    known: [Known; Known::COUNT],
    /// For a length and a first letter (`a` is 0), the range of `known` of that shape.
    ranges: [[(u8, u8); 26]; SHAPE_LENS],
}

const fn shapes() -> Shapes {
    const fn shape(k: Known) -> (usize, usize) {
        let name = k.name().as_bytes();
        assert!(name.len() < SHAPE_LENS && name[0].is_ascii_alphabetic());
        (name.len(), (name[0].to_ascii_lowercase() - b'a') as usize)
    }
    let mut t = Shapes {
        known: [Known::Host; Known::COUNT],
        ranges: [[(0, 0); 26]; SHAPE_LENS],
    };
    // the ranges in (length, letter) order, one after the other
    let mut next = 0;
    let mut len = 0;
    while len < SHAPE_LENS {
        let mut letter = 0;
        while letter < 26 {
            let start = next;
            let mut k = 0;
            while k < Known::COUNT {
                let (l, f) = shape(Known::ALL[k]);
                if l == len && f == letter {
                    t.known[next] = Known::ALL[k];
                    next += 1;
                }
                k += 1;
            }
            t.ranges[len][letter] = (start as u8, next as u8);
            letter += 1;
        }
        len += 1;
    }
    assert!(next == Known::COUNT);
    t
}

/// Words of a name for [`classify`]: 2, 4 or 8 bytes of it, little-endian, as [`spans`] says.
const WORDS: usize = 3;

/// Where the words of a `len`-byte name come from, as (offset, width): the first and the last
/// 8 bytes (4 or 2 for a shorter name) and, for a long one, bytes 8..16. They overlap, but
/// together they cover every byte of names of 2 to 24 bytes; a word not needed is (0, 0).
const fn spans(len: usize) -> [(usize, usize); WORDS] {
    match len {
        8.. => {
            let mid = if len >= 16 { 8 } else { len - 8 };
            [(0, 8), (mid, 8), (len - 8, 8)]
        }
        4..=7 => [(0, 4), (len - 4, 4), (0, 0)],
        2..=3 => [(0, 2), (len - 2, 2), (0, 0)],
        _ => [(0, 0); WORDS],
    }
}

/// `name`'s words, read as [`spans`] places them: a few loads, no copy. `name` is a candidate's
/// length, so 2 to 22 bytes; a span beyond it (impossible) reads as 0 and matches nothing.
fn words(name: &[u8]) -> [u64; WORDS] {
    let at = |offset: usize| name.get(offset..).unwrap_or_default();
    spans(name.len()).map(|(offset, width)| match width {
        8 => at(offset)
            .first_chunk()
            .map_or(0, |c| u64::from_le_bytes(*c)),
        4 => at(offset)
            .first_chunk()
            .map_or(0, |c| u64::from(u32::from_le_bytes(*c))),
        2 => at(offset)
            .first_chunk()
            .map_or(0, |c| u64::from(u16::from_le_bytes(*c))),
        _ => 0,
    })
}

/// A name prepared for [`classify`], in the words [`words`] reads: `lower` is the name in
/// lowercase and `letters` has 0x20 at each letter. `input | letters == lower` holds exactly
/// when the input equals the name ASCII case-insensitively: at a letter, setting 0x20
/// lowercases the input byte and only the letter's two cases give the lowercase letter; at any
/// other byte (`-`, digits) the input must equal the name.
struct Folded {
    lower: [u64; WORDS],
    letters: [u64; WORDS],
}

static FOLDED: [Folded; Known::COUNT] = {
    let mut table = [const {
        Folded {
            lower: [0; WORDS],
            letters: [0; WORDS],
        }
    }; Known::COUNT];
    let mut k = 0;
    while k < Known::COUNT {
        let name = NAMES[k].as_bytes();
        assert!(name.len() >= 2 && name.len() <= 8 * WORDS);
        let spans = spans(name.len());
        let mut w = 0;
        while w < WORDS {
            let (offset, width) = spans[w];
            let mut i = 0;
            while i < width {
                let c = name[offset + i];
                table[k].lower[w] |= (c.to_ascii_lowercase() as u64) << (8 * i);
                if c.is_ascii_alphabetic() {
                    table[k].letters[w] |= 0x20 << (8 * i);
                }
                i += 1;
            }
            w += 1;
        }
        k += 1;
    }
    table
};

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
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
];

/// A set of header names compiled at load time (the names `proxy_hide_header` hides, the
/// client lines a `proxy_set_header` replaces): known names as one bit each, the rest kept
/// lower-cased. A parser has classified every line already, so a known line is one bit test
/// and only an unknown one compares names, without allocating.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameSet {
    known: u64,
    other: Vec<Box<[u8]>>,
}

const _: () = assert!(
    Known::COUNT <= 64,
    "a NameSet holds the known names in a u64"
);

impl NameSet {
    pub fn new() -> NameSet {
        NameSet::default()
    }

    pub fn insert(&mut self, name: &[u8]) {
        match classify(name) {
            Some(k) => self.known |= 1 << k.index(),
            None => {
                if !self.other.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    self.other.push(name.to_ascii_lowercase().into());
                }
            }
        }
    }

    pub fn remove(&mut self, name: &[u8]) {
        match classify(name) {
            Some(k) => self.known &= !(1 << k.index()),
            None => self.other.retain(|n| !n.eq_ignore_ascii_case(name)),
        }
    }

    /// Whether a line is in the set, by its classification (`known`, as the parser found it)
    /// or, for a name nginx does not know, by its name.
    pub fn contains(&self, known: Option<Known>, name: &[u8]) -> bool {
        match known {
            Some(k) => self.known & (1 << k.index()) != 0,
            None => self
                .other
                .iter()
                .any(|n| n.len() == name.len() && n.eq_ignore_ascii_case(name)),
        }
    }

    /// Whether `name` is in the set, classifying it first.
    pub fn contains_name(&self, name: &[u8]) -> bool {
        self.contains(classify(name), name)
    }
}

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
        let replacements = [
            b'a', b'A', b'-', b'_', b'0', b'@', b'`', b'\r', b'\x10', b'\x80', b'\xc1', b'\xc8',
        ];
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
    fn spans_cover_every_byte() {
        for len in 2..=8 * WORDS {
            let mut covered = vec![false; len];
            for (offset, width) in spans(len) {
                assert!(offset + width <= len, "{len}");
                covered[offset..offset + width].fill(true);
            }
            assert!(covered.iter().all(|&c| c), "{len}");
        }
    }

    #[test]
    fn candidates_cover_every_name_exactly_once() {
        for k in Known::ALL {
            let name = k.name().as_bytes();
            let c = candidates(name.len(), name[0].to_ascii_lowercase());
            assert_eq!(c.iter().filter(|&&x| x == k).count(), 1, "{k:?}");
        }
        let sizes: Vec<usize> = (0..32)
            .flat_map(|len| (0..=255).map(move |f| candidates(len, f).len()))
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), Known::COUNT);
        // what classify's documentation promises
        assert_eq!(sizes.iter().max(), Some(&3));
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

    /// A `NameSet` answers by classification for known names and by name for the others,
    /// case-insensitively both ways, and `remove` takes out what `insert` put in.
    #[test]
    fn name_sets_hold_known_and_other_names() {
        let mut set = NameSet::new();
        for n in ["Server", "x-accel-expires", "X-Custom", "x-other"] {
            set.insert(n.as_bytes());
        }
        set.remove(b"X-OTHER");
        for (name, want) in [
            ("server", true),
            ("SERVER", true),
            ("X-Accel-Expires", true),
            ("x-custom", true),
            ("X-CUSTOM", true),
            ("x-other", false),
            ("Date", false),
            ("X-Custo", false),
        ] {
            assert_eq!(set.contains_name(name.as_bytes()), want, "{name}");
            assert_eq!(
                set.contains(classify(name.as_bytes()), name.as_bytes()),
                want,
                "{name}"
            );
        }
    }
}
