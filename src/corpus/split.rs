//! The train/validation split: by document, decided by a hash of its text and the seed, so
//! adding a document never moves another one between splits.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Which side of the split a document is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
}

/// The stable hash that places a document.
pub fn document_hash(text: &str, seed: u64) -> u64 {
    xxh3_64_with_seed(text.as_bytes(), seed)
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
}
