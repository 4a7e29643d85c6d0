//! Differential tests of static files: nginx 1.22.1 and rginx serve the same directory tree
//! (built in the test's prefix at run time) with the same nginx.conf, get the same raw
//! requests, and must answer byte for byte alike; the access-log lines and the error-log lines
//! (`[warn]` and worse) must match too. The harness is `common/diff.rs` (the one
//! `differential.rs` uses): only `Date:` and the version in `nginx/1.22.1` are normalised.
//! Each case also checks what nginx itself does, so that a case asserts real behaviour.
//!
//! Section 15 of `/work/shared/docs/nginx-semantics.md` lists `root`, `index`, `try_files`
//! and friends in a table without numbered rules. The cases here name these rules of that
//! section (from nginx's `ngx_http_static_module.c`, `ngx_http_index_module.c`,
//! `ngx_http_try_files_module.c`, `ngx_http_core_module.c`,
//! `ngx_http_not_modified_filter_module.c` and `ngx_http_range_filter_module.c`, and observed
//! on nginx 1.22.1):
//!
//! - S15.1 `root`/`alias`: the file is `root` + the normalised `$uri`; `alias` replaces the
//!   location's prefix; in a regex location `alias` (with captures) is the whole file name.
//!   Relative paths are under the prefix.
//! - S15.2 `index`: names tried in order (variables evaluated), the first that exists is an
//!   internal redirect; an absolute name redirects at once; none: 403 `directory index of
//!   "..." is forbidden`; a missing directory 404.
//! - S15.3 `try_files`: files, `$uri/` for directories, `=code`, `@named`, and a last
//!   element that is a URI (with its own arguments).
//! - S15.4 `types`, `include mime.types`, `default_type`, the extension as nginx finds it.
//! - S15.5 a directory without the trailing slash: 301, `Location` escaped, with the
//!   arguments, made absolute as S13.6 says (`absolute_redirect`, `server_name_in_redirect`,
//!   `port_in_redirect`).
//! - S15.6 errors: 404 for a missing file or a path that cannot exist, 403 for a symbolic-link
//!   loop, 404 for what is not a regular file, 405 for other methods than GET/HEAD (and POST
//!   to a file), nginx's pages and log lines.
//! - S15.7 `ETag` (`"MTIME-SIZE"` in hex) and `Last-Modified`; `etag off`.
//! - S15.8 conditional requests: `If-Modified-Since` (`if_modified_since exact|before|off`),
//!   `If-None-Match`, `If-Match` and `If-Unmodified-Since` (412, connection closed).
//! - S15.9 byte ranges: one range, several (`multipart/byteranges`), 416 with
//!   `Content-Range: bytes */LEN`, `If-Range`, `max_ranges`, `Accept-Ranges: bytes`.
//! - S15.10 safety: hostile request targets (`..`, encoded dots and slashes, double encoding,
//!   NUL, backslashes, long names) never reach a file outside `root`; symbolic links are
//!   followed as nginx does by default (`disable_symlinks off`), and an `alias` whose
//!   location lacks the trailing slash climbs one level as it does in nginx (rginx's `-t`
//!   warns about that configuration).
//! - S15.11 the noVNC tree (`/usr/share/novnc`, Debian's package) served with Debian's
//!   `mime.types`, every file.
//!
//! The tests run as root in CI, where permission bits do not stop a read: `EACCES` cases
//! (403 for an unreadable file) cannot be built and are not here.
//!
//! Run: `cargo test --test static_files` (`RGINX_DIFF_ONLY=nginx` and `RGINX_DIFF_SHOW=1`
//! work as in `differential.rs`).

mod common;
#[path = "common/diff.rs"]
mod diff;

use diff::*;

use std::path::Path;
use std::time::{Duration, SystemTime};

/// The modification time of every file in the tree: Tue, 14 Nov 2023 22:13:20 GMT.
const MTIME: u64 = 1_700_000_000;
const MTIME_HTTP: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
/// `a.txt`: 36 bytes.
const ALPHABET: &str = "0123456789abcdefghijklmnopqrstuvwxyz";
/// `a.txt`'s ETag: MTIME and size in hex.
const ETAG: &str = "\"6553f100-24\"";
/// The size of `big.bin`: several of rginx's 64 KiB reads.
const BIG: usize = 300_000;
const NOVNC: &str = "/usr/share/novnc";
const MIME_TYPES: &str = "/etc/nginx/mime.types";

/// `METHOD path HTTP/1.1` with `Host: static.test`, extra header lines and `Connection: close`.
fn req(method: &str, path: &str, headers: &[&str]) -> Vec<u8> {
    let mut s = format!("{method} {path} HTTP/1.1\r\nHost: static.test\r\n");
    for h in headers {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("Connection: close\r\n\r\n");
    s.into_bytes()
}

fn g(path: &str) -> Vec<u8> {
    req("GET", path, &[])
}

/// A case that sends `request` and expects `status` from nginx.
fn status(name: impl Into<String>, rules: Rules, request: Vec<u8>, want: u16) -> Case {
    Case::new(name, rules, request).expect(move |o| assert_eq!(o.status(), want))
}

/// The bytes of `big.bin`.
fn big() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

/// Sets the modification time of every file under `dir` (links are left alone).
fn set_mtimes(dir: &Path) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME);
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            set_mtimes(&e.path());
        } else if ft.is_file() {
            let f = std::fs::File::options().write(true).open(e.path()).unwrap();
            f.set_modified(t).unwrap();
        }
    }
}

// ==========================================================================================
// The tree and the configuration
// ==========================================================================================

/// The files under the prefix: `www/` is the root; `secret.txt` and `outside/` are beside it,
/// where no request may reach except through the links `setup` makes.
fn tree(_: &Env) -> Vec<(String, Vec<u8>)> {
    let f = |p: &str, b: &str| (p.to_string(), b.as_bytes().to_vec());
    vec![
        f("secret.txt", "secret\n"),
        f("outside/s.txt", "outside\n"),
        f("www/index.html", "<html>home</html>\n"),
        f("www/a.txt", ALPHABET),
        f("www/UPPER.TXT", "upper\n"),
        f("www/.htaccess", "hidden\n"),
        f("www/noext", "noext\n"),
        f("www/f.tar.gz", "gz\n"),
        f("www/x.JS", "js\n"),
        f("www/x.svg", "<svg/>\n"),
        f("www/empty.txt", ""),
        ("www/big.bin".into(), big()),
        f("www/sp ace.txt", "space\n"),
        f("www/pct%41.txt", "percent\n"),
        f("www/back\\slash.txt", "backslash\n"),
        f("www/q?x.txt", "question\n"),
        f("www/h#x.txt", "hash\n"),
        f("www/\u{e9}.txt", "e acute\n"),
        f("www/q?d/index.html", "question dir\n"),
        f("www/\u{e9}/index.html", "e acute dir\n"),
        f("www/pct%d/index.html", "percent dir\n"),
        f("www/custom404.html", "<p>custom 404</p>\n"),
        f("www/dir/index.html", "dir index\n"),
        f("www/dir/b.txt", "b\n"),
        f("www/dir/sub/index.html", "sub index\n"),
        f("www/sp dir/index.html", "sp dir index\n"),
        f("www/empty/x.txt", "x\n"),
        f("www/idx/index.htm", "htm\n"),
        f("www/idx/other.html", "other\n"),
        f("www/idx-abs/x.txt", "x\n"),
        f("www/opts/a.txt", ALPHABET),
        f("www/ims-off/a.txt", ALPHABET),
        f("www/noranges/a.txt", ALPHABET),
        f("www/types/a.txt", "custom\n"),
        f("www/types/noext", "noext\n"),
        f("www/auto/sub/index.html", "auto\n"),
        f("www/rel/a.txt", "relative root\n"),
        f("www/tf/file.txt", "tf file\n"),
        f("www/tf/dir/index.html", "tf dir index\n"),
        f("www/tf-named/here.txt", "here\n"),
        f("www/re-tf/a.txt", "re-tf\n"),
        f("www/cs/a.txt", ALPHABET),
        f("www/notype/a.txt", ALPHABET),
        f("www/quiet/here.txt", "here\n"),
        f("www/v1/vroot/a.txt", "variable root\n"),
        f("www/vrel/x.txt", "relative variable root\n"),
        f("www/etagoff/a.txt", ALPHABET),
        f("www/idx-dir/sub/index.html", "idx-dir sub\n"),
        f("html/index.html", "<p>prefix html</p>\n"),
        f("html/a.gif", "GIF89a\n"),
        f("html/a.js", "js\n"),
        f("html/a.JPG", "jpg\n"),
    ]
}

/// Symbolic links (out of the root, to a directory, a loop, a dangling one), a FIFO, and
/// one modification time for every file.
fn setup(e: &Env) {
    use std::os::unix::fs::symlink;
    let www = e.prefix.join("www");
    symlink("../secret.txt", www.join("link-out")).unwrap();
    symlink("../outside", www.join("link-dir-out")).unwrap();
    symlink("loop", www.join("loop")).unwrap();
    symlink("nowhere", www.join("dangling")).unwrap();
    symlink("a.txt", www.join("link-in.txt")).unwrap();
    symlink("/dev/null", www.join("devnull")).unwrap();
    std::fs::create_dir(www.join("idx-loop")).unwrap();
    symlink("index.html", www.join("idx-loop/index.html")).unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(www.join("fifo"))
        .status()
        .expect("mkfifo");
    assert!(st.success(), "mkfifo failed");
    set_mtimes(&e.prefix);
}

fn static_http(e: &Env) -> String {
    format!(
        r#"include {MIME_TYPES};
default_type application/octet-stream;
server {{
  listen {l0};
  server_name static.test;
  root {p}/www;
  location /tf/ {{ try_files $uri $uri/ =404; }}
  location /tf-named/ {{ try_files $uri $uri/ @fb; }}
  location @fb {{ return 200 "fallback uri=$uri args=$args\n"; }}
  location /tf-uri/ {{ try_files $uri /a.txt; }}
  location /tf-args/ {{ try_files $uri /echo?from=$uri; }}
  location = /echo {{ return 200 "echo uri=$uri args=$args\n"; }}
  location /tf-code/ {{ try_files $uri =410; }}
  location /tf-noargs/ {{ try_files $uri /echo; }}
  location /tf-200/ {{ try_files $uri =200; }}
  location /tf-201/ {{ try_files $uri =201; }}
  location /tf-204/ {{ try_files $uri =204; }}
  location /tf-301/ {{ try_files $uri =301; }}
  location /tf-0/ {{ try_files $uri =0; }}
  location /tf-empty/ {{ try_files "" =404; }}
  location /tf-at/ {{ try_files $uri @; }}
  location /al-tf-var/ {{ alias {p}/www/dir/; try_files $uri /al-tf-var/b.txt$is_args$args; }}
  location /tf-loop/ {{ try_files $uri /tf-loop/again; }}
  location /al/ {{ alias {p}/www/dir/; }}
  location /al-bad {{ alias {p}/www/; }}
  location /al-tf/ {{ alias {p}/www/dir/; try_files $uri $uri/ =404; }}
  location /al-tf-lit/ {{ alias {p}/www/dir/; try_files /al-tf-lit/b.txt =404; }}
  location ~ ^/re/(.+)$ {{ alias {p}/www/$1; }}
  location ~ ^/re-tf/(.*)$ {{ alias {p}/www/re-tf/$1; try_files $uri =404; }}
  location /idx/ {{ index nope.html $arg_i index.htm; }}
  location /idx-abs/ {{ index nope.html /a.txt; }}
  location /types/ {{ types {{ text/x-custom txt; }} default_type application/x-default; }}
  location /opts/ {{
    etag off;
    if_modified_since before;
    max_ranges 1;
    add_header X-Static yes;
    expires modified +1h;
    charset utf-8;
  }}
  location /ims-off/ {{ if_modified_since off; }}
  location /noranges/ {{ max_ranges 0; }}
  location /err/ {{ error_page 404 /custom404.html; }}
  location /auto/ {{ absolute_redirect off; }}
  location /rel/ {{ root www; }}
  location /cs/ {{ charset utf-8; }}
  location /notype/ {{ types {{ }} default_type ""; }}
  location /err200/ {{ error_page 404 =200 /a.txt; }}
  location /errloop/ {{ error_page 404 /nothing-either.html; }}
  location /quiet/ {{ log_not_found off; }}
  location /al-nest/ {{ alias {p}/www/dir/; location /al-nest/sub/ {{ }} }}
  location /vroot/ {{ root {p}/www/$arg_r; }}
  location /vrel/ {{ root $arg_r; }}
  location /etagoff/ {{ etag off; }}
  location /idx-dir/ {{ index sub index.html; }}
  location /al-rw/ {{ alias {p}/www/dir/; rewrite ^ /al-rw/b.txt break; }}
}}
server {{
  listen {l1};
  server_name canon.test;
  root {p}/www;
  server_name_in_redirect on;
  port_in_redirect off;
}}
"#,
        l0 = e.l(0),
        l1 = e.l(1),
        p = e.prefix.display(),
    )
}

/// An http block without `types`, `default_type` or `root`: nginx's built-in types, the
/// `html` directory of the prefix, `server_tokens off`.
fn defaults_http(e: &Env) -> String {
    format!("server {{ listen {}; server_tokens off; }}\n", e.l(0))
}

// ==========================================================================================
// Cases
// ==========================================================================================

fn root_and_index() -> Vec<Case> {
    vec![
        Case::new(
            "/ serves index.html",
            &["S15.1", "S15.2", "S15.7", "S13.2"],
            g("/"),
        )
        .expect(|o| {
            let r = o.resp();
            assert_eq!(r.status, 200);
            assert_eq!(r.body_str(), "<html>home</html>\n");
            assert_eq!(r.header("Content-Type"), Some("text/html"));
            assert_eq!(r.header("Last-Modified"), Some(MTIME_HTTP));
            assert_eq!(r.header("ETag"), Some("\"6553f100-12\""));
            assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
            assert_eq!(
                r.header_names(),
                [
                    "Server",
                    "Date",
                    "Content-Type",
                    "Content-Length",
                    "Last-Modified",
                    "Connection",
                    "ETag",
                    "Accept-Ranges"
                ]
            );
        }),
        Case::new("a file", &["S15.1", "S15.4", "S15.7"], g("/a.txt")).expect(|o| {
            assert_eq!(o.body(), ALPHABET);
            assert_eq!(o.header("Content-Type").as_deref(), Some("text/plain"));
            assert_eq!(o.header("ETag").as_deref(), Some(ETAG));
        }),
        Case::new(
            "HEAD: the head only",
            &["S15.1", "S13.8"],
            req("HEAD", "/a.txt", &[]),
        )
        .expect(|o| {
            assert_eq!(o.status(), 200);
            assert_eq!(o.header("Content-Length").as_deref(), Some("36"));
            assert!(o.text().ends_with("\r\n\r\n"), "{}", o.text());
        }),
        Case::new(
            "HTTP/1.0",
            &["S15.1", "S13.12"],
            "GET /a.txt HTTP/1.0\r\n\r\n",
        )
        .expect(|o| {
            assert_eq!(o.body(), ALPHABET);
            assert_eq!(o.header("Connection").as_deref(), Some("close"));
        }),
        Case::new(
            "HTTP/0.9: the body only",
            &["S15.1", "S2.7"],
            "GET /a.txt\r\n",
        )
        .expect(|o| assert_eq!(o.text(), ALPHABET)),
        Case::new("a large file, whole", &["S15.1"], g("/big.bin")).expect(|o| {
            assert_eq!(o.status(), 200);
            assert!(o.resp().body == big());
        }),
        Case::new("an empty file", &["S15.1"], g("/empty.txt")).expect(|o| {
            assert_eq!(o.status(), 200);
            assert_eq!(o.header("Content-Length").as_deref(), Some("0"));
        }),
        Case::new("a directory's index", &["S15.2"], g("/dir/"))
            .expect(|o| assert_eq!(o.body(), "dir index\n")),
        Case::new(
            "directory without index: 403",
            &["S15.2", "S15.6", "S13.5"],
            g("/empty/"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 403);
            assert_eq!(o.body(), err_page("403 Forbidden"));
            assert_eq!(o.errors().len(), 1);
            assert!(
                o.errors()[0].contains("directory index of"),
                "{:?}",
                o.errors()
            );
        }),
        Case::new(
            "missing directory: 404, the index named",
            &["S15.2", "S15.6"],
            g("/nothing/"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 404);
            assert!(
                o.errors()[0].contains(
                    "/www/nothing/index.html\" is not found (2: No such file or directory)"
                ),
                "{:?}",
                o.errors()
            );
        }),
        Case::new(
            "a file as a directory: 404",
            &["S15.2", "S15.6"],
            g("/a.txt/"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 404);
            assert!(
                o.errors()[0].contains("(20: Not a directory)"),
                "{:?}",
                o.errors()
            );
        }),
        status(
            "index: a variable naming a file",
            &["S15.2"],
            g("/idx/?i=other.html"),
            200,
        ),
        Case::new(
            "index: the variable empty names the directory: a redirection cycle",
            &["S15.2"],
            g("/idx/"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 500);
            assert!(
                o.errors()[0].contains("rewrite or internal redirection cycle"),
                "{:?}",
                o.errors()
            );
        }),
        Case::new("index: the next name", &["S15.2"], g("/idx/?i=nope"))
            .expect(|o| assert_eq!(o.body(), "htm\n")),
        Case::new("index: an absolute last name", &["S15.2"], g("/idx-abs/"))
            .expect(|o| assert_eq!(o.body(), ALPHABET)),
        status(
            "relative root: under the prefix",
            &["S15.1"],
            g("/rel/a.txt"),
            200,
        ),
        status(
            "a directory's index through alias",
            &["S15.1", "S15.2"],
            g("/al/"),
            200,
        ),
        Case::new("a file through alias", &["S15.1"], g("/al/b.txt"))
            .expect(|o| assert_eq!(o.body(), "b\n")),
        Case::new("regex alias with a capture", &["S15.1"], g("/re/dir/b.txt"))
            .expect(|o| assert_eq!(o.body(), "b\n")),
        status(
            "regex alias naming a directory: its index",
            &["S15.1", "S15.2"],
            g("/re/dir/"),
            200,
        ),
        Case::new(
            "regex alias: a directory without slash",
            &["S15.1", "S15.5"],
            g("/re/dir"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 301);
            assert_eq!(
                o.header("Location").unwrap(),
                format!("http://static.test:{}/re/dir/", o.env.lp(0))
            );
        }),
        status(
            "prefix html and its index (no root)",
            &["S15.1", "S15.2"],
            g("/"),
            200,
        )
        .on(2),
    ]
}

fn try_files() -> Vec<Case> {
    vec![
        Case::new("try_files: a file", &["S15.3"], g("/tf/file.txt"))
            .expect(|o| assert_eq!(o.body(), "tf file\n")),
        Case::new(
            "try_files: $uri/ then the directory's 301",
            &["S15.3", "S15.5"],
            g("/tf/dir"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 301);
            assert_eq!(
                o.header("Location").unwrap(),
                format!("http://static.test:{}/tf/dir/", o.env.lp(0))
            );
        }),
        Case::new(
            "try_files: $uri/ then the index",
            &["S15.3", "S15.2"],
            g("/tf/dir/"),
        )
        .expect(|o| assert_eq!(o.body(), "tf dir index\n")),
        Case::new(
            "try_files: =404, nothing logged",
            &["S15.3"],
            g("/tf/missing"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 404);
            assert!(o.errors().is_empty(), "{:?}", o.errors());
        }),
        Case::new("try_files: =410", &["S15.3"], g("/tf-code/missing"))
            .expect(|o| assert_eq!(o.status(), 410)),
        Case::new(
            "try_files: a named location",
            &["S15.3"],
            g("/tf-named/missing?q=1"),
        )
        .expect(|o| assert_eq!(o.body(), "fallback uri=/tf-named/missing args=q=1\n")),
        status(
            "try_files: a named location is not needed",
            &["S15.3"],
            g("/tf-named/here.txt"),
            200,
        ),
        Case::new(
            "try_files: the last element as a URI",
            &["S15.3", "S15.4"],
            g("/tf-uri/missing"),
        )
        .expect(|o| {
            assert_eq!(o.body(), ALPHABET);
            assert_eq!(o.header("Content-Type").as_deref(), Some("text/plain"));
        }),
        Case::new(
            "try_files: a URI with its own arguments",
            &["S15.3"],
            g("/tf-args/missing?orig=1"),
        )
        .expect(|o| assert_eq!(o.body(), "echo uri=/echo args=from=/tf-args/missing\n")),
        Case::new(
            "try_files: a URI without arguments drops the request's",
            &["S15.3"],
            g("/tf-noargs/missing?orig=1"),
        )
        .expect(|o| assert_eq!(o.body(), "echo uri=/echo args=\n")),
        // A fallback with variables loses the alias's prefix too: the redirect is to "b.txt".
        Case::new(
            "try_files with alias: a fallback with variables is cut",
            &["S15.3", "S15.1"],
            g("/al-tf-var/missing?a=1"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 404);
            assert!(
                o.errors()[0].contains("/wwwb.txt\" failed"),
                "{:?}",
                o.errors()
            );
        }),
        // nginx finalizes the request with 200, which is no special response: nothing is
        // sent, the log says 000.
        Case::new("try_files: =200", &["S15.3"], g("/tf-200/missing")).expect(|o| {
            assert!(o.conn(0).bytes.is_empty());
            assert!(
                o.access("access.log")[0].contains("\" 000 0 "),
                "{:?}",
                o.access("access.log")
            );
        }),
        Case::new(
            "try_files: =200 on a keep-alive connection",
            &["S15.3", "S13.4"],
            [get_with("/tf-200/missing", "static.test", &[]), g("/a.txt")].concat(),
        )
        .expect(|o| assert_eq!(o.body(), ALPHABET)),
        status("try_files: =201", &["S15.3"], g("/tf-201/missing"), 201),
        status("try_files: =204", &["S15.3"], g("/tf-204/missing"), 204),
        status("try_files: =301", &["S15.3"], g("/tf-301/missing"), 301),
        Case::new("try_files: =0 is a URI", &["S15.3"], g("/tf-0/missing")).expect(|o| {
            assert_eq!(o.status(), 404);
            assert!(
                o.errors()[0].contains("/www=0\" failed"),
                "{:?}",
                o.errors()
            );
        }),
        status(
            "try_files: an empty name is the root directory",
            &["S15.3"],
            g("/tf-empty/x"),
            404,
        ),
        Case::new(
            "try_files: an unnamed named location",
            &["S15.3"],
            g("/tf-at/x"),
        )
        .expect(|o| assert_eq!(o.status(), 500)),
        Case::new(
            "try_files: a redirection cycle",
            &["S15.3"],
            g("/tf-loop/x"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 500);
            assert!(
                o.errors()[0].contains("rewrite or internal redirection cycle"),
                "{:?}",
                o.errors()
            );
        }),
        Case::new(
            "try_files with alias: $uri loses the location's prefix",
            &["S15.3", "S15.1"],
            g("/al-tf/b.txt"),
        )
        .expect(|o| assert_eq!(o.body(), "b\n")),
        status(
            "try_files with alias: $uri/",
            &["S15.3", "S15.5"],
            g("/al-tf/sub"),
            301,
        ),
        status(
            "try_files with alias: $uri/ and the index",
            &["S15.3", "S15.2"],
            g("/al-tf/sub/"),
            200,
        ),
        // A literal name keeps the prefix: nginx looks for ALIAS/al-tf-lit/b.txt.
        status(
            "try_files with alias: a literal name is not cut",
            &["S15.3", "S15.1"],
            g("/al-tf-lit/x"),
            404,
        ),
        // In a regex location the candidate is alias + name.
        status(
            "try_files with a regex alias",
            &["S15.3", "S15.1"],
            g("/re-tf/a.txt"),
            404,
        ),
    ]
}

fn types() -> Vec<Case> {
    let ct = |name: &'static str, path: &'static str, want: &'static str| {
        Case::new(name, &["S15.4"], g(path))
            .expect(move |o| assert_eq!(o.header("Content-Type").as_deref(), Some(want)))
    };
    vec![
        ct("types: an upper-case extension", "/UPPER.TXT", "text/plain"),
        ct(
            "types: a leading dot is no extension",
            "/.htaccess",
            "application/octet-stream",
        ),
        ct("types: no extension", "/noext", "application/octet-stream"),
        ct(
            "types: the last extension",
            "/f.tar.gz",
            "application/octet-stream",
        ),
        ct(
            "types: .JS (Debian's mime.types)",
            "/x.JS",
            "application/javascript",
        ),
        ct("types: svg", "/x.svg", "image/svg+xml"),
        ct("types: a location's types", "/types/a.txt", "text/x-custom"),
        ct(
            "types: a location's default_type",
            "/types/noext",
            "application/x-default",
        ),
        ct(
            "types: an internal redirect's extension",
            "/dir/",
            "text/html",
        ),
        Case::new(
            "types: nginx's built-in set, default_type text/plain",
            &["S15.4"],
            g("/a.gif"),
        )
        .on(2)
        .expect(|o| assert_eq!(o.header("Content-Type").as_deref(), Some("image/gif"))),
        Case::new("types: built-in, upper-case", &["S15.4"], g("/a.JPG"))
            .on(2)
            .expect(|o| assert_eq!(o.header("Content-Type").as_deref(), Some("image/jpeg"))),
        Case::new("types: built-in, unknown", &["S15.4"], g("/a.js"))
            .on(2)
            .expect(|o| assert_eq!(o.header("Content-Type").as_deref(), Some("text/plain"))),
    ]
}

fn redirects_and_errors() -> Vec<Case> {
    vec![
        Case::new("directory: 301, exact bytes", &["S15.5", "S13.6", "S13.2"], g("/dir")).expect(|o| {
            let body = err_page("301 Moved Permanently");
            assert_bytes(
                o,
                &format!(
                    "HTTP/1.1 301 Moved Permanently\r\nServer: nginx/1.22.1\r\nDate: <DATE>\r\n\
                     Content-Type: text/html\r\nContent-Length: {}\r\nLocation: http://static.test:{}/dir/\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len(),
                    o.env.lp(0)
                ),
            );
        }),
        Case::new("directory: 301 keeps the arguments", &["S15.5"], g("/dir?x=1&y=%20")).expect(|o| {
            assert_eq!(o.header("Location").unwrap(), format!("http://static.test:{}/dir/?x=1&y=%20", o.env.lp(0)));
        }),
        Case::new("directory: 301 escapes the URI", &["S15.5"], g("/sp%20dir")).expect(|o| {
            assert_eq!(o.header("Location").unwrap(), format!("http://static.test:{}/sp%20dir/", o.env.lp(0)));
        }),
        Case::new("directory: 301 without Host names the local address", &["S15.5", "S13.6"], "GET /dir HTTP/1.0\r\n\r\n").expect(|o| {
            assert_eq!(o.header("Location").unwrap(), format!("http://127.0.0.1:{}/dir/", o.env.lp(0)));
        }),
        Case::new("directory: 301, the Host's port is not used", &["S15.5", "S13.6"], "GET /dir HTTP/1.1\r\nHost: static.test:9999\r\nConnection: close\r\n\r\n")
            .expect(|o| {
                assert_eq!(o.header("Location").unwrap(), format!("http://static.test:{}/dir/", o.env.lp(0)));
            }),
        Case::new("directory: 301 through alias", &["S15.5", "S15.1"], g("/al/sub")).expect(|o| {
            assert_eq!(o.header("Location").unwrap(), format!("http://static.test:{}/al/sub/", o.env.lp(0)));
        }),
        Case::new("directory: 301 with absolute_redirect off", &["S15.5", "S13.6"], g("/auto/sub"))
            .expect(|o| assert_eq!(o.header("Location").as_deref(), Some("/auto/sub/"))),
        Case::new("directory: 301 with server_name_in_redirect, no port", &["S15.5", "S13.6"], g("/dir"))
            .on(1)
            .expect(|o| assert_eq!(o.header("Location").as_deref(), Some("http://canon.test/dir/"))),
        Case::new("directory: 301 keeps the connection", &["S15.5", "S13.4"], get_with("/dir", "static.test", &[]))
            .responses(1)
            .expect(|o| assert_eq!(o.header("Connection").as_deref(), Some("keep-alive"))),
        Case::new("missing file: 404, exact bytes", &["S15.6", "S13.5"], g("/nothing")).expect(|o| {
            assert_eq!(o.status(), 404);
            assert_eq!(o.body(), err_page("404 Not Found"));
            assert!(o.errors()[0].contains("open() \""), "{:?}", o.errors());
        }),
        Case::new("missing file, server_tokens off", &["S15.6", "S13.5"], g("/nothing"))
            .on(2)
            .expect(|o| assert_eq!(o.body(), page("404 Not Found", "404 Not Found", None, false))),
        Case::new("missing file, Chrome: padded page", &["S15.6", "S13.5"], req("GET", "/nothing", &["User-Agent: Mozilla/5.0 Chrome/120.0"]))
            .expect(|o| assert_eq!(o.header("Content-Length").as_deref(), Some("555"))),
        Case::new("HEAD of a missing file", &["S15.6", "S13.8"], req("HEAD", "/nothing", &[]))
            .expect(|o| assert_eq!(o.header("Content-Length").as_deref(), Some("153"))),
        Case::new("error_page: a static page with the error's status", &["S15.6", "S15.9"], req("GET", "/err/nothing", &["Range: bytes=0-3"]))
            .expect(|o| {
                let r = o.resp();
                assert_eq!(r.status, 404);
                assert_eq!(r.body_str(), "<p>custom 404</p>\n");
                assert_eq!(r.header("Last-Modified"), None);
                assert_eq!(r.header("Accept-Ranges"), None);
            }),
        Case::new("a FIFO is not a regular file: 404", &["S15.6"], g("/fifo")).expect(|o| {
            assert_eq!(o.status(), 404);
            assert!(o.errors()[0].starts_with("[crit]") && o.errors()[0].contains("is not a regular file"), "{:?}", o.errors());
        }),
        status("POST to a file: 405", &["S15.6"], req("POST", "/a.txt", &["Content-Length: 0"]), 405),
        status("POST to a directory: its index, then 405", &["S15.6", "S15.2"], req("POST", "/dir/", &["Content-Length: 0"]), 405),
        status("POST to a directory without index: 403", &["S15.6", "S15.2"], req("POST", "/empty/", &["Content-Length: 0"]), 403),
        status("POST with a body to a file: 405", &["S15.6"], req("POST", "/a.txt", &["Content-Length: 5"]).into_iter().chain(*b"hello").collect(), 405),
        status("DELETE: 405", &["S15.6"], req("DELETE", "/a.txt", &[]), 405),
        status("DELETE of a directory: 405", &["S15.6"], req("DELETE", "/dir/", &[]), 405),
        status("PUT: 405", &["S15.6"], req("PUT", "/new.txt", &["Content-Length: 0"]), 405),
        status("OPTIONS: 405", &["S15.6"], req("OPTIONS", "/a.txt", &[]), 405),
        status("an unknown method: 405", &["S15.6"], req("FOO", "/a.txt", &[]), 405),
    ]
}

fn conditional() -> Vec<Case> {
    let c = |name: &'static str, path: &str, headers: &[&str], want: u16| {
        Case::new(name, &["S15.8"], req("GET", path, headers))
            .expect(move |o| assert_eq!(o.status(), want))
    };
    let later = "If-Modified-Since: Tue, 14 Nov 2023 22:13:21 GMT";
    let earlier = "If-Modified-Since: Tue, 14 Nov 2023 22:13:19 GMT";
    vec![
        Case::new(
            "If-Modified-Since, the same time: 304",
            &["S15.8", "S15.7"],
            req(
                "GET",
                "/a.txt",
                &["If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT"],
            ),
        )
        .expect(|o| {
            let r = o.resp();
            assert_eq!(r.status, 304);
            assert_eq!(r.header("Content-Length"), None);
            assert_eq!(r.header("Content-Type"), None);
            assert_eq!(r.header("ETag"), Some(ETAG));
            assert_eq!(r.header("Last-Modified"), Some(MTIME_HTTP));
        }),
        c(
            "If-Modified-Since, later (exact): 200",
            "/a.txt",
            &[later],
            200,
        ),
        c("If-Modified-Since, earlier: 200", "/a.txt", &[earlier], 200),
        c(
            "If-Modified-Since, RFC 850 form: 304",
            "/a.txt",
            &["If-Modified-Since: Tuesday, 14-Nov-23 22:13:20 GMT"],
            304,
        ),
        c(
            "If-Modified-Since, asctime form: 304",
            "/a.txt",
            &["If-Modified-Since: Tue Nov 14 22:13:20 2023"],
            304,
        ),
        c(
            "If-Modified-Since, garbage: 200",
            "/a.txt",
            &["If-Modified-Since: yesterday"],
            200,
        ),
        c(
            "if_modified_since before, later: 304",
            "/opts/a.txt",
            &[later],
            304,
        ),
        c(
            "if_modified_since before, earlier: 200",
            "/opts/a.txt",
            &[earlier],
            200,
        ),
        c(
            "if_modified_since off: 200",
            "/ims-off/a.txt",
            &["If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT"],
            200,
        ),
        c(
            "If-None-Match, the ETag: 304",
            "/a.txt",
            &["If-None-Match: \"6553f100-24\""],
            304,
        ),
        c(
            "If-None-Match, weak: 304",
            "/a.txt",
            &["If-None-Match: W/\"6553f100-24\""],
            304,
        ),
        c(
            "If-None-Match, a list: 304",
            "/a.txt",
            &["If-None-Match: \"x\", \"6553f100-24\""],
            304,
        ),
        c(
            "If-None-Match, *: 304",
            "/a.txt",
            &["If-None-Match: *"],
            304,
        ),
        c(
            "If-None-Match, another: 200",
            "/a.txt",
            &["If-None-Match: \"6553f100-25\""],
            200,
        ),
        c(
            "If-None-Match with etag off: 200",
            "/opts/a.txt",
            &["If-None-Match: \"6553f100-24\""],
            200,
        ),
        c(
            "If-Modified-Since matches, If-None-Match not: 200",
            "/a.txt",
            &[
                "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT",
                "If-None-Match: \"x\"",
            ],
            200,
        ),
        c(
            "both match: 304",
            "/a.txt",
            &[
                "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT",
                "If-None-Match: \"6553f100-24\"",
            ],
            304,
        ),
        Case::new(
            "If-Match, another: 412, closed",
            &["S15.8", "S13.5"],
            req("GET", "/a.txt", &["If-Match: \"x\""]),
        )
        .expect(|o| {
            assert_eq!(o.status(), 412);
            assert_eq!(o.header("Connection").as_deref(), Some("close"));
            assert_eq!(o.header("ETag"), None);
        }),
        c(
            "If-Match, the ETag: 200",
            "/a.txt",
            &["If-Match: \"6553f100-24\""],
            200,
        ),
        c(
            "If-Match, weak: 412",
            "/a.txt",
            &["If-Match: W/\"6553f100-24\""],
            412,
        ),
        c("If-Match, *: 200", "/a.txt", &["If-Match: *"], 200),
        c(
            "If-Unmodified-Since, earlier: 412",
            "/a.txt",
            &["If-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT"],
            412,
        ),
        c(
            "If-Unmodified-Since, the same: 200",
            "/a.txt",
            &["If-Unmodified-Since: Tue, 14 Nov 2023 22:13:20 GMT"],
            200,
        ),
        c(
            "If-Unmodified-Since, garbage: 412",
            "/a.txt",
            &["If-Unmodified-Since: never"],
            412,
        ),
        Case::new(
            "304 for HEAD",
            &["S15.8", "S13.8"],
            req("HEAD", "/a.txt", &["If-None-Match: *"]),
        )
        .expect(|o| assert_eq!(o.status(), 304)),
        Case::new(
            "If-Match fails on a keep-alive connection: closed after 412",
            &["S15.8", "S13.4"],
            [
                get_with("/a.txt", "static.test", &["If-Match: \"x\""]),
                get_with("/a.txt", "static.test", &[]),
            ]
            .concat(),
        )
        .expect(|o| {
            assert_eq!(o.resps(0).len(), 1);
            assert_eq!(o.conn(0).end, End::Eof);
        }),
        Case::new(
            "304 keeps the connection",
            &["S15.8", "S13.4"],
            [
                get_with("/a.txt", "static.test", &["If-None-Match: *"]),
                get_with("/a.txt", "static.test", &[]),
            ]
            .concat(),
        )
        .responses(2)
        .expect(|o| {
            let rs = o.resps(0);
            assert_eq!((rs[0].status, rs[1].status), (304, 200));
        }),
        Case::new(
            "error_page: no 304 for the error's page",
            &["S15.8"],
            req("GET", "/err/nothing", &["If-None-Match: *"]),
        )
        .expect(|o| assert_eq!(o.status(), 404)),
    ]
}

/// More of each rule: charset and no type in multipart parts, `error_page` statuses, nested
/// and variable roots.
fn more() -> Vec<Case> {
    let st = |name: &'static str, rules: Rules, path: &str, headers: &[&str], want: u16| {
        Case::new(name, rules, req("GET", path, headers))
            .expect(move |o| assert_eq!(o.status(), want))
    };
    let many: String = (0..100)
        .map(|i| format!("{}-{}", i * 7, i * 7 + 2))
        .collect::<Vec<_>>()
        .join(",");
    vec![
        Case::new(
            "multipart parts carry the charset",
            &["S15.9", "S15.4"],
            req("GET", "/cs/a.txt", &["Range: bytes=0-1,3-4"]),
        )
        .expect(|o| {
            assert!(
                o.body()
                    .contains("Content-Type: text/plain; charset=utf-8\r\n"),
                "{}",
                o.body()
            )
        }),
        Case::new(
            "no type: no Content-Type, none in the parts",
            &["S15.9", "S15.4"],
            req("GET", "/notype/a.txt", &["Range: bytes=0-1,3-4"]),
        )
        .expect(|o| {
            assert_eq!(o.status(), 206);
            assert!(!o.body().contains("Content-Type"), "{}", o.body());
        }),
        st("no type, whole", &["S15.4"], "/notype/a.txt", &[], 200),
        Case::new(
            "error_page =200: ranges apply",
            &["S15.9", "S15.6"],
            req("GET", "/err200/nothing", &["Range: bytes=0-4"]),
        )
        .expect(|o| assert_eq!(o.status(), 206)),
        st(
            "error_page =200: 304 applies",
            &["S15.8", "S15.6"],
            "/err200/nothing",
            &["If-None-Match: *"],
            304,
        ),
        Case::new(
            "error_page to a missing page: nginx's 404",
            &["S15.6", "S13.5"],
            g("/errloop/nothing"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 404);
            assert_eq!(o.body(), err_page("404 Not Found"));
            assert_eq!(o.errors().len(), 2, "{:?}", o.errors());
        }),
        Case::new("log_not_found off", &["S15.6"], g("/quiet/nothing")).expect(|o| {
            assert_eq!(o.status(), 404);
            assert!(o.errors().is_empty(), "{:?}", o.errors());
        }),
        Case::new(
            "alias inherited by a nested location",
            &["S15.1", "S15.2"],
            g("/al-nest/sub/"),
        )
        .expect(|o| assert_eq!(o.body(), "sub index\n")),
        Case::new("a root with a variable", &["S15.1"], g("/vroot/a.txt?r=v1"))
            .expect(|o| assert_eq!(o.body(), "variable root\n")),
        Case::new(
            "a root that is a variable: relative to the prefix",
            &["S15.1"],
            g("/vrel/x.txt?r=www"),
        )
        .expect(|o| assert_eq!(o.body(), "relative variable root\n")),
        Case::new(
            "a root that is an empty variable: the prefix",
            &["S15.1", "S15.6"],
            g("/vrel/x.txt"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 404);
            assert!(
                o.errors()[0].contains("//vrel/x.txt\" failed"),
                "{:?}",
                o.errors()
            );
        }),
        st(
            "etag off, If-Match: 412",
            &["S15.8", "S15.7"],
            "/etagoff/a.txt",
            &["If-Match: \"x\""],
            412,
        ),
        st(
            "etag off, If-Match *: 200",
            &["S15.8", "S15.7"],
            "/etagoff/a.txt",
            &["If-Match: *"],
            200,
        ),
        Case::new("etag off: no ETag", &["S15.7"], g("/etagoff/a.txt"))
            .expect(|o| assert_eq!(o.header("ETag"), None)),
        Case::new(
            "index naming a directory: its 301",
            &["S15.2", "S15.5"],
            g("/idx-dir/"),
        )
        .expect(|o| {
            assert_eq!(
                o.header("Location").unwrap(),
                format!("http://static.test:{}/idx-dir/sub/", o.env.lp(0))
            );
        }),
        Case::new(
            "alias after rewrite ... break: 500",
            &["S15.1"],
            g("/al-rw/x"),
        )
        .expect(|o| {
            assert_eq!(o.status(), 500);
            assert!(
                o.errors()[0].starts_with("[alert]")
                    && o.errors()[0].contains("where URI was rewritten"),
                "{:?}",
                o.errors()
            );
        }),
        st(
            "a hundred ranges",
            &["S15.9"],
            "/big.bin",
            &[&format!("Range: bytes={many}")],
            206,
        ),
        Case::new(
            "HEAD of a directory: 301, head only",
            &["S15.5", "S13.8"],
            req("HEAD", "/dir", &[]),
        )
        .expect(|o| assert_eq!(o.status(), 301)),
        Case::new(
            "HEAD, multipart: the length of the parts",
            &["S15.9", "S13.8"],
            req("HEAD", "/a.txt", &["Range: bytes=0-1,3-4"]),
        )
        .expect(|o| assert_eq!(o.status(), 206)),
        st(
            "If-Modified-Since with a length attribute",
            &["S15.8"],
            "/a.txt",
            &["If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT; length=36"],
            304,
        ),
        st(
            "the index file by name",
            &["S15.1"],
            "/dir/index.html",
            &[],
            200,
        ),
    ]
}

fn ranges() -> Vec<Case> {
    let one = |name: &'static str,
               range: &'static str,
               want_range: &'static str,
               want_body: &'static str| {
        Case::new(name, &["S15.9"], req("GET", "/a.txt", &[range])).expect(move |o| {
            let r = o.resp();
            assert_eq!(r.status, 206);
            assert_eq!(r.header("Content-Range"), Some(want_range));
            assert_eq!(r.body_str(), want_body);
            assert_eq!(r.header("Accept-Ranges"), None);
        })
    };
    let st =
        |name: &'static str, path: &'static str, headers: &'static [&'static str], want: u16| {
            Case::new(name, &["S15.9"], req("GET", path, headers))
                .expect(move |o| assert_eq!(o.status(), want))
        };
    vec![
        one("range: the first bytes", "Range: bytes=0-4", "bytes 0-4/36", "01234"),
        one("range: one byte", "Range: bytes=0-0", "bytes 0-0/36", "0"),
        one("range: a suffix", "Range: bytes=-5", "bytes 31-35/36", "vwxyz"),
        one("range: open-ended", "Range: bytes=30-", "bytes 30-35/36", "uvwxyz"),
        one("range: past the end is cut", "Range: bytes=30-100", "bytes 30-35/36", "uvwxyz"),
        one("range: a suffix longer than the file", "Range: bytes=-100", "bytes 0-35/36", ALPHABET),
        one("range: spaces", "Range: bytes= 1 - 2", "bytes 1-2/36", "12"),
        one("range: upper-case unit", "Range: BYTES=1-2", "bytes 1-2/36", "12"),
        one("range: an empty range among others is skipped", "Range: bytes=100-200,1-2", "bytes 1-2/36", "12"),
        Case::new("range: two ranges, multipart", &["S15.9"], req("GET", "/a.txt", &["Range: bytes=0-4,10-12"])).expect(|o| {
            let r = o.resp();
            assert_eq!(r.status, 206);
            let ct = r.header("Content-Type").unwrap().to_string();
            let b = ct.strip_prefix("multipart/byteranges; boundary=").expect("multipart");
            assert_eq!(
                r.body_str(),
                format!(
                    "\r\n--{b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-4/36\r\n\r\n01234\
                     \r\n--{b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 10-12/36\r\n\r\nabc\r\n--{b}--\r\n"
                )
            );
        }),
        st("range: overlapping ranges", "/a.txt", &["Range: bytes=0-10,5-15"], 206),
        st("range: ranges larger than the file together: whole", "/a.txt", &["Range: bytes=0-30,0-30"], 200),
        Case::new("range: not satisfiable: 416", &["S15.9", "S13.5"], req("GET", "/a.txt", &["Range: bytes=100-200"])).expect(|o| {
            let r = o.resp();
            assert_eq!(r.status, 416);
            assert_eq!(r.header("Content-Range"), Some("bytes */36"));
            assert_eq!(r.header("Connection"), Some("close"));
        }),
        st("range: syntax error: 416", "/a.txt", &["Range: bytes=abc"], 416),
        st("range: a trailing comma: 416", "/a.txt", &["Range: bytes=1-2,"], 416),
        st("range: another unit: ignored", "/a.txt", &["Range: items=0-1"], 200),
        st("range: no unit: ignored", "/a.txt", &["Range: 0-1"], 200),
        st("range: If-Range, the ETag: 206", "/a.txt", &["Range: bytes=0-1", "If-Range: \"6553f100-24\""], 206),
        st("range: If-Range, another ETag: whole", "/a.txt", &["Range: bytes=0-1", "If-Range: \"x\""], 200),
        st("range: If-Range, weak: whole", "/a.txt", &["Range: bytes=0-1", "If-Range: W/\"6553f100-24\""], 200),
        st("range: If-Range, the date: 206", "/a.txt", &["Range: bytes=0-1", "If-Range: Tue, 14 Nov 2023 22:13:20 GMT"], 206),
        st("range: If-Range, another date: whole", "/a.txt", &["Range: bytes=0-1", "If-Range: Tue, 14 Nov 2023 22:13:21 GMT"], 200),
        st("range: If-Range with etag off", "/opts/a.txt", &["Range: bytes=0-1", "If-Range: \"6553f100-24\""], 200),
        st("range: max_ranges 1, two ranges: whole", "/opts/a.txt", &["Range: bytes=0-1,3-4"], 200),
        Case::new("range: one range with add_header, expires and charset", &["S15.9", "S13.7"], req("GET", "/opts/a.txt", &["Range: bytes=0-1"]))
            .expect(|o| {
                let r = o.resp();
                assert_eq!(r.status, 206);
                assert_eq!(r.header("X-Static"), Some("yes"));
                assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
            }),
        Case::new("range: max_ranges 0: no ranges, no Accept-Ranges", &["S15.9"], req("GET", "/noranges/a.txt", &["Range: bytes=0-1"]))
            .expect(|o| {
                assert_eq!(o.status(), 200);
                assert_eq!(o.header("Accept-Ranges"), None);
            }),
        st("range: an empty file, 0-: whole", "/empty.txt", &["Range: bytes=0-"], 200),
        Case::new("range: an empty file, 1-: 416", &["S15.9"], req("GET", "/empty.txt", &["Range: bytes=1-"]))
            .expect(|o| assert_eq!(o.header("Content-Range").as_deref(), Some("bytes */0"))),
        Case::new("range: across rginx's reads", &["S15.9"], req("GET", "/big.bin", &["Range: bytes=65530-131080"])).expect(|o| {
            assert_eq!(o.status(), 206);
            assert!(o.resp().body == big()[65530..=131080]);
        }),
        st("range: many ranges of a large file", "/big.bin", &["Range: bytes=0-99999,150000-,-10"], 206),
        Case::new("range: HEAD", &["S15.9", "S13.8"], req("HEAD", "/a.txt", &["Range: bytes=0-4"])).expect(|o| {
            assert_eq!(o.status(), 206);
            assert_eq!(o.header("Content-Length").as_deref(), Some("5"));
        }),
        Case::new("range: HTTP/1.0", &["S15.9", "S13.12"], "GET /a.txt HTTP/1.0\r\nRange: bytes=0-4,6-7\r\n\r\n")
            .expect(|o| assert_eq!(o.status(), 206)),
        st("range: 304 comes first", "/a.txt", &["Range: bytes=0-4", "If-None-Match: *"], 304),
        Case::new("range: the index's file", &["S15.9", "S15.2"], req("GET", "/dir/", &["Range: bytes=0-2"]))
            .expect(|o| assert_eq!(o.body(), "dir")),
        Case::new("range: 416 on a keep-alive connection", &["S15.9", "S13.4"],
            [get_with("/a.txt", "static.test", &["Range: bytes=99-"]), get_with("/a.txt", "static.test", &[])].concat())
            .expect(|o| {
                let rs = o.resps(0);
                assert_eq!(rs[0].status, 416);
            }),
        Case::new("pipelined: 200, 304, 206, multipart, 404, 301, 200", &["S15.9", "S15.8", "S13.4"],
            [
                get_with("/a.txt", "static.test", &[]),
                get_with("/a.txt", "static.test", &["If-None-Match: *"]),
                get_with("/a.txt", "static.test", &["Range: bytes=3-5"]),
                get_with("/big.bin", "static.test", &["Range: bytes=1-2,100000-100010"]),
                get_with("/nothing", "static.test", &[]),
                get_with("/dir", "static.test", &[]),
                get_with("/dir/", "static.test", &[]),
            ].concat())
            .responses(7)
            .expect(|o| {
                let s: Vec<u16> = o.resps(0).iter().map(|r| r.status).collect();
                assert_eq!(s, [200, 304, 206, 206, 404, 301, 200]);
            }),
    ]
}

/// Request targets that try to leave the root. The file outside is `PREFIX/secret.txt`.
fn hostile() -> Vec<Case> {
    let table: &[(&str, u16)] = &[
        ("/../secret.txt", 400),
        ("/dir/../../secret.txt", 400),
        ("/./../secret.txt", 400),
        ("/%2e%2e/secret.txt", 400),
        ("/%2E%2E/secret.txt", 400),
        ("/.%2e/secret.txt", 400),
        ("/dir/%2e%2e/%2e%2e/secret.txt", 400),
        ("/..%2fsecret.txt", 400),
        ("/%2e%2e%2fsecret.txt", 400),
        ("/dir/..%2f..%2fsecret.txt", 400),
        ("/dir/%2e%2e%2f%2e%2e%2fsecret.txt", 400),
        ("/%252e%252e/secret.txt", 404),
        ("/%252e%252e%252fsecret.txt", 404),
        ("/a.txt%00", 400),
        ("/a.txt%00.html", 400),
        ("/..\\secret.txt", 404),
        ("/dir\\..\\..\\secret.txt", 404),
        ("/%5c..%5csecret.txt", 404),
        ("/back%5cslash.txt", 200),
        ("/dir/..", 200),
        ("/dir/./../a.txt", 200),
        ("/dir/...", 404),
        ("/dir/..%2fa.txt", 200),
        ("/dir/..%2fb.txt", 404),
        ("//a.txt", 200),
        ("/a.txt/", 404),
        ("/a.txt/.", 404),
        ("/a.txt/..", 200),
        ("/A.TXT", 404),
        ("/%61.txt", 200),
        ("/dir%2fb.txt", 200),
        ("/dir/b.txt%2f", 404),
        ("/sp%20ace.txt", 200),
        ("/pct%2541.txt", 200),
        ("/pct%41.txt", 404),
        ("/a.txt?../../secret.txt", 200),
        ("/q%3Fx.txt", 200),
        ("/q?x.txt", 404),
        ("/h%23x.txt", 200),
        ("/%C3%A9.txt", 200),
        ("/\u{e9}.txt", 200),
        ("/dir%2F", 200),
        ("/dir/.", 200),
        ("/dir%2f.", 200),
        ("/al-bad", 301),
        ("/al-bad/", 200),
        ("/al/..%2fa.txt", 200),
        ("/link-dir-out/", 403),
        ("/a.txt#../../secret.txt", 200),
        ("/re/%2e%2e/secret.txt", 404),
        ("/re/..%2fsecret.txt", 404),
        ("/re/dir/..%2f..%2fsecret.txt", 404),
        ("/al/..%2f..%2fsecret.txt", 400),
        ("/al/%2e%2e/a.txt", 200),
        ("/link-in.txt", 200),
        ("/link-out", 200),
        ("/link-dir-out/s.txt", 200),
        ("/link-dir-out", 301),
        ("/loop", 403),
        ("/loop/x", 403),
        ("/loop/", 403),
        ("/idx-loop/", 403),
        ("/devnull", 404),
        ("/a.txt.", 404),
        ("/a.txt::$DATA", 404),
        ("/a.txt/x", 404),
        ("/dir/./sub/../b.txt", 200),
        ("/dir//sub///", 200),
        ("/dir/sub/..", 200),
        ("/%2F%2Fa.txt", 200),
        ("/./././a.txt", 200),
        ("/dir/sub/%2e%2e/%2e/b.txt", 200),
        ("/dir/sub/.%2E/..%2F%2e%2e%2fa.txt", 400),
        ("/dir/sub/.%2E/..%2Fa.txt", 200),
        ("/dir/sub/../../../a.txt", 400),
        ("/dir%2f%2e%2e%2f%2e%2e%2fa.txt", 400),
        ("/dangling", 404),
        ("/al-bad../secret.txt", 200),
        ("/al-bad../outside/s.txt", 200),
    ];
    let mut cases: Vec<Case> = table
        .iter()
        .map(|&(path, want)| {
            Case::new(format!("hostile {path}"), &["S15.10", "S3.1"], g(path))
                .info(&["client sent"])
                .expect(move |o| assert_eq!(o.status(), want))
        })
        .collect();
    for (name, path, want) in [
        ("a question mark", "/q%3Fd", "/q%3Fd/"),
        ("UTF-8", "/%C3%A9", "/%C3%A9/"),
        ("raw UTF-8", "/\u{e9}", "/%C3%A9/"),
        ("a percent sign", "/pct%25d", "/pct%25d/"),
    ] {
        cases.push(
            Case::new(
                format!("directory 301 escapes {name}"),
                &["S15.10", "S15.5"],
                g(path),
            )
            .expect(move |o| {
                assert_eq!(
                    o.header("Location").unwrap(),
                    format!("http://static.test:{}{want}", o.env.lp(0))
                );
            }),
        );
    }
    let long = format!("/{}", "a".repeat(300));
    let deep = format!("/{}x", "abcdefgh/".repeat(520));
    cases.extend([
        Case::new(
            "hostile: a name longer than NAME_MAX",
            &["S15.10", "S15.6"],
            g(&long),
        )
        .expect(|o| {
            assert_eq!(o.status(), 404);
            assert!(
                o.errors()[0].contains("(36: File name too long)"),
                "{:?}",
                o.errors()
            );
        }),
        Case::new(
            "hostile: a path longer than PATH_MAX",
            &["S15.10", "S15.6"],
            g(&deep),
        )
        .expect(|o| assert_eq!(o.status(), 404)),
        Case::new(
            "hostile: an absolute URI climbing",
            &["S15.10", "S3.1"],
            "GET http://static.test/../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .info(&["client sent"])
        .expect(|o| assert_eq!(o.status(), 400)),
        Case::new(
            "hostile: a raw space",
            &["S15.10"],
            "GET /sp ace.txt HTTP/1.1\r\nHost: static.test\r\nConnection: close\r\n\r\n",
        )
        .info(&["client sent"])
        .expect(|o| assert_eq!(o.status(), 400)),
        Case::new(
            "hostile: a raw NUL",
            &["S15.10"],
            "GET /a.txt\0/../secret.txt HTTP/1.1\r\nHost: static.test\r\nConnection: close\r\n\r\n",
        )
        .info(&["client sent"])
        .expect(|o| assert_eq!(o.status(), 400)),
    ]);
    cases
}

/// Every file and directory of the noVNC tree, with Debian's `mime.types` (S15.11).
fn novnc_http(e: &Env) -> String {
    format!(
        "include {MIME_TYPES};\ndefault_type application/octet-stream;\n\
         server {{ listen {}; root {NOVNC}; index vnc.html; }}\n",
        e.l(0)
    )
}

fn novnc_cases() -> Vec<Case> {
    let mut paths = Vec::new();
    fn walk(dir: &Path, paths: &mut Vec<(String, bool)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e} (install Debian's novnc)", dir.display()))
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p
                .strip_prefix(NOVNC)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                paths.push((format!("/{rel}"), true));
                walk(&p, paths);
            } else {
                paths.push((format!("/{rel}"), false));
            }
        }
    }
    walk(Path::new(NOVNC), &mut paths);
    assert!(paths.len() > 100, "noVNC has {} entries", paths.len());
    let enc = |p: &str| p.replace('%', "%25").replace(' ', "%20");
    let mut cases = vec![
        Case::new("noVNC: /", &["S15.11", "S15.2"], g("/")).expect(|o| {
            assert_eq!(o.status(), 200);
            assert_eq!(o.header("Content-Type").as_deref(), Some("text/html"));
            assert!(o.body().contains("noVNC"));
        }),
        Case::new("noVNC: vnc.html", &["S15.11"], g("/vnc.html"))
            .expect(|o| assert_eq!(o.header("Content-Type").as_deref(), Some("text/html"))),
        Case::new(
            "noVNC: a JS module",
            &["S15.11", "S15.4"],
            g("/core/rfb.js"),
        )
        .expect(|o| {
            assert_eq!(
                o.header("Content-Type").as_deref(),
                Some("application/javascript")
            )
        }),
        Case::new(
            "noVNC: HEAD vnc.html",
            &["S15.11", "S13.8"],
            req("HEAD", "/vnc.html", &[]),
        )
        .expect(|o| assert_eq!(o.status(), 200)),
        Case::new(
            "noVNC: a range of a module",
            &["S15.11", "S15.9"],
            req("GET", "/app/ui.js", &["Range: bytes=0-99"]),
        )
        .expect(|o| assert_eq!(o.status(), 206)),
    ];
    // A browser's revalidation of vnc.html, with the file's real ETag and date.
    let m = std::fs::metadata(format!("{NOVNC}/vnc.html")).unwrap();
    let mtime = std::os::unix::fs::MetadataExt::mtime(&m);
    let etag = format!("If-None-Match: \"{:x}-{:x}\"", mtime, m.len());
    let ims = format!(
        "If-Modified-Since: {}",
        httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime as u64))
    );
    let reval = req("GET", "/vnc.html", &[&etag, &ims]);
    cases.push(
        Case::new(
            "noVNC: vnc.html, browser revalidation: 304",
            &["S15.11", "S15.8"],
            reval,
        )
        .expect(|o| assert_eq!(o.status(), 304)),
    );
    for (p, dir) in paths {
        let rules: Rules = &["S15.11"];
        let name = format!("noVNC: {p}{}", if dir { " (directory)" } else { "" });
        cases.push(Case::new(name, rules, g(&enc(&p))).expect(move |o| {
            assert_eq!(o.status(), if dir { 301 } else { 200 });
        }));
        if dir {
            let p2 = format!("{}/", enc(&p));
            cases.push(status(format!("noVNC: {p}/"), rules, g(&p2), 403));
        }
    }
    // The HTTP/1.0 client of a simple fetch, and the browser's keep-alive.
    cases.push(
        Case::new(
            "noVNC: a browser's keep-alive fetches",
            &["S15.11", "S13.4"],
            [
                "/vnc.html",
                "/app/styles/base.css",
                "/core/rfb.js",
                "/app/images/connect.svg",
                "/app/locale/de.json",
                "/app/sounds/bell.mp3",
            ]
            .iter()
            .flat_map(|p| {
                get_with(
                    p,
                    "static.test",
                    &[
                        "Accept-Encoding: gzip, deflate",
                        "User-Agent: Mozilla/5.0 Chrome/120.0",
                    ],
                )
            })
            .collect::<Vec<u8>>(),
        )
        .responses(6)
        .expect(|o| {
            let t: Vec<String> = o
                .resps(0)
                .iter()
                .map(|r| r.header("Content-Type").unwrap_or("").to_string())
                .collect();
            assert_eq!(
                t,
                [
                    "text/html",
                    "text/css",
                    "application/javascript",
                    "image/svg+xml",
                    "application/json",
                    "audio/mpeg"
                ]
            );
        }),
    );
    cases
}

// ==========================================================================================
// Tests
// ==========================================================================================

fn static_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1", "127.0.0.1"],
        ..Needs::default()
    };
    let defaults = Needs {
        listen: &["127.0.0.1"],
        ..Needs::default()
    };
    let mut main: Vec<Case> = Vec::new();
    main.extend(
        root_and_index()
            .into_iter()
            .filter(|c| c.conns[0].listen != 2),
    );
    main.extend(try_files());
    main.extend(types().into_iter().filter(|c| c.conns[0].listen != 2));
    main.extend(
        redirects_and_errors()
            .into_iter()
            .filter(|c| c.conns[0].listen != 2),
    );
    main.extend(conditional());
    main.extend(ranges());
    main.extend(more());
    let mut deflt: Vec<Case> = Vec::new();
    for c in root_and_index()
        .into_iter()
        .chain(types())
        .chain(redirects_and_errors())
    {
        if c.conns[0].listen == 2 {
            deflt.push(c.on(0));
        }
    }
    vec![
        Suite::new("static files", needs, static_http)
            .files(tree)
            .setup(setup)
            .cases(main),
        Suite::new("static defaults", defaults, defaults_http)
            .files(tree)
            .setup(setup)
            .cases(deflt),
    ]
}

fn hostile_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1", "127.0.0.1"],
        ..Needs::default()
    };
    vec![Suite::new("hostile requests", needs, static_http)
        .files(tree)
        .setup(setup)
        .cases(hostile())]
}

fn novnc_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1"],
        ..Needs::default()
    };
    vec![Suite::new("noVNC tree", needs, novnc_http).cases(novnc_cases())]
}

#[test]
fn s15_static_files() {
    run_suites(static_suites());
}

#[test]
fn s15_hostile_requests() {
    run_suites(hostile_suites());
}

#[test]
fn s15_novnc_tree() {
    run_suites(novnc_suites());
}

/// Every rule of this file's list has cases, and every case names a rule.
#[test]
fn coverage() {
    let suites: Vec<Suite> = [static_suites(), hostile_suites(), novnc_suites()]
        .into_iter()
        .flatten()
        .collect();
    let t = coverage_table(&suites);
    for (r, n) in t.values() {
        println!("{r:<8} {n}");
    }
    let missing: Vec<String> = (1..=11)
        .map(|i| format!("S15.{i}"))
        .filter(|r| !t.contains_key(&rule_key(r)))
        .collect();
    assert!(missing.is_empty(), "rules without a case: {missing:?}");
    for s in &suites {
        for c in &s.cases {
            assert!(!c.rules.is_empty(), "{} / {} names no rule", s.name, c.name);
        }
    }
}
