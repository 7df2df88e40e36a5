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
        let newlines_fixed;
        let text = if self.unix_newlines && raw.contains('\r') {
            newlines_fixed = raw.replace("\r\n", "\n").replace('\r', "\n");
            newlines_fixed.as_str()
        } else {
            raw
        };

        let mut out = String::with_capacity(text.len());
        let mut blank_run = 0usize;
        for line in text.split('\n') {
            let line = self.clean_line(line);
            if line.is_empty() {
                blank_run += 1;
                continue;
            }
            if !out.is_empty() {
                let kept = if self.collapse_blank_lines { blank_run.min(2) } else { blank_run };
                out.extend(std::iter::repeat_n('\n', kept + 1));
            }
            blank_run = 0;
            out.push_str(&line);
        }
        out
    }

    fn clean_line(&self, line: &str) -> String {
        let mut line: String = if self.strip_control {
            line.chars().filter(|c| !c.is_control() || *c == '\t').collect()
        } else {
            line.to_string()
        };
        if self.unicode_nfc {
            line = line.nfc().collect();
        }
        if self.trim_trailing_spaces {
            line.truncate(line.trim_end_matches([' ', '\t']).len());
        }
        line
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
    fn leading_and_trailing_blank_lines_are_dropped() {
        assert_eq!(none().apply("\n\n a\nb\n\n"), " a\nb");
    }
}
