//! The modes rginx runs in, as nginx's `main` orders them: the version and help texts, the
//! configuration test (`-t`, `-T`), signalling a running rginx (`-s`), and serving. Each
//! returns the process exit code; `main` only exits with it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::cli::{self, Cli, Format, Signal};
use crate::config::{self, report, Options};
use crate::ir::Level;

pub use crate::version::{NGINX_VERSION, PROGRAM, VERSION};

/// Runs the command line `args` (without the program name).
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let cli = match Cli::parse(args) {
        Ok(cli) => cli,
        Err(cli::Invalid(msg)) => {
            eprintln!("{PROGRAM}: {msg}");
            return 1;
        }
    };
    // ngx_show_version_info: the texts come first, and only -t goes on after them.
    if cli.version {
        version(&cli);
        if !cli.test {
            return 0;
        }
    }
    if cli.test {
        return check(&cli);
    }
    if let Some(s) = cli.signal {
        return signal(&cli, s);
    }
    serve(&cli)
}

pub fn options(cli: &Cli, open_logs: bool) -> Options {
    Options {
        prefix: cli.prefix.clone(),
        conf_file: cli.conf.clone(),
        params: cli.global.as_ref().map(|g| g.as_bytes().to_vec()),
        error_log: cli.error_log.clone(),
        open_logs,
    }
}

/// The version line: nginx's, naming the nginx version whose behaviour rginx has, then what
/// the binary is. Tools parse it: certbot's nginx plugin requires `nginx version: NAME/X.Y.Z`
/// (and picks its TLS settings by the version), scripts take `nginx/X.Y.Z` out of it; so
/// rginx's own version is written without a slash.
pub fn version_line() -> String {
    format!("nginx version: nginx/{NGINX_VERSION} ({PROGRAM} {VERSION})")
}

/// `-v`, `-V`, `-h`: on stderr, as nginx prints them.
pub fn version(cli: &Cli) {
    use crate::config::lower::main::defaults;
    let mut text = version_line();
    text.push('\n');
    if cli.help {
        text.push_str(&cli::usage(
            PROGRAM,
            defaults::PREFIX,
            defaults::ERROR_LOG_PATH,
            defaults::CONF_PATH,
        ));
    }
    if cli.version_full {
        // nginx names its TLS library here and whether SNI works; certbot requires the SNI
        // line and ` --with-http_ssl_module`.
        text.push_str("built with rustls\nTLS SNI support enabled\n");
        text.push_str(&format!(
            "configure arguments: {}\n",
            crate::config::registry::configure_arguments()
        ));
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `-t` / `-T` / `--check`.
pub fn check(cli: &Cli) -> i32 {
    let mut start = StartLog::open(cli);
    let loaded = config::load(&options(cli, true));
    start.diagnostics(&loaded);
    let mut stderr = std::io::stderr().lock();
    for line in report::nginx_lines(&loaded, PROGRAM, cli.quiet) {
        let _ = writeln!(stderr, "{line}");
    }
    match cli.format {
        Format::Json => {
            let _ = writeln!(std::io::stdout().lock(), "{}", report::json(&loaded));
        }
        Format::Text => {
            let interesting = loaded.diagnostics.iter().any(|d| {
                d.is_error()
                    || (!cli.quiet && d.severity != config::diagnostic::Severity::Note)
                    || d.severity == config::diagnostic::Severity::Warn
            });
            if interesting {
                let _ = write!(stderr, "\n{}", report::render(&loaded, color(), false));
            }
            if !cli.quiet {
                let m = report::migration(&loaded);
                if !m.is_empty() {
                    let _ = write!(stderr, "\n{m}");
                }
            }
        }
    }
    if cli.dump && loaded.ok() {
        let mut out = std::io::stdout().lock();
        for id in &loaded.dump {
            let f = loaded.sources.file(*id);
            let _ = writeln!(out, "# configuration file {}:", f.name());
            let _ = out.write_all(f.bytes());
            let _ = writeln!(out);
        }
    }
    let code = if loaded.ok() { 0 } else { 1 };
    // The process ends here: returning the memory piece by piece would only cost time.
    std::mem::forget(loaded);
    code
}

/// `-s stop|quit|reopen|reload` (`ngx_signal_process`): the configuration is read (a broken
/// one fails here, so `-s reload` never signals with a file that would not load), then the
/// pid file it names is read and the process in it signalled.
pub fn signal(cli: &Cli, sig: Signal) -> i32 {
    let mut start = StartLog::open(cli);
    let loaded = config::load(&options(cli, false));
    if !report_load_failure(&loaded, &mut start, false) {
        return 1;
    }
    let Some(config) = loaded.config else {
        return 1;
    };
    start.line(Level::Notice, "signal process started");
    let pid_path = &config.main.pid;
    let text = match std::fs::read(pid_path) {
        Ok(t) => t,
        Err(e) => {
            start.line(
                Level::Error,
                &format!(
                    "open() \"{}\" failed {}",
                    pid_path.display(),
                    crate::runtime::base::io::errno_text(&e)
                ),
            );
            return 1;
        }
    };
    // Trailing CR and LF are dropped, as ngx_signal_process drops them.
    let end = text
        .iter()
        .rposition(|b| *b != b'\r' && *b != b'\n')
        .map_or(0, |i| i + 1);
    let digits = &text[..end];
    let pid = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
        .filter(|p| *p > 0);
    let Some(pid) = pid else {
        start.line(
            Level::Error,
            &format!(
                "invalid PID number \"{}\" in \"{}\"",
                String::from_utf8_lossy(digits),
                pid_path.display()
            ),
        );
        return 1;
    };
    use nix::sys::signal::Signal as S;
    let signo = match sig {
        Signal::Stop => S::SIGTERM,
        Signal::Quit => S::SIGQUIT,
        Signal::Reopen => S::SIGUSR1,
        Signal::Reload => S::SIGHUP,
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signo) {
        Ok(()) => 0,
        Err(e) => {
            start.line(
                Level::Alert,
                &format!(
                    "kill({pid}, {}) failed ({}: {})",
                    signo as i32,
                    e as i32,
                    e.desc()
                ),
            );
            1
        }
    }
}

/// Serving: load the configuration through the same pipeline as `-t`, then run it. Like
/// nginx, a bad configuration prints its `[emerg]` line and exits 1 (with rginx's report of
/// every diagnostic after it). With `daemon on`, this process only waits until a detached
/// copy of itself is serving (or has failed) and exits with that outcome.
pub fn serve(cli: &Cli) -> i32 {
    let detached = crate::master::daemon::Detached::take();
    let mut start = StartLog::open(cli);
    let loaded = config::load(&options(cli, true));
    // The detached copy loads the same files again: what they say was printed already.
    if !report_load_failure(&loaded, &mut start, detached.is_some()) {
        return 1;
    }
    let Some(config) = loaded.config else {
        return 1;
    };
    if config.main.daemon && detached.is_none() {
        return crate::master::daemon::spawn_and_wait();
    }
    crate::master::run(
        config,
        crate::master::Start {
            options: options(cli, true),
            detached,
        },
    )
}

/// Prints the load's nginx lines (errors, and nginx's warnings unless `quiet`) and, when it
/// failed, the report of every diagnostic. Returns whether the configuration loaded.
fn report_load_failure(loaded: &config::Loaded, start: &mut StartLog, quiet: bool) -> bool {
    start.diagnostics(loaded);
    let mut stderr = std::io::stderr().lock();
    for d in loaded
        .diagnostics
        .in_nginx_order()
        .iter()
        .filter(|d| d.is_nginx())
    {
        if d.is_error() || (!quiet && d.severity == config::diagnostic::Severity::Warn) {
            let _ = writeln!(stderr, "{PROGRAM}: {}", d.nginx_line(&loaded.sources));
        }
        if d.is_error() {
            break;
        }
    }
    if !loaded.ok() {
        let _ = write!(stderr, "\n{}", report::render(loaded, color(), false));
        return false;
    }
    true
}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// nginx's log before the configuration is read (`ngx_log_init`): the `-e` file, or the
/// standard error. Lines have the error log's layout; a line written to a file is also
/// echoed on stderr as `rginx: [level] message` when it is a warning or worse, as nginx
/// echoes it (`ngx_log_error_core`).
struct StartLog {
    file: Option<std::fs::File>,
}

impl StartLog {
    fn open(cli: &Cli) -> StartLog {
        let Some(name) = cli.error_log_file() else {
            return StartLog { file: None };
        };
        let path = start_log_path(cli, name);
        match std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
        {
            Ok(f) => StartLog { file: Some(f) },
            Err(e) => {
                eprintln!(
                    "{PROGRAM}: [alert] could not open error log file: open() \"{}\" failed {}",
                    path.display(),
                    crate::runtime::base::io::errno_text(&e)
                );
                StartLog { file: None }
            }
        }
    }

    fn line(&mut self, level: Level, msg: &str) {
        let line = crate::runtime::base::log::process_line(level, msg);
        match &mut self.file {
            Some(f) => {
                let _ = f.write_all(&line);
                if level <= Level::Warn {
                    eprintln!("{PROGRAM}: [{}] {msg}", level.as_str());
                }
            }
            None => {
                let _ = std::io::stderr().lock().write_all(&line);
            }
        }
    }

    /// With `-e FILE`, the errors and warnings of a load go to the file too (the stderr
    /// lines are printed by the caller in rginx's `-t` form).
    fn diagnostics(&mut self, loaded: &config::Loaded) {
        let Some(f) = &mut self.file else {
            return;
        };
        for d in loaded
            .diagnostics
            .in_nginx_order()
            .iter()
            .filter(|d| d.is_nginx())
        {
            let line = d.nginx_line(&loaded.sources);
            let (level, msg) = Level::split_line(&line);
            let _ = f.write_all(&crate::runtime::base::log::process_line(level, msg));
            if d.is_error() {
                break;
            }
        }
    }
}

/// `-e` relative to the prefix, as `ngx_log_init` resolves it.
fn start_log_path(cli: &Cli, name: &Path) -> PathBuf {
    use crate::config::lower::main::defaults;
    if name.is_absolute() {
        return name.to_path_buf();
    }
    let prefix = cli
        .prefix
        .clone()
        .unwrap_or_else(|| PathBuf::from(defaults::PREFIX));
    prefix.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_line_reads_as_nginx_for_tools() {
        // certbot: re.compile(r"nginx version: ([^/]+)/([0-9\.]*)") must find nginx and a
        // version it accepts, and `grep -o 'nginx/[0-9.]*'` only nginx's.
        let line = version_line();
        assert!(line.starts_with(&format!("nginx version: nginx/{NGINX_VERSION} ")));
        assert!(line.ends_with(&format!("({PROGRAM} {VERSION})")));
        assert_eq!(line.matches('/').count(), 1);
    }

    #[test]
    fn split_level_reads_nginx_lines() {
        assert_eq!(
            Level::split_line("[warn] a thing in f:1"),
            (Level::Warn, "a thing in f:1")
        );
        assert_eq!(Level::split_line("odd"), (Level::Emerg, "odd"));
    }
}
