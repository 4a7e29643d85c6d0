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

pub mod daemon;
pub mod log;
mod process;
mod reload;

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};

use self::daemon::Detached;
use self::log::ErrorLogLayer;
use self::process::{
    redirect_stderr, remove_unix_socket, set_rlimit_nofile, worker_count, write_pid,
};
use crate::config;
use crate::ir::{self, Level};
use crate::runtime::base::log::{LogFiles, MainLog};
use crate::runtime::serve::listen;
use crate::runtime::serve::worker::{self, Generation, Orders, Stop};
use crate::runtime::state::Snapshot;
use crate::version::{NGINX_VERSION, PROGRAM, VERSION};

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
            eprintln!("{}: [emerg] {msg}", PROGRAM);
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
            eprintln!("{}: [{}] {msg}", PROGRAM, level.as_str());
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
    let sockets = config.listening();
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
            PROGRAM, VERSION, NGINX_VERSION
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
}
