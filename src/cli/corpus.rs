//! `muse corpus stats`: what Muse reads from the corpus, and what it skips.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use toml::Value;

use super::project::Project;
use crate::config::Override;
use crate::corpus::{self, SplitMode, Stats};

#[derive(Debug, Args)]
pub struct CorpusArgs {
    #[command(subcommand)]
    command: CorpusCommand,
}

#[derive(Debug, Subcommand)]
enum CorpusCommand {
    /// Files read and skipped, sizes, commonest characters, line lengths and the split.
    Stats(StatsArgs),
}

#[derive(Debug, Args)]
struct StatsArgs {
    /// Files or folders to read instead of [corpus] paths.
    paths: Vec<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(project: &Project, args: CorpusArgs) -> anyhow::Result<()> {
    let CorpusCommand::Stats(args) = args.command;
    let mut overrides = Vec::new();
    if !args.paths.is_empty() {
        let here = std::env::current_dir()?;
        let paths =
            args.paths.iter().map(|p| Value::String(here.join(p).display().to_string())).collect();
        overrides.push(Override::new("PATH", "corpus", "paths", Value::Array(paths)));
    }
    let config = project.config(&overrides)?;
    let stats = corpus::statistics(
        &config.corpus,
        &project.base,
        config.train.seed as u64,
        config.train.val_fraction,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print!("{}", table(&stats, config.train.val_fraction));
    }
    Ok(())
}

/// The statistics as a table for people.
fn table(stats: &Stats, val_fraction: f64) -> String {
    let mut out = String::new();
    let mut row = |label: &str, value: String| out.push_str(&format!("{label:<15} {value}\n"));
    row("files read", thousands(stats.files as u64));
    row("files skipped", thousands(stats.skipped.len() as u64));
    for skipped in &stats.skipped {
        row("", format!("{}: {}", skipped.path.display(), skipped.reason));
    }
    for warning in &stats.warnings {
        row("warning", format!("{}: {}", warning.path.display(), warning.message));
    }
    row("documents", thousands(stats.documents as u64));
    row("characters", thousands(stats.characters));
    row("distinct", format!("{} characters", thousands(stats.vocab as u64)));

    let commonest: Vec<String> = stats
        .commonest
        .iter()
        .map(|c| {
            format!(
                "{} {:.1}%",
                shown(&c.character),
                100.0 * c.count as f64 / stats.characters.max(1) as f64
            )
        })
        .collect();
    for (index, chunk) in commonest.chunks(5).enumerate() {
        row(if index == 0 { "commonest" } else { "" }, chunk.join("  "));
    }

    let most = stats.line_lengths.iter().map(|b| b.lines).max().unwrap_or(1).max(1);
    for (index, bucket) in stats.line_lengths.iter().enumerate() {
        let range = match bucket.to {
            Some(to) if to == bucket.from + 1 => format!("{}", bucket.from),
            Some(to) => format!("{}-{}", bucket.from, to - 1),
            None => format!("{}+", bucket.from),
        };
        let bar = "█".repeat((30 * bucket.lines).div_ceil(most) as usize);
        row(
            if index == 0 { "line lengths" } else { "" },
            format!("{range:>7}  {bar} {}", thousands(bucket.lines)),
        );
    }

    let split = match stats.split {
        SplitMode::Document => format!(
            "by document: {} training ({} characters), {} validation ({} characters)",
            thousands(stats.train_documents as u64),
            thousands(stats.train_characters),
            thousands(stats.val_documents as u64),
            thousands(stats.val_characters)
        ),
        SplitMode::Position => format!(
            "by position: {}; {} training characters, {} validation",
            corpus::position_note(stats.documents, val_fraction),
            thousands(stats.train_characters),
            thousands(stats.val_characters)
        ),
        SplitMode::None => "none: val_fraction is 0, every document trains".to_string(),
    };
    row("split", split);
    for (index, style) in stats.styles.iter().enumerate() {
        let size = format!(
            "{:<20} {} documents, {} characters",
            style.name,
            thousands(style.documents as u64),
            thousands(style.characters)
        );
        row(if index == 0 { "styles" } else { "" }, size);
    }
    out
}

/// A character as the table shows it: whitespace named.
fn shown(character: &str) -> String {
    match character {
        " " => "space".to_string(),
        "\n" => "newline".to_string(),
        "\t" => "tab".to_string(),
        other => format!("'{other}'"),
    }
}

/// 70529 as "70,529".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
