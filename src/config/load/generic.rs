//! The values of directives that use one of nginx's generic slots (`ngx_conf_set_flag_slot`,
//! `ngx_conf_set_msec_slot`, ...), checked as those functions would for the directives rginx
//! ignores, finds inert or refuses, so that a file nginx rejects is rejected here too.
//!
//! Implemented directives are not checked here: their lowering reads their values itself.

use super::messages::{directive_error, duplicate, invalid_value};
use super::{BlockState, Loader};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::registry::{Kind, Spec};
use crate::config::value;
use crate::syntax::Directive;

impl Loader {
    /// Checks the value of a directive that uses one of nginx's generic slots, as nginx's
    /// slot function would. Returns whether it was fine.
    pub fn check_generic(
        &mut self,
        d: &Directive,
        spec: &'static Spec,
        state: &mut BlockState,
    ) -> bool {
        let dup = matches!(
            spec.kind,
            Kind::Flag
                | Kind::Msec
                | Kind::Sec
                | Kind::Size
                | Kind::Off
                | Kind::Num
                | Kind::Str
                | Kind::Enum(_)
                | Kind::Bufs
                | Kind::Path
        );
        if dup {
            if let Some(first) = state.seen.get(spec.name) {
                let first = *first;
                self.error(duplicate(d, spec.name, first));
                return false;
            }
            state.seen.insert(spec.name, d.head_span());
        }
        let arg = d.args.first();
        let ok = match spec.kind {
            Kind::Flag => match arg.map(|a| value::flag(a.as_bytes())) {
                Some(Some(_)) => true,
                _ => {
                    let a = arg.map(|a| a.show()).unwrap_or_default();
                    self.error(
                        Diagnostic::error(
                            code::INVALID_VALUE,
                            format!(
                                "invalid value \"{a}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                                spec.name
                            ),
                            arg.map(|a| a.span).unwrap_or(d.name.span),
                        )
                        .place(Place::At(d.end))
                        .help("use \"on\" or \"off\""),
                    );
                    return false;
                }
            },
            Kind::Msec => arg.is_some_and(|a| value::msec(a.as_bytes()).is_some()),
            Kind::Sec => arg.is_some_and(|a| value::sec(a.as_bytes()).is_some()),
            Kind::Size => arg.is_some_and(|a| value::size(a.as_bytes()).is_some()),
            Kind::Off => arg.is_some_and(|a| value::offset(a.as_bytes()).is_some()),
            Kind::Num => {
                if arg.is_some_and(|a| value::number(a.as_bytes()).is_some()) {
                    true
                } else {
                    self.error(directive_error(d, spec.name, "invalid number"));
                    return false;
                }
            }
            Kind::Bufs => {
                let n = d.args.first().and_then(|a| value::number(a.as_bytes()));
                let s = d.args.get(1).and_then(|a| value::size(a.as_bytes()));
                matches!((n, s), (Some(n), Some(s)) if n > 0 && s > 0)
            }
            Kind::Enum(values) => {
                let a = arg.map(|a| a.as_bytes()).unwrap_or_default();
                if values.iter().any(|v| v.as_bytes().eq_ignore_ascii_case(a)) {
                    true
                } else {
                    self.error(invalid_value(d, 0, values));
                    return false;
                }
            }
            Kind::Bitmask(values) => {
                for (i, a) in d.args.iter().enumerate() {
                    if !values
                        .iter()
                        .any(|v| v.as_bytes().eq_ignore_ascii_case(a.as_bytes()))
                    {
                        self.error(invalid_value(d, i, values));
                        return false;
                    }
                }
                true
            }
            Kind::Obsolete(new) => {
                self.error(
                    Diagnostic::warning(
                        code::OBSOLETE,
                        format!(
                            "the \"{}\" directive is obsolete, use the \"{new}\" directive instead",
                            spec.name
                        ),
                        d.head_span(),
                    )
                    .place(Place::At(d.end))
                    .help(format!("replace it with \"{new}\"")),
                );
                return false;
            }
            Kind::Str | Kind::Path | Kind::KeyVal | Kind::StrArray | Kind::Custom => true,
        };
        if !ok {
            self.error(directive_error(d, spec.name, "invalid value"));
        }
        ok
    }
}
