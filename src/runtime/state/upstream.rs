//! The upstream side of a request: what each try did (`$upstream_*`), the last response's
//! head (`$upstream_http_*`), and `$proxy_host`/`$proxy_port`.

use bytes::Bytes;

/// A header line's name and value in a response head.
pub type HeaderRange = (std::ops::Range<usize>, std::ops::Range<usize>);

/// The upstream side of `$upstream_*` (one entry per attempt, as nginx lists them).
#[derive(Debug, Default)]
pub struct UpstreamState {
    pub addrs: Vec<Bytes>,
    pub statuses: Vec<u16>,
    /// Milliseconds; `None` prints `-`.
    pub connect_ms: Vec<Option<u64>>,
    pub header_ms: Vec<Option<u64>>,
    pub response_ms: Vec<u64>,
    pub response_length: Vec<u64>,
    pub bytes_received: Vec<u64>,
    pub bytes_sent: Vec<u64>,
    /// The last response's head and header ranges (`$upstream_http_*`).
    pub head: Option<(Bytes, Vec<HeaderRange>)>,
    /// `$proxy_host` / `$proxy_port` of the request being proxied.
    pub proxy_host: Bytes,
    pub proxy_port: Bytes,
}
