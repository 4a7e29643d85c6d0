//! Byte streams and nginx's timers on them.
//!
//! [`Stream`] is a client or upstream connection (TCP or a unix socket; TLS joins it as one
//! more variant). nginx's timeouts are *between two successive operations* (S9), so every
//! read and write here takes the timeout that applies to that one operation.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// A connected stream.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// A client connection on a TLS address, after the handshake.
    Tls(Box<tokio_rustls::server::TlsStream<Stream>>),
    /// The request side of an HTTP/2 stream's pipe (see `h2`).
    Pipe(tokio::io::DuplexStream),
    /// An upstream connection of `proxy_pass https://`.
    TlsUpstream(Box<tokio_rustls::client::TlsStream<Stream>>),
}

impl Stream {
    /// A non-blocking probe of an idle connection: `true` when the peer closed it or sent
    /// something unexpected (an idle upstream connection must be silent).
    pub fn idle_broken(&self) -> bool {
        let mut b = [0u8; 1];
        let r = match self {
            Stream::Tcp(s) => s.try_read(&mut b),
            Stream::Unix(s) => s.try_read(&mut b),
            Stream::Tls(s) => return s.get_ref().0.idle_broken(),
            Stream::Pipe(_) => return false,
            Stream::TlsUpstream(s) => return s.get_ref().0.idle_broken(),
        };
        !matches!(r, Err(ref e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Whether the peer has sent bytes not read yet (nginx's `rev->ready`), without taking
    /// more than one of them.
    pub fn data_ready(&self) -> bool {
        let mut b = [0u8; 1];
        let r = match self {
            Stream::Tcp(s) => s.try_read(&mut b),
            Stream::Unix(s) => s.try_read(&mut b),
            // Decrypted bytes waiting, or records not yet read (only asked before closing,
            // so taking a byte of a record is harmless).
            Stream::Tls(s) => return s.get_ref().0.data_ready(),
            Stream::Pipe(_) => return false,
            Stream::TlsUpstream(s) => return s.get_ref().0.data_ready(),
        };
        matches!(r, Ok(1))
    }

    pub fn set_nodelay(&self) {
        match self {
            Stream::Tcp(s) => {
                let _ = s.set_nodelay(true);
            }
            Stream::Tls(s) => s.get_ref().0.set_nodelay(),
            Stream::TlsUpstream(s) => s.get_ref().0.set_nodelay(),
            Stream::Unix(_) | Stream::Pipe(_) => {}
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_) | Stream::TlsUpstream(_))
    }
}

impl Stream {
    /// Reads into `buf`, memory already initialised (the tunnel's scratch buffer). A socket
    /// is read with a direct `recv` system call (rustix), not through libc's wrapper and its
    /// cancellation points, with tokio's readiness kept as tokio keeps it itself: a read
    /// shorter than `buf` drained the socket, so its readiness is cleared. Other streams
    /// read as `AsyncRead`.
    pub fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            Stream::Tcp(s) => poll_recv(s, cx, buf),
            Stream::Unix(s) => poll_recv(s, cx, buf),
            other => {
                let mut rb = ReadBuf::new(buf);
                match Pin::new(other).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    /// Writes from `buf`: a socket with a direct `send` system call (no `SIGPIPE`), its
    /// readiness cleared after a short write as tokio does; other streams as `AsyncWrite`.
    pub fn poll_write_from(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Stream::Tcp(s) => poll_send(s, cx, buf),
            Stream::Unix(s) => poll_send(s, cx, buf),
            other => Pin::new(other).poll_write(cx, buf),
        }
    }
}

/// A tokio socket read and written with direct system calls.
trait RawSocket: std::os::fd::AsFd {
    fn poll_ready(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<()>>;
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
}

macro_rules! raw_socket {
    ($t:ty) => {
        impl RawSocket for $t {
            fn poll_ready(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<()>> {
                if interest == Interest::READABLE {
                    self.poll_read_ready(cx)
                } else {
                    self.poll_write_ready(cx)
                }
            }
            fn try_io<R>(
                &self,
                interest: Interest,
                f: impl FnOnce() -> io::Result<R>,
            ) -> io::Result<R> {
                <$t>::try_io(self, interest, f)
            }
        }
    };
}
raw_socket!(TcpStream);
raw_socket!(UnixStream);

fn poll_recv<S: RawSocket>(s: &S, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    let len = buf.len();
    poll_raw(s, cx, Interest::READABLE, len, || {
        rustix::net::recv(s, &mut *buf, rustix::net::RecvFlags::empty())
            .map(|(_, n)| n)
            .map_err(io::Error::from)
    })
}

fn poll_send<S: RawSocket>(s: &S, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    poll_raw(s, cx, Interest::WRITABLE, buf.len(), || {
        rustix::net::send(s, buf, rustix::net::SendFlags::NOSIGNAL).map_err(io::Error::from)
    })
}

/// One system call when the socket is ready for `interest`. A transfer shorter than `len`
/// (but not empty) is reported to tokio as "would block" after it was taken, so that tokio
/// clears the readiness it saw (`try_io` clears it only then, and only if no event came
/// since), as its own `poll_read`/`poll_write` do after a short transfer: the next call then
/// waits for an event instead of making a system call that would find nothing.
fn poll_raw<S: RawSocket>(
    s: &S,
    cx: &mut Context<'_>,
    interest: Interest,
    len: usize,
    mut call: impl FnMut() -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    loop {
        match s.poll_ready(cx, interest) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let mut short = None;
        match s.try_io(interest, || match call() {
            Ok(n) if n > 0 && n < len => {
                short = Some(n);
                Err(io::ErrorKind::WouldBlock.into())
            }
            other => other,
        }) {
            Ok(n) => return Poll::Ready(Ok(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Some(n) = short {
                    return Poll::Ready(Ok(n));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Pipe(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::TlsUpstream(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Pipe(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::TlsUpstream(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Pipe(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Stream::TlsUpstream(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        // rustls copies into records either way; one call per slice is as good.
        !self.is_tls()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Pipe(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::TlsUpstream(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Pipe(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::TlsUpstream(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why an operation on a stream ended without data.
#[derive(Debug)]
pub enum IoError {
    /// The timer of this operation fired (nginx: "timed out", errno 110).
    TimedOut,
    Io(io::Error),
}

impl From<io::Error> for IoError {
    fn from(e: io::Error) -> IoError {
        IoError::Io(e)
    }
}

impl IoError {
    /// nginx's rendering of the system error: `(111: Connection refused)`.
    pub fn errno_text(&self) -> String {
        match self {
            IoError::TimedOut => "(110: Connection timed out)".to_string(),
            IoError::Io(e) => errno_text(e),
        }
    }
}

/// `(errno: strerror)` as nginx prints it.
pub fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("({n}: {})", strerror(n)),
        None => format!("({e})"),
    }
}

/// glibc's strerror text for the errors a proxy meets (std's Display adds " (os error N)").
fn strerror(n: i32) -> String {
    let e = io::Error::from_raw_os_error(n).to_string();
    match e.rfind(" (os error") {
        Some(i) => e[..i].to_string(),
        None => e,
    }
}

/// `future` with a timer that starts only when the future first has to wait: most reads and
/// writes complete at once, and then no clock is read and no timer is armed (tokio's
/// `timeout` reads the clock for every call).
pub fn timed<F: std::future::Future>(timeout: Duration, future: F) -> Timed<F> {
    Timed {
        future,
        timeout,
        sleep: None,
    }
}

pin_project_lite::pin_project! {
    /// See [`timed`].
    pub struct Timed<F> {
        #[pin]
        future: F,
        timeout: Duration,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
    }
}

/// The timer of a [`timed`] operation fired.
#[derive(Debug)]
pub struct Elapsed;

impl<F: std::future::Future> std::future::Future for Timed<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut me = self.project();
        if let Poll::Ready(v) = me.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if me.sleep.is_none() {
            me.sleep.set(Some(tokio::time::sleep(*me.timeout)));
        }
        match me.sleep.as_pin_mut() {
            Some(s) => match s.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
                Poll::Pending => Poll::Pending,
            },
            None => Poll::Pending,
        }
    }
}

/// Why a connection to a peer was not made.
#[derive(Debug)]
pub enum ConnectError {
    /// `connect()` failed (refused, unreachable, ...).
    Failed(io::Error),
    /// The connect timer fired first.
    TimedOut,
}

/// Connects to a peer (`ngx_event_connect_peer`): TCP or a unix socket, under `timeout`.
/// Nagle stays on, as nginx leaves it on an upstream connection.
pub async fn connect(
    addr: &crate::ir::upstream::PeerAddr,
    timeout: Duration,
) -> Result<Stream, ConnectError> {
    use crate::ir::upstream::PeerAddr;
    let fut = async {
        match addr {
            PeerAddr::Inet(a) => tokio::net::TcpStream::connect(a).await.map(Stream::Tcp),
            PeerAddr::Unix(p) => tokio::net::UnixStream::connect(p).await.map(Stream::Unix),
        }
    };
    match timed(timeout, fut).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(ConnectError::Failed(e)),
        Err(Elapsed) => Err(ConnectError::TimedOut),
    }
}

/// Reads once into the spare capacity of `buf`, waiting at most `timeout`. `Ok(0)` = EOF.
pub async fn read_buf<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    timeout: Duration,
) -> Result<usize, IoError> {
    match timed(timeout, r.read_buf(buf)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(IoError::Io(e)),
        Err(_) => Err(IoError::TimedOut),
    }
}

/// Like [`read_buf`], reading at most `max` bytes (nginx reads a body into a buffer of a
/// fixed size, and counts what each read returns).
pub async fn read_buf_max<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    max: usize,
    timeout: Duration,
) -> Result<usize, IoError> {
    buf.reserve(max);
    let mut limited = r.take(max as u64);
    match timed(timeout, limited.read_buf(buf)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(IoError::Io(e)),
        Err(_) => Err(IoError::TimedOut),
    }
}

/// Writes all of `data`; the timer covers each write that makes no progress (nginx re-arms
/// `send_timeout` / `proxy_send_timeout` after every successful write).
pub async fn write_all<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut data: &[u8],
    timeout: Duration,
) -> Result<(), IoError> {
    while !data.is_empty() {
        match timed(timeout, w.write(data)).await {
            Ok(Ok(0)) => return Err(IoError::Io(io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(IoError::Io(e)),
            Err(_) => return Err(IoError::TimedOut),
        }
    }
    flush(w, timeout).await
}

/// Pushes out what a TLS stream holds (a no-op on a socket).
pub async fn flush<W: AsyncWrite + Unpin>(w: &mut W, timeout: Duration) -> Result<(), IoError> {
    match timed(timeout, w.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(IoError::Io(e)),
        Err(_) => Err(IoError::TimedOut),
    }
}

/// Writes `a` then `b` with as few system calls as possible (one `writev` when it all fits).
pub async fn write_two<W: AsyncWrite + Unpin>(
    w: &mut W,
    a: &[u8],
    b: &[u8],
    timeout: Duration,
) -> Result<(), IoError> {
    let (mut a, mut b) = (a, b);
    while !a.is_empty() {
        if b.is_empty() {
            return write_all(w, a, timeout).await;
        }
        let bufs = [io::IoSlice::new(a), io::IoSlice::new(b)];
        let n = match timed(timeout, w.write_vectored(&bufs)).await {
            Ok(Ok(0)) => return Err(IoError::Io(io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(IoError::Io(e)),
            Err(_) => return Err(IoError::TimedOut),
        };
        if n >= a.len() {
            b = &b[n - a.len()..];
            a = &[];
        } else {
            a = &a[n..];
        }
    }
    write_all(w, b, timeout).await
}

/// Writes every piece of `pieces` in order, with as few `writev`s as the stream takes; the
/// timer covers each write that makes no progress.
pub async fn write_pieces<W: AsyncWrite + Unpin>(
    w: &mut W,
    pieces: &[&[u8]],
    timeout: Duration,
) -> Result<(), IoError> {
    let (mut i, mut off) = (0, 0);
    while i < pieces.len() {
        let iov: Vec<io::IoSlice<'_>> = std::iter::once(&pieces[i][off..])
            .chain(pieces[i + 1..].iter().copied())
            .take(64)
            .map(io::IoSlice::new)
            .collect();
        let mut n = match timed(timeout, w.write_vectored(&iov)).await {
            Ok(Ok(0)) if iov.iter().any(|s| !s.is_empty()) => {
                return Err(IoError::Io(io::ErrorKind::WriteZero.into()))
            }
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(IoError::Io(e)),
            Err(_) => return Err(IoError::TimedOut),
        };
        // Step over what was written, and over empty pieces.
        while i < pieces.len() && n >= pieces[i].len() - off {
            n -= pieces[i].len() - off;
            i += 1;
            off = 0;
        }
        off += n;
    }
    flush(w, timeout).await
}

/// How long closing a TLS connection may wait to send its `close_notify` (nginx gives
/// `SSL_shutdown` 3 s when the socket is full).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// Closes a stream; with `linger`, nginx's lingering close: stop sending, then read and drop
/// what the peer still sends (up to `lingering_timeout`, 5 s, between reads and
/// `lingering_time`, 30 s, in all), so that a client sees the response rather than a reset.
pub async fn close(stream: &mut Stream, linger: bool) {
    // A TLS stream sends its close_notify first, which may wait for room in the socket.
    let _ = timed(SHUTDOWN_TIMEOUT, stream.shutdown()).await;
    if !linger {
        return;
    }
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let mut sink = BytesMut::with_capacity(4096);
    loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        sink.clear();
        match read_buf(stream, &mut sink, left.min(Duration::from_secs(5))).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errno_text_is_nginx_style() {
        let e = std::io::Error::from_raw_os_error(111);
        assert_eq!(super::errno_text(&e), "(111: Connection refused)");
        assert_eq!(
            super::IoError::TimedOut.errno_text(),
            "(110: Connection timed out)"
        );
    }
}
