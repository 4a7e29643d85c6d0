//! A bridge's bytes in the worker's tunnel loop, as websockify moves them: each read from the
//! target becomes one message to the client (binary, or base64 text for websockify's
//! `base64` protocol), and the client's frames are decoded as they arrive, their payloads
//! written to the target. Pings are answered, a close is echoed, a frame websockify refuses
//! closes the session with its code, and the target's end closes it with `1000 Target
//! closed`, websockify's words.
//!
//! Like the tunnel's relay it keeps only what a side did not take yet: a frame is never held
//! whole (payloads are unmasked in the loop's scratch buffer and written on), so an idle
//! bridge holds no buffer, and a frame's size costs no memory.

use std::io;

use base64::Engine;

use crate::runtime::base::tunnel::relay::{Readiness, Which};
use crate::runtime::base::tunnel::side::{Got, Side};
use crate::runtime::base::tunnel::End;
use crate::runtime::base::websocket::{self, close_frame, Decoder, Fail, Kind, Sink};
use crate::runtime::state::upgraded::BridgeMode;

const HDR: usize = websocket::MAX_SERVER_HEADER;

/// One direction's bytes not yet written (empty, with no allocation, when idle).
#[derive(Default)]
struct Owed {
    buf: Vec<u8>,
    pos: usize,
}

impl Owed {
    fn is_clear(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.is_clear() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Writes what is owed to `to` as far as it takes it; whether anything went, and whether
    /// all did (its memory is then given back).
    fn write(&mut self, to: &mut Side, counted: &mut u64) -> Result<(bool, bool), End> {
        if self.is_clear() {
            return Ok((false, true));
        }
        let n = to.write(&self.buf[self.pos..]).map_err(End::SendFailed)?;
        self.pos += n;
        *counted += n as u64;
        if self.is_clear() {
            self.buf = Vec::new();
            self.pos = 0;
            return Ok((n > 0, true));
        }
        Ok((n > 0, false))
    }
}

/// Base64 characters of a message not yet decoded (a quantum is 4 of them).
#[derive(Default)]
struct B64 {
    carry: [u8; 4],
    len: usize,
    /// A quantum with padding was decoded: the message must end there.
    padded: bool,
}

/// A bridge between a WebSocket client and a byte-stream target.
pub struct Bridge {
    client: Side,
    target: Side,
    /// Frames for the client (messages, pongs, the close) not yet written.
    to_client: Owed,
    /// Bytes for the target not yet written.
    to_target: Owed,
    decoder: Decoder,
    mode: BridgeMode,
    b64: B64,
    /// A close frame is queued for the client: once it is out, the bridge ends.
    closing: bool,
    /// A read that failed ended its side as an EOF does; logged when the bridge ends.
    pub read_err: Option<io::Error>,
    /// Bytes read from the target (`$upstream_bytes_received`).
    pub from_target: u64,
    /// Bytes written to the client (`$body_bytes_sent`).
    pub to_client_bytes: u64,
}

impl Bridge {
    pub fn new(client: Side, target: Side, pipelined: &[u8], mode: BridgeMode) -> Bridge {
        let mut b = Bridge {
            client,
            target,
            to_client: Owed::default(),
            to_target: Owed::default(),
            decoder: Decoder::new(mode.max_frame, mode.base64),
            mode,
            b64: B64::default(),
            closing: false,
            read_err: None,
            from_target: 0,
            to_client_bytes: 0,
        };
        if !pipelined.is_empty() {
            // Frames the client sent behind its handshake: decoded now, written once the
            // target is writable.
            let mut frames = pipelined.to_vec();
            b.decode(&mut frames);
        }
        b
    }

    /// An event on side `which`: its flags are set and the directions it concerns pumped.
    pub fn event(
        &mut self,
        which: Which,
        ready: Readiness,
        scratch: &mut [u8],
    ) -> Result<bool, End> {
        let side = match which {
            Which::Client => &mut self.client,
            Which::Upstream => &mut self.target,
        };
        side.ready(ready.readable, ready.writable, ready.rdhup);
        let mut moved = false;
        let client_readable = which == Which::Client && ready.readable;
        let target_readable = which == Which::Upstream && ready.readable;
        if client_readable || (which == Which::Upstream && ready.writable) {
            moved |= self.up(scratch)?;
        }
        if target_readable || (which == Which::Client && ready.writable) {
            moved |= self.down(scratch)?;
        }
        Ok(moved)
    }

    /// The bridge is over: its close frame went out, or a side ended and what it sent went
    /// on.
    pub fn over(&self) -> bool {
        (self.closing && self.to_client.is_clear() && !self.client.pending())
            || (self.client.eof && self.to_target.is_clear())
            || (self.client.eof && self.target.eof)
    }

    /// Whether bytes wait for the target, and for the client.
    pub fn blocked(&self) -> (bool, bool) {
        (
            !self.to_target.is_clear() || self.target.pending(),
            !self.to_client.is_clear() || self.client.pending(),
        )
    }

    /// The two sides and the error of a read that ended one.
    pub fn into_parts(self) -> (Side, Side, Option<io::Error>) {
        (self.client, self.target, self.read_err)
    }

    pub fn client(&self) -> &Side {
        &self.client
    }

    pub fn target(&self) -> &Side {
        &self.target
    }

    /// Target → client: each read one message.
    fn down(&mut self, scratch: &mut [u8]) -> Result<bool, End> {
        let mut progress = false;
        loop {
            if !self.client.flush().map_err(End::SendFailed)? {
                return Ok(progress);
            }
            let (wrote, done) = self
                .to_client
                .write(&mut self.client, &mut self.to_client_bytes)?;
            progress |= wrote;
            if !done || self.closing {
                return Ok(progress);
            }
            if self.target.eof || !self.target.readable() {
                return Ok(progress);
            }
            let got = if self.mode.base64 {
                self.read_base64(scratch)
            } else {
                self.read_binary(scratch)
            };
            match got {
                Ok(at) => {
                    progress = true;
                    let frame = &scratch[at];
                    let n = self.client.write(frame).map_err(End::SendFailed)?;
                    self.to_client_bytes += n as u64;
                    if n < frame.len() {
                        self.to_client.push(&frame[n..]);
                        return Ok(true);
                    }
                }
                Err(Got::Again) | Err(Got::Data(_)) => return Ok(progress),
                Err(got) => {
                    if let Got::Failed(e) = got {
                        self.read_err = Some(e);
                    }
                    self.target.eof = true;
                    self.to_client
                        .push(&close_frame(Some(1000), b"Target closed"));
                    self.closing = true;
                    progress = true;
                }
            }
        }
    }

    /// One read from the target as a binary frame in `scratch`, where it is returned: the
    /// payload is read after room for the longest header, and its header written just
    /// before it, so that the frame goes out in one write and is never copied.
    fn read_binary(&mut self, scratch: &mut [u8]) -> Result<std::ops::Range<usize>, Got> {
        let max = self.mode.max_message.min(scratch.len() - HDR);
        match self.target.read(&mut scratch[HDR..HDR + max]) {
            Got::Data(n) => {
                self.from_target += n as u64;
                let mut h = [0u8; HDR];
                let hl = websocket::header(Kind::Binary, n, &mut h);
                scratch[HDR - hl..HDR].copy_from_slice(&h[HDR - hl..]);
                Ok(HDR - hl..HDR + n)
            }
            other => Err(other),
        }
    }

    /// One read from the target as a base64 text frame in `scratch`, where it is returned:
    /// the bytes are read into its tail and encoded into its head.
    fn read_base64(&mut self, scratch: &mut [u8]) -> Result<std::ops::Range<usize>, Got> {
        // Encoded, n bytes take 4 * ceil(n / 3); the header, the encoded text and the input
        // must fit in the scratch buffer together.
        let room = scratch.len() - HDR;
        let max_in = (self.mode.max_message / 4 * 3)
            .min(room * 3 / 7 / 3 * 3)
            .max(3);
        let input_at = scratch.len() - max_in;
        let n = match self.target.read(&mut scratch[input_at..]) {
            Got::Data(n) => n,
            other => return Err(other),
        };
        self.from_target += n as u64;
        let (head, input) = scratch.split_at_mut(input_at);
        let encoded = base64::engine::general_purpose::STANDARD
            .encode_slice(&input[..n], &mut head[HDR..])
            .unwrap_or(0);
        let mut h = [0u8; HDR];
        let hl = websocket::header(Kind::Text, encoded, &mut h);
        head[HDR - hl..HDR].copy_from_slice(&h[HDR - hl..]);
        Ok(HDR - hl..HDR + encoded)
    }

    /// Client → target: frames decoded as they arrive.
    fn up(&mut self, scratch: &mut [u8]) -> Result<bool, End> {
        let mut progress = false;
        loop {
            if !self.target.flush().map_err(End::SendFailed)? {
                return Ok(progress);
            }
            let mut ignored = 0;
            let (wrote, done) = self.to_target.write(&mut self.target, &mut ignored)?;
            progress |= wrote;
            if !done {
                return Ok(progress);
            }
            if self.client.eof || self.closing || self.decoder.done() || !self.client.readable() {
                return Ok(progress);
            }
            match self.client.read(scratch) {
                Got::Data(n) => {
                    progress = true;
                    if let Some(e) = self.decode(&mut scratch[..n]) {
                        return Err(End::SendFailed(e));
                    }
                    // Pongs and a close go out at once, behind what the client is owed.
                    let (_, _) = self
                        .to_client
                        .write(&mut self.client, &mut self.to_client_bytes)?;
                }
                Got::Again => return Ok(progress),
                Got::Eof => {
                    self.client.eof = true;
                    return Ok(true);
                }
                Got::Failed(e) => {
                    self.client.eof = true;
                    self.read_err = Some(e);
                    return Ok(true);
                }
            }
        }
    }

    /// Decodes the client's bytes: payloads to the target (written at once, the rest owed),
    /// pongs and closes queued for the client. A failed write to the target is returned.
    fn decode(&mut self, bytes: &mut [u8]) -> Option<io::Error> {
        let mut sink = Up {
            target: &mut self.target,
            owed: &mut self.to_target,
            replies: &mut self.to_client,
            b64: self.mode.base64.then_some(&mut self.b64),
            write_err: None,
            closed: false,
        };
        let result = self.decoder.feed(bytes, &mut sink);
        let (write_err, closed) = (sink.write_err, sink.closed);
        if closed {
            self.closing = true;
        }
        if let Err(fail) = result {
            self.to_client
                .push(&close_frame(Some(fail.code), fail.reason.as_bytes()));
            self.closing = true;
        }
        write_err
    }
}

/// Where the decoder's output goes.
struct Up<'a> {
    target: &'a mut Side,
    owed: &'a mut Owed,
    replies: &'a mut Owed,
    /// websockify's base64 protocol: payloads are base64 text.
    b64: Option<&'a mut B64>,
    write_err: Option<io::Error>,
    closed: bool,
}

impl Up<'_> {
    /// Bytes for the target: written at once while nothing waits before them.
    fn send(&mut self, bytes: &[u8]) {
        if self.write_err.is_some() || bytes.is_empty() {
            return;
        }
        let mut at = 0;
        if self.owed.is_clear() {
            match self.target.write(bytes) {
                Ok(n) => at = n,
                Err(e) => {
                    self.write_err = Some(e);
                    return;
                }
            }
        }
        if at < bytes.len() {
            self.owed.push(&bytes[at..]);
        }
    }
}

impl Up<'_> {
    /// Base64 text decoded a quantum at a time; a quantum cut by the read waits for its rest.
    fn base64(&mut self, b64: &mut B64, bytes: &[u8]) -> Result<(), Fail> {
        let mut out = [0u8; 3 * 1024];
        let mut used = 0;
        let mut rest = bytes;
        while !rest.is_empty() {
            if b64.padded {
                return Err(invalid_base64());
            }
            let take = (4 - b64.len).min(rest.len());
            b64.carry[b64.len..b64.len + take].copy_from_slice(&rest[..take]);
            b64.len += take;
            rest = &rest[take..];
            if b64.len < 4 {
                break;
            }
            b64.len = 0;
            let n = base64::engine::general_purpose::STANDARD
                .decode_slice(b64.carry, &mut out[used..])
                .map_err(|_| invalid_base64())?;
            b64.padded = b64.carry[3] == b'=';
            used += n;
            if used + 3 > out.len() {
                self.send(&out[..used]);
                used = 0;
            }
        }
        self.send(&out[..used]);
        Ok(())
    }
}

impl Sink for Up<'_> {
    fn data(&mut self, bytes: &[u8], _text: bool) -> Result<(), Fail> {
        let Some(b64) = self.b64.take() else {
            self.send(bytes);
            return Ok(());
        };
        let r = self.base64(b64, bytes);
        self.b64 = Some(b64);
        r
    }

    fn end_of_message(&mut self, _text: bool) -> Result<(), Fail> {
        if let Some(b64) = self.b64.as_deref_mut() {
            let whole = b64.len == 0;
            *b64 = B64::default();
            if !whole {
                return Err(invalid_base64());
            }
        }
        Ok(())
    }

    fn ping(&mut self, payload: &[u8]) {
        self.replies.push(&websocket::frame(Kind::Pong, payload));
    }

    fn close(&mut self, code: Option<u16>, reason: &[u8]) {
        // websockify echoes the client's code and reason (an empty close is answered with
        // an empty one: 1005 may not be sent).
        self.replies.push(&close_frame(code, reason));
        self.closed = true;
    }
}

fn invalid_base64() -> Fail {
    Fail {
        code: 1007,
        reason: "Invalid base64 data".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::base::tunnel::side::Sock;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    const ALL: Readiness = Readiness {
        readable: true,
        writable: true,
        rdhup: false,
    };

    fn bridge(base64: bool) -> (UnixStream, UnixStream, Bridge) {
        let (c_peer, c) = UnixStream::pair().unwrap();
        let (t_peer, t) = UnixStream::pair().unwrap();
        for s in [&c, &t] {
            s.set_nonblocking(true).unwrap();
        }
        let mode = BridgeMode {
            base64,
            max_frame: 65_535,
            max_message: 65_535,
        };
        let b = Bridge::new(
            Side::new(Sock::Unix(c), None),
            Side::new(Sock::Unix(t), None),
            b"",
            mode,
        );
        (c_peer, t_peer, b)
    }

    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut f = vec![first, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn read_some(s: &mut UnixStream) -> Vec<u8> {
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut b = vec![0u8; 1 << 16];
        let n = s.read(&mut b).unwrap();
        b.truncate(n);
        b
    }

    #[test]
    fn binary_both_ways_ping_and_close() {
        let (mut cp, mut tp, mut b) = bridge(false);
        let mut scratch = vec![0u8; 64 * 1024];
        b.event(Which::Client, ALL, &mut scratch).unwrap();
        b.event(Which::Upstream, ALL, &mut scratch).unwrap();
        tp.write_all(b"RFB 003.008\n").unwrap();
        b.event(Which::Upstream, ALL, &mut scratch).unwrap();
        assert_eq!(read_some(&mut cp), b"\x82\x0cRFB 003.008\n");
        cp.write_all(&client_frame(0x82, b"RFB 003.008\n")).unwrap();
        cp.write_all(&client_frame(0x89, b"hi")).unwrap();
        b.event(Which::Client, ALL, &mut scratch).unwrap();
        assert_eq!(read_some(&mut tp), b"RFB 003.008\n");
        assert_eq!(read_some(&mut cp), b"\x8a\x02hi");
        cp.write_all(&client_frame(0x88, b"\x03\xe8bye")).unwrap();
        b.event(Which::Client, ALL, &mut scratch).unwrap();
        assert_eq!(read_some(&mut cp), b"\x88\x05\x03\xe8bye");
        assert!(b.over());
    }

    #[test]
    fn the_target_closing_sends_websockifys_close() {
        let (mut cp, tp, mut b) = bridge(false);
        let mut scratch = vec![0u8; 64 * 1024];
        b.event(Which::Client, ALL, &mut scratch).unwrap();
        drop(tp);
        b.event(Which::Upstream, ALL, &mut scratch).unwrap();
        assert_eq!(read_some(&mut cp), b"\x88\x0f\x03\xe8Target closed");
        assert!(b.over());
    }

    #[test]
    fn base64_both_ways() {
        let (mut cp, mut tp, mut b) = bridge(true);
        let mut scratch = vec![0u8; 64 * 1024];
        b.event(Which::Client, ALL, &mut scratch).unwrap();
        b.event(Which::Upstream, ALL, &mut scratch).unwrap();
        tp.write_all(b"abcd").unwrap();
        b.event(Which::Upstream, ALL, &mut scratch).unwrap();
        assert_eq!(read_some(&mut cp), b"\x81\x08YWJjZA==");
        // A message cut between frames in the middle of a quantum.
        cp.write_all(&client_frame(0x01, b"aGVsbG8g")).unwrap();
        cp.write_all(&client_frame(0x80, b"d29ybGQ=")).unwrap();
        b.event(Which::Client, ALL, &mut scratch).unwrap();
        assert_eq!(read_some(&mut tp), b"hello world");
        cp.write_all(&client_frame(0x81, b"not base64!")).unwrap();
        b.event(Which::Client, ALL, &mut scratch).unwrap();
        let close = read_some(&mut cp);
        assert_eq!(&close[..4], b"\x88\x15\x03\xef", "1007: {close:?}");
        assert!(b.over());
    }
}
