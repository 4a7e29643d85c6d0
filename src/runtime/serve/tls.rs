//! TLS on client connections (S12): telling TLS from plain HTTP on a TLS port (S12.5), the
//! SNI name choosing the server whose certificate and settings the handshake uses (S12.3),
//! the handshake under `client_header_timeout`, and what `$ssl_*` variables report.
//!
//! The rustls configurations were built when the configuration was loaded (one per server,
//! see `config::lower::ssl_context`); a handshake only picks one.

use crate::ir::Level;
use crate::runtime::base::io::{self, Stream};
use crate::runtime::http::route;
use crate::runtime::state::conn::{ConnInfo, TlsInfo};
use crate::runtime::state::log;
use crate::runtime::state::Snapshot;

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
                log::conn_error(
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
        tls.contexts.base.clone()
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
    let info = TlsInfo::of(
        stream.get_ref().1,
        server_name,
        Some(server),
        ciphers,
        curves,
    );
    Accepted::Tls(Stream::Tls(Box::new(stream)), Box::new(info))
}

fn timed_out(snap: &Snapshot, conn: &ConnInfo) {
    log::conn_error(
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
    log::conn_error(
        snap,
        conn,
        Level::Info,
        format_args!("SSL_do_handshake() failed (rustls: {msg})"),
        Some("SSL handshaking"),
    );
}
