//! One side of a tunnel in the worker's tunnel loop: a socket out of tokio's reactor, with
//! nginx's `ready` flags, and TLS when the connection has it (rustls driven directly: records
//! read from the socket when it is readable, written when it is writable).
//!
//! The flags follow `ngx_unix_recv` and `ngx_unix_send` on Linux with `EPOLLRDHUP`: an
//! edge-triggered event sets them; a read that came up short, or any call that would block,
//! clears them, unless the peer already shut its side down (then the end of the stream is
//! read next, with no new event to say so).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};

/// A plain socket, out of tokio's reactor.
pub enum Sock {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl AsFd for Sock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Sock::Tcp(s) => s.as_fd(),
            Sock::Unix(s) => s.as_fd(),
        }
    }
}

/// What a read gave.
#[derive(Debug)]
pub enum Got {
    Data(usize),
    /// Nothing now: wait for the next event.
    Again,
    /// The peer ended its stream (a TLS peer may or may not have said so first).
    Eof,
    Failed(io::Error),
}

/// A side: its socket, its TLS if any, and its readiness.
pub struct Side {
    pub sock: Sock,
    tls: Option<Box<rustls::Connection>>,
    pub(super) read_ready: bool,
    pub(super) write_ready: bool,
    /// The peer shut its side down (`EPOLLRDHUP`, nginx's `pending_eof`).
    rdhup: bool,
    /// The side's stream ended (or failed): nothing more is read from it.
    pub eof: bool,
}

impl Side {
    pub fn new(sock: Sock, tls: Option<rustls::Connection>) -> Side {
        // Not ready until an event says so: registering an edge-triggered socket reports
        // what it is ready for at once. A TLS side may hold plaintext already (rustls
        // decrypted more than the request), so it is read once regardless.
        let has_tls = tls.is_some();
        Side {
            sock,
            tls: tls.map(Box::new),
            read_ready: has_tls,
            write_ready: false,
            rdhup: false,
            eof: false,
        }
    }

    /// An event: what the socket is ready for.
    pub fn ready(&mut self, readable: bool, writable: bool, rdhup: bool) {
        self.read_ready |= readable;
        self.write_ready |= writable;
        self.rdhup |= rdhup;
    }

    /// Whether a read may give something without a new event.
    pub fn readable(&self) -> bool {
        self.read_ready || self.tls.is_some()
    }

    /// Reads into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> Got {
        let Some(tls) = self.tls.as_deref_mut() else {
            if !self.read_ready {
                return Got::Again;
            }
            return match recv(&self.sock, buf, &mut self.read_ready, self.rdhup) {
                Ok(0) => Got::Eof,
                Ok(n) => Got::Data(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::Again,
                Err(e) => Got::Failed(e),
            };
        };
        loop {
            match tls.reader().read(buf) {
                Ok(0) => return Got::Eof,
                Ok(n) => return Got::Data(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without the peer's close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Got::Eof,
                Err(e) => return Got::Failed(e),
            }
            if !self.read_ready {
                return Got::Again;
            }
            let mut from = SockIo {
                sock: &self.sock,
                ready: &mut self.read_ready,
                rdhup: self.rdhup,
            };
            match tls.read_tls(&mut from) {
                Ok(0) => return Got::Eof,
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // The alert rustls queued goes out if it can.
                        let _ = flush_tls(tls, &self.sock, &mut self.write_ready);
                        return Got::Failed(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                    // A key update or the like may want an answer.
                    if tls.wants_write() {
                        if let Err(e) = flush_tls(tls, &self.sock, &mut self.write_ready) {
                            return Got::Failed(e);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Got::Again,
                Err(e) => return Got::Failed(e),
            }
        }
    }

    /// Writes as much of `bytes` as the side takes now: what the socket took, or, with TLS,
    /// what rustls took (encrypted; its records go out as the socket takes them).
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_deref_mut() else {
            let mut w = 0;
            while w < bytes.len() && self.write_ready {
                match send(&self.sock, &bytes[w..], &mut self.write_ready) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(k) => w += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(w);
        };
        // Records already made go first; none is made while they wait.
        if !flush_tls(tls, &self.sock, &mut self.write_ready)? {
            return Ok(0);
        }
        let n = tls.writer().write(bytes)?;
        flush_tls(tls, &self.sock, &mut self.write_ready)?;
        Ok(n)
    }

    /// Writes the TLS records waiting; `Ok(true)` when none is left.
    pub fn flush(&mut self) -> io::Result<bool> {
        match self.tls.as_deref_mut() {
            Some(tls) => flush_tls(tls, &self.sock, &mut self.write_ready),
            None => Ok(true),
        }
    }

    /// Whether bytes wait in TLS records for the socket.
    pub fn pending(&self) -> bool {
        self.tls.as_deref().is_some_and(|t| t.wants_write())
    }

    /// The end of the connection: a TLS side says close_notify (as far as the socket takes
    /// it now), then the socket's writing side is shut.
    pub fn shut(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
            self.write_ready = true;
            let _ = flush_tls(tls, &self.sock, &mut self.write_ready);
        }
        let _ = rustix::net::shutdown(&self.sock, rustix::net::Shutdown::Write);
    }

    /// `proxy_half_close`: the socket's writing half is shut (no close_notify on a TLS
    /// side: nginx shuts the descriptor down under its TLS).
    pub fn shut_write(&mut self) {
        let _ = rustix::net::shutdown(&self.sock, rustix::net::Shutdown::Write);
    }

    /// Whether the client sent more (a byte of it is taken, as the connection closes anyway).
    pub fn data_ready(&self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            rustix::net::recv(&self.sock, &mut b, RecvFlags::DONTWAIT),
            Ok((_, 1))
        )
    }
}

/// The socket as rustls reads and writes it, keeping the readiness flags.
struct SockIo<'a> {
    sock: &'a Sock,
    ready: &'a mut bool,
    rdhup: bool,
}

impl Read for SockIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        recv(self.sock, buf, self.ready, self.rdhup)
    }
}

impl Write for SockIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        send(self.sock, buf, self.ready)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes what rustls has for the socket while it takes it; `Ok(true)` when all went.
fn flush_tls(tls: &mut rustls::Connection, sock: &Sock, ready: &mut bool) -> io::Result<bool> {
    while tls.wants_write() {
        if !*ready {
            return Ok(false);
        }
        let mut to = SockIo {
            sock,
            ready,
            rdhup: false,
        };
        match tls.write_tls(&mut to) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// One `recv`: a short read clears readiness unless the peer shut down; so does `EAGAIN`.
fn recv(sock: &Sock, buf: &mut [u8], ready: &mut bool, rdhup: bool) -> io::Result<usize> {
    loop {
        match rustix::net::recv(sock, &mut *buf, RecvFlags::empty()) {
            Ok((_, n)) => {
                if n < buf.len() && n > 0 && !rdhup {
                    *ready = false;
                }
                return Ok(n);
            }
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                *ready = false;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// One `send` (no `SIGPIPE`): a short write clears readiness; so does `EAGAIN`.
fn send(sock: &Sock, buf: &[u8], ready: &mut bool) -> io::Result<usize> {
    loop {
        match rustix::net::send(sock, buf, SendFlags::NOSIGNAL) {
            Ok(n) => {
                if n < buf.len() {
                    *ready = false;
                }
                return Ok(n);
            }
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                *ready = false;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Err(e) => return Err(e.into()),
        }
    }
}
