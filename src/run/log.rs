//! `train.log`: what happened in a run, in sentences, one timestamped line each.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Appends lines to a run's `train.log`. Failing to log never stops training.
pub struct RunLog {
    file: Option<File>,
}

impl RunLog {
    pub fn open(path: &Path) -> RunLog {
        RunLog { file: OpenOptions::new().create(true).append(true).open(path).ok() }
    }

    /// Writes one line, and passes it on to `tracing` for whoever listens.
    pub fn line(&mut self, message: &str) {
        tracing::info!("{message}");
        if let Some(file) = &mut self.file {
            let _ = writeln!(file, "[{:.3}] {message}", super::now());
        }
    }
}
