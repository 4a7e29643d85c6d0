//! `error_page` and `recursive_error_pages`: which URI answers which status at one level.
//!
//! The list is inherited all or nothing, like nginx's `error_pages` array; the first page
//! given for a code wins. Running the redirect is the runtime's.

use std::collections::HashMap;
use std::sync::Arc;

use super::{invalid_value_at, LocBuilder};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::lower::or;
use crate::config::lower::shared::Shared;
use crate::config::template::{self, Raw, Scope};
use crate::config::value;
use crate::ir::location::{ErrorPage, ErrorPages};
use crate::syntax::Directive;

/// One code of an `error_page`: `overwrite` is `=code` (`Some(None)` for a bare `=`, the
/// status of the page itself).
#[derive(Clone, Debug)]
pub struct RawErrorPage {
    pub codes: Vec<u16>,
    pub overwrite: Option<Option<u16>>,
    pub uri: Raw,
}

/// The part of a [`crate::ir::location::LocConf`] this family fills.
pub(super) struct Conf {
    pub error_pages: Arc<ErrorPages>,
    pub recursive_error_pages: bool,
}

/// Handles a directive of this family; false if `name` is not one.
pub(super) fn directive(b: &mut LocBuilder, l: &mut Loader, d: &Directive, name: &str) -> bool {
    match name {
        "error_page" => b.error_page(l, d),
        "recursive_error_pages" => flag!(l, d, b.rest_mut().recursive_error_pages),
        _ => return false,
    }
    true
}

/// Resolves the pages' URIs; a level without `error_page` shares one empty set.
pub(super) fn finish(
    b: &LocBuilder,
    l: &mut Loader,
    scope: &mut Scope,
    shared: &mut Shared,
) -> Conf {
    let resolve = |l: &mut Loader, scope: &mut Scope, raw: &Raw| scope.resolve(l, raw);
    let r = b.rest();
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
    Conf {
        error_pages,
        recursive_error_pages: or(&r.recursive_error_pages, false),
    }
}

impl LocBuilder {
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
}
