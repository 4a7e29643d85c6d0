//! What rginx is and which nginx it answers as: the names and versions every layer prints
//! (the version line, `Server:`, `$nginx_version`, the master's start line). A leaf: it
//! imports nothing, so the app, the master and the runtime can all name it.

/// The program name in messages (`rginx: [emerg] ...`).
pub const PROGRAM: &str = "rginx";

/// rginx's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The nginx version rginx follows, for `$nginx_version`, `Server:` and error pages.
pub const NGINX_VERSION: &str = "1.22.1";
