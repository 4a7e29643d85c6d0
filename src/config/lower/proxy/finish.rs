//! The end of the proxy module's work on a level: nginx's checks of the buffer sizes (made
//! at every level, proxying or not), its defaults, and the upstream response headers that
//! are hidden from the client (`proxy_hide_header`, `proxy_pass_header`).
//!
//! The pass, the redirects and the request headers are finished by their own files, in the
//! order `finish` calls them.

use std::sync::Arc;
use std::time::Duration;

use super::{redirect, ProxyBuilder};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::lower::or;
use crate::config::lower::shared::Shared;
use crate::config::template::Scope;
use crate::ir::header::NameSet;
use crate::ir::proxy::{HttpVersion, IgnoreHeaders, NextUpstream, Proxy};
use crate::source::Span;

impl ProxyBuilder {
    /// Checks nginx makes for every level when merging (whether or not it proxies), placed
    /// where nginx places them: at the end of the http block.
    pub fn check_buffers(&self, l: &mut Loader, at: Span) {
        let buffer_size = or(&self.buffer_size, 4096);
        let (num, size) = or(&self.buffers, (8, 4096));
        if num < 2 {
            let span = self.buffers.as_ref().map(|s| s.span).unwrap_or(at);
            l.error(
                Diagnostic::error(
                    code::PROXY,
                    "there must be at least 2 \"proxy_buffers\"",
                    span,
                )
                .place(Place::At(at)),
            );
            return;
        }
        let max = buffer_size.max(size);
        let busy = self
            .busy_buffers_size
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(2 * max);
        let span = self
            .busy_buffers_size
            .as_ref()
            .map(|s| s.span)
            .or(self.buffers.as_ref().map(|s| s.span))
            .unwrap_or(at);
        if busy < max {
            l.error(
                Diagnostic::error(
                    code::PROXY,
                    "\"proxy_busy_buffers_size\" must be equal to or greater than the maximum of the value of \"proxy_buffer_size\" and one of the \"proxy_buffers\"",
                    span,
                )
                .place(Place::At(at)),
            );
        } else if busy > (num as u64 - 1) * size {
            l.error(
                Diagnostic::error(
                    code::PROXY,
                    "\"proxy_busy_buffers_size\" must be less than the size of all \"proxy_buffers\" minus one buffer",
                    span,
                )
                .place(Place::At(at))
                .help("give more or bigger proxy_buffers, e.g. proxy_buffers 8 4k;"),
            );
        }
    }

    /// The level's proxy settings with nginx's defaults, or `None` if it does not proxy. The
    /// pass, the redirects and then the request headers resolve their templates, in that
    /// order (the order of their diagnostics).
    pub fn finish(
        &self,
        l: &mut Loader,
        scope: &mut Scope,
        shared: &mut Shared,
    ) -> Option<Arc<Proxy>> {
        let pass = self.pass.as_ref()?;
        let (pass_ir, default_rule) = pass.value.finish(l, scope, shared);
        let redirects = redirect::finish(l, scope, &self.redirects, default_rule);
        let mut next_upstream = or(
            &self.next_upstream,
            NextUpstream::ERROR | NextUpstream::TIMEOUT,
        );
        if next_upstream.contains(NextUpstream::OFF) {
            next_upstream = NextUpstream::OFF;
        }
        let hide = self.hide_headers(shared);
        Some(Arc::new(Proxy {
            pass: pass_ir,
            http_version: or(&self.http_version, HttpVersion::Http10),
            headers: Arc::new(self.headers(l, scope)),
            pass_request_headers: or(&self.pass_request_headers, true),
            pass_request_body: or(&self.pass_request_body, true),
            connect_timeout: or(&self.connect_timeout, Duration::from_secs(60)),
            send_timeout: or(&self.send_timeout, Duration::from_secs(60)),
            read_timeout: or(&self.read_timeout, Duration::from_secs(60)),
            buffering: or(&self.buffering, true),
            buffer_size: or(&self.buffer_size, 4096) as usize,
            buffers: {
                let (n, s) = or(&self.buffers, (8, 4096));
                (n, s as usize)
            },
            request_buffering: or(&self.request_buffering, true),
            redirects: redirects.into(),
            next_upstream,
            next_upstream_tries: or(&self.next_upstream_tries, 0),
            next_upstream_timeout: or(&self.next_upstream_timeout, Duration::ZERO),
            hide_headers: hide,
            ignore_headers: or(&self.ignore_headers, IgnoreHeaders::empty()),
            intercept_errors: or(&self.intercept_errors, false),
        }))
    }

    /// The upstream response headers not passed to the client: nginx's own list (shared by
    /// every level that changes nothing), plus `proxy_hide_header`, minus `proxy_pass_header`.
    fn hide_headers(&self, shared: &mut Shared) -> Arc<NameSet> {
        if self.hide_headers.is_none() && self.pass_headers.is_none() {
            shared.default_hide_headers()
        } else {
            let mut hide = default_hide();
            for h in self.hide_headers.iter().flatten() {
                hide.insert(h);
            }
            for h in self.pass_headers.iter().flatten() {
                hide.remove(h);
            }
            Arc::new(hide)
        }
    }
}

impl Shared {
    pub fn default_hide_headers(&mut self) -> Arc<NameSet> {
        self.default_hide
            .get_or_insert_with(|| Arc::new(default_hide()))
            .clone()
    }
}

fn default_hide() -> NameSet {
    let mut set = NameSet::new();
    for h in DEFAULT_HIDE {
        set.insert(h.as_bytes());
    }
    set
}

/// The upstream response headers nginx never passes (S13.3), lowercased.
pub const DEFAULT_HIDE: &[&str] = &[
    "date",
    "server",
    "x-pad",
    "x-accel-expires",
    "x-accel-redirect",
    "x-accel-limit-rate",
    "x-accel-buffering",
    "x-accel-charset",
];
