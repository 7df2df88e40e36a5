//! Vocabularies: how text becomes token ids and back. Saved as `tokenizer.json` in the
//! Hugging Face format, so Python's `tokenizers` loads the same vocabulary.

mod bpe;
pub mod cache;
mod char;

use std::collections::HashMap;
use std::path::Path;

use tokenizers::{PreTokenizerWrapper, Tokenizer};

pub use self::bpe::train_bpe;
pub use self::char::build_char;
use crate::config::TokenizerKind;

/// The token that ends every document; generation stops when it is drawn.
pub const END_OF_DOCUMENT: &str = "<eod>";
/// The token that stands for characters too rare to get their own.
pub const UNKNOWN: &str = "<unk>";

/// The special token that starts every document of a style.
pub fn style_token(name: &str) -> String {
    format!("<style:{name}>")
}

/// Why text could not be encoded, or a vocabulary not loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error(
        "the prompt contains {shown} (U+{code:04X}), a character the model never saw in \
         training; leave it out or add text with it to the corpus and train again"
    )]
    UnknownCharacter { shown: String, code: u32 },
    #[error("{path}: cannot load the vocabulary: {message}")]
    Load { path: String, message: String },
    #[error("{path}: cannot save the vocabulary: {message}")]
    Save { path: String, message: String },
    #[error("cannot train the BPE vocabulary: {0}")]
    Train(String),
    #[error("unknown style \"{name}\"; {known}")]
    UnknownStyle { name: String, known: String },
}

/// A vocabulary: the `tokenizers` tokenizer plus the lookups Muse uses on hot paths.
#[derive(Clone)]
pub struct Vocab {
    tokenizer: Tokenizer,
    kind: TokenizerKind,
    /// For character vocabularies: each character's id.
    char_ids: HashMap<char, u32>,
    /// The text of each id; empty for special tokens.
    pieces: Vec<String>,
    end_of_document: u32,
    unknown: Option<u32>,
}

impl Vocab {
    fn from_tokenizer(tokenizer: Tokenizer) -> Vocab {
        let kind = match tokenizer.get_pre_tokenizer() {
            Some(PreTokenizerWrapper::ByteLevel(_)) => TokenizerKind::Bpe,
            _ => TokenizerKind::Char,
        };
        let specials = tokenizer.get_added_tokens_decoder();
        let mut pieces = vec![String::new(); tokenizer.get_vocab_size(true)];
        for (token, id) in tokenizer.get_vocab(true) {
            if !specials.get(&id).is_some_and(|added| added.special) {
                pieces[id as usize] = token;
            }
        }
        let char_ids = match kind {
            TokenizerKind::Char => pieces
                .iter()
                .enumerate()
                .filter_map(|(id, piece)| single_char(piece).map(|c| (c, id as u32)))
                .collect(),
            TokenizerKind::Bpe => HashMap::new(),
        };
        let end_of_document = tokenizer
            .token_to_id(END_OF_DOCUMENT)
            .expect("every Muse vocabulary has an end-of-document token");
        let unknown = tokenizer.token_to_id(UNKNOWN);
        Vocab { tokenizer, kind, char_ids, pieces, end_of_document, unknown }
    }

    /// Loads `tokenizer.json`.
    pub fn load(path: &Path) -> Result<Vocab, VocabError> {
        let error =
            |message: String| VocabError::Load { path: path.display().to_string(), message };
        let tokenizer = Tokenizer::from_file(path).map_err(|e| error(e.to_string()))?;
        if tokenizer.token_to_id(END_OF_DOCUMENT).is_none() {
            return Err(error(format!(
                "it has no {END_OF_DOCUMENT} token, so Muse did not write it"
            )));
        }
        Ok(Vocab::from_tokenizer(tokenizer))
    }

    /// Writes `tokenizer.json` atomically: a temporary file renamed into place.
    pub fn save(&self, path: &Path) -> Result<(), VocabError> {
        let error =
            |message: String| VocabError::Save { path: path.display().to_string(), message };
        let json = self.tokenizer.to_string(true).map_err(|e| error(e.to_string()))?;
        crate::run::write_atomic(path, json.as_bytes()).map_err(|e| error(e.to_string()))
    }

    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// Number of ids, special tokens included.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    pub fn end_of_document(&self) -> u32 {
        self.end_of_document
    }

    /// The text an id stands for in a character vocabulary (empty for special tokens);
    /// in a BPE vocabulary, the byte-level form of the token.
    pub fn piece(&self, id: u32) -> &str {
        self.pieces.get(id as usize).map_or("", String::as_str)
    }

    /// The readable text of one token, for display; a BPE token that ends inside a
    /// character shows replacement characters.
    pub fn token_text(&self, id: u32) -> String {
        self.decode(&[id])
    }

    /// A stable fingerprint of the vocabulary, to refuse checkpoints trained on another.
    pub fn fingerprint(&self) -> String {
        let json = self.tokenizer.to_string(false).unwrap_or_default();
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(json.as_bytes()))
    }

    /// Encodes corpus text. In a character vocabulary, characters outside it become the
    /// unknown token, or are left out when it has none.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        match self.kind {
            TokenizerKind::Char => text
                .chars()
                .filter_map(|c| self.char_ids.get(&c).copied().or(self.unknown))
                .collect(),
            TokenizerKind::Bpe => self.encode_bpe(text),
        }
    }

    fn encode_bpe(&self, text: &str) -> Vec<u32> {
        self.tokenizer
            .encode_fast(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// Encodes a prompt: a character the model never saw is an error that names it.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, VocabError> {
        if self.kind == TokenizerKind::Bpe {
            return Ok(self.encode_bpe(text));
        }
        text.chars()
            .map(|c| {
                self.char_ids
                    .get(&c)
                    .copied()
                    .ok_or_else(|| VocabError::UnknownCharacter { shown: shown(c), code: c as u32 })
            })
            .collect()
    }

    /// The text of a sequence of ids, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> String {
        match self.kind {
            TokenizerKind::Char => ids.iter().map(|id| self.piece(*id)).collect(),
            TokenizerKind::Bpe => self.tokenizer.decode(ids, true).unwrap_or_default(),
        }
    }

    /// The id of a special token, such as a style token.
    pub fn special(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// The styles this vocabulary has tokens for, sorted.
    pub fn styles(&self) -> Vec<String> {
        let mut styles: Vec<String> = self
            .tokenizer
            .get_added_tokens_decoder()
            .values()
            .filter_map(|t| {
                t.content.strip_prefix("<style:")?.strip_suffix('>').map(str::to_string)
            })
            .collect();
        styles.sort();
        styles
    }

    /// The token of a style; an unknown style is an error that lists the known ones.
    pub fn style(&self, name: &str) -> Result<u32, VocabError> {
        self.special(&style_token(name)).ok_or_else(|| {
            let styles = self.styles();
            let known = if styles.is_empty() {
                "this run was trained without styles".to_string()
            } else {
                format!("the styles of this run are: {}", styles.join(", "))
            };
            VocabError::UnknownStyle { name: name.to_string(), known }
        })
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

fn single_char(piece: &str) -> Option<char> {
    let mut chars = piece.chars();
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

/// A character as a message shows it: quoted, or named when it is invisible.
fn shown(c: char) -> String {
    match c {
        '\n' => "a newline".to_string(),
        '\t' => "a tab".to_string(),
        c if c.is_control() || c.is_whitespace() => "an invisible character".to_string(),
        c => format!("\"{c}\""),
    }
}
