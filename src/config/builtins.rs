//! nginx's built-in variables: the names each context defines (http's, and the stream
//! module's), and what rginx evaluates for each ([`Var`]). A name no module defines is
//! `unknown "x" variable`; one nginx defines but rginx does not evaluate is refused with
//! why. Prefix families (`$http_*`, `$arg_*`, ...) are http's alone.

use super::template::Unresolved;
use crate::ir::var::HeaderVar;
use crate::ir::Var;

/// Names nginx 1.22 defines (http), for suggestions and for `map` redefinition checks.
pub const HTTP_NAMES: &[&str] = &[
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
pub fn http(name: &[u8]) -> Option<Result<Var, Unresolved>> {
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
                && HTTP_NAMES.contains(&std::str::from_utf8(name).unwrap_or(""))
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

/// Whether a name is one of http's own.
pub fn is_http(name: &[u8]) -> bool {
    std::str::from_utf8(name).is_ok_and(|n| HTTP_NAMES.contains(&n))
}

/// Whether a name is one of the context's own (a `map` may not redefine it).
pub fn is_builtin(name: &[u8], stream: bool) -> bool {
    let names = if stream { STREAM_NAMES } else { HTTP_NAMES };
    std::str::from_utf8(name).is_ok_and(|n| names.contains(&n))
}

/// Names the stream module of nginx 1.22 defines (`ngx_stream_variables.c`, the upstream,
/// SSL, realip, limit_conn and ssl_preread modules).
pub const STREAM_NAMES: &[&str] = &[
    "binary_remote_addr",
    "remote_addr",
    "remote_port",
    "proxy_protocol_addr",
    "proxy_protocol_port",
    "proxy_protocol_server_addr",
    "proxy_protocol_server_port",
    "server_addr",
    "server_port",
    "bytes_sent",
    "bytes_received",
    "session_time",
    "status",
    "connection",
    "nginx_version",
    "hostname",
    "pid",
    "msec",
    "time_iso8601",
    "time_local",
    "protocol",
    "upstream_addr",
    "upstream_bytes_sent",
    "upstream_bytes_received",
    "upstream_connect_time",
    "upstream_first_byte_time",
    "upstream_session_time",
    "ssl_protocol",
    "ssl_cipher",
    "ssl_ciphers",
    "ssl_curve",
    "ssl_curves",
    "ssl_session_id",
    "ssl_session_reused",
    "ssl_server_name",
    "ssl_alpn_protocol",
    "ssl_client_cert",
    "ssl_client_raw_cert",
    "ssl_client_escaped_cert",
    "ssl_client_s_dn",
    "ssl_client_i_dn",
    "ssl_client_serial",
    "ssl_client_fingerprint",
    "ssl_client_verify",
    "ssl_client_v_start",
    "ssl_client_v_end",
    "ssl_client_v_remain",
    "realip_remote_addr",
    "realip_remote_port",
    "limit_conn_status",
    "ssl_preread_protocol",
    "ssl_preread_server_name",
    "ssl_preread_alpn_protocols",
];

/// The stream module's built-in variables, as rginx evaluates them for a session.
pub fn stream(name: &[u8]) -> Option<Result<Var, Unresolved>> {
    use Var::*;
    let v = match name {
        b"binary_remote_addr" => BinaryRemoteAddr,
        b"remote_addr" | b"realip_remote_addr" => RemoteAddr,
        b"remote_port" | b"realip_remote_port" => RemotePort,
        // Without `listen ... proxy_protocol` (which rginx refuses) these are empty.
        b"proxy_protocol_addr" => ProxyProtocolAddr,
        b"proxy_protocol_port" => ProxyProtocolPort,
        b"proxy_protocol_server_addr" => ProxyProtocolServerAddr,
        b"proxy_protocol_server_port" => ProxyProtocolServerPort,
        b"server_addr" => ServerAddr,
        b"server_port" => ServerPort,
        b"bytes_sent" => BytesSent,
        b"bytes_received" => BytesReceived,
        b"session_time" => SessionTime,
        b"status" => Status,
        b"connection" => Connection,
        b"nginx_version" => NginxVersion,
        b"hostname" => Hostname,
        b"pid" => Pid,
        b"msec" => Msec,
        b"time_iso8601" => TimeIso8601,
        b"time_local" => TimeLocal,
        b"protocol" => Protocol,
        b"upstream_addr" => UpstreamAddr,
        b"upstream_bytes_sent" => UpstreamBytesSent,
        b"upstream_bytes_received" => UpstreamBytesReceived,
        b"upstream_connect_time" => UpstreamConnectTime,
        b"upstream_first_byte_time" => UpstreamFirstByteTime,
        b"upstream_session_time" => UpstreamSessionTime,
        b"ssl_protocol" => SslProtocol,
        b"ssl_cipher" => SslCipher,
        b"ssl_ciphers" => SslCiphers,
        b"ssl_curve" => SslCurve,
        b"ssl_curves" => SslCurves,
        b"ssl_session_id" => SslSessionId,
        b"ssl_session_reused" => SslSessionReused,
        b"ssl_server_name" => SslServerName,
        b"ssl_alpn_protocol" => SslAlpnProtocol,
        b"limit_conn_status" => {
            return Some(Err(Unresolved::Unsupported(
                "rginx does not implement limit_conn in stream",
            )))
        }
        b"ssl_preread_protocol" | b"ssl_preread_server_name" | b"ssl_preread_alpn_protocols" => {
            return Some(Err(Unresolved::Unsupported(
                "rginx does not implement ssl_preread",
            )))
        }
        _ if name.starts_with(b"ssl_client_")
            && STREAM_NAMES.contains(&std::str::from_utf8(name).unwrap_or("")) =>
        {
            // No client certificates are requested (ssl_verify_client is refused).
            SslClientEmpty
        }
        _ => return None,
    };
    Some(Ok(v))
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
