//! Runtime: executes the IR with nginx's semantics on tokio.
//!
//! HTTP/1 on both sides (clients and upstreams) uses rginx's own codec (`http1`), which
//! follows nginx's parsers byte for byte: header order and case, nginx's error pages for
//! malformed requests, HTTP/0.9. hyper keeps header case and order private
//! (hyperium/hyper#2695, #3914), so it serves HTTP/2, where neither exists on the wire.

pub mod http1;
pub mod route;
