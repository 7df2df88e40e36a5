//! The token cache under `<runs>/.cache/`: per file, what reading it found and its token
//! ids, keyed by the file's content and the settings that shape them. A second run over
//! an unchanged corpus reads no corpus file and tokenises nothing; a changed file is
//! read again on its own.
//!
//! Files are recognised by path, size and modification time, then by a hash of their
//! bytes; token ids are memory-mapped, so a large corpus does not have to fit in memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use memmap2::Mmap;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::Vocab;

/// Bumped whenever what the cache stores changes meaning.
const VERSION: u64 = 1;

/// The cache folder of a runs folder.
pub fn folder(runs: &Path) -> PathBuf {
    runs.join(".cache")
}

/// A stable short hash of some text, for cache keys.
pub fn key_of(text: &str) -> String {
    format!("{:016x}", xxh3_64(format!("v{VERSION}:{text}").as_bytes()))
}

/// What a file's size and modification time were when its content hash was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    size: u64,
    modified_ns: u128,
    content: String,
}

/// The on-disk cache.
pub struct Cache {
    root: PathBuf,
    index: Mutex<HashMap<String, Identity>>,
}

impl Cache {
    /// Opens (or starts) the cache in `root`. A cache that cannot be read starts empty.
    pub fn open(root: &Path) -> Cache {
        let index = std::fs::read(root.join("files.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Cache { root: root.to_path_buf(), index: Mutex::new(index) }
    }

    /// A hash of the file's bytes, taken again only when its size or time changed.
    pub fn content_hash(&self, path: &Path) -> std::io::Result<String> {
        let metadata = std::fs::metadata(path)?;
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let name = path.display().to_string();
        let known = self.index.lock().expect("the cache index lock").get(&name).cloned();
        if let Some(known) = known {
            if known.size == metadata.len() && known.modified_ns == modified_ns {
                return Ok(known.content);
            }
        }
        let content = hash_file(path)?;
        let identity = Identity { size: metadata.len(), modified_ns, content: content.clone() };
        self.index.lock().expect("the cache index lock").insert(name, identity);
        Ok(content)
    }

    /// Writes the file index, so the next run skips hashing unchanged files.
    pub fn save_index(&self) {
        let index = self.index.lock().expect("the cache index lock");
        if let Ok(json) = serde_json::to_vec(&*index) {
            let _ = std::fs::create_dir_all(&self.root);
            let _ = crate::run::write_atomic(&self.root.join("files.json"), &json);
        }
    }

    /// A stored value of any serialisable kind.
    pub fn load_json<T: DeserializeOwned>(&self, kind: &str, key: &str) -> Option<T> {
        let bytes = std::fs::read(self.path(kind, key, "json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn store_json<T: Serialize>(&self, kind: &str, key: &str, value: &T) {
        if let Ok(json) = serde_json::to_vec(value) {
            self.write(kind, key, "json", &json);
        }
    }

    /// A stored vocabulary.
    pub fn load_vocab(&self, key: &str) -> Option<Vocab> {
        Vocab::load(&self.path("vocab", key, "json")).ok()
    }

    pub fn store_vocab(&self, key: &str, vocab: &Vocab) {
        let path = self.path("vocab", key, "json");
        if std::fs::create_dir_all(path.parent().expect("cache paths have a folder")).is_ok() {
            let _ = vocab.save(&path);
        }
    }

    /// Stored token ids, memory-mapped.
    pub fn load_tokens(&self, key: &str) -> Option<TokenFile> {
        map_file(&self.path("tokens", key, "bin"))
    }

    /// Stores token ids and returns them memory-mapped, or `None` when the cache cannot
    /// be written.
    pub fn store_tokens(&self, key: &str, ends: &[u64], tokens: &[u32]) -> Option<TokenFile> {
        let mut writer = self.token_writer(key, ends.len());
        let mut start = 0;
        for end in ends {
            writer.push(&tokens[start..*end as usize]);
            writer.end_document();
            start = *end as usize;
        }
        writer.finish()
    }

    /// A writer that streams the token ids of `documents` documents into the cache, so a
    /// file's ids never have to be in memory at once.
    pub fn token_writer(&self, key: &str, documents: usize) -> TokenWriter {
        let path = self.path("tokens", key, "bin");
        let folder = path.parent().expect("cache paths have a folder").to_path_buf();
        let temporary = folder.join(format!(".{key}.{}.tmp", std::process::id()));
        match std::fs::create_dir_all(&folder).and_then(|_| File::create(&temporary)) {
            Ok(file) => TokenWriter::to_file(file, temporary, path, documents),
            Err(_) => TokenWriter::in_memory(documents),
        }
    }

    fn path(&self, kind: &str, key: &str, extension: &str) -> PathBuf {
        self.root.join(kind).join(format!("{key}.{extension}"))
    }

    fn write(&self, kind: &str, key: &str, extension: &str, bytes: &[u8]) -> bool {
        let path = self.path(kind, key, extension);
        std::fs::create_dir_all(path.parent().expect("cache paths have a folder")).is_ok()
            && crate::run::write_atomic(&path, bytes).is_ok()
    }
}

/// Where token ids go while a file is encoded: a cache file, or memory.
pub struct TokenWriter {
    sink: Sink,
    ends: Vec<u64>,
    count: u64,
}

enum Sink {
    File { out: std::io::BufWriter<File>, temporary: PathBuf, path: PathBuf, failed: bool },
    Memory(Vec<u32>),
}

impl TokenWriter {
    /// A writer that keeps the ids in memory.
    pub fn in_memory(documents: usize) -> TokenWriter {
        TokenWriter {
            sink: Sink::Memory(Vec::new()),
            ends: Vec::with_capacity(documents),
            count: 0,
        }
    }

    fn to_file(file: File, temporary: PathBuf, path: PathBuf, documents: usize) -> TokenWriter {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut header = Vec::with_capacity(16 + documents * 8);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&(documents as u64).to_le_bytes());
        header.resize(16 + documents * 8, 0);
        let failed = out.write_all(&header).is_err();
        let sink = Sink::File { out, temporary, path, failed };
        TokenWriter { sink, ends: Vec::with_capacity(documents), count: 0 }
    }

    /// Appends ids to the current document.
    pub fn push(&mut self, ids: &[u32]) {
        self.count += ids.len() as u64;
        match &mut self.sink {
            Sink::File { out, failed, .. } => {
                *failed = *failed || out.write_all(bytemuck::cast_slice(ids)).is_err()
            }
            Sink::Memory(tokens) => tokens.extend_from_slice(ids),
        }
    }

    /// Marks the end of the current document.
    pub fn end_document(&mut self) {
        self.ends.push(self.count);
    }

    /// The finished ids: mapped from the cache file, or held in memory. `None` when the
    /// cache file could not be written; then encode again with [`TokenWriter::in_memory`].
    pub fn finish(self) -> Option<TokenFile> {
        match self.sink {
            Sink::Memory(tokens) => Some(TokenFile::in_memory(self.ends, tokens)),
            Sink::File { out, temporary, path, failed } => {
                let placed = !failed && place(out, &temporary, &path, &self.ends).is_ok();
                if !placed {
                    let _ = std::fs::remove_file(&temporary);
                    return None;
                }
                map_file(&path)
            }
        }
    }
}

/// Writes the document ends into the header, syncs, and renames the file into place.
fn place(
    out: std::io::BufWriter<File>,
    temporary: &Path,
    path: &Path,
    ends: &[u64],
) -> std::io::Result<()> {
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.seek(std::io::SeekFrom::Start(16))?;
    file.write_all(bytemuck::cast_slice(ends))?;
    file.sync_all()?;
    std::fs::rename(temporary, path)?;
    if let Some(folder) = path.parent() {
        File::open(folder)?.sync_all()?;
    }
    Ok(())
}

fn map_file(path: &Path) -> Option<TokenFile> {
    let file = File::open(path).ok()?;
    // SAFETY: cache files are only ever replaced by rename, never written in place,
    // so the mapped bytes cannot change under the map.
    let map = unsafe { Mmap::map(&file) }.ok()?;
    // Batches read windows at random places; reading ahead would only fill memory.
    let _ = map.advise(memmap2::Advice::Random);
    TokenFile::from_map(map)
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

/// The token ids of one file's documents, each closed by the end-of-document token.
pub struct TokenFile {
    storage: Storage,
}

enum Storage {
    Mapped { map: Mmap, documents: usize },
    Owned { ends: Vec<u64>, tokens: Vec<u32> },
}

impl TokenFile {
    pub fn in_memory(ends: Vec<u64>, tokens: Vec<u32>) -> TokenFile {
        TokenFile { storage: Storage::Owned { ends, tokens } }
    }

    fn from_map(map: Mmap) -> Option<TokenFile> {
        let word =
            |i: usize| map.get(i * 8..i * 8 + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
        if word(0)? != VERSION {
            return None;
        }
        let documents = word(1)? as usize;
        let header = 16 + documents * 8;
        if map.len() < header || !(map.len() - header).is_multiple_of(4) {
            return None;
        }
        let file = TokenFile { storage: Storage::Mapped { map, documents } };
        let consistent = file.ends().last().copied().unwrap_or(0) == file.tokens().len() as u64;
        consistent.then_some(file)
    }

    /// Where each document's tokens end, as offsets into [`TokenFile::tokens`].
    pub fn ends(&self) -> &[u64] {
        match &self.storage {
            Storage::Mapped { map, documents } => {
                bytemuck::cast_slice(&map[16..16 + documents * 8])
            }
            Storage::Owned { ends, .. } => ends,
        }
    }

    pub fn tokens(&self) -> &[u32] {
        match &self.storage {
            Storage::Mapped { map, documents } => bytemuck::cast_slice(&map[16 + documents * 8..]),
            Storage::Owned { tokens, .. } => tokens,
        }
    }

    /// The token range of document `index`.
    pub fn document(&self, index: usize) -> std::ops::Range<usize> {
        let ends = self.ends();
        let start = if index == 0 { 0 } else { ends[index - 1] as usize };
        start..ends[index] as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_tokens_come_back_mapped_and_equal() {
        let folder = tempfile::tempdir().unwrap();
        let cache = Cache::open(folder.path());
        let stored = cache.store_tokens("k", &[3, 5], &[7, 8, 0, 9, 0]).unwrap();
        assert!(matches!(stored.storage, Storage::Mapped { .. }));
        let loaded = cache.load_tokens("k").unwrap();
        assert_eq!(loaded.tokens(), &[7, 8, 0, 9, 0]);
        assert_eq!(loaded.ends(), &[3, 5]);
        assert_eq!(loaded.document(1), 3..5);
    }

    #[test]
    fn a_truncated_token_file_is_not_used() {
        let folder = tempfile::tempdir().unwrap();
        let cache = Cache::open(folder.path());
        cache.store_tokens("k", &[2], &[1, 0]).unwrap();
        let path = cache.path("tokens", "k", "bin");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        assert!(cache.load_tokens("k").is_none());
    }

    #[test]
    fn content_hashes_are_remembered_until_the_file_changes() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("poem.txt");
        std::fs::write(&file, "one").unwrap();
        let cache = Cache::open(&folder.path().join("cache"));
        let first = cache.content_hash(&file).unwrap();
        cache.save_index();
        let reopened = Cache::open(&folder.path().join("cache"));
        assert_eq!(reopened.content_hash(&file).unwrap(), first);
        std::fs::write(&file, "two, longer").unwrap();
        assert_ne!(reopened.content_hash(&file).unwrap(), first);
    }
}
