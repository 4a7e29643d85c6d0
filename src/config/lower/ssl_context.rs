//! The rustls configurations a TLS server handshakes with, built at load time from its
//! checked `ssl_*` settings (S12): protocol versions, the TLS 1.2 suites `ssl_ciphers`
//! selects, key-exchange groups, certificate choice by what the client supports (S12.2),
//! session tickets and the session cache, and ALPN.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{
    ClientHello, NoServerSessionStorage, ResolvesServerCert, StoresServerSessions,
};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, ServerConfig, SignatureAlgorithm, SupportedCipherSuite};

use crate::ir::tls::{CertKey, Contexts, Protocols, SessionCache};

/// Everything [`build`] needs from the `ssl_*` directives.
pub struct Settings<'a> {
    pub certs: &'a [CertKey],
    pub protocols: Protocols,
    pub ciphers: &'a [&'static str],
    pub prefer_server_ciphers: bool,
    pub groups: &'a [&'static str],
    pub session_timeout: std::time::Duration,
    pub session_tickets: bool,
    pub session_cache: &'a SessionCache,
    /// A stream server's `ssl_alpn` protocols (none: no ALPN); `None` for an http server.
    pub stream_alpn: Option<&'a [Vec<u8>]>,
}

/// Builds the configurations of a server: for http, without and with `h2` in ALPN; for
/// stream, the one with `ssl_alpn`'s protocols.
pub fn build(s: &Settings<'_>) -> Result<Contexts, String> {
    let base = ring_provider();
    let mut suites: Vec<SupportedCipherSuite> = base
        .cipher_suites
        .iter()
        .filter(|cs| matches!(cs, SupportedCipherSuite::Tls13(_)))
        .copied()
        .collect();
    // TLS 1.2 suites in the order of the cipher string; TLS 1.3 suites are not governed by
    // `ssl_ciphers` in nginx either (OpenSSL sets them with `Ciphersuites`).
    for name in s.ciphers {
        if let Some(cs) = base
            .cipher_suites
            .iter()
            .find(|cs| cs.suite().as_str() == Some(name))
        {
            suites.push(*cs);
        }
    }
    let mut kx = base.kx_groups.clone();
    if !s.groups.is_empty() {
        kx = s
            .groups
            .iter()
            .filter_map(|g| {
                base.kx_groups
                    .iter()
                    .find(|k| k.name().as_str() == Some(g))
                    .copied()
            })
            .collect();
    }
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        kx_groups: kx,
        ..base
    });
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if s.protocols.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if s.protocols.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    let mut keys = Vec::with_capacity(s.certs.len());
    for c in s.certs {
        let key = CertifiedKey::from_der(c.chain.clone(), c.key.clone_key(), &provider)
            .map_err(|e| format!("cannot use certificate \"{}\": {e}", c.cert_path.display()))?;
        keys.push(Arc::new(key));
    }
    let resolver = Arc::new(CertSelect { keys });
    let storage: Arc<dyn StoresServerSessions> = match s.session_cache {
        SessionCache::Off | SessionCache::None => Arc::new(NoServerSessionStorage {}),
        SessionCache::Store { zone, sessions } => session_store(zone.as_deref(), *sessions),
    };
    let make = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, String> {
        let mut cfg = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions)
            .map_err(|e| format!("no usable TLS configuration: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        cfg.ignore_client_order = s.prefer_server_ciphers;
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        cfg.session_storage = Arc::clone(&storage);
        if s.session_tickets {
            cfg.ticketer = ticketer(s.session_timeout)?;
        } else if !matches!(s.session_cache, SessionCache::Store { .. }) {
            // Neither tickets nor a store: nothing could resume a TLS 1.3 session.
            cfg.send_tls13_tickets = 0;
        }
        Ok(Arc::new(cfg))
    };
    if let Some(alpn) = s.stream_alpn {
        let protocols: Vec<&[u8]> = alpn.iter().map(Vec::as_slice).collect();
        let one = make(&protocols)?;
        return Ok(Contexts {
            base: Arc::clone(&one),
            h2: one,
        });
    }
    Ok(Contexts {
        base: make(&[b"http/1.1"])?,
        h2: make(&[b"h2", b"http/1.1"])?,
    })
}

fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Session ticket keys are the process's, not a configuration's: tickets stay valid across
/// reloads (nginx makes new keys with every reload), rotated by rustls.
fn ticketer(
    timeout: std::time::Duration,
) -> Result<Arc<dyn rustls::server::ProducesTickets>, String> {
    static KEYS: OnceLock<Result<Arc<dyn rustls::server::ProducesTickets>, String>> =
        OnceLock::new();
    let keys = KEYS
        .get_or_init(|| rustls::crypto::ring::Ticketer::new().map_err(|e| e.to_string()))
        .clone()?;
    Ok(Arc::new(Lifetime {
        keys,
        seconds: timeout.as_secs().clamp(1, u64::from(u32::MAX)) as u32,
    }))
}

/// The process's tickets with `ssl_session_timeout` as the lifetime told to clients.
#[derive(Debug)]
struct Lifetime {
    keys: Arc<dyn rustls::server::ProducesTickets>,
    seconds: u32,
}

impl rustls::server::ProducesTickets for Lifetime {
    fn enabled(&self) -> bool {
        self.keys.enabled()
    }
    fn lifetime(&self) -> u32 {
        self.seconds.min(self.keys.lifetime())
    }
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.keys.encrypt(plain)
    }
    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.keys.decrypt(cipher)
    }
}

/// A `shared:` zone is one store for every server naming it, and it outlives reloads as
/// nginx's shared memory does; `builtin` is a store of the server's own.
fn session_store(zone: Option<&str>, sessions: usize) -> Arc<dyn StoresServerSessions> {
    let Some(zone) = zone else {
        return rustls::server::ServerSessionMemoryCache::new(sessions);
    };
    type Zones = Mutex<HashMap<(String, usize), Arc<dyn StoresServerSessions>>>;
    static ZONES: OnceLock<Zones> = OnceLock::new();
    let mut zones = ZONES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    zones
        .entry((zone.to_string(), sessions))
        .or_insert_with(|| rustls::server::ServerSessionMemoryCache::new(sessions))
        .clone()
}

/// Several `ssl_certificate`s (S12.2): the first one, in the configuration's order, that the
/// client can verify and whose key type a cipher suite it offers can use; as OpenSSL, an
/// ECDSA certificate goes to ECDSA-capable clients, an RSA one to the others.
#[derive(Debug)]
struct CertSelect {
    keys: Vec<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for CertSelect {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if self.keys.len() == 1 {
            return self.keys.first().cloned();
        }
        let offers_tls13 = hello
            .cipher_suites()
            .iter()
            .any(|cs| cs.as_str().is_some_and(|n| n.starts_with("TLS13_")));
        let usable = |k: &&Arc<CertifiedKey>| {
            if k.key.choose_scheme(hello.signature_schemes()).is_none() {
                return false;
            }
            offers_tls13
                || hello
                    .cipher_suites()
                    .iter()
                    .any(|cs| tls12_auth(*cs) == Some(k.key.algorithm()))
        };
        // ECDSA first, as OpenSSL prefers it when the client can take both.
        let ecdsa = self
            .keys
            .iter()
            .filter(|k| k.key.algorithm() == SignatureAlgorithm::ECDSA)
            .find(usable);
        ecdsa
            .or_else(|| self.keys.iter().find(usable))
            .or_else(|| self.keys.first())
            .cloned()
    }
}

/// The certificate type a TLS 1.2 ECDHE suite authenticates with.
fn tls12_auth(cs: CipherSuite) -> Option<SignatureAlgorithm> {
    let name = cs.as_str()?;
    if name.starts_with("TLS_ECDHE_ECDSA_") {
        Some(SignatureAlgorithm::ECDSA)
    } else if name.starts_with("TLS_ECDHE_RSA_") {
        Some(SignatureAlgorithm::RSA)
    } else {
        None
    }
}
