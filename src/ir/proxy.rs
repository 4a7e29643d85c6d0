//! `proxy_pass` and the `proxy_*` directives of one location, merged and compiled (S4–S6, S9,
//! S10).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use super::header::NameSet;
use super::regex::Regex;
use super::upstream::UpstreamId;
use super::var::Template;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// What `proxy_pass` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyTarget {
    /// A URL without variables: the upstream is known at load time.
    Static {
        upstream: UpstreamId,
        /// The URI part (from the first `/` after the host), if any (S4.2).
        uri: Option<Box<[u8]>>,
        /// `$proxy_host`: the upstream name, or `host:port` without a default port (S4.4).
        proxy_host: Box<[u8]>,
        /// `$proxy_port`: empty for `unix:`.
        proxy_port: Box<[u8]>,
    },
    /// A URL with variables, evaluated per request (S4.3).
    Dynamic {
        url: Template,
        /// When the scheme and host are written without variables (they are only in the URI
        /// part), what `ngx_http_upstream_init_request` would find for them is found at load
        /// time, and only the URI part is evaluated per request.
        host: Option<Box<FixedHost>>,
    },
}

/// The load-time half of a `proxy_pass` whose variables are all in its URI part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedHost {
    pub scheme: Scheme,
    pub dest: Dest,
    /// `$proxy_host` and `$proxy_port` (S4.4).
    pub proxy_host: Box<[u8]>,
    pub proxy_port: Box<[u8]>,
    /// The URL from where its URI part starts (for `unix:`, after the path's `:`).
    pub uri: Template,
}

/// Where an evaluated `proxy_pass` URL's host leads (`ngx_http_upstream_init_request`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    /// A configured group of that name and port.
    Group(UpstreamId),
    /// An address literal (or `unix:` path): a group of that one peer, made per request.
    Addr(super::upstream::PeerAddr),
    /// A name that is neither: nginx has no resolver to ask (502, "no resolver defined").
    Unresolved(Box<[u8]>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyPass {
    pub scheme: Scheme,
    pub target: ProxyTarget,
    /// The URL as written, for logs (`upstream: "http://..."`).
    pub url: Box<[u8]>,
    /// The location's name, which a URI part replaces (S4.2).
    pub location_name: Box<[u8]>,
    /// A URI part is not allowed here (regex/named/if/limit_except): the request is sent as
    /// if there were none.
    pub uri_ignored: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpVersion {
    Http10,
    Http11,
}

/// The value of a header sent upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValue {
    Template(Template),
    /// nginx's built-in `Host: $proxy_host`.
    ProxyHost,
    /// A fixed built-in value (`Connection: close`).
    Static(&'static [u8]),
    /// nginx's `$proxy_internal_body_length`: the body length, when there is a body.
    BodyLength,
    /// nginx's `$proxy_internal_chunked`: `chunked` when streaming a chunked body.
    Chunked,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The name as written in the configuration (borrowed for nginx's built-ins).
    pub name: Cow<'static, [u8]>,
    pub value: HeaderValue,
}

/// The headers rginx sets on the upstream request, in nginx's order (S6.2), and the client
/// header names they replace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyHeaders {
    /// Effective `proxy_set_header`s (config order), then the built-ins not overridden. Entries
    /// whose value is a literal empty string are left out (they only remove).
    pub set: Vec<ProxyHeader>,
    /// Names whose client lines are not forwarded (every name above, the empty ones, and
    /// `TE`, `Keep-Alive`, `Expect`, `Upgrade`, `Connection`, `Host`).
    pub replaced: NameSet,
}

/// `proxy_redirect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedirectFrom {
    /// A byte prefix (case-sensitive), possibly with variables.
    Prefix(Template),
    Regex(Regex),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectRule {
    pub from: RedirectFrom,
    pub to: Template,
}

bitflags::bitflags! {
    /// `proxy_next_upstream` conditions.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct NextUpstream: u32 {
        const ERROR = 1 << 1;
        const TIMEOUT = 1 << 2;
        const INVALID_HEADER = 1 << 3;
        const HTTP_500 = 1 << 4;
        const HTTP_502 = 1 << 5;
        const HTTP_503 = 1 << 6;
        const HTTP_504 = 1 << 7;
        const HTTP_403 = 1 << 8;
        const HTTP_404 = 1 << 9;
        const HTTP_429 = 1 << 10;
        const NON_IDEMPOTENT = 1 << 11;
        const OFF = 1 << 12;
    }
}

bitflags::bitflags! {
    /// `proxy_ignore_headers`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct IgnoreHeaders: u32 {
        const X_ACCEL_REDIRECT = 1 << 1;
        const X_ACCEL_EXPIRES = 1 << 2;
        const X_ACCEL_LIMIT_RATE = 1 << 3;
        const X_ACCEL_BUFFERING = 1 << 4;
        const X_ACCEL_CHARSET = 1 << 5;
        const EXPIRES = 1 << 6;
        const CACHE_CONTROL = 1 << 7;
        const SET_COOKIE = 1 << 8;
        const VARY = 1 << 9;
    }
}

/// Everything a proxying location needs, merged from http, server and location levels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    pub pass: ProxyPass,
    pub http_version: HttpVersion,
    pub headers: Arc<ProxyHeaders>,
    pub pass_request_headers: bool,
    pub pass_request_body: bool,
    pub connect_timeout: Duration,
    pub send_timeout: Duration,
    pub read_timeout: Duration,
    pub buffering: bool,
    pub buffer_size: usize,
    pub buffers: (u32, usize),
    pub request_buffering: bool,
    /// Empty when `proxy_redirect off`.
    pub redirects: Arc<[RedirectRule]>,
    pub next_upstream: NextUpstream,
    pub next_upstream_tries: u32,
    pub next_upstream_timeout: Duration,
    /// Upstream response header names not passed to the client (S13.3).
    pub hide_headers: Arc<NameSet>,
    pub ignore_headers: IgnoreHeaders,
    pub intercept_errors: bool,
}
