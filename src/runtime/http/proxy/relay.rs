//! The response body, relayed (S10.1–S10.4, S13.3): the client's head, then the upstream's
//! body as it arrives, decoded from the upstream's framing and re-framed by the body writer
//! for the client; the upstream connection back to the keep-alive cache when its response
//! was read exactly to its end (S5.8).
//!
//! With `proxy_buffering on` the upstream is read ahead while the client is slow, up to
//! `proxy_buffers` (nginx would go on into a temporary file), and the body goes on a buffer
//! (`proxy_buffers` size) at a time, as nginx's event pipe passes only full buffers; the
//! head waits for the first pass (the write filter's `postpone_output`). With `off`, each
//! read is written before the next read, so a slow client holds the upstream back.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::error::{Kind, PeerLog, Phase, ProxyError};
use super::peer::{Got, Group};
use crate::ir::proxy::Proxy;
use crate::ir::Level;
use crate::runtime::base::http1::decode::{Decoder, Pieces};
use crate::runtime::base::http1::response as resp;
use crate::runtime::base::io::{self, IoError};
use crate::runtime::filters::body::BodyWriter;
use crate::runtime::filters::head::{self as respond, Framing};
use crate::runtime::state::conn::Client;
use crate::runtime::state::log;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;

/// A body being relayed.
pub struct Relay {
    got: Got,
    /// The upstream's framing (the connection is kept only after a body that had an end).
    framing: Framing,
    decoder: Decoder,
    /// The whole upstream body was taken (or the relay failed).
    done: bool,
    /// The client's side, through the body filters.
    w: BodyWriter,
    client_framing: Framing,
    buffering: bool,
    /// With buffering: payload held until a buffer's worth (or the end) is there.
    held: Vec<Bytes>,
    held_len: usize,
    /// With buffering, a buffer's size and how far to read ahead of the client.
    unit: usize,
    ahead_limit: usize,
    /// How much to read at a time: large reads make fewer system calls (nginx reads into
    /// its `proxy_buffers`).
    read_size: usize,
    read_timeout: std::time::Duration,
    /// The queue may be written (with buffering, once a pass was made).
    flushable: bool,
    /// The upstream sent more than its framing allows: nginx drops it, warns (unless the
    /// text is empty: a HEAD response's body), and does not keep the connection.
    excess: Option<&'static str>,
    failed: Option<ProxyError>,
    client_failed: bool,
    upstream_eof: bool,
}

impl Relay {
    /// The client's head (written by the header filters) and the relay's state.
    pub fn new(
        r: &mut Request,
        proxy: &Proxy,
        mut got: Got,
        mut h: HeadersOut,
        framing: Framing,
        buffering: bool,
    ) -> Relay {
        let mut head = Vec::with_capacity(512);
        let client_framing = if got.head.is_http09() {
            // No status line from the upstream: nginx passes the bytes as they are, no head.
            r.keepalive = false;
            h.status = 200;
            Framing::Close
        } else {
            respond::filter_and_write(r, &mut h, &mut head)
        };
        r.sent.status = h.status;
        r.sent.header_bytes = head.len() as u64;
        let head = Bytes::from(head);
        r.sent.head = Some(head.clone());
        let decoder = Decoder::new(framing);
        let done = decoder.is_done();
        let mut excess = None;
        if done && !got.buf.is_empty() {
            // Bytes after a head that announced no body; a HEAD response's are dropped
            // silently.
            excess = Some(if r.is_head() {
                ""
            } else {
                resp::LOG_MORE_DATA_THAN_CONTENT_LENGTH
            });
            got.buf.clear();
        }
        Relay {
            got,
            framing,
            decoder,
            done,
            w: BodyWriter::new(head, client_framing, r.gzip.take()),
            client_framing,
            buffering,
            held: Vec::new(),
            held_len: 0,
            unit: proxy.buffers.1.max(1),
            ahead_limit: if buffering {
                (proxy.buffers.0 as usize * proxy.buffers.1).max(proxy.buffer_size)
            } else {
                0
            },
            read_size: proxy.buffer_size.max(64 * 1024),
            read_timeout: proxy.read_timeout,
            flushable: !buffering,
            excess,
            failed: None,
            client_failed: false,
            upstream_eof: false,
        }
    }

    /// Relays the body to its end (or the failure of either side), then logs and keeps the
    /// upstream connection as nginx would.
    pub async fn run(
        mut self,
        r: &mut Request,
        c: &mut Client,
        log: &PeerLog<'_>,
        group: &Group<'_>,
    ) -> Next {
        let t0 = Instant::now();
        let send_timeout = r.conf.send_timeout;
        let read_timeout = self.read_timeout;
        let mut buf = std::mem::take(&mut self.got.buf);
        loop {
            self.take(&mut buf);
            self.pass_ready();
            let writable = self.flushable && self.w.queued() > 0;
            if !writable {
                if self.done {
                    break;
                }
            } else if self.done || self.w.queued() + self.held_len > self.ahead_limit {
                // Only writing is possible or allowed.
                if let Err(e) = self.w.write_some(&mut c.stream, send_timeout).await {
                    log::client_write_error(r, &e);
                    self.client_failed = true;
                    break;
                }
                continue;
            }
            if self.done {
                continue;
            }
            // Read (and, with data queued and room to read ahead, write at the same time).
            buf.reserve(self.read_size);
            let read = if !writable {
                io::read_buf(&mut self.got.stream, &mut buf, read_timeout).await
            } else {
                tokio::select! {
                    biased;
                    w = self.w.write_some(&mut c.stream, send_timeout) => {
                        if let Err(e) = w {
                            log::client_write_error(r, &e);
                            self.client_failed = true;
                            break;
                        }
                        continue;
                    }
                    rd = io::read_buf(&mut self.got.stream, &mut buf, read_timeout) => rd,
                }
            };
            self.after_read(read);
            if self.failed.is_some() && self.buffering {
                // nginx still sends what it has (head and data so far) before closing.
                self.pass_held();
                while self.w.queued() > 0 {
                    if self
                        .w
                        .write_some(&mut c.stream, send_timeout)
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        if let Some(t) = r.upstream.current() {
            t.response_length = self.decoder.received();
            if let Some(ms) = &mut t.response_ms {
                *ms += t0.elapsed().as_millis() as u64;
            }
        }
        self.end(r, log, group, buf)
    }

    /// Takes the payload out of `buf`: held (buffering, a length or close-delimited body) or
    /// passed on at once (unbuffered, or a chunked body, which nginx's chunked filter hands
    /// on chunk by chunk). What follows the body's end is dropped with nginx's warning.
    fn take(&mut self, buf: &mut BytesMut) {
        if buf.is_empty() || self.done {
            return;
        }
        let mut pieces = Pieces::default();
        if self.decoder.decode(buf, &mut pieces).is_err() {
            self.fail(Kind::InvalidChunked);
            return;
        }
        if self.decoder.is_done() {
            self.done = true;
            if !buf.is_empty() {
                self.excess = Some(if self.decoder.is_chunked() {
                    resp::LOG_DATA_AFTER_FINAL_CHUNK
                } else {
                    resp::LOG_MORE_DATA_THAN_CONTENT_LENGTH
                });
                buf.clear();
            }
        }
        if !self.w.sends_body() {
            // A response without a body for the client (HEAD): what the upstream sends is
            // read and dropped.
        } else if self.buffering && !self.decoder.is_chunked() {
            for p in pieces.drain() {
                self.held_len += p.len();
                self.held.push(p);
            }
        } else {
            let total = pieces.len();
            self.w.pass(pieces.drain(), total);
        }
    }

    /// Passes what is held once a buffer's worth is there, and ends the body once it is
    /// complete.
    fn pass_ready(&mut self) {
        let complete = self.done && self.failed.is_none();
        if self.buffering && (self.held_len >= self.unit || complete) {
            self.pass_held();
        }
        if complete {
            self.w.finish();
            self.flushable = true;
        }
    }

    /// The held data, passed on as one buffer: the one place it leaves.
    fn pass_held(&mut self) {
        let total = self.held_len;
        self.w.pass(self.held.drain(..), total);
        self.held_len = 0;
        self.flushable = true;
    }

    fn after_read(&mut self, read: Result<usize, IoError>) {
        match read {
            Ok(0) => {
                self.upstream_eof = true;
                if !self.decoder.complete_at_eof() {
                    self.fail(Kind::Closed);
                    return;
                }
                if self.buffering {
                    // The end of a close-delimited body: the held rest goes out with it.
                    self.pass_held();
                }
                self.done = true;
            }
            Ok(_) => {}
            Err(IoError::TimedOut) => self.fail(Kind::Timeout),
            Err(IoError::Io(e)) => self.fail(Kind::Io(e)),
        }
    }

    fn fail(&mut self, kind: Kind) {
        self.failed = Some(ProxyError::new(kind, Phase::Reading));
        self.done = true;
    }

    /// After the relay: logs, closes or keeps the connections.
    fn end(self, r: &mut Request, log: &PeerLog<'_>, group: &Group<'_>, buf: BytesMut) -> Next {
        r.sent.body_bytes = self.w.body_bytes();
        if let Some(e) = &self.failed {
            e.log(r, log);
        }
        if let Some(msg) = self.excess.filter(|m| !m.is_empty()) {
            log.log(
                r,
                Level::Warn,
                format_args!("{msg}"),
                Phase::Reading.action(),
            );
        }
        if self.failed.is_some() || self.client_failed {
            // nginx closes the client connection: the body is cut short and a chunked
            // response gets no last chunk.
            r.keepalive = false;
            r.sent.incomplete = true;
            return Next::Done;
        }
        if self.client_framing == Framing::Close {
            r.keepalive = false;
        }
        // S5.8: keep the upstream connection when the response was read exactly to its end.
        let head = &self.got.head;
        let reusable = !self.upstream_eof
            && self.excess.is_none()
            && !head.connection_close
            && self.framing != Framing::Close
            && (head.http_major, head.http_minor) >= (1, 1)
            && buf.is_empty();
        if reusable {
            group.keep(self.got);
        }
        Next::Done
    }
}
