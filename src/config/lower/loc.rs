//! The directives that may be set at http, server and location level, and their merge.
//!
//! [`LocBuilder`] is nginx's loc_conf for the modules rginx implements: every field is unset
//! until a directive sets it, [`LocBuilder::inherit_from`] fills unset fields from the
//! enclosing level (lists all or nothing, S6.4), and [`LocBuilder::finish`] applies nginx's
//! defaults and resolves templates into an [`ir::LocConf`].

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::log::{AccessLogRaw, LogCx};
use super::proxy::ProxyBuilder;
use super::shared::{LocKind, Shared, TypeList};
use super::{inherit, or, Set, Slot};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::{directive_error, full_name, Loader};
use crate::config::registry::Spec;
use crate::config::template::{self, Raw, Scope};
use crate::config::value;
use crate::ir::location::{
    AccessRule, AddHeader, Charset, ErrorPage, ErrorPages, Expires, Gzip, GzipProxied,
    IfModifiedSince, LocConf, Net, Root, ServerTokens, TryFiles, TryFilesFallback,
};
use crate::ir::ErrorLog;
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Clone, Debug)]
pub struct RawErrorPage {
    pub codes: Vec<u16>,
    pub overwrite: Option<Option<u16>>,
    pub uri: Raw,
}

#[derive(Clone, Debug)]
pub struct RawAddHeader {
    pub name: Box<[u8]>,
    pub value: Raw,
    pub always: bool,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum RawExpires {
    Fixed(Expires),
    Template(Raw, bool),
}

#[derive(Clone, Debug)]
pub struct RawTryFiles {
    pub files: Vec<(Raw, bool)>,
    pub fallback: RawFallback,
}

#[derive(Clone, Debug)]
pub enum RawFallback {
    Uri(Raw),
    Code(u16),
    Named(Box<[u8]>),
}

#[derive(Clone, Debug, Default)]
pub struct RawGzip {
    pub on: Slot<bool>,
    pub types: Slot<(Vec<Box<[u8]>>, bool)>,
    pub proxied: Slot<GzipProxied>,
    pub http_version_10: Slot<bool>,
    pub min_length: Slot<i64>,
    pub vary: Slot<bool>,
    pub comp_level: Slot<u32>,
    pub disable: Slot<(Vec<crate::ir::regex::Regex>, bool, bool)>,
}

impl RawGzip {
    const EMPTY: RawGzip = RawGzip {
        on: None,
        types: None,
        proxied: None,
        http_version_10: None,
        min_length: None,
        vary: None,
        comp_level: None,
        disable: None,
    };
}

/// The http/server/location-level settings of one block.
#[derive(Clone, Debug, Default)]
pub struct LocBuilder {
    /// `proxy_*` settings, allocated when the first one is set.
    /// Shared with the enclosing level until this level sets its own.
    pub proxy: Option<Arc<ProxyBuilder>>,
    /// `root` or `alias` (with `alias_len`), and the path.
    pub root: Slot<(bool, Raw)>,
    /// For `alias`: the length of the location's name it replaces; `None` in a regex
    /// location, where the alias is the whole file name (nginx's `clcf->alias`).
    pub alias_len: Option<usize>,
    pub index: Option<Vec<Raw>>,
    pub add_headers: Option<Vec<RawAddHeader>>,
    /// Everything set less often, allocated when the first one is set: most locations set
    /// two or three directives, and thousands of them must stay small.
    /// The rewrite directives of this very block (rewrite-phase code is not inherited).
    pub script: Option<Box<Vec<super::rewrite::RawOp>>>,
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

    /// Handles a directive of this family; returns false if it is not one.
    /// Handles a directive of this family in a block of kind `at`; returns false if it is not
    /// one of them.
    pub fn directive(
        &mut self,
        l: &mut Loader,
        d: &Directive,
        spec: &'static Spec,
        at: &LocKind,
    ) -> bool {
        if spec.name.starts_with("proxy_") {
            return self.proxy_mut().directive(l, d, spec, at);
        }
        if super::rewrite::directive(self, l, d, spec, at) {
            return true;
        }
        match spec.name {
            "root" | "alias" => self.root(l, d, spec.name == "alias", at),
            "index" => self.index(l, d),
            "try_files" => self.try_files(l, d),
            "types" => self.types(l, d),
            "default_type" => {
                if !l.is_dup(&self.rest_mut().default_type, d) {
                    let v = d.args[0].to_boxed();
                    l.once(&mut self.rest_mut().default_type, d, v);
                }
            }
            "etag" => flag!(l, d, self.rest_mut().etag),
            "if_modified_since" => {
                if !l.is_dup(&self.rest_mut().if_modified_since, d) {
                    let v = match d.args[0].as_bytes().to_ascii_lowercase().as_slice() {
                        b"off" => Some(IfModifiedSince::Off),
                        b"exact" => Some(IfModifiedSince::Exact),
                        b"before" => Some(IfModifiedSince::Before),
                        _ => None,
                    };
                    match v {
                        Some(v) => l.once(&mut self.rest_mut().if_modified_since, d, v),
                        None => invalid_enum(l, d, &["off", "exact", "before"]),
                    }
                }
            }
            "log_not_found" => flag!(l, d, self.rest_mut().log_not_found),
            "max_ranges" => {
                if !l.is_dup(&self.rest_mut().max_ranges, d) {
                    if let Some(v) = l.num_arg(d, 0) {
                        l.once(&mut self.rest_mut().max_ranges, d, v as u64);
                    }
                }
            }
            "error_page" => self.error_page(l, d),
            "recursive_error_pages" => flag!(l, d, self.rest_mut().recursive_error_pages),
            "internal" => {
                if !l.is_dup(&self.rest_mut().internal, d) {
                    l.once(&mut self.rest_mut().internal, d, true);
                }
            }
            "uninitialized_variable_warn" => {
                flag!(l, d, self.rest_mut().uninitialized_variable_warn)
            }
            "add_header" => self.add_header(l, d),
            "expires" => self.expires(l, d),
            "charset" => {
                if !l.is_dup(&self.rest_mut().charset, d) {
                    let v = if d.args[0].is("off") {
                        Some(None)
                    } else {
                        template::parse(l, &d.args[0], d.end).map(Some)
                    };
                    if let Some(v) = v {
                        l.once(&mut self.rest_mut().charset, d, v);
                    }
                }
            }
            "charset_types" => {
                if !l.is_dup(&self.rest_mut().charset_types, d) {
                    let v = mime_list(d);
                    l.once(&mut self.rest_mut().charset_types, d, v);
                }
            }
            "gzip" => flag!(l, d, self.rest_mut().gzip.on),
            "gzip_vary" => flag!(l, d, self.rest_mut().gzip.vary),
            "gzip_types" => {
                if !l.is_dup(&self.rest_mut().gzip.types, d) {
                    let v = mime_list(d);
                    l.once(&mut self.rest_mut().gzip.types, d, v);
                }
            }
            "gzip_http_version" => {
                if !l.is_dup(&self.rest_mut().gzip.http_version_10, d) {
                    match d.args[0].as_bytes() {
                        b"1.0" => l.once(&mut self.rest_mut().gzip.http_version_10, d, true),
                        b"1.1" => l.once(&mut self.rest_mut().gzip.http_version_10, d, false),
                        _ => invalid_enum(l, d, &["1.0", "1.1"]),
                    }
                }
            }
            "gzip_min_length" => {
                if !l.is_dup(&self.rest_mut().gzip.min_length, d) {
                    if let Some(v) = l.size_arg(d, 0) {
                        l.once(&mut self.rest_mut().gzip.min_length, d, v as i64);
                    }
                }
            }
            "gzip_comp_level" => {
                if !l.is_dup(&self.rest_mut().gzip.comp_level, d) {
                    match l.num_arg(d, 0) {
                        Some(n) if (1..=9).contains(&n) => {
                            l.once(&mut self.rest_mut().gzip.comp_level, d, n as u32)
                        }
                        Some(_) => l.error(
                            Diagnostic::error(
                                code::INVALID_VALUE,
                                "value must be between 1 and 9",
                                d.args[0].span,
                            )
                            .place(Place::At(d.end)),
                        ),
                        None => {}
                    }
                }
            }
            "gzip_proxied" => self.gzip_proxied(l, d),
            "gzip_disable" => self.gzip_disable(l, d),
            "allow" | "deny" => self.access_rule(l, d, spec.name == "allow"),
            "access_log" => {
                if let Some(v) = super::log::parse_access_log(l, d) {
                    match v {
                        None => {
                            // `access_log off`: nginx errors on other access_logs beside it
                            // only through its own handler; an empty list means off.
                            self.rest_mut().access_log.get_or_insert_with(Vec::new);
                        }
                        Some(raw) => self
                            .rest_mut()
                            .access_log
                            .get_or_insert_with(Vec::new)
                            .push(raw),
                    }
                }
            }
            "error_log" => {
                if let Some(v) = super::log::parse_error_log(l, d) {
                    self.rest_mut()
                        .error_log
                        .get_or_insert_with(Vec::new)
                        .push(v);
                }
            }
            "client_max_body_size" => {
                if !l.is_dup(&self.rest_mut().client_max_body_size, d) {
                    if let Some(v) = l.off_arg(d, 0) {
                        l.once(&mut self.rest_mut().client_max_body_size, d, v);
                    }
                }
            }
            "client_body_timeout" => msec!(l, d, self.rest_mut().client_body_timeout),
            "client_body_buffer_size" => {
                if !l.is_dup(&self.rest_mut().client_body_buffer_size, d) {
                    if let Some(v) = l.size_arg(d, 0) {
                        l.once(&mut self.rest_mut().client_body_buffer_size, d, v);
                    }
                }
            }
            "client_body_temp_path" => {
                if !l.is_dup(&self.rest_mut().client_body_temp_path, d) {
                    if let Some(p) = temp_path(l, d) {
                        l.once(&mut self.rest_mut().client_body_temp_path, d, p);
                    }
                }
            }
            "send_timeout" => msec!(l, d, self.rest_mut().send_timeout),
            "keepalive_timeout" => {
                if !l.is_dup(&self.rest_mut().keepalive_timeout, d) {
                    let t = l.msec_arg(d, 0);
                    let h = if d.args.len() == 2 {
                        l.sec_arg(d, 1).map(Some)
                    } else {
                        Some(None)
                    };
                    if let (Some(t), Some(h)) = (t, h) {
                        l.once(&mut self.rest_mut().keepalive_timeout, d, (t, h));
                    }
                }
            }
            "keepalive_requests" => {
                if !l.is_dup(&self.rest_mut().keepalive_requests, d) {
                    if let Some(v) = l.num_arg(d, 0) {
                        l.once(&mut self.rest_mut().keepalive_requests, d, v as u32);
                    }
                }
            }
            "keepalive_time" => msec!(l, d, self.rest_mut().keepalive_time),
            "server_tokens" => {
                if !l.is_dup(&self.rest_mut().server_tokens, d) {
                    let v = match d.args[0].as_bytes().to_ascii_lowercase().as_slice() {
                        b"on" => Some(ServerTokens::On),
                        b"off" => Some(ServerTokens::Off),
                        b"build" => Some(ServerTokens::Build),
                        _ => None,
                    };
                    match v {
                        Some(v) => l.once(&mut self.rest_mut().server_tokens, d, v),
                        None => invalid_enum(l, d, &["off", "on", "build"]),
                    }
                }
            }
            "msie_padding" => flag!(l, d, self.rest_mut().msie_padding),
            "absolute_redirect" => flag!(l, d, self.rest_mut().absolute_redirect),
            "server_name_in_redirect" => flag!(l, d, self.rest_mut().server_name_in_redirect),
            "port_in_redirect" => flag!(l, d, self.rest_mut().port_in_redirect),
            "chunked_transfer_encoding" => flag!(l, d, self.rest_mut().chunked_transfer_encoding),
            _ => return false,
        }
        true
    }

    fn root(&mut self, l: &mut Loader, d: &Directive, alias: bool, at: &LocKind) {
        if let Some(first) = &self.root {
            let (was_alias, span) = (first.value.0, first.span);
            if was_alias == alias {
                l.error(crate::config::load::duplicate(d, &d.name.show(), span));
            } else {
                l.error(
                    Diagnostic::error(
                        code::DUPLICATE,
                        format!(
                            "\"{}\" directive is duplicate, \"{}\" directive was specified earlier",
                            d.name.show(),
                            if was_alias { "alias" } else { "root" }
                        ),
                        d.head_span(),
                    )
                    .place(Place::At(d.end))
                    .also(span, "specified earlier here")
                    .help("a location has either \"root\" or \"alias\", not both"),
                );
            }
            return;
        }
        if at.named && alias {
            l.error(
                Diagnostic::error(
                    code::INVALID_VALUE,
                    "the \"alias\" directive cannot be used inside the named location",
                    d.head_span(),
                )
                .place(Place::At(d.end)),
            );
            return;
        }
        let v = d.args[0].as_bytes();
        for var in ["document_root", "realpath_root"] {
            if contains(v, format!("${var}").as_bytes())
                || contains(v, format!("${{{var}}}").as_bytes())
            {
                l.error(
                    Diagnostic::error(
                        code::INVALID_VALUE,
                        format!(
                            "the ${var} variable cannot be used in the \"{}\" directive",
                            d.name.show()
                        ),
                        d.args[0].span,
                    )
                    .place(Place::At(d.end)),
                );
                return;
            }
        }
        let mut path = v.to_vec();
        if !alias && path.last() == Some(&b'/') {
            path.pop();
        }
        // Relative paths are resolved against the prefix, unless they start with a variable.
        if path.first() != Some(&b'$') {
            use std::os::unix::ffi::OsStrExt;
            path = full_name(&l.paths.prefix, &path)
                .as_os_str()
                .as_bytes()
                .to_vec();
        }
        let Some(raw) = template::parse_bytes(l, &path, d.args[0].span, d.end) else {
            return;
        };
        if alias && self.root.is_none() {
            self.alias_len = if at.regex { None } else { Some(at.name.len()) };
        }
        l.once(&mut self.root, d, (alias, raw));
    }

    fn index(&mut self, l: &mut Loader, d: &Directive) {
        let list = self.index.get_or_insert_with(Vec::new);
        let n = d.args.len();
        for (i, a) in d.args.iter().enumerate() {
            if a.as_bytes().first() == Some(&b'/') && i != n - 1 {
                l.error(
                    Diagnostic::warning(
                        code::INVALID_VALUE,
                        "only the last index in \"index\" directive should be absolute",
                        a.span,
                    )
                    .place(Place::At(d.end)),
                );
            }
            if a.as_bytes().is_empty() {
                l.error(
                    Diagnostic::error(
                        code::INVALID_VALUE,
                        format!(
                            "index \"{}\" in \"index\" directive is invalid",
                            d.args[0].show()
                        ),
                        a.span,
                    )
                    .place(Place::At(d.end)),
                );
                return;
            }
            if let Some(raw) = template::parse(l, a, d.end) {
                list.push(raw);
            }
        }
    }

    fn try_files(&mut self, l: &mut Loader, d: &Directive) {
        if l.is_dup(&self.rest().try_files, d) {
            return;
        }
        let n = d.args.len();
        let mut files = Vec::new();
        for (i, a) in d.args[..n - 1].iter().enumerate() {
            let mut v = a.as_bytes().to_vec();
            let dir = v.last() == Some(&b'/') && i + 1 < n;
            if dir {
                v.pop();
            }
            let Some(raw) = template::parse_bytes(l, &v, a.span, d.end) else {
                return;
            };
            files.push((raw, dir));
        }
        let last = &d.args[n - 1];
        let lv = last.as_bytes();
        let fallback = if lv.first() == Some(&b'=') {
            match value::number(&lv[1..]) {
                // nginx keeps a code of 0 as none: the element is then a URI, "=0".
                Some(0) => match template::parse(l, last, d.end) {
                    Some(raw) => RawFallback::Uri(raw),
                    None => return,
                },
                Some(c) if c <= 999 => RawFallback::Code(c as u16),
                _ => {
                    l.error(
                        Diagnostic::error(
                            code::INVALID_VALUE,
                            format!("invalid code \"{}\"", last.show()),
                            last.span,
                        )
                        .place(Place::At(d.end))
                        .help("the last argument is a URI, @named location, or =code such as =404"),
                    );
                    return;
                }
            }
        } else if lv.first() == Some(&b'@') {
            RawFallback::Named(lv.into())
        } else {
            match template::parse(l, last, d.end) {
                Some(raw) => RawFallback::Uri(raw),
                None => return,
            }
        };
        l.once(
            &mut self.rest_mut().try_files,
            d,
            RawTryFiles { files, fallback },
        );
    }

    fn types(&mut self, l: &mut Loader, d: &Directive) {
        let mut list = self
            .rest_mut()
            .types
            .take()
            .map(|t| t.0)
            .unwrap_or_default();
        l.walk_lines(d, &mut |l, line| {
            let content_type = line.name.to_boxed();
            for ext in &line.args {
                let e: Box<[u8]> = ext.as_bytes().to_ascii_lowercase().into();
                if let Some(prev) = list.iter_mut().find(|(k, _)| *k == e) {
                    let old = std::mem::replace(&mut prev.1, content_type.clone());
                    l.error(
                        Diagnostic::warning(
                            code::DUPLICATE,
                            format!(
                                "duplicate extension \"{}\", content type: \"{}\", previous content type: \"{}\"",
                                ext.show(),
                                line.name.show(),
                                crate::source::show_bytes(&old)
                            ),
                            ext.span,
                        )
                        .place(Place::At(line.end)),
                    );
                } else {
                    list.push((e, content_type.clone()));
                }
            }
        });
        self.rest_mut().types = Some((list, d.head_span()));
    }

    fn error_page(&mut self, l: &mut Loader, d: &Directive) {
        let args = &d.args;
        let n = args.len();
        let i = n - 2;
        let (overwrite, skip) = if args[i].as_bytes().first() == Some(&b'=') {
            if i == 0 {
                l.error(invalid_value_at(d, i));
                return;
            }
            let v = &args[i].as_bytes()[1..];
            if v.is_empty() {
                (Some(None), 2)
            } else {
                match value::number(v) {
                    Some(c) => (Some(Some(c as u16)), 2),
                    None => {
                        l.error(invalid_value_at(d, i));
                        return;
                    }
                }
            }
        } else {
            (None, 1)
        };
        let Some(uri) = template::parse(l, &args[n - 1], d.end) else {
            return;
        };
        let mut codes = Vec::new();
        for (k, a) in args[..n - skip].iter().enumerate() {
            let code = value::number(a.as_bytes());
            match code {
                None | Some(499) => {
                    l.error(invalid_value_at(d, k));
                    return;
                }
                Some(c) if !(300..=599).contains(&c) => {
                    l.error(
                        Diagnostic::error(
                            code::INVALID_VALUE,
                            format!("value \"{}\" must be between 300 and 599", a.show()),
                            a.span,
                        )
                        .place(Place::At(d.end)),
                    );
                    return;
                }
                Some(c) => codes.push(c as u16),
            }
        }
        // The internal codes nginx shows as 400 keep that status unless `=` says otherwise.
        let pages = self.rest_mut().error_pages.get_or_insert_with(Vec::new);
        for c in codes {
            let ow = match (overwrite, c) {
                (None, 494..=497) => Some(Some(400)),
                (o, _) => o,
            };
            pages.push(RawErrorPage {
                codes: vec![c],
                overwrite: ow,
                uri: uri.clone(),
            });
        }
    }

    fn add_header(&mut self, l: &mut Loader, d: &Directive) {
        let always = match d.args.get(2) {
            None => false,
            Some(a) if a.is("always") => true,
            Some(a) => {
                let e = l.arg_error(d, a, format!("invalid parameter \"{}\"", a.show()));
                l.error(e.help("the only parameter is \"always\""));
                return;
            }
        };
        let value = if d.args[1].as_bytes().is_empty() {
            Raw::default()
        } else {
            match template::parse(l, &d.args[1], d.end) {
                Some(r) => r,
                None => return,
            }
        };
        self.add_headers
            .get_or_insert_with(Vec::new)
            .push(RawAddHeader {
                name: d.args[0].to_boxed(),
                value,
                always,
                span: d.head_span(),
            });
    }

    fn expires(&mut self, l: &mut Loader, d: &Directive) {
        if l.is_dup(&self.rest_mut().expires, d) {
            return;
        }
        let (modified, a) = if d.args.len() == 2 {
            if !d.args[0].is("modified") {
                l.error(directive_error(d, "expires", "invalid value"));
                return;
            }
            (true, &d.args[1])
        } else {
            (false, &d.args[0])
        };
        let Some(raw) = template::parse(l, a, d.end) else {
            return;
        };
        if !raw.is_literal() {
            l.once(
                &mut self.rest_mut().expires,
                d,
                RawExpires::Template(raw, modified),
            );
            return;
        }
        match value::parse_expires(a.as_bytes(), modified) {
            Ok(e) => l.once(&mut self.rest_mut().expires, d, RawExpires::Fixed(e)),
            Err(msg) => l.error(directive_error(d, "expires", msg)),
        }
    }

    fn gzip_proxied(&mut self, l: &mut Loader, d: &Directive) {
        const NAMES: &[(&str, GzipProxied)] = &[
            ("off", GzipProxied::OFF),
            ("expired", GzipProxied::EXPIRED),
            ("no-cache", GzipProxied::NO_CACHE),
            ("no-store", GzipProxied::NO_STORE),
            ("private", GzipProxied::PRIVATE),
            ("no_last_modified", GzipProxied::NO_LAST_MODIFIED),
            ("no_etag", GzipProxied::NO_ETAG),
            ("auth", GzipProxied::AUTH),
            ("any", GzipProxied::ANY),
        ];
        let mut mask = self
            .rest_mut()
            .gzip
            .proxied
            .as_ref()
            .map(|s| s.value)
            .unwrap_or(GzipProxied::empty());
        for (i, a) in d.args.iter().enumerate() {
            match NAMES
                .iter()
                .find(|(n, _)| a.as_bytes().eq_ignore_ascii_case(n.as_bytes()))
            {
                Some((_, m)) => mask |= *m,
                None => {
                    l.error(invalid_value_at(d, i));
                    return;
                }
            }
        }
        self.rest_mut().gzip.proxied = Some(Set {
            value: mask,
            span: d.head_span(),
        });
    }

    fn gzip_disable(&mut self, l: &mut Loader, d: &Directive) {
        let (mut res, mut msie6, mut degradation) = self
            .rest_mut()
            .gzip
            .disable
            .take()
            .map(|s| s.value)
            .unwrap_or_default();
        for a in &d.args {
            if a.is("msie6") {
                msie6 = true;
            } else if a.is("degradation") {
                degradation = true;
            } else {
                match l.regex(a.as_bytes(), true, a.span, d.end) {
                    Ok(re) => res.push(re),
                    Err(e) => {
                        l.error(*e);
                        return;
                    }
                }
            }
        }
        self.rest_mut().gzip.disable = Some(Set {
            value: (res, msie6, degradation),
            span: d.head_span(),
        });
    }

    fn access_rule(&mut self, l: &mut Loader, d: &Directive, allow: bool) {
        let a = &d.args[0];
        let net = if a.is("all") {
            Net::All
        } else if a.is("unix:") {
            Net::Unix
        } else {
            match parse_cidr(a.as_bytes()) {
                Some((addr, prefix, exact)) => {
                    if !exact {
                        l.error(
                            Diagnostic::warning(
                                code::INVALID_VALUE,
                                format!("low address bits of {} are meaningless", a.show()),
                                a.span,
                            )
                            .place(Place::At(d.end)),
                        );
                    }
                    Net::Cidr { addr, prefix }
                }
                None => {
                    let e = l.arg_error(d, a, format!("invalid parameter \"{}\"", a.show()));
                    l.error(e.help(
                        "an address, a CIDR range like 192.168.0.0/16, \"unix:\" or \"all\"",
                    ));
                    return;
                }
            }
        };
        let rule = if allow {
            AccessRule::Allow(net)
        } else {
            AccessRule::Deny(net)
        };
        self.rest_mut()
            .access
            .get_or_insert_with(Vec::new)
            .push(rule);
    }

    /// Fills what this level does not set from the enclosing one.
    /// An `if` block's merge: like a nested location's, except that the enclosing level's
    /// `proxy_pass` stays the handler (nginx keeps the content handler when an `if` block
    /// sets none).
    pub fn inherit_for_if(&mut self, p: &LocBuilder) {
        let own_pass = self.proxy.as_ref().is_some_and(|x| x.pass.is_some());
        self.inherit_from(p);
        if !own_pass {
            if let (Some(c), Some(pp)) = (&mut self.proxy, &p.proxy) {
                if pp.pass.is_some() {
                    Arc::make_mut(c).pass.clone_from(&pp.pass);
                }
            }
        }
    }

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

    /// Applies nginx's defaults and resolves templates. `default_types` is what an http
    /// block without `types` gets (nginx's built-in html/gif/jpg set).
    pub fn finish(
        &self,
        l: &mut Loader,
        scope: &mut Scope,
        logs: &mut LogCx,
        shared: &mut Shared,
    ) -> LocConf {
        let resolve = |l: &mut Loader, scope: &mut Scope, raw: &Raw| scope.resolve(l, raw);
        let r = self.rest();
        let (root, root_is_default) = match &self.root {
            Some(s) => {
                let t = resolve(l, scope, &s.value.1);
                (
                    if s.value.0 {
                        Root::Alias {
                            path: t,
                            location_len: self.alias_len,
                        }
                    } else {
                        Root::Root(t)
                    },
                    false,
                )
            }
            None => {
                let t = shared.default_root.get_or_insert_with(|| {
                    use std::os::unix::ffi::OsStrExt;
                    let p = full_name(&l.paths.prefix, b"html");
                    crate::ir::Template::literal(p.as_os_str().as_bytes())
                });
                (Root::Root(t.clone()), true)
            }
        };
        let index: Arc<[crate::ir::Template]> = match &self.index {
            Some(list) => list.iter().map(|r| resolve(l, scope, r)).collect(),
            None => shared
                .default_index
                .get_or_insert_with(|| Arc::from(vec![crate::ir::Template::literal(b"index.html")]))
                .clone(),
        };
        let try_files = r.try_files.as_ref().map(|s| {
            Arc::new(TryFiles {
                files: s
                    .value
                    .files
                    .iter()
                    .map(|(r, dir)| (resolve(l, scope, r), *dir))
                    .collect(),
                fallback: match &s.value.fallback {
                    RawFallback::Uri(r) => TryFilesFallback::Uri(resolve(l, scope, r)),
                    RawFallback::Code(c) => TryFilesFallback::Code(*c),
                    RawFallback::Named(n) => TryFilesFallback::Named(n.clone()),
                },
            })
        });
        let types = match &r.types {
            Some((list, span)) => shared.types(list, *span),
            None => shared.default_types(),
        };
        let error_pages = match &r.error_pages {
            Some(pages) => {
                let mut map = HashMap::new();
                for p in pages {
                    let uri = resolve(l, scope, &p.uri);
                    for c in &p.codes {
                        map.entry(*c).or_insert_with(|| ErrorPage {
                            overwrite: p.overwrite,
                            uri: uri.clone(),
                        });
                    }
                }
                Arc::new(ErrorPages { pages: map })
            }
            None => shared
                .no_error_pages
                .get_or_insert_with(Default::default)
                .clone(),
        };
        let add_headers: Arc<[AddHeader]> = match &self.add_headers {
            Some(list) => list
                .iter()
                .map(|h| AddHeader {
                    name: h.name.clone(),
                    value: resolve(l, scope, &h.value),
                    always: h.always,
                })
                .collect(),
            None => shared
                .no_add_headers
                .get_or_insert_with(|| Arc::from(Vec::new()))
                .clone(),
        };
        let expires = r.expires.as_ref().map(|s| match &s.value {
            RawExpires::Fixed(e) => e.clone(),
            RawExpires::Template(r, _) => Expires::Template(resolve(l, scope, r)),
        });
        let charset = match &r.charset {
            Some(Set {
                value: Some(raw), ..
            }) => {
                let (types, any) = match &r.charset_types {
                    Some(s) => (s.value.0.clone(), s.value.1),
                    None => (
                        [
                            "text/html",
                            "text/xml",
                            "text/plain",
                            "text/vnd.wap.wml",
                            "application/javascript",
                            "application/rss+xml",
                        ]
                        .iter()
                        .map(|t| Box::<[u8]>::from(t.as_bytes()))
                        .collect(),
                        false,
                    ),
                };
                Some(Arc::new(Charset {
                    charset: resolve(l, scope, raw),
                    types: Arc::new(types.into_iter().collect()),
                    any_type: any,
                }))
            }
            _ => None,
        };
        let gzip = if or(&r.gzip.on, false) {
            let (types, any) = match &r.gzip.types {
                Some(s) => (s.value.0.clone(), s.value.1),
                None => (vec![Box::<[u8]>::from(&b"text/html"[..])], false),
            };
            let mut types: HashSet<Box<[u8]>> = types.into_iter().collect();
            // text/html is always compressed (nginx adds it to every gzip_types list).
            types.insert(Box::from(&b"text/html"[..]));
            let (disable, msie6, degradation) = r
                .gzip
                .disable
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default();
            Some(Arc::new(Gzip {
                types: Arc::new(types),
                any_type: any,
                proxied: or(&r.gzip.proxied, GzipProxied::OFF),
                http_version_10: or(&r.gzip.http_version_10, false),
                min_length: or(&r.gzip.min_length, 20),
                vary: or(&r.gzip.vary, false),
                comp_level: or(&r.gzip.comp_level, 1),
                disable,
                disable_msie6: msie6,
                disable_degradation: degradation,
            }))
        } else {
            None
        };
        let access_log = match &r.access_log {
            Some(list) => logs.access_logs(l, scope, list),
            None => logs.default_access_log(l),
        };
        let error_log: Arc<[ErrorLog]> = match &r.error_log {
            Some(list) => list.clone().into(),
            None => shared
                .no_error_log
                .get_or_insert_with(|| Arc::from(Vec::new()))
                .clone(),
        };
        let access: Arc<[AccessRule]> = match &r.access {
            Some(list) => list.clone().into(),
            None => shared
                .no_access
                .get_or_insert_with(|| Arc::from(Vec::new()))
                .clone(),
        };
        let (keepalive_timeout, keepalive_header) =
            or(&r.keepalive_timeout, (Duration::from_secs(75), None));
        LocConf {
            proxy: self.proxy().finish(l, scope, shared),
            script: self.script.as_deref().map(|ops| {
                let mut fin = |l: &mut Loader, scope: &mut Scope, b: &LocBuilder| {
                    b.finish(l, scope, logs, shared)
                };
                Arc::new(super::rewrite::finish(l, scope, ops, self, &mut fin))
            }),
            uninitialized_variable_warn: or(&r.uninitialized_variable_warn, true),
            internal: or(&r.internal, false),
            root,
            root_is_default,
            index,
            try_files,
            types,
            default_type: or(&r.default_type, Box::from(&b"text/plain"[..])),
            etag: or(&r.etag, true),
            if_modified_since: or(&r.if_modified_since, IfModifiedSince::Exact),
            log_not_found: or(&r.log_not_found, true),
            // NGX_MAX_INT32_VALUE: no limit in practice.
            max_ranges: or(&r.max_ranges, i32::MAX as u64),
            error_pages,
            recursive_error_pages: or(&r.recursive_error_pages, false),
            add_headers,
            expires,
            charset,
            gzip,
            access,
            access_log,
            error_log,
            client_max_body_size: or(&r.client_max_body_size, 1024 * 1024),
            client_body_timeout: or(&r.client_body_timeout, Duration::from_secs(60)),
            // Two pages: 8k on x86-64 (nginx's default).
            client_body_buffer_size: or(&r.client_body_buffer_size, 8 * 1024) as usize,
            client_body_temp_path: Arc::new(or(
                &r.client_body_temp_path,
                crate::ir::location::TempPath {
                    // Debian's --http-client-body-temp-path.
                    path: std::path::PathBuf::from(super::main::defaults::CLIENT_BODY_TEMP_PATH),
                    levels: Vec::new(),
                },
            )),
            send_timeout: or(&r.send_timeout, Duration::from_secs(60)),
            keepalive_timeout,
            keepalive_header,
            keepalive_requests: or(&r.keepalive_requests, 1000),
            keepalive_time: or(&r.keepalive_time, Duration::from_secs(3600)),
            server_tokens: or(&r.server_tokens, ServerTokens::On),
            msie_padding: or(&r.msie_padding, true),
            absolute_redirect: or(&r.absolute_redirect, true),
            server_name_in_redirect: or(&r.server_name_in_redirect, false),
            port_in_redirect: or(&r.port_in_redirect, true),
            chunked_transfer_encoding: or(&r.chunked_transfer_encoding, true),
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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
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

/// `ngx_ptocidr`: an address or `addr/bits`; the bool says whether the host bits were zero.
pub fn parse_cidr(v: &[u8]) -> Option<(IpAddr, u8, bool)> {
    let s = std::str::from_utf8(v).ok()?;
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match bits {
        Some(b) => {
            let n = value::number(b.as_bytes())?;
            if n > max as i64 {
                return None;
            }
            n as u8
        }
        None => max,
    };
    let exact = match addr {
        IpAddr::V4(a) => {
            let x = u32::from(a);
            prefix == 32 || x & (u32::MAX >> prefix) == 0
        }
        IpAddr::V6(a) => {
            let x = u128::from(a);
            prefix == 128 || x & (u128::MAX >> prefix) == 0
        }
    };
    Some((addr, prefix, exact))
}

/// `ngx_conf_set_path_slot`: a directory and up to three hash levels of 1 or 2 characters.
fn temp_path(l: &mut Loader, d: &Directive) -> Option<crate::ir::location::TempPath> {
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
    Some(crate::ir::location::TempPath { path, levels })
}
