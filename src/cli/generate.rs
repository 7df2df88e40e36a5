//! `muse generate`: print text from a trained run.

use anyhow::Context;
use clap::Args;
use toml::Value;

use super::project::Project;
use crate::config::Override;
use crate::run::{saved, RunDir};
use crate::sample::{self, Request, Settings};
use crate::vocab::Vocab;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The run to generate from (default: the one trained last).
    #[arg(long, value_name = "NAME")]
    run: Option<String>,
    /// Text the generation starts from; it is printed with what follows.
    #[arg(long, default_value = "")]
    prompt: String,
    #[arg(long, value_name = "T")]
    temperature: Option<f64>,
    #[arg(long, value_name = "K")]
    top_k: Option<i64>,
    #[arg(long, value_name = "P")]
    top_p: Option<f64>,
    /// The same seed, prompt and settings give the same text.
    #[arg(long, value_name = "S")]
    seed: Option<i64>,
    #[arg(long, value_name = "N")]
    max_tokens: Option<i64>,
    /// How many texts to generate; they are separated by a line holding only "---".
    #[arg(short = 'n', long = "count", value_name = "COUNT", default_value_t = 1)]
    count: usize,
}

pub fn run(project: &Project, args: GenerateArgs) -> anyhow::Result<()> {
    let config = project.config(&overrides(&args))?;
    let run = match &args.run {
        Some(name) => RunDir::open(&project.runs, name)?,
        None => RunDir::newest(&project.runs)?,
    };
    let vocab = Vocab::load(&run.tokenizer())?;
    let checkpoint = run
        .newest_checkpoint()
        .with_context(|| format!("run {} has no checkpoint yet", run.name()))?;
    let (model, _, _) = saved::load(&checkpoint, tch::Device::cuda_if_available(), &vocab)?;

    let sample = &config.sample;
    let request = Request {
        prompt: args.prompt.clone(),
        settings: Settings::from_config(sample),
        max_tokens: sample.max_tokens as usize,
        seed: sample.seed.map_or_else(random_seed, |seed| seed as u64),
        count: args.count,
    };
    let texts = sample::generate(model.as_ref(), &vocab, &request)?;
    println!("{}", texts.join("\n---\n"));
    Ok(())
}

fn overrides(args: &GenerateArgs) -> Vec<Override> {
    let mut overrides = Vec::new();
    let mut float = |flag, key, value: Option<f64>| {
        if let Some(value) = value {
            overrides.push(Override::new(flag, "sample", key, Value::Float(value)));
        }
    };
    float("--temperature", "temperature", args.temperature);
    float("--top-p", "top_p", args.top_p);
    let integers = [
        ("--top-k", "top_k", args.top_k),
        ("--seed", "seed", args.seed),
        ("--max-tokens", "max_tokens", args.max_tokens),
    ];
    for (flag, key, value) in integers {
        if let Some(value) = value {
            overrides.push(Override::new(flag, "sample", key, Value::Integer(value)));
        }
    }
    overrides
}

/// A seed for when none is given, so each generation differs.
fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ (std::process::id() as u64).rotate_left(32)
}
