//! The process as operators drive it (S14.3–S14.5, section 15): `-s` and the pid file,
//! signals, a reload with a broken configuration, graceful and fast stops with an open
//! WebSocket tunnel, `worker_shutdown_timeout`, log reopening after rotation, listeners a
//! reload adds and removes, `daemon`, `user`, `worker_connections` and bind failures.
//!
//! Where nginx shows the behaviour, each test runs the real nginx first (a master process in
//! the foreground) and then rginx, and asserts the same of both; what is compared is the
//! client's view and nginx's log lines without their time and pid.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use common::control::{get, strip_log_prefix, ws_echo_upstream, Proc, Tunnel, MAIN};
use common::server::free_port;
use common::{nginx, rginx, Prefix};
use nix::sys::signal::Signal;

fn programs() -> [PathBuf; 2] {
    [nginx(), rginx()]
}

fn addr(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// A server on `port` answering `/tag` with `tag`, with `/ws` proxied to `ws`.
fn conf(port: u16, ws: SocketAddr, tag: &str, main_extra: &str) -> String {
    format!(
        "{MAIN}{main_extra}\nevents {{}}\nhttp {{\n  access_log logs/access.log;\n  server {{\n    listen 127.0.0.1:{port};\n    \
         location /tag {{ return 200 \"{tag}\\n\"; }}\n    location /ws {{\n      proxy_http_version 1.1;\n      \
         proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection \"upgrade\";\n      \
         proxy_read_timeout 600s;\n      proxy_pass http://{ws};\n    }}\n  }}\n}}\n"
    )
}

fn start(program: &std::path::Path, port: u16, ws: SocketAddr, main_extra: &str) -> Proc {
    Proc::foreground(
        program,
        Prefix::new(),
        &conf(port, ws, "gen1", main_extra),
        "",
        &[addr(port)],
    )
}

fn tag(port: u16) -> String {
    match get(port, "/tag") {
        Ok((200, body)) => body.trim().to_string(),
        other => panic!("/tag on {port}: {other:?}"),
    }
}

/// stderr lines with the program name and nginx's time and pid removed.
fn stderr_lines(out: &std::process::Output, p: &Proc) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| {
            let l = l
                .strip_prefix("nginx: ")
                .or_else(|| l.strip_prefix("rginx: "))
                .unwrap_or(l);
            strip_log_prefix(l).replace(&p.prefix.path().display().to_string(), "<P>")
        })
        .take_while(|l| !l.is_empty())
        .collect()
}

fn refused(port: u16) -> bool {
    TcpStream::connect_timeout(&addr(port), Duration::from_millis(500)).is_err()
}

/// Polls until connecting to `port` is refused.
fn wait_refused(port: u16) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if refused(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// S14.3: `-s` reads the configuration and its pid file; without the file it says so and
/// fails; a pid that is not a number, or names no process, fails too.
#[test]
fn signal_without_a_running_server() {
    let ws: SocketAddr = addr(common::upstream::closed_port());
    let mut seen = Vec::new();
    for program in programs() {
        let prefix = Prefix::new();
        prefix.write("conf/nginx.conf", conf(free_port(), ws, "x", "").as_bytes());
        let p = Proc::idle(&program, prefix);
        let no_file = p.ctl(&["-s", "reload"]);
        p.prefix.write("logs/server.pid", b"abc\n");
        let not_a_number = p.ctl(&["-s", "quit"]);
        // A process that has exited: its pid names nobody now.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        gone.wait().unwrap();
        p.prefix
            .write("logs/server.pid", format!("{gone_pid}\n").as_bytes());
        let no_process = p.ctl(&["-s", "reopen"]);
        let e_file = {
            std::fs::remove_file(p.prefix.path().join("logs/server.pid")).unwrap();
            let out = p.ctl(&["-e", "logs/start.log", "-s", "stop"]);
            (out, p.log("start.log"))
        };
        let outcome = (
            (no_file.status.code(), stderr_lines(&no_file, &p)),
            (not_a_number.status.code(), stderr_lines(&not_a_number, &p)),
            (
                no_process.status.code(),
                stderr_lines(&no_process, &p)
                    .into_iter()
                    .map(|l| l.replace(&gone_pid.to_string(), "PID"))
                    .collect::<Vec<_>>(),
            ),
            (
                e_file.0.status.code(),
                stderr_lines(&e_file.0, &p),
                e_file
                    .1
                    .lines()
                    .map(|l| {
                        strip_log_prefix(l).replace(&p.prefix.path().display().to_string(), "<P>")
                    })
                    .collect::<Vec<_>>(),
            ),
        );
        seen.push(outcome);
    }
    assert_eq!(seen[1], seen[0], "rginx (right) differs from nginx (left)");
    let (no_file, not_a_number, no_process, e_file) = &seen[1];
    assert_eq!(
        no_file,
        &(
            Some(1),
            vec![
                "[notice] signal process started".to_string(),
                "[error] open() \"<P>/logs/server.pid\" failed (2: No such file or directory)"
                    .to_string()
            ]
        )
    );
    assert_eq!(not_a_number.0, Some(1));
    assert!(not_a_number.1[1].starts_with("[error] invalid PID number \"abc\""));
    assert_eq!(no_process.0, Some(1));
    assert_eq!(
        no_process.1[1],
        "[alert] kill(PID, 10) failed (3: No such process)"
    );
    // -e FILE: the lines go to the file, and errors are echoed on stderr.
    assert_eq!(e_file.0, Some(1));
    assert_eq!(
        e_file.1,
        vec!["[error] open() \"<P>/logs/server.pid\" failed (2: No such file or directory)"]
    );
    assert_eq!(e_file.2.len(), 2, "{:?}", e_file.2);
}

/// S14.5: in the foreground the pid file names the process; `-s quit` stops it with exit
/// code 0 and the pid file is removed.
#[tokio::test]
async fn foreground_pid_file_and_quit() {
    let ws = ws_echo_upstream();
    for program in programs() {
        let port = free_port();
        let mut p = start(&program, port, ws, "");
        assert_eq!(
            p.pid_file("server.pid"),
            Some(p.pid),
            "{}",
            program.display()
        );
        assert_eq!(tag(port), "gen1");
        let out = p.ctl(&["-s", "quit"]);
        assert_eq!(out.status.code(), Some(0), "{}", program.display());
        let status = p.wait_exit(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(0), "{}", program.display());
        assert_eq!(p.pid_file("server.pid"), None, "{}", program.display());
    }
}

/// S14.3, S14.4: `-s reload` with a broken configuration fails without signalling; a raw
/// `HUP` logs the error and keeps serving the old configuration; a good one is taken up.
#[tokio::test]
async fn reload_with_a_broken_configuration() {
    let ws = ws_echo_upstream();
    let mut seen = Vec::new();
    for program in programs() {
        let port = free_port();
        let p = start(&program, port, ws, "");
        let broken =
            conf(port, ws, "gen2", "").replace("events {}", "bogus_directive 1;\nevents {}");
        p.prefix.write("conf/nginx.conf", broken.as_bytes());
        let out = p.ctl(&["-s", "reload"]);
        let refused = (out.status.code(), stderr_lines(&out, &p));
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !p.error_log().contains("SIGHUP"),
            "{}: -s reload signalled with a broken configuration",
            program.display()
        );
        assert_eq!(tag(port), "gen1");
        p.signal(Signal::SIGHUP);
        p.wait_log("[emerg]", 1, Duration::from_secs(10));
        assert_eq!(tag(port), "gen1", "{}", program.display());
        let logged: Vec<String> = p
            .error_log()
            .lines()
            .filter(|l| {
                l.contains("SIGHUP") || l.contains("reconfiguring") || l.contains("[emerg]")
            })
            .map(|l| {
                let l = strip_log_prefix(l).replace(&p.prefix.path().display().to_string(), "<P>");
                // nginx names the sender (siginfo); rginx cannot.
                match l.find(" received from ") {
                    Some(i) => {
                        let rest = &l[i + " received from ".len()..];
                        let after = rest.find(',').map_or("", |j| &rest[j..]);
                        format!("{} received{after}", &l[..i])
                    }
                    None => l,
                }
            })
            .collect();
        p.prefix
            .write("conf/nginx.conf", conf(port, ws, "gen3", "").as_bytes());
        assert_eq!(p.ctl(&["-s", "reload"]).status.code(), Some(0));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tag(port) != "gen3" {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: gen3 never served",
                program.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        seen.push((refused, logged));
    }
    assert_eq!(seen[1], seen[0], "rginx (right) differs from nginx (left)");
    assert_eq!(seen[1].0 .0, Some(1));
    assert_eq!(
        seen[1].0 .1,
        vec!["[emerg] unknown directive \"bogus_directive\" in <P>/conf/nginx.conf:5"]
    );
    assert_eq!(
        seen[1].1,
        vec![
            "[notice] signal 1 (SIGHUP) received, reconfiguring",
            "[notice] reconfiguring",
            "[emerg] unknown directive \"bogus_directive\" in <P>/conf/nginx.conf:5",
        ]
    );
}

/// S14.4: `QUIT` closes the listening sockets at once, keeps an open WebSocket tunnel
/// working, and exits 0 (removing the pid file) once the tunnel ends.
#[tokio::test]
async fn graceful_stop_with_an_open_tunnel() {
    let ws = ws_echo_upstream();
    for program in programs() {
        let who = program.display().to_string();
        let port = free_port();
        let mut p = start(&program, port, ws, "");
        let url = format!("ws://127.0.0.1:{port}/ws");
        let mut t = Tunnel::open(&url).await.unwrap();
        t.echo("before").await.unwrap();
        assert_eq!(p.ctl(&["-s", "quit"]).status.code(), Some(0));
        assert!(wait_refused(port), "{who}: still accepting after QUIT");
        t.echo("after quit")
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        assert!(!p.exited(), "{who} exited with a tunnel open");
        assert!(p.pid_file("server.pid").is_some(), "{who}");
        drop(t);
        let status = p.wait_exit(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(0), "{who}");
        assert_eq!(p.pid_file("server.pid"), None, "{who}");
    }
}

/// S14.4: with `worker_shutdown_timeout`, a graceful stop closes the tunnel when it passes;
/// `TERM` closes it at once.
#[tokio::test]
async fn shutdown_timeout_and_fast_stop_end_tunnels() {
    let ws = ws_echo_upstream();
    for program in programs() {
        let who = program.display().to_string();
        let port = free_port();
        let mut p = start(&program, port, ws, "worker_shutdown_timeout 1s;");
        let url = format!("ws://127.0.0.1:{port}/ws");
        let mut t = Tunnel::open(&url).await.unwrap();
        t.echo("before").await.unwrap();
        p.signal(Signal::SIGQUIT);
        assert!(wait_refused(port), "{who}");
        t.echo("within the timeout")
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        assert!(
            t.ended(Duration::from_secs(10)).await,
            "{who}: tunnel not closed"
        );
        assert_eq!(
            p.wait_exit(Duration::from_secs(10)).unwrap().code(),
            Some(0),
            "{who}"
        );
        // The tunnel the timeout closed is logged as any request that ends.
        let access = p.log("access.log");
        assert!(
            access
                .lines()
                .any(|l| l.contains("\"GET /ws HTTP/1.1\" 101 ")),
            "{who}: no access line for the tunnel:\n{access}"
        );

        let port = free_port();
        let mut p = start(&program, port, ws, "");
        let mut t = Tunnel::open(&format!("ws://127.0.0.1:{port}/ws"))
            .await
            .unwrap();
        t.echo("before").await.unwrap();
        assert_eq!(p.ctl(&["-s", "stop"]).status.code(), Some(0));
        assert!(
            t.ended(Duration::from_secs(10)).await,
            "{who}: TERM left the tunnel open"
        );
        assert_eq!(
            p.wait_exit(Duration::from_secs(10)).unwrap().code(),
            Some(0),
            "{who}"
        );
        assert_eq!(p.pid_file("server.pid"), None, "{who}");
    }
}

/// A reload moves new connections to the new configuration while a tunnel opened before it
/// carries on; the old configuration's `worker_shutdown_timeout` bounds how long (nginx's old
/// workers shut down the same way).
#[tokio::test]
async fn reload_keeps_tunnels_until_the_old_shutdown_timeout() {
    let ws = ws_echo_upstream();
    for program in programs() {
        let who = program.display().to_string();
        let port = free_port();
        let p = start(&program, port, ws, "worker_shutdown_timeout 1s;");
        let url = format!("ws://127.0.0.1:{port}/ws");
        let mut old = Tunnel::open(&url).await.unwrap();
        old.echo("gen1").await.unwrap();
        // The new configuration has no timeout: its tunnels stay.
        p.prefix
            .write("conf/nginx.conf", conf(port, ws, "gen2", "").as_bytes());
        assert_eq!(p.ctl(&["-s", "reload"]).status.code(), Some(0));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tag(port) != "gen2" {
            assert!(
                std::time::Instant::now() < deadline,
                "{who}: gen2 never served"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        old.echo("after reload")
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        let mut new = Tunnel::open(&url).await.unwrap();
        new.echo("gen2").await.unwrap();
        assert!(
            old.ended(Duration::from_secs(10)).await,
            "{who}: old tunnel kept"
        );
        new.echo("still here")
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
    }
}

/// logrotate: the files are moved away, `-s reopen` (USR1) creates new ones.
#[tokio::test]
async fn log_reopen_after_the_files_were_moved() {
    let ws = ws_echo_upstream();
    for program in programs() {
        let who = program.display().to_string();
        let port = free_port();
        let p = start(&program, port, ws, "");
        assert_eq!(tag(port), "gen1");
        let logs = p.prefix.path().join("logs");
        std::fs::rename(logs.join("access.log"), logs.join("access.log.1")).unwrap();
        std::fs::rename(logs.join("error.log"), logs.join("error.log.1")).unwrap();
        // Still written to the moved files until reopened.
        assert_eq!(tag(port), "gen1");
        assert_eq!(p.ctl(&["-s", "reopen"]).status.code(), Some(0));
        // nginx's workers reopen after its master: requests land in the new file from
        // some moment on.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while p.log("access.log").is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{who}: no new access.log"
            );
            assert_eq!(tag(port), "gen1");
            std::thread::sleep(Duration::from_millis(20));
        }
        let rotated = p.log("access.log.1");
        let fresh = p.log("access.log");
        assert!(rotated.lines().count() >= 2, "{who}: {rotated}");
        assert!(
            fresh
                .lines()
                .all(|l| l.contains("\"GET /tag HTTP/1.0\" 200")),
            "{who}: {fresh}"
        );
        assert!(
            logs.join("error.log").exists(),
            "{who}: error.log not recreated"
        );
        let old_errors = p.log("error.log.1");
        assert!(
            old_errors.contains("signal 10 (SIGUSR1) received")
                && old_errors.contains("reopening logs"),
            "{who}: {old_errors}"
        );
    }
}

/// A reload that adds a listener accepts on it; one that removes it refuses, and closes the
/// idle connections that came through it (nginx's old workers close theirs).
#[tokio::test]
async fn reload_adds_and_removes_listeners() {
    let ws = ws_echo_upstream();
    for program in programs() {
        let who = program.display().to_string();
        let (a, b) = (free_port(), free_port());
        let p = start(&program, a, ws, "");
        let two = conf(a, ws, "two", "").replace(
            &format!("listen 127.0.0.1:{a};"),
            &format!("listen 127.0.0.1:{a}; listen 127.0.0.1:{b};"),
        );
        p.prefix.write("conf/nginx.conf", two.as_bytes());
        assert_eq!(p.ctl(&["-s", "reload"]).status.code(), Some(0));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while get(b, "/tag").is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "{who}: {b} never served"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(tag(b), "two");
        // An idle connection on `a`, then a configuration without `a`.
        let idle = TcpStream::connect(addr(a)).unwrap();
        p.prefix
            .write("conf/nginx.conf", conf(b, ws, "three", "").as_bytes());
        assert_eq!(p.ctl(&["-s", "reload"]).status.code(), Some(0));
        assert!(wait_refused(a), "{who}: {a} still accepts");
        assert_eq!(tag(b), "three");
        idle.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 16];
        let n = std::io::Read::read(&mut &idle, &mut buf).unwrap_or(0);
        assert_eq!(
            n, 0,
            "{who}: the idle connection on the removed socket stays open"
        );
    }
}

/// Section 15: `worker_connections` per worker, one taken by each listening socket and one
/// by the worker's channel: past that, the oldest idle connection is closed to make room,
/// and with none idle the new connection is closed, logged as nginx logs it.
#[tokio::test]
async fn worker_connections_degrade_as_in_nginx() {
    use std::io::{Read, Write};
    let ws = ws_echo_upstream();
    for program in programs() {
        let who = program.display().to_string();
        let port = free_port();
        let c = conf(port, ws, "gen1", "")
            .replace("worker_processes 2;", "worker_processes 1;")
            .replace("events {}", "events { worker_connections 5; }");
        let p = Proc::foreground(&program, Prefix::new(), &c, "", &[addr(port)]);
        // wait_ready's probe connection is gone again: three slots are free.
        std::thread::sleep(Duration::from_millis(200));
        let mut idle = Vec::new();
        for _ in 0..3 {
            idle.push(TcpStream::connect(addr(port)).unwrap());
            std::thread::sleep(Duration::from_millis(50));
        }
        // A fourth: the oldest idle one makes room.
        assert_eq!(tag(port), "gen1", "{who}");
        idle[0]
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut b = [0u8; 8];
        assert_eq!(
            idle[0].read(&mut b).unwrap_or(0),
            0,
            "{who}: oldest idle kept"
        );
        p.wait_log(
            "5 worker_connections are not enough, reusing connections",
            1,
            Duration::from_secs(5),
        );
        // Busy connections (a request begun) are not reused: the next one is refused.
        let mut busy = Vec::new();
        for _ in 0..3 {
            let mut s = TcpStream::connect(addr(port)).unwrap();
            s.write_all(b"GET /tag HTTP/1.1\r\n").unwrap();
            busy.push(s);
            std::thread::sleep(Duration::from_millis(50));
        }
        let r = get(port, "/tag");
        assert!(r.is_err(), "{who}: served past worker_connections: {r:?}");
        let alerts = p
            .error_log()
            .lines()
            .filter(|l| l.contains("[alert]") && l.ends_with("5 worker_connections are not enough"))
            .count();
        assert!(alerts >= 1, "{who}: {}", p.error_log());
    }
}

/// S14.5: an address in use is tried five times, half a second apart, then start fails.
#[test]
fn bind_failure_matches_nginx() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let ws = addr(common::upstream::closed_port());
    let runs: Vec<_> = programs()
        .into_iter()
        .map(|program| {
            std::thread::spawn(move || {
                let prefix = Prefix::new();
                prefix.write("conf/nginx.conf", conf(port, ws, "x", "").as_bytes());
                let out = std::process::Command::new(&program)
                    .arg("-p")
                    .arg(prefix.arg())
                    .arg("-c")
                    .arg(prefix.conf())
                    .args(["-g", "daemon off;"])
                    .output()
                    .unwrap();
                let lines: Vec<String> = String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .filter(|l| l.contains("[emerg]"))
                    .map(|l| l.replace("rginx: ", "nginx: "))
                    .collect();
                (out.status.code(), lines)
            })
        })
        .collect();
    let seen: Vec<_> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    drop(taken);
    assert_eq!(seen[1], seen[0], "rginx (right) differs from nginx (left)");
    let mut expected = vec![
        format!(
            "nginx: [emerg] bind() to 127.0.0.1:{port} failed (98: Address already in use)"
        );
        5
    ];
    expected.push("nginx: [emerg] still could not bind()".into());
    assert_eq!(seen[1], (Some(1), expected));
}

/// `daemon on` (the default): the command returns once the server accepts connections and
/// the pid file names it (rginx's start waits for that; nginx's parent returns at fork).
#[tokio::test]
async fn daemon_returns_once_serving() {
    let ws = ws_echo_upstream();
    let port = free_port();
    let (mut p, out) = Proc::daemon(
        &rginx(),
        Prefix::new(),
        &conf(port, ws, "gen1", ""),
        "logs/server.pid",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(p.pid > 0, "no pid file");
    assert!(p.alive());
    // No retry: it must accept now.
    assert_eq!(tag(port), "gen1");
    // Detached: a session of its own.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid)).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_eq!(fields[3], p.pid.to_string(), "not a session leader: {stat}");
    assert_eq!(p.ctl(&["-s", "stop"]).status.code(), Some(0));
    p.wait_exit(Duration::from_secs(10));
    assert_eq!(p.pid_file("server.pid"), None);

    // A start that fails reports it, with the detached copy's exit code.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let (_p, out) = Proc::daemon(
        &rginx(),
        Prefix::new(),
        &conf(busy, ws, "x", ""),
        "logs/server.pid",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("still could not bind()"));
}

/// `USR2` and `WINCH` belong to nginx's binary upgrade, which rginx does not do: it says so
/// and keeps serving.
#[tokio::test]
async fn binary_upgrade_signals_are_refused_clearly() {
    let ws = ws_echo_upstream();
    let port = free_port();
    let p = start(&rginx(), port, ws, "");
    p.signal(Signal::SIGUSR2);
    p.signal(Signal::SIGWINCH);
    p.wait_log(
        "signal 28 (SIGWINCH) received, ignoring",
        1,
        Duration::from_secs(10),
    );
    let log = p.error_log();
    assert!(log.contains("[notice]") && log.contains("signal 12 (SIGUSR2) received, ignoring"));
    assert!(log.contains("rginx does not change its binary on the fly (USR2)"));
    assert_eq!(tag(port), "gen1");
}

/// `user`: the worker threads run as the user, the main thread keeps root (it reloads
/// configuration and keys, and binds ports, as nginx's master). Without root, nginx's
/// warning.
#[tokio::test]
async fn user_applies_to_the_worker_threads() {
    let ws = ws_echo_upstream();
    let port = free_port();
    let p = start(&rginx(), port, ws, "user nobody nogroup;");
    assert_eq!(tag(port), "gen1");
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    let mut uids = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{}/task", p.pid)).unwrap() {
        let status = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        let name = status.lines().next().unwrap().to_string();
        let uid = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse::<u32>()
            .unwrap();
        uids.push((name, uid));
    }
    let me = nix::unistd::geteuid().as_raw();
    if nix::unistd::geteuid().is_root() {
        let workers: Vec<_> = uids
            .iter()
            .filter(|(n, _)| n.contains("rginx-worker"))
            .collect();
        assert_eq!(workers.len(), 2, "{uids:?}");
        assert!(workers.iter().all(|(_, u)| *u == nobody), "{uids:?}");
        let main = uids.iter().find(|(n, _)| !n.contains("worker")).unwrap();
        assert_eq!(main.1, 0, "{uids:?}");
        // A reload still works (the main thread reads the files and binds as root).
        p.prefix.write(
            "conf/nginx.conf",
            conf(port, ws, "gen2", "user nobody nogroup;").as_bytes(),
        );
        assert_eq!(p.ctl(&["-s", "reload"]).status.code(), Some(0));
        p.wait_log(
            "configuration generation 2 in use",
            1,
            Duration::from_secs(10),
        );
        assert_eq!(tag(port), "gen2");
    } else {
        assert!(uids.iter().all(|(_, u)| *u == me), "{uids:?}");
        let out = p.ctl(&["-t"]);
        assert!(String::from_utf8_lossy(&out.stderr)
            .contains("the \"user\" directive makes sense only if the master process runs with super-user privileges"));
    }
}

/// certbot's renewal: the certificate files are replaced, then `-s reload`. New handshakes
/// present the new certificate. A keep-alive TLS connection made before it goes on serving
/// requests on rginx (nginx's old worker closes it once idle).
#[tokio::test]
async fn reload_picks_up_renewed_certificates() {
    let rsa = der(include_bytes!("../fixtures/tls/rsa.pem"));
    let ecdsa = der(include_bytes!("../fixtures/tls/ecdsa.pem"));
    for program in programs() {
        let who = program.display().to_string();
        let port = free_port();
        let prefix = Prefix::new();
        prefix.write("conf/cert.pem", include_bytes!("../fixtures/tls/rsa.pem"));
        prefix.write("conf/cert.key", include_bytes!("../fixtures/tls/rsa.key"));
        let c = format!(
            "{MAIN}events {{}}\nhttp {{\n  access_log off;\n  server {{\n    listen 127.0.0.1:{port} ssl;\n    \
             ssl_certificate cert.pem;\n    ssl_certificate_key cert.key;\n    \
             location /tag {{ return 200 \"tag\\n\"; }}\n  }}\n}}\n"
        );
        let p = Proc::foreground(&program, prefix, &c, "", &[addr(port)]);
        let (cert, mut kept) = tls_connect(port).await;
        assert_eq!(cert, rsa, "{who}");
        assert_eq!(tls_get(&mut kept).await, Ok(200), "{who}");

        p.prefix
            .write("conf/cert.pem", include_bytes!("../fixtures/tls/ecdsa.pem"));
        p.prefix
            .write("conf/cert.key", include_bytes!("../fixtures/tls/ecdsa.key"));
        assert_eq!(p.ctl(&["-s", "reload"]).status.code(), Some(0), "{who}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (cert, mut s) = tls_connect(port).await;
            if cert == ecdsa {
                assert_eq!(tls_get(&mut s).await, Ok(200), "{who}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{who}: old certificate after reload"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !p.is_nginx() {
            assert_eq!(tls_get(&mut kept).await, Ok(200), "{who}: kept connection");
        }
    }
}

type TlsStream = tokio::io::BufReader<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

fn der(pem: &[u8]) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .next()
        .expect("a certificate")
        .expect("PEM")
        .to_vec()
}

/// A TLS connection to `port` and the certificate it presented.
async fn tls_connect(port: u16) -> (Vec<u8>, TlsStream) {
    let (config, presented) = common::tls::client(Default::default());
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("example.com").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap();
    (presented.leaf(), tokio::io::BufReader::new(tls))
}

/// A keep-alive `GET /tag` on `s`: the status.
async fn tls_get(s: &mut TlsStream) -> Result<u16, String> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    s.get_mut()
        .write_all(b"GET /tag HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut status = None;
    let mut len = 0;
    loop {
        let mut line = String::new();
        if s.read_line(&mut line)
            .await
            .map_err(|e| format!("read: {e}"))?
            == 0
        {
            return Err("closed".into());
        }
        if status.is_none() {
            status = line.split(' ').nth(1).and_then(|c| c.parse().ok());
        } else if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        } else if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)
        .await
        .map_err(|e| format!("body: {e}"))?;
    status.ok_or_else(|| "no status".into())
}

/// `worker_rlimit_nofile` is the workers' open-file limit (soft and hard): nginx's worker
/// processes, rginx's process (its workers are threads).
#[tokio::test]
async fn worker_rlimit_nofile_sets_the_workers_limit() {
    let ws = ws_echo_upstream();
    for program in programs() {
        let who = program.display().to_string();
        let port = free_port();
        let p = start(&program, port, ws, "worker_rlimit_nofile 4321;");
        let worker = if p.is_nginx() {
            let children =
                std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", p.pid)).unwrap();
            children.split_whitespace().next().unwrap().parse().unwrap()
        } else {
            p.pid
        };
        let limits = std::fs::read_to_string(format!("/proc/{worker}/limits")).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        let values: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
        assert_eq!(values, ["4321", "4321"], "{who}: {line}");
    }
}

/// An HTTP/2 connection stays on the configuration it was accepted with: a reload sends it
/// GOAWAY (as nginx's old workers do), and the client's next connection gets the new one.
#[tokio::test]
async fn reload_sends_goaway_to_http2_connections() {
    for program in programs() {
        let who = program.display().to_string();
        let port = free_port();
        let h2conf = |tag: &str| {
            format!(
                "{MAIN}events {{}}\nhttp {{\n  access_log off;\n  server {{\n    listen 127.0.0.1:{port} http2;\n    \
                 location /tag {{ return 200 \"{tag}\"; }}\n  }}\n}}\n"
            )
        };
        let p = Proc::foreground(&program, Prefix::new(), &h2conf("gen1"), "", &[addr(port)]);
        let (mut h2, ended) = h2_connect(port).await;
        assert_eq!(h2_get(&mut h2, port).await, "gen1", "{who}");
        p.prefix.write("conf/nginx.conf", h2conf("gen2").as_bytes());
        assert_eq!(p.ctl(&["-s", "reload"]).status.code(), Some(0));
        tokio::time::timeout(Duration::from_secs(10), ended)
            .await
            .unwrap_or_else(|_| panic!("{who}: the HTTP/2 connection stayed open"))
            .unwrap();
        let (mut h2, _) = h2_connect(port).await;
        assert_eq!(h2_get(&mut h2, port).await, "gen2", "{who}");
    }
}

/// An HTTP/2 connection with prior knowledge; the receiver fires when the connection ends.
async fn h2_connect(
    port: u16,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::sync::oneshot::Receiver<()>,
) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (h2, conn) = h2::client::handshake(tcp).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = conn.await;
        let _ = tx.send(());
    });
    (h2, rx)
}

async fn h2_get(h2: &mut h2::client::SendRequest<bytes::Bytes>, port: u16) -> String {
    let req = http::Request::builder()
        .uri(format!("http://127.0.0.1:{port}/tag"))
        .body(())
        .unwrap();
    let (resp, _) = h2.send_request(req, true).unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8_lossy(&out).into_owned()
}
