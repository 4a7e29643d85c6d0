//! The body writer: how every response's body leaves, through nginx's body filters in their
//! order: gzip (when the gzip header filter chose it), then chunked framing (when the head
//! said so), then the write (`ngx_http_write_filter`), with `writev` over what is queued.
//! Static files, proxied responses, `return` and nginx's own pages all go through it, so
//! chunk framing and compression happen in one place.
//!
//! A body is given in passes, as nginx's filters are called: each [`BodyWriter::pass`] is
//! compressed and flushed as one piece (one chunk when chunked), and [`BodyWriter::finish`]
//! ends it (gzip's tail, the last chunk). What is queued is written when the caller says so
//! ([`BodyWriter::write_some`], [`BodyWriter::flush`]): the proxy interleaves writes with its
//! reads from the upstream, the others write as they go.

use std::time::Duration;

use bytes::Bytes;
use smallvec::SmallVec;
use tokio::io::AsyncWriteExt;

use super::head::{self, Framing};
use crate::runtime::base::deflate::Encoder;
use crate::runtime::base::http1::encode;
use crate::runtime::base::io::{self, IoError, Stream};
use crate::runtime::state::conn::Client;
use crate::runtime::state::log;
use crate::runtime::state::outcome::Next;
use crate::runtime::state::request::Request;
use crate::runtime::state::response::HeadersOut;

/// At most this many pieces go into one `writev`.
const IOV_MAX: usize = 64;

/// A response body on its way out, after its head.
pub struct BodyWriter {
    framing: Framing,
    gzip: Option<Box<Encoder>>,
    /// The head, kept whole (the request keeps it for `$sent_http_*` once it is written);
    /// `head_written` of its bytes are out.
    head: Bytes,
    head_written: usize,
    /// The body's pieces and framing to write, oldest first, from `front` on: most bodies
    /// are a piece or three, held inline.
    queue: SmallVec<[Bytes; 4]>,
    front: usize,
    /// Bytes to write, the head's included.
    queued: usize,
    /// Bytes written so far, the head's included.
    written: u64,
    head_len: usize,
    finished: bool,
}

impl BodyWriter {
    /// A writer whose first bytes are `head` (empty for HTTP/0.9 and for a head already
    /// written), for a body framed as `framing`, compressed by `gzip` when the gzip filter
    /// chose it.
    pub fn new(head: Bytes, framing: Framing, gzip: Option<Box<Encoder>>) -> BodyWriter {
        BodyWriter {
            framing,
            gzip: gzip.filter(|_| framing != Framing::Empty),
            queued: head.len(),
            head_len: head.len(),
            head,
            head_written: 0,
            queue: SmallVec::new(),
            front: 0,
            written: 0,
            finished: false,
        }
    }

    /// The head, once the writer is done with it.
    pub fn into_head(self) -> Bytes {
        self.head
    }

    /// Whether a body is sent at all (not for HEAD, 204, 304).
    pub fn sends_body(&self) -> bool {
        self.framing != Framing::Empty
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// One pass of the body filters over `pieces` (`total` bytes in all): compressed and
    /// flushed as one piece with gzip, framed as one chunk when chunked, and queued.
    pub fn pass(&mut self, pieces: impl IntoIterator<Item = Bytes>, total: usize) {
        if total == 0 || !self.sends_body() || self.finished {
            return;
        }
        if let Some(g) = self.gzip.as_deref_mut() {
            let mut out = Vec::with_capacity(total / 2 + 64);
            for p in pieces {
                g.push(&p, &mut out);
            }
            g.flush(&mut out);
            let n = out.len();
            return self.frame([Bytes::from(out)], n);
        }
        self.frame(pieces, total);
    }

    /// The last pass: `data` and the end of the body (gzip's tail, the last chunk) together,
    /// as one piece with gzip.
    pub fn pass_last(&mut self, data: Bytes) {
        if !self.sends_body() || self.finished {
            return;
        }
        match self.gzip.as_deref_mut() {
            Some(g) => {
                let mut out = Vec::with_capacity(data.len() / 2 + 64);
                g.push(&data, &mut out);
                g.finish(&mut out);
                let n = out.len();
                self.frame([Bytes::from(out)], n);
                self.gzip = None;
            }
            None => {
                let n = data.len();
                self.frame([data], n);
            }
        }
        self.finish();
    }

    /// The end of the body: gzip's tail, then the last chunk.
    pub fn finish(&mut self) {
        if !self.sends_body() || self.finished {
            return;
        }
        if let Some(mut g) = self.gzip.take() {
            let mut tail = Vec::with_capacity(32);
            g.finish(&mut tail);
            let n = tail.len();
            self.frame([Bytes::from(tail)], n);
        }
        if self.framing == Framing::Chunked {
            self.push(Bytes::from_static(encode::LAST_CHUNK));
        }
        self.finished = true;
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Body bytes written (`$body_bytes_sent`: the framing counts, the head does not).
    pub fn body_bytes(&self) -> u64 {
        self.written.saturating_sub(self.head_len as u64)
    }

    /// One `writev` of what is queued, under `timeout`; returns the bytes written.
    pub async fn write_some(
        &mut self,
        w: &mut Stream,
        timeout: Duration,
    ) -> Result<usize, IoError> {
        // On the stack: most responses are two or three pieces, and this runs per write.
        let mut iov = [std::io::IoSlice::new(&[]); IOV_MAX];
        let mut count = 0;
        let head = &self.head[self.head_written..];
        let pieces = (!head.is_empty())
            .then_some(head)
            .into_iter()
            .chain(self.queue[self.front..].iter().map(|b| &b[..]));
        for (slot, piece) in iov.iter_mut().zip(pieces) {
            *slot = std::io::IoSlice::new(piece);
            count += 1;
        }
        let n = match io::timed(timeout, w.write_vectored(&iov[..count])).await {
            Ok(Ok(0)) => return Err(IoError::Io(std::io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(IoError::Io(e)),
            Err(_) => return Err(IoError::TimedOut),
        };
        self.advance(n);
        if w.is_tls() {
            // Records rustls could not send yet must not wait for the next write.
            io::flush(w, timeout).await?;
        }
        Ok(n)
    }

    /// Writes everything queued.
    pub async fn flush(&mut self, w: &mut Stream, timeout: Duration) -> Result<(), IoError> {
        while self.queued > 0 {
            self.write_some(w, timeout).await?;
        }
        Ok(())
    }

    /// Queues `pieces` with their chunk framing.
    fn frame(&mut self, pieces: impl IntoIterator<Item = Bytes>, total: usize) {
        if total == 0 {
            return;
        }
        let chunked = self.framing == Framing::Chunked;
        if chunked {
            let mut size = Vec::with_capacity(18);
            encode::chunk_header(total, &mut size);
            self.push(Bytes::from(size));
        }
        for p in pieces {
            self.push(p);
        }
        if chunked {
            self.push(Bytes::from_static(encode::CHUNK_END));
        }
    }

    fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.queued += b.len();
            self.queue.push(b);
        }
    }

    /// Drops `n` written bytes from the front.
    fn advance(&mut self, mut n: usize) {
        self.queued -= n;
        self.written += n as u64;
        let head = (self.head.len() - self.head_written).min(n);
        self.head_written += head;
        n -= head;
        while n > 0 {
            let Some(f) = self.queue.get_mut(self.front) else {
                break;
            };
            if n >= f.len() {
                n -= f.len();
                self.front += 1;
            } else {
                let _ = f.split_to(n);
                n = 0;
            }
        }
        if self.front == self.queue.len() {
            // All written: the pieces' memory goes back now, not when the response ends.
            self.queue.clear();
            self.front = 0;
        }
    }
}

/// Sends a complete response whose body is in memory (`return`, nginx's own pages): the
/// header filters and the head, then the body through the writer, in one `writev` when it
/// fits.
pub async fn send(r: &mut Request, c: &mut Client, mut h: HeadersOut, body: Bytes) -> Next {
    let mut head = Vec::with_capacity(256);
    let framing = head::filter_and_write(r, &mut h, &mut head);
    r.sent.status = h.status;
    r.sent.header_bytes = head.len() as u64;
    let mut w = BodyWriter::new(Bytes::from(head), framing, r.gzip.take());
    w.pass_last(body);
    let result = w.flush(&mut c.stream, r.conf.send_timeout).await;
    r.sent.body_bytes = w.body_bytes();
    r.sent.head = Some(w.into_head());
    if let Err(e) = result {
        log::client_write_error(r, &e);
        r.keepalive = false;
        r.sent.incomplete = true;
    }
    if framing == Framing::Close {
        r.keepalive = false;
    }
    Next::Done
}
