//! nginx's value syntaxes: flags, times, sizes, offsets and numbers (S1.14), with nginx's
//! exact acceptance rules and overflow limits (`ngx_parse_time`, `ngx_parse_size`,
//! `ngx_parse_offset`, `ngx_atoi`), and `expires` values (`ngx_http_parse_expires`).
//!
//! They sit with the IR because two layers read them: `config` parses every literal
//! argument with them, and the runtime parses the one value nginx parses per request, an
//! `expires` whose argument has variables. Pure functions of bytes.

use std::time::Duration;

/// `on` / `off`, compared case-insensitively as nginx does.
pub fn flag(v: &[u8]) -> Option<bool> {
    if v.eq_ignore_ascii_case(b"on") {
        Some(true)
    } else if v.eq_ignore_ascii_case(b"off") {
        Some(false)
    } else {
        None
    }
}

/// `ngx_atoi`: decimal digits only, no sign, no overflow.
pub fn number(v: &[u8]) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((b - b'0') as i64)?;
    }
    Some(n)
}

/// `ngx_parse_size`: a number with an optional `k`/`K` or `m`/`M` suffix.
pub fn size(v: &[u8]) -> Option<u64> {
    let (digits, scale) = match v.last()? {
        b'k' | b'K' => (&v[..v.len() - 1], 1024u64),
        b'm' | b'M' => (&v[..v.len() - 1], 1024 * 1024),
        _ => (v, 1),
    };
    let n = number(digits)? as u64;
    // ssize_t limits, as nginx checks them before scaling.
    let max = (i64::MAX as u64) / scale;
    if n > max {
        return None;
    }
    Some(n * scale)
}

/// `ngx_parse_offset`: like [`size`], also with `g`/`G`.
pub fn offset(v: &[u8]) -> Option<u64> {
    let (digits, scale) = match v.last()? {
        b'k' | b'K' => (&v[..v.len() - 1], 1024u64),
        b'm' | b'M' => (&v[..v.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&v[..v.len() - 1], 1024 * 1024 * 1024),
        _ => (v, 1),
    };
    let n = number(digits)? as u64;
    let max = (i64::MAX as u64) / scale;
    if n > max {
        return None;
    }
    Some(n * scale)
}

/// `ngx_parse_time`: units `y M w d h m s ms` from most to least significant, each once,
/// optional spaces after a unit, a trailing bare number meaning seconds. For millisecond
/// values (`is_sec == false`) `y` and `M` are rejected and the result is in milliseconds.
fn parse_time(v: &[u8], is_sec: bool) -> Option<i64> {
    #[derive(PartialEq, PartialOrd, Clone, Copy)]
    enum Step {
        Start,
        Year,
        Month,
        Week,
        Day,
        Hour,
        Min,
        Sec,
        Msec,
        Last,
    }
    const MAX: i64 = i64::MAX;
    let mut step = if is_sec { Step::Start } else { Step::Month };
    let (mut value, mut total, mut valid) = (0i64, 0i64, false);
    let mut p = 0;
    while p < v.len() {
        let c = v[p];
        if c.is_ascii_digit() {
            value = value.checked_mul(10)?.checked_add((c - b'0') as i64)?;
            valid = true;
            p += 1;
            continue;
        }
        p += 1;
        let (next, mut scale): (Step, i64) = match c {
            b'y' if step <= Step::Start => (Step::Year, 60 * 60 * 24 * 365),
            b'M' if step < Step::Month => (Step::Month, 60 * 60 * 24 * 30),
            b'w' if step < Step::Week => (Step::Week, 60 * 60 * 24 * 7),
            b'd' if step < Step::Day => (Step::Day, 60 * 60 * 24),
            b'h' if step < Step::Hour => (Step::Hour, 60 * 60),
            b'm' if p < v.len() && v[p] == b's' => {
                if is_sec || step >= Step::Msec {
                    return None;
                }
                p += 1;
                (Step::Msec, 1)
            }
            b'm' if step < Step::Min => (Step::Min, 60),
            b's' if step < Step::Sec => (Step::Sec, 1),
            b' ' if step < Step::Sec => (Step::Last, 1),
            _ => return None,
        };
        step = next;
        let mut max = MAX / scale;
        if step != Step::Msec && !is_sec {
            scale *= 1000;
            max /= 1000;
        }
        if value > max {
            return None;
        }
        value *= scale;
        if total > MAX - value {
            return None;
        }
        total += value;
        value = 0;
        while p < v.len() && v[p] == b' ' {
            p += 1;
        }
    }
    if !valid {
        return None;
    }
    if !is_sec {
        if value > MAX / 1000 {
            return None;
        }
        value *= 1000;
    }
    if total > MAX - value {
        return None;
    }
    Some(total + value)
}

/// A millisecond-resolution time (`proxy_read_timeout 61s`).
pub fn msec(v: &[u8]) -> Option<Duration> {
    parse_time(v, false).map(|ms| Duration::from_millis(ms as u64))
}

/// A second-resolution time (`keepalive_timeout`'s header value, `expires`, ...).
pub fn sec(v: &[u8]) -> Option<Duration> {
    parse_time(v, true).map(|s| Duration::from_secs(s as u64))
}

/// A second-resolution time as nginx's signed value (for `expires`).
pub fn sec_signed(v: &[u8]) -> Option<i64> {
    parse_time(v, true)
}

/// `ngx_http_parse_expires`.
pub fn parse_expires(
    v: &[u8],
    modified: bool,
) -> Result<crate::ir::location::Expires, &'static str> {
    if v == b"epoch" {
        return Ok(crate::ir::location::Expires::Epoch);
    }
    if v == b"max" {
        return Ok(crate::ir::location::Expires::Max);
    }
    if v == b"off" {
        return Ok(crate::ir::location::Expires::Off);
    }
    let (daily, rest) = match v.first() {
        Some(b'@') => (true, &v[1..]),
        _ => (false, v),
    };
    let (minus, rest) = match rest.first() {
        Some(b'+') => (false, &rest[1..]),
        Some(b'-') => (true, &rest[1..]),
        _ => (false, rest),
    };
    let secs = sec_signed(rest).ok_or("invalid value")?;
    if daily {
        if secs > 24 * 60 * 60 {
            return Err("daily time value must be less than 24 hours");
        }
        return Ok(crate::ir::location::Expires::Daily { seconds: secs });
    }
    let seconds = if minus { -secs } else { secs };
    let _ = modified;
    Ok(crate::ir::location::Expires::Delta { seconds, modified })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_follow_s1_14() {
        let ok: &[(&str, u64)] = &[
            ("61s", 61_000),
            ("1m30s", 90_000),
            ("1h 30m", 5_400_000),
            ("500ms", 500),
            ("2d", 172_800_000),
            ("10", 10_000),
            ("0", 0),
            ("1m30", 90_000),
            ("1w", 604_800_000),
        ];
        for (s, ms) in ok {
            assert_eq!(msec(s.as_bytes()), Some(Duration::from_millis(*ms)), "{s}");
        }
        for bad in [
            "30s1m", "1.5s", "1y", "1M", "1S", "", "s", "5x", "1m1m", "-1",
        ] {
            assert_eq!(msec(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(sec(b"1y"), Some(Duration::from_secs(31_536_000)));
        assert_eq!(sec(b"1M"), Some(Duration::from_secs(2_592_000)));
        assert_eq!(sec(b"1ms"), None);
    }

    #[test]
    fn sizes_follow_s1_14() {
        assert_eq!(size(b"1m"), Some(1_048_576));
        assert_eq!(size(b"1M"), Some(1_048_576));
        assert_eq!(size(b"8k"), Some(8192));
        assert_eq!(size(b"100"), Some(100));
        assert_eq!(size(b"1g"), None);
        assert_eq!(offset(b"1g"), Some(1 << 30));
        for bad in ["1.5m", "1mb", "", "k", "-1"] {
            assert_eq!(size(bad.as_bytes()), None, "{bad}");
            assert_eq!(offset(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn flags_are_case_insensitive() {
        assert_eq!(flag(b"ON"), Some(true));
        assert_eq!(flag(b"off"), Some(false));
        assert_eq!(flag(b"maybe"), None);
    }
}
