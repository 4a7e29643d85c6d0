//! `map` blocks (S8): compiled lookup tables evaluated lazily per request.

use std::collections::HashMap;

use super::regex::Regex;
use super::var::Template;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Map {
    /// The `$name` the map defines (for messages).
    pub name: Box<str>,
    /// The source value (`$http_upgrade`, `"$scheme:$host"`).
    pub source: Template,
    /// Exact keys, lowercased (nginx compares them case-insensitively).
    pub exact: HashMap<Box<[u8]>, Template>,
    /// With `hostnames`: `*.example.com` / `.example.com` keys, as reversed-label suffixes.
    pub wildcard_head: Vec<(Box<[u8]>, Template)>,
    /// With `hostnames`: `www.*` keys, as prefixes (with the dot).
    pub wildcard_tail: Vec<(Box<[u8]>, Template)>,
    pub regexes: Vec<(Regex, Template)>,
    pub default: Option<Template>,
    pub hostnames: bool,
    pub volatile: bool,
}
