//! Runtime: executes the IR with nginx's semantics on tokio.
//!
//! HTTP/1 on both sides (clients and upstreams) uses rginx's own codec (`base::http1`),
//! which follows nginx's parsers byte for byte: header order and case, nginx's error pages
//! for malformed requests, HTTP/0.9. hyper keeps header case and order private
//! (hyperium/hyper#2695, #3914), so it serves HTTP/2, where neither exists on the wire.
//!
//! The process model is nginx's, in threads: worker threads, each running its own
//! single-threaded tokio runtime that accepts on the shared listening sockets. Like nginx's
//! workers, each keeps its own upstream balancer state and keep-alive pools, so the request
//! path takes no lock and shares no cache line with another worker. The configuration is an
//! immutable [`state::Snapshot`] each connection holds an `Arc` of: a reload swaps the
//! snapshot new connections get, and old connections finish on the old one. The master
//! process that starts the workers and reloads them is not here: it is [`crate::master`].
//!
//! The runtime is built in floors; each floor uses the floors below it and never one above
//! (`tests/architecture.rs` keeps it so):
//!
//! - [`serve`]: listening sockets, TLS handshakes, the worker threads and their accept
//!   loops, a client connection (HTTP/1 keep-alive and pipelining, HTTP/2 streams).
//! - [`stream`]: nginx's stream phases for one session (access, the TLS handshake, `return`
//!   or `proxy_pass` with its upstream tries), beside `http` and sharing nothing with it but
//!   the floors below; a proxied session goes to the worker's tunnel loop.
//! - [`http`]: nginx's phases for one request (server and location, rewrite, access) and
//!   the content handlers: static files, `proxy_pass` and its upstreams, request bodies,
//!   WebSocket tunnels; `error_page` and the access log.
//! - [`filters`]: nginx's header filters (not modified, headers, charset, gzip, range, the
//!   head itself) and the one body writer every response leaves through.
//! - [`vars`]: variables, maps and the root/alias mapping, evaluated from compiled templates.
//! - [`state`]: what a request, a session, a connection and a response are while served,
//!   the outcome of a phase, the upstream tries and the worker's balancers, the error log.
//! - [`base`]: byte streams and timers, the tunnel engine, access rules, the HTTP/1 codec
//!   (request and response heads, body decoder and encoder), the clock, nginx's pages,
//!   temporary files, the gzip compressor.

pub mod base;
pub mod filters;
pub mod http;
pub mod serve;
pub mod state;
pub mod stream;
#[cfg(test)]
pub mod testing;
pub mod vars;
