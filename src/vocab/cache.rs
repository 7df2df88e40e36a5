//! The token cache under `<runs>/.cache/`: per file, what reading it found and its token
//! ids, keyed by the file's content and the settings that shape them. A second run over
//! an unchanged corpus reads no corpus file and tokenises nothing; a changed file is
//! read again on its own.
//!
//! Files are recognised by path, size and modification time, then by a hash of their
//! bytes; token ids are memory-mapped, so a large corpus does not have to fit in memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
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
        let file = File::open(self.path("tokens", key, "bin")).ok()?;
        // SAFETY: cache files are only ever replaced by rename, never written in place,
        // so the mapped bytes cannot change under the map.
        let map = unsafe { Mmap::map(&file) }.ok()?;
        TokenFile::from_map(map)
    }

    /// Stores token ids and returns them memory-mapped (or in memory, when the cache
    /// cannot be written).
    pub fn store_tokens(&self, key: &str, ends: Vec<u64>, tokens: Vec<u32>) -> TokenFile {
        let mut bytes = Vec::with_capacity(16 + ends.len() * 8 + tokens.len() * 4);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&(ends.len() as u64).to_le_bytes());
        bytes.extend_from_slice(bytemuck::cast_slice(&ends));
        bytes.extend_from_slice(bytemuck::cast_slice(&tokens));
        if self.write("tokens", key, "bin", &bytes) {
            if let Some(mapped) = self.load_tokens(key) {
                return mapped;
            }
        }
        TokenFile::in_memory(ends, tokens)
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
        if map.len() < header || (map.len() - header) % 4 != 0 {
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
        let stored = cache.store_tokens("k", vec![3, 5], vec![7, 8, 0, 9, 0]);
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
        cache.store_tokens("k", vec![2], vec![1, 0]);
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
