//! `daemon on`: detaching from the terminal, without `fork`.
//!
//! nginx forks after binding its sockets, and the parent exits at once, before the child has
//! written the pid file (a script that runs `nginx; nginx -s reload` can race it). rginx's
//! crate forbids `unsafe`, and forking a process that may already run threads is unsound in
//! any case, so rginx starts a second copy of itself instead: the first process, having
//! checked the configuration, runs the same command line again with [`MARK`] set in the
//! environment and waits. The copy starts a new session (`setsid`), loads the configuration,
//! binds its sockets, writes the pid file, starts its workers, and only then writes
//! [`READY`] to the pipe that is its standard output. The first process exits 0 when it reads
//! that, or with the copy's own exit code when the copy fails first (its messages went to
//! the same stderr). So when `rginx` returns 0, the server is listening and the pid file
//! names it, which is what systemd's `Type=forking` and certbot's `nginx` calls assume.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Set in the environment of the detached copy.
pub const MARK: &str = "RGINX_DETACHED";

/// What the detached copy writes once it serves.
const READY: &str = "ready";

/// The detached copy's link to the process waiting for it: its standard output.
#[derive(Debug)]
pub struct Detached(());

impl Detached {
    /// In the detached copy, takes the mark out of the environment (nothing started later
    /// should inherit it) and leaves the starting process's session, so that closing the
    /// terminal does not stop the server. `None` in any other process.
    pub fn take() -> Option<Detached> {
        std::env::var_os(MARK)?;
        // Safe here: the process is still single-threaded (nothing has been started yet).
        std::env::remove_var(MARK);
        // Not a process group leader (a child of the starting process), so this succeeds.
        let _ = nix::unistd::setsid();
        Some(Detached(()))
    }

    /// Tells the waiting process that the server runs, then points stdin and stdout at
    /// /dev/null, as `ngx_daemon` does (stderr is left to the error log).
    pub fn ready(self) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{READY}");
        let _ = out.flush();
        drop(out);
        if let Ok(null) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            let _ = nix::unistd::dup2_stdin(&null);
            let _ = nix::unistd::dup2_stdout(&null);
        }
    }
}

/// In the process started by the user: runs the detached copy and waits for it to serve or
/// fail. Returns the exit code for this process.
pub fn spawn_and_wait() -> i32 {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "{}: [emerg] daemon: cannot find the running binary ({e})",
                crate::version::PROGRAM
            );
            return 1;
        }
    };
    let child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(MARK, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "{}: [emerg] daemon: cannot start the detached process ({e})",
                crate::version::PROGRAM
            );
            return 1;
        }
    };
    if let Some(out) = child.stdout.take() {
        let mut line = String::new();
        if BufReader::new(out).read_line(&mut line).is_ok() && line.trim_end() == READY {
            // Serving; the copy lives on without this process (init reaps it).
            return 0;
        }
    }
    match child.wait() {
        Ok(status) => status.code().unwrap_or(1).max(1),
        Err(_) => 1,
    }
}
