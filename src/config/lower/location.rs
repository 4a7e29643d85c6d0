//! `location` blocks: modifiers, nesting rules (S3.4, S3.5) and the tree nginx builds from
//! them (`ngx_http_init_locations`, `ngx_http_join_exact_locations`).

use std::collections::HashMap;
use std::sync::Arc;

use super::loc::{Finish, LocBuilder};
use super::shared::LocKind;
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::registry::{Spec, LOC};
use crate::ir::location::{LocId, Location, LocationKind, LocationTree};
use crate::ir::regex::Regex;
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Clone, Debug)]
pub enum Kind {
    Exact,
    Prefix,
    NoRegex,
    Regex(Regex),
    Named,
}

#[derive(Clone, Debug)]
pub struct LocationBuilder {
    pub kind: Kind,
    /// The name as nginx keeps it: the URI, the regex pattern, or `@name`.
    pub name: Box<[u8]>,
    pub loc: LocBuilder,
    pub children: Vec<LocationBuilder>,
    pub span: Span,
    pub end: Span,
}

impl LocationBuilder {
    pub fn is_regex(&self) -> bool {
        matches!(self.kind, Kind::Regex(_))
    }
}

/// What a nested location needs to know of the location around it.
#[derive(Clone, Copy)]
pub struct Parent<'a> {
    exact: bool,
    named: bool,
    name: &'a [u8],
    span: Span,
}

/// Reads `location [modifier] name { ... }` inside `parent` (None at server level).
pub fn parse(l: &mut Loader, d: &Directive, parent: Option<Parent<'_>>) -> Option<LocationBuilder> {
    let (kind, name) = if d.args.len() == 2 {
        let m = d.args[0].as_bytes();
        let name = d.args[1].as_bytes();
        match m {
            b"=" => (Kind::Exact, name.to_vec()),
            b"^~" => (Kind::NoRegex, name.to_vec()),
            b"~" | b"~*" => (regex(l, d, name, m == b"~*")?, name.to_vec()),
            _ => {
                let e = l.arg_error(
                    d,
                    &d.args[0],
                    format!("invalid location modifier \"{}\"", d.args[0].show()),
                );
                l.error(e.help("modifiers are =, ^~, ~ and ~*"));
                return None;
            }
        }
    } else {
        let v = d.args[0].as_bytes();
        if v.first() == Some(&b'=') {
            (Kind::Exact, v[1..].to_vec())
        } else if v.starts_with(b"^~") {
            (Kind::NoRegex, v[2..].to_vec())
        } else if v.starts_with(b"~*") {
            (regex(l, d, &v[2..], true)?, v[2..].to_vec())
        } else if v.first() == Some(&b'~') {
            (regex(l, d, &v[1..], false)?, v[1..].to_vec())
        } else if v.first() == Some(&b'@') {
            (Kind::Named, v.to_vec())
        } else {
            (Kind::Prefix, v.to_vec())
        }
    };
    if let Some(p) = parent {
        let show = crate::source::show_bytes(&name);
        let pshow = crate::source::show_bytes(p.name);
        let nested_error = |msg: String| {
            Diagnostic::error(code::LOCATION, msg, d.head_span())
                .place(Place::At(d.end))
                .also(p.span, "the enclosing location")
        };
        if p.exact {
            l.error(
                nested_error(format!(
                    "location \"{show}\" cannot be inside the exact location \"{pshow}\""
                ))
                .help("an exact location matches one URI: nothing can be nested in it"),
            );
            return None;
        }
        if p.named {
            l.error(nested_error(format!(
                "location \"{show}\" cannot be inside the named location \"{pshow}\""
            )));
            return None;
        }
        if matches!(kind, Kind::Named) {
            l.error(
                Diagnostic::error(
                    code::LOCATION,
                    format!("named location \"{show}\" can be on the server level only"),
                    d.head_span(),
                )
                .place(Place::At(d.end))
                .help("move it out to the server block"),
            );
            return None;
        }
        if !matches!(kind, Kind::Regex(_)) && !name.starts_with(p.name) {
            l.error(
                nested_error(format!(
                    "location \"{show}\" is outside location \"{pshow}\""
                ))
                .help(format!(
                    "a nested prefix location must start with its parent's prefix \"{pshow}\""
                )),
            );
            return None;
        }
    }
    let mut loc = LocBuilder::default();
    let at = LocKind {
        name: name.clone().into(),
        named: matches!(kind, Kind::Named),
        regex: matches!(kind, Kind::Regex(_)),
        is_location: true,
        in_if: false,
    };
    let mut me = LocationBuilder {
        kind,
        name: name.into(),
        loc: LocBuilder::default(),
        children: Vec::new(),
        span: d.head_span(),
        end: d.end,
    };
    let mut children: Vec<LocationBuilder> = Vec::new();
    let me_parent = Parent {
        exact: matches!(me.kind, Kind::Exact),
        named: matches!(me.kind, Kind::Named),
        name: &me.name,
        span: me.span,
    };
    l.walk(d, LOC, &mut |l, d, spec: &'static Spec| {
        if spec.name == "location" {
            if let Some(child) = parse(l, d, Some(me_parent)) {
                children.push(child);
            }
            return;
        }
        if !loc.directive(l, d, spec, &at)
            && spec.support == crate::config::registry::Support::Implemented
        {
            super::unreachable_directive(l, d, spec);
        }
    });
    me.loc = loc;
    me.children = children;
    Some(me)
}

fn regex(l: &mut Loader, d: &Directive, pattern: &[u8], caseless: bool) -> Option<Kind> {
    let span = d.args.last().map(|a| a.span).unwrap_or(d.name.span);
    match l.regex(pattern, caseless, span, d.end) {
        Ok(re) => {
            for n in re.names.iter().flatten() {
                l.scope.captures.insert(n.clone());
            }
            Some(Kind::Regex(re))
        }
        Err(e) => {
            l.error(*e);
            None
        }
    }
}

/// Builds one level of the tree and every level below it, merging each location's settings
/// with its parent's. Locations are appended to `out`; the level's tree is returned.
pub fn build(
    l: &mut Loader,
    fin: &mut Finish,
    level: &mut [LocationBuilder],
    parent: &LocBuilder,
    at: Span,
    out: &mut Vec<Location>,
    named: &mut HashMap<Box<[u8]>, LocId>,
) -> LocationTree {
    let mut tree = LocationTree::default();
    // Exact and prefix locations of one name: at most one of each kind (S3.5).
    let mut seen: HashMap<(Vec<u8>, bool), Span> = HashMap::new();
    let mut prefixes: Vec<(Box<[u8]>, LocId)> = Vec::new();
    for b in level.iter_mut() {
        crate::config::lint::inheritance(l, &b.loc, parent, "location");
        b.loc.inherit_from(parent);
        b.loc.proxy().check_buffers(l, at);
        let key = match b.kind {
            Kind::Exact => Some((b.name.to_vec(), true)),
            Kind::Prefix | Kind::NoRegex => Some((b.name.to_vec(), false)),
            _ => None,
        };
        if let Some(key) = key {
            if let Some(first) = seen.get(&key) {
                l.error(
                    Diagnostic::error(
                        code::LOCATION,
                        format!(
                            "duplicate location \"{}\"",
                            crate::source::show_bytes(&b.name)
                        ),
                        b.span,
                    )
                    .place(Place::At(b.end))
                    .also(*first, "first defined here")
                    .help("\"location /a\" and \"location ^~ /a\" are the same prefix; keep one"),
                );
                continue;
            }
            seen.insert(key, b.span);
        }
        let conf = Arc::new(
            b.loc
                .finish(l, &mut fin.scope, &mut fin.logs, &mut fin.shared),
        );
        let mut children = std::mem::take(&mut b.children);
        let nested = build(l, fin, &mut children, &b.loc, at, out, named);
        b.children = children;
        let auto_redirect = conf.proxy.is_some() && b.name.last() == Some(&b'/');
        let kind = match &b.kind {
            Kind::Exact => LocationKind::Exact,
            Kind::Prefix => LocationKind::Prefix,
            Kind::NoRegex => LocationKind::PrefixNoRegex,
            Kind::Regex(re) => LocationKind::Regex(re.clone()),
            Kind::Named => LocationKind::Named,
        };
        let id = LocId(out.len() as u32);
        out.push(Location {
            name: b.name.clone(),
            kind,
            conf,
            nested,
            auto_redirect,
        });
        if auto_redirect && matches!(b.kind, Kind::Exact | Kind::Prefix | Kind::NoRegex) {
            let without: Box<[u8]> = b.name[..b.name.len() - 1].into();
            tree.redirects.entry(without).or_insert(id);
        }
        match &b.kind {
            Kind::Exact => {
                tree.exact.insert(b.name.clone(), id);
            }
            Kind::Prefix | Kind::NoRegex => prefixes.push((b.name.clone(), id)),
            Kind::Regex(_) => tree.regexes.push(id),
            Kind::Named => {
                named.entry(b.name.clone()).or_insert(id);
            }
        }
    }
    // Longest prefix first; among equal lengths the order does not matter (names differ).
    prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    tree.prefixes = prefixes.into_iter().map(|(_, id)| id).collect();
    tree
}
