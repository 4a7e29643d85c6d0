//! The master's error log: process-level events (start, signals, reloads, stops) are
//! `tracing` events, and this layer writes rginx's own to the main `error_log` targets in
//! nginx's layout and level names.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::ir::Level;
pub use crate::runtime::base::log::MainLog;

/// The `tracing` layer for process-level events: nginx's level names, nginx's line layout,
/// the main `error_log` targets. An event may carry `nginx_level = "emerg"|"alert"|"crit"|
/// "notice"` where tracing has no such level.
pub struct ErrorLogLayer {
    pub main: Arc<ArcSwap<MainLog>>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ErrorLogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _cx: tracing_subscriber::layer::Context<'_, S>) {
        // Only rginx's own events: libraries' (hyper, h2, rustls) are not nginx's lines.
        if !event.metadata().target().starts_with("rginx") {
            return;
        }
        struct Visit {
            msg: String,
            level: Option<Level>,
        }
        impl tracing::field::Visit for Visit {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                match field.name() {
                    "nginx_level" => self.level = Level::from_name(value.as_bytes()),
                    "message" => self.msg.push_str(value),
                    _ => {}
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                if field.name() == "message" {
                    let _ = fmt::write(&mut self.msg, format_args!("{value:?}"));
                }
            }
        }
        let mut v = Visit {
            msg: String::new(),
            level: None,
        };
        event.record(&mut v);
        let level = v.level.unwrap_or(match *event.metadata().level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Notice,
            tracing::Level::DEBUG => Level::Info,
            tracing::Level::TRACE => Level::Debug,
        });
        self.main.load().line(level, &v.msg);
    }
}
