//! nginx's header buffers (`client_header_buffer_size`, `large_client_header_buffers`,
//! `ngx_http_alloc_large_header_buffer`, S13.10), simulated as windows over the byte stream,
//! and the 494 refusals they lead to. This decides only where the bytes nginx holds end; what
//! they say is the parsers' business, and when to ask for a new buffer is the driver's (`scan`).

use std::borrow::Cow;

use super::{text, BufferState, Limits, Reject};

/// nginx caps a logged header line at NGX_MAX_ERROR_STR - 300 bytes.
const MAX_LOGGED_LINE: usize = 2048 - 300;

/// nginx's header buffers, tracked as windows over the byte stream. nginx fills a buffer to the
/// end before it looks for another one, and then moves only the incomplete current line into a
/// new large buffer, so whether a head fits is a function of the bytes alone.
pub(super) struct Buffers {
    /// Stream offset where the current buffer ends.
    pub(super) end: usize,
    pub(super) large: bool,
    /// Large buffers this request may still take.
    left: u32,
    client_size: usize,
    large_size: usize,
}

impl Buffers {
    pub(super) fn new(limits: &Limits, state: BufferState) -> Buffers {
        Buffers {
            end: state.room,
            large: state.large,
            left: if state.large {
                limits.large_buffers.saturating_sub(1)
            } else {
                limits.large_buffers
            },
            // nginx's configuration never allows empty buffers; clamping keeps every window
            // non-empty, so the loops below always make progress.
            client_size: limits.client_header_buffer_size.max(1),
            large_size: limits.large_buffer_size.max(1),
        }
    }

    /// "the client fills up the buffer with \r\n": the buffer held nothing but the CR/LF nginx
    /// skips before a request line, and nginx reuses it from its start. Returns where the new
    /// window starts.
    pub(super) fn recycle(&mut self) -> usize {
        let from = self.end;
        self.end += if self.large {
            self.large_size
        } else {
            self.client_size
        };
        from
    }

    /// The current buffer is full and the line that started at `line_start` is incomplete:
    /// move it to a new large buffer. `false` when nginx declines: the part already read is as
    /// long as a large buffer, or none is left.
    pub(super) fn take_large(&mut self, line_start: usize) -> bool {
        if self.end - line_start >= self.large_size || self.left == 0 {
            return false;
        }
        self.left -= 1;
        self.large = true;
        self.end = line_start + self.large_size;
        true
    }

    /// The current buffer is full and ends exactly between two header lines: a new large
    /// buffer, nothing to move. `false` when none is left.
    pub(super) fn take_large_between_lines(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        self.large = true;
        self.end += self.large_size;
        true
    }

    /// Where the buffer stands for what follows `at` (a pipelined request).
    pub(super) fn state_at(&self, at: usize) -> BufferState {
        BufferState {
            room: self.end - at,
            large: self.large,
        }
    }
}

/// 494, `client sent too long header line: "..."`: the line that starts at `start` did not fit
/// the buffer that ends at `end`.
pub(super) fn too_long_header_line(buf: &[u8], start: usize, end: usize) -> Reject {
    let end = end.min(start + MAX_LOGGED_LINE).min(buf.len());
    Reject::HeaderTooLarge(Cow::Owned(format!(
        "client sent too long header line: \"{}...\"",
        text(&buf[start..end])
    )))
}
