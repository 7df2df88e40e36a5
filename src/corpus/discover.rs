//! Finding the corpus files: configured paths, folders walked recursively, globs, and the
//! include and exclude filters.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use walkdir::WalkDir;

use super::Skipped;
use crate::config::CorpusConfig;

/// The files found, and the paths that could not be used.
#[derive(Debug, Default)]
pub struct Found {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<Skipped>,
    /// Every configured path, resolved, for the "no text found" message.
    pub searched: Vec<PathBuf>,
}

/// Folders that are never read when walking: run outputs and version control.
const IGNORED_FOLDERS: &[&str] = &["runs", "target", "node_modules"];

/// Resolves the configured paths against `base` and lists the files they name.
pub fn discover(config: &CorpusConfig, base: &Path) -> Result<Found, String> {
    let include = glob_set(&config.include, "include")?;
    let exclude = glob_set(&config.exclude, "exclude")?;
    let mut found = Found::default();

    for written in &config.paths {
        let path = base.join(written);
        found.searched.push(path.clone());
        if is_glob(written) {
            walk_glob(base, written, &mut found)?;
        } else {
            walk(&path, &mut found);
        }
    }

    found.files.retain(|file| {
        let relative = file.strip_prefix(base).unwrap_or(file);
        (include.is_empty() || include.is_match(relative)) && !exclude.is_match(relative)
    });
    found.files.sort();
    found.files.dedup();
    Ok(found)
}

fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '[', '{'])
}

/// Globs without a slash match file names anywhere; others match the relative path.
fn glob_set(patterns: &[String], key: &str) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let full = if pattern.contains('/') { pattern.clone() } else { format!("**/{pattern}") };
        let glob = Glob::new(&full)
            .map_err(|e| format!("[corpus] {key}: \"{pattern}\" is not a valid glob: {e}"))?;
        builder.add(glob);
    }
    builder.build().map_err(|e| format!("[corpus] {key}: {e}"))
}

fn walk_glob(base: &Path, pattern: &str, found: &mut Found) -> Result<(), String> {
    let glob = Glob::new(pattern)
        .map_err(|e| format!("[corpus] paths: \"{pattern}\" is not a valid glob: {e}"))?
        .compile_matcher();
    let root = glob_root(base, pattern);
    let mut matched = Found::default();
    walk(&root, &mut matched);
    found.files.extend(
        matched
            .files
            .into_iter()
            .filter(|file| glob.is_match(file.strip_prefix(base).unwrap_or(file))),
    );
    found.skipped.extend(matched.skipped);
    Ok(())
}

/// The longest leading part of a glob without wildcards: where its walk starts.
fn glob_root(base: &Path, pattern: &str) -> PathBuf {
    let mut root = base.to_path_buf();
    for part in pattern.split('/') {
        if is_glob(part) {
            break;
        }
        root.push(part);
    }
    root
}

/// Lists the files under `path` (or `path` itself), following symbolic links.
fn walk(path: &Path, found: &mut Found) {
    let walker = WalkDir::new(path).follow_links(true).sort_by_file_name().into_iter();
    let walker = walker.filter_entry(|entry| entry.depth() == 0 || !is_hidden_or_ignored(entry));
    for entry in walker {
        match entry {
            Ok(entry) if entry.file_type().is_file() => found.files.push(entry.into_path()),
            Ok(_) => {}
            Err(error) => found.skipped.push(Skipped {
                path: walk_error_path(&error, path),
                reason: walk_reason(&error, path),
            }),
        }
    }
}

fn is_hidden_or_ignored(entry: &walkdir::DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy();
    name.starts_with('.')
        || (entry.file_type().is_dir() && IGNORED_FOLDERS.contains(&name.as_ref()))
}

fn walk_error_path(error: &walkdir::Error, root: &Path) -> PathBuf {
    error.path().unwrap_or(root).to_path_buf()
}

fn walk_reason(error: &walkdir::Error, root: &Path) -> String {
    if error.loop_ancestor().is_some() {
        return "symbolic link loop".to_string();
    }
    let path = error.path().unwrap_or(root);
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match error.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::NotFound && is_link => {
            "broken symbolic link".to_string()
        }
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => super::MISSING.to_string(),
        Some(io) => super::read::io_reason(io),
        None => error.to_string(),
    }
}
