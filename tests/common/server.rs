//! A running nginx or rginx for the tests that talk to one server at a time: started in the
//! foreground on a prefix, waited for until it accepts, stopped by its pid when dropped.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::Prefix;

/// A free loopback port (bound and released: the tests never assume a fixed one).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The main-context lines every test config starts with: logs and pid inside the prefix.
pub const MAIN: &str = "error_log logs/error.log info;\npid logs/server.pid;\n";

pub struct Server {
    pub prefix: Prefix,
    pub program: PathBuf,
    child: Child,
}

impl Server {
    /// Writes `conf` as `conf/nginx.conf` and starts `program` on it in the foreground (one
    /// process, as the tests want), then waits until every address in `ready` accepts.
    pub fn start(program: &Path, prefix: Prefix, conf: &str, ready: &[SocketAddr]) -> Server {
        prefix.write("conf/nginx.conf", conf.as_bytes());
        let child = Command::new(program)
            .arg("-p")
            .arg(prefix.arg())
            .arg("-c")
            .arg(prefix.conf())
            .args(["-g", "daemon off; master_process off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let mut s = Server {
            prefix,
            program: program.to_path_buf(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for a in ready {
            while TcpStream::connect_timeout(a, Duration::from_millis(200)).is_err() {
                if let Ok(Some(status)) = s.child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = s.child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut e, &mut err);
                    }
                    panic!(
                        "{} exited ({status}) before listening on {a}: {err}\nerror log:\n{}",
                        program.display(),
                        s.error_log()
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "{} does not listen on {a}",
                    program.display()
                );
                sleep(Duration::from_millis(20));
            }
        }
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether this is the real nginx (the oracle) rather than rginx.
    pub fn is_nginx(&self) -> bool {
        self.program.file_name().is_some_and(|n| n == "nginx")
    }

    pub fn error_log(&self) -> String {
        std::fs::read(self.prefix.path().join("logs/error.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn access_log(&self) -> String {
        std::fs::read(self.prefix.path().join("logs/access.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the error log has a line containing `needle`.
    pub fn wait_error_log(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(l) = self.error_log().lines().find(|l| l.contains(needle)) {
                return Some(l.to_string());
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
