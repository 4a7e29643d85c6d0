//! What a client connection is while served: what it knows about itself ([`ConnInfo`]:
//! addresses, the listening socket, TLS and HTTP/2), its TLS handshake ([`TlsInfo`], for
//! `$ssl_*`), and its client side ([`Client`]: the stream and the bytes read but not yet
//! used). Connection numbers are nginx's `ngx_connection_counter`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::BytesMut;

use crate::ir::ServerId;
use crate::runtime::base::io::Stream;

/// nginx's `ngx_connection_counter`: `$connection` and the `*N` of error-log lines.
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// Takes a connection number; upstream connections take one too (`ngx_event_connect_peer`),
/// so the client numbers in the logs follow nginx's.
pub fn next_connection_number() -> u64 {
    CONNECTIONS.fetch_add(1, Ordering::Relaxed)
}

/// The client side of a connection: the stream and the bytes read but not yet used
/// (a pipelined request, the start of a body).
pub struct Client {
    pub stream: Stream,
    pub buf: BytesMut,
}

/// What a connection knows about itself (shared by its requests).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// `$connection`, and the `*N` of error-log lines.
    pub number: u64,
    /// The client's address, `None` for a unix socket (`$remote_addr` = `unix:`).
    pub remote: Option<SocketAddr>,
    /// The local address the connection arrived on, `None` for a unix socket.
    pub local: Option<SocketAddr>,
    pub https: bool,
    /// The handshake of a TLS connection (`$ssl_*`).
    pub tls: Option<Box<TlsInfo>>,
    /// The connection speaks HTTP/2 (`$http2`).
    pub http2: bool,
    pub accepted: Instant,
    /// Index of the listening socket in [`crate::ir::Http::sockets`] and of the address
    /// configuration within it (S2.3).
    pub socket: usize,
    pub addr: usize,
}

impl ConnInfo {
    pub fn remote_ip(&self) -> Option<IpAddr> {
        self.remote.map(|a| a.ip())
    }
}

/// What a TLS connection knows about its handshake.
#[derive(Clone, Debug)]
pub struct TlsInfo {
    /// `$ssl_protocol`: `TLSv1.2`, `TLSv1.3`.
    pub protocol: &'static str,
    /// `$ssl_cipher`, OpenSSL's name.
    pub cipher: std::borrow::Cow<'static, str>,
    /// What the client offered (`$ssl_ciphers`), named only when the variable is read.
    pub offered_suites: Box<[rustls::CipherSuite]>,
    /// `$ssl_curve`: the key exchange group, OpenSSL's name.
    pub curve: &'static str,
    /// The client's groups (`$ssl_curves`), named only when the variable is read.
    pub offered_groups: Box<[rustls::NamedGroup]>,
    /// `$ssl_session_reused`.
    pub reused: bool,
    /// `$ssl_server_name`.
    pub server_name: Option<Box<str>>,
    /// `$ssl_alpn_protocol`.
    pub alpn: Option<Box<[u8]>>,
    /// The http server SNI chose; its header buffers and timeout apply until a request
    /// names another. `None` on a stream session.
    pub server: Option<ServerId>,
}

/// OpenSSL's group names, as `$ssl_curve` shows them.
pub fn group_name(g: rustls::NamedGroup) -> &'static str {
    match g {
        rustls::NamedGroup::X25519 => "X25519",
        rustls::NamedGroup::secp256r1 => "prime256v1",
        rustls::NamedGroup::secp384r1 => "secp384r1",
        rustls::NamedGroup::secp521r1 => "secp521r1",
        rustls::NamedGroup::X448 => "X448",
        _ => "",
    }
}

impl TlsInfo {
    /// What OpenSSL reports of a handshake that failed after the client's hello: the version
    /// and the key-exchange group the server would have chosen, and no cipher (`(NONE)`).
    pub fn of_hello(
        config: &rustls::ServerConfig,
        tls13_enabled: bool,
        server_name: Option<Box<str>>,
        ciphers: &[rustls::CipherSuite],
        curves: &[rustls::NamedGroup],
    ) -> TlsInfo {
        let provider = config.crypto_provider();
        let tls13 = tls13_enabled
            && ciphers.iter().any(|c| {
                provider.cipher_suites.iter().any(|s| {
                    s.suite() == *c && s.version().version == rustls::ProtocolVersion::TLSv1_3
                })
            });
        let curve = curves
            .iter()
            .find(|g| provider.kx_groups.iter().any(|k| k.name() == **g))
            .map_or("", |g| group_name(*g));
        TlsInfo {
            protocol: if tls13 { "TLSv1.3" } else { "TLSv1.2" },
            cipher: "(NONE)".into(),
            offered_suites: ciphers.into(),
            curve,
            offered_groups: curves.into(),
            reused: false,
            server_name,
            alpn: None,
            server: None,
        }
    }

    /// What a finished handshake agreed, with what the client offered.
    pub fn of(
        c: &rustls::ServerConnection,
        server_name: Option<Box<str>>,
        server: Option<ServerId>,
        ciphers: Box<[rustls::CipherSuite]>,
        curves: Box<[rustls::NamedGroup]>,
    ) -> TlsInfo {
        let protocol = match c.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "",
        };
        let cipher = c
            .negotiated_cipher_suite()
            .map(|cs| crate::ir::tls::openssl_name(cs.suite()))
            .unwrap_or_default();
        let curve = c
            .negotiated_key_exchange_group()
            .map_or("", |g| group_name(g.name()));
        TlsInfo {
            protocol,
            cipher,
            offered_suites: ciphers,
            curve,
            offered_groups: curves,
            reused: matches!(c.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
            server_name,
            alpn: c.alpn_protocol().map(Into::into),
            server,
        }
    }

    /// `$ssl_ciphers`: the client's suites by OpenSSL's names, `:`-separated.
    pub fn write_ciphers(&self, out: &mut Vec<u8>) {
        join(
            self.offered_suites
                .iter()
                .map(|cs| crate::ir::tls::openssl_name(*cs)),
            out,
        )
    }

    /// `$ssl_curves`: the client's groups by OpenSSL's names.
    pub fn write_curves(&self, out: &mut Vec<u8>) {
        join(
            self.offered_groups.iter().map(|g| group_name(*g).into()),
            out,
        )
    }
}

fn join<'a>(names: impl Iterator<Item = std::borrow::Cow<'a, str>>, out: &mut Vec<u8>) {
    let start = out.len();
    for n in names.filter(|n| !n.is_empty()) {
        if out.len() > start {
            out.push(b':');
        }
        out.extend_from_slice(n.as_bytes());
    }
}
