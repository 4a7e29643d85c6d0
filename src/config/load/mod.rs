//! Reading configuration files and walking their directives as nginx does.
//!
//! The [`Loader`] owns everything one load produces: the source map, the diagnostics, the
//! list of files read (for `-T`), and which dynamic modules `load_module` loaded. Its
//! [`Loader::walk`] is nginx's `ngx_conf_parse` + `ngx_conf_handler` over an AST: for each
//! directive, in order, it expands `include`, finds the directive in the table for the
//! current context, checks the terminator and the number of arguments, applies the support
//! level, and hands implemented directives to the lowering code of that context.
//!
//! Unlike nginx it does not stop at the first problem: every directive is checked, and a
//! syntax error stops only what comes after it (nginx never read that part either).
//!
//! This file keeps the [`Loader`], reading files and the walks over blocks, `-g` and the
//! lines of `map`/`types`. One directive against the table is `directive.rs`'s; `include`
//! (globs, cycles) is `include.rs`'s; the checks of generic slots are `generic.rs`'s; the
//! messages are made in `messages.rs`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diagnostic::{code, Diagnostic, Diagnostics, Place};
use super::registry::{self, Spec};
use crate::ir::Paths;
use crate::source::{FileId, Origin, SourceMap, Span};
use crate::syntax::{self, Block, Directive, ParsedFile, Terminator};

mod directive;
mod generic;
mod include;
mod messages;

pub use directive::{block_context, CUSTOM_BODY};
pub use messages::{directive_error, duplicate, not_supported, syntax_diagnostic};

/// The handler of implemented directives in one context.
pub type OnDirective<'h> = dyn FnMut(&mut Loader, &Directive, &'static Spec) + 'h;

/// The handler of the lines of a block whose body is not directives (`map`, `types`).
pub type OnLine<'h> = dyn FnMut(&mut Loader, &Directive) + 'h;

/// Duplicate tracking for the generic value slots of one block (nginx's per-conf
/// `NGX_CONF_UNSET` checks), shared across the files that block includes.
#[derive(Default)]
pub struct BlockState {
    seen: HashMap<&'static str, Span>,
}

pub struct Loader {
    pub sources: SourceMap,
    pub diags: Diagnostics,
    pub paths: Paths,
    /// Files in first-read order, each once (`-T`).
    pub dump: Vec<FileId>,
    parsed: HashMap<PathBuf, (FileId, Arc<ParsedFile>)>,
    include_stack: Vec<PathBuf>,
    /// A syntax error was reached: nothing after it was read by nginx either.
    pub stopped: bool,
    /// `.so` files named by `load_module`.
    pub loaded_modules: HashSet<&'static str>,
    /// Which files' syntax errors were already reported.
    reported_syntax: HashSet<FileId>,
    /// `log_format` names defined so far (nginx requires them before their use).
    pub log_formats: HashSet<Box<[u8]>>,
    /// The stream block's `log_format` names (a namespace of their own).
    pub stream_log_formats: HashSet<Box<[u8]>>,
    /// Every log file the configuration names.
    pub log_files: crate::ir::LogFiles,
    /// The upstreams of the http block being read (`proxy_pass` adds implicit ones).
    pub upstreams: Option<super::lower::upstream::Upstreams>,
    /// What variable names can refer to (maps, captures, names declared by refused
    /// directives), filled while the http block is read.
    pub scope: super::template::Scope,
    /// Regexes compiled so far, by pattern and caselessness.
    /// Indexed by caselessness, then pattern.
    pub regex_cache: [rustc_hash::FxHashMap<Box<[u8]>, crate::ir::regex::Regex>; 2],
    /// The help for each unknown name, computed once (a broken file may repeat one thousands
    /// of times).
    suggestions: rustc_hash::FxHashMap<(Box<[u8]>, u32), Option<String>>,
}

impl super::template::Load for Loader {
    fn sources(&self) -> &SourceMap {
        &self.sources
    }

    fn error(&mut self, d: Diagnostic) {
        Loader::error(self, d);
    }
}

/// nginx's `ngx_get_full_name`: absolute paths stay, relative ones get the prefix
/// (no normalisation: nginx prints and opens `prefix/./x` as is).
pub fn full_name(prefix: &Path, name: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let name = Path::new(std::ffi::OsStr::from_bytes(name));
    if name.is_absolute() {
        name.to_path_buf()
    } else {
        let mut s = prefix.as_os_str().to_owned();
        s.push(name.as_os_str());
        PathBuf::from(s)
    }
}

/// `open() "PATH" failed (2: No such file or directory)`, worded as nginx words it.
pub fn os_error(call: &str, path: &Path, err: &std::io::Error) -> String {
    format!("{call} \"{}\" failed ({})", path.display(), errno_text(err))
}

/// `2: No such file or directory`.
pub fn errno_text(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => format!("{n}: {}", nix::errno::Errno::from_raw(n).desc()),
        None => err.to_string(),
    }
}

impl Loader {
    pub fn new(paths: Paths) -> Loader {
        Loader {
            sources: SourceMap::new(),
            diags: Diagnostics::default(),
            paths,
            dump: Vec::new(),
            parsed: HashMap::new(),
            include_stack: Vec::new(),
            stopped: false,
            loaded_modules: HashSet::new(),
            reported_syntax: HashSet::new(),
            log_formats: HashSet::new(),
            stream_log_formats: HashSet::new(),
            log_files: crate::ir::LogFiles::default(),
            upstreams: None,
            scope: super::template::Scope::default(),
            regex_cache: Default::default(),
            suggestions: Default::default(),
        }
    }

    pub fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Reads and parses a file once; later includes of the same path reuse the AST.
    pub fn read(&mut self, path: &Path) -> Result<(FileId, Arc<ParsedFile>), std::io::Error> {
        if let Some((id, parsed)) = self.parsed.get(path) {
            return Ok((*id, parsed.clone()));
        }
        let meta = std::fs::metadata(path)?;
        if meta.is_dir() {
            // nginx opens a directory fine and then fails to read it.
            return Err(std::io::Error::from_raw_os_error(21));
        }
        let bytes = std::fs::read(path)?;
        let id = self.sources.add(Origin::File(path.to_path_buf()), bytes);
        let parsed = Arc::new(syntax::parse_bytes(self.sources.file(id).bytes(), id));
        self.dump.push(id);
        self.parsed.insert(path.to_path_buf(), (id, parsed.clone()));
        Ok((id, parsed))
    }

    /// Frees every syntax tree (the source bytes stay, for diagnostics and `-T`) before the IR
    /// is built, so the IR reuses their memory.
    pub fn release_syntax(&mut self) {
        self.parsed.clear();
    }

    /// Registers the `-g` directives and parses them.
    pub fn read_params(&mut self, params: &[u8]) -> (FileId, Arc<ParsedFile>) {
        let id = self.sources.add(Origin::CommandLine, params.to_vec());
        let parsed = Arc::new(syntax::parse_param(self.sources.file(id).bytes(), id));
        (id, parsed)
    }

    /// Walks a whole parsed file in `context`.
    pub fn walk_file(
        &mut self,
        parsed: &ParsedFile,
        context: u32,
        state: &mut BlockState,
        on: &mut OnDirective<'_>,
    ) {
        self.walk_block(&parsed.root, parsed.file, context, state, on);
    }

    /// Walks the directives of a block in `context` (nginx's `ngx_conf_parse` for a block).
    pub fn walk(&mut self, d: &Directive, context: u32, on: &mut OnDirective<'_>) {
        if let Some(block) = &d.block {
            let mut state = BlockState::default();
            self.walk_block(block, d.file(), context, &mut state, on);
        }
    }

    fn walk_block(
        &mut self,
        block: &Block,
        file: FileId,
        context: u32,
        state: &mut BlockState,
        on: &mut OnDirective<'_>,
    ) {
        for d in &block.directives {
            if self.stopped {
                return;
            }
            self.directive(d, context, state, on);
        }
        if !block.complete {
            self.syntax_error(file);
        }
    }

    /// Reports the syntax error that cut a file short, once, and stops the walk.
    fn syntax_error(&mut self, file: FileId) {
        if self.stopped || !self.reported_syntax.insert(file) {
            self.stopped = true;
            return;
        }
        self.stopped = true;
        let error = self
            .parsed
            .values()
            .find(|(id, _)| *id == file)
            .and_then(|(_, p)| p.error.clone());
        if let Some(e) = error {
            let d = syntax_diagnostic(&e, &self.sources);
            self.diags.push(d);
        }
    }

    /// Walks the lines of a block whose body is not directives (`map`, `types`), expanding
    /// `include` lines as nginx's handlers for these blocks do.
    pub fn walk_lines(&mut self, d: &Directive, on: &mut OnLine<'_>) {
        if let Some(block) = &d.block {
            self.walk_lines_of(block, d.file(), on);
        }
    }

    fn walk_lines_of(&mut self, block: &Block, file: FileId, on: &mut OnLine<'_>) {
        for line in &block.directives {
            if self.stopped {
                return;
            }
            if line.terminator == Terminator::BlockStart {
                self.error(
                    Diagnostic::error(code::SYNTAX, "unexpected \"{\"", line.end)
                        .label("no block may open here")
                        .help("the lines of this block are \"key value;\" pairs"),
                );
                self.stopped = true;
                return;
            }
            if line.name.is("include") && line.args.len() == 1 {
                let path = full_name(&self.paths.conf_prefix, line.args[0].as_bytes());
                for p in self.include_targets(line, &path) {
                    if let Some(parsed) = self.enter_include(line, &p) {
                        self.walk_lines_of(&parsed.root, parsed.file, on);
                        self.include_stack.pop();
                    }
                    if self.stopped {
                        return;
                    }
                }
                continue;
            }
            on(self, line);
        }
        if !block.complete {
            self.syntax_error(file);
        }
    }

    /// Walks a `-g` parameter string in the main context.
    pub fn walk_params(&mut self, params: &[u8], state: &mut BlockState, on: &mut OnDirective<'_>) {
        let (_, parsed) = self.read_params(params);
        for d in &parsed.root.directives {
            if self.stopped {
                return;
            }
            let before = self.diags.len();
            self.directive(d, registry::MAIN, state, on);
            // Messages about `-g` say "in command line".
            self.relocate_to_command_line(before);
        }
        if let Some(e) = &parsed.error {
            let mut d = syntax_diagnostic(e, &self.sources);
            d.place = Place::CommandLine;
            self.diags.push(d);
            self.stopped = true;
        }
    }

    fn relocate_to_command_line(&mut self, from: usize) {
        let mut all = std::mem::take(&mut self.diags).into_vec();
        for d in all.iter_mut().skip(from) {
            if matches!(d.place, Place::At(_)) {
                d.place = Place::CommandLine;
            }
        }
        for d in all {
            self.diags.push(d);
        }
    }
}
