//! The access phase: `allow` and `deny` (`ngx_http_access_module`), in order, the first rule
//! that matches the client's address deciding.

use crate::runtime::base;
use crate::runtime::state::request::Request;

/// `allow`/`deny` in order; the first rule that matches decides.
pub fn allowed(r: &Request) -> bool {
    base::access::allowed(&r.conf.access, r.conn.remote_ip())
}
