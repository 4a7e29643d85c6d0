//! Config: from files on disk to a validated [`ir::Config`], with every problem reported.
//!
//! This is the only layer that speaks to the user about their configuration. [`load`] is the
//! one pipeline behind `-t`, start and reload: it reads the main file (and `-g`), walks the
//! directives through the table ([`registry`]), lowers them ([`lower`]), runs the lints, and
//! returns the IR only if nothing is an error.

pub mod builtins;
pub mod defaults;
pub mod diagnostic;
pub mod directives;
pub mod lint;
pub mod load;
pub mod lower;
pub mod regex;
pub mod registry;
pub mod report;
pub mod template;
/// nginx's value syntaxes live with the IR, which the runtime shares them from.
pub use crate::ir::value;

use std::path::PathBuf;

use diagnostic::{code, Diagnostic, Diagnostics};
use load::{full_name, Loader};
use lower::main::MainBuilder;

use crate::ir;
use crate::source::{FileId, SourceMap};

/// What to load, as nginx's command line says it.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-p`.
    pub prefix: Option<PathBuf>,
    /// `-c`.
    pub conf_file: Option<PathBuf>,
    /// `-g`.
    pub params: Option<Vec<u8>>,
    /// `-e`: the error log when the configuration names none (`stderr` or a file).
    pub error_log: Option<PathBuf>,
    /// Open (create) the log files, as nginx does even for `-t`.
    pub open_logs: bool,
}

/// The outcome of one load.
pub struct Loaded {
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
    /// Present only when there is no error.
    pub config: Option<ir::Config>,
    /// Files read, in first-read order, each once (`-T`).
    pub dump: Vec<FileId>,
    pub paths: ir::Paths,
}

impl Loaded {
    pub fn ok(&self) -> bool {
        self.config.is_some()
    }
}

/// nginx's `ngx_process_options`: the prefix, the main file, and its directory.
pub fn paths(options: &Options) -> ir::Paths {
    use std::os::unix::ffi::OsStrExt;
    let prefix = match &options.prefix {
        Some(p) => {
            let mut s = p.as_os_str().to_owned();
            if !s.as_bytes().ends_with(b"/") && !s.is_empty() {
                s.push("/");
            }
            PathBuf::from(s)
        }
        None => PathBuf::from(defaults::PREFIX),
    };
    let conf = match &options.conf_file {
        Some(c) => c.as_os_str().as_bytes().to_vec(),
        None => defaults::CONF_PATH.as_bytes().to_vec(),
    };
    let conf_file = full_name(&prefix, &conf);
    let bytes = conf_file.as_os_str().as_bytes();
    let conf_prefix = match bytes.iter().rposition(|b| *b == b'/') {
        Some(i) if i > 0 => PathBuf::from(std::ffi::OsStr::from_bytes(&bytes[..=i])),
        _ => prefix.clone(),
    };
    ir::Paths {
        prefix,
        conf_file,
        conf_prefix,
    }
}

/// Loads a configuration: the one pipeline of `-t`, start and reload.
pub fn load(options: &Options) -> Loaded {
    let paths = paths(options);
    let mut l = Loader::new(paths.clone());
    let mut main = MainBuilder::default();
    let mut state = load::BlockState::default();

    if let Some(params) = &options.params {
        l.walk_params(params, &mut state, &mut |l, d, spec| {
            main.directive(l, d, spec)
        });
    }
    if !l.stopped {
        match l.read(&paths.conf_file) {
            Ok((_, parsed)) => {
                l.walk_file(&parsed, registry::MAIN, &mut state, &mut |l, d, spec| {
                    main.directive(l, d, spec)
                });
            }
            Err(e) => {
                l.error(
                    Diagnostic::bare(code::FILE, load::os_error("open()", &paths.conf_file, &e))
                        .help("name the configuration with -c, and the prefix with -p"),
                );
            }
        }
    }

    // The syntax trees are not needed any more: free them before the IR is built.
    l.release_syntax();
    let mut http = None;
    let mut stream = None;
    if !l.stopped {
        if let Some(builder) = main.http.take() {
            http = Some(builder.finish(&mut l));
        }
        if let Some(builder) = main.stream.take() {
            stream = Some(builder.finish(&mut l));
        }
        shared_addresses(&mut l, http.as_ref(), stream.as_ref());
    }
    let syntax_ok = !l.diags.has_errors();
    let mut config = None;
    if syntax_ok {
        let mut main_ir = main.finish(&mut l);
        if main_ir.error_log.is_empty() {
            main_ir.error_log.push(default_error_log(&mut l, options));
        }
        let sockets = http.as_ref().map_or(0, |h| h.sockets.len())
            + stream.as_ref().map_or(0, |s| s.sockets.len());
        if sockets > 0 {
            // ngx_event_init_conf: every worker needs a connection per listening socket
            // and one more for its channel.
            if (main_ir.worker_connections as usize) < sockets + 1 {
                l.error(
                    Diagnostic::bare(
                        code::EVENTS,
                        format!(
                            "{} worker_connections are not enough for {} listening sockets",
                            main_ir.worker_connections, sockets
                        ),
                    )
                    .post()
                    .help("raise worker_connections in the events block"),
                );
            }
        }
        if !l.diags.has_errors() && options.open_logs {
            open_logs(&mut l);
        }
        if !l.diags.has_errors() {
            let log_files = std::mem::take(&mut l.log_files);
            config = Some(ir::Config {
                paths: paths.clone(),
                main: main_ir,
                http,
                stream,
                log_files,
            });
        }
    }
    Loaded {
        sources: l.sources,
        diagnostics: l.diags,
        config,
        dump: l.dump,
        paths,
    }
}

/// An address both the http and the stream block listen on: nginx's `-t` passes it, then its
/// start fails to bind the second socket; rginx says so at `-t`.
fn shared_addresses(l: &mut Loader, http: Option<&ir::Http>, stream: Option<&ir::stream::Stream>) {
    let (Some(h), Some(s)) = (http, stream) else {
        return;
    };
    for st in &s.sockets {
        if h.sockets.iter().any(|hs| hs.addr == st.addr) {
            l.error(
                Diagnostic::bare(
                    code::LISTEN,
                    format!(
                        "bind() to {} failed (98: Address already in use)",
                        st.addr
                    ),
                )
                .post()
                .help("the http block and the stream block both listen on this address; give one of them another port"),
            );
        }
    }
}

/// `ngx_log_open_default`: with no `error_log` in the main context, errors go to the `-e`
/// log, or else to the one rginx was built with (Debian's: `stderr`), at level `error`.
fn default_error_log(l: &mut Loader, options: &Options) -> ir::ErrorLog {
    use std::os::unix::ffi::OsStrExt;
    let name = match &options.error_log {
        Some(p) => p.as_os_str().as_bytes().to_vec(),
        None => defaults::ERROR_LOG_PATH.as_bytes().to_vec(),
    };
    let target = if name == b"stderr" || name.is_empty() {
        ir::LogTarget::Stderr
    } else {
        let path = full_name(&l.paths.prefix, &name);
        ir::LogTarget::File(l.log_files().id(path))
    };
    ir::ErrorLog {
        target,
        level: ir::Level::Error,
    }
}

/// nginx opens (and creates) every log file at start and at `-t`.
fn open_logs(l: &mut Loader) {
    let paths = l.log_files.paths.clone();
    for p in paths {
        if let Err(e) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&p)
        {
            l.error(
                Diagnostic::bare(code::LOG, load::os_error("open()", &p, &e))
                    .post()
                    .help("create the directory, or point the log elsewhere (relative paths are under the prefix, -p)"),
            );
        }
    }
}
