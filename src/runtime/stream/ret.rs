//! `return value` (`ngx_stream_return_module`): the value is written to the client and the
//! session ends. An empty value ends it at once. A write that stalls for 5 seconds (nginx's
//! fixed timer, re-armed whenever some of it goes) ends it with `connection timed out`, still
//! status 200; a write that fails ends it with 500.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::Phases;
use crate::ir::{Level, Template};
use crate::runtime::base::io::{self, Stream};
use crate::runtime::state::session::{status, Session};
use crate::runtime::vars::Eval;

/// nginx's timer on the `return` module's writes.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(mut client: Stream, s: &mut Session, value: &Template) -> Phases {
    let text = s.eval_vec(value);
    s.status = status::OK;
    let mut at = 0;
    while at < text.len() {
        match io::timed(WRITE_TIMEOUT, client.write(&text[at..])).await {
            Ok(Ok(n)) if n > 0 => {
                at += n;
                s.sent += n as u64;
            }
            Ok(Ok(_)) => return failed(client, s, std::io::ErrorKind::WriteZero.into()),
            Ok(Err(e)) => return failed(client, s, e),
            Err(_) => return timed_out(client, s),
        }
    }
    match io::timed(WRITE_TIMEOUT, client.flush()).await {
        Ok(Ok(())) => Phases::Done(client),
        Ok(Err(e)) => failed(client, s, e),
        Err(_) => timed_out(client, s),
    }
}

fn timed_out(client: Stream, s: &mut Session) -> Phases {
    s.error(
        Level::Info,
        format_args!("connection timed out (110: Connection timed out)"),
        Some("returning text"),
    );
    Phases::Done(client)
}

fn failed(client: Stream, s: &mut Session, e: std::io::Error) -> Phases {
    s.error(
        Level::Info,
        format_args!("writev() failed {}", io::errno_text(&e)),
        Some("returning text"),
    );
    s.status = status::INTERNAL_SERVER_ERROR;
    Phases::Done(client)
}
