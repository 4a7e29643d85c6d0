//! Routing: which server a request is for (S2.4) and which location handles its URI (S3.2,
//! S3.3). Pure functions over the IR, table-tested.

use crate::ir::location::{LocId, Location, LocationKind, LocationTree};
use crate::ir::server::{AddrConf, ServerId};
use crate::ir::Server;
use crate::runtime::state::captures::Captures;

/// S2.4: the server for a (normalised) host name on one address.
pub fn select_server(addr: &AddrConf, host: &[u8]) -> (ServerId, Option<Captures>) {
    if let Some(id) = addr.exact.get(host) {
        return (*id, None);
    }
    // Leading wildcards, longest first: `*.a.com` matches any depth, never `a.com` itself.
    for (suffix, id) in &addr.wildcard_head {
        if host.len() > suffix.len() && host.ends_with(suffix) {
            return (*id, None);
        }
    }
    for (prefix, id) in &addr.wildcard_tail {
        if host.len() > prefix.len() && host.starts_with(prefix) {
            return (*id, None);
        }
    }
    for (re, id) in &addr.regexes {
        if let Some(c) = Captures::from_regex(re, host) {
            return (*id, Some(c));
        }
    }
    (addr.default_server, None)
}

/// The outcome of the location search.
#[derive(Debug)]
pub enum Found {
    /// This location handles the request.
    Location(LocId),
    /// S3.3: answer 301 to the location's name.
    Redirect(LocId),
    /// No location matched: the server's own configuration applies.
    Server,
}

enum Step {
    /// An exact match, or a regex: the search ends.
    Ok(LocId),
    /// S3.3.
    Done(LocId),
    /// A prefix matched; regexes may still win.
    Again(LocId),
    Declined,
}

/// S3.2: the location for a normalised URI, with the captures of a matching regex.
pub fn find_location(server: &Server, uri: &[u8]) -> (Found, Option<Captures>) {
    let mut captures = None;
    let step = search(&server.tree, &server.locations, uri, &mut captures);
    let found = match step {
        Step::Ok(id) | Step::Again(id) => Found::Location(id),
        Step::Done(id) => Found::Redirect(id),
        Step::Declined => Found::Server,
    };
    (found, captures)
}

/// One level of nginx's `ngx_http_core_find_location`.
fn search(tree: &LocationTree, locs: &[Location], uri: &[u8], caps: &mut Option<Captures>) -> Step {
    if let Some(id) = tree.exact.get(uri) {
        return Step::Ok(*id);
    }
    // A location named `uri/` with proxy_pass is longer than any prefix of `uri`: nginx's
    // tree walk ends on it, and regexes are not consulted.
    if let Some(id) = tree.redirects.get(uri) {
        return Step::Done(*id);
    }
    let mut rc = Step::Declined;
    let mut noregex = false;
    if let Some(p) = tree
        .prefixes
        .iter()
        .copied()
        .find(|p| uri.starts_with(&locs[p.0 as usize].name))
    {
        let loc = &locs[p.0 as usize];
        noregex = matches!(loc.kind, LocationKind::PrefixNoRegex);
        rc = match search(&loc.nested, locs, uri, caps) {
            found @ (Step::Ok(_) | Step::Done(_)) => return found,
            Step::Again(deeper) => Step::Again(deeper),
            Step::Declined => Step::Again(p),
        };
    }
    if !noregex {
        for r in &tree.regexes {
            let loc = &locs[r.0 as usize];
            let LocationKind::Regex(re) = &loc.kind else {
                continue;
            };
            if let Some(c) = Captures::from_regex(re, uri) {
                *caps = Some(c);
                return match search(&loc.nested, locs, uri, caps) {
                    Step::Ok(id) | Step::Done(id) | Step::Again(id) => Step::Ok(id),
                    Step::Declined => Step::Ok(*r),
                };
            }
        }
    }
    rc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, Options};

    fn server(http: &str) -> (crate::ir::Config, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!("events {{}}\nhttp {{ access_log off;\n{http}\n}}\n"),
        )
        .unwrap();
        let loaded = load(&Options {
            prefix: Some(dir.path().to_path_buf()),
            conf_file: Some(conf),
            params: None,
            error_log: None,
            open_logs: false,
        });
        let errors: Vec<String> = loaded
            .diagnostics
            .errors()
            .map(|d| d.message.clone())
            .collect();
        (loaded.config.unwrap_or_else(|| panic!("{errors:?}")), dir)
    }

    /// S3.2's verified table (p03).
    #[test]
    fn locations_follow_s3_2() {
        let (c, _d) = server(
            r#"server { listen 127.0.0.1:8080;
                location = / { return 200 "exact /"; }
                location / { return 200 "/"; }
                location /images/ { return 200 "/images/"; }
                location /images/deep/ { return 200 "/images/deep/"; }
                location ^~ /static/ { return 200 "^~ /static/"; }
                location ~* \.(gif|jpg)$ { return 200 "~* gif"; }
                location ~ \.php$ { return 200 "~ php"; }
                location ~ ^/images/.*\.php$ { return 200 "~ images php"; }
                location /a { location /a/b { return 200 "/a/b"; } location ~ \.x$ { return 200 "nested x"; } }
                location ~ \.x$ { return 200 "outer x"; }
                location /CaSe { return 200 "case"; }
                location /proxy/ { proxy_pass http://127.0.0.1:1; }
                location ~ ^/proxy$ { return 200 "regex proxy"; }
            }"#,
        );
        let s = &c.http.as_ref().unwrap().servers[0];
        let name = |f: Found| match f {
            Found::Location(id) => {
                String::from_utf8_lossy(&s.locations[id.0 as usize].name).to_string()
            }
            Found::Redirect(id) => format!(
                "301 {}",
                String::from_utf8_lossy(&s.locations[id.0 as usize].name)
            ),
            Found::Server => "server".to_string(),
        };
        let check = |uri: &str, want: &str| {
            let (f, _) = find_location(s, uri.as_bytes());
            assert_eq!(name(f), want, "{uri}");
        };
        check("/", "/");
        check("/index.html", "/");
        check("/images/x.png", "/images/");
        check("/images/x.gif", r"\.(gif|jpg)$");
        check("/images/deep/x.php", r"\.php$");
        check("/static/x.gif", "/static/");
        check("/x.GIF", r"\.(gif|jpg)$");
        check("/a/b.x", r"\.x$");
        check("/ab.x", r"\.x$");
        check("/a/b", "/a/b");
        check("/case", "/");
        check("/proxy", "301 /proxy/");
        check("/proxy/x", "/proxy/");
    }

    #[test]
    fn exact_root_and_nested_regex_positions() {
        let (c, _d) = server(
            r#"server { listen 127.0.0.1:8080;
                location = / { return 200 "exact"; }
                location /a { location ~ \.x$ { return 200 "nested"; } }
                location ~ \.x$ { return 200 "outer"; }
                location ^~ /n/ { location ~ \.x$ { return 200 "n nested"; } }
            }"#,
        );
        let s = &c.http.as_ref().unwrap().servers[0];
        let nested_first = |uri: &str| match find_location(s, uri.as_bytes()).0 {
            Found::Location(id) => id,
            other => panic!("{other:?}"),
        };
        // The exact `/` (declared first) and the nested regex inside `/a` win.
        assert!(matches!(
            s.locations[nested_first("/").0 as usize].kind,
            LocationKind::Exact
        ));
        let a = nested_first("/a/q.x");
        let outer = nested_first("/q.x");
        assert_ne!(a, outer, "the nested regex of /a comes first for /a/q.x");
        // ^~ suppresses outer regexes but not its own nested ones.
        let n = nested_first("/n/q.x");
        assert!(matches!(
            s.locations[n.0 as usize].kind,
            LocationKind::Regex(_)
        ));
        assert_ne!(n, outer);
        // No location at all: the server's configuration.
        let (c, _d) = server(r#"server { listen 127.0.0.1:8080; location /only/ { } }"#);
        let s = &c.http.as_ref().unwrap().servers[0];
        assert!(matches!(find_location(s, b"/other").0, Found::Server));
    }

    /// S2.5's verified table (p02).
    #[test]
    fn server_names_follow_s2_5() {
        let (c, _d) = server(
            r#"server { listen 127.0.0.1:8080; server_name first.test; return 200 S1; }
               server { listen 127.0.0.1:8080; server_name exact.test *.wild.test *.b.wild.test; return 200 S2; }
               server { listen 127.0.0.1:8080; server_name .dot.test; return 200 S3; }
               server { listen 127.0.0.1:8080; server_name www.*; return 200 S4; }
               server { listen 127.0.0.1:8080; server_name ~^(?<sub>\w+)\.re\.test$; return 200 S5; }
               server { listen 127.0.0.1:8080; server_name *.exact.test; return 200 S6; }
               server { listen 127.0.0.1:8080; server_name _; return 200 S7; }
               server { listen 127.0.0.1:8080; server_name ""; return 200 S8; }
               server { listen 127.0.0.1:8080; server_name ~^UPPER\.test$; return 200 S9; }
               server { listen 127.0.0.1:8080; server_name x.dot.test; return 200 S10; }"#,
        );
        let http = c.http.as_ref().unwrap();
        let addr = &http.sockets[0].addrs[0];
        let check = |host: &str, want: usize| {
            let (id, _) = select_server(addr, host.as_bytes());
            assert_eq!(id.0 as usize + 1, want, "{host}");
        };
        check("exact.test", 2);
        check("x.y.wild.test", 2);
        check("wild.test", 1);
        check("dot.test", 3);
        check("y.dot.test", 3);
        check("x.dot.test", 10);
        check("www.example.org", 4);
        check("foo.re.test", 5);
        check("a.exact.test", 6);
        check("upper.test", 9);
        check("_", 7);
        check("nomatch.test", 1);
        check("", 8);
        let (_, caps) = select_server(addr, b"foo.re.test");
        assert_eq!(caps.unwrap().named("sub"), Some(&b"foo"[..]));
    }
}
