//! Lowering: from checked directives to the IR.
//!
//! Each context has a builder with one file here (`main`, `http`, `server`, `location`,
//! `upstream`, `map`), and the directives that may appear at several levels (http, server,
//! location) share one [`loc::LocBuilder`], merged downwards at the end exactly as nginx's
//! `merge_loc_conf` functions do: a level inherits a setting only if it does not set it
//! itself, and list settings (`proxy_set_header`, `add_header`, `error_page`) are inherited
//! all or nothing. Every builder reads arguments through the typed helpers below, which
//! report nginx's messages.
//!
//! Imports point one way: [`loc`] uses [`proxy`], [`websockify`] and [`rewrite`], never the
//! reverse, and
//! the types they share ([`shared::LocKind`], [`shared::Shared`]) live in [`shared`], which
//! knows none of them.

pub mod http;
pub mod loc;
pub mod location;
pub mod log;
pub mod main;
pub mod map;
pub mod proxy;
pub mod rewrite;
pub mod server;
pub mod shared;
pub mod ssl;
pub mod ssl_context;
pub mod stream;
pub mod upstream;
pub mod websockify;

use std::time::Duration;

use super::diagnostic::{code, Diagnostic, Place};
use super::load::{directive_error, duplicate, Loader};
use super::registry::Spec;
use super::value;
use crate::source::Span;
use crate::syntax::{Directive, Word};

/// A value set by a directive, with where it was set.
#[derive(Clone, Debug)]
pub struct Set<T> {
    pub value: T,
    pub span: Span,
}

/// A single-value setting: unset, or set once.
pub type Slot<T> = Option<Set<T>>;

/// Fills an unset slot from the enclosing level (nginx's `ngx_conf_merge_*_value`).
pub fn inherit<T: Clone>(child: &mut Slot<T>, parent: &Slot<T>) {
    if child.is_none() {
        child.clone_from(parent);
    }
}

/// The value of a slot, or nginx's default.
pub fn or<T: Clone>(slot: &Slot<T>, default: T) -> T {
    slot.as_ref().map(|s| s.value.clone()).unwrap_or(default)
}

impl Loader {
    /// Sets a single-value slot, reporting `"x" directive is duplicate` if it is set.
    pub fn once<T>(&mut self, slot: &mut Slot<T>, d: &Directive, value: T) {
        if let Some(first) = slot {
            let first = first.span;
            self.error(duplicate(d, &d.name.show(), first));
            return;
        }
        *slot = Some(Set {
            value,
            span: d.head_span(),
        });
    }

    /// Whether a slot is already set, reporting the duplicate if so.
    pub fn is_dup<T>(&mut self, slot: &Slot<T>, d: &Directive) -> bool {
        if let Some(first) = slot {
            let first = first.span;
            self.error(duplicate(d, &d.name.show(), first));
            return true;
        }
        false
    }

    /// `on` / `off`.
    pub fn flag_arg(&mut self, d: &Directive) -> Option<bool> {
        let a = &d.args[0];
        match value::flag(a.as_bytes()) {
            Some(v) => Some(v),
            None => {
                self.error(
                    Diagnostic::error(
                        code::INVALID_VALUE,
                        format!(
                            "invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                            a.show(),
                            d.name.show()
                        ),
                        a.span,
                    )
                    .place(Place::At(d.end))
                    .help("use \"on\" or \"off\""),
                );
                None
            }
        }
    }

    /// A millisecond time (`"x" directive invalid value`).
    pub fn msec_arg(&mut self, d: &Directive, i: usize) -> Option<Duration> {
        let v = value::msec(d.args[i].as_bytes());
        if v.is_none() {
            self.error(time_error(d, i));
        }
        v
    }

    /// A second-resolution time.
    pub fn sec_arg(&mut self, d: &Directive, i: usize) -> Option<Duration> {
        let v = value::sec(d.args[i].as_bytes());
        if v.is_none() {
            self.error(time_error(d, i));
        }
        v
    }

    /// A size (`k`, `m`).
    pub fn size_arg(&mut self, d: &Directive, i: usize) -> Option<u64> {
        let v = value::size(d.args[i].as_bytes());
        if v.is_none() {
            self.error(
                directive_error(d, &d.name.show(), "invalid value")
                    .help("sizes are a number with an optional k or m suffix, e.g. 8k or 1m"),
            );
        }
        v
    }

    /// An offset (`k`, `m`, `g`).
    pub fn off_arg(&mut self, d: &Directive, i: usize) -> Option<u64> {
        let v = value::offset(d.args[i].as_bytes());
        if v.is_none() {
            self.error(
                directive_error(d, &d.name.show(), "invalid value")
                    .help("sizes are a number with an optional k, m or g suffix, e.g. 10m"),
            );
        }
        v
    }

    /// A non-negative number (`"x" directive invalid number`).
    pub fn num_arg(&mut self, d: &Directive, i: usize) -> Option<i64> {
        let v = value::number(d.args[i].as_bytes());
        if v.is_none() {
            self.error(directive_error(d, &d.name.show(), "invalid number"));
        }
        v
    }

    /// An error worded by the handler, at a word, placed at the directive's end.
    pub fn arg_error(&mut self, d: &Directive, w: &Word, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code::INVALID_VALUE, message, w.span).place(Place::At(d.end))
    }
}

/// A directive the table marks implemented in a context whose builder does not handle it:
/// a bug in rginx, reported rather than ignored.
pub fn unreachable_directive(l: &mut Loader, d: &Directive, spec: &Spec) {
    l.error(
        Diagnostic::error(
            code::NOT_SUPPORTED,
            format!(
                "\"{}\" directive is not supported by rginx in this context",
                spec.name
            ),
            d.head_span(),
        )
        .place(Place::At(d.end))
        .help("this is a gap in rginx's directive table; please report it"),
    );
}

fn time_error(d: &Directive, i: usize) -> Diagnostic {
    Diagnostic::error(
        code::INVALID_VALUE,
        format!("\"{}\" directive invalid value", d.name.show()),
        d.args[i].span,
    )
    .place(Place::At(d.end))
    .label("not a valid time")
    .help("times are like 60s, 1m30s, \"1h 30m\" or 500ms (units ms s m h d w, largest first)")
}
