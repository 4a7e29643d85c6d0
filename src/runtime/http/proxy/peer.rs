//! The peer a try reached: the connection and the response head it produced ([`Got`]), and
//! the group it belongs to with this worker's state for it ([`Group`]), to which a
//! connection goes back for keep-alive.

use std::cell::RefCell;
use std::time::Instant;

use bytes::BytesMut;

use crate::ir::upstream::Upstream;
use crate::runtime::base::http1::response::ResponseHead;
use crate::runtime::base::io::Stream;
use crate::runtime::state::balancer::{Balancer, Idle};

/// The group a request tries, with this worker's state for it.
pub struct Group<'a> {
    pub ups: &'a Upstream,
    pub balancer: &'a RefCell<Balancer>,
}

impl Group<'_> {
    /// Gives a connection whose response was read exactly to its end back to the
    /// keep-alive cache (S5.8), when the group has one.
    pub fn keep(&self, got: Got) {
        if self.ups.keepalive.is_none() {
            return;
        }
        self.balancer.borrow_mut().put_idle(
            self.ups,
            Idle {
                stream: got.stream,
                peer: got.peer,
                since: Instant::now(),
                requests: got.requests,
                created: got.created,
            },
        );
    }
}

/// What a successful try produced: the connection and the response head, and where the
/// connection came from.
pub struct Got {
    pub stream: Stream,
    pub head: ResponseHead,
    /// The buffer the head was read into; body bytes may follow the head.
    pub buf: BytesMut,
    pub peer: usize,
    pub created: Instant,
    /// Requests the connection served before this one.
    pub requests: u32,
}
