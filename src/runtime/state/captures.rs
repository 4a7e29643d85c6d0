//! Regex captures (`$1`..`$9` and named groups): what the last successful match of a
//! location, `rewrite`, `if`, `map` or `server_name` regex leaves on the request.

use std::sync::Arc;

/// Regex captures of the last match: numbered groups as byte ranges of the subject, and the
/// group names of the regex that matched.
#[derive(Clone, Debug, Default)]
pub struct Captures {
    /// The subject the ranges index into.
    pub subject: Vec<u8>,
    /// Group 0 (the whole match) first; `None` for groups that did not participate.
    pub groups: Vec<Option<(usize, usize)>>,
    /// Group names by index (shared with the regex).
    pub names: Option<Arc<[Option<Arc<str>>]>>,
}

impl Captures {
    /// Matches `re` against `subject`, keeping the groups.
    pub fn from_regex(re: &crate::ir::regex::Regex, subject: &[u8]) -> Option<Captures> {
        let caps = re.re.captures(subject)?;
        Some(Captures {
            subject: subject.to_vec(),
            groups: (0..caps.len())
                .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                .collect(),
            names: Some(re.names.clone()),
        })
    }

    /// `$n`.
    pub fn numbered(&self, n: usize) -> Option<&[u8]> {
        self.groups
            .get(n)
            .copied()
            .flatten()
            .map(|(a, b)| &self.subject[a..b])
    }

    /// `$name`.
    pub fn named(&self, name: &str) -> Option<&[u8]> {
        let names = self.names.as_ref()?;
        let i = names.iter().position(|n| n.as_deref() == Some(name))?;
        self.numbered(i)
    }
}
