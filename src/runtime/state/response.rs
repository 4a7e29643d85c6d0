//! The response before its head is written (nginx's `ngx_http_headers_out_t`): the status,
//! the header lines in order, and the indexes of the lines the header filters look at.
//! Handlers fill it; the filters (`runtime::filters`) change it and write it.

use bytes::Bytes;

/// One header line of the response list.
#[derive(Clone, Debug)]
pub struct OutHeader {
    pub name: Bytes,
    pub value: Bytes,
    /// nginx's `hash == 0`: removed (kept in place so indexes stay valid).
    pub live: bool,
}

/// The response before its head is written.
#[derive(Debug, Default)]
pub struct HeadersOut {
    pub status: u16,
    /// A proxied response's `NNN reason`, sent verbatim (S13.1).
    pub status_line: Option<Bytes>,
    pub content_type: Option<Bytes>,
    pub content_length: Option<u64>,
    /// A modification time nginx formats itself (static files).
    pub last_modified_time: Option<i64>,
    /// Indexes into `headers` of lines other filters look at.
    pub last_modified: Option<usize>,
    pub location: Option<usize>,
    pub etag: Option<usize>,
    pub expires: Option<usize>,
    pub cache_control: Vec<usize>,
    /// `X-Accel-Charset` from the upstream: the charset to set instead of `charset`'s.
    pub override_charset: Option<Bytes>,
    /// The upstream's `Server`/`Date`, passed with `proxy_pass_header`: nginx adds its own only
    /// when these are absent.
    pub server: Option<usize>,
    pub date: Option<usize>,
    /// An upstream's `Content-Encoding` (gzip leaves such a response alone) and the
    /// `Accept-Ranges` a compressing filter takes out: nginx's `headers_out` slots, which an
    /// `add_header` of the same name does not fill.
    pub content_encoding: Option<usize>,
    pub accept_ranges: Option<usize>,
    pub headers: Vec<OutHeader>,
}

impl HeadersOut {
    pub fn new(status: u16) -> HeadersOut {
        HeadersOut {
            status,
            ..HeadersOut::default()
        }
    }

    pub fn push(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> usize {
        self.headers.push(OutHeader {
            name: name.into(),
            value: value.into(),
            live: true,
        });
        self.headers.len() - 1
    }

    /// `Location` for nginx's own redirects (`return 301 ...`, S3.3): replaces any other.
    pub fn set_location(&mut self, value: impl Into<Bytes>) {
        if let Some(i) = self.location.take() {
            self.headers[i].live = false;
        }
        let i = self.push(Bytes::from_static(b"Location"), value);
        self.location = Some(i);
    }

    /// `ngx_http_clean_header`: everything but the list's storage.
    pub fn clear(&mut self) {
        *self = HeadersOut::default();
    }
}
