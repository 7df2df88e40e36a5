//! `muse generate`: print text from a trained run.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use tch::{Kind, Tensor};
use toml::Value;

use super::project::Project;
use crate::config::{schema, Override, SampleConfig};
use crate::model::LanguageModel;
use crate::run::{saved, RunDir};
use crate::sample::{self, Candidate, Form, Generated, Observer, Request, Settings, Shape};
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
    #[arg(long, value_name = "P")]
    min_p: Option<f64>,
    #[arg(long, value_name = "P")]
    typical_p: Option<f64>,
    #[arg(long, value_name = "R")]
    repetition_penalty: Option<f64>,
    #[arg(long, value_name = "X")]
    presence_penalty: Option<f64>,
    #[arg(long, value_name = "X")]
    frequency_penalty: Option<f64>,
    #[arg(long, value_name = "N")]
    penalty_window: Option<i64>,
    #[arg(long, value_name = "M")]
    dry_multiplier: Option<f64>,
    #[arg(long, value_name = "B")]
    dry_base: Option<f64>,
    #[arg(long, value_name = "N")]
    dry_allowed_length: Option<i64>,
    /// Stop at this string (repeatable); it is left out of the text.
    #[arg(long = "stop", value_name = "TEXT")]
    stop: Vec<String>,
    /// Never write this string (repeatable).
    #[arg(long = "ban", value_name = "TEXT")]
    ban: Vec<String>,
    /// The same seed, prompt and settings give the same text.
    #[arg(long, value_name = "S")]
    seed: Option<i64>,
    #[arg(long, value_name = "N")]
    max_tokens: Option<i64>,
    /// How many texts to generate, as one batch; they are separated by a line "---".
    #[arg(short = 'n', long = "count", value_name = "COUNT", default_value_t = 1)]
    count: usize,
    /// Generate at several values of one setting side by side: temperature=0.3,0.7,1.1.
    #[arg(long, value_name = "KEY=V1,V2,...")]
    sweep: Option<String>,
    /// A classical form, characters per line × lines: 5x4, 7x4, 5x8 or 7x8.
    #[arg(long, value_name = "CxL")]
    form: Option<String>,
    /// Exactly this many lines, in any script.
    #[arg(long, value_name = "N", conflicts_with = "form")]
    lines: Option<usize>,
    /// Line i begins with the i-th character of TEXT (with a form: one line each).
    #[arg(long, value_name = "TEXT")]
    acrostic: Option<String>,
    /// Write in this style (see `muse corpus stats`).
    #[arg(long, value_name = "NAME")]
    style: Option<String>,
    /// VAE runs: variations on this text, decoded from codes near its own.
    #[arg(long, value_name = "TEXT", conflicts_with = "interpolate")]
    from_text: Option<String>,
    /// VAE runs: texts along the line between the codes of A and B.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    interpolate: Option<Vec<String>>,
    /// With --interpolate: how many texts along the line.
    #[arg(long, value_name = "N", default_value_t = 5)]
    steps: usize,
    /// Print one JSON object a line: text, seed, how it ended, forced characters.
    #[arg(long)]
    json: bool,
}

pub fn run(project: &Project, args: GenerateArgs) -> anyhow::Result<()> {
    let flags = overrides(&args);
    let config = project.config(&flags)?;
    let run = match &args.run {
        Some(name) => RunDir::open(&project.runs, name)?,
        None => RunDir::newest(&project.runs)?,
    };
    let vocab = Vocab::load(&run.tokenizer())?;
    let checkpoint = run
        .newest_checkpoint()
        .with_context(|| format!("run {} has no checkpoint yet", run.name()))?;
    let (model, _, _) = saved::load(&checkpoint, tch::Device::cuda_if_available(), &vocab)?;

    let seed = config.sample.seed.map_or_else(random_seed, |seed| seed as u64);
    let sweep = sweep_settings(project, &flags, args.sweep.as_deref())?;
    let mut candidates = Vec::new();
    let mut labels = Vec::new();
    for (label, sample) in sweep.unwrap_or_else(|| vec![(String::new(), config.sample.clone())]) {
        for i in 0..args.count.max(1) as u64 {
            let settings = Settings::from_config(&sample);
            candidates.push(Candidate { settings, seed: seed.wrapping_add(i), latent: None });
            labels.push(label.clone());
        }
    }
    if let Some(codes) = latent_codes(model.as_ref(), &vocab, &args, seed, candidates.len())? {
        if codes.len() != candidates.len() {
            let template = candidates[0].settings.clone();
            candidates = (0..codes.len() as u64)
                .map(|i| Candidate {
                    settings: template.clone(),
                    seed: seed.wrapping_add(i),
                    latent: None,
                })
                .collect();
            labels = vec![String::new(); codes.len()];
        }
        for (candidate, code) in candidates.iter_mut().zip(codes) {
            candidate.latent = Some(code);
        }
    }

    let shape = Shape {
        form: args.form.as_deref().map(Form::parse).transpose().map_err(anyhow::Error::msg)?,
        lines: args.lines,
        acrostic: args.acrostic.as_ref().map(|text| text.chars().collect()),
    };
    let request = Request {
        prompt: args.prompt.clone(),
        style: args.style.clone(),
        candidates,
        max_tokens: config.sample.max_tokens as usize,
        shape,
    };

    let texts = if request.candidates.len() == 1 && !args.json {
        let mut out = std::io::stdout();
        write!(out, "{}", request.prompt)?;
        out.flush()?;
        let texts = sample::generate_with(model.as_ref(), &vocab, &request, &mut Printer { out })
            .map_err(anyhow::Error::msg)?;
        println!();
        texts
    } else {
        let texts =
            sample::generate(model.as_ref(), &vocab, &request).map_err(anyhow::Error::msg)?;
        print_all(&texts, &labels, &request, args.json)?;
        texts
    };
    report_forced(&texts);
    Ok(())
}

/// Prints tokens as they come.
struct Printer {
    out: std::io::Stdout,
}

impl Observer for Printer {
    fn token(&mut self, _candidate: usize, text: &str) {
        let _ = write!(self.out, "{text}");
        let _ = self.out.flush();
    }
}

fn print_all(
    texts: &[Generated],
    labels: &[String],
    request: &Request,
    json: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for (index, (generated, label)) in texts.iter().zip(labels).enumerate() {
        if json {
            let line = serde_json::json!({
                "text": generated.text,
                "seed": request.candidates[index].seed,
                "tokens": generated.tokens,
                "ended": generated.ended,
                "forced": generated.forced,
                "setting": label,
            });
            writeln!(out, "{line}")?;
            continue;
        }
        if index > 0 {
            writeln!(out, "---")?;
        }
        if !label.is_empty() {
            writeln!(out, "[{label}]")?;
        }
        writeln!(out, "{}", generated.text)?;
    }
    if std::io::stdout().is_terminal() {
        out.flush()?;
    }
    Ok(())
}

/// Tells the user, on stderr, where a shape overruled the model.
fn report_forced(texts: &[Generated]) {
    for (index, generated) in texts.iter().enumerate().filter(|(_, g)| !g.forced.is_empty()) {
        let places: Vec<String> = generated
            .forced
            .iter()
            .map(|f| format!("line {} column {} \"{}\"", f.line, f.column, f.text))
            .collect();
        eprintln!(
            "note: text {}: {} character{} forced to keep the shape, which the model gave no chance: {}",
            index + 1,
            places.len(),
            if places.len() == 1 { " was" } else { "s were" },
            places.join(", ")
        );
    }
}

/// The latent codes the VAE options ask for, one per text.
fn latent_codes(
    model: &dyn LanguageModel,
    vocab: &Vocab,
    args: &GenerateArgs,
    seed: u64,
    count: usize,
) -> anyhow::Result<Option<Vec<Tensor>>> {
    if args.from_text.is_none() && args.interpolate.is_none() {
        return Ok(None);
    }
    if model.latent_size().is_none() {
        bail!(
            "--from-text and --interpolate need a VAE run; this run is {}",
            model.spec().kind.with_article()
        );
    }
    let encode = |text: &str| -> anyhow::Result<(Tensor, Tensor)> {
        let mut ids: Vec<i64> = vocab.encode_prompt(text)?.into_iter().map(i64::from).collect();
        ids.push(vocab.end_of_document() as i64);
        let length = ids.len() as i64;
        let tokens = Tensor::from_slice(&ids).unsqueeze(0).to_device(model.device());
        let lengths = Tensor::from_slice(&[length]).to_device(model.device());
        let (mean, log_variance) =
            tch::no_grad(|| model.encode(&tokens, &lengths)).expect("a VAE encodes");
        Ok((mean.get(0).to_kind(Kind::Float), log_variance.get(0).to_kind(Kind::Float)))
    };
    if let Some(text) = &args.from_text {
        let (mean, log_variance) = encode(text)?;
        let spread = (&log_variance * 0.5).exp();
        let size = mean.size()[0];
        let codes = (0..count as u64)
            .map(|i| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(i) ^ 0xf20e);
                let noise: Vec<f32> = (0..size).map(|_| StandardNormal.sample(&mut rng)).collect();
                &mean + &spread * Tensor::from_slice(&noise).to_device(mean.device())
            })
            .collect();
        return Ok(Some(codes));
    }
    let ends = args.interpolate.as_ref().expect("one of the two is given");
    let (from, _) = encode(&ends[0])?;
    let (to, _) = encode(&ends[1])?;
    let steps = args.steps.max(2);
    let codes =
        (0..steps).map(|i| &from + (&to - &from) * (i as f64 / (steps - 1) as f64)).collect();
    Ok(Some(codes))
}

/// For `--sweep KEY=V1,V2`: the `[sample]` settings at each value, checked like a flag.
fn sweep_settings(
    project: &Project,
    flags: &[Override],
    sweep: Option<&str>,
) -> anyhow::Result<Option<Vec<(String, SampleConfig)>>> {
    let Some(sweep) = sweep else {
        return Ok(None);
    };
    let (key, values) = sweep.split_once('=').with_context(|| {
        format!("--sweep {sweep}: expected KEY=V1,V2,..., like temperature=0.3,0.7,1.1")
    })?;
    let key = key.trim();
    let spec = schema::find("sample", key).with_context(|| {
        let keys: Vec<&str> = schema::keys_of("sample").map(|k| k.name).collect();
        format!("--sweep: \"{key}\" is not a [sample] key; the keys are {}", keys.join(", "))
    })?;
    let mut settings = Vec::new();
    for value in values.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let parsed: Value = match spec.kind {
            schema::ValueKind::Int { .. } => Value::Integer(
                value
                    .parse()
                    .with_context(|| format!("--sweep {key}: \"{value}\" is not a whole number"))?,
            ),
            schema::ValueKind::Float { .. } => Value::Float(
                value
                    .parse()
                    .with_context(|| format!("--sweep {key}: \"{value}\" is not a number"))?,
            ),
            _ => bail!("--sweep works on numeric [sample] keys; \"{key}\" is not one"),
        };
        let mut all = flags.to_vec();
        all.push(Override::new("--sweep", "sample", spec.name, parsed));
        settings.push((format!("{key}={value}"), project.config(&all)?.sample));
    }
    if settings.is_empty() {
        bail!("--sweep {sweep}: no values given");
    }
    Ok(Some(settings))
}

fn overrides(args: &GenerateArgs) -> Vec<Override> {
    let mut overrides = Vec::new();
    let floats = [
        ("--temperature", "temperature", args.temperature),
        ("--top-p", "top_p", args.top_p),
        ("--min-p", "min_p", args.min_p),
        ("--typical-p", "typical_p", args.typical_p),
        ("--repetition-penalty", "repetition_penalty", args.repetition_penalty),
        ("--presence-penalty", "presence_penalty", args.presence_penalty),
        ("--frequency-penalty", "frequency_penalty", args.frequency_penalty),
        ("--dry-multiplier", "dry_multiplier", args.dry_multiplier),
        ("--dry-base", "dry_base", args.dry_base),
    ];
    for (flag, key, value) in floats {
        if let Some(value) = value {
            overrides.push(Override::new(flag, "sample", key, Value::Float(value)));
        }
    }
    let integers = [
        ("--top-k", "top_k", args.top_k),
        ("--seed", "seed", args.seed),
        ("--max-tokens", "max_tokens", args.max_tokens),
        ("--penalty-window", "penalty_window", args.penalty_window),
        ("--dry-allowed-length", "dry_allowed_length", args.dry_allowed_length),
    ];
    for (flag, key, value) in integers {
        if let Some(value) = value {
            overrides.push(Override::new(flag, "sample", key, Value::Integer(value)));
        }
    }
    let lists = [("--stop", "stop", &args.stop), ("--ban", "banned", &args.ban)];
    for (flag, key, values) in lists {
        if !values.is_empty() {
            let items = values.iter().map(|v| Value::String(v.clone())).collect();
            overrides.push(Override::new(flag, "sample", key, Value::Array(items)));
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
