//! The rewrite module at one level: the block's script (`return`, `rewrite`, `set`, `if`,
//! `break`, read by `lower::rewrite`) and `uninitialized_variable_warn`.
//!
//! Scripts are not inherited: a level runs only its own, so this family has nothing to merge.

use std::sync::Arc;

use super::LocBuilder;
use crate::config::load::Loader;
use crate::config::lower::log::LogCx;
use crate::config::lower::shared::{LocKind, Shared};
use crate::config::lower::{or, rewrite};
use crate::config::registry::Spec;
use crate::config::template::Scope;
use crate::ir::rewrite::Script;
use crate::syntax::Directive;

/// Handles a directive of this family in a block of kind `at`; false if `d` is not one.
pub(super) fn directive(
    b: &mut LocBuilder,
    l: &mut Loader,
    d: &Directive,
    spec: &'static Spec,
    at: &LocKind,
) -> bool {
    if rewrite::directive(b, l, d, spec, at) {
        return true;
    }
    match spec.name {
        "uninitialized_variable_warn" => {
            flag!(l, d, b.rest_mut().uninitialized_variable_warn)
        }
        _ => return false,
    }
    true
}

/// The block's script, resolved (its `if` blocks finished as locations of their own), and
/// `uninitialized_variable_warn`.
pub(super) fn finish(
    b: &LocBuilder,
    l: &mut Loader,
    scope: &mut Scope,
    logs: &mut LogCx,
    shared: &mut Shared,
) -> (Option<Arc<Script>>, bool) {
    let script = b.script.as_deref().map(|ops| {
        let mut fin =
            |l: &mut Loader, scope: &mut Scope, b: &LocBuilder| b.finish(l, scope, logs, shared);
        Arc::new(rewrite::finish(l, scope, ops, b, &mut fin))
    });
    (script, or(&b.rest().uninitialized_variable_warn, true))
}
