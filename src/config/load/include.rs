//! `include`: a file or a glob, relative to the main file's directory (S1.7), read once and
//! walked in place; include cycles are refused.
//!
//! The lines of `map` and `types` blocks expand `include` through the same
//! [`Loader::include_targets`] and [`Loader::enter_include`], from `walk_lines`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{full_name, os_error, BlockState, Loader, OnDirective};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::syntax::{Directive, ParsedFile};

impl Loader {
    /// `include`: a file or a glob, relative to the main file's directory (S1.7).
    pub(super) fn include(
        &mut self,
        d: &Directive,
        context: u32,
        state: &mut BlockState,
        on: &mut OnDirective<'_>,
    ) {
        let path = full_name(&self.paths.conf_prefix, d.args[0].as_bytes());
        for p in self.include_targets(d, &path) {
            if self.stopped {
                return;
            }
            if let Some(parsed) = self.enter_include(d, &p) {
                self.walk_block(&parsed.root, parsed.file, context, state, on);
                self.include_stack.pop();
            }
        }
    }

    /// The files an `include` names: the file itself, or the glob's matches in nginx's
    /// (byte) order. Reports glob failures.
    pub fn include_targets(&mut self, d: &Directive, path: &Path) -> Vec<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        if !bytes.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            return vec![path.to_path_buf()];
        }
        let Some(pattern) = path.to_str() else {
            self.error(
                Diagnostic::error(
                    code::INCLUDE,
                    format!(
                        "glob() \"{}\" failed (pattern is not UTF-8)",
                        path.display()
                    ),
                    d.args[0].span,
                )
                .place(Place::At(d.end)),
            );
            return Vec::new();
        };
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        match glob::glob_with(pattern, options) {
            Ok(paths) => {
                let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                // glob(3) sorts whole paths with strcmp in the C locale.
                found.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
                found
            }
            Err(e) => {
                self.error(
                    Diagnostic::error(
                        code::INCLUDE,
                        format!("glob() \"{}\" failed ({})", path.display(), e.msg),
                        d.args[0].span,
                    )
                    .place(Place::At(d.end)),
                );
                Vec::new()
            }
        }
    }

    /// Opens an included file, refusing include cycles; pushes it on the include stack.
    pub fn enter_include(&mut self, d: &Directive, path: &Path) -> Option<Arc<ParsedFile>> {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.include_stack.contains(&key) {
            let chain: Vec<String> = self
                .include_stack
                .iter()
                .skip_while(|p| **p != key)
                .map(|p| format!("\"{}\"", p.display()))
                .collect();
            self.error(
                Diagnostic::error(
                    code::INCLUDE,
                    format!("include cycle: \"{}\" includes itself", path.display()),
                    d.head_span(),
                )
                .place(Place::At(d.end))
                .label("this include reads a file that is already being read")
                .help(format!(
                    "the chain is {} -> \"{}\"; remove one of these includes",
                    chain.join(" -> "),
                    path.display()
                )),
            );
            return None;
        }
        match self.read(path) {
            Ok((_, parsed)) => {
                self.include_stack.push(key);
                Some(parsed)
            }
            Err(e) => {
                let call = if e.raw_os_error() == Some(21) {
                    "pread()"
                } else {
                    "open()"
                };
                self.error(
                    Diagnostic::error(code::INCLUDE, os_error(call, path, &e), d.args[0].span)
                        .place(Place::At(d.end))
                        .label("cannot read this file")
                        .help(format!(
                            "relative paths are resolved against the main configuration's directory ({})",
                            self.paths.conf_prefix.display()
                        )),
                );
                None
            }
        }
    }
}
