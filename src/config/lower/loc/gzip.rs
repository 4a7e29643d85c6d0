//! The gzip filter's directives at one level (`gzip`, `gzip_types`, `gzip_proxied`,
//! `gzip_disable`, ...), as nginx's `ngx_http_gzip_conf_t`.
//!
//! Only the settings: compressing is the runtime's (`runtime::filters::gzip`).

use std::collections::HashSet;
use std::sync::Arc;

use super::{invalid_enum, invalid_value_at, mime_list, LocBuilder};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::lower::{or, Set, Slot};
use crate::ir::location::{Gzip, GzipProxied};
use crate::syntax::Directive;

/// The gzip settings of a level; `disable` is the regexes, `msie6` and `degradation`.
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
    pub(super) const EMPTY: RawGzip = RawGzip {
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

/// Handles a directive of this family; false if `name` is not one.
pub(super) fn directive(b: &mut LocBuilder, l: &mut Loader, d: &Directive, name: &str) -> bool {
    match name {
        "gzip" => flag!(l, d, b.rest_mut().gzip.on),
        "gzip_vary" => flag!(l, d, b.rest_mut().gzip.vary),
        "gzip_types" => {
            if !l.is_dup(&b.rest_mut().gzip.types, d) {
                let v = mime_list(d);
                l.once(&mut b.rest_mut().gzip.types, d, v);
            }
        }
        "gzip_http_version" => {
            if !l.is_dup(&b.rest_mut().gzip.http_version_10, d) {
                match d.args[0].as_bytes() {
                    b"1.0" => l.once(&mut b.rest_mut().gzip.http_version_10, d, true),
                    b"1.1" => l.once(&mut b.rest_mut().gzip.http_version_10, d, false),
                    _ => invalid_enum(l, d, &["1.0", "1.1"]),
                }
            }
        }
        "gzip_min_length" => {
            if !l.is_dup(&b.rest_mut().gzip.min_length, d) {
                if let Some(v) = l.size_arg(d, 0) {
                    l.once(&mut b.rest_mut().gzip.min_length, d, v as i64);
                }
            }
        }
        "gzip_comp_level" => {
            if !l.is_dup(&b.rest_mut().gzip.comp_level, d) {
                match l.num_arg(d, 0) {
                    Some(n) if (1..=9).contains(&n) => {
                        l.once(&mut b.rest_mut().gzip.comp_level, d, n as u32)
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
        "gzip_proxied" => b.gzip_proxied(l, d),
        "gzip_disable" => b.gzip_disable(l, d),
        _ => return false,
    }
    true
}

/// The filter's settings with nginx's defaults, or `None` when `gzip` is off.
pub(super) fn finish(r: &RawGzip) -> Option<Arc<Gzip>> {
    if or(&r.on, false) {
        let (types, any) = match &r.types {
            Some(s) => (s.value.0.clone(), s.value.1),
            None => (vec![Box::<[u8]>::from(&b"text/html"[..])], false),
        };
        let mut types: HashSet<Box<[u8]>> = types.into_iter().collect();
        // text/html is always compressed (nginx adds it to every gzip_types list).
        types.insert(Box::from(&b"text/html"[..]));
        let (disable, msie6, degradation) = r
            .disable
            .as_ref()
            .map(|s| s.value.clone())
            .unwrap_or_default();
        Some(Arc::new(Gzip {
            types: Arc::new(types),
            any_type: any,
            proxied: or(&r.proxied, GzipProxied::OFF),
            http_version_10: or(&r.http_version_10, false),
            min_length: or(&r.min_length, 20),
            vary: or(&r.vary, false),
            comp_level: or(&r.comp_level, 1),
            disable,
            disable_msie6: msie6,
            disable_degradation: degradation,
        }))
    } else {
        None
    }
}

impl LocBuilder {
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
}
