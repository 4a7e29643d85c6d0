//! Table tests of the tokenizer and parser (nginx-semantics S1.1–S1.6, S1.12 line numbers),
//! each case observed against nginx 1.22.1.
//!
//! `check(input, expected)` renders what the parser built: words in brackets (after escape
//! processing, non-UTF-8 bytes as `\xNN`), `;` or a `{ ... }` block after each directive,
//! and the syntax error, if any, as `! MESSAGE @LINE`.

use rginx::source::FileId;
use rginx::syntax::{parse, Block};

fn render_block(b: &Block, out: &mut String) {
    for d in &b.directives {
        out.push('[');
        out.push_str(&d.name.show());
        out.push(']');
        for a in &d.args {
            out.push_str(" [");
            out.push_str(&a.show());
            out.push(']');
        }
        match &d.block {
            Some(inner) => {
                out.push_str(" { ");
                render_block(inner, out);
                out.push('}');
                out.push(' ');
            }
            None => out.push_str("; "),
        }
    }
}

#[track_caller]
fn check(input: &[u8], expected: &str) {
    let parsed = parse(input, FileId(0));
    let mut out = String::new();
    render_block(&parsed.root, &mut out);
    if let Some(e) = &parsed.error {
        out.push_str(&format!("! {} @{}", e.message(), e.line));
    }
    assert_eq!(
        out.trim_end(),
        expected,
        "input: {:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn s1_1_directives_and_blocks() {
    check(b"a b;", "[a] [b];");
    check(
        b"a b c d e f g h i j;",
        "[a] [b] [c] [d] [e] [f] [g] [h] [i] [j];",
    );
    check(
        b"events {}\nhttp { server { listen 80; } }",
        "[events] { } [http] { [server] { [listen] [80]; } }",
    );
    check(b"a\tb\r\nc d;\r\n", "[a] [b] [c] [d];");
    // A UTF-8 byte order mark is part of the first word (nginx: unknown directive "\u{feff}events").
    check(b"\xEF\xBB\xBFevents {}", "[\u{feff}events] { }");
    // Configurations are bytes.
    check(b"a \xff\xfe;", "[a] [\\xFF\\xFE];");
}

#[test]
fn s1_2_comments_start_only_a_word() {
    check(b"a b; # c d;\ne f;", "[a] [b]; [e] [f];");
    check(b"location /a#b { }", "[location] [/a#b] { }");
    check(b"a \"x # y\";", "[a] [x # y];");
    check(b"a b #;\n;", "[a] [b];");
    check(b"#only a comment", "");
}

#[test]
fn s1_3_quotes() {
    check(b"a \"b c\" 'd e';", "[a] [b c] [d e];");
    check(b"a \"\" '';", "[a] [] [];");
    check(b"a \"multi\nline\";", "[a] [multi\nline];");
    check(b"a \"x;{}#\";", "[a] [x;{}#];");
    check(b"a a\"b'c;", "[a] [a\"b'c];");
    check(b"\"quoted\" name;", "[quoted] [name];");
    check(b"a \"b\"c;", "! unexpected \"c\" @1");
    check(b"a \"b\"#c;", "! unexpected \"#\" @1");
    check(b"a \"b\"}", "! unexpected \"}\" @1");
    check(b"a \"b\";", "[a] [b];");
    check(b"a \"b\"{}", "[a] [b] { }");
    // `)` may follow a quote and starts the next word (if conditions).
    check(b"if ($a = \"b\") {}", "[if] [($a] [=] [b] [)] { }");
    check(
        b"a \"unterminated;\n",
        "! unexpected end of file, expecting \";\" or \"}\" @2",
    );
}

#[test]
fn s1_4_escapes() {
    check(
        br#"a "q:[a\"b] s:[it\'s] t:[\t] n:[\n] r:[\r] bs:[\\] other:[\d]";"#,
        "[a] [q:[a\"b] s:[it's] t:[\t] n:[\n] r:[\r] bs:[\\] other:[\\d]];",
    );
    check(br#"a "\$host";"#, "[a] [\\$host];");
    check(br"a x\ y;", "[a] [x\\ y];");
    check(br"a \;b;", "[a] [\\;b];");
    check(br#"a \"b;"#, "[a] [\"b];");
    check(br"a '\'';", "[a] ['];");
}

#[test]
fn s1_5_braces_and_semicolons() {
    check(
        b"location /x{ return 200; }",
        "[location] [/x] { [return] [200]; }",
    );
    check(b"a ${var}suffix;", "[a] [${var}suffix];");
    check(b"a ${x}{ }", "[a] [${x}] { }");
    check(b"a $;", "[a] [$];");
    check(b"a x}y;", "[a] [x}y];");
    check(b";", "! unexpected \";\" @1");
    check(b"{}", "! unexpected \"{\" @1");
    check(b"a {\n  b;\n  c d\n}", "[a] { [b]; } ! unexpected \"}\" @4");
    check(b"a { b; }\n}", "[a] { [b]; } ! unexpected \"}\" @2");
    check(
        b"a {\n b;\n",
        "[a] { [b]; } ! unexpected end of file, expecting \"}\" @3",
    );
    check(
        b"a b",
        "! unexpected end of file, expecting \";\" or \"}\" @1",
    );
    check(
        b"a b\\",
        "! unexpected end of file, expecting \";\" or \"}\" @1",
    );
    check(b"a { b { c { d; } } }", "[a] { [b] { [c] { [d]; } } }");
}

#[test]
fn s1_6_variables_stay_in_words() {
    check(
        b"return 200 \"$uri.x|$uri-y|${uri}z\";",
        "[return] [200] [$uri.x|$uri-y|${uri}z];",
    );
}

#[test]
fn nginx_read_buffer_limits() {
    // Observed with nginx 1.22.1: the 4096-byte buffer bounds a word (and a comment).
    let word = |n: usize, term: &str| {
        let mut v = vec![b'x'; n];
        v.extend_from_slice(term.as_bytes());
        // More bytes after the word, so that nginx's buffer is refilled rather than at EOF.
        v.extend_from_slice(&b"z;".repeat(2500));
        v
    };
    let long = "! too long parameter \"xxxxxxxxxx...\" started @1";
    let ok = |input: &[u8]| {
        !parse(input, FileId(0))
            .error
            .as_ref()
            .is_some_and(|e| e.message().starts_with("too long"))
    };
    assert!(ok(&word(4094, " ;\n")));
    check(&word(4095, " ;\n"), long);
    assert!(ok(&word(4095, ";\n")));
    check(&word(4096, ";\n"), long);
    let mut comment = b"events {}\n#".to_vec();
    comment.extend_from_slice(&[b'x'; 4095]);
    comment.extend_from_slice(b"\nhttp {}\n");
    check(
        &comment,
        "[events] { } ! too long parameter \"#xxxxxxxxx...\" started @2",
    );
    let mut quoted = b"a \"".to_vec();
    quoted.extend_from_slice(&[b'x'; 5000]);
    quoted.extend_from_slice(b"\n}\n");
    check(
        &quoted,
        "! too long parameter, probably missing terminating \"\"\" character @1",
    );
}

#[test]
fn deep_nesting_does_not_exhaust_the_stack() {
    // nginx recurses per block and would crash; rginx refuses past a fixed depth.
    let input = "a{".repeat(200_000);
    let parsed = parse(input.as_bytes(), FileId(0));
    let e = parsed.error.expect("an error");
    assert!(
        e.message().starts_with("blocks nested too deeply"),
        "{}",
        e.message()
    );
    // Within the limit, the end of file is reported as nginx reports it.
    let input = "a{".repeat(100);
    let parsed = parse(input.as_bytes(), FileId(0));
    assert_eq!(
        parsed.error.map(|e| e.message()),
        Some("unexpected end of file, expecting \"}\"".to_string())
    );
}
