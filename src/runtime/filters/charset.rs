//! The charset filter (`ngx_http_charset_filter_module`, the part rginx implements):
//! `charset` (or an upstream's `X-Accel-Charset`) appended to a text type as `; charset=X`.
//! rginx does no recoding (`charset_map` is refused), so only the header changes.

use bytes::Bytes;

use crate::ir::location::LocConf;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;

/// The charset filter: `charset` (or the upstream's `X-Accel-Charset`) appended to a text
/// type as `; charset=X` (`ngx_http_destination_charset`).
pub fn charset_filter(r: &mut Request, conf: &LocConf, h: &mut HeadersOut) {
    let Some(ct) = h.content_type.clone() else {
        return;
    };
    let name = if let Some(o) = h.override_charset.clone().filter(|o| !o.is_empty()) {
        // Only charsets the configuration names are known (nginx's charset list).
        if known_charset(conf, &o) {
            o.to_vec()
        } else {
            // Logged by the proxy, which knows the upstream.
            return;
        }
    } else {
        let Some(cs) = conf.charset.clone() else {
            return;
        };
        if has_charset(&ct) {
            return;
        }
        let base = ct.split(|&b| b == b';').next().unwrap_or(&ct).trim_ascii();
        if !(cs.any_type || cs.types.contains(&base.to_ascii_lowercase()[..])) {
            return;
        }
        let v = r.eval_vec(&cs.charset);
        if v.is_empty() || v.eq_ignore_ascii_case(b"off") {
            return;
        }
        v
    };
    if has_charset(&ct) {
        return;
    }
    let mut v = ct.to_vec();
    v.extend_from_slice(b"; charset=");
    v.extend_from_slice(&name);
    h.content_type = Some(Bytes::from(v));
}

/// nginx knows the charsets its configuration names (`charset`, `source_charset`,
/// `charset_map`); rginx implements `charset`.
pub fn known_charset(conf: &LocConf, name: &[u8]) -> bool {
    conf.charset
        .as_ref()
        .and_then(|c| c.charset.as_literal())
        .is_some_and(|c| c.eq_ignore_ascii_case(name))
}

fn has_charset(ct: &[u8]) -> bool {
    ct.windows(8).any(|w| w.eq_ignore_ascii_case(b"charset="))
}
