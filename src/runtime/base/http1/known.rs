//! nginx's `headers_in` slots, shared by the request and the upstream response heads: for each
//! [`Known`] header, the first of its lines. A parser classifies every line once as it reads
//! it ([`classify`]) and fills the slot; later code reads the slot (or the lines classified the
//! same, for a repeated header) instead of searching the lines by name. The names themselves
//! are `ir::header`'s; what a header means is up to the code that reads it.

use std::fmt;
use std::num::NonZeroU32;

pub use crate::ir::header::{classify, Known};

/// The first line of each known header, as an index into the head's list of lines.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HeadersIn {
    /// Index + 1 of the first line (4 bytes a slot: 208 for the table). A head's lines fit in
    /// `u32`: even 4 Gi lines would need a `Vec` of well over 100 GiB, and a head is limited to
    /// `large_client_header_buffers` or `proxy_buffer_size`.
    first: [Option<NonZeroU32>; Known::COUNT],
}

impl HeadersIn {
    /// No known header yet.
    pub const fn new() -> HeadersIn {
        HeadersIn {
            first: [None; Known::COUNT],
        }
    }

    /// The index of the first line of `k`, if any.
    pub fn first(&self, k: Known) -> Option<usize> {
        self.first[k.index()].map(|i| i.get() as usize - 1)
    }

    /// Line `index` is a `k` line: it becomes the slot's first unless one came before.
    pub fn note(&mut self, k: Known, index: usize) {
        let slot = &mut self.first[k.index()];
        if slot.is_none() {
            // beyond u32 (unreachable, see `first`) the slot stays empty rather than wrong
            *slot = u32::try_from(index)
                .ok()
                .and_then(|i| i.checked_add(1))
                .and_then(NonZeroU32::new);
        }
    }
}

impl Default for HeadersIn {
    fn default() -> Self {
        HeadersIn::new()
    }
}

/// Only the slots that are set, as `{Host: 0, UserAgent: 1}`.
impl fmt::Debug for HeadersIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                Known::ALL
                    .iter()
                    .filter_map(|&k| self.first(k).map(|i| (k, i))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_stays() {
        let mut h = HeadersIn::new();
        assert_eq!(h.first(Known::Host), None);
        h.note(Known::Host, 0);
        h.note(Known::Cookie, 3);
        h.note(Known::Cookie, 5);
        assert_eq!(h.first(Known::Host), Some(0));
        assert_eq!(h.first(Known::Cookie), Some(3));
        assert_eq!(h.first(Known::XPad), None);
        assert_eq!(format!("{h:?}"), "{Host: 0, Cookie: 3}");
        h.note(Known::Via, u32::MAX as usize - 1);
        assert_eq!(h.first(Known::Via), Some(u32::MAX as usize - 1));
        h.note(Known::Te, u32::MAX as usize);
        assert_eq!(h.first(Known::Te), None);
        assert_eq!(std::mem::size_of::<HeadersIn>(), 4 * Known::COUNT);
    }
}
