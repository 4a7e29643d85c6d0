//! Every way a request ends with a response nginx makes itself: `ngx_http_special_response_handler`
//! (the status pages, after `error_page`), `error_page` (an internal redirect, a named
//! location, or a redirect), and `return` (`ngx_http_script_return_code`). This is the one
//! place a status becomes nginx's response.

use bytes::Bytes;

use super::body;
use crate::ir::location::{ErrorPage, Return};
use crate::runtime::base::http1::request::Method;
use crate::runtime::base::page;
use crate::runtime::filters::body as body_writer;
use crate::runtime::state::conn::Client;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;

/// nginx's `ngx_http_special_response_handler`, after `error_page`.
pub async fn special(r: &mut Request, c: &mut Client, code: u16) -> Next {
    if matches!(code, 408 | 444 | 499) {
        return r.close_with(code);
    }
    r.err_status = Some(code);
    if r.keepalive && matches!(code, 400 | 413 | 414 | 497 | 495 | 496 | 500 | 501) {
        r.keepalive = false;
    }
    r.out.content_type = None;
    if !r.error_page && r.uri_changes != 0 {
        if let Some(p) = r.conf.error_pages.pages.get(&code).cloned() {
            if !r.conf.recursive_error_pages {
                r.error_page = true;
            }
            return send_error_page(r, c, code, &p).await;
        }
    }
    r.expect_tested = true;
    if !body::discard(r, c).await {
        r.keepalive = false;
    }
    send_special(r, c, code).await
}

/// `ngx_http_send_error_page`.
async fn send_error_page(r: &mut Request, c: &mut Client, code: u16, p: &ErrorPage) -> Next {
    match p.overwrite {
        Some(Some(o)) => {
            if o != 200 {
                r.expect_tested = true;
            }
            r.err_status = Some(o);
        }
        Some(None) => r.err_status = None,
        None => {
            if (494..=497).contains(&code) {
                r.err_status = Some(400);
            }
        }
    }
    let value = r.eval_vec(&p.uri);
    if value.first() == Some(&b'/') {
        let (uri, args) = match value.iter().position(|&b| b == b'?') {
            Some(q) => (
                value[..q].to_vec(),
                Some(Bytes::copy_from_slice(&value[q + 1..])),
            ),
            None => (value, None),
        };
        if r.method != Method::Head {
            r.method = Method::Get;
            r.method_get = true;
        }
        return Next::Redirect(uri, args);
    }
    if value.first() == Some(&b'@') {
        return Next::Named(value);
    }
    r.expect_tested = true;
    if !body::discard(r, c).await {
        r.keepalive = false;
    }
    let status = match p.overwrite {
        Some(Some(o @ (301 | 302 | 303 | 307 | 308))) => o,
        _ => 302,
    };
    r.err_status = Some(status);
    r.out.set_location(value);
    send_special(r, c, status).await
}

/// `ngx_http_send_special_response`: nginx's page for `code` (or an empty body).
async fn send_special(r: &mut Request, c: &mut Client, code: u16) -> Next {
    let status = r.err_status.unwrap_or(code);
    let wire = page::wire_status(status);
    if wire != status {
        r.err_status = Some(wire);
    }
    let conf = r.conf.clone();
    let padding = conf.msie_padding
        && (r.head.browser.msie || r.head.browser.chrome)
        && !r.head.http09
        && code >= 400;
    let page = page::error_page(code, conf.server_tokens, padding);
    let mut h = std::mem::take(&mut r.out);
    h.status = wire;
    h.status_line = None;
    h.last_modified = None;
    h.last_modified_time = None;
    if let Some(i) = h.etag.take() {
        h.headers[i].live = false;
    }
    let body = match page {
        Some(p) => {
            h.content_length = Some(p.len() as u64);
            h.content_type = Some(Bytes::from_static(b"text/html"));
            p
        }
        None => {
            h.content_length = Some(0);
            Vec::new()
        }
    };
    body_writer::send(r, c, h, Bytes::from(body)).await
}

/// `return` (`ngx_http_script_return_code`).
pub async fn do_return(r: &mut Request, c: &mut Client, ret: &Return) -> Next {
    let code = ret.code;
    if code == 444 {
        // nginx's NGX_HTTP_CLOSE: no response at all.
        return r.close_with(444);
    }
    if code >= 400 && ret.value.is_none() {
        return Next::Status(code);
    }
    let value = match &ret.value {
        Some(t) => r.eval_vec(t),
        None => Vec::new(),
    };
    // ngx_http_send_response.
    if !body::discard(r, c).await {
        r.keepalive = false;
    }
    if matches!(code, 301 | 302 | 303 | 307 | 308) {
        r.out.set_location(value);
        return Next::Status(code);
    }
    let mut h = std::mem::take(&mut r.out);
    h.status = code;
    h.content_length = Some(value.len() as u64);
    if h.content_type.is_none() {
        h.content_type = Some(r.content_type(&r.conf.clone()));
    }
    body_writer::send(r, c, h, Bytes::from(value)).await
}
