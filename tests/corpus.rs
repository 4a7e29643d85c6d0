//! The public-config corpus (`../shared/corpus`, 110+ files with nginx's verdict in
//! `index.tsv`): every file, wrapped in the context it belongs to, is checked by the real
//! nginx and by rginx. Verdicts must agree, except where rginx refuses a directive as not
//! supported (and says so); deliberately broken files must be rejected with a located
//! diagnostic; nothing may crash.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

struct Row {
    file: String,
    role: String,
    tested: String,
    nginx_t: String,
    deliberately_invalid: String,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

fn rows() -> Vec<Row> {
    let index = std::fs::read_to_string(corpus().join("index.tsv")).expect("corpus index.tsv");
    let mut lines = index.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (f, r, t, n, d) = (
        col("file"),
        col("role"),
        col("tested"),
        col("nginx_t"),
        col("deliberately_invalid"),
    );
    lines
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let get = |i: usize| c.get(i).copied().unwrap_or("").to_string();
            Row {
                file: get(f),
                role: get(r),
                tested: get(t),
                nginx_t: get(n),
                deliberately_invalid: get(d),
            }
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        let meta = std::fs::metadata(e.path()).unwrap();
        if meta.is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The directory a fragment's wrapper goes in: the nearest ancestor holding a main config
/// of the same origin, so relative includes resolve as they do in that project.
fn home(file: &str, mains: &[String]) -> String {
    let mut d = Path::new(file).parent();
    while let Some(dir) = d {
        let s = dir.to_string_lossy().to_string();
        if s.is_empty() {
            break;
        }
        if mains.contains(&s) {
            return s;
        }
        d = dir.parent();
    }
    Path::new(file)
        .parent()
        .unwrap()
        .to_string_lossy()
        .to_string()
}

fn wrap(root: &Path, r: &Row, mains: &[String]) -> PathBuf {
    let file = root.join(&r.file);
    let body = match r.tested.as_str() {
        "as main config" => return file,
        t if t.starts_with("as main + events") => {
            let w = file.parent().unwrap().join(format!(
                "__wrap_{}.conf",
                file.file_name().unwrap().to_string_lossy()
            ));
            std::fs::write(&w, format!("events {{}}\ninclude {};\n", file.display())).unwrap();
            return w;
        }
        "inside http{}" => format!("events {{}}\nhttp {{\ninclude {};\n}}\n", file.display()),
        "inside server{}" => format!(
            "events {{}}\nhttp {{\nserver {{\ninclude {};\n}}\n}}\n",
            file.display()
        ),
        "inside location{}" => format!(
            "events {{}}\nhttp {{\nserver {{\nlocation / {{\ninclude {};\n}}\n}}\n}}\n",
            file.display()
        ),
        "at main level (+events{} http{})" => {
            format!("include {};\nevents {{}}\nhttp {{}}\n", file.display())
        }
        other => panic!("unknown test context {other:?} for {}", r.file),
    };
    let w = root
        .join(home(&r.file, mains))
        .join(format!("__wrap_{}.conf", r.file.replace('/', "_")));
    std::fs::write(&w, body).unwrap();
    w
}

fn first_emerg(stderr: &[u8]) -> Option<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .find(|l| l.contains("[emerg]"))
        .map(str::to_string)
}

#[test]
fn corpus_verdicts_agree_with_nginx() {
    let nginx = nginx();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("c");
    copy_dir(&corpus(), &root);
    let rows = rows();
    assert!(rows.len() >= 100, "the corpus has {} files", rows.len());
    let mains: Vec<String> = rows
        .iter()
        .filter(|r| r.role == "main")
        .map(|r| {
            Path::new(&r.file)
                .parent()
                .unwrap()
                .to_string_lossy()
                .to_string()
        })
        .collect();
    let (mut agree, mut refused, mut broken_located, mut third_party) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for r in &rows {
        let conf = wrap(&root, r, &mains);
        // The default prefix, as the index was made (modules and log paths resolve there).
        let a = Command::new(&nginx)
            .arg("-c")
            .arg(&conf)
            .arg("-t")
            .output()
            .unwrap();
        let b = Command::new(rginx())
            .arg("-c")
            .arg(&conf)
            .arg("-t")
            .output()
            .unwrap();
        let stderr_b = String::from_utf8_lossy(&b.stderr).to_string();
        if !matches!(b.status.code(), Some(0) | Some(1)) || stderr_b.contains("panicked") {
            failures.push(format!("{}: rginx crashed: {stderr_b}", r.file));
            continue;
        }
        let (na, nb) = (a.status.success(), b.status.success());
        // The live nginx must give the recorded verdict: otherwise the environment differs.
        assert_eq!(
            na,
            r.nginx_t == "yes",
            "{}: live nginx disagrees with index.tsv",
            r.file
        );
        let eb = first_emerg(&b.stderr).unwrap_or_default();
        if !r.deliberately_invalid.is_empty() && r.nginx_t == "no" {
            // Located: the JSON report gives the error a file and a line (even where nginx's
            // own one-line message has no place, e.g. unknown variables).
            let j = Command::new(rginx())
                .arg("-c")
                .arg(&conf)
                .args(["-t", "--format", "json"])
                .output()
                .unwrap();
            let report: serde_json::Value = serde_json::from_slice(&j.stdout).expect("JSON report");
            let first = report["diagnostics"]
                .as_array()
                .and_then(|d| d.iter().find(|d| d["severity"] == "emerg"))
                .cloned()
                .unwrap_or_default();
            if nb || first["line"].as_u64().is_none() || first["file"].as_str().is_none() {
                failures.push(format!(
                    "{}: deliberately broken, but rginx gave no located error: {first}",
                    r.file
                ));
            } else {
                broken_located += 1;
            }
        }
        let ea = first_emerg(&a.stderr).unwrap_or_default();
        if na == nb {
            agree += 1;
        } else if na && eb.contains("is not supported by rginx") {
            refused += 1;
        } else if !na && nb && ea.contains("unknown directive \"websockify_pass\"") {
            // A third-party module (websockify-nginx-module) the image builds nginx with and
            // Debian's nginx lacks: rginx has it built in, so the file loads (it is served by
            // tests/browser.rs and checked by tests/websockify.rs).
            third_party += 1;
        } else {
            failures.push(format!(
                "{} ({}): nginx {} {:?} / rginx {} {eb}",
                r.file,
                r.tested,
                na,
                first_emerg(&a.stderr),
                nb
            ));
        }
    }
    eprintln!(
        "corpus: {} files, {agree} agree, {refused} refused as not supported by rginx, {third_party} load with a third-party module rginx has built in, {broken_located} deliberately broken rejected with a location",
        rows.len()
    );
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
