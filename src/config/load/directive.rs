//! One directive against the table, as nginx's `ngx_conf_handler` does it: find it for the
//! current context, check its terminator and number of arguments, then act on its support
//! level (hand it to the lowering, note it, or refuse it).
//!
//! `include` is handed to `include.rs`; the values of generic slots are checked by
//! `generic.rs`; the words of the messages are `messages.rs`'s.

use super::messages::{not_supported, unknown_help};
use super::{BlockState, Loader, OnDirective};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::registry::{self, Found, Spec, Support};
use crate::syntax::{Directive, Terminator};

/// Blocks whose bodies are `key value;` lines rather than directives.
pub const CUSTOM_BODY: &[&str] = &["map", "types", "geo", "split_clients", "charset_map"];

/// The context a block directive opens, inside `parent`.
pub fn block_context(spec: &Spec, parent: u32) -> u32 {
    use registry::*;
    match (spec.name, spec.module) {
        ("events", _) => EVENTS,
        ("http", _) => HTTP,
        ("mail", _) => MAIL,
        ("stream", _) => STREAM,
        ("server", "ngx_http_core_module") => SRV,
        ("server", "ngx_mail_core_module") => MAIL_SRV,
        ("server", "ngx_stream_core_module") => STREAM_SRV,
        ("location", _) => LOC,
        ("upstream", "ngx_http_upstream_module") => UPS,
        ("upstream", _) => STREAM_UPS,
        ("if", _) if parent & SRV != 0 => SIF,
        ("if", _) => LIF,
        ("limit_except", _) => LMT,
        _ => 0,
    }
}

impl Loader {
    /// Checks one directive in `context` and hands it on: `include` is expanded, implemented
    /// directives go to `on`, the others are noted or refused.
    pub(super) fn directive(
        &mut self,
        d: &Directive,
        context: u32,
        state: &mut BlockState,
        on: &mut OnDirective<'_>,
    ) {
        let Some(spec) = self.find_spec(d, context) else {
            return;
        };
        if !self.check_form(d, spec) {
            return;
        }
        if spec.name == "include" {
            self.include(d, context, state, on);
            return;
        }
        self.by_support(d, spec, context, state, on);
    }

    /// The table's entry for `d` in `context`, or `None` after reporting a directive that is
    /// unknown or not allowed here.
    fn find_spec(&mut self, d: &Directive, context: u32) -> Option<&'static Spec> {
        let name = d.name.as_bytes();
        let loaded = self.loaded_modules.clone();
        match registry::find(name, context, &|so| loaded.contains(so)) {
            Found::Allowed(spec) => Some(spec),
            Found::NotAllowed(spec) => {
                let allowed = registry::context_names(spec.contexts).join(", ");
                self.error(
                    Diagnostic::error(
                        code::NOT_ALLOWED,
                        format!("\"{}\" directive is not allowed here", d.name.show()),
                        d.name.span,
                    )
                    .place(Place::At(d.end))
                    .label("not allowed in this context")
                    .help(format!("\"{}\" is allowed in: {allowed}", spec.name)),
                );
                None
            }
            Found::Unknown => {
                let mut diag = Diagnostic::error(
                    code::UNKNOWN_DIRECTIVE,
                    format!("unknown directive \"{}\"", d.name.show()),
                    d.name.span,
                )
                .place(Place::At(d.end))
                .label("unknown directive");
                let key = (Box::<[u8]>::from(name), context);
                let help = match self.suggestions.get(&key) {
                    Some(h) => h.clone(),
                    None => {
                        let h = unknown_help(name, context, &loaded);
                        self.suggestions.insert(key, h.clone());
                        h
                    }
                };
                diag = match help {
                    Some(h) => diag.help(h),
                    None => diag,
                };
                self.error(diag);
                None
            }
        }
    }

    /// Whether `d` is terminated as `spec` wants (`;` or a block) and has a number of
    /// arguments it takes; reports the first problem.
    fn check_form(&mut self, d: &Directive, spec: &'static Spec) -> bool {
        if !spec.is_block() && d.terminator == Terminator::BlockStart {
            self.error(
                Diagnostic::error(
                    code::BLOCK,
                    format!("directive \"{}\" is not terminated by \";\"", spec.name),
                    d.end,
                )
                .label("a block opens here")
                .help(format!(
                    "\"{}\" takes no block: end it with \";\"",
                    spec.name
                )),
            );
            return false;
        }
        if spec.is_block() && d.terminator == Terminator::Semicolon {
            self.error(
                Diagnostic::error(
                    code::BLOCK,
                    format!("directive \"{}\" has no opening \"{{\"", spec.name),
                    d.end,
                )
                .label("expected \"{\" here")
                .help(format!(
                    "\"{}\" is a block: \"{} ... {{ ... }}\"",
                    spec.name, spec.name
                )),
            );
            return false;
        }
        if !spec.accepts_arg_count(d.args.len()) {
            self.error(
                Diagnostic::error(
                    code::ARGUMENTS,
                    format!("invalid number of arguments in \"{}\" directive", spec.name),
                    d.head_span(),
                )
                .place(Place::At(d.end))
                .label(format!("{} argument(s) given", d.args.len()))
                .help(format!(
                    "\"{}\" takes {} argument(s)",
                    spec.name,
                    spec.arity_text()
                )),
            );
            return false;
        }
        true
    }

    /// Acts on the support level of a well-formed directive: an implemented one goes to the
    /// lowering, an ignored or inert one is checked as nginx would and noted, an unsupported
    /// one is refused (unless its value is nginx's default).
    fn by_support(
        &mut self,
        d: &Directive,
        spec: &'static Spec,
        context: u32,
        state: &mut BlockState,
        on: &mut OnDirective<'_>,
    ) {
        match spec.support {
            Support::Implemented => on(self, d, spec),
            Support::Ignored => {
                if self.check_generic(d, spec, state) {
                    self.diags.push(
                        Diagnostic::note(
                            code::IGNORED,
                            format!("\"{}\" is accepted and ignored", spec.name),
                            d.head_span(),
                        )
                        .why("process or performance tuning: it cannot change what a client or an upstream sees"),
                    );
                }
            }
            Support::Inert(feature) => {
                if self.check_generic(d, spec, state) {
                    self.diags.push(
                        Diagnostic::note(
                            code::INERT,
                            format!("\"{}\" has no effect", spec.name),
                            d.head_span(),
                        )
                        .why(format!(
                            "it tunes \"{feature}\", which rginx does not do and which is not switched on here"
                        )),
                    );
                }
                self.walk_refused(d, spec, context);
            }
            Support::Unsupported(harmless) => {
                let is_harmless = d.args.len() == 1
                    && harmless
                        .iter()
                        .any(|h| d.args[0].as_bytes().eq_ignore_ascii_case(h.as_bytes()));
                if is_harmless {
                    if self.check_generic(d, spec, state) {
                        self.diags.push(
                            Diagnostic::note(
                                code::IGNORED,
                                format!(
                                    "\"{} {}\" is nginx's default and changes nothing",
                                    spec.name,
                                    d.args[0].show()
                                ),
                                d.head_span(),
                            )
                            .why(
                                "rginx does not support this directive, but this value is a no-op",
                            ),
                        );
                    }
                    return;
                }
                self.error(not_supported(d, spec));
                self.walk_refused(d, spec, context);
            }
        }
    }

    /// Walks the block of a directive rginx refused or ignores, checking only what nginx
    /// would reject (unknown directives, contexts, arguments, generic values).
    fn walk_refused(&mut self, d: &Directive, spec: &'static Spec, parent: u32) {
        let Some(block) = &d.block else { return };
        if CUSTOM_BODY.contains(&spec.name) {
            if !block.complete {
                self.syntax_error(d.file());
            }
            return;
        }
        let context = block_context(spec, parent);
        let mut state = BlockState::default();
        let mut nothing = |l: &mut Loader, d: &Directive, spec: &'static Spec| {
            let mut st = BlockState::default();
            l.check_generic(d, spec, &mut st);
            l.walk_refused(d, spec, context);
        };
        self.walk_block(block, d.file(), context, &mut state, &mut nothing);
    }
}
