//! The command line: subcommands that call the library.

mod corpus;
mod generate;
mod init;
mod project;
mod train;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Train small text-generation models on your own writing, and play with them.
#[derive(Debug, Parser)]
#[command(name = "muse", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// The project config; without it Muse looks for muse.toml here and in parent folders.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where runs live; defaults to runs/ beside muse.toml.
    #[arg(long, global = true, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a fully commented muse.toml into DIR (default: here).
    Init(init::InitArgs),
    /// Train a model headless, with a progress bar on stderr.
    Train(train::TrainArgs),
    /// Generate text from a trained run and print it on stdout.
    Generate(Box<generate::GenerateArgs>),
    /// Look at the corpus as Muse reads it.
    Corpus(corpus::CorpusArgs),
}

/// Runs the command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let project = project::Project::locate(cli.config.as_deref(), cli.runs_dir.as_deref())?;
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Train(args) => train::run(&project, args),
        Command::Generate(args) => generate::run(&project, *args),
        Command::Corpus(args) => corpus::run(&project, args),
    }
}
