//! How a URI names a file (`ngx_http_map_uri_to_path`): `root` or `alias`, evaluated, made
//! absolute under the prefix when a script computed it, and the URI's part after it; and the
//! variables made of it (`$document_root`, `$realpath_root`, `$request_filename`). Static
//! files (`http::files`) map their URIs with the same functions.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::ir::location::{LocConf, Root};
use crate::ir::{Level, Var};
use crate::runtime::state::log;
use crate::runtime::state::request::Request;

/// `$document_root`, `$realpath_root`, `$request_filename`.
pub fn path_var(r: &mut Request, v: &Var, out: &mut Vec<u8>) {
    let conf = r.conf.clone();
    match v {
        Var::DocumentRoot => root_of(r, &conf, out),
        Var::RealpathRoot => {
            let mut root = Vec::new();
            root_of(r, &conf, &mut root);
            match std::fs::canonicalize(OsStr::from_bytes(&root)) {
                Ok(p) => out.extend_from_slice(p.as_os_str().as_bytes()),
                Err(_) => out.extend_from_slice(&root),
            }
        }
        _ => {
            let uri = r.uri.clone();
            // nginx fails the variable; the alert was logged.
            let _ = map_uri(r, &conf, &uri, out);
        }
    }
}

/// The root (or alias) directory, evaluated. A value nginx computes with a script (one with
/// variables, or any `alias` in a regex location) and that comes out relative is under the
/// prefix (`ngx_get_full_name`); literal paths were made absolute when the configuration was
/// read.
pub fn root_of(r: &mut Request, conf: &LocConf, out: &mut Vec<u8>) {
    let (t, script) = match &conf.root {
        Root::Root(t) => (t, t.has_vars()),
        Root::Alias { path, location_len } => (path, path.has_vars() || location_len.is_none()),
    };
    let from = out.len();
    r.eval(t, out);
    if script && out.get(from) != Some(&b'/') {
        let prefix = r.snap.config.paths.prefix.as_os_str().as_bytes().to_vec();
        out.splice(from..from, prefix);
    }
}

/// `ngx_http_map_uri_to_path`: the file name for `uri`. False (nginx's NULL, a 500) for an
/// `alias` after `rewrite ... break` changed the URI: the location's name no longer says
/// which part of it to replace.
pub fn map_uri(r: &mut Request, conf: &LocConf, uri: &[u8], out: &mut Vec<u8>) -> bool {
    if !alias_usable(r, conf) {
        return false;
    }
    root_of(r, conf, out);
    match &conf.root {
        Root::Root(_) => out.extend_from_slice(uri),
        Root::Alias {
            location_len: Some(n),
            ..
        } => out.extend_from_slice(&uri[(*n).min(uri.len())..]),
        Root::Alias {
            location_len: None, ..
        } => {
            if r.add_uri_to_alias {
                out.extend_from_slice(uri);
            }
        }
    }
    true
}

/// The check that opens `ngx_http_map_uri_to_path`: an `alias` needs the URI its location
/// matched.
pub fn alias_usable(r: &Request, conf: &LocConf) -> bool {
    if matches!(conf.root, Root::Alias { .. }) && !r.valid_location {
        log::error(
            r,
            Level::Alert,
            format_args!(
                "\"alias\" cannot be used in location \"{}\" where URI was rewritten",
                String::from_utf8_lossy(&conf_name(r))
            ),
        );
        return false;
    }
    true
}

/// The name of the location whose configuration applies (for messages only: found by
/// identity, and empty for an `if` block's).
fn conf_name(r: &Request) -> Vec<u8> {
    r.server()
        .locations
        .iter()
        .find(|l| std::sync::Arc::ptr_eq(&l.conf, &r.conf))
        .map(|l| l.name.to_vec())
        .unwrap_or_default()
}
