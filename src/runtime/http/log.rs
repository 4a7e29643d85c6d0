//! The log phase: the access log lines of a finished request (`log_format`, `access_log`
//! with its `if=`), built from compiled templates with nginx's escaping and written with one
//! `write` each (O_APPEND keeps lines whole, as nginx relies on).

use crate::runtime::state::request::Request;
use crate::runtime::vars::line::{condition, format};

/// Writes the access log lines of a finished request.
pub fn access(r: &mut Request) {
    let logs = r.conf.access_log.clone();
    if logs.is_empty() {
        return;
    }
    let mut line = Vec::with_capacity(256);
    for log in logs.iter() {
        if !condition(r, log) {
            continue;
        }
        line.clear();
        format(r, log, &mut line);
        line.push(b'\n');
        r.snap.logs.write(&log.target, &line);
    }
}
