//! The directives that may be set at http, server and location level, and their merge.
//!
//! [`LocBuilder`] is nginx's loc_conf for the modules rginx implements: every field is unset
//! until a directive sets it, [`LocBuilder::inherit_from`] fills unset fields from the
//! enclosing level (lists all or nothing, S6.4), and [`LocBuilder::finish`] applies nginx's
//! defaults and resolves templates into an [`ir::LocConf`].
//!
//! This file keeps the builder, its merge and the order of finishing; each family of
//! directives reads its directives and finishes its part of the [`LocConf`] in a file of
//! its own, as nginx splits them into modules: `files` (root, alias, index, try_files,
//! types), `error_pages`, `headers` (add_header, expires, charset), `response`
//! (server_tokens, the redirect switches), `gzip`, `access` (allow, deny, internal),
//! `logs`, `client` (body limits, timeouts, keep-alive) and `script` (the rewrite
//! module). The `proxy_*` directives are [`super::proxy`]'s.
//!
//! [`ir::LocConf`]: crate::ir::location::LocConf

use std::sync::Arc;
use std::time::Duration;

use super::log::{AccessLogRaw, LogCx};
use super::proxy::ProxyBuilder;
use super::shared::{LocKind, Shared, TypeList};
use super::websockify::WebsockifyBuilder;
use super::{inherit, Slot};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::registry::Spec;
use crate::config::template::{Raw, Scope};
use crate::ir::location::{AccessRule, IfModifiedSince, LocConf, ServerTokens};
use crate::ir::ErrorLog;
use crate::source::Span;
use crate::syntax::Directive;

// The families below read most of their one-value settings with these.
macro_rules! flag {
    ($l:expr, $d:expr, $slot:expr) => {{
        if !$l.is_dup(&$slot, $d) {
            if let Some(v) = $l.flag_arg($d) {
                $l.once(&mut $slot, $d, v);
            }
        }
    }};
}

macro_rules! msec {
    ($l:expr, $d:expr, $slot:expr) => {{
        if !$l.is_dup(&$slot, $d) {
            if let Some(v) = $l.msec_arg($d, 0) {
                $l.once(&mut $slot, $d, v);
            }
        }
    }};
}

pub mod access;
mod client;
mod error_pages;
mod files;
mod gzip;
mod headers;
mod logs;
mod response;
mod script;

pub use access::parse_cidr;
pub use error_pages::RawErrorPage;
pub use files::{RawFallback, RawTryFiles};
pub use gzip::RawGzip;
pub use headers::{RawAddHeader, RawExpires};
pub use script::ScriptOp;

/// The http/server/location-level settings of one block.
#[derive(Clone, Debug, Default)]
pub struct LocBuilder {
    /// `proxy_*` settings, allocated when the first one is set.
    /// Shared with the enclosing level until this level sets its own.
    pub proxy: Option<Arc<ProxyBuilder>>,
    /// `websockify_*` settings, allocated when the first one is set.
    pub websockify: Option<Arc<WebsockifyBuilder>>,
    /// `root` or `alias` (with `alias_len`), and the path.
    pub root: Slot<(bool, Raw)>,
    /// For `alias`: the length of the location's name it replaces; `None` in a regex
    /// location, where the alias is the whole file name (nginx's `clcf->alias`).
    pub alias_len: Option<usize>,
    pub index: Option<Vec<Raw>>,
    pub add_headers: Option<Vec<RawAddHeader>>,
    /// The rewrite directives of this very block (rewrite-phase code is not inherited).
    pub script: Option<Box<Vec<ScriptOp>>>,
    /// Everything set less often, allocated when the first one is set: most locations set
    /// two or three directives, and thousands of them must stay small.
    pub rest: Option<Arc<Rest>>,
}

/// The less common settings of a [`LocBuilder`].
#[derive(Clone, Debug, Default)]
pub struct Rest {
    pub try_files: Slot<RawTryFiles>,
    pub internal: Slot<bool>,
    pub types: Option<(TypeList, Span)>,
    pub default_type: Slot<Box<[u8]>>,
    pub etag: Slot<bool>,
    pub if_modified_since: Slot<IfModifiedSince>,
    pub log_not_found: Slot<bool>,
    pub max_ranges: Slot<u64>,
    pub error_pages: Option<Vec<RawErrorPage>>,
    pub recursive_error_pages: Slot<bool>,
    pub expires: Slot<RawExpires>,
    pub charset: Slot<Option<Raw>>,
    pub charset_types: Slot<(Vec<Box<[u8]>>, bool)>,
    pub gzip: RawGzip,
    pub access: Option<Vec<AccessRule>>,
    pub access_log: Option<Vec<AccessLogRaw>>,
    pub error_log: Option<Vec<ErrorLog>>,
    pub client_max_body_size: Slot<u64>,
    pub client_body_timeout: Slot<Duration>,
    pub send_timeout: Slot<Duration>,
    pub keepalive_timeout: Slot<(Duration, Option<Duration>)>,
    pub keepalive_requests: Slot<u32>,
    pub keepalive_time: Slot<Duration>,
    pub client_body_temp_path: Slot<crate::ir::location::TempPath>,
    pub client_body_buffer_size: Slot<u64>,
    pub uninitialized_variable_warn: Slot<bool>,
    pub server_tokens: Slot<ServerTokens>,
    pub msie_padding: Slot<bool>,
    pub absolute_redirect: Slot<bool>,
    pub server_name_in_redirect: Slot<bool>,
    pub port_in_redirect: Slot<bool>,
    pub chunked_transfer_encoding: Slot<bool>,
}

impl Rest {
    const EMPTY: Rest = Rest {
        try_files: None,
        internal: None,
        types: None,
        default_type: None,
        etag: None,
        if_modified_since: None,
        log_not_found: None,
        max_ranges: None,
        error_pages: None,
        recursive_error_pages: None,
        expires: None,
        charset: None,
        charset_types: None,
        gzip: RawGzip::EMPTY,
        access: None,
        access_log: None,
        error_log: None,
        client_max_body_size: None,
        client_body_timeout: None,
        send_timeout: None,
        keepalive_timeout: None,
        keepalive_requests: None,
        keepalive_time: None,
        client_body_temp_path: None,
        client_body_buffer_size: None,
        uninitialized_variable_warn: None,
        server_tokens: None,
        msie_padding: None,
        absolute_redirect: None,
        server_name_in_redirect: None,
        port_in_redirect: None,
        chunked_transfer_encoding: None,
    };
}

static EMPTY_REST: Rest = Rest::EMPTY;
static EMPTY_PROXY: ProxyBuilder = ProxyBuilder::EMPTY;
static EMPTY_WEBSOCKIFY: WebsockifyBuilder = WebsockifyBuilder {
    pass: None,
    connect_timeout: None,
    read_timeout: None,
    send_timeout: None,
    buffer_size: None,
};

impl LocBuilder {
    fn rest_mut(&mut self) -> &mut Rest {
        Arc::make_mut(self.rest.get_or_insert_with(Default::default))
    }

    /// The less common settings (empty if none is set).
    pub fn rest(&self) -> &Rest {
        self.rest.as_deref().unwrap_or(&EMPTY_REST)
    }

    pub fn proxy_mut(&mut self) -> &mut ProxyBuilder {
        Arc::make_mut(self.proxy.get_or_insert_with(Default::default))
    }

    /// The `proxy_*` settings (empty if none is set).
    pub fn proxy(&self) -> &ProxyBuilder {
        self.proxy.as_deref().unwrap_or(&EMPTY_PROXY)
    }

    /// The `websockify_*` settings (empty if none is set).
    pub fn websockify(&self) -> &WebsockifyBuilder {
        self.websockify.as_deref().unwrap_or(&EMPTY_WEBSOCKIFY)
    }

    /// Handles a directive of these families in a block of kind `at`; returns false if it is
    /// not one of them. Each family's function matches its own names.
    pub fn directive(
        &mut self,
        l: &mut Loader,
        d: &Directive,
        spec: &'static Spec,
        at: &LocKind,
    ) -> bool {
        if spec.name == "proxy_pass" || spec.name == "websockify_pass" {
            self.handler_overrides(l, d, spec);
        }
        if spec.name.starts_with("proxy_") {
            return self.proxy_mut().directive(l, d, spec, at);
        }
        if spec.name.starts_with("websockify_") {
            let w = Arc::make_mut(self.websockify.get_or_insert_with(Default::default));
            return w.directive(l, d, spec);
        }
        let name = spec.name;
        script::directive(self, l, d, spec, at)
            || files::directive(self, l, d, name, at)
            || error_pages::directive(self, l, d, name)
            || headers::directive(self, l, d, name)
            || response::directive(self, l, d, name)
            || gzip::directive(self, l, d, name)
            || access::directive(self, l, d, name)
            || logs::directive(self, l, d, name)
            || client::directive(self, l, d, name)
    }

    /// `proxy_pass` and `websockify_pass` each make the location's content handler, and in
    /// nginx the one written last wins, silently. rginx does the same and says so.
    fn handler_overrides(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec) {
        use crate::config::diagnostic::{code, Diagnostic};
        let earlier = if spec.name == "proxy_pass" {
            self.websockify
                .as_mut()
                .and_then(|w| Arc::make_mut(w).pass.take())
                .map(|s| ("websockify_pass", s.span))
        } else {
            self.proxy
                .as_mut()
                .and_then(|p| Arc::make_mut(p).pass.take())
                .map(|s| ("proxy_pass", s.span))
        };
        if let Some((name, span)) = earlier {
            l.error(
                Diagnostic::lint(
                    code::LINT_HANDLER_OVERRIDDEN,
                    format!("\"{}\" overrides \"{name}\" in this location", spec.name),
                    d.head_span(),
                )
                .label(format!(
                    "nginx uses this one; the \"{name}\" before it has no effect"
                ))
                .also(span, format!("this \"{name}\" is ignored"))
                .help("keep one content handler per location"),
            );
        }
    }

    /// An `if` block's merge: like a nested location's, except that the enclosing level's
    /// `proxy_pass` stays the handler (nginx keeps the content handler when an `if` block
    /// sets none).
    pub fn inherit_for_if(&mut self, p: &LocBuilder) {
        let own_pass = self.proxy.as_ref().is_some_and(|x| x.pass.is_some())
            || self.websockify.as_ref().is_some_and(|x| x.pass.is_some());
        self.inherit_from(p);
        if !own_pass {
            if let (Some(c), Some(pp)) = (&mut self.proxy, &p.proxy) {
                if pp.pass.is_some() {
                    Arc::make_mut(c).pass.clone_from(&pp.pass);
                }
            }
            if let (Some(c), Some(pp)) = (&mut self.websockify, &p.websockify) {
                if pp.pass.is_some() {
                    Arc::make_mut(c).pass.clone_from(&pp.pass);
                }
            }
        }
    }

    /// Fills what this level does not set from the enclosing one.
    pub fn inherit_from(&mut self, p: &LocBuilder) {
        // Settings a level does not touch are shared with its parent, not copied: thousands of
        // locations typically inherit the same handful of http-level settings.
        match (&mut self.proxy, &p.proxy) {
            (Some(c), Some(pp)) => Arc::make_mut(c).inherit_from(pp),
            (None, Some(pp)) if pp.pass.is_none() => self.proxy = Some(pp.clone()),
            (None, Some(pp)) => {
                // proxy_pass is the parent's own handler: everything else is inherited.
                let mut c = ProxyBuilder::default();
                c.inherit_from(pp);
                self.proxy = Some(Arc::new(c));
            }
            _ => {}
        }
        match (&mut self.websockify, &p.websockify) {
            (Some(c), Some(pw)) => Arc::make_mut(c).inherit_from(pw),
            (None, Some(pw)) => {
                // websockify_pass is the parent's own handler: everything else is inherited.
                let mut c = WebsockifyBuilder::default();
                c.inherit_from(pw);
                self.websockify = Some(Arc::new(c));
            }
            _ => {}
        }
        if self.root.is_none() {
            self.alias_len = p.alias_len;
        }
        inherit(&mut self.root, &p.root);
        if self.index.is_none() {
            self.index.clone_from(&p.index);
        }
        if self.add_headers.is_none() {
            self.add_headers.clone_from(&p.add_headers);
        }
        match (&mut self.rest, &p.rest) {
            (Some(c), Some(pr)) if !Arc::ptr_eq(c, pr) => Arc::make_mut(c).inherit_from(pr),
            (None, Some(pr)) => self.rest = Some(pr.clone()),
            _ => {}
        }
    }

    /// Applies nginx's defaults and resolves templates, family by family.
    pub fn finish(
        &self,
        l: &mut Loader,
        scope: &mut Scope,
        logs: &mut LogCx,
        shared: &mut Shared,
    ) -> LocConf {
        // The families resolve their templates in this order, which is the order of their
        // diagnostics (unknown variables) and of the log files they register.
        let files = files::finish(self, l, scope, shared);
        let pages = error_pages::finish(self, l, scope, shared);
        let headers = headers::finish(self, l, scope, shared);
        let gzip = gzip::finish(&self.rest().gzip);
        let log = logs::finish(self, l, scope, logs, shared);
        let access = access::finish(self.rest(), shared);
        let client = client::finish(self.rest());
        let response = response::finish(self.rest());
        let proxy = self.proxy().finish(l, scope, shared);
        let websockify = self.websockify().finish(l, scope, shared);
        let (script, uninitialized_variable_warn) = script::finish(self, l, scope, logs, shared);
        LocConf {
            proxy,
            websockify,
            script,
            uninitialized_variable_warn,
            internal: access.internal,
            root: files.root,
            root_is_default: files.root_is_default,
            index: files.index,
            try_files: files.try_files,
            types: files.types,
            default_type: files.default_type,
            etag: files.etag,
            if_modified_since: files.if_modified_since,
            log_not_found: files.log_not_found,
            max_ranges: files.max_ranges,
            error_pages: pages.error_pages,
            recursive_error_pages: pages.recursive_error_pages,
            add_headers: headers.add_headers,
            expires: headers.expires,
            charset: headers.charset,
            gzip,
            access: access.access,
            access_log: log.access_log,
            error_log: log.error_log,
            client_max_body_size: client.client_max_body_size,
            client_body_timeout: client.client_body_timeout,
            client_body_buffer_size: client.client_body_buffer_size,
            client_body_temp_path: client.client_body_temp_path,
            send_timeout: client.send_timeout,
            keepalive_timeout: client.keepalive_timeout,
            keepalive_header: client.keepalive_header,
            keepalive_requests: client.keepalive_requests,
            keepalive_time: client.keepalive_time,
            server_tokens: response.server_tokens,
            msie_padding: response.msie_padding,
            absolute_redirect: response.absolute_redirect,
            server_name_in_redirect: response.server_name_in_redirect,
            port_in_redirect: response.port_in_redirect,
            chunked_transfer_encoding: response.chunked_transfer_encoding,
        }
    }
}

impl Rest {
    fn inherit_from(&mut self, p: &Rest) {
        inherit(&mut self.try_files, &p.try_files);
        if self.types.is_none() {
            self.types.clone_from(&p.types);
        }
        inherit(&mut self.default_type, &p.default_type);
        inherit(&mut self.etag, &p.etag);
        inherit(&mut self.if_modified_since, &p.if_modified_since);
        inherit(&mut self.log_not_found, &p.log_not_found);
        inherit(&mut self.max_ranges, &p.max_ranges);
        if self.error_pages.is_none() {
            self.error_pages.clone_from(&p.error_pages);
        }
        inherit(&mut self.recursive_error_pages, &p.recursive_error_pages);
        inherit(&mut self.expires, &p.expires);
        inherit(&mut self.charset, &p.charset);
        inherit(&mut self.charset_types, &p.charset_types);
        inherit(&mut self.gzip.on, &p.gzip.on);
        inherit(&mut self.gzip.types, &p.gzip.types);
        inherit(&mut self.gzip.proxied, &p.gzip.proxied);
        inherit(&mut self.gzip.http_version_10, &p.gzip.http_version_10);
        inherit(&mut self.gzip.min_length, &p.gzip.min_length);
        inherit(&mut self.gzip.vary, &p.gzip.vary);
        inherit(&mut self.gzip.comp_level, &p.gzip.comp_level);
        inherit(&mut self.gzip.disable, &p.gzip.disable);
        if self.access.is_none() {
            self.access.clone_from(&p.access);
        }
        if self.access_log.is_none() {
            self.access_log.clone_from(&p.access_log);
        }
        if self.error_log.is_none() {
            self.error_log.clone_from(&p.error_log);
        }
        inherit(&mut self.client_max_body_size, &p.client_max_body_size);
        inherit(&mut self.client_body_timeout, &p.client_body_timeout);
        inherit(&mut self.send_timeout, &p.send_timeout);
        inherit(&mut self.keepalive_timeout, &p.keepalive_timeout);
        inherit(&mut self.keepalive_requests, &p.keepalive_requests);
        inherit(&mut self.keepalive_time, &p.keepalive_time);
        inherit(&mut self.client_body_temp_path, &p.client_body_temp_path);
        inherit(
            &mut self.client_body_buffer_size,
            &p.client_body_buffer_size,
        );
        inherit(
            &mut self.uninitialized_variable_warn,
            &p.uninitialized_variable_warn,
        );
        inherit(&mut self.server_tokens, &p.server_tokens);
        inherit(&mut self.msie_padding, &p.msie_padding);
        inherit(&mut self.absolute_redirect, &p.absolute_redirect);
        inherit(
            &mut self.server_name_in_redirect,
            &p.server_name_in_redirect,
        );
        inherit(&mut self.port_in_redirect, &p.port_in_redirect);
        inherit(
            &mut self.chunked_transfer_encoding,
            &p.chunked_transfer_encoding,
        );
    }
}

/// What finishing a location needs besides the loader: variable resolution, log formats and
/// files, and shared values.
pub struct Finish {
    pub scope: Scope,
    pub logs: LogCx,
    pub shared: Shared,
}

fn invalid_value_at(d: &Directive, i: usize) -> Diagnostic {
    Diagnostic::error(
        code::INVALID_VALUE,
        format!("invalid value \"{}\"", d.args[i].show()),
        d.args[i].span,
    )
    .place(Place::At(d.end))
}

fn invalid_enum(l: &mut Loader, d: &Directive, values: &[&str]) {
    l.error(invalid_value_at(d, 0).help(format!("expected one of: {}", values.join(", "))));
}

/// A `*_types` list: MIME types, `*` meaning any.
fn mime_list(d: &Directive) -> (Vec<Box<[u8]>>, bool) {
    let mut any = false;
    let mut list = Vec::new();
    for a in &d.args {
        if a.is("*") {
            any = true;
        } else {
            list.push(a.as_bytes().to_ascii_lowercase().into());
        }
    }
    (list, any)
}
