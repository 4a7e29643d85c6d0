//! The driver: nginx's `ngx_http_process_request_line`, `_uri`, `_headers` and `_header` over
//! one buffer, as a [`Scan`] that owns the bytes, the limits, the header-buffer simulation and
//! the head being built. Each phase is one method; each runs a parser (`line`, `uri`,
//! `header_line`, `host`) over the window the buffers allow and hands what it found to
//! `headers_in`. A refusal keeps the head as nginx knew it at that point (the stash), for the
//! access log. The parsers themselves and the meaning of each header are not here.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;

use super::super::known::classify;
use super::buffers::{too_long_header_line, Buffers};
use super::header_line::{header_line, invalid_header_line, HeaderStep};
use super::headers_in;
use super::host::validate_host;
use super::line::{invalid_request, request_line, Line, LineError, LineStep};
use super::uri::complex_uri;
use super::{Browser, BufferState, Header, HeadersIn, Limits, Method, Reject, RequestHead, CR, LF};

/// One parse of a request head over a plain slice.
pub(super) struct Scan<'b> {
    buf: &'b [u8],
    limits: &'b Limits,
    bufs: Buffers,
    /// The head being built, boxed from the request line on: it is a few hundred bytes, and
    /// from here into its request it moves as a pointer. `RequestHead::buf` is left empty for
    /// the caller to set.
    head: Option<Box<RequestHead>>,
    /// The request as nginx knew it when it refused it (see [`super::rejected_head`]), or of
    /// an incomplete head once its request line is complete.
    stash: Option<Box<RequestHead>>,
}

impl<'b> Scan<'b> {
    pub(super) fn new(buf: &'b [u8], limits: &'b Limits, state: BufferState) -> Scan<'b> {
        Scan {
            buf,
            limits,
            bufs: Buffers::new(limits, state),
            head: None,
            stash: None,
        }
    }

    /// The whole parse; `Ok(None)` = nginx would still be reading.
    pub(super) fn run(&mut self) -> Result<Option<Box<RequestHead>>, Reject> {
        let Some(line) = self.request_line()? else {
            return Ok(None);
        };
        self.request_uri(&line)?;
        if self.head().http09 {
            // HTTP/0.9 has no headers: the request is processed right after its line (S2.7)
            return Ok(Some(self.take_head()));
        }
        if !self.header_lines(line.end)? {
            return Ok(None);
        }
        self.process_request_header()?;
        Ok(Some(self.take_head()))
    }

    /// What [`Scan::run`] left in the stash.
    pub(super) fn into_stash(self) -> Option<Box<RequestHead>> {
        self.stash
    }

    /// The request line. Each time the current buffer fills up with the line incomplete,
    /// nginx either recycles it (nothing but CR/LF so far) or moves the line to a large
    /// buffer. `None`: nginx would still be reading.
    fn request_line(&mut self) -> Result<Option<Line>, Reject> {
        let buf = self.buf;
        let mut from = 0;
        let (line, method) = loop {
            let limit = self.bufs.end.min(buf.len());
            match request_line(buf, from, limit) {
                LineStep::Done(line, method) => break (line, method),
                LineStep::Invalid(e) => {
                    // nginx logs the line from its first byte to the first CR/LF read so far
                    let start = from
                        + buf[from..limit]
                            .iter()
                            .position(|&c| c != CR && c != LF)
                            .unwrap_or(limit - from);
                    let end = buf[start..limit]
                        .iter()
                        .position(|&c| c == CR || c == LF)
                        .map_or(limit, |n| start + n);
                    self.stash = Some(Box::new(RequestHead::stand_in(
                        Bytes::new(),
                        start..end,
                        e == LineError::Method09,
                    )));
                    return Err(invalid_request(e));
                }
                LineStep::Again(_) if limit < self.bufs.end => return Ok(None),
                LineStep::Again(None) => from = self.bufs.recycle(),
                LineStep::Again(Some(request_start)) => {
                    if !self.bufs.take_large(request_start) {
                        self.stash = Some(Box::new(RequestHead::stand_in(
                            Bytes::new(),
                            request_start..self.bufs.end,
                            false,
                        )));
                        return Err(Reject::UriTooLong);
                    }
                    from = request_start;
                }
            }
        };
        self.head = Some(Box::new(new_head(&line, method, &self.bufs)));
        Ok(Some(line))
    }

    /// `ngx_http_process_request_uri`: `$uri` and `$args`, then the host of an absolute-form
    /// target.
    fn request_uri(&mut self, line: &Line) -> Result<(), Reject> {
        let buf = self.buf;
        let merge_slashes = self.limits.merge_slashes;
        let head = self.head();
        let raw = &buf[line.uri_start..line.uri_end];
        if line.complex || line.quoted || line.empty_path {
            match complex_uri(raw, line.empty_path, merge_slashes) {
                Ok(c) => {
                    head.uri = c.uri;
                    head.args = c
                        .args
                        .map(|a| line.uri_start + a.start..line.uri_start + a.end);
                    head.quoted_uri |= c.quoted;
                    head.plus_in_uri |= c.plus;
                }
                Err(()) => return Err(self.reject_line("client sent invalid request")),
            }
        } else if let Some(a) = line.args_start {
            head.uri = buf[line.uri_start..a - 1].to_vec();
            head.args = Some(a..line.uri_end);
        } else {
            head.uri = raw.to_vec();
        }
        head.args = head.args.take().filter(|a| !a.is_empty());
        head.unparsed_uri = line.uri_start..line.uri_end;

        if let Some(h) = &line.host {
            match validate_host(&buf[h.clone()]) {
                Some(host) => {
                    head.host = Some(host.clone());
                    head.absolute_host = Some(host);
                }
                None => return Err(self.reject_line("client sent invalid host in request line")),
            }
        }
        Ok(())
    }

    /// The header lines (`ngx_http_process_request_headers`), the first one at `p`. `false`:
    /// nginx would still be reading.
    fn header_lines(&mut self, mut p: usize) -> Result<bool, Reject> {
        let buf = self.buf;
        self.head().headers.reserve(16);
        let mut last_line_start: Option<usize> = None;
        loop {
            let limit = self.bufs.end.min(buf.len());
            match header_line(buf, p, limit, self.limits.underscores_in_headers) {
                HeaderStep::Done(end) => {
                    self.head().request_length += end - p;
                    self.head().head_len = end;
                    self.head().buffer = self.bufs.state_at(end);
                    return Ok(true);
                }
                HeaderStep::Invalid { header_end } => {
                    let r = invalid_header_line(buf, p, header_end);
                    return Err(self.reject(r));
                }
                HeaderStep::Line {
                    name,
                    value,
                    header_end,
                    invalid,
                    end,
                } => {
                    last_line_start = Some(p);
                    self.head().request_length += end - p;
                    self.head().head_len = end;
                    p = end;
                    if invalid && self.limits.ignore_invalid_headers {
                        self.head().invalid_headers.push(name.start..header_end);
                        continue;
                    }
                    self.header(name, value)?;
                }
                HeaderStep::Again if limit < self.bufs.end => {
                    // Incomplete: what is known so far, for a timeout or a close (408/400 logs).
                    self.stash = Some(self.take_head());
                    return Ok(false);
                }
                HeaderStep::Again => self.buffer_full(p, last_line_start)?,
            }
        }
    }

    /// A header line nginx keeps: classified, added to the head, then its handler runs.
    fn header(&mut self, name: Range<usize>, value: Range<usize>) -> Result<(), Reject> {
        let index = self.head().headers.len();
        let known = classify(&self.buf[name.clone()]);
        self.head().headers.push(Header { name, value, known });
        let Some(k) = known else {
            return Ok(());
        };
        let buf = self.buf;
        match headers_in::handle(self.head(), buf, index, k) {
            Ok(()) => Ok(()),
            Err(r) => Err(self.reject(r)),
        }
    }

    /// The buffer is full and the header line at `p` is incomplete: a line never spans
    /// buffers, so nginx moves it to a large one, or refuses the request with a 494.
    fn buffer_full(&mut self, p: usize, last_line_start: Option<usize>) -> Result<(), Reject> {
        if p == self.bufs.end {
            // between lines: a new large buffer, nothing to move
            if self.bufs.take_large_between_lines() {
                return Ok(());
            }
            // nginx logs the last line it parsed, if any, as the "too long" one
            let r = match last_line_start {
                Some(start) => too_long_header_line(self.buf, start, self.bufs.end),
                None => Reject::HeaderTooLarge(Cow::Borrowed("client sent too large request")),
            };
            return Err(self.reject(r));
        }
        if !self.bufs.take_large(p) {
            let r = too_long_header_line(self.buf, p, self.bufs.end);
            return Err(self.reject(r));
        }
        Ok(())
    }

    /// `ngx_http_process_request_header`: the checks on the whole head.
    fn process_request_header(&mut self) -> Result<(), Reject> {
        let buf = self.buf;
        match headers_in::process_request_header(self.head(), buf) {
            Ok(()) => Ok(()),
            Err(r) => Err(self.reject(r)),
        }
    }

    /// Keeps the head as nginx knew it when it refused the request with `r`.
    fn reject(&mut self, r: Reject) -> Reject {
        self.stash = Some(self.take_head());
        r
    }

    /// [`Scan::reject`] for an error in the request line found after it was read: nginx
    /// answers an HTTP/0.9 request with the error page's body only.
    fn reject_line(&mut self, msg: &'static str) -> Reject {
        let r = if self.head().http09 {
            Reject::Http09BadRequest(msg)
        } else {
            Reject::BadRequest(Cow::Borrowed(msg))
        };
        self.reject(r)
    }

    /// The head being built. The request line makes it before anything else reads it; a
    /// stand-in takes its place should a caller come first.
    fn head(&mut self) -> &mut RequestHead {
        self.head
            .get_or_insert_with(|| Box::new(RequestHead::stand_in(Bytes::new(), 0..0, false)))
    }

    /// The finished head; the scan is done with it.
    fn take_head(&mut self) -> Box<RequestHead> {
        self.head
            .take()
            .unwrap_or_else(|| Box::new(RequestHead::stand_in(Bytes::new(), 0..0, false)))
    }
}

/// The head as the request line makes it: what the line says, no URI and no headers yet.
fn new_head(line: &Line, method: Method, bufs: &Buffers) -> RequestHead {
    let http09 = line.major == 0;
    let request_end = line.request_end.unwrap_or(line.end - 1);
    RequestHead {
        buf: Bytes::new(),
        method,
        method_name: line.start..line.method_end,
        request_line: line.start..request_end,
        unparsed_uri: line.uri_start..line.uri_start,
        uri: Vec::new(),
        args: None,
        quoted_uri: line.quoted,
        complex_uri: line.complex,
        plus_in_uri: line.plus,
        valid_unparsed_uri: !line.empty_path,
        http_major: line.major,
        http_minor: line.minor,
        http09,
        http_protocol: line
            .protocol_start
            .map_or(request_end..request_end, |s| s..request_end),
        absolute_host: None,
        headers: Vec::new(),
        invalid_headers: Vec::new(),
        host: None,
        host_header: None,
        content_length: None,
        chunked: false,
        connection_close: false,
        connection_keep_alive: false,
        connection_upgrade: false,
        upgrade: None,
        headers_in: HeadersIn::new(),
        expect_continue: false,
        browser: Browser::default(),
        head_len: line.end,
        request_length: line.end - line.start,
        buffer: bufs.state_at(line.end),
    }
}
