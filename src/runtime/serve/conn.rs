//! A client connection from its accept: TLS when its address has `ssl` (S12), then HTTP/2
//! when ALPN, the address or the preface says so (S12.7), else HTTP/1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::open::Open;
use super::{h1, h2, tls};
use crate::runtime::base::io::{self, Stream};
use crate::runtime::state::conn::ConnInfo;
use crate::runtime::state::Snapshot;

/// Serves a connection until it closes.
pub async fn serve(stream: Stream, mut conn: ConnInfo, snap: Arc<Snapshot>, open: Open) {
    let mut plain_on_tls = false;
    let stream = if snap.http().sockets[conn.socket].addrs[conn.addr].ssl {
        match tls::accept(stream, &snap, &conn).await {
            tls::Accepted::Tls(s, info) => {
                conn.https = true;
                conn.tls = Some(info);
                s
            }
            tls::Accepted::Plain(s) => {
                plain_on_tls = true;
                s
            }
            tls::Accepted::Closed => return,
        }
    } else {
        stream
    };
    {
        let ac = &snap.http().sockets[conn.socket].addrs[conn.addr];
        let default = &snap.http().servers[ac.default_server.0 as usize];
        // S12.7: h2 when ALPN chose it; a plaintext `listen ... http2` speaks only HTTP/2;
        // with `http2 on` (nginx 1.25.1) a plaintext address speaks both, by the preface.
        conn.http2 = match &conn.tls {
            Some(t) => t.alpn.as_deref() == Some(b"h2"),
            None if plain_on_tls => false,
            None if ac.http2 => true,
            None if default.http2 && !ac.ssl => {
                starts_with_preface(&stream, default.srv.client_header_timeout).await
            }
            None => false,
        };
    }
    let conn = Arc::new(conn);
    if conn.http2 {
        return h2::serve(stream, conn, snap, open).await;
    }
    h1::serve(stream, conn, snap, open, plain_on_tls).await
}

/// Whether a plaintext connection opens with HTTP/2's connection preface (nginx 1.25's test
/// for `http2 on`), looking without taking: the bytes stay for whichever protocol reads them.
async fn starts_with_preface(stream: &Stream, timeout: Duration) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let Stream::Tcp(tcp) = stream else {
        return false;
    };
    let until = Instant::now() + timeout;
    let mut seen = 0;
    let mut buf = [0u8; 24];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let n = match io::timed(left, tcp.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return false,
        };
        if n == 0 || buf[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        if n == seen {
            // A preface split over packets (rare): look again shortly.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen = n;
    }
}
