//! The run folder, the single source of truth about a training run: its layout, the
//! records in `metrics.jsonl`, and atomic checkpoints.
//!
//! ```text
//! runs/<name>/
//!   config.toml      the resolved config the run trained with
//!   tokenizer.json   the vocabulary, in the Hugging Face format
//!   metrics.jsonl    one record a line, appended as training goes
//!   checkpoints/     step-000500.safetensors, ..., best.safetensors
//!   samples.jsonl    short samples written during training
//!   train.log        what happened, for people
//! ```

mod atomic;
pub mod checkpoint;
mod log;
mod record;
pub mod saved;

use std::fs;
use std::path::{Path, PathBuf};

pub use atomic::write_atomic;
pub use log::RunLog;
pub use record::{now, read_records, Record, RecordWriter};

/// The default folder of runs, beside `muse.toml`.
pub const RUNS_FOLDER: &str = "runs";

/// Why a run folder could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("a run called \"{0}\" already exists in {1}; pick another --run name or continue it with --resume {0}")]
    Exists(String, String),
    #[error("no run called \"{name}\" in {folder}{known}")]
    Missing { name: String, folder: String, known: String },
    #[error("no runs in {0} yet; train one with `muse train`")]
    NoRuns(String),
    #[error("\"{0}\" is not a usable run name: use letters, digits, '-', '_' and '.', not starting with '.'")]
    BadName(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

/// One run's folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
    name: String,
}

impl RunDir {
    /// Creates a new run folder; an existing run of the same name is never overwritten.
    pub fn create(runs: &Path, name: &str) -> Result<RunDir, RunError> {
        check_name(name)?;
        let root = runs.join(name);
        if root.exists() {
            return Err(RunError::Exists(name.to_string(), runs.display().to_string()));
        }
        fs::create_dir_all(root.join("checkpoints")).map_err(|e| io_error(&root, e))?;
        Ok(RunDir { root, name: name.to_string() })
    }

    /// Opens an existing run.
    pub fn open(runs: &Path, name: &str) -> Result<RunDir, RunError> {
        check_name(name)?;
        let root = runs.join(name);
        if !root.join("config.toml").is_file() {
            let names = list(runs);
            let known = if names.is_empty() {
                String::new()
            } else {
                format!("; the runs there are: {}", names.join(", "))
            };
            return Err(RunError::Missing {
                name: name.to_string(),
                folder: runs.display().to_string(),
                known,
            });
        }
        Ok(RunDir { root, name: name.to_string() })
    }

    /// Opens the run whose metrics changed last.
    pub fn newest(runs: &Path) -> Result<RunDir, RunError> {
        let newest = list(runs)
            .into_iter()
            .filter_map(|name| {
                let changed = fs::metadata(runs.join(&name).join("metrics.jsonl"))
                    .and_then(|m| m.modified())
                    .ok()?;
                Some((changed, name))
            })
            .max();
        match newest {
            Some((_, name)) => RunDir::open(runs, &name),
            None => Err(RunError::NoRuns(runs.display().to_string())),
        }
    }

    /// A name not yet taken, like `lstm-3`.
    pub fn free_name(runs: &Path, prefix: &str) -> String {
        (1..)
            .map(|n| format!("{prefix}-{n}"))
            .find(|name| !runs.join(name).exists())
            .expect("some number is free")
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    pub fn tokenizer(&self) -> PathBuf {
        self.root.join("tokenizer.json")
    }

    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    pub fn samples(&self) -> PathBuf {
        self.root.join("samples.jsonl")
    }

    pub fn log(&self) -> PathBuf {
        self.root.join("train.log")
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// The checkpoint file of a step, relative to the run folder.
    pub fn step_checkpoint(step: u64) -> String {
        format!("checkpoints/step-{step:06}.safetensors")
    }

    /// The checkpoint with the best validation loss so far, relative to the run folder.
    pub const BEST_CHECKPOINT: &'static str = "checkpoints/best.safetensors";

    /// The step checkpoints on disk, oldest first.
    pub fn step_checkpoints(&self) -> Vec<(u64, PathBuf)> {
        let Ok(entries) = fs::read_dir(self.checkpoints()) else {
            return Vec::new();
        };
        let mut found: Vec<(u64, PathBuf)> = entries
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let name = path.file_name()?.to_str()?;
                let step =
                    name.strip_prefix("step-")?.strip_suffix(".safetensors")?.parse().ok()?;
                Some((step, path))
            })
            .collect();
        found.sort();
        found
    }

    /// The newest step checkpoint, if any.
    pub fn newest_checkpoint(&self) -> Option<PathBuf> {
        self.step_checkpoints().pop().map(|(_, path)| path)
    }
}

/// The run names in a runs folder, sorted.
pub fn list(runs: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(runs) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().to_str()?.to_string();
            (!name.starts_with('.') && entry.path().join("config.toml").is_file()).then_some(name)
        })
        .collect();
    names.sort();
    names
}

fn check_name(name: &str) -> Result<(), RunError> {
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(RunError::BadName(name.to_string()))
    }
}

fn io_error(path: &Path, error: std::io::Error) -> RunError {
    RunError::Io { path: path.display().to_string(), message: error.to_string() }
}
