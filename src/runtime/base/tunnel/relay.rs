//! A tunnel's bytes in the worker's tunnel loop, moved as nginx's
//! `ngx_http_upstream_process_upgraded` moves them: an event pumps the direction it concerns
//! (a side readable: from it; writable: to it), each read is written on at once, and only
//! what the other side does not take is kept, until it does. This is only the state and the
//! calls; the worker's tunnel loop (`serve::tunnels`) owns the tunnels, gives them their
//! events and runs their timers; [`Side`] does the reading and writing, TLS included.

use std::io;

use super::side::{Got, Side};
use super::End;

/// Which side an event is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Which {
    Client,
    Upstream,
}

/// What an event says about a side.
#[derive(Clone, Copy, Default, Debug)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
    /// The peer shut down its writing side.
    pub rdhup: bool,
}

/// One direction's bytes read but not yet written (empty, with no allocation, when idle).
#[derive(Default)]
struct Owed {
    buf: Vec<u8>,
    pos: usize,
}

impl Owed {
    fn is_clear(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// A tunnel's sockets and bytes in flight.
pub struct Relay {
    pub client: Side,
    pub upstream: Side,
    /// Client → upstream.
    up: Owed,
    /// Upstream → client.
    down: Owed,
    /// A read that failed ended its side as an EOF does; logged when the tunnel ends.
    pub read_err: Option<io::Error>,
    /// Bytes read from the upstream (the early ones included).
    pub from_upstream: u64,
    /// Bytes read from the client (the pipelined ones included).
    pub from_client: u64,
    /// The most one read takes from a side (`proxy_buffer_size` in stream; a whole
    /// scratch buffer for an upgraded HTTP connection).
    max_read: usize,
    /// `proxy_half_close`: a side's end is passed on as a shutdown of the other side's
    /// writing half (once per tunnel, as nginx's one `half_closed` flag), and the tunnel
    /// lasts until both sides have ended.
    half_close: bool,
    half_closed: bool,
    /// The side whose end was read last (a stream session's log line names it).
    pub last_eof: Option<Which>,
    /// When the upstream's first byte was read (`$upstream_first_byte_time`).
    pub first_from_upstream: Option<std::time::Instant>,
}

impl Relay {
    /// A tunnel whose upstream is owed `pipelined` (bytes the client sent behind its request)
    /// and whose client is owed `early` (bytes the upstream sent behind its 101).
    pub fn new(client: Side, upstream: Side, pipelined: &[u8], early: &[u8]) -> Relay {
        Relay {
            client,
            upstream,
            up: Owed {
                buf: pipelined.to_vec(),
                pos: 0,
            },
            down: Owed {
                buf: early.to_vec(),
                pos: 0,
            },
            read_err: None,
            from_upstream: early.len() as u64,
            from_client: pipelined.len() as u64,
            max_read: usize::MAX,
            half_close: false,
            half_closed: false,
            last_eof: None,
            first_from_upstream: None,
        }
    }

    /// A stream session's relay: reads of at most `buffer_size`, and `proxy_half_close`.
    pub fn with_limits(mut self, buffer_size: usize, half_close: bool) -> Relay {
        self.max_read = buffer_size.max(1);
        self.half_close = half_close;
        self
    }

    /// An event on side `which`: its flags are set and the directions it concerns pumped.
    /// `Ok(true)` when something moved.
    pub fn event(
        &mut self,
        which: Which,
        ready: Readiness,
        scratch: &mut [u8],
    ) -> Result<bool, End> {
        let side = match which {
            Which::Client => &mut self.client,
            Which::Upstream => &mut self.upstream,
        };
        side.ready(ready.readable, ready.writable, ready.rdhup);
        let mut moved = false;
        // Readable: the direction from this side; writable: the one to it.
        let (from, to) = match which {
            Which::Client => (Dir::Up, Dir::Down),
            Which::Upstream => (Dir::Down, Dir::Up),
        };
        if ready.readable {
            moved |= self.pump(from, scratch)?;
        }
        if ready.writable {
            moved |= self.pump(to, scratch)?;
        }
        Ok(moved)
    }

    /// ngx_http_upstream_process_upgraded's end (and ngx_stream_proxy_test_finalize's): a
    /// side ended and what it sent went on. With half-close, both sides must have ended.
    pub fn over(&self) -> bool {
        if self.half_close {
            return self.upstream.eof
                && self.client.eof
                && self.down.is_clear()
                && self.up.is_clear();
        }
        (self.upstream.eof && self.down.is_clear())
            || (self.client.eof && self.up.is_clear())
            || (self.upstream.eof && self.client.eof)
    }

    /// Whether bytes wait for the upstream, and for the client.
    pub fn blocked(&self) -> (bool, bool) {
        (
            !self.up.is_clear() || self.upstream.pending(),
            !self.down.is_clear() || self.client.pending(),
        )
    }

    /// Bytes read from the upstream that the client was not given yet.
    pub fn down_owed(&self) -> u64 {
        self.down.left() as u64
    }

    /// Bytes read from the client that the upstream was not given yet.
    pub fn up_owed(&self) -> u64 {
        self.up.left() as u64
    }

    /// The two sides and the error of a read that ended a side, once the tunnel is over.
    pub fn into_parts(self) -> (Side, Side, Option<io::Error>) {
        (self.client, self.upstream, self.read_err)
    }

    fn pump(&mut self, dir: Dir, scratch: &mut [u8]) -> Result<bool, End> {
        let limit = self.max_read.min(scratch.len());
        let scratch = &mut scratch[..limit];
        let (src, dst, owed, moved, which) = match dir {
            Dir::Down => (
                &mut self.upstream,
                &mut self.client,
                &mut self.down,
                &mut self.from_upstream,
                Which::Upstream,
            ),
            Dir::Up => (
                &mut self.client,
                &mut self.upstream,
                &mut self.up,
                &mut self.from_client,
                Which::Client,
            ),
        };
        let (was_eof, before) = (src.eof, *moved);
        let progress = pump(src, dst, owed, &mut self.read_err, moved, scratch)?;
        if before == 0 && *moved > 0 && which == Which::Upstream {
            self.first_from_upstream = Some(std::time::Instant::now());
        }
        if src.eof && !was_eof {
            self.last_eof = Some(which);
        }
        // ngx_stream_proxy_process: the end read from a side, once what it sent is
        // written, is passed on as a shutdown of the other side's writing half.
        if self.half_close && src.eof && !self.half_closed && owed.is_clear() && !dst.pending() {
            self.half_closed = true;
            dst.shut_write();
        }
        Ok(progress)
    }
}

#[derive(Clone, Copy)]
enum Dir {
    /// Client → upstream.
    Up,
    /// Upstream → client.
    Down,
}

/// Moves what `src` has to `dst` while both are ready; what `dst` does not take is kept in
/// `owed`. Returns whether anything moved.
fn pump(
    src: &mut Side,
    dst: &mut Side,
    owed: &mut Owed,
    read_err: &mut Option<io::Error>,
    moved: &mut u64,
    scratch: &mut [u8],
) -> Result<bool, End> {
    let mut progress = false;
    loop {
        // TLS records already made for `dst` go first.
        if !dst.flush().map_err(End::SendFailed)? {
            return Ok(progress);
        }
        if !owed.is_clear() {
            let n = dst.write(&owed.buf[owed.pos..]).map_err(End::SendFailed)?;
            owed.pos += n;
            progress |= n > 0;
            if !owed.is_clear() {
                return Ok(progress);
            }
            // Written: give the memory back.
            owed.buf = Vec::new();
            owed.pos = 0;
        }
        if src.eof || !src.readable() {
            return Ok(progress);
        }
        match src.read(scratch) {
            Got::Data(n) => {
                *moved += n as u64;
                progress = true;
                // Straight on to the other side; only the rest is copied.
                let w = dst.write(&scratch[..n]).map_err(End::SendFailed)?;
                if w < n {
                    owed.buf.extend_from_slice(&scratch[w..n]);
                    return Ok(true);
                }
            }
            Got::Again => return Ok(progress),
            Got::Eof => {
                src.eof = true;
                return Ok(true);
            }
            Got::Failed(e) => {
                // nginx treats a failed read as the end of that side (and says why at info).
                src.eof = true;
                *read_err = Some(e);
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::base::tunnel::side::Sock;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    /// A relay between two socket pairs: (client's peer, upstream's peer, relay).
    fn relay(pipelined: &[u8], early: &[u8]) -> (UnixStream, UnixStream, Relay) {
        let (c_peer, c) = UnixStream::pair().unwrap();
        let (u_peer, u) = UnixStream::pair().unwrap();
        for s in [&c, &u] {
            s.set_nonblocking(true).unwrap();
        }
        let r = Relay::new(
            Side::new(Sock::Unix(c), None),
            Side::new(Sock::Unix(u), None),
            pipelined,
            early,
        );
        (c_peer, u_peer, r)
    }

    fn read(s: &mut UnixStream) -> Vec<u8> {
        let mut b = [0u8; 64];
        let n = s.read(&mut b).unwrap();
        b[..n].to_vec()
    }

    const ALL: Readiness = Readiness {
        readable: true,
        writable: true,
        rdhup: false,
    };

    #[test]
    fn owed_bytes_go_first_then_traffic_both_ways() {
        let (mut cp, mut up, mut r) = relay(b"pipelined", b"early");
        let mut scratch = vec![0u8; 64];
        assert!(r.event(Which::Client, ALL, &mut scratch).unwrap());
        assert!(r.event(Which::Upstream, ALL, &mut scratch).unwrap());
        assert_eq!(read(&mut up), b"pipelined");
        assert_eq!(read(&mut cp), b"early");
        cp.write_all(b"to upstream").unwrap();
        r.event(Which::Client, ALL, &mut scratch).unwrap();
        assert_eq!(read(&mut up), b"to upstream");
        up.write_all(b"to client").unwrap();
        r.event(Which::Upstream, ALL, &mut scratch).unwrap();
        assert_eq!(read(&mut cp), b"to client");
        assert_eq!(r.from_upstream, 5 + 9);
        assert!(!r.over());
    }

    #[test]
    fn a_short_read_waits_for_the_next_event_unless_the_peer_shut_down() {
        let (mut cp, _up, mut r) = relay(b"", b"");
        let mut scratch = vec![0u8; 64];
        r.event(Which::Upstream, ALL, &mut scratch).unwrap();
        cp.write_all(b"x").unwrap();
        r.event(Which::Client, ALL, &mut scratch).unwrap();
        assert!(!r.client.read_ready, "a short read drained the socket");
        // Data and the FIN in one event: the EOF is read without another event.
        cp.write_all(b"y").unwrap();
        cp.shutdown(std::net::Shutdown::Write).unwrap();
        let ev = Readiness {
            readable: true,
            writable: false,
            rdhup: true,
        };
        r.event(Which::Client, ev, &mut scratch).unwrap();
        assert!(r.client.eof);
        assert!(
            r.over(),
            "the client's bytes went on, so the tunnel is over"
        );
    }

    #[test]
    fn what_a_side_does_not_take_is_owed_and_blocks() {
        let (mut cp, up, mut r) = relay(b"", b"");
        let mut scratch = vec![0u8; 16 * 1024];
        r.event(Which::Upstream, ALL, &mut scratch).unwrap();
        // Fill the upstream's socket buffer: the upstream peer never reads.
        let chunk = vec![7u8; 16 * 1024];
        let mut sent = 0usize;
        cp.set_nonblocking(true).unwrap();
        for _ in 0..256 {
            match cp.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
            r.event(Which::Client, ALL, &mut scratch).unwrap();
            if r.blocked().0 {
                break;
            }
        }
        assert!(r.blocked().0, "bytes owed to the upstream after {sent}");
        assert!(!r.upstream.write_ready);
        drop(up);
        // The upstream's peer went away: the next write fails.
        let writable = Readiness {
            readable: false,
            writable: true,
            rdhup: false,
        };
        assert!(matches!(
            r.event(Which::Upstream, writable, &mut scratch),
            Err(End::SendFailed(_))
        ));
    }
}
