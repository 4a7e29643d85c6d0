//! The core's switches for the responses it makes itself: `server_tokens` (the `Server`
//! header and error pages), `absolute_redirect`, `server_name_in_redirect` and
//! `port_in_redirect` (the `Location` of redirects), `chunked_transfer_encoding` and
//! `msie_padding`.
//!
//! Headers the configuration adds (`add_header`) are the headers family's, not these.

use super::{invalid_enum, LocBuilder, Rest};
use crate::config::load::Loader;
use crate::config::lower::or;
use crate::ir::location::ServerTokens;
use crate::syntax::Directive;

/// The part of a [`crate::ir::location::LocConf`] this family fills.
pub(super) struct Conf {
    pub server_tokens: ServerTokens,
    pub msie_padding: bool,
    pub absolute_redirect: bool,
    pub server_name_in_redirect: bool,
    pub port_in_redirect: bool,
    pub chunked_transfer_encoding: bool,
}

/// Handles a directive of this family; false if `name` is not one.
pub(super) fn directive(b: &mut LocBuilder, l: &mut Loader, d: &Directive, name: &str) -> bool {
    match name {
        "server_tokens" => {
            if !l.is_dup(&b.rest_mut().server_tokens, d) {
                let v = match d.args[0].as_bytes().to_ascii_lowercase().as_slice() {
                    b"on" => Some(ServerTokens::On),
                    b"off" => Some(ServerTokens::Off),
                    b"build" => Some(ServerTokens::Build),
                    _ => None,
                };
                match v {
                    Some(v) => l.once(&mut b.rest_mut().server_tokens, d, v),
                    None => invalid_enum(l, d, &["off", "on", "build"]),
                }
            }
        }
        "msie_padding" => flag!(l, d, b.rest_mut().msie_padding),
        "absolute_redirect" => flag!(l, d, b.rest_mut().absolute_redirect),
        "server_name_in_redirect" => flag!(l, d, b.rest_mut().server_name_in_redirect),
        "port_in_redirect" => flag!(l, d, b.rest_mut().port_in_redirect),
        "chunked_transfer_encoding" => flag!(l, d, b.rest_mut().chunked_transfer_encoding),
        _ => return false,
    }
    true
}

/// nginx's defaults: every switch on but `server_name_in_redirect`.
pub(super) fn finish(r: &Rest) -> Conf {
    Conf {
        server_tokens: or(&r.server_tokens, ServerTokens::On),
        msie_padding: or(&r.msie_padding, true),
        absolute_redirect: or(&r.absolute_redirect, true),
        server_name_in_redirect: or(&r.server_name_in_redirect, false),
        port_in_redirect: or(&r.port_in_redirect, true),
        chunked_transfer_encoding: or(&r.chunked_transfer_encoding, true),
    }
}
