//! Model checkpoints: a model's weights, what it is, and what it was trained on, plus any
//! extra tensors the trainer keeps (optimiser moments). Loading refuses a checkpoint of
//! another model shape or vocabulary and says why.

use std::collections::HashMap;
use std::path::Path;

use tch::{Device, Tensor};

use super::checkpoint::{self, CheckpointError};
use crate::model::{self, LanguageModel, ModelSpec};
use crate::vocab::Vocab;

/// The version of the checkpoint layout this code writes and reads.
const FORMAT: &str = "1";
const WEIGHT_PREFIX: &str = "model.";

/// What a checkpoint says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub step: u64,
    pub spec: ModelSpec,
    /// Fingerprint of the vocabulary the model was trained with.
    pub vocab: String,
    pub best_val_loss: Option<f64>,
    /// Trainer state kept as text, such as the batch random state.
    pub extra: HashMap<String, String>,
}

/// A checkpoint's tensors that are not model weights.
pub type Extra = HashMap<String, Tensor>;

/// Why a model checkpoint could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    #[error(transparent)]
    File(#[from] CheckpointError),
    #[error("{path}: {message}")]
    Refused { path: String, message: String },
}

/// Writes the model, extra tensors and metadata to `path` atomically; returns its size.
pub fn save(
    path: &Path,
    model: &dyn LanguageModel,
    extra: Vec<(String, Tensor)>,
    meta: &Meta,
) -> Result<u64, SavedError> {
    let mut tensors: Vec<(String, Tensor)> = model
        .named_weights()
        .into_iter()
        .map(|(name, tensor)| (format!("{WEIGHT_PREFIX}{name}"), tensor))
        .collect();
    tensors.extend(extra);

    let mut metadata = meta.extra.clone();
    metadata.insert("muse.format".into(), FORMAT.into());
    metadata.insert("muse.step".into(), meta.step.to_string());
    metadata
        .insert("muse.spec".into(), serde_json::to_string(&meta.spec).expect("a spec serialises"));
    metadata.insert("muse.vocab".into(), meta.vocab.clone());
    if let Some(best) = meta.best_val_loss {
        metadata.insert("muse.best_val_loss".into(), best.to_string());
    }
    Ok(checkpoint::save(path, &tensors, &metadata)?)
}

/// Reads a checkpoint and rebuilds its model on `device`, checking it was trained with `vocab`.
pub fn load(
    path: &Path,
    device: Device,
    vocab: &Vocab,
) -> Result<(Box<dyn LanguageModel>, Meta, Extra), SavedError> {
    let refused =
        |message: String| SavedError::Refused { path: path.display().to_string(), message };
    let file = checkpoint::load(path, device)?;
    let meta = read_meta(&file.metadata).map_err(&refused)?;

    if meta.vocab != vocab.fingerprint() || meta.spec.vocab != vocab.len() as i64 {
        return Err(refused(format!(
            "it was trained with another vocabulary ({} tokens, fingerprint {}) than this run's \
             tokenizer.json ({} tokens, fingerprint {}), so its token ids mean other characters",
            meta.spec.vocab,
            meta.vocab,
            vocab.len(),
            vocab.fingerprint()
        )));
    }

    let mut model = model::build(&meta.spec, device);
    let mut weights = HashMap::new();
    let mut extra = HashMap::new();
    for (name, tensor) in file.tensors {
        match name.strip_prefix(WEIGHT_PREFIX) {
            Some(weight) => weights.insert(weight.to_string(), tensor),
            None => extra.insert(name, tensor),
        };
    }
    model.load_weights(&weights).map_err(&refused)?;
    Ok((model, meta, extra))
}

/// The step a checkpoint was written at, read from its header alone.
pub fn read_step(path: &Path) -> Result<u64, SavedError> {
    let refused =
        |message: String| SavedError::Refused { path: path.display().to_string(), message };
    let metadata = checkpoint::read_metadata(path)?;
    read_meta(&metadata).map(|meta| meta.step).map_err(refused)
}

/// Checks that a checkpoint fits a model of `spec`, naming the first difference: the
/// family first, then the sizes.
pub fn check_spec(path: &Path, saved: &ModelSpec, wanted: &ModelSpec) -> Result<(), SavedError> {
    let refused = |message: String| SavedError::Refused {
        path: path.display().to_string(),
        message: format!("it holds another model: {message}"),
    };
    if saved.kind != wanted.kind {
        return Err(refused(format!(
            "it is {}, the config asks for {}",
            saved.kind.with_article(),
            wanted.kind.with_article()
        )));
    }
    let sizes = [
        ("vocab", saved.vocab, wanted.vocab),
        ("layers", saved.layers, wanted.layers),
        ("hidden", saved.hidden, wanted.hidden),
        ("embedding", saved.embedding, wanted.embedding),
        ("heads", saved.heads, wanted.heads),
        ("context", saved.context, wanted.context),
        ("latent", saved.latent, wanted.latent),
    ];
    if let Some((key, had, asked)) = sizes.iter().find(|(_, had, asked)| had != asked) {
        return Err(refused(format!("its {key} is {had}, the config asks for {asked}")));
    }
    Ok(())
}

fn read_meta(metadata: &HashMap<String, String>) -> Result<Meta, String> {
    let get = |key: &str| {
        metadata.get(key).ok_or_else(|| format!("it is not a Muse checkpoint (no {key})"))
    };
    let format = get("muse.format")?;
    if format != FORMAT {
        return Err(format!("it uses checkpoint format {format}; this Muse reads format {FORMAT}"));
    }
    let step = get("muse.step")?.parse().map_err(|_| "its step is not a number".to_string())?;
    let spec: ModelSpec = serde_json::from_str(get("muse.spec")?)
        .map_err(|e| format!("its model description cannot be read: {e}"))?;
    let best_val_loss = metadata.get("muse.best_val_loss").and_then(|v| v.parse().ok());
    let extra = metadata
        .iter()
        .filter(|(k, _)| !k.starts_with("muse."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Meta { step, spec, vocab: get("muse.vocab")?.clone(), best_val_loss, extra })
}
