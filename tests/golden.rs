//! Golden tests: the exact output of `rginx -t` (nginx's lines and the rich report) for each
//! configuration under `fixtures/diagnostics/`, the JSON report of one, and `-T` (S1.13).
//!
//! Each fixture directory is copied to a temporary prefix; paths in the output are replaced
//! by `<DIR>`. Run with `RGINX_BLESS=1` to rewrite the expected files after a deliberate
//! change, then review the diff.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else if !e.file_name().to_string_lossy().starts_with("expected") {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Compares `actual` with the expected file, or rewrites it under `RGINX_BLESS=1`.
fn golden(expected: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("RGINX_BLESS").is_some() {
        std::fs::write(expected, actual).unwrap();
        return None;
    }
    let want = std::fs::read_to_string(expected).unwrap_or_default();
    (want != actual).then(|| {
        format!(
            "{}:\n--- expected\n{want}\n--- actual\n{actual}",
            expected.display()
        )
    })
}

fn run(dir: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(rginx())
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-t")
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let norm = |b: &[u8]| String::from_utf8_lossy(b).replace(&dir.display().to_string(), "<DIR>");
    (out.status.code(), norm(&out.stdout), norm(&out.stderr))
}

#[test]
fn diagnostics_are_golden() {
    let mut failures = Vec::new();
    let mut n = 0;
    for e in std::fs::read_dir(fixtures().join("diagnostics")).unwrap() {
        let fixture = e.unwrap().path();
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(&fixture, tmp.path());
        let (code, _, stderr) = run(tmp.path(), &[]);
        let actual = format!("exit: {}\n{stderr}", code.unwrap_or(-1));
        failures.extend(golden(&fixture.join("expected.stderr"), &actual));
        n += 1;
    }
    assert!(n >= 10, "only {n} fixtures");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn json_report_is_golden() {
    let fixture = fixtures().join("diagnostics/every-problem");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture, tmp.path());
    let (code, stdout, _) = run(tmp.path(), &["--format", "json"]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(v["ok"], false);
    let errors: Vec<&serde_json::Value> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "emerg")
        .collect();
    // Every problem at once, each located and coded.
    assert!(errors.len() >= 5, "{errors:?}");
    for e in &errors {
        assert!(
            e["line"].as_u64().is_some() && e["code"].as_str().unwrap().starts_with("rginx::"),
            "{e}"
        );
    }
    if let Some(f) = golden(&fixture.join("expected.json"), &stdout) {
        panic!("{f}");
    }
}

#[test]
fn dump_is_golden() {
    let fixture = fixtures().join("dump");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture, tmp.path());
    let (code, stdout, stderr) = run(tmp.path(), &["-T"]);
    assert_eq!(code, Some(0), "{stderr}");
    if let Some(f) = golden(&fixture.join("expected.stdout"), &stdout) {
        panic!("{f}");
    }
}

/// `-T` prints the same files in the same order as nginx (S1.13).
#[test]
fn dump_matches_nginx() {
    let fixture = fixtures().join("dump");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture, tmp.path());
    let conf = tmp.path().join("nginx.conf");
    let prefix = format!("{}/", tmp.path().display());
    let a = Command::new(nginx())
        .args(["-p", &prefix, "-c"])
        .arg(&conf)
        .args(["-e", "stderr", "-T"])
        .output()
        .unwrap();
    let b = Command::new(rginx())
        .args(["-p", &prefix, "-c"])
        .arg(&conf)
        .arg("-T")
        .output()
        .unwrap();
    assert!(a.status.success() && b.status.success());
    assert_eq!(
        String::from_utf8_lossy(&b.stdout),
        String::from_utf8_lossy(&a.stdout)
    );
}
