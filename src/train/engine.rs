//! The training engine. It runs on its own thread, takes commands on one channel and
//! sends events on another; it never waits for whoever watches it.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

use super::batches::{batch_rng, TokenStream};
use super::dataset::Dataset;
use super::optim::{AdamW, AdamWConfig};
use super::schedule::Schedule;
use crate::config::Config;
use crate::model::{self, LanguageModel, ModelSpec};
use crate::run::saved::{self, Meta};
use crate::run::{now, Record, RecordWriter, RunDir, RunLog};
use crate::sample::{self, Request, Settings};
use crate::vocab::Vocab;

/// Length of the samples written to `samples.jsonl` at each evaluation.
const SAMPLE_TOKENS: usize = 200;

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
}

/// What the engine is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineState {
    Running,
    Paused,
    Stopping,
    Finished,
}

/// What the engine reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// A record, the same one appended to `metrics.jsonl`.
    Record(Record),
    State(EngineState),
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
    pub ms_per_step: f64,
}

/// Everything one training run needs, prepared by the caller.
pub struct Job {
    /// The resolved config.
    pub config: Config,
    pub run: RunDir,
    pub dataset: Dataset,
    pub device: Device,
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
    vocab_fingerprint: String,
    model: Box<dyn LanguageModel>,
    optimizer: AdamW,
    schedule: Schedule,
    train: TokenStream,
    val: TokenStream,
    rng: ChaCha8Rng,
    step: u64,
    best_val_loss: Option<f64>,
    last_val_loss: Option<f64>,
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
        let Job { config, run, dataset, device } = job;
        let train_config = &config.train;
        tch::manual_seed(train_config.seed);

        let spec = ModelSpec::new(&config.model, dataset.vocab.len());
        let model = model::build(&spec, device);
        let optimizer = AdamW::new(
            model.named_weights(),
            AdamWConfig { weight_decay: train_config.weight_decay, ..AdamWConfig::default() },
        );
        let schedule = Schedule {
            peak: train_config.lr,
            floor: train_config.min_lr,
            warmup_steps: train_config.warmup_steps as u64,
            total_steps: train_config.max_steps as u64,
        };
        let records = RecordWriter::append(&run.metrics())
            .map_err(|e| format!("{}: cannot write the metrics: {e}", run.metrics().display()))?;
        let mut log = RunLog::open(&run.log());
        log.line(&format!(
            "training {} with {} parameters on {} training and {} validation tokens, on {device:?}",
            spec.kind.name(),
            model.parameter_count(),
            dataset.train.len(),
            dataset.val.len()
        ));

        Ok(Trainer {
            rng: batch_rng(train_config.seed as u64),
            vocab_fingerprint: dataset.vocab.fingerprint(),
            vocab: dataset.vocab,
            train: dataset.train,
            val: dataset.val,
            config,
            run,
            model,
            optimizer,
            schedule,
            step: 0,
            best_val_loss: None,
            last_val_loss: None,
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
        let context = self.model.spec().context;
        if self.train.window(context) < 1 {
            return Err(
                "the training split has fewer than two tokens; add text to the corpus".into()
            );
        }
        self.emit_state(EngineState::Running);

        while self.step < max_steps {
            if !self.obey_commands()? {
                break;
            }
            self.train_step()?;
            let last = self.step == max_steps;
            if self.step % self.config.train.eval_every as u64 == 0 || last {
                self.evaluate();
            }
            if self.step % self.config.train.checkpoint_every as u64 == 0 && !last {
                self.checkpoint()?;
            }
        }

        self.checkpoint()?;
        let summary = Summary {
            steps: self.step,
            best_val_loss: self.best_val_loss,
            last_val_loss: self.last_val_loss,
            ms_per_step: self.step_ms_total / self.steps_timed.max(1) as f64,
        };
        self.record(Record::Done {
            step: self.step,
            best_val_loss: summary.best_val_loss,
            ms_per_step: summary.ms_per_step,
            t: now(),
        });
        self.message(format!("run finished after {} steps", self.step));
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
                    Err(TryRecvError::Empty) => return Ok(true),
                    Err(TryRecvError::Disconnected) => return Ok(true),
                }
            };
            match command {
                Command::Pause => {
                    paused = true;
                    self.emit_state(EngineState::Paused);
                }
                Command::Resume => {
                    paused = false;
                    self.emit_state(EngineState::Running);
                }
                Command::Stop => {
                    self.emit_state(EngineState::Stopping);
                    self.message(format!("stopping at step {} as asked", self.step));
                    return Ok(false);
                }
                Command::SaveNow => self.checkpoint()?,
                Command::SetLearningRate(peak) => {
                    self.schedule.floor *= peak / self.schedule.peak;
                    self.schedule.peak = peak;
                    self.message(format!("peak learning rate set to {peak}"));
                }
            }
        }
    }

    fn train_step(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let train_config = &self.config.train;
        let window = self.train.window(self.model.spec().context);
        let batch =
            self.train.sample(&mut self.rng, train_config.batch_size, window, self.model.device());
        let lr = self.schedule.at(self.step);

        self.optimizer.zero_grad();
        let loss = self.model.loss(&batch, true, self.step);
        loss.total.backward();
        let norm = self.optimizer.grad_norm();
        let host: Vec<f64> = Vec::try_from(
            Tensor::stack(&[loss.total.detach(), norm], 0)
                .to_device(Device::Cpu)
                .to_kind(tch::Kind::Double),
        )
        .expect("two scalars convert");
        let (loss_value, grad_norm) = (host[0], host[1]);
        if !loss_value.is_finite() || !grad_norm.is_finite() {
            return Err(format!(
                "the loss became {loss_value} at step {}; lower [train] lr",
                self.step + 1
            ));
        }
        if train_config.grad_clip > 0.0 && grad_norm > train_config.grad_clip {
            self.optimizer.scale_grads(train_config.grad_clip / (grad_norm + 1e-6));
        }
        self.optimizer.step(lr);
        self.step += 1;

        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.step_ms_total += ms;
        self.steps_timed += 1;
        let tokens = (batch.size()[0] * (batch.size()[1] - 1)) as f64;
        self.record(Record::Step {
            step: self.step,
            loss: loss_value,
            lr,
            tokens_per_s: tokens / (ms / 1000.0),
            ms,
            t: now(),
        });
        Ok(())
    }

    /// Mean loss on both splits, over the same batches every time so evaluations compare.
    fn evaluate(&mut self) {
        let train_loss = self.mean_loss(Split::Train).unwrap_or(f64::NAN);
        let val_loss = self.mean_loss(Split::Val);
        self.last_val_loss = val_loss;
        self.record(Record::Eval { step: self.step, train_loss, val_loss, t: now() });
        let improved = match (val_loss, self.best_val_loss) {
            (Some(val), Some(best)) => val < best,
            (Some(_), None) => true,
            _ => false,
        };
        if improved {
            self.best_val_loss = val_loss;
        }
        self.write_sample();
    }

    /// Appends a short sample to `samples.jsonl`, so the user sees the model improve.
    fn write_sample(&mut self) {
        let request = Request {
            prompt: String::new(),
            settings: Settings { temperature: 0.8, top_k: 40, top_p: 0.95 },
            max_tokens: SAMPLE_TOKENS,
            seed: self.step,
            count: 1,
        };
        let Ok(texts) = sample::generate(self.model.as_ref(), &self.vocab, &request) else {
            return;
        };
        let text = texts.into_iter().next().unwrap_or_default();
        let line = serde_json::json!({"step": self.step, "text": text, "t": now()});
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.run.samples())
            .and_then(|mut file| writeln!(file, "{line}"));
        if let Err(e) = written {
            self.log.line(&format!("cannot append to {}: {e}", self.run.samples().display()));
        }
    }

    fn mean_loss(&self, split: Split) -> Option<f64> {
        let stream = match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        };
        let window = stream.window(self.model.spec().context);
        if window < 1 {
            return None;
        }
        let mut rng = batch_rng(self.config.train.seed as u64 ^ split as u64 ^ 0x5eed);
        let batches = self.config.train.eval_batches;
        let total: f64 = tch::no_grad(|| {
            (0..batches)
                .map(|_| {
                    let batch = stream.sample(
                        &mut rng,
                        self.config.train.batch_size,
                        window,
                        self.model.device(),
                    );
                    self.model.loss(&batch, false, self.step).total.double_value(&[])
                })
                .sum()
        });
        Some(total / batches as f64)
    }

    fn checkpoint(&mut self) -> Result<(), String> {
        let relative = RunDir::step_checkpoint(self.step);
        let path = self.run.root().join(&relative);
        let (first, second, steps) = self.optimizer.state();
        let mut extra = HashMap::new();
        extra.insert(
            "trainer.rng".to_string(),
            serde_json::to_string(&self.rng).expect("the rng serialises"),
        );
        extra.insert("trainer.optimizer_steps".to_string(), steps.to_string());
        let meta = Meta {
            step: self.step,
            spec: self.model.spec().clone(),
            vocab: self.vocab_fingerprint.clone(),
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

    fn emit_state(&mut self, state: EngineState) {
        let _ = self.events.send(Event::State(state));
    }
}

#[derive(Clone, Copy)]
enum Split {
    Train = 1,
    Val = 2,
}
