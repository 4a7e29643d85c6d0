//! `proxy_pass` and the `proxy_*` directives (S4, S6, S9, S10): parsing, nginx's merge rules
//! (`ngx_http_proxy_merge_loc_conf`) and the header list of `ngx_http_proxy_init_headers`.
//!
//! This file keeps the [`ProxyBuilder`], the dispatch of the directives, the ones that are a
//! single value or a bitmask (timeouts, buffers, `proxy_next_upstream`,
//! `proxy_ignore_headers`) and the merge. The rest is split as nginx's module is: `pass`
//! (`proxy_pass`), `redirect` (`proxy_redirect`), `headers` (`proxy_set_header` and the
//! request headers) and `finish` (the buffer checks, the defaults, the hidden headers).

use std::time::Duration;

use super::shared::LocKind;
use super::{inherit, Slot};
use crate::config::load::{directive_error, Loader};
use crate::config::registry::Spec;
use crate::config::value;
use crate::ir::proxy::{HttpVersion, IgnoreHeaders, NextUpstream};
use crate::source::Span;
use crate::syntax::Directive;

mod finish;
mod headers;
mod pass;
mod redirect;

pub use finish::DEFAULT_HIDE;
pub use headers::SetHeader;
pub use pass::RawPass;
pub use redirect::{RawRedirectFrom, RawRedirectRule, RawRedirects};

/// The `proxy_*` settings of one level (nginx's `ngx_http_proxy_loc_conf_t`), unset until a
/// directive sets them.
#[derive(Clone, Debug, Default)]
pub struct ProxyBuilder {
    pub pass: Slot<RawPass>,
    pub set_headers: Option<Vec<SetHeader>>,
    pub http_version: Slot<HttpVersion>,
    pub connect_timeout: Slot<Duration>,
    pub send_timeout: Slot<Duration>,
    pub read_timeout: Slot<Duration>,
    pub buffering: Slot<bool>,
    pub buffer_size: Slot<u64>,
    pub buffers: Slot<(u32, u64)>,
    pub busy_buffers_size: Slot<u64>,
    pub request_buffering: Slot<bool>,
    pub pass_request_headers: Slot<bool>,
    pub pass_request_body: Slot<bool>,
    pub redirects: Option<RawRedirects>,
    pub redirect_span: Option<Span>,
    pub next_upstream: Slot<NextUpstream>,
    pub next_upstream_tries: Slot<u32>,
    pub next_upstream_timeout: Slot<Duration>,
    pub hide_headers: Option<Vec<Box<[u8]>>>,
    pub pass_headers: Option<Vec<Box<[u8]>>>,
    pub ignore_headers: Slot<IgnoreHeaders>,
    pub intercept_errors: Slot<bool>,
}

impl ProxyBuilder {
    pub const EMPTY: ProxyBuilder = ProxyBuilder {
        pass: None,
        set_headers: None,
        http_version: None,
        connect_timeout: None,
        send_timeout: None,
        read_timeout: None,
        buffering: None,
        buffer_size: None,
        buffers: None,
        busy_buffers_size: None,
        request_buffering: None,
        pass_request_headers: None,
        pass_request_body: None,
        redirects: None,
        redirect_span: None,
        next_upstream: None,
        next_upstream_tries: None,
        next_upstream_timeout: None,
        hide_headers: None,
        pass_headers: None,
        ignore_headers: None,
        intercept_errors: None,
    };
}

macro_rules! slot {
    ($l:expr, $d:expr, $slot:expr, $parse:expr) => {{
        if !$l.is_dup(&$slot, $d) {
            if let Some(v) = $parse {
                $l.once(&mut $slot, $d, v);
            }
        }
    }};
}

impl ProxyBuilder {
    /// Handles a `proxy_*` directive in a block of kind `loc`; false if `d` is not one.
    pub fn directive(
        &mut self,
        l: &mut Loader,
        d: &Directive,
        spec: &'static Spec,
        loc: &LocKind,
    ) -> bool {
        match spec.name {
            "proxy_pass" => self.pass(l, d, loc),
            "proxy_set_header" => self.set_header(l, d),
            "proxy_redirect" => self.redirect(l, d),
            "proxy_http_version" => slot!(l, d, self.http_version, {
                match d.args[0].as_bytes() {
                    b"1.0" => Some(HttpVersion::Http10),
                    b"1.1" => Some(HttpVersion::Http11),
                    _ => {
                        let e = l.arg_error(
                            d,
                            &d.args[0],
                            format!("invalid value \"{}\"", d.args[0].show()),
                        );
                        l.error(e.help("\"1.0\" or \"1.1\""));
                        None
                    }
                }
            }),
            "proxy_connect_timeout" => slot!(l, d, self.connect_timeout, l.msec_arg(d, 0)),
            "proxy_send_timeout" => slot!(l, d, self.send_timeout, l.msec_arg(d, 0)),
            "proxy_read_timeout" => slot!(l, d, self.read_timeout, l.msec_arg(d, 0)),
            "proxy_buffering" => slot!(l, d, self.buffering, l.flag_arg(d)),
            "proxy_request_buffering" => slot!(l, d, self.request_buffering, l.flag_arg(d)),
            "proxy_pass_request_headers" => slot!(l, d, self.pass_request_headers, l.flag_arg(d)),
            "proxy_pass_request_body" => slot!(l, d, self.pass_request_body, l.flag_arg(d)),
            "proxy_intercept_errors" => slot!(l, d, self.intercept_errors, l.flag_arg(d)),
            "proxy_buffer_size" => slot!(l, d, self.buffer_size, l.size_arg(d, 0)),
            "proxy_busy_buffers_size" => slot!(
                l,
                d,
                self.busy_buffers_size,
                value::size(d.args[0].as_bytes())
            ),
            "proxy_buffers" => slot!(l, d, self.buffers, {
                let n = value::number(d.args[0].as_bytes());
                let s = value::size(d.args[1].as_bytes());
                match (n, s) {
                    (Some(n), Some(s)) if n > 0 && s > 0 => Some((n as u32, s)),
                    _ => {
                        l.error(
                            directive_error(d, "proxy_buffers", "invalid value")
                                .help("\"proxy_buffers number size;\", e.g. 8 4k"),
                        );
                        None
                    }
                }
            }),
            "proxy_next_upstream" => self.next_upstream(l, d),
            "proxy_next_upstream_tries" => slot!(
                l,
                d,
                self.next_upstream_tries,
                l.num_arg(d, 0).map(|n| n as u32)
            ),
            "proxy_next_upstream_timeout" => {
                slot!(l, d, self.next_upstream_timeout, l.msec_arg(d, 0))
            }
            "proxy_hide_header" => self
                .hide_headers
                .get_or_insert_with(Vec::new)
                .push(d.args[0].as_bytes().to_ascii_lowercase().into()),
            "proxy_pass_header" => self
                .pass_headers
                .get_or_insert_with(Vec::new)
                .push(d.args[0].as_bytes().to_ascii_lowercase().into()),
            "proxy_ignore_headers" => self.ignore_headers(l, d),
            _ => return false,
        }
        true
    }

    fn next_upstream(&mut self, l: &mut Loader, d: &Directive) {
        const NAMES: &[(&str, NextUpstream)] = &[
            ("error", NextUpstream::ERROR),
            ("timeout", NextUpstream::TIMEOUT),
            ("invalid_header", NextUpstream::INVALID_HEADER),
            ("non_idempotent", NextUpstream::NON_IDEMPOTENT),
            ("http_500", NextUpstream::HTTP_500),
            ("http_502", NextUpstream::HTTP_502),
            ("http_503", NextUpstream::HTTP_503),
            ("http_504", NextUpstream::HTTP_504),
            ("http_403", NextUpstream::HTTP_403),
            ("http_404", NextUpstream::HTTP_404),
            ("http_429", NextUpstream::HTTP_429),
            ("updating", NextUpstream::empty()),
            ("off", NextUpstream::OFF),
        ];
        let mut mask = self
            .next_upstream
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(NextUpstream::empty());
        for a in &d.args {
            match NAMES
                .iter()
                .find(|(n, _)| a.as_bytes().eq_ignore_ascii_case(n.as_bytes()))
            {
                Some((_, m)) => mask |= *m,
                None => {
                    let e = l.arg_error(d, a, format!("invalid value \"{}\"", a.show()));
                    l.error(e.help("error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent or off"));
                    return;
                }
            }
        }
        self.next_upstream = Some(super::Set {
            value: mask,
            span: d.head_span(),
        });
    }

    fn ignore_headers(&mut self, l: &mut Loader, d: &Directive) {
        const NAMES: &[(&str, IgnoreHeaders)] = &[
            ("X-Accel-Redirect", IgnoreHeaders::X_ACCEL_REDIRECT),
            ("X-Accel-Expires", IgnoreHeaders::X_ACCEL_EXPIRES),
            ("X-Accel-Limit-Rate", IgnoreHeaders::X_ACCEL_LIMIT_RATE),
            ("X-Accel-Buffering", IgnoreHeaders::X_ACCEL_BUFFERING),
            ("X-Accel-Charset", IgnoreHeaders::X_ACCEL_CHARSET),
            ("Expires", IgnoreHeaders::EXPIRES),
            ("Cache-Control", IgnoreHeaders::CACHE_CONTROL),
            ("Set-Cookie", IgnoreHeaders::SET_COOKIE),
            ("Vary", IgnoreHeaders::VARY),
        ];
        let mut mask = self
            .ignore_headers
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(IgnoreHeaders::empty());
        for a in &d.args {
            match NAMES
                .iter()
                .find(|(n, _)| a.as_bytes().eq_ignore_ascii_case(n.as_bytes()))
            {
                Some((_, m)) => mask |= *m,
                None => {
                    let e = l.arg_error(d, a, format!("invalid value \"{}\"", a.show()));
                    l.error(e);
                    return;
                }
            }
        }
        self.ignore_headers = Some(super::Set {
            value: mask,
            span: d.head_span(),
        });
    }

    pub fn inherit_from(&mut self, p: &ProxyBuilder) {
        // proxy_pass itself is not inherited (it is the location's handler).
        if self.set_headers.is_none() {
            self.set_headers.clone_from(&p.set_headers);
        }
        inherit(&mut self.http_version, &p.http_version);
        inherit(&mut self.connect_timeout, &p.connect_timeout);
        inherit(&mut self.send_timeout, &p.send_timeout);
        inherit(&mut self.read_timeout, &p.read_timeout);
        inherit(&mut self.buffering, &p.buffering);
        inherit(&mut self.buffer_size, &p.buffer_size);
        inherit(&mut self.buffers, &p.buffers);
        inherit(&mut self.busy_buffers_size, &p.busy_buffers_size);
        inherit(&mut self.request_buffering, &p.request_buffering);
        inherit(&mut self.pass_request_headers, &p.pass_request_headers);
        inherit(&mut self.pass_request_body, &p.pass_request_body);
        if self.redirects.is_none() {
            self.redirects.clone_from(&p.redirects);
        }
        inherit(&mut self.next_upstream, &p.next_upstream);
        inherit(&mut self.next_upstream_tries, &p.next_upstream_tries);
        inherit(&mut self.next_upstream_timeout, &p.next_upstream_timeout);
        if self.hide_headers.is_none() {
            self.hide_headers.clone_from(&p.hide_headers);
        }
        if self.pass_headers.is_none() {
            self.pass_headers.clone_from(&p.pass_headers);
        }
        inherit(&mut self.ignore_headers, &p.ignore_headers);
        inherit(&mut self.intercept_errors, &p.intercept_errors);
    }
}
