//! `muse init`: start a project with a commented `muse.toml`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::config;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project folder.
    #[arg(default_value = ".")]
    dir: PathBuf,
}

pub fn run(args: InitArgs) -> anyhow::Result<()> {
    let path = args.dir.join(config::FILE_NAME);
    if path.exists() {
        bail!("{} already exists; Muse leaves it as it is", path.display());
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    crate::run::write_atomic(&path, config::commented_template().as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;

    let corpora = args.dir.join("corpora");
    std::fs::create_dir_all(&corpora)
        .with_context(|| format!("cannot create {}", corpora.display()))?;
    eprintln!(
        "wrote {}; put your text in {}/ and run `muse train`",
        path.display(),
        corpora.display()
    );
    Ok(())
}
