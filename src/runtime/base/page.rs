//! nginx's own status lines and error pages (S13.1, S13.5, Appendix A): the reason phrases
//! of `ngx_http_header_filter_module.c` and the pages of `ngx_http_special_response.c`,
//! byte for byte, with the `server_tokens` footer and the MSIE/Chrome padding.

use crate::ir::location::ServerTokens;

/// The reason phrase nginx prints after a status code it generates, or `None` for codes
/// outside its table (printed as `NNN ` with a trailing space).
pub fn reason(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => return None,
    })
}

/// Appends `HTTP/1.1 NNN Reason\r\n` for a status nginx generates.
pub fn status_line(status: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_status(status, out);
    out.push(b' ');
    if let Some(r) = reason(status) {
        out.extend_from_slice(r.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn push_status(status: u16, out: &mut Vec<u8>) {
    // nginx prints "%03ui": always three digits.
    let s = status.min(999);
    out.extend_from_slice(&[
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]);
}

/// nginx's internal codes that are sent as another status (S13.4): 494–497 go out as 400,
/// 498 with the 404 page.
pub fn wire_status(status: u16) -> u16 {
    match status {
        494..=497 => 400,
        _ => status,
    }
}

/// The title/heading part of an error page (without the footer), or `None` for codes nginx
/// answers with an empty body (`Content-Length: 0`).
fn body(status: u16) -> Option<&'static str> {
    macro_rules! page {
        ($t:literal) => {
            concat!(
                "<html>\r\n<head><title>",
                $t,
                "</title></head>\r\n<body>\r\n<center><h1>",
                $t,
                "</h1></center>\r\n"
            )
        };
        ($t:literal, $h:literal, $extra:literal) => {
            concat!(
                "<html>\r\n<head><title>",
                $t,
                "</title></head>\r\n<body>\r\n<center><h1>",
                $h,
                "</h1></center>\r\n<center>",
                $extra,
                "</center>\r\n"
            )
        };
    }
    Some(match status {
        301 => page!("301 Moved Permanently"),
        302 => page!("302 Found"),
        303 => page!("303 See Other"),
        307 => page!("307 Temporary Redirect"),
        308 => page!("308 Permanent Redirect"),
        400 => page!("400 Bad Request"),
        401 => page!("401 Authorization Required"),
        402 => page!("402 Payment Required"),
        403 => page!("403 Forbidden"),
        404 | 498 => page!("404 Not Found"),
        405 => page!("405 Not Allowed"),
        406 => page!("406 Not Acceptable"),
        408 => page!("408 Request Time-out"),
        409 => page!("409 Conflict"),
        410 => page!("410 Gone"),
        411 => page!("411 Length Required"),
        412 => page!("412 Precondition Failed"),
        413 => page!("413 Request Entity Too Large"),
        414 => page!("414 Request-URI Too Large"),
        415 => page!("415 Unsupported Media Type"),
        416 => page!("416 Requested Range Not Satisfiable"),
        421 => page!("421 Misdirected Request"),
        429 => page!("429 Too Many Requests"),
        494 => page!(
            "400 Request Header Or Cookie Too Large",
            "400 Bad Request",
            "Request Header Or Cookie Too Large"
        ),
        495 => page!(
            "400 The SSL certificate error",
            "400 Bad Request",
            "The SSL certificate error"
        ),
        496 => page!(
            "400 No required SSL certificate was sent",
            "400 Bad Request",
            "No required SSL certificate was sent"
        ),
        497 => page!(
            "400 The plain HTTP request was sent to HTTPS port",
            "400 Bad Request",
            "The plain HTTP request was sent to HTTPS port"
        ),
        500 => page!("500 Internal Server Error"),
        501 => page!("501 Not Implemented"),
        502 => page!("502 Bad Gateway"),
        503 => page!("503 Service Temporarily Unavailable"),
        504 => page!("504 Gateway Time-out"),
        505 => page!("505 HTTP Version Not Supported"),
        507 => page!("507 Insufficient Storage"),
        _ => return None,
    })
}

const TAIL_FULL: &str = concat!(
    "<hr><center>nginx/",
    "1.22.1",
    "</center>\r\n</body>\r\n</html>\r\n"
);
const TAIL: &str = "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const PADDING_LINE: &str = "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n";

/// The body nginx sends for `status`: `None` when it sends none (204, unknown codes). With
/// `padding`, 4xx/5xx pages get the six MSIE/Chrome padding lines.
pub fn error_page(status: u16, tokens: ServerTokens, padding: bool) -> Option<Vec<u8>> {
    let head = body(status)?;
    let tail = match tokens {
        ServerTokens::On | ServerTokens::Build => TAIL_FULL,
        ServerTokens::Off => TAIL,
    };
    let pad = padding && status >= 400;
    let mut out =
        Vec::with_capacity(head.len() + tail.len() + if pad { 6 * PADDING_LINE.len() } else { 0 });
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(tail.as_bytes());
    if pad {
        for _ in 0..6 {
            out.extend_from_slice(PADDING_LINE.as_bytes());
        }
    }
    Some(out)
}

/// `Server:` header line.
pub fn server_header(tokens: ServerTokens) -> &'static [u8] {
    match tokens {
        ServerTokens::On | ServerTokens::Build => b"Server: nginx/1.22.1\r\n",
        ServerTokens::Off => b"Server: nginx\r\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appendix A's Content-Length table (`on` / `off`).
    #[test]
    fn appendix_a_lengths() {
        let table: &[(u16, usize, usize)] = &[
            (301, 169, 162),
            (302, 145, 138),
            (400, 157, 150),
            (403, 153, 146),
            (404, 153, 146),
            (405, 157, 150),
            (413, 183, 176),
            (414, 177, 170),
            (429, 169, 162),
            (500, 177, 170),
            (501, 165, 158),
            (502, 157, 150),
            (503, 197, 190),
            (504, 167, 160),
            (494, 233, 226),
            (497, 255, 248),
        ];
        for &(code, on, off) in table {
            assert_eq!(
                error_page(code, ServerTokens::On, false).unwrap().len(),
                on,
                "{code} on"
            );
            assert_eq!(
                error_page(code, ServerTokens::Off, false).unwrap().len(),
                off,
                "{code} off"
            );
        }
        // S13.5: padding adds 402 bytes to 4xx/5xx, never to 3xx.
        assert_eq!(error_page(404, ServerTokens::On, true).unwrap().len(), 555);
        assert_eq!(error_page(502, ServerTokens::Off, true).unwrap().len(), 552);
        assert_eq!(error_page(301, ServerTokens::On, true).unwrap().len(), 169);
        assert!(error_page(418, ServerTokens::On, false).is_none());
        assert!(error_page(204, ServerTokens::On, false).is_none());
    }

    #[test]
    fn status_lines_follow_s13_1() {
        let line = |s| {
            let mut v = Vec::new();
            status_line(s, &mut v);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(line(302), "HTTP/1.1 302 Moved Temporarily\r\n");
        assert_eq!(line(418), "HTTP/1.1 418 \r\n");
        assert_eq!(line(405), "HTTP/1.1 405 Not Allowed\r\n");
        assert_eq!(line(99), "HTTP/1.1 099 \r\n");
    }

    #[test]
    fn exact_502_page() {
        let p = error_page(502, ServerTokens::On, false).unwrap();
        assert_eq!(
            p,
            b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
        );
    }
}
