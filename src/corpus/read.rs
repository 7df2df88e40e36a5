//! Reading one file's bytes as text, and deciding when a file cannot be used.

use std::io::{ErrorKind, Read};
use std::path::Path;

use crate::config::InvalidUtf8;

/// How many leading bytes are searched for a NUL to recognise a binary file.
const BINARY_PROBE: usize = 8 * 1024;

/// A file's text, and what was noticed while reading it.
#[derive(Debug)]
pub struct FileText {
    pub text: String,
    pub warning: Option<String>,
}

/// Reads `path` as UTF-8 text. `Err` carries the reason the file is skipped.
pub fn read_text(path: &Path, invalid_utf8: InvalidUtf8) -> Result<FileText, String> {
    let bytes = read_bytes(path)?;
    if bytes.is_empty() {
        return Err("empty file".to_string());
    }
    if let Some(at) = bytes[..bytes.len().min(BINARY_PROBE)].iter().position(|b| *b == 0) {
        return Err(format!("binary file (a NUL byte at offset {at})"));
    }
    decode(bytes, invalid_utf8)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, String> {
    let mut file = std::fs::File::open(path).map_err(|e| io_reason(&e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| io_reason(&e))?;
    Ok(bytes)
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

/// Decodes UTF-8, replacing or refusing invalid sequences. A leading byte-order mark is dropped.
fn decode(bytes: Vec<u8>, invalid_utf8: InvalidUtf8) -> Result<FileText, String> {
    let text = match String::from_utf8(bytes) {
        Ok(text) => FileText { text, warning: None },
        Err(error) => {
            let bytes = error.into_bytes();
            let (count, first) = invalid_sequences(&bytes);
            let summary = format!(
                "{count} invalid UTF-8 sequence{} (the first at byte {first})",
                plural(count)
            );
            match invalid_utf8 {
                InvalidUtf8::Skip => return Err(format!("not valid UTF-8: {summary}")),
                InvalidUtf8::Replace => FileText {
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                    warning: Some(format!("{summary} replaced with U+FFFD")),
                },
            }
        }
    };
    Ok(match text.text.strip_prefix('\u{feff}') {
        Some(rest) => FileText { text: rest.to_string(), ..text },
        None => text,
    })
}

/// How many invalid sequences `bytes` holds, and the byte offset of the first.
fn invalid_sequences(bytes: &[u8]) -> (usize, usize) {
    let mut count = 0;
    let mut first = None;
    let mut offset = 0;
    for chunk in bytes.utf8_chunks() {
        offset += chunk.valid().len();
        if !chunk.invalid().is_empty() {
            count += 1;
            first.get_or_insert(offset);
        }
        offset += chunk.invalid().len();
    }
    (count, first.unwrap_or(0))
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

    #[test]
    fn invalid_sequences_are_counted_from_their_offsets() {
        let bytes = b"ab\xffcd\xc3\x28e".to_vec();
        assert_eq!(invalid_sequences(&bytes), (2, 2));
        let decoded = decode(bytes.clone(), InvalidUtf8::Replace).unwrap();
        assert_eq!(decoded.text, "ab\u{fffd}cd\u{fffd}(e");
        assert_eq!(
            decoded.warning.unwrap(),
            "2 invalid UTF-8 sequences (the first at byte 2) replaced with U+FFFD"
        );
        assert_eq!(
            decode(bytes, InvalidUtf8::Skip).unwrap_err(),
            "not valid UTF-8: 2 invalid UTF-8 sequences (the first at byte 2)"
        );
    }

    #[test]
    fn a_byte_order_mark_is_dropped() {
        assert_eq!(decode("\u{feff}hi".into(), InvalidUtf8::Replace).unwrap().text, "hi");
    }
}
