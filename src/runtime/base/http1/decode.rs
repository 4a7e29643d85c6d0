//! The HTTP/1 body decoder, one for every body rginx reads: client request bodies (S10.6,
//! S10.7), upstream responses (S10.1–S10.4) and the HTTP/1 form of an HTTP/2 stream's
//! response. A body is delimited by a length, by chunked framing, or by the end of the
//! connection ([`Framing`]); [`Decoder`] takes its payload off the front of a read buffer as
//! slices of it (no copy) and leaves whatever follows the body (a pipelined request, an
//! upstream's excess) where it was.
//!
//! The chunked grammar is nginx's (`ngx_http_parse_chunked`, [`ChunkedDecoder`]), with its
//! limits; hyper keeps its decoder (`proto/h1/decode.rs`) apart from the roles that use it in
//! the same way. Pure code: no IO, no logging.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

pub use super::Framing;

/// A body decoder for one body.
#[derive(Debug)]
pub struct Decoder {
    kind: Kind,
    /// Payload bytes decoded so far.
    received: u64,
}

#[derive(Debug)]
enum Kind {
    /// Bytes of a `Content-Length` body still to come (0: done).
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Until the connection ends.
    Close,
}

impl Decoder {
    /// A decoder for a body framed as `framing` (chunked bodies without a size limit).
    pub fn new(framing: Framing) -> Decoder {
        let kind = match framing {
            Framing::Empty => Kind::Length(0),
            Framing::Length(n) => Kind::Length(n),
            Framing::Chunked => Kind::Chunked(ChunkedDecoder::new()),
            Framing::Close => Kind::Close,
        };
        Decoder { kind, received: 0 }
    }

    /// A chunked client request body under `client_max_body_size` (`0` = unlimited).
    pub fn chunked_limited(limit: u64) -> Decoder {
        Decoder {
            kind: Kind::Chunked(ChunkedDecoder::with_max_body_size(limit)),
            received: 0,
        }
    }

    /// Takes what it can of the body from the front of `buf`, pushing its payload onto `out`
    /// as slices of what it took. Bytes after the end of the body stay in `buf`. On a chunked
    /// error nothing of this call's input is given out (nginx passes on nothing of the read
    /// in which it fails) and every later call fails the same way.
    pub fn decode(&mut self, buf: &mut BytesMut, out: &mut Pieces) -> Result<(), ChunkedError> {
        match &mut self.kind {
            Kind::Length(left) => {
                let n = (*left).min(buf.len() as u64) as usize;
                if n > 0 {
                    *left -= n as u64;
                    self.received += n as u64;
                    out.push(buf.split_to(n).freeze());
                }
            }
            Kind::Close => {
                self.received += buf.len() as u64;
                out.push(buf.split().freeze());
            }
            Kind::Chunked(d) => {
                let mut ranges = Vec::new();
                let consumed = d.feed(buf, &mut ranges)?;
                let taken = buf.split_to(consumed).freeze();
                for r in ranges {
                    self.received += r.len() as u64;
                    out.push(taken.slice(r));
                }
            }
        }
        Ok(())
    }

    /// The whole body has been taken.
    pub fn is_done(&self) -> bool {
        match &self.kind {
            Kind::Length(left) => *left == 0,
            Kind::Chunked(d) => d.done(),
            Kind::Close => false,
        }
    }

    /// Payload bytes taken so far (`$upstream_response_length`, a body's size).
    pub fn received(&self) -> u64 {
        self.received
    }

    pub fn is_chunked(&self) -> bool {
        matches!(self.kind, Kind::Chunked(_))
    }

    /// Bytes of a length-delimited body still to come.
    pub fn remaining(&self) -> Option<u64> {
        match self.kind {
            Kind::Length(left) => Some(left),
            _ => None,
        }
    }

    /// Whether the body is complete when the connection ends now: a close-delimited body
    /// is; a length or chunked one that is not done was cut short.
    pub fn complete_at_eof(&self) -> bool {
        matches!(self.kind, Kind::Close) || self.is_done()
    }
}

/// The payload of one [`Decoder::decode`]: slices of the read buffer, one in the common case
/// (kept without a heap allocation), several when a read holds several chunks.
#[derive(Debug, Default)]
pub struct Pieces {
    one: Option<Bytes>,
    more: Vec<Bytes>,
}

impl Pieces {
    pub fn push(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        match self.one.take() {
            None if self.more.is_empty() => self.one = Some(b),
            Some(first) => {
                self.more.push(first);
                self.more.push(b);
            }
            None => self.more.push(b),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.one.is_none() && self.more.is_empty()
    }

    /// Payload bytes held.
    pub fn len(&self) -> usize {
        self.iter().map(Bytes::len).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.one.iter().chain(self.more.iter())
    }

    pub fn drain(&mut self) -> impl Iterator<Item = Bytes> + '_ {
        self.one.take().into_iter().chain(self.more.drain(..))
    }

    /// The payload as one buffer (a copy only when there are several pieces).
    pub fn concat(mut self) -> Option<Bytes> {
        if self.more.is_empty() {
            return self.one.take();
        }
        let mut b = BytesMut::with_capacity(self.len());
        for p in self.drain() {
            b.extend_from_slice(&p);
        }
        Some(b.freeze())
    }
}

/// Incremental decoder of a chunked body, for upstream responses and chunked client request
/// bodies. It keeps nginx's grammar: hex sizes with any number of leading zeros, chunk
/// extensions after `;`, space or tab (never checked), CRLF or bare LF line ends (CR CR LF is
/// not accepted), trailer lines skipped without any check, and its size limits: a chunk
/// size above 0x07ff_ffff_ffff_ffff is invalid (nginx's `NGX_MAX_OFF_T_VALUE / 16` check
/// before each byte that follows the size digits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: Chunk,
    /// While reading a size line: the size so far. In data: what is left of the chunk.
    size: u64,
    total: u64,
    limit: u64,
    failed: Option<ChunkedError>,
}

/// Why a chunked body was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkedError {
    /// The body breaks the grammar or a size limit: `upstream sent invalid chunked response`
    /// (the response is cut; nothing more is sent) or, for a client body,
    /// `client sent invalid chunked body` (400).
    Invalid,
    /// Only with `with_max_body_size`: a chunk would take the body beyond
    /// `client_max_body_size`: `client intended to send too large chunked body:
    /// <received>+<chunk> bytes` (413). Checked, like nginx, once the first byte of that
    /// chunk's data is there (observed: a chunk header alone does not trigger it).
    TooLarge { received: u64, chunk: u64 },
}

impl ChunkedError {
    /// nginx's error-log text when this happens in a client request body, and the status of
    /// the answer: `client sent invalid chunked body` (400) or
    /// `client intended to send too large chunked body: 50+51 bytes` (413), observed.
    pub fn client_log_message(&self) -> (String, u16) {
        match self {
            ChunkedError::Invalid => ("client sent invalid chunked body".to_string(), 400),
            ChunkedError::TooLarge { received, chunk } => (
                format!("client intended to send too large chunked body: {received}+{chunk} bytes"),
                413,
            ),
        }
    }
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body, without a size limit (upstream responses).
    pub fn new() -> Self {
        ChunkedDecoder {
            state: Chunk::Start,
            size: 0,
            total: 0,
            limit: 0,
            failed: None,
        }
    }

    /// A decoder for a client request body under `client_max_body_size` (`0` = unlimited, as
    /// in the directive).
    pub fn with_max_body_size(limit: u64) -> Self {
        ChunkedDecoder {
            limit,
            ..Self::new()
        }
    }

    /// Decodes what it can of `input`, appending the ranges of chunk data in `input` to
    /// `data`, and returns how many bytes it consumed. It consumes everything, partial lines
    /// included (the state is kept), until the end of the trailers; bytes after that are not
    /// consumed (for an upstream: `LOG_DATA_AFTER_FINAL_CHUNK`; for a client: the next
    /// request). After the end, it consumes nothing.
    ///
    /// On error, `data` is left as it was on entry (nginx forwards nothing of the read in
    /// which the error occurs), and every later call returns the same error.
    pub fn feed(
        &mut self,
        input: &[u8],
        data: &mut Vec<Range<usize>>,
    ) -> Result<usize, ChunkedError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let entry_len = data.len();
        match self.decode(input, data) {
            Ok(n) => Ok(n),
            Err(e) => {
                data.truncate(entry_len);
                self.failed = Some(e);
                Err(e)
            }
        }
    }

    /// The last chunk and the trailers have been consumed.
    pub fn done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Payload bytes decoded so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    fn decode(
        &mut self,
        input: &[u8],
        data: &mut Vec<Range<usize>>,
    ) -> Result<usize, ChunkedError> {
        if self.state == Chunk::Done {
            return Ok(0);
        }
        let mut i = 0;
        while i < input.len() {
            let c = input[i];
            self.state = match self.state {
                Chunk::Data => {
                    // nginx checks the limit each time it hands out data; what was received
                    // plus what the chunk still announces stays the same within a chunk.
                    if self.limit != 0 && self.limit.saturating_sub(self.total) < self.size {
                        return Err(ChunkedError::TooLarge {
                            received: self.total,
                            chunk: self.size,
                        });
                    }
                    let avail = input.len() - i;
                    // `size` fits in usize when it is below `avail`.
                    let take = if self.size < avail as u64 {
                        self.size as usize
                    } else {
                        avail
                    };
                    data.push(i..i + take);
                    i += take;
                    self.size -= take as u64;
                    self.total += take as u64;
                    if self.size == 0 {
                        self.state = Chunk::AfterData;
                    }
                    continue;
                }
                Chunk::Start => match hex(c) {
                    Some(d) => {
                        self.size = d;
                        Chunk::Size
                    }
                    None => return Err(ChunkedError::Invalid),
                },
                Chunk::Size => {
                    if self.size > MAX_OFF_T / 16 {
                        return Err(ChunkedError::Invalid);
                    }
                    match (hex(c), c) {
                        (Some(d), _) => {
                            self.size = self.size * 16 + d;
                            Chunk::Size
                        }
                        (None, b'\r') if self.size == 0 => Chunk::LastExtCr,
                        (None, b'\n') if self.size == 0 => Chunk::Trailer,
                        (None, b';' | b' ' | b'\t') if self.size == 0 => Chunk::LastExt,
                        (None, b'\r') => Chunk::ExtCr,
                        (None, b'\n') => Chunk::Data,
                        (None, b';' | b' ' | b'\t') => Chunk::Ext,
                        (None, _) => return Err(ChunkedError::Invalid),
                    }
                }
                Chunk::Ext => match c {
                    b'\r' => Chunk::ExtCr,
                    b'\n' => Chunk::Data,
                    _ => Chunk::Ext,
                },
                Chunk::ExtCr => match c {
                    b'\n' => Chunk::Data,
                    _ => return Err(ChunkedError::Invalid),
                },
                Chunk::AfterData => match c {
                    b'\r' => Chunk::AfterDataCr,
                    b'\n' => Chunk::Start,
                    _ => return Err(ChunkedError::Invalid),
                },
                Chunk::AfterDataCr => match c {
                    b'\n' => Chunk::Start,
                    _ => return Err(ChunkedError::Invalid),
                },
                Chunk::LastExt => match c {
                    b'\r' => Chunk::LastExtCr,
                    b'\n' => Chunk::Trailer,
                    _ => Chunk::LastExt,
                },
                Chunk::LastExtCr | Chunk::TrailerHeaderCr => match c {
                    b'\n' => Chunk::Trailer,
                    _ => return Err(ChunkedError::Invalid),
                },
                Chunk::Trailer => match c {
                    b'\r' => Chunk::TrailerCr,
                    b'\n' => Chunk::Done,
                    _ => Chunk::TrailerHeader,
                },
                Chunk::TrailerCr => match c {
                    b'\n' => Chunk::Done,
                    _ => return Err(ChunkedError::Invalid),
                },
                Chunk::TrailerHeader => match c {
                    b'\r' => Chunk::TrailerHeaderCr,
                    b'\n' => Chunk::Trailer,
                    _ => Chunk::TrailerHeader,
                },
                Chunk::Done => return Ok(i),
            };
            i += 1;
            if self.state == Chunk::Done {
                return Ok(i);
            }
        }
        // nginx's second limit, applied whenever it stops: a size that would overflow once
        // the framing bytes are added.
        if self.state == Chunk::Size && self.size > MAX_OFF_T - 5 {
            return Err(ChunkedError::Invalid);
        }
        Ok(i)
    }
}

/// nginx's `NGX_MAX_OFF_T_VALUE` on 64-bit systems.
const MAX_OFF_T: u64 = i64::MAX as u64;

/// States of `ngx_http_parse_chunked`, plus `Done`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Start,
    Size,
    Ext,
    ExtCr,
    Data,
    AfterData,
    AfterDataCr,
    LastExt,
    LastExtCr,
    Trailer,
    TrailerCr,
    TrailerHeader,
    TrailerHeaderCr,
    Done,
}

fn hex(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some(u64::from(c - b'0')),
        _ => match c | 0x20 {
            l @ b'a'..=b'f' => Some(u64::from(l - b'a' + 10)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces (boundaries at the given offsets) and describes the outcome:
    /// the payload, then `done` with what was consumed, or `more` when the body is not
    /// finished, or the error.
    fn decode(input: &[u8], cuts: &[usize], limit: u64) -> String {
        let mut dec = ChunkedDecoder::with_max_body_size(limit);
        let mut payload = Vec::new();
        let mut consumed = 0;
        let mut bounds: Vec<usize> = cuts.to_vec();
        bounds.push(input.len());
        let mut from = 0;
        for &to in &bounds {
            let piece = &input[from..to];
            let mut ranges = Vec::new();
            match dec.feed(piece, &mut ranges) {
                Ok(n) => {
                    assert!(n <= piece.len());
                    for r in &ranges {
                        assert!(r.end <= n && r.start < r.end, "range {r:?} of {n}");
                        payload.extend_from_slice(&piece[r.clone()]);
                    }
                    consumed += n;
                    if n < piece.len() {
                        assert!(dec.done(), "stopped early without being done");
                        // Later pieces are not consumed either.
                        break;
                    }
                }
                Err(e) => {
                    assert!(ranges.is_empty(), "data kept on error");
                    // Errors stick.
                    assert_eq!(dec.feed(b"0\r\n\r\n", &mut ranges), Err(e));
                    return match e {
                        ChunkedError::Invalid => "invalid".to_string(),
                        ChunkedError::TooLarge { received, chunk } => {
                            format!("too large {received}+{chunk}")
                        }
                    };
                }
            }
            from = to;
        }
        assert_eq!(dec.total(), payload.len() as u64);
        let state = if dec.done() {
            format!("done {consumed}")
        } else {
            "more".to_string()
        };
        format!("{}|{state}", String::from_utf8_lossy(&payload))
    }

    /// Decodes `input` whole, split in two at every offset, and byte by byte; all must agree
    /// with `expected`.
    fn check_chunked(input: &[u8], limit: u64, expected: &str) {
        assert_eq!(
            decode(input, &[], limit),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        for k in 0..=input.len() {
            assert_eq!(
                decode(input, &[k], limit),
                expected,
                "split at {k} of {input:?}"
            );
        }
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(decode(input, &every, limit), expected, "bytewise {input:?}");
    }

    #[test]
    fn chunked_bodies() {
        let cases: &[(&[u8], &str)] = &[
            // S10.4 / S10.6.
            (
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                "hello world|done 26",
            ),
            (
                b"15\r\npart0 t=1795272925.8\n\r\n0\r\n\r\n",
                "part0 t=1795272925.8\n|done 32",
            ),
            // Hex in either case, leading zeros (observed with 25 zeros).
            (b"A\r\n0123456789\r\n0\r\n\r\n", "0123456789|done 20"),
            (b"a\r\n0123456789\r\n0\r\n\r\n", "0123456789|done 20"),
            (
                b"000000000000000000000000005\r\nhello\r\n0\r\n\r\n",
                "hello|done 41",
            ),
            (b"5\r\nhello\r\n000\r\n\r\n", "hello|done 17"),
            // Extensions after `;`, space or tab, on data chunks and the last one (observed).
            (
                b"5;a=b\r\nhello\r\n6 \t;x\r\n world\r\n0;last\r\n\r\n",
                "hello world|done 39",
            ),
            (b"5 \r\nhello\r\n0\t\r\n\r\n", "hello|done 17"),
            (b"5;\x00\xff\r\nhello\r\n0\r\n\r\n", "hello|done 18"),
            // Trailers are skipped without any check (observed, also with NUL bytes).
            (
                b"5\r\nhello\r\n0\r\nTrailer-A: 1\r\nB: 2\r\n\r\n",
                "hello|done 35",
            ),
            (
                b"5\r\nhello\r\n0\r\n\x00\x01garbage\r\n\r\n",
                "hello|done 26",
            ),
            // Bare LF everywhere (observed, response and request bodies).
            (b"5\nhello\n6\n world\n0\n\n", "hello world|done 20"),
            (b"5;x=y\nhello\n0\nT: 1\n\n", "hello|done 20"),
            // Bytes after the end are not consumed.
            (b"5\r\nhello\r\n0\r\n\r\nEXTRA", "hello|done 15"),
            (b"0\r\n\r\nGET / HTTP/1.1\r\n", "|done 5"),
            // Unfinished bodies.
            (b"5\r\nhel", "hel|more"),
            (b"5\r\nhello\r\n", "hello|more"),
            (b"5\r\nhello\r\n0\r\n", "hello|more"),
            (b"5\r\nhello\r\n0\r\nT: 1\r\n", "hello|more"),
            (b"", "|more"),
            // Invalid (observed: bad hex, missing CRLF after data, CR CR LF).
            (b"5\r\nhello\r\nzz\r\nxx\r\n0\r\n\r\n", "invalid"),
            (b"5\r\nhelloX\r\n0\r\n\r\n", "invalid"),
            (b"5\r\r\nhello\r\n0\r\n\r\n", "invalid"),
            (b"5\r\nhello\r\r\n0\r\n\r\n", "invalid"),
            (b"0\r\r\n\r\n", "invalid"),
            (b"0\r\n\r\r\n", "invalid"),
            (b"0\r\nT: 1\r\r\n\r\n", "invalid"),
            (b"\r\n5\r\nhello\r\n0\r\n\r\n", "invalid"),
            (b" 5\r\nhello\r\n0\r\n\r\n", "invalid"),
            (b"5x\r\nhello\r\n0\r\n\r\n", "invalid"),
            (b"-5\r\nhello\r\n", "invalid"),
            (b"0x5\r\nhello\r\n", "invalid"),
            (b"5\r\nhello\r\n\r\n0\r\n\r\n", "invalid"),
            (b"g", "invalid"),
        ];
        for (input, expected) in cases {
            check_chunked(input, 0, expected);
        }
    }

    #[test]
    fn chunked_size_limits() {
        let cases: &[(&[u8], &str)] = &[
            // The largest size nginx accepts is NGX_MAX_OFF_T_VALUE / 16 (observed: it waits
            // for data; a size one above is invalid).
            (b"7ffffffffffffff\r\nxx", "xx|more"),
            (b"07ffffffffffffff\r\nxx", "xx|more"),
            (b"0800000000000000\r\nxx", "invalid"),
            (b"8000000000000000\r\n", "invalid"),
            (b"ffffffffffffffffffffffff\r\n", "invalid"),
            // A too-big size is invalid at the next byte, or when the input stops (the
            // second nginx check, NGX_MAX_OFF_T_VALUE - 5).
            (b"7ffffffffffffffa", "|more"),
            (b"7ffffffffffffffb", "invalid"),
            (b"7ffffffffffffff", "|more"),
            (b"800000000000000", "|more"),
            (b"0800000000000000", "|more"),
            (b"7ffffffffffffffff", "invalid"),
        ];
        for (input, expected) in cases {
            check_chunked(input, 0, expected);
        }
    }

    #[test]
    fn chunked_client_max_body_size() {
        // S13.9, observed with client_max_body_size 100: 100 bytes pass; 50 then a chunk of
        // 51 is "50+51" once its first data byte is there; a chunk header alone waits.
        let cases: &[(&[u8], &str)] = &[
            (b"64\r\n", "|more"),
            (b"65\r\n", "|more"),
            (b"65\r\nx", "too large 0+101"),
            (b"32\r\n", "|more"),
            (
                b"32\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n33\r\nb",
                "too large 50+51",
            ),
            (
                b"32\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n32\r\nbb",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabb|more",
            ),
            // An invalid size is reported before the limit (nginx checks it first).
            (b"0800000000000000\r\nx", "invalid"),
        ];
        for (input, expected) in cases {
            check_chunked(input, 100, expected);
        }
        let mut exact = b"64\r\n".to_vec();
        exact.extend(std::iter::repeat_n(b'a', 100));
        exact.extend_from_slice(b"\r\n0\r\n\r\n");
        let expected = format!("{}|done {}", "a".repeat(100), exact.len());
        check_chunked(&exact, 100, &expected);
        // 0 = unlimited, as in the directive.
        assert_eq!(decode(b"65\r\nx", &[], 0), "x|more");
        assert_eq!(
            ChunkedError::TooLarge {
                received: 50,
                chunk: 51
            }
            .client_log_message(),
            (
                "client intended to send too large chunked body: 50+51 bytes".to_string(),
                413
            )
        );
        assert_eq!(
            ChunkedError::Invalid.client_log_message(),
            ("client sent invalid chunked body".to_string(), 400)
        );
    }

    #[test]
    fn chunked_after_done_and_ranges() {
        let mut dec = ChunkedDecoder::new();
        let mut data = Vec::new();
        let input = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nrest";
        assert_eq!(dec.feed(input, &mut data), Ok(input.len() - 4));
        assert_eq!(data, vec![3..6, 11..13]);
        assert!(dec.done());
        assert_eq!(dec.total(), 5);
        assert_eq!(dec.feed(b"more", &mut data), Ok(0));
        assert_eq!(data.len(), 2);
        // An error drops the ranges of the failing call only.
        let mut dec = ChunkedDecoder::default();
        let mut data = vec![0..1, 1..2];
        assert_eq!(
            dec.feed(b"3\r\nabc\r\nX", &mut data),
            Err(ChunkedError::Invalid)
        );
        assert_eq!(data, vec![0..1, 1..2]);
    }

    /// A small deterministic generator for the robustness tests.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn random_chunked_bodies_never_panic_and_split_alike() {
        // Bytes that matter to the decoder, so that random inputs reach deep states.
        const CHUNK_ALPHABET: &[u8] = b"0015aF\r\n\r\n; \tx:\x00";
        let mut rng = Lcg(0x5eed);
        for _ in 0..1500 {
            let len = (rng.next() % 40) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| CHUNK_ALPHABET[(rng.next() % CHUNK_ALPHABET.len() as u64) as usize])
                .collect();
            let whole = decode(&input, &[], 0);
            let cut = (rng.next() as usize) % (input.len() + 1);
            assert_eq!(decode(&input, &[cut], 0), whole, "{input:?} cut {cut}");
            let every: Vec<usize> = (1..input.len()).collect();
            assert_eq!(decode(&input, &every, 0), whole, "{input:?} bytewise");
        }
    }
}
