//! The location tree of a server (S3) and the per-location configuration every request
//! handler reads.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::log::{AccessLog, ErrorLog};
use super::proxy::Proxy;
use super::regex::Regex;
use super::var::Template;

/// Index of a location in [`super::Server::locations`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LocId(pub u32);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocationKind {
    /// `location = /x`
    Exact,
    /// `location /x`
    Prefix,
    /// `location ^~ /x`: a match stops the regex search.
    PrefixNoRegex,
    /// `location ~ re` / `location ~* re`
    Regex(Regex),
    /// `location @name`
    Named,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The name as written (prefix, exact URI, regex pattern or `@name`).
    pub name: Box<[u8]>,
    pub kind: LocationKind,
    pub conf: Arc<LocConf>,
    pub nested: LocationTree,
    /// S3.3: a `proxy_pass` location whose name ends in `/` answers the name without it
    /// with a 301.
    pub auto_redirect: bool,
}

/// One level of the tree: the locations directly inside a server or a location.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocationTree {
    pub exact: HashMap<Box<[u8]>, LocId>,
    /// Prefix locations (`^~` and plain), longest name first.
    pub prefixes: Vec<LocId>,
    /// Regex locations in configuration order.
    pub regexes: Vec<LocId>,
    /// S3.3: locations (prefix or exact) with `proxy_pass` whose name ends in `/`, by their
    /// name without that slash: a request for exactly that URI is redirected.
    pub redirects: HashMap<Box<[u8]>, LocId>,
}

/// `return`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Return {
    pub code: u16,
    /// The text, or the URL for redirect codes.
    pub value: Option<Template>,
}

/// `error_page`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorPage {
    /// `=code`: answer with this code instead; `Some(None)` for a bare `=` (the status of
    /// the page's own response).
    pub overwrite: Option<Option<u16>>,
    pub uri: Template,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorPages {
    pub pages: HashMap<u16, ErrorPage>,
}

/// `root` or `alias`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Root {
    Root(Template),
    /// `alias`: replaces the first `location_len` bytes of `$uri` (the location's name); in a
    /// regex location (`None`) it is the whole file name.
    Alias {
        path: Template,
        location_len: Option<usize>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TryFilesFallback {
    Uri(Template),
    Code(u16),
    Named(Box<[u8]>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TryFiles {
    /// Each candidate, and whether it names a directory (ends with `/`).
    pub files: Vec<(Template, bool)>,
    pub fallback: TryFilesFallback,
}

/// `types` and `default_type`: extension (lowercased) to MIME type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Types {
    pub by_extension: HashMap<Box<[u8]>, Box<[u8]>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerTokens {
    On,
    Off,
    Build,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfModifiedSince {
    Off,
    Exact,
    Before,
}

/// `client_body_temp_path`: where bodies too large for memory go, and the hash levels of the
/// file names below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TempPath {
    pub path: std::path::PathBuf,
    pub levels: Vec<u8>,
}

/// `add_header`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddHeader {
    pub name: bytes::Bytes,
    pub value: Template,
    pub always: bool,
    /// How the headers filter sets it, from its name (`ngx_http_headers_filter`'s table).
    pub kind: AddKind,
}

/// The handlers of nginx's `add_header` table, chosen by name at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddKind {
    /// `Cache-Control` (a line `expires` and other filters see) and `Link`: added, never
    /// replacing, and not at all when empty.
    CacheControl,
    Link,
    /// `Last-Modified` and `ETag` replace the line there is; an empty value removes it.
    LastModified,
    ETag,
    /// Any other name: added when not empty.
    Other,
}

impl AddKind {
    pub fn of(name: &[u8]) -> AddKind {
        use super::header::{classify, Known};
        match classify(name) {
            Some(Known::CacheControl) => AddKind::CacheControl,
            Some(Known::LastModified) => AddKind::LastModified,
            Some(Known::Etag) => AddKind::ETag,
            _ if name.eq_ignore_ascii_case(b"link") => AddKind::Link,
            _ => AddKind::Other,
        }
    }
}

/// `expires`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expires {
    Off,
    Epoch,
    Max,
    /// Seconds from now (negative: `Cache-Control: no-cache`), or from the file's
    /// modification time with `modified`.
    Delta {
        seconds: i64,
        modified: bool,
    },
    /// `@15h30m`: the next such time of day.
    Daily {
        seconds: i64,
    },
    /// A value with variables, evaluated per response.
    Template(Template),
}

/// `charset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charset {
    pub charset: Template,
    /// MIME types (`charset_types`) the charset is added to; `*` = any.
    pub types: Arc<HashSet<Box<[u8]>>>,
    pub any_type: bool,
}

bitflags::bitflags! {
    /// `gzip_proxied`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct GzipProxied: u32 {
        const OFF = 1 << 1;
        const EXPIRED = 1 << 2;
        const NO_CACHE = 1 << 3;
        const NO_STORE = 1 << 4;
        const PRIVATE = 1 << 5;
        const NO_LAST_MODIFIED = 1 << 6;
        const NO_ETAG = 1 << 7;
        const AUTH = 1 << 8;
        const ANY = 1 << 9;
    }
}

/// `gzip` and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gzip {
    pub types: Arc<HashSet<Box<[u8]>>>,
    pub any_type: bool,
    pub proxied: GzipProxied,
    /// `gzip_http_version 1.0` lets HTTP/1.0 requests be compressed too.
    pub http_version_10: bool,
    pub min_length: i64,
    pub vary: bool,
    pub comp_level: u32,
    /// `gzip_disable` regexes over User-Agent, and the `msie6` shortcut.
    pub disable: Vec<Regex>,
    pub disable_msie6: bool,
    pub disable_degradation: bool,
}

/// One `allow` / `deny` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessRule {
    Allow(Net),
    Deny(Net),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Net {
    All,
    Cidr { addr: IpAddr, prefix: u8 },
    Unix,
}

/// The configuration of one location (or of a server where no location matched), with
/// everything inherited from the enclosing levels already merged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocConf {
    pub proxy: Option<Arc<Proxy>>,
    /// `websockify_pass`: the location bridges WebSocket clients to a TCP or unix target.
    pub websockify: Option<Arc<super::websockify::Websockify>>,
    /// The rewrite directives of this location (`return`, `rewrite`, `set`, `if`, `break`),
    /// run in the rewrite phase; not inherited.
    pub script: Option<Arc<super::rewrite::Script>>,
    /// `uninitialized_variable_warn`.
    pub uninitialized_variable_warn: bool,
    pub internal: bool,
    pub root: Root,
    /// Whether `root` was left at its default (`<prefix>/html`).
    pub root_is_default: bool,
    pub index: Arc<[Template]>,
    pub try_files: Option<Arc<TryFiles>>,
    pub types: Arc<Types>,
    pub default_type: Box<[u8]>,
    pub etag: bool,
    pub if_modified_since: IfModifiedSince,
    pub log_not_found: bool,
    /// `max_ranges`: how many ranges a `Range` request may ask for before the whole file is
    /// sent instead; 0 disables byte ranges (and `Accept-Ranges`).
    pub max_ranges: u64,
    pub error_pages: Arc<ErrorPages>,
    pub recursive_error_pages: bool,
    pub add_headers: Arc<[AddHeader]>,
    pub expires: Option<Expires>,
    pub charset: Option<Arc<Charset>>,
    pub gzip: Option<Arc<Gzip>>,
    pub access: Arc<[AccessRule]>,
    /// Empty when `access_log off`.
    pub access_log: Arc<[AccessLog]>,
    pub error_log: Arc<[ErrorLog]>,
    pub client_max_body_size: u64,
    pub client_body_timeout: Duration,
    pub client_body_temp_path: Arc<TempPath>,
    pub client_body_buffer_size: usize,
    pub send_timeout: Duration,
    pub keepalive_timeout: Duration,
    /// The second `keepalive_timeout` argument, sent as `Keep-Alive: timeout=N`.
    pub keepalive_header: Option<Duration>,
    pub keepalive_requests: u32,
    pub keepalive_time: Duration,
    pub server_tokens: ServerTokens,
    pub msie_padding: bool,
    pub absolute_redirect: bool,
    pub server_name_in_redirect: bool,
    pub port_in_redirect: bool,
    pub chunked_transfer_encoding: bool,
}
