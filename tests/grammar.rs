//! The directive table and its documentation: `grammar/directives.md` and the README's list of
//! implemented directives are generated from `src/config/directives.rs`, and every directive
//! the table marks implemented is handled by the lowering code (no gaps between table and code).
//!
//! `RGINX_BLESS=1 cargo test --test grammar` rewrites the generated files.

mod common;
use common::*;

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn directives_md_is_in_sync() {
    let path = root().join("grammar/directives.md");
    let want = rginx::config::registry::markdown();
    if std::env::var_os("RGINX_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "grammar/directives.md is out of date: run RGINX_BLESS=1 cargo test --test grammar"
    );
}

#[test]
fn readme_directive_lists_are_in_sync() {
    let path = root().join("README.md");
    for (marker, want) in [
        (
            "implemented-directives",
            rginx::config::registry::implemented_list(),
        ),
        (
            "implemented-stream-directives",
            rginx::config::registry::implemented_stream_list(),
        ),
    ] {
        let readme = std::fs::read_to_string(&path).unwrap();
        let (begin, end) = (
            format!("<!-- {marker}:begin -->\n"),
            format!("\n<!-- {marker}:end -->"),
        );
        let b = readme
            .find(&begin)
            .unwrap_or_else(|| panic!("README has the {marker} markers"))
            + begin.len();
        let e = readme.find(&end).expect("end marker");
        if std::env::var_os("RGINX_BLESS").is_some() {
            let updated = format!("{}{}{}", &readme[..b], want, &readme[e..]);
            std::fs::write(&path, updated).unwrap();
            continue;
        }
        assert!(
            readme[b..e] == want,
            "README's {marker} are out of date: run RGINX_BLESS=1 cargo test --test grammar"
        );
    }
}

#[test]
fn the_table_counts_every_stock_directive() {
    use rginx::config::registry::Build;
    // nginx 1.22.1 has 711 command entries (605 distinct names) across its modules; the table
    // also has the later nginx's `http2` (accepted by rginx, marked as newer) and the five
    // directives of the third-party websockify module.
    let all: Vec<_> = rginx::config::registry::all()
        .iter()
        .filter(|s| !matches!(s.build, Build::Newer(_) | Build::ThirdParty(_)))
        .collect();
    let third = rginx::config::registry::all()
        .iter()
        .filter(|s| matches!(s.build, Build::ThirdParty(_)))
        .count();
    assert_eq!(third, 5);
    assert_eq!(all.len(), 711);
    let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 605);
}

/// A minimal valid use of each implemented http directive in its context: the lowering code
/// must accept it (a directive the table marks implemented but no builder handles would be
/// reported as a gap).
#[test]
fn every_implemented_directive_is_handled() {
    use rginx::config::registry::{self, Support};
    let mut failures = Vec::new();
    for spec in registry::all() {
        if spec.support != Support::Implemented
            || !spec.module.starts_with("ngx_http")
            || spec.name == "http"
        {
            continue;
        }
        let line = if spec.name == "server" && spec.is_block() {
            Some("server { listen 127.0.0.1:8082; }")
        } else {
            sample(spec.name)
        };
        let Some(line) = line else {
            failures.push(format!("{}: no sample in this test", spec.name));
            continue;
        };
        let conf = if spec.contexts & registry::UPS != 0 {
            format!("upstream u {{ server 127.0.0.1:1; {line} }}")
        } else if spec.contexts & registry::LOC != 0 {
            format!("server {{ listen 127.0.0.1:8080; location /x/ {{ {line} }} }}")
        } else if spec.contexts & registry::SRV != 0 {
            format!("server {{ listen 127.0.0.1:8080; {line} }}")
        } else {
            format!("{line} server {{ listen 127.0.0.1:8080; }}")
        };
        let p = Prefix::new();
        p.write("conf/nginx.conf", http_conf(&conf).as_bytes());
        p.write("conf/a.pem", include_bytes!("../fixtures/tls/ecdsa.pem"));
        p.write("conf/a.key", include_bytes!("../fixtures/tls/ecdsa.key"));
        let out = p.test(&rginx(), &["-q"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || stderr.contains("gap in rginx") {
            failures.push(format!(
                "{}: {}",
                spec.name,
                stderr.lines().next().unwrap_or("")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn sample(name: &str) -> Option<&'static str> {
    Some(match name {
        "absolute_redirect" => "absolute_redirect off;",
        "websockify_pass" => "websockify_pass 127.0.0.1:5901;",
        "websockify_buffer_size" => "websockify_buffer_size 128k;",
        "websockify_connect_timeout" => "websockify_connect_timeout 5s;",
        "websockify_read_timeout" => "websockify_read_timeout 5d;",
        "websockify_send_timeout" => "websockify_send_timeout 5d;",
        "access_log" => "access_log logs/a.log;",
        "add_header" => "add_header X-A b;",
        "alias" => "alias /tmp/;",
        "allow" => "allow 127.0.0.1;",
        "charset" => "charset utf-8;",
        "charset_types" => "charset_types text/css;",
        "chunked_transfer_encoding" => "chunked_transfer_encoding off;",
        "client_body_timeout" => "client_body_timeout 10s;",
        "client_header_buffer_size" => "client_header_buffer_size 2k;",
        "client_header_timeout" => "client_header_timeout 10s;",
        "client_max_body_size" => "client_max_body_size 10m;",
        "client_body_buffer_size" => "client_body_buffer_size 16k;",
        "break" => "break;",
        "if" => "if ($arg_x = 1) { return 404; }",
        "rewrite" => "rewrite ^/old/(.*)$ /new/$1 last;",
        "set" => "set $x 1;",
        "uninitialized_variable_warn" => "uninitialized_variable_warn off;",
        "client_body_temp_path" => "client_body_temp_path body_temp 1 2;",
        "default_type" => "default_type text/plain;",
        "deny" => "deny all;",
        "error_log" => "error_log logs/e.log warn;",
        "error_page" => "error_page 404 /404.html;",
        "etag" => "etag off;",
        "expires" => "expires 1h;",
        "gzip" => "gzip on;",
        "gzip_comp_level" => "gzip_comp_level 5;",
        "gzip_disable" => "gzip_disable msie6;",
        "gzip_http_version" => "gzip_http_version 1.0;",
        "gzip_min_length" => "gzip_min_length 100;",
        "gzip_proxied" => "gzip_proxied any;",
        "gzip_types" => "gzip_types text/css;",
        "gzip_vary" => "gzip_vary on;",
        "http2" => "http2 on;",
        "http2_max_concurrent_streams" => "http2_max_concurrent_streams 64;",
        "if_modified_since" => "if_modified_since before;",
        "ignore_invalid_headers" => "ignore_invalid_headers off;",
        "index" => "index index.htm;",
        "internal" => "internal;",
        "keepalive" => "keepalive 8;",
        "keepalive_requests" => "keepalive_requests 10;",
        "keepalive_time" => "keepalive_time 1h;",
        "keepalive_timeout" => "keepalive_timeout 10s;",
        "large_client_header_buffers" => "large_client_header_buffers 4 16k;",
        "listen" => "listen 127.0.0.1:8081;",
        "location" => "location /x/y/ { }",
        "log_format" => "log_format f \"$status\";",
        "log_not_found" => "log_not_found off;",
        "max_ranges" => "max_ranges 1;",
        "map" => "map $uri $m { default 1; }",
        "map_hash_bucket_size" => "map_hash_bucket_size 128;",
        "map_hash_max_size" => "map_hash_max_size 1024;",
        "merge_slashes" => "merge_slashes off;",
        "msie_padding" => "msie_padding off;",
        "port_in_redirect" => "port_in_redirect off;",
        "proxy_buffer_size" => "proxy_buffer_size 8k;",
        "proxy_buffering" => "proxy_buffering off;",
        "proxy_buffers" => "proxy_buffers 8 8k;",
        "proxy_connect_timeout" => "proxy_connect_timeout 5s;",
        "proxy_hide_header" => "proxy_hide_header X-A;",
        "proxy_http_version" => "proxy_http_version 1.1;",
        "proxy_ignore_headers" => "proxy_ignore_headers X-Accel-Redirect;",
        "proxy_intercept_errors" => "proxy_intercept_errors on;",
        "proxy_next_upstream" => "proxy_next_upstream error timeout http_502;",
        "proxy_next_upstream_timeout" => "proxy_next_upstream_timeout 10s;",
        "proxy_next_upstream_tries" => "proxy_next_upstream_tries 2;",
        "proxy_pass" => "proxy_pass http://127.0.0.1:1;",
        "proxy_pass_header" => "proxy_pass_header Server;",
        "proxy_pass_request_body" => "proxy_pass_request_body off;",
        "proxy_pass_request_headers" => "proxy_pass_request_headers off;",
        "proxy_read_timeout" => "proxy_read_timeout 61s;",
        "proxy_redirect" => "proxy_redirect off;",
        "proxy_request_buffering" => "proxy_request_buffering off;",
        "proxy_send_timeout" => "proxy_send_timeout 5s;",
        "proxy_set_header" => "proxy_set_header X-A b;",
        "recursive_error_pages" => "recursive_error_pages on;",
        "return" => "return 204;",
        "root" => "root /tmp;",
        "send_timeout" => "send_timeout 5s;",
        "server" => "server 127.0.0.1:2;",
        "server_name" => "server_name a.test;",
        "server_name_in_redirect" => "server_name_in_redirect on;",
        "server_names_hash_bucket_size" => "server_names_hash_bucket_size 128;",
        "server_names_hash_max_size" => "server_names_hash_max_size 1024;",
        "server_tokens" => "server_tokens off;",
        "ssl" => "ssl off;",
        "ssl_certificate" => "ssl_certificate a.pem; ssl_certificate_key a.key;",
        "ssl_certificate_key" => "ssl_certificate a.pem; ssl_certificate_key a.key;",
        "ssl_ciphers" => "ssl_ciphers HIGH;",
        "ssl_dhparam" => "ssl_dhparam a.pem;",
        "ssl_ecdh_curve" => "ssl_ecdh_curve X25519;",
        "ssl_prefer_server_ciphers" => "ssl_prefer_server_ciphers on;",
        "ssl_protocols" => "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_session_tickets" => "ssl_session_tickets off;",
        "ssl_session_cache" => "ssl_session_cache shared:SSL:10m;",
        "ssl_session_timeout" => "ssl_session_timeout 10m;",
        "try_files" => "try_files $uri =404;",
        "types" => "types { text/html html; }",
        "underscores_in_headers" => "underscores_in_headers on;",
        "upstream" => "upstream v { server 127.0.0.1:3; }",
        _ => return None,
    })
}
