//! The client's request body as it is being read or discarded: its framing and decoder,
//! and what `$request_length` has counted of it. The reading itself is `http::body`'s.

use crate::runtime::base::http1::decode::{Decoder, Framing};
use crate::runtime::base::http1::request::RequestHead;

/// The body reader of one request.
#[derive(Debug)]
pub struct BodyReader {
    /// The body's framing and what is left of it.
    pub decoder: Decoder,
    /// A framing error was already logged (the decoder keeps failing the same way).
    pub failed: bool,
    /// The body is being discarded: nginx does not count it in `$request_length`.
    pub discarding: bool,
    /// Bytes that arrived with the head and still count towards `$request_length` when the
    /// body takes them (bytes read later are counted by the read).
    pub preread_left: usize,
}

impl BodyReader {
    pub fn new(head: &RequestHead, client_max_body_size: u64) -> BodyReader {
        let decoder = if head.chunked {
            Decoder::chunked_limited(client_max_body_size)
        } else {
            Decoder::new(match head.content_length {
                Some(n) => Framing::Length(n),
                None => Framing::Empty,
            })
        };
        BodyReader {
            decoder,
            failed: false,
            discarding: false,
            preread_left: usize::MAX,
        }
    }

    /// The whole body was taken.
    pub fn done(&self) -> bool {
        self.decoder.is_done()
    }
}
