//! Helpers shared by the integration tests: the bundled corpus, small configs, and
//! running the engine to the end.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use muse::config::{Config, CorpusConfig, ModelKind};
use muse::corpus::{self, Corpus};
use muse::run::RunDir;
use muse::train::{self, Dataset, Job, Summary};

pub fn project_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn bundled_corpus() -> Corpus {
    corpus::load(&CorpusConfig::default(), project_root()).expect("the bundled corpus loads")
}

/// A model and schedule small enough to train a few hundred steps in seconds on a CPU.
pub fn small_config(max_steps: i64) -> Config {
    small_config_of(ModelKind::Lstm, max_steps)
}

/// A small config of any model family.
pub fn small_config_of(kind: ModelKind, max_steps: i64) -> Config {
    let mut config = Config::default();
    config.model.kind = kind;
    config.model.layers = Some(1);
    config.model.hidden = Some(128);
    config.model.embedding = Some(64);
    config.model.context = Some(64);
    config.model.dropout = Some(0.0);
    if kind == ModelKind::Gpt {
        config.model.layers = Some(2);
        config.model.heads = Some(4);
    }
    if kind == ModelKind::Vae {
        config.model.context = Some(128);
        config.model.latent = Some(16);
        config.model.kl_warmup_steps = Some(max_steps / 2);
    }
    config.train.batch_size = 16;
    config.train.lr = 3e-3;
    config.train.min_lr = 3e-4;
    config.train.warmup_steps = 20;
    config.train.max_steps = max_steps;
    config.train.eval_every = 100;
    config.train.eval_batches = 8;
    config.train.checkpoint_every = 100;
    config.train.sample_every = 100;
    config.train.device = "cpu".into();
    // Tests train side by side; one thread each keeps them from crowding the cores.
    config.train.threads = 1;
    config.resolved()
}

/// The bundled corpus prepared for `config`, without a cache.
pub fn dataset(config: &Config) -> Dataset {
    train::prepare(config, project_root(), None).expect("the bundled corpus prepares")
}

/// Creates a run in `runs` and trains it to the end on the CPU.
pub fn train_run(runs: &Path, name: &str, config: &Config) -> (RunDir, Summary) {
    let run = new_run(runs, name, config);
    let summary = train_job(&run, config, None).expect("training succeeds");
    (run, summary)
}

/// A run folder with the config and the bundled corpus's vocabulary written.
pub fn new_run(runs: &Path, name: &str, config: &Config) -> RunDir {
    let run = RunDir::create(runs, name).unwrap();
    std::fs::write(run.config(), config.to_toml()).unwrap();
    dataset(config).vocab.save(&run.tokenizer()).unwrap();
    run
}

/// Starts training `run` (from `resume`, when given) with `config` on the CPU.
pub fn start(run: &RunDir, config: &Config, resume: Option<PathBuf>) -> train::Handle {
    let vocab = muse::vocab::Vocab::load(&run.tokenizer()).unwrap();
    let data = train::prepare_with(config, project_root(), None, Some(vocab)).unwrap();
    let device = tch::Device::Cpu;
    train::spawn(Job { config: config.clone(), run: run.clone(), dataset: data, device, resume })
}

/// Trains `run` (from `resume`, when given) with `config` and waits for the end.
pub fn train_job(
    run: &RunDir,
    config: &Config,
    resume: Option<PathBuf>,
) -> Result<Summary, String> {
    start(run, config, resume).wait()
}

/// Runs the `muse` binary in `dir`.
pub fn muse(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_muse"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("muse runs")
}

/// Entropy in nats of the token frequencies: the loss of a model that knows only how
/// often each token occurs.
pub fn unigram_entropy(ids: &[u32]) -> f64 {
    let mut counts: HashMap<u32, u64> = HashMap::new();
    for id in ids {
        *counts.entry(*id).or_insert(0) += 1;
    }
    let total = ids.len() as f64;
    counts.values().map(|n| *n as f64 / total).map(|p| -p * p.ln()).sum()
}

/// A fresh folder that lives until the test process ends.
pub fn scratch() -> PathBuf {
    tempfile::tempdir().unwrap().keep()
}
