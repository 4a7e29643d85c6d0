//! A switch of protocols (S11.2): the upstream's 101 head goes to the client and the
//! connection is handed over to become a tunnel (`http::tunnel`), run once the request's
//! pipeline has returned.

use bytes::Bytes;
use std::rc::Rc;

use super::error::PeerLog;
use super::peer::Got;
use crate::ir::proxy::Proxy;
use crate::runtime::base::io;
use crate::runtime::filters::head as respond;
use crate::runtime::state::conn::Client;
use crate::runtime::state::log;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;
use crate::runtime::state::upgraded::{Carry, Upgraded};
use crate::runtime::state::upstream::UpstreamHead;

/// Writes the 101 head and leaves the upgraded connection on the request.
pub async fn upgrade(
    r: &mut Request,
    c: &mut Client,
    proxy: &Proxy,
    log: &PeerLog<'_>,
    mut got: Got,
    mut h: HeadersOut,
) -> Next {
    let mut out = Vec::with_capacity(256);
    respond::filter_and_write(r, &mut h, &mut out);
    r.sent.status = 101;
    r.sent.header_bytes = out.len() as u64;
    let send_timeout = r.conf.send_timeout;
    let written = io::write_all(&mut c.stream, &out, send_timeout).await;
    r.sent.head = Some(Bytes::from(out));
    if let Err(e) = written {
        log::client_write_error(r, &e);
        r.sent.incomplete = true;
        return Next::Done;
    }
    // The upstream's head stays for `$upstream_http_*` in the access log, but not the 16 KiB
    // buffer it was read into: a tunnel may idle for hours.
    if let Some(u) = &mut r.upstream.head {
        let head = UpstreamHead {
            buf: Bytes::copy_from_slice(&u.buf),
            head: u.head.clone(),
        };
        *u = Rc::new(head);
    }
    r.upgraded = Some(Box::new(Upgraded {
        upstream: got.stream,
        early: got.buf.split().freeze(),
        carry: Carry::Bytes,
        read_timeout: proxy.read_timeout,
        upstream_send_timeout: proxy.send_timeout,
        client_send_timeout: send_timeout,
        log_schema: log.schema,
        log_name: log.name.clone(),
        log_unix: log.unix,
        log_uri: Bytes::copy_from_slice(log.uri),
    }));
    Next::Done
}
