//! The character LSTM trained end to end on the bundled corpus.

mod common;

use std::sync::OnceLock;

use muse::model::{self, ModelSpec};
use muse::run::{read_records, saved, Record, RunDir};
use muse::sample::{generate, Request, Settings};
use muse::vocab::Vocab;
use tch::{Device, Kind, Tensor};

/// One run trained for 300 steps, shared by the tests that read it.
fn trained() -> &'static (RunDir, f64) {
    static RUN: OnceLock<(RunDir, f64)> = OnceLock::new();
    RUN.get_or_init(|| {
        let config = common::small_config(300);
        let data = common::dataset(&config);
        let entropy = common::unigram_entropy(&[data.train.to_vec(), data.val.to_vec()].concat());
        let (run, _) = common::train_run(&common::scratch(), "lstm", &config);
        (run, entropy)
    })
}

#[test]
fn three_hundred_steps_bring_the_validation_loss_below_the_unigram_entropy() {
    let (run, entropy) = trained();
    let records = read_records(&run.metrics()).unwrap();

    let val_losses: Vec<f64> = records
        .iter()
        .filter_map(|r| match r {
            Record::Eval { val_loss, .. } => *val_loss,
            _ => None,
        })
        .collect();
    assert_eq!(val_losses.len(), 3, "an evaluation every 100 steps");
    let last = *val_losses.last().unwrap();
    assert!(
        last < *entropy,
        "validation loss {last:.3} is not below the unigram entropy {entropy:.3}"
    );
    assert!(last < val_losses[0], "the validation loss fell: {val_losses:?}");

    let steps = records.iter().filter(|r| matches!(r, Record::Step { .. })).count();
    assert_eq!(steps, 300);
    assert!(matches!(records.last(), Some(Record::Done { step: 300, best_val_loss: Some(_), .. })));
}

#[test]
fn every_metrics_line_is_a_json_object_with_an_event() {
    let (run, _) = trained();
    let text = std::fs::read_to_string(run.metrics()).unwrap();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("each line parses");
        let event = value["event"].as_str().expect("each record names its event");
        assert!(["step", "eval", "checkpoint", "done", "state"].contains(&event), "{event}");
        assert!(value["t"].as_f64().unwrap() > 1.7e9);
    }
}

#[test]
fn the_same_seed_gives_the_same_text_and_another_seed_other_text() {
    let (run, _) = trained();
    let vocab = Vocab::load(&run.tokenizer()).unwrap();
    let checkpoint = run.newest_checkpoint().unwrap();
    let (model, meta, _) = saved::load(&checkpoint, Device::Cpu, &vocab).unwrap();
    assert_eq!(meta.step, 300);

    let settings = Settings { temperature: 0.9, ..Settings::default() };
    let texts = |seed| -> Vec<String> {
        let request = Request::simple("The ", settings.clone(), 120, seed, 2);
        generate(model.as_ref(), &vocab, &request).unwrap().into_iter().map(|g| g.text).collect()
    };
    let first = texts(7);
    assert_eq!(first, texts(7));
    assert!(first[0].starts_with("The "));
    assert_ne!(first[0], first[1], "candidates draw with different seeds");
    assert_ne!(first[0], texts(8)[0]);
}

#[test]
fn a_sample_is_written_at_each_evaluation() {
    let (run, _) = trained();
    let text = std::fs::read_to_string(run.samples()).unwrap();
    let samples: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let steps: Vec<u64> = samples.iter().map(|s| s["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![100, 200, 300]);
    assert!(samples.iter().all(|s| !s["text"].as_str().unwrap().is_empty()));
}

#[test]
fn checkpoints_are_written_on_schedule_and_at_the_end() {
    let (run, _) = trained();
    let steps: Vec<u64> = run.step_checkpoints().iter().map(|(step, _)| *step).collect();
    assert_eq!(steps, vec![100, 200, 300]);
    let leftovers = std::fs::read_dir(run.checkpoints())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"));
    assert_eq!(leftovers.count(), 0, "no temporary file is left behind");
}

#[test]
fn stepping_with_the_carried_state_matches_reading_the_whole_sequence() {
    let spec = ModelSpec::new(&common::small_config(1).model, 30);
    let model = model::build(&spec, Device::Cpu);
    let tokens = Tensor::randint(30, [2, 12], (Kind::Int64, Device::Cpu));
    let whole = model.logits(&tokens, false);

    let (mut logits, mut state) = model.start(&tokens.narrow(1, 0, 5), None);
    for t in 5..12 {
        assert!(logits.allclose(&whole.select(1, t - 1), 1e-5, 1e-5, false), "position {t}");
        logits = model.step(&tokens.select(1, t), &mut state);
    }
    assert!(logits.allclose(&whole.select(1, 11), 1e-5, 1e-5, false));
}
