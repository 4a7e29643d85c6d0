//! The layout of the sources, kept true: the module import graph is built from the sources
//! (`use` items and `crate::`/`super::`/`self::` paths, outside comments, strings and
//! `#[cfg(test)]` items) and checked against the architecture the README describes:
//!
//! - no cycle among the top-level modules of `src`, nor among the floors of the runtime
//!   (the direct children of `src/runtime`), and the floors import downwards only, in the
//!   order `base` → `state` → `vars` → `filters` → `http` → `serve`;
//! - `syntax`, `config` and `ir` never import the runtime or the master; the runtime never
//!   imports `config`, the master or the app;
//! - no source file is over 800 lines without its `#[cfg(test)]` items, every file says what
//!   it owns (`//!`), no function of the proxy path is over 120 lines, and no function needs a
//!   `too_many_arguments` allowance.
//!
//! The graph builder is checked on a tree made for it first, so that a checker that sees
//! nothing cannot pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The runtime's floors, from the ground up.
const FLOORS: &[&str] = &[
    "base", "state", "vars", "filters", "http", "stream", "serve",
];
const MAX_LINES: usize = 800;
const MAX_PROXY_FN_LINES: usize = 120;

/// One source file: its module path (`runtime::http::proxy`), its text without tests, and
/// the modules it refers to.
struct Module {
    file: PathBuf,
    path: Vec<String>,
    code: String,
    lines: usize,
}

struct Tree {
    modules: BTreeMap<Vec<String>, Module>,
}

impl Tree {
    /// Reads every `.rs` file under `src` (the binary's `main.rs` aside) as the crate's
    /// modules, leaving out the files only `#[cfg(test)]` declarations bring in.
    fn read(src: &Path) -> Tree {
        let mut files = Vec::new();
        walk(src, &mut files);
        let mut modules = BTreeMap::new();
        for file in files {
            let rel = file.strip_prefix(src).expect("under src");
            if rel == Path::new("main.rs") {
                continue;
            }
            let path = module_path(rel);
            let text = std::fs::read_to_string(&file).expect("read source");
            let (code, lines) = without_tests(&text);
            modules.insert(
                path.clone(),
                Module {
                    file,
                    path,
                    code,
                    lines,
                },
            );
        }
        let mut tree = Tree { modules };
        tree.drop_test_modules();
        tree
    }

    /// Removes modules declared under `#[cfg(test)]` (and what is under them).
    fn drop_test_modules(&mut self) {
        let mut test_only = Vec::new();
        for (path, m) in &self.modules {
            let text = std::fs::read_to_string(&m.file).expect("read source");
            let mut cfg_test = false;
            for line in text.lines() {
                let t = line.trim();
                if t == "#[cfg(test)]" {
                    cfg_test = true;
                    continue;
                }
                if cfg_test {
                    if let Some(name) = declared_module(t) {
                        let mut p = path.clone();
                        p.push(name);
                        test_only.push(p);
                    }
                }
                if !t.starts_with("#[") {
                    cfg_test = false;
                }
            }
        }
        self.modules
            .retain(|p, _| !test_only.iter().any(|t| p.starts_with(t)));
    }

    /// Module `from` refers to these modules (each reference resolved to the longest module
    /// path it names).
    fn references(&self, m: &Module) -> BTreeSet<Vec<String>> {
        let mut out = BTreeSet::new();
        for path in paths_in(&m.code) {
            if let Some(target) = self.resolve(&m.path, &path) {
                if target != m.path {
                    out.insert(target);
                }
            }
        }
        out
    }

    /// A path as written in module `at` (`crate::a::b`, `super::x`, `self::y`, or a child
    /// module's name), as the module it names.
    fn resolve(&self, at: &[String], path: &[String]) -> Option<Vec<String>> {
        let (mut base, rest): (Vec<String>, &[String]) = match path.first()?.as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (at.to_vec(), &path[1..]),
            "super" => {
                let mut b = at.to_vec();
                let mut rest = path;
                while rest.first().map(String::as_str) == Some("super") {
                    b.pop()?;
                    rest = &rest[1..];
                }
                (b, rest)
            }
            first => {
                // A child module of `at`, named without `self::` (2018 paths).
                let mut child = at.to_vec();
                child.push(first.to_string());
                if !self.modules.contains_key(&child) {
                    return None;
                }
                (at.to_vec(), path)
            }
        };
        let mut found = self.modules.contains_key(&base).then(|| base.clone());
        for seg in rest {
            base.push(seg.clone());
            if self.modules.contains_key(&base) {
                found = Some(base.clone());
            } else {
                break;
            }
        }
        found
    }

    /// The graph between groups of modules: `group_of` names the group a module belongs to
    /// (`None`: not part of this graph).
    fn graph(&self, group_of: impl Fn(&[String]) -> Option<String>) -> Graph {
        let mut edges: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for m in self.modules.values() {
            let Some(from) = group_of(&m.path) else {
                continue;
            };
            edges.entry(from.clone()).or_default();
            for target in self.references(m) {
                let Some(to) = group_of(&target) else {
                    continue;
                };
                if to != from {
                    let why = format!("{} -> {}", m.path.join("::"), target.join("::"));
                    edges
                        .entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_default()
                        .push(why);
                }
            }
        }
        Graph { edges }
    }
}

struct Graph {
    /// from → to → the references that make the edge.
    edges: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl Graph {
    /// A cycle, as the groups on it and one reference per edge, if there is one.
    fn cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        fn visit(
            g: &Graph,
            n: &str,
            marks: &mut BTreeMap<String, Mark>,
            stack: &mut Vec<String>,
        ) -> Option<Vec<String>> {
            marks.insert(n.to_string(), Mark::Open);
            stack.push(n.to_string());
            for to in g.edges.get(n).into_iter().flat_map(|e| e.keys()) {
                match marks.get(to).copied().unwrap_or(Mark::New) {
                    Mark::Open => {
                        let at = stack.iter().position(|s| s == to).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[at..].to_vec();
                        cycle.push(to.clone());
                        let why = cycle
                            .windows(2)
                            .map(|w| g.edges[&w[0]][&w[1]][0].clone())
                            .collect();
                        return Some(why);
                    }
                    Mark::New => {
                        if let Some(c) = visit(g, to, marks, stack) {
                            return Some(c);
                        }
                    }
                    Mark::Done => {}
                }
            }
            stack.pop();
            marks.insert(n.to_string(), Mark::Done);
            None
        }
        let mut marks = BTreeMap::new();
        for n in self.edges.keys() {
            if marks.get(n).copied().unwrap_or(Mark::New) == Mark::New {
                if let Some(c) = visit(self, n, &mut marks, &mut Vec::new()) {
                    return Some(c);
                }
            }
        }
        None
    }

    /// The references from group `from` to group `to`.
    fn between(&self, from: &str, to: &str) -> Vec<String> {
        self.edges
            .get(from)
            .and_then(|e| e.get(to))
            .cloned()
            .unwrap_or_default()
    }
}

fn top_level(path: &[String]) -> Option<String> {
    path.first().cloned()
}

fn floor(path: &[String]) -> Option<String> {
    match path {
        [runtime, floor, ..] if runtime == "runtime" => Some(floor.clone()),
        [runtime] if runtime == "runtime" => Some("(runtime)".to_string()),
        _ => None,
    }
}

#[test]
fn the_checker_sees_cycles_and_layers() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |p: &str, text: &str| {
        let p = src.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("lib.rs", "//! x\npub mod a;\npub mod b;\npub mod c;\n");
    write("c.rs", "//! x\n");
    write(
        "a/mod.rs",
        "//! x\npub mod low;\npub mod high;\nuse crate::b::Thing;\n",
    );
    write("a/low.rs", "//! x\nfn f() { let _ = super::high::g(); }\n");
    write(
        "a/high.rs",
        "//! x\nuse super::low;\n// crate::c in a comment\nconst S: &str = \"crate::c\";\n",
    );
    write(
        "b.rs",
        "//! x\nuse crate::a::{low, high::{self}};\n#[cfg(test)]\nmod tests {\n    use crate::c;\n}\n",
    );
    let tree = Tree::read(src);
    let top = tree.graph(top_level);
    assert!(top.cycle().is_some(), "a -> b -> a is a cycle");
    let inner = tree.graph(|p| match p {
        [a, x, ..] if a == "a" => Some(x.clone()),
        _ => None,
    });
    assert!(inner.cycle().is_some(), "low -> high -> low is a cycle");
    assert_eq!(top.between("a", "b").len(), 1, "{:?}", top.edges);
    assert!(!top.between("b", "a").is_empty());
    // Comments, strings and tests are not references.
    assert!(top.between("a", "c").is_empty(), "{:?}", top.edges);
    assert!(top.between("b", "c").is_empty(), "{:?}", top.edges);
}

#[test]
fn modules_import_one_way() {
    let tree = Tree::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(tree.modules.len() > 50, "the sources were read");
    let top = tree.graph(top_level);
    assert!(
        top.cycle().is_none(),
        "a cycle among the top-level modules of src: {:?}",
        top.cycle()
    );
    for low in ["syntax", "config", "ir"] {
        for high in ["runtime", "master"] {
            let refs = top.between(low, high);
            assert!(refs.is_empty(), "{low} imports {high}: {refs:?}");
        }
    }
    for forbidden in ["config", "master", "app"] {
        let refs = top.between("runtime", forbidden);
        assert!(refs.is_empty(), "the runtime imports {forbidden}: {refs:?}");
    }
    // The runtime reads the IR: that edge exists (the checker is not blind).
    assert!(!top.between("runtime", "ir").is_empty());

    let floors = tree.graph(floor);
    assert!(
        floors.cycle().is_none(),
        "a cycle among the floors of the runtime: {:?}",
        floors.cycle()
    );
    let names: BTreeSet<&String> = floors.edges.keys().collect();
    for f in FLOORS {
        assert!(names.contains(&f.to_string()), "floor {f} exists");
    }
    for (i, lower) in FLOORS.iter().enumerate() {
        for higher in &FLOORS[i + 1..] {
            let refs = floors.between(lower, higher);
            assert!(
                refs.is_empty(),
                "{lower} imports {higher}, a floor above it: {refs:?}"
            );
        }
        let refs = floors.between(lower, "(runtime)");
        assert!(
            refs.is_empty(),
            "{lower} imports the runtime's root: {refs:?}"
        );
    }
    assert!(!floors.between("serve", "http").is_empty());
    assert!(!floors.between("serve", "stream").is_empty());
    // http and stream are siblings, as nginx's two modules are: what they share (the tunnel
    // engine, the balancers, connecting to a peer, the access-log line) lives below both.
    let refs = floors.between("stream", "http");
    assert!(refs.is_empty(), "stream imports http: {refs:?}");
    assert!(!floors.between("stream", "base").is_empty());
}

#[test]
fn files_are_small_and_say_what_they_own() {
    let tree = Tree::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut problems = Vec::new();
    for m in tree.modules.values() {
        let name = m.file.display();
        if m.lines > MAX_LINES {
            problems.push(format!("{name}: {} lines without its tests", m.lines));
        }
        let text = std::fs::read_to_string(&m.file).unwrap();
        if !text.starts_with("//!") {
            problems.push(format!("{name}: no //! paragraph at the top"));
        }
        if text.contains("too_many_arguments") {
            problems.push(format!("{name}: a too_many_arguments allowance"));
        }
        if m.path
            .starts_with(&["runtime".into(), "http".into(), "proxy".into()])
        {
            for (f, n) in functions(&m.code) {
                if n > MAX_PROXY_FN_LINES {
                    problems.push(format!("{name}: fn {f} has {n} lines"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_function_counter_counts() {
    let code = "fn a() {\n    x;\n}\n\npub async fn b(\n    y: u8,\n) -> u8 {\n    if y { 1 } else { 2 }\n}\n";
    assert_eq!(functions(code), vec![("a".into(), 3), ("b".into(), 5)]);
}

// ----------------------------------------------------------------------------------------
// Reading sources.

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `runtime/http/proxy/mod.rs` → `runtime::http::proxy`; `lib.rs` → the crate's root.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// `mod x;`, `pub mod x;`, `pub(crate) mod x;` → `x`.
fn declared_module(line: &str) -> Option<String> {
    let rest = line
        .strip_prefix("pub ")
        .or_else(|| line.strip_prefix("pub(crate) "))
        .or_else(|| line.strip_prefix("pub(super) "))
        .unwrap_or(line);
    let name = rest.strip_prefix("mod ")?.trim_end_matches(';').trim();
    (!name.contains(' ') && !name.contains('{')).then(|| name.to_string())
}

/// The text without comments, string and char literals, and `#[cfg(test)]` items; and the
/// number of lines left (the file without its tests, as the 800-line rule counts it).
fn without_tests(text: &str) -> (String, usize) {
    let code = strip_comments_and_strings(text);
    let mut out = String::with_capacity(code.len());
    let mut kept = 0;
    // A `#[cfg(test)]` was seen: the next item is left out.
    let mut pending = false;
    // Inside a left-out block: the brace depth at which it ends.
    let mut skip_until: Option<i32> = None;
    let mut depth = 0i32;
    for line in code.lines() {
        let before = depth;
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        if let Some(d) = skip_until {
            if depth <= d {
                skip_until = None;
            }
            continue;
        }
        let t = line.trim();
        if t == "#[cfg(test)]" {
            pending = true;
            continue;
        }
        if pending {
            if t.starts_with("#[") {
                continue;
            }
            pending = false;
            if depth > before {
                skip_until = Some(before);
            }
            continue;
        }
        kept += 1;
        out.push_str(line);
        out.push('\n');
    }
    (out, kept)
}

/// Blanks out comments and the contents of string and char literals (raw strings
/// included), keeping line breaks, so that only code is left to read.
fn strip_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let keep_newlines = |s: &[u8], out: &mut Vec<u8>| {
        out.extend(s.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
    };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n);
                keep_newlines(&b[i..end], &mut out);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                let start = i;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                keep_newlines(&b[start..i], &mut out);
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#')) && raw_string_start(b, i) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let open = i + 1 + hashes;
                if b.get(open) != Some(&b'"') {
                    out.push(b[i]);
                    i += 1;
                    continue;
                }
                let mut close = Vec::from(&b"\""[..]);
                close.extend(std::iter::repeat_n(b'#', hashes));
                let end = b[open + 1..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(b.len(), |n| open + 1 + n + close.len());
                out.extend_from_slice(b"\"\"");
                keep_newlines(&b[i + 2..end], &mut out);
                i = end;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                out.extend_from_slice(b"\"\"");
                keep_newlines(&b[start + 2.min(i - start)..i], &mut out);
            }
            b'\'' => {
                // A char literal ('x', '\n', '\'', '{'), or a lifetime ('a).
                let lit = match (b.get(i + 1), b.get(i + 2)) {
                    (Some(b'\\'), _) => b[i + 2..]
                        .iter()
                        .skip(1)
                        .position(|&c| c == b'\'')
                        .map(|n| i + 3 + n + 1),
                    (Some(_), Some(b'\'')) => Some(i + 3),
                    _ => None,
                };
                match lit {
                    Some(end) if end <= b.len() => {
                        out.extend_from_slice(b"' '");
                        keep_newlines(&b[(i + 3).min(end)..end], &mut out);
                        i = end;
                    }
                    _ => {
                        out.push(b'\'');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the `r` at `i` starts a raw string (`r"`, `r#"`, `br"`), not an identifier's end.
fn raw_string_start(b: &[u8], i: usize) -> bool {
    let ident = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    match b[..i].last() {
        None => true,
        Some(b'b') => !b[..i - 1].last().is_some_and(ident),
        Some(c) => !ident(c),
    }
}

/// Every path that names a module or an item through `crate::`, `super::`, `self::`, or a
/// `use` of a child module, as its segments; `use` trees are expanded.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `use` items, whole (they may span lines).
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let Some(end) = after.find(';') else {
            break;
        };
        expand_use(after[..end].trim(), &mut Vec::new(), &mut out);
        rest = &after[end..];
    }
    // Paths in code: `crate::a::b`, `super::x`, `self::y`.
    let b = code.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(n) = code[from..].find(start) {
            let at = from + n;
            from = at + start.len();
            if at > 0
                && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_' || b[at - 1] == b':')
            {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            let path: Vec<String> = code[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            out.push(path);
        }
    }
    out
}

/// The position of `word` as a whole word in `s`.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(n) = s[from..].find(word) {
        let at = from + n;
        let before = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        let after = b
            .get(at + word.len())
            .is_some_and(|c| c.is_ascii_whitespace());
        if before && after {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// `a::b::{c, d::{e, self}}` → `a::b::c`, `a::b::d::e`, `a::b::d`.
fn expand_use(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    let tree = tree.strip_prefix("::").unwrap_or(tree);
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let n = head.len();
        prefix.extend(head);
        for part in split_top(inner) {
            expand_use(part, prefix, out);
        }
        prefix.truncate(prefix.len() - n);
        return;
    }
    let item = tree.split(" as ").next().unwrap_or(tree).trim();
    if item.is_empty() || item == "*" {
        if !prefix.is_empty() {
            out.push(prefix.clone());
        }
        return;
    }
    let mut path = prefix.clone();
    for seg in item.split("::").map(str::trim).filter(|s| !s.is_empty()) {
        if seg == "self" {
            continue;
        }
        if seg != "*" {
            path.push(seg.to_string());
        }
    }
    out.push(path);
}

/// Splits a `use` group's contents at its top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Each function of code formatted by rustfmt, with its length in lines (signature to
/// closing brace).
fn functions(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let indent = lines[i].len() - t.len();
        let sig = t
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("const ")
            .trim_start_matches("async ");
        if let Some(rest) = sig.strip_prefix("fn ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // The body ends at the first line at the same indent that closes it.
            let mut end = i;
            let opens_and_closes = lines[i].contains('{') && lines[i].trim_end().ends_with('}');
            if !opens_and_closes && !lines[i].trim_end().ends_with(';') {
                let close = format!("{}}}", " ".repeat(indent));
                while end + 1 < lines.len() && lines[end] != close {
                    end += 1;
                }
            }
            out.push((name, end - i + 1));
        }
        i += 1;
    }
    out
}
