//! How a phase or a content handler ends ([`Next`]): the one value handlers return to the
//! phase runner, which alone acts on it. A handler never calls back into the runner.

use bytes::Bytes;

/// How a phase ended.
#[derive(Debug)]
pub enum Next {
    /// The response was sent (or the connection must close).
    Done,
    /// Finalize with this status: nginx's special response, after `error_page`.
    Status(u16),
    /// An internal redirect to a URI and optional arguments.
    Redirect(Vec<u8>, Option<Bytes>),
    /// A jump to a named location.
    Named(Vec<u8>),
}
