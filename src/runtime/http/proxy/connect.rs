//! Connecting to a peer (`ngx_event_connect_peer`): TCP or a unix socket under
//! `proxy_connect_timeout`, then for `proxy_pass https://` a TLS handshake with nginx's
//! defaults for `proxy_ssl_*` (no verification, no SNI, TLS 1.2, sessions reused).

use std::sync::Arc;
use std::time::Duration;

use super::error::{Kind, Phase, ProxyError};
use crate::ir::upstream::PeerAddr;
use crate::runtime::base::io::{self, Stream};
use crate::runtime::state::conn::next_connection_number;

/// Connects to `addr` (a new connection: it takes a connection number, as nginx's do).
pub async fn connect(
    addr: &PeerAddr,
    timeout: Duration,
    https: bool,
) -> Result<Stream, ProxyError> {
    next_connection_number();
    let tcp = match io::connect(addr, timeout).await {
        Ok(s) => s,
        Err(io::ConnectError::Failed(e)) => {
            return Err(ProxyError::new(Kind::Io(e), Phase::Connecting))
        }
        Err(io::ConnectError::TimedOut) => {
            return Err(ProxyError::new(Kind::Timeout, Phase::Connecting))
        }
    };
    if !https {
        return Ok(tcp);
    }
    // nginx's defaults: proxy_ssl_verify off, proxy_ssl_server_name off (no SNI: rustls
    // sends none for an address), sessions reused; the handshake under the connect timeout.
    let name = match addr {
        PeerAddr::Inet(a) => rustls::pki_types::ServerName::IpAddress(a.ip().into()),
        PeerAddr::Unix(_) => {
            rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into())
        }
    };
    let connector = tokio_rustls::TlsConnector::from(upstream_tls());
    match io::timed(timeout, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(Stream::TlsUpstream(Box::new(s))),
        Ok(Err(e)) => Err(ProxyError::new(Kind::Handshake(e), Phase::Handshaking)),
        Err(_) => Err(ProxyError::new(Kind::Timeout, Phase::Connecting)),
    }
}

/// The client configuration of `proxy_pass https://`, as nginx's defaults: the upstream's
/// certificate is not verified (`proxy_ssl_verify off`), TLS 1.2, sessions reused.
fn upstream_tls() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                // nginx 1.22's proxy_ssl_protocols: TLSv1 TLSv1.1 TLSv1.2, of which rustls
                // (and Debian's OpenSSL at its security level) speak TLS 1.2.
                .with_protocol_versions(&[&rustls::version::TLS12])
                .expect("ring supports TLS 1.2")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// `proxy_ssl_verify off`: any certificate, but the handshake's signatures are checked.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

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
