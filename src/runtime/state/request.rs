//! One request's state while it is served (nginx's `ngx_http_request_t`): the parsed head,
//! the server and location configuration that apply, the current `$uri` (internal redirects
//! change it), regex captures, the `map` cache, what was sent, and the upstream variables.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use super::body::BodyReader;
use super::captures::Captures;
use super::conn::ConnInfo;
use super::outcome::Next;
use super::response::HeadersOut;
use super::snapshot::Snapshot;
use super::upgraded::Upgraded;
use super::upstream::UpstreamState;
use crate::ir::location::LocConf;
use crate::ir::server::AddrConf;
use crate::ir::{Server, ServerId};
use crate::runtime::base::deflate;
use crate::runtime::base::http1::request::{Method, RequestHead};

/// nginx's `NGX_HTTP_MAX_URI_CHANGES + 1`: internal redirects allowed per request.
pub const URI_CHANGES: u8 = 11;

/// A cached `map` value (S8.5).
#[derive(Clone, Debug, Default)]
pub enum MapSlot {
    #[default]
    Unset,
    /// Being evaluated: reading it again is a cycle.
    Busy,
    Value(Option<Vec<u8>>),
}

/// Response bookkeeping used by the log and `$sent_http_*`.
#[derive(Debug, Default)]
pub struct Sent {
    /// The status sent (0 before any response).
    pub status: u16,
    pub header_bytes: u64,
    pub body_bytes: u64,
    /// `100 Continue` bytes: nginx counts them in `$body_bytes_sent` and `$bytes_sent`.
    pub interim: u64,
    /// The response head as sent, for `$sent_http_*`.
    pub head: Option<Bytes>,
    /// The response ended early (client or upstream fault): `$request_completion` is empty.
    pub incomplete: bool,
}

pub struct Request {
    pub snap: Arc<Snapshot>,
    pub conn: Arc<ConnInfo>,
    pub head: Box<RequestHead>,
    /// `$connection_requests`.
    pub conn_requests: u64,
    pub start: Instant,
    pub start_wall: SystemTime,
    pub server_id: ServerId,
    /// The method as processing sees it: `error_page` redirects turn it into GET.
    pub method: Method,
    pub method_get: bool,
    /// `$uri`.
    pub uri: Vec<u8>,
    /// `$args` (raw), changed by internal redirects with a query.
    pub args: Option<Bytes>,
    /// The URI was changed by an internal redirect (proxy_pass then sends `$uri`).
    pub uri_changed: bool,
    /// A rewrite changed `$uri` and the location must be searched again (nginx's
    /// `r->uri_changed`).
    pub uri_research: bool,
    /// `rewrite ... break` left the location without its name matching `$uri`: `proxy_pass`
    /// then sends `$uri` whole (nginx's `r->valid_location`).
    pub valid_location: bool,
    /// Values of the variables `set` assigned, by index.
    pub set_vars: Vec<Option<Bytes>>,
    /// Set after an internal redirect or named location: `internal` locations are reachable.
    pub internal: bool,
    pub uri_changes: u8,
    /// An `error_page` was already used (without `recursive_error_pages`).
    pub error_page: bool,
    /// The status an `error_page` imposes on the final response (nginx's `err_status`).
    pub err_status: Option<u16>,
    /// `$host`: the normalised host, or the server's name.
    pub host: Bytes,
    /// The request named a host (nginx's `headers_in.server` is not empty).
    pub has_host: bool,
    pub conf: Arc<LocConf>,
    /// The numbered captures of the last regex that matched (`$1`..`$9`).
    pub captures: Option<Captures>,
    /// Named captures: nginx stores them as variables when their regex matches, and they keep
    /// their values after later matches of other regexes.
    pub named_captures: Vec<(Arc<str>, Bytes)>,
    pub maps: Vec<MapSlot>,
    pub keepalive: bool,
    pub lingering_close: bool,
    /// `Expect: 100-continue` was answered (or must not be).
    pub expect_tested: bool,
    pub upstream: UpstreamState,
    pub sent: Sent,
    /// `$request_length`: head plus body bytes read.
    pub request_length: u64,
    /// The request body was read (or discarded) completely.
    pub body_done: bool,
    /// The body's reader while it is read or discarded in stages.
    pub body_reader: Option<BodyReader>,
    /// The response being built (nginx's `headers_out`): a `Location` set before an error
    /// page, headers an `X-Accel-Redirect` keeps.
    pub out: HeadersOut,
    /// The request was already buffered when the previous one finished (`$pipe`).
    pub pipelined: bool,
    /// `try_files` in a regex location with `alias`: the URI is appended to the alias.
    pub add_uri_to_alias: bool,
    /// A header filter finalized the request with an error (nginx's `r->filter_finalize`,
    /// a failed `If-Match`): the connection closes once that response is sent.
    pub filter_finalize: bool,
    /// Set when the upstream switched protocols: the connection becomes a tunnel once the
    /// request's pipeline has returned.
    pub upgraded: Option<Box<Upgraded>>,
    /// The gzip filter's compressor, when this response is compressed (set with the head;
    /// the body writer takes it).
    pub gzip: Option<Box<deflate::Encoder>>,
    /// nginx's `r->gzip_vary`: `Vary: Accept-Encoding` goes into the head.
    pub gzip_vary: bool,
}

impl Request {
    /// Records a successful regex match: its numbered groups replace the previous ones, its
    /// named groups set their variables (`ngx_http_regex_exec`).
    pub fn matched(&mut self, caps: Captures) {
        if let Some(names) = caps.names.clone() {
            for (i, n) in names.iter().enumerate() {
                let Some(n) = n else { continue };
                let v = Bytes::copy_from_slice(caps.numbered(i).unwrap_or_default());
                match self.named_captures.iter_mut().find(|(k, _)| k == n) {
                    Some(slot) => slot.1 = v,
                    None => self.named_captures.push((n.clone(), v)),
                }
            }
        }
        self.captures = Some(caps);
    }

    pub fn server(&self) -> &Server {
        &self.snap.http().servers[self.server_id.0 as usize]
    }

    pub fn addr_conf(&self) -> &AddrConf {
        &self.snap.http().sockets[self.conn.socket].addrs[self.conn.addr]
    }

    pub fn is_head(&self) -> bool {
        self.method == Method::Head
    }

    /// `$request_uri` bytes.
    pub fn request_uri(&self) -> &[u8] {
        self.head.request_uri()
    }

    pub fn args(&self) -> &[u8] {
        self.args.as_deref().unwrap_or(b"")
    }

    /// The status the log reports (`$status`): an `error_page`'s status, as nginx's
    /// `r->err_status`, even when a filter then changed the response's (`error_page 404 =200`
    /// with a `Range` logs 200 for a 206), else the status sent.
    pub fn log_status(&self) -> u16 {
        if self.sent.status != 0 {
            self.err_status.unwrap_or(self.sent.status)
        } else if self.head.http09 {
            9
        } else {
            0
        }
    }

    /// `request: "..."` part of error-log lines.
    pub fn request_line(&self) -> &[u8] {
        &self.head.buf[self.head.request_line.clone()]
    }

    /// `ngx_http_update_location_config`: keep-alive as the location allows (S9, S13.4).
    pub fn update_location_config(&mut self) {
        if self.keepalive {
            let conf = &self.conf;
            if conf.keepalive_timeout.is_zero()
                || self.conn_requests >= conf.keepalive_requests as u64
                || self.conn.accepted.elapsed() > conf.keepalive_time
                || (self.head.browser.msie6 && self.head.method == Method::Post)
            {
                self.keepalive = false;
            }
        }
    }

    /// Ends the request with no response (nginx's 444, 408, 499: `NGX_HTTP_CLOSE` and its
    /// kin) and closes the connection.
    pub fn close_with(&mut self, code: u16) -> Next {
        self.keepalive = false;
        self.sent.status = code;
        self.sent.incomplete = true;
        Next::Done
    }

    /// `ngx_http_set_content_type`: by the extension of `$uri`, else `default_type` (the
    /// charset filter adds the charset later).
    pub fn content_type(&self, conf: &LocConf) -> Bytes {
        let ext = exten(&self.uri);
        let t: &[u8] = if ext.is_empty() {
            &conf.default_type
        } else {
            let lower = ext.to_ascii_lowercase();
            conf.types
                .by_extension
                .get(&lower[..])
                .map(|t| &t[..])
                .unwrap_or(&conf.default_type)
        };
        Bytes::copy_from_slice(t)
    }
}

/// nginx's `r->exten` (`ngx_http_set_exten`): what follows the last `.` of the last path
/// segment, unless that dot starts the segment (`/.htaccess` has none).
pub fn exten(uri: &[u8]) -> &[u8] {
    for i in (2..uri.len()).rev() {
        if uri[i] == b'.' && uri[i - 1] != b'/' {
            return &uri[i + 1..];
        }
        if uri[i] == b'/' {
            break;
        }
    }
    b""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_follow_ngx_http_set_exten() {
        assert_eq!(exten(b"/a/b.HTML"), b"HTML");
        assert_eq!(exten(b"/a.d/b"), b"");
        assert_eq!(exten(b"/a/b.tar.gz"), b"gz");
        assert_eq!(exten(b"/"), b"");
        assert_eq!(exten(b"/.htaccess"), b"");
        assert_eq!(exten(b"/a/.x.txt"), b"txt");
        assert_eq!(exten(b"/a."), b"");
    }
}
