//! The variables read from request and upstream headers: `$http_*` (with nginx 1.22's
//! joining of `Cookie` and `X-Forwarded-For`), `$cookie_*`, `$remote_user`,
//! `$upstream_cookie_*`.

use base64::Engine;

use crate::ir::header::Known;
use crate::ir::var::HeaderVar;
use crate::runtime::base::http1::request::RequestHead;

/// Whether a header name matches a variable suffix (`user_agent` for `User-Agent`).
pub fn header_name_is(header: &[u8], var: &[u8]) -> bool {
    header.len() == var.len()
        && header.iter().zip(var).all(|(&h, &v)| {
            let h = match h {
                b'-' => b'_',
                b'A'..=b'Z' => h | 0x20,
                _ => h,
            };
            h == v
        })
}

/// `$http_NAME`: the first line; `Cookie` lines joined with `; ` and `X-Forwarded-For` lines
/// with `, ` (nginx 1.22.1). A header of nginx's tables is read from its slot; another is
/// found by comparing names, as nginx's `ngx_http_variable_unknown_header` does.
pub fn http_header(h: &RequestHead, var: &HeaderVar, out: &mut Vec<u8>) -> bool {
    match var.known {
        Some(k) => {
            let sep: Option<&[u8]> = match k {
                Known::Cookie => Some(b"; "),
                Known::XForwardedFor => Some(b", "),
                _ => None,
            };
            join(h.known_all(k), sep, out)
        }
        None => {
            let lines = (0..h.headers.len())
                .map(|i| h.header(i))
                .filter(|(n, _)| header_name_is(n, &var.name))
                .map(|(_, v)| v);
            join(lines, None, out)
        }
    }
}

/// The first value, or all of them with `sep` between them.
fn join<'a>(values: impl Iterator<Item = &'a [u8]>, sep: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
    let mut found = false;
    for v in values {
        if found {
            match sep {
                Some(s) => out.extend_from_slice(s),
                None => return true,
            }
        }
        out.extend_from_slice(v);
        found = true;
    }
    found
}

/// `$cookie_NAME` (ngx_http_parse_multi_header_lines).
pub fn cookie(h: &RequestHead, name: &[u8], out: &mut Vec<u8>) -> bool {
    for v in h.known_all(Known::Cookie) {
        if name.len() > v.len() {
            continue;
        }
        if let Some(value) = cookie_in(v, name) {
            out.extend_from_slice(value);
            return true;
        }
    }
    false
}

/// The value of cookie `name` in one `Cookie` line.
fn cookie_in<'a>(v: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut s = 0;
    while s < v.len() {
        let matches = v.len() - s >= name.len() && v[s..s + name.len()].eq_ignore_ascii_case(name);
        if matches {
            let mut p = s + name.len();
            while p < v.len() && v[p] == b' ' {
                p += 1;
            }
            if p < v.len() && v[p] == b'=' {
                p += 1;
                while p < v.len() && v[p] == b' ' {
                    p += 1;
                }
                let end = v[p..]
                    .iter()
                    .position(|&b| b == b';')
                    .map_or(v.len(), |e| p + e);
                return Some(&v[p..end]);
            }
            s = p;
        }
        // Skip to the next `;` or `,`, then spaces.
        while s < v.len() {
            let c = v[s];
            s += 1;
            if c == b';' || c == b',' {
                break;
            }
        }
        while s < v.len() && v[s] == b' ' {
            s += 1;
        }
    }
    None
}

/// `$upstream_cookie_NAME`: the value of a `Set-Cookie` whose cookie name matches.
pub fn set_cookie_value<'a>(v: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let eq = v.iter().position(|&b| b == b'=')?;
    if !v[..eq].trim_ascii().eq_ignore_ascii_case(name) {
        return None;
    }
    let rest = &v[eq + 1..];
    let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
    Some(&rest[..end])
}

/// `$remote_user` from `Authorization: Basic ...`.
pub fn remote_user(h: &RequestHead, out: &mut Vec<u8>) -> bool {
    let Some(v) = h.known(Known::Authorization) else {
        return false;
    };
    if v.len() < 6 || !v[..6].eq_ignore_ascii_case(b"basic ") {
        return false;
    }
    let encoded = v[6..].trim_ascii();
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        return false;
    };
    let user = match decoded.iter().position(|&b| b == b':') {
        Some(i) => &decoded[..i],
        None => return false,
    };
    out.extend_from_slice(user);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_match_variable_suffixes() {
        assert!(header_name_is(b"User-Agent", b"user_agent"));
        assert!(header_name_is(b"X-FORWARDED-FOR", b"x_forwarded_for"));
        assert!(!header_name_is(b"X_Forwarded_For", b"x-forwarded-for"));
        assert!(!header_name_is(b"Host", b"hos"));
    }

    #[test]
    fn set_cookie_values() {
        assert_eq!(
            set_cookie_value(b"sid=abc; Path=/", b"SID"),
            Some(&b"abc"[..])
        );
        assert_eq!(set_cookie_value(b"other=1", b"sid"), None);
    }
}
