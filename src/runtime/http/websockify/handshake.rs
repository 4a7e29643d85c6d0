//! The WebSocket handshake of `websockify_pass`, as websockify checks it (its
//! `WebSocket.accept`) and as the module answers it: a GET with `Upgrade: websocket`,
//! `Sec-WebSocket-Version` 7, 8 or 13 and a `Sec-WebSocket-Key`; of the subprotocols
//! offered, `binary` first, then `base64` (the module's and older websockify's), and none
//! when none is offered (binary frames, websockify's choice). Anything else is refused with
//! 400, as the module refuses it.
//!
//! The 101 goes through nginx's header filters, so it is nginx's head (`Server`, `Date`,
//! `Connection: upgrade`, `add_header ... always`) with the module's three headers.

use bytes::Bytes;

use crate::ir::header::Known;
use crate::runtime::base::http1::request::Method;
use crate::runtime::base::io;
use crate::runtime::base::websocket::accept_key;
use crate::runtime::filters::head;
use crate::runtime::state::conn::Client;
use crate::runtime::state::log;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;

/// An accepted handshake.
pub struct Shake {
    accept: String,
    /// The subprotocol chosen, if one was offered.
    protocol: Option<&'static str>,
    pub base64: bool,
}

/// Checks the request as websockify does; the reason it is not a handshake otherwise.
pub fn check(r: &Request) -> Result<Shake, &'static str> {
    if r.method != Method::Get {
        return Err("the method is not GET");
    }
    let head = &r.head;
    let upgrade = head.known(Known::Upgrade).unwrap_or_default();
    if !tokens(upgrade).any(|t| t.eq_ignore_ascii_case(b"websocket")) {
        return Err("no \"Upgrade: websocket\"");
    }
    match head.known(Known::SecWebSocketVersion).map(trim) {
        Some(b"7" | b"8" | b"13") => {}
        Some(_) => return Err("unsupported \"Sec-WebSocket-Version\""),
        None => return Err("no \"Sec-WebSocket-Version\""),
    }
    let key = match head.known(Known::SecWebSocketKey).map(trim) {
        Some(k) if !k.is_empty() => k,
        _ => return Err("no \"Sec-WebSocket-Key\""),
    };
    let mut offered = false;
    let (mut binary, mut base64) = (false, false);
    for line in head.known_all(Known::SecWebSocketProtocol) {
        for t in tokens(line) {
            offered = true;
            binary |= t == b"binary";
            base64 |= t == b"base64";
        }
    }
    let protocol = match (offered, binary, base64) {
        (false, _, _) => None,
        (true, true, _) => Some("binary"),
        (true, false, true) => Some("base64"),
        (true, false, false) => return Err("no subprotocol websockify speaks (binary, base64)"),
    };
    Ok(Shake {
        accept: accept_key(key),
        protocol,
        base64: protocol == Some("base64"),
    })
}

/// Writes the 101 head; false if the client could not be written to (logged).
pub async fn answer(r: &mut Request, c: &mut Client, shake: &Shake) -> bool {
    // The module sets the status line itself (nginx's table has no 1xx).
    let mut h = HeadersOut::new(101);
    h.status_line = Some(Bytes::from_static(b"101 Switching Protocols"));
    h.push(
        Bytes::from_static(b"Sec-WebSocket-Accept"),
        Bytes::from(shake.accept.clone()),
    );
    h.push(
        Bytes::from_static(b"Upgrade"),
        Bytes::from_static(b"websocket"),
    );
    if let Some(p) = shake.protocol {
        h.push(
            Bytes::from_static(b"Sec-WebSocket-Protocol"),
            Bytes::from_static(p.as_bytes()),
        );
    }
    let mut out = Vec::with_capacity(256);
    head::filter_and_write(r, &mut h, &mut out);
    r.sent.status = 101;
    r.sent.header_bytes = out.len() as u64;
    let written = io::write_all(&mut c.stream, &out, r.conf.send_timeout).await;
    r.sent.head = Some(Bytes::from(out));
    if let Err(e) = written {
        log::client_write_error(r, &e);
        r.sent.incomplete = true;
        return false;
    }
    true
}

/// The comma-separated tokens of a header value, trimmed.
fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}
