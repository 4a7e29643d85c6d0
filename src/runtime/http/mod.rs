//! The fourth floor: nginx's phases for one request and its content handlers.
//!
//! `phases` runs them: server selection happened on the connection; then the server rewrite
//! phase, the location search (`route`), the location's rewrite phase (`rewrite`), access
//! (`access`), and content — `proxy_pass` (`proxy`, over the worker's balancers and
//! keep-alive pools, `state::balancer`) or static files (`files`). `special` turns a status into nginx's response
//! (after `error_page`); `body` reads or discards the request body; `tunnel` carries an
//! upgraded connection; `websockify` bridges WebSocket clients to a TCP or unix target
//! (`websockify_pass`); `log` writes the access log when a request ends.

pub mod access;
pub mod body;
pub mod files;
pub mod log;
pub mod phases;
pub mod proxy;
pub mod rewrite;
pub mod route;
pub mod special;
pub mod tunnel;
pub mod websockify;
