//! Bounded capture of a command's output, and the bounded quoting of it in errors.

use std::io::Read;
use std::sync::{Arc, Mutex};

/// Most bytes of a command's standard output kept while it runs: the end of it, where the
/// result line is. A longer output is drained and counted, not stored.
pub const STDOUT_KEPT: usize = 1 << 20;

/// Most bytes of a command's standard error kept while it runs (the end of it).
pub const STDERR_KEPT: usize = 64 << 10;

/// Most bytes of the standard error's end quoted in a failed trial's reason.
pub const STDERR_TAIL: usize = 2000;

/// Most bytes of a result line quoted in a failed trial's reason.
pub const LINE_QUOTED: usize = 1000;

/// The end of a stream, at most `cap` bytes of it, with the extent of its last non-blank line.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    cap: usize,
    /// The last bytes of the stream (at most `2 * cap` between trims, `cap` after).
    kept: Vec<u8>,
    /// Bytes of the stream in all.
    total: u64,
    /// Where the current line starts (an offset into the whole stream).
    line_start: u64,
    /// Whether the current line has a non-blank byte.
    line_has_text: bool,
    /// The last finished non-blank line: its start and end offsets (end excludes the newline).
    last_line: Option<(u64, u64)>,
}

impl Tail {
    pub(crate) fn new(cap: usize) -> Self {
        Tail {
            cap,
            ..Tail::default()
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                let end = self.total + i as u64;
                if self.line_has_text {
                    self.last_line = Some((self.line_start, end));
                }
                self.line_start = end + 1;
                self.line_has_text = false;
            } else if !b.is_ascii_whitespace() {
                self.line_has_text = true;
            }
        }
        self.total += bytes.len() as u64;
        if bytes.len() >= self.cap {
            // Only the end of this chunk is kept, so nothing before it.
            self.kept.clear();
            self.kept
                .extend_from_slice(&bytes[bytes.len() - self.cap..]);
            return;
        }
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > 2 * self.cap {
            let cut = self.kept.len() - self.cap;
            self.kept.drain(..cut);
        }
    }

    /// The offset in the stream of `kept[0]`.
    fn kept_from(&self) -> u64 {
        self.total - self.kept.len() as u64
    }

    /// The last non-blank line (an unfinished last line counts), as far as it is kept, and its
    /// length in bytes in all; `None` when every line is blank.
    pub(crate) fn last_line(&self) -> Option<(String, u64)> {
        let (start, end) = if self.line_has_text {
            (self.line_start, self.total)
        } else {
            self.last_line?
        };
        let from = start.max(self.kept_from());
        let bytes = if from < end {
            &self.kept[(from - self.kept_from()) as usize..(end - self.kept_from()) as usize]
        } else {
            &[][..]
        };
        Some((String::from_utf8_lossy(bytes).into_owned(), end - start))
    }

    /// The end of the stream, at most `max` bytes of it (blank end trimmed), with a note
    /// saying how long it was when it was cut.
    pub(crate) fn end(&self, max: usize) -> String {
        // Trim on bytes: a lossy decoding of invalid UTF-8 is longer than its bytes, so byte
        // counts must come from the bytes (found by the result-line fuzz test).
        let body = self.kept.trim_ascii_end();
        let trimmed = (self.kept.len() - body.len()) as u64;
        let text = String::from_utf8_lossy(body);
        let text = text.trim_end();
        if body.len() as u64 + trimmed == self.total && text.len() <= max {
            return text.to_string();
        }
        let mut start = text.len().saturating_sub(max);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        format!(
            "[cut: {} bytes in all] ... {}",
            self.total - trimmed,
            &text[start..]
        )
    }
}

/// Reads `source` to its end into `tail` (shared, so that what was read is there even if the
/// end never comes).
pub(crate) fn drain(mut source: impl Read, tail: Arc<Mutex<Tail>>) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match source.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => tail
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// `text` quoted for an error message: at most `max` bytes of it (on a character boundary),
/// with a note saying it was cut and how long it was (`total` bytes) when it does not fit.
pub(crate) fn quoted(text: &str, total: u64, max: usize) -> String {
    if text.len() as u64 == total && text.len() <= max {
        return format!("{text:?}");
    }
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?} ... [cut: {total} bytes in all]", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_end_and_the_whole_last_line_when_it_fits() {
        let mut t = Tail::new(32);
        t.push(b"first line\n");
        t.push(b"{\"reward\": 1}\n\n  \n");
        assert_eq!(t.last_line(), Some(("{\"reward\": 1}".into(), 13)));
        t.push(b"partial");
        assert_eq!(t.last_line(), Some(("partial".into(), 7)));
        assert!(t.kept.len() <= 64);
        t.push(&[b'y'; 100]);
        assert_eq!(t.kept, [b'y'; 32]);
        assert_eq!(t.last_line().unwrap().1, 107);
    }

    #[test]
    fn a_line_longer_than_the_tail_is_known_by_its_length() {
        let mut t = Tail::new(8);
        for _ in 0..100 {
            t.push(b"xxxxxxxxxx");
        }
        t.push(b"\n");
        let (line, len) = t.last_line().unwrap();
        assert_eq!(len, 1000);
        assert!(line.len() <= 8, "{line}");
        assert!(t.kept.len() <= 16);
        assert_eq!(Tail::new(8).last_line(), None);
    }

    #[test]
    fn the_end_and_quotes_say_when_they_are_cut() {
        let mut t = Tail::new(100);
        t.push(b"short\n");
        assert_eq!(t.end(10), "short");
        t.push(&[b'e'; 300]);
        let end = t.end(10);
        assert_eq!(end, "[cut: 306 bytes in all] ... eeeeeeeeee");
        assert_eq!(quoted("abc", 3, 10), "\"abc\"");
        assert_eq!(quoted("abcdef", 6, 2), "\"ab\" ... [cut: 6 bytes in all]");
        assert_eq!(quoted("abc", 50, 10), "\"abc\" ... [cut: 50 bytes in all]");
        assert_eq!(quoted("éé", 4, 3), "\"é\" ... [cut: 4 bytes in all]");
    }
}
