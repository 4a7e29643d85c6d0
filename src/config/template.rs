//! Compiling values with variables (nginx's complex values, `ngx_http_script_compile`).
//!
//! Compilation has two steps because nginx resolves variable names only once the whole http
//! block is read (a `map` may be defined after its first use): [`parse`] splits a value into
//! literal bytes and variable references when the directive is read, and [`Scope::resolve`]
//! turns references into [`Var`]s at the end, reporting `unknown "x" variable` as nginx does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use super::diagnostic::{code, Diagnostic, Place};
use crate::ir::var::HeaderVar;
use crate::ir::{MapId, Part, Template, Var};
use crate::source::{SourceMap, Span};
use crate::syntax::Word;

/// A value split into literals and variable references, not yet resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Raw {
    pub parts: Vec<RawPart>,
    pub span: Option<Span>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawPart {
    /// Literal bytes, a slice of the word they were written in.
    Literal(Bytes),
    /// A variable name, lowercased, and where it is written.
    Var(Box<[u8]>, Span),
    /// `$1`..`$9`.
    Capture(u8),
}

impl Raw {
    pub fn literal(bytes: &[u8]) -> Raw {
        Raw {
            parts: if bytes.is_empty() {
                Vec::new()
            } else {
                vec![RawPart::Literal(Bytes::copy_from_slice(bytes))]
            },
            span: None,
        }
    }

    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, RawPart::Literal(_)))
    }

    pub fn literal_bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                RawPart::Literal(b) => out.extend_from_slice(b),
                _ => return None,
            }
        }
        Some(out)
    }

    pub fn has_captures(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, RawPart::Capture(_)))
    }

    pub fn var_names(&self) -> impl Iterator<Item = (&[u8], Span)> {
        self.parts.iter().filter_map(|p| match p {
            RawPart::Var(n, s) => Some((&**n, *s)),
            _ => None,
        })
    }
}

/// Whether a value has variables at all (nginx counts `$` to decide whether to compile).
pub fn has_dollar(v: &[u8]) -> bool {
    v.contains(&b'$')
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// What parsing and resolving templates needs of the load: the bytes spans point into, and
/// where problems go. The [`Loader`](super::load::Loader) is the one implementation; taking
/// it through this trait keeps `template` from importing `load`, which holds a [`Scope`].
pub trait Load {
    fn sources(&self) -> &SourceMap;
    fn error(&mut self, d: Diagnostic);
}

/// Splits a word into literals and variables; reports nginx's errors for a malformed `$`.
pub fn parse(l: &mut dyn Load, word: &Word, end: Span) -> Option<Raw> {
    parse_shared(l, &word.value, word.span, end)
}

/// Like [`parse`], for bytes that come from a word at `span` but were changed (a prefix added).
pub fn parse_bytes(l: &mut dyn Load, v: &[u8], span: Span, end: Span) -> Option<Raw> {
    parse_shared(l, &Bytes::copy_from_slice(v), span, end)
}

/// The splitting itself (`ngx_http_script_compile`); literals are slices of `v`.
fn parse_shared(l: &mut dyn Load, v: &Bytes, span: Span, end: Span) -> Option<Raw> {
    let mut parts: Vec<RawPart> = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    // Spans of variables point into the word (past an opening quote): exact unless the word
    // had escapes before them.
    let offset = if l
        .sources()
        .slice(span)
        .first()
        .is_some_and(|b| *b == b'"' || *b == b'\'')
    {
        1
    } else {
        0
    };
    let at = |from: usize, to: usize| {
        let start = (span.start as usize + offset + from).min(span.end as usize);
        let end = (span.start as usize + offset + to).min(span.end as usize);
        Span::new(span.file, start, end.max(start))
    };
    let flush = |parts: &mut Vec<RawPart>, from: usize, to: usize| {
        if to > from {
            parts.push(RawPart::Literal(v.slice(from..to)));
        }
    };
    while i < v.len() {
        if v[i] != b'$' {
            i += 1;
            continue;
        }
        let dollar = i;
        i += 1;
        if i == v.len() {
            l.error(invalid_variable_name(at(dollar, i), end));
            return None;
        }
        if (b'1'..=b'9').contains(&v[i]) {
            flush(&mut parts, lit_start, dollar);
            parts.push(RawPart::Capture(v[i] - b'0'));
            i += 1;
            lit_start = i;
            continue;
        }
        let bracket = v[i] == b'{';
        if bracket {
            i += 1;
            if i == v.len() {
                l.error(invalid_variable_name(at(dollar, i), end));
                return None;
            }
        }
        let start = i;
        while i < v.len() && is_name_byte(v[i]) {
            i += 1;
        }
        let name = &v[start..i];
        if bracket {
            if i < v.len() && v[i] == b'}' {
                i += 1;
            } else {
                l.error(
                    Diagnostic::error(
                        code::UNKNOWN_VARIABLE,
                        format!(
                            "the closing bracket in \"{}\" variable is missing",
                            crate::source::show_bytes(name)
                        ),
                        at(dollar, i),
                    )
                    .place(Place::At(end))
                    .help("close the name with \"}\": ${name}"),
                );
                return None;
            }
        }
        if name.is_empty() {
            l.error(invalid_variable_name(at(dollar, i), end));
            return None;
        }
        flush(&mut parts, lit_start, dollar);
        parts.push(RawPart::Var(
            name.to_ascii_lowercase().into(),
            at(dollar, i),
        ));
        lit_start = i;
    }
    flush(&mut parts, lit_start, v.len());
    Some(Raw {
        parts,
        span: Some(span),
    })
}

fn invalid_variable_name(span: Span, end: Span) -> Diagnostic {
    Diagnostic::error(code::UNKNOWN_VARIABLE, "invalid variable name", span)
        .place(Place::At(end))
        .label("a variable name must follow \"$\"")
        .help("write a literal dollar sign through a variable, e.g. map \"\" $dollar { default \"$\"; } is not possible either: avoid \"$\" here")
}

/// What a variable name can refer to beyond nginx's built-ins.
#[derive(Default)]
pub struct Scope {
    /// `map` results.
    pub maps: HashMap<Box<[u8]>, MapId>,
    /// Names declared by directives rginx refuses (`set`, `geo`, `perl_set`, ...): known, so
    /// no extra "unknown variable" is reported on top of the refusal.
    pub declared: HashSet<Box<[u8]>>,
    /// Named captures of every regex in the configuration.
    pub captures: HashSet<Arc<str>>,
    /// Dynamic modules loaded (their variables exist only then).
    pub geoip: bool,
    /// Names already reported unknown (each is reported once, as nginx stops at the first).
    reported: HashSet<Box<[u8]>>,
    /// Variables `set` declares, in order of first declaration.
    pub set_vars: Vec<Box<[u8]>>,
    set_index: HashMap<Box<[u8]>, u32>,
}

impl Scope {
    /// Resolves a raw template; unknown names are reported (with no place in nginx's
    /// one-line message, as nginx prints none).
    pub fn resolve(&mut self, l: &mut dyn Load, raw: &Raw) -> Template {
        let mut parts = Vec::with_capacity(raw.parts.len());
        for p in &raw.parts {
            match p {
                RawPart::Literal(b) => parts.push(Part::Literal(b.clone())),
                RawPart::Capture(n) => parts.push(Part::Var(Var::Capture(*n))),
                RawPart::Var(name, span) => match self.var(name) {
                    Ok(v) => parts.push(Part::Var(v)),
                    Err(Unresolved::Unknown) => {
                        if self.reported.insert(name.clone()) {
                            let maps: Vec<&[u8]> = self.maps.keys().map(|k| &**k).collect();
                            l.error(unknown_variable(name, *span, &maps));
                        }
                        parts.push(Part::Literal(Bytes::new()));
                    }
                    Err(Unresolved::Refused) => parts.push(Part::Literal(Bytes::new())),
                    Err(Unresolved::Unsupported(why)) => {
                        if self.reported.insert(name.clone()) {
                            l.error(
                                Diagnostic::error(
                                    code::NOT_SUPPORTED,
                                    format!(
                                        "variable \"${}\" is not supported by rginx",
                                        crate::source::show_bytes(name)
                                    ),
                                    *span,
                                )
                                .place(Place::Nowhere)
                                .label("used here")
                                .help(why),
                            );
                        }
                        parts.push(Part::Literal(Bytes::new()));
                    }
                },
            }
        }
        // Merge adjacent literals (unknown variables leave empty ones).
        let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
        for p in parts {
            match (merged.last_mut(), p) {
                (_, Part::Literal(b)) if b.is_empty() => {}
                (Some(Part::Literal(prev)), Part::Literal(b)) => {
                    let mut v = prev.to_vec();
                    v.extend_from_slice(&b);
                    *prev = Bytes::from(v);
                }
                (_, p) => merged.push(p),
            }
        }
        Template {
            parts: merged.into(),
        }
    }

    /// A name resolved to what rginx evaluates.
    /// `set $name`: the name becomes a variable everywhere (S7).
    pub fn declare_set(&mut self, name: &[u8]) {
        if !self.set_index.contains_key(name) {
            self.set_index
                .insert(name.into(), self.set_vars.len() as u32);
            self.set_vars.push(name.into());
        }
    }

    /// What `set $name` assigns.
    pub fn set_var(&self, name: &[u8]) -> Option<crate::ir::rewrite::SetVar> {
        if let Some(id) = self.maps.get(name) {
            return Some(crate::ir::rewrite::SetVar::Map(*id));
        }
        self.set_index
            .get(name)
            .map(|i| crate::ir::rewrite::SetVar::Var(*i))
    }

    pub fn var(&self, name: &[u8]) -> Result<Var, Unresolved> {
        if let Some(id) = self.maps.get(name) {
            return Ok(Var::Map(*id));
        }
        if let Some(v) = builtin(name) {
            return v;
        }
        if let Some(i) = self.set_index.get(name) {
            return Ok(Var::Set(*i));
        }
        if let Ok(s) = std::str::from_utf8(name) {
            if self.captures.contains(s) {
                return Ok(Var::NamedCapture(Arc::from(s)));
            }
        }
        if self.declared.contains(name) {
            // Declared by a directive rginx refused, which was reported there.
            return Err(Unresolved::Refused);
        }
        if self.geoip && name.starts_with(b"geoip_") {
            return Err(Unresolved::Unsupported(
                "the geoip module's variables are not provided by rginx",
            ));
        }
        Err(Unresolved::Unknown)
    }
}

pub enum Unresolved {
    Unknown,
    /// Declared by a refused directive (already an error).
    Refused,
    Unsupported(&'static str),
}

pub fn unknown_variable(name: &[u8], span: Span, maps: &[&[u8]]) -> Diagnostic {
    let mut d = Diagnostic::error(
        code::UNKNOWN_VARIABLE,
        format!("unknown \"{}\" variable", crate::source::show_bytes(name)),
        span,
    )
    .place(Place::Nowhere)
    .label("no such variable");
    let near_map = std::str::from_utf8(name).ok().and_then(|n| {
        maps.iter()
            .filter_map(|m| std::str::from_utf8(m).ok())
            .map(|m| (strsim::jaro_winkler(n, m), m))
            .filter(|(s, _)| *s > 0.9)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, m)| m.to_string())
    });
    if let Some(m) = near_map {
        d = d.help(format!("did you mean \"${m}\"? (defined by a map)"));
    } else if name == b"connection_upgrade" {
        d = d.help("define it in the http block: map $http_upgrade $connection_upgrade { default upgrade; '' close; }");
    } else if let Some(s) = suggest_var(name) {
        d = d.help(format!("did you mean \"${s}\"? (variables are defined by nginx, by \"map\", or by regex captures)"));
    } else {
        d = d.help("define it with a \"map\" block, or use one of nginx's variables");
    }
    d
}

fn suggest_var(name: &[u8]) -> Option<&'static str> {
    let name = std::str::from_utf8(name).ok()?;
    BUILTIN_NAMES
        .iter()
        .map(|n| (strsim::jaro_winkler(name, n), *n))
        .filter(|(s, _)| *s > 0.9)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

/// Names nginx 1.22 defines (http), for suggestions and for `map` redefinition checks.
pub const BUILTIN_NAMES: &[&str] = &[
    "host",
    "http_host",
    "http_user_agent",
    "http_referer",
    "http_via",
    "http_x_forwarded_for",
    "http_cookie",
    "content_length",
    "content_type",
    "binary_remote_addr",
    "remote_addr",
    "remote_port",
    "proxy_protocol_addr",
    "proxy_protocol_port",
    "proxy_protocol_server_addr",
    "proxy_protocol_server_port",
    "server_addr",
    "server_port",
    "server_protocol",
    "scheme",
    "https",
    "request_uri",
    "uri",
    "document_uri",
    "request",
    "document_root",
    "realpath_root",
    "query_string",
    "args",
    "is_args",
    "request_filename",
    "server_name",
    "request_method",
    "remote_user",
    "bytes_sent",
    "body_bytes_sent",
    "pipe",
    "request_completion",
    "request_body",
    "request_body_file",
    "request_length",
    "request_time",
    "request_id",
    "status",
    "sent_http_content_type",
    "sent_http_content_length",
    "sent_http_location",
    "sent_http_last_modified",
    "sent_http_connection",
    "sent_http_keep_alive",
    "sent_http_transfer_encoding",
    "sent_http_cache_control",
    "sent_http_link",
    "limit_rate",
    "connection",
    "connection_requests",
    "connection_time",
    "nginx_version",
    "hostname",
    "pid",
    "msec",
    "time_iso8601",
    "time_local",
    "tcpinfo_rtt",
    "tcpinfo_rttvar",
    "tcpinfo_snd_cwnd",
    "tcpinfo_rcv_space",
    "upstream_addr",
    "upstream_status",
    "upstream_connect_time",
    "upstream_header_time",
    "upstream_response_time",
    "upstream_response_length",
    "upstream_bytes_received",
    "upstream_bytes_sent",
    "upstream_cache_status",
    "upstream_cache_last_modified",
    "upstream_cache_etag",
    "msie",
    "modern_browser",
    "ancient_browser",
    "fastcgi_script_name",
    "fastcgi_path_info",
    "grpc_internal_trailers",
    "limit_conn_status",
    "limit_req_status",
    "proxy_host",
    "proxy_port",
    "proxy_add_x_forwarded_for",
    "proxy_add_via",
    "proxy_internal_body_length",
    "proxy_internal_chunked",
    "realip_remote_addr",
    "realip_remote_port",
    "date_local",
    "date_gmt",
    "ssl_protocol",
    "ssl_cipher",
    "ssl_ciphers",
    "ssl_curve",
    "ssl_curves",
    "ssl_session_id",
    "ssl_session_reused",
    "ssl_early_data",
    "ssl_server_name",
    "ssl_alpn_protocol",
    "ssl_client_cert",
    "ssl_client_raw_cert",
    "ssl_client_escaped_cert",
    "ssl_client_s_dn",
    "ssl_client_i_dn",
    "ssl_client_s_dn_legacy",
    "ssl_client_i_dn_legacy",
    "ssl_client_serial",
    "ssl_client_fingerprint",
    "ssl_client_verify",
    "ssl_client_v_start",
    "ssl_client_v_end",
    "ssl_client_v_remain",
    "connections_active",
    "connections_reading",
    "connections_writing",
    "connections_waiting",
    "http2",
    "gzip_ratio",
    "uid_got",
    "uid_set",
    "uid_reset",
    "slice_range",
    "secure_link",
    "secure_link_expires",
];

/// nginx's built-in variables (and prefix families), as rginx evaluates them.
pub fn builtin(name: &[u8]) -> Option<Result<Var, Unresolved>> {
    use Var::*;
    let unsupported = |why: &'static str| Some(Err(Unresolved::Unsupported(why)));
    let v = match name {
        b"host" => Host,
        b"http_host" => Http(HeaderVar::new((*b"host").into())),
        b"content_length" => ContentLength,
        b"content_type" => ContentType,
        b"binary_remote_addr" => BinaryRemoteAddr,
        b"remote_addr" => RemoteAddr,
        b"remote_port" => RemotePort,
        b"proxy_protocol_addr" => ProxyProtocolAddr,
        b"proxy_protocol_port" => ProxyProtocolPort,
        b"proxy_protocol_server_addr" => ProxyProtocolServerAddr,
        b"proxy_protocol_server_port" => ProxyProtocolServerPort,
        b"server_addr" => ServerAddr,
        b"server_port" => ServerPort,
        b"server_protocol" => ServerProtocol,
        b"scheme" => Scheme,
        b"https" => Https,
        b"request_uri" => RequestUri,
        b"uri" | b"document_uri" => Uri,
        b"request" => Request,
        b"document_root" => DocumentRoot,
        b"realpath_root" => RealpathRoot,
        b"query_string" | b"args" => Args,
        b"is_args" => IsArgs,
        b"request_filename" => RequestFilename,
        b"server_name" => ServerName,
        b"request_method" => RequestMethod,
        b"remote_user" => RemoteUser,
        b"bytes_sent" => BytesSent,
        b"body_bytes_sent" => BodyBytesSent,
        b"pipe" => Pipe,
        b"request_completion" => RequestCompletion,
        b"request_length" => RequestLength,
        b"request_time" => RequestTime,
        b"request_id" => RequestId,
        b"status" => Status,
        b"limit_rate" => LimitRate,
        b"connection" => Connection,
        b"connection_requests" => ConnectionRequests,
        b"connection_time" => ConnectionTime,
        b"nginx_version" => NginxVersion,
        b"hostname" => Hostname,
        b"pid" => Pid,
        b"msec" => Msec,
        b"time_iso8601" => TimeIso8601,
        b"time_local" => TimeLocal,
        b"upstream_addr" => UpstreamAddr,
        b"upstream_status" => UpstreamStatus,
        b"upstream_connect_time" => UpstreamConnectTime,
        b"upstream_header_time" => UpstreamHeaderTime,
        b"upstream_response_time" => UpstreamResponseTime,
        b"upstream_response_length" => UpstreamResponseLength,
        b"upstream_bytes_received" => UpstreamBytesReceived,
        b"upstream_bytes_sent" => UpstreamBytesSent,
        b"upstream_cache_status" | b"upstream_cache_last_modified" | b"upstream_cache_etag" => {
            UpstreamCacheEmpty
        }
        b"proxy_host" => ProxyHost,
        b"proxy_port" => ProxyPort,
        b"proxy_add_x_forwarded_for" => ProxyAddXForwardedFor,
        b"realip_remote_addr" => RealipRemoteAddr,
        b"realip_remote_port" => RealipRemotePort,
        b"ssl_protocol" => SslProtocol,
        b"ssl_cipher" => SslCipher,
        b"ssl_ciphers" => SslCiphers,
        b"ssl_curve" => SslCurve,
        b"ssl_curves" => SslCurves,
        b"ssl_session_id" => SslSessionId,
        b"ssl_session_reused" => SslSessionReused,
        b"ssl_early_data" => SslEarlyData,
        b"ssl_server_name" => SslServerName,
        b"ssl_alpn_protocol" => SslAlpnProtocol,
        b"http2" => Http2,
        b"gzip_ratio" => GzipRatio,
        b"tcpinfo_rtt" | b"tcpinfo_rttvar" | b"tcpinfo_snd_cwnd" | b"tcpinfo_rcv_space" => {
            return unsupported("rginx does not read the kernel's TCP_INFO")
        }
        b"request_body" | b"request_body_file" => {
            return unsupported("rginx does not keep the request body in a variable")
        }
        b"proxy_add_via" | b"proxy_internal_body_length" | b"proxy_internal_chunked" => {
            return unsupported("an internal variable of nginx's proxy module")
        }
        b"msie" | b"modern_browser" | b"ancient_browser" => {
            return unsupported("rginx does not implement the browser module")
        }
        b"fastcgi_script_name" | b"fastcgi_path_info" | b"grpc_internal_trailers" => {
            return unsupported("rginx does not implement this module")
        }
        b"limit_conn_status" | b"limit_req_status" => {
            return unsupported("rginx does not implement request limiting")
        }
        b"date_local" | b"date_gmt" => return unsupported("rginx does not implement SSI"),
        b"connections_active"
        | b"connections_reading"
        | b"connections_writing"
        | b"connections_waiting" => return unsupported("rginx does not implement stub_status"),
        b"uid_got" | b"uid_set" | b"uid_reset" => {
            return unsupported("rginx does not implement the userid module")
        }
        b"slice_range" => return unsupported("rginx does not implement the slice module"),
        b"secure_link" | b"secure_link_expires" => {
            return unsupported("rginx does not implement the secure_link module")
        }
        _ => {
            if name.starts_with(b"ssl_client_")
                && BUILTIN_NAMES.contains(&std::str::from_utf8(name).unwrap_or(""))
            {
                return Some(Ok(SslClientEmpty));
            }
            return prefix_var(name).map(Ok);
        }
    };
    Some(Ok(v))
}

fn prefix_var(name: &[u8]) -> Option<Var> {
    let strip = |p: &[u8]| name.strip_prefix(p).map(Box::<[u8]>::from);
    // Longest prefixes first: `upstream_http_` before `http_`.
    if let Some(s) = strip(b"upstream_http_") {
        return Some(Var::UpstreamHttp(HeaderVar::new(s)));
    }
    if let Some(s) = strip(b"upstream_cookie_") {
        return Some(Var::UpstreamCookie(s));
    }
    if let Some(s) = strip(b"upstream_trailer_") {
        return Some(Var::UpstreamTrailer(s));
    }
    if let Some(s) = strip(b"sent_http_") {
        return Some(Var::SentHttp(s));
    }
    if strip(b"sent_trailer_").is_some() {
        return Some(Var::SentTrailerEmpty);
    }
    if let Some(s) = strip(b"http_") {
        return Some(Var::Http(HeaderVar::new(s)));
    }
    if let Some(s) = strip(b"cookie_") {
        return Some(Var::Cookie(s));
    }
    if let Some(s) = strip(b"arg_") {
        return Some(Var::Arg(s));
    }
    None
}

/// Whether a name is one of nginx's own (a `map` may not redefine it).
pub fn is_builtin(name: &[u8]) -> bool {
    std::str::from_utf8(name).is_ok_and(|n| BUILTIN_NAMES.contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_resolve_longest_first() {
        assert_eq!(
            prefix_var(b"upstream_http_x"),
            Some(Var::UpstreamHttp(HeaderVar::new((*b"x").into())))
        );
        assert_eq!(
            prefix_var(b"http_user_agent"),
            Some(Var::Http(HeaderVar::new((*b"user_agent").into())))
        );
        assert_eq!(prefix_var(b"arg_A"), Some(Var::Arg((*b"A").into())));
        assert_eq!(prefix_var(b"nosuch"), None);
    }
}
