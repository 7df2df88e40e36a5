//! Shapes a text must take: the classical Chinese forms (characters per line × lines), a
//! number of lines in any script, and acrostics (line i begins with the i-th character
//! of a given text). A shape is a mask on each next-token distribution.

use std::cmp::Ordering;

use crate::vocab::Vocab;

/// Punctuation that may end a line of a form, and what may end its last line: the
/// Chinese marks when the vocabulary has them, else their Latin counterparts.
const LINE_ENDS: [&[char]; 2] = [&['，', '。', '！', '？', '；'], &[',', '.', '!', '?', ';']];
const LAST_LINE_ENDS: [&[char]; 2] = [&['。', '！', '？'], &['.', '!', '?']];

const NO_NEWLINE: &str = "the vocabulary has no newline, so it cannot write lines";

/// Characters per line and lines, like 5x4 for a five-character quatrain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    pub characters: usize,
    pub lines: usize,
}

impl Form {
    /// Parses `5x4`, `7x4`, `5x8`, `7x8` (or any characters × lines within reason).
    pub fn parse(text: &str) -> Result<Form, String> {
        let parsed = text
            .split_once(['x', 'X', '×'])
            .and_then(|(c, l)| Some((c.trim().parse().ok()?, l.trim().parse().ok()?)));
        match parsed {
            Some((characters, lines))
                if (1..=40).contains(&characters) && (1..=200).contains(&lines) =>
            {
                Ok(Form { characters, lines })
            }
            _ => Err(format!(
                "--form {text}: expected characters per line × lines, like 5x4, 7x4, 5x8 or 7x8"
            )),
        }
    }
}

/// The shape the text must take; empty when unconstrained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    pub form: Option<Form>,
    /// A number of lines, for any script, when there is no form.
    pub lines: Option<usize>,
    /// Line i begins with the i-th character.
    pub acrostic: Option<Vec<char>>,
}

impl Shape {
    pub fn is_free(&self) -> bool {
        self.form.is_none() && self.lines.is_none() && self.acrostic.is_none()
    }

    /// How many lines the text has, when the shape says.
    pub fn line_count(&self) -> Option<usize> {
        match (&self.form, &self.acrostic, self.lines) {
            (_, Some(acrostic), _) => Some(acrostic.len()),
            (Some(form), None, _) => Some(form.lines),
            (None, None, lines) => lines,
        }
    }
}

/// A character that a shape made the text take although the model gave it no chance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Forced {
    /// Line and column, counted from 1.
    pub line: usize,
    pub column: usize,
    pub text: String,
}

/// Which tokens may come next.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    Any,
    Only(Vec<u32>),
    AllBut(u32),
}

/// A shape resolved against a vocabulary, following the text as it is written.
#[derive(Debug, Clone)]
pub struct Constraint {
    shape: Shape,
    lines: Option<usize>,
    content: Vec<u32>,
    line_ends: Vec<u32>,
    last_line_ends: Vec<u32>,
    acrostic: Vec<u32>,
    newline: Option<u32>,
    /// With `--lines` alone, how many line breaks each token holds: in a BPE vocabulary a
    /// token may hold several, or text on both sides of one.
    breaks: Vec<usize>,
    end_of_document: u32,
    line: usize,
    column: usize,
    done: bool,
}

impl Constraint {
    pub fn new(shape: &Shape, vocab: &Vocab) -> Result<Constraint, String> {
        let mut constraint = Constraint {
            shape: shape.clone(),
            lines: shape.line_count(),
            content: Vec::new(),
            line_ends: Vec::new(),
            last_line_ends: Vec::new(),
            acrostic: Vec::new(),
            newline: None,
            breaks: Vec::new(),
            end_of_document: vocab.end_of_document(),
            line: 0,
            column: 0,
            done: false,
        };
        if shape.is_free() {
            return Ok(constraint);
        }
        if shape.lines == Some(0) {
            return Err("--lines must be at least 1".into());
        }
        if shape.acrostic.as_ref().is_some_and(Vec::is_empty) {
            return Err("--acrostic needs at least one character".into());
        }
        if shape.form.is_none() && shape.acrostic.is_none() {
            constraint.breaks = (0..vocab.len() as u32)
                .map(|id| vocab.token_text(id).matches('\n').count())
                .collect();
            if constraint.breaks.iter().all(|breaks| *breaks == 0) {
                return Err(NO_NEWLINE.into());
            }
            return Ok(constraint);
        }
        if vocab.kind() != crate::config::TokenizerKind::Char {
            return Err("forms and acrostics need a character vocabulary ([tokenizer] kind = \"char\"); --lines works with any".into());
        }
        let id_of =
            |c: char| vocab.encode_prompt(&c.to_string()).ok().and_then(|ids| ids.first().copied());
        constraint.newline = Some(id_of('\n').ok_or(NO_NEWLINE)?);
        let has_chinese_marks = LINE_ENDS[0].iter().any(|c| id_of(*c).is_some());
        let marks = if has_chinese_marks { 0 } else { 1 };
        for id in 0..vocab.len() as u32 {
            let piece = vocab.piece(id);
            let mut chars = piece.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else { continue };
            if c.is_alphanumeric() {
                constraint.content.push(id);
            }
            if LINE_ENDS[marks].contains(&c) {
                constraint.line_ends.push(id);
            }
            if LAST_LINE_ENDS[marks].contains(&c) {
                constraint.last_line_ends.push(id);
            }
        }
        if shape.form.is_some()
            && (constraint.line_ends.is_empty() || constraint.last_line_ends.is_empty())
        {
            return Err(
                "the vocabulary has no punctuation to end the lines of a form with (，。！？；)"
                    .into(),
            );
        }
        if let Some(acrostic) = &shape.acrostic {
            for c in acrostic {
                let id = id_of(*c).ok_or_else(|| {
                    format!("the acrostic character \"{c}\" is not in the vocabulary")
                })?;
                constraint.acrostic.push(id);
            }
        }
        Ok(constraint)
    }

    /// Whether the shape is complete.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The tokens that keep the text in shape.
    pub fn allowed(&self) -> Allowed {
        if self.shape.is_free() {
            return Allowed::Any;
        }
        if let (0, Some(first)) = (self.column, self.acrostic.get(self.line)) {
            return Allowed::Only(vec![*first]);
        }
        let Some(form) = self.shape.form else {
            return Allowed::AllBut(self.end_of_document);
        };
        match self.column.cmp(&form.characters) {
            Ordering::Less => Allowed::Only(self.content.clone()),
            Ordering::Equal if Some(self.line + 1) == self.lines => {
                Allowed::Only(self.last_line_ends.clone())
            }
            Ordering::Equal => Allowed::Only(self.line_ends.clone()),
            Ordering::Greater => {
                Allowed::Only(vec![self.newline.expect("a form's constraint has a newline")])
            }
        }
    }

    /// Follows one token of the text; a token the shape does not allow is an error.
    pub fn advance(&mut self, token: u32, vocab: &Vocab) -> Result<(), String> {
        let fits = match self.allowed() {
            Allowed::Any => true,
            Allowed::Only(ids) => ids.contains(&token),
            Allowed::AllBut(id) => token != id,
        };
        if !fits {
            return Err(format!(
                "\"{}\" at line {}, column {} does not fit the shape",
                vocab.token_text(token),
                self.line + 1,
                self.column + 1
            ));
        }
        let breaks = match self.breaks.get(token as usize) {
            Some(breaks) => *breaks,
            None => usize::from(Some(token) == self.newline && !self.shape.is_free()),
        };
        if breaks > 0 {
            self.line += breaks;
            self.column = 0;
            self.done = self.lines.is_some_and(|lines| self.line >= lines);
        } else {
            self.column += 1;
        }
        Ok(())
    }

    /// Cuts a finished text to the shape's lines: what follows the line break that ended
    /// the last line goes, and that break with it.
    pub fn trim(&self, text: &mut String) {
        let Some(last) = self.lines.and_then(|lines| lines.checked_sub(1)) else { return };
        if let Some((at, _)) = text.match_indices('\n').nth(last) {
            text.truncate(at);
        }
    }

    /// Where the next token goes, counted from 1.
    pub fn position(&self) -> (usize, usize) {
        (self.line + 1, self.column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_in_bpe_tokens_and_the_last_break_trimmed() {
        let text = "first verse\n\nsecond verse\n\n".repeat(50);
        let vocab = crate::vocab::train_bpe(std::iter::once(text), 300, &[]).unwrap();
        let shape = Shape { lines: Some(3), ..Shape::default() };
        let mut constraint = Constraint::new(&shape, &vocab).unwrap();
        assert_eq!(constraint.allowed(), Allowed::AllBut(vocab.end_of_document()));

        let mut text = String::new();
        for id in vocab.encode_prompt("first\n\nsecond verse\nthird").unwrap() {
            constraint.advance(id, &vocab).unwrap();
            text.push_str(&vocab.token_text(id));
            if constraint.done() {
                break;
            }
        }
        assert!(constraint.done(), "a blank line is a line");
        constraint.trim(&mut text);
        assert_eq!(text, "first\n\nsecond verse");
    }

    #[test]
    fn no_lines_and_an_empty_acrostic_are_refused() {
        let vocab = crate::vocab::train_bpe(std::iter::once("a\nb\n".to_string()), 260, &[]);
        let vocab = vocab.unwrap();
        let none = Shape { lines: Some(0), ..Shape::default() };
        assert_eq!(Constraint::new(&none, &vocab).unwrap_err(), "--lines must be at least 1");
        let empty = Shape { acrostic: Some(Vec::new()), ..Shape::default() };
        let refused = Constraint::new(&empty, &vocab).unwrap_err();
        assert_eq!(refused, "--acrostic needs at least one character");
    }
}
