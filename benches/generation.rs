//! Generation speed with the benchmark GPT (4 layers, 4 heads, width 128, context 64):
//! 500 new tokens with the key/value cache against recomputing the whole context for
//! every token, in Muse and in the plain PyTorch loop of `benches/reference/generate.py`;
//! the time to the first token; and the share of a step the sampler chain takes.
//! Run with `make bench` (or `cargo bench --profile release --bench generation`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use muse::config::{Config, ModelKind};
use muse::model::{Gpt, LanguageModel, ModelSpec};
use muse::sample::{distribution, draw, penalised, Request, Resolved, Settings, Shape};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

const NEW_TOKENS: usize = 500;
const PROMPT: &str = "First Citizen:\nBefore we proceed any further, hear me speak.";

fn spec(vocab: usize) -> ModelSpec {
    let mut config = Config::default().model;
    config.kind = ModelKind::Gpt;
    config.layers = Some(4);
    config.heads = Some(4);
    config.embedding = Some(128);
    config.context = Some(64);
    config.dropout = Some(0.0);
    ModelSpec::new(&config, vocab)
}

fn row(logits: &Tensor) -> Vec<f32> {
    Vec::try_from(logits.get(0).to_device(Device::Cpu).to_kind(Kind::Float)).unwrap()
}

/// Milliseconds for 500 tokens drawn with the cache, and the part the chain took; the
/// steps run in plain Rust (`start`, on the CPU) or as libtorch operations.
fn cached(model: &Gpt, prompt: &[i64], resolved: &Resolved, on_host: bool) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut history: Vec<u32> = prompt.iter().map(|t| *t as u32).collect();
    let started = Instant::now();
    let mut chain = 0.0;
    tch::no_grad(|| {
        let prompt = Tensor::from_slice(prompt).unsqueeze(0);
        let (mut logits, mut state) = if on_host {
            model.start(&prompt, None)
        } else {
            model.start_with_libtorch_steps(&prompt)
        };
        for _ in 0..NEW_TOKENS {
            let values = row(&logits);
            let picked = Instant::now();
            let token =
                draw(&distribution(&penalised(&values, &history, resolved), resolved), &mut rng)
                    as u32;
            chain += picked.elapsed().as_secs_f64();
            history.push(token);
            logits = model.step(&Tensor::from_slice(&[token as i64]), &mut state);
        }
    });
    (started.elapsed().as_secs_f64() * 1000.0, chain * 1000.0)
}

/// Milliseconds for 500 tokens, each from a fresh pass over the last `context` tokens.
fn recomputed(model: &dyn LanguageModel, prompt: &[i64], resolved: &Resolved) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut tokens: Vec<i64> = prompt.to_vec();
    let context = model.spec().context as usize;
    let started = Instant::now();
    tch::no_grad(|| {
        for _ in 0..NEW_TOKENS {
            let window = &tokens[tokens.len().saturating_sub(context)..];
            let logits = model.logits(&Tensor::from_slice(window).unsqueeze(0), false);
            let values = row(&logits.select(1, -1));
            let history: Vec<u32> = tokens.iter().map(|t| *t as u32).collect();
            tokens.push(draw(
                &distribution(&penalised(&values, &history, resolved), resolved),
                &mut rng,
            ) as i64);
        }
    });
    started.elapsed().as_secs_f64() * 1000.0
}

/// One round of the side-by-side measurement: the three loops run back to back, so each
/// ratio compares runs made under the same load (this machine drifts by ±15% over minutes).
struct Round {
    cached_ms: f64,
    chain_ms: f64,
    libtorch_steps_ms: f64,
    recomputed_ms: f64,
    reference_ms: Option<f64>,
}

const ROUNDS: usize = 7;

fn report(rounds: &[Round]) {
    let of = |figure: fn(&Round) -> f64| median(rounds.iter().map(figure).collect());
    let cached_ms = of(|round| round.cached_ms);
    println!(
        "generation: {NEW_TOKENS} tokens with the cache {cached_ms:.0} ms ({:.2} ms a token), recomputing in Muse {:.0} ms: {:.1}x (medians of {ROUNDS} rounds)",
        cached_ms / NEW_TOKENS as f64,
        of(|round| round.recomputed_ms),
        of(|round| round.recomputed_ms / round.cached_ms),
    );
    println!(
        "generation: with the cache but each step as libtorch operations (the GPU path) {:.0} ms ({:.2} ms a token)",
        of(|round| round.libtorch_steps_ms),
        of(|round| round.libtorch_steps_ms) / NEW_TOKENS as f64,
    );
    let ratios: Vec<f64> =
        rounds.iter().filter_map(|round| Some(round.reference_ms? / round.cached_ms)).collect();
    if ratios.len() == rounds.len() {
        let (low, high) = ratios.iter().fold((f64::MAX, 0f64), |(l, h), r| (l.min(*r), h.max(*r)));
        println!(
            "generation: the plain PyTorch loop recomputing the context: {:.0} ms; Muse with the cache is {:.1}x faster (median of {ROUNDS} rounds, {low:.1}-{high:.1}x; target at least 5x)",
            median(rounds.iter().filter_map(|round| round.reference_ms).collect()),
            median(ratios),
        );
    } else {
        println!("generation: the PyTorch reference could not run (set MUSE_PYTHON)");
    }
    println!(
        "generation: the sampler chain takes {:.1}% of a step (target under 10%)",
        100.0 * of(|round| round.chain_ms / round.cached_ms)
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn reference_ms() -> Option<f64> {
    let python = std::env::var("MUSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference/generate.py");
    let output =
        Command::new(python).arg(script).arg(format!("tokens={NEW_TOKENS}")).output().ok()?;
    let line = String::from_utf8_lossy(&output.stdout).lines().last()?.to_string();
    let result: serde_json::Value = serde_json::from_str(&line).ok()?;
    result["ms"].as_f64()
}

fn main() {
    let text = "First Citizen:\nBefore we proceed any further, hear me speak.\nAll:\nSpeak, speak.";
    let mut counts = std::collections::HashMap::new();
    for c in text.chars().chain('a'..='z').chain('A'..='Z') {
        *counts.entry(c).or_insert(0u64) += 1;
    }
    let vocab = muse::vocab::build_char(&counts, 1, &[]);
    tch::manual_seed(3);
    let model = Gpt::new(spec(vocab.len()), Device::Cpu);
    let mut prompt: Vec<i64> = vec![vocab.end_of_document() as i64];
    prompt.extend(vocab.encode_prompt(PROMPT).unwrap().into_iter().map(i64::from));
    let resolved = Settings::default().resolve(&vocab).unwrap();

    cached(&model, &prompt, &resolved, true);
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let (cached_ms, chain_ms) = cached(&model, &prompt, &resolved, true);
        let (libtorch_steps_ms, _) = cached(&model, &prompt, &resolved, false);
        let recomputed_ms = recomputed(&model, &prompt, &resolved);
        let reference_ms = reference_ms();
        rounds.push(Round { cached_ms, chain_ms, libtorch_steps_ms, recomputed_ms, reference_ms });
    }
    report(&rounds);

    let first: Vec<f64> = (0..21)
        .map(|seed| {
            let started = Instant::now();
            let request = Request {
                shape: Shape::default(),
                ..Request::simple(PROMPT, Settings::default(), 1, seed, 1)
            };
            muse::sample::generate(&model, &vocab, &request).unwrap();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!(
        "generation: time to the first token after a {}-character prompt: median {:.1} ms of 21 (target under 20 ms)",
        PROMPT.chars().count(),
        median(first)
    );
}
