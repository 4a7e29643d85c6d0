use super::*;

fn run(req: &[u8], limits: &Limits) -> Result<Parse, Reject> {
    parse(req, limits)
}

fn ok_with(req: &[u8], limits: &Limits) -> RequestHead {
    match run(req, limits) {
        Ok(Parse::Complete(h)) => *h,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(req)),
    }
}

fn ok(req: &[u8]) -> RequestHead {
    ok_with(req, &Limits::default())
}

fn err_with(req: &[u8], limits: &Limits) -> Reject {
    match run(req, limits) {
        Err(e) => e,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(req)),
    }
}

fn err(req: &[u8]) -> Reject {
    err_with(req, &Limits::default())
}

fn partial(req: &[u8]) -> bool {
    matches!(run(req, &Limits::default()), Ok(Parse::Partial))
}

fn bad(msg: &str) -> Reject {
    Reject::BadRequest(Cow::Owned(msg.to_owned()))
}

/// `GET <target> HTTP/1.1` with a Host header.
fn get(target: &str) -> RequestHead {
    ok(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
}

fn get_err(target: &str) -> Reject {
    err(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
}

fn s(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[test]
fn hot_path_get_with_eight_headers() {
    let req = b"GET /index.html?x=1&a=2 HTTP/1.1\r\n\
        Host: Example.COM:8080\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n\
        Accept: */*\r\n\
        Accept-Language: en\r\n\
        Accept-Encoding: gzip\r\n\
        Connection: keep-alive\r\n\
        Cookie: a=1\r\n\
        Referer: http://example.com/\r\n\
        \r\nPIPELINED";
    let h = ok(req);
    assert_eq!(h.method, Method::Get);
    assert_eq!(h.method_name(), b"GET");
    assert_eq!(h.request_line(), b"GET /index.html?x=1&a=2 HTTP/1.1");
    assert_eq!(h.request_uri(), b"/index.html?x=1&a=2");
    assert_eq!(h.uri, b"/index.html");
    assert_eq!(h.args(), b"x=1&a=2");
    assert_eq!(h.is_args(), b"?");
    assert_eq!(h.protocol(), b"HTTP/1.1");
    assert_eq!((h.http_major, h.http_minor, h.http_version()), (1, 1, 1001));
    assert!(!h.http09 && !h.quoted_uri && !h.complex_uri && h.valid_unparsed_uri);
    assert_eq!(h.headers.len(), 8);
    assert_eq!(h.header(0), (&b"Host"[..], &b"Example.COM:8080"[..]));
    assert_eq!(h.host.as_deref(), Some(&b"example.com"[..]));
    assert_eq!(h.host_header_value(), Some(&b"Example.COM:8080"[..]));
    assert_eq!(h.find(b"cookie"), Some(&b"a=1"[..]));
    assert_eq!(h.find(b"x-missing"), None);
    assert!(h.connection_keep_alive && !h.connection_close && h.keepalive());
    assert!(h.browser.gecko && !h.browser.chrome);
    assert_eq!(h.content_length, None);
    assert!(!h.chunked && !h.expect_continue);
    assert_eq!(h.head_len, req.len() - b"PIPELINED".len());
    assert_eq!(h.request_length, h.head_len);
    assert_eq!(&h.buf[..], &req[..h.head_len]);
    assert_eq!(arg(h.args(), b"a"), Some(&b"2"[..]));
}

#[test]
fn parse_buf_splits_the_head_off() {
    let mut b = BytesMut::from(&b"GET / HTTP/1.0\r\n\r\nGET /2 HTTP/1.0\r\n"[..]);
    let limits = Limits::default();
    let Ok(Parse::Complete(h)) = parse_buf(&mut b, &limits, BufferState::fresh(&limits)) else {
        panic!()
    };
    assert_eq!(&h.buf[..], b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(&b[..], b"GET /2 HTTP/1.0\r\n");
    assert!(matches!(
        parse_buf(&mut b, &limits, h.buffer),
        Ok(Parse::Partial)
    ));
    assert_eq!(b.len(), 17);
}

// ----- S3.1 URI normalisation (verified against nginx 1.22.1, p03 + differential runs) -----

#[test]
fn s3_1_uri_normalisation() {
    for (target, uri, args) in [
        ("/%61/b", "/a/b", ""),
        ("/a%2Fb", "/a/b", ""),
        ("//images//x.gif", "/images/x.gif", ""),
        ("/images/./x.php", "/images/x.php", ""),
        ("/a%20b/../c?x=1&a=2", "/c", "x=1&a=2"),
        ("/a/b/..", "/a/", ""),
        ("/a/b/.", "/a/b/", ""),
        ("/a/b/..?q", "/a/", "q"),
        ("/a/b/.#q", "/a/b/", ""),
        ("/a/%2e%2e/b", "/b", ""),
        ("/a/%2E./b", "/b", ""),
        ("/a/.%2e", "/", ""),
        ("/a/...", "/a/...", ""),
        ("/a/.x/..y", "/a/.x/..y", ""),
        ("/%2F%2F", "/", ""),
        ("/a%3Fb?c=1", "/a?b", "c=1"),
        ("/a%3fb%23c%25d", "/a?b#c%d", ""),
        ("/a?b#c", "/a", "b"),
        ("/a#b?c", "/a", ""),
        ("/?#x", "/", ""),
        ("/%0a", "/\n", ""),
    ] {
        let h = get(target);
        assert_eq!(s(&h.uri), uri, "{target}");
        assert_eq!(s(h.args()), args, "{target}");
        assert_eq!(s(h.request_uri()), target);
    }
    // `/a/b/..?q`: the args were cut before decoding, `?q` stays in $args
    assert_eq!(get("/a/b/..?q").args(), b"q");
    assert_eq!(get("/a/b/..?q").uri, b"/a/");
}

#[test]
fn s3_1_invalid_uris_are_400() {
    for target in [
        "/../x", "/sp%00", "/%", "/%4", "/%4g", "/a/../..", "/%2e%2e",
    ] {
        assert_eq!(
            get_err(target),
            bad("client sent invalid request"),
            "{target}"
        );
    }
    // a broken escape in the query is not looked at
    assert_eq!(get("/a?%zz").args(), b"%zz");
    // control bytes are refused by the request-line parser itself
    assert_eq!(get_err("/a\x01"), bad("client sent invalid request"));
    assert_eq!(get_err("/a\x7f"), bad("client sent invalid request"));
}

#[test]
fn s3_1_normalize_uri_api() {
    assert_eq!(normalize_uri(b"/a//b/./c/../d", true).unwrap(), b"/a/b/d");
    assert_eq!(normalize_uri(b"/a//b/./c/../d", false).unwrap(), b"/a//b/d");
    assert_eq!(normalize_uri(b"//x", false).unwrap(), b"//x");
    assert_eq!(normalize_uri(b"/a%3Fb?c", true).unwrap(), b"/a?b");
    assert_eq!(normalize_uri(b"/x#frag", true).unwrap(), b"/x");
    assert_eq!(normalize_uri(b"/a%2B", true).unwrap(), b"/a+");
    assert!(normalize_uri(b"/..", true).is_err());
    assert!(normalize_uri(b"/%00", true).is_err());
    assert_eq!(normalize_uri(b"", true).unwrap(), b"");
}

#[test]
fn s3_1_merge_slashes_off() {
    let limits = Limits {
        merge_slashes: false,
        ..Limits::default()
    };
    let h = ok_with(b"GET //a//b HTTP/1.0\r\n\r\n", &limits);
    assert_eq!(h.uri, b"//a//b");
}

#[test]
fn s4_2_request_targets_from_the_proxy_table() {
    let h = get("/nouri/a%20b//c/../d?x=%41&y");
    assert_eq!(h.request_uri(), b"/nouri/a%20b//c/../d?x=%41&y");
    assert_eq!(h.uri, b"/nouri/a b/d");
    assert_eq!(h.args(), b"x=%41&y");
    assert!(h.quoted_uri);
    let h = get("/slash/%2F%3F?x");
    assert_eq!(h.uri, b"/slash/?");
    assert_eq!(h.args(), b"x");
    let mut up = b"/".to_vec();
    escape_uri(&h.uri[b"/slash/".len()..], &mut up);
    assert_eq!(up, b"/%3F");
    assert_eq!(get("/slash/%7E%41").uri, b"/slash/~A");
    // `+` flags (rewrite escapes captures when set)
    assert!(get("/a+b").plus_in_uri);
    assert!(get("/a%2Bb").plus_in_uri);
    assert!(!get("/a?b+c").plus_in_uri);
    // quoted_uri is about the path only
    assert!(!get("/a?x=%41").quoted_uri);
    assert!(get("/a/./%41").quoted_uri);
    assert!(get("/a/./b").complex_uri);
}

#[test]
fn s4_2_escape_set() {
    let escaped: Vec<u8> = (0..=255u8)
        .filter(|&c| {
            let mut out = Vec::new();
            escape_uri(&[c], &mut out);
            out.len() == 3
        })
        .collect();
    let mut expected: Vec<u8> = (0..=0x20).collect();
    expected.extend_from_slice(b"\"#%<>?\\^`{|}");
    expected.extend(0x7f..=0xff);
    expected.sort_unstable();
    assert_eq!(escaped, expected);
    let mut out = b"x".to_vec();
    escape_uri(b"/a b/\xc3\xa9?#%~", &mut out);
    assert_eq!(out, b"x/a%20b/%C3%A9%3F%23%25~");
}

#[test]
fn ngx_http_arg() {
    let args = b"a=1&A=2&a=3";
    assert_eq!(arg(args, b"a"), Some(&b"1"[..]));
    assert_eq!(arg(args, b"A"), Some(&b"1"[..]));
    assert_eq!(arg(b"ba=1&a=2", b"a"), Some(&b"2"[..]));
    assert_eq!(arg(b"xa=1", b"a"), None);
    assert_eq!(arg(b"a", b"a"), None);
    assert_eq!(arg(b"a=", b"a"), Some(&b""[..]));
    assert_eq!(arg(b"a=&b=2", b"b"), Some(&b"2"[..]));
    assert_eq!(arg(b"token=abc", b"token"), Some(&b"abc"[..]));
    assert_eq!(arg(b"", b"a"), None);
    assert_eq!(arg(b"a=1", b""), None);
    assert_eq!(arg(b"aa=1&a=2", b"a"), Some(&b"2"[..]));
}

#[test]
fn args_none_when_empty_like_nginx() {
    // nginx: `/?` has an empty $args and an empty $is_args (verified)
    let h = get("/?");
    assert_eq!(h.args, None);
    assert_eq!(h.is_args(), b"");
    assert_eq!(h.request_uri(), b"/?");
    assert_eq!(get("/").args, None);
    assert_eq!(get("/?a").args(), b"a");
}

// ----- S2.6 Host -----

#[test]
fn s2_6_validate_host() {
    for (raw, host) in [
        ("EXACT.Test.", Some("exact.test")),
        ("exact.test:9999", Some("exact.test")),
        ("[::1]:27080", Some("[::1]")),
        ("[::1", Some("[::1")),
        ("[::1]x:80", Some("[::1]")),
        ("a.b.:80", Some("a.b")),
        ("a.:8.0", Some("a.")), // the last dot anywhere decides, as nginx
        ("127.0.0.1", Some("127.0.0.1")),
        ("_", Some("_")),
        ("\u{e9}X", Some("\u{e9}x")),
        ("", None),
        (":80", None),
        (".", None),
        ("a..b", None),
        ("a/b", None),
        ("a\tb", None),
        ("a b", None),
        ("a:1..2", None),
        ("a\x7f", None),
    ] {
        assert_eq!(
            validate_host(raw.as_bytes()).as_deref(),
            host.map(str::as_bytes),
            "{raw:?}"
        );
    }
}

#[test]
fn s2_6_host_header_rules() {
    assert_eq!(
        err(b"GET / HTTP/1.1\r\n\r\n"),
        bad("client sent HTTP/1.1 request without \"Host\" header")
    );
    let h = ok(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!((h.host, h.host_header), (None, None));
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n"),
        bad("client sent invalid host header")
    );
    assert_eq!(
        err(b"GET / HTTP/1.0\r\nHost: \r\n\r\n"),
        bad("client sent invalid host header")
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n"),
        bad("client sent duplicate host header: \"HOST: b\", previous value: \"host: a\"")
    );
    // the first failing line decides
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\nHost: a..b\r\n\r\n"),
        bad(
            "client sent duplicate header line: \"Content-Length: 0\", previous value: \"Content-Length: 0\""
        )
    );
}

#[test]
fn s2_4_absolute_form_host() {
    let h = ok(b"GET http://Ex.com:99/p?q HTTP/1.1\r\nHost: b\r\n\r\n");
    assert_eq!(h.absolute_host.as_deref(), Some(&b"ex.com"[..]));
    assert_eq!(h.host.as_deref(), Some(&b"ex.com"[..]));
    assert_eq!(h.host_header_value(), Some(&b"b"[..]));
    assert_eq!(h.request_uri(), b"/p?q");
    assert_eq!((&h.uri[..], h.args()), (&b"/p"[..], &b"q"[..]));
    // HTTP/1.1 still needs a Host header (verified)
    assert_eq!(
        err(b"GET http://Ex.com:99/p?q HTTP/1.1\r\n\r\n"),
        bad("client sent HTTP/1.1 request without \"Host\" header")
    );
    // an invalid Host header is refused even when the target names a host
    assert_eq!(
        err(b"GET http://a/p HTTP/1.1\r\nHost: bad..host\r\n\r\n"),
        bad("client sent invalid host header")
    );
    assert!(ok(b"GET https://x/ret HTTP/1.1\r\nHost: a\r\n\r\n").uri == b"/ret");
    // no path: nginx points $request_uri at a `/`
    let h = get("http://Ex.com:80");
    assert_eq!((h.request_uri(), &h.uri[..]), (&b"/"[..], &b"/"[..]));
    assert!(h.valid_unparsed_uri);
    let h = get("http://Ex.com?a=1");
    assert_eq!(h.request_uri(), b"?a=1");
    assert_eq!((&h.uri[..], h.args()), (&b"/"[..], &b"a=1"[..]));
    assert!(!h.valid_unparsed_uri);
    let h = get("http://[::1]:80/p");
    assert_eq!(h.host.as_deref(), Some(&b"[::1]"[..]));
    for target in [
        "http:///p",
        "http://a..b/p",
        "http://a:x/p",
        "http:/a/p",
        "http://a_b/p",
        "http://[::1]x/p",
    ] {
        let e = get_err(target);
        assert!(
            e == bad("client sent invalid request")
                || e == bad("client sent invalid host in request line"),
            "{target}: {e:?}"
        );
    }
    assert_eq!(
        get_err("http:///p"),
        bad("client sent invalid host in request line")
    );
}

// ----- S2.7 HTTP/0.9 -----

#[test]
fn s2_7_http09() {
    let h = ok(b"GET /x?a=1\r\nrest");
    assert!(h.http09);
    assert_eq!((h.http_major, h.http_minor, h.http_version()), (0, 9, 9));
    assert_eq!(h.protocol(), b"");
    assert_eq!(h.request_line(), b"GET /x?a=1");
    assert_eq!(h.head_len, 12);
    assert!(h.headers.is_empty() && !h.keepalive());
    assert_eq!(ok(b"GET /\n").request_line(), b"GET /");
    assert_eq!(ok(b"GET / \r\n").request_line(), b"GET / ");
    // errors after the line is known to be 0.9 are answered 0.9-style (body only; verified)
    assert_eq!(
        err(b"POST /x\r\n"),
        Reject::Http09BadRequest("client sent invalid method in HTTP/0.9 request")
    );
    assert_eq!(
        err(b"HEAD /x\r\n"),
        Reject::Http09BadRequest("client sent invalid method in HTTP/0.9 request")
    );
    assert_eq!(
        err(b"GET /../\r\n"),
        Reject::Http09BadRequest("client sent invalid request")
    );
    assert_eq!(
        err(b"GET http://a..b/\r\n"),
        Reject::Http09BadRequest("client sent invalid host in request line")
    );
    assert_eq!(
        ok(b"GET http://Ex.Com./p\r\n").host.as_deref(),
        Some(&b"ex.com"[..])
    );
}

// ----- S13.11 malformed requests -----

#[test]
fn s13_11_methods() {
    assert_eq!(
        err(b"get / HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad("client sent invalid method")
    );
    assert_eq!(
        err(b"G3T / HTTP/1.1\r\n"),
        bad("client sent invalid method")
    );
    assert_eq!(err(b"GET\r\n\r\n"), bad("client sent invalid method"));
    assert_eq!(
        err(b" GET / HTTP/1.1\r\n"),
        bad("client sent invalid method")
    );
    let h = ok(b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((h.method, h.method_name()), (Method::Other, &b"FOO"[..]));
    assert_eq!(
        ok(b"F_O-O / HTTP/1.1\r\nHost: a\r\n\r\n").method_name(),
        b"F_O-O"
    );
    for (name, m) in [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("DELETE", Method::Delete),
        ("MKCOL", Method::Mkcol),
        ("COPY", Method::Copy),
        ("MOVE", Method::Move),
        ("OPTIONS", Method::Options),
        ("PROPFIND", Method::Propfind),
        ("PROPPATCH", Method::Proppatch),
        ("LOCK", Method::Lock),
        ("UNLOCK", Method::Unlock),
        ("PATCH", Method::Patch),
    ] {
        let h = ok(format!("{name} / HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        assert_eq!(h.method, m);
        assert_eq!(m.as_str(), Some(name));
    }
    assert_eq!(
        err(b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Reject::NotAllowed("client sent TRACE method")
    );
    assert_eq!(
        err(b"TRACE / HTTP/1.1\r\n\r\n"),
        bad("client sent HTTP/1.1 request without \"Host\" header")
    );
    assert_eq!(
        err(b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Reject::NotAllowed("client sent CONNECT method")
    );
    // authority-form and asterisk-form never get past the request-line parser
    assert_eq!(
        err(b"CONNECT h:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad("client sent invalid request")
    );
    assert_eq!(
        err(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad("client sent invalid request")
    );
}

#[test]
fn s13_11_versions() {
    let h = ok(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n");
    assert_eq!((h.http_major, h.http_minor), (1, 2));
    assert_eq!(
        err(b"GET / HTTP/1.2\r\n\r\n"),
        bad("client sent HTTP/1.1 request without \"Host\" header")
    );
    assert_eq!(
        ok(b"GET / HTTP/1.01\r\nHost: a\r\n\r\n").http_version(),
        1001
    );
    assert_eq!(ok(b"GET / HTTP/1.999\r\nHost: a\r\n\r\n").http_minor, 999);
    assert_eq!(err(b"GET / HTTP/2.0\r\n"), Reject::VersionNotSupported);
    assert_eq!(err(b"GET / HTTP/10.0\r\n"), Reject::VersionNotSupported);
    assert_eq!(err(b"GET / HTTP/2"), Reject::VersionNotSupported);
    assert_eq!(Reject::VersionNotSupported.status(), 505);
    for line in [
        "GET / HTTP/0.9\r\n",
        "GET / HTTP/1.1000\r\n",
        "GET / HTTP/1\r\n",
        "GET / HTTP/1.\r\n",
        "GET / http/1.1\r\n",
        "GET / HTTP/1.1 x\r\n",
        "GET / HTTP/1.1\r\r\n",
        "GET / HTTP/1.1\rx",
        "GET / FOO\r\n",
    ] {
        assert_eq!(
            err(line.as_bytes()),
            bad("client sent invalid request"),
            "{line:?}"
        );
    }
    // spaces around the target and after the version are allowed, and kept in $request
    let h = ok(b"GET  /  HTTP/1.1  \r\nHost: a\r\n\r\n");
    assert_eq!(h.request_line(), b"GET  /  HTTP/1.1  ");
    assert_eq!(h.protocol(), b"HTTP/1.1  ");
    assert_eq!(h.request_uri(), b"/");
    // CR/LF before the request line are skipped
    let h = ok(b"\r\n\n\rGET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.request_line(), b"GET / HTTP/1.0");
    assert_eq!(h.request_line.start, 4);
}

#[test]
fn s13_11_bare_lf() {
    let h = ok(b"GET / HTTP/1.1\nHost: a\nX:v\n\n");
    assert_eq!(h.request_line(), b"GET / HTTP/1.1");
    assert_eq!(h.headers.len(), 2);
    assert_eq!(h.header(1), (&b"X"[..], &b"v"[..]));
}

#[test]
fn s13_11_body_headers() {
    let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0012 \r\n\r\n");
    assert_eq!(h.content_length, Some(12));
    assert_eq!(
        ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n")
            .content_length,
        Some(i64::MAX as u64)
    );
    for cl in ["abc", "", "+0", "-1", "\t0", "1 2", "9223372036854775808"] {
        assert_eq!(
            err(format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {cl}\r\n\r\n").as_bytes()),
            bad("client sent invalid \"Content-Length\" header"),
            "{cl:?}"
        );
    }
    assert_eq!(
        err(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        bad(
            "client sent duplicate header line: \"Content-Length: 2\", previous value: \"Content-Length: 1\""
        )
    );
    let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n");
    assert!(h.chunked);
    assert_eq!(h.content_length, None);
    assert_eq!(
        err(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        bad("client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time")
    );
    let e = err(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
    assert_eq!(e.status(), 501);
    assert_eq!(
        e.message(),
        "client sent unknown \"Transfer-Encoding\": \"gzip\""
    );
    assert_eq!(
        err(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").status(),
        501
    );
    assert_eq!(
        err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        bad("client sent HTTP/1.0 request with \"Transfer-Encoding\" header")
    );
}

#[test]
fn s13_11_unique_headers() {
    for name in [
        "If-Modified-Since",
        "If-Unmodified-Since",
        "If-Match",
        "If-None-Match",
        "Content-Length",
        "Content-Range",
        "If-Range",
        "Transfer-Encoding",
        "Expect",
        "Authorization",
    ] {
        let lower = name.to_ascii_lowercase();
        let req = format!("GET / HTTP/1.1\r\nHost: a\r\n{name}: 1\r\n{lower}: 2\r\n\r\n");
        assert_eq!(
            err(req.as_bytes()),
            bad(&format!(
                "client sent duplicate header line: \"{lower}: 2\", previous value: \"{name}: 1\""
            ))
        );
    }
    // repeatable ones
    let h = ok(b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: a\r\nUser-Agent: b\r\nUpgrade: x\r\nUpgrade: y\r\nCookie: a\r\nCookie: b\r\n\r\n");
    assert_eq!(h.upgrade, Some(3));
    assert_eq!(h.find_all(b"cookie").collect::<Vec<_>>(), [b"a", b"b"]);
}

// ----- S6.7 header lines -----

#[test]
fn s6_7_invalid_header_lines() {
    let h =
        ok(b"GET / HTTP/1.1\r\nHost: a\r\nX_Y: v\r\n_X: v\r\nX.Y: v\r\nX\xffY: v\r\nOK: 1\r\n\r\n");
    assert_eq!(h.headers.len(), 2);
    assert_eq!(h.header(1), (&b"OK"[..], &b"1"[..]));
    let logged: Vec<&[u8]> = h
        .invalid_headers
        .iter()
        .map(|r| &h.buf[r.clone()])
        .collect();
    assert_eq!(logged, [&b"X_Y: v"[..], b"_X: v", b"X.Y: v", b"X\xffY: v"]);

    let underscores = Limits {
        underscores_in_headers: true,
        ..Limits::default()
    };
    let h = ok_with(
        b"GET / HTTP/1.1\r\nHost: a\r\nX_Y: v\r\nX.Y: v\r\n\r\n",
        &underscores,
    );
    assert_eq!(h.headers.len(), 2);
    assert_eq!(h.find(b"x_y"), Some(&b"v"[..]));

    let keep = Limits {
        ignore_invalid_headers: false,
        ..Limits::default()
    };
    let h = ok_with(
        b"GET / HTTP/1.1\r\nHost: a\r\nX_Y: v\r\nX.Y: w\r\n\r\n",
        &keep,
    );
    assert_eq!(h.headers.len(), 3);
    assert!(h.invalid_headers.is_empty());
}

#[test]
fn s6_7_colonless_line_is_kept_with_an_empty_value() {
    // nginx keeps it and proxies it as `NoColon: ` (verified with an echo upstream)
    let h = ok(b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\nX:   v1 \t x  \r\nY:\r\n\r\n");
    assert_eq!(h.headers.len(), 4);
    assert_eq!(h.header(1), (&b"NoColon"[..], &b""[..]));
    assert_eq!(h.header(2), (&b"X"[..], &b"v1 \t x"[..]));
    assert_eq!(h.header(3), (&b"Y"[..], &b""[..]));
}

#[test]
fn s6_7_fatal_header_lines() {
    for (line, msg) in [
        (
            "X-A : 1",
            "client sent invalid header line: \"X-A\\x20...\"",
        ),
        (
            "No Colon",
            "client sent invalid header line: \"No\\x20...\"",
        ),
        (": v", "client sent invalid header line: \"\\x3a...\""),
        (" X: v", "client sent invalid header line: \"\\x20...\""),
        ("\tX: v", "client sent invalid header line: \"\\x09...\""),
        ("X\x7f: v", "client sent invalid header line: \"X\\x7f...\""),
        (
            "X: a\x00b",
            "client sent invalid header line: \"X: a\\x00...\"",
        ),
        ("X:\x00", "client sent invalid header line: \"X:\\x00...\""),
        (
            "X: a \x00",
            "client sent invalid header line: \"X: a \\x00...\"",
        ),
        (
            "X: a\rb",
            "client sent invalid header line: \"X: a\\x0d...\"",
        ),
        (
            "X: a  \rb",
            "client sent invalid header line: \"X: a\\x20...\"",
        ),
        ("X\rb", "client sent invalid header line: \"X\\x0d...\""),
        ("\rX", "client sent invalid header line: \"\\x0d...\""),
    ] {
        let req = format!("GET / HTTP/1.1\r\nHost: a\r\n{line}\r\n\r\n");
        assert_eq!(err(req.as_bytes()), bad(msg), "{line:?}");
    }
    // extra CRs before the LF of a header line are tolerated
    assert_eq!(
        ok(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n").header(1),
        (&b"X"[..], &b"a"[..])
    );
}

#[test]
fn s13_4_connection_and_expect() {
    let head = |extra: &str, version: &str| {
        ok(format!("GET / HTTP/{version}\r\nHost: a\r\n{extra}\r\n").as_bytes())
    };
    assert!(head("", "1.1").keepalive());
    assert!(!head("", "1.0").keepalive());
    assert!(!head("Connection: close\r\n", "1.1").keepalive());
    assert!(head("Connection: Keep-Alive\r\n", "1.0").keepalive());
    assert!(!head("Connection: keep-alive, close\r\n", "1.0").keepalive());
    assert!(!head("Connection: xclosex\r\nConnection: foo\r\n", "1.1").keepalive());
    assert!(head("Connection: close\r\nConnection: keep-alive\r\n", "1.0").keepalive());
    let h = head(
        "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n",
        "1.1",
    );
    assert!(h.connection_upgrade && h.connection_keep_alive);
    assert_eq!(h.upgrade, Some(2));
    assert!(head("Expect: 100-Continue\r\n", "1.1").expect_continue);
    assert!(!head("Expect: 100-continue\r\n", "1.0").expect_continue);
    assert!(!head("Expect: 100-continue, x\r\n", "1.1").expect_continue);
}

#[test]
fn s13_5_browser_flags() {
    let ua = |v: &str| {
        ok(format!("GET / HTTP/1.0\r\nUser-Agent: {v}\r\nUser-Agent: Opera\r\n\r\n").as_bytes())
            .browser
    };
    let chrome = ua(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    );
    assert!(chrome.chrome && !chrome.gecko && !chrome.safari);
    let b = ua("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)");
    assert!(b.msie && b.msie6);
    let b = ua("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)");
    assert!(b.msie && !b.msie6);
    let b = ua("Mozilla/4.0 (compatible; MSIE 8.0)");
    assert!(b.msie && !b.msie6);
    assert!(!ua("xx MSIE 8").msie); // too short after "MSIE "
    let b = ua("Opera/9.80 (MSIE 6.0)");
    assert!(b.opera && !b.msie && !b.msie6);
    assert!(ua("Mozilla/5.0 (Macintosh; Mac OS X 10_15) AppleWebKit Safari/605").safari);
    assert!(ua("Mozilla/5.0 (compatible; Konqueror/4.0)").konqueror);
    assert_eq!(ua("curl/8.0"), Browser::default());
}

// ----- S13.10 header buffers (every number verified against nginx 1.22.1) -----

fn request_line_of(len: usize) -> Vec<u8> {
    // "GET /" + path + " HTTP/1.1\r\n" is `len` bytes
    let mut r = b"GET /".to_vec();
    r.resize(len - 11, b'a');
    r.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    r
}

fn header_line_of(len: usize) -> Vec<u8> {
    // "X: " + value + "\r\n" is `len` bytes
    let mut r = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    r.resize(r.len() + len - 5, b'a');
    r.extend_from_slice(b"\r\n\r\n");
    r
}

fn headers_of_7000(count: usize) -> Vec<u8> {
    let mut r = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..count {
        r.extend_from_slice(format!("X{i}: ").as_bytes());
        r.resize(r.len() + 7000 - 6, b'a');
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r
}

#[test]
fn s13_10_request_line_limits() {
    for len in [1020, 1030, 8180, 8191, 8192] {
        let h = ok(&request_line_of(len));
        assert_eq!(h.request_line().len(), len - 2);
    }
    for len in [8193, 8200] {
        assert_eq!(err(&request_line_of(len)), Reject::UriTooLong);
    }
    // CR/LF before the line are not moved to the large buffer
    let mut r = b"\r\n".repeat(600);
    r.extend_from_slice(&request_line_of(8192));
    ok(&r);
    let mut r = b"\r\n".repeat(600);
    r.extend_from_slice(&request_line_of(8193));
    assert_eq!(err(&r), Reject::UriTooLong);
    // the 414 comes as soon as the large buffer is full, without a line end
    let mut r = b"GET /".to_vec();
    r.resize(8192, b'a');
    assert_eq!(err(&r), Reject::UriTooLong);
    assert!(partial(&r[..8191]));
}

#[test]
fn s13_10_header_line_limits() {
    for len in [6000, 7000, 8100, 8191, 8192] {
        assert_eq!(ok(&header_line_of(len)).header(1).1.len(), len - 5);
    }
    let e = err(&header_line_of(8193));
    assert_eq!(e.status(), 494);
    assert!(e
        .message()
        .starts_with("client sent too long header line: \"X: aaaa"));
    assert!(e.message().ends_with("aaa...\""));
    // nginx logs at most 1748 bytes of the line
    assert_eq!(
        e.message().len(),
        "client sent too long header line: \"...\"".len() + 1748
    );
}

#[test]
fn s13_10_whole_head_limits() {
    ok(&headers_of_7000(3));
    ok(&headers_of_7000(4));
    let e = err(&headers_of_7000(5));
    assert!(matches!(e, Reject::HeaderTooLarge(_)));
    assert!(e
        .message()
        .starts_with("client sent too long header line: \"X4: aaa"));
    // garbage after an HTTP/1.0 request line: one endless header name
    let mut r = b"GET / HTTP/1.0\r\n".to_vec();
    r.resize(9000, b'a');
    assert!(err(&r)
        .message()
        .starts_with("client sent too long header line: \"aaaa"));
}

#[test]
fn s13_10_small_buffers() {
    // client_header_buffer_size 100; large_client_header_buffers 1 8k (verified)
    let limits = Limits {
        client_header_buffer_size: 100,
        large_buffers: 1,
        ..Limits::default()
    };
    assert_eq!(
        err_with(&request_line_of(8192), &limits),
        Reject::HeaderTooLarge(Cow::Borrowed("client sent too large request"))
    );
    assert_eq!(
        err_with(&request_line_of(8191), &limits),
        Reject::HeaderTooLarge(Cow::Borrowed("client sent too long header line: \"H...\""))
    );
    ok_with(&request_line_of(100), &limits);
    let mut r = request_line_of(90);
    r.truncate(r.len() - 2);
    r.extend_from_slice(b"X: ");
    r.resize(r.len() + 50, b'b');
    r.extend_from_slice(b"\r\n\r\n");
    ok_with(&r, &limits);
    let mut r = request_line_of(90);
    r.truncate(r.len() - 2);
    r.extend_from_slice(b"X: ");
    r.resize(r.len() + 8000, b'b');
    r.extend_from_slice(b"\r\nY: ");
    r.resize(r.len() + 500, b'c');
    r.extend_from_slice(b"\r\n\r\n");
    assert!(err_with(&r, &limits)
        .message()
        .starts_with("client sent too long header line: \"Y: ccc"));
    let mut r = b"\r\n".repeat(150);
    r.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    ok_with(&r, &limits);
    let mut r = b"\r\n".repeat(45);
    r.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    ok_with(&r, &limits);
    // no large buffers at all
    let none = Limits {
        large_buffers: 0,
        ..Limits::default()
    };
    assert_eq!(err_with(&request_line_of(1025), &none), Reject::UriTooLong);
    assert!(matches!(
        err_with(&header_line_of(1100), &none),
        Reject::HeaderTooLarge(_)
    ));
}

#[test]
fn s13_10_pipelined_requests_share_buffers() {
    // verified: after a head that ended in a large buffer, the next pipelined request
    // gets only 3 more large buffers
    let limits = Limits::default();
    let mut first = b"GET /1 HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    first.resize(first.len() + 2000, b'a');
    first.extend_from_slice(b"\r\n\r\n");
    let h = ok(&first);
    assert!(h.buffer.large);
    // the X line was moved to a large buffer from its start (offset 26)
    assert_eq!(h.buffer.room, 26 + 8192 - first.len());
    for (count, fits) in [(3, true), (4, false)] {
        let second = Bytes::from(headers_of_7000(count));
        match parse_bytes(&second, &limits, h.buffer) {
            Ok(Parse::Complete(_)) => assert!(fits),
            Err(Reject::HeaderTooLarge(m)) => {
                assert!(!fits);
                assert!(m.starts_with("client sent too long header line: \"X3: "));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(&second, &limits), Ok(Parse::Complete(_))));
    }
    // pipelined inside the 1k buffer: the line limit is still 8k (verified)
    let h = ok(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        h.buffer,
        BufferState {
            room: 1024 - 28,
            large: false
        }
    );
    let second = Bytes::from(request_line_of(8192));
    assert!(matches!(
        parse_bytes(&second, &limits, h.buffer),
        Ok(Parse::Complete(_))
    ));
    let second = Bytes::from(request_line_of(8193));
    assert_eq!(
        parse_bytes(&second, &limits, h.buffer).unwrap_err(),
        Reject::UriTooLong
    );
    assert_eq!(h.buffer.advance(2000).room, 0);
}

#[test]
fn rejected_head_matches_nginx_access_log() {
    // [$request_length|$request_method|$request|$uri|$server_protocol|$args|$request_uri|
    //  $host|$http_host] as nginx 1.22.1 logged them for these rejected requests
    let l = Limits::default();
    let fresh = BufferState::fresh(&l);
    let view = |req: &[u8]| {
        let h = rejected_head(req, &l, fresh);
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}",
            h.request_length,
            s(h.method_name()),
            String::from_utf8_lossy(&h.request_line()[..h.request_line().len().min(20)]),
            s(&h.uri),
            s(h.protocol()),
            s(h.args()),
            s(h.request_uri()),
            s(h.host.as_deref().unwrap_or(b"")),
            s(h.host_header_value().unwrap_or(b"")),
        )
    };
    assert_eq!(view(b"get / HTTP/1.1\r\n\r\n"), "0||get / HTTP/1.1||||||");
    assert_eq!(
        view(b"\r\n\r\nget / HTTP/1.1\r\n\r\n"),
        "0||get / HTTP/1.1||||||"
    );
    assert_eq!(view(b"GET / HTTP/2.0\r\n\r\n"), "0||GET / HTTP/2.0||||||");
    assert_eq!(view(b"POST /x\r\n"), "0||POST /x||||||");
    assert!(rejected_head(b"POST /x\r\n", &l, fresh).http09);
    assert_eq!(
        view(b"GET /a?b HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n"),
        "28|GET|GET /a?b HTTP/1.1|/a|HTTP/1.1|b|/a?b|x|x"
    );
    assert_eq!(
        view(b"GET /a?b HTTP/1.1\r\n\r\n"),
        "21|GET|GET /a?b HTTP/1.1|/a|HTTP/1.1|b|/a?b||"
    );
    assert_eq!(
        view(b"GET /../a?b HTTP/1.1\r\nHost: x\r\n\r\n"),
        "22|GET|GET /../a?b HTTP/1.1||HTTP/1.1||||"
    );
    assert_eq!(
        view(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
        "52|GET|GET / HTTP/1.1|/|HTTP/1.1||/|x|x"
    );
    let mut long = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
    long.resize(9000, b'a');
    assert_eq!(view(&long), "25|GET|GET / HTTP/1.1|/|HTTP/1.1||/|x|x");
    assert_eq!(
        view(b"GET http://Foo/a?b HTTP/1.1\r\nHost: a..b\r\n\r\n"),
        "41|GET|GET http://Foo/a?b H|/a|HTTP/1.1|b|/a?b|foo|a..b"
    );
    // a 414 logs the line up to the end of the large buffer
    let mut uri = b"GET /".to_vec();
    uri.resize(9000, b'a');
    assert_eq!(rejected_head(&uri, &l, fresh).request_line().len(), 8192);
    // the stand-in the connection code builds from a first line
    let h = RequestHead::bad_request(Bytes::from_static(b"get / HTTP/1.1"));
    assert_eq!(h.request_line(), b"get / HTTP/1.1");
    assert_eq!(
        (h.http_version(), h.request_length, h.headers.len()),
        (1000, 0, 0)
    );
    // request_length leaves out the CR/LF skipped before the request line
    let h = ok(b"\r\nGET / HTTP/1.0\r\n\r\n");
    assert_eq!((h.head_len, h.request_length), (20, 18));
}

// ----- Partial -----

#[test]
fn every_prefix_is_partial() {
    for req in [
        &b"GET /a%20b/../c?x=1 HTTP/1.1\r\nHost: Foo.COM.:80\r\nX:  y \r\n\r\n"[..],
        b"\r\nGET http://[::1]:8/p HTTP/1.0\r\nNoColon\r\nX: a\r\r\n\r\n",
        b"GET /x?a=1\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
    ] {
        for n in 0..req.len() {
            assert!(
                partial(&req[..n]),
                "{:?}",
                String::from_utf8_lossy(&req[..n])
            );
        }
        assert_eq!(ok(req).head_len, req.len());
    }
    // a lone CR at the end of a header line is not an error yet
    assert!(partial(b"GET / HTTP/1.1\r\nHost: a\r\n\r"));
    assert!(partial(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r"));
    // CR/LF alone keep nginx waiting forever, buffer after buffer
    assert!(partial(&b"\r\n".repeat(5000)));
}

// ----- headers_in -----

#[test]
fn headers_in_slots_are_the_first_lines() {
    let keep = Limits {
        ignore_invalid_headers: false,
        ..Limits::default()
    };
    let h = ok_with(
        b"GET / HTTP/1.1\r\nhost: a\r\nCookie: a=1\r\nX-Y: 1\r\nCOOKIE: b=2\r\n\
          User_Agent: x\r\nuser-agent: Gecko/1\r\nX-Pad: p\r\nCookie: c=3\r\n\r\n",
        &keep,
    );
    let known: Vec<_> = h.headers.iter().map(|x| x.known).collect();
    assert_eq!(
        known,
        [
            Some(Known::Host),
            Some(Known::Cookie),
            None,
            Some(Known::Cookie),
            None, // kept as invalid, and not User-Agent: nginx compares names, not spellings
            Some(Known::UserAgent),
            Some(Known::XPad),
            Some(Known::Cookie),
        ]
    );
    assert_eq!(h.headers_in.first(Known::Host), Some(0));
    assert_eq!(h.headers_in.first(Known::Cookie), Some(1));
    assert_eq!(h.headers_in.first(Known::UserAgent), Some(5));
    assert_eq!(h.headers_in.first(Known::Referer), None);
    assert_eq!(h.known(Known::Host), Some(&b"a"[..]));
    assert_eq!(h.known(Known::UserAgent), Some(&b"Gecko/1"[..]));
    assert!(h.browser.gecko);
    assert_eq!(h.known(Known::Referer), None);
    let cookies: Vec<&[u8]> = h.known_all(Known::Cookie).collect();
    assert_eq!(cookies, [&b"a=1"[..], b"b=2", b"c=3"]);
    assert_eq!(h.known_all(Known::Accept).count(), 0);
    // the stand-ins of refused requests have no slots
    assert_eq!(
        format!("{:?}", RequestHead::bad_request(Bytes::new()).headers_in),
        "{}"
    );
}

#[test]
fn known_agrees_with_find() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let names: Vec<&str> = Known::ALL.iter().map(|k| k.name()).collect();
    let junk = ["X-Y", "Hosts", "Content_Length", "X-Accel", "A"];
    for _ in 0..2_000 {
        let mut req = b"GET / HTTP/1.0\r\n".to_vec();
        for _ in 0..rng.below(12) {
            let name = if rng.below(4) == 0 {
                junk[rng.below(junk.len())]
            } else {
                names[rng.below(names.len())]
            };
            // a value `vN` would be refused in these; a unique header is refused twice
            let once = [
                "Host",
                "If-Modified-Since",
                "If-Unmodified-Since",
                "If-Match",
                "If-None-Match",
                "Content-Range",
                "If-Range",
                "Expect",
                "Authorization",
            ];
            let present = req
                .windows(name.len())
                .any(|w| w.eq_ignore_ascii_case(name.as_bytes()));
            if matches!(name, "Content-Length" | "Transfer-Encoding")
                || (once.contains(&name) && present)
            {
                continue;
            }
            let cased: Vec<u8> = name
                .bytes()
                .map(|c| {
                    if rng.below(2) == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            req.extend_from_slice(&cased);
            req.extend_from_slice(format!(": v{}\r\n", rng.below(100)).as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        let keep = Limits {
            ignore_invalid_headers: false,
            ..Limits::default()
        };
        let h = ok_with(&req, &keep);
        for k in Known::ALL {
            assert_eq!(h.known(k), h.find(k.name().as_bytes()), "{k:?} in {req:?}");
            let by_slot: Vec<&[u8]> = h.known_all(k).collect();
            let by_name: Vec<&[u8]> = h.find_all(k.name().as_bytes()).collect();
            assert_eq!(by_slot, by_name, "{k:?}");
        }
    }
}

// ----- robustness -----

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn check_invariants(input: &[u8], limits: &Limits) {
    let bytes = Bytes::copy_from_slice(input);
    let full = parse(&bytes, limits);
    if let Ok(Parse::Complete(h)) = &full {
        let len = h.buf.len();
        assert_eq!(len, h.head_len);
        assert!(h.head_len <= input.len());
        for r in [
            &h.method_name,
            &h.request_line,
            &h.unparsed_uri,
            &h.http_protocol,
        ] {
            assert!(r.start <= r.end && r.end <= len);
        }
        for hd in &h.headers {
            assert!(hd.name.end <= len && hd.value.end <= len);
        }
        if let Some(a) = &h.args {
            assert!(a.end <= len);
        }
    }
    // nginx decides monotonically: a prefix is either still waiting or decided the same
    let cut = input.len() / 2;
    match (parse(&bytes.slice(..cut), limits), &full) {
        (Ok(Parse::Partial), _) => {}
        (Err(a), Err(b)) => assert_eq!(&a, b),
        (Ok(Parse::Complete(a)), Ok(Parse::Complete(b))) => {
            assert_eq!(a.head_len, b.head_len);
            assert_eq!(a.uri, b.uri);
        }
        (a, b) => panic!("prefix {a:?} vs full {b:?} for {input:?}"),
    }
}

#[test]
fn fuzz_random_bytes_and_mutations() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let small = Limits {
        client_header_buffer_size: 64,
        large_buffers: 2,
        large_buffer_size: 128,
        ..Limits::default()
    };
    let seeds: [&[u8]; 5] = [
        b"GET /a%20b/../c?x=1&a=2 HTTP/1.1\r\nHost: Foo.COM.:80\r\nContent-Length: 3\r\n\r\n",
        b"POST http://[::1]:8/p/./q//%2e%2e/r?x#y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nUser-Agent: MSIE 6.0 x\r\n\r\n",
        b"GET /x?a=1\r\n",
        b"\r\nGET / HTTP/1.0\nX_y: 1\nNoColon\nExpect: 100-continue\n\n",
        b"OPTIONS /%3F%23%25%00 HTTP/1.1\r\nHost: [v6]\r\n\r\n",
    ];
    let alphabet = b" \r\n%./?#:_\x00\t[]+-Aa09\x7f\xffH=&";
    for round in 0..20_000 {
        let mut input: Vec<u8> = if round % 4 == 0 {
            let len = rng.below(200);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            seeds[rng.below(seeds.len())].to_vec()
        };
        for _ in 0..rng.below(4) {
            let pos = if input.is_empty() {
                0
            } else {
                rng.below(input.len())
            };
            let byte = alphabet[rng.below(alphabet.len())];
            match rng.below(3) {
                0 if !input.is_empty() => input[pos] = byte,
                1 => input.insert(pos, byte),
                _ if !input.is_empty() => {
                    input.remove(pos);
                }
                _ => {}
            }
        }
        check_invariants(&input, &Limits::default());
        check_invariants(&input, &small);
        let _ = rejected_head(&input, &small, BufferState::fresh(&small));
        let _ = rejected_head(
            &input,
            &Limits::default(),
            BufferState {
                room: 3,
                large: true,
            },
        );
        let _ = normalize_uri(&input, rng.below(2) == 0);
        let _ = validate_host(&input);
        let _ = arg(&input, &input[..input.len().min(rng.below(4))]);
        let mut out = Vec::new();
        escape_uri(&input, &mut out);
    }
}

#[test]
fn degenerate_limits_terminate() {
    let zero = Limits {
        client_header_buffer_size: 0,
        large_buffers: 3,
        large_buffer_size: 0,
        ..Limits::default()
    };
    let _ = run(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &zero);
    let _ = run(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &zero);
}
