//! A stream session from its accept (`ngx_stream_init_connection`): its phases run as a task
//! of the worker (`runtime::stream`), then either it is finished there (its access-log line
//! written, the client closed) or its tunnel goes to the worker's tunnel loop. A session
//! still in its phases when its generation's `worker_shutdown_timeout` passes ends then; one
//! that was proxying says `shutdown timeout`, as nginx's does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::open::Open;
use super::tunnels;
use crate::ir::Level;
use crate::runtime::base::io::{self, Stream};
use crate::runtime::state::session::{status, Session};
use crate::runtime::state::Snapshot;
use crate::runtime::stream::{self, end, Phases};

/// Where a new session arrived.
pub struct Arrival {
    pub number: u64,
    pub remote: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    /// The stream socket and the address within it.
    pub socket: usize,
    pub addr: usize,
}

/// Serves a session until it is finished or handed to the tunnel loop.
pub async fn serve(client: Stream, at: Arrival, snap: Arc<Snapshot>, open: Open) {
    let mut s = Box::new(Session {
        snap,
        number: at.number,
        remote: at.remote,
        local: at.local,
        socket: at.socket,
        addr: at.addr,
        tls: None,
        started: Instant::now(),
        // `$status` is 000 until the session is finalized.
        status: 0,
        received: 0,
        sent: 0,
        tries: Vec::new(),
        proxying: false,
        maps: Vec::new(),
        captures: None,
    });
    let kill = open.kill();
    let phases = tokio::select! {
        p = stream::run(client, &mut s) => Some(p),
        _ = kill => None,
    };
    match phases {
        Some(Phases::Done(mut client)) => {
            end::finalize(&mut s);
            // ngx_stream_close_connection: a TLS client gets its close_notify; a plain
            // socket is just closed (a client's unread bytes make that a reset, as nginx's).
            if client.is_tls() {
                io::close(&mut client, false).await;
            }
        }
        Some(Phases::Closed) => end::finalize(&mut s),
        Some(Phases::Proxy(t)) => tunnels::adopt_session(open, s, *t),
        None => {
            // worker_shutdown_timeout: a proxying session is finalized as nginx's is.
            if s.proxying {
                s.error(
                    Level::Info,
                    format_args!("shutdown timeout"),
                    Some("proxying connection"),
                );
                s.status = status::OK;
                end::finalize(&mut s);
            }
        }
    }
}
