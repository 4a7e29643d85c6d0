//! Differential runtime tests: the real nginx 1.22.1 and rginx serve the same nginx.conf, get
//! the same raw requests, and must answer byte for byte alike.
//!
//! Each `#[test]` runs the suites of one section of `shared/docs/nginx-semantics.md`. A suite is
//! an nginx.conf (the `http {}` contents, written against fresh ports) plus a list of cases; a
//! case is one or more client connections, each a script of raw writes, pauses and reads, and
//! names the spec rules it covers. For every suite the harness:
//!
//! 1. picks free loopback ports, starts the echo upstreams (`common::upstream`), closed ports and
//!    black holes the suite asks for, and writes the config into a temporary prefix;
//! 2. starts **nginx** as `nginx -p PREFIX/ -c PREFIX/conf/nginx.conf -g 'daemon off;
//!    master_process off;'` and waits until it answers on the "barrier": a server added to
//!    every config on its own port, with `access_log off`, returning a token unique to the run;
//! 3. runs the cases in order and records, per case, what each client connection read and how
//!    it ended, what each echo upstream received, the new access-log lines and the new
//!    error-log lines (`[warn]` and worse, plus the `[info]` lines a case asks for);
//! 4. stops nginx by its pid and checks the properties every case expects of nginx;
//! 5. does the same with **rginx** (identical command line, same ports and prefix, echo state
//!    reset) and compares everything with nginx's record.
//!
//! Log lines are collected once the server has let go of the case's client connections (read
//! from /proc: a request ending in a lingering close is logged only when the client's FIN is
//! processed) and has answered the barrier; rginx gets up to a second more to reach nginx's line
//! counts. An echo upstream's take waits for a request that is still arriving.
//!
//! Normalised before comparing, and nothing else: the `Date:` header value, the version in
//! `nginx/1.22.1` (`Server:` and error-page footers), the client's ephemeral port wherever it
//! appears, time fields in access-log lines (`[$time_local]` and `$msec`/`$request_time`/
//! `$upstream_*_time`, i.e. `N.NNN` numbers) and the `TIME [level] PID#TID: *CONN ` prefix of
//! error-log lines. A mismatch prints the suite, case and rules, the first differing offset and
//! both sides with bytes escaped.
//!
//! Run: `cargo test --test nginx_diff` (both servers; nginx must be installed, it is never
//! skipped). `RGINX_DIFF_ONLY=nginx cargo test --test nginx_diff -- --nocapture` runs nginx
//! alone and checks only the expected properties: the mode for writing new cases;
//! `RGINX_DIFF_SHOW=1` also prints everything nginx did in every case. The `coverage` test
//! prints which spec rules the cases cover and fails if a required one has none.
//!
//! The harness (suites, cases, runs, normalisation, comparison) is `common/diff.rs`, shared
//! with `static_files.rs`; this file holds the suites.
//!
//! Timing cases use short timeouts (0.5-1 s) and assert only lower bounds on elapsed time.
//! Out of scope here: TLS, HTTP/2, WebSocket tunnels and signals (later suites), and anything
//! that needs a non-loopback address (the `*:port` wildcard of S2.3).

mod common;
#[path = "common/diff.rs"]
mod diff;

use diff::*;

use std::path::Path;
use std::time::Duration;

/// The rules the suites must cover, at least one case each.
const REQUIRED: &[&str] = &[
    "S2.1", "S2.2", "S2.3", "S2.4", "S2.5", "S2.6", "S2.7", "S3.1", "S3.2", "S3.3", "S4.1", "S4.2",
    "S4.3", "S4.4", "S4.5", "S4.6", "S5.2", "S5.3", "S5.4", "S5.5", "S5.6", "S5.7", "S5.8", "S6.1",
    "S6.2", "S6.3", "S6.4", "S6.5", "S6.6", "S6.7", "S6.8", "S7", "S8.2", "S8.3", "S8.4", "S8.5",
    "S8.6", "S9", "S10.1", "S10.2", "S10.3", "S10.4", "S10.5", "S10.6", "S10.7", "S13.1", "S13.2",
    "S13.3", "S13.4", "S13.5", "S13.6", "S13.7", "S13.8", "S13.9", "S13.10", "S13.11", "S13.12",
];

fn all_suites() -> Vec<Suite> {
    [
        s2_suites(),
        s3_suites(),
        s4_suites(),
        s5_suites(),
        s6_suites(),
        s7_suites(),
        s8_suites(),
        s9_suites(),
        s10_suites(),
        s13_suites(),
        log_suites(),
        seed_suites(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn coverage() {
    let suites = all_suites();
    let t = coverage_table(&suites);
    println!("{:<8} cases", "rule");
    for (r, n) in t.values() {
        println!("{r:<8} {n}");
    }
    let cases: usize = suites.iter().map(|s| s.cases.len()).sum();
    println!("{} suites, {cases} cases", suites.len());
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|r| !t.contains_key(&rule_key(r)))
        .collect();
    assert!(missing.is_empty(), "rules without a case: {missing:?}");
    for s in &suites {
        for c in &s.cases {
            assert!(!c.rules.is_empty(), "{} / {} names no rule", s.name, c.name);
        }
    }
}

// ==========================================================================================
// S2: listen, server_name, virtual-server selection, Host normalisation
// ==========================================================================================

/// A server that names itself and the selection variables.
fn named_server(tag: &str, names: Option<&str>, listen: &str) -> String {
    let sn = names.map_or(String::new(), |n| format!("server_name {n};"));
    format!(
        "server {{ listen {listen}; {sn} location / {{ return 200 \"{tag} sn=[$server_name] \
         host=[$host] http_host=[$http_host] sport=[$server_port] saddr=[$server_addr]\\n\"; }} }}\n"
    )
}

/// The body `named_server` returns.
fn named_body(tag: &str, sn: &str, host: &str, http_host: &str, port: u16, addr: &str) -> String {
    format!("{tag} sn=[{sn}] host=[{host}] http_host=[{http_host}] sport=[{port}] saddr=[{addr}]\n")
}

/// (case, rules, Host header, tag, `$server_name`, `$host`).
type HostRow = (
    &'static str,
    Rules,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

fn s2_suites() -> Vec<Suite> {
    // Listen addresses: 0 main (the p02 servers), 1 default_server, 2 no "" server,
    // 3 a second listen of "multi", 4 = 127.0.0.2 on the port of 3, 5 = [::1].
    let needs = Needs {
        listen: &[
            "127.0.0.1",
            "127.0.0.1",
            "127.0.0.1",
            "127.0.0.1",
            "127.0.0.2@3",
            "::1",
        ],
        ..Needs::default()
    };
    let http = |e: &Env| {
        let l0 = e.l(0);
        [
            named_server("S1-first", Some("first.test"), &l0),
            named_server("S2", Some("exact.test *.wild.test *.b.wild.test"), &l0),
            named_server("S3", Some(".dot.test"), &l0),
            named_server("S4", Some("www.*"), &l0),
            named_server(
                "S5",
                Some(r"~^(?<sub>\w+)\.re\.test$ ~^.*\.exact\.test$"),
                &l0,
            ),
            named_server("S6", Some("*.exact.test"), &l0),
            named_server("S7", Some("_"), &l0),
            named_server("S8", Some("\"\""), &l0),
            named_server("S9", Some(r"~^UPPER\.test$"), &l0),
            named_server("S10", Some("x.dot.test"), &l0),
            named_server("D1-nosn", None, &e.l(1)),
            named_server(
                "D2-default",
                Some("d2.test"),
                &format!("{} default_server backlog=64", e.l(1)),
            ),
            named_server("N1", Some("n1.test"), &e.l(2)),
            format!(
                "server {{ listen {}; listen {}; server_name multi.test; location / {{ return 200 \
                 \"M1 sn=[$server_name] host=[$host] http_host=[$http_host] sport=[$server_port] \
                 saddr=[$server_addr]\\n\"; }} }}\n",
                e.l(1),
                e.l(3)
            ),
            named_server("ALIAS", Some("alias.test"), &e.l(4)),
            named_server("V6", Some("v6.test"), &e.l(5)),
        ]
        .concat()
    };
    // (case, rules, Host header, tag, $server_name, $host)
    let by_host: &[HostRow] = &[
        (
            "exact",
            &["S2.4", "S2.5"],
            "exact.test",
            "S2",
            "exact.test",
            "exact.test",
        ),
        (
            "case and trailing dot",
            &["S2.6"],
            "EXACT.Test.",
            "S2",
            "exact.test",
            "exact.test",
        ),
        (
            "port dropped",
            &["S2.6"],
            "exact.test:9999",
            "S2",
            "exact.test",
            "exact.test",
        ),
        (
            "leading wildcard",
            &["S2.5"],
            "a.wild.test",
            "S2",
            "exact.test",
            "a.wild.test",
        ),
        (
            "leading wildcard, deeper",
            &["S2.5"],
            "x.y.wild.test",
            "S2",
            "exact.test",
            "x.y.wild.test",
        ),
        (
            "longest leading wildcard",
            &["S2.4"],
            "c.b.wild.test",
            "S2",
            "exact.test",
            "c.b.wild.test",
        ),
        (
            "*.x never matches x",
            &["S2.4", "S2.5"],
            "wild.test",
            "S1-first",
            "first.test",
            "wild.test",
        ),
        (
            ".dot form, bare",
            &["S2.5"],
            "dot.test",
            "S3",
            "dot.test",
            "dot.test",
        ),
        (
            ".dot form, sub",
            &["S2.5"],
            "y.dot.test",
            "S3",
            "dot.test",
            "y.dot.test",
        ),
        (
            "exact beats .dot",
            &["S2.4"],
            "x.dot.test",
            "S10",
            "x.dot.test",
            "x.dot.test",
        ),
        (
            "trailing wildcard",
            &["S2.4", "S2.5"],
            "www.example.org",
            "S4",
            "www.*",
            "www.example.org",
        ),
        (
            "regex",
            &["S2.4", "S2.5"],
            "foo.re.test",
            "S5",
            r"~^(?<sub>\w+)\.re\.test$",
            "foo.re.test",
        ),
        (
            "wildcard beats regex",
            &["S2.4"],
            "a.exact.test",
            "S6",
            "*.exact.test",
            "a.exact.test",
        ),
        (
            "uppercase regex",
            &["S2.5"],
            "upper.test",
            "S9",
            r"~^UPPER\.test$",
            "upper.test",
        ),
        ("underscore is a plain name", &["S2.5"], "_", "S7", "_", "_"),
        (
            "no match: first server",
            &["S2.4"],
            "nomatch.test",
            "S1-first",
            "first.test",
            "nomatch.test",
        ),
        (
            "ip host",
            &["S2.4"],
            "127.0.0.1",
            "S1-first",
            "first.test",
            "127.0.0.1",
        ),
        (
            "ipv6 literal host",
            &["S2.6"],
            "[::1]:8080",
            "S1-first",
            "first.test",
            "[::1]",
        ),
    ];
    let mut cases: Vec<Case> = by_host
        .iter()
        .map(|&(name, rules, host, tag, sn, h)| {
            let (tag, sn, h, hh) = (
                tag.to_string(),
                sn.to_string(),
                h.to_string(),
                host.to_string(),
            );
            Case::new(name, rules, get("/", host)).expect(move |o| {
                assert_eq!(o.status(), 200);
                assert_eq!(
                    o.body(),
                    named_body(&tag, &sn, &h, &hh, o.env.lp(0), "127.0.0.1")
                );
            })
        })
        .collect();
    for (name, host) in [
        ("empty Host", "Host: "),
        ("Host with ..", "Host: a..b"),
        ("Host with /", "Host: a/b"),
        ("Host with a space", "Host: a b"),
        ("Host only a port", "Host: :80"),
        ("duplicate Host", "Host: exact.test\r\nHost: first.test"),
        ("HTTP/1.1 without Host", "X-No-Host: 1"),
    ] {
        cases.push(
            Case::new(
                name,
                &["S2.6", "S13.4"],
                format!("GET / HTTP/1.1\r\n{host}\r\n\r\n"),
            )
            .info(&["client sent"])
            .expect(|o| {
                let r = o.resp();
                assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
                assert_eq!(r.header("Connection"), Some("close"));
                assert_eq!(o.conn(0).end, End::Eof);
            }),
        );
    }
    cases.extend([
        Case::new("HTTP/1.0 without Host: the \"\" server", &["S2.5", "S2.6"], "GET / HTTP/1.0\r\n\r\n")
            .expect(|o| assert_eq!(o.body(), named_body("S8", "", "", "", o.env.lp(0), "127.0.0.1"))),
        Case::new(
            "absolute-form target wins over Host",
            &["S2.4"],
            "GET http://exact.test:1234/p HTTP/1.1\r\nHost: first.test\r\nConnection: close\r\n\r\n",
        )
        .expect(|o| {
            assert_eq!(o.body(), named_body("S2", "exact.test", "exact.test", "first.test", o.env.lp(0), "127.0.0.1"))
        }),
        Case::new("HTTP/0.9: body only", &["S2.7"], "GET /\r\n").expect(|o| {
            assert_eq!(o.text(), named_body("S8", "", "", "", o.env.lp(0), "127.0.0.1"));
        }),
        Case::new("default_server, unknown host", &["S2.2", "S2.4"], get("/", "nomatch"))
            .on(1)
            .expect(|o| assert!(o.body().starts_with("D2-default sn=[d2.test] host=[nomatch]"))),
        Case::new("default_server, its own name", &["S2.2"], get("/", "d2.test"))
            .on(1)
            .expect(|o| assert!(o.body().starts_with("D2-default sn=[d2.test]"))),
        Case::new("second listen of a server: by name", &["S2.1", "S2.2"], get("/", "multi.test"))
            .on(1)
            .expect(|o| assert_eq!(o.body(), named_body("M1", "multi.test", "multi.test", "multi.test", o.env.lp(1), "127.0.0.1"))),
        Case::new("second listen of a server: only candidate", &["S2.1", "S2.4"], get("/", "d2.test"))
            .on(3)
            .expect(|o| assert_eq!(o.body(), named_body("M1", "multi.test", "d2.test", "d2.test", o.env.lp(3), "127.0.0.1"))),
        Case::new("no Host, no \"\" server: $host is the server name", &["S2.6"], "GET / HTTP/1.0\r\n\r\n")
            .on(2)
            .expect(|o| assert_eq!(o.body(), named_body("N1", "n1.test", "n1.test", "", o.env.lp(2), "127.0.0.1"))),
        Case::new("same port, other address: only its servers", &["S2.3"], get("/", "multi.test"))
            .on(4)
            .expect(|o| {
                assert_eq!(o.env.lp(4), o.env.lp(3));
                assert_eq!(o.body(), named_body("ALIAS", "alias.test", "multi.test", "multi.test", o.env.lp(4), "127.0.0.2"))
            }),
        Case::new("IPv6 listen", &["S2.1"], get("/", "v6.test")).on(5).expect(|o| {
            assert_eq!(o.body(), named_body("V6", "v6.test", "v6.test", "v6.test", o.env.lp(5), "::1"))
        }),
    ]);
    vec![Suite::new("server_names", needs, http).cases(cases)]
}

#[test]
fn s2_server_selection() {
    run_suites(s2_suites());
}

// ==========================================================================================
// S3: location matching
// ==========================================================================================

fn s3_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1", "127.0.0.1"],
        echo: 1,
        ..Needs::default()
    };
    let http = |e: &Env| {
        format!(
            r#"server {{
  listen {l0};
  location = / {{ return 200 "exact-root uri=$uri"; }}
  location / {{ return 200 "prefix-root uri=$uri"; }}
  location /images/ {{ return 200 "prefix-images uri=$uri"; }}
  location /images/deep/ {{ return 200 "prefix-images-deep uri=$uri"; }}
  location ^~ /static/ {{ return 200 "noregex-static uri=$uri"; }}
  location ~* \.(gif|jpg)$ {{ return 200 "regex-ci-img uri=$uri"; }}
  location ~ \.php$ {{ return 200 "regex-php uri=$uri"; }}
  location ~ ^/images/.*\.php$ {{ return 200 "regex-images-php uri=$uri"; }}
  location /a {{
      location /a/b {{ return 200 "nested-a/b uri=$uri"; }}
      location ~ \.x$ {{ return 200 "nested-regex-.x uri=$uri"; }}
      return 200 "a uri=$uri";
  }}
  location ~ \.x$ {{ return 200 "outer-regex-.x uri=$uri"; }}
  location /proxy/ {{ proxy_pass http://{e0}; }}
  location ~ ^/proxy$ {{ return 200 "regex-proxy-no-slash"; }}
  location = /exactslash/ {{ proxy_pass http://{e0}; }}
  location /ret/ {{ return 200 "ret (no proxy => no auto redirect)"; }}
  location /both/ {{ proxy_pass http://{e0}; }}
  location = /both {{ return 200 "exact /both beats auto-redirect"; }}
  location /named-test {{ error_page 404 = @named; return 404; }}
  location @named {{ return 200 "named uri=$uri"; }}
  location /CaSe {{ return 200 "case-sensitive prefix"; }}
  location ~ /Reg {{ return 200 "case-sensitive regex"; }}
  location /sp {{ return 200 "sp uri=[$uri] request_uri=[$request_uri] args=[$args]"; }}
}}
server {{
  listen {l1};
  location /only {{ return 200 "only"; }}
}}
"#,
            l0 = e.l(0),
            l1 = e.l(1),
            e0 = e.e(0)
        )
    };
    let table: &[(&str, Rules, &str)] = &[
        ("/", &["S3.2"], "exact-root uri=/"),
        ("/index.html", &["S3.2"], "prefix-root uri=/index.html"),
        (
            "/images/x.png",
            &["S3.2"],
            "prefix-images uri=/images/x.png",
        ),
        ("/images/x.gif", &["S3.2"], "regex-ci-img uri=/images/x.gif"),
        ("/images/x.php", &["S3.2"], "regex-php uri=/images/x.php"),
        (
            "/images/deep/x.php",
            &["S3.2"],
            "regex-php uri=/images/deep/x.php",
        ),
        (
            "/static/x.gif",
            &["S3.1", "S3.2"],
            "noregex-static uri=/static/x.gif",
        ),
        ("/x.GIF", &["S3.1"], "regex-ci-img uri=/x.GIF"),
        ("/a/b", &["S3.2"], "nested-a/b uri=/a/b"),
        ("/a/b.x", &["S3.2"], "nested-regex-.x uri=/a/b.x"),
        ("/a/c.x", &["S3.2"], "nested-regex-.x uri=/a/c.x"),
        ("/ab.x", &["S3.1", "S3.2"], "nested-regex-.x uri=/ab.x"),
        ("/ret", &["S3.3"], "prefix-root uri=/ret"),
        ("/both", &["S3.3"], "exact /both beats auto-redirect"),
        ("/named-test", &["S3.1"], "named uri=/named-test"),
        ("/case", &["S3.1"], "prefix-root uri=/case"),
        ("/CaSe", &["S3.1"], "case-sensitive prefix"),
        ("/reg", &["S3.1"], "prefix-root uri=/reg"),
        ("/Reg", &["S3.1"], "case-sensitive regex"),
        ("/%61/b", &["S3.1"], "nested-a/b uri=/a/b"),
        ("/a%2Fb", &["S3.1"], "nested-a/b uri=/a/b"),
        (
            "/a/../images/x.php",
            &["S3.1"],
            "regex-php uri=/images/x.php",
        ),
        (
            "//images//x.gif",
            &["S3.1"],
            "regex-ci-img uri=/images/x.gif",
        ),
        ("/images/./x.php", &["S3.1"], "regex-php uri=/images/x.php"),
        (
            "/sp%20x?q=%20",
            &["S3.1", "S7"],
            "sp uri=[/sp x] request_uri=[/sp%20x?q=%20] args=[q=%20]",
        ),
        (
            "/sp/../sp/%7e?a",
            &["S3.1", "S7"],
            "sp uri=[/sp/~] request_uri=[/sp/../sp/%7e?a] args=[a]",
        ),
        (
            "/sp#frag",
            &["S3.1", "S7"],
            "sp uri=[/sp] request_uri=[/sp#frag] args=[]",
        ),
    ];
    let mut cases: Vec<Case> = table
        .iter()
        .map(|&(path, rules, want)| {
            let want = want.to_string();
            Case::new(path, rules, get(path, "loc.test")).expect(move |o| {
                assert_eq!(o.status(), 200);
                assert_eq!(o.body(), want);
            })
        })
        .collect();
    for path in ["/../x", "/sp%00"] {
        cases.push(
            Case::new(path, &["S3.1", "S13.11"], get(path, "loc.test"))
                .info(&["client sent"])
                .expect(|o| assert_eq!(o.status(), 400)),
        );
    }
    cases.extend([
        Case::new("auto 301, exact bytes", &["S3.3", "S13.6", "S13.2"], get("/proxy", "loc.test")).expect(|o| {
            let body = err_page("301 Moved Permanently");
            assert_bytes(
                o,
                &format!(
                    "HTTP/1.1 301 Moved Permanently\r\nServer: nginx/1.22.1\r\nDate: <DATE>\r\n\
                     Content-Type: text/html\r\nContent-Length: {}\r\nLocation: http://loc.test:{}/proxy/\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len(),
                    o.env.lp(0)
                ),
            );
            assert!(o.up(0).is_empty());
        }),
        Case::new("auto 301 keeps the args", &["S3.3"], get("/proxy?x=1&y=2", "loc.test")).expect(|o| {
            assert_eq!(o.status(), 301);
            assert_eq!(o.header("Location").unwrap(), format!("http://loc.test:{}/proxy/?x=1&y=2", o.env.lp(0)));
        }),
        Case::new("auto 301 of an exact location", &["S3.3"], get("/exactslash", "loc.test")).expect(|o| {
            assert_eq!(o.header("Location").unwrap(), format!("http://loc.test:{}/exactslash/", o.env.lp(0)));
        }),
        Case::new("auto 301 without Host: local address", &["S3.3", "S13.6"], "GET /proxy?x=1 HTTP/1.0\r\n\r\n").expect(|o| {
            assert_eq!(o.header("Location").unwrap(), format!("http://127.0.0.1:{}/proxy/?x=1", o.env.lp(0)));
        }),
        Case::new("auto 301 keeps the connection", &["S3.3", "S13.4"], get_with("/proxy", "loc.test", &[]))
            .responses(1)
            .expect(|o| {
                assert_eq!(o.status(), 301);
                assert_eq!(o.header("Connection").as_deref(), Some("keep-alive"));
                assert_eq!(o.conn(0).end, End::Open);
            }),
        Case::new("the prefix location itself proxies", &["S3.2", "S4.2"], get("/proxy/x", "loc.test"))
            .expect(|o| assert_eq!(o.up_lines(0), ["GET /proxy/x HTTP/1.0"])),
        Case::new("no location: static root, 404", &["S3.2"], get("/zzz", "x")).on(1).expect(|o| {
            assert_eq!(o.status(), 404);
            assert_eq!(o.body(), err_page("404 Not Found"));
            assert_eq!(o.errors().len(), 1, "{:?}", o.errors());
            assert!(o.errors()[0].starts_with("[error] open() \""), "{:?}", o.errors());
        }),
    ]);
    vec![Suite::new("locations", needs, http).cases(cases)]
}

#[test]
fn s3_locations() {
    run_suites(s3_suites());
}

// ==========================================================================================
// S4: proxy_pass
// ==========================================================================================

/// Percent-encodes everything but unreserved characters and `{}` (kept for placeholders).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'{' | b'}' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The request line and the `Host` line echo 0 received for the only request.
fn up_target(o: &Outcome) -> (String, Option<String>) {
    let raw = o.up1(0);
    let mut lines = raw.split("\r\n");
    let line = lines.next().unwrap_or("").to_string();
    let host = lines
        .find(|l| l.to_ascii_lowercase().starts_with("host:"))
        .map(|l| l.to_string());
    (line, host)
}

fn s4_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1", "127.0.0.1", "127.0.0.1"],
        echo: 1,
        ..Needs::default()
    };
    let http = |e: &Env| {
        format!(
            r#"upstream vnc_proxy {{ server {e0}; }}
server {{
  listen {l0};
  location /nouri/ {{ proxy_pass http://{e0}; }}
  location /slash/ {{ proxy_pass http://{e0}/; }}
  location /noslash {{ proxy_pass http://{e0}/; }}
  location /repl/ {{ proxy_pass http://{e0}/new/path/; }}
  location /repl2/ {{ proxy_pass http://{e0}/new; }}
  location /ups/ {{ proxy_pass http://vnc_proxy/; }}
  location /upsnouri/ {{ proxy_pass http://vnc_proxy; }}
  location /scheme/ {{ proxy_pass HTTP://{e0}/s/; }}
  location ~ ^/re/(.*)$ {{ proxy_pass http://{e0}; }}
  location ~ ^/recap/(.*)$ {{ proxy_pass http://{e0}/cap/$1; }}
  location ~ ^/recapargs/(.*)$ {{ proxy_pass http://{e0}/cap/$1$is_args$args; }}
  location /var/ {{ set $b "{e0}"; proxy_pass http://$b; }}
  location /varups/ {{ set $u vnc_proxy; proxy_pass http://$u; }}
  location /varuri/ {{ set $b "{e0}"; proxy_pass http://$b/x/; }}
  location /varhost/ {{ proxy_pass http://$arg_h; }}
  location /rw/ {{ rewrite ^/rw/(.*)$ /rewritten/$1 break; proxy_pass http://{e0}; }}
  location /rwuri/ {{ rewrite ^/rwuri/(.*)$ /rewritten/$1 break; proxy_pass http://{e0}/base/; }}
  location = /exact {{ proxy_pass http://{e0}/e; }}
  location /ifblock/ {{ if ($arg_x) {{ proxy_pass http://{e0}; }} return 200 "no-if"; }}
  location /v11/ {{ proxy_http_version 1.1; proxy_pass http://{e0}; }}
  location /pv/ {{ proxy_set_header X-P "[$proxy_host] [$proxy_port]"; proxy_pass http://vnc_proxy/; }}
  location /pv2/ {{ proxy_set_header X-P "[$proxy_host] [$proxy_port]"; proxy_pass http://{e0}/; }}
}}
server {{
  listen {l1};
  location / {{ proxy_pass http://{e0}/; }}
  location /raw/ {{ proxy_pass http://{e0}; }}
}}
server {{
  listen {l2};
  location /vnc/ {{ proxy_pass http://vnc_proxy/; }}
  location /plain/ {{ proxy_pass http://{e0}; }}
  location /ipuri/ {{ proxy_pass http://{e0}/app/; }}
  location /off/ {{ proxy_redirect off; proxy_pass http://vnc_proxy/; }}
  location /noabs/ {{ absolute_redirect off; proxy_pass http://vnc_proxy/; }}
}}
"#,
            l0 = e.l(0),
            l1 = e.l(1),
            l2 = e.l(2),
            e0 = e.e(0)
        )
    };
    // (client target, rules, upstream request-target, upstream Host: None = the echo address)
    let mapping: &[(&str, Rules, &str, Option<&str>)] = &[
        (
            "/nouri/a%20b//c/../d?x=%41&y",
            &["S4.2"],
            "/nouri/a%20b//c/../d?x=%41&y",
            None,
        ),
        ("/slash/a%20b?q=1", &["S4.2"], "/a%20b?q=1", None),
        ("/slash/%2F%3F?x", &["S4.2"], "/%3F?x", None),
        ("/slash/a/../b", &["S4.2"], "/b", None),
        ("/slash//x", &["S4.2"], "/x", None),
        ("/slash/", &["S4.2"], "/", None),
        ("/slash/%7E%41", &["S4.2"], "/~A", None),
        ("/slash/a+b;p=1", &["S4.2"], "/a+b;p=1", None),
        ("/slash/\u{fc}", &["S4.2"], "/\u{fc}", None),
        ("/noslash", &["S4.2"], "/", None),
        ("/noslashfoo", &["S4.2"], "/foo", None),
        ("/noslash/x", &["S4.2"], "//x", None),
        ("/repl/x/y?z", &["S4.2"], "/new/path/x/y?z", None),
        ("/repl2/x", &["S4.2"], "/newx", None),
        (
            "/ups/x?y",
            &["S4.1", "S4.2", "S4.4"],
            "/x?y",
            Some("vnc_proxy"),
        ),
        (
            "/upsnouri/x?y",
            &["S4.2", "S4.4"],
            "/upsnouri/x?y",
            Some("vnc_proxy"),
        ),
        ("/scheme/x", &["S4.1"], "/s/x", None),
        ("/re/a%20b?q", &["S4.2"], "/re/a%20b?q", None),
        ("/recap/a%20b?q=1", &["S4.3"], "/cap/a b", None),
        ("/recapargs/a%20b?q=1", &["S4.3"], "/cap/a b?q=1", None),
        ("/var/a%20b?q", &["S4.3"], "/var/a%20b?q", None),
        (
            "/varups/x?y",
            &["S4.3", "S4.4"],
            "/varups/x?y",
            Some("vnc_proxy"),
        ),
        ("/varuri/abc?q=1", &["S4.3"], "/x/", None),
        (
            "/varhost/x?h=vnc_proxy",
            &["S4.3"],
            "/varhost/x?h=vnc_proxy",
            Some("vnc_proxy"),
        ),
        ("/rw/a%20b?q=1", &["S4.2"], "/rewritten/a%20b?q=1", None),
        ("/rwuri/a%20b?q=1", &["S4.2"], "/rewritten/a%20b?q=1", None),
        ("/exact?q", &["S4.2"], "/e?q", None),
    ];
    let mut cases: Vec<Case> = mapping
        .iter()
        .map(|&(target, rules, want, host)| {
            let (want, host) = (want.to_string(), host.map(str::to_string));
            Case::new(target, rules, get(target, "client.test")).expect(move |o| {
                assert_eq!(o.status(), 200);
                let (line, h) = up_target(o);
                assert_eq!(line, format!("GET {want} HTTP/1.0"));
                let host = host.clone().unwrap_or_else(|| o.env.e(0));
                assert_eq!(h, Some(format!("Host: {host}")));
            })
        })
        .collect();
    cases.push(
        Case::new(
            "variable host:port: the implicit upstream",
            &["S4.3"],
            get("/varhost/x?h={E0}", "c"),
        )
        .expect(|o| {
            let (line, host) = up_target(o);
            assert_eq!(line, format!("GET /varhost/x?h={} HTTP/1.0", o.env.e(0)));
            assert_eq!(host, Some(format!("Host: {}", o.env.e(0))));
        }),
    );
    cases.extend([
        Case::script(
            "variable host that needs a resolver: 502",
            &["S4.3", "S5.7"],
            vec![Conn::new(
                0,
                vec![
                    send(get("/varhost/x?h=localhost:1", "client.test")),
                    Step::Read(Until::Close),
                ],
            )],
        )
        .expect(|o| {
            assert_eq!(o.status(), 502);
            assert!(o.up(0).is_empty());
            assert_eq!(
                o.errors(),
                ["[error] no resolver defined to resolve localhost, client: 127.0.0.1, server: , \
                  request: \"GET /varhost/x?h=localhost:1 HTTP/1.1\", host: \"client.test\""]
            );
        }),
        Case::new(
            "proxy_pass inside if is not reached after return",
            &["S4.1"],
            get("/ifblock/p?x=1", "x"),
        )
        .expect(|o| assert_eq!(o.body(), "no-if")),
        Case::new(
            "$proxy_host of an upstream block",
            &["S4.4", "S7"],
            get("/pv/", "x"),
        )
        .expect(|o| {
            assert!(
                o.up1(0).contains("\r\nX-P: [vnc_proxy] [80]\r\n"),
                "{}",
                o.up1(0)
            )
        }),
        Case::new(
            "$proxy_host of host:port",
            &["S4.4", "S7"],
            get("/pv2/", "x"),
        )
        .expect(|o| {
            let want = format!("\r\nX-P: [{}] [{}]\r\n", o.env.e(0), o.env.echo[0]);
            assert!(o.up1(0).contains(&want), "{}", o.up1(0));
        }),
        Case::new(
            "HEAD stays HEAD",
            &["S4.6"],
            "HEAD /nouri/h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .expect(|o| {
            assert_eq!(up_target(o).0, "HEAD /nouri/h HTTP/1.0");
            assert!(o.resp().body.is_empty());
        }),
        Case::new(
            "unknown method forwarded",
            &["S4.6", "S13.11"],
            "FOO /nouri/m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .expect(|o| assert_eq!(up_target(o).0, "FOO /nouri/m HTTP/1.0")),
        Case::new("proxy_http_version 1.1", &["S4.6"], get("/v11/x", "x"))
            .expect(|o| assert_eq!(up_target(o).0, "GET /v11/x HTTP/1.1")),
    ]);
    // Re-escaping when the URI part replaces the location (p04c).
    let escapes: &[(&[u8], &[u8])] = &[
        (b"/a%20b", b"/a%20b"),
        (b"/%C3%BC", b"/%C3%BC"),
        (b"/\xc3\xbc", b"/\xc3\xbc"),
        (b"/\xc3\xbc%20", b"/%C3%BC%20"),
        (b"/a%22b%27c%3Cd%3E", b"/a%22b'c%3Cd%3E"),
        (b"/a\"b", b"/a\"b"),
        (b"/a%25b", b"/a%25b"),
        (b"/a%23b", b"/a%23b"),
        (b"/a%3Fb?c%3Fd", b"/a%3Fb?c%3Fd"),
        (b"/a%2Bb+c", b"/a+b+c"),
        (b"/%41%42", b"/AB"),
        (b"/a;b=c", b"/a;b=c"),
        (b"/a%7Bb%7D", b"/a%7Bb%7D"),
        (b"/a{b}", b"/a{b}"),
        (b"/a|b^c`d", b"/a|b^c`d"),
        (b"/a%09b", b"/a%09b"),
        (
            b"/vnc.html?autoconnect=1&path=websockify",
            b"/vnc.html?autoconnect=1&path=websockify",
        ),
        (b"/a/./b/../c//d", b"/a/c/d"),
        (b"/raw/a%20b/../c//d?x=%41", b"/raw/a%20b/../c//d?x=%41"),
        (b"/raw/\xc3\xbc", b"/raw/\xc3\xbc"),
    ];
    for &(target, want) in escapes {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(target);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut line = b"GET ".to_vec();
        line.extend_from_slice(want);
        line.extend_from_slice(b" HTTP/1.0\r\n");
        cases.push(
            Case::new(format!("escape {}", escape(target)), &["S4.2"], req)
                .on(1)
                .expect(move |o| {
                    let raw = &o.run.upstream[0];
                    assert_eq!(raw.len(), 1);
                    assert!(
                        raw[0].raw.starts_with(&line),
                        "upstream got {}",
                        escape(&raw[0].raw)
                    );
                }),
        );
    }
    // proxy_redirect default (p04b): (location, upstream Location, client Location, Refresh URL);
    // `{P}` is the port of listen address 2, `{E0}` the echo (filled in when sending).
    let redirects: &[(&str, &str, &str, &str)] = &[
        (
            "/vnc/",
            "http://vnc_proxy/x?y=1",
            "http://front.test:{P}/vnc/x?y=1",
            "/vnc/x?y=1",
        ),
        (
            "/vnc/",
            "http://vnc_proxy/",
            "http://front.test:{P}/vnc/",
            "/vnc/",
        ),
        ("/vnc/", "/relative/x", "/relative/x", "/relative/x"),
        (
            "/vnc/",
            "http://other/x",
            "http://other/x",
            "http://other/x",
        ),
        (
            "/vnc/",
            "HTTP://VNC_PROXY/x",
            "HTTP://VNC_PROXY/x",
            "HTTP://VNC_PROXY/x",
        ),
        (
            "/plain/",
            "http://{E0}/plain/z",
            "http://front.test:{P}/plain/z",
            "/plain/z",
        ),
        ("/plain/", "http://{E0}/z", "http://front.test:{P}/z", "/z"),
        (
            "/ipuri/",
            "http://{E0}/app/q",
            "http://front.test:{P}/ipuri/q",
            "/ipuri/q",
        ),
        (
            "/off/",
            "http://vnc_proxy/x",
            "http://vnc_proxy/x",
            "http://vnc_proxy/x",
        ),
        ("/noabs/", "http://vnc_proxy/x", "/noabs/x", "/noabs/x"),
    ];
    for &(loc, up, want, refresh) in redirects {
        let (want, refresh) = (want.to_string(), refresh.to_string());
        let target = format!("{loc}x?__loc={}", percent_encode(up));
        cases.push(
            Case::new(
                format!("proxy_redirect {loc} {up}"),
                &["S4.5", "S13.6"],
                get(&target, "front.test"),
            )
            .on(2)
            .expect(move |o| {
                let fill = |s: &str| s.replace("{P}", &o.env.lp(2).to_string());
                assert_eq!(o.status(), 302);
                assert_eq!(o.header("Location"), Some(fill(&want)));
                assert_eq!(
                    o.header("Refresh"),
                    Some(format!("5; url={}", fill(&refresh)))
                );
            }),
        );
    }
    vec![Suite::new("proxy_pass", needs, http).cases(cases)]
}

#[test]
fn s4_proxy_pass() {
    run_suites(s4_suites());
}

// ==========================================================================================
// S5: upstream blocks, balancing, failover, keepalive, 502
// ==========================================================================================

/// Which peer answered each connection of the case, as in p05: `1`..`3` for echo 0..2, or the
/// status code when no echo answered.
fn peers(o: &Outcome) -> String {
    (0..o.run.conns.len())
        .map(|i| {
            let r = o.resp_of(i);
            match r
                .header("X-Upstream-Port")
                .and_then(|p| p.parse::<u16>().ok())
            {
                Some(p) => (o.env.echo.iter().position(|&e| e == p).unwrap() + 1).to_string(),
                None => r.status.to_string(),
            }
        })
        .collect()
}

/// The `X-Conn-Id` of each connection's response.
fn conn_ids(o: &Outcome) -> Vec<String> {
    (0..o.run.conns.len())
        .map(|i| o.resp_of(i).header("X-Conn-Id").unwrap_or("-").to_string())
        .collect()
}

/// The tail nginx appends to an upstream error line.
fn up_ctx(request: &str, upstream: &str) -> String {
    format!(", client: 127.0.0.1, server: , request: \"{request}\", upstream: \"{upstream}\", host: \"x\"")
}

fn s5_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1"],
        echo: 3,
        closed: 2,
        ..Needs::default()
    };
    let http = |e: &Env| {
        let (e0, e1, e2) = (e.e(0), e.e(1), e.e(2));
        let (c0, c1) = (
            format!("127.0.0.1:{}", e.closed[0]),
            format!("127.0.0.1:{}", e.closed[1]),
        );
        format!(
            r#"upstream wrr {{ server {e0} weight=5; server {e1}; server {e2}; }}
upstream rr {{ server {e0}; server {e1}; }}
upstream onedead {{ server {c0}; server {e0}; }}
upstream nofail {{ server {c0} max_fails=0; server {e0}; }}
upstream withbackup {{ server {c0}; server {e2} backup; }}
upstream allprimaryok {{ server {e0}; server {e2} backup; }}
upstream withdown {{ server {e0} down; server {e1}; }}
upstream alldead {{ server {c0}; server {c1}; }}
upstream closer {{ server {e0}; server {e1}; }}
upstream closer2 {{ server {e0}; server {e1}; }}
upstream closer3 {{ server {e0}; server {e1}; }}
upstream st1 {{ server {e0}; server {e1}; }}
upstream st2 {{ server {e0}; server {e1}; }}
upstream single_closer {{ server {e0}; }}
upstream ka {{ server {e0}; keepalive 4; }}
server {{
  listen {l0};
  location = / {{ proxy_pass http://{c0}; }}
  location /wrr/ {{ proxy_pass http://wrr; }}
  location /rr/ {{ proxy_pass http://rr; }}
  location /onedead/ {{ proxy_pass http://onedead; }}
  location /nofail/ {{ proxy_pass http://nofail; }}
  location /backup/ {{ proxy_pass http://withbackup; }}
  location /allprimaryok/ {{ proxy_pass http://allprimaryok; }}
  location /down/ {{ proxy_pass http://withdown; }}
  location /alldead/ {{ proxy_pass http://alldead; }}
  location /direct_dead/ {{ proxy_pass http://{c0}; }}
  location /closer/ {{ proxy_pass http://closer; }}
  location /closer_nonext/ {{ proxy_next_upstream off; proxy_pass http://closer3; }}
  location /closer_post/ {{ proxy_pass http://closer2; }}
  location /single_closer/ {{ proxy_pass http://single_closer; }}
  location /status/ {{ proxy_pass http://st1; }}
  location /status_next/ {{ proxy_next_upstream error timeout http_500; proxy_pass http://st2; }}
  location /ka/ {{ proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka; }}
  location /ka_noclear/ {{ proxy_http_version 1.1; proxy_pass http://ka; }}
  location /ka_10/ {{ proxy_pass http://ka; }}
}}
"#,
            l0 = e.l(0)
        )
    };
    let cases = vec![
        Case::new("weights 5:1:1", &["S5.2"], get("/wrr/", "x"))
            .times(14)
            .expect(|o| assert_eq!(peers(o), "11213111121311")),
        Case::new("weights 1:1", &["S5.2"], get("/rr/", "x"))
            .times(6)
            .expect(|o| assert_eq!(peers(o), "121212")),
        Case::new("one dead peer: tried once, then skipped", &["S5.4", "S5.7"], get("/onedead/", "x"))
            .times(6)
            .expect(|o| {
                assert_eq!(peers(o), "111111");
                let up = format!("http://127.0.0.1:{}/onedead/", o.env.closed[0]);
                let ctx = up_ctx("GET /onedead/ HTTP/1.1", &up);
                assert_eq!(
                    o.errors(),
                    [
                        format!("[error] connect() failed (111: Connection refused) while connecting to upstream{ctx}"),
                        format!("[warn] upstream server temporarily disabled while connecting to upstream{ctx}"),
                    ]
                );
            }),
        Case::new("max_fails=0: never disabled", &["S5.4"], get("/nofail/", "x"))
            .times(4)
            .expect(|o| {
                assert_eq!(peers(o), "1111");
                assert_eq!(o.errors().len(), 2, "{:#?}", o.errors());
                assert!(o.errors().iter().all(|l| l.starts_with("[error] connect() failed (111")));
            }),
        Case::new("backup used when the primary is dead", &["S5.5"], get("/backup/", "x"))
            .times(4)
            .expect(|o| assert_eq!(peers(o), "3333")),
        Case::new("backup unused while the primary works", &["S5.5"], get("/allprimaryok/", "x"))
            .times(4)
            .expect(|o| assert_eq!(peers(o), "1111")),
        Case::new("down peer never used", &["S5.5"], get("/down/", "x"))
            .times(4)
            .expect(|o| assert_eq!(peers(o), "2222")),
        Case::new("GET, upstream closes: next peer, then 502", &["S5.6", "S5.7"], get("/closer/__close", "x"))
            .expect(|o| {
                assert_eq!(o.status(), 502);
                assert_eq!(o.up_lines(0), ["GET /closer/__close HTTP/1.0"]);
                assert_eq!(o.up_lines(1), ["GET /closer/__close HTTP/1.0"]);
                let first = format!(
                    "[error] upstream prematurely closed connection while reading response header from upstream{}",
                    up_ctx("GET /closer/__close HTTP/1.1", &format!("http://{}/closer/__close", o.env.e(0)))
                );
                assert_eq!(o.errors()[0], first);
                assert_eq!(o.errors().len(), 4, "{:#?}", o.errors());
            }),
        Case::new("both peers now disabled: no live upstreams", &["S5.4", "S5.7"], get("/closer/__close", "x"))
            .expect(|o| {
                assert_eq!(o.status(), 502);
                assert!(o.up(0).is_empty() && o.up(1).is_empty());
                assert_eq!(
                    o.errors(),
                    [format!(
                        "[error] no live upstreams while connecting to upstream{}",
                        up_ctx("GET /closer/__close HTTP/1.1", "http://closer/closer/__close")
                    )]
                );
            }),
        Case::new(
            "POST, upstream closes: one try",
            &["S5.6"],
            "POST /closer_post/__close HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        )
        .expect(|o| {
            assert_eq!(o.status(), 502);
            assert_eq!(o.up(0).len() + o.up(1).len(), 1);
        }),
        Case::new("proxy_next_upstream off: one try", &["S5.6"], get("/closer_nonext/__close", "x")).expect(|o| {
            assert_eq!(o.status(), 502);
            assert_eq!(o.up(0).len() + o.up(1).len(), 1);
        }),
        Case::new("upstream 500 passed through, not retried", &["S5.4", "S5.6", "S13.1"], get("/status/__status=500", "x"))
            .times(2)
            .expect(|o| {
                assert_eq!(peers(o), "12");
                assert_eq!(o.resp().status_line, "HTTP/1.1 500 X");
                assert_eq!(o.resp().body_str(), "status 500\n");
                assert!(o.errors().is_empty(), "{:#?}", o.errors());
            }),
        Case::new("single peer is never disabled", &["S5.3"], get("/single_closer/__close", "x"))
            .times(3)
            .expect(|o| {
                assert_eq!(peers(o), "502502502");
                assert_eq!(o.up(0).len(), 3);
            }),
        Case::new("single peer answers right after failing", &["S5.3"], get("/single_closer/", "x"))
            .times(2)
            .expect(|o| assert_eq!(peers(o), "11")),
        Case::new("http_500 listed: next peer, last answer passed", &["S5.6"], get("/status_next/__status=500", "x"))
            .expect(|o| {
                assert_eq!(o.resp().status_line, "HTTP/1.1 500 X");
                assert_eq!(o.up(0).len(), 1);
                assert_eq!(o.up(1).len(), 1);
                assert_eq!(o.errors().len(), 1, "only the first peer is marked: {:#?}", o.errors());
            }),
        // Live nginx: the 500 of the last try is passed through without marking that peer
        // failed; the next request tries it again, marks it, and finds no live peer.
        Case::new("http_500 listed: the last peer fails on the next request", &["S5.4", "S5.6"], get("/status_next/__status=500", "x"))
            .expect(|o| {
                assert_eq!(o.status(), 502);
                assert!(o.up(0).is_empty());
                assert_eq!(o.up(1).len(), 1);
                assert_eq!(o.errors().len(), 2, "{:#?}", o.errors());
                assert!(o.errors()[0].starts_with("[warn] upstream server temporarily disabled while reading response header"));
                assert!(o.errors()[1].starts_with("[error] no live upstreams while connecting to upstream"));
            }),
        Case::new("all peers dead: 502, exact bytes", &["S5.7", "S13.5"], get("/alldead/", "x")).expect(|o| {
            let body = err_page("502 Bad Gateway");
            assert_bytes(
                o,
                &format!(
                    "HTTP/1.1 502 Bad Gateway\r\nServer: nginx/1.22.1\r\nDate: <DATE>\r\nContent-Type: text/html\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
            );
            assert_eq!(o.errors().len(), 4, "{:#?}", o.errors());
        }),
        Case::new("all peers dead again: no live upstreams", &["S5.7"], get("/alldead/", "x")).expect(|o| {
            assert_eq!(o.status(), 502);
            assert_eq!(
                o.errors(),
                [format!(
                    "[error] no live upstreams while connecting to upstream{}",
                    up_ctx("GET /alldead/ HTTP/1.1", "http://alldead/alldead/")
                )]
            );
        }),
        Case::new("host:port peer refused: 502 keeps the connection", &["S5.3", "S5.7", "S13.4"], get_with("/", "x", &[]))
            .responses(1)
            .expect(|o| {
                assert_eq!(o.status(), 502);
                assert_eq!(o.header("Connection").as_deref(), Some("keep-alive"));
                assert_eq!(
                    o.errors(),
                    [format!(
                        "[error] connect() failed (111: Connection refused) while connecting to upstream, client: \
                         127.0.0.1, server: , request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:{}/\", host: \"x\"",
                        o.env.closed[0]
                    )]
                );
            }),
        Case::new("host:port peer refused twice: tried every time", &["S5.3"], get("/direct_dead/", "x"))
            .times(2)
            .expect(|o| {
                assert_eq!(peers(o), "502502");
                assert_eq!(o.errors().len(), 2, "{:#?}", o.errors());
            }),
        Case::new("keepalive: one upstream connection", &["S5.8"], get("/ka/", "x"))
            .times(3)
            .expect(|o| {
                let ids = conn_ids(o);
                assert!(ids[0] == ids[1] && ids[1] == ids[2], "{ids:?}");
                assert_eq!(o.up(0)[0], format!("GET /ka/ HTTP/1.1\r\nHost: ka\r\n\r\n"));
            }),
        // nginx caches these connections too (the echo's reply has no `Connection: close`) and
        // the echo then closes them: the gap lets nginx see that close before the next request,
        // otherwise it may pick the dead connection, log "upstream prematurely closed", retry.
        Case::new("keepalive, Connection not cleared: new connections", &["S5.8"], get("/ka_noclear/", "x"))
            .times(2)
            .gap(100)
            .expect(|o| {
                let ids = conn_ids(o);
                assert_ne!(ids[0], ids[1]);
                assert_eq!(o.up(0)[1], format!("GET /ka_noclear/ HTTP/1.1\r\nHost: ka\r\nConnection: close\r\n\r\n"));
            }),
        Case::new("keepalive, HTTP/1.0 upstream: new connections", &["S5.8"], get("/ka_10/", "x"))
            .times(2)
            .gap(100)
            .expect(|o| {
                let ids = conn_ids(o);
                assert_ne!(ids[0], ids[1]);
                assert_eq!(o.up_lines(0), ["GET /ka_10/ HTTP/1.0", "GET /ka_10/ HTTP/1.0"]);
            }),
    ];
    vec![Suite::new("upstreams", needs, http).cases(cases)]
}

#[test]
fn s5_upstreams() {
    run_suites(s5_suites());
}

// ==========================================================================================
// S6: request headers sent upstream
// ==========================================================================================

/// `text` with every LF turned into CRLF (expected heads are written with plain newlines).
fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

/// The p06 request: hop-by-hop headers, repeated headers, an underscore, an empty value.
fn p06_request(path: &str) -> String {
    crlf(&format!(
        "GET {path}?a=1&A=2&a=3 HTTP/1.1\nHost: Client.Test:8443\nUser-Agent: probe\n\
         Connection: keep-alive, X-Hop\nX-Hop: hop-value\nKeep-Alive: 300\nTE: trailers\n\
         Upgrade: websocket\nProxy-Connection: keep-alive\nX-Forwarded-For: 1.2.3.4\n\
         X-Forwarded-For: 5.6.7.8\nX_Underscore: dropped?\nX-Empty:\nCookie: a=1\nCookie: b=2\n\
         X-Dup: 1\nX-Dup: 2\nAccept: */*\nx-lower: from-client\nX-Real-IP: 9.9.9.9\n\n"
    ))
}

/// Asserts that echo 0 received exactly one request, `want` with `{E0}` filled in and CRLFs.
fn assert_upstream(o: &Outcome, want: &str) {
    let want = crlf(&want.replace("{E0}", &o.env.e(0)));
    let got = o.up1(0);
    assert_eq!(
        got,
        want,
        "\n got: {}\nwant: {}",
        escape(got.as_bytes()),
        escape(want.as_bytes())
    );
}

fn s6_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1"],
        echo: 1,
        ..Needs::default()
    };
    let http = |e: &Env| {
        format!(
            r#"map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
proxy_set_header X-From-Http "http-level";
server {{
  listen {l0};
  location /a/ {{ proxy_pass http://{e0}; }}
  location /b/ {{
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Accept "";
      proxy_set_header X-Missing $http_x_nothing;
      proxy_set_header x-lower "set-lowercase-name";
      proxy_pass http://{e0};
  }}
  location /c/ {{ proxy_set_header X-Loc "loc-level"; proxy_pass http://{e0}; }}
  location /d/ {{ proxy_pass_request_headers off; proxy_pass http://{e0}; }}
  location /nobody/ {{ proxy_pass_request_body off; proxy_read_timeout 300ms; proxy_pass http://{e0}; }}
  location /nobody_nolen/ {{
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_pass http://{e0};
  }}
  location /novnc/ {{
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_pass http://{e0}/;
  }}
  location /nohost/ {{ proxy_set_header Host ""; proxy_pass http://{e0}; }}
  location /vars/ {{
      proxy_set_header X-V "host=$host|hh=$http_host|ua=$http_user_agent|xdup=$http_x_dup|cookie=$http_cookie|ck=$cookie_b|ra=$remote_addr|sch=$scheme|ru=$request_uri|u=$uri|args=$args|a1=$arg_a|A=$arg_A|isargs=$is_args|sn=$server_name|sp=$server_port|sa=$server_addr|ph=$proxy_host|pp=$proxy_port|m=$request_method|proto=$server_protocol|xff=$proxy_add_x_forwarded_for|hxff=$http_x_forwarded_for|cl=$content_length|ct=$content_type|req=$request";
      proxy_pass http://{e0};
  }}
}}
"#,
            l0 = e.l(0),
            e0 = e.e(0)
        )
    };
    let tail = "User-Agent: probe\nX-Hop: hop-value\nProxy-Connection: keep-alive\n\
                X-Forwarded-For: 1.2.3.4\nX-Forwarded-For: 5.6.7.8\nX-Empty: \nCookie: a=1\nCookie: b=2\n\
                X-Dup: 1\nX-Dup: 2\nAccept: */*\nx-lower: from-client\nX-Real-IP: 9.9.9.9\n\n";
    let tail = tail.to_string();
    let t = tail.clone();
    let t2 = tail.clone();
    let t3 = tail.clone();
    let t4 = tail.clone();
    let cases = vec![
        Case::new("default list, client headers kept in order", &["S6.1", "S6.2", "S6.4", "S6.7"], p06_request("/a/"))
            .responses(1)
            .expect(move |o| {
                assert_eq!(o.status(), 200);
                assert_upstream(o, &format!("GET /a/?a=1&A=2&a=3 HTTP/1.0\nX-From-Http: http-level\nHost: {{E0}}\nConnection: close\n{t}"));
            }),
        Case::new("set, override, remove, empty value", &["S6.2", "S6.3", "S6.6"], p06_request("/b/"))
            .responses(1)
            .expect(|o| {
                assert_upstream(
                    o,
                    "GET /b/?a=1&A=2&a=3 HTTP/1.0\nHost: client.test\nX-Real-IP: 127.0.0.1\n\
                     X-Forwarded-For: 1.2.3.4, 5.6.7.8, 127.0.0.1\nX-Forwarded-Proto: http\n\
                     x-lower: set-lowercase-name\nConnection: close\nUser-Agent: probe\nX-Hop: hop-value\n\
                     Proxy-Connection: keep-alive\nX-Empty: \nCookie: a=1\nCookie: b=2\nX-Dup: 1\nX-Dup: 2\n\n",
                )
            }),
        Case::new("own proxy_set_header: nothing inherited", &["S6.4"], p06_request("/c/"))
            .responses(1)
            .expect(move |o| {
                assert_upstream(o, &format!("GET /c/?a=1&A=2&a=3 HTTP/1.0\nX-Loc: loc-level\nHost: {{E0}}\nConnection: close\n{t2}"))
            }),
        Case::new("proxy_pass_request_headers off", &["S6.5"], p06_request("/d/"))
            .responses(1)
            .expect(|o| {
                assert_upstream(o, "GET /d/?a=1&A=2&a=3 HTTP/1.0\nX-From-Http: http-level\nHost: {E0}\nConnection: close\n\n")
            }),
        // Live nginx keeps `Content-Length` while dropping the body: the upstream waits for
        // bytes that never come, and nginx gives up after proxy_read_timeout.
        Case::new(
            "proxy_pass_request_body off keeps Content-Length",
            &["S6.5", "S9"],
            "POST /nobody/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .expect(|o| {
            assert_eq!(o.status(), 504);
            assert_upstream(
                o,
                "POST /nobody/ HTTP/1.0\nX-From-Http: http-level\nHost: {E0}\nConnection: close\nContent-Length: 5\n\n",
            );
        }),
        Case::new(
            "proxy_pass_request_body off with Content-Length removed",
            &["S6.5", "S6.3"],
            "POST /nobody_nolen/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .expect(|o| {
            assert_eq!(o.status(), 200);
            assert_upstream(o, "POST /nobody_nolen/ HTTP/1.0\nHost: {E0}\nConnection: close\n\n");
        }),
        Case::new("noVNC location with Upgrade", &["S6.8", "S8.6"], p06_request("/novnc/x"))
            .responses(1)
            .expect(move |o| {
                assert_upstream(o, &format!("GET /x?a=1&A=2&a=3 HTTP/1.1\nUpgrade: websocket\nConnection: upgrade\nHost: {{E0}}\n{t3}"))
            }),
        Case::new("noVNC location without Upgrade", &["S6.8", "S8.6"], get("/novnc/plain", "x")).expect(|o| {
            assert_upstream(o, "GET /plain HTTP/1.1\nConnection: close\nHost: {E0}\n\n")
        }),
        Case::new("proxy_set_header Host \"\": no Host line", &["S6.3"], p06_request("/nohost/"))
            .responses(1)
            .expect(move |o| {
                assert_upstream(o, &format!("GET /nohost/?a=1&A=2&a=3 HTTP/1.0\nConnection: close\n{t4}"))
            }),
        Case::new("variables in a header value", &["S7", "S6.6"], p06_request("/vars/"))
            .responses(1)
            .expect(move |o| {
                assert_upstream(
                    o,
                    &format!(
                        "GET /vars/?a=1&A=2&a=3 HTTP/1.0\nX-V: host=client.test|hh=Client.Test:8443|ua=probe|xdup=1|\
                         cookie=a=1; b=2|ck=2|ra=127.0.0.1|sch=http|ru=/vars/?a=1&A=2&a=3|u=/vars/|args=a=1&A=2&a=3|\
                         a1=1|A=1|isargs=?|sn=|sp={}|sa=127.0.0.1|ph={{E0}}|pp={}|m=GET|proto=HTTP/1.1|\
                         xff=1.2.3.4, 5.6.7.8, 127.0.0.1|hxff=1.2.3.4, 5.6.7.8|cl=|ct=|\
                         req=GET /vars/?a=1&A=2&a=3 HTTP/1.1\nHost: {{E0}}\nConnection: close\n{tail}",
                        o.env.lp(0),
                        o.env.echo[0]
                    ),
                )
            }),
        Case::new("variables, HTTP/1.0 without Host", &["S7", "S6.6"], "GET /vars/ HTTP/1.0\r\n\r\n").expect(|o| {
            assert_upstream(
                o,
                &format!(
                    "GET /vars/ HTTP/1.0\nX-V: host=|hh=|ua=|xdup=|cookie=|ck=|ra=127.0.0.1|sch=http|ru=/vars/|u=/vars/|\
                     args=|a1=|A=|isargs=|sn=|sp={}|sa=127.0.0.1|ph={{E0}}|pp={}|m=GET|proto=HTTP/1.0|xff=127.0.0.1|\
                     hxff=|cl=|ct=|req=GET /vars/ HTTP/1.0\nHost: {{E0}}\nConnection: close\n\n",
                    o.env.lp(0),
                    o.env.echo[0]
                ),
            )
        }),
        Case::new(
            "header line without a colon is ignored",
            &["S6.7", "S13.11"],
            "GET /d/ HTTP/1.1\r\nHost: x\r\nBadHeader\r\nConnection: close\r\n\r\n",
        )
        .info(&["client sent"])
        .expect(|o| {
            assert_eq!(o.status(), 200);
            assert!(!o.up1(0).contains("BadHeader"));
        }),
        Case::new(
            "invalid header names are dropped",
            &["S6.7"],
            "GET /a/ HTTP/1.1\r\nHost: x\r\nX@Y: 1\r\nX_Z: 2\r\nX-Ok: 3\r\nConnection: close\r\n\r\n",
        )
        .info(&["client sent"])
        .expect(|o| {
            assert_eq!(o.status(), 200);
            assert_upstream(o, "GET /a/ HTTP/1.0\nX-From-Http: http-level\nHost: {E0}\nConnection: close\nX-Ok: 3\n\n");
        }),
        Case::new(
            "space before the colon: 400",
            &["S6.7", "S13.11"],
            "GET /a/ HTTP/1.1\r\nHost: x\r\nX-A : 1\r\nConnection: close\r\n\r\n",
        )
        .info(&["client sent"])
        .expect(|o| {
            assert_eq!(o.status(), 400);
            assert!(o.up(0).is_empty());
        }),
    ];
    vec![Suite::new("request_headers", needs, http).cases(cases)]
}

#[test]
fn s6_request_headers() {
    run_suites(s6_suites());
}

// ==========================================================================================
// S7: variables
// ==========================================================================================

fn s7_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1"],
        ..Needs::default()
    };
    let http = |e: &Env| {
        format!(
            r#"server {{
  listen {l0};
  server_name first.name second.name;
  location / {{ return 200 "HOST=[$HOST] Http_User_Agent=[$Http_User_Agent] rp=[$remote_port] m=[$request_method] sn=[$server_name] hx=[$http_x_a] cookie_A=[$cookie_A] cookie_a=[$cookie_a] arg_q=[$arg_q] args=[$args] query=[$query_string] ru=[$request_uri] uri=[$uri] doc=[$document_uri] hostname=[${{hostname}}] https=[$https] scheme=[$scheme] proto=[$server_protocol] cl=[$content_length] ct=[$content_type] rl=[$request_length]\n"; }}
  location /more/ {{ return 200 "host=[$host] hh=[$http_host] is_args=[$is_args] args=[$args] a=[$arg_a] A=[$arg_A] none=[$arg_none] ck=[$cookie_b] cks=[$http_cookie] xdup=[$http_x_dup] xff=[$proxy_add_x_forwarded_for] hxff=[$http_x_forwarded_for] ph=[$proxy_host] req=[$request] ra=[$remote_addr] sa=[$server_addr] sp=[$server_port]\n"; }}
  location /setter/ {{ set $maybe "set"; return 204; }}
  location /unset/ {{ return 200 "maybe=[$maybe]\n"; }}
}}
"#,
            l0 = e.l(0)
        )
    };
    let post = "POST /p/../q%20r?q=1&q=2&Q=3 HTTP/1.1\r\nHost: Example.org:99\r\nUser-Agent: UA1\r\nX-A: one\r\n\
                X-A: two\r\nCookie: a=1; A=2\r\nContent-Type: text/x-test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let cases = vec![
        Case::new("core variables, names case-insensitive", &["S7", "S2.6", "S3.1"], post).expect(move |o| {
            assert_eq!(
                o.body(),
                format!(
                    "HOST=[example.org] Http_User_Agent=[UA1] rp=[{}] m=[POST] sn=[first.name] hx=[one] \
                     cookie_A=[1] cookie_a=[1] arg_q=[1] args=[q=1&q=2&Q=3] query=[q=1&q=2&Q=3] \
                     ru=[/p/../q%20r?q=1&q=2&Q=3] uri=[/q r] doc=[/q r] hostname=[{hostname}] https=[] \
                     scheme=[http] proto=[HTTP/1.1] cl=[3] ct=[text/x-test] rl=[{}]\n",
                    o.conn(0).cport,
                    // The head only: `return` answers before the body is read.
                    post.len() - "abc".len()
                )
            );
        }),
        Case::new(
            "args, cookies, repeated headers, X-Forwarded-For",
            &["S7", "S6.6"],
            "GET /more/?a=1&A=2&a=3 HTTP/1.1\r\nHost: Client.Test:8443\r\nCookie: a=1\r\nCookie: b=2\r\nX-Dup: 1\r\n\
             X-Dup: 2\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\nConnection: close\r\n\r\n",
        )
        .expect(|o| {
            assert_eq!(
                o.body(),
                format!(
                    "host=[client.test] hh=[Client.Test:8443] is_args=[?] args=[a=1&A=2&a=3] a=[1] A=[1] none=[] \
                     ck=[2] cks=[a=1; b=2] xdup=[1] xff=[1.2.3.4, 5.6.7.8, 127.0.0.1] hxff=[1.2.3.4, 5.6.7.8] ph=[] \
                     req=[GET /more/?a=1&A=2&a=3 HTTP/1.1] ra=[127.0.0.1] sa=[127.0.0.1] sp=[{}]\n",
                    o.env.lp(0)
                )
            );
        }),
        Case::new("no args, no cookies, HTTP/1.0 without Host", &["S7"], "GET /more/ HTTP/1.0\r\n\r\n").expect(|o| {
            assert_eq!(
                o.body(),
                format!(
                    "host=[first.name] hh=[] is_args=[] args=[] a=[] A=[] none=[] ck=[] cks=[] xdup=[] \
                     xff=[127.0.0.1] hxff=[] ph=[] req=[GET /more/ HTTP/1.0] ra=[127.0.0.1] sa=[127.0.0.1] sp=[{}]\n",
                    o.env.lp(0)
                )
            );
        }),
        Case::new("a variable set elsewhere reads empty, with a warning", &["S7"], get("/unset/", "x")).expect(|o| {
            assert_eq!(o.body(), "maybe=[]\n");
            assert_eq!(
                o.errors(),
                ["[warn] using uninitialized \"maybe\" variable, client: 127.0.0.1, server: first.name, \
                  request: \"GET /unset/ HTTP/1.1\", host: \"x\""]
            );
        }),
    ];
    vec![Suite::new("variables", needs, http).cases(cases)]
}

#[test]
fn s7_variables() {
    run_suites(s7_suites());
}

// ==========================================================================================
// S8: map
// ==========================================================================================

fn s8_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1"],
        ..Needs::default()
    };
    let http = |e: &Env| {
        format!(
            r#"map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
map $arg_k $m1 {{
    default        dflt;
    exact          exact-hit;
    Mixed          mixed-key;
    ~^ex           regex-ex;
    ~*^CASE        regex-ci;
    ~^r(?<num>\d+)$  named-$num;
    ~^p(\d+)-(\d+)$  pos-$2-$1;
    \default       literal-default-key;
    ""             empty-key;
    include        map-extra.conf;
}}
map $arg_k $m_nodefault {{ a A; }}
map $arg_h $mh {{
    hostnames;
    default           none;
    example.com       exact;
    *.example.com     star-wild;
    .dot.com          dot-wild;
    www.*             tail-wild;
    ~^re\.            regex;
}}
map $uri $m_cached {{ /a A; /changed C; default D; }}
map $uri $m_vol {{ volatile; /a A; /changed C; default D; }}
map $arg_k $with_var {{ default "host=$host uri=$uri"; }}
map $arg_k $side {{ default $arg_other; }}
server {{
  listen {l0};
  location /m {{ return 200 "m1=[$m1] nodefault=[$m_nodefault] conn_upgrade=[$connection_upgrade] with_var=[$with_var]\n"; }}
  location /h {{ return 200 "mh=[$mh]\n"; }}
  location /a {{ set $x "$m_cached|$m_vol"; rewrite ^ /changed; return 200 "before=[$x] after=[$m_cached|$m_vol]\n"; }}
  location /lazy {{ return 200 "side=[$side]\n"; }}
}}
"#,
            l0 = e.l(0)
        )
    };
    let keys: &[(&str, Rules, &str)] = &[
        ("k=exact", &["S8.2"], "exact-hit"),
        ("k=EXACT", &["S8.2"], "exact-hit"),
        ("k=mixed", &["S8.2"], "mixed-key"),
        ("k=example", &["S8.2"], "regex-ex"),
        ("k=case1", &["S8.2"], "regex-ci"),
        ("k=r42", &["S8.2", "S8.4"], "named-42"),
        ("k=p1-2", &["S8.2", "S8.4"], "pos-2-1"),
        ("k=default", &["S8.2"], "literal-default-key"),
        ("k=", &["S8.2"], "empty-key"),
        ("", &["S8.2"], "empty-key"),
        ("k=included", &["S8.2"], "from-include"),
        ("k=zzz", &["S8.2"], "dflt"),
    ];
    let mut cases: Vec<Case> = keys
        .iter()
        .map(|&(q, rules, want)| {
            let want = format!(
                "m1=[{want}] nodefault=[] conn_upgrade=[close] with_var=[host=localhost uri=/m]\n"
            );
            Case::new(
                format!("map /m?{q}"),
                rules,
                get(&format!("/m?{q}"), "localhost"),
            )
            .expect(move |o| assert_eq!(o.body(), want))
        })
        .collect();
    cases.push(
        Case::new(
            "Upgrade: websocket -> upgrade",
            &["S8.6"],
            get_with(
                "/m",
                "localhost",
                &["Upgrade: websocket", "Connection: close"],
            ),
        )
        .expect(|o| assert!(o.body().contains("conn_upgrade=[upgrade]"), "{}", o.body())),
    );
    cases.push(
        Case::new(
            "empty Upgrade -> close",
            &["S8.6"],
            get_with("/m", "localhost", &["Upgrade:", "Connection: close"]),
        )
        .expect(|o| assert!(o.body().contains("conn_upgrade=[close]"), "{}", o.body())),
    );
    for (h, want) in [
        ("example.com", "exact"),
        ("EXAMPLE.com.", "exact"),
        ("a.example.com", "star-wild"),
        ("a.b.example.com", "star-wild"),
        ("dot.com", "dot-wild"),
        ("x.dot.com", "dot-wild"),
        ("www.foo.org", "tail-wild"),
        ("re.x", "regex"),
        ("www.example.com", "star-wild"),
        ("other", "none"),
    ] {
        let want = format!("mh=[{want}]\n");
        cases.push(
            Case::new(
                format!("hostnames {h}"),
                &["S8.3"],
                get(&format!("/h?h={h}"), "localhost"),
            )
            .expect(move |o| assert_eq!(o.body(), want)),
        );
    }
    cases.extend([
        Case::new(
            "cached vs volatile across a rewrite",
            &["S8.5"],
            get("/a", "localhost"),
        )
        .expect(|o| assert_eq!(o.body(), "before=[A|A] after=[A|C]\n")),
        Case::new(
            "value with a variable, evaluated when read",
            &["S8.4", "S8.5"],
            get("/lazy?other=zz", "localhost"),
        )
        .expect(|o| assert_eq!(o.body(), "side=[zz]\n")),
    ]);
    let files = |_: &Env| {
        vec![(
            "conf/map-extra.conf".to_string(),
            b"included  from-include;\n".to_vec(),
        )]
    };
    vec![Suite::new("map", needs, http).files(files).cases(cases)]
}

#[test]
fn s8_map() {
    run_suites(s8_suites());
}

// ==========================================================================================
// S9: timeouts (short ones, with margins: only lower bounds on elapsed time are asserted)
// ==========================================================================================

/// At least `secs` seconds passed before connection 0 ended.
fn assert_took(o: &Outcome, secs: f64) {
    let e = o.conn(0).elapsed.as_secs_f64();
    assert!(
        e >= secs,
        "ended after {e:.3} s, expected at least {secs} s"
    );
}

fn s9_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1", "127.0.0.1"],
        echo: 1,
        holes: 1,
        silent: 1,
        ..Needs::default()
    };
    let http = |e: &Env| {
        format!(
            r#"client_header_timeout 500ms;
client_body_timeout 500ms;
upstream hole_then_echo {{ server 127.0.0.1:{h0}; server {e0}; }}
server {{
  listen {l0};
  keepalive_timeout 500ms 7;
  location /read/ {{ proxy_read_timeout 500ms; proxy_pass http://{e0}; }}
  location /read1s/ {{ proxy_read_timeout 1s; proxy_pass http://{e0}; }}
  location /silent/ {{ proxy_read_timeout 500ms; proxy_pass http://127.0.0.1:{s0}; }}
  location /connect/ {{ proxy_connect_timeout 500ms; proxy_pass http://127.0.0.1:{h0}; }}
  location /connect_next/ {{ proxy_connect_timeout 500ms; proxy_pass http://hole_then_echo; }}
  location /ret {{ return 200 "ok\n"; }}
}}
server {{
  listen {l1};
  keepalive_timeout 0;
  location / {{ return 200 "ka0\n"; }}
}}
"#,
            l0 = e.l(0),
            l1 = e.l(1),
            e0 = e.e(0),
            h0 = e.holes[0],
            s0 = e.silent[0]
        )
    };
    let cases = vec![
        // nginx re-arms its read timer lazily: a new deadline less than 300 ms after the old one
        // is ignored (NGX_TIMER_LAZY_DELAY), so the gaps must exceed 0.3 s to extend it.
        Case::new("proxy_read_timeout is between reads, not total", &["S9"], get("/read1s/__drip=3,0.5", "x")).expect(|o| {
            assert_eq!(o.status(), 200);
            assert_eq!(o.body(), "xxx");
            assert_took(o, 1.2);
            assert!(o.errors().is_empty(), "{:#?}", o.errors());
        }),
        Case::new("proxy_read_timeout before the header: 504", &["S9", "S5.7"], get("/read/__slowhdr=1", "x")).expect(|o| {
            assert_eq!(o.status(), 504);
            assert_eq!(o.body(), err_page("504 Gateway Time-out"));
            assert_took(o, 0.45);
            assert_eq!(
                o.errors(),
                [format!(
                    "[error] upstream timed out (110: Connection timed out) while reading response header from upstream{}",
                    up_ctx("GET /read/__slowhdr=1 HTTP/1.1", &format!("http://{}/read/__slowhdr=1", o.env.e(0)))
                )]
            );
        }),
        Case::new("proxy_read_timeout, silent upstream: 504", &["S9", "S5.7"], get("/silent/", "x")).expect(|o| {
            assert_eq!(o.status(), 504);
            assert_took(o, 0.45);
        }),
        Case::new("proxy_read_timeout after the header: body cut", &["S9", "S10.4"], get("/read/__drip=2,1", "x")).expect(|o| {
            let r = o.resp();
            assert_eq!(r.status_line, "HTTP/1.1 200 OK");
            assert_eq!(r.header("Content-Length"), Some("2"));
            assert!(r.body.is_empty());
            assert_eq!(o.conn(0).end, End::Eof);
            assert_took(o, 0.45);
            assert_eq!(
                o.errors(),
                [format!(
                    "[error] upstream timed out (110: Connection timed out) while reading upstream{}",
                    up_ctx("GET /read/__drip=2,1 HTTP/1.1", &format!("http://{}/read/__drip=2,1", o.env.e(0)))
                )]
            );
        }),
        Case::new("proxy_connect_timeout: 504", &["S9", "S5.7"], get("/connect/", "x")).expect(|o| {
            assert_eq!(o.status(), 504);
            assert_took(o, 0.45);
            assert_eq!(
                o.errors(),
                [format!(
                    "[error] upstream timed out (110: Connection timed out) while connecting to upstream{}",
                    up_ctx("GET /connect/ HTTP/1.1", &format!("http://127.0.0.1:{}/connect/", o.env.holes[0]))
                )]
            );
        }),
        Case::new("proxy_connect_timeout, then the next peer", &["S9", "S5.6"], get("/connect_next/", "x")).expect(|o| {
            assert_eq!(o.status(), 200);
            assert_eq!(o.up_lines(0), ["GET /connect_next/ HTTP/1.0"]);
            assert_took(o, 0.45);
            assert_eq!(o.errors().len(), 2, "{:#?}", o.errors());
        }),
        Case::script(
            "client_header_timeout: closed without a response",
            &["S9"],
            vec![Conn::new(0, vec![send("GET /ret HTTP/1.1\r\nHost: x\r\n"), Step::Read(Until::Close)])],
        )
        .info(&["client timed out"])
        .expect(|o| {
            assert!(o.conn(0).bytes.is_empty(), "{}", o.text());
            assert_eq!(o.conn(0).end, End::Eof);
            assert_took(o, 0.45);
        }),
        Case::script(
            "client_header_timeout: idle new connection",
            &["S9"],
            vec![Conn::new(0, vec![Step::Read(Until::Close)])],
        )
        .info(&["client timed out"])
        .expect(|o| {
            assert!(o.conn(0).bytes.is_empty(), "{}", o.text());
            assert_eq!(o.conn(0).end, End::Eof);
            assert_took(o, 0.45);
        }),
        Case::script(
            "client_body_timeout",
            &["S9"],
            vec![Conn::new(
                0,
                vec![
                    send("POST /read/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"),
                    Step::Read(Until::Close),
                ],
            )],
        )
        .info(&["client timed out"])
        .expect(|o| {
            assert_eq!(o.conn(0).end, End::Eof);
            assert_took(o, 0.45);
            assert!(o.up(0).is_empty());
        }),
        Case::script(
            "keepalive_timeout closes an idle connection",
            &["S9", "S13.4"],
            vec![Conn::new(0, vec![send(get_with("/ret", "x", &[])), Step::Read(Until::Responses(1)), Step::Read(Until::Close)])],
        )
        .expect(|o| {
            let r = o.resp();
            assert_eq!(r.header("Connection"), Some("keep-alive"));
            assert_eq!(r.header("Keep-Alive"), Some("timeout=7"));
            let c = o.conn(0);
            assert_eq!(c.end, End::Eof);
            let answered = c.timeline.last().unwrap().0;
            assert!(
                (c.elapsed - answered).as_secs_f64() >= 0.4,
                "closed {:.3?} after the response",
                c.elapsed - answered
            );
        }),
        Case::new("keepalive_timeout 0: Connection: close", &["S9", "S13.4"], get_with("/", "x", &[]))
            .on(1)
            .expect(|o| {
                assert_eq!(o.header("Connection").as_deref(), Some("close"));
                assert_eq!(o.conn(0).end, End::Eof);
            }),
    ];
    vec![Suite::new("timeouts", needs, http).cases(cases)]
}

#[test]
fn s9_timeouts() {
    run_suites(s9_suites());
}

// ==========================================================================================
// S10: buffering, framing, request bodies
// ==========================================================================================

/// When `needle` had fully arrived on connection 0 (time since connect).
fn arrival(o: &Outcome, needle: &str) -> Duration {
    let c = o.conn(0);
    let at = find(&c.bytes, needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} never arrived"))
        + needle.len();
    c.timeline.iter().find(|(_, n)| *n >= at).unwrap().0
}

/// A streamed response reached the client part by part: `part0` at least `gap` seconds before
/// the connection ended.
fn assert_streamed(o: &Outcome, gap: f64) {
    let first = arrival(o, "part0\n");
    let end = o.conn(0).elapsed;
    assert!(
        (end - first).as_secs_f64() >= gap,
        "part0 arrived at {first:.3?}, the response ended at {end:.3?}"
    );
}

fn s10_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1"],
        echo: 1,
        ..Needs::default()
    };
    let http = |e: &Env| {
        format!(
            r#"server {{
  listen {l0};
  location /on/ {{ proxy_pass http://{e0}; }}
  location /off/ {{ proxy_buffering off; proxy_pass http://{e0}; }}
  location /ignore_xab/ {{ proxy_ignore_headers X-Accel-Buffering; proxy_pass http://{e0}; }}
  location /tiny/ {{ proxy_buffer_size 1k; proxy_pass http://{e0}; }}
  location /nobuf11/ {{ proxy_request_buffering off; proxy_http_version 1.1; proxy_pass http://{e0}; }}
  location /nobuf10/ {{ proxy_request_buffering off; proxy_pass http://{e0}; }}
}}
"#,
            l0 = e.l(0),
            e0 = e.e(0)
        )
    };
    let chunked_parts = "6\r\npart0\n\r\n6\r\npart1\n\r\n6\r\npart2\n\r\n0\r\n\r\n";
    let slow_chunked = |path: &str| {
        Conn::new(
            0,
            vec![
                send(format!(
                    "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                )),
                pause(200),
                send("5\r\nhello\r\n"),
                pause(200),
                send("6\r\n world\r\n0\r\n\r\n"),
                Step::Read(Until::Close),
            ],
        )
    };
    let cases = vec![
        Case::new("buffering on: chunked upstream streamed, re-chunked", &["S10.1", "S10.4"], get("/on/__stream=0.2", "x"))
            .expect(move |o| {
                let r = o.resp();
                assert!(r.chunked);
                assert!(o.text().ends_with(&format!("\r\n\r\n{chunked_parts}")), "{}", o.text());
                assert_streamed(o, 0.25);
            }),
        Case::new("buffering off", &["S10.2"], get("/off/__stream=0.2", "x")).expect(|o| {
            assert_eq!(o.body(), "part0\npart1\npart2\n");
            assert_streamed(o, 0.25);
        }),
        Case::new("X-Accel-Buffering: no overrides buffering on", &["S10.3", "S13.3"], get("/on/__xab=no&__stream=0.2", "x"))
            .expect(|o| {
                assert_eq!(o.resp().header("X-Accel-Buffering"), None);
                assert_eq!(o.body(), "part0\npart1\npart2\n");
                assert_streamed(o, 0.25);
            }),
        Case::new("X-Accel-Buffering: yes overrides buffering off", &["S10.3"], get("/off/__xab=yes&__stream=0.2", "x"))
            .expect(|o| {
                assert_eq!(o.resp().header("X-Accel-Buffering"), None);
                assert_eq!(o.body(), "part0\npart1\npart2\n");
            }),
        Case::new("proxy_ignore_headers X-Accel-Buffering", &["S10.3"], get("/ignore_xab/__xab=no&__stream=0.2", "x"))
            .expect(|o| {
                assert_eq!(o.resp().header("X-Accel-Buffering"), None);
                assert_eq!(o.body(), "part0\npart1\npart2\n");
            }),
        Case::new(
            "HTTP/1.0 client, chunked upstream: no chunking, close",
            &["S10.4", "S13.12"],
            "GET /off/__stream=0.2 HTTP/1.0\r\nHost: x\r\n\r\n",
        )
        .expect(|o| {
            let r = o.resp();
            assert!(!r.chunked && r.header("Content-Length").is_none());
            assert_eq!(r.header("Connection"), Some("close"));
            assert_eq!(r.body_str(), "part0\npart1\npart2\n");
            assert_streamed(o, 0.25);
        }),
        Case::new("HTTP/1.0 upstream without length: chunked to the client", &["S10.4"], get("/off/__stream10=0.2", "x"))
            .expect(move |o| {
                assert!(o.resp().chunked);
                assert!(o.text().ends_with(&format!("\r\n\r\n{chunked_parts}")), "{}", o.text());
            }),
        Case::new("HTTP/1.1 upstream without length: chunked", &["S10.4"], get("/on/__nolen", "x")).expect(|o| {
            assert!(o.text().ends_with("\r\n\r\nf\r\nno length body\n\r\n0\r\n\r\n"), "{}", o.text());
        }),
        Case::new("upstream body shorter than its Content-Length", &["S10.4"], get("/on/__headonly", "x")).expect(|o| {
            let r = o.resp();
            assert_eq!(r.header("Content-Length"), Some("5"));
            assert_eq!(r.body_str(), "ab");
            assert_eq!(o.conn(0).end, End::Eof);
            assert_eq!(
                o.errors(),
                [format!(
                    "[error] upstream prematurely closed connection while reading upstream{}",
                    up_ctx("GET /on/__headonly HTTP/1.1", &format!("http://{}/on/__headonly", o.env.e(0)))
                )]
            );
        }),
        Case::new("upstream head over proxy_buffer_size 1k: 502", &["S10.5", "S5.7"], get("/tiny/__bighdr=1500", "x"))
            .expect(|o| {
                assert_eq!(o.status(), 502);
                assert_eq!(
                    o.errors(),
                    [format!(
                        "[error] upstream sent too big header while reading response header from upstream{}",
                        up_ctx("GET /tiny/__bighdr=1500 HTTP/1.1", &format!("http://{}/tiny/__bighdr=1500", o.env.e(0)))
                    )]
                );
            }),
        Case::new("3000-byte upstream head fits the default", &["S10.5"], get("/on/__bighdr=3000", "x")).expect(|o| {
            assert_eq!(o.status(), 200);
            assert_eq!(o.resp().header("X-Big").map(str::len), Some(3000));
        }),
        Case::new("5000-byte upstream head: 502", &["S10.5"], get("/on/__bighdr=5000", "x"))
            .expect(|o| assert_eq!(o.status(), 502)),
        Case::new(
            "chunked request body buffered, sent with Content-Length",
            &["S10.6"],
            "POST /on/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .expect(|o| assert_upstream(o, "POST /on/x HTTP/1.0\nHost: {E0}\nConnection: close\nContent-Length: 11\n\nhello world")),
        Case::script("unbuffered, HTTP/1.1: chunked body streamed", &["S10.6"], vec![slow_chunked("/nobuf11/")]).expect(|o| {
            assert_upstream(
                o,
                "POST /nobuf11/ HTTP/1.1\nHost: {E0}\nConnection: close\nTransfer-Encoding: chunked\n\n\
                 5\nhello\n6\n world\n0\n\n",
            )
        }),
        Case::script("unbuffered, HTTP/1.0: chunked body buffered", &["S10.6"], vec![slow_chunked("/nobuf10/")]).expect(|o| {
            assert_upstream(o, "POST /nobuf10/ HTTP/1.0\nHost: {E0}\nConnection: close\nContent-Length: 11\n\nhello world")
        }),
        Case::new(
            "unbuffered, body arrived with the head: Content-Length",
            &["S10.6"],
            "POST /nobuf11/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .expect(|o| {
            assert_upstream(o, "POST /nobuf11/ HTTP/1.1\nHost: {E0}\nConnection: close\nContent-Length: 11\n\nhello world")
        }),
        Case::script(
            "unbuffered, Content-Length body in pieces",
            &["S10.6"],
            vec![Conn::new(
                0,
                vec![
                    send("POST /nobuf11/ HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"),
                    pause(200),
                    send("hello"),
                    pause(200),
                    send(" world"),
                    Step::Read(Until::Close),
                ],
            )],
        )
        .expect(|o| {
            assert_upstream(o, "POST /nobuf11/ HTTP/1.1\nHost: {E0}\nConnection: close\nContent-Length: 11\n\nhello world")
        }),
        Case::new(
            "a body over client_body_buffer_size goes to a temp file",
            &["S10.6"],
            format!(
                "POST /on/__status=200 HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\nConnection: close\r\n\r\n{}",
                "b".repeat(20000)
            ),
        )
        .expect(|o| {
            assert_eq!(o.status(), 200);
            assert!(o.up1(0).ends_with(&"b".repeat(20000)));
            assert_eq!(o.errors().len(), 1, "{:#?}", o.errors());
            assert!(o.errors()[0].starts_with(&format!(
                "[warn] a client request body is buffered to a temporary file {}/client_body_temp/0000000001, ",
                o.env.prefix.display()
            )));
        }),
        Case::script(
            "Expect: 100-continue answered by nginx, not forwarded",
            &["S10.7"],
            vec![Conn::new(
                0,
                vec![
                    send("POST /on/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"),
                    Step::Read(Until::Text("\r\n\r\n")),
                    send("hello"),
                    Step::Read(Until::Close),
                ],
            )],
        )
        .expect(|o| {
            assert!(o.text().starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), "{}", o.text());
            assert_upstream(o, "POST /on/x HTTP/1.0\nHost: {E0}\nConnection: close\nContent-Length: 5\n\nhello");
        }),
    ];
    vec![Suite::new("buffering", needs, http).cases(cases)]
}

#[test]
fn s10_buffering() {
    run_suites(s10_suites());
}

// ==========================================================================================
// S13: response handling, request limits, HTTP/1.0, HEAD
// ==========================================================================================

/// nginx-generated statuses: (code, reason, page title, Content-Length with server_tokens
/// on / off, keeps the connection). Lengths are the spec's Appendix A table.
const PAGES: &[(u16, &str, &str, usize, usize, bool)] = &[
    (
        301,
        "Moved Permanently",
        "301 Moved Permanently",
        169,
        162,
        true,
    ),
    (302, "Moved Temporarily", "302 Found", 145, 138, true),
    (400, "Bad Request", "400 Bad Request", 157, 150, false),
    (403, "Forbidden", "403 Forbidden", 153, 146, true),
    (404, "Not Found", "404 Not Found", 153, 146, true),
    (405, "Not Allowed", "405 Not Allowed", 157, 150, true),
    (
        413,
        "Request Entity Too Large",
        "413 Request Entity Too Large",
        183,
        176,
        false,
    ),
    (
        414,
        "Request-URI Too Large",
        "414 Request-URI Too Large",
        177,
        170,
        false,
    ),
    (
        429,
        "Too Many Requests",
        "429 Too Many Requests",
        169,
        162,
        true,
    ),
    (
        500,
        "Internal Server Error",
        "500 Internal Server Error",
        177,
        170,
        false,
    ),
    (
        501,
        "Not Implemented",
        "501 Not Implemented",
        165,
        158,
        false,
    ),
    (502, "Bad Gateway", "502 Bad Gateway", 157, 150, true),
    (
        503,
        "Service Temporarily Unavailable",
        "503 Service Temporarily Unavailable",
        197,
        190,
        true,
    ),
    (
        504,
        "Gateway Time-out",
        "504 Gateway Time-out",
        167,
        160,
        true,
    ),
];

const MSIE: &str = "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)";
const FIREFOX: &str =
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
const CHROME: &str = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// The MSIE/Chrome padding appended to error pages (S13.5).
fn padding() -> String {
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n".repeat(6)
}

fn s13_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1"],
        echo: 1,
        closed: 1,
        ..Needs::default()
    };
    let http = |e: &Env| {
        let codes: String = [
            301, 302, 400, 403, 404, 405, 408, 413, 414, 429, 500, 501, 502, 503, 504, 418, 204,
            444,
        ]
        .iter()
        .map(|c| format!("location = /r{c} {{ return {c}; }}\n  "))
        .collect();
        format!(
            r#"server {{
  listen {l0};
  {codes}location /dead {{ proxy_pass http://127.0.0.1:{c0}; }}
  location /up/ {{ proxy_pass http://{e0}; }}
  location /passhdr/ {{
      proxy_pass_header Server;
      proxy_pass_header X-Accel-Expires;
      proxy_hide_header X-Powered-By;
      proxy_pass http://{e0};
  }}
  location /addh/ {{ add_header X-Added yes; add_header X-Always yes always; proxy_pass http://{e0}; }}
  location /ret {{ return 200 "ret\n"; }}
  location /redir {{ return 301 /target; }}
  location /small/ {{ client_max_body_size 10; proxy_pass http://{e0}; }}
}}
server {{
  listen {l1};
  server_tokens off;
  {codes}location /dead {{ proxy_pass http://127.0.0.1:{c0}; }}
}}
server {{
  listen {l2};
  keepalive_timeout 5s 4;
  keepalive_requests 2;
  location / {{ return 200 "ka\n"; }}
}}
server {{
  listen {l3};
  server_name canon.test;
  port_in_redirect off;
  server_name_in_redirect on;
  location /r {{ return 301 /t; }}
  location /noabs {{ absolute_redirect off; return 302 /t; }}
}}
"#,
            l0 = e.l(0),
            l1 = e.l(1),
            l2 = e.l(2),
            l3 = e.l(3),
            e0 = e.e(0),
            c0 = e.closed[0]
        )
    };
    let mut cases = Vec::new();
    // Every nginx-generated page, server_tokens on (listen 0) and off (listen 1).
    for &(code, reason, title, len_on, len_off, keep) in PAGES {
        for (listen, tokens) in [(0, true), (1, false)] {
            let want_len = if tokens { len_on } else { len_off };
            let body = page(title, title, None, tokens);
            cases.push(
                Case::new(
                    format!(
                        "return {code}, server_tokens {}",
                        if tokens { "on" } else { "off" }
                    ),
                    &["S13.1", "S13.4", "S13.5"],
                    get_with(&format!("/r{code}"), "x", &[]),
                )
                .on(listen)
                .responses(1)
                .expect(move |o| {
                    let r = o.resp();
                    assert_eq!(r.status_line, format!("HTTP/1.1 {code} {reason}"));
                    assert_eq!(
                        r.header("Server"),
                        Some(if tokens { "nginx/1.22.1" } else { "nginx" })
                    );
                    assert_eq!(r.header("Content-Type"), Some("text/html"));
                    assert_eq!(
                        r.header("Content-Length"),
                        Some(want_len.to_string().as_str())
                    );
                    assert_eq!(r.body_str(), body);
                    assert_eq!(
                        r.header("Connection"),
                        Some(if keep { "keep-alive" } else { "close" })
                    );
                }),
            );
        }
    }
    cases.extend([
        Case::new("return 418: no reason phrase, no body", &["S13.1", "S13.5"], get_with("/r418", "x", &[]))
            .responses(1)
            .expect(|o| {
                let r = o.resp();
                assert_eq!(r.status_line, "HTTP/1.1 418 ");
                assert_eq!(r.header("Content-Length"), Some("0"));
                assert_eq!(r.header("Connection"), Some("keep-alive"));
            }),
        Case::new("return 204", &["S13.1"], get_with("/r204", "x", &[])).responses(1).expect(|o| {
            let r = o.resp();
            assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
            assert_eq!(r.header("Content-Length"), None);
        }),
        Case::new("return 408: closed without a response", &["S13.4", "S13.11"], get_with("/r408", "x", &[]))
            .expect(|o| {
                assert!(o.conn(0).bytes.is_empty());
                assert_eq!(o.conn(0).end, End::Eof);
            }),
        Case::new("return 444: closed without a response", &["S13.4", "S13.11"], get_with("/r444", "x", &[]))
            .expect(|o| {
                assert!(o.conn(0).bytes.is_empty());
                assert_eq!(o.conn(0).end, End::Eof);
            }),
        Case::new("upstream reason phrase kept", &["S13.1"], get("/up/__status=299", "x")).expect(|o| {
            assert_eq!(o.resp().status_line, "HTTP/1.1 299 X");
        }),
        Case::new("HTTP/1.0 client gets an HTTP/1.1 status line", &["S13.1", "S13.12"], "GET /ret HTTP/1.0\r\n\r\n")
            .expect(|o| {
                let r = o.resp();
                assert_eq!(r.status_line, "HTTP/1.1 200 OK");
                assert_eq!(r.header("Connection"), Some("close"));
            }),
        Case::new("nginx's header order, redirect", &["S13.2", "S13.6"], get("/redir", "h.test")).expect(|o| {
            let r = o.resp();
            assert_eq!(r.header_names(), ["Server", "Date", "Content-Type", "Content-Length", "Location", "Connection"]);
            assert_eq!(r.header("Location").unwrap(), format!("http://h.test:{}/target", o.env.lp(0)));
        }),
        Case::new("upstream headers: dropped, passed, order", &["S13.2", "S13.3"], get("/up/__hop", "x")).expect(|o| {
            let r = o.resp();
            assert_eq!(
                r.header_names(),
                [
                    "Server", "Date", "Content-Type", "Content-Length", "Connection", "X-Upstream-Port", "X-Conn-Id",
                    "X-Req-Seq", "X-Drop-Me", "X-Powered-By", "Upgrade", "Proxy-Connection", "Trailer", "TE"
                ]
            );
            assert_eq!(r.header("Server"), Some("nginx/1.22.1"));
            assert_eq!(r.header("Connection"), Some("close"));
            assert_eq!(r.body_str(), "hop\n");
        }),
        Case::new("proxy_pass_header and proxy_hide_header", &["S13.3"], get("/passhdr/__hop", "x")).expect(|o| {
            let r = o.resp();
            assert_eq!(
                r.header_names(),
                [
                    "Date", "Content-Type", "Content-Length", "Connection", "X-Upstream-Port", "X-Conn-Id", "X-Req-Seq",
                    "X-Drop-Me", "Server", "Upgrade", "Proxy-Connection", "Trailer", "TE", "X-Accel-Expires"
                ]
            );
            assert_eq!(r.header("Server"), Some("echo-up/1.0"));
        }),
        Case::new("no upstream Content-Type: none sent", &["S13.3"], get("/up/__big=30", "x")).expect(|o| {
            let r = o.resp();
            assert_eq!(r.header("Content-Type"), None);
            assert_eq!(r.body, vec![b'x'; 30]);
        }),
        Case::new("add_header on 200", &["S13.7"], get("/addh/x", "x")).expect(|o| {
            let names = o.resp().header_names().join(",");
            assert!(names.ends_with("X-Req-Seq,X-Added,X-Always"), "{names}");
        }),
        Case::new("add_header on an upstream 404: only always", &["S13.7"], get("/addh/__status=404", "x")).expect(|o| {
            let r = o.resp();
            assert_eq!(r.status, 404);
            assert_eq!(r.header("X-Added"), None);
            assert_eq!(r.header("X-Always"), Some("yes"));
        }),
        Case::new("HEAD proxied: upstream head, no body", &["S13.8", "S4.6"], "HEAD /up/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect(|o| {
                let r = o.resp();
                assert_eq!(r.status, 200);
                assert_eq!(r.header("Content-Length"), Some("65"));
                assert!(o.text().ends_with("X-Req-Seq: 1\r\n\r\n"), "{}", o.text());
                assert_eq!(o.up_lines(0), ["HEAD /up/x HTTP/1.0"]);
            }),
        Case::new("HEAD of an error page: head only", &["S13.8"], "HEAD /r404 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect(|o| {
                assert_eq!(o.resp().header("Content-Length"), Some("153"));
                assert!(o.text().ends_with("Connection: close\r\n\r\n"), "{}", o.text());
            }),
        Case::new("MSIE: padded error page", &["S13.5"], get_with("/r404", "x", &[MSIE, "Connection: close"])).expect(|o| {
            let r = o.resp();
            assert_eq!(r.header("Content-Length"), Some("555"));
            assert_eq!(r.body_str(), err_page("404 Not Found") + &padding());
        }),
        Case::new("Firefox: no padding", &["S13.5"], get_with("/r404", "x", &[FIREFOX, "Connection: close"]))
            .expect(|o| assert_eq!(o.resp().header("Content-Length"), Some("153"))),
        Case::new("Chrome: 3xx pages are not padded", &["S13.5"], get_with("/r301", "x", &[CHROME, "Connection: close"]))
            .expect(|o| assert_eq!(o.resp().header("Content-Length"), Some("169"))),
        Case::new("Chrome: padded 502, server_tokens off", &["S13.5", "S5.7"], get_with("/dead", "x", &[CHROME, "Connection: close"]))
            .on(1)
            .expect(|o| {
                let r = o.resp();
                assert_eq!(r.header("Content-Length"), Some("552"));
                assert_eq!(r.body_str(), page("502 Bad Gateway", "502 Bad Gateway", None, false) + &padding());
            }),
        Case::new("pipelined requests answered in order", &["S13.4"], "GET /ret HTTP/1.1\r\nHost: x\r\n\r\nGET /r404 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect(|o| {
                let rs = o.resps(0);
                assert_eq!(rs.len(), 2);
                assert_eq!((rs[0].status, rs[1].status), (200, 404));
                assert_eq!(rs[0].header("Connection"), Some("keep-alive"));
                assert_eq!(rs[1].header("Connection"), Some("close"));
            }),
        Case::new(
            "keepalive_requests: the last response closes",
            &["S13.4", "S9"],
            "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .on(2)
        .expect(|o| {
            let rs = o.resps(0);
            assert_eq!(rs.len(), 2, "{}", o.text());
            assert_eq!(rs[0].header("Connection"), Some("keep-alive"));
            assert_eq!(rs[0].header("Keep-Alive"), Some("timeout=4"));
            assert_eq!(rs[1].header("Connection"), Some("close"));
            assert_eq!(rs[1].header("Keep-Alive"), None);
            assert_eq!(o.conn(0).end, End::Eof);
        }),
        Case::new("Connection value containing close", &["S13.4"], get_with("/ret", "x", &["Connection: Upgrade, CLOSE"]))
            .expect(|o| assert_eq!(o.header("Connection").as_deref(), Some("close"))),
        Case::new("HTTP/1.0 with keep-alive", &["S13.4", "S13.12"], "GET /ret HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .responses(1)
            .expect(|o| assert_eq!(o.header("Connection").as_deref(), Some("keep-alive"))),
        Case::new("absolute redirect: host and local port", &["S13.6"], get("/redir", "Some.Host:9999")).expect(|o| {
            assert_eq!(o.header("Location").unwrap(), format!("http://some.host:{}/target", o.env.lp(0)));
        }),
        Case::new("absolute redirect without Host: local address", &["S13.6"], "GET /redir HTTP/1.0\r\n\r\n").expect(|o| {
            assert_eq!(o.header("Location").unwrap(), format!("http://127.0.0.1:{}/target", o.env.lp(0)));
        }),
        Case::new("port_in_redirect off, server_name_in_redirect on", &["S13.6"], get("/r", "other.test"))
            .on(3)
            .expect(|o| assert_eq!(o.header("Location").as_deref(), Some("http://canon.test/t"))),
        Case::new("absolute_redirect off", &["S13.6"], get("/noabs", "other.test"))
            .on(3)
            .expect(|o| assert_eq!(o.header("Location").as_deref(), Some("/t"))),
        // nginx answers at once but then lingers (lingering_close) waiting for the body; the
        // client's shutdown ends that.
        Case::script(
            "body over client_max_body_size: 413 before reading it",
            &["S13.9"],
            vec![Conn::new(
                0,
                vec![
                    send("POST /up/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"),
                    Step::Read(Until::Responses(1)),
                    Step::ShutWr,
                    Step::Read(Until::Close),
                ],
            )],
        )
            .expect(|o| {
                let r = o.resp();
                assert_eq!(r.status, 413);
                assert_eq!(r.header("Connection"), Some("close"));
                assert_eq!(o.conn(0).end, End::Eof);
                assert!(o.up(0).is_empty());
                assert_eq!(
                    o.errors(),
                    ["[error] client intended to send too large body: 1048577 bytes, client: 127.0.0.1, server: , \
                      request: \"POST /up/x HTTP/1.1\", host: \"x\""]
                );
            }),
        Case::new(
            "a body of exactly client_max_body_size is accepted",
            &["S13.9", "S10.6"],
            format!(
                "POST /up/__status=200 HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n{}",
                "a".repeat(1048576)
            ),
        )
        .expect(|o| {
            assert_eq!(o.status(), 200);
            let raw = &o.run.upstream[0][0].raw;
            assert!(raw.starts_with(b"POST /up/__status=200 HTTP/1.0\r\n"));
            assert!(find(raw, b"\r\nContent-Length: 1048576\r\n\r\naaaa").is_some());
            assert_eq!(raw.len() - find(raw, b"\r\n\r\n").unwrap() - 4, 1048576);
        }),
        Case::new(
            "chunked body over the limit: 413 while reading",
            &["S13.9"],
            "POST /small/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n",
        )
        .expect(|o| {
            assert_eq!(o.status(), 413);
            assert_eq!(
                o.errors(),
                ["[error] client intended to send too large chunked body: 6+6 bytes, client: 127.0.0.1, server: , \
                  request: \"POST /small/ HTTP/1.1\", host: \"x\""]
            );
        }),
        Case::new("body at the limit", &["S13.9"], "POST /small/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789")
            .expect(|o| assert_eq!(o.status(), 200)),
        Case::new("request line over 8k: 414", &["S13.10"], format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(9000)))
            .info(&["client sent"])
            .expect(|o| {
                let r = o.resp();
                assert_eq!(r.status_line, "HTTP/1.1 414 Request-URI Too Large");
                assert_eq!(r.header("Connection"), Some("close"));
            }),
        Case::new("header line over 8k: 400 too large", &["S13.10"], format!("GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n", "h".repeat(9000)))
            .info(&["client sent"])
            .expect(|o| {
                let r = o.resp();
                assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
                assert_eq!(
                    r.body_str(),
                    page("400 Request Header Or Cookie Too Large", "400 Bad Request", Some("Request Header Or Cookie Too Large"), true)
                );
                assert_eq!(r.header("Content-Length"), Some("233"));
            }),
        Case::new(
            "head over 4 x 8k: 400",
            &["S13.10"],
            format!("GET /ret HTTP/1.1\r\nHost: x\r\n{}\r\n", (0..5).map(|i| format!("X-H{i}: {}\r\n", "v".repeat(7000))).collect::<String>()),
        )
        .info(&["client sent"])
        .expect(|o| assert_eq!(o.status(), 400)),
        Case::new(
            "3 headers of 7000 bytes fit",
            &["S13.10"],
            format!(
                "GET /ret HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
                (0..3).map(|i| format!("X-H{i}: {}\r\n", "v".repeat(7000))).collect::<String>()
            ),
        )
        .expect(|o| assert_eq!(o.status(), 200)),
    ]);
    // Malformed requests (p13): (name, request, status).
    let malformed: &[(&str, &str, u16)] = &[
        ("lowercase method", "get /ret HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("HTTP/2.0 request line", "GET /ret HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("HTTP/1.2 request line", "GET /ret HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n", 200),
        ("garbage", "HELLO\r\n\r\n", 400),
        ("TRACE", "TRACE /ret HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("CONNECT", "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("Content-Length and chunked", "POST /up/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("Transfer-Encoding: gzip", "POST /up/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("HTTP/1.0 with Transfer-Encoding", "POST /up/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("duplicate Content-Length", "POST /up/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 400),
        ("Content-Length: abc", "POST /up/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        ("bare LF line ends", "GET /ret HTTP/1.1\nHost: x\nConnection: close\n\n", 200),
        ("absolute-form https target", "GET https://x/ret HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n", 200),
    ];
    for &(name, req, status) in malformed {
        cases.push(
            Case::new(name, &["S13.11"], req)
                .info(&["client sent"])
                .expect(move |o| {
                    assert_eq!(o.status(), status);
                    assert_eq!(o.header("Connection").as_deref(), Some("close"));
                    assert_eq!(o.conn(0).end, End::Eof);
                    assert!(o.up(0).is_empty());
                }),
        );
    }
    vec![Suite::new("responses", needs, http).cases(cases)]
}

#[test]
fn s13_responses() {
    run_suites(s13_suites());
}

// ==========================================================================================
// Access and error logs
// ==========================================================================================

fn log_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1"],
        echo: 1,
        closed: 1,
        ..Needs::default()
    };
    let http = |e: &Env| {
        format!(
            r#"log_format j escape=json '{{"r":"$request","s":$status,"ua":"$http_user_agent","ref":"$http_referer","x":"$http_x_odd","a":"$arg_a","t":"$msec","rt":"$request_time","urt":"$upstream_response_time","uct":"$upstream_connect_time","uht":"$upstream_header_time","uaddr":"$upstream_addr","us":"$upstream_status","bbs":$body_bytes_sent,"bs":$bytes_sent,"rl":$request_length,"rp":"$remote_port","u":"$remote_user"}}';
log_format d escape=default '$remote_addr:$remote_port "$request" $status $body_bytes_sent "$http_user_agent" "$http_x_odd" a=$arg_a t=$msec rt=$request_time urt=$upstream_response_time ua=$upstream_addr us=$upstream_status';
server {{
  listen {l0};
  access_log logs/access.log;
  access_log logs/json.log j;
  access_log logs/default.log d;
  location / {{ return 200 "ok\n"; }}
  location /up/ {{ proxy_pass http://{e0}; }}
  location /dead/ {{ proxy_pass http://127.0.0.1:{c0}; }}
}}
"#,
            l0 = e.l(0),
            e0 = e.e(0),
            c0 = e.closed[0]
        )
    };
    let odd: &[u8] = b"GET /a\"b\xc3\xa9?a=%22x\\y HTTP/1.1\r\nHost: x\r\nUser-Agent: UA \"quoted\" \\ back\x01ctl\x7fdel \xc3\xa9\r\n\
                       Referer: http://r/\"\r\nX-Odd: tab\there\r\nConnection: close\r\n\r\n";
    let cases = vec![
        Case::new("odd bytes in every format", &["S15", "S7"], odd).expect(|o| {
            assert_eq!(o.status(), 200);
            let combined = o.access("access.log");
            assert_eq!(combined.len(), 1);
            assert!(
                combined[0].ends_with(
                    "\"GET /a\\x22b\\xC3\\xA9?a=%22x\\x5Cy HTTP/1.1\" 200 3 \"http://r/\\x22\" \
                     \"UA \\x22quoted\\x22 \\x5C back\\x01ctl\\x7Fdel \\xC3\\xA9\""
                ),
                "{}",
                combined[0]
            );
            let json = o.access("json.log");
            assert!(
                json[0].starts_with(
                    "{\"r\":\"GET /a\\\"b\u{e9}?a=%22x\\\\y HTTP/1.1\",\"s\":200,\"ua\":\"UA \\\"quoted\\\" \\\\ back\\u0001ctl\u{7f}del \u{e9}\""
                ),
                "{}",
                json[0]
            );
            let d = o.access("default.log");
            assert!(d[0].contains("\"tab\\x09here\""), "{}", d[0]);
        }),
        Case::new("upstream fields", &["S15", "S5.8"], get("/up/x?a=1", "x")).expect(|o| {
            let json = &o.access("json.log")[0];
            assert!(json.contains(&format!("\"uaddr\":\"{}\",\"us\":\"200\"", o.env.e(0))), "{json}");
            let d = &o.access("default.log")[0];
            assert!(d.contains(&format!(" ua={} us=200", o.env.e(0))), "{d}");
        }),
        Case::new("failed upstream fields", &["S15", "S5.7"], get("/dead/", "x")).expect(|o| {
            let json = &o.access("json.log")[0];
            assert!(json.contains(&format!("\"uaddr\":\"127.0.0.1:{}\",\"us\":\"502\"", o.env.closed[0])), "{json}");
            assert_eq!(o.errors().len(), 1);
        }),
        Case::new("bad request logged", &["S15", "S13.11"], "get / HTTP/1.1\r\n\r\n").expect(|o| {
            assert_eq!(o.status(), 400);
            assert!(o.access("access.log")[0].ends_with("\"get / HTTP/1.1\" 400 157 \"-\" \"-\""), "{:?}", o.access("access.log"));
        }),
    ];
    vec![Suite::new("logs", needs, http).cases(cases)]
}

#[test]
fn logs() {
    run_suites(log_suites());
}

// ==========================================================================================
// The seed configurations (noVNC): their HTTP parts
// ==========================================================================================

/// The `http {}` contents of `shared/seeds/configs/NAME`, with `listen PORT;` moved to listen
/// address 0 and the VNC upstream `127.0.0.1:6080` to echo 0.
fn seed_http(name: &str, e: &Env) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/seeds/configs")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let start = text.find("http {").expect("seed has an http block") + "http {".len();
    let end = text.rfind('}').expect("seed ends with }");
    let mut body = text[start..end].to_string();
    let listen = body
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("listen ")
                .and_then(|r| r.split(';').next())
        })
        .expect("seed has a listen")
        .to_string();
    assert!(
        listen.bytes().all(|b| b.is_ascii_digit()),
        "unexpected listen {listen:?} in {name}"
    );
    body = body.replace(&format!("listen {listen};"), &format!("listen {};", e.l(0)));
    assert!(
        body.contains("127.0.0.1:6080"),
        "{name} no longer uses 127.0.0.1:6080"
    );
    body.replace("127.0.0.1:6080", &e.e(0))
}

fn seed_suites() -> Vec<Suite> {
    let needs = Needs {
        listen: &["127.0.0.1"],
        echo: 1,
        ..Needs::default()
    };
    let wiki = vec![
        Case::new("wiki: /websockify without Upgrade", &["S4.2", "S6.8", "S4.4"], get("/websockify", "example.com"))
            .expect(|o| assert_upstream(o, "GET / HTTP/1.1\nConnection: upgrade\nHost: vnc_proxy\n\n")),
        Case::new("wiki: /websockify?token", &["S4.2"], get("/websockify?token=abc", "example.com"))
            .expect(|o| assert_eq!(up_target(o).0, "GET /?token=abc HTTP/1.1")),
        Case::new("wiki: /websockify/x", &["S4.2"], get("/websockify/x", "example.com"))
            .expect(|o| assert_eq!(up_target(o).0, "GET //x HTTP/1.1")),
        Case::new("wiki: /websockifyX", &["S4.2"], get("/websockifyX", "example.com"))
            .expect(|o| assert_eq!(up_target(o).0, "GET /X HTTP/1.1")),
        Case::new("wiki: /vncws/vnc.html", &["S4.2", "S6.8"], get_with("/vncws/vnc.html?autoconnect=1", "example.com", &["User-Agent: Mozilla/5.0 Chrome/120.0", "Connection: close"]))
            .expect(|o| {
                assert_upstream(
                    o,
                    "GET /vnc.html?autoconnect=1 HTTP/1.1\nConnection: upgrade\nHost: vnc_proxy\nUser-Agent: Mozilla/5.0 Chrome/120.0\n\n",
                )
            }),
        Case::new("wiki: /vncws gets the trailing slash", &["S3.3", "S13.6"], get("/vncws", "example.com")).expect(|o| {
            assert_eq!(o.status(), 301);
            assert_eq!(o.header("Location").unwrap(), format!("http://example.com:{}/vncws/", o.env.lp(0)));
        }),
        Case::new("wiki: no location for /", &["S3.2"], get("/", "example.com")).expect(|o| {
            assert_eq!(o.status(), 404);
            assert_eq!(o.errors().len(), 1, "{:#?}", o.errors());
        }),
        Case::new("wiki: keep-alive client, HTTP/1.1 upstream", &["S13.4", "S5.8"], get_with("/websockify", "example.com", &[]))
            .responses(1)
            .expect(|o| {
                assert_eq!(o.status(), 200);
                assert_eq!(o.header("Connection").as_deref(), Some("keep-alive"));
            }),
    ];
    let guide = vec![
        Case::new(
            "guide: page without Upgrade",
            &["S6.8", "S8.6", "S4.2"],
            get("/vnc.html?autoconnect=1", "vnc.example"),
        )
        .expect(|o| {
            assert_upstream(
                o,
                "GET /vnc.html?autoconnect=1 HTTP/1.1\nConnection: close\nHost: {E0}\n\n",
            )
        }),
        Case::new(
            "guide: /websockify without Upgrade",
            &["S6.8", "S8.6"],
            get("/websockify", "vnc.example"),
        )
        .expect(|o| {
            assert_upstream(
                o,
                "GET /websockify HTTP/1.1\nConnection: close\nHost: {E0}\n\n",
            )
        }),
        Case::new(
            "guide: Upgrade asked, upstream answers 200",
            &["S6.8", "S8.6"],
            get_with(
                "/websockify",
                "vnc.example",
                &["Upgrade: websocket", "Connection: Upgrade"],
            ),
        )
        .responses(1)
        .expect(|o| {
            assert_eq!(o.status(), 200);
            assert_eq!(o.header("Connection").as_deref(), Some("keep-alive"));
            assert_upstream(
                o,
                "GET /websockify HTTP/1.1\nUpgrade: websocket\nConnection: upgrade\nHost: {E0}\n\n",
            );
        }),
    ];
    vec![
        Suite::new("seed wiki-http.conf", needs, |e| {
            seed_http("wiki-http.conf", e)
        })
        .cases(wiki),
        Suite::new("seed guide-map.conf", needs, |e| {
            seed_http("guide-map.conf", e)
        })
        .cases(guide),
    ]
}

#[test]
fn seeds_novnc() {
    run_suites(seed_suites());
}
