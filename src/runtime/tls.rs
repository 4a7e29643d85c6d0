//! TLS on client connections (S12): telling TLS from plain HTTP on a TLS port (S12.5), the
//! SNI name choosing the server whose certificate and settings the handshake uses (S12.3),
//! the handshake under `client_header_timeout`, and what `$ssl_*` variables report.
//!
//! The rustls configurations were built when the configuration was loaded (one per server,
//! see `config::lower::ssl_context`); a handshake only picks one.

use std::time::Duration;

use tokio_rustls::server::TlsStream;

use super::io::{self, Stream};
use super::request::ConnInfo;
use super::route;
use super::Snapshot;
use crate::ir::{Level, ServerId};

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
    /// The server SNI chose; its header buffers and timeout apply until a request names
    /// another.
    pub server: ServerId,
}

/// How the start of a connection on a TLS address turned out.
pub enum Accepted {
    Tls(Stream, Box<TlsInfo>),
    /// The first byte is not a TLS record: nginx reads the request and answers 497 (S12.5).
    Plain(Stream),
    /// Closed, timed out or failed (logged at info, as nginx).
    Closed,
}

/// Peeks at the first byte as nginx does (`0x16` handshake record, or an SSLv2-style hello
/// with the high bit set), then handshakes with the configuration of the server SNI names.
pub async fn accept(stream: Stream, snap: &Snapshot, conn: &ConnInfo) -> Accepted {
    let ac = &snap.http().sockets[conn.socket].addrs[conn.addr];
    let default = &snap.http().servers[ac.default_server.0 as usize];
    let timeout = default.srv.client_header_timeout;
    if let Stream::Tcp(tcp) = &stream {
        let mut first = [0u8; 1];
        match io::timed(timeout, tcp.peek(&mut first)).await {
            Ok(Ok(1)) => {}
            Ok(Ok(_)) => return Accepted::Closed,
            Ok(Err(e)) => {
                super::log::conn_error(
                    snap,
                    conn,
                    Level::Info,
                    format_args!("recv() failed {}", io::errno_text(&e)),
                    Some("SSL handshaking"),
                );
                return Accepted::Closed;
            }
            Err(_) => {
                timed_out(snap, conn);
                return Accepted::Closed;
            }
        }
        if first[0] != 0x16 && first[0] & 0x80 == 0 {
            return Accepted::Plain(stream);
        }
    }
    let acceptor =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = match io::timed(timeout, acceptor).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            failed(snap, conn, &e);
            return Accepted::Closed;
        }
        Err(_) => {
            timed_out(snap, conn);
            return Accepted::Closed;
        }
    };
    let hello = start.client_hello();
    let server_name: Option<Box<str>> = hello.server_name().map(Into::into);
    // S12.3: the SNI name picks a server of this address by the Host rules (S2.4).
    let server = match &server_name {
        Some(n) => route::select_server(ac, n.as_bytes()).0,
        None => ac.default_server,
    };
    let ciphers: Box<[rustls::CipherSuite]> = hello.cipher_suites().into();
    let curves: Box<[rustls::NamedGroup]> = hello.named_groups().unwrap_or_default().into();
    // A server without certificates of its own leaves the default server's (nginx keeps
    // the SSL_CTX it started with).
    let Some(tls) = snap.http().servers[server.0 as usize]
        .tls
        .as_ref()
        .or(default.tls.as_ref())
    else {
        return Accepted::Closed;
    };
    // nginx asks the server SNI chose (`http2 on`) or the address (`listen ... http2`).
    let config = if ac.http2 || snap.http().servers[server.0 as usize].http2 {
        tls.contexts.h2.clone()
    } else {
        tls.contexts.http11.clone()
    };
    let stream = match io::timed(timeout, start.into_stream(config)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            failed(snap, conn, &e);
            return Accepted::Closed;
        }
        Err(_) => {
            timed_out(snap, conn);
            return Accepted::Closed;
        }
    };
    let info = describe(&stream, server_name, server, ciphers, curves);
    Accepted::Tls(Stream::Tls(Box::new(stream)), Box::new(info))
}

fn describe(
    s: &TlsStream<Stream>,
    server_name: Option<Box<str>>,
    server: ServerId,
    ciphers: Box<[rustls::CipherSuite]>,
    curves: Box<[rustls::NamedGroup]>,
) -> TlsInfo {
    let c = s.get_ref().1;
    let protocol = match c.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "",
    };
    let cipher = c
        .negotiated_cipher_suite()
        .map(|cs| crate::config::lower::ssl_context::openssl_name(cs.suite()))
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

/// OpenSSL's group names, as `$ssl_curve` shows them.
fn group_name(g: rustls::NamedGroup) -> &'static str {
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
    /// `$ssl_ciphers`: the client's suites by OpenSSL's names, `:`-separated.
    pub fn write_ciphers(&self, out: &mut Vec<u8>) {
        join(
            self.offered_suites
                .iter()
                .map(|cs| crate::config::lower::ssl_context::openssl_name(*cs)),
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

fn timed_out(snap: &Snapshot, conn: &ConnInfo) {
    super::log::conn_error(
        snap,
        conn,
        Level::Info,
        format_args!("client timed out (110: Connection timed out)"),
        Some("SSL handshaking"),
    );
}

/// nginx logs a failed handshake at info with OpenSSL's reason; rginx gives rustls's.
fn failed(snap: &Snapshot, conn: &ConnInfo, e: &std::io::Error) {
    let msg = match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    };
    super::log::conn_error(
        snap,
        conn,
        Level::Info,
        format_args!("SSL_do_handshake() failed (rustls: {msg})"),
        Some("SSL handshaking"),
    );
}

/// How long closing a TLS connection may wait to send its `close_notify` (nginx gives
/// `SSL_shutdown` 3 s when the socket is full).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// The client configuration of `proxy_pass https://`, as nginx's defaults: the upstream's
/// certificate is not verified (`proxy_ssl_verify off`), TLS 1.2, sessions reused.
pub fn upstream_config() -> std::sync::Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                // nginx 1.22's proxy_ssl_protocols: TLSv1 TLSv1.1 TLSv1.2, of which rustls
                // (and Debian's OpenSSL at its security level) speak TLS 1.2.
                .with_protocol_versions(&[&rustls::version::TLS12])
                .expect("ring supports TLS 1.2")
                .dangerous()
                .with_custom_certificate_verifier(std::sync::Arc::new(NoVerify(provider)))
                .with_no_client_auth();
            std::sync::Arc::new(config)
        })
        .clone()
}

/// `proxy_ssl_verify off`: any certificate, but the handshake's signatures are checked.
#[derive(Debug)]
struct NoVerify(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
