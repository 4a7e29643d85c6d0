//! Compiling values with variables (nginx's complex values, `ngx_http_script_compile`).
//!
//! Compilation has two steps because nginx resolves variable names only once the whole http
//! block is read (a `map` may be defined after its first use): [`parse`] splits a value into
//! literal bytes and variable references when the directive is read, and [`Scope::resolve`]
//! turns references into [`Var`]s at the end, reporting `unknown "x" variable` as nginx does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use super::diagnostic::{code, Diagnostic, Place};
use crate::ir::{MapId, Part, Template, Var};
use crate::source::{SourceMap, Span};
use crate::syntax::Word;

/// A value split into literals and variable references, not yet resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Raw {
    pub parts: Vec<RawPart>,
    pub span: Option<Span>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawPart {
    /// Literal bytes, a slice of the word they were written in.
    Literal(Bytes),
    /// A variable name, lowercased, and where it is written.
    Var(Box<[u8]>, Span),
    /// `$1`..`$9`.
    Capture(u8),
}

impl Raw {
    pub fn literal(bytes: &[u8]) -> Raw {
        Raw {
            parts: if bytes.is_empty() {
                Vec::new()
            } else {
                vec![RawPart::Literal(Bytes::copy_from_slice(bytes))]
            },
            span: None,
        }
    }

    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, RawPart::Literal(_)))
    }

    pub fn literal_bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                RawPart::Literal(b) => out.extend_from_slice(b),
                _ => return None,
            }
        }
        Some(out)
    }

    pub fn has_captures(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, RawPart::Capture(_)))
    }

    pub fn var_names(&self) -> impl Iterator<Item = (&[u8], Span)> {
        self.parts.iter().filter_map(|p| match p {
            RawPart::Var(n, s) => Some((&**n, *s)),
            _ => None,
        })
    }
}

/// Whether a value has variables at all (nginx counts `$` to decide whether to compile).
pub fn has_dollar(v: &[u8]) -> bool {
    v.contains(&b'$')
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// What parsing and resolving templates needs of the load: the bytes spans point into, and
/// where problems go. The [`Loader`](super::load::Loader) is the one implementation; taking
/// it through this trait keeps `template` from importing `load`, which holds a [`Scope`].
pub trait Load {
    fn sources(&self) -> &SourceMap;
    fn error(&mut self, d: Diagnostic);
}

/// Splits a word into literals and variables; reports nginx's errors for a malformed `$`.
pub fn parse(l: &mut dyn Load, word: &Word, end: Span) -> Option<Raw> {
    parse_shared(l, &word.value, word.span, end)
}

/// Like [`parse`], for bytes that come from a word at `span` but were changed (a prefix added).
pub fn parse_bytes(l: &mut dyn Load, v: &[u8], span: Span, end: Span) -> Option<Raw> {
    parse_shared(l, &Bytes::copy_from_slice(v), span, end)
}

/// The splitting itself (`ngx_http_script_compile`); literals are slices of `v`.
fn parse_shared(l: &mut dyn Load, v: &Bytes, span: Span, end: Span) -> Option<Raw> {
    let mut parts: Vec<RawPart> = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    // Spans of variables point into the word (past an opening quote): exact unless the word
    // had escapes before them.
    let offset = if l
        .sources()
        .slice(span)
        .first()
        .is_some_and(|b| *b == b'"' || *b == b'\'')
    {
        1
    } else {
        0
    };
    let at = |from: usize, to: usize| {
        let start = (span.start as usize + offset + from).min(span.end as usize);
        let end = (span.start as usize + offset + to).min(span.end as usize);
        Span::new(span.file, start, end.max(start))
    };
    let flush = |parts: &mut Vec<RawPart>, from: usize, to: usize| {
        if to > from {
            parts.push(RawPart::Literal(v.slice(from..to)));
        }
    };
    while i < v.len() {
        if v[i] != b'$' {
            i += 1;
            continue;
        }
        let dollar = i;
        i += 1;
        if i == v.len() {
            l.error(invalid_variable_name(at(dollar, i), end));
            return None;
        }
        if (b'1'..=b'9').contains(&v[i]) {
            flush(&mut parts, lit_start, dollar);
            parts.push(RawPart::Capture(v[i] - b'0'));
            i += 1;
            lit_start = i;
            continue;
        }
        let bracket = v[i] == b'{';
        if bracket {
            i += 1;
            if i == v.len() {
                l.error(invalid_variable_name(at(dollar, i), end));
                return None;
            }
        }
        let start = i;
        while i < v.len() && is_name_byte(v[i]) {
            i += 1;
        }
        let name = &v[start..i];
        if bracket {
            if i < v.len() && v[i] == b'}' {
                i += 1;
            } else {
                l.error(
                    Diagnostic::error(
                        code::UNKNOWN_VARIABLE,
                        format!(
                            "the closing bracket in \"{}\" variable is missing",
                            crate::source::show_bytes(name)
                        ),
                        at(dollar, i),
                    )
                    .place(Place::At(end))
                    .help("close the name with \"}\": ${name}"),
                );
                return None;
            }
        }
        if name.is_empty() {
            l.error(invalid_variable_name(at(dollar, i), end));
            return None;
        }
        flush(&mut parts, lit_start, dollar);
        parts.push(RawPart::Var(
            name.to_ascii_lowercase().into(),
            at(dollar, i),
        ));
        lit_start = i;
    }
    flush(&mut parts, lit_start, v.len());
    Some(Raw {
        parts,
        span: Some(span),
    })
}

fn invalid_variable_name(span: Span, end: Span) -> Diagnostic {
    Diagnostic::error(code::UNKNOWN_VARIABLE, "invalid variable name", span)
        .place(Place::At(end))
        .label("a variable name must follow \"$\"")
        .help("write a literal dollar sign through a variable, e.g. map \"\" $dollar { default \"$\"; } is not possible either: avoid \"$\" here")
}

/// What a variable name can refer to beyond nginx's built-ins.
#[derive(Default)]
pub struct Scope {
    /// `map` results.
    pub maps: HashMap<Box<[u8]>, MapId>,
    /// Names declared by directives rginx refuses (`set`, `geo`, `perl_set`, ...): known, so
    /// no extra "unknown variable" is reported on top of the refusal.
    pub declared: HashSet<Box<[u8]>>,
    /// Named captures of every regex in the configuration.
    pub captures: HashSet<Arc<str>>,
    /// Dynamic modules loaded (their variables exist only then).
    pub geoip: bool,
    /// The stream block's names rather than http's.
    pub stream: bool,
    /// Names already reported unknown (each is reported once, as nginx stops at the first).
    reported: HashSet<Box<[u8]>>,
    /// Variables `set` declares, in order of first declaration.
    pub set_vars: Vec<Box<[u8]>>,
    set_index: HashMap<Box<[u8]>, u32>,
}

impl Scope {
    /// Resolves a raw template; unknown names are reported (with no place in nginx's
    /// one-line message, as nginx prints none).
    pub fn resolve(&mut self, l: &mut dyn Load, raw: &Raw) -> Template {
        let mut parts = Vec::with_capacity(raw.parts.len());
        for p in &raw.parts {
            match p {
                RawPart::Literal(b) => parts.push(Part::Literal(b.clone())),
                RawPart::Capture(n) => parts.push(Part::Var(Var::Capture(*n))),
                RawPart::Var(name, span) => match self.var(name) {
                    Ok(v) => parts.push(Part::Var(v)),
                    Err(Unresolved::Unknown) => {
                        if self.reported.insert(name.clone()) {
                            let maps: Vec<&[u8]> = self.maps.keys().map(|k| &**k).collect();
                            l.error(unknown_variable(name, *span, &maps, self.stream));
                        }
                        parts.push(Part::Literal(Bytes::new()));
                    }
                    Err(Unresolved::Refused) => parts.push(Part::Literal(Bytes::new())),
                    Err(Unresolved::Unsupported(why)) => {
                        if self.reported.insert(name.clone()) {
                            l.error(
                                Diagnostic::error(
                                    code::NOT_SUPPORTED,
                                    format!(
                                        "variable \"${}\" is not supported by rginx",
                                        crate::source::show_bytes(name)
                                    ),
                                    *span,
                                )
                                .place(Place::Nowhere)
                                .label("used here")
                                .help(why),
                            );
                        }
                        parts.push(Part::Literal(Bytes::new()));
                    }
                },
            }
        }
        // Merge adjacent literals (unknown variables leave empty ones).
        let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
        for p in parts {
            match (merged.last_mut(), p) {
                (_, Part::Literal(b)) if b.is_empty() => {}
                (Some(Part::Literal(prev)), Part::Literal(b)) => {
                    let mut v = prev.to_vec();
                    v.extend_from_slice(&b);
                    *prev = Bytes::from(v);
                }
                (_, p) => merged.push(p),
            }
        }
        Template {
            parts: merged.into(),
        }
    }

    /// A name resolved to what rginx evaluates.
    /// `set $name`: the name becomes a variable everywhere (S7).
    pub fn declare_set(&mut self, name: &[u8]) {
        if !self.set_index.contains_key(name) {
            self.set_index
                .insert(name.into(), self.set_vars.len() as u32);
            self.set_vars.push(name.into());
        }
    }

    /// What `set $name` assigns.
    pub fn set_var(&self, name: &[u8]) -> Option<crate::ir::rewrite::SetVar> {
        if let Some(id) = self.maps.get(name) {
            return Some(crate::ir::rewrite::SetVar::Map(*id));
        }
        self.set_index
            .get(name)
            .map(|i| crate::ir::rewrite::SetVar::Var(*i))
    }

    pub fn var(&self, name: &[u8]) -> Result<Var, Unresolved> {
        if let Some(id) = self.maps.get(name) {
            return Ok(Var::Map(*id));
        }
        let builtin = if self.stream {
            super::builtins::stream(name)
        } else {
            super::builtins::http(name)
        };
        if let Some(v) = builtin {
            return v;
        }
        if let Some(i) = self.set_index.get(name) {
            return Ok(Var::Set(*i));
        }
        if let Ok(s) = std::str::from_utf8(name) {
            if self.captures.contains(s) {
                return Ok(Var::NamedCapture(Arc::from(s)));
            }
        }
        if self.declared.contains(name) {
            // Declared by a directive rginx refused, which was reported there.
            return Err(Unresolved::Refused);
        }
        if self.geoip && name.starts_with(b"geoip_") {
            return Err(Unresolved::Unsupported(
                "the geoip module's variables are not provided by rginx",
            ));
        }
        Err(Unresolved::Unknown)
    }
}

pub enum Unresolved {
    Unknown,
    /// Declared by a refused directive (already an error).
    Refused,
    Unsupported(&'static str),
}

pub fn unknown_variable(name: &[u8], span: Span, maps: &[&[u8]], stream: bool) -> Diagnostic {
    let mut d = Diagnostic::error(
        code::UNKNOWN_VARIABLE,
        format!("unknown \"{}\" variable", crate::source::show_bytes(name)),
        span,
    )
    .place(Place::Nowhere)
    .label("no such variable");
    let near_map = std::str::from_utf8(name).ok().and_then(|n| {
        maps.iter()
            .filter_map(|m| std::str::from_utf8(m).ok())
            .map(|m| (strsim::jaro_winkler(n, m), m))
            .filter(|(s, _)| *s > 0.9)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, m)| m.to_string())
    });
    if let Some(m) = near_map {
        d = d.help(format!("did you mean \"${m}\"? (defined by a map)"));
    } else if stream && super::builtins::is_http(name) {
        d = d.help("this is an http variable; the stream module has no requests, so it has none of http's request variables");
    } else if name == b"connection_upgrade" {
        d = d.help("define it in the http block: map $http_upgrade $connection_upgrade { default upgrade; '' close; }");
    } else if let Some(s) = suggest_var(name, stream) {
        d = d.help(format!("did you mean \"${s}\"? (variables are defined by nginx, by \"map\", or by regex captures)"));
    } else {
        d = d.help("define it with a \"map\" block, or use one of nginx's variables");
    }
    d
}

fn suggest_var(name: &[u8], stream: bool) -> Option<&'static str> {
    let name = std::str::from_utf8(name).ok()?;
    let names = if stream {
        super::builtins::STREAM_NAMES
    } else {
        super::builtins::HTTP_NAMES
    };
    names
        .iter()
        .map(|n| (strsim::jaro_winkler(name, n), *n))
        .filter(|(s, _)| *s > 0.9)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}
