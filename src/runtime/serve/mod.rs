//! The top floor: connections. `listen` binds the sockets (kept across reloads); `worker`
//! runs the worker threads and their accept loops; `open` counts each connection on its
//! worker and generation and tells it when to close; `conn` starts a connection (TLS by
//! `tls`, then HTTP/1 or HTTP/2); `h1` serves HTTP/1 requests one after another
//! (keep-alive, pipelining, lingering close), `h2` HTTP/2 streams through hyper; `request`
//! makes a request of a parsed head and refuses the heads nginx refuses; `session` serves a
//! stream session through the stream floor's phases; `tunnels` is the worker's loop that
//! carries the tunnels (upgraded HTTP connections, WebSocket bridges, stream sessions).

pub mod conn;
pub mod h1;
pub mod h2;
pub mod listen;
pub mod open;
pub mod request;
pub mod session;
pub mod tls;
pub mod tunnels;
pub mod worker;
