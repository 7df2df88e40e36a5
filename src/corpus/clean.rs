//! Cleaning: the text-level fixes applied to every document before it is tokenised.

use unicode_normalization::UnicodeNormalization;

use crate::config::CorpusConfig;

/// Which cleaning steps run; each is on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cleaning {
    pub unicode_nfc: bool,
    pub unix_newlines: bool,
    pub trim_trailing_spaces: bool,
    pub collapse_blank_lines: bool,
    pub strip_control: bool,
}

impl Cleaning {
    pub fn from_config(config: &CorpusConfig) -> Cleaning {
        Cleaning {
            unicode_nfc: config.unicode_nfc,
            unix_newlines: config.unix_newlines,
            trim_trailing_spaces: config.trim_trailing_spaces,
            collapse_blank_lines: config.collapse_blank_lines,
            strip_control: config.strip_control,
        }
    }

    /// Cleans one document's text. Leading and trailing blank lines are always removed.
    pub fn apply(&self, raw: &str) -> String {
        let mut cleaner = Cleaner::new(*self);
        let mut out = String::with_capacity(raw.len());
        cleaner.push(raw, &mut out);
        cleaner.finish(&mut out);
        out
    }

    /// Cleans one line (without its line end), appending it to `out`.
    fn clean_line(&self, line: &str, out: &mut String) {
        let start = out.len();
        let needs_control_pass =
            self.strip_control && line.chars().any(|c| c.is_control() && c != '\t');
        if needs_control_pass {
            out.extend(line.chars().filter(|c| !c.is_control() || *c == '\t'));
        } else {
            out.push_str(line);
        }
        if self.unicode_nfc
            && !out[start..].is_ascii()
            && unicode_normalization::is_nfc_quick(out[start..].chars())
                != unicode_normalization::IsNormalized::Yes
        {
            let composed: String = out[start..].nfc().collect();
            out.truncate(start);
            out.push_str(&composed);
        }
        if self.trim_trailing_spaces {
            let kept = out[start..].trim_end_matches([' ', '\t']).len();
            out.truncate(start + kept);
        }
    }
}

/// Cleans text that arrives in pieces, so a document larger than memory can stream
/// through. Pieces may end anywhere; a line is cleaned once its end has arrived.
pub struct Cleaner {
    cleaning: Cleaning,
    /// The unfinished last line of the pieces so far.
    partial: String,
    blank_run: usize,
    wrote_any: bool,
    line: String,
}

impl Cleaner {
    pub fn new(cleaning: Cleaning) -> Cleaner {
        Cleaner {
            cleaning,
            partial: String::new(),
            blank_run: 0,
            wrote_any: false,
            line: String::new(),
        }
    }

    /// Cleans the complete lines of `piece`, appending them to `out`.
    pub fn push(&mut self, piece: &str, out: &mut String) {
        let mut rest = piece;
        while let Some(end) = rest.find('\n') {
            if self.partial.is_empty() {
                self.line_ended(&rest[..end], out);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.push_str(&rest[..end]);
                self.line_ended(&line, out);
            }
            rest = &rest[end + 1..];
        }
        self.partial.push_str(rest);
    }

    /// Cleans the last line; trailing blank lines are dropped.
    pub fn finish(&mut self, out: &mut String) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line_ended(&line, out);
        }
    }

    /// Whether any text has come out.
    pub fn wrote_any(&self) -> bool {
        self.wrote_any
    }

    fn line_ended(&mut self, line: &str, out: &mut String) {
        if !self.cleaning.unix_newlines {
            return self.emit(line, out);
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        for part in line.split('\r') {
            self.emit(part, out);
        }
    }

    fn emit(&mut self, line: &str, out: &mut String) {
        self.line.clear();
        self.cleaning.clean_line(line, &mut self.line);
        if self.line.is_empty() {
            self.blank_run += 1;
            return;
        }
        if self.wrote_any {
            let kept = if self.cleaning.collapse_blank_lines {
                self.blank_run.min(2)
            } else {
                self.blank_run
            };
            out.extend(std::iter::repeat_n('\n', kept + 1));
        }
        self.blank_run = 0;
        self.wrote_any = true;
        out.push_str(&self.line);
    }
}

impl Default for Cleaning {
    fn default() -> Self {
        Cleaning::from_config(&CorpusConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Cleaning {
        Cleaning {
            unicode_nfc: false,
            unix_newlines: false,
            trim_trailing_spaces: false,
            collapse_blank_lines: false,
            strip_control: false,
        }
    }

    #[test]
    fn crlf_and_lone_cr_become_lf() {
        let cleaning = Cleaning { unix_newlines: true, ..none() };
        assert_eq!(cleaning.apply("a\r\nb\rc"), "a\nb\nc");
        assert_eq!(none().apply("a\r\nb"), "a\r\nb");
    }

    #[test]
    fn trailing_spaces_are_trimmed_but_leading_kept() {
        let cleaning = Cleaning { trim_trailing_spaces: true, ..none() };
        assert_eq!(cleaning.apply("  a \t\nb  "), "  a\nb");
    }

    #[test]
    fn more_than_two_blank_lines_become_two() {
        let cleaning = Cleaning { collapse_blank_lines: true, ..none() };
        assert_eq!(cleaning.apply("a\n\n\n\n\nb\n\nc"), "a\n\n\nb\n\nc");
        assert_eq!(none().apply("a\n\n\n\n\nb"), "a\n\n\n\n\nb");
    }

    #[test]
    fn control_characters_go_but_tabs_stay() {
        let cleaning = Cleaning { strip_control: true, ..none() };
        assert_eq!(cleaning.apply("a\u{7}b\tc\u{1b}[0m"), "ab\tc[0m");
    }

    #[test]
    fn nfc_composes_accents() {
        let cleaning = Cleaning { unicode_nfc: true, ..none() };
        assert_eq!(cleaning.apply("e\u{301}te\u{301}"), "\u{e9}t\u{e9}");
    }

    #[test]
    fn text_in_pieces_cleans_like_text_at_once() {
        let text = "  Title \r\n\r\n\r\n\r\nline e\u{301}\u{7}\rnext\n\n\nlast  \n\n";
        let whole = Cleaning::default().apply(text);
        for size in 1..text.len() {
            let mut cleaner = Cleaner::new(Cleaning::default());
            let mut out = String::new();
            let mut rest = text;
            while !rest.is_empty() {
                let mut cut = size.min(rest.len());
                while !rest.is_char_boundary(cut) {
                    cut += 1;
                }
                cleaner.push(&rest[..cut], &mut out);
                rest = &rest[cut..];
            }
            cleaner.finish(&mut out);
            assert_eq!(out, whole, "pieces of {size} bytes");
        }
        assert_eq!(whole, "  Title\n\n\nline \u{e9}\nnext\n\n\nlast");
    }

    #[test]
    fn leading_and_trailing_blank_lines_are_dropped() {
        assert_eq!(none().apply("\n\n a\nb\n\n"), " a\nb");
    }
}
