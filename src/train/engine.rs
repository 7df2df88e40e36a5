//! The training engine. It runs on its own thread, takes commands on one channel and
//! sends events on another; it never waits for whoever watches it.
//!
//! A step whose loss or gradient is not finite never reaches the weights: it is skipped,
//! the weights and optimiser go back to the last good snapshot, the learning rate is
//! halved, and an anomaly record says so. Three in a row stop the run.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use super::batches::{batch_rng, Plan, Prefetcher, TokenStream};
use super::dataset::Dataset;
use super::optim::{AdamW, AdamWConfig, Snapshot};
use super::schedule::Schedule;
use crate::config::Config;
use crate::model::{self, LanguageModel, ModelSpec};
use crate::run::saved::{self, Meta};
use crate::run::{now, Record, RecordWriter, RunDir, RunLog};
use crate::sample::{self, Request, Settings};
use crate::vocab::Vocab;

/// Length of the samples written to `samples.jsonl`.
const SAMPLE_TOKENS: usize = 200;
/// Good steps between the snapshots an anomaly rolls back to.
const SNAPSHOT_EVERY: u64 = 50;
/// Anomalies in a row that stop the run.
const ANOMALIES_TO_STOP: u32 = 3;

/// What the engine can be told while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Pause,
    Resume,
    /// Finish the current step, write a checkpoint, and end.
    Stop,
    /// Write a checkpoint now.
    SaveNow,
    /// Use this peak learning rate from the next step; the schedule keeps its shape.
    SetLearningRate(f64),
    /// Stop when this step is done, as `Stop` would, with the schedule unchanged.
    StopAt(u64),
    /// Make the loss of the next `steps` steps NaN, to exercise the recovery from bad
    /// steps. For tests and demonstrations.
    InjectNan {
        steps: u32,
    },
}

/// What the engine is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineState {
    Running,
    Paused,
    Stopping,
    Finished,
}

impl EngineState {
    pub fn name(self) -> &'static str {
        match self {
            EngineState::Running => "running",
            EngineState::Paused => "paused",
            EngineState::Stopping => "stopping",
            EngineState::Finished => "finished",
        }
    }
}

/// What the engine reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// A record, the same one appended to `metrics.jsonl`.
    Record(Record),
    State(EngineState),
    /// A sample of the model's writing, also appended to `samples.jsonl`.
    Sample {
        step: u64,
        text: String,
    },
    /// A line of `train.log`.
    Message(String),
    /// The run ended: how it went, or why it failed.
    Finished(Result<Summary, String>),
}

/// How a finished run went.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub steps: u64,
    pub best_val_loss: Option<f64>,
    pub last_val_loss: Option<f64>,
    pub last_train_loss: Option<f64>,
    pub ms_per_step: f64,
    /// Whether it ended before `max_steps`, on a stop command.
    pub stopped: bool,
}

/// Everything one training run needs, prepared by the caller.
pub struct Job {
    /// The resolved config.
    pub config: Config,
    pub run: RunDir,
    pub dataset: Dataset,
    pub device: Device,
    /// A checkpoint to continue from: weights, optimiser moments, step and random state.
    pub resume: Option<PathBuf>,
}

/// The caller's side of a running engine.
pub struct Handle {
    commands: Sender<Command>,
    pub events: Receiver<Event>,
    thread: JoinHandle<()>,
}

impl Handle {
    /// Sends a command; a finished engine ignores it.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// A sender for commands from another thread, such as a Ctrl-C handler.
    pub fn commander(&self) -> Sender<Command> {
        self.commands.clone()
    }

    /// Waits for the engine thread to end.
    pub fn join(self) {
        let _ = self.thread.join();
    }

    /// Drains events until the run ends and returns how it ended.
    pub fn wait(self) -> Result<Summary, String> {
        let mut outcome = Err("the trainer ended without saying why".to_string());
        while let Ok(event) = self.events.recv() {
            if let Event::Finished(result) = event {
                outcome = result;
            }
        }
        let _ = self.thread.join();
        outcome
    }
}

/// Starts training `job` on a new thread.
pub fn spawn(job: Job) -> Handle {
    let (commands, command_rx) = mpsc::channel();
    let (event_tx, events) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("muse-trainer".into())
        .spawn(move || {
            let result = Trainer::new(job, command_rx, event_tx.clone()).and_then(Trainer::run);
            let _ = event_tx.send(Event::State(EngineState::Finished));
            let _ = event_tx.send(Event::Finished(result));
        })
        .expect("the trainer thread starts");
    Handle { commands, events, thread }
}

/// The state of one run in progress.
struct Trainer {
    config: Config,
    run: RunDir,
    vocab: Vocab,
    model: Box<dyn LanguageModel>,
    optimizer: AdamW,
    schedule: Schedule,
    /// Halved by each anomaly.
    lr_scale: f64,
    batches: Prefetcher,
    plan: Plan,
    train: TokenStream,
    val: TokenStream,
    /// The batch random state after the last batch trained on.
    rng: ChaCha8Rng,
    step: u64,
    snapshot: (u64, Snapshot),
    anomalies_in_row: u32,
    nan_steps_left: u32,
    stop_at: Option<u64>,
    best_val_loss: Option<f64>,
    last_val_loss: Option<f64>,
    last_train_loss: Option<f64>,
    step_ms_total: f64,
    steps_timed: u64,
    records: RecordWriter,
    log: RunLog,
    commands: Receiver<Command>,
    events: Sender<Event>,
}

impl Trainer {
    fn new(
        job: Job,
        commands: Receiver<Command>,
        events: Sender<Event>,
    ) -> Result<Trainer, String> {
        let Job { config, run, dataset, device, resume } = job;
        let train_config = &config.train;
        if train_config.threads > 0 {
            tch::set_num_threads(train_config.threads as i32);
        }
        tch::manual_seed(train_config.seed);

        let spec = ModelSpec::new(&config.model, dataset.vocab.len());
        let mut log = RunLog::open(&run.log());
        let mut step = 0;
        let mut rng = batch_rng(train_config.seed as u64);
        let mut best_val_loss = None;
        let mut lr_scale = 1.0;
        let mut moments = None;
        let model = match &resume {
            None => model::build(&spec, device),
            Some(path) => {
                let (model, meta, extra) =
                    saved::load(path, device, &dataset.vocab).map_err(|e| e.to_string())?;
                saved::check_spec(path, &meta.spec, &spec).map_err(|e| e.to_string())?;
                step = meta.step;
                best_val_loss = meta.best_val_loss;
                rng = read_extra(&meta, "trainer.rng", path)?;
                lr_scale = read_extra(&meta, "trainer.lr_scale", path).unwrap_or(1.0);
                let optimizer_steps: u64 = read_extra(&meta, "trainer.optimizer_steps", path)?;
                let first = extra
                    .get("optim.first_moment")
                    .ok_or_else(|| missing(path, "optim.first_moment"))?;
                let second = extra
                    .get("optim.second_moment")
                    .ok_or_else(|| missing(path, "optim.second_moment"))?;
                moments = Some((first.shallow_clone(), second.shallow_clone(), optimizer_steps));
                // Dropout draws from libtorch's generator, which cannot be saved: it is
                // seeded from the step, so a resumed run is as reproducible as a fresh one.
                tch::manual_seed(train_config.seed.wrapping_add(step as i64));
                log.line(&format!("resuming from {} at step {step}", path.display()));
                model
            }
        };

        let mut optimizer = AdamW::new(
            model.named_weights(),
            AdamWConfig { weight_decay: train_config.weight_decay, ..AdamWConfig::default() },
        );
        if let Some((first, second, steps)) = moments {
            optimizer.restore(&first, &second, steps).map_err(|e| format!("cannot resume: {e}"))?;
        }
        let schedule = Schedule {
            peak: train_config.lr,
            floor: train_config.min_lr,
            warmup_steps: train_config.warmup_steps as u64,
            total_steps: train_config.max_steps as u64,
        };
        let records = RecordWriter::append(&run.metrics())
            .map_err(|e| format!("{}: cannot write the metrics: {e}", run.metrics().display()))?;
        log.line(&format!(
            "training {} with {} parameters on {} training and {} validation tokens, on {device:?}",
            spec.kind.name(),
            model.parameter_count(),
            dataset.train.len(),
            dataset.val.len()
        ));

        let plan = Plan {
            batch: train_config.batch_size,
            window: if model.reads_documents() {
                spec.context
            } else {
                dataset.train.window(spec.context)
            },
            documents: model.reads_documents(),
            padding: dataset.vocab.end_of_document(),
        };
        if dataset.train.window(spec.context) < 1 {
            return Err(
                "the training split has fewer than two tokens; add text to the corpus".into()
            );
        }
        let snapshot = (step, optimizer.snapshot());
        Ok(Trainer {
            batches: Prefetcher::start(dataset.train.clone(), rng.clone(), plan),
            plan,
            rng,
            vocab: dataset.vocab,
            train: dataset.train,
            val: dataset.val,
            config,
            run,
            model,
            optimizer,
            schedule,
            lr_scale,
            step,
            snapshot,
            anomalies_in_row: 0,
            nan_steps_left: 0,
            stop_at: None,
            best_val_loss,
            last_val_loss: None,
            last_train_loss: None,
            step_ms_total: 0.0,
            steps_timed: 0,
            records,
            log,
            commands,
            events,
        })
    }

    fn run(mut self) -> Result<Summary, String> {
        let max_steps = self.config.train.max_steps as u64;
        self.set_state(EngineState::Running);
        let mut stopped = false;

        while self.step < max_steps {
            if !self.obey_commands()? {
                stopped = true;
                break;
            }
            if !self.train_step()? {
                continue;
            }
            let last = self.step == max_steps;
            if self.step.is_multiple_of(self.config.train.eval_every as u64) || last {
                self.evaluate()?;
            }
            if self.step.is_multiple_of(self.config.train.sample_every as u64) || last {
                self.write_sample();
            }
            if self.step.is_multiple_of(self.config.train.checkpoint_every as u64) && !last {
                self.checkpoint()?;
            }
        }

        self.checkpoint()?;
        let summary = Summary {
            steps: self.step,
            best_val_loss: self.best_val_loss,
            last_val_loss: self.last_val_loss,
            last_train_loss: self.last_train_loss,
            ms_per_step: self.step_ms_total / self.steps_timed.max(1) as f64,
            stopped,
        };
        self.record(Record::Done {
            step: self.step,
            best_val_loss: summary.best_val_loss,
            ms_per_step: summary.ms_per_step,
            t: now(),
        });
        self.message(format!(
            "run {} at step {}",
            if stopped { "stopped" } else { "finished" },
            self.step
        ));
        Ok(summary)
    }

    /// Handles waiting commands; while paused, waits for the next one. Returns false to stop.
    fn obey_commands(&mut self) -> Result<bool, String> {
        let mut paused = false;
        loop {
            let command = if paused {
                match self.commands.recv() {
                    Ok(command) => command,
                    Err(_) => return Ok(false),
                }
            } else {
                match self.commands.try_recv() {
                    Ok(command) => command,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                        if self.stop_at.is_some_and(|at| self.step >= at) {
                            self.set_state(EngineState::Stopping);
                            self.message(format!("stopping at step {} as asked", self.step));
                            return Ok(false);
                        }
                        return Ok(true);
                    }
                }
            };
            match command {
                Command::Pause => {
                    paused = true;
                    self.set_state(EngineState::Paused);
                }
                Command::Resume => {
                    paused = false;
                    self.set_state(EngineState::Running);
                }
                Command::Stop => {
                    self.set_state(EngineState::Stopping);
                    self.message(format!("stopping at step {} as asked", self.step));
                    return Ok(false);
                }
                Command::SaveNow => self.checkpoint()?,
                Command::SetLearningRate(peak) => {
                    self.schedule.floor *= peak / self.schedule.peak;
                    self.schedule.peak = peak;
                    self.message(format!("peak learning rate set to {peak}"));
                }
                Command::StopAt(step) => self.stop_at = Some(step),
                Command::InjectNan { steps } => self.nan_steps_left += steps,
            }
        }
    }

    /// One optimiser step; returns false when the step was skipped as an anomaly.
    fn train_step(&mut self) -> Result<bool, String> {
        let started = Instant::now();
        let (batch, rng_after) = self.batches.next();
        self.rng = rng_after;
        let batch = batch.to_device(self.model.device());
        let lr = self.schedule.at(self.step) * self.lr_scale;

        self.optimizer.zero_grad();
        let mut loss = self.model.loss(&batch, true, self.step).total;
        if self.nan_steps_left > 0 {
            self.nan_steps_left -= 1;
            loss *= f64::NAN;
        }
        loss.backward();
        let norm = self.optimizer.grad_norm();
        let (loss_value, grad_norm) = host_scalars(&loss, &norm);
        if !loss_value.is_finite() || !grad_norm.is_finite() {
            return self.anomaly(loss_value, grad_norm).map(|_| false);
        }
        self.anomalies_in_row = 0;

        let clip = self.config.train.grad_clip;
        let grad_scale =
            if clip > 0.0 && grad_norm > clip { clip / (grad_norm + 1e-6) } else { 1.0 };
        self.optimizer.step(lr, grad_scale);
        self.step += 1;
        self.last_train_loss = Some(loss_value);
        if self.step.is_multiple_of(SNAPSHOT_EVERY) {
            self.snapshot = (self.step, self.optimizer.snapshot());
        }

        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.step_ms_total += ms;
        self.steps_timed += 1;
        let tokens = batch.token_count() as f64;
        self.record(Record::Step {
            step: self.step,
            loss: loss_value,
            lr,
            tokens_per_s: tokens / (ms / 1000.0),
            ms,
            t: now(),
        });
        Ok(true)
    }

    /// Skips a step whose loss or gradient is not finite and rolls the weights and
    /// optimiser back to the last good snapshot. The step count goes on, so records stay
    /// in order.
    fn anomaly(&mut self, loss: f64, grad_norm: f64) -> Result<(), String> {
        self.anomalies_in_row += 1;
        let attempted = self.step + 1;
        let (restored_step, snapshot) = &self.snapshot;
        let restored_step = *restored_step;
        self.optimizer.roll_back(snapshot);
        self.lr_scale *= 0.5;
        let what = if loss.is_finite() { "gradient norm" } else { "loss" };
        let value = if loss.is_finite() { grad_norm } else { loss };
        let message = format!(
            "step {attempted}: the {what} was {value}; the step was skipped, the weights and \
             optimiser went back to those of step {restored_step}, and the learning rate was \
             halved to {}% of the schedule",
            self.lr_scale * 100.0
        );
        self.message(message.clone());
        self.record(Record::Anomaly {
            step: attempted,
            loss: loss.is_finite().then_some(loss),
            grad_norm: grad_norm.is_finite().then_some(grad_norm),
            restored_step,
            lr_scale: self.lr_scale,
            message,
            t: now(),
        });
        if self.anomalies_in_row < ANOMALIES_TO_STOP {
            return Ok(());
        }
        self.checkpoint()?;
        Err(format!(
            "training stopped: the {what} was not finite {ANOMALIES_TO_STOP} steps in a row, even \
             after halving the learning rate each time. The last good weights (those of step \
             {restored_step}) are saved; lower [train] lr and continue with --resume {}",
            self.run.name()
        ))
    }

    /// Mean loss on both splits, over the same batches every time so evaluations compare.
    fn evaluate(&mut self) -> Result<(), String> {
        let train_loss = self.mean_loss(EvalSplit::Train).unwrap_or(f64::NAN);
        let val_loss = self.mean_loss(EvalSplit::Val);
        self.last_val_loss = val_loss;
        self.record(Record::Eval { step: self.step, train_loss, val_loss, t: now() });
        self.latent_record();

        let improved = match (val_loss, self.best_val_loss) {
            (Some(val), Some(best)) => val < best,
            (Some(_), None) => true,
            _ => false,
        };
        if improved {
            self.best_val_loss = val_loss;
            self.save(RunDir::BEST_CHECKPOINT.to_string())?;
        }
        Ok(())
    }

    fn eval_stream(&self, split: EvalSplit) -> &TokenStream {
        match split {
            EvalSplit::Train => &self.train,
            EvalSplit::Val => &self.val,
        }
    }

    fn eval_plan(&self, stream: &TokenStream) -> Option<Plan> {
        let window = stream.window(self.model.spec().context);
        let usable = if self.plan.documents { stream.documents() > 0 } else { window >= 1 };
        usable.then_some(Plan {
            window: if self.plan.documents { self.plan.window } else { window },
            ..self.plan
        })
    }

    fn mean_loss(&self, split: EvalSplit) -> Option<f64> {
        let stream = self.eval_stream(split);
        let plan = self.eval_plan(stream)?;
        let batches = self.config.train.eval_batches;
        let device = self.model.device();
        let total: f64 = tch::no_grad(|| {
            (0..batches)
                .map(|index| {
                    let batch = stream.spaced_batch(index, batches, &plan).to_device(device);
                    self.model.loss(&batch, false, self.step).total.double_value(&[])
                })
                .sum()
        });
        Some(total / batches as f64)
    }

    /// For latent-variable models: reconstruction, KL and active units on validation documents.
    fn latent_record(&mut self) {
        let stream = if self.val.documents() > 0 { &self.val } else { &self.train };
        let Some(plan) = self.eval_plan(stream) else {
            return;
        };
        let plan = Plan { batch: plan.batch.max(64), ..plan };
        let batch = stream.spaced_batch(0, 1, &plan).to_device(self.model.device());
        let stats = tch::no_grad(|| self.model.latent_stats(&batch, self.step));
        if let Some(stats) = stats {
            self.record(Record::Latent {
                step: self.step,
                reconstruction: stats.reconstruction,
                kl: stats.kl,
                beta: stats.beta,
                active_units: stats.active_units,
                t: now(),
            });
        }
    }

    /// Appends a short sample to `samples.jsonl`, so the user sees the model improve.
    fn write_sample(&mut self) {
        let settings = Settings { temperature: 0.8, top_k: 40, top_p: 0.95, ..Settings::off() };
        let request = Request::simple("", settings, SAMPLE_TOKENS, self.step, 1);
        let Ok(texts) = sample::generate(self.model.as_ref(), &self.vocab, &request) else {
            return;
        };
        let text = texts.into_iter().next().map(|g| g.text).unwrap_or_default();
        let line = serde_json::json!({"step": self.step, "text": text, "t": now()});
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.run.samples())
            .and_then(|mut file| writeln!(file, "{line}"));
        if let Err(e) = written {
            self.log.line(&format!("cannot append to {}: {e}", self.run.samples().display()));
        }
        let _ = self.events.send(Event::Sample { step: self.step, text });
    }

    /// Writes the step checkpoint and drops the oldest beyond `keep_checkpoints`.
    fn checkpoint(&mut self) -> Result<(), String> {
        self.save(RunDir::step_checkpoint(self.step))?;
        let keep = self.config.train.keep_checkpoints as usize;
        let existing = self.run.step_checkpoints();
        for (step, path) in existing.iter().take(existing.len().saturating_sub(keep)) {
            match std::fs::remove_file(path) {
                Ok(()) => self.log.line(&format!(
                    "removed the checkpoint of step {step}, keeping the newest {keep}"
                )),
                Err(e) => self.log.line(&format!("cannot remove {}: {e}", path.display())),
            }
        }
        Ok(())
    }

    fn save(&mut self, relative: String) -> Result<(), String> {
        let path = self.run.root().join(&relative);
        let (first, second, optimizer_steps) = self.optimizer.state();
        let mut extra = HashMap::new();
        extra.insert(
            "trainer.rng".to_string(),
            serde_json::to_string(&self.rng).expect("the rng serialises"),
        );
        extra.insert("trainer.optimizer_steps".to_string(), optimizer_steps.to_string());
        extra.insert("trainer.lr_scale".to_string(), self.lr_scale.to_string());
        let meta = Meta {
            step: self.step,
            spec: self.model.spec().clone(),
            vocab: self.vocab.fingerprint(),
            best_val_loss: self.best_val_loss,
            extra,
        };
        let tensors = vec![
            ("optim.first_moment".to_string(), first),
            ("optim.second_moment".to_string(), second),
        ];
        let bytes =
            saved::save(&path, self.model.as_ref(), tensors, &meta).map_err(|e| e.to_string())?;
        self.message(format!(
            "checkpoint saved: {} ({:.1} MB)",
            path.display(),
            bytes as f64 / 1e6
        ));
        self.record(Record::Checkpoint { step: self.step, path: relative, t: now() });
        Ok(())
    }

    fn record(&mut self, record: Record) {
        if let Err(e) = self.records.write(&record) {
            self.log.line(&format!("cannot append to {}: {e}", self.run.metrics().display()));
        }
        let _ = self.events.send(Event::Record(record));
    }

    fn message(&mut self, message: String) {
        self.log.line(&message);
        let _ = self.events.send(Event::Message(message));
    }

    fn set_state(&mut self, state: EngineState) {
        self.record(Record::State { step: self.step, state: state.name().to_string(), t: now() });
        let _ = self.events.send(Event::State(state));
    }
}

/// The loss and the gradient norm on the host: on a GPU in one transfer, so the step
/// waits for the device once.
fn host_scalars(loss: &Tensor, norm: &Tensor) -> (f64, f64) {
    if loss.device() == Device::Cpu {
        return (loss.double_value(&[]), norm.double_value(&[]));
    }
    let both = Tensor::stack(&[loss.detach().to_kind(Kind::Float), norm.shallow_clone()], 0);
    let host: Vec<f64> = Vec::try_from(both.to_kind(Kind::Double).to_device(Device::Cpu))
        .expect("two scalars convert");
    (host[0], host[1])
}

#[derive(Clone, Copy)]
enum EvalSplit {
    Train,
    Val,
}

fn read_extra<T: serde::de::DeserializeOwned>(
    meta: &Meta,
    key: &str,
    path: &std::path::Path,
) -> Result<T, String> {
    let text = meta.extra.get(key).ok_or_else(|| missing(path, key))?;
    serde_json::from_str(text).map_err(|_| format!("{}: its {key} cannot be read", path.display()))
}

fn missing(path: &std::path::Path, key: &str) -> String {
    format!("{}: it has no {key}, so training cannot continue from it", path.display())
}
