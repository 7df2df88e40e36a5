//! The generator worker: a thread that owns the model, generates on request, streams
//! each token as it comes, takes new settings between tokens, and can be cancelled at
//! once. It also reports the next-token distribution of a text without generating, so
//! the studio can show how the settings reshape it.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

use tch::{Device, Kind, Tensor};

use super::chain::{distribution, penalised, softmax_of, top};
use super::generate::{generate_with, Control, Generated, Observer, Report, Request, REPORTED};
use super::settings::Settings;
use crate::model::LanguageModel;
use crate::vocab::Vocab;

/// What the worker is asked to do.
enum Command {
    Generate(Request),
    Update(Settings),
    Cancel,
    Inspect { text: String, settings: Settings },
}

/// What the worker reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A token was written; `text` is what it added.
    Token { candidate: usize, text: String },
    /// The distribution a token was drawn from, or the one `inspect` asked for.
    Distribution(Report),
    /// A generation ended.
    Finished(Result<Vec<Generated>, String>),
}

/// The caller's side of the worker.
pub struct Generator {
    commands: Sender<Command>,
    pub messages: Receiver<Message>,
    thread: Option<JoinHandle<()>>,
}

impl Generator {
    /// Starts a worker that owns `model` and `vocab`.
    pub fn start(model: Box<dyn LanguageModel>, vocab: Vocab) -> Generator {
        let (commands, inbox) = mpsc::channel();
        let (outbox, messages) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("muse-generator".into())
            .spawn(move || serve(model.as_ref(), &vocab, &inbox, &outbox))
            .expect("the generator thread starts");
        Generator { commands, messages, thread: Some(thread) }
    }

    /// Starts generating; tokens arrive as [`Message::Token`].
    pub fn generate(&self, request: Request) {
        let _ = self.commands.send(Command::Generate(request));
    }

    /// New settings for the generation under way, from its next token.
    pub fn update(&self, settings: Settings) {
        let _ = self.commands.send(Command::Update(settings));
    }

    /// Stops the generation under way before its next token.
    pub fn cancel(&self) {
        let _ = self.commands.send(Command::Cancel);
    }

    /// Asks for the next-token distribution after `text`, before and after the chain.
    pub fn inspect(&self, text: &str, settings: Settings) {
        let _ = self.commands.send(Command::Inspect { text: text.to_string(), settings });
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Cancel);
        let (closed, _) = mpsc::channel();
        self.commands = closed;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    model: &dyn LanguageModel,
    vocab: &Vocab,
    inbox: &Receiver<Command>,
    outbox: &Sender<Message>,
) {
    while let Ok(command) = inbox.recv() {
        match command {
            Command::Generate(request) => {
                let mut streaming = Streaming { inbox, outbox, waiting: Vec::new() };
                let result = generate_with(model, vocab, &request, &mut streaming);
                let _ = outbox.send(Message::Finished(result));
                for command in streaming.waiting {
                    if let Command::Inspect { text, settings } = command {
                        inspect(model, vocab, &text, &settings, outbox);
                    }
                }
            }
            Command::Inspect { text, settings } => inspect(model, vocab, &text, &settings, outbox),
            Command::Update(_) | Command::Cancel => {}
        }
    }
}

/// Passes tokens out and commands in while a generation runs.
struct Streaming<'a> {
    inbox: &'a Receiver<Command>,
    outbox: &'a Sender<Message>,
    /// Requests that arrived mid-generation, served after it.
    waiting: Vec<Command>,
}

impl Observer for Streaming<'_> {
    fn control(&mut self) -> Control {
        let mut control = Control::Continue;
        loop {
            match self.inbox.try_recv() {
                Ok(Command::Update(settings)) => control = Control::Update(settings),
                Ok(Command::Cancel) => return Control::Cancel,
                Ok(other) => self.waiting.push(other),
                Err(TryRecvError::Empty) => return control,
                Err(TryRecvError::Disconnected) => return Control::Cancel,
            }
        }
    }

    fn token(&mut self, candidate: usize, text: &str) {
        let _ = self.outbox.send(Message::Token { candidate, text: text.to_string() });
    }

    fn report(&mut self, report: &Report) {
        if report.candidate == 0 {
            let _ = self.outbox.send(Message::Distribution(report.clone()));
        }
    }
}

/// The distribution of the token after `text`, without drawing one.
fn inspect(
    model: &dyn LanguageModel,
    vocab: &Vocab,
    text: &str,
    settings: &Settings,
    outbox: &Sender<Message>,
) {
    let report = (|| -> Result<Report, String> {
        let resolved = settings.resolve(vocab)?;
        let mut ids = vec![vocab.end_of_document()];
        ids.extend(vocab.encode_prompt(text).map_err(|e| e.to_string())?);
        let row: Vec<f32> = tch::no_grad(|| {
            let tokens: Vec<i64> = ids.iter().map(|id| *id as i64).collect();
            let batch = Tensor::from_slice(&tokens).to_device(model.device()).unsqueeze(0);
            let (logits, _) = model.start(&batch, None);
            Vec::try_from(logits.get(0).to_device(Device::Cpu).to_kind(Kind::Float))
                .expect("float logits")
        });
        let after = distribution(&penalised(&row, &ids, &resolved), &resolved);
        Ok(Report {
            candidate: 0,
            before: top(&softmax_of(&row), REPORTED),
            after: top(&after, REPORTED),
        })
    })();
    match report {
        Ok(report) => {
            let _ = outbox.send(Message::Distribution(report));
        }
        Err(message) => {
            let _ = outbox.send(Message::Finished(Err(message)));
        }
    }
}
