//! Cached time strings, refreshed at most once a second per thread (nginx caches its time
//! the same way): `Date:` (RFC 1123), `$time_local`, `$time_iso8601`.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

struct Cache {
    second: u64,
    http: [u8; 29],
    local: String,
    iso: String,
}

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache { second: u64::MAX, http: [0; 29], local: String::new(), iso: String::new() }) };
}

fn with<R>(f: impl FnOnce(&Cache) -> R) -> R {
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.second != second {
            let s = httpdate::fmt_http_date(now);
            c.http.copy_from_slice(&s.as_bytes()[..29]);
            let (y, mo, d, h, mi, se) = civil(second);
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            c.local = format!(
                "{d:02}/{}/{y}:{h:02}:{mi:02}:{se:02} +0000",
                MONTHS[(mo - 1) as usize]
            );
            c.iso = format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}+00:00");
            c.second = second;
        }
        f(&c)
    })
}

/// A monotonic clock read cheaply: the kernel's tick (`CLOCK_MONOTONIC_COARSE`, a few
/// milliseconds coarse, read from the vDSO without the time counter), as a tokio `Instant`
/// from a base taken once. For timers re-armed by every event, which nginx itself moves
/// lazily (a timer moves only when it moves by more than 300 ms, `NGX_TIMER_LAZY_DELAY`):
/// an idle tunnel's timer, read at every message.
#[derive(Clone, Copy, Debug)]
pub struct Coarse {
    base: tokio::time::Instant,
    base_coarse: std::time::Duration,
}

impl Coarse {
    pub fn start() -> Coarse {
        Coarse {
            base: tokio::time::Instant::now(),
            base_coarse: coarse(),
        }
    }

    /// Now, to within a tick of the precise clock.
    pub fn now(&self) -> tokio::time::Instant {
        self.base + coarse().saturating_sub(self.base_coarse)
    }
}

fn coarse() -> std::time::Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// `Sat, 21 Nov 2026 14:37:01 GMT`.
pub fn http_date() -> [u8; 29] {
    with(|c| c.http)
}

/// `$time_local`: `21/Nov/2026:14:37:01 +0000` (rginx logs in UTC, as nginx does with TZ=UTC).
pub fn time_local() -> String {
    with(|c| c.local.clone())
}

/// `$time_iso8601`.
pub fn time_iso8601() -> String {
    with(|c| c.iso.clone())
}

/// The error log's timestamp: `2026/11/21 14:37:01`.
pub fn log_time() -> String {
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, mo, d, h, mi, se) = civil(second);
    format!("{y}/{mo:02}/{d:02} {h:02}:{mi:02}:{se:02}")
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An RFC 1123 date for a time in seconds since the epoch (`Last-Modified`, `Expires`).
pub fn http_date_of(secs: i64) -> String {
    let t = if secs >= 0 {
        UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH
    };
    httpdate::fmt_http_date(t)
}

/// `ngx_next_time`: the next moment that is `day_secs` after midnight (UTC).
pub fn next_time(day_secs: i64) -> i64 {
    let now = now_secs();
    let midnight = now - now.rem_euclid(86_400);
    let t = midnight + day_secs;
    if t > now {
        t
    } else {
        t + 86_400
    }
}

/// `$msec`: seconds with millisecond resolution.
pub fn msec() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// `ngx_parse_http_time`: an HTTP date in any of its three forms (`Tue, 10 Nov 2002 23:50:13`,
/// `Tuesday, 10-Dec-02 23:50:13`, `Tue Dec 10 23:50:13 2002`) to seconds since the epoch, or
/// -1 (nginx's `NGX_ERROR`, which its callers compare like any time). nginx's parser is
/// lenient where the `httpdate` crate is not, and conditional requests must agree with it on
/// every value: the weekday is never checked, a month is known by its first letters (a `Jxx`
/// that is neither `Ja?` nor `J?n` is July), anything after the time (or the year) is ignored,
/// and a day 00 is accepted. Reads past the end see nginx's terminating NUL.
pub fn parse_http_time(value: &[u8]) -> i64 {
    #[derive(PartialEq)]
    enum Fmt {
        No,
        Rfc822,
        Rfc850,
        Isoc,
    }
    const MDAY: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let end = value.len();
    let at = |i: usize| value.get(i).copied().unwrap_or(0);
    let digit = |i: usize| at(i).is_ascii_digit();
    let num = |i: usize| u64::from(at(i).wrapping_sub(b'0'));
    let mut fmt = Fmt::No;
    let mut p = 0;
    while p < end {
        if at(p) == b',' {
            break;
        }
        if at(p) == b' ' {
            fmt = Fmt::Isoc;
            break;
        }
        p += 1;
    }
    p += 1;
    while p < end && at(p) == b' ' {
        p += 1;
    }
    if end.saturating_sub(p) < 18 || p > end {
        return -1;
    }
    let mut day = 0;
    let mut year = 0;
    if fmt != Fmt::Isoc {
        if !digit(p) || !digit(p + 1) {
            return -1;
        }
        day = num(p) * 10 + num(p + 1);
        p += 2;
        if at(p) == b' ' {
            if end - p < 18 {
                return -1;
            }
            fmt = Fmt::Rfc822;
        } else if at(p) == b'-' {
            fmt = Fmt::Rfc850;
        } else {
            return -1;
        }
        p += 1;
    }
    let month: i64 = match at(p) {
        b'J' => {
            if at(p + 1) == b'a' {
                0
            } else if at(p + 2) == b'n' {
                5
            } else {
                6
            }
        }
        b'F' => 1,
        b'M' => {
            if at(p + 2) == b'r' {
                2
            } else {
                4
            }
        }
        b'A' => {
            if at(p + 1) == b'p' {
                3
            } else {
                7
            }
        }
        b'S' => 8,
        b'O' => 9,
        b'N' => 10,
        b'D' => 11,
        _ => return -1,
    };
    p += 3;
    if (fmt == Fmt::Rfc822 && at(p) != b' ') || (fmt == Fmt::Rfc850 && at(p) != b'-') {
        return -1;
    }
    p += 1;
    if fmt == Fmt::Rfc822 {
        if !(digit(p) && digit(p + 1) && digit(p + 2) && digit(p + 3)) {
            return -1;
        }
        year = num(p) * 1000 + num(p + 1) * 100 + num(p + 2) * 10 + num(p + 3);
        p += 4;
    } else if fmt == Fmt::Rfc850 {
        if !digit(p) || !digit(p + 1) {
            return -1;
        }
        year = num(p) * 10 + num(p + 1);
        year += if year < 70 { 2000 } else { 1900 };
        p += 2;
    }
    if fmt == Fmt::Isoc {
        if at(p) == b' ' {
            p += 1;
        }
        if !digit(p) {
            return -1;
        }
        day = num(p);
        p += 1;
        if at(p) != b' ' {
            if !digit(p) {
                return -1;
            }
            day = day * 10 + num(p);
            p += 1;
        }
        if end.saturating_sub(p) < 14 {
            return -1;
        }
    }
    if at(p) != b' ' {
        return -1;
    }
    p += 1;
    // `HH:MM:SS`, two digits each.
    let two = |p: usize| (digit(p) && digit(p + 1)).then(|| num(p) * 10 + num(p + 1));
    let Some(hour) = two(p) else {
        return -1;
    };
    p += 2;
    if at(p) != b':' {
        return -1;
    }
    p += 1;
    let Some(min) = two(p) else {
        return -1;
    };
    p += 2;
    if at(p) != b':' {
        return -1;
    }
    p += 1;
    let Some(sec) = two(p) else {
        return -1;
    };
    if fmt == Fmt::Isoc {
        p += 2;
        if at(p) != b' ' {
            return -1;
        }
        p += 1;
        if !(digit(p) && digit(p + 1) && digit(p + 2) && digit(p + 3)) {
            return -1;
        }
        year = num(p) * 1000 + num(p + 1) * 100 + num(p + 2) * 10 + num(p + 3);
    }
    if hour > 23 || min > 59 || sec > 59 {
        return -1;
    }
    if day == 29 && month == 1 {
        if (year & 3) != 0 || (year % 100 == 0 && year % 400 != 0) {
            return -1;
        }
    } else if day > MDAY[month as usize] {
        return -1;
    }
    // Gauss' formula from March 1, 1 BC, in nginx's unsigned arithmetic (a day 00 or a year
    // before 1970 wraps around, and comes out as time_t does).
    let (mut month, mut year) = (month, year as i64);
    month -= 1;
    if month <= 0 {
        month += 12;
        year -= 1;
    }
    let days = 365 * year + year / 4 - year / 100 + year / 400 + 367 * month / 12 - 30 + day as i64
        - 1
        - 719_527
        + 31
        + 28;
    (days as u64)
        .wrapping_mul(86_400)
        .wrapping_add(hour * 3600 + min * 60 + sec) as i64
}

/// Seconds since the epoch to UTC date and time (Howard Hinnant's civil-from-days).
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::parse_http_time;

    /// `ngx_parse_http_time` on one value.
    fn check(value: &str, want: i64) {
        assert_eq!(parse_http_time(value.as_bytes()), want, "{value:?}");
    }

    #[test]
    fn http_times_as_nginx_parses_them() {
        // 2026-11-21 14:37:01 UTC in the three forms.
        check("Sat, 21 Nov 2026 14:37:01 GMT", 1_795_271_821);
        check("Saturday, 21-Nov-26 14:37:01 GMT", 1_795_271_821);
        check("Sat Nov 21 14:37:01 2026", 1_795_271_821);
        check("Sat Nov  1 14:37:01 2026", 1_793_543_821);
        check("Thu, 01 Jan 1970 00:00:00 GMT", 0);
        // Two-digit years: 69 is 2069, 70 is 1970.
        check("Thu, 01-Jan-70 00:00:01 GMT", 1);
        check("Tue, 01-Jan-69 00:00:00 GMT", 3_124_224_000);
        // The weekday is not checked, nor what follows the time.
        check("Mon, 21 Nov 2026 14:37:01 GMT", 1_795_271_821);
        check("Sat, 21 Nov 2026 14:37:01", 1_795_271_821);
        check("Sat, 21 Nov 2026 14:37:01 whatever", 1_795_271_821);
        check("x, 21 Nov 2026 14:37:01 GMT", 1_795_271_821);
        // Months by their first letters.
        check("Sat, 21 Nxx 2026 14:37:01 GMT", 1_795_271_821);
        check("Sat, 01 Jxx 2026 00:00:00 GMT", 1_782_864_000);
        check("Sat, 01 Jun 2026 00:00:00 GMT", 1_780_272_000);
        // Leap days and month lengths.
        check("Tue, 29 Feb 2000 00:00:00 GMT", 951_782_400);
        check("Thu, 29 Feb 1900 00:00:00 GMT", -1);
        check("Thu, 29 Feb 2001 00:00:00 GMT", -1);
        check("Thu, 31 Apr 2001 00:00:00 GMT", -1);
        check("Thu, 00 Jan 1970 00:00:00 GMT", -86_400);
        // Errors.
        check("", -1);
        check("garbage", -1);
        check("Sat, 21 Nov 2026 24:00:00 GMT", -1);
        check("Sat, 21 Nov 2026 14:60:00 GMT", -1);
        check("Sat, 21 Nov 2026 14:37", -1);
        check("Sat, 21 Qov 2026 14:37:01 GMT", -1);
        check("Sat, 21 Nov 26 14:37:01 GMT", -1);
        check("Sat, 1 Nov 2026 14:37:01 GMT", -1);
        // A second before the epoch is NGX_ERROR's value.
        check("Wed, 31 Dec 1969 23:59:59 GMT", -1);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(super::civil(0), (1970, 1, 1, 0, 0, 0));
        // 2026-11-21 14:37:01 UTC
        assert_eq!(super::civil(1_795_271_821), (2026, 11, 21, 14, 37, 1));
        assert_eq!(super::civil(951_782_400), (2000, 2, 29, 0, 0, 0));
    }
}
