//! `muse train`: train headless, with a progress bar on stderr.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use toml::Value;

use super::project::Project;
use crate::config::{self, Config, ModelKind, Override};
use crate::run::{saved, Record, RunDir};
use crate::train::{self, Command, Event, Job, Report, Summary};
use crate::vocab::{cache, Vocab};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Train on these files or folders instead of [corpus] paths.
    #[arg(long, value_name = "PATH")]
    corpus: Vec<PathBuf>,
    /// Name of the run folder (default: the model kind and a number, like lstm-1).
    #[arg(long, value_name = "NAME", conflicts_with = "resume")]
    run: Option<String>,
    /// The model family.
    #[arg(long, value_enum)]
    model: Option<ModelKind>,
    /// Training steps in the whole run (with --resume, the new total).
    #[arg(long, value_name = "N")]
    max_steps: Option<i64>,
    /// Continue a run from its newest checkpoint, with its config and vocabulary.
    #[arg(long, value_name = "NAME")]
    resume: Option<String>,
}

pub fn run(project: &Project, args: TrainArgs) -> anyhow::Result<()> {
    let (config, run, vocab, resume) = match &args.resume {
        Some(name) => resumed(project, &args, name)?,
        None => {
            let config = project.config(&overrides(&args)?)?.resolved();
            let name = args
                .run
                .clone()
                .unwrap_or_else(|| RunDir::free_name(&project.runs, config.model.kind.name()));
            (config, RunDir::create(&project.runs, &name)?, None, None)
        }
    };
    let device = train::device_from(&config.train.device).map_err(anyhow::Error::msg)?;
    let dataset =
        train::prepare_with(&config, &project.base, Some(&cache::folder(&project.runs)), vocab)?;
    report_corpus(&dataset.report);
    if let Some(note) = dataset.report.split_note(config.train.val_fraction) {
        eprintln!("note: {note}");
    }

    crate::run::write_atomic(&run.config(), config.to_toml().as_bytes())
        .with_context(|| format!("cannot write {}", run.config().display()))?;
    if resume.is_none() {
        dataset.vocab.save(&run.tokenizer())?;
    }
    eprintln!(
        "{} {} on {} documents from {} files ({} training and {} validation tokens, vocabulary of {}) in {}",
        if resume.is_some() { "continuing" } else { "training" },
        config.model.kind.name(),
        dataset.report.documents,
        dataset.report.files.len(),
        dataset.train.len(),
        dataset.val.len(),
        dataset.vocab.len(),
        run.root().display()
    );

    let job = Job { config: config.clone(), run: run.clone(), dataset, device, resume };
    let summary = watch(&config, job)?;
    let best = summary.best_val_loss.map_or("n/a".to_string(), |loss| format!("{loss:.4}"));
    eprintln!(
        "{}: {} steps, best validation loss {best}, {:.1} ms a step",
        if summary.stopped { "stopped" } else { "done" },
        summary.steps,
        summary.ms_per_step
    );
    println!("{}", run.root().display());
    Ok(())
}

/// A run to continue: its own config (with a new --max-steps), its vocabulary, and its
/// newest checkpoint.
fn resumed(
    project: &Project,
    args: &TrainArgs,
    name: &str,
) -> anyhow::Result<(Config, RunDir, Option<Vocab>, Option<PathBuf>)> {
    if !args.corpus.is_empty() || args.model.is_some() {
        bail!(
            "--resume continues a run as it was configured; --corpus and --model cannot change it"
        );
    }
    let run = RunDir::open(&project.runs, name)?;
    let mut flags = Vec::new();
    if let Some(steps) = args.max_steps {
        flags.push(Override::new("--max-steps", "train", "max_steps", Value::Integer(steps)));
    }
    let config = config::load(Some(&run.config()), &flags)?.resolved();
    let checkpoint = run
        .newest_checkpoint()
        .with_context(|| format!("run {name} has no checkpoint to continue from"))?;
    let vocab = Vocab::load(&run.tokenizer())?;
    let step = saved::read_step(&checkpoint)?;
    if step >= config.train.max_steps as u64 {
        bail!(
            "run {name} is already at step {step} of {}; pass --max-steps above {step} to train it further",
            config.train.max_steps
        );
    }
    Ok((config, run, Some(vocab), Some(checkpoint)))
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
    let mut started = false;
    let outcome = loop {
        let Ok(event) = handle.events.recv() else {
            break Err(anyhow::anyhow!("the trainer ended without saying why"));
        };
        let say =
            |line: String| if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) };
        match event {
            Event::Record(Record::Step { step, loss, .. }) => {
                if !started {
                    bar.set_position(step.saturating_sub(1));
                    bar.reset_eta();
                    started = true;
                }
                bar.set_position(step);
                bar.set_message(format!("loss {loss:.3}{val_text}"));
            }
            Event::Record(Record::Eval { step, train_loss, val_loss, .. }) => {
                val_text = val_loss.map_or(String::new(), |v| format!("  val {v:.3}"));
                say(format!("step {step}: train loss {train_loss:.4}{val_text}"));
            }
            Event::Record(Record::Anomaly { message, .. }) => say(format!("warning: {message}")),
            Event::Message(message) if bar.is_hidden() => eprintln!("{message}"),
            Event::Finished(result) => break result.map_err(anyhow::Error::msg),
            _ => {}
        }
    };
    bar.finish_and_clear();
    handle.join();
    outcome
}
