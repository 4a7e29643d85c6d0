//! The rginx binary: parse nginx's command line, run the mode, exit with its code.

use clap::Parser;

/// mimalloc: the request path allocates small, short-lived buffers on every worker thread,
/// which glibc's allocator serves markedly slower.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = match rginx::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let code = if cli.version || cli.version_full {
        rginx::app::version(cli.version_full)
    } else if cli.test || cli.dump {
        rginx::app::check(&cli)
    } else {
        rginx::app::serve(&cli)
    };
    std::process::exit(code);
}
