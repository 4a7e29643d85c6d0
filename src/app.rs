//! The modes rginx runs in: check (`-t`, `-T`), and the version flags. Each returns the
//! process exit code; `main` only maps it.

use std::io::{IsTerminal, Write};

use crate::cli::{Cli, Format};
use crate::config::{self, report, Options};

pub const PROGRAM: &str = "rginx";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The nginx version rginx follows, for `$nginx_version` and `Server:`.
pub const NGINX_VERSION: &str = "1.22.1";

pub fn options(cli: &Cli, open_logs: bool) -> Options {
    Options {
        prefix: cli.prefix.clone(),
        conf_file: cli.conf.clone(),
        params: cli.global.as_ref().map(|g| g.as_bytes().to_vec()),
        open_logs,
    }
}

/// `-t` / `-T` / `--check`.
pub fn check(cli: &Cli) -> i32 {
    let loaded = config::load(&options(cli, true));
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
                let color =
                    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                let _ = write!(stderr, "\n{}", report::render(&loaded, color, false));
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

/// Serving: load the configuration through the same pipeline as `-t`, then run it. Like
/// nginx, a bad configuration prints its `[emerg]` line and exits 1 (with rginx's report of
/// every diagnostic after it).
pub fn serve(cli: &Cli) -> i32 {
    let loaded = config::load(&options(cli, true));
    let mut stderr = std::io::stderr().lock();
    for d in loaded
        .diagnostics
        .in_nginx_order()
        .iter()
        .filter(|d| d.is_nginx())
    {
        if d.is_error() || d.severity == config::diagnostic::Severity::Warn {
            let _ = writeln!(stderr, "{PROGRAM}: {}", d.nginx_line(&loaded.sources));
        }
        if d.is_error() {
            break;
        }
    }
    if !loaded.ok() {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let _ = write!(stderr, "\n{}", report::render(&loaded, color, false));
        return 1;
    }
    drop(stderr);
    let Some(config) = loaded.config else {
        return 1;
    };
    crate::runtime::run(config)
}

pub fn version(full: bool) -> i32 {
    eprintln!("{PROGRAM} version: {PROGRAM}/{VERSION} (nginx/{NGINX_VERSION} compatible)");
    if full {
        eprintln!("built with rustls (TLS SNI support enabled)");
        eprintln!(
            "configure arguments: {}",
            crate::config::registry::configure_arguments()
        );
    }
    0
}
