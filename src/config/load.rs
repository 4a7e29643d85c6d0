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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diagnostic::{code, Diagnostic, Diagnostics, Place};
use super::registry::{self, Build, Found, Kind, Spec, Support};
use super::value;
use crate::ir::Paths;
use crate::source::{FileId, Origin, SourceMap, Span};
use crate::syntax::{self, Block, Directive, ParsedFile, SyntaxError, SyntaxErrorKind, Terminator};

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

    fn directive(
        &mut self,
        d: &Directive,
        context: u32,
        state: &mut BlockState,
        on: &mut OnDirective<'_>,
    ) {
        let name = d.name.as_bytes();
        let loaded = self.loaded_modules.clone();
        let spec = match registry::find(name, context, &|so| loaded.contains(so)) {
            Found::Allowed(spec) => spec,
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
                return;
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
                return;
            }
        };

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
            return;
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
            return;
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
            return;
        }

        if spec.name == "include" {
            self.include(d, context, state, on);
            return;
        }

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

    /// `include`: a file or a glob, relative to the main file's directory (S1.7).
    fn include(
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

fn unknown_help(name: &[u8], context: u32, loaded: &HashSet<&'static str>) -> Option<String> {
    // A directive of a dynamic module that was not loaded.
    if let Some(spec) = registry::lookup(name)
        .iter()
        .find(|s| matches!(s.build, Build::Dynamic(_)))
    {
        if let Build::Dynamic(so) = spec.build {
            if !loaded.contains(so) {
                return Some(format!(
                    "\"{}\" belongs to {}, a dynamic module: add \"load_module modules/{so};\" at the top of the main file",
                    spec.name, spec.module
                ));
            }
        }
    }
    if registry::lookup(name)
        .iter()
        .any(|s| s.build == Build::Absent)
    {
        return Some("this directive's module is not part of Debian's nginx build".to_string());
    }
    if let Some(s) = registry::suggest(name, context) {
        return Some(format!("did you mean \"{s}\"?"));
    }
    let text = String::from_utf8_lossy(name);
    if text.starts_with('\u{feff}') {
        return Some("the file starts with a UTF-8 byte order mark; save it without one".into());
    }
    if text.contains("lua") || text.starts_with("more_") || text.starts_with("websockify") {
        return Some(
            "this is a third-party module's directive; nginx 1.22 and rginx do not know it".into(),
        );
    }
    None
}

/// `"x" directive is not supported by rginx`.
pub fn not_supported(d: &Directive, spec: &Spec) -> Diagnostic {
    let help = match spec.support {
        Support::Unsupported(harmless) if !harmless.is_empty() => format!(
            "rginx runs \"{}\" only as \"{} {}\" (nginx's default); remove it or keep nginx for this part of the configuration",
            spec.name,
            spec.name,
            harmless[0]
        ),
        _ => format!(
            "rginx would serve this configuration differently from nginx, so it refuses it; remove \"{}\" or keep nginx for this part of the configuration",
            spec.name
        ),
    };
    Diagnostic::error(
        code::NOT_SUPPORTED,
        format!("\"{}\" directive is not supported by rginx", spec.name),
        d.head_span(),
    )
    .place(Place::At(d.end))
    .label("not supported")
    .help(help)
}

/// `"x" directive is duplicate`, with the first definition labelled.
pub fn duplicate(d: &Directive, name: &str, first: Span) -> Diagnostic {
    Diagnostic::error(
        code::DUPLICATE,
        format!("\"{name}\" directive is duplicate"),
        d.head_span(),
    )
    .place(Place::At(d.end))
    .label("set again here")
    .also(first, "first defined here")
    .help(format!(
        "\"{name}\" may be set once per block; remove one of them"
    ))
}

/// `"x" directive MESSAGE` (nginx's form for a handler's error string).
pub fn directive_error(d: &Directive, name: &str, message: &str) -> Diagnostic {
    let span = d
        .args
        .first()
        .map(|a| a.span.to(d.args[d.args.len() - 1].span))
        .unwrap_or(d.name.span);
    Diagnostic::error(
        code::INVALID_VALUE,
        format!("\"{name}\" directive {message}"),
        span,
    )
    .place(Place::At(d.end))
}

/// `invalid value "x"` for an enum or bitmask argument.
fn invalid_value(d: &Directive, i: usize, values: &[&str]) -> Diagnostic {
    let a = &d.args[i];
    Diagnostic::error(
        code::INVALID_VALUE,
        format!("invalid value \"{}\"", a.show()),
        a.span,
    )
    .place(Place::At(d.end))
    .help(format!("expected one of: {}", values.join(", ")))
}

/// Turns a syntax error into a diagnostic, with nginx's line.
pub fn syntax_diagnostic(e: &SyntaxError, sources: &SourceMap) -> Diagnostic {
    let mut d = Diagnostic::error(code::SYNTAX, e.message(), e.span)
        .place(Place::Line(e.span.file, e.line));
    d = match &e.kind {
        SyntaxErrorKind::Unexpected(b'}') if e.opened.is_some() => d
            .label("this \"}\" ends a directive that was not terminated")
            .help("end the directive with \";\" before the \"}\""),
        SyntaxErrorKind::Unexpected(b'}') => d
            .label("no block is open here")
            .help("remove this \"}\" or open a block before it"),
        SyntaxErrorKind::Unexpected(b';') | SyntaxErrorKind::Unexpected(b'{') => d
            .label("no directive name before this")
            .help("remove the stray character"),
        SyntaxErrorKind::Unexpected(_) => d
            .label("a quoted word must be followed by a space, \";\" or \"{\"")
            .help("separate the words with a space, or put the whole value in quotes"),
        SyntaxErrorKind::EofInDirective => d
            .label("the file ends here")
            .help("end the last directive with \";\" (or close an open quote)"),
        SyntaxErrorKind::EofInBlock => d
            .label("the file ends here")
            .help("close the open block with \"}\""),
        SyntaxErrorKind::TooLong { .. } | SyntaxErrorKind::TooLongQuoted(_) => d
            .label("longer than nginx's 4096-byte read buffer")
            .help("nginx cannot read a word this long; split it, or close the quote"),
        SyntaxErrorKind::TooDeep => d
            .label("one block too many")
            .help("no real configuration nests this deep; look for unbalanced braces"),
        SyntaxErrorKind::EndOfParameter | SyntaxErrorKind::BlockInParameter => d,
    };
    if let Some(open) = e.opened {
        let what = match e.kind {
            SyntaxErrorKind::EofInBlock => "the block opened here is never closed",
            SyntaxErrorKind::EofInDirective => "this is never terminated",
            _ => "the unterminated directive",
        };
        d = d.also(open, what);
    }
    let _ = sources;
    d
}
