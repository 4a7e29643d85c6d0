//! `websockify_pass` and the `websockify_*` directives of tg123/websockify-nginx-module
//! (`ngx_http_websockify` and its merge): the target, parsed as the module parses it (a
//! default port of 5900, no URI part, names resolved at load time into an implicit upstream
//! or an `upstream {}` block of that name), and the timers and buffer size with the module's
//! defaults.

use std::sync::Arc;
use std::time::Duration;

use super::shared::Shared;
use super::{inherit, or, Slot};
use crate::config::load::Loader;
use crate::config::registry::Spec;
use crate::config::template::{self, Raw, Scope};
use crate::ir::url;
use crate::ir::websockify::{Target, Websockify, DEFAULT_PORT};
use crate::syntax::Directive;

/// What `websockify_pass` named, before the upstreams are final.
#[derive(Clone, Debug)]
pub enum RawTarget {
    /// An implicit or named upstream, by its index in the registry.
    Static(usize),
    Dynamic(Raw),
}

/// The `websockify_*` settings of one level, unset until a directive sets them.
#[derive(Clone, Debug, Default)]
pub struct WebsockifyBuilder {
    pub pass: Slot<(RawTarget, Box<[u8]>)>,
    pub connect_timeout: Slot<Duration>,
    pub read_timeout: Slot<Duration>,
    pub send_timeout: Slot<Duration>,
    pub buffer_size: Slot<u64>,
}

impl WebsockifyBuilder {
    /// Handles a `websockify_*` directive; false if `d` is not one.
    pub fn directive(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec) -> bool {
        match spec.name {
            "websockify_pass" => self.pass(l, d),
            "websockify_connect_timeout" => {
                if !l.is_dup(&self.connect_timeout, d) {
                    if let Some(v) = l.msec_arg(d, 0) {
                        l.once(&mut self.connect_timeout, d, v);
                    }
                }
            }
            "websockify_read_timeout" => {
                if !l.is_dup(&self.read_timeout, d) {
                    if let Some(v) = l.msec_arg(d, 0) {
                        l.once(&mut self.read_timeout, d, v);
                    }
                }
            }
            "websockify_send_timeout" => {
                if !l.is_dup(&self.send_timeout, d) {
                    if let Some(v) = l.msec_arg(d, 0) {
                        l.once(&mut self.send_timeout, d, v);
                    }
                }
            }
            "websockify_buffer_size" => {
                if !l.is_dup(&self.buffer_size, d) {
                    if let Some(v) = l.size_arg(d, 0) {
                        l.once(&mut self.buffer_size, d, v);
                    }
                }
            }
            _ => return false,
        }
        true
    }

    fn pass(&mut self, l: &mut Loader, d: &Directive) {
        if l.is_dup(&self.pass, d) {
            return;
        }
        let a = &d.args[0];
        let v = a.as_bytes();
        if template::has_dollar(v) {
            if let Some(raw) = template::parse(l, a, d.end) {
                l.once(&mut self.pass, d, (RawTarget::Dynamic(raw), v.into()));
            }
            return;
        }
        // The module's `ngx_parse_url`: no URI part, port 5900 unless written.
        let u = match url::parse_url(v, DEFAULT_PORT, false, false) {
            Ok(u) => u,
            Err(e) => {
                let err = l.arg_error(
                    d,
                    a,
                    format!("{e} in upstream \"{}\"", crate::source::show_bytes(v)),
                );
                l.error(err.help(
                    "write an address (127.0.0.1:5901), a unix: path (unix:/tmp/vnc.sock) or an upstream name",
                ));
                return;
            }
        };
        let Some(ups) = l.upstreams.as_mut() else {
            return;
        };
        let mut taken = std::mem::take(ups);
        let index = taken.add_implicit(l, &u, d);
        if let Some(ups) = l.upstreams.as_mut() {
            *ups = taken;
        }
        if let Some(i) = index {
            l.once(&mut self.pass, d, (RawTarget::Static(i), v.into()));
        }
    }

    /// nginx's merge: every setting but the target is inherited (the target is the
    /// location's handler; an `if` block takes its location's, see `inherit_pass`).
    pub fn inherit_from(&mut self, p: &WebsockifyBuilder) {
        inherit(&mut self.connect_timeout, &p.connect_timeout);
        inherit(&mut self.read_timeout, &p.read_timeout);
        inherit(&mut self.send_timeout, &p.send_timeout);
        inherit(&mut self.buffer_size, &p.buffer_size);
    }

    /// The level's bridge with the module's defaults (60 s timers, a 65,543-byte buffer), or
    /// `None` if it has no `websockify_pass`.
    pub fn finish(
        &self,
        l: &mut Loader,
        scope: &mut Scope,
        shared: &Shared,
    ) -> Option<Arc<Websockify>> {
        let pass = self.pass.as_ref()?;
        let (target, text) = &pass.value;
        let target = match target {
            RawTarget::Static(i) => Target::Static(shared.upstreams.id(*i)),
            RawTarget::Dynamic(raw) => Target::Dynamic(scope.resolve(l, raw)),
        };
        let minute = Duration::from_secs(60);
        let buffer_size = or(&self.buffer_size, Websockify::DEFAULT_BUFFER_SIZE as u64);
        Some(Arc::new(Websockify {
            target,
            text: text.clone(),
            connect_timeout: or(&self.connect_timeout, minute),
            read_timeout: or(&self.read_timeout, minute),
            send_timeout: or(&self.send_timeout, minute),
            // 0 means the default, as the module's merge has it.
            buffer_size: if buffer_size == 0 {
                Websockify::DEFAULT_BUFFER_SIZE
            } else {
                usize::try_from(buffer_size).unwrap_or(usize::MAX)
            },
        }))
    }
}
