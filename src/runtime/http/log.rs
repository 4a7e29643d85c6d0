//! The log phase: the access log lines of a finished request (`log_format`, `access_log`
//! with its `if=`), built from compiled templates with nginx's escaping and written with one
//! `write` each (O_APPEND keeps lines whole, as nginx relies on).

use crate::ir::log::{AccessLog, Escape};
use crate::ir::Part;
use crate::runtime::base::log::{escape_default, escape_json};
use crate::runtime::state::request::Request;

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

fn condition(r: &mut Request, log: &AccessLog) -> bool {
    match &log.condition {
        None => true,
        Some(t) => {
            let v = r.eval_vec(t);
            !(v.is_empty() || v == b"0")
        }
    }
}

/// One line of `log.format`.
pub fn format(r: &mut Request, log: &AccessLog, out: &mut Vec<u8>) {
    let mut value = Vec::with_capacity(64);
    for part in log.format.template.parts.iter() {
        match part {
            Part::Literal(b) => out.extend_from_slice(b),
            Part::Var(v) => {
                value.clear();
                let found = r.var(v, &mut value);
                match log.format.escape {
                    Escape::Default => {
                        if found {
                            escape_default(&value, out)
                        } else {
                            out.push(b'-')
                        }
                    }
                    Escape::None => {
                        if found {
                            out.extend_from_slice(&value)
                        } else {
                            out.push(b'-')
                        }
                    }
                    Escape::Json => escape_json(&value, out),
                }
            }
        }
    }
}
