//! The client connection at one level: request body limits and buffering
//! (`client_max_body_size`, `client_body_*`), and how long it may stay (`send_timeout`,
//! `keepalive_*`).
//!
//! Server-level limits on the request head (`client_header_*`, `large_client_header_buffers`)
//! are not here: they belong to the server block (`lower::server`).

use std::sync::Arc;
use std::time::Duration;

use super::{LocBuilder, Rest};
use crate::config::load::{full_name, Loader};
use crate::config::lower::or;
use crate::config::value;
use crate::ir::location::TempPath;
use crate::syntax::Directive;

/// The part of a [`crate::ir::location::LocConf`] this family fills.
pub(super) struct Conf {
    pub client_max_body_size: u64,
    pub client_body_timeout: Duration,
    pub client_body_temp_path: Arc<TempPath>,
    pub client_body_buffer_size: usize,
    pub send_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub keepalive_header: Option<Duration>,
    pub keepalive_requests: u32,
    pub keepalive_time: Duration,
}

/// Handles a directive of this family; false if `name` is not one.
pub(super) fn directive(b: &mut LocBuilder, l: &mut Loader, d: &Directive, name: &str) -> bool {
    match name {
        "client_max_body_size" => {
            if !l.is_dup(&b.rest_mut().client_max_body_size, d) {
                if let Some(v) = l.off_arg(d, 0) {
                    l.once(&mut b.rest_mut().client_max_body_size, d, v);
                }
            }
        }
        "client_body_timeout" => msec!(l, d, b.rest_mut().client_body_timeout),
        "client_body_buffer_size" => {
            if !l.is_dup(&b.rest_mut().client_body_buffer_size, d) {
                if let Some(v) = l.size_arg(d, 0) {
                    l.once(&mut b.rest_mut().client_body_buffer_size, d, v);
                }
            }
        }
        "client_body_temp_path" => {
            if !l.is_dup(&b.rest_mut().client_body_temp_path, d) {
                if let Some(p) = temp_path(l, d) {
                    l.once(&mut b.rest_mut().client_body_temp_path, d, p);
                }
            }
        }
        "send_timeout" => msec!(l, d, b.rest_mut().send_timeout),
        "keepalive_timeout" => {
            if !l.is_dup(&b.rest_mut().keepalive_timeout, d) {
                let t = l.msec_arg(d, 0);
                let h = if d.args.len() == 2 {
                    l.sec_arg(d, 1).map(Some)
                } else {
                    Some(None)
                };
                if let (Some(t), Some(h)) = (t, h) {
                    l.once(&mut b.rest_mut().keepalive_timeout, d, (t, h));
                }
            }
        }
        "keepalive_requests" => {
            if !l.is_dup(&b.rest_mut().keepalive_requests, d) {
                if let Some(v) = l.num_arg(d, 0) {
                    l.once(&mut b.rest_mut().keepalive_requests, d, v as u32);
                }
            }
        }
        "keepalive_time" => msec!(l, d, b.rest_mut().keepalive_time),
        _ => return false,
    }
    true
}

/// nginx's defaults, with Debian's body temp path.
pub(super) fn finish(r: &Rest) -> Conf {
    let (keepalive_timeout, keepalive_header) =
        or(&r.keepalive_timeout, (Duration::from_secs(75), None));
    Conf {
        client_max_body_size: or(&r.client_max_body_size, 1024 * 1024),
        client_body_timeout: or(&r.client_body_timeout, Duration::from_secs(60)),
        // Two pages: 8k on x86-64 (nginx's default).
        client_body_buffer_size: or(&r.client_body_buffer_size, 8 * 1024) as usize,
        client_body_temp_path: Arc::new(or(
            &r.client_body_temp_path,
            TempPath {
                // Debian's --http-client-body-temp-path.
                path: std::path::PathBuf::from(crate::config::defaults::CLIENT_BODY_TEMP_PATH),
                levels: Vec::new(),
            },
        )),
        send_timeout: or(&r.send_timeout, Duration::from_secs(60)),
        keepalive_timeout,
        keepalive_header,
        keepalive_requests: or(&r.keepalive_requests, 1000),
        keepalive_time: or(&r.keepalive_time, Duration::from_secs(3600)),
    }
}

/// `ngx_conf_set_path_slot`: a directory and up to three hash levels of 1 or 2 characters.
fn temp_path(l: &mut Loader, d: &Directive) -> Option<TempPath> {
    use std::os::unix::ffi::OsStrExt;
    let mut path = d.args[0].as_bytes().to_vec();
    if path.last() == Some(&b'/') {
        path.pop();
    }
    let path = full_name(&l.paths.prefix, &path);
    let mut levels = Vec::new();
    for a in &d.args[1..] {
        match value::number(a.as_bytes()) {
            Some(n @ 1..=2) => levels.push(n as u8),
            _ => {
                let e = l.arg_error(d, a, format!("invalid value \"{}\"", a.show()));
                l.error(e.help("hash levels are 1 or 2 characters each, e.g. \"1 2\""));
                return None;
            }
        }
    }
    let _ = path.as_os_str().as_bytes();
    Some(TempPath { path, levels })
}
