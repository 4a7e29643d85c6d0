//! The headers module and the charset filter at one level: `add_header`, `expires`,
//! `charset` and `charset_types`.
//!
//! `add_header` is inherited all or nothing (S6.4); the lint that names what a level drops is
//! in `config::lint`. The header filters that apply these are the runtime's.

use std::sync::Arc;

use super::{mime_list, LocBuilder};
use crate::config::load::{directive_error, Loader};
use crate::config::lower::shared::Shared;
use crate::config::lower::Set;
use crate::config::template::{self, Raw, Scope};
use crate::config::value;
use crate::ir::location::{AddHeader, AddKind, Charset, Expires};
use crate::source::Span;
use crate::syntax::Directive;

/// One `add_header`, its value unresolved; `span` names it in lints.
#[derive(Clone, Debug)]
pub struct RawAddHeader {
    pub name: Box<[u8]>,
    pub value: Raw,
    pub always: bool,
    pub span: Span,
}

/// `expires`: a value known at load, or a template (with `modified`) read per request.
#[derive(Clone, Debug)]
pub enum RawExpires {
    Fixed(Expires),
    Template(Raw, bool),
}

/// The part of a [`crate::ir::location::LocConf`] this family fills.
pub(super) struct Conf {
    pub add_headers: Arc<[AddHeader]>,
    pub expires: Option<Expires>,
    pub charset: Option<Arc<Charset>>,
}

/// Handles a directive of this family; false if `name` is not one.
pub(super) fn directive(b: &mut LocBuilder, l: &mut Loader, d: &Directive, name: &str) -> bool {
    match name {
        "add_header" => b.add_header(l, d),
        "expires" => b.expires(l, d),
        "charset" => {
            if !l.is_dup(&b.rest_mut().charset, d) {
                let v = if d.args[0].is("off") {
                    Some(None)
                } else {
                    template::parse(l, &d.args[0], d.end).map(Some)
                };
                if let Some(v) = v {
                    l.once(&mut b.rest_mut().charset, d, v);
                }
            }
        }
        "charset_types" => {
            if !l.is_dup(&b.rest_mut().charset_types, d) {
                let v = mime_list(d);
                l.once(&mut b.rest_mut().charset_types, d, v);
            }
        }
        _ => return false,
    }
    true
}

/// Resolves the header values, `expires` and `charset` templates; `charset_types` defaults
/// to nginx's list of text types.
pub(super) fn finish(
    b: &LocBuilder,
    l: &mut Loader,
    scope: &mut Scope,
    shared: &mut Shared,
) -> Conf {
    let resolve = |l: &mut Loader, scope: &mut Scope, raw: &Raw| scope.resolve(l, raw);
    let r = b.rest();
    let add_headers: Arc<[AddHeader]> = match &b.add_headers {
        Some(list) => list
            .iter()
            .map(|h| AddHeader {
                name: bytes::Bytes::copy_from_slice(&h.name),
                value: resolve(l, scope, &h.value),
                always: h.always,
                kind: AddKind::of(&h.name),
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
    Conf {
        add_headers,
        expires,
        charset,
    }
}

impl LocBuilder {
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
}
