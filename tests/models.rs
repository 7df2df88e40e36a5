//! The three model families: each learns the bundled corpus, survives a save and load,
//! and generates with its carried state exactly as a full forward pass would predict.

mod common;

use muse::config::ModelKind;
use muse::model::{self, Batch, Gpt, LanguageModel, ModelSpec, State};
use muse::run::{read_records, saved, Record};
use muse::sample::{generate, Request, Settings};
use muse::vocab::Vocab;
use tch::{Device, Kind, Tensor};

/// The metadata of a checkpoint of `spec` over `vocab` at `step`, with nothing extra.
fn meta_of(spec: &ModelSpec, vocab: &Vocab, step: u64) -> saved::Meta {
    saved::Meta {
        step,
        spec: spec.clone(),
        vocab: vocab.fingerprint(),
        best_val_loss: None,
        extra: Default::default(),
    }
}

fn val_losses(run: &muse::run::RunDir) -> Vec<f64> {
    read_records(&run.metrics())
        .unwrap()
        .iter()
        .filter_map(|r| match r {
            Record::Eval { val_loss, .. } => *val_loss,
            _ => None,
        })
        .collect()
}

fn learns_the_bundled_corpus(kind: ModelKind, steps: i64) {
    let config = common::small_config_of(kind, steps);
    let data = common::dataset(&config);
    let entropy = common::unigram_entropy(&[data.train.to_vec(), data.val.to_vec()].concat());
    let (run, summary) = common::train_run(&common::scratch(), kind.name(), &config);
    let losses = val_losses(&run);
    let last = *losses.last().unwrap();
    assert!(
        last < entropy,
        "{}: validation loss {last:.3} is not below the unigram entropy {entropy:.3}",
        kind.name()
    );
    assert!(last < losses[0], "{}: the validation loss fell: {losses:?}", kind.name());
    assert_eq!(summary.steps, steps as u64);
}

#[test]
fn the_gpt_learns_the_bundled_corpus() {
    learns_the_bundled_corpus(ModelKind::Gpt, 300);
}

#[test]
fn the_vae_learns_the_bundled_corpus_and_uses_its_code() {
    let steps = 300;
    let config = common::small_config_of(ModelKind::Vae, steps);
    let data = common::dataset(&config);
    let entropy = common::unigram_entropy(&[data.train.to_vec(), data.val.to_vec()].concat());
    let (run, _) = common::train_run(&common::scratch(), "vae", &config);
    let losses = val_losses(&run);
    assert!(
        *losses.last().unwrap() < entropy,
        "validation loss {losses:?} against entropy {entropy:.3}"
    );

    let latent: Vec<(f64, f64, u64)> = read_records(&run.metrics())
        .unwrap()
        .iter()
        .filter_map(|r| match r {
            Record::Latent { kl, beta, active_units, .. } => Some((*kl, *beta, *active_units)),
            _ => None,
        })
        .collect();
    let (kl, beta, active) = *latent.last().expect("latent records at each evaluation");
    assert_eq!(beta, 1.0, "the warm-up is over");
    assert!(kl > 0.0, "the KL is positive after the warm-up: {kl}");
    assert!(active > 0, "some latent units are active");

    let vocab = Vocab::load(&run.tokenizer()).unwrap();
    let (model, _, _) =
        saved::load(&run.newest_checkpoint().unwrap(), Device::Cpu, &vocab).unwrap();
    let size = model.latent_size().expect("the VAE has a latent code");
    tch::manual_seed(5);
    let codes = Tensor::randn([2, size], (Kind::Float, Device::Cpu)) * 2.0;
    let prompt = Tensor::from_slice(&[vocab.end_of_document() as i64]).view([1, 1]).repeat([2, 1]);
    let (logits, _) = model.start(&prompt, Some(&codes));
    assert!(
        !logits.get(0).allclose(&logits.get(1), 1e-4, 1e-4, false),
        "two different codes give different next-token distributions"
    );
    let greedy = Settings { temperature: 0.0, ..Settings::off() };
    let mut request = Request::simple("", greedy, 60, 1, 2);
    for (index, candidate) in request.candidates.iter_mut().enumerate() {
        candidate.latent = Some(codes.get(index as i64));
    }
    let texts = generate(model.as_ref(), &vocab, &request).unwrap();
    assert_ne!(texts[0].text, texts[1].text, "greedy decoding of two codes writes two texts");
}

fn spec_of(kind: ModelKind, vocab: i64) -> ModelSpec {
    ModelSpec::new(&common::small_config_of(kind, 1).model, vocab as usize)
}

#[test]
fn every_model_gives_identical_logits_after_a_save_and_load() {
    let config = common::small_config(1);
    let vocab = common::dataset(&config).vocab;
    for kind in [ModelKind::Lstm, ModelKind::Gpt, ModelKind::Vae] {
        let spec = spec_of(kind, vocab.len() as i64);
        tch::manual_seed(11);
        let model = model::build(&spec, Device::Cpu);
        let path = common::scratch().join("model.safetensors");
        let meta = meta_of(&spec, &vocab, 5);
        saved::save(&path, model.as_ref(), Vec::new(), &meta).unwrap();
        let (loaded, loaded_meta, _) = saved::load(&path, Device::Cpu, &vocab).unwrap();
        assert_eq!(loaded_meta, meta, "the metadata comes back as written");
        let tokens = Tensor::randint(vocab.len() as i64, [3, 20], (Kind::Int64, Device::Cpu));
        assert!(
            model.logits(&tokens, false).equal(&loaded.logits(&tokens, false)),
            "{}",
            kind.name()
        );
    }
}

/// A generation of `model` over `prompt` both ways its steps can run on the CPU: in plain
/// Rust (what `start` gives there) and as libtorch operations (the path a GPU takes).
fn both_step_paths(model: &Gpt, prompt: &Tensor) -> [(&'static str, Tensor, State); 2] {
    let (host_logits, host) = model.start(prompt, None);
    let (libtorch_logits, libtorch) = model.start_with_libtorch_steps(prompt);
    [("host", host_logits, host), ("libtorch", libtorch_logits, libtorch)]
}

#[test]
fn the_gpt_key_value_cache_matches_the_full_forward_pass() {
    let model = Gpt::new(spec_of(ModelKind::Gpt, 30), Device::Cpu);
    let tokens = Tensor::randint(30, [2, 40], (Kind::Int64, Device::Cpu));
    let whole = model.logits(&tokens, false);
    for (path, mut logits, mut state) in both_step_paths(&model, &tokens.narrow(1, 0, 7)) {
        for t in 7..40 {
            let expected = whole.select(1, t - 1);
            assert!(logits.allclose(&expected, 1e-4, 1e-4, false), "{path} at position {t}");
            logits = model.step(&tokens.select(1, t), &mut state);
        }
    }
}

#[test]
fn the_gpt_keeps_generating_past_its_context() {
    let spec = spec_of(ModelKind::Gpt, 30);
    let model = Gpt::new(spec.clone(), Device::Cpu);
    let tokens = Tensor::randint(30, [1, 3 * spec.context], (Kind::Int64, Device::Cpu));
    for (path, mut logits, mut state) in both_step_paths(&model, &tokens.narrow(1, 0, 5)) {
        for t in 5..3 * spec.context {
            logits = model.step(&tokens.select(1, t), &mut state);
            assert_eq!(logits.size(), vec![1, 30], "{path}");
        }
        assert!(logits.isfinite().all().int64_value(&[]) == 1, "{path}");
    }

    // The window slid last when the cache filled: the step then read the latest half of the
    // context afresh, which is what a full pass over those tokens predicts; the step after
    // carries on from there.
    let half = spec.context / 2;
    let whole = model.logits(&tokens.narrow(1, spec.context + 1 - half, half + 1), false);
    let prompt = tokens.narrow(1, 0, spec.context - 1);
    for (path, _, mut state) in both_step_paths(&model, &prompt) {
        let _ = model.step(&tokens.select(1, spec.context - 1), &mut state);
        let slid = model.step(&tokens.select(1, spec.context), &mut state);
        let expected = whole.select(1, half - 1);
        assert!(slid.allclose(&expected, 1e-4, 1e-4, false), "{path}: the slid window");
        let next = model.step(&tokens.select(1, spec.context + 1), &mut state);
        let expected = whole.select(1, half);
        assert!(next.allclose(&expected, 1e-4, 1e-4, false), "{path}: after the slide");
    }
}

#[test]
fn the_vae_decodes_a_document_from_its_own_code() {
    let spec = spec_of(ModelKind::Vae, 30);
    let model = model::build(&spec, Device::Cpu);
    let tokens = Tensor::randint(30, [2, 12], (Kind::Int64, Device::Cpu));
    let lengths = Tensor::from_slice(&[12i64, 7]);
    let (codes, log_variance) = model.encode(&tokens, &lengths).unwrap();
    assert_eq!(codes.size(), vec![2, spec.latent]);
    assert_eq!(log_variance.size(), vec![2, spec.latent]);
    let batch = Batch { tokens, lengths: Some(lengths) };
    let loss = model.loss(&batch, true, 0);
    assert!(loss.total.double_value(&[]).is_finite());
    assert_eq!(
        loss.parts.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        ["reconstruction", "kl"]
    );
}

#[test]
fn a_checkpoint_trained_on_the_gpu_loads_on_the_cpu_and_back() {
    if !tch::Cuda::is_available() {
        eprintln!("skipped: no CUDA device here");
        return;
    }
    let config = common::small_config(1);
    let vocab = common::dataset(&config).vocab;
    for kind in [ModelKind::Lstm, ModelKind::Gpt, ModelKind::Vae] {
        let spec = spec_of(kind, vocab.len() as i64);
        let model = model::build(&spec, Device::Cuda(0));
        let path = common::scratch().join("gpu.safetensors");
        let meta = meta_of(&spec, &vocab, 1);
        saved::save(&path, model.as_ref(), Vec::new(), &meta).unwrap();
        let (on_cpu, _, _) = saved::load(&path, Device::Cpu, &vocab).unwrap();
        let tokens = Tensor::randint(vocab.len() as i64, [2, 16], (Kind::Int64, Device::Cpu));
        let gpu_logits =
            model.logits(&tokens.to_device(Device::Cuda(0)), false).to_device(Device::Cpu);
        assert!(
            on_cpu.logits(&tokens, false).allclose(&gpu_logits, 1e-3, 1e-3, false),
            "{}",
            kind.name()
        );
        let (back, _, _) = saved::load(&path, Device::Cuda(0), &vocab).unwrap();
        assert_eq!(back.device(), Device::Cuda(0));
    }
}
