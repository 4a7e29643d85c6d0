//! The client's request body (S10.6, S10.7, S13.9): read whole (memory, then a temporary file,
//! as nginx), streamed piece by piece (`proxy_request_buffering off`), or discarded when the
//! response does not need it, keeping the connection usable.

use std::io::{Read, Seek, Write};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::conn::Client;
use super::http1::response::ChunkedDecoder;
use super::io::{self, IoError};
use super::request::Request;
use crate::ir::Level;

/// nginx's `client_body_buffer_size` default on 64-bit systems; a body up to 1.25 times this
/// stays in memory.
const BODY_BUFFER: usize = 16 * 1024;
const IN_MEMORY: u64 = (BODY_BUFFER + BODY_BUFFER / 4) as u64;

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
        }
    }
}

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
    /// The client went away or timed out: close without a response (already logged).
    Closed,
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
    let timeout = r.conf.send_timeout;
    io::write_all(&mut c.stream, b"HTTP/1.1 100 Continue\r\n\r\n", timeout)
        .await
        .map_err(|_| BodyError::Closed)
}

/// Takes the next piece of payload: from the connection's buffer first, else one read.
/// `Ok(None)` when the body is complete.
pub async fn next(
    r: &mut Request,
    c: &mut Client,
    rd: &mut BodyReader,
) -> Result<Option<Bytes>, BodyError> {
    loop {
        if rd.done {
            return Ok(None);
        }
        if !c.buf.is_empty() {
            if let Some(piece) = take(r, c, rd)? {
                return Ok(Some(piece));
            }
            if rd.done {
                return Ok(None);
            }
            continue;
        }
        let timeout = r.conf.client_body_timeout;
        c.buf.reserve(BODY_BUFFER);
        match io::read_buf(&mut c.stream, &mut c.buf, timeout).await {
            Ok(0) => {
                super::log::error_full(
                    r,
                    Level::Info,
                    format_args!("client prematurely closed connection"),
                    Some("reading client request body"),
                    None,
                );
                r.keepalive = false;
                return Err(BodyError::Closed);
            }
            Ok(n) => r.request_length += n as u64,
            Err(IoError::TimedOut) => {
                super::log::error_full(
                    r,
                    Level::Info,
                    format_args!("client timed out (110: Connection timed out)"),
                    Some("reading client request body"),
                    None,
                );
                r.keepalive = false;
                return Err(BodyError::Closed);
            }
            Err(IoError::Io(e)) => {
                super::log::error_full(
                    r,
                    Level::Info,
                    format_args!("recv() failed {}", io::errno_text(&e)),
                    Some("reading client request body"),
                    None,
                );
                r.keepalive = false;
                return Err(BodyError::Closed);
            }
        }
    }
}

/// Payload from `c.buf` (removing what it consumes).
fn take(r: &mut Request, c: &mut Client, rd: &mut BodyReader) -> Result<Option<Bytes>, BodyError> {
    match &mut rd.framing {
        Framing::None => {
            rd.done = true;
            Ok(None)
        }
        Framing::Length(rest) => {
            let n = (*rest).min(c.buf.len() as u64) as usize;
            let piece = c.buf.split_to(n).freeze();
            *rest -= n as u64;
            rd.received += n as u64;
            if *rest == 0 {
                rd.done = true;
            }
            Ok(Some(piece).filter(|p| !p.is_empty()))
        }
        Framing::Chunked(dec) => {
            let mut ranges = Vec::new();
            let consumed = match dec.feed(&c.buf, &mut ranges) {
                Ok(n) => n,
                Err(e) => {
                    let (msg, status) = e.client_log_message();
                    super::log::error(r, Level::Error, format_args!("{msg}"));
                    return Err(BodyError::Status(status));
                }
            };
            let head = c.buf.split_to(consumed);
            rd.received = dec.total();
            if dec.done() {
                rd.done = true;
            }
            let piece = match ranges.len() {
                0 => return Ok(None),
                1 => head.freeze().slice(ranges[0].clone()),
                _ => {
                    let mut b = BytesMut::with_capacity(ranges.iter().map(|r| r.len()).sum());
                    for rg in ranges {
                        b.extend_from_slice(&head[rg]);
                    }
                    b.freeze()
                }
            };
            Ok(Some(piece))
        }
    }
}

/// Reads the whole body (`proxy_request_buffering on`): in memory up to 20 KiB (nginx's
/// `client_body_buffer_size` plus a quarter), then in a temporary file.
pub async fn read_all(r: &mut Request, c: &mut Client) -> Result<Body, BodyError> {
    let mut rd = BodyReader::new(r);
    if rd.done {
        r.body_done = true;
        return Ok(Body::Empty);
    }
    test_expect(r, c).await?;
    let mut pieces: Vec<Bytes> = Vec::new();
    let mut total = 0u64;
    let mut file: Option<std::fs::File> = None;
    let spill = match rd.framing {
        Framing::Length(n) => n > IN_MEMORY,
        _ => false,
    };
    while let Some(p) = next(r, c, &mut rd).await? {
        total += p.len() as u64;
        if file.is_none() && (spill || total > IN_MEMORY) {
            let f = temp_file(r).map_err(|_| BodyError::Status(500))?;
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

/// An anonymous temporary file for a body, with nginx's warning.
fn temp_file(r: &Request) -> std::io::Result<std::fs::File> {
    let dir = std::env::temp_dir();
    let f = tempfile::NamedTempFile::new_in(&dir)?;
    super::log::error(
        r,
        Level::Warn,
        format_args!(
            "a client request body is buffered to a temporary file {}",
            f.path().display()
        ),
    );
    // The name was only for the log line: the open file outlives its directory entry.
    let (file, path) = f.keep().map_err(|e| e.error)?;
    let _ = std::fs::remove_file(path);
    Ok(file)
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

/// Discards the rest of the body so the connection can serve the next request (nginx's
/// `ngx_http_discard_request_body`). `false` = the connection must close.
pub async fn discard(r: &mut Request, c: &mut Client) -> bool {
    if r.body_done {
        return true;
    }
    r.body_done = true;
    let mut rd = BodyReader::new(r);
    if rd.done {
        return true;
    }
    if test_expect(r, c).await.is_err() {
        return false;
    }
    // Discarding is bounded by lingering_timeout (5 s) per read, as nginx.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), next(r, c, &mut rd)).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => return true,
            _ => return false,
        }
    }
}
