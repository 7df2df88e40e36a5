//! The language models: one trait that every family implements, so the trainer, the
//! sampler and the studio never ask which model they hold.

mod gpt;
mod lstm;
mod recurrent;
mod vae;

use std::any::Any;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Reduction, Tensor};

use crate::config::{ModelConfig, ModelKind};

pub use gpt::Gpt;
pub use lstm::Lstm;
pub use vae::Vae;

/// The id of the end-of-document token, the same in every Muse vocabulary (the vocabulary
/// builders put it first). Models that start a document from it use this.
pub const END_OF_DOCUMENT_ID: i64 = 0;

/// Everything needed to rebuild a model's shape; stored in every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub kind: ModelKind,
    /// Token ids the model reads and predicts.
    pub vocab: i64,
    pub layers: i64,
    pub hidden: i64,
    pub embedding: i64,
    pub context: i64,
    pub dropout: f64,
    /// GPT: attention heads.
    #[serde(default)]
    pub heads: i64,
    /// VAE: latent size, KL warm-up steps, decoder input dropout.
    #[serde(default)]
    pub latent: i64,
    #[serde(default)]
    pub kl_warmup_steps: i64,
    #[serde(default)]
    pub input_dropout: f64,
}

impl ModelSpec {
    /// The spec of a model for `config` over a vocabulary of `vocab` ids.
    pub fn new(config: &ModelConfig, vocab: usize) -> ModelSpec {
        let config = config.resolved();
        let or_zero = |value: Option<i64>| value.unwrap_or(0);
        let spec = ModelSpec {
            kind: config.kind,
            vocab: vocab as i64,
            layers: or_zero(config.layers),
            hidden: or_zero(config.hidden),
            embedding: or_zero(config.embedding),
            context: or_zero(config.context),
            dropout: config.dropout.unwrap_or(0.0),
            heads: or_zero(config.heads),
            latent: or_zero(config.latent),
            kl_warmup_steps: or_zero(config.kl_warmup_steps),
            input_dropout: config.input_dropout.unwrap_or(0.0),
        };
        // Keys of other families are zeroed, so they never make two specs differ.
        match spec.kind {
            ModelKind::Lstm => {
                ModelSpec { heads: 0, latent: 0, kl_warmup_steps: 0, input_dropout: 0.0, ..spec }
            }
            ModelKind::Gpt => {
                ModelSpec { hidden: 0, latent: 0, kl_warmup_steps: 0, input_dropout: 0.0, ..spec }
            }
            ModelKind::Vae => ModelSpec { heads: 0, ..spec },
        }
    }
}

/// What one training batch holds: windows of the stream `[batch, window + 1]`, or whole
/// documents `[batch, longest]` padded, with their `lengths`.
pub struct Batch {
    pub tokens: Tensor,
    pub lengths: Option<Tensor>,
}

impl Batch {
    pub fn to_device(&self, device: Device) -> Batch {
        if self.tokens.device() == device {
            return Batch {
                tokens: self.tokens.shallow_clone(),
                lengths: self.lengths.as_ref().map(Tensor::shallow_clone),
            };
        }
        Batch {
            tokens: self.tokens.to_device(device),
            lengths: self.lengths.as_ref().map(|l| l.to_device(device)),
        }
    }

    /// Tokens the batch trains on, for throughput figures.
    pub fn token_count(&self) -> i64 {
        match &self.lengths {
            Some(lengths) => lengths.sum(tch::Kind::Int64).int64_value(&[]),
            None => self.tokens.size()[0] * (self.tokens.size()[1] - 1),
        }
    }
}

/// A latent-variable model's figures on a batch: reconstruction loss and KL per token,
/// the KL weight, and how many latent units carry information.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatentStats {
    pub reconstruction: f64,
    pub kl: f64,
    pub beta: f64,
    pub active_units: u64,
}

/// A training loss, with its named parts for the records (the VAE's KL, say).
pub struct Loss {
    pub total: Tensor,
    pub parts: Vec<(&'static str, Tensor)>,
}

/// What a model carries from one generated token to the next: an LSTM's state, a GPT's
/// key/value cache. Only the model that made it can read it.
pub struct State(Box<dyn Any + Send>);

impl State {
    pub fn new<T: Any + Send>(inner: T) -> State {
        State(Box::new(inner))
    }

    pub fn get_mut<T: Any>(&mut self) -> &mut T {
        self.0.downcast_mut().expect("a state is only given back to the model that made it")
    }
}

/// One trainable language model.
pub trait LanguageModel: Send {
    fn spec(&self) -> &ModelSpec;

    fn var_store(&self) -> &VarStore;

    fn var_store_mut(&mut self) -> &mut VarStore;

    /// Next-token logits `[batch, time, vocab]` for tokens `[batch, time]`.
    fn logits(&self, tokens: &Tensor, train: bool) -> Tensor;

    /// Whether the model trains on whole documents rather than windows of the stream.
    fn reads_documents(&self) -> bool {
        false
    }

    /// The loss of a batch. For windows `[batch, time + 1]`, each position predicts the next.
    fn loss(&self, batch: &Batch, train: bool, _step: u64) -> Loss {
        let tokens = &batch.tokens;
        let time = tokens.size()[1] - 1;
        let inputs = tokens.narrow(1, 0, time);
        let targets = tokens.narrow(1, 1, time);
        let logits = self.logits(&inputs, train);
        let total = cross_entropy(&logits, &targets);
        Loss { total, parts: Vec::new() }
    }

    /// Reads a prompt `[batch, time]` and returns the logits of the next token
    /// `[batch, vocab]` with the state to continue from. A model with a latent space
    /// decodes from `latent` `[batch, latent]` when given one, else from its prior mean.
    fn start(&self, prompt: &Tensor, latent: Option<&Tensor>) -> (Tensor, State);

    /// The size of the latent code, for models that have one.
    fn latent_size(&self) -> Option<i64> {
        None
    }

    /// The posterior of documents `[batch, time]` with their lengths: the means and
    /// log-variances of their latent codes, `[batch, latent]` each.
    fn encode(&self, _tokens: &Tensor, _lengths: &Tensor) -> Option<(Tensor, Tensor)> {
        None
    }

    /// For a latent-variable model, what its code does on a batch of documents.
    fn latent_stats(&self, _batch: &Batch, _step: u64) -> Option<LatentStats> {
        None
    }

    /// Feeds one token per sequence `[batch]` and returns the next logits `[batch, vocab]`.
    fn step(&self, tokens: &Tensor, state: &mut State) -> Tensor;

    fn device(&self) -> Device {
        self.var_store().device()
    }

    /// The weights by name, in a stable order.
    fn named_weights(&self) -> Vec<(String, Tensor)> {
        let mut weights: Vec<(String, Tensor)> = self.var_store().variables().into_iter().collect();
        weights.sort_by(|a, b| a.0.cmp(&b.0));
        weights
    }

    /// Copies weights in from a checkpoint; every weight must be there with its shape.
    fn load_weights(&mut self, tensors: &HashMap<String, Tensor>) -> Result<(), String> {
        tch::no_grad(|| {
            for (name, mut weight) in self.var_store().variables() {
                let saved =
                    tensors.get(&name).ok_or_else(|| format!("it has no weight \"{name}\""))?;
                if saved.size() != weight.size() {
                    return Err(format!(
                        "its weight \"{name}\" has shape {:?}, the model needs {:?}",
                        saved.size(),
                        weight.size()
                    ));
                }
                weight.copy_(&saved.to_device(weight.device()).to_kind(weight.kind()));
            }
            Ok(())
        })
    }

    /// Number of trainable parameters.
    fn parameter_count(&self) -> i64 {
        self.var_store().trainable_variables().iter().map(Tensor::numel).sum::<usize>() as i64
    }
}

/// Builds a freshly initialised model on `device`.
pub fn build(spec: &ModelSpec, device: Device) -> Box<dyn LanguageModel> {
    match spec.kind {
        ModelKind::Lstm => Box::new(Lstm::new(spec.clone(), device)),
        ModelKind::Gpt => Box::new(Gpt::new(spec.clone(), device)),
        ModelKind::Vae => Box::new(Vae::new(spec.clone(), device)),
    }
}

/// Mean cross-entropy of logits `[batch, time, vocab]` against targets `[batch, time]`.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Tensor {
    let vocab = logits.size()[2];
    logits.view([-1, vocab]).cross_entropy_loss::<Tensor>(
        &targets.reshape([-1]),
        None,
        Reduction::Mean,
        -100,
        0.0,
    )
}

/// The logits of the last position: `[batch, time, vocab]` to `[batch, vocab]`.
pub fn last_position(logits: &Tensor) -> Tensor {
    let last = logits.select(1, -1);
    if last.kind() == Kind::Float {
        last
    } else {
        last.to_kind(Kind::Float)
    }
}

/// Dropout in training; in evaluation and generation no operation at all.
pub fn dropout(x: Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x
    }
}
