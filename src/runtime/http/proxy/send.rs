//! Sending the request to the upstream (S6, S10.6): the head and a body read whole (from
//! memory or its temporary file, the same bytes again on every try), or a body streamed from
//! the client as it arrives (`proxy_request_buffering off`), re-framed as chunks when the
//! client's was chunked.

use std::io::Seek;

use tokio::io::AsyncWriteExt;

use super::error::{Kind, Phase, ProxyError};
use super::job::Job;
use crate::runtime::base::http1::encode;
use crate::runtime::base::io::{self, IoError, Stream};
use crate::runtime::http::body::{self, Body};
use crate::runtime::state::body::BodyReader;
use crate::runtime::state::conn::Client;
use crate::runtime::state::request::Request;

/// Writes the head and the body to `up`; adds what was written to `sent`.
pub async fn send(
    r: &mut Request,
    c: &mut Client,
    job: &Job<'_>,
    body: &mut Body,
    up: &mut Stream,
    sent: &mut u64,
) -> Result<(), ProxyError> {
    let t = job.proxy.send_timeout;
    *sent += job.head.len() as u64;
    let result = match body {
        Body::Empty if job.stream_body => streamed(r, c, &job.head, up, t, sent).await,
        Body::Empty => io::write_all(up, &job.head, t).await.map_err(upstream),
        Body::Memory(pieces, n) => {
            // Head and body in one writev (Nagle is on: no small trailing segment).
            let mut all: Vec<&[u8]> = Vec::with_capacity(pieces.len() + 1);
            all.push(&job.head);
            all.extend(pieces.iter().map(|p| &p[..]));
            let result = io::write_pieces(up, &all, t).await.map_err(upstream);
            *sent += *n;
            result
        }
        Body::File(f, _) => from_file(f, &job.head, up, t, sent).await,
    };
    let _ = up.flush().await;
    result
}

/// A body buffered to a temporary file, read 64 KiB at a time; the head goes with its first
/// part.
async fn from_file(
    f: &mut std::fs::File,
    head: &[u8],
    up: &mut Stream,
    t: std::time::Duration,
    sent: &mut u64,
) -> Result<(), ProxyError> {
    let file_error = |e| upstream(IoError::Io(e));
    f.rewind().map_err(file_error)?;
    let mut chunk = Vec::new();
    let mut first = true;
    loop {
        let n = body::read_file_chunk(f, &mut chunk, 64 * 1024).map_err(file_error)?;
        if first {
            io::write_two(up, head, &chunk, t).await.map_err(upstream)?;
            first = false;
        } else if n > 0 {
            io::write_all(up, &chunk, t).await.map_err(upstream)?;
        }
        *sent += n as u64;
        if n == 0 {
            return Ok(());
        }
    }
}

/// `proxy_request_buffering off`: the client's pieces go on as they come, so Nagle is off, as
/// nginx sets TCP_NODELAY for an unbuffered body.
async fn streamed(
    r: &mut Request,
    c: &mut Client,
    head: &[u8],
    up: &mut Stream,
    t: std::time::Duration,
    sent: &mut u64,
) -> Result<(), ProxyError> {
    up.set_nodelay();
    io::write_all(up, head, t).await.map_err(upstream)?;
    let chunked = r.head.chunked;
    let client = || ProxyError::new(Kind::Client, Phase::Sending);
    body::test_expect(r, c).await.map_err(|_| client())?;
    let mut rd = BodyReader::new(&r.head, r.conf.client_max_body_size);
    let mut size = Vec::with_capacity(18);
    while let Some(p) = body::next(r, c, &mut rd).await.map_err(|_| client())? {
        let pieces: [&[u8]; 3] = if chunked {
            size.clear();
            encode::chunk_header(p.len(), &mut size);
            [&size, &p, encode::CHUNK_END]
        } else {
            [&p, &[], &[]]
        };
        io::write_pieces(up, &pieces, t).await.map_err(upstream)?;
        *sent += pieces.iter().map(|x| x.len() as u64).sum::<u64>();
    }
    if chunked {
        io::write_all(up, encode::LAST_CHUNK, t)
            .await
            .map_err(upstream)?;
        *sent += encode::LAST_CHUNK.len() as u64;
    }
    r.body_done = true;
    Ok(())
}

/// A failed write to the upstream.
fn upstream(e: IoError) -> ProxyError {
    match e {
        IoError::TimedOut => ProxyError::new(Kind::Timeout, Phase::Sending),
        IoError::Io(e) => ProxyError::new(Kind::Io(e), Phase::Sending),
    }
}
