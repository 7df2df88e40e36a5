//! Where the project is: its `muse.toml`, the folder paths are relative to, its runs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::config::{self, Config, Override};

/// The project a command works in.
#[derive(Debug, Clone)]
pub struct Project {
    /// `muse.toml`, when there is one; without it the built-in defaults apply.
    pub config_file: Option<PathBuf>,
    /// The folder corpus paths are relative to.
    pub base: PathBuf,
    pub runs: PathBuf,
}

impl Project {
    /// Uses `--config` when given, else the nearest `muse.toml` here or above.
    pub fn locate(config_flag: Option<&Path>, runs_flag: Option<&Path>) -> anyhow::Result<Project> {
        let here = std::env::current_dir().context("cannot read the current folder")?;
        let config_file = match config_flag {
            Some(path) if !path.is_file() => bail!("{}: no such config file", path.display()),
            Some(path) => Some(here.join(path)),
            None => here.ancestors().map(|dir| dir.join(config::FILE_NAME)).find(|p| p.is_file()),
        };
        let base = config_file
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| here.clone(), Path::to_path_buf);
        let runs =
            runs_flag.map_or_else(|| base.join(crate::run::RUNS_FOLDER), |dir| here.join(dir));
        Ok(Project { config_file, base, runs })
    }

    /// The project's config with the command line's overrides applied.
    pub fn config(&self, overrides: &[Override]) -> anyhow::Result<Config> {
        Ok(config::load(self.config_file.as_deref(), overrides)?)
    }
}
