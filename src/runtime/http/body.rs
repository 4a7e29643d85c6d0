//! The client's request body (S10.6, S10.7, S13.9): read whole (memory, then a temporary file,
//! as nginx), streamed piece by piece (`proxy_request_buffering off`), or discarded when the
//! response does not need it, keeping the connection usable.

use std::io::{Read, Seek, Write};
use std::time::Duration;

use bytes::Bytes;

use crate::ir::Level;
use crate::runtime::base::http1::decode::{ChunkedDecoder, Pieces};
use crate::runtime::base::io::{self, IoError};
use crate::runtime::base::temp;
use crate::runtime::state::body::BodyReader;
use crate::runtime::state::conn::Client;
use crate::runtime::state::log;
use crate::runtime::state::request::Request;

/// A body read completely, for sending (and re-sending to the next upstream).
pub enum Body {
    Empty,
    Memory(Vec<Bytes>, u64),
    File(std::fs::File, u64),
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Memory(_, n) | Body::File(_, n) => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why reading the body stopped.
#[derive(Debug)]
pub enum BodyError {
    /// nginx's status for it (413 too large, 400 bad chunk), already logged.
    Status(u16),
    /// The client went away: close without a response (already logged; nginx logs 400).
    Closed,
    /// `client_body_timeout`: close without a response (already logged; nginx logs 408).
    TimedOut,
}

/// Sends `HTTP/1.1 100 Continue` once, when the client asked for it (S10.7).
pub async fn test_expect(r: &mut Request, c: &mut Client) -> Result<(), BodyError> {
    if r.expect_tested
        || !r.head.expect_continue
        || r.head.http_major < 1
        || (r.head.http_major == 1 && r.head.http_minor < 1)
    {
        return Ok(());
    }
    r.expect_tested = true;
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let timeout = r.conf.send_timeout;
    io::write_all(&mut c.stream, CONTINUE, timeout)
        .await
        .map_err(|_| BodyError::Closed)?;
    // nginx counts it as sent on the connection, so as body bytes of the response.
    r.sent.interim += CONTINUE.len() as u64;
    Ok(())
}

/// Takes the next piece of payload: from the connection's buffer first, else one read.
/// `Ok(None)` when the body is complete.
pub async fn next(
    r: &mut Request,
    c: &mut Client,
    rd: &mut BodyReader,
) -> Result<Option<Bytes>, BodyError> {
    loop {
        if rd.done() {
            return Ok(None);
        }
        if !c.buf.is_empty() {
            if let Some(piece) = take(r, c, rd)? {
                return Ok(Some(piece));
            }
            if rd.done() {
                return Ok(None);
            }
            continue;
        }
        let timeout = r.conf.client_body_timeout;
        let max = r.conf.client_body_buffer_size.max(1024);
        match io::read_buf_max(&mut c.stream, &mut c.buf, max, timeout).await {
            Ok(0) => {
                // nginx clears the log action for the request phases: no "while ...".
                log::error(
                    r,
                    Level::Info,
                    format_args!("client prematurely closed connection"),
                );
                r.keepalive = false;
                return Err(BodyError::Closed);
            }
            Ok(n) => {
                // `$request_length` counts every byte read for the body (nginx's recv).
                if !rd.discarding {
                    r.request_length += n as u64;
                    rd.preread_left = 0;
                }
            }
            Err(IoError::TimedOut) => {
                // nginx finalizes with 408 without a log line.
                r.keepalive = false;
                return Err(BodyError::TimedOut);
            }
            Err(IoError::Io(e)) => {
                log::error(
                    r,
                    Level::Info,
                    format_args!("recv() failed {}", io::errno_text(&e)),
                );
                r.keepalive = false;
                return Err(BodyError::Closed);
            }
        }
    }
}

/// Whether the whole body has already arrived with the head (nginx then sends it whole, with
/// a `Content-Length`, even when it could stream).
pub fn preread_complete(r: &Request, c: &Client) -> bool {
    if r.head.chunked {
        let mut d = ChunkedDecoder::new();
        let mut ranges = Vec::new();
        d.feed(&c.buf, &mut ranges).is_ok() && d.done()
    } else {
        r.head
            .content_length
            .is_none_or(|n| c.buf.len() as u64 >= n)
    }
}

/// `$request_length` takes the bytes that came with the head as the body uses them.
fn count_preread(r: &mut Request, discarding: bool, preread_left: &mut usize, n: usize) {
    if !discarding {
        let counted = n.min(*preread_left);
        r.request_length += counted as u64;
        *preread_left -= counted;
    }
}

/// Payload from `c.buf` (removing what it consumes).
fn take(r: &mut Request, c: &mut Client, rd: &mut BodyReader) -> Result<Option<Bytes>, BodyError> {
    let before = c.buf.len();
    let mut pieces = Pieces::default();
    if let Err(e) = rd.decoder.decode(&mut c.buf, &mut pieces) {
        let (msg, status) = e.client_log_message();
        if !rd.failed {
            rd.failed = true;
            log::error(r, Level::Error, format_args!("{msg}"));
        }
        return Err(BodyError::Status(status));
    }
    count_preread(r, rd.discarding, &mut rd.preread_left, before - c.buf.len());
    Ok(pieces.concat())
}

/// Reads the whole body (`proxy_request_buffering on`): in memory up to 20 KiB (nginx's
/// `client_body_buffer_size` plus a quarter), then in a temporary file.
pub async fn read_all(r: &mut Request, c: &mut Client) -> Result<Body, BodyError> {
    let mut rd = r
        .body_reader
        .take()
        .unwrap_or_else(|| BodyReader::new(&r.head, r.conf.client_max_body_size));
    let result = read_all_with(r, c, &mut rd).await;
    r.body_reader = Some(rd);
    result
}

/// nginx reads a body into one `client_body_buffer_size` buffer (or, when the rest of a
/// `Content-Length` body is under 1.25 times that, a buffer of its size) after what came with
/// the head in the header buffer; a body that does not fit goes to a temporary file.
async fn read_all_with(
    r: &mut Request,
    c: &mut Client,
    rd: &mut BodyReader,
) -> Result<Body, BodyError> {
    // nginx answers Expect first, body or not (ngx_http_read_client_request_body).
    test_expect(r, c).await?;
    if rd.done() {
        r.body_done = true;
        return Ok(Body::Empty);
    }
    let size = r.conf.client_body_buffer_size as u64;
    // What nginx's header buffer held of the body: the bytes read with the head, up to the
    // room that buffer had left.
    let preread = (c.buf.len()).min(r.head.buffer.room) as u64;
    let limit = match rd.decoder.remaining() {
        Some(n) if n.saturating_sub(preread) < size + size / 4 => u64::MAX,
        _ => size + preread,
    };
    let mut pieces: Vec<Bytes> = Vec::new();
    let mut total = 0u64;
    let mut file: Option<std::fs::File> = None;
    while let Some(p) = next(r, c, rd).await? {
        total += p.len() as u64;
        if file.is_none() && total > limit {
            let f = temp_file(r).map_err(|e| {
                log::error(r, Level::Crit, format_args!("{e}"));
                BodyError::Status(500)
            })?;
            file = Some(f);
        }
        match &mut file {
            Some(f) => {
                for q in pieces.drain(..) {
                    write_file(f, &q)?;
                }
                write_file(f, &p)?;
            }
            None => pieces.push(p),
        }
    }
    r.body_done = true;
    Ok(match file {
        Some(mut f) => {
            f.rewind().map_err(|_| BodyError::Status(500))?;
            Body::File(f, total)
        }
        None if total == 0 => Body::Empty,
        None => Body::Memory(pieces, total),
    })
}

fn write_file(f: &mut std::fs::File, b: &[u8]) -> Result<(), BodyError> {
    f.write_all(b).map_err(|_| BodyError::Status(500))
}

/// nginx's temporary file for a body (`client_body_temp_path`), with nginx's warning.
fn temp_file(r: &Request) -> Result<std::fs::File, String> {
    let (f, path) = temp::create(&r.conf.client_body_temp_path)?;
    log::error(
        r,
        Level::Warn,
        format_args!(
            "a client request body is buffered to a temporary file {}",
            path.display()
        ),
    );
    Ok(f)
}

/// Reads up to `max` bytes of a file body from its current position.
pub fn read_file_chunk(
    f: &mut std::fs::File,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    buf.resize(max, 0);
    let n = f.read(buf)?;
    buf.truncate(n);
    Ok(n)
}

/// Starts discarding the body (nginx's `ngx_http_discard_request_body`): answers `Expect`, then
/// drops what has already arrived, without waiting for more; the response goes out at once.
/// `false` = the body is invalid and the connection must close after the response.
pub async fn discard(r: &mut Request, c: &mut Client) -> bool {
    if r.body_done && r.body_reader.is_some() {
        return true;
    }
    if test_expect(r, c).await.is_err() {
        return false;
    }
    if r.body_done {
        return true;
    }
    let mut rd = r
        .body_reader
        .take()
        .unwrap_or_else(|| BodyReader::new(&r.head, r.conf.client_max_body_size));
    rd.discarding = true;
    let mut ok = true;
    while !rd.done() && !c.buf.is_empty() {
        match take(r, c, &mut rd) {
            Ok(_) => {}
            Err(_) => {
                ok = false;
                break;
            }
        }
    }
    if rd.done() {
        r.body_done = true;
        r.lingering_close = false;
    }
    r.body_reader = Some(rd);
    ok
}

/// Reads and drops the rest of a discarded body after the response, so the connection can
/// serve the next request; each read waits at most `lingering_timeout` (5 s), as nginx.
/// `false` = the connection must close.
pub async fn finish_discard(r: &mut Request, c: &mut Client) -> bool {
    if r.body_done {
        return true;
    }
    let mut rd = r
        .body_reader
        .take()
        .unwrap_or_else(|| BodyReader::new(&r.head, r.conf.client_max_body_size));
    loop {
        match io::timed(Duration::from_secs(5), next(r, c, &mut rd)).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => {
                r.body_done = true;
                return true;
            }
            _ => return false,
        }
    }
}
