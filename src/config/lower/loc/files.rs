//! Static files at one level: where they are (`root`, `alias`), what a directory serves
//! (`index`), what is tried first (`try_files`), how a file's type is named (`types`,
//! `default_type`), and the conditional and range requests on them (`etag`,
//! `if_modified_since`, `max_ranges`, `log_not_found`).
//!
//! These are nginx's core, index, not_modified and range modules at the configuration end:
//! reading the directives and applying their defaults. Serving the files is the runtime's.

use std::sync::Arc;

use super::{invalid_enum, LocBuilder};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::{full_name, Loader};
use crate::config::lower::or;
use crate::config::lower::shared::{LocKind, Shared};
use crate::config::template::{self, Raw, Scope};
use crate::config::value;
use crate::ir::location::{IfModifiedSince, Root, TryFiles, TryFilesFallback, Types};
use crate::ir::Template;
use crate::syntax::Directive;

/// `try_files`: the files to try (with whether each is a directory), then the fallback.
#[derive(Clone, Debug)]
pub struct RawTryFiles {
    pub files: Vec<(Raw, bool)>,
    pub fallback: RawFallback,
}

/// The last argument of `try_files`: a URI, `=code` or `@named`.
#[derive(Clone, Debug)]
pub enum RawFallback {
    Uri(Raw),
    Code(u16),
    Named(Box<[u8]>),
}

/// The part of a [`crate::ir::location::LocConf`] this family fills.
pub(super) struct Conf {
    pub root: Root,
    pub root_is_default: bool,
    pub index: Arc<[Template]>,
    pub try_files: Option<Arc<TryFiles>>,
    pub types: Arc<Types>,
    pub default_type: Box<[u8]>,
    pub etag: bool,
    pub if_modified_since: IfModifiedSince,
    pub log_not_found: bool,
    pub max_ranges: u64,
}

/// Handles a directive of this family in a block of kind `at`; false if `name` is not one.
pub(super) fn directive(
    b: &mut LocBuilder,
    l: &mut Loader,
    d: &Directive,
    name: &str,
    at: &LocKind,
) -> bool {
    match name {
        "root" | "alias" => b.root(l, d, name == "alias", at),
        "index" => b.index(l, d),
        "try_files" => b.try_files(l, d),
        "types" => b.types(l, d),
        "default_type" => {
            if !l.is_dup(&b.rest_mut().default_type, d) {
                let v = d.args[0].to_boxed();
                l.once(&mut b.rest_mut().default_type, d, v);
            }
        }
        "etag" => flag!(l, d, b.rest_mut().etag),
        "if_modified_since" => {
            if !l.is_dup(&b.rest_mut().if_modified_since, d) {
                let v = match d.args[0].as_bytes().to_ascii_lowercase().as_slice() {
                    b"off" => Some(IfModifiedSince::Off),
                    b"exact" => Some(IfModifiedSince::Exact),
                    b"before" => Some(IfModifiedSince::Before),
                    _ => None,
                };
                match v {
                    Some(v) => l.once(&mut b.rest_mut().if_modified_since, d, v),
                    None => invalid_enum(l, d, &["off", "exact", "before"]),
                }
            }
        }
        "log_not_found" => flag!(l, d, b.rest_mut().log_not_found),
        "max_ranges" => {
            if !l.is_dup(&b.rest_mut().max_ranges, d) {
                if let Some(v) = l.num_arg(d, 0) {
                    l.once(&mut b.rest_mut().max_ranges, d, v as u64);
                }
            }
        }
        _ => return false,
    }
    true
}

/// Applies nginx's defaults and resolves the templates: the root is `<prefix>/html` and the
/// index `index.html` unless set, and a level without `types` gets nginx's built-in
/// html/gif/jpg set.
pub(super) fn finish(
    b: &LocBuilder,
    l: &mut Loader,
    scope: &mut Scope,
    shared: &mut Shared,
) -> Conf {
    let resolve = |l: &mut Loader, scope: &mut Scope, raw: &Raw| scope.resolve(l, raw);
    let r = b.rest();
    let (root, root_is_default) = match &b.root {
        Some(s) => {
            let t = resolve(l, scope, &s.value.1);
            (
                if s.value.0 {
                    Root::Alias {
                        path: t,
                        location_len: b.alias_len,
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
                Template::literal(p.as_os_str().as_bytes())
            });
            (Root::Root(t.clone()), true)
        }
    };
    let index: Arc<[Template]> = match &b.index {
        Some(list) => list.iter().map(|r| resolve(l, scope, r)).collect(),
        None => shared
            .default_index
            .get_or_insert_with(|| Arc::from(vec![Template::literal(b"index.html")]))
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
    Conf {
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
    }
}

impl LocBuilder {
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
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
