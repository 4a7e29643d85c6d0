//! The HTTP/1 body encoder: nginx's chunk framing towards clients (S10.4) and towards
//! upstreams (a streamed chunked request body, S10.6), and the HTTP/1 form of an HTTP/2
//! stream's request body. Chunk framing is written here only.

/// The last chunk nginx sends to a client at the end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What nginx writes after the data of each chunk.
pub const CHUNK_END: &[u8] = b"\r\n";

/// nginx's chunk header for `len` bytes of data towards a client (S10.4): the size in
/// lowercase hex and CRLF, e.g. `15\r\n`. The data follows, then `CHUNK_END`; nginx never
/// writes an empty chunk before `LAST_CHUNK` (`len` 0 would end the body).
pub fn chunk_header(len: usize, out: &mut Vec<u8>) {
    let mut digits = [0u8; 2 * std::mem::size_of::<usize>()];
    let mut at = digits.len();
    let mut rest = len;
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[rest & 0xf];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// Appends `data` as one chunk (nothing for empty data: an empty chunk would end the body).
pub fn chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    chunk_header(data.len(), out);
    out.extend_from_slice(data);
    out.extend_from_slice(CHUNK_END);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::base::http1::decode::{Decoder, Framing, Pieces};

    #[test]
    fn chunk_headers() {
        for (len, expected) in [
            (0x15usize, "15\r\n"),
            (1, "1\r\n"),
            (0, "0\r\n"),
            (255, "ff\r\n"),
            (4096, "1000\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            let mut out = b"x".to_vec();
            chunk_header(len, &mut out);
            assert_eq!(out[1..], *expected.as_bytes(), "{len}");
        }
        // S10.6's body as nginx sends it, and it decodes back.
        let mut body = Vec::new();
        for part in [&b"hello"[..], b" world"] {
            chunk_header(part.len(), &mut body);
            body.extend_from_slice(part);
            body.extend_from_slice(CHUNK_END);
        }
        body.extend_from_slice(LAST_CHUNK);
        assert_eq!(body, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        let mut buf = bytes::BytesMut::from(&body[..]);
        let mut d = Decoder::new(Framing::Chunked);
        let mut out = Pieces::default();
        d.decode(&mut buf, &mut out).unwrap();
        assert!(d.is_done() && buf.is_empty());
        assert_eq!(&out.concat().unwrap()[..], b"hello world");
    }
}
