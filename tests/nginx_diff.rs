//! Differential tests: the same configuration served by nginx 1.22.1 and by rginx, the same raw
//! request bytes sent to both, and compared byte for byte:
//!
//! * what the client received (every byte of every connection, framing included, and whether
//!   and where the server closed),
//! * what the upstreams received (every connection of every echo upstream, in accept order:
//!   each request's bytes, tunnel bytes, and how the connection ended),
//! * the access log lines (a format made only of fields that do not vary between runs).
//!
//! Normalised, and nothing else: the value of every `Date:` response header line, and
//! `nginx/<anything>` in `Server:` header lines and in the error-page footer
//! `<hr><center>nginx/...</center>` (both become `nginx/<version>`).
//!
//! Each case is one `http {}` block (placeholders `{LISTEN}`, `{UP}`, ... filled with ports
//! picked for that case), the upstreams it needs, and connections made of steps (send bytes,
//! read one response by its framing, read n bytes, read to EOF, half-close, pause). nginx and
//! then the program under test run the case one after the other on the same ports, each with
//! fresh echo upstreams, so ports and `X-Conn-Id`s line up.
//!
//! `RGINX_DIFF_ONLY=nginx` runs nginx on both sides (validates the suite itself);
//! `RGINX_DIFF_CASE=a,b` runs only the named cases; `RGINX_DIFF_SHOW=1` prints what nginx
//! did in every case (and the other side's, for a case that differs). Rules are the numbers of
//! `/work/shared/docs/nginx-semantics.md`; the test prints the rules covered and fails if any
//! case differs or if a rule of sections 2-10 and 13 is left uncovered.
//!
//! Determinism. Responses are read by their framing and the server's close is awaited only
//! when the response announces it; the client's read timeout is a safety net that the
//! reference side must never hit (a case where nginx hits it fails). Readiness is a polled
//! connect. Where the behaviour under test is about time, the margins are wide (a 300 ms
//! timeout against a 700 ms upstream delay); where the proxy must see one thing before the
//! next, a pause separates them (chunks of a streamed body, tunnel messages, an upstream close
//! that precedes a request which could reuse the connection). Before the proxy is stopped the
//! access log must have stayed unchanged for a moment, since a client can hold a complete
//! response before the proxy wrote its log line. A run whose picked port was taken meanwhile
//! by another process is retried with new ports.
//!
//! Not covered here: `proxy_connect_timeout` (needs an address that drops SYNs, i.e. traffic
//! off loopback), `proxy_send_timeout`/`send_timeout` and back-pressure (need a peer that
//! stops reading), and configuration errors (tests/cli.rs, tests/nginx_check.rs). One server
//! of `listen-forms` listens on `*:port` (S2.1, S2.3); every byte still travels on 127.0.0.1.

mod common;
#[path = "common/echo.rs"]
mod echo;

/// Writes to the process's stderr directly: libtest captures `eprintln!` of a passing test,
/// and the progress lines and the list of covered rules are meant to be seen.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

use echo::{Client, ConnLog, Echo, EchoAddr, EchoOptions, Event, Piece};
use std::collections::BTreeSet;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Pause between streamed parts of the echo (`__stream`, `__stream10`, `__xab`).
const TICK: Duration = Duration::from_millis(100);
/// Safety net for every client read step; a case never waits for it on the reference side.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a proxy may take to listen, and to exit after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(5);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the access log must stay unchanged before the proxy is stopped.
const SETTLE: Duration = Duration::from_millis(100);

// ==========================================================================================
// Cases
// ==========================================================================================

/// One step of a client connection. Bytes may contain the placeholders of the config.
#[derive(Clone, Debug)]
enum Step {
    Send(Vec<u8>),
    /// shutdown(SHUT_WR) on the client socket.
    Shut,
    /// One response, read by its framing (see `Client::response`).
    Resp,
    /// One response to a HEAD request (no body whatever the headers say).
    RespHead,
    /// One interim response (`100 Continue`) only.
    Interim,
    /// Exactly n bytes (tunnel data).
    ReadN(usize),
    /// Everything until the server closes.
    Eof,
    /// Let time pass (staged request bodies, keeping a tunnel busy), never to wait for a
    /// server to be ready.
    Pause(Duration),
}

#[derive(Clone, Copy, Debug)]
enum To {
    /// The nth `{LISTEN}` port (0 = `{LISTEN}`, 1 = `{LISTEN2}`, ...).
    Listen(usize),
    /// The unix socket `{FRONT}`.
    Front,
}

#[derive(Clone, Debug)]
struct Conn {
    to: To,
    steps: Vec<Step>,
}

#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    rules: Vec<&'static str>,
    http: String,
    /// Extra files relative to the prefix (`conf/map-extra.conf`, ...).
    files: Vec<(&'static str, String)>,
    listens: usize,
    front: bool,
    /// TCP echo upstreams: `{UP}`/`{UP_PORT}`, `{UP2}`, `{UP3}`.
    ups: usize,
    /// A unix-socket echo upstream: `{UNIX}`.
    unix: bool,
    /// Ports nobody listens on: `{DEAD}`, `{DEAD2}`.
    dead: usize,
    /// Log `$upstream_addr $upstream_status` too (balancing and failover cases).
    upstream_log: bool,
    conns: Vec<Conn>,
}

fn case(name: &'static str, rules: &[&'static str], http: &str) -> Case {
    Case {
        name,
        rules: rules.to_vec(),
        http: http.to_string(),
        files: Vec::new(),
        listens: 1,
        front: false,
        ups: 0,
        unix: false,
        dead: 0,
        upstream_log: false,
        conns: Vec::new(),
    }
}

impl Case {
    fn listens(mut self, n: usize) -> Self {
        self.listens = n;
        self
    }
    fn front(mut self) -> Self {
        self.front = true;
        self
    }
    fn ups(mut self, n: usize) -> Self {
        self.ups = n;
        self
    }
    fn unix(mut self) -> Self {
        self.unix = true;
        self
    }
    fn dead(mut self, n: usize) -> Self {
        self.dead = n;
        self
    }
    fn upstream_log(mut self) -> Self {
        self.upstream_log = true;
        self
    }
    fn file(mut self, rel: &'static str, body: &str) -> Self {
        self.files.push((rel, body.to_string()));
        self
    }
    /// A connection to `{LISTEN}` made of `steps`.
    fn conn(self, steps: Vec<Step>) -> Self {
        self.conn_to(To::Listen(0), steps)
    }
    fn conn_to(mut self, to: To, steps: Vec<Step>) -> Self {
        self.conns.push(Conn { to, steps });
        self
    }
    /// One request on its own connection to `{LISTEN}`, one response.
    fn req(self, raw: impl AsRef<[u8]>) -> Self {
        self.conn(vec![send(raw), Step::Resp])
    }
    /// One request on its own connection to the nth listen port.
    fn req_on(self, n: usize, raw: impl AsRef<[u8]>) -> Self {
        self.conn_to(To::Listen(n), vec![send(raw), Step::Resp])
    }
    /// One HEAD request on its own connection.
    fn head(self, raw: impl AsRef<[u8]>) -> Self {
        self.conn(vec![send(raw), Step::RespHead])
    }
    /// `GET path HTTP/1.1` with `Host: x`, on its own connection.
    fn get(self, path: &str) -> Self {
        self.req(get(path))
    }
    /// Several GETs, one connection each.
    fn gets(mut self, paths: &[&str]) -> Self {
        for p in paths {
            self = self.get(p);
        }
        self
    }
    /// The same GET `n` times, one connection each.
    fn get_n(mut self, path: &str, n: usize) -> Self {
        for _ in 0..n {
            self = self.get(path);
        }
        self
    }
    /// How many requests the client sends (request lines in the sent bytes; HTTP/0.9
    /// request lines count too).
    fn requests(&self) -> usize {
        let mut n = 0;
        for step in self.conns.iter().flat_map(|c| &c.steps) {
            if let Step::Send(b) = step {
                let lines = split_keep(b, b"\n");
                n += lines
                    .iter()
                    .filter(|l| {
                        let t = String::from_utf8_lossy(l);
                        let t = t.trim_end();
                        let mut w = t.split(' ');
                        let method = w.next().unwrap_or("");
                        let target = w.next();
                        !method.is_empty()
                            && method.bytes().all(|c| c.is_ascii_alphabetic())
                            && target.is_some()
                            && (t.contains(" HTTP/") || w.next().is_none())
                            && !t.contains(": ")
                    })
                    .count();
            }
        }
        n
    }

    /// A request whose answer is an HTTP/0.9 body (no head): read to the close.
    fn req09(self, raw: impl AsRef<[u8]>) -> Self {
        self.conn(vec![send(raw), Step::Eof])
    }
}

fn send(raw: impl AsRef<[u8]>) -> Step {
    Step::Send(raw.as_ref().to_vec())
}

fn pause(ms: u64) -> Step {
    Step::Pause(Duration::from_millis(ms))
}

/// A request sent once the proxy had time to notice that an upstream closed a connection
/// it may have cached.
fn after_close(raw: impl AsRef<[u8]>) -> Vec<Step> {
    vec![pause(100), send(raw), Step::Resp]
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

fn get_host(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

fn get_ua(path: &str, ua: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\n\r\n")
}

fn head(path: &str) -> String {
    format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The request of S6.2: every kind of client header line.
fn big_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: Client.Test:8443\r\nUser-Agent: probe\r\n\
         Connection: keep-alive, X-Hop\r\nX-Hop: hop-value\r\nKeep-Alive: 300\r\nTE: trailers\r\n\
         Upgrade: websocket\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 1.2.3.4\r\n\
         X-Forwarded-For: 5.6.7.8\r\nX_Underscore: dropped?\r\nX-Empty:\r\nCookie: a=1\r\n\
         Cookie: b=2\r\nX-Dup: 1\r\nX-Dup: 2\r\nAccept: */*\r\nx-lower: from-client\r\n\
         X-Real-IP: 9.9.9.9\r\n\r\n"
    )
}

/// A WebSocket-style upgrade request (noVNC's headers).
fn upgrade(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0 Chrome/120.0\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\nOrigin: https://vnc.example\r\n\
         Cookie: s=1\r\n\r\n"
    )
}

const UA_MSIE: &str = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1)";
const UA_OPERA_MSIE: &str = "Opera/9.80 (compatible; MSIE 6.0; Windows NT 5.1) Presto/2.12";
const UA_CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const UA_EDGE: &str = "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0";
const UA_FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(section2());
    v.extend(section3());
    v.extend(section4());
    v.extend(section5());
    v.extend(section6());
    v.extend(section7_8());
    v.extend(section9());
    v.extend(section10());
    v.extend(section11());
    v.extend(section13());
    v
}

// ------------------------------------------------------------------------------------------
// S2: listen, server_name, Host
// ------------------------------------------------------------------------------------------

fn section2() -> Vec<Case> {
    let mut v = Vec::new();

    v.push(
        case(
            "listen-forms",
            &["S2.1", "S2.2", "S2.3", "S2.4"],
            r#"
server { listen 127.0.0.1:{LISTEN}; server_name first.test;
  return 200 "first sn=[$server_name] port=[$server_port] addr=[$server_addr]\n"; }
server { listen 127.0.0.1:{LISTEN}; listen 127.0.0.1:{LISTEN2} default_server; server_name second.test;
  return 200 "second sn=[$server_name] port=[$server_port]\n"; }
server { listen 127.0.0.1:{LISTEN2}; server_name third.test;
  return 200 "third sn=[$server_name] port=[$server_port]\n"; }
server { listen {LISTEN3} default_server; server_name wild.test;
  return 200 "any-address sn=[$server_name] port=[$server_port]\n"; }
server { listen 127.0.0.1:{LISTEN3}; server_name local.test;
  return 200 "loopback sn=[$server_name] port=[$server_port]\n"; }
server { listen localhost:{LISTEN4}; return 200 "localhost-form sn=[$server_name] port=[$server_port]\n"; }
server { listen unix:{FRONT}; server_name unix.test;
  return 200 "unix sn=[$server_name] host=[$host] remote=[$remote_addr]\n"; }
"#,
        )
        .listens(4)
        .front()
        .req(get_host("/", "nomatch.test"))
        .req(get_host("/", "second.test"))
        .req_on(1, get_host("/", "nomatch.test"))
        .req_on(1, get_host("/", "third.test"))
        .req_on(1, get_host("/", "first.test"))
        // S2.3: a connection to 127.0.0.1 only considers the servers that listed 127.0.0.1.
        .req_on(2, get_host("/", "wild.test"))
        .req_on(2, get_host("/", "local.test"))
        .req_on(3, get_host("/", "x"))
        .conn_to(To::Front, vec![send(get_host("/", "unix.test")), Step::Resp])
        .conn_to(To::Front, vec![send("GET / HTTP/1.0\r\n\r\n"), Step::Resp]),
    );

    // The p02 servers: every name form, in this order.
    let srv = |tag: &str, names: &str, listen: &str| {
        let sn = if names.is_empty() {
            String::new()
        } else {
            format!("server_name {names};")
        };
        format!(
            "server {{ listen {listen}; {sn} location / {{ return 200 \"{tag} sn=[$server_name] host=[$host] http_host=[$http_host]\\n\"; }} }}\n"
        )
    };
    let l1 = "127.0.0.1:{LISTEN}";
    let l2 = "127.0.0.1:{LISTEN2}";
    let l3 = "127.0.0.1:{LISTEN3}";
    let http = [
        srv("S1-first", "first.test", l1),
        srv("S2", "exact.test *.wild.test *.b.wild.test", l1),
        srv("S3", ".dot.test", l1),
        srv("S4", "www.*", l1),
        srv("S5", r"~^(?<sub>\w+)\.re\.test$ ~^.*\.exact\.test$", l1),
        srv("S6", "*.exact.test", l1),
        srv("S7", "_", l1),
        srv("S8", "\"\"", l1),
        srv("S9", r"~^UPPER\.test$", l1),
        srv("S10", "x.dot.test", l1),
        srv("D1-nosn", "", l2),
        srv("D2-default", "d2.test", &format!("{l2} default_server")),
        // Alone on its port: names are not evaluated (an invalid wildcard passes).
        srv("N1", "n1.test www.*.com", l3),
        "server { listen 127.0.0.1:{LISTEN4}; server_name ~^(?<sub>[a-z]+)\\.cap\\.test$; return 200 \"cap sub=[$sub] sn=[$server_name]\\n\"; }\n".to_string(),
    ]
    .concat();
    let mut c = case("server-names", &["S2.4", "S2.5", "S2.6"], &http).listens(4);
    for host in [
        "exact.test",
        "EXACT.Test.",
        "exact.test:9999",
        "a.wild.test",
        "x.y.wild.test",
        "c.b.wild.test",
        "wild.test",
        "dot.test",
        "y.dot.test",
        "x.dot.test",
        "www.example.org",
        "foo.re.test",
        "a.exact.test",
        "upper.test",
        "_",
        "nomatch.test",
        "[::1]:27080",
        "127.0.0.1",
    ] {
        c = c.req(get_host("/", host));
    }
    c = c
        .req("GET / HTTP/1.0\r\n\r\n")
        .req("GET http://exact.test:1234/p HTTP/1.1\r\nHost: first.test\r\n\r\n")
        .req_on(1, get_host("/", "nomatch"))
        .req_on(1, get_host("/", "d2.test"))
        .req_on(1, "GET / HTTP/1.0\r\n\r\n")
        .req_on(2, "GET / HTTP/1.0\r\n\r\n")
        .req_on(2, get_host("/", "other.test"))
        .req_on(3, get_host("/", "abc.cap.test"))
        .req_on(3, get_host("/", "ABC.Cap.Test."));
    v.push(c);

    v.push(
        case(
            "host-normalisation",
            &["S2.6", "S13.11"],
            r#"
server { listen 127.0.0.1:{LISTEN}; server_name n.test;
  location / { return 200 "n sn=[$server_name] host=[$host] http_host=[$http_host]\n"; } }
server { listen 127.0.0.1:{LISTEN}; server_name exact.test;
  location / { return 200 "exact sn=[$server_name] host=[$host] http_host=[$http_host]\n"; } }
"#,
        )
        .req(get_host("/", "EXACT.Test."))
        .req(get_host("/", "exact.test:9999"))
        .req(get_host("/", "exact.test:notaport"))
        .req(get_host("/", "[::1]:8080"))
        .req(get_host("/", "[::1]"))
        .req(get_host("/", "exact.test.."))
        .req(get_host("/", "a..b"))
        .req(get_host("/", "a/b"))
        .req(get_host("/", "a\\b"))
        .req(get_host("/", ""))
        .req(get_host("/", ":80"))
        .req(get_host("/", "a\x7fb"))
        .req(get_host("/", "a\tb"))
        .req(get_host("/", "."))
        .req(get_host("/", "EXACT.TEST"))
        .req("GET / HTTP/1.1\r\nHost: exact.test\r\nHost: n.test\r\n\r\n")
        .req("GET / HTTP/1.1\r\nUser-Agent: nohost\r\n\r\n")
        .req("GET / HTTP/1.0\r\n\r\n")
        .req("GET / HTTP/1.0\r\nHost: exact.test.\r\n\r\n")
        .req("GET http://EXACT.test:1/x HTTP/1.1\r\nHost: n.test\r\n\r\n")
        .req("GET http://a..b/x HTTP/1.1\r\nHost: n.test\r\n\r\n"),
    );

    v.push(
        case(
            "http09",
            &["S2.7", "S13.12"],
            r#"
server { listen 127.0.0.1:{LISTEN};
  location / { return 200 "ret uri=[$uri] proto=[$server_protocol] host=[$host]\n"; }
  location /up/ { proxy_pass http://{UP}; }
  location /err { return 404; }
}
"#,
        )
        .ups(1)
        .req09("GET /\r\n")
        .req09("GET /a%20b?x=1\r\n")
        .req09("GET /up/x?y=1\r\n")
        .req09("GET /err\r\n")
        .req09("POST /\r\n"),
    );
    v
}

// ------------------------------------------------------------------------------------------
// S3: locations
// ------------------------------------------------------------------------------------------

fn section3() -> Vec<Case> {
    let mut v = Vec::new();
    let c = case(
        "locations",
        &["S3.1", "S3.2", "S3.5"],
        r#"
server { listen 127.0.0.1:{LISTEN};
  location = / { return 200 "exact-root uri=$uri\n"; }
  location / { return 200 "prefix-root uri=$uri\n"; }
  location /images/ { return 200 "prefix-images uri=$uri\n"; }
  location /images/deep/ { return 200 "prefix-images-deep uri=$uri\n"; }
  location ^~ /static/ {
    location ~ \.css$ { return 200 "nested-regex-in-noregex uri=$uri\n"; }
    return 200 "noregex-static uri=$uri\n";
  }
  location ~* \.(gif|jpg)$ { return 200 "regex-ci-img uri=$uri\n"; }
  location ~ \.php$ { return 200 "regex-php uri=$uri\n"; }
  location ~ ^/images/.*\.php$ { return 200 "regex-images-php uri=$uri\n"; }
  location /a {
    location /a/b { return 200 "nested-a/b uri=$uri\n"; }
    location ~ \.x$ { return 200 "nested-regex-.x uri=$uri\n"; }
    return 200 "a uri=$uri\n";
  }
  location ~ \.x$ { return 200 "outer-regex-.x uri=$uri\n"; }
  location /CaSe { return 200 "case-sensitive prefix\n"; }
  location ~ /Reg { return 200 "case-sensitive regex\n"; }
  location ~ /rr { location ~ /rr/x { return 200 "regex-in-regex uri=$uri\n"; } return 200 "outer-rr\n"; }
  location = /co { return 200 "exact-co\n"; }
  location /co { return 200 "prefix-co uri=$uri\n"; }
  location ~ ^/dup$ { return 200 "first-dup\n"; }
  location ~ ^/dup$ { return 200 "second-dup\n"; }
  location /sp { return 200 "sp uri=[$uri] request_uri=[$request_uri] args=[$args]\n"; }
}
server { listen 127.0.0.1:{LISTEN2}; location /only { return 200 "only\n"; } }
"#,
    )
    .listens(2)
    .gets(&[
        "/",
        "/index.html",
        "/images/x.png",
        "/images/x.gif",
        "/images/x.php",
        "/images/deep/x.php",
        "/static/x.gif",
        "/static/x.css",
        "/x.GIF",
        "/a/b",
        "/a/b.x",
        "/a/c.x",
        "/ab.x",
        "/abc",
        "/case",
        "/CaSe",
        "/reg",
        "/Reg",
        "/%61/b",
        "/a/../images/x.php",
        "//images//x.gif",
        "/images/./x.php",
        "/../x",
        "/a%2Fb",
        "/a%2fb",
        "/sp%20x?q=%20",
        "/sp/../sp/%7e?a",
        "/sp#frag",
        "/sp%00",
        "/rr",
        "/rr/x",
        "/co",
        "/co/x",
        "/dup",
        "/images/%2E%2E/x.php",
        "/sp/./.././sp?",
        "/sp%zz",
    ])
    .req_on(1, get("/zzz"))
    .req_on(1, get("/only"));
    v.push(c);

    v.push(
        case(
            "auto-301",
            &["S3.3", "S13.6", "S13.8"],
            r#"
server { listen 127.0.0.1:{LISTEN}; server_name loc.test;
  location / { return 200 "root uri=$uri\n"; }
  location /proxy/ { proxy_pass http://{UP}; }
  location ~ ^/proxy$ { return 200 "regex-proxy-no-slash\n"; }
  location = /exactslash/ { proxy_pass http://{UP}; }
  location /ret/ { return 200 "ret (no proxy => no auto redirect)\n"; }
  location /both/ { proxy_pass http://{UP}; }
  location = /both { return 200 "exact /both beats auto-redirect\n"; }
}
server { listen 127.0.0.1:{LISTEN2}; absolute_redirect off;
  location /proxy/ { proxy_pass http://{UP}; } }
server { listen 127.0.0.1:{LISTEN3}; server_name named.test alias.test; server_name_in_redirect on; port_in_redirect off;
  location /proxy/ { proxy_pass http://{UP}; } }
"#,
        )
        .ups(1)
        .listens(3)
        .req(get_host("/proxy", "loc.test:9999"))
        .req(get_host("/proxy?x=1&y=2", "loc.test"))
        .req(get_host("/proxy/", "loc.test"))
        .req(get_host("/exactslash", "loc.test"))
        .req(get_host("/ret", "loc.test"))
        .req(get_host("/both", "loc.test"))
        .req(get_host("/proxy%3F", "loc.test"))
        .req("GET /proxy?x=1 HTTP/1.0\r\n\r\n")
        .req("GET /proxy HTTP/1.1\r\nHost: loc.test\r\nConnection: close\r\n\r\n")
        .head("HEAD /proxy HTTP/1.1\r\nHost: Loc.Test\r\n\r\n")
        .req("POST /proxy HTTP/1.1\r\nHost: loc.test\r\nContent-Length: 3\r\n\r\nabc")
        .req_on(1, get_host("/proxy?a=1", "noabs.test"))
        .req_on(2, get_host("/proxy", "alias.test"))
        .req_on(2, get_host("/proxy", "other.test:8080")),
    );

    v.push(
        case(
            "named-locations",
            &["S3.4"],
            r#"
server { listen 127.0.0.1:{LISTEN};
  location /named-test { error_page 404 = @named; return 404; }
  location @named { return 200 "named uri=$uri args=$args\n"; }
  location /np/ { proxy_intercept_errors on; error_page 404 502 = @up; proxy_pass http://{UP}; }
  location @up { proxy_pass http://{UP}; }
  location /np2/ { proxy_intercept_errors on; error_page 404 /fallback; proxy_pass http://{UP}; }
  location /np3/ { proxy_intercept_errors on; error_page 500 =200 /fallback; proxy_pass http://{UP}; }
  location = /fallback { return 200 "fallback uri=$uri args=$args method=$request_method\n"; }
  location /dead/ { error_page 502 = @up; proxy_pass http://{DEAD}; }
}
"#,
        )
        .ups(1)
        .dead(1)
        .get("/named-test?a=1")
        .get("/np/x?__status=404")
        .get("/np/y")
        .get("/np2/y?__status=404")
        .req(post("/np3/z?__status=500", "body"))
        .get("/dead/q?r=1"),
    );
    v
}

// ------------------------------------------------------------------------------------------
// S4: proxy_pass
// ------------------------------------------------------------------------------------------

fn section4() -> Vec<Case> {
    let mut v = Vec::new();
    let mut c = case(
        "proxy-pass-uri",
        &["S4.1", "S4.2", "S4.4"],
        r#"
upstream vnc_proxy { server {UP}; }
server { listen 127.0.0.1:{LISTEN};
  proxy_set_header X-PH "$proxy_host|$proxy_port";
  location /nouri/ { proxy_pass http://{UP}; }
  location /slash/ { proxy_pass http://{UP}/; }
  location /noslash { proxy_pass http://{UP}/; }
  location /repl/ { proxy_pass http://{UP}/new/path/; }
  location /repl2/ { proxy_pass http://{UP}/new; }
  location /ups/ { proxy_pass http://vnc_proxy/; }
  location /upsnouri/ { proxy_pass http://vnc_proxy; }
  location /websockify { proxy_pass http://vnc_proxy/; }
  location /scheme/ { proxy_pass HTTP://{UP}; }
  location ~ ^/re/(.*)$ { proxy_pass http://{UP}; }
  location /rw/ { rewrite ^/rw/(.*)$ /rewritten/$1 break; proxy_pass http://{UP}; }
  location /rwuri/ { rewrite ^/rwuri/(.*)$ /rewritten/$1 break; proxy_pass http://{UP}/base/; }
  location /unix/ { proxy_pass http://unix:{UNIX}:/u/; }
  location /unixnouri/ { proxy_pass http://unix:{UNIX}; }
  location = /exact { proxy_pass http://{UP}/e; }
  location /ifblock/ { if ($arg_x) { proxy_pass http://{UP}; } return 200 "no-if\n"; }
  location /esc/ { proxy_pass http://{UP}/e/; }
}
"#,
    )
    .ups(1)
    .unix();
    for p in [
        "/nouri/a%20b//c/../d?x=%41&y",
        "/slash/a%20b?q=1",
        "/slash/%2F%3F?x",
        "/slash/a/../b",
        "/slash//x",
        "/slash/",
        "/slash/%7E%41",
        "/slash/a+b;p=1",
        "/noslash",
        "/noslashfoo",
        "/noslash/x",
        "/repl/x/y?z",
        "/repl2/x",
        "/ups/x?y",
        "/upsnouri/x?y",
        "/websockify?token=abc",
        "/websockify/x",
        "/websockifyX",
        "/scheme/x",
        "/re/a%20b?q",
        "/rw/a%20b?q=1",
        "/rwuri/a%20b?q=1",
        "/unix/x?y",
        "/unixnouri/x?y",
        "/exact?q",
        "/ifblock/p?x=1",
        "/ifblock/p",
        "/esc/a%20b",
        "/esc/\u{fc}",
        "/esc/\u{fc}%20",
        "/esc/a%22b%27c%3Cd%3E",
        "/esc/a\"b",
        "/esc/a%2Bb+c",
        "/esc/%41%42",
        "/esc/a{b}",
        "/esc/a%7Bb%7D",
        "/esc/a%23b%3Fc?d=%23",
        "/esc/%5E%60%7C%5C",
        "/esc/a'b!c$d&e(f)g*h,i=j:k@l[m]n~o",
    ] {
        c = c.get(p);
    }
    c = c.req(b"GET /esc/\xff\x80 HTTP/1.1\r\nHost: x\r\n\r\n".as_slice());
    c = c.req(b"GET /esc/%ff HTTP/1.1\r\nHost: x\r\n\r\n".as_slice());
    v.push(c);

    v.push(
        case(
            "proxy-pass-variables",
            &["S4.3", "S4.4", "S5.1", "S5.9"],
            r#"
upstream vnc_proxy { server {UP}; }
upstream lh { server localhost:{UP_PORT}; }
server { listen 127.0.0.1:{LISTEN};
  location ~ ^/recap/(.*)$ { proxy_pass http://{UP}/cap/$1; }
  location ~ ^/recapargs/(.*)$ { proxy_pass http://{UP}/cap/$1$is_args$args; }
  location /var/ { set $b "{UP}"; proxy_pass http://$b; }
  location /varups/ { set $u vnc_proxy; proxy_pass http://$u; }
  location /varuri/ { set $b "{UP}"; proxy_pass http://$b/x/; }
  location /varhost/ { proxy_pass http://$arg_h; }
  location /implicit/ { proxy_pass http://localhost:{UP_PORT}/imp/; }
  location /lh/ { proxy_pass http://lh; }
}
"#,
        )
        .ups(1)
        .gets(&[
            "/recap/a%20b?q=1",
            "/recapargs/a%20b?q=1",
            "/var/a%20b?q",
            "/varups/x?y",
            "/varuri/abc?q=1",
            "/varhost/x?h={UP}",
            "/varhost/x?h=vnc_proxy",
            "/varhost/x?h=VNC_PROXY",
            "/varhost/x?h=vnc_proxy:{UP_PORT}",
            "/varhost/x?h=localhost:{UP_PORT}",
            "/varhost/x?h=nores.invalid",
            "/implicit/a?b",
            "/lh/x",
        ]),
    );

    v.push(
        case(
            "proxy-redirect",
            &["S4.5", "S13.6"],
            r#"
upstream vnc_proxy { server {UP}; }
server { listen 127.0.0.1:{LISTEN}; server_name front.test;
  location /vnc/ { proxy_pass http://vnc_proxy/; }
  location /plain/ { proxy_pass http://{UP}; }
  location /ipuri/ { proxy_pass http://{UP}/app/; }
  location /off/ { proxy_redirect off; proxy_pass http://vnc_proxy/; }
  location /custom/ { proxy_redirect http://vnc_proxy/ /mapped/; proxy_pass http://vnc_proxy/; }
  location /var/ { set $b vnc_proxy; proxy_pass http://$b; }
}
server { listen 127.0.0.1:{LISTEN2}; absolute_redirect off;
  location /noabs/ { proxy_pass http://vnc_proxy/; } }
"#,
        )
        .ups(1)
        .listens(2)
        .req(get_host(
            "/vnc/?__loc=http://vnc_proxy/x%3Fy%3D1",
            "front.test",
        ))
        .req(get_host("/vnc/?__loc=/relative/x", "front.test"))
        .req(get_host("/vnc/?__loc=http://other/x", "front.test"))
        .req(get_host("/vnc/?__loc=HTTP://VNC_PROXY/x", "front.test"))
        .req(get_host("/vnc/?__loc=http://vnc_proxy", "front.test:8443"))
        .req(get_host("/plain/?__loc=http://{UP}/z", "front.test"))
        .req(get_host("/ipuri/?__loc=http://{UP}/app/q", "front.test"))
        .req(get_host("/ipuri/?__loc=http://{UP}/other", "front.test"))
        .req(get_host("/off/?__loc=http://vnc_proxy/x", "front.test"))
        .req(get_host("/custom/?__loc=http://vnc_proxy/x", "front.test"))
        .req(get_host("/var/?__loc=http://vnc_proxy/x", "front.test"))
        .req("GET /vnc/?__loc=http://vnc_proxy/y HTTP/1.0\r\n\r\n")
        .req_on(
            1,
            get_host("/noabs/?__loc=http://vnc_proxy/x", "front.test"),
        ),
    );

    v.push(
        case(
            "method-version",
            &["S4.6", "S13.8"],
            r#"
server { listen 127.0.0.1:{LISTEN};
  location /h10/ { proxy_pass http://{UP}; }
  location /h11/ { proxy_http_version 1.1; proxy_pass http://{UP}; }
}
"#,
        )
        .ups(1)
        .get("/h10/a")
        .head(head("/h10/b"))
        .req("FOO /h10/c HTTP/1.1\r\nHost: x\r\n\r\n")
        .req(post("/h10/d", "hello"))
        .get("/h11/a")
        .head(head("/h11/b"))
        .req(post("/h11/c", "hello"))
        .req("DELETE /h11/d HTTP/1.1\r\nHost: x\r\n\r\n")
        .req("OPTIONS /h11/e HTTP/1.1\r\nHost: x\r\n\r\n")
        .req("PATCH /h11/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        .req("PUT /h10/g HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi"),
    );
    v
}

// ------------------------------------------------------------------------------------------
// S5: upstreams
// ------------------------------------------------------------------------------------------

fn section5() -> Vec<Case> {
    vec![
        case(
            "balancing",
            &["S5.1", "S5.2"],
            r#"
upstream wrr { server {UP} weight=5; server {UP2}; server {UP3}; }
upstream rr { server {UP}; server {UP2}; }
upstream w21 { server {UP} weight=2; server {UP2} max_fails=3 fail_timeout=30s; server {UP3} max_conns=0; }
server { listen 127.0.0.1:{LISTEN};
  location /wrr/ { proxy_pass http://wrr; }
  location /rr/ { proxy_pass http://rr; }
  location /w21/ { proxy_pass http://w21; }
}
"#,
        )
        .ups(3)
        .upstream_log()
        .get_n("/wrr/", 14)
        .get_n("/rr/", 6)
        .get_n("/w21/", 8),
        case(
            "single-peer",
            &["S5.3", "S5.7"],
            r#"
upstream single_closer { server {UP}; }
server { listen 127.0.0.1:{LISTEN};
  location /single_closer/ { proxy_pass http://single_closer; }
  location /direct_dead/ { proxy_pass http://{DEAD}; }
}
"#,
        )
        .ups(1)
        .dead(1)
        .upstream_log()
        .get_n("/single_closer/?__close", 3)
        .get_n("/single_closer/", 2)
        .get_n("/direct_dead/", 2),
        case(
            "failover",
            &["S5.1", "S5.4", "S5.5", "S5.7", "S13.5"],
            r#"
upstream onedead { server {DEAD}; server {UP}; }
upstream onedead_mf0 { server {DEAD} max_fails=0; server {UP}; }
upstream withbackup { server {DEAD}; server {UP3} backup; }
upstream allprimaryok { server {UP}; server {UP3} backup; }
upstream withdown { server {UP} down; server {UP2}; }
upstream alldead { server {DEAD}; server {DEAD2}; }
upstream weighted_fail { server {DEAD} weight=4 max_fails=2; server {UP}; }
upstream backups_dead { server {DEAD}; server {DEAD2} backup; server {UP2} backup; }
server { listen 127.0.0.1:{LISTEN};
  location /onedead/ { proxy_pass http://onedead; }
  location /onedead_mf0/ { proxy_pass http://onedead_mf0; }
  location /backup/ { proxy_pass http://withbackup; }
  location /allprimaryok/ { proxy_pass http://allprimaryok; }
  location /down/ { proxy_pass http://withdown; }
  location /alldead/ { proxy_pass http://alldead; }
  location /weighted_fail/ { proxy_pass http://weighted_fail; }
  location /backups_dead/ { proxy_pass http://backups_dead; }
}
"#,
        )
        .ups(3)
        .dead(2)
        .upstream_log()
        .get_n("/onedead/", 3)
        .get_n("/onedead_mf0/", 4)
        .get_n("/backup/", 3)
        .get_n("/allprimaryok/", 3)
        .get_n("/down/", 3)
        .req("GET /alldead/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .get("/alldead/")
        .head(head("/alldead/"))
        .get_n("/weighted_fail/", 5)
        .get_n("/backups_dead/", 3),
        case(
            "next-upstream",
            &["S5.6", "S5.4", "S5.7"],
            r#"
upstream closer { server {UP}; server {UP2}; }
upstream closer2 { server {UP}; server {UP2}; }
upstream closer3 { server {UP}; server {UP2}; }
upstream st1 { server {UP}; server {UP2}; }
upstream st2 { server {UP}; server {UP2}; }
upstream ni { server {UP}; server {UP2}; }
upstream tries { server {UP}; server {UP2}; }
upstream t404 { server {UP}; server {UP2}; }
upstream hdr { server {UP}; server {UP2}; }
server { listen 127.0.0.1:{LISTEN};
  location /closer/ { proxy_pass http://closer; }
  location /closer_post/ { proxy_pass http://closer2; }
  location /closer_nonext/ { proxy_next_upstream off; proxy_pass http://closer3; }
  location /status/ { proxy_pass http://st1; }
  location /status_next/ { proxy_next_upstream error timeout http_500; proxy_pass http://st2; }
  location /ni/ { proxy_next_upstream error timeout non_idempotent; proxy_pass http://ni; }
  location /tries/ { proxy_next_upstream_tries 1; proxy_pass http://tries; }
  location /t404/ { proxy_next_upstream error http_404; proxy_pass http://t404; }
  location /hdr/ { proxy_buffer_size 1k; proxy_pass http://hdr; }
}
"#,
        )
        .ups(2)
        .upstream_log()
        .get_n("/closer/?__close", 2)
        .req(post("/closer_post/?__close", "abc"))
        .get("/closer_nonext/?__close")
        .get_n("/status/?__status=500", 2)
        .get_n("/status_next/?__status=500", 2)
        .req(post("/ni/?__close", "abc"))
        .get("/tries/?__close")
        .get_n("/t404/?__status=404", 3)
        .get("/hdr/?__bighdr=1500"),
        case(
            "upstream-keepalive",
            &["S5.8"],
            r#"
upstream ka { server {UP}; keepalive 4; }
upstream ka2 { server {UP2}; keepalive 4; keepalive_requests 2; }
server { listen 127.0.0.1:{LISTEN};
  location /ka/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka; }
  location /ka_noclear/ { proxy_http_version 1.1; proxy_pass http://ka; }
  location /ka_10/ { proxy_pass http://ka; }
  location /ka2/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka2; }
}
"#,
        )
        .ups(2)
        .upstream_log()
        .get_n("/ka/", 3)
        // The echo closes after answering a request with `Connection: close` or HTTP/1.0,
        // without saying so, and nginx caches such a connection all the same; the pause
        // lets the proxy see the close before the next request, as it would in production.
        .get("/ka_noclear/")
        .conn(after_close(get("/ka_noclear/")))
        .conn(after_close(get("/ka_10/")))
        .conn(after_close(get("/ka_10/")))
        .conn(after_close(get("/ka/")))
        .get("/ka/?__hop")
        .get("/ka/")
        .get("/ka/?__nolen")
        .get("/ka/?__status=404")
        .get("/ka/")
        .get_n("/ka2/", 5)
        .conn(vec![
            send(get("/ka/?same-client")),
            Step::Resp,
            send(get("/ka/?same-client-2")),
            Step::Resp,
        ]),
    ]
}

// ------------------------------------------------------------------------------------------
// S6: the upstream request
// ------------------------------------------------------------------------------------------

fn section6() -> Vec<Case> {
    vec![
        case(
            "upstream-request",
            &["S6.1", "S6.2", "S6.7", "S7"],
            r#"
proxy_set_header X-From-Http "http-level";
server { listen 127.0.0.1:{LISTEN};
  location /a/ { proxy_pass http://{UP}; }
}
"#,
        )
        .ups(1)
        .req(big_request("/a/?a=1&A=2&a=3"))
        .req("POST /a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello")
        .req("POST /a/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        .req("POST /a/d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .req("GET /a/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTE: trailers, deflate\r\n\r\n")
        .req("GET /a/f HTTP/1.0\r\nConnection: keep-alive\r\nUser-Agent: one-oh\r\n\r\n"),
        case(
            "set-header",
            &["S6.3", "S6.4", "S6.5", "S6.6"],
            r#"
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
proxy_set_header X-From-Http "http-level";
server { listen 127.0.0.1:{LISTEN};
  location /inherit/ { proxy_pass http://{UP}; }
  location /own/ { proxy_set_header X-Loc "loc-level"; proxy_pass http://{UP}; }
  location /remove/ {
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header Accept "";
    proxy_set_header X-Missing $http_x_nothing;
    proxy_set_header x-lower "set-lowercase-name";
    proxy_pass http://{UP};
  }
  location /nohost/ { proxy_set_header Host ""; proxy_pass http://{UP}; }
  location /conn/ { proxy_set_header Connection "keep-alive"; proxy_set_header X-Empty ""; proxy_pass http://{UP}; }
  location /nohdrs/ { proxy_pass_request_headers off; proxy_pass http://{UP}; }
  # nginx still announces the body's length: the upstream waits for it until the timeout.
  location /nobody/ { proxy_pass_request_body off; proxy_read_timeout 300ms; proxy_pass http://{UP}; }
  location /nobody2/ { proxy_pass_request_body off; proxy_set_header Content-Length ""; proxy_pass http://{UP}; }
  location /xff/ { proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_pass http://{UP}; }
  location /novnc/ {
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    proxy_pass http://{UP}/;
  }
}
server { listen 127.0.0.1:{LISTEN2};
  proxy_set_header X-Srv "server-level";
  location / { proxy_pass http://{UP}; }
  location /loc/ { proxy_set_header X-L "l"; proxy_pass http://{UP}; }
  location /nested/ { location /nested/inner/ { proxy_pass http://{UP}; } }
}
"#,
        )
        .ups(1)
        .listens(2)
        .req(big_request("/inherit/?a=1"))
        .req(big_request("/own/"))
        .req(big_request("/remove/"))
        .req(big_request("/nohost/"))
        .req(big_request("/conn/"))
        .req(big_request("/nohdrs/"))
        .req(big_request("/novnc/x?a=1&A=2&a=3"))
        .get("/novnc/plain")
        .req("POST /nobody/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Keep: 1\r\n\r\nhello")
        .req("POST /nobody2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Keep: 1\r\n\r\nhello")
        .req("POST /nohdrs/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Drop: 1\r\n\r\nhello")
        .get("/xff/")
        .req("GET /xff/ HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n\r\n")
        .req("GET /remove/ HTTP/1.0\r\n\r\n")
        .req_on(1, get("/a"))
        .req_on(1, get("/loc/a"))
        .req_on(1, get("/nested/inner/a")),
        case(
            "invalid-headers",
            &["S6.7", "S13.11"],
            r#"
server { listen 127.0.0.1:{LISTEN};
  location / { proxy_pass http://{UP}; }
  location /v { return 200 "under=[$http_x_under] bad=[$http_x_bad] a=[$http_x_a]\n"; }
}
server { listen 127.0.0.1:{LISTEN2}; underscores_in_headers on;
  location / { proxy_pass http://{UP}; }
  location /v { return 200 "under=[$http_x_under]\n"; }
}
server { listen 127.0.0.1:{LISTEN3}; ignore_invalid_headers off;
  location / { proxy_pass http://{UP}; }
}
"#,
        )
        .ups(1)
        .listens(3)
        .req("GET /p HTTP/1.1\r\nHost: x\r\nX_Under: 1\r\nX@Bad: 2\r\nX-A: 3\r\n\r\n")
        .req("GET /v HTTP/1.1\r\nHost: x\r\nX_Under: 1\r\nX@Bad: 2\r\nX-A: 3\r\n\r\n")
        .req("GET /p HTTP/1.1\r\nHost: x\r\nBadHeaderNoColon\r\nX-A: 3\r\n\r\n")
        .req("GET /p HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n")
        .req("GET /p HTTP/1.1\r\nHost: x\r\n: empty-name\r\nX-A: 3\r\n\r\n")
        .req("GET /p HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n")
        .req("GET /p HTTP/1.1\r\nHost: x\r\nX-Hi: caf\u{e9}\r\nX-Tab:\tv\t\r\n\r\n")
        .req_on(
            1,
            "GET /p HTTP/1.1\r\nHost: x\r\nX_Under: 1\r\nX@Bad: 2\r\n\r\n",
        )
        .req_on(1, "GET /v HTTP/1.1\r\nHost: x\r\nX_Under: 1\r\n\r\n")
        .req_on(
            2,
            "GET /p HTTP/1.1\r\nHost: x\r\nX_Under: 1\r\nX@Bad: 2\r\n\r\n",
        ),
    ]
}

// ------------------------------------------------------------------------------------------
// S7 variables, S8 maps
// ------------------------------------------------------------------------------------------

fn section7_8() -> Vec<Case> {
    vec![
        case(
            "variables",
            &["S7"],
            r#"
server { listen 127.0.0.1:{LISTEN}; server_name vars.test other.test;
  location / { return 200 "host=[$host] http_host=[$http_host] uri=[$uri] document_uri=[$document_uri] request_uri=[$request_uri] args=[$args] query_string=[$query_string] is_args=[$is_args] arg_a=[$arg_a] arg_A=[$arg_A] arg_q=[$arg_q] arg_missing=[$arg_missing] request=[$request] method=[$request_method] protocol=[$server_protocol] scheme=[$scheme] https=[$https] remote_addr=[$remote_addr] server_addr=[$server_addr] server_port=[$server_port] server_name=[$server_name] ua=[$http_user_agent] dup=[$http_x_dup] cookie=[$http_cookie] cookie_a=[$cookie_a] cookie_B=[$cookie_B] xff=[$http_x_forwarded_for] cl=[$content_length] ct=[$content_type] missing=[$http_x_missing] pxff=[$proxy_add_x_forwarded_for]\n"; }
  location /set/ { set $x "a-$arg_v"; return 200 "x=[$x] never=[$never]\n"; }
  location /decl/ { set $never 1; return 200 "decl\n"; }
  location /rw/ { rewrite ^/rw/(.*)$ /set/$1?v=rewritten last; }
}
"#,
        )
        .req("POST /p/../q%20r?q=1&q=2&Q=3 HTTP/1.1\r\nHost: Example.org:99\r\nContent-Length: 0\r\nContent-Type: text/x\r\n\r\n")
        .req("GET /vars/?a=1&A=2&a=3 HTTP/1.1\r\nHost: vars.test\r\nUser-Agent: probe\r\nX-Dup: 1\r\nX-Dup: 2\r\nCookie: a=1; B=2\r\nCookie: b=3\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n")
        .req("GET /%7Efoo/a%2Fb?x HTTP/1.1\r\nHost: x\r\nCookie: A=9\r\n\r\n")
        .req("GET / HTTP/1.0\r\n\r\n")
        .req("GET /x#frag HTTP/1.1\r\nHost: x\r\n\r\n")
        .req("GET /? HTTP/1.1\r\nHost: x\r\n\r\n")
        .get("/set/?v=1")
        .get("/rw/z"),
        case(
            "maps",
            &["S8.1", "S8.2", "S8.3", "S8.4", "S8.5", "S8.6"],
            r#"
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
map $arg_k $m1 {
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
}
map $arg_k $m_nodefault { a A; }
map $arg_h $mh {
    hostnames;
    default           none;
    example.com       exact;
    *.example.com     star-wild;
    .dot.com          dot-wild;
    www.*             tail-wild;
    ~^re\.            regex;
}
map $uri $m_cached { /a A; /changed C; default D; }
map $uri $m_vol { volatile; /a A; /changed C; default D; }
map $arg_k $with_var { default "host=$host uri=$uri"; }
map $arg_k $side { default $arg_other; }
map "$scheme:$arg_k" $combo { "http:x" combo-x; default combo-default; }
server { listen 127.0.0.1:{LISTEN};
  location /m { return 200 "m1=[$m1] nodefault=[$m_nodefault] conn_upgrade=[$connection_upgrade] with_var=[$with_var] combo=[$combo]\n"; }
  location /h { return 200 "mh=[$mh]\n"; }
  location /a { set $x "$m_cached|$m_vol"; rewrite ^ /changed; return 200 "before=[$x] after=[$m_cached|$m_vol]\n"; }
  location /lazy { return 200 "side=[$side]\n"; }
}
"#,
        )
        .file("conf/map-extra.conf", "included  from-include;\n")
        .gets(&[
            "/m?k=exact",
            "/m?k=EXACT",
            "/m?k=mixed",
            "/m?k=example",
            "/m?k=case1",
            "/m?k=r42",
            "/m?k=p1-2",
            "/m?k=default",
            "/m?k=",
            "/m",
            "/m?k=included",
            "/m?k=zzz",
            "/m?k=x",
            "/h?h=example.com",
            "/h?h=EXAMPLE.com.",
            "/h?h=a.example.com",
            "/h?h=a.b.example.com",
            "/h?h=dot.com",
            "/h?h=x.dot.com",
            "/h?h=www.foo.org",
            "/h?h=re.x",
            "/h?h=www.example.com",
            "/h?h=other",
            "/a",
            "/lazy?other=zz",
        ])
        .req("GET /m HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
        .req("GET /m HTTP/1.1\r\nHost: x\r\nUpgrade:\r\n\r\n"),
    ]
}

// ------------------------------------------------------------------------------------------
// S9: timeouts
// ------------------------------------------------------------------------------------------

fn section9() -> Vec<Case> {
    let mut v = Vec::new();
    v.push(
        case(
            "proxy-timeouts",
            &["S9", "S9.2", "S5.6", "S5.7", "S10.4"],
            r#"
upstream two { server {UP}; server {UP2}; }
server { listen 127.0.0.1:{LISTEN};
  location /slow/ { proxy_read_timeout 300ms; proxy_pass http://{UP}; }
  location /slow_next/ { proxy_read_timeout 300ms; proxy_pass http://two; }
  location /drip/ { proxy_read_timeout 400ms; proxy_pass http://{UP}; }
}
"#,
        )
        .ups(2)
        .upstream_log()
        .get("/slow/?__slowhdr=0.7")
        .get("/slow_next/?__slowhdr=0.7")
        .get("/drip/?__drip=4,0.05")
        .get("/drip/?__drip=1,0.8"),
    );

    v.push(
        case(
            "client-timeouts",
            &["S9", "S9.2", "S13.4"],
            r#"
client_header_timeout 300ms;
client_body_timeout 300ms;
server { listen 127.0.0.1:{LISTEN};
  location / { proxy_pass http://{UP}; }
  location /ret { return 200 "ret\n"; }
}
server { listen 127.0.0.1:{LISTEN2}; keepalive_timeout 0; location / { return 200 "ka0\n"; } }
server { listen 127.0.0.1:{LISTEN3}; keepalive_timeout 10s 4; keepalive_requests 2; location / { return 200 "ka\n"; } }
server { listen 127.0.0.1:{LISTEN4}; keepalive_timeout 300ms; location / { return 200 "short\n"; } }
"#,
        )
        .ups(1)
        .listens(4)
        // A partial head, then nothing: closed with no response.
        .conn(vec![send("GET /ret HTTP/1.1\r\nHost: x\r\n"), Step::Eof])
        // No request at all.
        .conn(vec![Step::Eof])
        // A body that stops arriving.
        .conn(vec![
            send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"),
            Step::Eof,
        ])
        .conn(vec![
            send(get("/ret")),
            Step::Resp,
            send("GET /ret HTTP/1.1\r\nHost: x\r\n"),
            Step::Eof,
        ])
        .req_on(1, get("/"))
        .conn_to(
            To::Listen(2),
            vec![
                send(format!("{}{}{}", get("/1"), get("/2"), get("/3"))),
                Step::Resp,
                Step::Resp,
            ],
        )
        .conn_to(To::Listen(3), vec![send(get("/")), Step::Resp, Step::Eof]),
    );
    v
}

// ------------------------------------------------------------------------------------------
// S10: buffering, bodies
// ------------------------------------------------------------------------------------------

fn section10() -> Vec<Case> {
    let mut v = Vec::new();
    v.push(
        case(
            "buffering",
            &["S10.1", "S10.2", "S10.3", "S10.4", "S13.12"],
            r#"
server { listen 127.0.0.1:{LISTEN};
  location /buf/ { proxy_pass http://{UP}; }
  location /nobuf/ { proxy_buffering off; proxy_pass http://{UP}; }
  location /ign/ { proxy_ignore_headers X-Accel-Buffering; proxy_buffering off; proxy_pass http://{UP}; }
  location /buf11/ { proxy_http_version 1.1; proxy_pass http://{UP}; }
  location /nobuf11/ { proxy_http_version 1.1; proxy_buffering off; proxy_pass http://{UP}; }
}
"#,
        )
        .ups(1)
        .gets(&[
            "/buf/?__stream",
            "/nobuf/?__stream",
            "/buf/?__xab=no",
            "/nobuf/?__xab=yes",
            "/ign/?__xab=yes",
            "/buf/?__stream10",
            "/nobuf/?__stream10",
            "/buf/?__nolen",
            "/nobuf/?__nolen",
            "/buf/?__headonly",
            "/nobuf/?__headonly",
            "/buf11/?__stream",
            "/nobuf11/?__stream",
            "/buf/?__big=20000",
            "/nobuf/?__big=20000",
            "/buf/?__drip=3,0.05",
        ])
        .req("GET /buf/?__stream HTTP/1.0\r\n\r\n")
        .req("GET /buf/?__stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .req("GET /nobuf/?__nolen HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .req("GET /buf/?__big=100 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .conn(vec![
            send(get("/buf11/?__stream")),
            Step::Resp,
            send(get("/nobuf/?__xab=no")),
            Step::Resp,
        ]),
    );

    v.push(
        case(
            "proxy-buffer-size",
            &["S10.5", "S5.7"],
            r#"
server { listen 127.0.0.1:{LISTEN};
  location / { proxy_pass http://{UP}; }
  location /small/ { proxy_buffer_size 1k; proxy_pass http://{UP}; }
  location /bigbuf/ { proxy_buffer_size 16k; proxy_buffers 4 16k; proxy_busy_buffers_size 16k; proxy_pass http://{UP}; }
}
"#,
        )
        .ups(1)
        .gets(&[
            "/?__bighdr=3000",
            "/?__bighdr=5000",
            "/small/?__bighdr=1500",
            "/small/?__bighdr=500",
            "/bigbuf/?__bighdr=12000",
        ]),
    );

    let chunked_head = |path: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    };
    v.push(
        case(
            "request-bodies",
            &["S10.6", "S10.7", "S13.9"],
            r#"
# A 413 sent before the body arrived waits lingering_timeout for it before closing.
lingering_timeout 200ms;
server { listen 127.0.0.1:{LISTEN};
  location / { proxy_pass http://{UP}; }
  location /nobuf/ { proxy_request_buffering off; proxy_http_version 1.1; proxy_pass http://{UP}; }
  location /nobuf10/ { proxy_request_buffering off; proxy_pass http://{UP}; }
  location /small/ { client_max_body_size 10; proxy_pass http://{UP}; }
  location /unlimited/ { client_max_body_size 0; proxy_pass http://{UP}; }
  location /tmpfile/ { client_body_buffer_size 1k; proxy_pass http://{UP}; }
  location /ret { return 200 "ret\n"; }
}
"#,
        )
        .ups(1)
        .req(format!(
            "{}5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            chunked_head("/buf/")
        ))
        .req(format!(
            "{}5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
            chunked_head("/buf/trailer")
        ))
        .conn(vec![
            send(chunked_head("/nobuf/staged")),
            pause(150),
            send("5\r\nhello\r\n"),
            pause(150),
            send("6\r\n world\r\n0\r\n\r\n"),
            Step::Resp,
        ])
        .conn(vec![
            send(chunked_head("/nobuf10/staged")),
            pause(150),
            send("5\r\nhello\r\n"),
            pause(150),
            send("6\r\n world\r\n0\r\n\r\n"),
            Step::Resp,
        ])
        .req(format!(
            "{}5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            chunked_head("/nobuf/together")
        ))
        .req(post("/nobuf/cl", "hello world"))
        .conn(vec![
            send("POST /nobuf/cl-staged HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"),
            pause(150),
            send("hello"),
            pause(150),
            send(" world"),
            Step::Resp,
        ])
        // S10.7: 100 Continue comes from the proxy; Expect is not forwarded.
        .conn(vec![
            send("POST /expect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"),
            Step::Interim,
            send("hello"),
            Step::Resp,
        ])
        .conn(vec![
            send("POST /expect10 HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"),
            Step::Resp,
        ])
        .conn(vec![
            send("POST /ret HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"),
            Step::Resp,
        ])
        // S13.9
        .req(post("/small/ok", "0123456789"))
        .req(post("/small/big", "0123456789A"))
        .req(format!(
            "{}8\r\n01234567\r\n8\r\n89ABCDEF\r\n0\r\n\r\n",
            chunked_head("/small/chunked")
        ))
        .req("POST /default HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n")
        .req(post("/unlimited/", &"u".repeat(20000)))
        .req(post("/tmpfile/", &"t".repeat(3000))),
    );
    v
}

// ------------------------------------------------------------------------------------------
// S11: WebSocket (beyond the sections asked for: the echo upstream supports it, and S6.8,
// S8.6 and S9.1 are about it)
// ------------------------------------------------------------------------------------------

fn section11() -> Vec<Case> {
    let mut v = Vec::new();
    let tunnel = |path: &str| vec![send(upgrade(path)), Step::Resp];
    let with = |mut a: Vec<Step>, b: Vec<Step>| {
        a.extend(b);
        a
    };
    v.push(
        case(
            "websocket",
            &[
                "S6.8", "S8.6", "S11.1", "S11.2", "S11.3", "S11.4", "S11.5", "S11.6", "S13.7",
            ],
            r#"
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
server { listen 127.0.0.1:{LISTEN};
  location /ws/ {
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    add_header X-Not-On-101 "no";
    add_header X-Always "yes" always;
    proxy_pass http://{UP}/;
  }
  location /ws10/ { proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; proxy_pass http://{UP}; }
  location /plain/ { proxy_pass http://{UP}; }
  location /force/ {
    proxy_http_version 1.1;
    proxy_set_header Upgrade websocket;
    proxy_set_header Connection upgrade;
    proxy_read_timeout 400ms;
    proxy_pass http://{UP};
  }
}
"#,
        )
        .ups(1)
        .conn(with(
            tunnel("/ws/?__ws"),
            vec![
                send("hello"),
                Step::ReadN(10),
                send("Qquiet"),
                // Apart, or the proxy may pass both in one write and the echo swallows both.
                pause(100),
                send("again"),
                Step::ReadN(10),
                send("CLOSE"),
                Step::Eof,
            ],
        ))
        .conn(vec![
            send(format!("{}EARLY-BYTES", upgrade("/ws/?__ws"))),
            Step::Resp,
            Step::ReadN(16),
            send("CLOSE"),
            Step::Eof,
        ])
        .conn(with(
            tunnel("/ws/?__ws"),
            vec![send("hi"), Step::ReadN(7), Step::Shut, Step::Eof],
        ))
        .conn(with(tunnel("/ws/?__ws"), vec![send("HALF"), Step::Eof]))
        .conn(with(
            tunnel("/ws/?__ws&__wscl"),
            vec![send("x"), Step::ReadN(6), send("CLOSE"), Step::Eof],
        ))
        .conn(with(
            tunnel("/ws/?__ws200"),
            vec![send(get("/ws/?after-200")), Step::Resp],
        ))
        .conn(vec![
            send("GET /ws10/?__ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"),
            Step::Resp,
            send("ten"),
            Step::ReadN(8),
            send("CLOSE"),
            Step::Eof,
        ])
        .get("/ws/?__ws")
        .conn(with(tunnel("/plain/?__ws"), vec![]))
        .conn(vec![send(get("/force/?__ws")), Step::Resp, Step::Eof]),
    );

    v.push(
        case(
            "websocket-timeout",
            &["S9.1", "S11.4"],
            r#"
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
server { listen 127.0.0.1:{LISTEN};
  location /ws/ {
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    proxy_read_timeout 700ms;
    proxy_pass http://{UP};
  }
}
"#,
        )
        .ups(1)
        // One idle timer, re-armed by traffic in either direction: a client message at 400 ms
        // keeps the tunnel open past 700 ms (the upstream answers `ping` at 800 ms), then
        // 700 ms of silence closes both sides. nginx re-arms a timer only when the deadline
        // moves by 300 ms or more (NGX_TIMER_LAZY_DELAY), hence messages 400 ms apart.
        .conn(vec![
            send(upgrade("/ws/?__ws")),
            Step::Resp,
            send("hello"),
            Step::ReadN(10),
            pause(400),
            send("Q1"),
            pause(400),
            send("ping"),
            Step::ReadN(9),
            Step::Eof,
        ]),
    );
    v
}

// ------------------------------------------------------------------------------------------
// S13: responses, limits, HTTP/1.0, HEAD
// ------------------------------------------------------------------------------------------

fn section13() -> Vec<Case> {
    let mut v = Vec::new();

    let codes: &[u16] = &[
        200, 201, 202, 204, 206, 400, 401, 402, 403, 404, 405, 406, 409, 410, 411, 412, 413, 414,
        415, 416, 421, 429, 494, 500, 501, 502, 503, 504, 505, 507, 418, 299, 599, 999,
    ];
    let mut http = String::from("server { listen 127.0.0.1:{LISTEN};\n");
    for c in codes {
        http.push_str(&format!("  location = /ret/{c} {{ return {c}; }}\n"));
    }
    http.push_str(
        r#"  location = /ret/201t { return 201 "created\n"; }
  location = /ret/301 { return 301 /target?x=1; }
  location = /ret/302 { return 302 http://other.test/abs; }
  location = /ret/303 { return 303 /see; }
  location = /ret/307 { return 307 "/rel"; }
  location = /ret/308 { return 308 https://secure.test/p; }
  location = /ret/url { return https://secure.test/; }
  location = /ret/300 { return 300 "three hundred\n"; }
  location = /ret/444 { return 444; }
  location = /ret/408 { return 408; }
  location /up/ { proxy_pass http://{UP}; }
}
"#,
    );
    let mut c = case("status-lines", &["S13.1", "S13.4", "S13.11"], &http).ups(1);
    for code in codes {
        c = c.get(&format!("/ret/{code}"));
    }
    for p in [
        "/ret/201t",
        "/ret/301",
        "/ret/302",
        "/ret/303",
        "/ret/307",
        "/ret/308",
        "/ret/url",
        "/ret/300",
        "/ret/444",
        "/ret/408",
        "/up/?__status=404",
        "/up/?__status=299",
        "/up/?__status=500",
        "/up/?__status=503",
        "/up/?__status=777",
        "/up/?__status=204",
        "/up/?__status=304",
    ] {
        c = c.get(p);
    }
    v.push(c);

    v.push(
        case(
            "response-headers",
            &["S13.2", "S13.3"],
            r#"
server { listen 127.0.0.1:{LISTEN};
  location /up/ { proxy_pass http://{UP}; }
  location /pass/ { proxy_pass_header Server; proxy_pass_header X-Accel-Expires; proxy_hide_header X-Powered-By; proxy_pass http://{UP}; }
  location /hide/ { proxy_hide_header Content-Type; proxy_hide_header X-Conn-Id; proxy_pass http://{UP}; }
  location /ret { return 200 "ret\n"; }
  location /redir { return 302 /elsewhere; }
}
server { listen 127.0.0.1:{LISTEN2}; server_tokens off;
  location /up/ { proxy_pass http://{UP}; }
  location / { return 404; }
}
"#,
        )
        .ups(1)
        .listens(2)
        .gets(&[
            "/up/?__hop",
            "/pass/?__hop",
            "/hide/",
            "/up/?__html",
            "/up/?__big=10",
            "/ret",
            "/redir",
        ])
        .req_on(1, get("/up/?__hop"))
        .req_on(1, get("/missing")),
    );

    v.push(
        case(
            "client-keepalive",
            &["S13.4", "S13.12"],
            r#"
server { listen 127.0.0.1:{LISTEN};
  location / { proxy_pass http://{UP}; }
  location /ret { return 200 "ret\n"; }
  location /err { return 404; }
  location /e500 { return 500; }
  location /e502 { return 502; }
}
server { listen 127.0.0.1:{LISTEN2}; keepalive_timeout 10s 4; keepalive_requests 2;
  location / { return 200 "ka\n"; } }
"#,
        )
        .ups(1)
        .listens(2)
        .conn(vec![
            send(format!(
                "{}GET /ret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                get("/ret")
            )),
            Step::Resp,
            Step::Resp,
        ])
        .conn(vec![
            send(get("/ret")),
            Step::Resp,
            send(get("/up?x")),
            Step::Resp,
            send(get("/err")),
            Step::Resp,
            send(get("/e502")),
            Step::Resp,
            send(head("/up?h")),
            Step::RespHead,
            send(post("/up?p", "body")),
            Step::Resp,
            send("GET /ret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            Step::Resp,
        ])
        .conn(vec![
            send("GET /ret HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
            Step::Resp,
            send("GET /up?ka10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            Step::Resp,
            send("GET /ret HTTP/1.0\r\n\r\n"),
            Step::Resp,
        ])
        .req("GET /ret HTTP/1.1\r\nHost: x\r\nConnection: foo, CLOSE\r\n\r\n")
        .req("GET /ret HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        .req("GET /ret HTTP/1.0\r\nConnection: x-keep-alive-y\r\n\r\n")
        .req("GET /ret HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
        .req(get("/e500"))
        .conn(vec![
            send(format!("{}{}", get("/ret"), get("/e500"))),
            Step::Resp,
            Step::Resp,
        ])
        .conn(vec![
            send(format!("{}{}{}", get("/up?1"), get("/err"), get("/up?3"))),
            Step::Resp,
            Step::Resp,
            Step::Resp,
        ])
        .conn_to(
            To::Listen(1),
            vec![
                send(format!("{}{}{}", get("/1"), get("/2"), get("/3"))),
                Step::Resp,
                Step::Resp,
            ],
        ),
    );

    let ua_reqs = |c: Case, path: &str| {
        let mut c = c;
        for ua in [
            UA_MSIE,
            UA_OPERA_MSIE,
            UA_CHROME,
            UA_EDGE,
            UA_FIREFOX,
            "curl/8.0",
        ] {
            c = c.req(get_ua(path, ua));
        }
        c
    };
    let mut c = case(
        "error-pages",
        &["S13.5", "S13.8", "S5.7"],
        r#"
server { listen 127.0.0.1:{LISTEN};
  location / { return 404; }
  location /502 { proxy_pass http://{DEAD}; }
  location /301 { return 301 /x; }
  location /up/ { proxy_pass http://{UP}; }
  location /e403 { return 403; }
  location /e500 { return 500; }
  location /e503 { return 503; }
  location /custom { error_page 404 /custom404; return 404; }
  location = /custom404 { return 200 "custom page\n"; }
}
server { listen 127.0.0.1:{LISTEN2}; msie_padding off; location / { return 404; } }
server { listen 127.0.0.1:{LISTEN3}; server_tokens off; location / { proxy_pass http://{DEAD}; } }
"#,
    )
    .ups(1)
    .dead(1)
    .listens(3);
    c = ua_reqs(c, "/nope");
    c = ua_reqs(c, "/502");
    c = c
        .req(get_ua("/301", UA_CHROME))
        .req(get_ua("/up/?__status=404", UA_CHROME))
        .req(get_ua("/e403", UA_CHROME))
        .req(get_ua("/e500", UA_MSIE))
        .req(get_ua("/e503", UA_FIREFOX))
        .req(get_ua("/custom", UA_CHROME))
        .req_on(1, get_ua("/", UA_CHROME))
        .req_on(2, get_ua("/", UA_CHROME))
        .req_on(2, get("/"))
        .head(format!(
            "HEAD /nope HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA_CHROME}\r\n\r\n"
        ))
        .head(head("/502"));
    v.push(c);

    v.push(
        case(
            "add-header",
            &["S13.7", "S6.4"],
            r#"
add_header X-Http "http";
server { listen 127.0.0.1:{LISTEN};
  location /up/ { add_header X-A "a"; add_header X-Always "b" always; proxy_pass http://{UP}; }
  location /inh/ { proxy_pass http://{UP}; }
  location /ret/ { add_header X-R "r"; return 200 "r\n"; }
  location /redir/ { add_header X-R "r"; return 302 /x; }
  location /e404/ { add_header X-R "r"; add_header X-Al "al" always; return 404; }
  location /var/ { add_header X-Var "$uri"; add_header X-Empty ""; add_header Cache-Control "no-store"; return 200 "v\n"; }
}
server { listen 127.0.0.1:{LISTEN2}; add_header X-Srv "srv";
  location / { return 200 "s\n"; }
  location /own/ { add_header X-Own "own"; return 200 "o\n"; }
}
"#,
        )
        .ups(1)
        .listens(2)
        .gets(&[
            "/up/",
            "/up/?__status=404",
            "/up/?__status=500",
            "/up/?__status=204",
            "/up/?__status=201",
            "/up/?__loc=/x",
            "/inh/",
            "/ret/",
            "/redir/",
            "/e404/",
            "/var/x",
        ])
        .req_on(1, get("/"))
        .req_on(1, get("/own/")),
    );

    v.push(
        case(
            "head",
            &["S13.8"],
            r#"
server { listen 127.0.0.1:{LISTEN};
  location /up/ { proxy_pass http://{UP}; }
  location /up11/ { proxy_http_version 1.1; proxy_pass http://{UP}; }
  location /ret { return 200 "some text\n"; }
  location /e404 { return 404; }
  location /dead { proxy_pass http://{DEAD}; }
}
"#,
        )
        .ups(1)
        .dead(1)
        .head(head("/up/a"))
        .head(head("/up/?__stream"))
        .head(head("/up/?__nolen"))
        .head(head("/up/?__status=404"))
        .head(head("/up11/b"))
        .head(head("/ret"))
        .head(head("/e404"))
        .head(head("/dead"))
        .head("HEAD /ret HTTP/1.0\r\n\r\n")
        .conn(vec![
            send(format!("{}{}", head("/up11/c"), get("/up11/d"))),
            Step::RespHead,
            Step::Resp,
        ]),
    );

    let hdr7000 = |n: usize| {
        (0..n)
            .map(|i| format!("X-H{i}: {}\r\n", "v".repeat(7000)))
            .collect::<String>()
    };
    v.push(
        case(
            "limits",
            &["S13.9", "S13.10"],
            r#"
lingering_timeout 200ms;
server { listen 127.0.0.1:{LISTEN};
  location / { return 200 "ok\n"; }
  location /up/ { proxy_pass http://{UP}; }
  location /b100k/ { client_max_body_size 100k; proxy_pass http://{UP}; }
}
server { listen 127.0.0.1:{LISTEN2}; client_header_buffer_size 1k; large_client_header_buffers 2 1k;
  location / { return 200 "small\n"; } }
"#,
        )
        .ups(1)
        .listens(2)
        .req(get(&format!("/{}", "u".repeat(9000))))
        .req(get(&format!("/{}", "u".repeat(8000))))
        .req(format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
            "h".repeat(9000)
        ))
        .req(format!(
            "GET / HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n",
            "c".repeat(8190)
        ))
        .req(format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", hdr7000(5)))
        .req(format!("GET /up/ HTTP/1.1\r\nHost: x\r\n{}\r\n", hdr7000(3)))
        .req("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n")
        .req(post("/b100k/ok", &"b".repeat(102400)))
        .req("POST /b100k/big HTTP/1.1\r\nHost: x\r\nContent-Length: 102401\r\n\r\n")
        .req(format!(
            "POST /b100k/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
            60000,
            "c".repeat(60000),
            60000,
            "d".repeat(60000)
        ))
        .req_on(1, get(&format!("/{}", "s".repeat(1500))))
        .req_on(1, get(&format!("/{}", "s".repeat(900))))
        .req_on(
            1,
            format!("GET / HTTP/1.1\r\nHost: x\r\nX-A: {}\r\n\r\n", "a".repeat(1100)),
        )
        .req_on(
            1,
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-A: {}\r\nX-B: {}\r\nX-C: {}\r\n\r\n",
                "a".repeat(900),
                "b".repeat(900),
                "c".repeat(900)
            ),
        ),
    );

    let mut c = case(
        "malformed",
        &["S13.11", "S13.4", "S13.12", "S4.6"],
        r#"
server { listen 127.0.0.1:{LISTEN};
  location / { return 200 "ret uri=[$uri] method=[$request_method] proto=[$server_protocol] host=[$host]\n"; }
  location /up/ { proxy_pass http://{UP}; }
}
"#,
    )
    .ups(1);
    for r in [
        "get / HTTP/1.1\r\nHost: x\r\n\r\n",
        "FOO /up/ HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.2\r\nHost: x\r\n\r\n",
        "GET /up/ HTTP/1.2\r\nHost: x\r\n\r\n",
        "GET / HTTP/3.0\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.10\r\nHost: x\r\n\r\n",
        "GET / FOO/1.1\r\nHost: x\r\n\r\n",
        "HELLO\r\n\r\n",
        "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n",
        "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /up/ HTTP/1.1\r\nHost: x\r\nContent-Length: 007\r\n\r\n1234567",
        "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nExpect: a\r\nExpect: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nIf-Match: a\r\nIf-Match: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nBadHeader\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n",
        "GET /ret HTTP/1.1\nHost: x\n\n",
        "GET /up/lf HTTP/1.1\nHost: x\nX-Lf: 1\n\n",
        "GET https://x/ret HTTP/1.1\r\nHost: y\r\n\r\n",
        "GET http://abs.test:99/up/abs?q HTTP/1.1\r\nHost: y\r\n\r\n",
        "GET ftp://x/ HTTP/1.1\r\nHost: y\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET noslash HTTP/1.1\r\nHost: x\r\n\r\n",
        "\r\n\r\nGET /leading-crlf HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET  /double-space  HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /sp ace HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /ret HTTP/1.1\r\nHost: x\r\n folded: continuation\r\n\r\n",
        "GET /ret HTTP/1.1 \r\nHost: x\r\n\r\n",
        "GET /ret HTTP/1.1\r\nHost: x\r\nX-Ctl: a\x01b\r\n\r\n",
        "GET /ret HTTP/1.0 extra\r\n\r\n",
        "PROPFIND /up/dav HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /ret?a=%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        c = c.req(r);
    }
    v.push(c);

    v.push(
        case(
            "return-forms",
            &["S13.1", "S13.6", "S13.11"],
            r#"
server { listen 127.0.0.1:{LISTEN}; server_name ret.test;
  location = /r1 { return 301 /target?x=1; }
  location = /r2 { return 302 http://other.test/abs; }
  location = /r3 { return https://secure.test/; }
  location = /r4 { return 200 "text uri=$uri args=$args\n"; }
  location = /r5 { return 200; }
  location = /r6 { return 404 "custom not found\n"; }
  location = /r7 { return 307 "/rel"; }
  location = /r8 { return 444; }
  location = /r9 { return 408; }
  location = /r10 { return 301 relative-no-slash; }
  location = /r11 { default_type application/json; return 200 '{"a":1}'; }
  location = /r12 { rewrite ^ /r4 last; }
  location = /r13 { rewrite ^ /new permanent; }
  location = /r14 { rewrite ^ http://ext.test/path redirect; }
  location = /r15 { rewrite ^ /r4?added=1 last; }
  location = /r16 { return 302 "$scheme://$host$request_uri"; }
  location = /r17 { return 200 ""; }
}
server { listen 127.0.0.1:{LISTEN2}; port_in_redirect off; location / { return 301 /p; } }
server { listen 127.0.0.1:{LISTEN3}; server_name_in_redirect on; server_name canonical.test; location / { return 301 /p; } }
"#,
        )
        .listens(3)
        .gets(&[
            "/r1", "/r2", "/r3", "/r4?a=b", "/r5", "/r6", "/r7", "/r8", "/r9", "/r10", "/r11",
            "/r12?q=1", "/r13?q=1", "/r14", "/r15?q=1", "/r16?q", "/r17",
        ])
        .req("GET /r1 HTTP/1.0\r\n\r\n")
        .req(get_host("/r1", "Other.Host:1234"))
        .req("GET http://abs.test:77/r1 HTTP/1.1\r\nHost: y\r\n\r\n")
        .head(head("/r4"))
        .head(head("/r1"))
        .req_on(1, get_host("/", "a.test:5"))
        .req_on(2, get_host("/", "a.test:5")),
    );
    v
}

// ==========================================================================================
// The harness
// ==========================================================================================

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Nginx,
    Rginx,
}

impl Side {
    fn program(self) -> PathBuf {
        match self {
            Side::Nginx => common::nginx(),
            Side::Rginx => common::rginx(),
        }
    }
    fn label(self) -> &'static str {
        match self {
            Side::Nginx => "nginx",
            Side::Rginx => "rginx",
        }
    }
}

/// The ports and socket paths of one case, shared by both runs.
struct Env {
    listen: Vec<u16>,
    up: Vec<u16>,
    dead: Vec<u16>,
    /// Holds the unix sockets (`{UNIX}`, `{FRONT}`); removed when dropped.
    sockdir: tempfile::TempDir,
}

impl Env {
    fn new(c: &Case) -> Env {
        let ports = free_ports(c.listens + c.ups + c.dead);
        let sockdir = tempfile::Builder::new()
            .prefix("rgd")
            .tempdir()
            .expect("tempdir");
        Env {
            listen: ports[..c.listens].to_vec(),
            up: ports[c.listens..c.listens + c.ups].to_vec(),
            dead: ports[c.listens + c.ups..].to_vec(),
            sockdir,
        }
    }

    fn unix_up(&self) -> PathBuf {
        self.sockdir.path().join("up.sock")
    }

    fn front(&self) -> PathBuf {
        self.sockdir.path().join("front.sock")
    }

    fn vars(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        let suffix = |i: usize| {
            if i == 0 {
                String::new()
            } else {
                (i + 1).to_string()
            }
        };
        for (i, p) in self.listen.iter().enumerate() {
            v.push((format!("{{LISTEN{}}}", suffix(i)), p.to_string()));
        }
        for (i, p) in self.up.iter().enumerate() {
            v.push((format!("{{UP{}_PORT}}", suffix(i)), p.to_string()));
            v.push((format!("{{UP{}}}", suffix(i)), format!("127.0.0.1:{p}")));
        }
        for (i, p) in self.dead.iter().enumerate() {
            v.push((format!("{{DEAD{}_PORT}}", suffix(i)), p.to_string()));
            v.push((format!("{{DEAD{}}}", suffix(i)), format!("127.0.0.1:{p}")));
        }
        v.push(("{UNIX}".into(), self.unix_up().display().to_string()));
        v.push(("{FRONT}".into(), self.front().display().to_string()));
        v
    }

    fn subst(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (k, val) in self.vars() {
            s = s.replace(&k, &val);
        }
        s
    }

    fn subst_bytes(&self, b: &[u8]) -> Vec<u8> {
        let mut b = b.to_vec();
        for (k, val) in self.vars() {
            b = replace_bytes(&b, k.as_bytes(), val.as_bytes());
        }
        b
    }
}

/// Free ports: bind 127.0.0.1:0 as many times as needed (all at once, so they differ), then
/// release them.
fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// The full configuration: the fixed main part, then the case's http block.
fn full_conf(prefix: &Path, case: &Case, http: &str) -> String {
    let p = prefix.display();
    let format = if case.upstream_log { "diff_up" } else { "diff" };
    format!(
        "worker_processes 1;\n\
         pid {p}/logs/nginx.pid;\n\
         error_log {p}/logs/error.log info;\n\
         events {{}}\n\
         http {{\n\
         log_format diff '$request $status $body_bytes_sent \"$http_user_agent\" $request_length';\n\
         log_format diff_up '$request $status $body_bytes_sent \"$http_user_agent\" $request_length [$upstream_addr] [$upstream_status]';\n\
         access_log {p}/logs/access.log {format};\n\
         client_body_temp_path {p}/tmp/body;\n\
         proxy_temp_path {p}/tmp/proxy;\n\
         fastcgi_temp_path {p}/tmp/fastcgi;\n\
         uwsgi_temp_path {p}/tmp/uwsgi;\n\
         scgi_temp_path {p}/tmp/scgi;\n\
         {http}\n\
         }}\n"
    )
}

/// A running proxy; killed if dropped without `stop`.
struct Proxy {
    child: Child,
}

impl Proxy {
    /// SIGTERM (by PID), wait for the exit, SIGKILL after `STOP_TIMEOUT`.
    fn stop(&mut self) -> Result<(), String> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Err("exited before it was stopped".into());
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err("did not exit on SIGTERM".into())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What one run produced.
struct Outcome {
    client: Vec<String>,
    upstream: Vec<String>,
    /// How the proxy ended when it was stopped.
    stop: Vec<String>,
    access: Vec<String>,
    /// The error log and stderr, shown when a case differs.
    errors: String,
    /// A safety-net timeout fired somewhere.
    timed_out: bool,
}

fn run_side(side: Side, case: &Case, env: &Env) -> Result<Outcome, String> {
    let prefix = common::Prefix::new();
    std::fs::create_dir_all(prefix.path().join("tmp")).unwrap();
    for (rel, body) in &case.files {
        prefix.write(rel, env.subst(body).as_bytes());
    }
    prefix.write(
        "conf/nginx.conf",
        full_conf(prefix.path(), case, &env.subst(&case.http)).as_bytes(),
    );
    let _ = std::fs::remove_file(env.front());

    let opts = EchoOptions {
        tick: TICK,
        io_timeout: Duration::from_secs(10),
    };
    let mut echos: Vec<(String, Echo)> = Vec::new();
    for (i, p) in env.up.iter().enumerate() {
        let e = Echo::start(EchoAddr::Tcp(*p), opts).map_err(|e| format!("echo on {p}: {e}"))?;
        echos.push((format!("up{} 127.0.0.1:{p}", i + 1), e));
    }
    if case.unix {
        let e = Echo::start(EchoAddr::Unix(env.unix_up()), opts)
            .map_err(|e| format!("unix echo: {e}"))?;
        echos.push(("unix".into(), e));
    }

    let stderr_path = prefix.path().join("logs/stderr.log");
    let out = File::create(&stderr_path).unwrap();
    let mut cmd = Command::new(side.program());
    cmd.arg("-p").arg(prefix.arg()).arg("-c").arg(prefix.conf());
    match side {
        Side::Nginx => cmd.args(["-e", "stderr", "-g", "daemon off; master_process off;"]),
        // One process, as nginx's: with a master process both would switch the workers to
        // `nobody` (started as root), which may not read the test's files.
        Side::Rginx => cmd.args(["-g", "daemon off; master_process off;"]),
    };
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let child = cmd
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", side.label()))?;
    let mut proxy = Proxy { child };
    let read_errors = || {
        let mut s = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        s.push_str(
            &std::fs::read_to_string(prefix.path().join("logs/error.log")).unwrap_or_default(),
        );
        s
    };
    if let Err(e) = wait_ready(&mut proxy, case, env) {
        return Err(format!(
            "{} not ready: {e}\n{}",
            side.label(),
            read_errors()
        ));
    }

    let mut client = Vec::new();
    let mut timed_out = false;
    for (i, conn) in case.conns.iter().enumerate() {
        let (lines, t) = run_conn(i + 1, conn, env);
        client.extend(lines);
        timed_out |= t;
    }

    // The client may hold a complete response before the proxy wrote its log line: let the
    // access log settle before stopping the proxy.
    settle(&prefix.path().join("logs/access.log"));
    let stopped = proxy.stop();
    let mut upstream = Vec::new();
    for (label, e) in echos {
        let log = e.stop(Duration::from_secs(3));
        upstream.extend(render_upstream(&label, &log));
    }
    let access = std::fs::read_to_string(prefix.path().join("logs/access.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let errors = read_errors();
    Ok(Outcome {
        client,
        upstream,
        access,
        stop: vec![match stopped {
            Ok(()) => "exited on SIGTERM".to_string(),
            Err(e) => e,
        }],
        errors,
        timed_out,
    })
}

/// Waits until `path` has not changed size for `SETTLE` (bounded by `STOP_TIMEOUT`).
fn settle(path: &Path) {
    let size = || std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let deadline = Instant::now() + STOP_TIMEOUT;
    let mut last = size();
    let mut since = Instant::now();
    while Instant::now() < deadline && since.elapsed() < SETTLE {
        thread::sleep(Duration::from_millis(10));
        let now = size();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

/// Polls a connection to every listen address until it is accepted (bounded), failing early
/// if the proxy exits.
fn wait_ready(proxy: &mut Proxy, case: &Case, env: &Env) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut pending: Vec<To> = (0..case.listens).map(To::Listen).collect();
    if case.front {
        pending.push(To::Front);
    }
    while let Some(to) = pending.last().copied() {
        if let Ok(Some(st)) = proxy.child.try_wait() {
            return Err(format!("exited with {st}"));
        }
        let ok = match to {
            To::Listen(i) => TcpStream::connect(("127.0.0.1", env.listen[i])).is_ok(),
            To::Front => UnixStream::connect(env.front()).is_ok(),
        };
        if ok {
            pending.pop();
            continue;
        }
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {to:?} after {START_TIMEOUT:?}"));
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Runs one connection; returns its rendered transcript and whether a read timed out.
fn run_conn(n: usize, conn: &Conn, env: &Env) -> (Vec<String>, bool) {
    let mut out = vec![format!("connection {n} to {:?}", conn.to)];
    let client = match conn.to {
        To::Listen(i) => Client::tcp(env.listen[i], CLIENT_TIMEOUT),
        To::Front => Client::unix(&env.front(), CLIENT_TIMEOUT),
    };
    let mut client = match client {
        Ok(c) => c,
        Err(e) => {
            out.push(format!("  connect failed: {}", e.kind()));
            return (out, false);
        }
    };
    for step in &conn.steps {
        let pieces = match step {
            Step::Send(b) => {
                let b = env.subst_bytes(b);
                let first = b.split(|&c| c == b'\n').next().unwrap_or(&[]);
                out.push(format!(
                    "  > send {} bytes: {}",
                    b.len(),
                    clip(&escape(first))
                ));
                // A send error (the server already closed) is timing-dependent and not
                // recorded; what the client reads afterwards is.
                let _ = client.send(&b);
                continue;
            }
            Step::Shut => {
                out.push("  > shutdown(write)".into());
                let _ = client.shutdown_write();
                continue;
            }
            Step::Pause(d) => {
                thread::sleep(*d);
                continue;
            }
            Step::Resp => client.response(false),
            Step::RespHead => client.response(true),
            Step::Interim => client.interim(),
            Step::ReadN(k) => client.read_n(*k),
            Step::Eof => client.read_to_eof(),
        };
        let timed_out = pieces.contains(&Piece::Timeout);
        render_pieces(&pieces, &mut out);
        if timed_out {
            out.push("  (remaining steps skipped)".into());
            return (out, true);
        }
    }
    (out, false)
}

// ------------------------------------------------------------------------------------------
// Normalisation and rendering
// ------------------------------------------------------------------------------------------

/// `Date:` values become `<date>`; `nginx/<anything>` in `Server:` becomes `nginx/<version>`.
fn normalize_head(head: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len());
    for (i, line) in split_keep(head, b"\r\n").into_iter().enumerate() {
        let colon = line.iter().position(|&c| c == b':');
        let name = colon.map(|c| &line[..c]);
        if i > 0 && name.is_some_and(|n| n.eq_ignore_ascii_case(b"date")) {
            let c = colon.unwrap();
            out.extend_from_slice(&line[..=c]);
            out.extend_from_slice(b" <date>");
            if line.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
        } else if i > 0 && name.is_some_and(|n| n.eq_ignore_ascii_case(b"server")) {
            out.extend_from_slice(&version_out(&line, b"nginx/", |c| {
                c != b' ' && c != b'\r' && c != b'\n'
            }));
        } else {
            out.extend_from_slice(&line);
        }
    }
    out
}

/// `<hr><center>nginx/...</center>` becomes `<hr><center>nginx/<version></center>`.
fn normalize_body(body: &[u8]) -> Vec<u8> {
    version_out(body, b"<hr><center>nginx/", |c| c != b'<')
}

/// Replaces the bytes accepted by `ok` after every `marker` with `<version>`.
fn version_out(b: &[u8], marker: &[u8], ok: impl Fn(u8) -> bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(marker) {
            out.extend_from_slice(marker);
            i += marker.len();
            while i < b.len() && ok(b[i]) {
                i += 1;
            }
            out.extend_from_slice(b"<version>");
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Splits after every `sep`, keeping it.
fn split_keep(b: &[u8], sep: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= b.len() {
        if &b[i..i + sep.len()] == sep {
            out.push(b[start..i + sep.len()].to_vec());
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    if start < b.len() {
        out.push(b[start..].to_vec());
    }
    out
}

/// Bytes as one line of text: `\r`, `\n`, `\t`, `\\` and every non-printable byte escaped.
fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// One text line per line of `b` (split after each LF), prefixed.
fn push_lines(out: &mut Vec<String>, prefix: &str, b: &[u8]) {
    for l in split_keep(b, b"\n") {
        out.push(format!("{prefix}{}", escape(&l)));
    }
}

fn render_pieces(pieces: &[Piece], out: &mut Vec<String>) {
    for p in pieces {
        match p {
            Piece::Head(h) => push_lines(out, "  < head | ", &normalize_head(h)),
            Piece::Data(d) => push_lines(out, "  < data | ", &normalize_body(d)),
            Piece::Eof => out.push("  < closed by server".into()),
            Piece::Timeout => out.push("  < TIMEOUT (safety net)".into()),
        }
    }
}

/// One echo's log: connections in accept order, events in order, tunnel reads merged.
fn render_upstream(label: &str, log: &[ConnLog]) -> Vec<String> {
    let mut out = vec![format!("upstream {label}: {} connection(s)", log.len())];
    for c in log {
        out.push(format!("  connection {}", c.id));
        let mut ws: Vec<u8> = Vec::new();
        let flush = |ws: &mut Vec<u8>, out: &mut Vec<String>| {
            if !ws.is_empty() {
                push_lines(out, "    tunnel data | ", ws);
                ws.clear();
            }
        };
        for e in &c.events {
            if let Event::WsData(d) = e {
                ws.extend_from_slice(d);
                continue;
            }
            flush(&mut ws, &mut out);
            match e {
                Event::Request { seq, raw } => {
                    out.push(format!("    request {seq}:"));
                    push_lines(&mut out, "    | ", raw);
                }
                Event::Eof { leftover } => {
                    out.push(format!("    eof (leftover: \"{}\")", escape(leftover)))
                }
                Event::ReadError { kind, leftover } => out.push(format!(
                    "    read error {kind} (leftover: \"{}\")",
                    escape(leftover)
                )),
                Event::WsClientEof => out.push("    tunnel: eof from the proxy".into()),
                Event::WsTimeout => out.push("    tunnel: read timeout".into()),
                Event::WsError(k) => out.push(format!("    tunnel: read error {k}")),
                Event::Error(m) => out.push(format!("    error: {m}")),
                Event::WsData(_) => unreachable!(),
            }
        }
        flush(&mut ws, &mut out);
    }
    out
}

// ------------------------------------------------------------------------------------------
// Diff
// ------------------------------------------------------------------------------------------

fn clip(s: &str) -> String {
    const MAX: usize = 240;
    if s.len() <= MAX {
        s.to_string()
    } else {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} chars)", &s[..end], s.len())
    }
}

/// A line diff (LCS) with three lines of context; `-` reference, `+` the other side.
fn diff(a: &[String], b: &[String]) -> String {
    let (n, m) = (a.len(), b.len());
    let mut out = String::new();
    if n * m > 4_000_000 {
        let first = (0..n.min(m)).find(|&i| a[i] != b[i]).unwrap_or(n.min(m));
        out.push_str(&format!(
            "  (too long for a full diff; first difference at line {})\n",
            first + 1
        ));
        for l in &a[first..(first + 10).min(n)] {
            out.push_str(&format!("- {}\n", clip(l)));
        }
        for l in &b[first..(first + 10).min(m)] {
            out.push_str(&format!("+ {}\n", clip(l)));
        }
        return out;
    }
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', &a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', &a[i]));
            i += 1;
        } else {
            ops.push(('+', &b[j]));
            j += 1;
        }
    }
    let near = |k: usize| {
        let lo = k.saturating_sub(3);
        let hi = (k + 4).min(ops.len());
        ops[lo..hi].iter().any(|(c, _)| *c != ' ')
    };
    let mut skipped = false;
    for (k, (c, l)) in ops.iter().enumerate() {
        if *c != ' ' || near(k) {
            if skipped {
                out.push_str("  ...\n");
                skipped = false;
            }
            out.push_str(&format!("{c} {}\n", clip(l)));
        } else {
            skipped = true;
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// The test
// ------------------------------------------------------------------------------------------

/// Every rule of sections 2-10 and 13 of the specification; each must be covered by a case.
const REQUIRED: &[&str] = &[
    "S2.1", "S2.2", "S2.3", "S2.4", "S2.5", "S2.6", "S2.7", "S3.1", "S3.2", "S3.3", "S3.4", "S3.5",
    "S4.1", "S4.2", "S4.3", "S4.4", "S4.5", "S4.6", "S5.1", "S5.2", "S5.3", "S5.4", "S5.5", "S5.6",
    "S5.7", "S5.8", "S5.9", "S6.1", "S6.2", "S6.3", "S6.4", "S6.5", "S6.6", "S6.7", "S6.8", "S7",
    "S8.1", "S8.2", "S8.3", "S8.4", "S8.5", "S8.6", "S9", "S9.1", "S9.2", "S10.1", "S10.2",
    "S10.3", "S10.4", "S10.5", "S10.6", "S10.7", "S13.1", "S13.2", "S13.3", "S13.4", "S13.5",
    "S13.6", "S13.7", "S13.8", "S13.9", "S13.10", "S13.11", "S13.12",
];

fn rule_key(r: &str) -> (u32, u32) {
    let r = r.trim_start_matches('S');
    let mut it = r.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

#[test]
fn nginx_differential() {
    let only_nginx = match std::env::var("RGINX_DIFF_ONLY") {
        Ok(v) if v == "nginx" => true,
        Ok(v) if v.is_empty() => false,
        Ok(v) => panic!("RGINX_DIFF_ONLY={v:?}: the only value understood is \"nginx\""),
        Err(_) => false,
    };
    let other = if only_nginx { Side::Nginx } else { Side::Rginx };
    let filter: Option<Vec<String>> = std::env::var("RGINX_DIFF_CASE")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(str::to_string).collect());

    let show = std::env::var("RGINX_DIFF_SHOW").is_ok_and(|v| !v.is_empty());
    let all = cases();
    let mut covered: BTreeSet<&str> = BTreeSet::new();
    for c in &all {
        covered.extend(c.rules.iter().copied());
    }
    let missing: Vec<&&str> = REQUIRED.iter().filter(|r| !covered.contains(**r)).collect();
    assert!(missing.is_empty(), "rules without a case: {missing:?}");
    let mut names = BTreeSet::new();
    for c in &all {
        assert!(names.insert(c.name), "two cases named {}", c.name);
    }

    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    let (mut ncases, mut nconns, mut nreqs) = (0, 0, 0);
    for c in &all {
        if let Some(f) = &filter {
            if !f.iter().any(|n| n == c.name) {
                continue;
            }
        }
        ncases += 1;
        nconns += c.conns.len();
        nreqs += c.requests();
        let t = Instant::now();
        let rules = c.rules.join(" ");
        match run_case(c, other, show) {
            Ok(()) => say!(
                "ok   {:<24} {:>3} connections  {:5.2}s  [{rules}]",
                c.name,
                c.conns.len(),
                t.elapsed().as_secs_f64()
            ),
            Err(report) => {
                failures.push(c.name.to_string());
                say!(
                    "FAIL {} [{rules}] ({:.2}s)\n{report}",
                    c.name,
                    t.elapsed().as_secs_f64()
                );
            }
        }
    }
    let mut rules: Vec<&str> = covered.into_iter().collect();
    rules.sort_by_key(|r| rule_key(r));
    say!(
        "\n{ncases} cases, {nconns} connections, {nreqs} requests, nginx vs {}, {:.1}s",
        other.label(),
        started.elapsed().as_secs_f64()
    );
    say!("rules covered ({}): {}", rules.len(), rules.join(" "));
    assert!(failures.is_empty(), "cases that differ: {failures:?}");
}

/// Runs one case on both sides and compares; the error is the report to print. A run that
/// lost one of its freshly picked ports to another process (`Address already in use`) is
/// retried with new ports: that is the environment, not a difference.
fn run_case(c: &Case, other: Side, show: bool) -> Result<(), String> {
    let mut attempt = 0;
    let (a, b) = loop {
        attempt += 1;
        let env = Env::new(c);
        let a =
            run_side(Side::Nginx, c, &env).map_err(|e| format!("the reference run failed: {e}"));
        let b = match &a {
            Ok(a) if !a.timed_out => Some(run_side(other, c, &env)),
            _ => None,
        };
        let lost_port = |r: &Result<Outcome, String>| {
            r.as_ref()
                .is_err_and(|e| e.contains("Address already in use") || e.contains("AddrInUse"))
        };
        if attempt < 3 && (lost_port(&a) || b.as_ref().is_some_and(lost_port)) {
            say!(
                "     {}: a port was taken meanwhile, retrying with new ports",
                c.name
            );
            continue;
        }
        break (a?, b);
    };
    if show {
        say!(
            "==== {} (nginx)\n{}\n{}\n{}",
            c.name,
            a.client.join("\n"),
            a.upstream.join("\n"),
            a.access.join("\n")
        );
    }
    if a.timed_out {
        return Err(format!(
            "nginx hit the client's safety timeout; a case must end by framing or close:\n{}",
            a.client
                .iter()
                .map(|l| clip(l))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    // Present whenever the reference did not time out.
    let b = b.unwrap_or_else(|| Err("not run".into()))?;
    let mut report = String::new();
    for (what, x, y) in [
        ("what the client received", &a.client, &b.client),
        ("what the upstreams received", &a.upstream, &b.upstream),
        ("access log", &a.access, &b.access),
        ("how the proxy stopped", &a.stop, &b.stop),
    ] {
        if x != y {
            report.push_str(&format!(
                "--- {what}: - nginx, + {}\n{}",
                other.label(),
                diff(x, y)
            ));
        }
    }
    if report.is_empty() {
        return Ok(());
    }
    if show {
        say!(
            "==== {} ({})\n{}\n{}\n{}",
            c.name,
            other.label(),
            b.client.join("\n"),
            b.upstream.join("\n"),
            b.access.join("\n")
        );
    }
    Err(format!(
        "{report}--- nginx error log:\n{}\n--- {} error log:\n{}",
        tail(&a.errors),
        other.label(),
        tail(&b.errors)
    ))
}

#[test]
fn normalisation_touches_only_date_and_server_version() {
    let head =
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 21 Nov 2026 14:37:01 GMT\r\n\
                 X-Date: Sat\r\nX-Server: nginx/1.22.1\r\nserver: nginx\r\n\r\n";
    assert_eq!(
        String::from_utf8_lossy(&normalize_head(head)),
        "HTTP/1.1 200 OK\r\nServer: nginx/<version>\r\nDate: <date>\r\nX-Date: Sat\r\n\
         X-Server: nginx/1.22.1\r\nserver: nginx\r\n\r\n"
    );
    let body = b"<hr><center>nginx/1.22.1</center>\r\n<hr><center>nginx</center>\r\nnginx/1.22.1";
    assert_eq!(
        String::from_utf8_lossy(&normalize_body(body)),
        "<hr><center>nginx/<version></center>\r\n<hr><center>nginx</center>\r\nnginx/1.22.1"
    );
    let a: Vec<String> = ["x", "y", "z"].iter().map(|s| s.to_string()).collect();
    let b: Vec<String> = ["x", "Y", "z"].iter().map(|s| s.to_string()).collect();
    assert_eq!(diff(&a, &b), "  x\n- y\n+ Y\n  z\n");
}

/// The last lines of an error log, each cut to a readable width.
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(25)..]
        .iter()
        .map(|l| clip(l))
        .collect::<Vec<_>>()
        .join("\n")
}
