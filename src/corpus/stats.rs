//! Corpus statistics, gathered in one streaming pass: what was read and skipped, sizes,
//! the commonest characters, line lengths, and how the split falls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::split::{split_mode, split_of, DocumentHasher, Split, SplitMode};
use super::{read_documents, scan, CorpusError, Piece, ReadOptions, Skipped, StyleFrom, Warning};
use crate::config::CorpusConfig;

/// Upper bounds (exclusive) of the line-length buckets, in characters; the last bucket
/// has no bound.
const LINE_BUCKETS: [u64; 8] = [1, 5, 10, 20, 40, 80, 160, 320];

/// Everything `muse corpus stats` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub files: usize,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<Warning>,
    pub documents: usize,
    pub characters: u64,
    /// Distinct characters: the size of a character vocabulary over the whole corpus.
    pub vocab: usize,
    pub commonest: Vec<Common>,
    pub line_lengths: Vec<Bucket>,
    pub split: SplitMode,
    pub train_documents: usize,
    pub val_documents: usize,
    pub train_characters: u64,
    pub val_characters: u64,
    /// Documents and characters of each style, when the corpus has styles.
    pub styles: Vec<StyleSize>,
}

/// How much of the corpus one style is.
#[derive(Debug, Clone, Serialize)]
pub struct StyleSize {
    pub name: String,
    pub documents: usize,
    pub characters: u64,
}

/// One of the commonest characters.
#[derive(Debug, Clone, Serialize)]
pub struct Common {
    pub character: String,
    pub count: u64,
}

/// Lines whose length is in `from..to` (`to` absent for the last bucket).
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub from: u64,
    pub to: Option<u64>,
    pub lines: u64,
}

/// Counts characters, with a fast path for ASCII.
pub struct CharCounter {
    ascii: [u64; 128],
    other: HashMap<char, u64>,
}

impl Default for CharCounter {
    fn default() -> Self {
        CharCounter { ascii: [0; 128], other: HashMap::new() }
    }
}

impl CharCounter {
    /// Counts the characters of `text`; returns how many there were.
    pub fn add(&mut self, text: &str) -> u64 {
        let mut total = 0;
        for c in text.chars() {
            total += 1;
            match self.ascii.get_mut(c as usize) {
                Some(count) => *count += 1,
                None => *self.other.entry(c).or_insert(0) += 1,
            }
        }
        total
    }

    /// Adds the counts to `into` and starts again from zero.
    pub fn drain_into(&mut self, into: &mut HashMap<char, u64>) {
        for (code, count) in self.ascii.iter_mut().enumerate() {
            if *count > 0 {
                *into.entry(code as u8 as char).or_insert(0) += *count;
                *count = 0;
            }
        }
        for (c, n) in self.other.drain() {
            *into.entry(c).or_insert(0) += n;
        }
    }
}

/// What one file contributed.
#[derive(Default)]
struct FileStats {
    documents: usize,
    val_documents: usize,
    characters: [u64; 2],
    counts: HashMap<char, u64>,
    lines: [u64; LINE_BUCKETS.len() + 1],
    warnings: Vec<String>,
    /// Documents and characters by style name.
    styles: HashMap<String, (usize, u64)>,
}

/// Reads the corpus the config names and gathers its statistics, with the split the
/// given seed and validation fraction make.
pub fn collect(
    config: &CorpusConfig,
    base: &Path,
    seed: u64,
    val_fraction: f64,
) -> Result<Stats, CorpusError> {
    let options = ReadOptions::from_config(config)?;
    let found = scan(config, base)?;
    let style_from = StyleFrom::of(config).settle(&found.files);
    let results: Vec<(PathBuf, Result<FileStats, String>)> = found
        .files
        .par_iter()
        .map(|path| {
            let style = style_from.of_file(path);
            (path.clone(), file_stats(path, &options, seed, val_fraction, style))
        })
        .collect();

    let mut skipped = found.skipped.clone();
    let mut warnings = Vec::new();
    let mut total = FileStats::default();
    let mut files = 0;
    for (path, result) in results {
        match result {
            Ok(file) => {
                files += 1;
                warnings.extend(
                    file.warnings
                        .iter()
                        .map(|m| Warning { path: path.clone(), message: m.clone() }),
                );
                merge(&mut total, file);
            }
            Err(reason) => skipped.push(Skipped { path, reason }),
        }
    }
    if files == 0 {
        return Err(super::nothing_read(&found, &skipped));
    }

    let mode = split_mode(total.documents, total.val_documents, val_fraction);
    let characters = total.characters[0] + total.characters[1];
    let (train_characters, val_characters, val_documents) = match mode {
        SplitMode::Document => (total.characters[0], total.characters[1], total.val_documents),
        SplitMode::Position => {
            let val = (characters as f64 * val_fraction) as u64;
            (characters - val, val, 0)
        }
        SplitMode::None => (characters, 0, 0),
    };

    let mut styles: Vec<StyleSize> = total
        .styles
        .iter()
        .map(|(name, (documents, characters))| StyleSize {
            name: name.clone(),
            documents: *documents,
            characters: *characters,
        })
        .collect();
    styles.sort_by(|a, b| a.name.cmp(&b.name));

    let mut commonest: Vec<(char, u64)> = total.counts.iter().map(|(c, n)| (*c, *n)).collect();
    commonest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Stats {
        files,
        skipped,
        warnings,
        documents: total.documents,
        characters,
        vocab: total.counts.len(),
        commonest: commonest
            .into_iter()
            .take(20)
            .map(|(c, count)| Common { character: c.to_string(), count })
            .collect(),
        line_lengths: buckets(&total.lines),
        split: mode,
        train_documents: total.documents - val_documents,
        val_documents,
        train_characters,
        val_characters,
        styles,
    })
}

fn file_stats(
    path: &Path,
    options: &ReadOptions,
    seed: u64,
    val_fraction: f64,
    file_style: Option<String>,
) -> Result<FileStats, String> {
    let mut stats = FileStats::default();
    let mut counter = CharCounter::default();
    let mut hasher = DocumentHasher::new(seed);
    let mut document_characters = 0;
    let mut line = 0u64;
    let mut style = None;
    let report = read_documents(path, options, &mut |piece| match piece {
        Piece::Style(name) => style = Some(name.to_string()),
        Piece::Text(text) => {
            hasher.update(text);
            document_characters += counter.add(text);
            for (index, part) in text.split('\n').enumerate() {
                if index > 0 {
                    stats.lines[bucket_of(line)] += 1;
                    line = 0;
                }
                line += part.chars().count() as u64;
            }
        }
        Piece::End => {
            stats.lines[bucket_of(line)] += 1;
            line = 0;
            let side = split_of(hasher.finish(), val_fraction);
            hasher = DocumentHasher::new(seed);
            stats.documents += 1;
            stats.val_documents += usize::from(side == Split::Val);
            stats.characters[side as usize] += document_characters;
            if let Some(name) = style.take().or_else(|| file_style.clone()) {
                let entry = stats.styles.entry(name).or_insert((0, 0));
                entry.0 += 1;
                entry.1 += document_characters;
            }
            document_characters = 0;
        }
    })?;
    counter.drain_into(&mut stats.counts);
    stats.warnings = report.warnings;
    Ok(stats)
}

fn merge(total: &mut FileStats, file: FileStats) {
    total.documents += file.documents;
    total.val_documents += file.val_documents;
    for side in 0..2 {
        total.characters[side] += file.characters[side];
    }
    for (c, n) in file.counts {
        *total.counts.entry(c).or_insert(0) += n;
    }
    for (bucket, lines) in file.lines.iter().enumerate() {
        total.lines[bucket] += lines;
    }
    for (name, (documents, characters)) in file.styles {
        let entry = total.styles.entry(name).or_insert((0, 0));
        entry.0 += documents;
        entry.1 += characters;
    }
}

fn bucket_of(length: u64) -> usize {
    LINE_BUCKETS.iter().position(|bound| length < *bound).unwrap_or(LINE_BUCKETS.len())
}

fn buckets(lines: &[u64]) -> Vec<Bucket> {
    lines
        .iter()
        .enumerate()
        .map(|(index, lines)| Bucket {
            from: if index == 0 { 0 } else { LINE_BUCKETS[index - 1] },
            to: LINE_BUCKETS.get(index).copied(),
            lines: *lines,
        })
        .collect()
}
