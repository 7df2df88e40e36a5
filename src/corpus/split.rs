//! The train/validation split: by document, decided by a hash of its text and the seed, so
//! adding a document never moves another one between splits. When that would leave one
//! side empty, the split is made by position in the token stream instead.

use xxhash_rust::xxh3::Xxh3;

/// Which side of the split a document is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
}

/// How the corpus was split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitMode {
    /// Whole documents on each side, by hash.
    Document,
    /// The last `val_fraction` of the token stream is validation.
    Position,
    /// No validation split (`val_fraction = 0`).
    None,
}

/// The stable hash that places a document, fed in pieces.
pub struct DocumentHasher(Xxh3);

impl DocumentHasher {
    pub fn new(seed: u64) -> DocumentHasher {
        DocumentHasher(Xxh3::with_seed(seed))
    }

    pub fn update(&mut self, text: &str) {
        self.0.update(text.as_bytes());
    }

    pub fn finish(&self) -> u64 {
        self.0.digest()
    }
}

/// The hash of a whole document's text.
pub fn document_hash(text: &str, seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(text.as_bytes(), seed)
}

/// The side a document with this hash falls on.
pub fn split_of(hash: u64, val_fraction: f64) -> Split {
    let position = (hash >> 11) as f64 / (1u64 << 53) as f64;
    if position < val_fraction {
        Split::Val
    } else {
        Split::Train
    }
}

/// How to split a corpus in which `val_documents` of `documents` hash to validation.
pub fn split_mode(documents: usize, val_documents: usize, val_fraction: f64) -> SplitMode {
    if val_fraction <= 0.0 {
        SplitMode::None
    } else if val_documents > 0 && val_documents < documents {
        SplitMode::Document
    } else {
        SplitMode::Position
    }
}

/// What to tell the user about a split made by position.
pub fn position_note(documents: usize, val_fraction: f64) -> String {
    format!(
        "the corpus has {documents} document{} and a split by document would leave one side \
         empty, so the last {:.0}% of its tokens are used for validation",
        if documents == 1 { "" } else { "s" },
        val_fraction * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_the_requested_fraction_goes_to_validation() {
        let val = (0..10_000)
            .filter(|i| split_of(document_hash(&format!("poem {i}"), 7), 0.1) == Split::Val)
            .count();
        assert!((900..1100).contains(&val), "{val} of 10000 in validation");
    }

    #[test]
    fn the_seed_changes_the_split() {
        let differs = (0..200)
            .filter(|i| {
                let text = format!("poem {i}");
                split_of(document_hash(&text, 1), 0.5) != split_of(document_hash(&text, 2), 0.5)
            })
            .count();
        assert!(differs > 50);
    }

    #[test]
    fn hashing_in_pieces_equals_hashing_at_once() {
        let mut hasher = DocumentHasher::new(9);
        hasher.update("月落乌");
        hasher.update("啼霜满天");
        assert_eq!(hasher.finish(), document_hash("月落乌啼霜满天", 9));
    }

    #[test]
    fn one_sided_splits_fall_back_to_position() {
        assert_eq!(split_mode(1, 0, 0.1), SplitMode::Position);
        assert_eq!(split_mode(5, 5, 0.1), SplitMode::Position);
        assert_eq!(split_mode(5, 1, 0.1), SplitMode::Document);
        assert_eq!(split_mode(5, 0, 0.0), SplitMode::None);
    }
}
