//! The stream module's variables, evaluated for a session (`ngx_stream_variables.c`, the
//! upstream and SSL modules' own): the connection's addresses, the byte counts and times,
//! `$status`, the upstream tries, `$ssl_*`, and the stream block's maps.

use std::io::Write;
use std::sync::Arc;

use super::map::{lookup, Found};
use super::{ms, ssl_var, Eval};
use crate::ir::{Level, Map, Var};
use crate::runtime::base::clock;
use crate::runtime::state::captures::Captures;
use crate::runtime::state::request::MapSlot;
use crate::runtime::state::session::{Session, StreamTry};
use crate::runtime::state::snapshot::Snapshot;

impl Eval for Session {
    fn var(&mut self, v: &Var, out: &mut Vec<u8>) -> bool {
        match v {
            Var::RemoteAddr => match self.remote {
                Some(a) => {
                    let _ = write!(out, "{}", a.ip());
                }
                None => out.extend_from_slice(b"unix:"),
            },
            Var::RemotePort => {
                if let Some(a) = self.remote {
                    let _ = write!(out, "{}", a.port());
                }
            }
            Var::BinaryRemoteAddr => match self.remote.map(|a| a.ip()) {
                Some(std::net::IpAddr::V4(a)) => out.extend_from_slice(&a.octets()),
                Some(std::net::IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
                None => {}
            },
            Var::ServerAddr => match self.local {
                Some(a) => {
                    let _ = write!(out, "{}", a.ip());
                }
                None => out.extend_from_slice(b"unix:"),
            },
            Var::ServerPort => {
                if let Some(a) = self.local {
                    let _ = write!(out, "{}", a.port());
                }
            }
            // No PROXY protocol header was read (`listen ... proxy_protocol` is refused).
            Var::ProxyProtocolAddr
            | Var::ProxyProtocolPort
            | Var::ProxyProtocolServerAddr
            | Var::ProxyProtocolServerPort => return false,
            Var::BytesSent => {
                let _ = write!(out, "{}", self.sent);
            }
            Var::BytesReceived => {
                let _ = write!(out, "{}", self.received);
            }
            Var::SessionTime => ms(out, Some(self.started.elapsed().as_millis() as u64)),
            Var::Status => {
                let _ = write!(out, "{:03}", self.status);
            }
            Var::Protocol => out.extend_from_slice(b"TCP"),
            Var::Connection => {
                let _ = write!(out, "{}", self.number);
            }
            Var::UpstreamAddr => {
                return self.tries_list(out, |t, out| out.extend_from_slice(&t.peer))
            }
            Var::UpstreamBytesSent => {
                return self.tries_list(out, |t, out| {
                    let _ = write!(out, "{}", t.bytes_sent);
                })
            }
            Var::UpstreamBytesReceived => {
                return self.tries_list(out, |t, out| {
                    let _ = write!(out, "{}", t.bytes_received);
                })
            }
            Var::UpstreamConnectTime => {
                return self.tries_list(out, |t, out| ms(out, t.connect_ms))
            }
            Var::UpstreamFirstByteTime => {
                return self.tries_list(out, |t, out| ms(out, t.first_byte_ms))
            }
            Var::UpstreamSessionTime => {
                return self.tries_list(out, |t, out| ms(out, t.session_ms))
            }
            Var::SslProtocol
            | Var::SslCipher
            | Var::SslCiphers
            | Var::SslCurve
            | Var::SslCurves
            | Var::SslSessionId
            | Var::SslSessionReused
            | Var::SslServerName
            | Var::SslAlpnProtocol
            | Var::SslClientEmpty => return ssl_var(self.tls.as_deref(), v, out),
            Var::Msec => out.extend_from_slice(clock::msec().as_bytes()),
            Var::TimeLocal => out.extend_from_slice(clock::time_local().as_bytes()),
            Var::TimeIso8601 => out.extend_from_slice(clock::time_iso8601().as_bytes()),
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
            Var::NamedCapture(name) => match self.captures.as_ref().and_then(|c| c.named(name)) {
                Some(v) => out.extend_from_slice(v),
                None => return false,
            },
            Var::Map(id) => return self.map(id.0 as usize, out),
            // Only stream names resolve in the stream block (`config::builtins::stream`).
            _ => return false,
        }
        true
    }
}

impl Session {
    /// `$upstream_*`: one value per try, `, `-separated; not found before any try.
    fn tries_list(&self, out: &mut Vec<u8>, item: impl Fn(&StreamTry, &mut Vec<u8>)) -> bool {
        if self.tries.is_empty() {
            return false;
        }
        for (i, t) in self.tries.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            item(t, out);
        }
        true
    }

    /// A stream `map`'s value, evaluated once per session (unless `volatile`).
    fn map(&mut self, i: usize, out: &mut Vec<u8>) -> bool {
        let snap: Arc<Snapshot> = Arc::clone(&self.snap);
        let map: &Map = &snap.stream.maps[i];
        if self.maps.is_empty() {
            self.maps.resize(snap.stream.maps.len(), MapSlot::Unset);
        }
        match &self.maps[i] {
            MapSlot::Value(v) if !map.volatile => {
                return match v {
                    Some(v) => {
                        out.extend_from_slice(v);
                        true
                    }
                    None => false,
                }
            }
            MapSlot::Busy => {
                self.error(
                    Level::Error,
                    format_args!("cycle while evaluating variable \"{}\"", map.name),
                    None,
                );
                return false;
            }
            _ => {}
        }
        self.maps[i] = MapSlot::Busy;
        let source = self.eval_vec(&map.source);
        let value = match lookup(map, &source) {
            Found::Value(t) => self.eval_vec(t),
            Found::Regex(re, t) => {
                if let Some(caps) = Captures::from_regex(re, &source) {
                    self.captures = Some(caps);
                }
                self.eval_vec(t)
            }
            Found::Default => Vec::new(),
        };
        out.extend_from_slice(&value);
        self.maps[i] = if map.volatile {
            MapSlot::Unset
        } else {
            MapSlot::Value(Some(value))
        };
        true
    }
}
