//! The shape of the directive table and the lookups nginx's `ngx_conf_handler` makes with it:
//! is the name known, is it allowed in this context, does it take a block, is the number of
//! arguments right. The rows themselves live in [`super::directives`].
//!
//! Contexts and argument counts use nginx's own flag layout, so a row reads like the
//! `ngx_command_t` it was taken from and the checks are nginx's, bit for bit.

use rustc_hash::FxHashMap as HashMap;
use std::sync::OnceLock;

use super::directives::DIRECTIVES;

// Contexts (nginx's `NGX_*_CONF`), one bit each.
pub const MAIN: u32 = 1 << 0;
pub const EVENTS: u32 = 1 << 1;
pub const HTTP: u32 = 1 << 2;
pub const SRV: u32 = 1 << 3;
pub const LOC: u32 = 1 << 4;
pub const UPS: u32 = 1 << 5;
pub const SIF: u32 = 1 << 6;
pub const LIF: u32 = 1 << 7;
pub const LMT: u32 = 1 << 8;
pub const MAIL: u32 = 1 << 9;
pub const MAIL_SRV: u32 = 1 << 10;
pub const STREAM: u32 = 1 << 11;
pub const STREAM_SRV: u32 = 1 << 12;
pub const STREAM_UPS: u32 = 1 << 13;
/// `include`: allowed everywhere directives are.
pub const ANY: u32 = (1 << 14) - 1;

// Argument counts (nginx's `NGX_CONF_*` argument flags); bit n = n arguments accepted.
pub const NOARGS: u32 = 1 << 0;
pub const TAKE1: u32 = 1 << 1;
pub const TAKE2: u32 = 1 << 2;
pub const TAKE3: u32 = 1 << 3;
pub const TAKE4: u32 = 1 << 4;
pub const TAKE5: u32 = 1 << 5;
pub const TAKE6: u32 = 1 << 6;
pub const TAKE7: u32 = 1 << 7;
pub const TAKE12: u32 = TAKE1 | TAKE2;
pub const TAKE13: u32 = TAKE1 | TAKE3;
pub const TAKE23: u32 = TAKE2 | TAKE3;
pub const TAKE123: u32 = TAKE1 | TAKE2 | TAKE3;
pub const TAKE1234: u32 = TAKE1 | TAKE2 | TAKE3 | TAKE4;
pub const BLOCK: u32 = 1 << 8;
pub const FLAG: u32 = 1 << 9;
pub const ANY_ARGS: u32 = 1 << 10;
pub const MORE1: u32 = 1 << 11;
pub const MORE2: u32 = 1 << 12;

/// nginx's `NGX_CONF_MAX_ARGS`.
pub const MAX_ARGS: usize = 8;

/// How nginx reads a directive's value, when it uses one of its generic slots. Ignored and
/// inert directives are checked by this kind, so a bad value fails `-t` as it does in nginx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `on` or `off`.
    Flag,
    /// A time in milliseconds (S1.14).
    Msec,
    /// A time in seconds.
    Sec,
    /// A size (`k`, `m`).
    Size,
    /// An offset (`k`, `m`, `g`).
    Off,
    /// A non-negative number.
    Num,
    /// Any string.
    Str,
    /// One of these words.
    Enum(&'static [&'static str]),
    /// Any of these words, at least one.
    Bitmask(&'static [&'static str]),
    /// `number size`.
    Bufs,
    /// A path and optional levels.
    Path,
    /// `key value`.
    KeyVal,
    /// Strings, accumulated.
    StrArray,
    /// An obsolete directive nginx accepts with a warning naming its replacement.
    Obsolete(&'static str),
    /// A handler of its own; checked only by the lowering code that implements it.
    Custom,
}

/// What rginx does with a directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Lowered into the IR with full argument checking, and executed.
    Implemented,
    /// Process or performance tuning that cannot change what a client or an upstream sees:
    /// checked like nginx checks it, then listed in the `-t` report.
    Ignored,
    /// Tuning of a feature rginx does not do (named here); it has no effect unless that
    /// feature is switched on, which rginx refuses, so it is accepted.
    Inert(&'static str),
    /// Changes behaviour and rginx does not do it: an error, unless the value is one of these
    /// (nginx's default, which changes nothing).
    Unsupported(&'static [&'static str]),
}

/// Where the directive comes from in Debian's nginx 1.22.1 build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// Compiled in.
    Static,
    /// Known only after `load_module` of this file.
    Dynamic(&'static str),
    /// A dynamic module in Debian's build (this file) that rginx has built in, as nginx
    /// builds that configure with it statically (the noVNC images' nginx has `stream`
    /// without a `load_module`): its directives are known either way, and a `load_module`
    /// of the file is accepted.
    Builtin(&'static str),
    /// Not compiled into Debian's nginx: nginx says `unknown directive`.
    Absent,
    /// Not in nginx 1.22.1 but in the later nginx named (`http2 on`, 1.25.1): rginx accepts
    /// it, so that configurations written for newer nginx run too.
    Newer(&'static str),
    /// From a third-party module (named) that the configurations rginx serves are built
    /// with (`websockify_pass`: noVNC images build nginx with tg123/websockify-nginx-module).
    /// Debian's nginx says `unknown directive`; rginx has the module built in.
    ThirdParty(&'static str),
}

/// One row of the directive table.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub name: &'static str,
    pub module: &'static str,
    /// Contexts, as the `MAIN`…`STREAM_UPS` bits.
    pub contexts: u32,
    /// Argument count flags, as nginx's `NGX_CONF_*` bits (and `BLOCK`).
    pub args: u32,
    pub kind: Kind,
    pub support: Support,
    pub build: Build,
}

/// A row of the table (used by [`super::directives`]).
pub const fn d(
    name: &'static str,
    module: &'static str,
    contexts: u32,
    args: u32,
    kind: Kind,
    support: Support,
    build: Build,
) -> Spec {
    Spec {
        name,
        module,
        contexts,
        args,
        kind,
        support,
        build,
    }
}

impl Spec {
    pub fn is_block(&self) -> bool {
        self.args & BLOCK != 0
    }

    /// nginx's argument count check (`ngx_conf_handler`); `n` excludes the name.
    pub fn accepts_arg_count(&self, n: usize) -> bool {
        let t = self.args;
        if t & ANY_ARGS != 0 {
            return true;
        }
        if t & FLAG != 0 {
            return n == 1;
        }
        if t & MORE1 != 0 {
            return n >= 1;
        }
        if t & MORE2 != 0 {
            return n >= 2;
        }
        if n >= MAX_ARGS {
            return false;
        }
        t & (1 << n) != 0
    }

    /// The arity as nginx's documentation writes it, for the generated table.
    pub fn arity_text(&self) -> String {
        let t = self.args;
        if t & ANY_ARGS != 0 {
            return "any".into();
        }
        if t & FLAG != 0 {
            return "on|off".into();
        }
        if t & MORE1 != 0 {
            return "1+".into();
        }
        if t & MORE2 != 0 {
            return "2+".into();
        }
        let counts: Vec<String> = (0..MAX_ARGS)
            .filter(|n| t & (1 << n) != 0)
            .map(|n| n.to_string())
            .collect();
        counts.join(",")
    }
}

/// Names of the context bits, as nginx's documentation calls the contexts.
pub fn context_names(bits: u32) -> Vec<&'static str> {
    const NAMES: &[(u32, &str)] = &[
        (MAIN, "main"),
        (EVENTS, "events"),
        (HTTP, "http"),
        (SRV, "server"),
        (LOC, "location"),
        (UPS, "upstream"),
        (SIF, "if in server"),
        (LIF, "if in location"),
        (LMT, "limit_except"),
        (MAIL, "mail"),
        (MAIL_SRV, "mail server"),
        (STREAM, "stream"),
        (STREAM_SRV, "stream server"),
        (STREAM_UPS, "stream upstream"),
    ];
    if bits == ANY {
        return vec!["any"];
    }
    NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// Every row, in table order.
pub fn all() -> &'static [Spec] {
    DIRECTIVES
}

fn index() -> &'static HashMap<&'static [u8], Vec<&'static Spec>> {
    static INDEX: OnceLock<HashMap<&'static [u8], Vec<&'static Spec>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map: HashMap<&'static [u8], Vec<&'static Spec>> = HashMap::default();
        for spec in DIRECTIVES {
            map.entry(spec.name.as_bytes()).or_default().push(spec);
        }
        map
    })
}

/// The rows for a directive name (several modules may define the same name, e.g. `server`
/// in http, upstream, mail and stream). Names match case-sensitively, as in nginx.
pub fn lookup(name: &[u8]) -> &'static [&'static Spec] {
    index().get(name).map(Vec::as_slice).unwrap_or(&[])
}

/// The outcome of looking a directive up where it stands.
pub enum Found {
    /// A row that is allowed in this context.
    Allowed(&'static Spec),
    /// Known, but not in this context (nginx: `"x" directive is not allowed here`).
    NotAllowed(&'static Spec),
    /// Not known (nginx: `unknown directive "x"`).
    Unknown,
}

/// Finds the row nginx would use for `name` in `context`, honouring which dynamic modules
/// were loaded with `load_module`.
pub fn find(name: &[u8], context: u32, loaded: &dyn Fn(&str) -> bool) -> Found {
    let mut seen: Option<&'static Spec> = None;
    for spec in lookup(name) {
        let present = match spec.build {
            Build::Static | Build::Newer(_) | Build::ThirdParty(_) | Build::Builtin(_) => true,
            Build::Dynamic(so) => loaded(so),
            Build::Absent => false,
        };
        if !present {
            continue;
        }
        if spec.contexts & context != 0 {
            return Found::Allowed(spec);
        }
        seen.get_or_insert(spec);
    }
    match seen {
        Some(spec) => Found::NotAllowed(spec),
        None => Found::Unknown,
    }
}

/// The closest known names to a misspelt one, preferring those allowed in `context`.
pub fn suggest(name: &[u8], context: u32) -> Option<&'static str> {
    let name = std::str::from_utf8(name).ok()?;
    let mut best: Option<(f64, &'static str)> = None;
    for spec in DIRECTIVES {
        // A name more than a few bytes longer or shorter is never the one meant.
        if spec.build == Build::Absent || spec.name.len().abs_diff(name.len()) > 3 {
            continue;
        }
        let mut score = strsim::jaro_winkler(name, spec.name);
        if spec.contexts & context == 0 {
            score -= 0.1;
        }
        if score > 0.88 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, spec.name));
        }
    }
    // Case mistakes (`LISTEN`) are the commonest of all.
    if let Some(spec) = DIRECTIVES
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name) && s.name != name)
    {
        return Some(spec.name);
    }
    best.map(|(_, n)| n)
}

/// nginx's `configure arguments:` line, honest about rginx: the paths rginx was built with,
/// `--with-*` for each optional module of nginx's `configure` that rginx implements
/// (directives of that module in the table are implemented), and `--without-*` for each module
/// nginx builds by default of which rginx implements nothing. Tools read this line
/// (certbot looks for ` --with-http_ssl_module`; scripts look for `--conf-path=`).
pub fn configure_arguments() -> String {
    use crate::config::defaults;
    let implemented = |m: &str| {
        DIRECTIVES
            .iter()
            .any(|s| s.module == m && s.support == Support::Implemented)
    };
    let mut args = vec![
        format!("--prefix={}", defaults::PREFIX.trim_end_matches('/')),
        format!("--conf-path={}", defaults::CONF_PATH),
        format!("--http-log-path={}", defaults::HTTP_LOG_PATH),
        format!("--error-log-path={}", defaults::ERROR_LOG_PATH),
        format!("--pid-path={}", defaults::PID_PATH),
        format!(
            "--http-client-body-temp-path={}",
            defaults::CLIENT_BODY_TEMP_PATH
        ),
    ];
    for (switch, module) in OPTIONAL_MODULES {
        if implemented(module) {
            args.push(format!("--with-{switch}"));
        }
    }
    for (switch, module) in DEFAULT_MODULES {
        if !implemented(module) {
            args.push(format!("--without-{switch}"));
        }
    }
    // Third-party modules rginx has built in, as nginx names a module added at build time.
    let mut third: Vec<&str> = DIRECTIVES
        .iter()
        .filter_map(|s| match s.build {
            Build::ThirdParty(m) if s.support == Support::Implemented => Some(m),
            _ => None,
        })
        .collect();
    third.dedup();
    for m in third {
        args.push(format!("--add-module={m}"));
    }
    // The cache lives in the proxy module; its switch is on when `proxy_cache` is.
    if DIRECTIVES
        .iter()
        .any(|s| s.name == "proxy_cache" && s.support != Support::Implemented)
    {
        args.push("--without-http-cache".into());
    }
    args.join(" ")
}

/// nginx's `configure` switches for modules it leaves out unless asked (`--with-X`), and the
/// module each one builds, as named in the directive table.
const OPTIONAL_MODULES: &[(&str, &str)] = &[
    ("http_ssl_module", "ngx_http_ssl_module"),
    ("http_v2_module", "ngx_http_v2_module"),
    ("http_realip_module", "ngx_http_realip_module"),
    ("http_addition_module", "ngx_http_addition_module"),
    ("http_sub_module", "ngx_http_sub_filter_module"),
    ("http_dav_module", "ngx_http_dav_module"),
    ("http_flv_module", "ngx_http_flv_module"),
    ("http_mp4_module", "ngx_http_mp4_module"),
    ("http_gunzip_module", "ngx_http_gunzip_filter_module"),
    ("http_gzip_static_module", "ngx_http_gzip_static_module"),
    ("http_auth_request_module", "ngx_http_auth_request_module"),
    ("http_random_index_module", "ngx_http_random_index_module"),
    ("http_secure_link_module", "ngx_http_secure_link_module"),
    ("http_degradation_module", "ngx_http_degradation_module"),
    ("http_slice_module", "ngx_http_slice_filter_module"),
    ("http_stub_status_module", "ngx_http_stub_status_module"),
    ("http_geoip_module", "ngx_http_geoip_module"),
    ("http_image_filter_module", "ngx_http_image_filter_module"),
    ("http_xslt_module", "ngx_http_xslt_filter_module"),
    ("http_perl_module", "ngx_http_perl_module"),
    ("mail", "ngx_mail_core_module"),
    ("stream", "ngx_stream_core_module"),
    ("stream_ssl_module", "ngx_stream_ssl_module"),
];

/// nginx's `configure` switches for modules it builds unless told not to (`--without-X`).
const DEFAULT_MODULES: &[(&str, &str)] = &[
    ("http_charset_module", "ngx_http_charset_filter_module"),
    ("http_gzip_module", "ngx_http_gzip_filter_module"),
    ("http_ssi_module", "ngx_http_ssi_filter_module"),
    ("http_userid_module", "ngx_http_userid_filter_module"),
    ("http_access_module", "ngx_http_access_module"),
    ("http_auth_basic_module", "ngx_http_auth_basic_module"),
    ("http_mirror_module", "ngx_http_mirror_module"),
    ("http_autoindex_module", "ngx_http_autoindex_module"),
    ("http_geo_module", "ngx_http_geo_module"),
    ("http_map_module", "ngx_http_map_module"),
    ("http_split_clients_module", "ngx_http_split_clients_module"),
    ("http_referer_module", "ngx_http_referer_module"),
    ("http_rewrite_module", "ngx_http_rewrite_module"),
    ("http_proxy_module", "ngx_http_proxy_module"),
    ("http_fastcgi_module", "ngx_http_fastcgi_module"),
    ("http_uwsgi_module", "ngx_http_uwsgi_module"),
    ("http_scgi_module", "ngx_http_scgi_module"),
    ("http_grpc_module", "ngx_http_grpc_module"),
    ("http_memcached_module", "ngx_http_memcached_module"),
    ("http_limit_conn_module", "ngx_http_limit_conn_module"),
    ("http_limit_req_module", "ngx_http_limit_req_module"),
    ("http_empty_gif_module", "ngx_http_empty_gif_module"),
    ("http_browser_module", "ngx_http_browser_module"),
    ("http_upstream_hash_module", "ngx_http_upstream_hash_module"),
    (
        "http_upstream_ip_hash_module",
        "ngx_http_upstream_ip_hash_module",
    ),
    (
        "http_upstream_least_conn_module",
        "ngx_http_upstream_least_conn_module",
    ),
    (
        "http_upstream_random_module",
        "ngx_http_upstream_random_module",
    ),
    (
        "http_upstream_keepalive_module",
        "ngx_http_upstream_keepalive_module",
    ),
    ("http_upstream_zone_module", "ngx_http_upstream_zone_module"),
];

/// The directive table as Markdown (`grammar/directives.md`), one section per module.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Directives\n\n\
         Generated from rginx's directive table (`src/config/directives.rs`); a test keeps this file \
         in sync (`RGINX_BLESS=1 cargo test --test grammar` rewrites it). Every directive of stock \
         nginx 1.22.1 and of the modules Debian builds dynamically is listed, with the contexts \
         and argument counts nginx enforces.\n\n\
         Support levels:\n\n\
         - **implemented**: lowered into rginx's IR with full argument checking, and executed.\n\
         - **ignored**: process or performance tuning that cannot change what a client or an \
         upstream sees; checked like nginx checks it and listed in the `-t` report.\n\
         - **inert (F)**: tunes feature F, which rginx does not do and which is not switched on; \
         accepted, listed in the `-t` report.\n\
         - **not supported**: changes behaviour and rginx does not do it: `-t` fails with \
         `\"x\" directive is not supported by rginx`. A value in brackets is nginx's default, \
         which changes nothing and is accepted.\n\n\
         Build: *dynamic* directives exist only after `load_module` of the named file; *absent* \
         ones are not compiled into Debian's nginx, so nginx (and rginx) say `unknown directive`; \
         *third-party* ones are from a module the configurations rginx serves are built with, \
         which Debian's nginx lacks and rginx has built in.\n\n",
    );
    let mut modules: Vec<&str> = DIRECTIVES.iter().map(|s| s.module).collect();
    modules.sort_unstable();
    modules.dedup();
    for m in modules {
        out.push_str(&format!("## {m}\n\n| directive | contexts | arguments | support | build |\n|---|---|---|---|---|\n"));
        for s in DIRECTIVES.iter().filter(|s| s.module == m) {
            let support = match s.support {
                Support::Implemented => "implemented".to_string(),
                Support::Ignored => "ignored".to_string(),
                Support::Inert(f) => format!("inert ({f})"),
                Support::Unsupported([]) => "not supported".to_string(),
                Support::Unsupported(ok) => format!("not supported [{}]", ok.join(", ")),
            };
            let build = match s.build {
                Build::Static => "static".to_string(),
                Build::Dynamic(so) => format!("dynamic ({so})"),
                Build::Builtin(so) => format!("built in (Debian: {so})"),
                Build::Absent => "absent".to_string(),
                Build::Newer(v) => format!("nginx {v}+"),
                Build::ThirdParty(m) => format!("third-party ({m})"),
            };
            let args = if s.is_block() {
                format!("{} + block", s.arity_text())
            } else {
                s.arity_text()
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                s.name,
                context_names(s.contexts).join(", "),
                args,
                support,
                build
            ));
        }
        out.push('\n');
    }
    out
}

/// The implemented directives of the main, events and http contexts, comma-separated, for
/// the README.
pub fn implemented_list() -> String {
    implemented_of(|m| !m.starts_with("ngx_mail") && !m.starts_with("ngx_stream"))
}

/// The implemented directives of the stream module, for the README.
pub fn implemented_stream_list() -> String {
    implemented_of(|m| m.starts_with("ngx_stream"))
}

fn implemented_of(module: impl Fn(&str) -> bool) -> String {
    let mut names: Vec<&str> = DIRECTIVES
        .iter()
        .filter(|s| {
            s.support == Support::Implemented && s.build != Build::Absent && module(s.module)
        })
        .map(|s| s.name)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closest of `candidates` to a misspelt word (parameters, values).
pub fn suggest_word(word: &[u8], candidates: &[&'static str]) -> Option<&'static str> {
    let word = std::str::from_utf8(word).ok()?;
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c.trim_end_matches('=')), *c))
        .filter(|(s, _)| *s > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arity_follows_nginx() {
        let listen = lookup(b"listen")[0];
        assert!(!listen.accepts_arg_count(0));
        assert!(listen.accepts_arg_count(1));
        assert!(listen.accepts_arg_count(12));
        let flag = lookup(b"proxy_buffering")[0];
        assert!(flag.accepts_arg_count(1));
        assert!(!flag.accepts_arg_count(2));
        let psh = lookup(b"proxy_set_header")[0];
        assert!(psh.accepts_arg_count(2));
        assert!(!psh.accepts_arg_count(1));
        assert!(!psh.accepts_arg_count(3));
    }

    #[test]
    fn names_in_several_modules_are_found_by_context() {
        let loaded = |_: &str| false;
        assert!(matches!(find(b"server", HTTP, &loaded), Found::Allowed(s) if s.is_block()));
        assert!(matches!(find(b"server", UPS, &loaded), Found::Allowed(s) if !s.is_block()));
        assert!(matches!(
            find(b"proxy_pass", SRV, &loaded),
            Found::NotAllowed(_)
        ));
        assert!(matches!(find(b"proxy_passs", LOC, &loaded), Found::Unknown));
        // Dynamic modules exist only once loaded.
        assert!(matches!(find(b"mail", MAIN, &loaded), Found::Unknown));
        let mail = |so: &str| so == "ngx_mail_module.so";
        assert!(matches!(find(b"mail", MAIN, &mail), Found::Allowed(_)));
        // Modules Debian does not build are unknown, as in nginx.
        assert!(matches!(
            find(b"kqueue_events", EVENTS, &loaded),
            Found::Unknown
        ));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest(b"proxy_passs", LOC), Some("proxy_pass"));
        assert_eq!(suggest(b"LISTEN", SRV), Some("listen"));
        assert_eq!(suggest(b"zzzzzz", SRV), None);
    }

    #[test]
    fn configure_arguments_name_real_modules_and_say_what_rginx_lacks() {
        for (_, m) in OPTIONAL_MODULES.iter().chain(DEFAULT_MODULES) {
            assert!(
                DIRECTIVES.iter().any(|s| s.module == *m),
                "{m} is not in the directive table"
            );
        }
        let args = configure_arguments();
        for present in [
            " --with-http_ssl_module",
            " --with-http_v2_module",
            " --without-http_fastcgi_module",
            " --without-http_limit_req_module",
            " --without-http-cache",
            "--conf-path=",
            // The stream module is built in (Debian builds it as a dynamic module).
            " --with-stream ",
            " --with-stream_ssl_module",
        ] {
            assert!(args.contains(present), "{present} missing from {args}");
        }
        // Implemented modules are never switched off, and there is no switch for modules
        // nginx always builds.
        for absent in [
            "--without-http_proxy_module",
            "--without-http_map_module",
            "--without-http_rewrite_module",
            "--with-http_core_module",
            "--without-regex_module",
            "--with-mail",
        ] {
            assert!(!args.contains(absent), "{absent} in {args}");
        }
    }
}
