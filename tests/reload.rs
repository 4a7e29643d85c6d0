//! Reload under load (issue 5): a request loop and 200+ open WebSocket tunnels through rginx
//! while its configuration is reloaded 24 times, a third of them with a broken configuration
//! (by `-s reload`, which refuses without signalling, and by a raw `HUP`, which rginx logs
//! and survives), the others moving `/app` between two upstreams.
//!
//! Asserted: no request fails (keep-alive clients and a client connecting anew each time), no
//! tunnel drops (each echoes at the end, and a sample after every reload), new requests
//! follow each new configuration (on fresh connections at once, on keep-alive connections
//! from their next request), broken configurations change nothing. The test prints what
//! the log says of each reload (its time, connections left on older generations).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::control::{get, ws_echo_upstream, Proc, Tunnel};
use common::server::free_port;
use common::{rginx, Prefix};
use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const TUNNELS: usize = 200;
const RELOADS: usize = 24;

/// An HTTP upstream answering every request with `name` (keep-alive as HTTP/1.1 allows).
fn named_upstream(name: &'static str) -> SocketAddr {
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
                    let (r, mut w) = s.into_split();
                    let mut r = BufReader::new(r);
                    loop {
                        // Read one request head (proxied requests here have no body).
                        let mut line = String::new();
                        let mut keep = false;
                        loop {
                            line.clear();
                            match r.read_line(&mut line).await {
                                Ok(0) | Err(_) => return,
                                Ok(_) => {}
                            }
                            if line.starts_with("GET ") {
                                keep = line.trim_end().ends_with("HTTP/1.1");
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n{name}",
                            name.len(),
                            if keep { "" } else { "Connection: close\r\n" }
                        );
                        if w.write_all(resp.as_bytes()).await.is_err() || !keep {
                            return;
                        }
                    }
                });
            }
        });
    });
    addr
}

/// The configuration of one reload: `/app` on `app`, `/gen` saying `generation`.
fn conf(port: u16, app: SocketAddr, ws: SocketAddr, generation: usize, broken: bool) -> String {
    format!(
        "error_log logs/error.log notice;\npid logs/server.pid;\nworker_processes 2;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 1000000;\n  {}\n  upstream ws {{ server {ws}; }}\n  server {{\n    listen 127.0.0.1:{port};\n    \
         location /app {{ proxy_pass http://{app}; }}\n    location /gen {{ return 200 \"{generation}\"; }}\n    \
         location /ws {{\n      proxy_http_version 1.1;\n      proxy_set_header Upgrade $http_upgrade;\n      \
         proxy_set_header Connection \"upgrade\";\n      proxy_read_timeout 600s;\n      proxy_pass http://ws;\n    }}\n  }}\n}}\n",
        if broken { "proxy_buffering maybe;" } else { "" }
    )
}

/// What the request loops saw.
#[derive(Default)]
struct Seen {
    ok: AtomicU64,
    failures: Mutex<Vec<String>>,
    /// Per client, the last answer from `/app`, with the epoch its request was sent in.
    last: Mutex<HashMap<usize, (u64, String)>>,
    /// Advanced by the test after each reload is in force: a request sent in the new epoch
    /// must get the new configuration's answer.
    epoch: AtomicU64,
    /// Per keep-alive client, the connections it opened.
    connections: Mutex<HashMap<usize, usize>>,
}

/// A keep-alive client: GET /app again and again on one connection (a new one only when
/// the server says `Connection: close`).
async fn keepalive_loop(id: usize, port: u16, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    let mut conn: Option<BufReader<tokio::net::TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                Ok(s) => {
                    *seen.connections.lock().unwrap().entry(id).or_default() += 1;
                    conn = Some(BufReader::new(s))
                }
                Err(e) => {
                    seen.failures
                        .lock()
                        .unwrap()
                        .push(format!("client {id}: connect: {e}"));
                    return;
                }
            }
        }
        let c = conn.as_mut().unwrap();
        let epoch = seen.epoch.load(Ordering::SeqCst);
        let r = async {
            c.get_mut()
                .write_all(b"GET /app HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .map_err(|e| format!("send: {e}"))?;
            let mut len = None;
            let mut close = false;
            let mut status = String::new();
            loop {
                let mut line = String::new();
                if c.read_line(&mut line)
                    .await
                    .map_err(|e| format!("read: {e}"))?
                    == 0
                {
                    return Err("closed before the response".to_string());
                }
                if status.is_empty() {
                    status = line.trim_end().to_string();
                    continue;
                }
                let l = line.to_ascii_lowercase();
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse::<usize>().ok();
                }
                if l.starts_with("connection: close") {
                    close = true;
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; len.ok_or("no length")?];
            c.read_exact(&mut body)
                .await
                .map_err(|e| format!("body: {e}"))?;
            if !status.starts_with("HTTP/1.1 200") {
                return Err(format!("status {status}"));
            }
            Ok((String::from_utf8_lossy(&body).into_owned(), close))
        }
        .await;
        match r {
            Ok((body, close)) => {
                seen.ok.fetch_add(1, Ordering::Relaxed);
                seen.last.lock().unwrap().insert(id, (epoch, body));
                if close {
                    conn = None;
                }
            }
            Err(e) => {
                seen.failures
                    .lock()
                    .unwrap()
                    .push(format!("keep-alive client {id}: {e}"));
                conn = None;
            }
        }
    }
}

/// A client connecting anew for every request (any refused connection shows here).
fn fresh_loop(id: usize, port: u16, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    while !stop.load(Ordering::Relaxed) {
        let epoch = seen.epoch.load(Ordering::SeqCst);
        match get(port, "/app") {
            Ok((200, body)) => {
                seen.ok.fetch_add(1, Ordering::Relaxed);
                seen.last.lock().unwrap().insert(id, (epoch, body));
            }
            other => seen
                .failures
                .lock()
                .unwrap()
                .push(format!("fresh client {id}: {other:?}")),
        }
    }
}

#[tokio::test]
async fn reload_under_load_keeps_every_request_and_tunnel() {
    let a = named_upstream("A");
    let b = named_upstream("B");
    let ws = ws_echo_upstream();
    let port = free_port();
    let p = Proc::foreground(
        &rginx(),
        Prefix::new(),
        &conf(port, a, ws, 1, false),
        "",
        &[([127, 0, 0, 1], port).into()],
    );
    let url = format!("ws://127.0.0.1:{port}/ws");

    // The tunnels, each proven with an echo.
    let mut tunnels = Vec::with_capacity(TUNNELS + RELOADS);
    for chunk in 0..TUNNELS / 50 {
        let opened = futures_util::future::join_all((0..50).map(|i| {
            let url = url.clone();
            async move {
                let mut t = Tunnel::open(&url).await?;
                t.echo(&format!("hello {}", chunk * 50 + i)).await?;
                Ok::<_, String>(t)
            }
        }))
        .await;
        for t in opened {
            tunnels.push(t.unwrap());
        }
    }

    // The request loops run on threads of their own while this task reloads.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let mut loops = Vec::new();
    for id in 0..4 {
        let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
        loops.push(std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(keepalive_loop(id, port, stop, seen))
        }));
    }
    for id in 4..6 {
        let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
        loops.push(std::thread::spawn(move || fresh_loop(id, port, stop, seen)));
    }

    let mut generation = 1;
    let mut app = "A";
    let mut good = 0;
    let mut refused_by_ctl = 0;
    let mut failed_in_process = 0;
    for i in 0..RELOADS {
        let before = seen.ok.load(Ordering::Relaxed);
        match i % 3 {
            // A broken configuration: `-s reload` refuses it without signalling.
            1 if i % 2 == 1 => {
                p.prefix.write(
                    "conf/nginx.conf",
                    conf(port, a, ws, generation + 1, true).as_bytes(),
                );
                let out = p.ctl(&["-s", "reload"]);
                assert_eq!(out.status.code(), Some(1), "reload {i}");
                assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value \"maybe\""));
                refused_by_ctl += 1;
            }
            // A broken configuration signalled anyway: logged, and nothing changes.
            1 => {
                p.prefix.write(
                    "conf/nginx.conf",
                    conf(port, a, ws, generation + 1, true).as_bytes(),
                );
                p.signal(Signal::SIGHUP);
                failed_in_process += 1;
                p.wait_log("stays in use", failed_in_process, Duration::from_secs(10));
            }
            // `/app` moves to the other upstream.
            _ => {
                generation += 1;
                app = if app == "A" { "B" } else { "A" };
                let up = if app == "A" { a } else { b };
                p.prefix.write(
                    "conf/nginx.conf",
                    conf(port, up, ws, generation, false).as_bytes(),
                );
                let out = p.ctl(&["-s", "reload"]);
                assert_eq!(out.status.code(), Some(0), "reload {i}");
                good += 1;
                p.wait_log("in use, ", good, Duration::from_secs(10));
            }
        }
        // A fresh connection sees the configuration now in force.
        assert_eq!(
            get(port, "/gen").unwrap(),
            (200, generation.to_string()),
            "reload {i}"
        );
        assert_eq!(
            get(port, "/app").unwrap(),
            (200, app.to_string()),
            "reload {i}"
        );
        // Every client's first request sent from now on gets the new configuration's answer
        // (keep-alive connections move at their next request).
        let epoch = seen.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let last = seen.last.lock().unwrap().clone();
            if last.len() == 6 && last.values().all(|(e, _)| *e >= epoch) {
                let stale: Vec<_> = last.iter().filter(|(_, (_, v))| v != app).collect();
                assert!(
                    stale.is_empty(),
                    "reload {i}: expected {app}, got {stale:?}"
                );
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "reload {i}: clients made no request; failures: {:?}",
                seen.failures.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(seen.ok.load(Ordering::Relaxed) > before);
        // A sample of the old tunnels still echoes, and a new one opens on the new
        // configuration.
        for k in (i * 7..TUNNELS).step_by(41).take(5) {
            tunnels[k]
                .echo(&format!("reload {i} tunnel {k}"))
                .await
                .unwrap_or_else(|e| panic!("reload {i}: tunnel {k}: {e}"));
        }
        let mut t = Tunnel::open(&url).await.unwrap();
        t.echo(&format!("opened after reload {i}")).await.unwrap();
        tunnels.push(t);
    }
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.join().unwrap();
    }
    let failures = seen.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    // Each keep-alive client kept its one connection through every reload.
    let connections = seen.connections.lock().unwrap().clone();
    assert_eq!(connections.len(), 4);
    assert!(connections.values().all(|n| *n == 1), "{connections:?}");

    // Every tunnel, old and new, still echoes.
    let checked =
        futures_util::future::join_all(tunnels.iter_mut().enumerate().map(|(k, t)| async move {
            t.echo(&format!("final {k}"))
                .await
                .map_err(|e| format!("tunnel {k}: {e}"))
        }))
        .await;
    let dropped: Vec<String> = checked.into_iter().filter_map(|r| r.err()).collect();
    assert!(dropped.is_empty(), "dropped tunnels: {dropped:?}");

    // What the log says, for the record.
    let log = p.error_log();
    let times: Vec<u64> = log
        .lines()
        .filter_map(|l| l.split("reconfigured in ").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(times.len(), good);
    let emerg = log
        .lines()
        .filter(|l| l.contains("[emerg]") && l.contains("invalid value \"maybe\""))
        .count();
    assert_eq!(emerg, failed_in_process, "{log}");
    let draining: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("in use, ").nth(1))
        .collect();
    println!(
        "{good} reloads ({refused_by_ctl} refused by -s, {failed_in_process} failed in the process), \
         {} requests, {} tunnels; reload times (ms): {times:?}",
        seen.ok.load(Ordering::Relaxed),
        tunnels.len()
    );
    println!("after each reload: {draining:#?}");
    // The tunnels opened first are still on the generation they were opened on.
    assert_eq!(draining.len(), good);
    for d in &draining {
        let n: usize = d
            .split("generation 1 has ")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("generation 1 not draining: {d}"));
        assert!(n >= TUNNELS, "{d}");
    }
}
