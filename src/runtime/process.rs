//! The serving process, in the role of nginx's master: it opens the logs, binds the listening
//! sockets, writes the pid file, starts the worker threads, and then waits for signals.
//!
//! - `HUP`: reload. The configuration is loaded through the same pipeline as `-t`; if it
//!   fails, every diagnostic is logged and the running configuration stays. Otherwise the log
//!   files are opened, sockets of new addresses bound (those of kept addresses stay open, so
//!   no connection is refused), and the new [`Generation`] published to the workers: new
//!   connections and new requests use it, requests in flight and WebSocket tunnels finish on
//!   theirs. Unlike nginx there are no old worker processes: the log says how many
//!   connections each older generation still has, and when it has none. The old
//!   configuration's `worker_shutdown_timeout`, when set, bounds how long they may stay.
//! - `QUIT`: graceful stop. The sockets close, idle connections close, requests in flight
//!   finish, tunnels run until they end or `worker_shutdown_timeout` passes; then the pid
//!   file is removed and the process exits 0.
//! - `TERM`, `INT`: fast stop: every connection is closed now.
//! - `USR1`: reopen the log files (logrotate), giving them to `user`, as nginx does.
//! - `USR2`, `WINCH`: nginx's binary upgrade; rginx says it does not do that.
//!
//! This thread keeps the privileges rginx started with, as nginx's master does (it reads
//! configuration files and keys, binds ports and writes the pid file on reload); the worker
//! threads drop to `user`.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};

use super::daemon::Detached;
use super::listen::{self, Listener};
use super::log::{ErrorLogLayer, LogFiles, MainLog};
use super::worker::{self, Generation, Orders, Stop};
use super::Snapshot;
use crate::config;
use crate::ir::{self, Level};

/// How the process was started, for what it does later.
pub struct Start {
    /// The command line's `-p -c -g -e`: every reload loads with them.
    pub options: config::Options,
    /// This is the detached copy of a `daemon on` start: tell the starting process once
    /// serving.
    pub detached: Option<Detached>,
}

/// Serves `config` until stopped; returns the exit code.
pub fn run(config: ir::Config, start: Start) -> i32 {
    let files = match LogFiles::open(&config.log_files.paths) {
        Ok(f) => Arc::new(f),
        Err(msg) => {
            eprintln!("{}: [emerg] {msg}", crate::app::PROGRAM);
            return 1;
        }
    };
    let main_log = Arc::new(ArcSwap::from_pointee(MainLog {
        files: Arc::clone(&files),
        targets: config.main.error_log.clone(),
    }));
    {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(ErrorLogLayer {
            main: Arc::clone(&main_log),
        });
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
    // Until the process has started, what goes wrong is also said on stderr (nginx's
    // `ngx_use_stderr`).
    let say = |level: Level, msg: &str| {
        if level <= Level::Warn {
            eprintln!("{}: [{}] {msg}", crate::app::PROGRAM, level.as_str());
        }
        main_log.load().line(level, msg);
    };

    // The signal handlers are in place before the pid file names this process: `-s` may
    // signal it from then on (`HUP` would otherwise end it).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say(Level::Emerg, &format!("could not start the runtime ({e})"));
            return 1;
        }
    };
    let signals = match rt.block_on(async { Signals::install() }) {
        Ok(s) => s,
        Err(e) => {
            say(
                Level::Emerg,
                &format!("could not install the signal handlers ({e})"),
            );
            return 1;
        }
    };

    set_rlimit_nofile(config.main.worker_rlimit_nofile, &say);
    let sockets = config
        .http
        .as_ref()
        .map(|h| h.sockets.clone())
        .unwrap_or_default();
    let Ok(listeners) = listen::open_all(&sockets, &[], &mut |l, m| say(l, m)) else {
        return 1;
    };
    let pid = config.main.pid.clone();
    if let Err(msg) = write_pid(&pid) {
        say(Level::Emerg, &msg);
        return 1;
    }

    let root = nix::unistd::geteuid().is_root();
    let user = config
        .main
        .user
        .clone()
        .filter(|_| root && config.main.master_process);
    let workers = worker_count(&config.main);
    let shutdown_timeout = config.main.worker_shutdown_timeout;
    let snapshot = Arc::new(Snapshot::new(config, Arc::clone(&files), 1));
    let latest = Arc::new(ArcSwap::new(Arc::clone(&snapshot)));
    let current = Arc::new(Generation {
        snapshot,
        listeners,
    });
    let (orders, orders_rx) = watch::channel(Orders {
        generation: Arc::clone(&current),
        stop: Stop::Running,
        close_below: 0,
        workers,
        latest: Arc::clone(&latest),
    });
    let (exited_tx, exited) = mpsc::unbounded_channel();
    let mut master = Master {
        options: start.options,
        main_log: Arc::clone(&main_log),
        orders,
        orders_rx,
        current,
        generation: 1,
        old: Vec::new(),
        pid,
        threads: Vec::new(),
        running: 0,
        exited_tx,
        user,
        stop: Stop::Running,
        stop_deadline: None,
        exit_code: 0,
        shutdown_timeout,
    };
    say(
        Level::Notice,
        &format!(
            "{}/{} (nginx/{} compatible)",
            crate::app::PROGRAM,
            crate::app::VERSION,
            crate::app::NGINX_VERSION
        ),
    );
    if let Ok((cur, max)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        say(
            Level::Notice,
            &format!("getrlimit(RLIMIT_NOFILE): {cur}:{max}"),
        );
    }
    say(Level::Notice, "start worker processes");
    if let Err(msg) = master.start_workers(0, workers) {
        say(Level::Emerg, &msg);
        master.publish(|o| o.stop = Stop::Fast);
        master.join_all();
        let _ = std::fs::remove_file(&master.pid);
        return 1;
    }
    if let Some(d) = start.detached {
        d.ready();
    }
    redirect_stderr(&main_log.load());

    let mut exited = exited;
    rt.block_on(master.wait_for_signals(signals, &mut exited));
    master.join_all();
    for l in &master.current.listeners {
        remove_unix_socket(l);
    }
    let _ = std::fs::remove_file(&master.pid);
    tracing::info!(nginx_level = "notice", "exit");
    master.exit_code
}

/// The signals the process acts on.
struct Signals {
    hup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
    winch: tokio::signal::unix::Signal,
}

impl Signals {
    /// Must run inside the runtime that will poll them.
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            quit: signal(SignalKind::quit())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
            winch: signal(SignalKind::window_change())?,
        })
    }
}

/// A generation replaced by a reload, while connections remain on it.
struct Old {
    generation: u64,
    snapshot: Weak<Snapshot>,
    /// Its `worker_shutdown_timeout` runs out.
    deadline: Option<Instant>,
}

struct Master {
    options: config::Options,
    main_log: Arc<ArcSwap<MainLog>>,
    orders: watch::Sender<Orders>,
    /// Kept for starting workers later (a reload may raise `worker_processes`).
    orders_rx: watch::Receiver<Orders>,
    current: Arc<Generation>,
    generation: u64,
    old: Vec<Old>,
    pid: PathBuf,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Worker threads not yet exited.
    running: usize,
    exited_tx: mpsc::UnboundedSender<worker::Exited>,
    user: Option<ir::User>,
    stop: Stop,
    /// When a graceful stop closes what is left (`worker_shutdown_timeout`).
    stop_deadline: Option<Instant>,
    exit_code: i32,
    shutdown_timeout: Option<Duration>,
}

impl Master {
    fn log(&self, level: Level, msg: &str) {
        self.main_log.load().line(level, msg);
    }

    fn publish(&self, change: impl FnOnce(&mut Orders)) {
        self.orders.send_modify(change);
    }

    /// Starts workers `from..to`, and waits until each has dropped its privileges.
    fn start_workers(&mut self, from: usize, to: usize) -> Result<(), String> {
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let mut started = 0;
        for i in from..to {
            let t = worker::spawn(
                i,
                self.orders_rx.clone(),
                self.user.clone(),
                ready_tx.clone(),
                self.exited_tx.clone(),
            )
            .map_err(|e| format!("could not start a worker thread ({e})"))?;
            self.threads.push(t);
            self.running += 1;
            started += 1;
        }
        let mut failed = None;
        for _ in 0..started {
            match ready.recv() {
                Ok(Ok(())) => {}
                Ok(Err(msg)) => failed = Some(msg),
                Err(_) => failed = Some("a worker thread failed to start".into()),
            }
        }
        failed.map_or(Ok(()), Err)
    }

    fn join_all(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    async fn wait_for_signals(
        &mut self,
        signals: Signals,
        exited: &mut mpsc::UnboundedReceiver<worker::Exited>,
    ) {
        let Signals {
            mut hup,
            mut quit,
            mut term,
            mut int,
            mut usr1,
            mut usr2,
            mut winch,
        } = signals;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    self.log(Level::Notice, "signal 1 (SIGHUP) received, reconfiguring");
                    if self.stop == Stop::Running {
                        self.reload();
                    }
                }
                _ = quit.recv() => {
                    self.log(Level::Notice, "signal 3 (SIGQUIT) received, shutting down");
                    self.graceful();
                }
                _ = term.recv() => {
                    self.log(Level::Notice, "signal 15 (SIGTERM) received, exiting");
                    self.fast();
                }
                _ = int.recv() => {
                    self.log(Level::Notice, "signal 2 (SIGINT) received, exiting");
                    self.fast();
                }
                _ = usr1.recv() => {
                    self.log(Level::Notice, "signal 10 (SIGUSR1) received, reopening logs");
                    self.reopen();
                }
                _ = usr2.recv() => {
                    self.log(Level::Notice, "signal 12 (SIGUSR2) received, ignoring");
                    self.log(
                        Level::Warn,
                        "rginx does not change its binary on the fly (USR2): restart it to run a new binary; HUP reloads the configuration without closing connections",
                    );
                }
                _ = winch.recv() => {
                    self.log(Level::Notice, "signal 28 (SIGWINCH) received, ignoring");
                    self.log(
                        Level::Warn,
                        "rginx has no worker processes to stop gracefully (WINCH, part of nginx's binary upgrade); QUIT stops rginx gracefully",
                    );
                }
                Some((index, panicked)) = exited.recv() => {
                    self.running -= 1;
                    // As nginx's master respawns a worker that died, unless stopping.
                    if panicked && self.stop == Stop::Running && index < self.orders.borrow().workers {
                        self.log(
                            Level::Alert,
                            &format!("worker process {index} exited on a panic, starting a new one"),
                        );
                        if let Err(msg) = self.start_workers(index, index + 1) {
                            self.log(Level::Alert, &msg);
                        }
                    }
                    if self.running == 0 {
                        if self.stop == Stop::Running {
                            self.log(Level::Alert, "no worker process is left, exiting");
                            self.exit_code = 1;
                        }
                        return;
                    }
                }
                // Only while something is timed: draining generations, a stop's deadline.
                _ = tick.tick(), if !self.old.is_empty() || self.stop_deadline.is_some() => self.tick(),
            }
        }
    }

    /// `QUIT`.
    fn graceful(&mut self) {
        if self.stop != Stop::Running {
            return;
        }
        self.stop = Stop::Graceful;
        self.log(Level::Notice, "gracefully shutting down");
        let open = self.open_connections();
        if open > 0 {
            self.log(
                Level::Notice,
                &format!("waiting for {open} connections to finish"),
            );
        }
        self.stop_deadline = self.shutdown_timeout.map(|t| Instant::now() + t);
        // The listening sockets close once no worker holds them: new connections are
        // refused from now on, as nginx closes its listening sockets.
        let closed = Arc::new(Generation {
            snapshot: Arc::clone(&self.current.snapshot),
            listeners: Vec::new(),
        });
        for l in &self.current.listeners {
            remove_unix_socket(l);
        }
        self.current = Arc::clone(&closed);
        self.publish(|o| {
            o.generation = closed;
            o.stop = Stop::Graceful;
        });
    }

    /// `TERM`, `INT`.
    fn fast(&mut self) {
        self.stop = Stop::Fast;
        self.log(Level::Notice, "exiting");
        self.publish(|o| o.stop = Stop::Fast);
    }

    /// Connections open on every generation.
    fn open_connections(&self) -> usize {
        let current = self
            .current
            .snapshot
            .connections
            .load(std::sync::atomic::Ordering::Relaxed);
        current
            + self
                .old
                .iter()
                .filter_map(|o| o.snapshot.upgrade())
                .map(|s| s.connections.load(std::sync::atomic::Ordering::Relaxed))
                .sum::<usize>()
    }

    /// Reports generations that finished draining, and applies `worker_shutdown_timeout`.
    fn tick(&mut self) {
        let now = Instant::now();
        let mut close_below = 0;
        let mut lines = Vec::new();
        self.old.retain_mut(|o| {
            let left = o
                .snapshot
                .upgrade()
                .map_or(0, |s| s.connections.load(std::sync::atomic::Ordering::Relaxed));
            if left == 0 {
                lines.push(format!(
                    "configuration generation {}: no connections left",
                    o.generation
                ));
                return false;
            }
            if o.deadline.is_some_and(|d| now >= d) {
                o.deadline = None;
                lines.push(format!(
                    "worker_shutdown_timeout: closing {left} connections of configuration generation {}",
                    o.generation
                ));
                close_below = close_below.max(o.generation + 1);
            }
            true
        });
        if self.stop == Stop::Graceful && self.stop_deadline.is_some_and(|d| now >= d) {
            self.stop_deadline = None;
            lines.push(format!(
                "worker_shutdown_timeout: closing {} connections",
                self.open_connections()
            ));
            close_below = u64::MAX;
        }
        for l in lines {
            self.log(Level::Notice, &l);
        }
        if close_below > self.orders.borrow().close_below {
            self.publish(|o| o.close_below = close_below);
        }
    }

    /// `HUP`.
    fn reload(&mut self) {
        self.log(Level::Notice, "reconfiguring");
        let started = Instant::now();
        let loaded = config::load(&self.options);
        for d in loaded.diagnostics.in_nginx_order() {
            if !d.is_nginx() {
                continue;
            }
            let line = d.nginx_line(&loaded.sources);
            let (level, msg) = crate::app::split_level(&line);
            self.log(level, msg);
        }
        let Some(config) = loaded.config else {
            self.log(
                Level::Notice,
                &format!(
                    "the configuration was not changed: generation {} stays in use",
                    self.generation
                ),
            );
            return;
        };
        match self.swap(config) {
            Ok(()) => {
                let draining: Vec<String> = self
                    .old
                    .iter()
                    .filter_map(|o| {
                        let s = o.snapshot.upgrade()?;
                        let n = s.connections.load(std::sync::atomic::Ordering::Relaxed);
                        (n > 0).then(|| format!("generation {} has {n}", o.generation))
                    })
                    .collect();
                let draining = if draining.is_empty() {
                    "no connections on older ones".to_string()
                } else {
                    format!("connections still open: {}", draining.join(", "))
                };
                self.log(
                    Level::Notice,
                    &format!(
                        "reconfigured in {} ms: configuration generation {} in use, {draining}",
                        started.elapsed().as_millis(),
                        self.generation
                    ),
                );
            }
            Err(()) => self.log(
                Level::Notice,
                &format!(
                    "the configuration was not changed: generation {} stays in use",
                    self.generation
                ),
            ),
        }
    }

    /// Makes `config` the current generation: logs, sockets, pid file, then the workers.
    /// Anything failing before the workers are told leaves the running configuration as it
    /// was (the new sockets and files are closed again).
    fn swap(&mut self, config: ir::Config) -> Result<(), ()> {
        let files = LogFiles::open(&config.log_files.paths).map_err(|msg| {
            self.log(Level::Emerg, &msg);
        })?;
        let sockets = config
            .http
            .as_ref()
            .map(|h| h.sockets.clone())
            .unwrap_or_default();
        let main_log = Arc::clone(&self.main_log);
        let listeners = listen::open_all(&sockets, &self.current.listeners, &mut |l, m| {
            main_log.load().line(l, m)
        })
        .map_err(|_| ())?;
        if config.main.pid != self.pid {
            // As nginx: the new pid file is written, the old one removed.
            if let Err(msg) = write_pid(&config.main.pid) {
                self.log(Level::Emerg, &msg);
                return Err(());
            }
            let _ = std::fs::remove_file(&self.pid);
            self.pid = config.main.pid.clone();
        }
        let old_config = &self.current.snapshot.config.main;
        if config.main.worker_rlimit_nofile != old_config.worker_rlimit_nofile {
            set_rlimit_nofile(config.main.worker_rlimit_nofile, &|l, m| self.log(l, m));
        }
        if config.main.user != old_config.user && self.user.is_some() {
            self.log(
                Level::Warn,
                "a new \"user\" takes effect when rginx is restarted: the worker threads keep theirs",
            );
        }
        let workers = worker_count(&config.main);
        let old_timeout = old_config.worker_shutdown_timeout;
        self.shutdown_timeout = config.main.worker_shutdown_timeout;

        self.generation += 1;
        let snapshot = Arc::new(Snapshot::new(config, Arc::new(files), self.generation));
        let next = Arc::new(Generation {
            snapshot: Arc::clone(&snapshot),
            listeners,
        });
        self.main_log.store(Arc::new(MainLog {
            files: Arc::clone(&snapshot.logs),
            targets: snapshot.config.main.error_log.clone(),
        }));
        redirect_stderr(&self.main_log.load());
        let old = std::mem::replace(&mut self.current, Arc::clone(&next));
        for l in &old.listeners {
            if !next.listeners.iter().any(|n| Arc::ptr_eq(n, l)) {
                remove_unix_socket(l);
            }
        }
        self.old.push(Old {
            generation: old.snapshot.generation,
            snapshot: Arc::downgrade(&old.snapshot),
            deadline: old_timeout.map(|t| Instant::now() + t),
        });
        drop(old);
        let had = self.orders.borrow().workers;
        self.orders
            .borrow()
            .latest
            .store(Arc::clone(&next.snapshot));
        self.publish(|o| {
            o.generation = next;
            o.workers = workers;
        });
        if workers > had {
            if let Err(msg) = self.start_workers(had, workers) {
                self.log(Level::Alert, &msg);
            }
        }
        Ok(())
    }

    /// `USR1`: every generation's log files, reopened by path.
    fn reopen(&mut self) {
        self.log(Level::Notice, "reopening logs");
        let owner = self.user.as_ref().map(|u| u.uid);
        let mut snapshots = vec![Arc::clone(&self.current.snapshot)];
        snapshots.extend(self.old.iter().filter_map(|o| o.snapshot.upgrade()));
        for s in snapshots {
            for msg in s.logs.reopen(owner) {
                self.log(Level::Emerg, &msg);
            }
        }
        redirect_stderr(&self.main_log.load());
    }
}

/// `worker_processes` (`auto`: one per CPU this process may run on); one with
/// `master_process off`, as nginx then serves in a single process.
fn worker_count(main: &ir::Main) -> usize {
    if !main.master_process {
        return 1;
    }
    main.worker_processes
        .map(|n| n.max(1) as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `ngx_create_pidfile`.
fn write_pid(path: &std::path::Path) -> Result<(), String> {
    std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
        format!(
            "open() \"{}\" failed {}",
            path.display(),
            super::io::errno_text(&e)
        )
    })
}

/// `worker_rlimit_nofile`: nginx sets both limits in each worker; the threads share the
/// process's limit.
fn set_rlimit_nofile(n: Option<u64>, log: &dyn Fn(Level, &str)) {
    let Some(n) = n else {
        return;
    };
    use nix::sys::resource::{setrlimit, Resource};
    if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, n, n) {
        log(
            Level::Alert,
            &format!(
                "setrlimit(RLIMIT_NOFILE, {n}) failed ({}: {})",
                e as i32,
                e.desc()
            ),
        );
    }
}

/// `ngx_log_redirect_stderr`: when the main error log is a file, the standard error is
/// pointed at it, so that nothing written there is lost once detached.
fn redirect_stderr(main: &MainLog) {
    if let Some(f) = main.first_file() {
        let _ = nix::unistd::dup2_stderr(&f);
    }
}

/// A unix socket's file is removed when its socket closes, as nginx removes it.
fn remove_unix_socket(l: &Listener) {
    if let ir::ListenAddr::Unix(p) = &l.addr {
        let _ = std::fs::remove_file(p);
    }
}
