//! A server started as operators start one (a master process, in the foreground or as a
//! daemon) and driven as they drive it: `-s`, signals, the pid file, the error log. For the
//! process tests (`tests/process.rs`, `tests/reload.rs`), against rginx and the real nginx.
//!
//! Every process is stopped by its own pid when dropped (`TERM`, so that nginx's master takes
//! its workers with it, then `KILL` if it lingers).
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Prefix;

/// The main-context lines of the process tests: logs and pid inside the prefix, a master
/// process with two workers.
pub const MAIN: &str =
    "error_log logs/error.log info;\npid logs/server.pid;\nworker_processes 2;\n";

pub struct Proc {
    pub prefix: Prefix,
    pub program: PathBuf,
    /// Present when started in the foreground.
    child: Option<Child>,
    pub pid: i32,
}

impl Proc {
    /// Writes `conf` and starts `program` in the foreground (`-g "daemon off;"` plus `g`),
    /// then waits until every address in `ready` accepts.
    pub fn foreground(
        program: &Path,
        prefix: Prefix,
        conf: &str,
        g: &str,
        ready: &[SocketAddr],
    ) -> Proc {
        prefix.write("conf/nginx.conf", conf.as_bytes());
        let child = Command::new(program)
            .arg("-p")
            .arg(prefix.arg())
            .arg("-c")
            .arg(prefix.conf())
            .args(["-g", &format!("daemon off; {g}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let pid = child.id() as i32;
        let mut p = Proc {
            prefix,
            program: program.to_path_buf(),
            child: Some(child),
            pid,
        };
        p.wait_ready(ready);
        if conf.contains("pid logs/server.pid;") {
            // A port answering may be another test's server that took the same free port;
            // the pid file naming this process says it is this one, and that its signal
            // handlers are in place (both write it once serving).
            p.wait_pid_file("server.pid");
        }
        p
    }

    /// Waits until the pid file `logs/NAME` names this process.
    fn wait_pid_file(&mut self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.pid_file(name) != Some(self.pid) {
            assert!(
                Instant::now() < deadline && !self.exited(),
                "{} did not write its pid to logs/{name}; error log:\n{}",
                self.program.display(),
                self.error_log()
            );
            sleep(Duration::from_millis(10));
        }
    }

    /// Starts `program` as a daemon (the configuration's own `daemon`, on by default): the
    /// command must return 0; the pid is read from the pid file.
    pub fn daemon(program: &Path, prefix: Prefix, conf: &str, pid_file: &str) -> (Proc, Output) {
        prefix.write("conf/nginx.conf", conf.as_bytes());
        let out = Command::new(program)
            .arg("-p")
            .arg(prefix.arg())
            .arg("-c")
            .arg(prefix.conf())
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let pid = std::fs::read_to_string(prefix.path().join(pid_file))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .unwrap_or(0);
        (
            Proc {
                prefix,
                program: program.to_path_buf(),
                child: None,
                pid,
            },
            out,
        )
    }

    /// A prefix to run `-s` and `-t` in, with no server started.
    pub fn idle(program: &Path, prefix: Prefix) -> Proc {
        Proc {
            prefix,
            program: program.to_path_buf(),
            child: None,
            pid: 0,
        }
    }

    fn wait_ready(&mut self, ready: &[SocketAddr]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for a in ready {
            while TcpStream::connect_timeout(a, Duration::from_millis(200)).is_err() {
                if let Some(c) = &mut self.child {
                    if let Ok(Some(status)) = c.try_wait() {
                        let mut err = String::new();
                        if let Some(mut e) = c.stderr.take() {
                            let _ = std::io::Read::read_to_string(&mut e, &mut err);
                        }
                        panic!(
                            "{} exited ({status}) before listening on {a}: {err}\nerror log:\n{}",
                            self.program.display(),
                            self.error_log()
                        );
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "{} does not listen on {a}",
                    self.program.display()
                );
                sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn is_nginx(&self) -> bool {
        self.program.file_name().is_some_and(|n| n == "nginx")
    }

    /// Runs `program -p PREFIX -c CONF args...` (`-s reload`, `-t`, ...).
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(&self.program)
            .arg("-p")
            .arg(self.prefix.arg())
            .arg("-c")
            .arg(self.prefix.conf())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run")
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid), sig).expect("signal");
    }

    pub fn alive(&self) -> bool {
        if let Some(status) = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("State:"))
                    .map(String::from)
            })
        {
            return !status.contains('Z');
        }
        false
    }

    /// Waits until the process has exited; its status when it was started in the foreground.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            match &mut self.child {
                Some(c) => {
                    if let Ok(Some(s)) = c.try_wait() {
                        return Some(s);
                    }
                }
                None => {
                    if !self.alive() {
                        return None;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} ({}) did not exit",
                self.program.display(),
                self.pid
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// Whether it exited by now (without waiting).
    pub fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => !self.alive(),
        }
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read(self.prefix.path().join("logs").join(name))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn error_log(&self) -> String {
        self.log("error.log")
    }

    /// Waits until the error log has at least `n` lines containing `needle`; returns them.
    pub fn wait_log(&self, needle: &str, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let lines: Vec<String> = self
                .error_log()
                .lines()
                .filter(|l| l.contains(needle))
                .map(String::from)
                .collect();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "no {n} lines with {needle:?} in the error log of {}:\n{}",
                self.program.display(),
                self.error_log()
            );
            sleep(Duration::from_millis(10));
        }
    }

    pub fn pid_file(&self, name: &str) -> Option<i32> {
        std::fs::read_to_string(self.prefix.path().join("logs").join(name))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.pid <= 0 || self.exited() {
            return;
        }
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.exited() && Instant::now() < deadline {
            sleep(Duration::from_millis(10));
        }
        if !self.exited() {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
        }
        if let Some(c) = &mut self.child {
            let _ = c.wait();
        }
    }
}

/// nginx's error-log line without its time and pid: `[level] message`.
pub fn strip_log_prefix(line: &str) -> String {
    // "2026/11/21 19:01:15 [notice] 23418#23418: signal process started"
    let Some(i) = line.find(" [") else {
        return line.to_string();
    };
    let rest = &line[i + 1..];
    let Some(close) = rest.find("] ") else {
        return rest.to_string();
    };
    let (level, msg) = rest.split_at(close + 2);
    let msg = match msg.split_once(": ") {
        Some((pid, m)) if pid.chars().all(|c| c.is_ascii_digit() || c == '#') => m,
        _ => msg,
    };
    format!("{level}{msg}")
}

/// A WebSocket echo upstream on 127.0.0.1 (every data message comes back), for tunnels. It
/// runs on a thread of its own, so that a test may block (running `-s`, waiting for a log
/// line) while tunnels stay served.
pub fn ws_echo_upstream() -> SocketAddr {
    use futures_util::{SinkExt, StreamExt};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                        return;
                    };
                    while let Some(Ok(m)) = ws.next().await {
                        if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    addr
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A client's WebSocket through the server under test.
pub struct Tunnel {
    pub ws: Ws,
}

impl Tunnel {
    pub async fn open(url: &str) -> Result<Tunnel, String> {
        let (ws, resp) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if resp.status() != 101 {
            return Err(format!("{url}: status {}", resp.status()));
        }
        Ok(Tunnel { ws })
    }

    /// Sends `msg` and waits for it to come back.
    pub async fn echo(&mut self, msg: &str) -> Result<(), String> {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        self.ws
            .send(Message::text(msg))
            .await
            .map_err(|e| format!("send: {e}"))?;
        let got = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
            .await
            .map_err(|_| "no echo within 10 s".to_string())?;
        match got {
            Some(Ok(Message::Text(t))) if t.as_str() == msg => Ok(()),
            other => Err(format!("expected {msg:?} back, got {other:?}")),
        }
    }

    /// Waits until the server ends the tunnel (EOF, close or error).
    pub async fn ended(&mut self, within: Duration) -> bool {
        use futures_util::StreamExt;
        tokio::time::timeout(within, async {
            loop {
                match self.ws.next().await {
                    None | Some(Err(_)) => return,
                    Some(Ok(m)) if m.is_close() => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
        .is_ok()
    }
}

/// `GET path` over a new connection (HTTP/1.0): the status and body, or what went wrong.
pub fn get(port: u16, path: &str) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no head in {text:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_string()))
}
