//! nginx's request phases for one request, and the runner that acts on how each ends.
//!
//! The phases: server-level `return` (server rewrite), the location search with the automatic
//! 301 and `client_max_body_size` (find config), location `return` (rewrite), `allow`/`deny`
//! (access), then content: `proxy_pass` or static files. A phase ends the request with a
//! [`Next`]: done, a status for nginx's special response (where `error_page` applies), or an
//! internal redirect that starts the phases again. Every error response goes through
//! [`special`] (`http::special`), the one place that turns a status into nginx's response.

use bytes::Bytes;

use super::rewrite::{self, Flow};
use super::route::{self, Found};
use super::special::{do_return, special};
use super::{access, body, files, proxy, websockify};
use crate::ir::{Level, LocId};
use crate::runtime::base::http1::request::escape_uri;
use crate::runtime::state::conn::Client;
use crate::runtime::state::log;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;

/// Runs the request to its end.
pub async fn handle(r: &mut Request, c: &mut Client) {
    let next = phases(r, c, None).await;
    run(r, c, next).await
}

/// A request nginx finalizes with `code` before its phases run (the 497 of plain HTTP on a
/// TLS port, S12.5): the server's error pages apply.
pub async fn handle_status(r: &mut Request, c: &mut Client, code: u16) {
    r.conf = r.server().conf.clone();
    let next = special(r, c, code).await;
    run(r, c, next).await
}

async fn run(r: &mut Request, c: &mut Client, mut next: Next) {
    loop {
        next = match next {
            Next::Done => {
                // ngx_http_filter_finalize_request ends the request in NGX_ERROR once its
                // response is out: the connection closes.
                if r.filter_finalize {
                    r.keepalive = false;
                }
                return;
            }
            Next::Status(code) => special(r, c, code).await,
            Next::Redirect(uri, args) => match internal_redirect(r, uri, args) {
                Ok(()) => phases(r, c, None).await,
                Err(code) => Next::Status(code),
            },
            Next::Named(name) => match named_location(r, &name) {
                Ok(id) => phases(r, c, Some(id)).await,
                Err(code) => Next::Status(code),
            },
        };
    }
}

/// The phases from the server rewrite phase, or from a named location's rewrite phase.
async fn phases(r: &mut Request, c: &mut Client, named: Option<LocId>) -> Next {
    match named {
        Some(id) => {
            r.conf = r.server().locations[id.0 as usize].conf.clone();
            r.update_location_config();
        }
        None => {
            r.conf = r.server().conf.clone();
            // Server rewrite phase.
            if let Some(script) = r.server().script.clone() {
                match rewrite::run(r, &script.ops) {
                    Flow::Go | Flow::Break | Flow::Last => {}
                    Flow::Return(ret) => return do_return(r, c, &ret).await,
                    Flow::Status(code) => return Next::Status(code),
                }
            }
            // Find config, location rewrite and post rewrite phases: a rewritten URI searches
            // the location again.
            loop {
                match find_config(r, c).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(next) => return next,
                }
                let Some(script) = r.conf.script.clone() else {
                    break;
                };
                r.uri_research = false;
                match rewrite::run(r, &script.ops) {
                    Flow::Go | Flow::Last => {}
                    Flow::Break => break,
                    Flow::Return(ret) => return do_return(r, c, &ret).await,
                    Flow::Status(code) => return Next::Status(code),
                }
                if !r.uri_research {
                    break;
                }
                // ngx_http_core_post_rewrite_phase.
                r.uri_changes -= 1;
                if r.uri_changes == 0 {
                    log::error(
                        r,
                        Level::Error,
                        format_args!(
                            "rewrite or internal redirection cycle while processing \"{}\"",
                            String::from_utf8_lossy(&r.uri)
                        ),
                    );
                    return Next::Status(500);
                }
                r.conf = r.server().conf.clone();
            }
            return after_rewrite(r, c).await;
        }
    }
    // The rewrite phase of a named location.
    if let Some(script) = r.conf.script.clone() {
        match rewrite::run(r, &script.ops) {
            Flow::Go | Flow::Last | Flow::Break => {}
            Flow::Return(ret) => return do_return(r, c, &ret).await,
            Flow::Status(code) => return Next::Status(code),
        }
    }
    after_rewrite(r, c).await
}

/// The find config phase (`ngx_http_core_find_config_phase`): the location, `internal`,
/// `client_max_body_size`, the automatic 301. `Ok(true)` when a location's rewrite phase
/// follows (not for a request no location matched).
async fn find_config(r: &mut Request, c: &mut Client) -> Result<bool, Next> {
    r.uri_research = false;
    let (found, caps) = route::find_location(r.server(), &r.uri);
    if let Some(caps) = caps {
        r.matched(caps);
    }
    let (redirect, has_location) = match found {
        Found::Location(id) => {
            r.conf = r.server().locations[id.0 as usize].conf.clone();
            (None, true)
        }
        Found::Redirect(id) => {
            r.conf = r.server().locations[id.0 as usize].conf.clone();
            (Some(id), true)
        }
        Found::Server => {
            r.conf = r.server().conf.clone();
            (None, false)
        }
    };
    if !r.internal && r.conf.internal {
        return Err(Next::Status(404));
    }
    r.update_location_config();
    let max = r.conf.client_max_body_size;
    if let Some(len) = r.head.content_length {
        if max != 0 && len > max && !r.body_done {
            log::error(
                r,
                Level::Error,
                format_args!("client intended to send too large body: {len} bytes"),
            );
            r.expect_tested = true;
            if !body::discard(r, c).await {
                r.keepalive = false;
            }
            return Err(Next::Status(413));
        }
    }
    if let Some(id) = redirect {
        let mut v = Vec::new();
        escape_uri(&r.server().locations[id.0 as usize].name, &mut v);
        if !r.args().is_empty() {
            v.push(b'?');
            v.extend_from_slice(r.args());
        }
        r.out.set_location(v);
        return Err(Next::Status(301));
    }
    Ok(has_location)
}

/// The phases after rewriting: access, then content.
async fn after_rewrite(r: &mut Request, c: &mut Client) -> Next {
    if !access::allowed(r) {
        log::error(r, Level::Error, format_args!("access forbidden by rule"));
        return Next::Status(403);
    }
    if let Some(ws) = r.conf.websockify.clone() {
        return websockify::run(r, c, &ws).await;
    }
    if let Some(proxy) = r.conf.proxy.clone() {
        return proxy::run(r, c, &proxy).await;
    }
    files::serve(r, c).await
}

/// `ngx_http_internal_redirect`.
fn internal_redirect(r: &mut Request, uri: Vec<u8>, args: Option<Bytes>) -> Result<(), u16> {
    r.uri_changes -= 1;
    if r.uri_changes == 0 {
        log::error(
            r,
            Level::Error,
            format_args!(
                "rewrite or internal redirection cycle while internally redirecting to \"{}\"",
                String::from_utf8_lossy(&uri)
            ),
        );
        return Err(500);
    }
    r.uri = uri;
    r.args = args;
    r.internal = true;
    r.uri_changed = true;
    Ok(())
}

/// `ngx_http_named_location`.
fn named_location(r: &mut Request, name: &[u8]) -> Result<LocId, u16> {
    r.uri_changes -= 1;
    if r.uri_changes == 0 {
        log::error(
            r,
            Level::Error,
            format_args!(
                "rewrite or internal redirection cycle while redirect to named location \"{}\"",
                String::from_utf8_lossy(name)
            ),
        );
        return Err(500);
    }
    match r.server().named.get(name).copied() {
        Some(id) => {
            r.internal = true;
            Ok(id)
        }
        None => {
            log::error(
                r,
                Level::Error,
                format_args!(
                    "could not find named location \"{}\"",
                    String::from_utf8_lossy(name)
                ),
            );
            Err(500)
        }
    }
}
