//! The tests' TLS client: it trusts any certificate (the servers use the tests' own), still
//! checks the handshake's signatures, and records the chain each server presented, so that a
//! test can ask which certificate came.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CipherSuite, ClientConfig, DigitallySignedStruct, SignatureScheme};

/// What the last handshake's server presented: its leaf first.
#[derive(Debug)]
pub struct Presented {
    chain: Mutex<Vec<Vec<u8>>>,
    provider: Arc<CryptoProvider>,
}

impl Presented {
    pub fn chain(&self) -> Vec<Vec<u8>> {
        self.chain.lock().unwrap().clone()
    }

    pub fn leaf(&self) -> Vec<u8> {
        self.chain().into_iter().next().unwrap_or_default()
    }
}

impl ServerCertVerifier for Presented {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut c = vec![end_entity.to_vec()];
        c.extend(intermediates.iter().map(|i| i.to_vec()));
        *self.chain.lock().unwrap() = c;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What a client offers.
#[derive(Clone, Copy)]
pub struct Offer<'a> {
    pub tls13: bool,
    pub tls12: bool,
    /// Only these cipher suites (TLS 1.3 ones included if wanted), or rustls's all.
    pub suites: Option<&'a [CipherSuite]>,
    pub alpn: &'a [&'a [u8]],
}

impl Default for Offer<'_> {
    fn default() -> Self {
        Offer {
            tls13: true,
            tls12: true,
            suites: None,
            alpn: &[],
        }
    }
}

/// A client configuration making that offer, and what its handshakes were presented. The
/// configuration keeps its session cache, so a second connection may resume the first.
pub fn client(offer: Offer<'_>) -> (Arc<ClientConfig>, Arc<Presented>) {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(only) = offer.suites {
        provider.cipher_suites.retain(|s| only.contains(&s.suite()));
    }
    let provider = Arc::new(provider);
    let mut versions = Vec::new();
    if offer.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if offer.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    let presented = Arc::new(Presented {
        chain: Mutex::new(Vec::new()),
        provider: Arc::clone(&provider),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(presented.clone())
        .with_no_client_auth();
    config.alpn_protocols = offer.alpn.iter().map(|p| p.to_vec()).collect();
    (Arc::new(config), presented)
}
