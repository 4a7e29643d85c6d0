//! Fuzz target `parse_load`: the nginx tokenizer/parser and the whole config loader must never
//! panic, whatever the bytes of `nginx.conf` are.
//!
//! Every input is (a) parsed with `rginx::syntax::parse`, then (b) written as `nginx.conf` into
//! a per-process temporary directory and loaded with `rginx::config::load` (prefix = that
//! directory, logs not opened), and its diagnostics rendered three ways (nginx lines, the rich
//! report, JSON).
//!
//! Step (b) is skipped (parsing still runs) for inputs that could make the loader slow, block,
//! leave the machine or read outside the temporary directory; see `load_is_safe`.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

struct Scratch {
    dir: PathBuf,
    conf: PathBuf,
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rginx-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the fuzz scratch directory");
        let conf = dir.join("nginx.conf");
        Scratch { dir, conf }
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

/// Whether loading this input stays fast, offline and inside the scratch directory.
///
/// nginx's escapes (`\"`, `\'`, `\\`, `\t`, `\r`, `\n`) never turn other bytes into letters or
/// `/`, so a word the loader sees contains one of these byte strings only if the input does.
fn load_is_safe(data: &[u8]) -> bool {
    const SKIP: &[&[u8]] = &[
        // Host names are resolved with getaddrinfo at load time (network, slow).
        b"_pass",    // proxy_pass, fastcgi_pass, grpc_pass, uwsgi_pass, scgi_pass, ...
        b"upstream", // `server NAME` inside an upstream
        b"listen",   // `listen NAME:PORT`
        b"resolver",
        // Files that block or never end when read (ssl_certificate, include, ...).
        b"/dev",
        b"/proc",
        b"/sys",
        b"/run",
    ];
    if SKIP.iter().any(|s| contains(data, s)) {
        return false;
    }
    // `include` of a path with `/` (absolute, `..`, globs over the whole file system, the
    // machine's own /etc/nginx with its proxy_pass lines): from each `include` to the next
    // `;`, `{` or `}`, refuse `/` and anything that could hide one from this scan (quotes,
    // escapes, comments). Relative includes without `/` stay in the scratch directory, which
    // holds only nginx.conf.
    let mut rest = data;
    while let Some(i) = find(rest, b"include") {
        rest = &rest[i + b"include".len()..];
        for &b in rest {
            match b {
                b';' | b'{' | b'}' => break,
                b'/' | b'"' | b'\'' | b'\\' | b'#' => return false,
                _ => {}
            }
        }
    }
    true
}

fuzz_target!(|data: &[u8]| {
    // (a) the syntax layer alone.
    let parsed = rginx::syntax::parse(data, rginx::source::FileId(0));
    std::hint::black_box(&parsed);

    // (b) the whole loader on the same bytes as a file on disk.
    if !load_is_safe(data) {
        return;
    }
    let s = scratch();
    std::fs::write(&s.conf, data).expect("write the fuzz nginx.conf");
    let options = rginx::config::Options {
        prefix: Some(s.dir.clone()),
        conf_file: Some(s.conf.clone()),
        params: None,
        error_log: None,
        open_logs: false,
    };
    let loaded = rginx::config::load(&options);
    let lines = rginx::config::report::nginx_lines(&loaded, "rginx", false);
    let rich = rginx::config::report::render(&loaded, false, true);
    let json = rginx::config::report::json(&loaded);
    std::hint::black_box((lines, rich, json));
});
