//! The differential harness: the real nginx 1.22.1 and rginx serve the same nginx.conf, get
//! the same raw requests, and must answer byte for byte alike (see tests/differential.rs for
//! how a suite runs and what is normalised). Shared by the test files that compare whole
//! runs: `differential.rs` (sections 2-13 of the spec) and `static_files.rs` (section 15's
//! static files). This module owns suites, cases, running them against both servers and the
//! comparison; it holds no suite of its own.
#![allow(dead_code)]

use crate::common::upstream::{closed_port, BlackHole, Echo, Record};
use crate::common::{nginx, rginx, Prefix};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

// ==========================================================================================
// Suites and cases
// ==========================================================================================

/// What a suite needs besides its config.
#[derive(Clone, Copy, Default)]
pub struct Needs {
    /// One listening address per entry, on a fresh port (`"127.0.0.1"`, `"127.0.0.2"`, `"::1"`),
    /// or `"IP@i"` for the port of entry `i` on another address.
    pub listen: &'static [&'static str],
    /// Echo upstreams.
    pub echo: usize,
    /// Ports that refuse connections.
    pub closed: usize,
    /// Listeners with a full accept queue (connect never completes).
    pub holes: usize,
    /// Listeners that accept and never answer.
    pub silent: usize,
}

/// The addresses a suite's config is written against (fresh for every run of a test).
pub struct Env {
    pub listen: Vec<SocketAddr>,
    pub echo: Vec<u16>,
    pub closed: Vec<u16>,
    pub holes: Vec<u16>,
    pub silent: Vec<u16>,
    pub barrier: u16,
    /// What the barrier server answers: unique to this suite run, so that another test's
    /// server on a reused port cannot pass for ours.
    pub token: String,
    pub prefix: PathBuf,
}

impl Env {
    /// `listen` address `i` as nginx writes it (`127.0.0.1:8080`, `[::1]:8080`).
    pub fn l(&self, i: usize) -> String {
        self.listen[i].to_string()
    }

    /// Port of listen address `i`.
    pub fn lp(&self, i: usize) -> u16 {
        self.listen[i].port()
    }

    /// `127.0.0.1:PORT` of echo `i`.
    pub fn e(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.echo[i])
    }

    /// A request with its placeholders filled in: `{E0}`.. = echo `127.0.0.1:PORT`, `{L0}`.. =
    /// listen address, `{C0}`.. = closed `127.0.0.1:PORT`. Requests are written before the ports
    /// are known.
    pub fn fill(&self, b: &[u8]) -> Vec<u8> {
        let mut out = b.to_vec();
        for (tag, addrs) in [
            (
                'E',
                self.echo
                    .iter()
                    .map(|p| format!("127.0.0.1:{p}"))
                    .collect::<Vec<_>>(),
            ),
            ('L', self.listen.iter().map(|a| a.to_string()).collect()),
            (
                'C',
                self.closed
                    .iter()
                    .map(|p| format!("127.0.0.1:{p}"))
                    .collect(),
            ),
        ] {
            for (i, a) in addrs.iter().enumerate() {
                out = replace_all(&out, format!("{{{tag}{i}}}").as_bytes(), a.as_bytes());
            }
        }
        out
    }

    pub fn fill_step(&self, s: &Step) -> Step {
        match s {
            Step::Send(b) => Step::Send(self.fill(b)),
            other => other.clone(),
        }
    }
}

pub struct Suite {
    pub name: &'static str,
    pub needs: Needs,
    /// The contents of `http {}`. The harness adds `access_log logs/access.log;` (combined), the
    /// temp paths inside the prefix and the barrier server.
    pub http: fn(&Env) -> String,
    /// Extra files (path relative to the prefix, contents), e.g. included map files.
    pub files: Files,
    /// Runs once the files are written, before any server starts: what files cannot say
    /// (symbolic links, FIFOs, modification times).
    pub setup: fn(&Env),
    pub cases: Vec<Case>,
}

impl Suite {
    pub fn new(name: &'static str, needs: Needs, http: fn(&Env) -> String) -> Suite {
        Suite {
            name,
            needs,
            http,
            files: |_| Vec::new(),
            setup: |_| {},
            cases: Vec::new(),
        }
    }

    pub fn files(mut self, files: Files) -> Suite {
        self.files = files;
        self
    }

    pub fn setup(mut self, setup: fn(&Env)) -> Suite {
        self.setup = setup;
        self
    }

    pub fn cases(mut self, cases: impl IntoIterator<Item = Case>) -> Suite {
        self.cases.extend(cases);
        self
    }
}

pub type Expect = Box<dyn Fn(&Outcome)>;

/// The spec rules a case covers (`"S4.2"`).
pub type Rules = &'static [&'static str];

/// Extra files of a suite: (path relative to the prefix, contents).
pub type Files = fn(&Env) -> Vec<(String, Vec<u8>)>;

pub struct Case {
    pub name: String,
    pub rules: Rules,
    /// Client connections, run one after the other.
    pub conns: Vec<Conn>,
    /// Safety net for each read step (a read that hits it records `End::Timeout`).
    pub timeout: Duration,
    /// `[info]` error-log lines containing one of these are compared as well.
    pub info: &'static [&'static str],
    /// A pause before every connection (lets the server see an upstream's close first).
    pub gap: Duration,
    pub expect: Expect,
}

/// One client connection to listen address `listen`.
#[derive(Clone)]
pub struct Conn {
    pub listen: usize,
    pub steps: Vec<Step>,
}

#[derive(Clone)]
pub enum Step {
    Send(Vec<u8>),
    Pause(Duration),
    /// `shutdown(SHUT_WR)`.
    ShutWr,
    Read(Until),
}

#[derive(Clone, Copy)]
pub enum Until {
    /// EOF (or reset, or the case timeout).
    Close,
    /// This many complete final (non-1xx) responses in total on the connection.
    Responses(usize),
    /// Until what was read contains this text (e.g. an interim `100 Continue`).
    Text(&'static str),
}

impl Case {
    /// One connection to listen address 0: send `request`, read until the server closes.
    pub fn new(name: impl Into<String>, rules: Rules, request: impl AsRef<[u8]>) -> Case {
        Case {
            name: name.into(),
            rules,
            conns: vec![Conn {
                listen: 0,
                steps: vec![
                    Step::Send(request.as_ref().to_vec()),
                    Step::Read(Until::Close),
                ],
            }],
            timeout: Duration::from_secs(3),
            info: &[],
            gap: Duration::ZERO,
            expect: Box::new(|_| {}),
        }
    }

    /// A case made of explicit connections.
    pub fn script(name: impl Into<String>, rules: Rules, conns: Vec<Conn>) -> Case {
        Case {
            conns,
            ..Case::new(name, rules, "")
        }
    }

    /// Sends to listen address `i` instead of 0 (every connection of the case).
    pub fn on(mut self, i: usize) -> Case {
        for c in &mut self.conns {
            c.listen = i;
        }
        self
    }

    /// Reads `n` complete responses instead of reading until close (keep-alive cases).
    pub fn responses(mut self, n: usize) -> Case {
        for c in &mut self.conns {
            if let Some(Step::Read(u)) = c.steps.last_mut() {
                *u = Until::Responses(n);
            }
        }
        self
    }

    /// Repeats the connection `n` times (sequentially).
    pub fn times(mut self, n: usize) -> Case {
        let c = self.conns[0].clone();
        self.conns = vec![c; n];
        self
    }

    pub fn gap(mut self, ms: u64) -> Case {
        self.gap = Duration::from_millis(ms);
        self
    }

    pub fn info(mut self, info: &'static [&'static str]) -> Case {
        self.info = info;
        self
    }

    pub fn expect(mut self, f: impl Fn(&Outcome) + 'static) -> Case {
        self.expect = Box::new(f);
        self
    }
}

impl Conn {
    pub fn new(listen: usize, steps: Vec<Step>) -> Conn {
        Conn { listen, steps }
    }
}

pub fn send(b: impl AsRef<[u8]>) -> Step {
    Step::Send(b.as_ref().to_vec())
}

pub fn pause(ms: u64) -> Step {
    Step::Pause(Duration::from_millis(ms))
}

/// `GET path HTTP/1.1` with `Host` and `Connection: close`.
pub fn get(path: &str, host: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
}

/// `GET path HTTP/1.1` with `Host` and extra header lines (each without CRLF), keep-alive.
pub fn get_with(path: &str, host: &str, headers: &[&str]) -> Vec<u8> {
    let mut s = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n");
    for h in headers {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

// ==========================================================================================
// What a case produced
// ==========================================================================================

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The read step finished without the connection ending (`Until::Responses`).
    Open,
    /// The server closed the connection.
    Eof,
    /// The connection was reset.
    Reset,
    /// Nothing more arrived within the case timeout.
    Timeout,
    /// The connection was refused.
    Refused,
}

#[derive(Clone, Debug)]
pub struct ConnOut {
    pub bytes: Vec<u8>,
    /// (time since connect, bytes read so far) after every read.
    pub timeline: Vec<(Duration, usize)>,
    pub end: End,
    /// Time from connect to the end of the last step.
    pub elapsed: Duration,
    /// The client's ephemeral port.
    pub cport: u16,
    /// The connection sent HEAD requests (their responses have no body).
    pub head: bool,
}

/// One server's record of one case.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub conns: Vec<ConnOut>,
    /// Per echo upstream, the requests it received during the case.
    pub upstream: Vec<Vec<Record>>,
    /// New access-log lines, raw: (file name, line).
    pub access: Vec<(String, Vec<u8>)>,
    /// New error-log lines that are compared, raw after the stripped prefix: `[error] message`.
    pub errors: Vec<Vec<u8>>,
}

/// What a case's `expect` sees: nginx's run, and the addresses of the suite.
pub struct Outcome<'a> {
    pub env: &'a Env,
    pub run: &'a Run,
}

/// A parsed HTTP/1 response.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    /// Body bytes, de-chunked.
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_names(&self) -> Vec<&str> {
        self.headers.iter().map(|(k, _)| k.as_str()).collect()
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Outcome<'_> {
    pub fn conn(&self, i: usize) -> &ConnOut {
        &self.run.conns[i]
    }

    /// Every response read on connection `i`.
    pub fn resps(&self, i: usize) -> Vec<Resp> {
        let c = self.conn(i);
        parse_responses(&c.bytes, c.head, c.end != End::Open).0
    }

    /// The first final response on connection 0; panics with what arrived if there is none.
    pub fn resp(&self) -> Resp {
        self.resp_of(0)
    }

    pub fn resp_of(&self, i: usize) -> Resp {
        let all = self.resps(i);
        match all.into_iter().find(|r| r.status >= 200) {
            Some(r) => r,
            None => panic!(
                "no complete response on connection {i}; received ({:?}): {}",
                self.conn(i).end,
                escape(&self.conn(i).bytes)
            ),
        }
    }

    pub fn status(&self) -> u16 {
        self.resp().status
    }

    pub fn body(&self) -> String {
        self.resp().body_str()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.resp().header(name).map(str::to_string)
    }

    /// What the client of connection 0 read, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.conn(0).bytes).into_owned()
    }

    /// The requests echo `i` received, as text.
    pub fn up(&self, i: usize) -> Vec<String> {
        self.run.upstream[i]
            .iter()
            .map(|r| String::from_utf8_lossy(&r.raw).into_owned())
            .collect()
    }

    /// The request lines echo `i` received.
    pub fn up_lines(&self, i: usize) -> Vec<String> {
        self.up(i)
            .iter()
            .map(|r| r.split("\r\n").next().unwrap_or("").to_string())
            .collect()
    }

    /// The only request echo `i` received.
    pub fn up1(&self, i: usize) -> String {
        let all = self.up(i);
        assert_eq!(
            all.len(),
            1,
            "echo {i} should have received one request: {all:#?}"
        );
        all[0].clone()
    }

    /// The compared error-log lines (`[level] message`), as text.
    pub fn errors(&self) -> Vec<String> {
        self.run.errors.iter().map(|l| lossy(l)).collect()
    }

    /// The new lines of `logs/FILE`, as text.
    pub fn access(&self, file: &str) -> Vec<String> {
        self.run
            .access
            .iter()
            .filter(|(f, _)| f == file)
            .map(|(_, l)| lossy(l))
            .collect()
    }
}

/// Parses the responses in `buf`. `eof`: the stream ended, so a close-delimited body is
/// complete. Returns the responses and whether the last one is complete.
pub fn parse_responses(buf: &[u8], head_request: bool, eof: bool) -> (Vec<Resp>, bool) {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let Some(he) = find(&buf[pos..], b"\r\n\r\n") else {
            return (out, false);
        };
        let head = String::from_utf8_lossy(&buf[pos..pos + he + 4]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("").to_string();
        let Some(status) = status_line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse::<u16>().ok())
        else {
            return (out, false);
        };
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim_start().to_string()))
            .collect();
        let mut r = Resp {
            status,
            status_line,
            headers,
            body: Vec::new(),
            chunked: false,
        };
        pos += he + 4;
        let no_body =
            (100..200).contains(&status) || status == 204 || status == 304 || head_request;
        if no_body {
            out.push(r);
            continue;
        }
        if r.header("Transfer-Encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            r.chunked = true;
            loop {
                let Some(le) = find(&buf[pos..], b"\r\n") else {
                    out.push(r);
                    return (out, false);
                };
                let size_txt = String::from_utf8_lossy(&buf[pos..pos + le]).into_owned();
                let size =
                    usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16)
                        .unwrap_or(usize::MAX);
                pos += le + 2;
                if size == 0 {
                    // nginx sends no trailers: the final CRLF follows.
                    if buf.len() < pos + 2 {
                        out.push(r);
                        return (out, false);
                    }
                    pos += 2;
                    break;
                }
                if size == usize::MAX || buf.len() < pos + size + 2 {
                    r.body.extend_from_slice(&buf[pos.min(buf.len())..]);
                    out.push(r);
                    return (out, false);
                }
                r.body.extend_from_slice(&buf[pos..pos + size]);
                pos += size + 2;
            }
            out.push(r);
        } else if let Some(n) = r
            .header("Content-Length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            let take = n.min(buf.len() - pos);
            r.body = buf[pos..pos + take].to_vec();
            pos += take;
            let complete = take == n;
            out.push(r);
            if !complete {
                return (out, false);
            }
        } else {
            r.body = buf[pos..].to_vec();
            out.push(r);
            return (out, eof);
        }
    }
    (out, true)
}

// ==========================================================================================
// Running a suite
// ==========================================================================================

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Which {
    Nginx,
    Rginx,
}

impl Which {
    pub fn name(self) -> &'static str {
        match self {
            Which::Nginx => "nginx",
            Which::Rginx => "rginx",
        }
    }

    pub fn program(self) -> PathBuf {
        match self {
            Which::Nginx => nginx(),
            Which::Rginx => rginx(),
        }
    }
}

/// `RGINX_DIFF_ONLY=nginx`: run nginx alone and check the expected properties only.
pub fn nginx_only() -> bool {
    match std::env::var("RGINX_DIFF_ONLY") {
        Ok(v) if v == "nginx" => true,
        Ok(v) if v.is_empty() => false,
        Ok(v) => panic!("RGINX_DIFF_ONLY={v:?}: the only supported value is \"nginx\""),
        Err(_) => false,
    }
}

/// A port nobody listens on right now, on `ip`, never handed out before in this process.
pub fn free_port(ip: &str) -> SocketAddr {
    crate::common::upstream::free_port(ip.parse().expect("listen ip"))
}

/// The addresses and helpers of one suite run; dropping it stops the helpers.
pub struct Fixture {
    pub env: Env,
    pub echoes: Vec<Echo>,
    pub _holes: Vec<BlackHole>,
    pub prefix: Prefix,
}

impl Fixture {
    pub fn new(suite: &Suite) -> Fixture {
        let prefix = Prefix::new();
        let echoes: Vec<Echo> = (0..suite.needs.echo).map(|_| Echo::start()).collect();
        let holes: Vec<BlackHole> = (0..suite.needs.holes)
            .map(|_| BlackHole::full_queue())
            .collect();
        let silent: Vec<BlackHole> = (0..suite.needs.silent)
            .map(|_| BlackHole::silent())
            .collect();
        let mut listen: Vec<SocketAddr> = Vec::new();
        for spec in suite.needs.listen {
            // "IP@i": the port of listen address i on another address.
            let addr = match spec.split_once('@') {
                Some((ip, i)) => SocketAddr::new(
                    ip.parse().expect("listen ip"),
                    listen[i.parse::<usize>().expect("listen index")].port(),
                ),
                None => free_port(spec),
            };
            listen.push(addr);
        }
        let env = Env {
            listen,
            echo: echoes.iter().map(Echo::port).collect(),
            closed: (0..suite.needs.closed).map(|_| closed_port()).collect(),
            holes: holes.iter().map(BlackHole::port).collect(),
            silent: silent.iter().map(BlackHole::port).collect(),
            barrier: free_port("127.0.0.1").port(),
            token: format!(
                "barrier {}",
                prefix.path().file_name().unwrap().to_string_lossy()
            ),
            prefix: prefix.path().to_path_buf(),
        };
        let conf = format!(
            "worker_processes 1;\n\
             error_log logs/error.log info;\n\
             pid logs/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             access_log logs/access.log;\n\
             client_body_temp_path client_body_temp;\n\
             proxy_temp_path proxy_temp;\n\
             fastcgi_temp_path fastcgi_temp;\n\
             uwsgi_temp_path uwsgi_temp;\n\
             scgi_temp_path scgi_temp;\n\
             {}\n\
             # the test harness's barrier (see tests/nginx_diff.rs)\n\
             server {{ listen 127.0.0.1:{}; access_log off; location / {{ return 200 \"{}\"; }} }}\n\
             }}\n",
            (suite.http)(&env),
            env.barrier,
            env.token
        );
        prefix.write("conf/nginx.conf", conf.as_bytes());
        for (path, body) in (suite.files)(&env) {
            prefix.write(&path, &body);
        }
        (suite.setup)(&env);
        let mut holes = holes;
        holes.extend(silent);
        Fixture {
            env,
            echoes,
            _holes: holes,
            prefix,
        }
    }
}

/// A running nginx or rginx, stopped (SIGTERM to its pid, then SIGKILL) when dropped.
pub struct Server {
    pub which: Which,
    pub child: Child,
    pub prefix: PathBuf,
}

impl Server {
    pub fn start(which: Which, fx: &Fixture) -> Server {
        let p = &fx.prefix;
        // Fresh logs for every server.
        for f in std::fs::read_dir(p.path().join("logs")).unwrap().flatten() {
            let _ = std::fs::remove_file(f.path());
        }
        let out = std::fs::File::create(p.path().join(format!("{}.out", which.name()))).unwrap();
        let child = Command::new(which.program())
            .arg("-p")
            .arg(p.arg())
            .arg("-c")
            .arg(p.conf())
            .arg("-g")
            .arg("daemon off; master_process off;")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", which.program().display()));
        let mut s = Server {
            which,
            child,
            prefix: p.path().to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = s.child.try_wait().unwrap() {
                panic!(
                    "{} exited ({st}) before serving; its output:\n{}\nerror.log:\n{}",
                    which.name(),
                    read_lossy(&s.prefix.join(format!("{}.out", which.name()))),
                    read_lossy(&s.prefix.join("logs/error.log"))
                );
            }
            if barrier(&fx.env) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer on 127.0.0.1:{} within 10 s",
                which.name(),
                fx.env.barrier
            );
            sleep(Duration::from_millis(20));
        }
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(10));
        }
        eprintln!(
            "{} (pid {pid}) ignored SIGTERM; killing it",
            self.which.name()
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn read_lossy(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

/// Waits until a server has let go of the client connections of a case: every socket it
/// holds must be a listening socket or an upstream connection. A socket is classified once,
/// through /proc/net/tcp{,6} (slow to read when many sockets exist, hence the cache): one on a
/// listen port in any state but LISTEN, or one no longer listed (closed by the peer after a
/// shutdown), is a client connection the server has not closed yet.
pub struct Settle {
    pub pid: u32,
    pub ports: Vec<u16>,
    /// Sockets known not to be client connections.
    pub known: BTreeSet<u64>,
}

impl Settle {
    pub fn new(pid: u32, listen: &[SocketAddr]) -> Settle {
        Settle {
            pid,
            ports: listen.iter().map(SocketAddr::port).collect(),
            known: BTreeSet::new(),
        }
    }

    /// The inodes of the sockets the server has open.
    pub fn sockets(&self) -> Vec<u64> {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{}/fd", self.pid)) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|fd| {
                let target = std::fs::read_link(fd.path()).ok()?;
                let t = target.to_string_lossy();
                t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
            })
            .collect()
    }

    /// Waits at most 2 s.
    pub fn wait(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut busy: BTreeSet<u64> = BTreeSet::new();
        loop {
            let open = self.sockets();
            busy.retain(|i| open.contains(i));
            let unknown: Vec<u64> = open
                .into_iter()
                .filter(|i| !self.known.contains(i) && !busy.contains(i))
                .collect();
            if !unknown.is_empty() {
                let table = tcp_table();
                let unix = unix_sockets();
                for i in unknown {
                    if unix.contains(&i) {
                        // A unix socket (a runtime's signal pipe, say): never a client here.
                        self.known.insert(i);
                        continue;
                    }
                    match table.get(&i) {
                        Some((port, state))
                            if !self.ports.contains(port) || *state == TCP_LISTEN =>
                        {
                            self.known.insert(i);
                        }
                        _ => {
                            busy.insert(i);
                        }
                    }
                }
            }
            if busy.is_empty() || Instant::now() >= deadline {
                return;
            }
            sleep(Duration::from_millis(2));
        }
    }
}

pub const TCP_LISTEN: u8 = 0x0a;

/// The inodes of every unix socket (/proc/net/unix).
pub fn unix_sockets() -> BTreeSet<u64> {
    std::fs::read_to_string("/proc/net/unix")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(6)?.parse().ok())
        .collect()
}

/// inode → (local port, state) of every TCP socket in /proc/net/tcp and tcp6.
pub fn tcp_table() -> BTreeMap<u64, (u16, u8)> {
    let mut table = BTreeMap::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 {
                continue;
            }
            let port = cols[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let state = u8::from_str_radix(cols[3], 16).ok();
            if let (Some(port), Some(state), Ok(inode)) = (port, state, cols[9].parse::<u64>()) {
                if inode != 0 {
                    table.insert(inode, (port, state));
                }
            }
        }
    }
    table
}

/// One request to the barrier server; true when it answered with this suite's token.
pub fn barrier(env: &Env) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", env.barrier)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out.starts_with(b"HTTP/1.1 200") && out.ends_with(env.token.as_bytes())
}

/// Runs one client connection script.
pub fn run_conn(addr: SocketAddr, steps: &[Step], timeout: Duration) -> ConnOut {
    let start = Instant::now();
    let mut out = ConnOut {
        bytes: Vec::new(),
        timeline: Vec::new(),
        end: End::Open,
        elapsed: Duration::ZERO,
        cport: 0,
        head: matches!(steps.first(), Some(Step::Send(b)) if b.starts_with(b"HEAD ")),
    };
    let mut s = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(_) => {
            out.end = End::Refused;
            return out;
        }
    };
    let _ = s.set_nodelay(true);
    out.cport = s.local_addr().unwrap().port();
    let mut chunk = vec![0u8; 65536];
    for step in steps {
        match step {
            Step::Send(b) => {
                // A write after the server closed may fail; what was read so far stands.
                let _ = s.write_all(b);
            }
            Step::Pause(d) => sleep(*d),
            Step::ShutWr => {
                let _ = s.shutdown(Shutdown::Write);
            }
            Step::Read(until) => {
                if out.end != End::Open {
                    continue;
                }
                let deadline = Instant::now() + timeout;
                loop {
                    match until {
                        Until::Responses(n) => {
                            let (resps, complete) = parse_responses(&out.bytes, out.head, false);
                            let finals = resps.iter().filter(|r| r.status >= 200).count();
                            if finals > *n || (finals == *n && complete) {
                                break;
                            }
                        }
                        Until::Text(t) => {
                            if find(&out.bytes, t.as_bytes()).is_some() {
                                break;
                            }
                        }
                        Until::Close => {}
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        out.end = End::Timeout;
                        break;
                    }
                    let _ = s.set_read_timeout(Some(left));
                    match s.read(&mut chunk) {
                        Ok(0) => {
                            out.end = End::Eof;
                            break;
                        }
                        Ok(n) => {
                            out.bytes.extend_from_slice(&chunk[..n]);
                            out.timeline.push((start.elapsed(), out.bytes.len()));
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                        {
                            out.end = End::Timeout;
                            break;
                        }
                        Err(_) => {
                            out.end = End::Reset;
                            break;
                        }
                    }
                }
            }
        }
    }
    out.elapsed = start.elapsed();
    out
}

/// Byte offsets reached in the prefix's log files.
#[derive(Default)]
pub struct LogMarks {
    pub offsets: BTreeMap<String, usize>,
}

impl LogMarks {
    /// The lines added to every `logs/*.log` since the last call: (file, line).
    pub fn take(&mut self, prefix: &Path) -> Vec<(String, Vec<u8>)> {
        let mut names: Vec<String> = std::fs::read_dir(prefix.join("logs"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".log"))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let data = std::fs::read(prefix.join("logs").join(&name)).unwrap_or_default();
            let from = self
                .offsets
                .get(&name)
                .copied()
                .unwrap_or(0)
                .min(data.len());
            // Only whole lines; a partial last line waits for the next call.
            let upto = data[from..]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(from, |i| from + i + 1);
            for line in data[from..upto].split(|&b| b == b'\n') {
                if !line.is_empty() {
                    out.push((name.clone(), line.to_vec()));
                }
            }
            self.offsets.insert(name, upto);
        }
        out
    }
}

/// `2026/11/21 14:54:54 [error] 25070#25070: *50 message` → `[error] message`, if the line is
/// compared: `[error]` or worse, `[warn]`, or `[info]` containing one of `info`. The message
/// bytes are kept as they are.
pub fn select_error_line(raw: &[u8], info: &[&str]) -> Option<Vec<u8>> {
    // The prefix is ASCII, so offsets found in the lossy text hold in `raw` up to it.
    let line = lossy(raw);
    let line = line.as_str();
    let lb = line.find(" [")?;
    let le = line[lb..].find("] ")? + lb;
    let level = &line[lb + 2..le];
    let keep = match level {
        "emerg" | "alert" | "crit" | "error" | "warn" => true,
        "info" => info.iter().any(|i| line.contains(i)),
        _ => false,
    };
    if !keep {
        return None;
    }
    let mut at = le + 2;
    // "PID#TID: "
    if let Some(c) = line[at..].find(": ") {
        if line[at..at + c]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'#')
        {
            at += c + 2;
        }
    }
    // "*CONN "
    if line[at..].starts_with('*') {
        if let Some(sp) = line[at + 1..].find(' ') {
            if line[at + 1..at + 1 + sp]
                .bytes()
                .all(|b| b.is_ascii_digit())
            {
                at += sp + 2;
            }
        }
    }
    let mut out = format!("[{level}] ").into_bytes();
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs every case of `suite` against one server. `want`: nginx's runs, to wait for rginx's log
/// lines to reach the same count.
pub fn run_server(which: Which, fx: &Fixture, suite: &Suite, want: Option<&[Run]>) -> Vec<Run> {
    for e in &fx.echoes {
        e.reset();
    }
    let server = Server::start(which, fx);
    let mut settle = Settle::new(server.child.id(), &fx.env.listen);
    let mut marks = LogMarks::default();
    marks.take(fx.prefix.path());
    let mut runs = Vec::new();
    for (ci, case) in suite.cases.iter().enumerate() {
        let mut run = Run::default();
        for c in &case.conns {
            sleep(case.gap);
            let steps: Vec<Step> = c.steps.iter().map(|s| fx.env.fill_step(s)).collect();
            run.conns
                .push(run_conn(fx.env.listen[c.listen], &steps, case.timeout));
        }
        // Wait until the server has let go of the case's connections: a request that ends in a
        // lingering close is logged only when the server reads the client's FIN, and under load
        // that FIN may be processed after a later connection. Then the barrier; rginx also gets
        // up to a second to reach nginx's line counts.
        settle.wait();
        let wait_until = Instant::now() + Duration::from_secs(1);
        loop {
            assert!(
                barrier(&fx.env),
                "{}: barrier after case {:?} got no answer",
                which.name(),
                case.name
            );
            for (name, line) in marks.take(fx.prefix.path()) {
                if name == "error.log" {
                    run.errors.extend(select_error_line(&line, case.info));
                } else {
                    run.access.push((name, line));
                }
            }
            let behind = want.is_some_and(|w| {
                w[ci].access.len() > run.access.len() || w[ci].errors.len() > run.errors.len()
            });
            if !behind || Instant::now() >= wait_until {
                break;
            }
            sleep(Duration::from_millis(10));
        }
        run.upstream = fx.echoes.iter().map(Echo::take_records).collect();
        runs.push(run);
    }
    drop(server);
    runs
}

/// Runs the suites of one test and fails with every problem found.
pub fn run_suites(suites: Vec<Suite>) {
    let only = nginx_only();
    let mut failures = Vec::new();
    for suite in &suites {
        let t0 = Instant::now();
        let fx = Fixture::new(suite);
        let nginx_runs = run_server(Which::Nginx, &fx, suite, None);
        let show = std::env::var_os("RGINX_DIFF_SHOW").is_some();
        for (case, run) in suite.cases.iter().zip(&nginx_runs) {
            if show {
                println!("== {} / {}\n{}", suite.name, case.name, describe(run));
            }
            let o = Outcome { env: &fx.env, run };
            if let Err(e) = catch_unwind(AssertUnwindSafe(|| (case.expect)(&o))) {
                let msg = panic_text(&e);
                failures.push(format!(
                    "{} / {} [{}]: nginx does not behave as expected: {msg}\n{}",
                    suite.name,
                    case.name,
                    case.rules.join(" "),
                    describe(run)
                ));
            }
        }
        let t_nginx = t0.elapsed();
        if !only {
            let rginx_runs = run_server(Which::Rginx, &fx, suite, Some(&nginx_runs));
            for ((case, a), b) in suite.cases.iter().zip(&nginx_runs).zip(&rginx_runs) {
                if let Some(d) = compare(a, b) {
                    failures.push(format!(
                        "{} / {} [{}]: rginx differs from nginx: {d}",
                        suite.name,
                        case.name,
                        case.rules.join(" ")
                    ));
                }
            }
        }
        println!(
            "suite {}: {} cases, nginx {:.2?}, total {:.2?}",
            suite.name,
            suite.cases.len(),
            t_nginx,
            t0.elapsed()
        );
    }
    print_coverage(&suites);
    if !failures.is_empty() {
        panic!(
            "{} failure(s):\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

pub fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "(non-string panic)".into()
    }
}

/// A readable dump of one run, for failure messages.
pub fn describe(run: &Run) -> String {
    let mut s = String::new();
    for (i, c) in run.conns.iter().enumerate() {
        s.push_str(&format!(
            "  client {i} ({:?} after {:.2?}): {}\n",
            c.end,
            c.elapsed,
            escape(&c.bytes)
        ));
    }
    for (i, u) in run.upstream.iter().enumerate() {
        for r in u {
            s.push_str(&format!(
                "  echo {i} conn {} got: {}\n",
                r.conn,
                escape(&r.raw)
            ));
        }
    }
    for (f, l) in &run.access {
        s.push_str(&format!("  {f}: {}\n", escape(l)));
    }
    for l in &run.errors {
        s.push_str(&format!("  error.log: {}\n", escape(l)));
    }
    s
}

// ==========================================================================================
// Normalisation and comparison
// ==========================================================================================

/// A run with everything that may legitimately differ replaced by placeholders.
#[derive(PartialEq, Eq)]
pub struct Normal {
    pub conns: Vec<(Vec<u8>, End)>,
    pub upstream: Vec<Vec<Vec<u8>>>,
    /// `FILE: line`.
    pub access: Vec<Vec<u8>>,
    pub errors: Vec<Vec<u8>>,
}

pub fn normalise(run: &Run) -> Normal {
    let ports: Vec<u16> = run.conns.iter().map(|c| c.cport).collect();
    let common = |b: &[u8]| -> Vec<u8> {
        let mut b = replace_all(b, b"nginx/1.22.1", b"nginx/<VERSION>");
        for (i, p) in ports.iter().enumerate() {
            if *p != 0 {
                b = replace_number(&b, *p, format!("<CPORT{i}>").as_bytes());
            }
        }
        b
    };
    Normal {
        conns: run
            .conns
            .iter()
            .map(|c| (normalise_dates(&common(&c.bytes)), c.end))
            .collect(),
        upstream: run
            .upstream
            .iter()
            .map(|u| u.iter().map(|r| common(&r.raw)).collect())
            .collect(),
        access: run
            .access
            .iter()
            .map(|(f, l)| [format!("{f}: ").into_bytes(), normalise_times(&common(l))].concat())
            .collect(),
        errors: run.errors.iter().map(|l| common(l)).collect(),
    }
}

/// Compares nginx's run `a` with rginx's run `b`; a description of the first difference.
pub fn compare(a: &Run, b: &Run) -> Option<String> {
    let (na, nb) = (normalise(a), normalise(b));
    if na == nb {
        return None;
    }
    if na.conns.len() != nb.conns.len() {
        return Some(format!(
            "{} client connections vs {}",
            na.conns.len(),
            nb.conns.len()
        ));
    }
    for (i, ((ba, ea), (bb, eb))) in na.conns.iter().zip(&nb.conns).enumerate() {
        if ba != bb {
            return Some(format!(
                "client bytes of connection {i}:\n{}",
                byte_diff(ba, bb)
            ));
        }
        if ea != eb {
            return Some(format!(
                "connection {i} ended differently: nginx {ea:?}, rginx {eb:?}"
            ));
        }
    }
    for (i, (ua, ub)) in na.upstream.iter().zip(&nb.upstream).enumerate() {
        if ua.len() != ub.len() {
            return Some(format!(
                "echo {i} received {} request(s) from nginx, {} from rginx:\n  nginx: {}\n  rginx: {}",
                ua.len(),
                ub.len(),
                ua.iter().map(|r| escape(r)).collect::<Vec<_>>().join("\n         "),
                ub.iter().map(|r| escape(r)).collect::<Vec<_>>().join("\n         ")
            ));
        }
        for (j, (ra, rb)) in ua.iter().zip(ub).enumerate() {
            if ra != rb {
                return Some(format!(
                    "request {j} received by echo {i}:\n{}",
                    byte_diff(ra, rb)
                ));
            }
        }
    }
    let lines =
        |v: &[Vec<u8>]| -> String { v.iter().map(|l| format!("\n    {}", escape(l))).collect() };
    if na.access != nb.access {
        return Some(format!(
            "access log lines (normalised):\n  nginx:{}\n  rginx:{}",
            lines(&na.access),
            lines(&nb.access)
        ));
    }
    if na.errors != nb.errors {
        return Some(format!(
            "error log lines (normalised):\n  nginx:{}\n  rginx:{}",
            lines(&na.errors),
            lines(&nb.errors)
        ));
    }
    Some(format!(
        "the runs differ in the number of echo upstreams: {} vs {}",
        na.upstream.len(),
        nb.upstream.len()
    ))
}

/// The first differing offset and both sides, escaped.
pub fn byte_diff(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(60);
    format!(
        "  first difference at byte {at} (nginx {} bytes, rginx {} bytes)\n  \
         nginx from {from}: {}\n  rginx from {from}: {}\n  nginx: {}\n  rginx: {}",
        a.len(),
        b.len(),
        escape(&a[from.min(a.len())..(at + 60).min(a.len())]),
        escape(&b[from.min(b.len())..(at + 60).min(b.len())]),
        escape(a),
        escape(b)
    )
}

/// Printable ASCII as is, `\r` `\n` `\t` `\\` escaped, other bytes as `\xHH`; long inputs are
/// cut in the middle.
pub fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    let cut = b.len() > 6000;
    for (i, &c) in b.iter().enumerate() {
        if cut && i == 3000 {
            s.push_str(&format!("<... {} bytes ...>", b.len() - 6000));
        }
        if cut && (3000..b.len() - 3000).contains(&i) {
            continue;
        }
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

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn replace_all(b: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Replaces the decimal number `n` where it stands alone (not part of a longer digit run).
pub fn replace_number(b: &[u8], n: u16, to: &[u8]) -> Vec<u8> {
    let digits = n.to_string().into_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let j = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if b[i..j] == digits[..] {
                out.extend_from_slice(to);
            } else {
                out.extend_from_slice(&b[i..j]);
            }
            i = j;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// `Date: Sat, 21 Nov 2026 14:37:01 GMT` → `Date: <DATE>`.
pub fn normalise_dates(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let v = i + 6;
        if b[i..].starts_with(b"\r\nDate: ")
            && b.len() >= v + 2 + 29
            && b[v + 2 + 3] == b','
            && &b[v + 2 + 25..v + 2 + 29] == b" GMT"
        {
            out.extend_from_slice(b"\r\nDate: <DATE>");
            i = v + 2 + 29;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// In an access-log line: `[21/Nov/2026:14:37:01 +0000]` → `[<TIME>]` and every `N.NNN`
/// number (`$msec`, `$request_time`, `$upstream_*_time`) → `<T>`.
pub fn normalise_times(b: &[u8]) -> Vec<u8> {
    let digits = |from: usize| {
        b[from.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'['
            && b.len() >= i + 28
            && b[i + 27] == b']'
            && b[i + 3] == b'/'
            && b[i + 7] == b'/'
            && b[i + 12] == b':'
        {
            out.extend_from_slice(b"[<TIME>]");
            i += 28;
            continue;
        }
        if b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_digit() || b[i - 1] == b'.')) {
            let j = i + digits(i);
            if b.get(j) == Some(&b'.') && digits(j + 1) == 3 && b.get(j + 4) != Some(&b'.') {
                out.extend_from_slice(b"<T>");
                i = j + 4;
            } else {
                out.extend_from_slice(&b[i..j]);
                i = j;
            }
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

// ==========================================================================================
// Coverage
// ==========================================================================================

pub fn rule_key(r: &str) -> Vec<u32> {
    r.trim_start_matches('S')
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

pub fn coverage_table(suites: &[Suite]) -> BTreeMap<Vec<u32>, (String, usize)> {
    let mut t: BTreeMap<Vec<u32>, (String, usize)> = BTreeMap::new();
    for s in suites {
        for c in &s.cases {
            for r in c.rules {
                t.entry(rule_key(r)).or_insert_with(|| (r.to_string(), 0)).1 += 1;
            }
        }
    }
    t
}

pub fn print_coverage(suites: &[Suite]) {
    let t = coverage_table(suites);
    let cells: Vec<String> = t.values().map(|(r, n)| format!("{r}: {n}")).collect();
    println!("rule coverage (rule: cases): {}", cells.join(", "));
}

// ==========================================================================================
// Shared expectations
// ==========================================================================================

/// An nginx-generated HTML page (Appendix A): `title` in `<title>`, `h1` in `<h1>`, an optional
/// extra `<center>` line, the footer with or without the version.
pub fn page(title: &str, h1: &str, extra: Option<&str>, tokens: bool) -> String {
    let extra = extra.map_or(String::new(), |e| format!("<center>{e}</center>\r\n"));
    let ver = if tokens { "nginx/1.22.1" } else { "nginx" };
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{h1}</h1></center>\r\n\
         {extra}<hr><center>{ver}</center>\r\n</body>\r\n</html>\r\n"
    )
}

/// The standard error page for `status` (e.g. `"502 Bad Gateway"`), server_tokens on.
pub fn err_page(status: &str) -> String {
    page(status, status, None, true)
}

/// `text` with the `Date:` value replaced by `<DATE>`.
pub fn undated(text: &str) -> String {
    String::from_utf8_lossy(&normalise_dates(text.as_bytes())).into_owned()
}

/// Asserts that the client of connection 0 read exactly `want` (Date normalised).
pub fn assert_bytes(o: &Outcome, want: &str) {
    assert_eq!(
        undated(&o.text()),
        want,
        "\n got: {}\nwant: {}",
        escape(o.text().as_bytes()),
        escape(want.as_bytes())
    );
}
