//! TLS settings (`ssl_*`, http and server level): certificates are read and checked at load,
//! as nginx does at `-t`, and OpenSSL-style settings are mapped onto what rustls offers,
//! with a warning for what cannot be honoured (S12).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{inherit, or, Set, Slot};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::{full_name, Loader};
use crate::config::registry::Spec;
use crate::ir::tls::{CertKey, Protocols, ServerTls, SessionCache};
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Clone, Debug, Default)]
pub struct SslBuilder {
    /// Each file as resolved, as written, the argument and the directive's end.
    pub certificates: Option<Vec<(PathBuf, String, Span, Span)>>,
    pub keys: Option<Vec<(PathBuf, String, Span, Span)>>,
    pub protocols: Slot<Protocols>,
    pub ciphers: Slot<String>,
    pub prefer_server_ciphers: Slot<bool>,
    pub session_timeout: Slot<Duration>,
    pub session_tickets: Slot<bool>,
    pub ecdh_curve: Slot<String>,
    pub dhparam: Slot<PathBuf>,
    pub session_cache: Slot<SessionCache>,
    /// The deprecated `ssl on;`.
    pub ssl_on: Slot<bool>,
}

/// A level's TLS settings, allocated only when one is set (most servers have none).
#[derive(Clone, Debug, Default)]
pub struct SslSlot(Option<Box<SslBuilder>>);

static EMPTY_SSL: SslBuilder = SslBuilder::EMPTY;

impl SslSlot {
    pub fn directive(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec) -> bool {
        if !spec.name.starts_with("ssl") {
            return false;
        }
        self.0
            .get_or_insert_with(Default::default)
            .directive(l, d, spec)
    }

    pub fn inherit_from(&mut self, p: &SslSlot) {
        if let Some(parent) = &p.0 {
            self.0
                .get_or_insert_with(Default::default)
                .inherit_from(parent);
        }
    }

    pub fn get(&self) -> &SslBuilder {
        self.0.as_deref().unwrap_or(&EMPTY_SSL)
    }
}

impl SslBuilder {
    const EMPTY: SslBuilder = SslBuilder {
        certificates: None,
        keys: None,
        protocols: None,
        ciphers: None,
        prefer_server_ciphers: None,
        session_timeout: None,
        session_tickets: None,
        ecdh_curve: None,
        dhparam: None,
        session_cache: None,
        ssl_on: None,
    };

    pub fn directive(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec) -> bool {
        match spec.name {
            "ssl" => {
                if !l.is_dup(&self.ssl_on, d) {
                    if let Some(v) = l.flag_arg(d) {
                        l.error(
                            Diagnostic::warning(
                                code::OBSOLETE,
                                "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead",
                                d.head_span(),
                            )
                            .place(Place::At(d.end))
                            .help("remove \"ssl on;\" and add \"ssl\" to the listen lines"),
                        );
                        l.once(&mut self.ssl_on, d, v);
                    }
                }
            }
            "ssl_certificate" | "ssl_certificate_key" => {
                let path = full_name(&l.paths.conf_prefix, d.args[0].as_bytes());
                if crate::config::template::has_dollar(d.args[0].as_bytes()) {
                    l.error(
                        Diagnostic::error(
                            code::NOT_SUPPORTED,
                            "variables in \"ssl_certificate\" and \"ssl_certificate_key\" are not supported by rginx",
                            d.args[0].span,
                        )
                        .place(Place::At(d.end))
                        .help("name the files; use one server block per certificate"),
                    );
                    return true;
                }
                let list = if spec.name == "ssl_certificate" {
                    &mut self.certificates
                } else {
                    &mut self.keys
                };
                list.get_or_insert_with(Vec::new).push((
                    path,
                    d.args[0].show(),
                    d.args[0].span,
                    d.end,
                ));
            }
            "ssl_protocols" => self.protocols(l, d),
            "ssl_session_cache" => {
                if !l.is_dup(&self.session_cache, d) {
                    if let Some(v) = session_cache(l, d) {
                        l.once(&mut self.session_cache, d, v);
                    }
                }
            }
            "ssl_ciphers" => {
                if !l.is_dup(&self.ciphers, d) {
                    let v = d.args[0].show();
                    l.once(&mut self.ciphers, d, v);
                }
            }
            "ssl_prefer_server_ciphers" => {
                if !l.is_dup(&self.prefer_server_ciphers, d) {
                    if let Some(v) = l.flag_arg(d) {
                        l.once(&mut self.prefer_server_ciphers, d, v);
                    }
                }
            }
            "ssl_session_timeout" => {
                if !l.is_dup(&self.session_timeout, d) {
                    if let Some(v) = l.sec_arg(d, 0) {
                        l.once(&mut self.session_timeout, d, v);
                    }
                }
            }
            "ssl_session_tickets" => {
                if !l.is_dup(&self.session_tickets, d) {
                    if let Some(v) = l.flag_arg(d) {
                        l.once(&mut self.session_tickets, d, v);
                    }
                }
            }
            "ssl_ecdh_curve" => {
                if !l.is_dup(&self.ecdh_curve, d) {
                    let v = d.args[0].show();
                    l.once(&mut self.ecdh_curve, d, v);
                }
            }
            "ssl_dhparam" => {
                if !l.is_dup(&self.dhparam, d) {
                    let p = full_name(&l.paths.conf_prefix, d.args[0].as_bytes());
                    l.once(&mut self.dhparam, d, p);
                }
            }
            _ => return false,
        }
        true
    }

    fn protocols(&mut self, l: &mut Loader, d: &Directive) {
        let mut p = self
            .protocols
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(Protocols {
                tls10: false,
                tls11: false,
                tls12: false,
                tls13: false,
            });
        for a in &d.args {
            match a.as_bytes().to_ascii_lowercase().as_slice() {
                b"sslv2" | b"sslv3" => {}
                b"tlsv1" => p.tls10 = true,
                b"tlsv1.1" => p.tls11 = true,
                b"tlsv1.2" => p.tls12 = true,
                b"tlsv1.3" => p.tls13 = true,
                _ => {
                    let e = l.arg_error(d, a, format!("invalid value \"{}\"", a.show()));
                    l.error(e.help("SSLv2, SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"));
                    return;
                }
            }
        }
        self.protocols = Some(Set {
            value: p,
            span: d.head_span(),
        });
    }

    pub fn inherit_from(&mut self, p: &SslBuilder) {
        // Certificates and keys are inherited as a pair list, all or nothing (S6.4).
        if self.certificates.is_none() && self.keys.is_none() {
            self.certificates.clone_from(&p.certificates);
            self.keys.clone_from(&p.keys);
        } else {
            if self.certificates.is_none() {
                self.certificates.clone_from(&p.certificates);
            }
            if self.keys.is_none() {
                self.keys.clone_from(&p.keys);
            }
        }
        inherit(&mut self.protocols, &p.protocols);
        inherit(&mut self.ciphers, &p.ciphers);
        inherit(&mut self.prefer_server_ciphers, &p.prefer_server_ciphers);
        inherit(&mut self.session_timeout, &p.session_timeout);
        inherit(&mut self.session_tickets, &p.session_tickets);
        inherit(&mut self.ecdh_curve, &p.ecdh_curve);
        inherit(&mut self.dhparam, &p.dhparam);
        inherit(&mut self.session_cache, &p.session_cache);
        inherit(&mut self.ssl_on, &p.ssl_on);
    }

    /// Loads and checks the certificates of a server that needs TLS; `server` is where the
    /// server block starts (nginx names it when no certificate is defined).
    ///
    /// nginx loads the certificates of every server that has some, whether or not it
    /// listens with `ssl`: SNI may pick it for the handshake on an address another server
    /// made TLS (S12.3).
    pub fn finish(
        &self,
        l: &mut Loader,
        needs_tls: bool,
        server: Span,
        server_end: Span,
    ) -> Option<Arc<ServerTls>> {
        self.finish_for(l, needs_tls, server, server_end, None)
    }

    /// A stream server's TLS, loaded when a `listen` of it (at `listen`) has `ssl`, with
    /// its `ssl_alpn` protocols.
    pub fn finish_stream(
        &self,
        l: &mut Loader,
        listen: Span,
        listen_end: Span,
        alpn: &[Vec<u8>],
    ) -> Option<Arc<ServerTls>> {
        self.finish_for(l, true, listen, listen_end, Some(alpn))
    }

    fn finish_for(
        &self,
        l: &mut Loader,
        needs_tls: bool,
        server: Span,
        server_end: Span,
        stream_alpn: Option<&[Vec<u8>]>,
    ) -> Option<Arc<ServerTls>> {
        let certs = self.certificates.clone().unwrap_or_default();
        let keys = self.keys.clone().unwrap_or_default();
        if certs.is_empty() && !needs_tls {
            return None;
        }
        if certs.is_empty() {
            l.error(
                Diagnostic::error(
                    code::SSL,
                    "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
                    server,
                )
                .place(Place::At(server_end))
                .label("this server accepts TLS")
                .help(if stream_alpn.is_some() {
                    "add ssl_certificate and ssl_certificate_key to this server or to the stream block"
                } else {
                    "add ssl_certificate and ssl_certificate_key to this server or to the http block"
                }),
            );
            return None;
        }
        let mut pairs = Vec::new();
        for (i, (cert, written, cspan, _)) in certs.iter().enumerate() {
            let Some((key, _, kspan, kend)) = keys.get(i) else {
                l.error(
                    Diagnostic::error(
                        code::SSL,
                        format!(
                            "no \"ssl_certificate_key\" is defined for certificate \"{written}\""
                        ),
                        *cspan,
                    )
                    .place(Place::Nowhere)
                    .help("every ssl_certificate needs an ssl_certificate_key, in the same order"),
                );
                return None;
            };
            let chain = match load_chain(cert) {
                Ok(c) => c,
                Err(reason) => {
                    l.error(
                        Diagnostic::error(
                            code::SSL,
                            format!("cannot load certificate \"{}\": {reason}", cert.display()),
                            *cspan,
                        )
                        .place(Place::Nowhere)
                        .label("this file")
                        .help("relative paths are resolved against the main configuration's directory"),
                    );
                    return None;
                }
            };
            let keyder = match load_key(key) {
                Ok(k) => k,
                Err(reason) => {
                    l.error(
                        Diagnostic::error(
                            code::SSL,
                            format!(
                                "cannot load certificate key \"{}\": {reason}",
                                key.display()
                            ),
                            *kspan,
                        )
                        .place(Place::Nowhere)
                        .label("this file"),
                    );
                    return None;
                }
            };
            let provider = rustls::crypto::ring::default_provider();
            match rustls::sign::CertifiedKey::from_der(chain.clone(), keyder.clone_key(), &provider)
            {
                Ok(_) => {}
                Err(rustls::Error::InconsistentKeys(_)) => {
                    l.error(
                        Diagnostic::error(
                            code::SSL,
                            format!(
                                "SSL_CTX_use_PrivateKey(\"{}\") failed (SSL: error:05800074:x509 certificate routines::key values mismatch)",
                                key.display()
                            ),
                            *kspan,
                        )
                        .place(Place::Nowhere)
                        .also(*cspan, "the certificate")
                        .help("this key does not belong to the certificate; check the pair"),
                    );
                    return None;
                }
                Err(e) => {
                    l.error(
                        Diagnostic::error(
                            code::SSL,
                            format!("cannot use certificate key \"{}\": {e}", key.display()),
                            *kspan,
                        )
                        .place(Place::At(*kend))
                        .help("rginx accepts RSA, ECDSA (P-256, P-384) and Ed25519 keys in PEM"),
                    );
                    return None;
                }
            }
            pairs.push(CertKey {
                chain,
                key: keyder,
                cert_path: cert.clone(),
                key_path: key.clone(),
            });
        }
        if let Some(dh) = &self.dhparam {
            if std::fs::metadata(&dh.value).is_err() {
                l.error(
                    Diagnostic::error(
                        code::SSL,
                        format!("BIO_new_file(\"{}\") failed (SSL: error:80000002:system library::No such file or directory:calling fopen({}, r) error:10000080:BIO routines::no such file)", dh.value.display(), dh.value.display()),
                        dh.span,
                    )
                    .place(Place::At(dh.span)),
                );
            } else {
                l.error(
                    Diagnostic::lint(
                        code::TLS_MAPPING,
                        "rginx does not offer DHE cipher suites; \"ssl_dhparam\" has no effect",
                        dh.span,
                    )
                    .why("rustls only implements ECDHE key exchange")
                    .help("remove ssl_dhparam; clients negotiate ECDHE instead"),
                );
            }
        }
        let mut protocols = or(
            &self.protocols,
            Protocols {
                tls10: true,
                tls11: true,
                tls12: true,
                tls13: false,
            },
        );
        if let Some(s) = &self.protocols {
            if protocols.tls10 || protocols.tls11 {
                l.error(
                    Diagnostic::lint(code::TLS_MAPPING, "TLSv1 and TLSv1.1 are not offered by rginx", s.span)
                        .why("rustls implements TLS 1.2 and 1.3 only (Debian's OpenSSL also refuses TLS 1.0/1.1 at its default security level)")
                        .help("list TLSv1.2 TLSv1.3"),
                );
            }
        }
        protocols.tls10 = false;
        protocols.tls11 = false;
        if !protocols.tls12 && !protocols.tls13 {
            let span = self.protocols.as_ref().map(|s| s.span).unwrap_or(server);
            l.error(
                Diagnostic::error(
                    code::SSL,
                    "no TLS protocol that rginx supports is enabled",
                    span,
                )
                .place(Place::At(span))
                .help("enable TLSv1.2 and/or TLSv1.3 in ssl_protocols"),
            );
            return None;
        }
        let cipher_string = self
            .ciphers
            .as_ref()
            .map(|s| s.value.clone())
            .unwrap_or_else(|| "HIGH:!aNULL:!MD5".into());
        let ciphers = select_ciphers(&cipher_string);
        if ciphers.is_empty() && protocols.tls12 {
            let span = self.ciphers.as_ref().map(|s| s.span).unwrap_or(server);
            l.error(
                Diagnostic::lint(
                    code::TLS_MAPPING,
                    format!(
                        "\"{cipher_string}\" selects no TLS 1.2 cipher suite that rginx offers"
                    ),
                    span,
                )
                .why("rustls offers ECDHE with AES-GCM or ChaCha20-Poly1305 only")
                .help("use a modern list such as ECDHE+AESGCM:ECDHE+CHACHA20"),
            );
        }
        let mut groups = Vec::new();
        if let Some(c) = &self.ecdh_curve {
            if !c.value.eq_ignore_ascii_case("auto") {
                for name in c.value.split(':') {
                    match name.to_ascii_lowercase().as_str() {
                        "x25519" => groups.push("X25519"),
                        "prime256v1" | "secp256r1" | "p-256" => groups.push("secp256r1"),
                        "secp384r1" | "p-384" => groups.push("secp384r1"),
                        other => l.error(
                            Diagnostic::lint(
                                code::TLS_MAPPING,
                                format!("curve \"{other}\" is not offered by rginx"),
                                c.span,
                            )
                            .why("rustls offers X25519, P-256 and P-384")
                            .help("remove it from ssl_ecdh_curve"),
                        ),
                    }
                }
            }
        }
        let prefer_server_ciphers = or(&self.prefer_server_ciphers, false);
        let session_timeout = or(&self.session_timeout, Duration::from_secs(300));
        let session_tickets = or(&self.session_tickets, true);
        let session_cache = self
            .session_cache
            .as_ref()
            .map_or(SessionCache::None, |s| s.value.clone());
        let contexts = match super::ssl_context::build(&super::ssl_context::Settings {
            certs: &pairs,
            protocols,
            ciphers: &ciphers,
            prefer_server_ciphers,
            groups: &groups,
            session_timeout,
            session_tickets,
            session_cache: &session_cache,
            stream_alpn,
        }) {
            Ok(c) => c,
            Err(msg) => {
                let span = self.protocols.as_ref().map_or(server, |s| s.span);
                l.error(
                    Diagnostic::error(code::SSL, msg, span)
                        .place(Place::At(server_end))
                        .help("check ssl_protocols, ssl_ciphers and ssl_ecdh_curve of this server"),
                );
                return None;
            }
        };
        Some(Arc::new(ServerTls {
            certs: pairs,
            protocols,
            ciphers,
            prefer_server_ciphers,
            session_timeout,
            session_tickets,
            groups,
            session_cache,
            contexts,
        }))
    }
}

/// `ssl_session_cache off | none | [builtin[:size]] [shared:name:size]`.
fn session_cache(l: &mut Loader, d: &Directive) -> Option<SessionCache> {
    let mut builtin: Option<usize> = None;
    let mut shared: Option<(Box<str>, usize)> = None;
    for a in &d.args {
        let v = a.as_bytes();
        let invalid = |l: &mut Loader| {
            let e = l.arg_error(d, a, format!("invalid session cache \"{}\"", a.show()));
            l.error(
                e.help("off, none, builtin[:sessions] or shared:name:size (e.g. shared:SSL:10m)"),
            );
            None
        };
        match v {
            b"off" if d.args.len() == 1 => return Some(SessionCache::Off),
            b"none" if d.args.len() == 1 => return Some(SessionCache::None),
            b"builtin" => builtin = Some(20480),
            _ if v.starts_with(b"builtin:") => {
                let n = std::str::from_utf8(&v[8..])
                    .ok()
                    .and_then(|s| s.parse().ok());
                match n {
                    Some(n) => builtin = Some(n),
                    None => return invalid(l),
                }
            }
            _ if v.starts_with(b"shared:") => {
                let rest = &v[7..];
                let Some(colon) = rest.iter().position(|&b| b == b':') else {
                    return invalid(l);
                };
                let name = String::from_utf8_lossy(&rest[..colon]).into_owned();
                let Some(size) = crate::config::value::size(&rest[colon + 1..]) else {
                    return invalid(l);
                };
                if name.is_empty() {
                    return invalid(l);
                }
                if size < 8 * 4096 {
                    let e =
                        l.arg_error(d, a, format!("session cache \"{}\" is too small", a.show()));
                    l.error(e.help("give the zone at least 32k"));
                    return None;
                }
                // nginx: one megabyte stores about 4000 sessions.
                shared = Some((name.into(), (size as usize / 256).max(1)));
            }
            _ => return invalid(l),
        }
    }
    let sessions = builtin.unwrap_or(0) + shared.as_ref().map_or(0, |s| s.1);
    Some(SessionCache::Store {
        zone: shared.map(|s| s.0),
        sessions: sessions.max(1),
    })
}

fn fopen_error(path: &Path, err: &std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::NotFound {
        format!(
            "BIO_new_file() failed (SSL: error:80000002:system library::No such file or directory:calling fopen({}, r) error:10000080:BIO routines::no such file)",
            path.display()
        )
    } else {
        format!(
            "BIO_new_file() failed ({})",
            crate::config::load::errno_text(err)
        )
    }
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| fopen_error(path, &e))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("PEM_read_bio_X509_AUX() failed ({e})"))?;
    if chain.is_empty() {
        return Err("PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)".into());
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| fopen_error(path, &e))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        "PEM_read_bio_PrivateKey() failed (SSL: error:1E08010C:DECODER routines::unsupported:No supported data to decode. Input type: PEM)".to_string()
    })
}

/// The TLS 1.2 suites rustls (ring) offers, with the attributes OpenSSL's cipher strings use.
const SUITES: &[(&str, &str, &[&str])] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        &[
            "ECDHE", "EECDH", "kEECDH", "kECDHE", "aECDSA", "ECDSA", "AES", "AES256", "AESGCM",
            "SHA384", "HIGH", "ALL", "DEFAULT", "TLSv1.2",
        ],
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        &[
            "ECDHE", "EECDH", "kEECDH", "kECDHE", "aRSA", "RSA", "AES", "AES256", "AESGCM",
            "SHA384", "HIGH", "ALL", "DEFAULT", "TLSv1.2",
        ],
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        &[
            "ECDHE", "EECDH", "kEECDH", "kECDHE", "aECDSA", "ECDSA", "CHACHA20", "SHA256", "HIGH",
            "ALL", "DEFAULT", "TLSv1.2",
        ],
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
        &[
            "ECDHE", "EECDH", "kEECDH", "kECDHE", "aRSA", "RSA", "CHACHA20", "SHA256", "HIGH",
            "ALL", "DEFAULT", "TLSv1.2",
        ],
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        &[
            "ECDHE", "EECDH", "kEECDH", "kECDHE", "aECDSA", "ECDSA", "AES", "AES128", "AESGCM",
            "SHA256", "HIGH", "ALL", "DEFAULT", "TLSv1.2",
        ],
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        &[
            "ECDHE", "EECDH", "kEECDH", "kECDHE", "aRSA", "RSA", "AES", "AES128", "AESGCM",
            "SHA256", "HIGH", "ALL", "DEFAULT", "TLSv1.2",
        ],
    ),
];

/// Evaluates an OpenSSL cipher string over the suites rustls has: `X` adds, `-X` removes,
/// `!X` removes for good, `+X` moves to the end, `A+B` means both; unknown names select
/// nothing, as in OpenSSL.
pub fn select_ciphers(s: &str) -> Vec<&'static str> {
    let mut list: Vec<usize> = Vec::new();
    let mut banned: Vec<usize> = Vec::new();
    for token in s.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        if token.starts_with('@') {
            continue;
        }
        let (op, body) = match token.as_bytes()[0] {
            b'!' | b'-' | b'+' => (token.as_bytes()[0], &token[1..]),
            _ => (b' ', token),
        };
        let matches: Vec<usize> = (0..SUITES.len())
            .filter(|i| {
                let (_, name, attrs) = SUITES[*i];
                body == name || body.split('+').all(|part| attrs.contains(&part))
            })
            .collect();
        match op {
            b'!' => {
                banned.extend(&matches);
                list.retain(|i| !matches.contains(i));
            }
            b'-' => list.retain(|i| !matches.contains(i)),
            b'+' => {
                let moved: Vec<usize> = list
                    .iter()
                    .copied()
                    .filter(|i| matches.contains(i))
                    .collect();
                list.retain(|i| !matches.contains(i));
                list.extend(moved);
            }
            _ => {
                for i in matches {
                    if !list.contains(&i) && !banned.contains(&i) {
                        list.push(i);
                    }
                }
            }
        }
    }
    list.into_iter().map(|i| SUITES[i].0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_strings() {
        assert_eq!(select_ciphers("HIGH:!aNULL:!MD5").len(), 6);
        assert_eq!(
            select_ciphers("ECDHE-RSA-AES128-GCM-SHA256"),
            vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
        );
        assert_eq!(select_ciphers("ECDHE+AESGCM").len(), 4);
        assert!(select_ciphers("AES128-SHA").is_empty());
        assert_eq!(select_ciphers("HIGH:!aRSA").len(), 3);
    }
}
