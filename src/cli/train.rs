//! `muse train`: train headless, with a progress bar on stderr.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use toml::Value;

use super::project::Project;
use crate::config::{Config, ModelKind, Override};
use crate::run::{Record, RunDir};
use crate::train::{self, Command, Event, Job, Report, Summary};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Train on these files or folders instead of [corpus] paths.
    #[arg(long, value_name = "PATH")]
    corpus: Vec<PathBuf>,
    /// Name of the run folder (default: the model kind and a number, like lstm-1).
    #[arg(long, value_name = "NAME")]
    run: Option<String>,
    /// The model family.
    #[arg(long, value_enum)]
    model: Option<ModelKind>,
    /// Training steps.
    #[arg(long, value_name = "N")]
    max_steps: Option<i64>,
}

pub fn run(project: &Project, args: TrainArgs) -> anyhow::Result<()> {
    let config = project.config(&overrides(&args)?)?.resolved();
    let cache = crate::vocab::cache::folder(&project.runs);
    let dataset = train::prepare(&config, &project.base, Some(&cache))?;
    report_corpus(&dataset.report);
    if let Some(note) = dataset.report.split_note(config.train.val_fraction) {
        eprintln!("note: {note}");
    }

    let name = args
        .run
        .clone()
        .unwrap_or_else(|| RunDir::free_name(&project.runs, config.model.kind.name()));
    let run = RunDir::create(&project.runs, &name)?;
    crate::run::write_atomic(&run.config(), config.to_toml().as_bytes())
        .with_context(|| format!("cannot write {}", run.config().display()))?;
    dataset.vocab.save(&run.tokenizer())?;

    eprintln!(
        "training {} on {} documents from {} files ({} training and {} validation tokens, vocabulary of {}) in {}",
        config.model.kind.name(),
        dataset.report.documents,
        dataset.report.files.len(),
        dataset.train.len(),
        dataset.val.len(),
        dataset.vocab.len(),
        run.root().display()
    );

    let summary = watch(
        &config,
        Job {
            config: config.clone(),
            run: run.clone(),
            dataset,
            device: tch::Device::cuda_if_available(),
        },
    )?;
    let best = summary.best_val_loss.map_or("n/a".to_string(), |loss| format!("{loss:.4}"));
    eprintln!(
        "done: {} steps, best validation loss {best}, {:.1} ms a step",
        summary.steps, summary.ms_per_step
    );
    println!("{}", run.root().display());
    Ok(())
}

fn overrides(args: &TrainArgs) -> anyhow::Result<Vec<Override>> {
    let mut overrides = Vec::new();
    if !args.corpus.is_empty() {
        let here = std::env::current_dir()?;
        let paths =
            args.corpus.iter().map(|p| Value::String(here.join(p).display().to_string())).collect();
        overrides.push(Override::new("--corpus", "corpus", "paths", Value::Array(paths)));
    }
    if let Some(kind) = args.model {
        overrides.push(Override::new(
            "--model",
            "model",
            "kind",
            Value::String(kind.name().into()),
        ));
    }
    if let Some(steps) = args.max_steps {
        overrides.push(Override::new("--max-steps", "train", "max_steps", Value::Integer(steps)));
    }
    Ok(overrides)
}

fn report_corpus(report: &Report) {
    for skipped in &report.skipped {
        eprintln!("skipped {}: {}", skipped.path.display(), skipped.reason);
    }
    for warning in &report.warnings {
        eprintln!("warning: {}: {}", warning.path.display(), warning.message);
    }
}

/// Runs the engine, drawing its progress, and stops it cleanly on Ctrl-C.
fn watch(config: &Config, job: Job) -> anyhow::Result<Summary> {
    let handle = train::spawn(job);
    let stopper = handle.commander();
    let _ = ctrlc::set_handler(move || {
        eprintln!(
            "\nstopping after this step; a checkpoint will be saved (Ctrl-C again to quit at once)"
        );
        if stopper.send(Command::Stop).is_err() {
            std::process::exit(130);
        }
    });

    let bar = ProgressBar::new(config.train.max_steps as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} {wide_bar} {pos}/{len} steps  {msg}  ETA {eta}",
        )
        .expect("the template is valid"),
    );
    bar.enable_steady_tick(Duration::from_millis(250));

    let mut val_text = String::new();
    let outcome = loop {
        let Ok(event) = handle.events.recv() else {
            break Err(anyhow::anyhow!("the trainer ended without saying why"));
        };
        match event {
            Event::Record(Record::Step { step, loss, .. }) => {
                bar.set_position(step);
                bar.set_message(format!("loss {loss:.3}{val_text}"));
            }
            Event::Record(Record::Eval { step, train_loss, val_loss, .. }) => {
                val_text = val_loss.map_or(String::new(), |v| format!("  val {v:.3}"));
                let line = format!("step {step}: train loss {train_loss:.4}{val_text}");
                if bar.is_hidden() {
                    eprintln!("{line}")
                } else {
                    bar.println(line)
                }
            }
            Event::Message(message) if bar.is_hidden() => eprintln!("{message}"),
            Event::Finished(result) => break result.map_err(anyhow::Error::msg),
            _ => {}
        }
    };
    bar.finish_and_clear();
    handle.join();
    outcome
}
