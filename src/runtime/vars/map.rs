//! `map` (S8): a map's value, looked up once per request and cached (unless `volatile`),
//! with nginx's key order (exact, wildcards for `hostnames`, regexes in order, default).

use std::sync::Arc;

use crate::ir::{Level, Map, Template};
use crate::runtime::state::captures::Captures;
use crate::runtime::state::log;
use crate::runtime::state::request::{MapSlot, Request};
use crate::runtime::state::snapshot::Snapshot;

impl Request {
    /// S8.2–S8.5: a map's value, evaluated once per request (unless `volatile`).
    pub(super) fn map(&mut self, i: usize, out: &mut Vec<u8>) -> bool {
        let snap: Arc<Snapshot> = Arc::clone(&self.snap);
        let map: &Map = &snap.http().maps[i];
        if !map.volatile && !self.maps.is_empty() {
            match &self.maps[i] {
                MapSlot::Value(v) => {
                    return match v {
                        Some(v) => {
                            out.extend_from_slice(v);
                            true
                        }
                        None => false,
                    }
                }
                MapSlot::Busy => {
                    self.log_error_cycle(&map.name);
                    return false;
                }
                MapSlot::Unset => {}
            }
        } else if matches!(self.maps.get(i), Some(MapSlot::Busy)) {
            self.log_error_cycle(&map.name);
            return false;
        }
        if self.maps.is_empty() {
            self.maps.resize(snap.http().maps.len(), MapSlot::Unset);
        }
        self.maps[i] = MapSlot::Busy;
        let source = self.eval_vec(&map.source);
        let value = match lookup(map, &source) {
            Found::Value(t) => {
                let mut v = Vec::new();
                self.eval(t, &mut v);
                Some(v)
            }
            Found::Regex(re, t) => {
                // nginx's map regexes set the request's captures, as any regex match does.
                if let Some(caps) = Captures::from_regex(re, &source) {
                    self.matched(caps);
                }
                let mut v = Vec::new();
                self.eval(t, &mut v);
                Some(v)
            }
            Found::Default => Some(Vec::new()),
        };
        out.extend_from_slice(value.as_deref().unwrap_or(b""));
        self.maps[i] = if map.volatile {
            MapSlot::Unset
        } else {
            MapSlot::Value(value.clone())
        };
        value.is_some()
    }

    fn log_error_cycle(&self, name: &str) {
        log::error(
            self,
            Level::Error,
            format_args!("cycle while evaluating variable \"{name}\""),
        );
    }
}

pub(super) enum Found<'m> {
    Value(&'m Template),
    Regex(&'m crate::ir::regex::Regex, &'m Template),
    Default,
}

/// The map entry for `source` (S8.2).
pub(super) fn lookup<'m>(map: &'m Map, source: &[u8]) -> Found<'m> {
    let mut key: &[u8] = source;
    if map.hostnames {
        key = key.strip_suffix(b".").unwrap_or(key);
    }
    let lower = key.to_ascii_lowercase();
    if let Some(t) = map.exact.get(&lower[..]) {
        return Found::Value(t);
    }
    if key.is_empty() {
        // An empty value never tries wildcards or regexes.
        return default(map);
    }
    if map.hostnames {
        for (suffix, t) in &map.wildcard_head {
            if lower.len() > suffix.len() && lower.ends_with(suffix) {
                return Found::Value(t);
            }
        }
        for (prefix, t) in &map.wildcard_tail {
            if lower.len() > prefix.len() && lower.starts_with(prefix) {
                return Found::Value(t);
            }
        }
    }
    for (re, t) in &map.regexes {
        if re.re.is_match(source) {
            return Found::Regex(re, t);
        }
    }
    default(map)
}

fn default(map: &Map) -> Found<'_> {
    match &map.default {
        Some(t) => Found::Value(t),
        None => Found::Default,
    }
}
