//! nginx's `ngx_url_t` and `ngx_parse_url`: `host[:port]`, `[v6][:port]` and `unix:path`,
//! with or without a URI part. The loader parses `listen`, `upstream`, `server` and static
//! `proxy_pass` addresses with it; the runtime parses an evaluated `proxy_pass` URL with the
//! same function, as nginx's `ngx_http_proxy_eval` does, so both read a URL alike.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::ir::value;

/// A parsed `host[:port]`, `[v6][:port]` or `unix:path` (nginx's `ngx_url_t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub host: Vec<u8>,
    pub port: u16,
    /// The port was not written (the default applies).
    pub no_port: bool,
    /// The port as written.
    pub port_text: Vec<u8>,
    /// From the first `/` (or, for `unix:`, after the path's `:`).
    pub uri: Option<Vec<u8>>,
    pub unix: Option<PathBuf>,
    /// An IP literal, if the host is one.
    pub ip: Option<IpAddr>,
    /// The last port of a `listen` port range.
    pub last_port: Option<u16>,
}

/// `ngx_parse_url`: `listen` mode accepts a bare port and `*`; `uri_part` allows a URI.
pub fn parse_url(
    raw: &[u8],
    default_port: u16,
    listen: bool,
    uri_part: bool,
) -> Result<Url, &'static str> {
    let mut u = Url {
        host: Vec::new(),
        port: default_port,
        no_port: false,
        port_text: Vec::new(),
        uri: None,
        unix: None,
        ip: None,
        last_port: None,
    };
    if raw.len() >= 5 && raw[..5].eq_ignore_ascii_case(b"unix:") {
        return unix_url(u, raw, uri_part);
    }
    if raw.first() == Some(&b'[') {
        return ipv6_url(u, raw, listen, uri_part);
    }
    let mut last = raw.len();
    let port = raw.iter().position(|b| *b == b':');
    let mut uri = raw.iter().position(|b| *b == b'/');
    if let Some(a) = raw.iter().position(|b| *b == b'?') {
        if uri.is_none_or(|x| a < x) {
            uri = Some(a);
        }
    }
    let mut port = port;
    if let Some(x) = uri {
        if listen || !uri_part {
            return Err("invalid host");
        }
        u.uri = Some(raw[x..].to_vec());
        last = x;
        if port.is_some_and(|p| x < p) {
            port = None;
        }
    }
    if let Some(p) = port {
        let text = &raw[p + 1..last];
        let (first, l) = split_range(text, listen);
        if let Some(l) = l {
            u.last_port = Some(port_num(l).ok_or("invalid port")?);
        }
        u.port = port_num(first).ok_or("invalid port")?;
        if u.last_port.is_some_and(|l| u.port > l) {
            return Err("invalid port range");
        }
        u.port_text = text.to_vec();
        last = p;
    } else {
        if uri.is_none() && listen {
            // A bare port (or port range).
            let text = &raw[..last];
            let (first, l) = split_range(text, true);
            if let Some(n) = value::number(first) {
                if let Some(l) = l {
                    match port_num(l) {
                        Some(l) => u.last_port = Some(l),
                        None => return Err("invalid port"),
                    }
                }
                if !(1..=65535).contains(&n) {
                    return Err("invalid port");
                }
                u.port = n as u16;
                if u.last_port.is_some_and(|l| u.port > l) {
                    return Err("invalid port range");
                }
                u.port_text = text.to_vec();
                u.ip = Some(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                u.host = Vec::new();
                return Ok(u);
            }
        }
        u.no_port = true;
        u.port = default_port;
    }
    let host = &raw[..last];
    if host.is_empty() {
        return Err("no host");
    }
    u.host = host.to_vec();
    if listen && host == b"*" {
        u.ip = Some(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        return Ok(u);
    }
    // ngx_inet_addr: dotted quad only.
    if let Some(ip) = std::str::from_utf8(host)
        .ok()
        .and_then(|h| h.parse::<std::net::Ipv4Addr>().ok())
    {
        if host.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
            u.ip = Some(IpAddr::V4(ip));
        }
    }
    Ok(u)
}

/// `unix:path` (with `:uri` after the path when a URI part is allowed).
fn unix_url(mut u: Url, raw: &[u8], uri_part: bool) -> Result<Url, &'static str> {
    use std::os::unix::ffi::OsStrExt;
    let mut path = &raw[5..];
    if uri_part {
        if let Some(i) = path.iter().position(|b| *b == b':') {
            u.uri = Some(path[i + 1..].to_vec());
            path = &path[..i];
        }
    }
    if path.is_empty() {
        return Err("no path in the unix domain socket");
    }
    if path.len() + 1 > 108 {
        return Err("too long path in the unix domain socket");
    }
    u.host = path.to_vec();
    u.unix = Some(PathBuf::from(std::ffi::OsStr::from_bytes(path)));
    Ok(u)
}

/// `[v6]`, `[v6]:port` (a range in `listen`), with a URI when one is allowed.
fn ipv6_url(mut u: Url, raw: &[u8], listen: bool, uri_part: bool) -> Result<Url, &'static str> {
    let close = raw.iter().position(|b| *b == b']').ok_or("invalid host")?;
    let host = &raw[1..close];
    let mut rest = &raw[close + 1..];
    if let Some(i) = rest.iter().position(|b| *b == b'/') {
        if listen || !uri_part {
            return Err("invalid host");
        }
        u.uri = Some(rest[i..].to_vec());
        rest = &rest[..i];
    }
    if !rest.is_empty() {
        if rest[0] != b':' {
            return Err("invalid host");
        }
        let p = &rest[1..];
        let (first, last) = split_range(p, listen);
        if let Some(last) = last {
            u.last_port = Some(port_num(last).ok_or("invalid port")?);
        }
        u.port = port_num(first).ok_or("invalid port")?;
        if u.last_port.is_some_and(|l| u.port > l) {
            return Err("invalid port range");
        }
        u.port_text = p.to_vec();
    } else {
        u.no_port = true;
    }
    if host.is_empty() {
        return Err("no host");
    }
    let ip: std::net::Ipv6Addr = std::str::from_utf8(host)
        .ok()
        .and_then(|h| h.parse().ok())
        .ok_or("invalid IPv6 address")?;
    u.host = raw[..close + 1].to_vec();
    u.ip = Some(IpAddr::V6(ip));
    Ok(u)
}

/// A port number, 1 to 65535.
fn port_num(p: &[u8]) -> Option<u16> {
    value::number(p)
        .filter(|n| (1..=65535).contains(n))
        .map(|n| n as u16)
}

fn split_range(p: &[u8], listen: bool) -> (&[u8], Option<&[u8]>) {
    if listen {
        if let Some(i) = p.iter().position(|b| *b == b'-') {
            return (&p[..i], Some(&p[i + 1..]));
        }
    }
    (p, None)
}

impl Url {
    /// `$proxy_host` and `$proxy_port` of a `proxy_pass` to this URL
    /// (`ngx_http_proxy_set_vars`): the host alone where the port is the scheme's default,
    /// else `host:port` as written; `localhost` and no port for `unix:`.
    pub fn proxy_vars(&self, default_port: u16) -> (Vec<u8>, Vec<u8>) {
        if self.unix.is_some() {
            return (b"localhost".to_vec(), Vec::new());
        }
        if self.no_port || self.port == default_port {
            (self.host.clone(), default_port.to_string().into_bytes())
        } else {
            let mut h = Vec::with_capacity(self.host.len() + 1 + self.port_text.len());
            h.extend_from_slice(&self.host);
            h.push(b':');
            h.extend_from_slice(&self.port_text);
            (h, self.port_text.clone())
        }
    }

    /// The one address this URL names without a resolver: a `unix:` path or an IP literal.
    pub fn literal_addr(&self) -> Option<crate::ir::upstream::PeerAddr> {
        use crate::ir::upstream::PeerAddr;
        match (&self.unix, self.ip) {
            (Some(path), _) => Some(PeerAddr::Unix(path.clone())),
            (None, Some(ip)) => Some(PeerAddr::Inet(std::net::SocketAddr::new(ip, self.port))),
            (None, None) => None,
        }
    }
}

/// The length of a `proxy_pass` URL's scheme (`http://` 7, `https://` 8), checked as
/// `ngx_http_proxy_eval` does, case-insensitively; `None` is "invalid URL prefix".
pub fn scheme_len(url: &[u8]) -> Option<(usize, bool)> {
    if url.len() > 7 && url[..7].eq_ignore_ascii_case(b"http://") {
        Some((7, false))
    } else if url.len() > 8 && url[..8].eq_ignore_ascii_case(b"https://") {
        Some((8, true))
    } else {
        None
    }
}

/// Where the URI part of `rest` (a URL after its scheme) starts, as [`parse_url`] with a URI
/// part reads it: after the path's `:` for `unix:` (the `:` is not part of the URI), else at
/// the first `/` (or, for a name or IPv4 host, `?`). `None` when `rest` has none.
pub fn uri_start(rest: &[u8]) -> Option<(usize, usize)> {
    if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"unix:") {
        let i = 5 + rest[5..].iter().position(|b| *b == b':')?;
        return Some((i, i + 1));
    }
    let i = if rest.first() == Some(&b'[') {
        let close = rest.iter().position(|b| *b == b']')?;
        close + rest[close..].iter().position(|b| *b == b'/')?
    } else {
        rest.iter().position(|b| *b == b'/' || *b == b'?')?
    };
    Some((i, i))
}
