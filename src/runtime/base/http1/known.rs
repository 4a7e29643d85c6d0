//! nginx's `headers_in` slots, shared by the request and the upstream response heads: for each
//! [`Known`] header, the first of its lines. A parser classifies every line once as it reads
//! it ([`classify`]) and fills the slot; later code reads the slot (or the lines classified the
//! same, for a repeated header) instead of searching the lines by name. The names themselves
//! are `ir::header`'s; what a header means is up to the code that reads it.

use std::fmt;

pub use crate::ir::header::{classify, Known};

/// The first line of each known header, as an index into the head's list of lines.
///
/// A byte a slot (index + 1, 0 for none) while the known lines are among the head's first
/// 255, which is every head but hostile or absurd ones; past that the table widens to four
/// bytes a slot, boxed. A head is moved a few times on its way into a request, and the slots are most of
/// its size: 56 bytes instead of 208.
#[derive(Clone, PartialEq, Eq)]
pub enum HeadersIn {
    Narrow([u8; Known::COUNT]),
    /// Index + 1 of the first line. A head's lines fit in `u32`: even 4 Gi lines would need a
    /// `Vec` of well over 100 GiB, and a head is limited to `large_client_header_buffers` or
    /// `proxy_buffer_size`.
    Wide(Box<[u32; Known::COUNT]>),
}

impl HeadersIn {
    /// No known header yet.
    pub const fn new() -> HeadersIn {
        HeadersIn::Narrow([0; Known::COUNT])
    }

    /// The index of the first line of `k`, if any.
    pub fn first(&self, k: Known) -> Option<usize> {
        let i = match self {
            HeadersIn::Narrow(t) => t[k.index()] as usize,
            HeadersIn::Wide(t) => t[k.index()] as usize,
        };
        i.checked_sub(1)
    }

    /// Line `index` is a `k` line: it becomes the slot's first unless one came before.
    pub fn note(&mut self, k: Known, index: usize) {
        if self.first(k).is_some() {
            return;
        }
        // beyond u32 (unreachable, see `Wide`) the slot stays empty rather than wrong
        let Some(v) = u32::try_from(index).ok().and_then(|i| i.checked_add(1)) else {
            return;
        };
        if let HeadersIn::Narrow(t) = self {
            match u8::try_from(v) {
                Ok(b) => {
                    t[k.index()] = b;
                    return;
                }
                Err(_) => *self = HeadersIn::Wide(Box::new(t.map(u32::from))),
            }
        }
        if let HeadersIn::Wide(t) = self {
            t[k.index()] = v;
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
    }

    #[test]
    fn a_head_of_many_lines_widens_the_table() {
        let mut h = HeadersIn::new();
        h.note(Known::Host, 3);
        h.note(Known::Cookie, 253);
        assert!(matches!(h, HeadersIn::Narrow(_)));
        h.note(Known::UserAgent, 254);
        assert!(matches!(h, HeadersIn::Narrow(_)));
        h.note(Known::Accept, 255);
        assert!(matches!(h, HeadersIn::Wide(_)));
        h.note(Known::Referer, 100_000);
        assert_eq!(h.first(Known::Host), Some(3));
        assert_eq!(h.first(Known::Cookie), Some(253));
        assert_eq!(h.first(Known::UserAgent), Some(254));
        assert_eq!(h.first(Known::Accept), Some(255));
        assert_eq!(h.first(Known::Referer), Some(100_000));
        assert_eq!(h.first(Known::XPad), None);
        h.note(Known::Via, u32::MAX as usize - 1);
        assert_eq!(h.first(Known::Via), Some(u32::MAX as usize - 1));
        h.note(Known::Te, u32::MAX as usize);
        assert_eq!(h.first(Known::Te), None);
        // A byte a slot, and the tag.
        assert!(std::mem::size_of::<HeadersIn>() <= Known::COUNT + 8);
    }
}
