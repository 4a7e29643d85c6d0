//! `map` blocks (S8), read as nginx's `ngx_http_map` handler reads them.

use std::collections::HashMap;

use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::template::{self, Raw, Scope};
use crate::ir::map::Map;
use crate::ir::regex::Regex;
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Clone, Debug)]
pub struct MapRaw {
    pub name: Box<[u8]>,
    pub name_span: Span,
    pub source: Raw,
    pub exact: Vec<(Box<[u8]>, Raw, Span)>,
    pub wildcard_head: Vec<(Box<[u8]>, Raw)>,
    pub wildcard_tail: Vec<(Box<[u8]>, Raw)>,
    pub regexes: Vec<(Regex, Raw)>,
    pub default: Option<Raw>,
    pub hostnames: bool,
    pub volatile: bool,
    /// For the hash size check (`map_hash_bucket_size`).
    pub longest_key: Option<(usize, Span)>,
}

/// Reads `map SOURCE $name { ... }`; returns it with the variable name.
pub fn parse(l: &mut Loader, d: &Directive) -> Option<MapRaw> {
    let source = template::parse(l, &d.args[0], d.end)?;
    let name = &d.args[1];
    let n = name.as_bytes();
    if n.first() != Some(&b'$') {
        let e = l.arg_error(
            d,
            name,
            format!("invalid variable name \"{}\"", name.show()),
        );
        l.error(
            e.help("the second argument is the variable the map defines, e.g. $connection_upgrade"),
        );
        return None;
    }
    let var: Box<[u8]> = n[1..].to_ascii_lowercase().into();
    if crate::config::builtins::is_builtin(&var, l.scope.stream) {
        l.error(
            Diagnostic::error(
                code::MAP,
                format!(
                    "the duplicate \"{}\" variable",
                    crate::source::show_bytes(&var)
                ),
                name.span,
            )
            .place(Place::At(d.end))
            .label("an nginx variable")
            .help("a map cannot redefine one of nginx's variables; choose another name"),
        );
        return None;
    }
    let mut m = MapRaw {
        name: var,
        name_span: name.span,
        source,
        exact: Vec::new(),
        wildcard_head: Vec::new(),
        wildcard_tail: Vec::new(),
        regexes: Vec::new(),
        default: None,
        hostnames: false,
        volatile: false,
        longest_key: None,
    };
    let mut default_span: Option<Span> = None;
    // Exact keys seen so far (lowercased), for nginx's "conflicting parameter".
    let mut seen: HashMap<Box<[u8]>, Span> = HashMap::new();
    l.walk_lines(d, &mut |l, line| {
        let words: Vec<&crate::syntax::Word> = std::iter::once(&line.name)
            .chain(line.args.iter())
            .collect();
        if words.len() == 1 && line.name.is("hostnames") {
            m.hostnames = true;
            return;
        }
        if words.len() == 1 && line.name.is("volatile") {
            m.volatile = true;
            return;
        }
        if words.len() != 2 {
            l.error(
                Diagnostic::error(
                    code::MAP,
                    "invalid number of the map parameters",
                    line.head_span(),
                )
                .place(Place::At(line.end))
                .help("each line is \"key value;\" (quote a value with spaces)"),
            );
            return;
        }
        let Some(value) = template::parse(l, words[1], line.end) else {
            return;
        };
        let key = words[0];
        let k = key.as_bytes();
        if key.is("default") {
            if let Some(first) = default_span {
                l.error(
                    Diagnostic::error(
                        code::MAP,
                        "duplicate default map parameter",
                        line.head_span(),
                    )
                    .place(Place::At(line.end))
                    .also(first, "first default here"),
                );
                return;
            }
            default_span = Some(line.head_span());
            m.default = Some(value);
            return;
        }
        if k.first() == Some(&b'~') {
            let (caseless, pat) = if k.get(1) == Some(&b'*') {
                (true, &k[2..])
            } else {
                (false, &k[1..])
            };
            match l.regex(pat, caseless, key.span, line.end) {
                Ok(re) => {
                    for n in re.names.iter().flatten() {
                        l.scope.captures.insert(n.clone());
                    }
                    m.regexes.push((re, value))
                }
                Err(e) => {
                    l.error(*e);
                }
            }
            return;
        }
        let k = if k.first() == Some(&b'\\') {
            &k[1..]
        } else {
            k
        };
        let lower: Box<[u8]> = k.to_ascii_lowercase().into();
        if m.hostnames && is_wildcard(&lower) {
            match wildcard(&lower) {
                Some(Wild::Head(suffix)) => m.wildcard_head.push((suffix, value)),
                Some(Wild::Tail(prefix)) => m.wildcard_tail.push((prefix, value)),
                Some(Wild::Dot(suffix)) => {
                    m.wildcard_head.push((suffix.clone(), value.clone()));
                    let exact: Box<[u8]> = suffix[1..].into();
                    if conflict(l, &mut seen, &exact, key, line) {
                        return;
                    }
                    m.exact.push((exact, value, key.span));
                }
                None => {
                    l.error(
                        Diagnostic::error(
                            code::MAP,
                            format!("invalid hostname or wildcard \"{}\"", key.show()),
                            key.span,
                        )
                        .place(Place::At(line.end)),
                    );
                }
            }
            return;
        }
        if conflict(l, &mut seen, &lower, key, line) {
            return;
        }
        if m.longest_key.is_none_or(|(n, _)| lower.len() > n) {
            m.longest_key = Some((lower.len(), key.span));
        }
        m.exact.push((lower, value, key.span));
    });
    Some(m)
}

fn conflict(
    l: &mut Loader,
    seen: &mut HashMap<Box<[u8]>, Span>,
    k: &[u8],
    key: &crate::syntax::Word,
    line: &Directive,
) -> bool {
    if let Some(first) = seen.get(k) {
        l.error(
            Diagnostic::error(
                code::MAP,
                format!("conflicting parameter \"{}\"", crate::source::show_bytes(k)),
                key.span,
            )
            .place(Place::At(line.end))
            .also(*first, "the same key (keys compare case-insensitively)")
            .help("remove one of the two lines"),
        );
        return true;
    }
    seen.insert(k.into(), key.span);
    false
}

fn is_wildcard(k: &[u8]) -> bool {
    k.first() == Some(&b'*') || k.first() == Some(&b'.') || k.last() == Some(&b'*')
}

enum Wild {
    /// `*.a.com`: the suffix `.a.com`.
    Head(Box<[u8]>),
    /// `.a.com`: `*.a.com` and `a.com`.
    Dot(Box<[u8]>),
    /// `www.*`: the prefix `www.`.
    Tail(Box<[u8]>),
}

/// nginx's wildcard rules (`ngx_hash_add_key` with NGX_HASH_WILDCARD_KEY).
fn wildcard(k: &[u8]) -> Option<Wild> {
    let stars = k.iter().filter(|b| **b == b'*').count();
    if k.len() > 1 && k.starts_with(b"*.") && stars == 1 {
        return Some(Wild::Head(k[1..].into()));
    }
    if k.len() > 1 && k[0] == b'.' && stars == 0 {
        return Some(Wild::Dot(k.into()));
    }
    if k.len() > 2 && k.ends_with(b".*") && stars == 1 {
        return Some(Wild::Tail(k[..k.len() - 1].into()));
    }
    None
}

/// Resolves a map into the IR.
pub fn finish(l: &mut Loader, scope: &mut Scope, m: &MapRaw) -> Map {
    let mut exact = HashMap::new();
    for (k, v, _) in &m.exact {
        exact.insert(k.clone(), scope.resolve(l, v));
    }
    let mut head: Vec<(Box<[u8]>, crate::ir::Template)> = m
        .wildcard_head
        .iter()
        .map(|(k, v)| (k.clone(), scope.resolve(l, v)))
        .collect();
    head.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
    let mut tail: Vec<(Box<[u8]>, crate::ir::Template)> = m
        .wildcard_tail
        .iter()
        .map(|(k, v)| (k.clone(), scope.resolve(l, v)))
        .collect();
    tail.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
    Map {
        name: String::from_utf8_lossy(&m.name).into(),
        source: scope.resolve(l, &m.source),
        exact,
        wildcard_head: head,
        wildcard_tail: tail,
        regexes: m
            .regexes
            .iter()
            .map(|(r, v)| (r.clone(), scope.resolve(l, v)))
            .collect(),
        default: m.default.as_ref().map(|v| scope.resolve(l, v)),
        hostnames: m.hostnames,
        volatile: m.volatile,
    }
}

/// nginx's hash bucket check: an element of `len` bytes needs `align8(len + 10) + 8` bytes of
/// a bucket (`NGX_HASH_ELT_SIZE` plus the terminating pointer).
/// `could not build map_hash`: a key longer than a hash bucket holds (nginx checks it when
/// the block that has the map, `http` or `stream`, is finished).
pub fn check_bucket(l: &mut Loader, m: &MapRaw, bucket: u64, block: &str) {
    if let Some((len, span)) = m.longest_key {
        if !fits_bucket(len, bucket) {
            l.error(
                Diagnostic::error(
                    code::HASH,
                    format!("could not build map_hash, you should increase map_hash_bucket_size: {bucket}"),
                    span,
                )
                .place(Place::Nowhere)
                .label(format!("this key is {len} bytes long"))
                .help(format!(
                    "add \"map_hash_bucket_size {};\" to the {block} block",
                    (len + 18).div_ceil(64) * 64
                )),
            );
        }
    }
}

pub fn fits_bucket(len: usize, bucket_size: u64) -> bool {
    let bucket = bucket_size.div_ceil(64) * 64;
    let elt = (len + 10).div_ceil(8) * 8 + 8;
    elt as u64 <= bucket
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_limit_matches_nginx() {
        // Observed: keys of 46 bytes fit the default 64-byte bucket, 47 do not.
        assert!(fits_bucket(46, 64));
        assert!(!fits_bucket(47, 64));
        assert!(fits_bucket(100, 128));
    }
}
