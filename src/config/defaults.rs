//! Defaults of Debian's nginx build (prefix, paths, user), overridable when rginx is built
//! through `RGINX_*` environment variables.
//!
//! A leaf: constants only, read by the main context, the log and location lowering, the
//! `configure arguments:` line and the command line, none of which it knows.

pub const PREFIX: &str = match option_env!("RGINX_PREFIX") {
    Some(p) => p,
    None => "/usr/share/nginx/",
};
pub const CONF_PATH: &str = match option_env!("RGINX_CONF_PATH") {
    Some(p) => p,
    None => "/etc/nginx/nginx.conf",
};
pub const PID_PATH: &str = match option_env!("RGINX_PID_PATH") {
    Some(p) => p,
    None => "/run/nginx.pid",
};
/// Where errors go before (and unless) `error_log` says otherwise.
pub const ERROR_LOG_PATH: &str = match option_env!("RGINX_ERROR_LOG_PATH") {
    Some(p) => p,
    None => "stderr",
};
/// Who the workers run as when started as root with no `user` directive.
pub const USER: &str = match option_env!("RGINX_USER") {
    Some(u) => u,
    None => "nobody",
};
pub const GROUP: &str = match option_env!("RGINX_GROUP") {
    Some(g) => g,
    None => "nogroup",
};
/// Where request bodies go when `client_body_temp_path` is not set.
pub const CLIENT_BODY_TEMP_PATH: &str = match option_env!("RGINX_CLIENT_BODY_TEMP_PATH") {
    Some(p) => p,
    None => "/var/lib/nginx/body",
};
/// The access log of a server that names none.
pub const HTTP_LOG_PATH: &str = match option_env!("RGINX_HTTP_LOG_PATH") {
    Some(p) => p,
    None => "/var/log/nginx/access.log",
};
