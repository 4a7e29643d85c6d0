//! One proxied request as every try sends it: where it goes, its head, and how its body goes.

use super::pass::Pass;
use crate::ir::proxy::Proxy;

/// One proxied request: what each try sends, and how.
pub struct Job<'a> {
    pub proxy: &'a Proxy,
    pub pass: Pass,
    /// The request head sent upstream.
    pub head: Vec<u8>,
    /// The body is streamed from the client as it arrives (`proxy_request_buffering off`):
    /// once it was sent, the request cannot be tried again.
    pub stream_body: bool,
    /// The client asked with HEAD: the upstream's response has no body.
    pub is_head: bool,
}
