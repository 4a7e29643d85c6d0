//! The request headers sent upstream: `proxy_set_header`, and the list nginx builds from it
//! and its built-ins (`ngx_http_proxy_init_headers`).
//!
//! Which upstream response headers are passed back (`proxy_hide_header`, `proxy_pass_header`)
//! is not here but in the finishing of the module (`finish.rs`).

use std::borrow::Cow;

use super::ProxyBuilder;
use crate::config::load::Loader;
use crate::config::template::{self, Raw, Scope};
use crate::ir::header::NameSet;
use crate::ir::proxy::{HeaderValue, ProxyHeader, ProxyHeaders};
use crate::source::Span;
use crate::syntax::Directive;

/// `proxy_set_header NAME VALUE`: the name as written, the value, where.
pub type SetHeader = (Box<[u8]>, Raw, Span);

impl ProxyBuilder {
    /// `proxy_set_header NAME VALUE`: added to this level's list (inherited all or nothing).
    pub(super) fn set_header(&mut self, l: &mut Loader, d: &Directive) {
        if let Some(raw) = template::parse(l, &d.args[1], d.end) {
            self.set_headers.get_or_insert_with(Vec::new).push((
                d.args[0].to_boxed(),
                raw,
                d.head_span(),
            ));
        }
    }

    /// nginx's header list: the effective `proxy_set_header`s, then the built-ins they do not
    /// override (S6.1, S6.2).
    pub(super) fn headers(&self, l: &mut Loader, scope: &mut Scope) -> ProxyHeaders {
        let mut set = Vec::new();
        let mut replaced = NameSet::new();
        let user: &[SetHeader] = self.set_headers.as_deref().unwrap_or(&[]);
        for (name, raw, _) in user {
            replaced.insert(name);
            if raw.parts.is_empty() {
                continue;
            }
            set.push(ProxyHeader {
                name: Cow::Owned(name.to_vec()),
                value: HeaderValue::Template(scope.resolve(l, raw)),
            });
        }
        // nginx's built-ins (ngx_http_proxy_headers).
        let builtins: [(&'static [u8], Option<HeaderValue>); 8] = [
            (b"Host", Some(HeaderValue::ProxyHost)),
            (b"Connection", Some(HeaderValue::Static(b"close"))),
            (b"Content-Length", Some(HeaderValue::BodyLength)),
            (b"Transfer-Encoding", Some(HeaderValue::Chunked)),
            (b"TE", None),
            (b"Keep-Alive", None),
            (b"Expect", None),
            (b"Upgrade", None),
        ];
        for (name, value) in builtins {
            if user.iter().any(|(n, _, _)| n.eq_ignore_ascii_case(name)) {
                continue;
            }
            replaced.insert(name);
            if let Some(value) = value {
                set.push(ProxyHeader {
                    name: Cow::Borrowed(name),
                    value,
                });
            }
        }
        ProxyHeaders { set, replaced }
    }
}
