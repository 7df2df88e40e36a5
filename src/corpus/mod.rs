//! The corpus: finding files, reading each format, cleaning, cutting into documents, and
//! the report of what was read and what was skipped. Knows nothing of tensors.

mod clean;
mod discover;
mod field;
mod markdown;
mod read;
mod split;
mod structured;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

pub use clean::Cleaning;
pub use field::FieldPath;
pub use split::{document_hash, split_of, Split};

use crate::config::{CorpusConfig, InvalidUtf8};
use structured::Fields;

/// One unit of training text: a file, a poem, a row. Documents are separated by an
/// end-of-document token in training.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub text: String,
    /// Index into [`Corpus::files`] of the file it came from.
    pub file: usize,
}

/// A file or path that was not used, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// A file that was used, but not entirely as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub path: PathBuf,
    pub message: String,
}

/// Everything read from the configured paths.
#[derive(Debug, Default)]
pub struct Corpus {
    pub files: Vec<PathBuf>,
    pub documents: Vec<Document>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<Warning>,
}

/// The reason given for a configured path that does not exist.
pub const MISSING: &str = "no such file or folder";

/// Why no corpus could be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{0}")]
    Config(String),
    #[error("no text to train on: searched {searched}; {found}")]
    NoText { searched: String, found: String },
}

/// The file formats Muse reads, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
    JsonLines,
    Csv,
    Tsv,
}

impl Format {
    /// The format of a file from its extension; files without one are read as text.
    pub fn of(path: &Path) -> Option<Format> {
        let Some(extension) = path.extension() else {
            return Some(Format::Text);
        };
        match extension.to_string_lossy().to_ascii_lowercase().as_str() {
            "txt" | "text" => Some(Format::Text),
            "md" | "markdown" => Some(Format::Markdown),
            "json" => Some(Format::Json),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            "csv" => Some(Format::Csv),
            "tsv" => Some(Format::Tsv),
            _ => None,
        }
    }
}

/// How every file is read, from `[corpus]`.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub fields: Fields,
    pub cleaning: Cleaning,
    pub invalid_utf8: InvalidUtf8,
}

impl ReadOptions {
    pub fn from_config(config: &CorpusConfig) -> Result<ReadOptions, CorpusError> {
        let path = |key: &str, written: &str| {
            FieldPath::parse(written).ok_or_else(|| {
                CorpusError::Config(format!("[corpus] {key} = \"{written}\" is not a field path"))
            })
        };
        let text = path("text_field", &config.text_field)?;
        let title = config.title_field.as_deref().map(|t| path("title_field", t)).transpose()?;
        Ok(ReadOptions {
            fields: Fields { text, title },
            cleaning: Cleaning::from_config(config),
            invalid_utf8: config.invalid_utf8,
        })
    }
}

/// Reads the corpus the config names, with paths relative to `base`.
pub fn load(config: &CorpusConfig, base: &Path) -> Result<Corpus, CorpusError> {
    let options = ReadOptions::from_config(config)?;
    let found = discover::discover(config, base).map_err(CorpusError::Config)?;

    let results: Vec<(PathBuf, Result<FileDocuments, String>)> =
        found.files.par_iter().map(|path| (path.clone(), read_file(path, &options))).collect();

    let mut corpus = Corpus { skipped: found.skipped, ..Corpus::default() };
    for (path, result) in results {
        match result {
            Ok(file) if file.texts.is_empty() => {
                corpus.skipped.push(Skipped { path, reason: "no text after cleaning".to_string() })
            }
            Ok(file) => {
                let index = corpus.files.len();
                corpus
                    .documents
                    .extend(file.texts.into_iter().map(|text| Document { text, file: index }));
                corpus.warnings.extend(
                    file.warnings
                        .into_iter()
                        .map(|message| Warning { path: path.clone(), message }),
                );
                corpus.files.push(path);
            }
            Err(reason) => corpus.skipped.push(Skipped { path, reason }),
        }
    }

    if corpus.documents.is_empty() {
        return Err(no_text(&found.searched, &corpus.skipped));
    }
    Ok(corpus)
}

/// The cleaned documents of one file.
struct FileDocuments {
    texts: Vec<String>,
    warnings: Vec<String>,
}

/// Reads, parses and cleans one file; `Err` is the reason it is skipped.
fn read_file(path: &Path, options: &ReadOptions) -> Result<FileDocuments, String> {
    let Some(format) = Format::of(path) else {
        let extension = path.extension().map(|e| e.to_string_lossy()).unwrap_or_default();
        return Err(format!("not a format Muse reads (.{extension})"));
    };
    let file = read::read_text(path, options.invalid_utf8)?;
    let mut warnings: Vec<String> = file.warning.into_iter().collect();

    let raw = match format {
        Format::Text => vec![file.text],
        Format::Markdown => vec![markdown::to_text(&file.text)],
        Format::Json => take(structured::from_json(&file.text, &options.fields)?, &mut warnings),
        Format::JsonLines => {
            take(structured::from_json_lines(&file.text, &options.fields)?, &mut warnings)
        }
        Format::Csv => {
            take(structured::from_table(&file.text, b',', &options.fields)?, &mut warnings)
        }
        Format::Tsv => {
            take(structured::from_table(&file.text, b'\t', &options.fields)?, &mut warnings)
        }
    };

    let texts = raw
        .iter()
        .map(|text| options.cleaning.apply(text))
        .filter(|text| !text.is_empty())
        .collect();
    Ok(FileDocuments { texts, warnings })
}

fn take(extracted: structured::Extracted, warnings: &mut Vec<String>) -> Vec<String> {
    warnings.extend(extracted.warnings);
    extracted.texts
}

fn no_text(searched: &[PathBuf], skipped: &[Skipped]) -> CorpusError {
    let listed = searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let (missing, unusable): (Vec<&Skipped>, Vec<&Skipped>) =
        skipped.iter().partition(|s| searched.contains(&s.path) && s.reason == MISSING);

    let mut found = Vec::new();
    if !missing.is_empty() {
        let paths: Vec<String> = missing.iter().map(|s| s.path.display().to_string()).collect();
        let verb = if paths.len() == 1 { "does" } else { "do" };
        found.push(format!("{} {verb} not exist", paths.join(", ")));
    }
    if !unusable.is_empty() {
        let reasons: Vec<String> = unusable
            .iter()
            .take(5)
            .map(|s| format!("{} ({})", s.path.display(), s.reason))
            .collect();
        let more = unusable.len().saturating_sub(5);
        let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
        let count = unusable.len();
        found.push(format!(
            "found {count} unusable file{}: {}{tail}",
            read::plural(count),
            reasons.join("; ")
        ));
    }
    if found.is_empty() {
        found.push("found no files".to_string());
    }
    CorpusError::NoText { searched: listed, found: found.join("; ") }
}
