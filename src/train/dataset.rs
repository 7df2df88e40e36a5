//! From a corpus to token ids: the split by document, the vocabulary built on the
//! training side, and each document encoded and closed with the end-of-document token.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::corpus::{document_hash, split_of, Corpus, Split};
use crate::vocab::{build_char, Vocab};

/// Token ids of both splits, ready for batching.
pub struct Dataset {
    pub vocab: Vocab,
    pub train: Vec<u32>,
    pub val: Vec<u32>,
    pub train_documents: usize,
    pub val_documents: usize,
    /// Set when the split could not be made by document, saying how it was made instead.
    pub split_note: Option<String>,
}

/// Splits, builds the vocabulary on the training documents, and encodes everything.
pub fn prepare(corpus: &Corpus, seed: u64, val_fraction: f64, min_count: u64) -> Dataset {
    let sides: Vec<Split> = corpus
        .documents
        .iter()
        .map(|doc| split_of(document_hash(&doc.text, seed), val_fraction))
        .collect();
    let val_documents = sides.iter().filter(|s| **s == Split::Val).count();
    let by_document = val_fraction > 0.0 && val_documents > 0 && val_documents < sides.len();

    let training_text = corpus
        .documents
        .iter()
        .zip(&sides)
        .filter(|(_, side)| !by_document || **side == Split::Train)
        .map(|(doc, _)| doc.text.as_str());
    let vocab = build_char(&count_characters(training_text), min_count);

    let encoded: Vec<Vec<u32>> = corpus
        .documents
        .par_iter()
        .map(|doc| {
            let mut ids = vocab.encode(&doc.text);
            ids.push(vocab.end_of_document());
            ids
        })
        .collect();

    if by_document {
        let mut train = Vec::new();
        let mut val = Vec::new();
        for (ids, side) in encoded.iter().zip(&sides) {
            match side {
                Split::Train => train.extend_from_slice(ids),
                Split::Val => val.extend_from_slice(ids),
            }
        }
        return Dataset {
            vocab,
            train,
            val,
            train_documents: sides.len() - val_documents,
            val_documents,
            split_note: None,
        };
    }

    let all: Vec<u32> = encoded.concat();
    let cut = all.len() - ((all.len() as f64 * val_fraction) as usize);
    let documents = corpus.documents.len();
    let split_note = (val_fraction > 0.0).then(|| {
        format!(
            "the corpus has {documents} document{} and the split by document left one side \
             empty, so the last {:.0}% of its tokens are used for validation",
            if documents == 1 { "" } else { "s" },
            val_fraction * 100.0
        )
    });
    Dataset {
        vocab,
        val: all[cut..].to_vec(),
        train: all[..cut].to_vec(),
        train_documents: documents,
        val_documents: 0,
        split_note,
    }
}

/// How often each character occurs, counted in parallel.
pub fn count_characters<'a>(texts: impl Iterator<Item = &'a str>) -> HashMap<char, u64> {
    let texts: Vec<&str> = texts.collect();
    texts
        .par_iter()
        .fold(HashMap::new, |mut counts, text| {
            for c in text.chars() {
                *counts.entry(c).or_insert(0u64) += 1;
            }
            counts
        })
        .reduce(HashMap::new, |mut a, b| {
            for (c, n) in b {
                *a.entry(c).or_insert(0) += n;
            }
            a
        })
}
