//! The second floor: what is being served, as data. A request ([`request::Request`], nginx's
//! `ngx_http_request_t`) with its connection ([`conn`]), its captures, its body reader, its
//! response before the head is written ([`response::HeadersOut`]), the upstream tries
//! ([`upstream`]) and this worker's state of each upstream group ([`balancer`]: round robin,
//! failures, idle connections), the outcome of a phase ([`outcome::Next`]), the hand-over to a tunnel
//! ([`upgraded`]); a stream session with its error-log lines ([`session`]); the configuration snapshot it runs on ([`snapshot`]); and the error log
//! ([`log`]), which speaks about requests and connections.
//!
//! Types live here when a phase makes them and another reads them, so that no floor above
//! has to reach sideways for them. Only `base` is below.

pub mod balancer;
pub mod body;
pub mod captures;
pub mod conn;
pub mod log;
pub mod outcome;
pub mod request;
pub mod response;
pub mod session;
pub mod snapshot;
pub mod upgraded;
pub mod upstream;

pub use snapshot::Snapshot;
