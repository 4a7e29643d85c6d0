//! RFC 6455 from the server's side, without IO: the handshake's accept key, the frames a
//! server writes, and an incremental decoder of the frames a client sends, which unmasks
//! payloads in place and hands them on as they arrive (a frame is never held whole, so its
//! size costs no memory). Frame headers are parsed and written by tungstenite's protocol
//! layer; what to do with a frame (websockify's rules) is the caller's.

use std::io::Cursor;

use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// The longest frame header a server writes: 2 bytes, then 8 for a 64-bit length.
pub const MAX_SERVER_HEADER: usize = 10;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 section 4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    use base64::Engine;
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(ctx.finish())
}

/// What a server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Kind {
    fn opcode(self) -> OpCode {
        match self {
            Kind::Text => OpCode::Data(Data::Text),
            Kind::Binary => OpCode::Data(Data::Binary),
            Kind::Close => OpCode::Control(Control::Close),
            Kind::Ping => OpCode::Control(Control::Ping),
            Kind::Pong => OpCode::Control(Control::Pong),
        }
    }
}

/// Writes the header of an unfragmented, unmasked frame of `len` payload bytes at the end
/// of `out`; returns its length.
pub fn header(kind: Kind, len: usize, out: &mut [u8; MAX_SERVER_HEADER]) -> usize {
    let h = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: kind.opcode(),
        mask: None,
    };
    let n = h.len(len as u64);
    let mut w = Cursor::new(&mut out[MAX_SERVER_HEADER - n..]);
    // Writing into a slice of exactly the header's length does not fail.
    let _ = h.format(len as u64, &mut w);
    n
}

/// A whole frame: header and payload.
pub fn frame(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut h = [0u8; MAX_SERVER_HEADER];
    let n = header(kind, payload.len(), &mut h);
    let mut out = Vec::with_capacity(n + payload.len());
    out.extend_from_slice(&h[MAX_SERVER_HEADER - n..]);
    out.extend_from_slice(payload);
    out
}

/// A close frame with `code` and `reason` (none for an empty close).
pub fn close_frame(code: Option<u16>, reason: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(2 + reason.len());
    if let Some(c) = code {
        payload.extend_from_slice(&c.to_be_bytes());
        payload.extend_from_slice(reason);
    }
    frame(Kind::Close, &payload)
}

/// Why the decoder fails the connection: the close code and reason to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fail {
    pub code: u16,
    pub reason: String,
}

impl Fail {
    fn new(code: u16, reason: impl Into<String>) -> Fail {
        Fail {
            code,
            reason: reason.into(),
        }
    }
}

/// What the decoder gives its caller.
pub trait Sink {
    /// Payload bytes of a data frame (unmasked), in order; `text` for a text message.
    fn data(&mut self, bytes: &[u8], text: bool) -> Result<(), Fail>;
    /// The end of a data message (its last frame's payload was given).
    fn end_of_message(&mut self, _text: bool) -> Result<(), Fail> {
        Ok(())
    }
    /// A ping to answer with a pong of the same payload.
    fn ping(&mut self, payload: &[u8]);
    /// The client's close frame: its code (none for an empty close) and reason.
    fn close(&mut self, code: Option<u16>, reason: &[u8]);
}

/// Where the decoder is in the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Header,
    Payload,
    /// A close frame was read (or the connection failed): nothing more is read.
    Done,
}

/// The frame being read.
#[derive(Clone, Copy, Debug)]
struct Current {
    kind: Kind,
    fin: bool,
    mask: [u8; 4],
    /// Payload bytes still to come.
    left: u64,
    /// Payload bytes already unmasked (the mask's phase).
    done: u64,
}

/// An incremental decoder of a client's frames (RFC 6455 section 5, with websockify's
/// choices of close codes).
pub struct Decoder {
    state: State,
    hdr: [u8; 14],
    hdr_len: usize,
    cur: Current,
    /// A control frame's payload, gathered (at most 125 bytes by RFC).
    control: Vec<u8>,
    /// The kind of the fragmented data message in progress.
    message: Option<Kind>,
    /// The largest frame payload accepted (a larger frame fails with 1009).
    max_frame: u64,
    /// Whether text frames carry data (websockify's base64 protocol) or are refused.
    text_allowed: bool,
}

impl Decoder {
    pub fn new(max_frame: u64, text_allowed: bool) -> Decoder {
        Decoder {
            state: State::Header,
            hdr: [0; 14],
            hdr_len: 0,
            cur: Current {
                kind: Kind::Binary,
                fin: true,
                mask: [0; 4],
                left: 0,
                done: 0,
            },
            control: Vec::new(),
            message: None,
            max_frame,
            text_allowed,
        }
    }

    /// Whether the client's close frame was read (or the connection failed).
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `buf` (unmasking it in place): gives the sink what it holds. After an error,
    /// or once a close frame was read, the rest is ignored.
    pub fn feed(&mut self, buf: &mut [u8], sink: &mut impl Sink) -> Result<(), Fail> {
        let r = self.feed_inner(buf, sink);
        if r.is_err() {
            self.state = State::Done;
        }
        r
    }

    fn feed_inner(&mut self, buf: &mut [u8], sink: &mut impl Sink) -> Result<(), Fail> {
        let mut p = 0;
        while p < buf.len() {
            match self.state {
                State::Done => return Ok(()),
                State::Header => {
                    // The first two bytes tell the header's length.
                    let need = if self.hdr_len < 2 {
                        2
                    } else {
                        header_len(self.hdr[1])
                    };
                    let take = (need - self.hdr_len).min(buf.len() - p);
                    self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&buf[p..p + take]);
                    self.hdr_len += take;
                    p += take;
                    if self.hdr_len >= 2 && self.hdr_len == header_len(self.hdr[1]) {
                        self.start_frame(sink)?;
                    }
                }
                State::Payload => {
                    let n = (buf.len() - p).min(self.cur.left as usize);
                    let chunk = &mut buf[p..p + n];
                    unmask(chunk, self.cur.mask, self.cur.done);
                    self.cur.left -= n as u64;
                    self.cur.done += n as u64;
                    p += n;
                    self.payload(chunk, sink)?;
                    if self.cur.left == 0 {
                        self.end_frame(sink)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A whole header was gathered: checks it as websockify does and starts its frame.
    fn start_frame(&mut self, sink: &mut impl Sink) -> Result<(), Fail> {
        let raw = &self.hdr[..self.hdr_len];
        self.hdr_len = 0;
        let first = raw[0];
        let parsed = FrameHeader::parse(&mut Cursor::new(raw));
        let (h, len) = match parsed {
            Ok(Some(x)) => x,
            // The header was gathered to its length, so it is complete; what fails is the
            // opcode.
            Ok(None) | Err(_) => {
                return Err(Fail::new(
                    1003,
                    format!("Unsupported: Unknown opcode 0x{:02x}", first & 0x0f),
                ))
            }
        };
        if h.rsv1 || h.rsv2 || h.rsv3 {
            return Err(Fail::new(1002, "Protocol error: Reserved bits set"));
        }
        let Some(mask) = h.mask else {
            return Err(Fail::new(1002, "Protocol error: Frame not masked"));
        };
        if len >> 63 != 0 {
            return Err(Fail::new(1002, "Protocol error: Invalid frame length"));
        }
        let kind = match h.opcode {
            OpCode::Data(Data::Continue) => match self.message {
                Some(k) => k,
                None => {
                    return Err(Fail::new(
                        1002,
                        "Protocol error: Unexpected continuation frame",
                    ))
                }
            },
            OpCode::Data(d) => {
                if self.message.is_some() {
                    return Err(Fail::new(1002, "Protocol error: Unexpected new frame"));
                }
                if d == Data::Text {
                    if !self.text_allowed {
                        return Err(Fail::new(
                            1003,
                            "Unsupported: Text frames are not supported",
                        ));
                    }
                    Kind::Text
                } else {
                    Kind::Binary
                }
            }
            OpCode::Control(c) => {
                let (kind, name) = match c {
                    Control::Close => (Kind::Close, "close"),
                    Control::Ping => (Kind::Ping, "ping"),
                    _ => (Kind::Pong, "pong"),
                };
                if !h.is_final {
                    return Err(Fail::new(1003, format!("Unsupported: Fragmented {name}")));
                }
                if len > 125 {
                    return Err(Fail::new(1002, "Protocol error: Control frame too long"));
                }
                kind
            }
        };
        if matches!(kind, Kind::Text | Kind::Binary) && len > self.max_frame {
            return Err(Fail::new(1009, "Message too big"));
        }
        self.cur = Current {
            kind,
            fin: h.is_final,
            mask,
            left: len,
            done: 0,
        };
        if matches!(kind, Kind::Text | Kind::Binary) {
            self.message = (!h.is_final).then_some(kind);
        }
        self.control.clear();
        self.state = State::Payload;
        if len == 0 {
            self.end_frame(sink)?;
        }
        Ok(())
    }

    fn payload(&mut self, chunk: &[u8], sink: &mut impl Sink) -> Result<(), Fail> {
        match self.cur.kind {
            Kind::Text | Kind::Binary => sink.data(chunk, self.cur.kind == Kind::Text),
            _ => {
                self.control.extend_from_slice(chunk);
                Ok(())
            }
        }
    }

    fn end_frame(&mut self, sink: &mut impl Sink) -> Result<(), Fail> {
        self.state = State::Header;
        match self.cur.kind {
            Kind::Text | Kind::Binary => {
                if self.cur.fin {
                    sink.end_of_message(self.cur.kind == Kind::Text)?;
                }
            }
            Kind::Ping => sink.ping(&self.control),
            Kind::Pong => {}
            Kind::Close => {
                let (code, reason) = close_parts(&self.control)?;
                self.state = State::Done;
                sink.close(code, reason);
            }
        }
        Ok(())
    }
}

/// A client frame header's length, from its second byte: the length's extra bytes and the
/// mask.
fn header_len(second: u8) -> usize {
    let extra = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extra + if second & 0x80 != 0 { 4 } else { 0 }
}

/// A close frame's code and reason, checked as RFC 6455 section 7.4 asks: a one-byte
/// payload, a code that may not be sent, or a reason that is not UTF-8 fail with 1002.
fn close_parts(payload: &[u8]) -> Result<(Option<u16>, &[u8]), Fail> {
    match payload.len() {
        0 => Ok((None, &[])),
        1 => Err(Fail::new(1002, "Protocol error: Invalid close frame")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !CloseCode::from(code).is_allowed() {
                return Err(Fail::new(1002, "Protocol error: Invalid close code"));
            }
            let reason = &payload[2..];
            if std::str::from_utf8(reason).is_err() {
                return Err(Fail::new(1002, "Protocol error: Invalid UTF-8 in close"));
            }
            Ok((Some(code), reason))
        }
    }
}

/// Unmasks `buf`, which starts `offset` bytes into its frame's payload.
pub fn unmask(buf: &mut [u8], mask: [u8; 4], offset: u64) {
    let phase = (offset % 4) as usize;
    let m = [
        mask[phase],
        mask[(phase + 1) % 4],
        mask[(phase + 2) % 4],
        mask[(phase + 3) % 4],
    ];
    let word = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug, PartialEq)]
    struct Got {
        data: Vec<u8>,
        messages: usize,
        pings: Vec<Vec<u8>>,
        close: Option<(Option<u16>, Vec<u8>)>,
    }

    impl Sink for Got {
        fn data(&mut self, bytes: &[u8], _text: bool) -> Result<(), Fail> {
            self.data.extend_from_slice(bytes);
            Ok(())
        }
        fn end_of_message(&mut self, _text: bool) -> Result<(), Fail> {
            self.messages += 1;
            Ok(())
        }
        fn ping(&mut self, payload: &[u8]) {
            self.pings.push(payload.to_vec());
        }
        fn close(&mut self, code: Option<u16>, reason: &[u8]) {
            self.close = Some((code, reason.to_vec()));
        }
    }

    /// A client frame: masked with `mask`.
    fn client(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len < 65536 {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    const M: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// Feeds `bytes` in pieces of sizes from 1 byte to the whole: the result never depends on
    /// how the stream was cut.
    fn feed_all(bytes: &[u8], text: bool) -> Vec<(Got, Result<(), Fail>)> {
        [1, 2, 3, 5, 7, 13, 64, 997, 4096, bytes.len().max(1)]
            .into_iter()
            .map(|step| {
                let mut d = Decoder::new(1 << 20, text);
                let mut g = Got::default();
                let mut r = Ok(());
                for piece in bytes.chunks(step) {
                    let mut piece = piece.to_vec();
                    r = d.feed(&mut piece, &mut g);
                    if r.is_err() {
                        break;
                    }
                }
                (g, r)
            })
            .collect()
    }

    #[test]
    fn frames_decode_the_same_however_the_stream_is_cut() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
        let mut s = client(0x82, b"hello", M);
        s.extend(client(0x02, b"frag", M)); // binary, not final
        s.extend(client(0x89, b"ping!", M)); // a ping between fragments
        s.extend(client(0x80, b"mented", M)); // continuation, final
        s.extend(client(0x82, &big, M));
        s.extend(client(0x88, b"\x03\xe8bye", M));
        s.extend(client(0x82, b"after close: ignored", M));
        let mut want = b"hellofragmented".to_vec();
        want.extend_from_slice(&big);
        for (g, r) in feed_all(&s, false) {
            assert_eq!(r, Ok(()));
            assert_eq!(g.data, want);
            assert_eq!(g.messages, 3);
            assert_eq!(g.pings, vec![b"ping!".to_vec()]);
            assert_eq!(g.close, Some((Some(1000), b"bye".to_vec())));
        }
    }

    #[test]
    fn websockify_refusals() {
        let fail = |bytes: Vec<u8>, text: bool| feed_all(&bytes, text).pop().unwrap().1;
        let code = |r: Result<(), Fail>| r.unwrap_err().code;
        // Unmasked.
        assert_eq!(code(fail(vec![0x82, 0x01, b'x'], false)), 1002);
        // Text without the base64 protocol.
        assert_eq!(code(fail(client(0x81, b"hi", M), false)), 1003);
        assert_eq!(fail(client(0x81, b"hi", M), true), Ok(()));
        // Reserved opcodes, data and control.
        assert_eq!(
            fail(client(0x83, b"", M), false).unwrap_err().reason,
            "Unsupported: Unknown opcode 0x03"
        );
        assert_eq!(code(fail(client(0x8b, b"", M), false)), 1003);
        // RSV bits.
        assert_eq!(code(fail(client(0xc2, b"x", M), false)), 1002);
        // A continuation with no message, a new message inside one.
        assert_eq!(code(fail(client(0x80, b"x", M), false)), 1002);
        let mut two = client(0x02, b"a", M);
        two.extend(client(0x82, b"b", M));
        assert_eq!(code(fail(two, false)), 1002);
        // Fragmented and long control frames.
        assert_eq!(code(fail(client(0x09, b"p", M), false)), 1003);
        assert_eq!(code(fail(client(0x89, &[0u8; 126], M), false)), 1002);
        // Close frames: one byte, a code that may not be sent, a reason that is not UTF-8.
        assert_eq!(code(fail(client(0x88, b"\x03", M), false)), 1002);
        assert_eq!(code(fail(client(0x88, b"\x03\xed", M), false)), 1002);
        assert_eq!(code(fail(client(0x88, b"\x03\xe8\xff", M), false)), 1002);
        // A frame over the limit, and a 64-bit length with its top bit set.
        let mut d = Decoder::new(100, false);
        let mut big = client(0x82, &[0u8; 101], M);
        assert_eq!(
            d.feed(&mut big, &mut Got::default()).unwrap_err().code,
            1009
        );
        let mut huge = vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        let mut d = Decoder::new(u64::MAX, false);
        assert_eq!(
            d.feed(&mut huge, &mut Got::default()).unwrap_err().code,
            1002
        );
    }

    #[test]
    fn server_frames_and_the_accept_key() {
        // RFC 6455 section 1.3's example.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(frame(Kind::Binary, b"abc"), b"\x82\x03abc");
        assert_eq!(frame(Kind::Text, &[b'x'; 126])[..4], [0x81, 126, 0, 126]);
        assert_eq!(
            frame(Kind::Binary, &[0; 65536])[..10],
            [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        assert_eq!(
            close_frame(Some(1000), b"Target closed")[..4],
            [0x88, 15, 0x03, 0xe8]
        );
        assert_eq!(close_frame(None, b""), [0x88, 0]);
    }

    #[test]
    fn unmasking_keeps_the_phase_across_pieces() {
        let data: Vec<u8> = (0..40u8).collect();
        let masked: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ M[i % 4]).collect();
        for split in 0..data.len() {
            let mut a = masked[..split].to_vec();
            let mut b = masked[split..].to_vec();
            unmask(&mut a, M, 0);
            unmask(&mut b, M, split as u64);
            a.extend(b);
            assert_eq!(a, data, "split at {split}");
        }
    }
}
