//! The rewrite module at one level: the block's script (`return`, `rewrite`, `set`, `break`,
//! read by `lower::rewrite`), its `if` blocks, and `uninitialized_variable_warn`.
//!
//! An `if` block is a level of its own: it holds a [`LocBuilder`] that inherits from the
//! block it is in and is finished like a location, so it lives here, with the builder, and
//! `lower::rewrite` reads and resolves single ops without knowing of levels. Scripts are not
//! inherited: a level runs only its own, so this family has nothing to merge.

use std::sync::Arc;

use super::LocBuilder;
use crate::config::load::Loader;
use crate::config::lower::log::LogCx;
use crate::config::lower::rewrite::{self, RawCond, RawOp};
use crate::config::lower::shared::{LocKind, Shared};
use crate::config::lower::{or, unreachable_directive};
use crate::config::registry::{Spec, Support, LIF, SIF};
use crate::config::template::Scope;
use crate::ir::rewrite::{If, Op, Script};
use crate::syntax::Directive;

/// One entry of a block's script, read but not resolved.
#[derive(Clone, Debug)]
pub enum ScriptOp {
    Op(RawOp),
    /// `if (condition) { ... }`: the condition and the block's own settings and script.
    If(RawCond, Box<LocBuilder>),
}

/// Handles a directive of this family in a block of kind `at`; false if `d` is not one.
pub(super) fn directive(
    b: &mut LocBuilder,
    l: &mut Loader,
    d: &Directive,
    spec: &'static Spec,
    at: &LocKind,
) -> bool {
    let op = match spec.name {
        "return" => rewrite::ret(l, d).map(ScriptOp::Op),
        "rewrite" => rewrite::rewrite(l, d).map(ScriptOp::Op),
        "set" => rewrite::set(l, d).map(ScriptOp::Op),
        "break" => Some(ScriptOp::Op(RawOp::Break)),
        "if" => if_block(l, d, at),
        "uninitialized_variable_warn" => {
            flag!(l, d, b.rest_mut().uninitialized_variable_warn);
            return true;
        }
        _ => return false,
    };
    if let Some(op) = op {
        b.script.get_or_insert_with(Default::default).push(op);
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
    let script = b
        .script
        .as_deref()
        .map(|ops| Arc::new(finish_script(l, scope, logs, shared, ops, b)));
    (script, or(&b.rest().uninitialized_variable_warn, true))
}

/// `if (condition) { ... }` (`ngx_http_rewrite_if`).
fn if_block(l: &mut Loader, d: &Directive, at: &LocKind) -> Option<ScriptOp> {
    let cond = rewrite::condition(l, d)?;
    let inner = LocKind {
        name: at.name.clone(),
        named: at.named,
        regex: at.regex,
        is_location: at.is_location,
        in_if: true,
    };
    let context = if at.is_location { LIF } else { SIF };
    let mut block = LocBuilder::default();
    l.walk(d, context, &mut |l, d, spec: &'static Spec| {
        if !block.directive(l, d, spec, &inner) && spec.support == Support::Implemented {
            unreachable_directive(l, d, spec);
        }
    });
    Some(ScriptOp::If(cond, Box::new(block)))
}

/// Resolves a block's script; an `if` block's settings inherit from `parent` (the block the
/// `if` is in, already merged) and are finished like a location's.
fn finish_script(
    l: &mut Loader,
    scope: &mut Scope,
    logs: &mut LogCx,
    shared: &mut Shared,
    ops: &[ScriptOp],
    parent: &LocBuilder,
) -> Script {
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            ScriptOp::Op(op) => {
                if let Some(op) = rewrite::finish_op(l, scope, op) {
                    out.push(op);
                }
            }
            ScriptOp::If(cond, block) => {
                let cond = rewrite::finish_cond(l, scope, cond);
                let mut merged = (**block).clone();
                merged.inherit_for_if(parent);
                let conf = Arc::new(merged.finish(l, scope, logs, shared));
                let inner = block
                    .script
                    .as_deref()
                    .map(|s| finish_script(l, scope, logs, shared, s, &merged))
                    .unwrap_or_default();
                out.push(Op::If(Box::new(If {
                    cond,
                    conf,
                    script: inner,
                })));
            }
        }
    }
    Script { ops: out.into() }
}
