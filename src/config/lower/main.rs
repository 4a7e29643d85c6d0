//! The main and events contexts: process settings, `load_module`, `error_log`, and the
//! `events` and `http` blocks.

use std::path::PathBuf;
use std::time::Duration;

use super::http::HttpBuilder;
use super::log::parse_error_log;
use super::stream::StreamBuilder;
use super::{or, unreachable_directive, Set, Slot};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::{full_name, Loader};
use crate::config::registry::{self, Build, Spec, EVENTS, HTTP};
use crate::ir::{ErrorLog, Main, User};
use crate::syntax::Directive;

/// The build's defaults, also reachable here (`app` names them by this path).
pub use crate::config::defaults;

#[derive(Default)]
pub struct MainBuilder {
    user: Slot<Option<User>>,
    worker_processes: Slot<Option<u32>>,
    pid: Slot<PathBuf>,
    daemon: Slot<bool>,
    master_process: Slot<bool>,
    worker_rlimit_nofile: Slot<u64>,
    worker_shutdown_timeout: Slot<Duration>,
    worker_connections: Slot<u32>,
    error_log: Vec<ErrorLog>,
    events: Option<crate::source::Span>,
    /// A block that makes nginx count its modules has been read: `load_module` is too late.
    modules_used: bool,
    pub http: Option<HttpBuilder>,
    http_span: Option<crate::source::Span>,
    pub stream: Option<StreamBuilder>,
    stream_span: Option<crate::source::Span>,
}

impl MainBuilder {
    pub fn directive(&mut self, l: &mut Loader, d: &Directive, spec: &'static Spec) {
        match spec.name {
            "user" => self.user(l, d),
            "worker_processes" => {
                if l.is_dup(&self.worker_processes, d) {
                    return;
                }
                let a = &d.args[0];
                let v = if a.is("auto") {
                    Some(None)
                } else {
                    match crate::config::value::number(a.as_bytes()) {
                        Some(n) => Some(Some(n as u32)),
                        None => {
                            l.error(
                                crate::config::load::directive_error(d, spec.name, "invalid value")
                                    .help("a number of workers, or \"auto\""),
                            );
                            None
                        }
                    }
                };
                if let Some(v) = v {
                    l.once(&mut self.worker_processes, d, v);
                }
            }
            "pid" => {
                if l.is_dup(&self.pid, d) {
                    return;
                }
                let p = full_name(&l.paths.prefix, d.args[0].as_bytes());
                l.once(&mut self.pid, d, p);
            }
            "daemon" => {
                if !l.is_dup(&self.daemon, d) {
                    if let Some(v) = l.flag_arg(d) {
                        l.once(&mut self.daemon, d, v);
                    }
                }
            }
            "master_process" => {
                if !l.is_dup(&self.master_process, d) {
                    if let Some(v) = l.flag_arg(d) {
                        l.once(&mut self.master_process, d, v);
                    }
                }
            }
            "worker_rlimit_nofile" => {
                if !l.is_dup(&self.worker_rlimit_nofile, d) {
                    if let Some(v) = l.num_arg(d, 0) {
                        l.once(&mut self.worker_rlimit_nofile, d, v as u64);
                    }
                }
            }
            "worker_shutdown_timeout" => {
                if !l.is_dup(&self.worker_shutdown_timeout, d) {
                    if let Some(v) = l.msec_arg(d, 0) {
                        l.once(&mut self.worker_shutdown_timeout, d, v);
                    }
                }
            }
            "error_log" => {
                if let Some(log) = parse_error_log(l, d) {
                    self.error_log.push(log);
                }
            }
            "load_module" => {
                if self.modules_used {
                    l.error(
                        crate::config::load::directive_error(d, "load_module", "is specified too late")
                            .help("put load_module lines at the top of the main file, before events and http"),
                    );
                } else {
                    load_module(l, d)
                }
            }
            "events" => {
                self.modules_used = true;
                self.events(l, d)
            }
            "http" => {
                if let Some(first) = self.http_span {
                    l.error(crate::config::load::duplicate(d, "http", first));
                    return;
                }
                self.http_span = Some(d.head_span());
                self.modules_used = true;
                let mut http = HttpBuilder::new(l, d);
                l.walk(d, HTTP, &mut |l, d, spec| http.directive(l, d, spec));
                // What nginx does at the end of the http block runs once the whole
                // configuration is read and its syntax trees are released (config::load).
                self.http = Some(http);
            }
            "stream" => {
                if let Some(first) = self.stream_span {
                    l.error(crate::config::load::duplicate(d, "stream", first));
                    return;
                }
                self.stream_span = Some(d.head_span());
                self.modules_used = true;
                // Finished with http's, once the whole configuration is read.
                self.stream = Some(StreamBuilder::read(l, d));
            }
            _ => unreachable_directive(l, d, spec),
        }
    }

    fn user(&mut self, l: &mut Loader, d: &Directive) {
        if l.is_dup(&self.user, d) {
            return;
        }
        // nginx looks the user up only when it runs as root (ngx_set_user).
        if !nix::unistd::geteuid().is_root() {
            l.error(
                Diagnostic::warning(
                    code::USER,
                    "the \"user\" directive makes sense only if the master process runs with super-user privileges, ignored",
                    d.head_span(),
                )
                .place(Place::At(d.end)),
            );
            l.once(&mut self.user, d, None);
            return;
        }
        let name = d.args[0].show();
        let group = d
            .args
            .get(1)
            .map(|g| g.show())
            .unwrap_or_else(|| name.clone());
        let pw = nix::unistd::User::from_name(&name).ok().flatten();
        let Some(pw) = pw else {
            l.error(
                Diagnostic::error(
                    code::USER,
                    format!("getpwnam(\"{name}\") failed"),
                    d.args[0].span,
                )
                .place(Place::At(d.end))
                .label("no such user")
                .help("create the user, or name an existing one (Debian's nginx uses www-data)"),
            );
            return;
        };
        let gr = nix::unistd::Group::from_name(&group).ok().flatten();
        let Some(gr) = gr else {
            let span = d.args.get(1).unwrap_or(&d.args[0]).span;
            l.error(
                Diagnostic::error(code::USER, format!("getgrnam(\"{group}\") failed"), span)
                    .place(Place::At(d.end))
                    .label("no such group")
                    .help(format!(
                        "without a second argument the group has the user's name; name an existing group, e.g. \"user {name} nogroup;\""
                    )),
            );
            return;
        };
        l.once(
            &mut self.user,
            d,
            Some(User {
                name: name.into(),
                group: group.into(),
                uid: pw.uid.as_raw(),
                gid: gr.gid.as_raw(),
            }),
        );
    }

    fn events(&mut self, l: &mut Loader, d: &Directive) {
        if let Some(first) = self.events {
            l.error(crate::config::load::duplicate(d, "events", first));
            return;
        }
        self.events = Some(d.head_span());
        let mut connections: Slot<u32> = None;
        l.walk(d, EVENTS, &mut |l, d, spec| match spec.name {
            "worker_connections" => {
                if l.is_dup(&connections, d) {
                    return;
                }
                match crate::config::value::number(d.args[0].as_bytes()) {
                    Some(n) => l.once(&mut connections, d, n as u32),
                    None => l.error(
                        Diagnostic::error(
                            code::INVALID_VALUE,
                            format!("invalid number \"{}\"", d.args[0].show()),
                            d.args[0].span,
                        )
                        .place(Place::At(d.end)),
                    ),
                }
            }
            _ => unreachable_directive(l, d, spec),
        });
        self.worker_connections = connections;
    }

    /// The post-parse checks nginx makes after `syntax is ok`, and the IR.
    pub fn finish(self, l: &mut Loader) -> Main {
        if self.events.is_none() {
            l.error(Diagnostic::bare(code::EVENTS, "no \"events\" section in configuration").post().help(
                "add \"events {}\" at the top level: nginx requires it even when it is empty",
            ));
        }
        let pid = self
            .pid
            .as_ref()
            .map(|p| p.value.clone())
            .unwrap_or_else(|| full_name(&l.paths.prefix, defaults::PID_PATH.as_bytes()));
        // ngx_core_module_init_conf: started as root with no `user`, the workers run as the
        // build's default user.
        let user = match self.user {
            Some(u) => u.value,
            None if nix::unistd::geteuid().is_root() => default_user(l),
            None => None,
        };
        Main {
            user,
            worker_processes: or(&self.worker_processes, Some(1)),
            pid,
            daemon: or(&self.daemon, true),
            master_process: or(&self.master_process, true),
            worker_rlimit_nofile: self.worker_rlimit_nofile.map(|s| s.value),
            worker_connections: or(&self.worker_connections, 512),
            worker_shutdown_timeout: self.worker_shutdown_timeout.map(|s| s.value),
            error_log: self.error_log,
        }
    }
}

/// The user and group of the build (`nobody`, `nogroup`), for a root start without `user`.
fn default_user(l: &mut Loader) -> Option<User> {
    let Some(pw) = nix::unistd::User::from_name(defaults::USER).ok().flatten() else {
        l.error(
            Diagnostic::bare(
                code::USER,
                format!("getpwnam(\"{}\") failed", defaults::USER),
            )
            .post()
            .help("name the user the workers run as with the \"user\" directive"),
        );
        return None;
    };
    let Some(gr) = nix::unistd::Group::from_name(defaults::GROUP)
        .ok()
        .flatten()
    else {
        l.error(
            Diagnostic::bare(
                code::USER,
                format!("getgrnam(\"{}\") failed", defaults::GROUP),
            )
            .post()
            .help("name the user and group the workers run as with the \"user\" directive"),
        );
        return None;
    };
    Some(User {
        name: defaults::USER.into(),
        group: defaults::GROUP.into(),
        uid: pw.uid.as_raw(),
        gid: gr.gid.as_raw(),
    })
}

/// `load_module`: only nginx's own dynamic modules can be honoured; their directives become
/// known (S1.9). A third-party module is accepted with a warning: its directives stay unknown.
fn load_module(l: &mut Loader, d: &Directive) {
    use std::os::unix::ffi::OsStrExt;
    let path = full_name(&l.paths.prefix, d.args[0].as_bytes());
    if let Err(e) = std::fs::metadata(&path) {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            "cannot open shared object file: No such file or directory".to_string()
        } else {
            crate::config::load::errno_text(&e)
        };
        l.error(
            Diagnostic::error(
                code::MODULE,
                format!(
                    "dlopen() \"{}\" failed ({}: {reason})",
                    path.display(),
                    path.display()
                ),
                d.args[0].span,
            )
            .place(Place::At(d.end))
            .label("cannot load this module")
            .help("install the module's package, or remove this line"),
        );
        return;
    }
    let file = path
        .file_name()
        .map(|f| f.as_bytes().to_vec())
        .unwrap_or_default();
    let known = registry::all().iter().find_map(|s| match s.build {
        Build::Dynamic(so) | Build::Builtin(so) if so.as_bytes() == file.as_slice() => Some(so),
        _ => None,
    });
    // A module built for nginx's stream (or mail) core resolves that core's symbols when it
    // is loaded, so the core must be loaded first.
    if let Some(so) = known {
        let needs = match so {
            "ngx_stream_geoip_module.so" => {
                Some(("ngx_stream_module.so", "ngx_stream_add_variable"))
            }
            _ => None,
        };
        if let Some((core, symbol)) = needs {
            if !l.loaded_modules.contains(core) {
                l.error(
                    Diagnostic::error(
                        code::MODULE,
                        format!(
                            "dlopen() \"{}\" failed ({}: undefined symbol: {symbol})",
                            path.display(),
                            path.display()
                        ),
                        d.args[0].span,
                    )
                    .place(Place::At(d.end))
                    .help(format!("load modules/{core} before this module")),
                );
                return;
            }
        }
    }
    match known {
        Some(so) => {
            if !l.loaded_modules.insert(so) {
                let module = so.trim_end_matches(".so");
                l.error(
                    Diagnostic::error(
                        code::MODULE,
                        format!("module \"{module}\" is already loaded"),
                        d.args[0].span,
                    )
                    .place(Place::At(d.end))
                    .help("remove the second load_module line"),
                );
            }
        }
        None => l.error(
            Diagnostic::lint(
                code::MODULE,
                format!(
                    "\"{}\" is a third-party module: rginx cannot load it, and its directives are unknown to rginx",
                    path.display()
                ),
                d.head_span(),
            )
            .help("remove this line if none of the module's directives are used"),
        ),
    }
}

/// Makes `Set` usable by sibling modules without re-exporting it everywhere.
pub type SetOf<T> = Set<T>;
