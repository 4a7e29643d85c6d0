//! TLS settings of a server, with its certificates already read and checked (S12).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// One `ssl_certificate` / `ssl_certificate_key` pair.
#[derive(Debug)]
pub struct CertKey {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl Clone for CertKey {
    fn clone(&self) -> CertKey {
        CertKey {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            cert_path: self.cert_path.clone(),
            key_path: self.key_path.clone(),
        }
    }
}

impl PartialEq for CertKey {
    fn eq(&self, other: &CertKey) -> bool {
        self.chain == other.chain && self.key.secret_der() == other.key.secret_der()
    }
}

impl Eq for CertKey {}

/// `ssl_protocols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocols {
    pub tls10: bool,
    pub tls11: bool,
    pub tls12: bool,
    pub tls13: bool,
}

/// `ssl_session_cache`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionCache {
    /// `off`: sessions are neither stored nor promised.
    Off,
    /// `none` (the default): sessions are promised but not stored (tickets still resume).
    None,
    /// `builtin[:size]` and/or `shared:name:size`: sessions kept in memory, at most this many.
    Store {
        zone: Option<Box<str>>,
        sessions: usize,
    },
}

/// The rustls configurations a server's handshakes use, built once per configuration load.
#[derive(Clone)]
pub struct Contexts {
    /// For an http address without HTTP/2: ALPN `http/1.1`. For a stream server: ALPN as
    /// `ssl_alpn` lists (none by default).
    pub base: Arc<rustls::ServerConfig>,
    /// For `listen ... http2`: ALPN `h2`, `http/1.1` (a stream server's is `base`).
    pub h2: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Contexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Contexts")
    }
}

impl PartialEq for Contexts {
    fn eq(&self, other: &Contexts) -> bool {
        Arc::ptr_eq(&self.base, &other.base) && Arc::ptr_eq(&self.h2, &other.h2)
    }
}

impl Eq for Contexts {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTls {
    pub certs: Vec<CertKey>,
    pub protocols: Protocols,
    /// rustls cipher suite names the `ssl_ciphers` string selects, in preference order.
    pub ciphers: Vec<&'static str>,
    pub prefer_server_ciphers: bool,
    pub session_timeout: Duration,
    pub session_tickets: bool,
    /// Key exchange groups (`ssl_ecdh_curve`), rustls names; empty = rustls defaults.
    pub groups: Vec<&'static str>,
    pub session_cache: SessionCache,
    pub contexts: Contexts,
}

/// OpenSSL's name of a suite, for `$ssl_cipher` and `$ssl_ciphers`.
pub fn openssl_name(cs: rustls::CipherSuite) -> std::borrow::Cow<'static, str> {
    let n = match cs {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => {
            "ECDHE-ECDSA-AES256-GCM-SHA384"
        }
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            "ECDHE-ECDSA-CHACHA20-POLY1305"
        }
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
            "ECDHE-RSA-CHACHA20-POLY1305"
        }
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => {
            "ECDHE-ECDSA-AES128-GCM-SHA256"
        }
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        // nginx prints a suite OpenSSL does not know as its number.
        other => return format!("0x{:04x}", u16::from(other)).into(),
    };
    n.into()
}
