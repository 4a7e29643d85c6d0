//! Variables and compiled templates (nginx's "complex values").
//!
//! Every `$name` in the configuration is resolved when the configuration is loaded: a
//! [`Template`] is a list of literal bytes and [`Var`]s, so nothing is parsed or looked up by
//! name while a request is served.

use std::sync::Arc;

use bytes::Bytes;

use super::header::Known;

/// The header a `$http_NAME` or `$upstream_http_NAME` reads: NAME as written (lowercase, `_`
/// for `-`), and the header it is in nginx's tables when it is one, found once when the
/// configuration is loaded (the runtime then reads that header's slot rather than comparing
/// names).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HeaderVar {
    pub name: Box<[u8]>,
    pub known: Option<Known>,
}

impl HeaderVar {
    pub fn new(name: Box<[u8]>) -> HeaderVar {
        let known = Known::from_var_suffix(&name);
        HeaderVar { name, known }
    }
}

/// Index of a `map` in [`super::Http::maps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapId(pub u32);

/// A variable rginx evaluates, resolved from its name at load time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Var {
    // The request line and URI.
    Request,
    RequestMethod,
    RequestUri,
    Uri,
    Args,
    IsArgs,
    ServerProtocol,
    Scheme,
    Https,
    /// `$arg_NAME`: the first query argument with that name, compared case-insensitively.
    Arg(Box<[u8]>),
    // Request headers.
    Host,
    /// `$http_NAME`: NAME lowercased with `_` for `-`.
    Http(HeaderVar),
    /// `$cookie_NAME`.
    Cookie(Box<[u8]>),
    ContentLength,
    ContentType,
    RemoteUser,
    // The connection.
    RemoteAddr,
    RemotePort,
    BinaryRemoteAddr,
    ServerAddr,
    ServerPort,
    ServerName,
    Connection,
    ConnectionRequests,
    ConnectionTime,
    ProxyProtocolAddr,
    ProxyProtocolPort,
    ProxyProtocolServerAddr,
    ProxyProtocolServerPort,
    RealipRemoteAddr,
    RealipRemotePort,
    // TLS.
    SslProtocol,
    SslCipher,
    SslCiphers,
    SslCurve,
    SslCurves,
    SslSessionId,
    SslSessionReused,
    SslEarlyData,
    SslServerName,
    SslAlpnProtocol,
    /// `$ssl_client_*`: rginx does not verify client certificates, so always empty.
    SslClientEmpty,
    Http2,
    // Files.
    DocumentRoot,
    RealpathRoot,
    RequestFilename,
    // The proxy.
    ProxyHost,
    ProxyPort,
    ProxyAddXForwardedFor,
    UpstreamAddr,
    UpstreamStatus,
    UpstreamConnectTime,
    UpstreamHeaderTime,
    UpstreamResponseTime,
    UpstreamResponseLength,
    UpstreamBytesReceived,
    UpstreamBytesSent,
    // The stream module's own (a session rather than a request).
    /// `$bytes_received`: bytes read from the client.
    BytesReceived,
    /// `$session_time`: seconds, with millisecond resolution.
    SessionTime,
    /// `$protocol`: `TCP`.
    Protocol,
    UpstreamFirstByteTime,
    UpstreamSessionTime,
    /// `$upstream_cache_*`: rginx has no cache, so always empty.
    UpstreamCacheEmpty,
    /// `$upstream_http_NAME`.
    UpstreamHttp(HeaderVar),
    /// `$upstream_cookie_NAME`.
    UpstreamCookie(Box<[u8]>),
    /// `$upstream_trailer_NAME`.
    UpstreamTrailer(Box<[u8]>),
    // The response and the log.
    Status,
    BodyBytesSent,
    BytesSent,
    RequestLength,
    RequestTime,
    RequestCompletion,
    Pipe,
    /// `$sent_http_NAME`.
    SentHttp(Box<[u8]>),
    /// `$sent_trailer_NAME`: rginx adds no trailers, so always empty.
    SentTrailerEmpty,
    GzipRatio,
    LimitRate,
    Msec,
    TimeLocal,
    TimeIso8601,
    RequestId,
    // The process.
    Pid,
    Hostname,
    NginxVersion,
    // Regex captures and maps.
    /// `$1`..`$9`: a numbered capture of the last regex that matched.
    Capture(u8),
    /// A named capture `(?<name>...)`, by name (its index differs from regex to regex).
    NamedCapture(Arc<str>),
    /// A `map` result.
    Map(MapId),
    /// A variable declared by `set`, by index in [`super::Http::set_vars`].
    Set(u32),
}

/// One part of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Literal bytes (usually a slice of the configuration file, shared).
    Literal(Bytes),
    Var(Var),
}

/// A compiled value with variables (`"$scheme://$host$request_uri"`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Template {
    pub parts: Box<[Part]>,
}

impl Template {
    pub fn literal(bytes: &[u8]) -> Template {
        Template {
            parts: if bytes.is_empty() {
                Box::new([])
            } else {
                Box::new([Part::Literal(Bytes::copy_from_slice(bytes))])
            },
        }
    }

    /// The value, when the template has no variables.
    pub fn as_literal(&self) -> Option<&[u8]> {
        match &*self.parts {
            [] => Some(b""),
            [Part::Literal(b)] => Some(b),
            _ => None,
        }
    }

    pub fn has_vars(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var(_)))
    }

    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Literal(_) => None,
        })
    }

    pub fn uses(&self, var: &Var) -> bool {
        self.vars().any(|v| v == var)
    }

    /// Whether this uses a numbered capture (`$1`): then nginx evaluates it against the
    /// regex that just matched.
    pub fn uses_captures(&self) -> bool {
        self.vars()
            .any(|v| matches!(v, Var::Capture(_) | Var::NamedCapture(_)))
    }
}
