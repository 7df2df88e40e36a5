//! The training engine: resuming, stopping, pausing, recovering from bad steps, and
//! refusing checkpoints that do not fit.

mod common;

use std::time::Duration;

use muse::config::ModelKind;
use muse::run::{read_records, saved, Record, RunDir};
use muse::train::{self, Command, EngineState, Event};
use muse::vocab::Vocab;

fn last_loss(run: &RunDir) -> f64 {
    read_records(&run.metrics())
        .unwrap()
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::Eval { train_loss, .. } => Some(*train_loss),
            _ => None,
        })
        .unwrap()
}

/// Trains `run` from scratch, poisons `steps` steps in a row once step `at` is recorded,
/// and returns how the run ended.
fn run_poisoned(
    run: &RunDir,
    config: &muse::config::Config,
    at: u64,
    steps: u32,
) -> Result<train::Summary, String> {
    let handle = common::start(run, config, None);
    let result = loop {
        match handle.events.recv().unwrap() {
            Event::Record(Record::Step { step, .. }) if step == at => {
                handle.send(Command::InjectNan { steps })
            }
            Event::Finished(result) => break result,
            _ => {}
        }
    };
    handle.join();
    result
}

#[test]
fn two_hundred_steps_resumed_for_two_hundred_more_end_where_four_hundred_do() {
    let runs = common::scratch();
    let whole = common::small_config(400);
    let (straight, _) = common::train_run(&runs, "straight", &whole);

    // The first half follows the schedule of 400 steps and stops at 200.
    let resumed = common::new_run(&runs, "resumed", &whole);
    let handle = common::start(&resumed, &whole, None);
    handle.send(Command::StopAt(200));
    let first = handle.wait().unwrap();
    assert_eq!(first.steps, 200);
    assert!(first.stopped);

    let checkpoint = resumed.newest_checkpoint().unwrap();
    let summary = common::train_job(&resumed, &whole, Some(checkpoint)).unwrap();
    assert_eq!(summary.steps, 400);

    let (a, b) = (last_loss(&straight), last_loss(&resumed));
    assert!((a - b).abs() / a < 0.01, "straight {a:.5} against resumed {b:.5}");
}

#[test]
fn a_stopped_run_saves_its_step_and_resumes_to_the_end() {
    let runs = common::scratch();
    let config = common::small_config(300);
    let run = common::new_run(&runs, "stopped", &config);
    let handle = common::start(&run, &config, None);

    let mut stopped_at = None;
    let mut states = Vec::new();
    let summary = loop {
        match handle.events.recv().unwrap() {
            Event::Record(Record::Step { step: 30, .. }) => handle.send(Command::Pause),
            Event::State(EngineState::Paused) => {
                states.push("paused");
                std::thread::sleep(Duration::from_millis(100));
                handle.send(Command::Resume);
            }
            Event::State(EngineState::Running) => states.push("running"),
            Event::Record(Record::Step { step: 50, .. }) => handle.send(Command::Stop),
            Event::Record(Record::Checkpoint { step, .. }) => stopped_at = Some(step),
            Event::Finished(result) => break result.unwrap(),
            _ => {}
        }
    };
    handle.join();
    assert!(summary.stopped);
    assert_eq!(states, ["running", "paused", "running"]);
    let step = stopped_at.unwrap();
    assert!((50..=52).contains(&step), "stopped right after the asked step, at {step}");
    assert_eq!(summary.steps, step);

    let checkpoint = run.newest_checkpoint().unwrap();
    assert_eq!(saved::read_step(&checkpoint).unwrap(), step);
    let resumed = common::train_job(&run, &config, Some(checkpoint)).unwrap();
    assert_eq!(resumed.steps, 300);
    assert!(!resumed.stopped);
}

#[test]
fn a_bad_step_is_skipped_rolled_back_and_slows_the_learning_rate() {
    let runs = common::scratch();
    let config = common::small_config(120);
    let run = common::new_run(&runs, "nan", &config);
    let summary = run_poisoned(&run, &config, 60, 1).unwrap();
    assert_eq!(summary.steps, 120);
    assert!(summary.last_train_loss.unwrap().is_finite());

    let records = read_records(&run.metrics()).unwrap();
    let anomalies: Vec<&Record> =
        records.iter().filter(|r| matches!(r, Record::Anomaly { .. })).collect();
    assert_eq!(anomalies.len(), 1);
    let Record::Anomaly { step, loss, restored_step, lr_scale, message, .. } = anomalies[0] else {
        unreachable!()
    };
    assert!((61..=63).contains(step), "the poisoned step, {step}");
    assert_eq!(*loss, None, "a NaN loss is written as null");
    assert_eq!(*restored_step, 50);
    assert_eq!(*lr_scale, 0.5);
    assert!(message.contains("the step was skipped"), "{message}");

    let schedule = train::Schedule {
        peak: config.train.lr,
        floor: config.train.min_lr,
        warmup_steps: 20,
        total_steps: 120,
    };
    let late = records.iter().find_map(|r| match r {
        Record::Step { step: 100, lr, .. } => Some(*lr),
        _ => None,
    });
    assert!(
        (late.unwrap() - schedule.at(99) * 0.5).abs() < 1e-12,
        "the learning rate is halved from then on"
    );
}

#[test]
fn three_bad_steps_in_a_row_stop_the_run_with_the_good_weights_saved() {
    let runs = common::scratch();
    let config = common::small_config(200);
    let run = common::new_run(&runs, "nan3", &config);
    let error = run_poisoned(&run, &config, 10, 3).unwrap_err();
    assert!(
        error.starts_with("training stopped: the loss was not finite 3 steps in a row"),
        "{error}"
    );
    assert!(error.ends_with("lower [train] lr and continue with --resume nan3"), "{error}");
    let checkpoint = run.newest_checkpoint().expect("the good weights are saved");
    let vocab = Vocab::load(&run.tokenizer()).unwrap();
    let (model, _, _) = saved::load(&checkpoint, tch::Device::Cpu, &vocab).unwrap();
    for (name, weight) in model.named_weights() {
        assert!(weight.isfinite().all().int64_value(&[]) == 1, "{name} is finite");
    }
}

#[test]
fn a_checkpoint_of_another_model_or_vocabulary_is_refused_with_the_reason() {
    let runs = common::scratch();
    let gpt = common::small_config_of(ModelKind::Gpt, 5);
    let (run, _) = common::train_run(&runs, "gpt", &gpt);
    let checkpoint = run.newest_checkpoint().unwrap();

    let lstm = common::small_config(10);
    let error = common::train_job(&run, &lstm, Some(checkpoint.clone())).unwrap_err();
    assert!(
        error.ends_with("it holds another model: it is a gpt, the config asks for an lstm"),
        "{error}"
    );

    let other = common::scratch().join("other.json");
    let mut counts = std::collections::HashMap::new();
    counts.insert('x', 1);
    counts.insert('y', 1);
    muse::vocab::build_char(&counts, 1, &[]).save(&other).unwrap();
    let vocab = Vocab::load(&other).unwrap();
    let error = saved::load(&checkpoint, tch::Device::Cpu, &vocab).err().unwrap().to_string();
    assert!(
        error.contains("it was trained with another vocabulary (")
            && error.contains("so its token ids mean other characters"),
        "{error}"
    );
}

#[test]
fn only_the_newest_checkpoints_are_kept_and_the_best_one_always() {
    let runs = common::scratch();
    let mut config = common::small_config(200);
    config.train.checkpoint_every = 50;
    config.train.eval_every = 50;
    config.train.keep_checkpoints = 2;
    let (run, summary) = common::train_run(&runs, "kept", &config);
    let steps: Vec<u64> = run.step_checkpoints().iter().map(|(step, _)| *step).collect();
    assert_eq!(steps, [150, 200]);
    let best = run.root().join(RunDir::BEST_CHECKPOINT);
    let meta_step = saved::read_step(&best).unwrap();
    assert!(meta_step.is_multiple_of(50) && meta_step > 0);
    assert!(summary.best_val_loss.unwrap() <= summary.last_val_loss.unwrap());
}
