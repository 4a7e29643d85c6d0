//! `ngx_http_validate_host` (S2.6): the one check and normalisation shared by the Host header
//! and the host of an absolute-form request target. It knows nothing of servers: choosing one
//! by the result is the caller's business.

/// S2.6: lowercases, cuts the port at the first `:` outside a leading `[...]`, keeps the
/// brackets, strips one trailing dot. `None` (nginx: 400) for `..`, `/`, a byte <= 0x20 or DEL
/// anywhere in the value (port included), or an empty result.
pub fn validate_host(host: &[u8]) -> Option<Vec<u8>> {
    #[derive(PartialEq, Eq)]
    enum S {
        Usual,
        Literal,
        Rest,
    }
    let mut state = S::Usual;
    let mut dot: Option<usize> = None;
    let mut len = host.len();

    for (i, &ch) in host.iter().enumerate() {
        match ch {
            b'.' => {
                if i > 0 && dot == Some(i - 1) {
                    return None;
                }
                dot = Some(i);
            }
            b':' if state == S::Usual => {
                len = i;
                state = S::Rest;
            }
            b'[' if i == 0 => state = S::Literal,
            b']' if state == S::Literal => {
                len = i + 1;
                state = S::Rest;
            }
            b'/' | 0..=0x20 | 0x7f => return None,
            _ => {}
        }
    }
    // the last dot anywhere (even in the port) decides, as in nginx
    if len > 0 && dot == Some(len - 1) {
        len -= 1;
    }
    if len == 0 {
        return None;
    }
    Some(host[..len].to_ascii_lowercase())
}
