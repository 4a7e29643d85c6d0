//! Helpers shared by the integration tests: the built binary, the real nginx, temporary
//! prefixes, and the normalisation of nginx's log lines.
#![allow(dead_code)]

pub mod control;
pub mod server;
pub mod tls;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The rginx binary cargo built for these tests.
pub fn rginx() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rginx"))
}

/// The real nginx (Debian's package). The differential tests need it: its absence is a
/// failure, never a skip.
pub fn nginx() -> PathBuf {
    let p = PathBuf::from(std::env::var("NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into()));
    assert!(
        p.exists(),
        "nginx not found at {} (install Debian's nginx, or set NGINX=)",
        p.display()
    );
    p
}

/// A temporary prefix with `conf/` and `logs/`, removed when dropped.
pub struct Prefix {
    pub dir: tempfile::TempDir,
}

impl Prefix {
    pub fn new() -> Prefix {
        let dir = tempfile::Builder::new()
            .prefix("rginx-test")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("conf")).unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        Prefix { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `-p` as nginx wants it, with a trailing slash.
    pub fn arg(&self) -> String {
        format!("{}/", self.path().display())
    }

    pub fn conf(&self) -> PathBuf {
        self.path().join("conf/nginx.conf")
    }

    pub fn write(&self, rel: &str, body: &[u8]) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
        p
    }

    /// Runs `PROGRAM -t -p PREFIX -c conf/nginx.conf` (plus `extra`).
    pub fn test(&self, program: &Path, extra: &[&str]) -> Output {
        let mut cmd = Command::new(program);
        cmd.arg("-p").arg(self.arg()).arg("-c").arg(self.conf());
        if program.ends_with("nginx") {
            cmd.args(["-e", "stderr"]);
        }
        cmd.arg("-t").args(extra);
        cmd.output().expect("run")
    }
}

/// A config with `events {}` and an http block around `http`.
pub fn http_conf(http: &str) -> String {
    format!("events {{}}\nhttp {{\naccess_log off;\n{http}\n}}\n")
}

/// The `[emerg]`/`[warn]` lines of nginx's or rginx's stderr, as `[level] MESSAGE in FILE:LINE`
/// with the prefix replaced by `<P>` (nginx's timestamp and pid removed).
pub fn levels(stderr: &[u8], prefix: &Path) -> Vec<String> {
    let text = String::from_utf8_lossy(stderr);
    let p = prefix.display().to_string();
    text.lines()
        .filter_map(|l| {
            let i = l.find("[emerg] ").or_else(|| l.find("[warn] "))?;
            let level_end = l[i..].find(']')? + i + 1;
            let mut msg = l[level_end + 1..].to_string();
            // nginx: "PID#TID: message"
            if let Some(colon) = msg.find(": ") {
                if msg[..colon].chars().all(|c| c.is_ascii_digit() || c == '#') {
                    msg = msg[colon + 2..].to_string();
                }
            }
            Some(format!("{} {}", &l[i..level_end], msg.replace(&p, "<P>")))
        })
        .collect()
}
