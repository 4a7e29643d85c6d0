//! rginx's HTTP/1.x codec, in nginx's words: the request-head parser for clients
//! (`request`), the response-head parser for upstreams (`response`), the slot per known
//! header both fill as they read (`known`, nginx's `headers_in`), and for bodies one decoder
//! (`decode`: length, chunked, until close) and one encoder (`encode`: chunk framing),
//! whichever side a body comes from or goes to. Pure code: no IO, no allocation beyond what a
//! parse returns.

pub mod decode;
pub mod encode;
pub mod known;
pub mod request;
pub mod response;
