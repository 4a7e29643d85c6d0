//! The stream floor: nginx's stream phases for one session (`ngx_stream_core_run_phases`),
//! beside http's request phases and sharing nothing with them but the floors below.
//!
//! In the order a session meets them: the `client ... connected to ...` line; the access
//! phase (`allow`/`deny`: 403, `access forbidden by rule`); the TLS handshake of a `listen
//! ... ssl` address under `ssl_handshake_timeout` (a failure or a timeout is 500); then the
//! content handler: `return` ([`ret`]) or `proxy_pass` ([`proxy`]: the upstream tried over
//! its group, the client read meanwhile, then the session handed to the worker's tunnel
//! loop). [`end`] finishes a session: the line of a proxied session's end, `$status`, the
//! access log.

pub mod end;
pub mod proxy;
pub mod ret;

use std::sync::Arc;

use crate::ir::stream::Handler;
use crate::ir::Level;
use crate::runtime::base::access::allowed;
use crate::runtime::base::io::{self, Stream};
use crate::runtime::state::conn::TlsInfo;
use crate::runtime::state::session::{status, Session};

pub use proxy::Tunnel;

/// How a session's phases ended: finished (its status set, its access-log line to write),
/// or proxying, for the tunnel loop to carry.
pub enum Phases {
    Done(Stream),
    /// The client could not be kept (a failed handshake): nothing to close gracefully.
    Closed,
    Proxy(Box<Tunnel>),
}

/// Runs a new session's phases up to its content handler.
pub async fn run(client: Stream, s: &mut Session) -> Phases {
    if s.logs_at(Level::Info) {
        let remote = match s.remote {
            Some(a) => a.to_string(),
            None => "unix:".to_string(),
        };
        let to = s.address().text.clone();
        s.bare(
            Level::Info,
            format_args!("client {remote} connected to {to}"),
        );
    }
    let server = Arc::clone(&s.snap);
    let server = server.stream.servers.get(s.address().server.0 as usize);
    let Some(server) = server else {
        s.status = status::INTERNAL_SERVER_ERROR;
        return Phases::Done(client);
    };
    if !allowed(&server.access, s.remote.map(|a| a.ip())) {
        s.error(
            Level::Error,
            format_args!("access forbidden by rule"),
            Some("initializing session"),
        );
        s.status = status::FORBIDDEN;
        return Phases::Done(client);
    }
    let client = if s.address().ssl {
        match handshake(client, s).await {
            Some(c) => c,
            None => {
                s.status = status::INTERNAL_SERVER_ERROR;
                return Phases::Closed;
            }
        }
    } else {
        client
    };
    // The content phase: TCP_NODELAY on the client, then the handler.
    if server.tcp_nodelay {
        client.set_nodelay();
    }
    match &server.handler {
        Handler::Return(t) => {
            let t = t.clone();
            ret::run(client, s, &t).await
        }
        Handler::Proxy(p) => proxy::start(client, s, Arc::clone(p)).await,
    }
}

/// The TLS handshake under `ssl_handshake_timeout` (one timer for the whole handshake, as
/// nginx sets it): a failure is logged at info as nginx logs it, a timeout silently.
async fn handshake(client: Stream, s: &mut Session) -> Option<Stream> {
    let snap = Arc::clone(&s.snap);
    let server = &snap.stream.servers[s.address().server.0 as usize];
    let tls = server.tls.as_ref()?;
    let config = Arc::clone(&tls.contexts.base);
    let tls13 = tls.protocols.tls13;
    let work = async move {
        let acceptor =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), client);
        let start = acceptor.await.map_err(|e| (e, None))?;
        let hello = start.client_hello();
        let server_name: Option<Box<str>> = hello.server_name().map(Into::into);
        let ciphers: Box<[rustls::CipherSuite]> = hello.cipher_suites().into();
        let curves: Box<[rustls::NamedGroup]> = hello.named_groups().unwrap_or_default().into();
        // What OpenSSL knows once it has read the hello, should the rest fail (nginx's
        // `$ssl_*` of a failed handshake): the version and key exchange it would pick, no
        // cipher yet.
        let partial = TlsInfo::of_hello(&config, tls13, server_name.clone(), &ciphers, &curves);
        match start.into_stream(config).await {
            Ok(stream) => {
                let info = TlsInfo::of(stream.get_ref().1, server_name, None, ciphers, curves);
                Ok((stream, info))
            }
            Err(e) => Err((e, Some(partial))),
        }
    };
    match io::timed(server.handshake_timeout, work).await {
        Ok(Ok((stream, info))) => {
            s.tls = Some(Box::new(info));
            Some(Stream::Tls(Box::new(stream)))
        }
        Ok(Err((e, partial))) => {
            s.tls = partial.map(Box::new);
            let msg = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "peer closed connection in SSL handshake".to_string()
            } else {
                let why = e.get_ref().map_or_else(|| e.to_string(), |i| i.to_string());
                format!("SSL_do_handshake() failed (rustls: {why})")
            };
            s.error(Level::Info, format_args!("{msg}"), Some("SSL handshaking"));
            None
        }
        Err(_) => None,
    }
}
