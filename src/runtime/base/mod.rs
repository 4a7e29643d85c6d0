//! The ground floor: what the request pipeline stands on and what knows nothing of requests
//! or configuration beyond plain values. nginx's access rules over an address (`access`),
//! byte streams with nginx's per-operation timers (`io`), the cached clock (`clock`), nginx's
//! status lines and error pages (`page`), the HTTP/1 codec (`http1`: request and response
//! heads, the body decoder and encoder), temporary files (`temp`), the gzip compressor
//! (`deflate`), the log files with nginx's line layout (`log`), RFC 6455's frames as a server
//! reads and writes them (`websocket`), and the tunnel engine (`tunnel`): two sockets out of
//! tokio's reactor with nginx's ready flags, and the bytes moved between them.
//!
//! Nothing here imports another floor of the runtime.

pub mod access;
pub mod clock;
pub mod deflate;
pub mod http1;
pub mod io;
pub mod log;
pub mod page;
pub mod temp;
pub mod tunnel;
pub mod websocket;
