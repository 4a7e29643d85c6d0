//! What a tunnel in the loop belongs to, and what that means for its timers and its end: an
//! upgraded HTTP request (nginx's three timers, then the request's info lines and access-log
//! line with 101, and a lingering close when the client has sent more), or a stream session
//! (`proxy_timeout`, then the session's end line and access log, and its peer given back to
//! its group).

use std::time::Duration;

use tokio::time::Instant;

use super::super::open::Open;
use super::carrier::{into_stream, Carrier};
use crate::runtime::base::io::close;
use crate::runtime::base::tunnel::End;
use crate::runtime::http::tunnel::{finish, Meta, Outcome};
use crate::runtime::state::request::Request;
use crate::runtime::state::session::Session;
use crate::runtime::stream::end::{tunnel_ended, Ended};
use crate::runtime::stream::proxy::Release;

pub enum Owner {
    Http {
        r: Box<Request>,
        meta: Meta,
    },
    Stream {
        s: Box<Session>,
        release: Release,
        /// `proxy_timeout`.
        timeout: Duration,
    },
}

impl Owner {
    /// When the tunnel times out if nothing moves after `last`, and how that is logged.
    pub fn deadline(&self, last: Instant, up_blocked: bool, down_blocked: bool) -> (Instant, End) {
        match self {
            Owner::Http { meta, .. } => meta.deadline(last, up_blocked, down_blocked),
            // One timer for the session, whichever way bytes wait (ngx_stream_proxy_process
            // re-arms `proxy_timeout` on every event).
            Owner::Stream { timeout, .. } => (last + *timeout, End::UpstreamTimedOut),
        }
    }

    /// The tunnel is over (its sockets are out of the loop's epoll set): its log lines,
    /// then its connections closed as nginx closes them.
    pub fn end(self, relay: Carrier, end: End, open: Open, started: std::time::Instant) {
        match self {
            Owner::Http { r, meta } => http_end(r, &meta, relay, end, open, started),
            Owner::Stream { mut s, release, .. } => {
                let ended = match &relay {
                    Carrier::Relay(r) => Some((
                        r.from_client,
                        r.from_upstream - r.down_owed(),
                        r.from_upstream,
                        r.from_client - r.up_owed(),
                        r.last_eof,
                        r.first_from_upstream,
                    )),
                    Carrier::Bridge(_) => None,
                };
                let (mut client, upstream, read_err, ..) = relay.into_parts();
                if let Some((from_client, to_client, from_upstream, to_upstream, last_eof, first)) =
                    ended
                {
                    tunnel_ended(
                        &mut s,
                        Ended {
                            end,
                            read_err,
                            last_eof,
                            from_client,
                            to_client,
                            from_upstream,
                            to_upstream,
                            first_byte: first,
                        },
                    );
                }
                release.free();
                drop(upstream);
                // A TLS client gets its close_notify (ngx_ssl_shutdown), then the socket
                // closes; no lingering in stream.
                client.shut();
                drop(client);
                drop(s);
                drop(open);
            }
        }
    }
}

/// An upgraded HTTP connection's end (S11.4).
fn http_end(
    mut r: Box<Request>,
    meta: &Meta,
    relay: Carrier,
    end: End,
    open: Open,
    started: std::time::Instant,
) {
    let (client, upstream, read_err, from_upstream, to_client) = relay.into_parts();
    let out = Outcome {
        end,
        read_err,
        from_upstream,
        to_client,
        started,
    };
    let mut client = client;
    let linger = finish(&mut r, meta, out) && client.data_ready();
    drop(upstream);
    drop(r);
    client.shut();
    if linger {
        // Lingering waits for the client: a task of its own, still counted on the worker.
        // What it reads is thrown away, so a TLS client's records are not even decrypted.
        tokio::task::spawn_local(async move {
            if let Some(mut s) = into_stream(client.sock) {
                close(&mut s, true).await;
            }
            drop(open);
        });
    } else {
        drop(client);
        drop(open);
    }
}
