//! `proxy_pass` (S4–S6, S9, S10, S13.3), the content handler of a proxying location, in the
//! order a request meets it:
//!
//! - `pass`: where it goes (the upstream group, `$proxy_host`, the request-target);
//! - here: the request body, read whole first or streamed (S10.6);
//! - `head`: the request head sent upstream (S6);
//! - `tries`: the tries over the group's peers with nginx's failure rules (S5), each one
//!   `connect`ing, `send`ing the request and `read`ing the response head;
//! - `response`: what becomes of the answer (intercepted, redirected, or the client's head),
//!   then `relay` for its body or `upgrade` for a tunnel;
//! - `error`: why a try failed, the one type each failure is logged and answered from.

pub mod connect;
pub mod error;
mod head;
mod job;
mod pass;
mod peer;
mod read;
mod relay;
mod response;
mod send;
mod tries;
mod upgrade;

use std::sync::Arc;

use super::body::{self, Body, BodyError};
use crate::ir::proxy::{HttpVersion, Proxy};
use crate::ir::Level;
use crate::runtime::base::http1::request::Method;
use crate::runtime::state::conn::Client;
use crate::runtime::state::log;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;

use job::Job;
pub use pass::{find_upstream, one_peer_group, target_uri};

/// The content handler of a `proxy_pass` location.
pub async fn run(r: &mut Request, c: &mut Client, proxy: &Arc<Proxy>) -> Next {
    let pass = match pass::resolve(r, proxy) {
        Ok(p) => p,
        Err(next) => return next,
    };
    if pass.uri.is_empty() {
        log::error(r, Level::Error, format_args!("zero length URI to proxy"));
        return Next::Status(500);
    }
    let (body, stream_body) = match request_body(r, c, proxy).await {
        Ok(b) => b,
        Err(next) => return next,
    };
    let chunked_upstream = stream_body && r.head.chunked;
    let body_length: Option<u64> = if !proxy.pass_request_body || stream_body {
        if chunked_upstream {
            None
        } else {
            r.head.content_length
        }
    } else if r.head.chunked {
        Some(body.len())
    } else {
        r.head.content_length
    };
    let job = Job {
        proxy,
        head: head::build(r, proxy, &pass, body_length, chunked_upstream),
        pass,
        stream_body,
        is_head: r.method == Method::Head,
    };
    tries::run(r, c, &job, body).await
}

/// The request body (S10.6): read whole first, unless it may be streamed; whether it is
/// streamed.
async fn request_body(
    r: &mut Request,
    c: &mut Client,
    proxy: &Proxy,
) -> Result<(Body, bool), Next> {
    let stream_body = !proxy.request_buffering
        && proxy.pass_request_body
        && !r.body_done
        && (r.head.content_length.is_some_and(|n| n > 0)
            || (r.head.chunked && proxy.http_version == HttpVersion::Http11))
        && !body::preread_complete(r, c);
    let mut body = Body::Empty;
    // nginx reads the body even when it does not pass it on (proxy_pass_request_body off).
    if !stream_body && !r.body_done {
        body = match body::read_all(r, c).await {
            Ok(b) => b,
            Err(BodyError::Status(code)) => return Err(Next::Status(code)),
            Err(BodyError::Closed) => return Err(r.close_with(400)),
            Err(BodyError::TimedOut) => return Err(r.close_with(408)),
        };
    }
    if !proxy.pass_request_body {
        body = Body::Empty;
    }
    Ok((body, stream_body))
}
