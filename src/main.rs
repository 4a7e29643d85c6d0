//! The rginx binary: run the command line, exit with its code.

/// mimalloc: the request path allocates small, short-lived buffers on every worker thread,
/// which glibc's allocator serves markedly slower.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = rginx::app::main(std::env::args_os().skip(1));
    std::process::exit(code);
}
