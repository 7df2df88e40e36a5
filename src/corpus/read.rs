//! Reading one file's bytes as text, and deciding when a file cannot be used. Large files
//! are read in pieces, so memory stays bounded whatever their size.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

use crate::config::InvalidUtf8;

/// How many leading bytes are searched for a NUL to recognise a binary file.
const BINARY_PROBE: usize = 8 * 1024;

/// Files above this size are streamed in pieces of this size.
pub const PIECE: usize = 4 * 1024 * 1024;

/// A file's text, and what was noticed while reading it.
#[derive(Debug)]
pub struct FileText {
    pub text: String,
    pub warning: Option<String>,
}

/// Reads `path` as UTF-8 text in one piece. `Err` carries the reason the file is skipped.
pub fn read_text(path: &Path, invalid_utf8: InvalidUtf8) -> Result<FileText, String> {
    let mut text = String::new();
    let warning = stream_text(path, invalid_utf8, usize::MAX, |piece| text.push_str(piece))?;
    Ok(FileText { text, warning })
}

/// Reads `path` as UTF-8 text in pieces of about `piece_size` bytes, each ending on a
/// character boundary, and hands each to `each`. Returns the warning to report, if any;
/// `Err` carries the reason the file is skipped (then `each` was never called).
pub fn stream_text(
    path: &Path,
    invalid_utf8: InvalidUtf8,
    piece_size: usize,
    mut each: impl FnMut(&str),
) -> Result<Option<String>, String> {
    let mut file = File::open(path).map_err(|e| io_reason(&e))?;
    let size = file.metadata().map_err(|e| io_reason(&e))?.len() as usize;
    let mut first = vec![0u8; BINARY_PROBE.min(size.max(1))];
    let probed = read_up_to(&mut file, &mut first).map_err(|e| io_reason(&e))?;
    first.truncate(probed);
    if first.is_empty() {
        return Err("empty file".to_string());
    }
    if let Some(at) = first.iter().position(|b| *b == 0) {
        return Err(format!("binary file (a NUL byte at offset {at})"));
    }

    if invalid_utf8 == InvalidUtf8::Skip {
        let mut check = Decoder::default();
        pieces(path, piece_size, |bytes, _| check.count(bytes))?;
        if check.count > 0 {
            return Err(format!("not valid UTF-8: {}", check.summary()));
        }
    }

    let mut decoder = Decoder::default();
    let mut text = String::new();
    let mut at_start = true;
    let mut carry = first;
    let mut buffer = vec![0u8; piece_size.min(size.max(1)).min(PIECE)];
    let mut emit = |bytes: &[u8]| {
        text.clear();
        decoder.decode(bytes, &mut text);
        let piece = if at_start { text.strip_prefix('\u{feff}').unwrap_or(&text) } else { &text };
        if !piece.is_empty() {
            each(piece);
        }
        at_start = false;
    };
    loop {
        while carry.len() >= piece_size {
            let cut = piece_cut(&carry, piece_size);
            emit(&carry[..cut]);
            carry.drain(..cut);
        }
        let read = read_up_to(&mut file, &mut buffer).map_err(|e| io_reason(&e))?;
        if read == 0 {
            emit(&carry);
            break;
        }
        carry.extend_from_slice(&buffer[..read]);
    }
    Ok((decoder.count > 0).then(|| format!("{} replaced with U+FFFD", decoder.summary())))
}

/// Reads the file's bytes in pieces, for a check that needs every byte.
fn pieces(path: &Path, piece_size: usize, mut each: impl FnMut(&[u8], bool)) -> Result<(), String> {
    let mut file = File::open(path).map_err(|e| io_reason(&e))?;
    let mut buffer = vec![0u8; piece_size.min(PIECE)];
    let mut carry = Vec::new();
    loop {
        let read = read_up_to(&mut file, &mut buffer).map_err(|e| io_reason(&e))?;
        carry.extend_from_slice(&buffer[..read]);
        let done = read == 0;
        let cut = if done { carry.len() } else { complete_prefix(&carry) };
        each(&carry[..cut], done);
        carry.drain(..cut);
        if done {
            return Ok(());
        }
    }
}

/// Fills as much of `buffer` as the file has left.
fn read_up_to(file: &mut File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Where to end a piece of about `size` bytes so no UTF-8 sequence is cut in two.
fn piece_cut(bytes: &[u8], size: usize) -> usize {
    let mut cut = size.min(bytes.len());
    while cut < bytes.len() && complete_prefix(&bytes[..cut]) < cut {
        cut += 1;
    }
    cut
}

/// The length of `bytes` without a UTF-8 sequence cut short at its end.
fn complete_prefix(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let needed = match byte {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if needed > back { bytes.len() - back } else { bytes.len() };
    }
    bytes.len()
}

/// UTF-8 decoding across pieces, counting invalid sequences and where the first was.
#[derive(Default)]
struct Decoder {
    count: usize,
    first: Option<usize>,
    offset: usize,
}

impl Decoder {
    fn decode(&mut self, bytes: &[u8], out: &mut String) {
        for chunk in bytes.utf8_chunks() {
            out.push_str(chunk.valid());
            self.offset += chunk.valid().len();
            if !chunk.invalid().is_empty() {
                out.push('\u{fffd}');
                self.count += 1;
                self.first.get_or_insert(self.offset);
                self.offset += chunk.invalid().len();
            }
        }
    }

    fn count(&mut self, bytes: &[u8]) {
        for chunk in bytes.utf8_chunks() {
            self.offset += chunk.valid().len();
            if !chunk.invalid().is_empty() {
                self.count += 1;
                self.first.get_or_insert(self.offset);
                self.offset += chunk.invalid().len();
            }
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} invalid UTF-8 sequence{} (the first at byte {})",
            self.count,
            plural(self.count),
            self.first.unwrap_or(0)
        )
    }
}

/// The reason for an I/O failure, in the user's terms.
pub fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        ErrorKind::NotFound => "the file disappeared before it could be read".to_string(),
        ErrorKind::PermissionDenied => "cannot read: permission denied".to_string(),
        _ if error.raw_os_error() == Some(40) => "symbolic link loop".to_string(),
        _ => format!("cannot read: {error}"),
    }
}

pub fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("f.txt");
        std::fs::write(&path, bytes).unwrap();
        (folder, path)
    }

    #[test]
    fn invalid_sequences_are_counted_from_their_offsets() {
        let (_folder, path) = file_with(b"ab\xffcd\xc3\x28e");
        let read = read_text(&path, InvalidUtf8::Replace).unwrap();
        assert_eq!(read.text, "ab\u{fffd}cd\u{fffd}(e");
        assert_eq!(
            read.warning.unwrap(),
            "2 invalid UTF-8 sequences (the first at byte 2) replaced with U+FFFD"
        );
        assert_eq!(
            read_text(&path, InvalidUtf8::Skip).unwrap_err(),
            "not valid UTF-8: 2 invalid UTF-8 sequences (the first at byte 2)"
        );
    }

    #[test]
    fn pieces_split_on_character_boundaries_and_join_to_the_text() {
        let text = "春眠不觉晓，处处闻啼鸟。\nThe sea, the sea.\n".repeat(50);
        let (_folder, path) = file_with(text.as_bytes());
        for size in [1, 2, 5, 7, 64, 1000] {
            let mut pieces = Vec::new();
            stream_text(&path, InvalidUtf8::Replace, size, |p| pieces.push(p.to_string())).unwrap();
            assert_eq!(pieces.concat(), text, "pieces of {size} bytes");
            assert!(pieces.len() > 1 || size >= text.len());
        }
    }

    #[test]
    fn a_byte_order_mark_is_dropped() {
        let (_folder, path) = file_with("\u{feff}hi".as_bytes());
        assert_eq!(read_text(&path, InvalidUtf8::Replace).unwrap().text, "hi");
    }

    #[test]
    fn empty_and_binary_files_are_refused() {
        let (_a, empty) = file_with(b"");
        assert_eq!(read_text(&empty, InvalidUtf8::Replace).unwrap_err(), "empty file");
        let (_b, binary) = file_with(b"PK\x03\x04\x00\x00rest");
        assert_eq!(
            read_text(&binary, InvalidUtf8::Replace).unwrap_err(),
            "binary file (a NUL byte at offset 4)"
        );
    }
}
