//! rginx's HTTP/1.x codec: nginx's request parser (`request`) for clients, and nginx's
//! status line, header and chunked parsers (`response`) for upstream responses and chunked
//! request bodies. Pure code: no IO, no allocation beyond what a parse returns.

pub mod request;
pub mod response;
