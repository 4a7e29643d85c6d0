//! The gzip compressor of the gzip filter: a gzip member made as nginx 1.22 makes it with
//! zlib (mtime 0, OS 3, the XFL of the level), its deflate stream from flate2. Pure: bytes in,
//! bytes out; which responses are compressed is the filter's business (`filters::gzip`).

use flate2::{Compress, Compression, Crc, FlushCompress};

/// A gzip member in the making.
pub struct Encoder {
    z: Compress,
    crc: Crc,
    level: u32,
    started: bool,
}

impl Encoder {
    pub fn new(level: u32) -> Encoder {
        Encoder {
            z: Compress::new(Compression::new(level.clamp(1, 9)), false),
            crc: Crc::new(),
            level,
            started: false,
        }
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        // zlib's gzip wrapper (nginx 1.22 uses it): XFL 4 for the fastest level, 2 for the
        // best, OS 3.
        let xfl = match self.level {
            9 => 2,
            0 | 1 => 4,
            _ => 0,
        };
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
    }

    /// Compresses `data`, appending what the compressor gives out now to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.header(out);
        self.crc.update(data);
        self.run(data, FlushCompress::None, out);
    }

    /// Flushes what was pushed (nginx's `Z_SYNC_FLUSH` at a flush of its buffers).
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        self.header(out);
        self.run(&[], FlushCompress::Sync, out);
    }

    /// Ends the member: the rest of the stream, the CRC and the length.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.header(out);
        self.run(&[], FlushCompress::Finish, out);
        out.extend_from_slice(&self.crc.sum().to_le_bytes());
        out.extend_from_slice(&self.crc.amount().to_le_bytes());
    }

    fn run(&mut self, mut data: &[u8], flush: FlushCompress, out: &mut Vec<u8>) {
        let finish = matches!(flush, FlushCompress::Finish);
        let sync = matches!(flush, FlushCompress::Sync);
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(data.len() / 2 + 4096);
            }
            let before = self.z.total_in();
            let status = self.z.compress_vec(data, out, flush);
            data = &data[(self.z.total_in() - before) as usize..];
            match status {
                Ok(flate2::Status::StreamEnd) | Err(_) => return,
                // Without a flush, done when the input is used up; a flush is complete when
                // room was left over as well.
                Ok(_) if !finish && !sync && data.is_empty() => return,
                Ok(_) if sync && data.is_empty() && out.len() < out.capacity() => return,
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gzip_member_round_trips() {
        let mut e = Encoder::new(1);
        let mut out = Vec::new();
        e.push(b"<p>hello</p>\n", &mut out);
        e.flush(&mut out);
        e.push(b"<p>hello</p>\n", &mut out);
        e.finish(&mut out);
        assert_eq!(&out[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3]);
        let mut d = flate2::read::GzDecoder::new(&out[..]);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut d, &mut s).unwrap();
        assert_eq!(s, "<p>hello</p>\n<p>hello</p>\n");
    }
}
