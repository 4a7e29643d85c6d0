//! `rginx -t` against the real nginx `-t` (nginx-semantics S1): for every case the same
//! configuration is checked by both, and the exit code and the first `[emerg]`/`[warn]` line
//! (message and `FILE:LINE`) must be identical. Cases marked `Refused` are directives rginx
//! does not implement: there rginx must fail with `... is not supported by rginx`.
//!
//! Rules covered: S1.1 (names, case), S1.3/S1.5 (syntax errors), S1.6 (variables), S1.7
//! (include), S1.9 (contexts, nesting S3.5), S1.10 (duplicates), S1.11 (value errors), S1.14
//! (times and sizes), S2.2/S2.5 (listen, server names), S4.1/S5.1/S5.9 (proxy_pass,
//! upstreams), S8.1 (map), S12.1 (certificates and keys: missing, mismatched, garbage, in one file,
//! several; session cache and protocol values).

mod common;
use common::*;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    Same,
    Refused,
    /// nginx accepts a configuration that cannot work and rginx refuses it: an ECDSA
    /// certificate with an RSA key passes `nginx -t` (OpenSSL files the key in another slot)
    /// and every handshake then fails.
    Stricter(&'static str),
}
use Expect::*;

const CASES: &[(&str, Expect, &str)] = &[
    ("ok", Same, "server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("unknown directive", Same, "foo bar;\nserver { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("not allowed", Same, "server { listen 127.0.0.1:27080; proxy_pass http://x; }"),
    ("missing semicolon", Same, "server { listen 127.0.0.1:27080\n }"),
    ("args count", Same, "server { listen 127.0.0.1:27080; listen; }"),
    ("unexpected }", Same, "server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }\n}"),
    ("eof expecting }", Same, "server { listen 127.0.0.1:27080; "),
    ("no opening {", Same, "server;"),
    ("dup directive", Same, "server { listen 127.0.0.1:27080; proxy_read_timeout 1s; proxy_read_timeout 2s; }"),
    ("bad flag", Same, "server { listen 127.0.0.1:27080; proxy_buffering maybe; }"),
    ("bad time", Same, "server { listen 127.0.0.1:27080; proxy_read_timeout 5x; }"),
    ("unknown var", Same, "server { listen 127.0.0.1:27080; location / { return 200 \"$nosuchvar\"; } }"),
    ("unknown var psh", Same, "server { listen 127.0.0.1:27080; location / { proxy_set_header X $foo_bar; proxy_pass http://127.0.0.1:27081; } }"),
    ("host not found", Same, "server { listen 127.0.0.1:27080; location / { proxy_pass http://no-such-host-xyz.invalid; } }"),
    ("dup location", Same, "server { listen 127.0.0.1:27080; location /a { } location /a { } }"),
    ("dup default", Same, "server { listen 127.0.0.1:27080 default_server; } server { listen 127.0.0.1:27080 default_server; }"),
    ("conflict name", Same, "server { listen 127.0.0.1:27080; server_name a; } server { listen 127.0.0.1:27080; server_name a; }"),
    ("quoted junk", Same, "server { listen 127.0.0.1:27080; location / { return 200 \"a\"b; } }"),
    ("include missing", Same, "include nosuch.conf;"),
    ("glob nomatch", Same, "include nosuch*.conf;"),
    ("uri in regex loc", Same, "server { listen 127.0.0.1:27080; location ~ ^/a { proxy_pass http://127.0.0.1:27081/x; } }"),
    ("uri in named loc", Same, "server { listen 127.0.0.1:27080; location @n { proxy_pass http://127.0.0.1:27081/x; } }"),
    ("map in server", Same, "server { listen 127.0.0.1:27080; map $a $b { } }"),
    ("ups no servers", Same, "upstream u { } server { listen 127.0.0.1:27080; location / { proxy_pass http://u; } }"),
    ("ups port", Same, "upstream u { server 127.0.0.1:27081; } server { listen 127.0.0.1:27080; location / { proxy_pass http://u:80; } }"),
    ("invalid port", Same, "server { listen 127.0.0.1:99999; }"),
    ("ssl no cert", Same, "server { listen 127.0.0.1:18443 ssl; }"),
    ("LISTEN", Same, "server { LISTEN 127.0.0.1:27080; }"),
    ("ON", Same, "server { listen 127.0.0.1:27080; proxy_buffering ON; }"),
    ("mid hash", Same, "server { listen 127.0.0.1:27080; location /a#b { return 200 \"x\"; } }"),
    ("semicolon alone", Same, "server { listen 127.0.0.1:27080; ; }"),
    ("loc no space", Same, "server { listen 127.0.0.1:27080; location /x{ return 200 \"x\"; } }"),
    ("map builtin", Same, "map $http_host $host { default x; } server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("no scheme", Same, "server { listen 127.0.0.1:27080; location / { proxy_pass 127.0.0.1:27081; } }"),
    ("https", Same, "server { listen 127.0.0.1:27080; location / { proxy_pass https://127.0.0.1:27081; } }"),
    ("nested outside", Same, "server { listen 127.0.0.1:27080; location /a { location /b { } } }"),
    ("nested exact", Same, "server { listen 127.0.0.1:27080; location = /a { location /a/b { } } }"),
    ("named nested", Same, "server { listen 127.0.0.1:27080; location /a { location @n { } } }"),
    ("in named", Same, "server { listen 127.0.0.1:27080; location @n { location /a { } } }"),
    ("prefix in regex", Same, "server { listen 127.0.0.1:27080; location ~ ^/a { location /a/b { } } }"),
    ("regex in regex", Same, "server { listen 127.0.0.1:27080; location ~ ^/a { location ~ b { } } }"),
    ("dup exact", Same, "server { listen 127.0.0.1:27080; location = /a { } location = /a { } }"),
    ("prefix+^~", Same, "server { listen 127.0.0.1:27080; location /a { } location ^~ /a { } }"),
    ("exact+prefix", Same, "server { listen 127.0.0.1:27080; location = /a { } location /a { } }"),
    ("dup regex", Same, "server { listen 127.0.0.1:27080; location ~ a { } location ~ a { } }"),
    ("bad modifier", Same, "server { listen 127.0.0.1:27080; location ~~ /a { } }"),
    ("loc no arg", Same, "server { listen 127.0.0.1:27080; location { } }"),
    ("loc in http", Same, "location / { }"),
    ("loc in ups", Same, "upstream u { server 127.0.0.1:1; location / { } }"),
    ("proxy_pass twice", Same, "server { listen 127.0.0.1:27080; location / { proxy_pass http://127.0.0.1:1; proxy_pass http://127.0.0.1:2; } }"),
    ("psh 1 arg", Same, "server { listen 127.0.0.1:27080; location / { proxy_set_header X; } }"),
    ("ups bad param", Same, "upstream u { server 127.0.0.1:1 wieght=2; }"),
    ("ups weight0", Same, "upstream u { server 127.0.0.1:1 weight=0; }"),
    ("ups dup", Same, "upstream u { server 127.0.0.1:1; } upstream u { server 127.0.0.1:2; }"),
    ("ups uri", Same, "upstream u { server http://127.0.0.1:1; }"),
    ("ups path", Same, "upstream u { server 127.0.0.1:1/x; }"),
    ("keepalive srv", Same, "server { listen 127.0.0.1:27080; keepalive 10; }"),
    ("1m30s", Same, "server { listen 127.0.0.1:27080; proxy_read_timeout 1m30s; }"),
    ("1h 30m", Same, "server { listen 127.0.0.1:27080; proxy_read_timeout \"1h 30m\"; }"),
    ("30s1m", Same, "server { listen 127.0.0.1:27080; proxy_read_timeout 30s1m; }"),
    ("1.5s", Same, "server { listen 127.0.0.1:27080; proxy_read_timeout 1.5s; }"),
    ("1y", Same, "server { listen 127.0.0.1:27080; proxy_read_timeout 1y; }"),
    ("size 1.5m", Same, "server { listen 127.0.0.1:27080; client_max_body_size 1.5m; }"),
    ("size 1mb", Same, "server { listen 127.0.0.1:27080; client_max_body_size 1mb; }"),
    ("size 1g", Same, "server { listen 127.0.0.1:27080; client_max_body_size 1g; }"),
    ("ka 2 args", Same, "server { listen 127.0.0.1:27080; keepalive_timeout 10 20; }"),
    ("listen ssl http2", Same, "server { listen 127.0.0.1:27080 default_server http2; }"),
    ("listen bad param", Same, "server { listen 127.0.0.1:27080 defaultserver; }"),
    ("listen [::]", Same, "server { listen [::]:27080; }"),
    ("dup listen opts", Same, "server { listen 127.0.0.1:27080 backlog=5; } server { listen 127.0.0.1:27080 backlog=6; }"),
    ("bad name *x", Same, "server { listen 127.0.0.1:27080; server_name *x.com; }"),
    ("mid wild 1 server", Same, "server { listen 127.0.0.1:27080; server_name www.*.com; }"),
    ("mid wild 2 servers", Same, "server { listen 127.0.0.1:27080; server_name www.*.com; } server { listen 127.0.0.1:27080; server_name b; }"),
    (".a vs *.a", Same, "server { listen 127.0.0.1:27080; server_name .a.com; } server { listen 127.0.0.1:27080; server_name *.a.com; }"),
    ("return bad code", Same, "server { listen 127.0.0.1:27080; location / { return 1000; } }"),
    ("return url", Same, "server { listen 127.0.0.1:27080; location / { return https://x; } }"),
    ("return word", Same, "server { listen 127.0.0.1:27080; location / { return abc; } }"),
    ("if unknown variable", Same, "server { listen 127.0.0.1:27080; location / { if ($a) { return 200; } } }"),
    ("if", Same, "server { listen 127.0.0.1:27080; location / { if ($arg_a) { return 200; } if ($uri ~* ^/X(?<n>.)) { set $v $n; } if (!-f $request_filename) { rewrite ^ /y break; } } }"),
    ("if no parenthesis", Same, "server { listen 127.0.0.1:27080; location / { if $arg_a { return 200; } } }"),
    ("if no closing parenthesis", Same, "server { listen 127.0.0.1:27080; location / { if ($arg_a { return 200; } } }"),
    ("if bad operator", Same, "server { listen 127.0.0.1:27080; location / { if ($arg_a == 1) { return 200; } } }"),
    ("if bad file test", Same, "server { listen 127.0.0.1:27080; location / { if (-z /tmp) { return 200; } } }"),
    ("if bad regex", Same, "server { listen 127.0.0.1:27080; location / { if ($uri ~ \"(\") { return 200; } } }"),
    ("if proxy_pass uri", Same, "server { listen 127.0.0.1:27080; location / { if ($arg_a) { proxy_pass http://127.0.0.1:1/x; } } }"),
    ("if not allowed directive", Same, "server { listen 127.0.0.1:27080; location / { if ($arg_a) { proxy_set_header A b; } } }"),
    ("rewrite", Same, "server { listen 127.0.0.1:27080; location / { rewrite ^ /x; } }"),
    ("rewrite bad flag", Same, "server { listen 127.0.0.1:27080; location / { rewrite ^ /x lst; } }"),
    ("rewrite empty", Same, "server { listen 127.0.0.1:27080; location / { rewrite ^ \"\"; } }"),
    ("rewrite bad regex", Same, "server { listen 127.0.0.1:27080; location / { rewrite ( /x; } }"),
    ("set bad name", Same, "server { listen 127.0.0.1:27080; location / { set a 1; } }"),
    ("set builtin", Same, "server { listen 127.0.0.1:27080; location / { set $uri 1; } }"),
    ("set args", Same, "server { listen 127.0.0.1:27080; location / { set $args a=1; return 200 $args; } }"),
    ("set used elsewhere", Same, "server { listen 127.0.0.1:27080; location /a { return 200 $v; } location /b { set $v 1; } }"),
    ("gzip on", Same, "server { listen 127.0.0.1:27080; gzip on; }"),
    ("sendfile", Same, "server { listen 127.0.0.1:27080; sendfile on; }"),
    ("sendfile bad", Same, "server { listen 127.0.0.1:27080; sendfile maybe; }"),
    ("types", Same, "server { listen 127.0.0.1:27080; types { text/html html; image/png png; } }"),
    ("types dup ext", Same, "server { listen 127.0.0.1:27080; types { text/html html; text/plain html; } }"),
    ("error_page", Same, "server { listen 127.0.0.1:27080; error_page 404 /404.html; error_page 500 502 =200 /x; }"),
    ("error_page 299", Same, "server { listen 127.0.0.1:27080; error_page 299 /x; }"),
    ("error_page =", Same, "server { listen 127.0.0.1:27080; error_page =404 /x; }"),
    ("error_page 499", Same, "server { listen 127.0.0.1:27080; error_page 499 /x; }"),
    ("try_files", Same, "server { listen 127.0.0.1:27080; location / { try_files $uri $uri/ =404; } }"),
    ("try_files bad", Same, "server { listen 127.0.0.1:27080; location / { try_files $uri =4x4; } }"),
    ("root+alias", Same, "server { listen 127.0.0.1:27080; location / { root /a; alias /b; } }"),
    ("alias named", Same, "server { listen 127.0.0.1:27080; location @n { alias /x; } }"),
    ("index empty", Same, "server { listen 127.0.0.1:27080; location / { index \"\"; } }"),
    ("add_header always", Same, "server { listen 127.0.0.1:27080; location / { add_header X y always; } }"),
    ("add_header bad", Same, "server { listen 127.0.0.1:27080; location / { add_header X y never; } }"),
    ("allow cidr", Same, "server { listen 127.0.0.1:27080; location / { allow 10.0.0.0/8; deny all; } }"),
    ("allow bad", Same, "server { listen 127.0.0.1:27080; location / { allow 10.0.0.300; } }"),
    ("allow low bits", Same, "server { listen 127.0.0.1:27080; location / { allow 10.0.0.1/8; } }"),
    ("log_format", Same, "log_format main \"$remote_addr $status\";server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("log_format dup", Same, "log_format combined \"$status\";server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("access_log unknown fmt", Same, "server { listen 127.0.0.1:27080; location / { access_log logs/a.log main; } }"),
    ("access_log off extra", Same, "server { listen 127.0.0.1:27080; location / { access_log off x; } }"),
    ("error_log level", Same, "server { listen 127.0.0.1:27080; error_log logs/e.log warn; }"),
    ("error_log bad level", Same, "server { listen 127.0.0.1:27080; error_log logs/e.log loud; }"),
    ("map", Same, "map $uri $m { default 0; /a 1; ~^/b 2; } server { listen 127.0.0.1:27080; location / { return 200 $m; } }"),
    ("map 3 args", Same, "map $uri $m { a b c; } server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("map 2 defaults", Same, "map $uri $m { default a; default b; } server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("map conflict", Same, "map $uri $m { a 1; A 2; } server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("map bad regex", Same, "map $uri $m { ~^( 1; } server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("map novar", Same, "map $uri m { a 1; } server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("map hostnames", Same, "map $host $m { hostnames; *.a.com 1; www.* 2; .b.com 3; } server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("proxy_buffers 1", Same, "server { listen 127.0.0.1:27080; location / { proxy_buffers 1 4k; } }"),
    ("proxy_buffers 2 4k", Same, "server { listen 127.0.0.1:27080; location / { proxy_buffers 2 4k; } }"),
    ("redirect default no pass", Same, "server { listen 127.0.0.1:27080; location / { proxy_redirect default; } }"),
    ("redirect off", Same, "server { listen 127.0.0.1:27080; location / { proxy_pass http://127.0.0.1:1; proxy_redirect off; } }"),
    ("redirect bad", Same, "server { listen 127.0.0.1:27080; location / { proxy_redirect x; } }"),
    ("http_version", Same, "server { listen 127.0.0.1:27080; location / { proxy_http_version 2.0; } }"),
    ("next_upstream bad", Same, "server { listen 127.0.0.1:27080; location / { proxy_next_upstream nope; } }"),
    ("charset", Same, "server { listen 127.0.0.1:27080; location / { charset utf-8; } }"),
    ("expires", Same, "server { listen 127.0.0.1:27080; location / { expires 1h; } }"),
    ("expires bad", Same, "server { listen 127.0.0.1:27080; location / { expires soon; } }"),
    ("expires modified", Same, "server { listen 127.0.0.1:27080; location / { expires modified 1h; } }"),
    ("large hdr", Same, "server { listen 127.0.0.1:27080; large_client_header_buffers 4 8k; }"),
    ("large hdr bad", Same, "server { listen 127.0.0.1:27080; large_client_header_buffers 0 8k; }"),
    ("server_tokens build", Same, "server { listen 127.0.0.1:27080; server_tokens build; }"),
    ("server_tokens bad", Same, "server { listen 127.0.0.1:27080; server_tokens yes; }"),
    ("worker_processes auto", Same, "server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } }"),
    ("set", Same, "server { listen 127.0.0.1:27080; location / { set $a 1; } }"),
    ("var bad name", Same, "server { listen 127.0.0.1:27080; location / { return 200 \"a$\"; } }"),
    ("var bracket", Same, "server { listen 127.0.0.1:27080; location / { return 200 \"${uri\"; } }"),
    ("var $1", Same, "server { listen 127.0.0.1:27080; location ~ ^/(a) { return 200 $1; } }"),
    ("var named cap", Same, "server { listen 127.0.0.1:27080; location ~ ^/(?<x>a) { return 200 $x; } }"),
    ("var cookie", Same, "server { listen 127.0.0.1:27080; location / { return 200 $cookie_a$arg_b$http_x_y; } }"),
    ("var upper", Same, "server { listen 127.0.0.1:27080; location / { return 200 $HOST; } }"),
    ("ignored dup", Same, "server { listen 127.0.0.1:27080; sendfile on; sendfile off; }"),
    ("proxy cache off", Same, "server { listen 127.0.0.1:27080; location / { proxy_cache off; } }"),
    ("proxy cache zone", Refused, "server { listen 127.0.0.1:27080; location / { proxy_cache z; } }"),
    ("geoip unknown", Same, "server { listen 127.0.0.1:27080; geoip_country /x; }"),
    ("mail unknown", Same, "server { listen 127.0.0.1:27080; location / { return 200 \"ok\"; } } mail { }"),
    ("limit_req", Refused, "server { listen 127.0.0.1:27080; location / { limit_req zone=x; } }"),
    ("auth_basic off", Same, "server { listen 127.0.0.1:27080; location / { auth_basic off; } }"),
    ("autoindex on", Refused, "server { listen 127.0.0.1:27080; location / { autoindex on; } }"),
    ("fastcgi_param", Same, "server { listen 127.0.0.1:27080; location / { fastcgi_param A b; } }"),
    ("fastcgi_pass", Refused, "server { listen 127.0.0.1:27080; location / { fastcgi_pass 127.0.0.1:9000; } }"),
    ("http2 obsolete", Same, "server { listen 127.0.0.1:27080; http2_idle_timeout 10s; }"),
    ("ssl cert missing", Same, "server { listen 127.0.0.1:18443 ssl; ssl_certificate nosuch.pem; ssl_certificate_key nosuch.key; }"),
    ("ssl key missing", Same, "server { listen 127.0.0.1:18443 ssl; ssl_certificate ecdsa.pem; ssl_certificate_key nosuch.key; }"),
    ("ssl no key", Same, "server { listen 127.0.0.1:18443 ssl; ssl_certificate ecdsa.pem; }"),
    ("ssl key mismatch", Stricter("key values mismatch"), "server { listen 127.0.0.1:18443 ssl; ssl_certificate ecdsa.pem; ssl_certificate_key rsa.key; }"),
    ("ssl cert garbage", Same, "server { listen 127.0.0.1:18443 ssl; ssl_certificate garbage.pem; ssl_certificate_key rsa.key; }"),
    ("ssl key and cert in one file", Same, "server { listen 127.0.0.1:18443 ssl; ssl_certificate ecdsa-combined.pem; ssl_certificate_key ecdsa-combined.pem; }"),
    ("ssl two certs", Same, "server { listen 127.0.0.1:18443 ssl; ssl_certificate ecdsa.pem; ssl_certificate_key ecdsa.key; ssl_certificate rsa.pem; ssl_certificate_key rsa.key; }"),
    ("ssl certs loaded without listen ssl", Same, "server { listen 127.0.0.1:18080; ssl_certificate nosuch.pem; ssl_certificate_key nosuch.key; }"),
    ("ssl_session_cache shared", Same, "ssl_session_cache shared:SSL:10m; server { listen 127.0.0.1:18080; }"),
    ("ssl_session_cache bad", Same, "server { listen 127.0.0.1:18080; ssl_session_cache foo; }"),
    ("ssl_session_cache too small", Same, "server { listen 127.0.0.1:18080; ssl_session_cache shared:SSL:1k; }"),
    ("ssl_protocols bad", Same, "server { listen 127.0.0.1:18080; ssl_protocols TLSv9; }"),
    ("ssl on", Same, "server { listen 127.0.0.1:27080; ssl on; }"),
    ("listen host", Same, "server { listen localhost:27080; }"),
    ("listen dup", Same, "server { listen 127.0.0.1:27080; listen 127.0.0.1:27080; }"),
];

#[test]
fn rginx_t_matches_nginx_t() {
    let nginx = nginx();
    let mut failures = Vec::new();
    for (name, expect, http) in CASES {
        let p = Prefix::new();
        p.write("conf/nginx.conf", http_conf(http).as_bytes());
        // Certificates for the S12.1 cases, relative to the configuration's directory.
        p.write(
            "conf/ecdsa.pem",
            include_bytes!("../fixtures/tls/ecdsa.pem"),
        );
        p.write(
            "conf/ecdsa.key",
            include_bytes!("../fixtures/tls/ecdsa.key"),
        );
        p.write(
            "conf/ecdsa-combined.pem",
            include_bytes!("../fixtures/tls/ecdsa-combined.pem"),
        );
        p.write("conf/rsa.pem", include_bytes!("../fixtures/tls/rsa.pem"));
        p.write("conf/rsa.key", include_bytes!("../fixtures/tls/rsa.key"));
        p.write("conf/garbage.pem", b"not a certificate\n");
        let a = p.test(&nginx, &[]);
        let b = p.test(&rginx(), &[]);
        let (la, lb) = (levels(&a.stderr, p.path()), levels(&b.stderr, p.path()));
        let ok = match expect {
            Same => a.status.code() == b.status.code() && la.first() == lb.first(),
            Refused => {
                b.status.code() == Some(1)
                    && lb
                        .first()
                        .is_some_and(|l| l.contains("is not supported by rginx"))
            }
            Stricter(why) => {
                a.status.code() == Some(0)
                    && b.status.code() == Some(1)
                    && lb.first().is_some_and(|l| l.contains(why))
            }
        };
        if !ok {
            failures.push(format!(
                "{name} ({expect:?}):\n  nginx {:?} {:?}\n  rginx {:?} {:?}",
                a.status.code(),
                la.first(),
                b.status.code(),
                lb.first()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
