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

/// How a body is delimited, on either side and in either direction: the one framing the
/// decoder reads and the writers send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body: a HEAD request's response, 204, 304, `Content-Length: 0`. An upstream's
    /// bytes that come anyway are dropped with the warning `LOG_MORE_DATA_THAN_CONTENT_LENGTH`
    /// and its connection is not reused (observed).
    Empty,
    /// Exactly this many bytes. An upstream that sends more: the excess is dropped with the
    /// same warning; fewer, then a close: "upstream prematurely closed connection" (the client
    /// gets what came, then a close).
    Length(u64),
    /// Chunked framing.
    Chunked,
    /// Until the connection ends; the close is the normal end.
    Close,
}
