//! An access-log line (`log_format`, `access_log ... if=`): a compiled template evaluated
//! against whatever has variables (an HTTP request, a stream session), with nginx's escaping
//! and its `-` for a variable that is not found. The log phases that write the lines are the
//! floors above's (`http::log`, the stream session's end).

use super::Eval;
use crate::ir::log::{AccessLog, Escape};
use crate::ir::Part;
use crate::runtime::base::log::{escape_default, escape_json};

/// Whether `log`'s `if=` lets the line be written (neither empty nor "0").
pub fn condition(e: &mut impl Eval, log: &AccessLog) -> bool {
    match &log.condition {
        None => true,
        Some(t) => {
            let v = e.eval_vec(t);
            !(v.is_empty() || v == b"0")
        }
    }
}

/// One line of `log.format`, without its newline.
pub fn format(e: &mut impl Eval, log: &AccessLog, out: &mut Vec<u8>) {
    let mut value = Vec::with_capacity(64);
    for part in log.format.template.parts.iter() {
        match part {
            Part::Literal(b) => out.extend_from_slice(b),
            Part::Var(v) => {
                value.clear();
                let found = e.var(v, &mut value);
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
