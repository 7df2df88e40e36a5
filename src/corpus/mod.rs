//! The corpus: finding files, reading each format, cleaning, cutting into documents, and
//! the report of what was read and what was skipped. Knows nothing of tensors.

mod clean;
mod discover;
mod field;
mod markdown;
mod read;
mod split;
pub mod stats;
mod structured;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

pub use clean::{Cleaner, Cleaning};
pub use field::FieldPath;
pub use read::io_reason;
pub use split::{
    document_hash, position_note, split_mode, split_of, DocumentHasher, Split, SplitMode,
};
pub use stats::{collect as statistics, CharCounter, Stats};
pub use structured::Fields;

use crate::config::{CorpusConfig, InvalidUtf8};

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

/// Where documents get their style label from, `[corpus] style_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StyleFrom {
    /// The name of the folder the file is in.
    Folder,
    /// The file's name without its extension.
    File,
    /// A field or column of each record.
    Field(String),
    None,
    /// Not set: `Folder` when the corpus files are in more than one folder, else `None`.
    Auto,
}

impl StyleFrom {
    pub fn of(config: &CorpusConfig) -> StyleFrom {
        match config.style_from.as_deref() {
            None => StyleFrom::Auto,
            Some("folder") => StyleFrom::Folder,
            Some("file") => StyleFrom::File,
            Some("none") => StyleFrom::None,
            Some(other) => other
                .strip_prefix("field:")
                .map_or(StyleFrom::None, |f| StyleFrom::Field(f.to_string())),
        }
    }

    /// Settles `Auto` for the files found.
    pub fn settle(self, files: &[PathBuf]) -> StyleFrom {
        if self != StyleFrom::Auto {
            return self;
        }
        let folders: std::collections::HashSet<Option<&Path>> =
            files.iter().map(|f| f.parent()).collect();
        if folders.len() > 1 {
            StyleFrom::Folder
        } else {
            StyleFrom::None
        }
    }

    /// The style of every document of a file, for the rules that depend on its path.
    pub fn of_file(&self, path: &Path) -> Option<String> {
        let name = match self {
            StyleFrom::Folder => path.parent()?.file_name()?,
            StyleFrom::File => path.file_stem()?,
            _ => return None,
        };
        Some(name.to_string_lossy().into_owned())
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
        let style = match StyleFrom::of(config) {
            StyleFrom::Field(name) => Some(path("style_from", &name)?),
            _ => None,
        };
        Ok(ReadOptions {
            fields: Fields { text, title, style },
            cleaning: Cleaning::from_config(config),
            invalid_utf8: config.invalid_utf8,
        })
    }
}

/// The files the config names, before any is read.
pub use discover::Found as Scan;

/// Finds the corpus files the config names, with paths relative to `base`.
pub fn scan(config: &CorpusConfig, base: &Path) -> Result<Scan, CorpusError> {
    discover::discover(config, base).map_err(CorpusError::Config)
}

/// Reads the corpus the config names into memory, with paths relative to `base`.
pub fn load(config: &CorpusConfig, base: &Path) -> Result<Corpus, CorpusError> {
    let options = ReadOptions::from_config(config)?;
    let found = scan(config, base)?;

    let results: Vec<(PathBuf, Result<FileDocuments, String>)> =
        found.files.par_iter().map(|path| (path.clone(), read_in_memory(path, &options))).collect();

    let mut corpus = Corpus { skipped: found.skipped, ..Corpus::default() };
    for (path, result) in results {
        match result {
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

/// The error for a corpus in which nothing could be read.
pub fn nothing_read(scan: &Scan, skipped: &[Skipped]) -> CorpusError {
    no_text(&scan.searched, skipped)
}

/// The cleaned documents of one file.
struct FileDocuments {
    texts: Vec<String>,
    warnings: Vec<String>,
}

fn read_in_memory(path: &Path, options: &ReadOptions) -> Result<FileDocuments, String> {
    let mut texts = Vec::new();
    let mut current = String::new();
    let report = read_documents(path, options, &mut |piece| match piece {
        Piece::Text(text) => current.push_str(text),
        Piece::Style(_) => {}
        Piece::End => texts.push(std::mem::take(&mut current)),
    })?;
    Ok(FileDocuments { texts, warnings: report.warnings })
}

/// A part of a document as it is read: its style (when a field gives one), its text in
/// one or more pieces, then its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Style(&'a str),
    Text(&'a str),
    End,
}

/// What reading one file found besides its documents.
#[derive(Debug, Default)]
pub struct FileReport {
    pub documents: usize,
    pub warnings: Vec<String>,
}

/// Reads, parses and cleans one file, handing its documents to `sink` piece by piece.
/// Plain text files larger than a few megabytes stream through in pieces; other
/// formats are parsed whole. `Err` is the reason the file is skipped, and then `sink`
/// has not been called.
pub fn read_documents(
    path: &Path,
    options: &ReadOptions,
    sink: &mut dyn FnMut(Piece),
) -> Result<FileReport, String> {
    let Some(format) = Format::of(path) else {
        let extension = path.extension().map(|e| e.to_string_lossy()).unwrap_or_default();
        return Err(format!("not a format Muse reads (.{extension})"));
    };
    let size = std::fs::metadata(path).map_err(|e| read::io_reason(&e))?.len() as usize;
    if format == Format::Text && size > read::PIECE {
        return stream_plain_text(path, options, sink);
    }

    let file = read::read_text(path, options.invalid_utf8)?;
    let mut report = FileReport { documents: 0, warnings: file.warning.into_iter().collect() };
    let raw: Vec<(String, Option<String>)> = match format {
        Format::Text => vec![(file.text, None)],
        Format::Markdown => vec![(markdown::to_text(&file.text), None)],
        Format::Json => take(structured::from_json(&file.text, &options.fields)?, &mut report),
        Format::JsonLines => {
            take(structured::from_json_lines(&file.text, &options.fields)?, &mut report)
        }
        Format::Csv => {
            take(structured::from_table(&file.text, b',', &options.fields)?, &mut report)
        }
        Format::Tsv => {
            take(structured::from_table(&file.text, b'\t', &options.fields)?, &mut report)
        }
    };

    let cleaned: Vec<(String, Option<String>)> = raw
        .iter()
        .map(|(text, style)| (options.cleaning.apply(text), style.clone()))
        .filter(|(text, _)| !text.is_empty())
        .collect();
    if cleaned.is_empty() {
        return Err("no text after cleaning".to_string());
    }
    for (text, style) in &cleaned {
        if let Some(style) = style {
            sink(Piece::Style(style));
        }
        sink(Piece::Text(text));
        sink(Piece::End);
    }
    report.documents = cleaned.len();
    Ok(report)
}

/// A large plain text file, read and cleaned in pieces; the whole file is one document.
fn stream_plain_text(
    path: &Path,
    options: &ReadOptions,
    sink: &mut dyn FnMut(Piece),
) -> Result<FileReport, String> {
    let mut cleaner = Cleaner::new(options.cleaning);
    let mut out = String::new();
    let warning = read::stream_text(path, options.invalid_utf8, read::PIECE, |piece| {
        out.clear();
        cleaner.push(piece, &mut out);
        if !out.is_empty() {
            sink(Piece::Text(&out));
        }
    })?;
    out.clear();
    cleaner.finish(&mut out);
    if !out.is_empty() {
        sink(Piece::Text(&out));
    }
    if !cleaner.wrote_any() {
        return Err("no text after cleaning".to_string());
    }
    sink(Piece::End);
    Ok(FileReport { documents: 1, warnings: warning.into_iter().collect() })
}

fn take(
    extracted: structured::Extracted,
    report: &mut FileReport,
) -> Vec<(String, Option<String>)> {
    report.warnings.extend(extracted.warnings);
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
