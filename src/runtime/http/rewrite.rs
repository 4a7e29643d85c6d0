//! Running a rewrite script (`ngx_http_rewrite_handler` and the script codes): `return`,
//! `rewrite`, `set`, `if` and `break`, in order, against the request.
//!
//! Nothing here waits: a script only computes (and tests files), so it runs synchronously and
//! tells the phase runner how it ended.

use std::os::unix::fs::PermissionsExt;

use bytes::Bytes;

use crate::ir::location::Return;
use crate::ir::rewrite::{Cond, FileTest, Flag, Op, Rewrite, SetVar};
use crate::ir::{Level, Part, Template, Var};
use crate::runtime::state::captures::Captures;
use crate::runtime::state::log;
use crate::runtime::state::request::{MapSlot, Request};

/// How a script ended.
#[derive(Debug)]
pub enum Flow {
    /// It ran to its end.
    Go,
    /// `break`, or `rewrite ... break`: stay in this location.
    Break,
    /// `rewrite ... last`: search the location for the new URI.
    Last,
    /// `return`.
    Return(Return),
    /// A status to finalize with (a redirect's 301/302 with its `Location` set, or 500).
    Status(u16),
}

/// Runs `ops` from the first; an `if` whose condition holds switches to its configuration
/// and runs its own directives in line.
pub fn run(r: &mut Request, ops: &[Op]) -> Flow {
    for op in ops {
        match op {
            Op::Return(ret) => return Flow::Return(ret.clone()),
            Op::Break => return Flow::Break,
            Op::Set(var, value) => set(r, *var, value),
            Op::Rewrite(rw) => match rewrite(r, rw) {
                Flow::Go => {}
                other => return other,
            },
            Op::If(block) => {
                if condition(r, &block.cond) {
                    r.conf = block.conf.clone();
                    r.update_location_config();
                    match run(r, &block.script.ops) {
                        Flow::Go => {}
                        other => return other,
                    }
                }
            }
        }
    }
    Flow::Go
}

fn set(r: &mut Request, var: SetVar, value: &Template) {
    let v = r.eval_vec(value);
    match var {
        SetVar::Var(i) => {
            let i = i as usize;
            if r.set_vars.len() <= i {
                r.set_vars
                    .resize(r.snap.http().set_vars.len().max(i + 1), None);
            }
            r.set_vars[i] = Some(Bytes::from(v));
        }
        SetVar::Args => r.args = (!v.is_empty()).then(|| Bytes::from(v)),
        SetVar::LimitRate => {}
        SetVar::Map(id) => {
            let i = id.0 as usize;
            if r.maps.len() <= i {
                r.maps
                    .resize(r.snap.http().maps.len().max(i + 1), MapSlot::Unset);
            }
            r.maps[i] = MapSlot::Value(Some(v));
        }
    }
}

/// `ngx_http_script_regex_start_code` / `_end_code` for `rewrite`.
fn rewrite(r: &mut Request, rw: &Rewrite) -> Flow {
    let Some(caps) = Captures::from_regex(&rw.regex, &r.uri) else {
        return Flow::Go;
    };
    r.matched(caps);
    // Captures are escaped (as arguments) in a redirect and in new arguments when the
    // client's URI was escaped, as nginx does.
    let quoted = r.head.quoted_uri || r.head.plus_in_uri;
    if rw.redirect {
        let mut url = eval_rewrite(r, &rw.uri, quoted);
        url = unescape_redirect(&url);
        if rw.add_args && !r.args().is_empty() {
            url.push(b'?');
            url.extend_from_slice(r.args());
        }
        r.out.set_location(url);
        return Flow::Status(if rw.flag == Flag::Permanent { 301 } else { 302 });
    }
    r.internal = true;
    r.uri_changed = true;
    if rw.flag == Flag::Break {
        r.valid_location = false;
        r.uri_research = false;
    } else {
        r.uri_research = true;
    }
    let uri = eval_rewrite(r, &rw.uri, false);
    match &rw.args {
        Some(t) => {
            let mut args = eval_rewrite(r, t, quoted);
            if rw.add_args && !r.args().is_empty() {
                args.push(b'&');
                args.extend_from_slice(r.args());
            }
            r.args = Some(Bytes::from(args));
        }
        None => {
            if !rw.add_args {
                r.args = None;
            }
        }
    }
    if uri.is_empty() {
        log::error(
            r,
            Level::Error,
            format_args!("the rewritten URI has a zero length"),
        );
        return Flow::Status(500);
    }
    r.uri = uri;
    match rw.flag {
        Flag::Last => Flow::Last,
        Flag::Break => Flow::Break,
        _ => Flow::Go,
    }
}

/// A replacement's value, with captures escaped (`NGX_ESCAPE_ARGS`) when `quote`.
fn eval_rewrite(r: &mut Request, t: &Template, quote: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for p in t.parts.iter() {
        match p {
            Part::Literal(b) => out.extend_from_slice(b),
            Part::Var(v @ (Var::Capture(_) | Var::NamedCapture(_))) if quote => {
                let mut raw = Vec::new();
                r.var(v, &mut raw);
                escape_args(&raw, &mut out);
            }
            Part::Var(v) => {
                r.var(v, &mut out);
            }
        }
    }
    out
}

/// `ngx_escape_uri(NGX_ESCAPE_ARGS)`.
pub fn escape_args(src: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in src {
        let escape = b <= 0x20
            || b >= 0x7f
            || matches!(
                b,
                b'"' | b'#'
                    | b'%'
                    | b'&'
                    | b'+'
                    | b';'
                    | b'<'
                    | b'>'
                    | b'?'
                    | b'\\'
                    | b'^'
                    | b'`'
                    | b'{'
                    | b'|'
                    | b'}'
            );
        if escape {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        } else {
            out.push(b);
        }
    }
}

/// `ngx_unescape_uri(NGX_UNESCAPE_REDIRECT)`: `%XX` decoded for printable characters above
/// `%`, up to the first `?`; the rest is copied as it is.
fn unescape_redirect(src: &[u8]) -> Vec<u8> {
    fn hex(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            _ => match c | 0x20 {
                c @ b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            },
        }
    }
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        let ch = src[i];
        if ch == b'?' {
            out.extend_from_slice(&src[i..]);
            return out;
        }
        if ch != b'%' {
            out.push(ch);
            i += 1;
            continue;
        }
        // nginx's states: an invalid first digit drops the '%'; an invalid second digit
        // drops the '%', the first digit and itself.
        let Some(&c1) = src.get(i + 1) else {
            return out;
        };
        let Some(h) = hex(c1) else {
            out.push(c1);
            i += 2;
            continue;
        };
        let Some(&c2) = src.get(i + 2) else {
            return out;
        };
        let Some(l) = hex(c2) else {
            i += 3;
            continue;
        };
        let d = (h << 4) | l;
        if d == b'?' && !c2.is_ascii_digit() {
            // A decoded "?" (only from a hex letter, as nginx's code goes) ends the path.
            out.push(d);
            out.extend_from_slice(&src[i + 3..]);
            return out;
        }
        if d > b'%' && d < 0x7f {
            out.push(d);
        } else {
            out.extend_from_slice(&src[i..i + 3]);
        }
        i += 3;
    }
    out
}

/// An `if` condition.
fn condition(r: &mut Request, cond: &Cond) -> bool {
    match cond {
        Cond::Value(t) => {
            let v = r.eval_vec(t);
            !(v.is_empty() || v == b"0")
        }
        Cond::Compare { value, with, equal } => {
            let v = r.eval_vec(value);
            let w = r.eval_vec(with);
            (v == w) == *equal
        }
        Cond::Regex {
            value,
            regex,
            matches,
        } => {
            let v = r.eval_vec(value);
            let hit = match Captures::from_regex(regex, &v) {
                Some(caps) => {
                    r.matched(caps);
                    true
                }
                None => {
                    // A miss clears the numbered captures (nginx's r->ncaptures = 0).
                    r.captures = None;
                    false
                }
            };
            hit == *matches
        }
        Cond::File { path, test, negate } => {
            let p = r.eval_vec(path);
            let meta = std::fs::metadata(std::ffi::OsStr::from_bytes(&p));
            let ok = match (test, &meta) {
                (FileTest::File, Ok(m)) => m.is_file(),
                (FileTest::Dir, Ok(m)) => m.is_dir(),
                (FileTest::Exists, Ok(_)) => true,
                (FileTest::Exec, Ok(m)) => m.is_file() && m.permissions().mode() & 0o100 != 0,
                (_, Err(_)) => false,
            };
            ok != *negate
        }
    }
}

use std::os::unix::ffi::OsStrExt;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_args_matches_nginx_table() {
        let mut out = Vec::new();
        escape_args(b"a b&c=d/e?f#g%h+i;j~k", &mut out);
        assert_eq!(out, b"a%20b%26c=d/e%3Ff%23g%25h%2Bi%3Bj~k");
    }

    #[test]
    fn redirect_unescaping() {
        assert_eq!(unescape_redirect(b"/a%41%2F%20b"), b"/aA/%20b");
        assert_eq!(unescape_redirect(b"/x?a=%41"), b"/x?a=%41");
        assert_eq!(unescape_redirect(b"/%zz"), b"/zz");
    }
}

#[cfg(test)]
mod script_tests {
    use super::*;
    use crate::runtime::testing::env;

    /// Runs the first location's script for `target` and reports the outcome, the URI and the
    /// arguments afterwards.
    fn after(location_body: &str, target: &str) -> (String, String, String) {
        let e = env(&format!(
            "server {{ listen 127.0.0.1:8080; location / {{ {location_body} }} }}"
        ));
        let mut r = e.request(&format!("GET {target} HTTP/1.1\r\nHost: h.test\r\n\r\n"));
        r.conf = r.server().locations[0].conf.clone();
        let script = r.conf.script.clone().expect("script");
        let flow = match run(&mut r, &script.ops) {
            Flow::Go => "go".to_string(),
            Flow::Break => "break".to_string(),
            Flow::Last => "last".to_string(),
            Flow::Return(ret) => format!("return {}", ret.code),
            Flow::Status(s) => {
                let loc = r
                    .out
                    .location
                    .map(|i| String::from_utf8_lossy(&r.out.headers[i].value).into_owned());
                format!("{s} {}", loc.unwrap_or_default())
            }
        };
        (
            flow,
            String::from_utf8_lossy(&r.uri).into_owned(),
            String::from_utf8_lossy(r.args()).into_owned(),
        )
    }

    #[test]
    fn rewrite_flags_and_arguments() {
        let t = |body: &str, target: &str, want: (&str, &str, &str)| {
            let got = after(body, target);
            assert_eq!(
                (got.0.as_str(), got.1.as_str(), got.2.as_str()),
                want,
                "{body} {target}"
            );
        };
        t(
            "rewrite ^/a/(.*)$ /b/$1 last;",
            "/a/x?q=1",
            ("last", "/b/x", "q=1"),
        );
        t(
            "rewrite ^/a/(.*)$ /b/$1 break;",
            "/a/x",
            ("break", "/b/x", ""),
        );
        t("rewrite ^/a/(.*)$ /b/$1;", "/a/x", ("go", "/b/x", ""));
        t("rewrite ^/nomatch /b last;", "/a/x", ("go", "/a/x", ""));
        // New arguments, the request's appended; a final "?" drops them.
        t(
            "rewrite ^ /b?n=1 last;",
            "/a?q=1",
            ("last", "/b", "n=1&q=1"),
        );
        t("rewrite ^ /b?n=1? last;", "/a?q=1", ("last", "/b", "n=1"));
        t("rewrite ^ /b? last;", "/a?q=1", ("last", "/b", ""));
        // Redirects: relative (made absolute later) and absolute, arguments kept.
        t(
            "rewrite ^ /new permanent;",
            "/a?q=1",
            ("301 /new?q=1", "/a", "q=1"),
        );
        t("rewrite ^ /new redirect;", "/a", ("302 /new", "/a", ""));
        t(
            "rewrite ^ http://ext.test/path;",
            "/a",
            ("302 http://ext.test/path", "/a", ""),
        );
        // set, if and return.
        t(
            "set $v abc; if ($v = abc) { return 418; }",
            "/",
            ("return 418", "/", ""),
        );
        t(
            "if ($arg_x) { return 403; } return 200;",
            "/?x=0",
            ("return 200", "/", "x=0"),
        );
        t(
            "if ($arg_x) { return 403; } return 200;",
            "/?x=1",
            ("return 403", "/", "x=1"),
        );
        t(
            "if ($uri ~* ^/(?<first>[a-z]+)/) { rewrite ^ /$first last; }",
            "/Abc/x",
            ("last", "/Abc", ""),
        );
        t(
            "if ($uri !~ ^/z) { break; } return 404;",
            "/a",
            ("break", "/a", ""),
        );
        t(
            "set $args n=2; return 200;",
            "/?q=1",
            ("return 200", "/", "n=2"),
        );
        t(
            "if (!-f /nonexistent/file) { return 404; }",
            "/",
            ("return 404", "/", ""),
        );
        t("if (-d /) { return 204; }", "/", ("return 204", "/", ""));
    }
}
