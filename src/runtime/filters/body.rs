//! The body writer: how a response's body leaves, through nginx's body filters in their
//! order (gzip, then chunked framing, then the write).

use bytes::Bytes;

use super::head::{self, Framing};
use crate::runtime::base::http1::encode;
use crate::runtime::base::io;
use crate::runtime::state::conn::Client;
use crate::runtime::state::log;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;

/// Sends a complete response whose body is in memory.
pub async fn send(r: &mut Request, c: &mut Client, mut h: HeadersOut, body: &[u8]) -> Next {
    let mut head = Vec::with_capacity(256 + if body.len() <= 4096 { body.len() } else { 0 });
    let framing = head::filter_and_write(r, &mut h, &mut head);
    r.sent.status = h.status;
    r.sent.header_bytes = head.len() as u64;
    let timeout = r.conf.send_timeout;
    let compressed;
    let body = match r.gzip.take() {
        Some(mut g) if framing != Framing::None => {
            let mut out = Vec::with_capacity(body.len() / 2 + 64);
            g.push(body, &mut out);
            g.finish(&mut out);
            compressed = out;
            &compressed[..]
        }
        _ => body,
    };
    let result = match framing {
        Framing::None => io::write_all(&mut c.stream, &head, timeout).await,
        Framing::Length(_) | Framing::Close => {
            r.sent.body_bytes = body.len() as u64;
            io::write_two(&mut c.stream, &head, body, timeout).await
        }
        Framing::Chunked => {
            let mut b = Vec::with_capacity(body.len() + 16);
            encode::chunk(body, &mut b);
            b.extend_from_slice(encode::LAST_CHUNK);
            r.sent.body_bytes = b.len() as u64;
            io::write_two(&mut c.stream, &head, &b, timeout).await
        }
    };
    r.sent.head = Some(Bytes::from(head));
    if let Err(e) = result {
        log::client_write_error(r, &e);
        r.keepalive = false;
        r.sent.incomplete = true;
    }
    if framing == Framing::Close {
        r.keepalive = false;
    }
    Next::Done
}
