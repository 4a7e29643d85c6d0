//! The serving process: opens the logs, binds the listeners, detaches (`daemon on`), writes
//! the pid file, runs `worker_processes` worker threads, and stops on `QUIT`/`TERM`/`INT`.
//!
//! Each worker thread runs a single-threaded tokio runtime that accepts on every listening
//! socket (as nginx's workers share them) and serves its connections as local tasks.

use std::cell::Cell;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::conn;
use super::io::Stream;
use super::listen::{self, Listener};
use super::log::{self, ErrorLogLayer, LogFiles};
use super::request::ConnInfo;
use super::Snapshot;
use crate::ir::{self, Level};

/// nginx's `ngx_connection_counter`: `$connection` and the `*N` of error-log lines.
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// Takes a connection number; upstream connections take one too (`ngx_event_connect_peer`),
/// so the client numbers in the logs follow nginx's.
pub fn next_connection_number() -> u64 {
    CONNECTIONS.fetch_add(1, Ordering::Relaxed)
}

/// How the process was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Running,
    /// `QUIT`: finish what is in flight.
    Graceful,
    /// `TERM`/`INT`: close now.
    Fast,
}

/// What every worker shares.
struct Shared {
    snapshot: ArcSwap<Snapshot>,
    listeners: Vec<Listener>,
}

/// Serves `config` until stopped; returns the exit code.
pub fn run(config: ir::Config) -> i32 {
    let files = match LogFiles::open(&config.log_files.paths) {
        Ok(f) => Arc::new(f),
        Err(msg) => {
            eprintln!("rginx: [emerg] {msg}");
            return 1;
        }
    };
    let targets = Arc::new(ArcSwap::from_pointee(config.main.error_log.clone()));
    {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(ErrorLogLayer {
            files: Arc::clone(&files),
            targets: Arc::clone(&targets),
        });
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
    let error_log = config.main.error_log.clone();
    let emerg = |msg: &str| {
        eprintln!("rginx: [emerg] {msg}");
        log::main_line(&files, &error_log, Level::Emerg, msg);
    };
    let sockets = config
        .http
        .as_ref()
        .map(|h| h.sockets.clone())
        .unwrap_or_default();
    let listeners = match listen::bind_all(&sockets) {
        Ok(l) => l,
        Err(msg) => {
            emerg(&msg);
            return 1;
        }
    };

    if config.main.daemon {
        if let Err(e) = nix::unistd::daemon(true, true) {
            emerg(&format!("daemon() failed ({e})"));
            return 1;
        }
        detach_stdio();
    }
    if config.main.master_process {
        if let Some(u) = &config.main.user {
            if nix::unistd::geteuid().is_root() {
                let _ = nix::unistd::setgid(nix::unistd::Gid::from_raw(u.gid));
                if let Err(e) = nix::unistd::setuid(nix::unistd::Uid::from_raw(u.uid)) {
                    emerg(&format!("setuid({}) failed ({e})", u.uid));
                    return 1;
                }
            }
        }
    }
    let pid_path = config.main.pid.clone();
    if let Err(e) = std::fs::write(&pid_path, format!("{}\n", std::process::id())) {
        emerg(&format!(
            "open() \"{}\" failed {}",
            pid_path.display(),
            super::io::errno_text(&e)
        ));
        return 1;
    }

    let workers = config
        .main
        .worker_processes
        .map(|n| n.max(1) as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let unix_paths: Vec<std::path::PathBuf> = listeners
        .iter()
        .filter_map(|l| match &l.addr {
            ir::ListenAddr::Unix(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let snapshot = Snapshot::new(config, Arc::clone(&files), 1);
    let shared = Arc::new(Shared {
        snapshot: ArcSwap::from_pointee(snapshot),
        listeners,
    });
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);

    let mut threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let shared = Arc::clone(&shared);
        let stop = stop_rx.clone();
        let t = std::thread::Builder::new()
            .name(format!("rginx-worker-{i}"))
            .spawn(move || worker(shared, stop));
        match t {
            Ok(t) => threads.push(t),
            Err(e) => {
                emerg(&format!("could not start a worker thread ({e})"));
                let _ = stop_tx.send(Stop::Fast);
                break;
            }
        }
    }

    // The main thread waits for signals.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            emerg(&format!("could not start the runtime ({e})"));
            return 1;
        }
    };
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut quit), Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            let _ = stop_tx.send(Stop::Fast);
            return;
        };
        let how = tokio::select! {
            _ = quit.recv() => Stop::Graceful,
            _ = term.recv() => Stop::Fast,
            _ = int.recv() => Stop::Fast,
        };
        if how == Stop::Graceful {
            tracing::info!(nginx_level = "notice", "gracefully shutting down");
        } else {
            tracing::info!(nginx_level = "notice", "exiting");
        }
        let _ = stop_tx.send(how);
    });
    for t in threads {
        let _ = t.join();
    }
    for p in unix_paths {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(&pid_path);
    tracing::info!(nginx_level = "notice", "exit");
    0
}

/// `ngx_daemon`: stdin and stdout go to /dev/null (stderr stays until logs take over).
fn detach_stdio() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let fd = null.as_raw_fd();
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = fd;
    }
}

/// One worker thread.
fn worker(shared: Arc<Shared>, mut stop: watch::Receiver<Stop>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(
                nginx_level = "alert",
                "could not start a worker runtime ({e})"
            );
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let active = Rc::new(Cell::new(0usize));
        let done = Rc::new(tokio::sync::Notify::new());
        let mut accepts = Vec::new();
        for (i, l) in shared.listeners.iter().enumerate() {
            let fd = match l.fd.try_clone() {
                Ok(fd) => fd,
                Err(e) => {
                    tracing::error!(
                        nginx_level = "alert",
                        "dup() of a listening socket failed ({e})"
                    );
                    continue;
                }
            };
            accepts.push(tokio::task::spawn_local(accept_loop(
                fd,
                l.unix,
                l.wildcard_with_specifics,
                i,
                Arc::clone(&shared),
                Rc::clone(&active),
                Rc::clone(&done),
            )));
        }
        let how = loop {
            if stop.changed().await.is_err() {
                break Stop::Fast;
            }
            let s = *stop.borrow();
            if s != Stop::Running {
                break s;
            }
        };
        for a in &accepts {
            a.abort();
        }
        if how == Stop::Graceful {
            while active.get() > 0 {
                done.notified().await;
            }
        }
    });
}

async fn accept_loop(
    fd: OwnedFd,
    unix: bool,
    lookup_local: bool,
    socket: usize,
    shared: Arc<Shared>,
    active: Rc<Cell<usize>>,
    done: Rc<tokio::sync::Notify>,
) {
    enum L {
        Tcp(tokio::net::TcpListener),
        Unix(tokio::net::UnixListener),
    }
    let listener = if unix {
        match tokio::net::UnixListener::from_std(std::os::unix::net::UnixListener::from(fd)) {
            Ok(l) => L::Unix(l),
            Err(_) => return,
        }
    } else {
        match tokio::net::TcpListener::from_std(std::net::TcpListener::from(fd)) {
            Ok(l) => L::Tcp(l),
            Err(_) => return,
        }
    };
    loop {
        let accepted = match &listener {
            L::Tcp(l) => l
                .accept()
                .await
                .map(|(s, peer)| (Stream::Tcp(s), Some(peer))),
            L::Unix(l) => l.accept().await.map(|(s, _)| (Stream::Unix(s), None)),
        };
        let (stream, remote) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE/ENFILE: nginx logs and stops accepting for a moment.
                tracing::error!(
                    nginx_level = "crit",
                    "accept4() failed {}",
                    super::io::errno_text(&e)
                );
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        let snap = shared.snapshot.load_full();
        let sock = &snap.http().sockets[socket];
        let local = match (&stream, &sock.addr) {
            (Stream::Tcp(s), ir::ListenAddr::Inet(a)) => {
                if lookup_local || a.ip().is_unspecified() {
                    s.local_addr().ok()
                } else {
                    Some(*a)
                }
            }
            _ => None,
        };
        stream.set_nodelay();
        let addr = listen::addr_conf_index(sock, local);
        let conn = ConnInfo {
            number: next_connection_number(),
            remote,
            local,
            https: false,
            tls: None,
            http2: false,
            accepted: Instant::now(),
            socket,
            addr,
        };
        active.set(active.get() + 1);
        let open = Open {
            active: Rc::clone(&active),
            done: Rc::clone(&done),
        };
        tokio::task::spawn_local(conn::serve(stream, conn, snap, open));
    }
}

/// Counts a connection as open until dropped (a tunnel takes it over from its request):
/// a graceful stop waits until none is left.
pub struct Open {
    active: Rc<Cell<usize>>,
    done: Rc<tokio::sync::Notify>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.active.set(self.active.get() - 1);
        self.done.notify_one();
    }
}
