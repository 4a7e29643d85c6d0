//! A regular expression compiled at load time (locations, server names, maps).

use std::sync::Arc;

/// A compiled regex, with the pattern as written for logs and `$server_name`.
#[derive(Clone, Debug)]
pub struct Regex {
    /// Shared: a compiled regex is used by every location that writes the same pattern.
    pub re: Arc<regex::bytes::Regex>,
    /// The pattern as written in the configuration (without `~`/`~*`).
    pub pattern: Arc<str>,
    pub caseless: bool,
    /// Capture group names by index (index 0 is the whole match).
    pub names: Arc<[Option<Arc<str>>]>,
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.pattern == other.pattern && self.caseless == other.caseless
    }
}

impl Eq for Regex {}
