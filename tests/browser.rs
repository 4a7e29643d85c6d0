//! The noVNC deployment end to end, in a real browser (issue 4): Debian's chromium, headless
//! and driven through chromedriver (WebDriver, by `fantoccini`), opens noVNC's page through the
//! proxy under test, and the test decides by itself that noVNC reached the VNC desktop.
//!
//! Shared by every variant, all on loopback or unix sockets, all stopped by pid at the end
//! (each in a process group of its own, so what it started goes too; guards stop them on a
//! panic):
//! - TigerVNC's `Xvnc` on the first free display (`-displayfd`), no authentication
//!   (`-SecurityTypes None`), its RFB port only a unix socket in a temporary directory;
//!   `xsetroot` paints its root window one known colour ([`DESKTOP`]);
//! - `websockify --web /usr/share/novnc` (Debian's noVNC 1.3.0) bridging to that socket, on a
//!   loopback port the test bound itself (port 0) and hands over as its stdin (`--inetd`);
//! - `chromedriver --port=0` and one headless chromium session.
//!
//! Each variant starts the proxy on fresh loopback ports with one configuration, loads noVNC
//! through it and passes when noVNC says it is connected (`vnc_lite.html`'s status line, or the
//! `noVNC_connected` class of the full `vnc.html`) and a pixel read from noVNC's canvas
//! (`getImageData`) has the desktop's colour, at the desktop's size:
//! - `wiki-http`: the noVNC wiki's configuration (`../shared/seeds/configs/wiki-http.conf`):
//!   `vnc.html` under `/vncws/` (served by websockify's web server) with its WebSocket at
//!   `/websockify`, then `vnc_lite.html` with the WebSocket through `/vncws/` as well;
//! - `wiki-https`: the wiki's `listen 443 ssl` variant with the test certificate; the page is
//!   https, so noVNC connects with `wss` (chromium refuses `ws` from an https page);
//! - `guide-map`: the guide's `map $http_upgrade $connection_upgrade` and one `location /`;
//! - `static`: the proxy serves `/usr/share/novnc` itself (`root`, Debian's `mime.types`: the
//!   page is ES modules, which chromium runs only with a JavaScript type) and proxies only
//!   `/websockify`;
//! - `https-http2`: the same with `listen ... ssl http2`: the page over HTTP/2, `wss` over
//!   HTTP/1.1 (S12.7);
//! - `redirect`: an http server whose `return 301 https://...` sends the browser to the https
//!   server, where noVNC connects with `wss`;
//! - `idle-traffic` and `idle-timeout`: `proxy_read_timeout` of [`IDLE`]: pointer moves sent
//!   through WebDriver every half second keep the session connected beyond twice the timeout;
//!   without traffic noVNC ends up disconnected after it.
//!
//! The seed configurations are used unchanged apart from the listen addresses, the upstream
//! address and the certificate paths; each substitution is asserted to have happened.
//!
//! Run: `cargo test --test browser` (the Debian packages tests/run.sh installs are required:
//! tigervnc-standalone-server, x11-xserver-utils, websockify, novnc, chromium,
//! chromium-driver; a missing one is a failure, never a skip). `RGINX_E2E_PROXY=/usr/sbin/nginx`
//! runs the same variants under the real nginx instead of rginx, which is how the harness
//! itself is checked. Every variant runs even when an earlier one failed; the test prints one
//! line per variant and fails if any failed. A failed variant leaves a screenshot in the
//! temporary directory (named in the failure).

mod common;

use common::upstream::free_port;
use common::{rginx, Prefix};

use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::Deserialize;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Debian's noVNC.
const NOVNC: &str = "/usr/share/novnc";
/// Debian's nginx `mime.types` (installed with nginx, which tests/run.sh installs).
const MIME_TYPES: &str = "/etc/nginx/mime.types";
/// The VNC desktop: its size and the colour of its root window (`seagreen`).
const WIDTH: u64 = 320;
const HEIGHT: u64 = 240;
const DESKTOP: [u8; 3] = [0x2e, 0x8b, 0x57];
/// `proxy_read_timeout` of the idle variants.
const IDLE: Duration = Duration::from_secs(2);
/// How long noVNC gets to connect and draw the desktop.
const CONNECT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "current_thread")]
async fn novnc_through_the_proxy() {
    let started = Instant::now();
    let program = match std::env::var_os("RGINX_E2E_PROXY") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => rginx(),
    };
    assert!(program.exists(), "no proxy at {}", program.display());
    let dir = tempfile::Builder::new()
        .prefix("rginx-browser")
        .tempdir()
        .expect("tempdir");
    let tls = dir.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(
        tls.join("cert.pem"),
        include_bytes!("../fixtures/tls/ecdsa.pem"),
    )
    .unwrap();
    std::fs::write(
        tls.join("key.pem"),
        include_bytes!("../fixtures/tls/ecdsa.key"),
    )
    .unwrap();

    // Declared in this order so that a panic drops the browser first, then websockify, then
    // the desktop: every connection is closed by its client before its server goes.
    let desktop = Desktop::start(dir.path());
    let websockify = Websockify::start(dir.path(), &desktop.rfb);
    let browser = Browser::start(dir.path()).await;
    let ctx = Ctx {
        client: &browser.client,
        program: &program,
        ws: websockify.port,
        cert: tls.join("cert.pem"),
        key: tls.join("key.pem"),
    };
    eprintln!(
        "browser test: proxy {}, display {}, websockify on 127.0.0.1:{}, ready after {:.1} s",
        program.display(),
        desktop.display,
        websockify.port,
        started.elapsed().as_secs_f64()
    );

    let mut results: Vec<(&str, Result<(), String>)> = Vec::new();
    macro_rules! variant {
        ($name:literal, $f:ident) => {{
            let t = Instant::now();
            let r = $f(&ctx).await;
            eprintln!(
                "  {:<13} {} ({:.1} s)",
                $name,
                if r.is_ok() { "pass" } else { "FAIL" },
                t.elapsed().as_secs_f64()
            );
            results.push(($name, r));
        }};
    }
    variant!("wiki-http", wiki_http);
    variant!("wiki-https", wiki_https);
    variant!("https-http2", https_http2);
    variant!("guide-map", guide_map);
    variant!("static", static_files);
    variant!("redirect", redirect);
    variant!("idle-traffic", idle_traffic);
    variant!("idle-timeout", idle_timeout);

    browser.close().await;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("--- {name}:\n{e}")))
        .collect();
    eprintln!(
        "browser test: {} of {} variants passed under {} in {:.1} s",
        results.len() - failed.len(),
        results.len(),
        program.display(),
        started.elapsed().as_secs_f64()
    );
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

// ==========================================================================================
// Variants
// ==========================================================================================

/// The wiki's http configuration: the pages under `/vncws/`, served by websockify's own web
/// server through the proxy.
async fn wiki_http(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = port();
    let conf = seed(
        "wiki-http.conf",
        &[
            ("listen 80;", format!("listen 127.0.0.1:{p};")),
            (
                "server 127.0.0.1:6080;",
                format!("server 127.0.0.1:{};", ctx.ws),
            ),
        ],
    );
    let proxy = ctx.proxy(&conf, &[p])?;
    proxy
        .check(ctx, "wiki-http", async {
            // The address the wiki gives; the WebSocket at noVNC's default path
            // `websockify`, i.e. location /websockify.
            let url = format!("http://127.0.0.1:{p}/vncws/vnc.html?autoconnect=true");
            ctx.connect(&url, "http://").await?;
            // The WebSocket through location /vncws/ (upstream path /websockify).
            let url = format!("http://127.0.0.1:{p}/vncws/vnc_lite.html?path=vncws/websockify");
            ctx.connect(&url, "http://").await
        })
        .await
}

/// The wiki's https configuration with the test certificate: `wss` to `/websockify`.
async fn wiki_https(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = port();
    let conf = seed(
        "wiki-https.conf",
        &[
            ("listen 443 ssl;", format!("listen 127.0.0.1:{p} ssl;")),
            (
                "server 127.0.0.1:6080;",
                format!("server 127.0.0.1:{};", ctx.ws),
            ),
            (
                "/etc/ssl/www.example.com.fullchain.pem",
                ctx.cert.display().to_string(),
            ),
            (
                "/etc/ssl/private/www.example.com.key",
                ctx.key.display().to_string(),
            ),
        ],
    );
    let proxy = ctx.proxy(&conf, &[p])?;
    proxy
        .check(ctx, "wiki-https", async {
            let url = format!("https://127.0.0.1:{p}/vncws/vnc_lite.html");
            ctx.connect(&url, "https://").await
        })
        .await
}

/// The wiki's https configuration with `listen ... ssl http2` (S12.7): the page comes over
/// HTTP/2 (checked with the navigation's `nextHopProtocol`), the WebSocket over HTTP/1.1.
async fn https_http2(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = port();
    let conf = seed(
        "wiki-https.conf",
        &[
            (
                "listen 443 ssl;",
                format!("listen 127.0.0.1:{p} ssl http2;"),
            ),
            (
                "server 127.0.0.1:6080;",
                format!("server 127.0.0.1:{};", ctx.ws),
            ),
            (
                "/etc/ssl/www.example.com.fullchain.pem",
                ctx.cert.display().to_string(),
            ),
            (
                "/etc/ssl/private/www.example.com.key",
                ctx.key.display().to_string(),
            ),
        ],
    );
    let proxy = ctx.proxy(&conf, &[p])?;
    proxy
        .check(ctx, "https-http2", async {
            let url = format!("https://127.0.0.1:{p}/vncws/vnc_lite.html");
            ctx.connect(&url, "https://").await?;
            let proto = ctx
                .client
                .execute(
                    "return performance.getEntriesByType('navigation')[0].nextHopProtocol;",
                    vec![],
                )
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            if proto.as_str() != Some("h2") {
                return Err(format!("{url}: the page came over {proto}, not h2"));
            }
            Ok(())
        })
        .await
}

/// The guide's configuration: `map $http_upgrade $connection_upgrade` and a single
/// `location /` for the pages and the WebSocket alike.
async fn guide_map(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = port();
    let conf = seed(
        "guide-map.conf",
        &[
            ("listen 8080;", format!("listen 127.0.0.1:{p};")),
            (
                "proxy_pass http://127.0.0.1:6080/;",
                format!("proxy_pass http://127.0.0.1:{}/;", ctx.ws),
            ),
        ],
    );
    let proxy = ctx.proxy(&conf, &[p])?;
    proxy
        .check(ctx, "guide-map", async {
            let url = format!("http://127.0.0.1:{p}/vnc_lite.html");
            ctx.connect(&url, "http://").await
        })
        .await
}

/// The location every configuration of our own uses for the WebSocket, as the wiki writes it.
fn websockify_location(ws: u16, read_timeout: &str) -> String {
    format!(
        "location /websockify {{
            proxy_pass http://127.0.0.1:{ws};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection \"upgrade\";
            proxy_read_timeout {read_timeout};
            proxy_buffering off;
        }}"
    )
}

/// The proxy serves noVNC's files itself; only `/websockify` goes to websockify. The full
/// `vnc.html` loads its many modules, stylesheets and images from it.
async fn static_files(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = port();
    let conf = format!(
        "events {{}}
        http {{
            include {MIME_TYPES};
            server {{
                listen 127.0.0.1:{p};
                root {NOVNC};
                {}
            }}
        }}",
        websockify_location(ctx.ws, "61s")
    );
    let proxy = ctx.proxy(&conf, &[p])?;
    proxy
        .check(ctx, "static", async {
            let url = format!("http://127.0.0.1:{p}/vnc.html?autoconnect=true");
            ctx.connect(&url, "http://").await
        })
        .await
}

/// An http server that only redirects to the https one, as sites put in front of noVNC.
async fn redirect(ctx: &Ctx<'_>) -> Result<(), String> {
    let (h, s) = (port(), port());
    let conf = format!(
        "events {{}}
        http {{
            include {MIME_TYPES};
            server {{
                listen 127.0.0.1:{h};
                return 301 https://$host:{s}$request_uri;
            }}
            server {{
                listen 127.0.0.1:{s} ssl;
                ssl_certificate {};
                ssl_certificate_key {};
                root {NOVNC};
                {}
            }}
        }}",
        ctx.cert.display(),
        ctx.key.display(),
        websockify_location(ctx.ws, "61s")
    );
    let proxy = ctx.proxy(&conf, &[h, s])?;
    proxy
        .check(ctx, "redirect", async {
            let url = format!("http://127.0.0.1:{h}/vnc_lite.html");
            ctx.connect(&url, &format!("https://127.0.0.1:{s}/vnc_lite.html"))
                .await
        })
        .await
}

/// The idle variants' server: noVNC's files and `/websockify` with a `proxy_read_timeout` of
/// [`IDLE`]. Traffic in either direction re-arms that timer (S9.1), so a session with pointer
/// moves lives on and one without any traffic is cut.
fn idle_proxy(ctx: &Ctx<'_>) -> Result<(Proxy, String), String> {
    let p = port();
    let conf = format!(
        "events {{}}
        http {{
            include {MIME_TYPES};
            server {{
                listen 127.0.0.1:{p};
                root {NOVNC};
                {}
            }}
        }}",
        websockify_location(ctx.ws, &format!("{}s", IDLE.as_secs()))
    );
    let proxy = ctx.proxy(&conf, &[p])?;
    Ok((proxy, format!("http://127.0.0.1:{p}/vnc_lite.html")))
}

/// A pointer move over noVNC's canvas every half second, sent through WebDriver as a user's
/// mouse would, keeps the session connected for 2.5 timeouts.
async fn idle_traffic(ctx: &Ctx<'_>) -> Result<(), String> {
    let (proxy, url) = idle_proxy(ctx)?;
    proxy
        .check(ctx, "idle-traffic", async {
            ctx.connect(&url, "http://").await?;
            let canvas = ctx
                .client
                .find(Locator::Css("#screen canvas"))
                .await
                .map_err(|e| format!("no canvas: {e}"))?;
            let t = Instant::now();
            let mut x = 20.0;
            while t.elapsed() < IDLE * 5 / 2 {
                x = -x;
                let point = PointerAction::MoveToElement {
                    element: canvas.clone(),
                    duration: Some(Duration::ZERO),
                    x,
                    y: 0.0,
                };
                ctx.client
                    .perform_actions(MouseActions::new("mouse".into()).then(point))
                    .await
                    .map_err(|e| format!("pointer move: {e}"))?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                let s = ctx.probe().await?;
                if s.state != "connected" {
                    return Err(format!(
                        "with a pointer move every 0.5 s the session ended after {:.1} s \
                         (proxy_read_timeout {} s): {s:?}",
                        t.elapsed().as_secs_f64(),
                        IDLE.as_secs()
                    ));
                }
            }
            ctx.expect_desktop(&url).await
        })
        .await
}

/// A session left without traffic ends up disconnected once the timeout has run out.
async fn idle_timeout(ctx: &Ctx<'_>) -> Result<(), String> {
    let (proxy, url) = idle_proxy(ctx)?;
    proxy
        .check(ctx, "idle-timeout", async {
            ctx.connect(&url, "http://").await?;
            let t = Instant::now();
            let s = loop {
                let s = ctx.probe().await?;
                if s.state == "disconnected" {
                    break s;
                }
                if t.elapsed() > IDLE + Duration::from_secs(10) {
                    return Err(format!(
                        "still {} {:.1} s after connecting with no traffic \
                         (proxy_read_timeout {} s): {s:?}",
                        s.state,
                        t.elapsed().as_secs_f64(),
                        IDLE.as_secs()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            eprintln!(
                "    noVNC: {:?} {:.1} s after connecting",
                s.status,
                t.elapsed().as_secs_f64()
            );
            // Loose: the timer started at the last frame, a little before "connected" was seen.
            if t.elapsed() < IDLE / 2 {
                return Err(format!(
                    "disconnected after {:.1} s, before proxy_read_timeout {} s could have run out",
                    t.elapsed().as_secs_f64(),
                    IDLE.as_secs()
                ));
            }
            Ok(())
        })
        .await
}

// ==========================================================================================
// The browser side: loading a page, deciding
// ==========================================================================================

/// What the variants share.
struct Ctx<'a> {
    client: &'a Client,
    program: &'a Path,
    /// websockify's port.
    ws: u16,
    cert: PathBuf,
    key: PathBuf,
}

/// What a noVNC page shows, read by [`PROBE`].
#[derive(Debug, Deserialize)]
struct Probe {
    /// `pending`, `connected` or `disconnected`.
    state: String,
    status: String,
    size: Option<[u64; 2]>,
    pixel: Option<[u8; 4]>,
    href: String,
}

/// Reads noVNC's state from either page: `vnc_lite.html`'s `#status` line, or for `vnc.html`
/// the `noVNC_connected` class and the error class of its status box; and the pixel in the
/// middle of the canvas noVNC draws the remote framebuffer on (1:1, whatever the CSS scale).
const PROBE: &str = r#"
const lite = document.getElementById('status');
const full = document.getElementById('noVNC_status');
let state = 'pending', status = '';
if (lite) {
    status = lite.textContent;
    if (status.startsWith('Connected to ')) state = 'connected';
    else if (status === 'Disconnected' || status.startsWith('Something went wrong')) state = 'disconnected';
} else if (full) {
    status = full.textContent;
    if (document.documentElement.classList.contains('noVNC_connected')) state = 'connected';
    else if (full.classList.contains('noVNC_status_error')) state = 'disconnected';
}
const canvas = document.querySelector('#screen canvas, #noVNC_container canvas');
let size = null, pixel = null;
if (canvas && canvas.width > 0 && canvas.height > 0) {
    size = [canvas.width, canvas.height];
    const d = canvas.getContext('2d').getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data;
    pixel = [d[0], d[1], d[2], d[3]];
}
return {state, status, size, pixel, href: location.href};
"#;

impl Ctx<'_> {
    fn proxy(&self, conf: &str, listen: &[u16]) -> Result<Proxy, String> {
        Proxy::start(self.program, conf, listen)
    }

    async fn probe(&self) -> Result<Probe, String> {
        let v = self
            .client
            .execute(PROBE, vec![])
            .await
            .map_err(|e| format!("reading the page: {e}"))?;
        serde_json::from_value(v.clone()).map_err(|e| format!("probe {v}: {e}"))
    }

    /// Loads `url` and waits until noVNC is connected and shows the desktop; the page must
    /// have ended at an address starting with `lands`.
    async fn connect(&self, url: &str, lands: &str) -> Result<(), String> {
        self.client
            .goto(url)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        self.expect_desktop(url).await?;
        let s = self.probe().await?;
        if !s.href.starts_with(lands) {
            return Err(format!("{url}: ended at {}, not {lands}...", s.href));
        }
        Ok(())
    }

    async fn expect_desktop(&self, what: &str) -> Result<(), String> {
        let t = Instant::now();
        loop {
            let s = self.probe().await?;
            if s.state == "disconnected" {
                return Err(format!("{what}: noVNC disconnected: {s:?}"));
            }
            let want = [DESKTOP[0], DESKTOP[1], DESKTOP[2], 255];
            if s.state == "connected" && s.size == Some([WIDTH, HEIGHT]) && s.pixel == Some(want) {
                return Ok(());
            }
            if t.elapsed() > CONNECT {
                return Err(format!(
                    "{what}: after {} s noVNC is not connected to a {WIDTH}x{HEIGHT} desktop \
                     of colour {want:?}: {s:?}",
                    CONNECT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot for a failed variant; returns a line naming it.
    async fn screenshot(&self, name: &str) -> String {
        match self.client.screenshot().await {
            Ok(png) => {
                let proxy = self
                    .program
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy();
                let p = std::env::temp_dir().join(format!("browser-{proxy}-{name}.png"));
                match std::fs::write(&p, png) {
                    Ok(()) => format!("\nscreenshot: {}", p.display()),
                    Err(e) => format!("\nscreenshot not saved: {e}"),
                }
            }
            Err(e) => format!("\nno screenshot: {e}"),
        }
    }
}

/// A seed configuration with only `edits` applied; each edit must apply exactly once.
fn seed(name: &str, edits: &[(&str, String)]) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/seeds/configs")
        .join(name);
    let mut text =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("seed config {}: {e}", p.display()));
    for (from, to) in edits {
        assert_eq!(
            text.matches(from).count(),
            1,
            "{name}: {from:?} should occur exactly once"
        );
        text = text.replacen(from, to, 1);
    }
    text
}

fn port() -> u16 {
    free_port(IpAddr::V4(Ipv4Addr::LOCALHOST)).port()
}

// ==========================================================================================
// The processes
// ==========================================================================================

/// A process the test started, in a process group of its own; stopping it (drop) signals the
/// whole group: SIGTERM, then SIGKILL for whatever is left once the leader has exited or 3 s
/// have passed. The leader is reaped only after that, so the group's id cannot have been
/// reused by then.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with its stderr (and stdout, unless the caller set it) in `log`.
    fn spawn(name: &'static str, mut cmd: Command, log: PathBuf, stdout: Option<Stdio>) -> Proc {
        let file = File::create(&log).expect("log file");
        cmd.stderr(file.try_clone().unwrap())
            .stdout(stdout.unwrap_or_else(|| file.into()))
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run {name} ({:?}): {e}; tests/run.sh installs what this test needs",
                cmd.get_program()
            )
        });
        Proc { name, child, log }
    }

    fn log(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        format!(
            "{} output:\n{}",
            self.name,
            String::from_utf8_lossy(&text).trim_end()
        )
    }

    fn exited(&self) -> bool {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        !matches!(
            waitid(Id::Pid(self.pgid()), flags),
            Ok(WaitStatus::StillAlive)
        )
    }

    fn pgid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = killpg(self.pgid(), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while !self.exited() && Instant::now() < deadline {
            sleep(Duration::from_millis(10));
        }
        let _ = killpg(self.pgid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Xvnc with one solid colour, its RFB port a unix socket.
struct Desktop {
    _xvnc: Proc,
    display: String,
    rfb: PathBuf,
}

impl Desktop {
    fn start(dir: &Path) -> Desktop {
        let rfb = dir.join("rfb.sock");
        let mut cmd = Command::new("Xvnc");
        cmd.args(["-displayfd", "1", "-geometry"])
            .arg(format!("{WIDTH}x{HEIGHT}"))
            .args(["-depth", "24", "-SecurityTypes", "None", "-rfbport", "-1"])
            .args(["-nolisten", "tcp", "-desktop", "rginx-e2e", "-rfbunixpath"])
            .arg(&rfb)
            .stdin(Stdio::null());
        let mut xvnc = Proc::spawn("Xvnc", cmd, dir.join("xvnc.log"), Some(Stdio::piped()));
        // -displayfd: Xvnc writes the display number it took once it accepts clients, then
        // nothing more.
        let mut line = String::new();
        let _ = BufReader::new(xvnc.child.stdout.take().unwrap()).read_line(&mut line);
        let Ok(n) = line.trim().parse::<u32>() else {
            panic!("Xvnc gave no display number ({line:?}); {}", xvnc.log());
        };
        let display = format!(":{n}");
        assert!(
            rfb.exists(),
            "Xvnc made no {}; {}",
            rfb.display(),
            xvnc.log()
        );
        let colour = format!("#{:02x}{:02x}{:02x}", DESKTOP[0], DESKTOP[1], DESKTOP[2]);
        let out = Command::new("xsetroot")
            .args(["-display", &display, "-solid", &colour])
            .output()
            .expect("xsetroot (x11-xserver-utils; tests/run.sh installs it)");
        assert!(
            out.status.success(),
            "xsetroot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Desktop {
            _xvnc: xvnc,
            display,
            rfb,
        }
    }
}

/// websockify serving noVNC's files and bridging WebSockets to the desktop's socket.
struct Websockify {
    _proc: Proc,
    port: u16,
}

impl Websockify {
    fn start(dir: &Path, rfb: &Path) -> Websockify {
        // Bound here and handed over (`--inetd`: the listening socket is stdin), so the port
        // is never free for anyone else in between.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind websockify's port");
        let port = listener.local_addr().unwrap().port();
        let mut cmd = Command::new("websockify");
        cmd.args(["--inetd", "--web", NOVNC, "--unix-target"])
            .arg(rfb)
            .stdin(Stdio::from(OwnedFd::from(listener)));
        let proc = Proc::spawn("websockify", cmd, dir.join("websockify.log"), None);
        // The socket already listens: this waits until websockify answers.
        let head = http_head(port, "/vnc_lite.html");
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "websockify does not serve noVNC: {head:?}; {}",
            proc.log()
        );
        Websockify { _proc: proc, port }
    }
}

/// The head of `GET path` on 127.0.0.1:port (HTTP/1.0, so the server closes).
fn http_head(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.split("\r\n\r\n").next().unwrap_or("").to_string()
}

/// chromedriver and one headless chromium session.
struct Browser {
    client: Client,
    _driver: Proc,
}

impl Browser {
    async fn start(dir: &Path) -> Browser {
        let mut cmd = Command::new("chromedriver");
        // TMPDIR: what chromium leaves in its temporary directory goes with the test's.
        cmd.arg("--port=0").env("TMPDIR", dir).stdin(Stdio::null());
        let mut driver = Proc::spawn(
            "chromedriver",
            cmd,
            dir.join("chromedriver.log"),
            Some(Stdio::piped()),
        );
        // "ChromeDriver was started successfully on port N."
        let mut lines = BufReader::new(driver.child.stdout.take().unwrap()).lines();
        let port = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("chromedriver did not start; {}", driver.log());
            };
            if let Some(rest) = line.split(" on port ").nth(1) {
                if line.contains("started successfully") {
                    break rest.trim_end_matches('.').parse::<u16>().expect("port");
                }
            }
        };
        // Keep reading what it prints, so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let profile = dir.join("chromium-profile");
        let caps = serde_json::json!({
            "browserName": "chrome",
            // The test certificate is self-signed.
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "args": [
                    "--headless=new",
                    // Chromium's sandbox refuses to run as root (CI runs as root).
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--ignore-certificate-errors",
                    "--no-first-run",
                    "--window-size=800,600",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("no chromium session: {e}; {}", driver.log()));
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(20)),
                None,
            ))
            .await
            .expect("WebDriver timeouts");
        Browser {
            client,
            _driver: driver,
        }
    }

    /// Ends the session (chromedriver quits chromium), then stops chromedriver.
    async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// rginx (or `RGINX_E2E_PROXY`) serving one configuration, in the foreground.
struct Proxy {
    proc: Proc,
    prefix: Prefix,
}

impl Proxy {
    fn start(program: &Path, conf: &str, listen: &[u16]) -> Result<Proxy, String> {
        let prefix = Prefix::new();
        prefix.write("conf/nginx.conf", conf.as_bytes());
        let mut cmd = Command::new(program);
        cmd.arg("-p")
            .arg(prefix.arg())
            .arg("-c")
            .arg(prefix.conf())
            .arg("-g")
            .arg("daemon off; master_process off; pid logs/nginx.pid; error_log logs/error.log;")
            .stdin(Stdio::null());
        let log = prefix.path().join("proxy.out");
        let proxy = Proxy {
            proc: Proc::spawn("proxy", cmd, log, None),
            prefix,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for &p in listen {
            while TcpStream::connect(("127.0.0.1", p)).is_err() {
                if proxy.proc.exited() {
                    return Err(format!(
                        "{} exited before serving\nconfiguration:\n{conf}\n{}",
                        program.display(),
                        proxy.logs()
                    ));
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{} does not listen on 127.0.0.1:{p} after 10 s\n{}",
                        program.display(),
                        proxy.logs()
                    ));
                }
                sleep(Duration::from_millis(20));
            }
        }
        Ok(proxy)
    }

    /// Runs a variant's checks; a failure carries the proxy's logs and a screenshot taken
    /// while the proxy still runs.
    async fn check(
        &self,
        ctx: &Ctx<'_>,
        variant: &str,
        checks: impl std::future::Future<Output = Result<(), String>>,
    ) -> Result<(), String> {
        match checks.await {
            Ok(()) => Ok(()),
            Err(e) => Err(format!(
                "{e}\n{}{}",
                self.logs(),
                ctx.screenshot(variant).await
            )),
        }
    }

    fn logs(&self) -> String {
        let errors = std::fs::read(self.prefix.path().join("logs/error.log")).unwrap_or_default();
        format!(
            "{}\nerror.log:\n{}",
            self.proc.log(),
            String::from_utf8_lossy(&errors).trim_end()
        )
    }
}
