//! The command line of `-t` as tools use it (S1.12, S1.13, S14.1, S14.2), against the built
//! binary, and against the real nginx where the output must be the same.

mod common;
use common::*;

use std::process::Command;

fn ok_conf() -> String {
    http_conf("server { listen 127.0.0.1:8080; location / { return 200 \"ok\"; } }")
}

/// The lines without the program name, so nginx's and rginx's compare.
fn lines(stderr: &[u8], prefix: &std::path::Path) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| {
            let l = l.replace(&prefix.display().to_string(), "<P>");
            let l = l
                .strip_prefix("nginx: ")
                .or_else(|| l.strip_prefix("rginx: "))
                .unwrap_or(&l)
                .to_string();
            // Debian's nginx prints errors with a timestamp and pid: keep the message.
            match l.find("[emerg] ") {
                Some(i) => l[i..]
                    .split_once("] ")
                    .map(|(a, b)| {
                        format!(
                            "{a}] {}",
                            b.split_once(": ")
                                .filter(|(p, _)| p.contains('#'))
                                .map(|(_, m)| m)
                                .unwrap_or(b)
                        )
                    })
                    .unwrap_or(l),
                None => l,
            }
        })
        .take_while(|l| !l.is_empty())
        .collect()
}

#[test]
fn t_success_lines_and_exit_code_match_nginx() {
    let p = Prefix::new();
    p.write("conf/nginx.conf", ok_conf().as_bytes());
    let a = p.test(&nginx(), &[]);
    let b = p.test(&rginx(), &[]);
    assert_eq!(b.status.code(), Some(0));
    assert_eq!(lines(&b.stderr, p.path()), lines(&a.stderr, p.path()));
    assert_eq!(
        lines(&b.stderr, p.path()),
        vec![
            "the configuration file <P>/conf/nginx.conf syntax is ok",
            "configuration file <P>/conf/nginx.conf test is successful"
        ]
    );
}

#[test]
fn t_failure_lines_and_exit_code_match_nginx() {
    let p = Prefix::new();
    p.write(
        "conf/nginx.conf",
        http_conf("server { listen 127.0.0.1:8080; proxy_pass http://x; }").as_bytes(),
    );
    let a = p.test(&nginx(), &[]);
    let b = p.test(&rginx(), &[]);
    assert_eq!(b.status.code(), Some(1));
    assert_eq!(a.status.code(), Some(1));
    assert_eq!(lines(&b.stderr, p.path()), lines(&a.stderr, p.path()));
}

#[test]
fn q_suppresses_success_lines_only() {
    let p = Prefix::new();
    p.write("conf/nginx.conf", ok_conf().as_bytes());
    let b = p.test(&rginx(), &["-q"]);
    assert_eq!(b.status.code(), Some(0));
    assert!(
        b.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&b.stderr)
    );
    p.write(
        "conf/nginx.conf",
        http_conf("server { listen 127.0.0.1:8080; listen 127.0.0.1:8080; }").as_bytes(),
    );
    let b = p.test(&rginx(), &["-q"]);
    assert_eq!(b.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&b.stderr).contains("[emerg] a duplicate listen 127.0.0.1:8080")
    );
}

#[test]
fn missing_configuration_file() {
    let p = Prefix::new();
    let a = p.test(&nginx(), &[]);
    let b = p.test(&rginx(), &[]);
    assert_eq!(b.status.code(), Some(1));
    assert_eq!(lines(&b.stderr, p.path()), lines(&a.stderr, p.path()));
}

#[test]
fn no_events_section_comes_after_syntax_is_ok() {
    let p = Prefix::new();
    p.write("conf/nginx.conf", b"http { access_log off; }\n");
    let a = p.test(&nginx(), &[]);
    let b = p.test(&rginx(), &[]);
    assert_eq!(lines(&b.stderr, p.path()), lines(&a.stderr, p.path()));
}

#[test]
fn g_directives_come_before_the_file() {
    let p = Prefix::new();
    p.write(
        "conf/nginx.conf",
        format!("daemon on;\n{}", ok_conf()).as_bytes(),
    );
    for g in [
        "daemon off;",
        "events { }",
        "foo bar;",
        "worker_processes 2;",
        "daemon off",
    ] {
        let a = p.test(&nginx(), &["-g", g]);
        let b = p.test(&rginx(), &["-g", g]);
        assert_eq!(b.status.code(), a.status.code(), "-g {g:?}");
        assert_eq!(
            lines(&b.stderr, p.path()),
            lines(&a.stderr, p.path()),
            "-g {g:?}"
        );
    }
}

#[test]
fn relative_c_is_under_the_prefix_and_includes_under_the_conf_dir() {
    let p = Prefix::new();
    p.write(
        "conf/sub/main.conf",
        b"events {}\nhttp { access_log off; include inc/*.conf; }\n",
    );
    p.write(
        "conf/sub/inc/a.conf",
        b"server { listen 127.0.0.1:8080; }\n",
    );
    let out = Command::new(rginx())
        .args(["-p", &p.arg(), "-c", "conf/sub/main.conf", "-t"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("{}conf/sub/main.conf syntax is ok", p.arg())));
}

#[test]
fn dump_prints_every_file_once_in_first_read_order() {
    let p = Prefix::new();
    p.write("conf/nginx.conf", b"events {}\nhttp {\n access_log off;\n include a.conf;\n include a.conf;\n include b.conf;\n}\n");
    p.write("conf/a.conf", b"# a\n");
    p.write("conf/b.conf", b"server { listen 127.0.0.1:8080; }");
    let out = Command::new(rginx())
        .args(["-p", &p.arg(), "-c"])
        .arg(p.conf())
        .arg("-T")
        .output()
        .unwrap();
    let stdout =
        String::from_utf8_lossy(&out.stdout).replace(&p.path().display().to_string(), "<P>");
    assert_eq!(
        stdout,
        "# configuration file <P>/conf/nginx.conf:\nevents {}\nhttp {\n access_log off;\n include a.conf;\n include a.conf;\n include b.conf;\n}\n\n\
         # configuration file <P>/conf/a.conf:\n# a\n\n\
         # configuration file <P>/conf/b.conf:\nserver { listen 127.0.0.1:8080; }\n"
    );
}

#[test]
fn json_format_is_valid_and_complete() {
    let p = Prefix::new();
    p.write("conf/nginx.conf", http_conf("server { listen 127.0.0.1:8080; location / { proxy_buffering maybe; proxy_read_timeout 5x; } }").as_bytes());
    let out = p.test(&rginx(), &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = v["diagnostics"].as_array().unwrap();
    assert_eq!(d.iter().filter(|d| d["severity"] == "emerg").count(), 2);
    assert_eq!(d[0]["code"], "rginx::invalid-value");
    assert_eq!(d[0]["line"], 4);
    assert!(d[0]["nginx"]
        .as_str()
        .unwrap()
        .starts_with("[emerg] invalid value \"maybe\""));
}

#[test]
fn version_flags() {
    let out = Command::new(rginx()).arg("-v").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("nginx version: nginx/1.22.1 (rginx "));
    let out = Command::new(rginx()).arg("-V").output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("configure arguments:")
            && text.contains("--with-http_ssl_module")
            && text.contains("--without-http_fastcgi_module"),
        "{text}"
    );
}

/// nginx's and rginx's output for the same arguments: exit code and stderr, with the program
/// name and the version line normalised (rginx names itself after nginx's version).
fn both(args: &[&str]) -> [(Option<i32>, String, String); 2] {
    [nginx(), rginx()].map(|program| {
        let out = Command::new(&program).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(|l| {
                let l = l
                    .strip_prefix("rginx: ")
                    .map_or(l.to_string(), |r| format!("nginx: {r}"));
                let l = l.replace("Usage: rginx ", "Usage: nginx ");
                match l.strip_prefix("nginx version: nginx/1.22.1 (rginx ") {
                    Some(_) => "nginx version: nginx/1.22.1".to_string(),
                    None => l,
                }
            })
            // rginx's own option, listed after nginx's.
            .filter(|l| !l.starts_with("  --format"))
            .collect::<Vec<_>>()
            .join("\n");
        (
            out.status.code(),
            err,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
}

/// S14.1: `-h`, `-?` and `-v` print nginx's texts on stderr with exit code 0; every
/// refused command line is nginx's one line with exit code 1.
#[test]
fn flags_and_refusals_match_nginx() {
    for args in [
        &["-h"][..],
        &["-?"],
        &["-v"],
        &["-vh"],
        &["-x"],
        &["-tx"],
        &["foo"],
        &["--help"],
        &["-s", "bogus"],
        &["-sbogus"],
        &["-s"],
        &["-c"],
        &["-p"],
        &["-g"],
        &["-e"],
        &["-t", "-c"],
    ] {
        let [a, b] = both(args);
        assert_eq!(b, a, "{args:?}: rginx (right) differs from nginx (left)");
    }
    let [_, b] = both(&["-h"]);
    assert!(b
        .1
        .contains("-p prefix     : set prefix path (default: /usr/share/nginx/)"));
    assert!(b
        .1
        .contains("-c filename   : set configuration file (default: /etc/nginx/nginx.conf)"));
}

/// S14.1: `-V` is `-v` plus the TLS library and the configure arguments, with the same build
/// paths as Debian's nginx and certbot's tests passing (` --with-http_ssl_module`, SNI).
#[test]
fn capital_v_matches_nginx_where_tools_read_it() {
    let [a, b] = both(&["-V"]);
    assert_eq!(b.0, Some(0));
    let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
    assert_eq!(first(&b.1), first(&a.1));
    for text in [&a.1, &b.1] {
        assert!(text.contains("\nTLS SNI support enabled\n"), "{text}");
        assert!(text.contains("configure arguments: "), "{text}");
        assert!(text.contains(" --with-http_ssl_module"), "{text}");
    }
    let arg = |text: &str, name: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name).map(String::from))
    };
    for name in [
        "--prefix=",
        "--conf-path=",
        "--pid-path=",
        "--error-log-path=",
        "--http-log-path=",
        "--http-client-body-temp-path=",
    ] {
        assert_eq!(arg(&b.1, name), arg(&a.1, name), "{name}");
        assert!(arg(&b.1, name).is_some(), "{name}");
    }
    // What rginx lacks, it says it lacks.
    assert!(b.1.contains("--without-http_fastcgi_module"));
}

/// nginx goes on after the version text when `-t` is given too.
#[test]
fn version_then_test() {
    let p = Prefix::new();
    p.write("conf/nginx.conf", ok_conf().as_bytes());
    let a = p.test(&nginx(), &["-v"]);
    let b = p.test(&rginx(), &["-v"]);
    assert_eq!(b.status.code(), Some(0));
    let text = String::from_utf8_lossy(&b.stderr);
    assert!(
        text.starts_with("nginx version: nginx/1.22.1 (rginx "),
        "{text}"
    );
    assert_eq!(
        lines(&b.stderr, p.path())[1..],
        lines(&a.stderr, p.path())[1..]
    );
}

/// `-e FILE`: what nginx writes before it has read its configuration goes to that file too
/// (with the error log's layout), errors still on stderr.
#[test]
fn e_names_the_startup_log() {
    let p = Prefix::new();
    p.write(
        "conf/nginx.conf",
        http_conf("server { listen 127.0.0.1:8080; bogus; }").as_bytes(),
    );
    for program in [nginx(), rginx()] {
        let log = p.path().join("logs/e.log");
        let _ = std::fs::remove_file(&log);
        let out = Command::new(&program)
            .args(["-p", &p.arg(), "-c"])
            .arg(p.conf())
            .args(["-e", "logs/e.log", "-t"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(": [emerg] unknown directive \"bogus\""),
            "{}: {stderr}",
            program.display()
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let line = text.lines().next().unwrap_or_default();
        // `2026/11/21 19:01:15 [emerg] 123#123: unknown directive "bogus" in ...`
        assert!(
            line.contains(" [emerg] ")
                && line.contains("#")
                && line.contains(": unknown directive \"bogus\" in "),
            "{}: {text}",
            program.display()
        );
    }
}
