//! The servers of `bench-load`'s noVNC-shaped modes (`load_vnc.rs`): the raw TCP "VNC server"
//! that websockify and `websockify_pass` bridge to (`vnc-target`), and the WebSocket server a
//! proxied WebSocket reaches (`ws-vnc-upstream`). Both send the banner first and answer every
//! input event with the answer's updates, each its own write (TCP_NODELAY), as a VNC server
//! sends rectangles; the WebSocket one makes each update one binary message.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::super::{accept_key, err, read_head};
use super::{pattern, Answer, Events, BANNER, PERIOD};

/// The raw target (`ws` false) or the WebSocket upstream (`ws` true).
pub async fn serve(listen: SocketAddr, a: Answer, ws: bool) -> Result<(), String> {
    a.validate()?;
    let l = TcpListener::bind(listen)
        .await
        .map_err(err(format_args!("bind {listen}")))?;
    let pat = pattern(a.max_update);
    loop {
        let (s, _) = match l.accept().await {
            Ok(x) => x,
            // Out of descriptors or the like: leave the backlog alone for a moment.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let pat = pat.clone();
        tokio::task::spawn_local(async move {
            let r = if ws {
                ws_conn(s, a, &pat).await
            } else {
                raw_conn(s, a, &pat).await
            };
            // A peer going away is how every session ends; anything else is worth a line in
            // the server's log.
            if let Err(Failure::Protocol(e)) = r {
                eprintln!("bench-load: session: {e}");
            }
        });
    }
}

enum Failure {
    Io,
    Protocol(String),
}

impl From<std::io::Error> for Failure {
    fn from(_: std::io::Error) -> Failure {
        Failure::Io
    }
}

async fn raw_conn(mut s: TcpStream, a: Answer, pat: &[u8]) -> Result<(), Failure> {
    let _ = s.set_nodelay(true);
    s.write_all(BANNER).await?;
    let (mut events, mut seeds, mut buf) = (Events::default(), Vec::new(), [0u8; 4096]);
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        events
            .feed(&buf[..n], &mut seeds)
            .map_err(Failure::Protocol)?;
        for seed in seeds.drain(..) {
            let mut at = 0;
            for i in 0..a.updates {
                let size = a.size(seed, i);
                s.write_all(&pat[at % PERIOD..][..size]).await?;
                at += size;
            }
        }
    }
}

async fn ws_conn(mut s: TcpStream, a: Answer, pat: &[u8]) -> Result<(), Failure> {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let len = read_head(&mut s, &mut buf)
        .await
        .map_err(Failure::Protocol)?;
    let head = String::from_utf8_lossy(&buf[..len]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let Some(key) = header("sec-websocket-key") else {
        s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await?;
        return Ok(());
    };
    // As websockify: binary when the client offers it.
    let binary = header("sec-websocket-protocol")
        .is_some_and(|v| v.split(',').any(|p| p.trim() == "binary"));
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{}\r\n",
        accept_key(&key),
        if binary {
            "Sec-WebSocket-Protocol: binary\r\n"
        } else {
            ""
        }
    );
    s.write_all(answer.as_bytes()).await?;
    buf.drain(..len);
    let mut out = Vec::with_capacity(4 + a.max_update);
    server_frame(&mut out, 0x82, BANNER);
    s.write_all(&out).await?;
    let (mut events, mut seeds) = (Events::default(), Vec::new());
    loop {
        let mut at = 0;
        while let Some(f) = parse_client_frame(&mut buf[at..]).map_err(Failure::Protocol)? {
            let payload = &buf[at + f.payload.start..at + f.payload.end];
            match f.opcode {
                0x0..=0x2 => events
                    .feed(payload, &mut seeds)
                    .map_err(Failure::Protocol)?,
                0x8 => {
                    server_frame(&mut out, 0x88, payload);
                    s.write_all(&out).await?;
                    return Ok(());
                }
                0x9 => {
                    server_frame(&mut out, 0x8a, payload);
                    s.write_all(&out).await?;
                }
                _ => {}
            }
            at += f.len;
        }
        buf.drain(..at);
        for seed in seeds.drain(..) {
            let mut off = 0;
            for i in 0..a.updates {
                let size = a.size(seed, i);
                server_frame(&mut out, 0x82, &pat[off % PERIOD..][..size]);
                s.write_all(&out).await?;
                off += size;
            }
        }
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(4096);
        }
        if s.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// `out` becomes one unmasked frame (first byte `b0`) carrying `payload` (< 64 KiB).
fn server_frame(out: &mut Vec<u8>, b0: u8, payload: &[u8]) {
    out.clear();
    out.push(b0);
    if payload.len() < 126 {
        out.push(payload.len() as u8);
    } else {
        out.push(126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

struct ClientFrame {
    len: usize,
    opcode: u8,
    payload: std::ops::Range<usize>,
}

/// If `buf` starts with a complete client frame, unmasks its payload in place.
fn parse_client_frame(buf: &mut [u8]) -> Result<Option<ClientFrame>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let (len, at) = match b1 & 0x7f {
        127 => return Err("a 64-bit frame length from an input-event client".into()),
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        126 => return Ok(None),
        n => (usize::from(n), 2),
    };
    if b1 & 0x80 == 0 {
        return Err("an unmasked frame from the client".into());
    }
    if buf.len() < at + 4 + len {
        return Ok(None);
    }
    let key = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    let payload = at + 4..at + 4 + len;
    for (i, b) in buf[payload.clone()].iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    Ok(Some(ClientFrame {
        len: at + 4 + len,
        opcode: b0 & 0x0f,
        payload,
    }))
}
