//! The rewrite module's directives (`return`, `rewrite`, `set`, `break` and the condition of
//! `if`): read into ops, resolved at the end of the http block like every template.
//!
//! Scripts are not inherited: a location runs only its own (nginx's rewrite module keeps its
//! codes per level). The script of a block and its `if` blocks, which hold settings of their
//! own (inheriting from the enclosing level, like a location), are `loc::script`'s: this
//! module reads and resolves single ops and knows nothing of the levels they sit in.

use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::template::{self, Raw, RawPart, Scope};
use crate::config::value;
use crate::ir::location::Return;
use crate::ir::regex::Regex;
use crate::ir::rewrite::{Cond, FileTest, Flag, Op, Rewrite, SetVar};
use crate::source::Span;
use crate::syntax::{Directive, Word};

/// One rewrite directive other than `if`, read but not resolved.
#[derive(Clone, Debug)]
pub enum RawOp {
    Return(u16, Option<Raw>),
    Rewrite {
        regex: Regex,
        uri: Raw,
        args: Option<Raw>,
        add_args: bool,
        redirect: bool,
        flag: Flag,
    },
    Set(RawSetVar, Raw),
    Break,
}

#[derive(Clone, Debug)]
pub enum RawSetVar {
    Named(Box<[u8]>, Span),
    Args,
    LimitRate,
}

#[derive(Clone, Debug)]
pub enum RawCond {
    Value(Raw),
    Compare(Raw, Raw, bool),
    Regex(Raw, Regex, bool),
    File(Raw, FileTest, bool),
}

fn invalid(l: &mut Loader, d: &Directive, w: &Word, msg: String, help: &str) {
    let e = l.arg_error(d, w, msg);
    l.error(e.help(help.to_string()));
}

/// `return code [text]`, `return code URL`, `return URL`.
pub fn ret(l: &mut Loader, d: &Directive) -> Option<RawOp> {
    let a = &d.args[0];
    let v = a.as_bytes();
    match value::number(v) {
        Some(c) if c <= 999 => {
            let text = match d.args.get(1) {
                Some(t) => Some(template::parse(l, t, d.end)?),
                None => None,
            };
            Some(RawOp::Return(c as u16, text))
        }
        None if d.args.len() == 1
            && (v.starts_with(b"http://")
                || v.starts_with(b"https://")
                || v.starts_with(b"$scheme")) =>
        {
            Some(RawOp::Return(302, Some(template::parse(l, a, d.end)?)))
        }
        _ => {
            l.error(
                Diagnostic::error(code::INVALID_VALUE, format!("invalid return code \"{}\"", a.show()), a.span)
                    .place(Place::At(d.end))
                    .help("\"return code [text];\", \"return code URL;\" or \"return URL;\" (URL starting with http://, https:// or $scheme)"),
            );
            None
        }
    }
}

/// `rewrite regex replacement [flag]` (`ngx_http_rewrite`).
pub fn rewrite(l: &mut Loader, d: &Directive) -> Option<RawOp> {
    let mut replacement = d.args[1].value.clone();
    if replacement.is_empty() {
        l.error(
            Diagnostic::error(code::INVALID_VALUE, "empty replacement", d.args[1].span)
                .place(Place::At(d.end))
                .help("write the new URI, or a URL to redirect to"),
        );
        return None;
    }
    let regex = match l.regex(d.args[0].as_bytes(), false, d.args[0].span, d.end) {
        Ok(re) => re,
        Err(e) => {
            l.error(*e);
            return None;
        }
    };
    for n in regex.names.iter().flatten() {
        l.scope.captures.insert(n.clone());
    }
    // A final "?" drops the request's arguments.
    let add_args = replacement.last() != Some(&b'?');
    if !add_args {
        replacement.truncate(replacement.len() - 1);
    }
    let mut redirect = replacement.starts_with(b"http://")
        || replacement.starts_with(b"https://")
        || replacement.starts_with(b"$scheme");
    let mut flag = Flag::None;
    if let Some(f) = d.args.get(2) {
        flag = match f.as_bytes() {
            b"last" => Flag::Last,
            b"break" => Flag::Break,
            b"redirect" => {
                redirect = true;
                Flag::Redirect
            }
            b"permanent" => {
                redirect = true;
                Flag::Permanent
            }
            _ => {
                invalid(
                    l,
                    d,
                    f,
                    format!("invalid parameter \"{}\"", f.show()),
                    "the flags are last, break, redirect and permanent",
                );
                return None;
            }
        };
    }
    let raw = template::parse_bytes(l, &replacement, d.args[1].span, d.end)?;
    // nginx splits the new arguments off at the first "?" of the literal text (not inside a
    // variable's value), except in a redirect, whose URL keeps its "?".
    let (uri, args) = if redirect {
        (raw, None)
    } else {
        split_args(raw)
    };
    Some(RawOp::Rewrite {
        regex,
        uri,
        args,
        add_args,
        redirect,
        flag,
    })
}

fn split_args(raw: Raw) -> (Raw, Option<Raw>) {
    let mut uri = Raw {
        parts: Vec::new(),
        span: raw.span,
    };
    let mut parts = raw.parts.into_iter();
    for p in parts.by_ref() {
        if let RawPart::Literal(b) = &p {
            if let Some(q) = b.iter().position(|&c| c == b'?') {
                if q > 0 {
                    uri.parts.push(RawPart::Literal(b.slice(..q)));
                }
                let mut args = Raw {
                    parts: Vec::new(),
                    span: raw.span,
                };
                if q + 1 < b.len() {
                    args.parts.push(RawPart::Literal(b.slice(q + 1..)));
                }
                args.parts.extend(parts);
                return (uri, Some(args));
            }
        }
        uri.parts.push(p);
    }
    (uri, None)
}

/// `set $variable value` (`ngx_http_rewrite_set`).
pub fn set(l: &mut Loader, d: &Directive) -> Option<RawOp> {
    let a = &d.args[0];
    let v = a.as_bytes();
    if v.first() != Some(&b'$') {
        invalid(
            l,
            d,
            a,
            format!("invalid variable name \"{}\"", a.show()),
            "the first argument of \"set\" is a variable: set $name value;",
        );
        return None;
    }
    let name = v[1..].to_ascii_lowercase();
    let value = template::parse(l, &d.args[1], d.end)?;
    let var = match name.as_slice() {
        b"args" | b"query_string" => RawSetVar::Args,
        b"limit_rate" => RawSetVar::LimitRate,
        n if l.scope.maps.contains_key(n) => RawSetVar::Named(n.into(), a.span),
        n if crate::config::builtins::http(n).is_some()
            || n.first().is_some_and(u8::is_ascii_digit) =>
        {
            invalid(
                l,
                d,
                a,
                format!("the duplicate \"{}\" variable", crate::source::show_bytes(n)),
                "nginx's own variables cannot be set, except $args and $limit_rate; pick another name",
            );
            return None;
        }
        n => {
            l.scope.declare_set(n);
            RawSetVar::Named(n.into(), a.span)
        }
    };
    Some(RawOp::Set(var, value))
}

/// The condition of an `if` (`ngx_http_rewrite_if_condition`), with nginx's messages.
pub fn condition(l: &mut Loader, d: &Directive) -> Option<RawCond> {
    let args = &d.args;
    let bad = |l: &mut Loader, w: &Word, shown: &[u8]| {
        let e = l.arg_error(
            d,
            w,
            format!("invalid condition \"{}\"", crate::source::show_bytes(shown)),
        );
        l.error(e.help("conditions are ($var), ($var = value), ($var != value), ($var ~ regex), ($var ~* regex), ($var !~ regex), (-f path), (!-f path), -d, -e, -x"));
    };
    let first = args[0].as_bytes();
    if first.first() != Some(&b'(') {
        bad(l, &args[0], first);
        return None;
    }
    // The words between the parentheses, with the parentheses cut off.
    let mut words: Vec<(&Word, Vec<u8>)> = Vec::new();
    let last_i = args.len() - 1;
    for (i, w) in args.iter().enumerate() {
        let mut v = w.as_bytes().to_vec();
        if i == 0 {
            v.remove(0);
        }
        if i == last_i {
            if v.last() != Some(&b')') {
                // nginx has already cut the "(" off a single word.
                bad(l, w, &v.clone());
                return None;
            }
            v.pop();
        }
        if v.is_empty() && (i == 0 || i == last_i) {
            continue;
        }
        words.push((w, v));
    }
    let Some((w0, v0)) = words.first().cloned() else {
        bad(l, &args[0], first);
        return None;
    };
    if v0.len() > 1 && v0[0] == b'$' {
        if words.len() != 1 && words.len() != 3 {
            bad(l, w0, &v0);
            return None;
        }
        let var = Raw {
            parts: vec![RawPart::Var(v0[1..].to_ascii_lowercase().into(), w0.span)],
            span: Some(w0.span),
        };
        if words.len() == 1 {
            return Some(RawCond::Value(var));
        }
        let (wop, op) = words[1].clone();
        let (wl, last) = words[2].clone();
        match op.as_slice() {
            b"=" | b"!=" => {
                let with = template::parse_bytes(l, &last, wl.span, d.end)?;
                Some(RawCond::Compare(var, with, op == b"="))
            }
            b"~" | b"~*" | b"!~" | b"!~*" => {
                let caseless = op.last() == Some(&b'*');
                match l.regex(&last, caseless, wl.span, d.end) {
                    Ok(re) => {
                        for n in re.names.iter().flatten() {
                            l.scope.captures.insert(n.clone());
                        }
                        Some(RawCond::Regex(var, re, op[0] != b'!'))
                    }
                    Err(e) => {
                        l.error(*e);
                        None
                    }
                }
            }
            _ => {
                let e = l.arg_error(
                    d,
                    wop,
                    format!(
                        "unexpected \"{}\" in condition",
                        crate::source::show_bytes(&op)
                    ),
                );
                l.error(e.help("the operators are =, !=, ~, ~*, !~ and !~*"));
                None
            }
        }
    } else if (v0.len() == 2 && v0[0] == b'-') || (v0.len() == 3 && v0[0] == b'!' && v0[1] == b'-')
    {
        if words.len() != 2 {
            bad(l, w0, &v0);
            return None;
        }
        let negate = v0[0] == b'!';
        let test = match v0[v0.len() - 1] {
            b'f' => FileTest::File,
            b'd' => FileTest::Dir,
            b'e' => FileTest::Exists,
            b'x' => FileTest::Exec,
            _ => {
                bad(l, w0, &v0);
                return None;
            }
        };
        let (wl, last) = words[1].clone();
        let path = template::parse_bytes(l, &last, wl.span, d.end)?;
        Some(RawCond::File(path, test, negate))
    } else {
        bad(l, w0, &v0);
        None
    }
}

/// Resolves one op; `None` for a `set` of a variable the scope does not know (reported when
/// it was read).
pub fn finish_op(l: &mut Loader, scope: &mut Scope, op: &RawOp) -> Option<Op> {
    Some(match op {
        RawOp::Return(code, text) => Op::Return(Return {
            code: *code,
            value: text.as_ref().map(|t| scope.resolve(l, t)),
        }),
        RawOp::Rewrite {
            regex,
            uri,
            args,
            add_args,
            redirect,
            flag,
        } => Op::Rewrite(Box::new(Rewrite {
            regex: regex.clone(),
            uri: scope.resolve(l, uri),
            args: args.as_ref().map(|a| scope.resolve(l, a)),
            add_args: *add_args,
            redirect: *redirect,
            flag: *flag,
        })),
        RawOp::Set(var, value) => {
            let var = match var {
                RawSetVar::Args => SetVar::Args,
                RawSetVar::LimitRate => SetVar::LimitRate,
                RawSetVar::Named(n, _) => scope.set_var(n)?,
            };
            Op::Set(var, scope.resolve(l, value))
        }
        RawOp::Break => Op::Break,
    })
}

/// Resolves the condition of an `if`.
pub fn finish_cond(l: &mut Loader, scope: &mut Scope, cond: &RawCond) -> Cond {
    match cond {
        RawCond::Value(v) => Cond::Value(scope.resolve(l, v)),
        RawCond::Compare(v, w, eq) => Cond::Compare {
            value: scope.resolve(l, v),
            with: scope.resolve(l, w),
            equal: *eq,
        },
        RawCond::Regex(v, re, m) => Cond::Regex {
            value: scope.resolve(l, v),
            regex: re.clone(),
            matches: *m,
        },
        RawCond::File(p, t, n) => Cond::File {
            path: scope.resolve(l, p),
            test: *t,
            negate: *n,
        },
    }
}
