//! Compiling nginx's (PCRE) regular expressions with the `regex` crate, at load time.
//!
//! nginx matches bytes without PCRE's UTF mode, so patterns are compiled for bytes with
//! Unicode classes off (`\w`, `\d`, `.` work on bytes as in PCRE). Constructs PCRE has and
//! the `regex` crate lacks (backreferences, lookaround, atomic groups, possessive
//! quantifiers, ...) are reported with the construct named and located; a lone `{` that is
//! not a repetition, which PCRE takes literally, is escaped.

use std::sync::Arc;

use super::diagnostic::{code, Diagnostic, Place};
use crate::ir::regex::Regex;
use crate::source::Span;

impl crate::config::load::Loader {
    /// Compiles a pattern once per load: thousands of locations often share one regex, and
    /// a compiled regex is cheap to clone.
    pub fn regex(
        &mut self,
        pattern: &[u8],
        caseless: bool,
        span: Span,
        end: Span,
    ) -> Result<Regex, Box<Diagnostic>> {
        let cache = &mut self.regex_cache[caseless as usize];
        if let Some(re) = cache.get(pattern) {
            return Ok(re.clone());
        }
        let re = compile(pattern, caseless, span, end)?;
        cache.insert(Box::from(pattern), re.clone());
        Ok(re)
    }
}

/// Compiles a pattern; `span` is where it is written, `end` where nginx reports.
pub fn compile(
    pattern: &[u8],
    caseless: bool,
    span: Span,
    end: Span,
) -> Result<Regex, Box<Diagnostic>> {
    let text = match std::str::from_utf8(pattern) {
        Ok(t) => t,
        Err(_) => {
            return Err(Box::new(
                Diagnostic::error(
                    code::REGEX,
                    format!(
                        "regular expression \"{}\" is not valid UTF-8, which rginx cannot compile",
                        crate::source::show_bytes(pattern)
                    ),
                    span,
                )
                .place(Place::At(end)),
            ))
        }
    };
    if let Some((at, construct, help)) = unsupported_construct(text) {
        let s = sub_span(span, at, 2);
        // The commonest case has a direct equivalent: "dot files except .well-known".
        let help = if text.contains("(?!well-known") {
            "match the exception first: \"location ^~ /.well-known/ { }\" before \"location ~ /\\. { deny all; }\""
        } else {
            help
        };
        return Err(Box::new(
            Diagnostic::error(
                code::REGEX,
                format!("regular expression \"{text}\" uses {construct}, which is not supported by rginx"),
                s,
            )
            .place(Place::At(end))
            .label(construct)
            .help(help),
        ));
    }
    let translated = translate(text);
    let re = regex::bytes::RegexBuilder::new(&translated)
        .unicode(false)
        .case_insensitive(caseless)
        .build();
    match re {
        Ok(re) => {
            let names: Arc<[Option<Arc<str>>]> =
                re.capture_names().map(|n| n.map(Arc::from)).collect();
            Ok(Regex {
                re: Arc::new(re),
                pattern: Arc::from(text),
                caseless,
                names,
            })
        }
        Err(e) => {
            let reason = match &e {
                regex::Error::Syntax(s) => {
                    pcre_wording(s.lines().last().unwrap_or(s).trim_start_matches("error: "))
                }
                other => other.to_string(),
            };
            Err(Box::new(
                Diagnostic::error(
                    code::REGEX,
                    format!("pcre2_compile() failed: {reason} in \"{text}\""),
                    span,
                )
                .place(Place::At(end))
                .label("invalid regular expression"),
            ))
        }
    }
}

/// PCRE2's words for the errors both engines reject, so messages read as nginx's.
fn pcre_wording(reason: &str) -> String {
    let map: &[(&str, &str)] = &[
        ("unclosed group", "missing closing parenthesis"),
        ("unopened group", "unmatched closing parenthesis"),
        (
            "unclosed character class",
            "missing terminating ] for character class",
        ),
        (
            "repetition operator missing expression",
            "quantifier does not follow a repeatable item",
        ),
        (
            "invalid escape sequence",
            "unrecognized character follows \\",
        ),
        ("incomplete escape sequence", "\\ at end of pattern"),
    ];
    for (ours, pcre) in map {
        if reason.contains(ours) {
            return (*pcre).to_string();
        }
    }
    reason.to_string()
}

fn sub_span(span: Span, at: usize, len: usize) -> Span {
    let start = (span.start as usize + at).min(span.end as usize);
    Span::new(
        span.file,
        start,
        (start + len).min(span.end as usize).max(start),
    )
}

/// Finds the first PCRE construct the `regex` crate cannot do.
fn unsupported_construct(p: &str) -> Option<(usize, &'static str, &'static str)> {
    let b = p.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            let n = b.get(i + 1).copied();
            if !in_class {
                match n {
                    Some(b'1'..=b'9') => {
                        return Some((i, "a backreference", "backreferences cannot be expressed; match the parts separately (e.g. with a map)"))
                    }
                    Some(b'k') | Some(b'g') => {
                        return Some((i, "a backreference", "backreferences cannot be expressed; match the parts separately (e.g. with a map)"))
                    }
                    Some(b'K') => return Some((i, "\\K (match reset)", "capture the part you need with a group instead")),
                    Some(b'G') => return Some((i, "\\G", "anchor with ^ instead")),
                    Some(b'Z') => return Some((i, "\\Z", "use \\z, or $ without multi-line mode")),
                    Some(b'R') | Some(b'X') | Some(b'C') => {
                        return Some((i, "a PCRE-only escape", "spell out the characters it stands for"))
                    }
                    Some(b'h') | Some(b'H') | Some(b'v') | Some(b'V') => {
                        return Some((i, "a PCRE-only escape", "spell out the characters it stands for (e.g. [ \\t])"))
                    }
                    _ => {}
                }
            }
            i += 2;
            continue;
        }
        if in_class {
            if c == b']' {
                in_class = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'[' => {
                in_class = true;
                // `[]...]` and `[^]...]`: a leading `]` is literal.
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b'(' if b.get(i + 1) == Some(&b'?') => {
                let rest = &p[i + 2..];
                if rest.starts_with('=') || rest.starts_with('!') {
                    return Some((
                        i,
                        "a lookahead",
                        "match without looking ahead, or split the rule in two locations",
                    ));
                }
                if rest.starts_with("<=") || rest.starts_with("<!") {
                    return Some((
                        i,
                        "a lookbehind",
                        "match without looking behind, or split the rule in two locations",
                    ));
                }
                if rest.starts_with('>') {
                    return Some((i, "an atomic group", "use a plain group (?:...)"));
                }
                if rest.starts_with('\'') {
                    return Some((
                        i,
                        "a (?'name'...) group",
                        "write named groups as (?<name>...)",
                    ));
                }
                if rest.starts_with('(') {
                    return Some((
                        i,
                        "a conditional group",
                        "split the rule into separate patterns",
                    ));
                }
                if rest.starts_with('R')
                    || rest.starts_with(|ch: char| ch.is_ascii_digit())
                    || rest.starts_with('&')
                    || rest.starts_with("P>")
                {
                    return Some((
                        i,
                        "a recursive pattern",
                        "recursion cannot be expressed with the regex crate",
                    ));
                }
                if rest.starts_with('|') {
                    return Some((i, "a branch reset group", "use a plain group (?:...)"));
                }
                if rest.starts_with('#') {
                    return Some((i, "a comment group", "remove the (?#...) comment"));
                }
                if rest.starts_with('C') {
                    return Some((i, "a callout", "remove the callout"));
                }
            }
            b'(' if b.get(i + 1) == Some(&b'*') => {
                return Some((i, "a backtracking control verb", "remove the (*VERB)"));
            }
            b'+' if i > 0
                && matches!(b[i - 1], b'*' | b'+' | b'?' | b'}')
                && !is_escaped(b, i - 1) =>
            {
                return Some((i, "a possessive quantifier", "drop the trailing \"+\""));
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_escaped(b: &[u8], i: usize) -> bool {
    let mut n = 0;
    let mut j = i;
    while j > 0 && b[j - 1] == b'\\' {
        n += 1;
        j -= 1;
    }
    n % 2 == 1
}

/// Rewrites what PCRE reads literally and the `regex` crate would reject: a `{` that does not
/// start a repetition `{n}`, `{n,}` or `{n,m}`.
fn translate(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len() + 4);
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            out.push('\\');
            if let Some(ch) = p[i + 1..].chars().next() {
                out.push(ch);
                i += 1 + ch.len_utf8();
            } else {
                i += 1;
            }
            continue;
        }
        if in_class {
            if c == b']' {
                in_class = false;
            }
        } else if c == b'[' {
            in_class = true;
            out.push('[');
            i += 1;
            if b.get(i) == Some(&b'^') {
                out.push('^');
                i += 1;
            }
            if b.get(i) == Some(&b']') {
                out.push_str("\\]");
                i += 1;
            }
            continue;
        } else if c == b'{' && !is_repetition(&b[i..]) {
            out.push_str("\\{");
            i += 1;
            continue;
        } else if c == b'}' {
            // Only reached when not closing a repetition (those are copied whole below).
            out.push_str("\\}");
            i += 1;
            continue;
        }
        if c == b'{' {
            // A repetition: copy it whole.
            let end = b[i..]
                .iter()
                .position(|x| *x == b'}')
                .map(|e| i + e + 1)
                .unwrap_or(b.len());
            out.push_str(&p[i..end]);
            i = end;
            continue;
        }
        let ch = p[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

fn is_repetition(b: &[u8]) -> bool {
    // `{n}`, `{n,}`, `{n,m}` (PCRE2 10.42 also takes `{,m}` literally).
    let mut i = 1;
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    if !digits(&mut i) {
        return false;
    }
    if i < b.len() && b[i] == b',' {
        i += 1;
        digits(&mut i);
    }
    i < b.len() && b[i] == b'}'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn span() -> Span {
        Span::new(FileId(0), 0, 10)
    }

    fn check(p: &str) -> Result<Regex, Box<Diagnostic>> {
        compile(p.as_bytes(), false, span(), span())
    }

    #[test]
    fn pcre_constructs_are_named() {
        let cases = [
            (r"^/(a)\1", "a backreference"),
            (r"^/(?=x)", "a lookahead"),
            (r"^/(?<!x)y", "a lookbehind"),
            (r"^/(?>x)", "an atomic group"),
            (r"^/a++", "a possessive quantifier"),
            (r"^/a\Z", "\\Z"),
        ];
        for (p, what) in cases {
            let e = check(p).unwrap_err();
            assert!(e.message.contains(what), "{p}: {}", e.message);
        }
    }

    #[test]
    fn pcre_literal_braces_and_bytes() {
        let re = check(r"^/api/{version}/x{2}$").unwrap();
        assert!(re.re.is_match(b"/api/{version}/xx"));
        let re = check(r"\.(gif|jpg)$").unwrap();
        assert!(re.re.is_match(b"/a.gif"));
        let re = check(r"^/(?<sub>\w+)\.re$").unwrap();
        assert_eq!(re.names[1].as_deref(), Some("sub"));
        // Bytes that are not UTF-8 still match `.`.
        let re = check(r"^/a.b$").unwrap();
        assert!(re.re.is_match(b"/a\xffb"));
        let re = compile(b"^/CASE$", true, span(), span()).unwrap();
        assert!(re.re.is_match(b"/case"));
        assert!(check("^(").is_err());
    }
}
