//! The process's own resources, as nginx's master handles them: the pid file, the open
//! files limit, the standard error pointed at the error log, the files of unix sockets, and
//! how many workers `worker_processes` asks for.

use super::log::MainLog;
use crate::ir::{self, Level};
use crate::runtime::base::io;
use crate::runtime::serve::listen::Listener;

/// `worker_processes` (`auto`: one per CPU this process may run on); one with
/// `master_process off`, as nginx then serves in a single process.
pub fn worker_count(main: &ir::Main) -> usize {
    if !main.master_process {
        return 1;
    }
    main.worker_processes
        .map(|n| n.max(1) as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `ngx_create_pidfile`.
pub fn write_pid(path: &std::path::Path) -> Result<(), String> {
    std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
        format!(
            "open() \"{}\" failed {}",
            path.display(),
            io::errno_text(&e)
        )
    })
}

/// `worker_rlimit_nofile`: nginx sets both limits in each worker; the threads share the
/// process's limit.
pub fn set_rlimit_nofile(n: Option<u64>, log: &dyn Fn(Level, &str)) {
    let Some(n) = n else {
        return;
    };
    use nix::sys::resource::{setrlimit, Resource};
    if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, n, n) {
        log(
            Level::Alert,
            &format!(
                "setrlimit(RLIMIT_NOFILE, {n}) failed ({}: {})",
                e as i32,
                e.desc()
            ),
        );
    }
}

/// `ngx_log_redirect_stderr`: when the main error log is a file, the standard error is
/// pointed at it, so that nothing written there is lost once detached.
pub fn redirect_stderr(main: &MainLog) {
    if let Some(f) = main.first_file() {
        let _ = nix::unistd::dup2_stderr(&f);
    }
}

/// A unix socket's file is removed when its socket closes, as nginx removes it.
pub fn remove_unix_socket(l: &Listener) {
    if let ir::ListenAddr::Unix(p) = &l.addr {
        let _ = std::fs::remove_file(p);
    }
}
