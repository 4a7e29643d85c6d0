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
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil(0), (1970, 1, 1, 0, 0, 0));
        // 2026-11-21 14:37:01 UTC
        assert_eq!(super::civil(1_795_271_821), (2026, 11, 21, 14, 37, 1));
        assert_eq!(super::civil(951_782_400), (2000, 2, 29, 0, 0, 0));
    }
}
