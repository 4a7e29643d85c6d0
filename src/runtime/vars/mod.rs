//! Variable evaluation (S7) and `map` lookup (S8), from templates compiled at load time.
//!
//! A value is appended to an output buffer, so evaluating a template allocates nothing beyond
//! that buffer. Each function returns whether the variable was *found*: nginx's access log
//! prints `-` for a variable that is not found (an absent header, no upstream), and an empty
//! string for one that is found but empty.

pub mod headers;
pub mod line;
pub mod map;
pub mod path;
pub mod stream;

use std::io::Write;

use self::headers::{cookie, header_name_is, http_header, remote_user, set_cookie_value};
use crate::ir::header::Known;
use crate::ir::{Level, Part, Template, Var};
use crate::runtime::base::clock;
use crate::runtime::base::http1::request as http1;
use crate::runtime::state::conn::TlsInfo;
use crate::runtime::state::log;
use crate::runtime::state::request::Request;
use crate::runtime::state::upstream::UpstreamTry;

/// What has variables: a value is appended to `out`, and `var` says whether nginx would call
/// it found (the access log prints `-` for one that is not).
pub trait Eval {
    /// Appends the value of `v`; `false` when nginx would say "not found".
    fn var(&mut self, v: &Var, out: &mut Vec<u8>) -> bool;

    /// Appends the value of `t`.
    fn eval(&mut self, t: &Template, out: &mut Vec<u8>) {
        for p in t.parts.iter() {
            match p {
                Part::Literal(b) => out.extend_from_slice(b),
                Part::Var(v) => {
                    self.var(v, out);
                }
            }
        }
    }

    /// The value of `t` as a new buffer.
    fn eval_vec(&mut self, t: &Template) -> Vec<u8> {
        if let Some(l) = t.as_literal() {
            return l.to_vec();
        }
        let mut out = Vec::new();
        self.eval(t, &mut out);
        out
    }
}

impl Eval for Request {
    fn var(&mut self, v: &Var, out: &mut Vec<u8>) -> bool {
        Request::var(self, v, out)
    }
}

impl Request {
    /// Appends the value of `t`.
    pub fn eval(&mut self, t: &Template, out: &mut Vec<u8>) {
        for p in t.parts.iter() {
            match p {
                Part::Literal(b) => out.extend_from_slice(b),
                Part::Var(v) => {
                    self.var(v, out);
                }
            }
        }
    }

    /// The value of `t` as a new buffer.
    pub fn eval_vec(&mut self, t: &Template) -> Vec<u8> {
        if let Some(l) = t.as_literal() {
            return l.to_vec();
        }
        let mut out = Vec::new();
        self.eval(t, &mut out);
        out
    }

    /// Appends the value of `v`; `false` when nginx would say "not found".
    pub fn var(&mut self, v: &Var, out: &mut Vec<u8>) -> bool {
        let h = &self.head;
        match v {
            Var::Request => out.extend_from_slice(&h.buf[h.request_line.clone()]),
            Var::RequestMethod => out.extend_from_slice(self.method_name()),
            Var::RequestUri => out.extend_from_slice(h.request_uri()),
            Var::Uri => out.extend_from_slice(&self.uri),
            Var::Args => out.extend_from_slice(self.args()),
            Var::IsArgs => {
                if !self.args().is_empty() {
                    out.push(b'?')
                }
            }
            Var::ServerProtocol => out.extend_from_slice(h.protocol()),
            Var::Scheme => out.extend_from_slice(if self.conn.https { b"https" } else { b"http" }),
            Var::Https => {
                if self.conn.https {
                    out.extend_from_slice(b"on")
                }
            }
            Var::Arg(name) => match http1::arg(self.args(), name) {
                Some(v) => out.extend_from_slice(v),
                None => return false,
            },
            Var::Host => out.extend_from_slice(&self.host),
            Var::Http(name) => return http_header(h, name, out),
            Var::Cookie(name) => return cookie(h, name, out),
            Var::ContentLength => match h.known(Known::ContentLength) {
                Some(v) => out.extend_from_slice(v),
                None => return false,
            },
            Var::ContentType => match h.known(Known::ContentType) {
                Some(v) => out.extend_from_slice(v),
                None => return false,
            },
            Var::RemoteUser => return remote_user(h, out),
            Var::RemoteAddr | Var::RealipRemoteAddr => match self.conn.remote {
                Some(a) => {
                    let _ = write!(out, "{}", a.ip());
                }
                None => out.extend_from_slice(b"unix:"),
            },
            Var::RemotePort | Var::RealipRemotePort => {
                if let Some(a) = self.conn.remote {
                    let _ = write!(out, "{}", a.port());
                }
            }
            Var::BinaryRemoteAddr => match self.conn.remote.map(|a| a.ip()) {
                Some(std::net::IpAddr::V4(a)) => out.extend_from_slice(&a.octets()),
                Some(std::net::IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
                None => {}
            },
            Var::ServerAddr => match self.conn.local {
                Some(a) => {
                    let _ = write!(out, "{}", a.ip());
                }
                None => out.extend_from_slice(b"unix:"),
            },
            Var::ServerPort => {
                if let Some(a) = self.conn.local {
                    let _ = write!(out, "{}", a.port());
                }
            }
            Var::ServerName => out.extend_from_slice(&self.server().server_name),
            Var::Connection => {
                let _ = write!(out, "{}", self.conn.number);
            }
            Var::ConnectionRequests => {
                let _ = write!(out, "{}", self.conn_requests);
            }
            Var::ConnectionTime => {
                let ms = self.conn.accepted.elapsed().as_millis();
                let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
            }
            Var::ProxyProtocolAddr
            | Var::ProxyProtocolPort
            | Var::ProxyProtocolServerAddr
            | Var::ProxyProtocolServerPort => return false,
            Var::SslProtocol
            | Var::SslCipher
            | Var::SslCiphers
            | Var::SslCurve
            | Var::SslCurves
            | Var::SslSessionId
            | Var::SslSessionReused
            | Var::SslEarlyData
            | Var::SslServerName
            | Var::SslAlpnProtocol
            | Var::SslClientEmpty => return ssl_var(self.conn.tls.as_deref(), v, out),
            Var::Http2 => {
                if self.conn.http2 {
                    out.extend_from_slice(if self.conn.tls.is_some() {
                        b"h2"
                    } else {
                        b"h2c"
                    })
                }
            }
            Var::DocumentRoot | Var::RealpathRoot | Var::RequestFilename => {
                path::path_var(self, v, out);
            }
            Var::ProxyHost => out.extend_from_slice(&self.upstream.proxy_host),
            Var::ProxyPort => out.extend_from_slice(&self.upstream.proxy_port),
            Var::ProxyAddXForwardedFor => {
                let start = out.len();
                for (i, v) in self.head.known_all(Known::XForwardedFor).enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    out.extend_from_slice(v);
                }
                if out.len() > start {
                    out.extend_from_slice(b", ");
                }
                self.var(&Var::RemoteAddr, out);
            }
            Var::UpstreamAddr => {
                return self.upstream_list(out, |t, out| out.extend_from_slice(&t.addr))
            }
            Var::UpstreamStatus => {
                return self.upstream_list(out, |t, out| match t.status {
                    Some(s) if s != 0 => {
                        let _ = write!(out, "{s}");
                    }
                    _ => out.push(b'-'),
                })
            }
            Var::UpstreamConnectTime => {
                return self.upstream_list(out, |t, out| ms(out, t.connect_ms))
            }
            Var::UpstreamHeaderTime => {
                return self.upstream_list(out, |t, out| ms(out, t.header_ms))
            }
            Var::UpstreamResponseTime => {
                return self.upstream_list(out, |t, out| ms(out, t.response_ms))
            }
            Var::UpstreamResponseLength => {
                return self.upstream_list(out, |t, out| {
                    let _ = write!(out, "{}", t.response_length);
                })
            }
            Var::UpstreamBytesReceived => {
                return self.upstream_list(out, |t, out| {
                    let _ = write!(out, "{}", t.bytes_received);
                })
            }
            Var::UpstreamBytesSent => {
                return self.upstream_list(out, |t, out| {
                    let _ = write!(out, "{}", t.bytes_sent);
                })
            }
            Var::UpstreamCacheEmpty => return false,
            Var::UpstreamHttp(name) => {
                let Some(u) = &self.upstream.head else {
                    return false;
                };
                let value = match name.known {
                    Some(k) => u.head.known(&u.buf, k),
                    None => u
                        .lines()
                        .find(|(n, _)| header_name_is(n, &name.name))
                        .map(|(_, v)| v),
                };
                return match value {
                    Some(v) => {
                        out.extend_from_slice(v);
                        true
                    }
                    None => false,
                };
            }
            Var::UpstreamCookie(name) => {
                let Some(u) = &self.upstream.head else {
                    return false;
                };
                let found = u
                    .head
                    .known_all(&u.buf, Known::SetCookie)
                    .find_map(|v| set_cookie_value(v, name));
                return match found {
                    Some(v) => {
                        out.extend_from_slice(v);
                        true
                    }
                    None => false,
                };
            }
            Var::UpstreamTrailer(_) => return false,
            Var::Status => {
                let s = self.log_status();
                let _ = write!(out, "{s:03}");
            }
            Var::BodyBytesSent => {
                let _ = write!(out, "{}", self.sent.body_bytes + self.sent.interim);
            }
            Var::BytesSent => {
                let _ = write!(
                    out,
                    "{}",
                    self.sent.header_bytes + self.sent.body_bytes + self.sent.interim
                );
            }
            Var::RequestLength => {
                let _ = write!(out, "{}", self.request_length);
            }
            Var::RequestTime => {
                let ms = self.start.elapsed().as_millis();
                let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
            }
            Var::RequestCompletion => {
                if !self.sent.incomplete && self.sent.status != 0 {
                    out.extend_from_slice(b"OK")
                }
            }
            Var::Pipe => out.push(if self.pipelined() { b'p' } else { b'.' }),
            Var::SentHttp(name) => return self.sent_header(name, out),
            Var::SentTrailerEmpty => return false,
            // The stream module's variables: no http name resolves to them.
            Var::BytesReceived
            | Var::SessionTime
            | Var::Protocol
            | Var::UpstreamFirstByteTime
            | Var::UpstreamSessionTime => return false,
            Var::GzipRatio => return false,
            Var::LimitRate => out.push(b'0'),
            Var::Msec => out.extend_from_slice(clock::msec().as_bytes()),
            Var::TimeLocal => out.extend_from_slice(clock::time_local().as_bytes()),
            Var::TimeIso8601 => out.extend_from_slice(clock::time_iso8601().as_bytes()),
            Var::RequestId => {
                let id = request_id();
                for b in id {
                    let _ = write!(out, "{b:02x}");
                }
            }
            Var::Pid => {
                let _ = write!(out, "{}", std::process::id());
            }
            Var::Hostname => out.extend_from_slice(self.snap.hostname.as_bytes()),
            Var::NginxVersion => out.extend_from_slice(crate::version::NGINX_VERSION.as_bytes()),
            Var::Capture(n) => {
                if let Some(v) = self.captures.as_ref().and_then(|c| c.numbered(*n as usize)) {
                    out.extend_from_slice(v);
                }
            }
            Var::NamedCapture(name) => match self.named_captures.iter().find(|(k, _)| k == name) {
                Some((_, v)) => out.extend_from_slice(v),
                None => return false,
            },
            Var::Map(id) => return self.map(id.0 as usize, out),
            Var::Set(i) => match self.set_vars.get(*i as usize) {
                Some(Some(v)) => out.extend_from_slice(v),
                _ => {
                    if self.conf.uninitialized_variable_warn {
                        let name = self
                            .snap
                            .http()
                            .set_vars
                            .get(*i as usize)
                            .cloned()
                            .unwrap_or_default();
                        log::error(
                            self,
                            Level::Warn,
                            format_args!("using uninitialized \"{name}\" variable"),
                        );
                    }
                }
            },
        }
        true
    }

    /// `$request_method`.
    pub fn method_name(&self) -> &[u8] {
        if self.method_get {
            b"GET"
        } else {
            &self.head.buf[self.head.method_name.clone()]
        }
    }

    fn pipelined(&self) -> bool {
        self.pipelined
    }

    /// `$upstream_*` lists: one item per attempt, `, ` between them (nginx also uses ` : `
    /// between groups of internal redirects; rginx lists attempts of one group).
    fn upstream_list(&self, out: &mut Vec<u8>, item: impl Fn(&UpstreamTry, &mut Vec<u8>)) -> bool {
        let tries = &self.upstream.tries;
        if tries.is_empty() {
            return false;
        }
        for (i, t) in tries.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            item(t, out);
        }
        true
    }

    fn sent_header(&self, name: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(head) = &self.sent.head else {
            return false;
        };
        // The head as sent: skip the status line, then `Name: value` lines.
        let mut lines = head.split(|&b| b == b'\n').skip(1);
        for line in &mut lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                if header_name_is(&line[..colon], name) {
                    let v = &line[colon + 1..];
                    out.extend_from_slice(v.strip_prefix(b" ").unwrap_or(v));
                    return true;
                }
            }
        }
        false
    }
}

fn ms(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(ms) => {
            let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
        }
        None => out.push(b'-'),
    }
}

/// `$request_id`: 16 random bytes.
fn request_id() -> [u8; 16] {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    fn seed() -> u64 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        t ^ (std::process::id() as u64) << 32 | 1
    }
    // splitmix64: unpredictability is not a goal, uniqueness is.
    let next = || {
        STATE.with(|s| {
            let mut z = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
            s.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
    };
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&next().to_le_bytes());
    id[8..].copy_from_slice(&next().to_le_bytes());
    id
}

/// `$ssl_*` (S12): not found on a plain connection, and not found when empty, as nginx's
/// `ngx_http_ssl_variable` (and stream's) say.
fn ssl_var(tls: Option<&TlsInfo>, v: &Var, out: &mut Vec<u8>) -> bool {
    let Some(t) = tls else {
        return false;
    };
    let start = out.len();
    match v {
        Var::SslProtocol => out.extend_from_slice(t.protocol.as_bytes()),
        Var::SslCipher => out.extend_from_slice(t.cipher.as_bytes()),
        Var::SslCiphers => t.write_ciphers(out),
        Var::SslCurve => out.extend_from_slice(t.curve.as_bytes()),
        Var::SslCurves => t.write_curves(out),
        // rustls does not expose session IDs; TLS 1.3 has none on the wire either.
        Var::SslSessionId => {}
        Var::SslSessionReused => out.push(if t.reused { b'r' } else { b'.' }),
        // No 0-RTT: nginx says "" unless early data was accepted.
        Var::SslEarlyData => {}
        Var::SslServerName => match &t.server_name {
            Some(n) => out.extend_from_slice(n.as_bytes()),
            None => return false,
        },
        Var::SslAlpnProtocol => {
            if let Some(a) = &t.alpn {
                out.extend_from_slice(a)
            }
        }
        _ => {}
    }
    out.len() > start
}

#[cfg(test)]
mod tests {
    use crate::ir::var::HeaderVar;
    use crate::ir::{MapId, Var};
    use crate::runtime::testing::env;

    const REQUEST: &str = "POST /p/../q%20r?q=1&q=2&Q=3 HTTP/1.1\r\nHost: Example.org:99\r\n\
        Cookie: a=1; A=2\r\nCookie: b=3\r\nX-Dup: 1\r\nX-Dup: 2\r\nX-Forwarded-For: 1.2.3.4\r\n\
        X-Forwarded-For: 5.6.7.8\r\nUser-Agent: probe\r\nContent-Length: 0\r\n\r\n";

    /// S7's table, on S7's request.
    #[test]
    fn variables_follow_s7() {
        let e = env("server { listen 127.0.0.1:8080; server_name n1.test; }");
        let mut r = e.request(REQUEST);
        let table: &[(Var, &str, bool)] = &[
            (Var::Host, "example.org", true),
            (
                Var::Http(HeaderVar::new((*b"host").into())),
                "Example.org:99",
                true,
            ),
            (
                Var::Http(HeaderVar::new((*b"user_agent").into())),
                "probe",
                true,
            ),
            (Var::Http(HeaderVar::new((*b"x_dup").into())), "1", true),
            (
                Var::Http(HeaderVar::new((*b"cookie").into())),
                "a=1; A=2; b=3",
                true,
            ),
            (
                Var::Http(HeaderVar::new((*b"x_forwarded_for").into())),
                "1.2.3.4, 5.6.7.8",
                true,
            ),
            (Var::Http(HeaderVar::new((*b"x_absent").into())), "", false),
            (Var::Cookie((*b"a").into()), "1", true),
            (Var::Cookie((*b"b").into()), "3", true),
            (Var::Cookie((*b"c").into()), "", false),
            (Var::Arg((*b"q").into()), "1", true),
            (Var::Arg((*b"Q").into()), "1", true),
            (Var::Arg((*b"z").into()), "", false),
            (Var::Args, "q=1&q=2&Q=3", true),
            (Var::IsArgs, "?", true),
            (Var::RequestUri, "/p/../q%20r?q=1&q=2&Q=3", true),
            (Var::Uri, "/q r", true),
            (Var::Request, "POST /p/../q%20r?q=1&q=2&Q=3 HTTP/1.1", true),
            (Var::RequestMethod, "POST", true),
            (Var::ServerProtocol, "HTTP/1.1", true),
            (Var::Scheme, "http", true),
            (Var::Https, "", true),
            (Var::ServerName, "n1.test", true),
            (Var::RemoteAddr, "127.0.0.1", true),
            (Var::RemotePort, "40000", true),
            (Var::ServerAddr, "127.0.0.1", true),
            (Var::ServerPort, "8080", true),
            (Var::ContentLength, "0", true),
            (Var::ContentType, "", false),
            (Var::RemoteUser, "", false),
            (
                Var::ProxyAddXForwardedFor,
                "1.2.3.4, 5.6.7.8, 127.0.0.1",
                true,
            ),
            (Var::UpstreamAddr, "", false),
            (Var::Status, "000", true),
            (Var::NginxVersion, "1.22.1", true),
        ];
        for (v, want, found) in table {
            let mut out = Vec::new();
            let f = r.var(v, &mut out);
            assert_eq!(
                (String::from_utf8_lossy(&out).as_ref(), f),
                (*want, *found),
                "{v:?}"
            );
        }
    }

    /// S2.6: with no Host, `$host` is the server's name.
    #[test]
    fn host_falls_back_to_server_name() {
        let e = env("server { listen 127.0.0.1:8080; server_name n1.test; }");
        let mut r = e.request("GET / HTTP/1.0\r\n\r\n");
        let mut out = Vec::new();
        r.var(&Var::Host, &mut out);
        assert_eq!(out, b"n1.test");
    }

    /// S8.2–S8.6: exact keys (case-insensitive), regexes in order with captures, `\default`,
    /// the empty source, the default.
    #[test]
    fn maps_follow_s8() {
        let e = env(r#"map $arg_k $m {
                 default        dflt;
                 exact          exact-key;
                 Mixed          mixed-key;
                 ''             empty-key;
                 \default       literal-default-key;
                 ~^ex           regex-ex;
                 ~*^CASE        regex-ci;
                 ~^r(?<num>\d+)$  named-$num;
                 ~^p(\d+)-(\d+)$  pos-$2-$1;
               }
               map $http_upgrade $connection_upgrade { default upgrade; '' close; }
               server { listen 127.0.0.1:8080; return 200 "$m $connection_upgrade"; }"#);
        let table: &[(&str, &str)] = &[
            ("k=exact", "exact-key"),
            ("k=EXACT", "exact-key"),
            ("k=mixed", "mixed-key"),
            ("k=example", "regex-ex"),
            ("k=case-x", "regex-ci"),
            ("k=r42", "named-42"),
            ("k=p1-2", "pos-2-1"),
            ("k=", "empty-key"),
            ("x=1", "empty-key"),
            ("k=default", "literal-default-key"),
            ("k=other", "dflt"),
        ];
        for (args, want) in table {
            let mut r = e.request(&format!("GET /?{args} HTTP/1.1\r\nHost: x\r\n\r\n"));
            let mut out = Vec::new();
            r.var(&Var::Map(MapId(0)), &mut out);
            assert_eq!(String::from_utf8_lossy(&out), *want, "{args}");
        }
        for (upgrade, want) in [
            ("Upgrade: websocket\r\n", "upgrade"),
            ("", "close"),
            ("Upgrade: \r\n", "close"),
        ] {
            let mut r = e.request(&format!("GET / HTTP/1.1\r\nHost: x\r\n{upgrade}\r\n"));
            let mut out = Vec::new();
            r.var(&Var::Map(MapId(1)), &mut out);
            assert_eq!(String::from_utf8_lossy(&out), want, "{upgrade:?}");
        }
    }
}
