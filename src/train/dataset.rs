//! From corpus files to token streams: read and split every document, build the
//! vocabulary on the training side, encode each file (in parallel, through the token
//! cache), and lay the files' tokens out as a training and a validation stream.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::batches::TokenStream;
use crate::config::{Config, TokenizerKind};
use crate::corpus::{
    self, position_note, split_mode, split_of, CharCounter, CorpusError, DocumentHasher, Piece,
    ReadOptions, Skipped, Split, SplitMode, StyleFrom, Warning,
};
use crate::vocab::cache::{key_of, Cache, TokenFile, TokenWriter};
use crate::vocab::{build_char, style_token, train_bpe, Vocab, VocabError};

/// Files up to this size keep their cleaned text in memory between the passes; larger
/// ones are read again.
const KEEP_IN_MEMORY: u64 = 32 * 1024 * 1024;

/// Token streams of both splits, the vocabulary, and what was read.
pub struct Dataset {
    pub vocab: Vocab,
    pub train: TokenStream,
    pub val: TokenStream,
    pub report: Report,
}

/// What preparing the corpus found.
#[derive(Debug, Clone)]
pub struct Report {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<Warning>,
    pub documents: usize,
    pub train_documents: usize,
    pub val_documents: usize,
    pub characters: u64,
    pub split: SplitMode,
    /// Files whose tokens came from the cache.
    pub cached_files: usize,
    /// Documents of each style.
    pub styles: std::collections::BTreeMap<String, usize>,
}

impl Report {
    /// What to tell the user about how the split was made, when it is not by document.
    pub fn split_note(&self, val_fraction: f64) -> Option<String> {
        (self.split == SplitMode::Position).then(|| position_note(self.documents, val_fraction))
    }
}

/// Why a dataset could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error(transparent)]
    Vocab(#[from] VocabError),
}

/// What reading one file found; cached by the file's content.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FileDocuments {
    /// Each document's split hash, in file order.
    hashes: Vec<u64>,
    characters: u64,
    /// Character counts of the documents hashed to each side: training, validation.
    counts: [HashMap<char, u64>; 2],
    warnings: Vec<String>,
    /// Each document's style from its record's style field, when one is set.
    #[serde(default)]
    styles: Vec<Option<String>>,
}

/// One readable file between the passes.
struct ReadFile {
    path: PathBuf,
    /// The style its path gives every document (by folder or file name).
    style: Option<String>,
    /// The content hash, when the cache is in use.
    content: Option<String>,
    documents: FileDocuments,
    /// The cleaned documents, when they were read now and the file is small.
    texts: Option<Vec<String>>,
    cached: bool,
}

/// Prepares the corpus `config` names (paths relative to `base`) for training. With a
/// cache folder, unchanged files are neither read nor tokenised again.
pub fn prepare(
    config: &Config,
    base: &Path,
    cache: Option<&Path>,
) -> Result<Dataset, PrepareError> {
    prepare_with(config, base, cache, None)
}

/// Like [`prepare`], but encodes with an existing vocabulary (a resumed run's) instead of
/// building one; characters it lacks become its unknown token, or are left out.
pub fn prepare_with(
    config: &Config,
    base: &Path,
    cache: Option<&Path>,
    vocab: Option<Vocab>,
) -> Result<Dataset, PrepareError> {
    let cache = cache.map(Cache::open);
    let options = ReadOptions::from_config(&config.corpus)?;
    let seed = config.train.seed as u64;
    let val_fraction = config.train.val_fraction;
    let read_key = key_of(&format!("{options:?} seed={seed} val={val_fraction}"));

    let scan = corpus::scan(&config.corpus, base)?;
    let results: Vec<(PathBuf, Result<ReadFile, String>)> = scan
        .files
        .par_iter()
        .map(|path| {
            (
                path.clone(),
                first_pass(path, &options, cache.as_ref(), &read_key, seed, val_fraction),
            )
        })
        .collect();

    let mut report = Report {
        files: Vec::new(),
        skipped: scan.skipped.clone(),
        warnings: Vec::new(),
        documents: 0,
        train_documents: 0,
        val_documents: 0,
        characters: 0,
        split: SplitMode::None,
        cached_files: 0,
        styles: Default::default(),
    };
    let mut files: Vec<ReadFile> = Vec::new();
    for (path, result) in results {
        match result {
            Ok(file) => files.push(file),
            Err(reason) => report.skipped.push(Skipped { path, reason }),
        }
    }
    if files.is_empty() {
        return Err(corpus::nothing_read(&scan, &report.skipped).into());
    }

    let documents: usize = files.iter().map(|f| f.documents.hashes.len()).sum();
    let val_documents = files
        .iter()
        .flat_map(|f| &f.documents.hashes)
        .filter(|hash| split_of(**hash, val_fraction) == Split::Val)
        .count();
    let mode = split_mode(documents, val_documents, val_fraction);

    let style_from = StyleFrom::of(&config.corpus).settle(&scan.files);
    for file in files.iter_mut() {
        file.style = style_from.of_file(&file.path);
    }
    let styles = style_names(&files);
    let vocab = match vocab {
        Some(vocab) => vocab,
        None => build_vocab(config, &files, &options, cache.as_ref(), &read_key, mode, &styles)?,
    };
    let encoded: Vec<Result<Arc<TokenFile>, String>> = files
        .par_iter()
        .map(|file| encode_file(file, &vocab, &options, cache.as_ref(), &read_key).map(Arc::new))
        .collect();

    let mut all = TokenStream::default();
    let (mut train, mut val) = (TokenStream::default(), TokenStream::default());
    for (file, tokens) in files.iter().zip(encoded) {
        let tokens = match tokens {
            Ok(tokens) => tokens,
            Err(reason) => {
                report.skipped.push(Skipped { path: file.path.clone(), reason });
                continue;
            }
        };
        for (index, hash) in file.documents.hashes.iter().enumerate() {
            let range = tokens.document(index);
            match (mode, split_of(*hash, val_fraction)) {
                (SplitMode::Document, Split::Train) => train.push(&tokens, range),
                (SplitMode::Document, Split::Val) => val.push(&tokens, range),
                _ => all.push(&tokens, range),
            }
        }
        for index in 0..file.documents.hashes.len() {
            if let Some(style) = file.style_of(index) {
                *report.styles.entry(style.to_string()).or_insert(0) += 1;
            }
        }
        report.documents += file.documents.hashes.len();
        report.characters += file.documents.characters;
        report.cached_files += usize::from(file.cached);
        let path = &file.path;
        report.warnings.extend(
            file.documents
                .warnings
                .iter()
                .map(|message| Warning { path: path.clone(), message: message.clone() }),
        );
        report.files.push(file.path.clone());
    }
    if let Some(cache) = &cache {
        cache.save_index();
    }

    report.split = mode;
    match mode {
        SplitMode::Document => {
            report.val_documents = val_documents;
            report.train_documents = report.documents - val_documents;
        }
        SplitMode::Position => {
            let cut = all.len() as u64 - (all.len() as f64 * val_fraction) as u64;
            (train, val) = all.split_at(cut);
            report.train_documents = report.documents;
        }
        SplitMode::None => {
            train = all;
            report.train_documents = report.documents;
        }
    }
    Ok(Dataset { vocab, train, val, report })
}

/// Reads a file for its documents' hashes and character counts, or takes them from the
/// cache when the file is unchanged.
fn first_pass(
    path: &Path,
    options: &ReadOptions,
    cache: Option<&Cache>,
    read_key: &str,
    seed: u64,
    val_fraction: f64,
) -> Result<ReadFile, String> {
    let content = match cache {
        Some(cache) => Some(cache.content_hash(path).map_err(|e| corpus::io_reason(&e))?),
        None => None,
    };
    let key = content.as_ref().map(|c| format!("{c}-{read_key}"));
    if let (Some(cache), Some(key)) = (cache, &key) {
        if let Some(documents) = cache.load_json::<FileDocuments>("documents", key) {
            return Ok(ReadFile {
                path: path.to_path_buf(),
                style: None,
                content,
                documents,
                texts: None,
                cached: true,
            });
        }
    }

    let keep = std::fs::metadata(path).map(|m| m.len() <= KEEP_IN_MEMORY).unwrap_or(false);
    let mut documents = FileDocuments::default();
    let mut texts = Vec::new();
    let mut current = String::new();
    let mut counter = CharCounter::default();
    let mut hasher = DocumentHasher::new(seed);
    let mut style = None;
    let report = corpus::read_documents(path, options, &mut |piece| match piece {
        Piece::Style(name) => style = Some(name.to_string()),
        Piece::Text(text) => {
            hasher.update(text);
            documents.characters += counter.add(text);
            if keep {
                current.push_str(text);
            }
        }
        Piece::End => {
            documents.styles.push(style.take());
            let hash = hasher.finish();
            hasher = DocumentHasher::new(seed);
            documents.hashes.push(hash);
            let side = split_of(hash, val_fraction) as usize;
            counter.drain_into(&mut documents.counts[side]);
            if keep {
                texts.push(std::mem::take(&mut current));
            }
        }
    })?;
    documents.warnings = report.warnings;

    if let (Some(cache), Some(key)) = (cache, &key) {
        cache.store_json("documents", key, &documents);
    }
    Ok(ReadFile {
        path: path.to_path_buf(),
        style: None,
        content,
        documents,
        texts: keep.then_some(texts),
        cached: false,
    })
}

fn build_vocab(
    config: &Config,
    files: &[ReadFile],
    options: &ReadOptions,
    cache: Option<&Cache>,
    read_key: &str,
    mode: SplitMode,
    styles: &[String],
) -> Result<Vocab, PrepareError> {
    let tokenizer = &config.tokenizer;
    let style_tokens: Vec<String> = styles.iter().map(|s| style_token(s)).collect();
    let training_only = mode == SplitMode::Document;
    match tokenizer.kind {
        TokenizerKind::Char => {
            let mut counts: HashMap<char, u64> = HashMap::new();
            for file in files {
                let sides = if training_only {
                    &file.documents.counts[..1]
                } else {
                    &file.documents.counts[..]
                };
                for side in sides {
                    for (c, n) in side {
                        *counts.entry(*c).or_insert(0) += n;
                    }
                }
            }
            Ok(build_char(&counts, tokenizer.min_count as u64, &style_tokens))
        }
        TokenizerKind::Bpe => {
            let contents: Option<Vec<&str>> = files.iter().map(|f| f.content.as_deref()).collect();
            let key = contents.map(|contents| {
                key_of(&format!(
                    "bpe {} {read_key} {mode:?} {} styles {}",
                    tokenizer.vocab_size,
                    contents.join(","),
                    styles.join(",")
                ))
            });
            if let (Some(cache), Some(key)) = (cache, &key) {
                if let Some(vocab) = cache.load_vocab(key) {
                    return Ok(vocab);
                }
            }
            let vocab = train_bpe_on(files, options, config, training_only, &style_tokens)?;
            if let (Some(cache), Some(key)) = (cache, &key) {
                cache.store_vocab(key, &vocab);
            }
            Ok(vocab)
        }
    }
}

/// Every style the documents have, sorted.
fn style_names(files: &[ReadFile]) -> Vec<String> {
    let mut names: Vec<String> = files
        .iter()
        .flat_map(|file| (0..file.documents.hashes.len()).filter_map(move |i| file.style_of(i)))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

impl ReadFile {
    /// A document's style: its record's own, else the one its file's path gives.
    fn style_of(&self, index: usize) -> Option<&str> {
        self.documents.styles.get(index).and_then(Option::as_deref).or(self.style.as_deref())
    }
}

/// Trains BPE on the training documents, streamed to the trainer from a reader thread so
/// the corpus never has to be in memory at once.
fn train_bpe_on(
    files: &[ReadFile],
    options: &ReadOptions,
    config: &Config,
    training_only: bool,
    style_tokens: &[String],
) -> Result<Vocab, VocabError> {
    let val_fraction = config.train.val_fraction;
    let (sender, receiver) = std::sync::mpsc::sync_channel::<String>(256);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for file in files {
                let wanted = |index: usize| {
                    !training_only
                        || split_of(file.documents.hashes[index], val_fraction) == Split::Train
                };
                if let Some(texts) = &file.texts {
                    for (index, text) in texts.iter().enumerate() {
                        if wanted(index) && sender.send(text.clone()).is_err() {
                            return;
                        }
                    }
                    continue;
                }
                let mut index = 0;
                let _ = corpus::read_documents(&file.path, options, &mut |piece| match piece {
                    Piece::Text(text) if index < file.documents.hashes.len() && wanted(index) => {
                        let _ = sender.send(text.to_string());
                    }
                    Piece::Text(_) | Piece::Style(_) => {}
                    Piece::End => index += 1,
                });
            }
        });
        train_bpe(receiver.into_iter(), config.tokenizer.vocab_size as usize, style_tokens)
    })
}

/// The token ids of one file's documents, from the cache or encoded now.
fn encode_file(
    file: &ReadFile,
    vocab: &Vocab,
    options: &ReadOptions,
    cache: Option<&Cache>,
    read_key: &str,
) -> Result<TokenFile, String> {
    let expected = file.documents.hashes.len();
    let style = file.style.as_deref().unwrap_or("");
    let key = file
        .content
        .as_ref()
        .map(|c| key_of(&format!("{c}-{read_key}-{}-{style}", vocab.fingerprint())));
    if let (Some(cache), Some(key)) = (cache, &key) {
        if let Some(tokens) = cache.load_tokens(key).filter(|t| t.ends().len() == expected) {
            return Ok(tokens);
        }
    }

    let writer = match (cache, &key) {
        (Some(cache), Some(key)) => cache.token_writer(key, expected),
        _ => TokenWriter::in_memory(expected),
    };
    match write_tokens(file, vocab, options, writer)? {
        Some(tokens) => Ok(tokens),
        None => write_tokens(file, vocab, options, TokenWriter::in_memory(expected))?
            .ok_or_else(|| "its tokens could not be kept".to_string()),
    }
}

/// Encodes every document of the file into `writer`.
fn write_tokens(
    file: &ReadFile,
    vocab: &Vocab,
    options: &ReadOptions,
    mut writer: TokenWriter,
) -> Result<Option<TokenFile>, String> {
    let end_of_document = [vocab.end_of_document()];
    let style_token = |index: usize| file.style_of(index).and_then(|name| vocab.style(name).ok());
    let mut documents = 0;
    match &file.texts {
        Some(texts) => {
            for (index, text) in texts.iter().enumerate() {
                if let Some(token) = style_token(index) {
                    writer.push(&[token]);
                }
                writer.push(&vocab.encode(text));
                writer.push(&end_of_document);
                writer.end_document();
                documents += 1;
            }
        }
        None => {
            let mut started = false;
            corpus::read_documents(&file.path, options, &mut |piece| match piece {
                Piece::Style(_) => {}
                Piece::Text(text) => {
                    if !started {
                        if let Some(token) = style_token(documents) {
                            writer.push(&[token]);
                        }
                        started = true;
                    }
                    writer.push(&vocab.encode(text));
                }
                Piece::End => {
                    started = false;
                    writer.push(&end_of_document);
                    writer.end_document();
                    documents += 1;
                }
            })?;
        }
    }
    if documents != file.documents.hashes.len() {
        return Err("the file changed while it was being read".to_string());
    }
    Ok(writer.finish())
}

/// Characters by frequency, for statistics and tests.
pub fn count_characters<'a>(texts: impl Iterator<Item = &'a str>) -> HashMap<char, u64> {
    let mut counter = CharCounter::default();
    let mut counts = HashMap::new();
    for text in texts {
        counter.add(text);
    }
    counter.drain_into(&mut counts);
    counts
}
