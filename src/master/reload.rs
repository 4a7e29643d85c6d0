//! What a signal makes the master do to the configuration: a reload (`HUP`) through the
//! same pipeline as `-t`, the swap of generations it publishes to the workers, the
//! draining of old generations with `worker_shutdown_timeout`, and reopening the logs
//! (`USR1`).

use std::sync::Arc;
use std::time::Instant;

use super::process::{
    redirect_stderr, remove_unix_socket, set_rlimit_nofile, worker_count, write_pid,
};
use super::{Master, Old};
use crate::config;
use crate::ir::{self, Level};
use crate::runtime::base::log::{LogFiles, MainLog};
use crate::runtime::serve::listen;
use crate::runtime::serve::worker::{Generation, Stop};
use crate::runtime::state::Snapshot;

impl Master {
    /// Reports generations that finished draining, and applies `worker_shutdown_timeout`.
    pub(super) fn tick(&mut self) {
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
    pub(super) fn reload(&mut self) {
        self.log(Level::Notice, "reconfiguring");
        let started = Instant::now();
        let loaded = config::load(&self.options);
        for d in loaded.diagnostics.in_nginx_order() {
            if !d.is_nginx() {
                continue;
            }
            let line = d.nginx_line(&loaded.sources);
            let (level, msg) = Level::split_line(&line);
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
        let sockets = config.listening();
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
    pub(super) fn reopen(&mut self) {
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
