//! Shapes a text must take: the classical Chinese forms (characters per line × lines), a
//! number of lines in any script, and acrostics (line i begins with the i-th character
//! of a given text). A shape is a mask on each next-token distribution.

use crate::vocab::Vocab;

/// Punctuation that may end a line of a form, and what may end its last line: the
/// Chinese marks when the vocabulary has them, else their Latin counterparts.
const LINE_ENDS: [&[char]; 2] = [&['，', '。', '！', '？', '；'], &[',', '.', '!', '?', ';']];
const LAST_LINE_ENDS: [&[char]; 2] = [&['。', '！', '？'], &['.', '!', '?']];

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
            end_of_document: vocab.end_of_document(),
            line: 0,
            column: 0,
            done: false,
        };
        if shape.is_free() {
            return Ok(constraint);
        }
        if vocab.kind() != crate::config::TokenizerKind::Char {
            return Err("forms, --lines and acrostics need a character vocabulary ([tokenizer] kind = \"char\")".into());
        }
        let id_of =
            |c: char| vocab.encode_prompt(&c.to_string()).ok().and_then(|ids| ids.first().copied());
        constraint.newline =
            Some(id_of('\n').ok_or("the vocabulary has no newline, so it cannot write lines")?);
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
        let newline = self.newline.expect("a shaped constraint has a newline");
        match self.shape.form {
            Some(form) if self.column < form.characters => Allowed::Only(self.content.clone()),
            Some(form) if self.column == form.characters => {
                let last = Some(self.line + 1) == self.lines;
                Allowed::Only(if last {
                    self.last_line_ends.clone()
                } else {
                    self.line_ends.clone()
                })
            }
            Some(_) => Allowed::Only(vec![newline]),
            None => Allowed::AllBut(self.end_of_document),
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
        if Some(token) == self.newline && !self.shape.is_free() {
            self.line += 1;
            self.column = 0;
            self.done = Some(self.line) == self.lines;
        } else {
            self.column += 1;
        }
        Ok(())
    }

    /// Where the next token goes, counted from 1.
    pub fn position(&self) -> (usize, usize) {
        (self.line + 1, self.column + 1)
    }
}
