//! The client's request body as it is being read or discarded: its framing and decoder,
//! and what `$request_length` has counted of it. The reading itself is `http::body`'s.

use super::request::Request;
use crate::runtime::base::http1::response::ChunkedDecoder;

/// How the rest of the body arrives.
#[derive(Debug)]
pub enum Framing {
    None,
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// The body reader of one request.
#[derive(Debug)]
pub struct BodyReader {
    pub framing: Framing,
    /// Payload bytes received so far.
    pub received: u64,
    pub done: bool,
    /// A framing error was already logged (the decoder keeps failing the same way).
    pub failed: bool,
    /// The body is being discarded: nginx does not count it in `$request_length`.
    pub discarding: bool,
    /// Bytes that arrived with the head and still count towards `$request_length` when the
    /// body takes them (bytes read later are counted by the read).
    pub preread_left: usize,
}

impl BodyReader {
    pub fn new(r: &Request) -> BodyReader {
        let framing = if r.head.chunked {
            Framing::Chunked(ChunkedDecoder::with_max_body_size(
                r.conf.client_max_body_size,
            ))
        } else {
            match r.head.content_length {
                Some(n) if n > 0 => Framing::Length(n),
                _ => Framing::None,
            }
        };
        let done = matches!(framing, Framing::None);
        BodyReader {
            framing,
            received: 0,
            done,
            failed: false,
            discarding: false,
            preread_left: usize::MAX,
        }
    }
}
