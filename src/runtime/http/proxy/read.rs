//! Reading the upstream's response head (S10.5): into a buffer of `proxy_buffer_size` (a
//! head that does not fit is `upstream sent too big header`), under `proxy_read_timeout`
//! between reads, parsed by the response-head parser after each read.

use bytes::BytesMut;

use super::error::{Kind, Phase, ProxyError};
use crate::ir::proxy::Proxy;
use crate::runtime::base::http1::response::{self as resp, HeadError, ResponseHead};
use crate::runtime::base::io::{self, IoError, Stream};

/// A response head read, with the buffer it was read into (body bytes may follow the head).
pub struct Head {
    pub head: ResponseHead,
    pub buf: BytesMut,
}

/// Reads until the head is complete; adds the bytes read to `received`.
pub async fn head(
    stream: &mut Stream,
    proxy: &Proxy,
    received: &mut u64,
) -> Result<Head, ProxyError> {
    let fail = |kind| ProxyError::new(kind, Phase::ReadingHeader);
    let limit = proxy.buffer_size;
    let mut buf = BytesMut::with_capacity(limit.max(16 * 1024));
    loop {
        match resp::parse_head(&buf, limit) {
            Ok(resp::Parse::Complete(head)) => return Ok(Head { head, buf }),
            Ok(resp::Parse::Partial) => {}
            Err(HeadError::TooBig) => {
                return Err(fail(Kind::InvalidHeader(
                    "upstream sent too big header".to_string(),
                )))
            }
            Err(e) => return Err(fail(Kind::InvalidHeader(e.message(&buf)))),
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(limit);
        }
        match io::read_buf(stream, &mut buf, proxy.read_timeout).await {
            // A head cut short is never a response, whatever arrived (nginx 1.22.1, observed
            // with `HTTP/1.1 2` then close): the next peer under `error`.
            Ok(0) => return Err(fail(Kind::Closed)),
            Ok(n) => *received += n as u64,
            Err(IoError::TimedOut) => return Err(fail(Kind::Timeout)),
            Err(IoError::Io(e)) => return Err(fail(Kind::Io(e))),
        }
    }
}
