//! Following a growing file line by line, through a `read-range`-shaped
//! function rather than the host import itself, so the chunking is unit
//! tested natively with an in-memory file and tiny chunks.
//!
//! The follower keeps `offset`, the byte after the last line it handed
//! out (the checkpoint), and `buffered`, the bytes read from there that do
//! not yet end in `\n`. The next read starts after them, so a file that
//! grows a little at a time is never read twice. What it must not do is
//! hand out a line before its `\n` is in the file: a writer may still be
//! in the middle of it.

use sluice_guest::Error;

/// How much one `read-range` call asks for.
pub const CHUNK_BYTES: u32 = 1 << 20;

/// The longest line handed out whole. A longer one is handed out in pieces
/// of this size (each marked [`Line::split`]), so the buffer stays bounded
/// even for a file without line breaks.
pub const LINE_BYTES_MAX: usize = 4 << 20;

/// How many bytes one [`Follower::poll`] reads at most, bounding the
/// memory a batch takes whatever `max_lines` is.
pub const POLL_BYTES_MAX: usize = 4 << 20;

/// One line of the file, without its `\n` or `\r\n`; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Where the line starts in the file.
    pub offset: u64,
    pub bytes: Vec<u8>,
    /// The line was longer than [`LINE_BYTES_MAX`]: this is one piece.
    pub split: bool,
}

/// What one poll found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Polled {
    pub lines: Vec<Line>,
    /// The file had become shorter than this offset (truncated or
    /// replaced), so the follower went back to its start.
    pub restarted_from: Option<u64>,
}

/// Reads up to `len` bytes at `offset`: fewer at the end of the file, none
/// at or past it; `Ok(None)` when the file does not exist.
pub type ReadRange<'a> = dyn FnMut(u64, u32) -> Result<Option<Vec<u8>>, Error> + 'a;

#[derive(Debug)]
pub struct Follower {
    offset: u64,
    /// Bytes from `offset` on that hold no complete line yet.
    buffered: Vec<u8>,
    chunk_bytes: u32,
}

impl Follower {
    /// A follower that starts at byte `offset` (a checkpoint) and reads
    /// `chunk_bytes` per call.
    pub fn new(offset: u64, chunk_bytes: u32) -> Self {
        assert!(chunk_bytes > 0, "a chunk holds at least one byte");
        Follower {
            offset,
            buffered: Vec::new(),
            chunk_bytes,
        }
    }

    /// The byte after the last line handed out: the checkpoint.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Hands out up to `max_lines` complete lines, skipping empty ones.
    ///
    /// # Errors
    ///
    /// Those of `read`; the follower is unchanged by a failed read except
    /// for lines it already took, which it hands out on the next poll.
    pub fn poll(&mut self, read: &mut ReadRange<'_>, max_lines: usize) -> Result<Polled, Error> {
        let mut polled = Polled::default();
        // Lines already buffered go out first, without reading.
        self.take_lines(&mut polled.lines, max_lines);
        let mut read_bytes = 0;
        while polled.lines.len() < max_lines && read_bytes < POLL_BYTES_MAX {
            let end = self.offset + self.buffered.len() as u64;
            let Some(chunk) = read(end, self.chunk_bytes)? else {
                // No file (yet, or any more): whatever it held is gone.
                self.buffered.clear();
                break;
            };
            if chunk.is_empty() {
                if end > 0 && ends_before(read, end)? {
                    // Truncated or replaced: the buffered bytes are stale,
                    // and when the file ends before the checkpoint too, the
                    // lines handed out are gone: start over.
                    self.buffered.clear();
                    if self.offset > 0 && ends_before(read, self.offset)? {
                        polled.restarted_from = Some(self.offset);
                        self.offset = 0;
                    }
                    continue;
                }
                break;
            }
            read_bytes += chunk.len();
            let at_end = chunk.len() < self.chunk_bytes as usize;
            self.buffered.extend_from_slice(&chunk);
            self.take_lines(&mut polled.lines, max_lines);
            if at_end {
                break;
            }
        }
        Ok(polled)
    }

    /// Moves complete lines from the buffer into `lines`.
    fn take_lines(&mut self, lines: &mut Vec<Line>, max_lines: usize) {
        let mut start = 0;
        while lines.len() < max_lines {
            let rest = &self.buffered[start..];
            let (end, next, split) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) if i <= LINE_BYTES_MAX => (start + i, start + i + 1, false),
                _ if rest.len() >= LINE_BYTES_MAX => {
                    (start + LINE_BYTES_MAX, start + LINE_BYTES_MAX, true)
                }
                _ => break,
            };
            let mut bytes = &self.buffered[start..end];
            if !split {
                bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            }
            if !bytes.is_empty() {
                lines.push(Line {
                    offset: self.offset + start as u64,
                    bytes: bytes.to_vec(),
                    split,
                });
            }
            start = next;
        }
        self.buffered.drain(..start);
        self.offset += start as u64;
    }
}

/// True when the file (if any) now ends before byte `end` (> 0). The
/// contract has no `stat`; reading the byte before `end` tells.
fn ends_before(read: &mut ReadRange<'_>, end: u64) -> Result<bool, Error> {
    Ok(read(end - 1, 1)?.is_none_or(|last| last.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory file, read like `files.read-range` reads one.
    fn reader(
        file: &std::cell::RefCell<Option<Vec<u8>>>,
    ) -> impl FnMut(u64, u32) -> Result<Option<Vec<u8>>, Error> + '_ {
        move |offset, len| {
            Ok(file.borrow().as_ref().map(|bytes| {
                let start = (offset as usize).min(bytes.len());
                let end = (start + len as usize).min(bytes.len());
                bytes[start..end].to_vec()
            }))
        }
    }

    fn texts(polled: &Polled) -> Vec<(u64, &str)> {
        polled
            .lines
            .iter()
            .map(|l| (l.offset, std::str::from_utf8(&l.bytes).unwrap()))
            .collect()
    }

    #[test]
    fn lines_split_across_chunk_boundaries_come_out_whole() {
        let file = std::cell::RefCell::new(Some(b"alpha\r\nbeta\n\ngamma\ndel".to_vec()));
        for chunk_bytes in [1, 2, 3, 5, 7, 64] {
            let mut follower = Follower::new(0, chunk_bytes);
            let polled = follower.poll(&mut reader(&file), 100).unwrap();
            assert_eq!(
                texts(&polled),
                [(0, "alpha"), (7, "beta"), (13, "gamma")],
                "chunk of {chunk_bytes} bytes"
            );
            assert_eq!(follower.offset(), 19, "after gamma's \\n, not after `del`");
        }
    }

    #[test]
    fn a_partial_line_waits_for_its_newline_and_max_lines_holds() {
        let file = std::cell::RefCell::new(Some(b"1\n2\n3\n4".to_vec()));
        let mut follower = Follower::new(0, 3);
        let polled = follower.poll(&mut reader(&file), 2).unwrap();
        assert_eq!(texts(&polled), [(0, "1"), (2, "2")]);
        assert_eq!(follower.offset(), 4);
        let polled = follower.poll(&mut reader(&file), 2).unwrap();
        assert_eq!(texts(&polled), [(4, "3")]);
        assert_eq!(follower.offset(), 6);
        assert!(follower
            .poll(&mut reader(&file), 2)
            .unwrap()
            .lines
            .is_empty());

        file.borrow_mut()
            .as_mut()
            .unwrap()
            .extend_from_slice(b"2\n5\n");
        let polled = follower.poll(&mut reader(&file), 10).unwrap();
        assert_eq!(texts(&polled), [(6, "42"), (9, "5")]);
        assert_eq!(follower.offset(), 11);
    }

    #[test]
    fn resumes_at_a_checkpoint() {
        let file = std::cell::RefCell::new(Some(b"one\ntwo\nthree\n".to_vec()));
        let mut follower = Follower::new(4, CHUNK_BYTES);
        let polled = follower.poll(&mut reader(&file), 10).unwrap();
        assert_eq!(texts(&polled), [(4, "two"), (8, "three")]);
    }

    #[test]
    fn a_partial_line_cut_off_is_read_again_from_the_checkpoint() {
        let file = std::cell::RefCell::new(Some(b"kept\npartial".to_vec()));
        let mut follower = Follower::new(0, 4);
        follower.poll(&mut reader(&file), 10).unwrap();
        *file.borrow_mut() = Some(b"kept\nnew\n".to_vec());
        let polled = follower.poll(&mut reader(&file), 10).unwrap();
        assert_eq!(
            polled.restarted_from, None,
            "the checkpoint is still in the file"
        );
        assert_eq!(texts(&polled), [(5, "new")]);
    }

    #[test]
    fn a_missing_file_is_empty_until_it_appears() {
        let file = std::cell::RefCell::new(None);
        let mut follower = Follower::new(0, CHUNK_BYTES);
        assert_eq!(
            follower.poll(&mut reader(&file), 10).unwrap(),
            Polled::default()
        );
        *file.borrow_mut() = Some(b"late\n".to_vec());
        let polled = follower.poll(&mut reader(&file), 10).unwrap();
        assert_eq!(texts(&polled), [(0, "late")]);
    }

    #[test]
    fn a_truncated_file_is_read_again_from_its_start() {
        let file = std::cell::RefCell::new(Some(b"first line\nsecond\n".to_vec()));
        let mut follower = Follower::new(0, 4);
        follower.poll(&mut reader(&file), 10).unwrap();
        assert_eq!(follower.offset(), 18);
        *file.borrow_mut() = Some(b"new\n".to_vec());
        let polled = follower.poll(&mut reader(&file), 10).unwrap();
        assert_eq!(polled.restarted_from, Some(18));
        assert_eq!(texts(&polled), [(0, "new")]);
        assert_eq!(follower.offset(), 4);
    }

    #[test]
    fn an_overlong_line_comes_out_in_pieces() {
        let mut bytes = vec![b'x'; LINE_BYTES_MAX + 3];
        bytes.extend_from_slice(b"\nend\n");
        let file = std::cell::RefCell::new(Some(bytes));
        let mut follower = Follower::new(0, CHUNK_BYTES);
        let mut lines = Vec::new();
        loop {
            // One poll reads at most POLL_BYTES_MAX: it takes a few.
            let polled = follower.poll(&mut reader(&file), 10).unwrap();
            if polled.lines.is_empty() {
                break;
            }
            lines.extend(polled.lines);
        }
        let shape: Vec<_> = lines
            .iter()
            .map(|l| (l.offset, l.bytes.len(), l.split))
            .collect();
        assert_eq!(
            shape,
            [
                (0, LINE_BYTES_MAX, true),
                (LINE_BYTES_MAX as u64, 3, false),
                (LINE_BYTES_MAX as u64 + 4, 3, false)
            ]
        );
    }
}
