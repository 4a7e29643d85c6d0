//! What the builders of the http, server and location levels share: [`LocKind`], the kind of
//! block a directive is read in, and [`Shared`], the values many locations point to once
//! finished.
//!
//! Both are plain types with no knowledge of any directive, so that `loc`, `proxy` and
//! `rewrite` can all import them and still point one way (`loc` uses `proxy` and `rewrite`,
//! never the reverse). What a directive family does with them stays in that family's file:
//! the defaults are built where they are used (the default `root` and `index` in
//! `loc::files`, the hidden upstream headers in `proxy::finish`).

use std::collections::HashMap;
use std::sync::Arc;

use super::upstream::Upstreams;
use crate::ir::location::{AccessRule, AddHeader, ErrorPages, Types};
use crate::ir::{ErrorLog, Template};
use crate::source::Span;

/// What the enclosing location is, for the rules that depend on it.
#[derive(Clone, Debug, Default)]
pub struct LocKind {
    pub name: Box<[u8]>,
    pub named: bool,
    pub regex: bool,
    pub is_location: bool,
    /// Inside an `if` block.
    pub in_if: bool,
}

/// `types` entries: extension (lowercased) and MIME type.
pub type TypeList = Vec<(Box<[u8]>, Box<[u8]>)>;

/// Values shared between many locations (one `Arc` per distinct `types` block, one for each
/// default), so that thousands of locations do not each carry copies.
#[derive(Default)]
pub struct Shared {
    types: HashMap<Span, Arc<Types>>,
    default_types: Option<Arc<Types>>,
    pub(super) default_index: Option<Arc<[Template]>>,
    pub(super) default_root: Option<Template>,
    pub(super) no_error_pages: Option<Arc<ErrorPages>>,
    pub(super) no_add_headers: Option<Arc<[AddHeader]>>,
    pub(super) no_access: Option<Arc<[AccessRule]>>,
    pub(super) no_error_log: Option<Arc<[ErrorLog]>>,
    pub(super) default_hide: Option<Arc<crate::ir::header::NameSet>>,
    pub upstreams: Upstreams,
}

impl Shared {
    pub fn with_upstreams(upstreams: Upstreams) -> Shared {
        Shared {
            upstreams,
            ..Shared::default()
        }
    }

    pub(super) fn types(&mut self, list: &TypeList, span: Span) -> Arc<Types> {
        self.types
            .entry(span)
            .or_insert_with(|| {
                Arc::new(Types {
                    by_extension: list.iter().cloned().collect(),
                })
            })
            .clone()
    }

    /// nginx's built-in types when no `types` block is given (ngx_http_core_default_types).
    pub(super) fn default_types(&mut self) -> Arc<Types> {
        self.default_types
            .get_or_insert_with(|| {
                let list: &[(&str, &str)] = &[
                    ("html", "text/html"),
                    ("gif", "image/gif"),
                    ("jpg", "image/jpeg"),
                ];
                Arc::new(Types {
                    by_extension: list
                        .iter()
                        .map(|(e, t)| (Box::from(e.as_bytes()), Box::from(t.as_bytes())))
                        .collect(),
                })
            })
            .clone()
    }
}
