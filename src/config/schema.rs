//! The keys `muse.toml` accepts: their section, the values they take, and what they mean.
//!
//! This table is the one place that knows which keys exist. Loading checks every value
//! against it, `muse init` writes its commented file from it, and a test keeps it in step
//! with the typed [`Config`](super::Config).

use toml::Value;

/// The sections of `muse.toml`, in the order `muse init` writes them.
pub const SECTIONS: &[&str] = &["corpus", "tokenizer", "model", "train", "sample"];

/// What values a key takes.
#[derive(Debug, Clone, Copy)]
pub enum ValueKind {
    /// A whole number within `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// A number within the range; `open_min` excludes `min` itself.
    Float {
        min: f64,
        max: f64,
        open_min: bool,
    },
    Bool,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
    /// Any non-empty string.
    Text,
    /// A list of non-empty strings.
    TextList,
    /// `"auto"`, `"cpu"`, `"cuda"` or `"cuda:N"`.
    Device,
    /// A table from strings to numbers within the range, like `{ "e" = -2.0 }`.
    Biases {
        min: f64,
        max: f64,
    },
    /// A list of strings, possibly empty ones excluded; may itself be empty.
    Strings,
    /// `"folder"`, `"file"`, `"field:NAME"` or `"none"`.
    StyleFrom,
}

/// One key of one section.
#[derive(Debug)]
pub struct Key {
    pub section: &'static str,
    pub name: &'static str,
    pub kind: ValueKind,
    /// One or two sentences for the user, written above the key by `muse init`.
    pub doc: &'static str,
    /// For keys without a default: a value `muse init` shows commented out.
    pub example: Option<&'static str>,
}

const fn key(section: &'static str, name: &'static str, kind: ValueKind, doc: &'static str) -> Key {
    Key { section, name, kind, doc, example: None }
}

const fn optional(
    section: &'static str,
    name: &'static str,
    kind: ValueKind,
    doc: &'static str,
    example: &'static str,
) -> Key {
    Key { section, name, kind, doc, example: Some(example) }
}

const fn int(min: i64, max: i64) -> ValueKind {
    ValueKind::Int { min, max }
}

const fn float(min: f64, max: f64) -> ValueKind {
    ValueKind::Float { min, max, open_min: false }
}

const fn positive(max: f64) -> ValueKind {
    ValueKind::Float { min: 0.0, max, open_min: true }
}

/// The largest seed: seeds are stored as unsigned 63-bit numbers.
pub const MAX_SEED: i64 = i64::MAX;

/// Every key `muse.toml` accepts.
pub const KEYS: &[Key] = &[
    // [corpus]
    key(
        "corpus",
        "paths",
        ValueKind::TextList,
        "Files, folders (read recursively) and globs to train on, relative to this file. \
         Hidden files and the runs folder are never read.",
    ),
    key(
        "corpus",
        "include",
        ValueKind::TextList,
        "When not empty, only files whose path relative to this file matches one of these \
         globs are read. A glob without a slash matches the file name.",
    ),
    key(
        "corpus",
        "exclude",
        ValueKind::TextList,
        "Files matching any of these globs are left out, even when included.",
    ),
    key(
        "corpus",
        "text_field",
        ValueKind::Text,
        "Where the text is in .json, .jsonl, .csv and .tsv files: a column name, or a dotted \
         path such as \"paragraphs\", \"lyrics.text\" or \"poems[].lines\" (each [] step \
         makes one document per element). An array of strings is joined with newlines.",
    ),
    optional(
        "corpus",
        "title_field",
        ValueKind::Text,
        "Optional field or column whose value is put as a first line before each document's \
         text.",
        "\"title\"",
    ),
    key(
        "corpus",
        "invalid_utf8",
        ValueKind::Choice(&["replace", "skip"]),
        "A file that is not valid UTF-8 is read with replacement characters (\"replace\") or \
         left out (\"skip\"); either way it is reported.",
    ),
    key("corpus", "unicode_nfc", ValueKind::Bool, "Normalise text to Unicode NFC."),
    key("corpus", "unix_newlines", ValueKind::Bool, "Turn CRLF and lone CR line ends into LF."),
    key("corpus", "trim_trailing_spaces", ValueKind::Bool, "Remove spaces and tabs at line ends."),
    key(
        "corpus",
        "collapse_blank_lines",
        ValueKind::Bool,
        "Shorten runs of more than two blank lines to two.",
    ),
    key(
        "corpus",
        "strip_control",
        ValueKind::Bool,
        "Remove control characters other than newline and tab.",
    ),
    optional(
        "corpus",
        "style_from",
        ValueKind::StyleFrom,
        "Where each document's style comes from, so one model can write in several voices: \
         the folder it is in, its file name, a field or column of its record, or none. Left \
         out: by folder when the corpus files are in more than one folder.",
        "\"folder\"",
    ),
    // [tokenizer]
    key(
        "tokenizer",
        "kind",
        ValueKind::Choice(&["char", "bpe"]),
        "How text becomes tokens: \"char\" gives every character its own token; \"bpe\" \
         learns byte-level pieces of words from the training text and never meets an unknown \
         character.",
    ),
    key(
        "tokenizer",
        "min_count",
        int(1, 1_000_000),
        "For \"char\": characters seen fewer times than this in training share one unknown \
         token.",
    ),
    key(
        "tokenizer",
        "vocab_size",
        int(300, 200_000),
        "For \"bpe\": how many tokens the vocabulary has.",
    ),
    // [model]
    key(
        "model",
        "kind",
        ValueKind::Choice(&["lstm", "gpt", "vae"]),
        "The model family: \"lstm\" is a recurrent network, \"gpt\" a small transformer, \
         \"vae\" a variational LSTM that learns a space of whole documents. Keys left out \
         take the defaults of the family.",
    ),
    key("model", "layers", int(1, 64), "Stacked layers (LSTM layers or transformer blocks)."),
    key("model", "hidden", int(8, 8192), "LSTM and VAE: width of each recurrent layer's state."),
    key(
        "model",
        "embedding",
        int(8, 8192),
        "Width of the token embedding; for \"gpt\" the width of the whole model.",
    ),
    key(
        "model",
        "context",
        int(2, 8192),
        "Tokens the model reads at once in training; longer sees more, costs more. For \
         \"vae\", the longest document it encodes.",
    ),
    optional(
        "model",
        "heads",
        int(1, 64),
        "GPT: attention heads; they must divide the embedding.",
        "4",
    ),
    optional("model", "latent", int(1, 4096), "VAE: size of the latent code of a document.", "32"),
    optional(
        "model",
        "kl_warmup_steps",
        int(0, 100_000_000),
        "VAE: steps over which the weight of the KL term rises from 0 to 1.",
        "1000",
    ),
    optional(
        "model",
        "input_dropout",
        float(0.0, 0.95),
        "VAE: share of decoder input tokens hidden in training, so the decoder must use the \
         latent code.",
        "0.25",
    ),
    key(
        "model",
        "dropout",
        ValueKind::Float { min: 0.0, max: 0.9, open_min: false },
        "Fraction of activations dropped in training against overfitting (0 turns it off).",
    ),
    // [train]
    key("train", "batch_size", int(1, 65536), "Sequences in each training step."),
    key("train", "lr", positive(1.0), "Peak learning rate, reached after the warm-up."),
    key(
        "train",
        "warmup_steps",
        int(0, 100_000_000),
        "Steps over which the learning rate rises linearly from 0 to `lr`.",
    ),
    key(
        "train",
        "min_lr",
        float(0.0, 1.0),
        "Learning rate at the last step; the rate falls from `lr` to it along a cosine.",
    ),
    key(
        "train",
        "weight_decay",
        float(0.0, 1.0),
        "AdamW weight decay, applied to weight matrices only.",
    ),
    key(
        "train",
        "grad_clip",
        float(0.0, 1000.0),
        "Gradients are scaled down to at most this total norm (0 turns clipping off).",
    ),
    key("train", "max_steps", int(1, 100_000_000), "Training steps in the whole run."),
    key(
        "train",
        "eval_every",
        int(1, 100_000_000),
        "Steps between evaluations of the training and validation loss.",
    ),
    key("train", "eval_batches", int(1, 100_000), "Batches of each split in an evaluation."),
    key(
        "train",
        "checkpoint_every",
        int(1, 100_000_000),
        "Steps between checkpoints; one is also written when the run ends.",
    ),
    key("train", "seed", int(0, MAX_SEED), "Seed for initialisation and batch order."),
    key(
        "train",
        "val_fraction",
        float(0.0, 0.5),
        "Share of the corpus held out to measure the validation loss.",
    ),
    key(
        "train",
        "keep_checkpoints",
        int(1, 10_000),
        "Step checkpoints kept on disk; older ones are deleted. The best one is always kept.",
    ),
    key(
        "train",
        "sample_every",
        int(1, 100_000_000),
        "Steps between the short samples written to samples.jsonl.",
    ),
    key(
        "train",
        "device",
        ValueKind::Device,
        "Where training runs: \"auto\" takes the GPU when there is one.",
    ),
    key(
        "train",
        "threads",
        int(0, 1024),
        "CPU threads for tensor work (0 lets libtorch choose, one per core).",
    ),
    // [sample]
    key(
        "sample",
        "temperature",
        float(0.0, 10.0),
        "Below 1 the text gets safer and more repetitive, above 1 wilder; 0 always takes the \
         likeliest token.",
    ),
    key(
        "sample",
        "top_k",
        int(0, 1_000_000),
        "Sample only from the k likeliest tokens (0 turns it off).",
    ),
    key(
        "sample",
        "top_p",
        positive(1.0),
        "Sample only from the likeliest tokens whose probabilities add up to p (1 turns it off).",
    ),
    key(
        "sample",
        "min_p",
        float(0.0, 1.0),
        "Drop tokens less likely than min_p times the likeliest one (0 turns it off).",
    ),
    key(
        "sample",
        "typical_p",
        positive(1.0),
        "Locally typical sampling: keep the tokens whose surprise is closest to the average, \
         up to this much probability (1 turns it off).",
    ),
    key(
        "sample",
        "repetition_penalty",
        float(1.0, 10.0),
        "Make tokens seen in the last penalty_window tokens less likely: positive logits are \
         divided by it, negative ones multiplied (1 turns it off).",
    ),
    key(
        "sample",
        "presence_penalty",
        float(-10.0, 10.0),
        "Subtract this from the logit of every token seen in the window (0 turns it off).",
    ),
    key(
        "sample",
        "frequency_penalty",
        float(-10.0, 10.0),
        "Subtract this times the token's count in the window from its logit (0 turns it off).",
    ),
    key(
        "sample",
        "penalty_window",
        int(1, 1_000_000),
        "Recent tokens the penalties and DRY look at.",
    ),
    key(
        "sample",
        "dry_multiplier",
        float(0.0, 100.0),
        "DRY: penalise a token that would extend a repeat of earlier text (0 turns it off).",
    ),
    key(
        "sample",
        "dry_base",
        float(1.0, 10.0),
        "DRY: how fast the penalty grows with the length of the repeat.",
    ),
    key(
        "sample",
        "dry_allowed_length",
        int(0, 1000),
        "DRY: repeats up to this many tokens go unpenalised.",
    ),
    key(
        "sample",
        "dry_breakers",
        ValueKind::Strings,
        "DRY: a repeat never reaches back across a token containing one of these.",
    ),
    key(
        "sample",
        "logit_bias",
        ValueKind::Biases { min: -100.0, max: 100.0 },
        "Added to the logits of the given tokens, like { \"\\n\" = -1.5 }; -100 all but bans one.",
    ),
    key(
        "sample",
        "banned",
        ValueKind::Strings,
        "Strings the text may never contain; a token that would write one is never drawn.",
    ),
    key(
        "sample",
        "stop",
        ValueKind::Strings,
        "Generation stops at any of these strings, which are left out of the text.",
    ),
    key("sample", "max_tokens", int(1, 1_000_000), "Most tokens generated for one text."),
    optional(
        "sample",
        "seed",
        int(0, MAX_SEED),
        "Seed for sampling; the same seed, prompt and settings give the same text. Without it \
         every generation differs.",
        "42",
    ),
];

/// The key `name` of `section`, if it exists.
pub fn find(section: &str, name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.section == section && key.name == name)
}

/// The keys of one section, in schema order.
pub fn keys_of(section: &str) -> impl Iterator<Item = &'static Key> + '_ {
    KEYS.iter().filter(move |key| key.section == section)
}

impl ValueKind {
    /// Checks one value; on failure returns what was expected, for the message.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let ok = match (self, value) {
            (ValueKind::Int { min, max }, Value::Integer(n)) => (min..=max).contains(&n),
            (ValueKind::Float { min, max, open_min }, Value::Integer(_) | Value::Float(_)) => {
                let x = as_f64(value);
                x.is_finite() && x <= *max && (if *open_min { x > *min } else { x >= *min })
            }
            (ValueKind::Bool, Value::Boolean(_)) => true,
            (ValueKind::Choice(choices), Value::String(s)) => choices.contains(&s.as_str()),
            (ValueKind::Text, Value::String(s)) => !s.is_empty(),
            (ValueKind::TextList, Value::Array(items)) => {
                items.iter().all(|item| item.as_str().is_some_and(|s| !s.is_empty()))
            }
            (ValueKind::Device, Value::String(s)) => is_device(s),
            (ValueKind::Biases { min, max }, Value::Table(table)) => table.values().all(|v| {
                let x = as_f64(v);
                matches!(v, Value::Integer(_) | Value::Float(_)) && x >= *min && x <= *max
            }),
            (ValueKind::StyleFrom, Value::String(s)) => {
                matches!(s.as_str(), "folder" | "file" | "none")
                    || s.strip_prefix("field:").is_some_and(|f| !f.is_empty())
            }
            (ValueKind::Strings, Value::Array(items)) => {
                items.iter().all(|item| item.as_str().is_some_and(|s| !s.is_empty()))
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(self.expected())
        }
    }

    /// What a valid value looks like, in words.
    pub fn expected(&self) -> String {
        match self {
            ValueKind::Int { min, max } => format!("a whole number from {min} to {max}"),
            ValueKind::Float { min, max, open_min: false } => {
                format!("a number from {min} to {max}")
            }
            ValueKind::Float { min, max, open_min: true } => {
                format!("a number above {min} and at most {max}")
            }
            ValueKind::Bool => "true or false".to_string(),
            ValueKind::Choice(choices) => {
                let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
            ValueKind::Text => "a non-empty string".to_string(),
            ValueKind::TextList => "a list of non-empty strings, like [\"corpora\"]".to_string(),
            ValueKind::Device => "\"auto\", \"cpu\", \"cuda\" or \"cuda:N\"".to_string(),
            ValueKind::Biases { min, max } => {
                format!(
                    "a table of strings to numbers from {min} to {max}, like {{ \"e\" = -2.0 }}"
                )
            }
            ValueKind::Strings => "a list of non-empty strings, like [\"\\n\\n\"]".to_string(),
            ValueKind::StyleFrom => "\"folder\", \"file\", \"field:NAME\" or \"none\"".to_string(),
        }
    }
}

fn as_f64(value: &Value) -> f64 {
    match value {
        Value::Integer(n) => *n as f64,
        Value::Float(x) => *x,
        _ => f64::NAN,
    }
}

fn is_device(text: &str) -> bool {
    match text {
        "auto" | "cpu" | "cuda" => true,
        _ => text
            .strip_prefix("cuda:")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
    }
}

/// Describes a value as the user wrote it, for messages: `-1`, `the string "32"`.
pub fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string \"{s}\""),
        Value::Integer(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => format!("the date {d}"),
        Value::Array(_) => "a list".to_string(),
        Value::Table(_) => "a table".to_string(),
    }
}
