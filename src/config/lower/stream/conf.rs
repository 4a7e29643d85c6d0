//! The settings a stream server takes from its own block or from the stream block (nginx's
//! srv_conf of the stream modules rginx implements), merged downwards as their
//! `merge_srv_conf` functions do: a server inherits what it does not set; `allow`/`deny`
//! and `access_log` lists are inherited all or nothing.

use std::time::Duration;

use super::super::log::{parse_error_log, parse_stream_access_log, AccessLogRaw};
use super::super::ssl::SslSlot;
use super::super::{inherit, Slot};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::registry::Spec;
use crate::ir::location::AccessRule;
use crate::ir::ErrorLog;
use crate::syntax::Directive;

/// The stream proxy's settings (`ngx_stream_proxy_srv_conf_t`, what rginx implements).
#[derive(Clone, Debug, Default)]
pub struct ProxyConf {
    pub connect_timeout: Slot<Duration>,
    pub timeout: Slot<Duration>,
    pub buffer_size: Slot<u64>,
    pub next_upstream: Slot<bool>,
    pub next_upstream_tries: Slot<u32>,
    pub next_upstream_timeout: Slot<Duration>,
    pub socket_keepalive: Slot<bool>,
    pub half_close: Slot<bool>,
}

/// One level's settings (the stream block's or a server's).
#[derive(Clone, Debug, Default)]
pub struct StreamConf {
    pub proxy: ProxyConf,
    pub tcp_nodelay: Slot<bool>,
    pub ssl: SslSlot,
    pub handshake_timeout: Slot<Duration>,
    pub alpn: Slot<Vec<Vec<u8>>>,
    pub access: Option<Vec<AccessRule>>,
    /// `Some(empty)` is `access_log off`.
    pub access_log: Option<Vec<AccessLogRaw>>,
    pub error_log: Option<Vec<ErrorLog>>,
}

impl StreamConf {
    /// Reads a directive of these settings; false if it is none of them.
    pub fn directive(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec) -> bool {
        let p = &mut self.proxy;
        match spec.name {
            "proxy_connect_timeout" => msec(l, d, &mut p.connect_timeout),
            "proxy_timeout" => msec(l, d, &mut p.timeout),
            "proxy_next_upstream_timeout" => msec(l, d, &mut p.next_upstream_timeout),
            "proxy_buffer_size" => size(l, d, &mut p.buffer_size),
            "proxy_downstream_buffer" | "proxy_upstream_buffer" => {
                // Both set proxy_buffer_size, with nginx's deprecation warning.
                l.error(
                    Diagnostic::warning(
                        code::OBSOLETE,
                        format!(
                            "the \"{}\" directive is deprecated, use the \"proxy_buffer_size\" directive instead",
                            spec.name
                        ),
                        d.head_span(),
                    )
                    .place(Place::At(d.end))
                    .help("rename it to proxy_buffer_size (it sets the same buffer)"),
                );
                size(l, d, &mut p.buffer_size)
            }
            "proxy_next_upstream" => flag(l, d, &mut p.next_upstream),
            "proxy_next_upstream_tries" => {
                if !l.is_dup(&p.next_upstream_tries, d) {
                    if let Some(v) = l.num_arg(d, 0) {
                        l.once(&mut p.next_upstream_tries, d, v as u32);
                    }
                }
            }
            "proxy_socket_keepalive" => flag(l, d, &mut p.socket_keepalive),
            "proxy_half_close" => flag(l, d, &mut p.half_close),
            "tcp_nodelay" => flag(l, d, &mut self.tcp_nodelay),
            "ssl_handshake_timeout" => msec(l, d, &mut self.handshake_timeout),
            "ssl_alpn" => self.alpn(l, d),
            "allow" | "deny" => {
                if let Some(rule) =
                    super::super::loc::access::parse_rule(l, d, spec.name == "allow")
                {
                    self.access.get_or_insert_with(Vec::new).push(rule);
                }
            }
            "access_log" => {
                if let Some(v) = parse_stream_access_log(l, d) {
                    let list = self.access_log.get_or_insert_with(Vec::new);
                    if let Some(raw) = v {
                        list.push(raw);
                    }
                }
            }
            "error_log" => {
                if let Some(v) = parse_error_log(l, d) {
                    self.error_log.get_or_insert_with(Vec::new).push(v);
                }
            }
            _ => return self.ssl.directive(l, d, spec),
        }
        true
    }

    /// `ssl_alpn protocol ...`: the protocols a client may pick, each 1 to 255 bytes.
    fn alpn(&mut self, l: &mut Loader, d: &Directive) {
        if l.is_dup(&self.alpn, d) {
            return;
        }
        let mut list = Vec::new();
        for a in &d.args {
            let v = a.as_bytes();
            if v.is_empty() || v.len() > 255 {
                let e = l.arg_error(d, a, format!("invalid value \"{}\"", a.show()));
                l.error(e.help("an ALPN protocol name is 1 to 255 bytes, e.g. h2 or http/1.1"));
                return;
            }
            list.push(v.to_vec());
        }
        l.once(&mut self.alpn, d, list);
    }

    /// Fills what this level does not set from the stream block's settings.
    pub fn inherit_from(&mut self, p: &StreamConf) {
        let (c, pp) = (&mut self.proxy, &p.proxy);
        inherit(&mut c.connect_timeout, &pp.connect_timeout);
        inherit(&mut c.timeout, &pp.timeout);
        inherit(&mut c.buffer_size, &pp.buffer_size);
        inherit(&mut c.next_upstream, &pp.next_upstream);
        inherit(&mut c.next_upstream_tries, &pp.next_upstream_tries);
        inherit(&mut c.next_upstream_timeout, &pp.next_upstream_timeout);
        inherit(&mut c.socket_keepalive, &pp.socket_keepalive);
        inherit(&mut c.half_close, &pp.half_close);
        inherit(&mut self.tcp_nodelay, &p.tcp_nodelay);
        inherit(&mut self.handshake_timeout, &p.handshake_timeout);
        inherit(&mut self.alpn, &p.alpn);
        self.ssl.inherit_from(&p.ssl);
        if self.access.is_none() {
            self.access.clone_from(&p.access);
        }
        if self.access_log.is_none() {
            self.access_log.clone_from(&p.access_log);
        }
        if self.error_log.is_none() {
            self.error_log.clone_from(&p.error_log);
        }
    }
}

fn msec(l: &mut Loader, d: &Directive, slot: &mut Slot<Duration>) {
    if !l.is_dup(slot, d) {
        if let Some(v) = l.msec_arg(d, 0) {
            l.once(slot, d, v);
        }
    }
}

fn size(l: &mut Loader, d: &Directive, slot: &mut Slot<u64>) {
    if !l.is_dup(slot, d) {
        if let Some(v) = l.size_arg(d, 0) {
            l.once(slot, d, v);
        }
    }
}

fn flag(l: &mut Loader, d: &Directive, slot: &mut Slot<bool>) {
    if !l.is_dup(slot, d) {
        if let Some(v) = l.flag_arg(d) {
            l.once(slot, d, v);
        }
    }
}
