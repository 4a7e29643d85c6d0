//! Lints: configurations nginx accepts that probably do not do what was meant.
//!
//! Each lint has a stable code, says why it matters and how to fix it. Location-level lints
//! run while the http block is lowered (they need the spans of the settings and the merged
//! values side by side); [`run`] holds the whole-configuration ones.

use super::load::Loader;
use crate::ir::Http;

/// Lints over the whole configuration.
pub fn run(_l: &mut Loader, _http: Option<&Http>) {}
