//! The TLS side of `bench-load` (`load.rs`): the client configuration (no resumption, only
//! ECDSA P-256 signatures offered, the certificate not verified) shared by `check` for https://
//! and by the `handshake` load, a new connection and a full handshake for every request.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types::ServerName};

use super::{err, measure, status_of, Progress, Window};

pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_string()).map_err(|e| format!("server name {name}: {e}"))
}

/// A client that resumes nothing and checks nothing but the signature scheme. `only`: the one
/// TLS version to offer (None: 1.2 and 1.3).
pub fn tls_connector(only: Option<&str>) -> Result<tokio_rustls::TlsConnector, String> {
    let versions: &[&rustls::SupportedProtocolVersion] = match only {
        None => rustls::ALL_VERSIONS,
        Some("1.3") => &[&rustls::version::TLS13],
        Some("1.2") => &[&rustls::version::TLS12],
        Some(v) => return Err(format!("--tls must be 1.2 or 1.3, got {v}")),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .map_err(|e| format!("TLS versions: {e}"))?
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(EcdsaP256Only))
    .with_no_client_auth();
    // A full handshake every time: that is what is measured.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Accepts any certificate without checking its signature, so the client spends as little as
/// possible of the shared load core; offering only ECDSA P-256 with SHA-256 makes the server
/// prove it signs with the benchmark's key type (it must pick an offered scheme or fail).
#[derive(Debug)]
struct EcdsaP256Only;

impl rustls::client::danger::ServerCertVerifier for EcdsaP256Only {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        vec![rustls::SignatureScheme::ECDSA_NISTP256_SHA256]
    }
}

pub async fn handshake(
    addr: SocketAddr,
    path: String,
    name: String,
    tls: String,
    conns: usize,
    w: Window,
) -> Result<(), String> {
    let connector = tls_connector(Some(&tls))?;
    let name = server_name(&name)?;
    let request: Rc<[u8]> =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .into_bytes()
            .into();
    let p = Rc::new(Progress::default());
    for _ in 0..conns {
        let (p, connector, name, request, path) = (
            p.clone(),
            connector.clone(),
            name.clone(),
            request.clone(),
            path.clone(),
        );
        tokio::task::spawn_local(async move {
            let mut response = Vec::with_capacity(1024);
            let mut first = true;
            while !p.stop.get() {
                let run = async {
                    let tcp = TcpStream::connect(addr)
                        .await
                        .map_err(err(format_args!("connecting to {addr}")))?;
                    let _ = tcp.set_nodelay(true);
                    let mut s = connector.connect(name.clone(), tcp).await.map_err(|e| {
                        format!("TLS handshake with {addr} failed: {e} (does the proxy serve TLS on this port?)")
                    })?;
                    s.write_all(&request)
                        .await
                        .map_err(err("sending the request"))?;
                    response.clear();
                    match s.read_to_end(&mut response).await {
                        Ok(_) => {}
                        Err(e)
                            if e.kind() == std::io::ErrorKind::UnexpectedEof
                                && !response.is_empty() => {}
                        Err(e) => return Err(format!("reading the response: {e}")),
                    }
                    match status_of(&response)? {
                        200 => Ok(()),
                        s => Err(format!("GET {path}: status {s}, expected 200")),
                    }
                };
                if let Err(e) = run.await {
                    p.fail(e);
                    return;
                }
                if first {
                    first = false;
                    p.connected.set(p.connected.get() + 1);
                }
                p.done.set(p.done.get() + 1);
            }
        });
    }
    measure(&p, &w, conns, "handshakes", &format!(" tls={tls}")).await
}
