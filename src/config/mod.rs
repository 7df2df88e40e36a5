//! Project configuration: the typed contents of `muse.toml`, its defaults, and loading it.

mod init;
mod load;
pub mod schema;

use serde::{Deserialize, Serialize};

pub use init::commented_template;
pub use load::{load, load_str, ConfigError, Override};

/// The file name that marks a folder as a Muse project.
pub const FILE_NAME: &str = "muse.toml";

/// Everything a run is configured by. Each section has a default for every key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub corpus: CorpusConfig,
    pub tokenizer: TokenizerConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub sample: SampleConfig,
}

/// `[corpus]`: where the training text comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorpusConfig {
    pub paths: Vec<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub text_field: String,
    pub title_field: Option<String>,
    pub invalid_utf8: InvalidUtf8,
    pub unicode_nfc: bool,
    pub unix_newlines: bool,
    pub trim_trailing_spaces: bool,
    pub collapse_blank_lines: bool,
    pub strip_control: bool,
    pub style_from: Option<String>,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        CorpusConfig {
            paths: vec!["corpora".to_string()],
            include: Vec::new(),
            exclude: vec!["README.md".to_string()],
            text_field: "text".to_string(),
            title_field: None,
            invalid_utf8: InvalidUtf8::Replace,
            unicode_nfc: true,
            unix_newlines: true,
            trim_trailing_spaces: true,
            collapse_blank_lines: true,
            strip_control: true,
            style_from: None,
        }
    }
}

/// What to do with a file that is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvalidUtf8 {
    Replace,
    Skip,
}

/// `[tokenizer]`: how text becomes token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizerConfig {
    pub kind: TokenizerKind,
    /// Character vocabularies: characters seen fewer times share the unknown token.
    pub min_count: i64,
    /// BPE vocabularies: the number of tokens.
    pub vocab_size: i64,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig { kind: TokenizerKind::Char, min_count: 1, vocab_size: 2000 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    Char,
    Bpe,
}

/// The model families Muse trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Lstm,
    Gpt,
    Vae,
}

impl ModelKind {
    /// The name with its article, for sentences: "an lstm".
    pub fn with_article(self) -> &'static str {
        match self {
            ModelKind::Lstm => "an lstm",
            ModelKind::Gpt => "a gpt",
            ModelKind::Vae => "a vae",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Lstm => "lstm",
            ModelKind::Gpt => "gpt",
            ModelKind::Vae => "vae",
        }
    }
}

/// `[model]`: the architecture. Keys left out take the defaults of the chosen `kind`;
/// keys another kind uses are kept but ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub kind: ModelKind,
    pub layers: Option<i64>,
    pub hidden: Option<i64>,
    pub embedding: Option<i64>,
    pub context: Option<i64>,
    pub dropout: Option<f64>,
    pub heads: Option<i64>,
    pub latent: Option<i64>,
    pub kl_warmup_steps: Option<i64>,
    pub input_dropout: Option<f64>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::defaults_for(ModelKind::Lstm)
    }
}

impl ModelConfig {
    /// Every key filled with the defaults of `kind`.
    pub fn defaults_for(kind: ModelKind) -> ModelConfig {
        let none = ModelConfig {
            kind,
            layers: None,
            hidden: None,
            embedding: None,
            context: None,
            dropout: None,
            heads: None,
            latent: None,
            kl_warmup_steps: None,
            input_dropout: None,
        };
        match kind {
            ModelKind::Lstm => ModelConfig {
                layers: Some(2),
                hidden: Some(256),
                embedding: Some(128),
                context: Some(128),
                dropout: Some(0.1),
                ..none
            },
            ModelKind::Gpt => ModelConfig {
                layers: Some(4),
                heads: Some(4),
                embedding: Some(128),
                context: Some(128),
                dropout: Some(0.1),
                ..none
            },
            ModelKind::Vae => ModelConfig {
                layers: Some(1),
                hidden: Some(256),
                embedding: Some(128),
                context: Some(128),
                dropout: Some(0.1),
                latent: Some(32),
                kl_warmup_steps: Some(1000),
                input_dropout: Some(0.25),
                ..none
            },
        }
    }

    /// This config with every key left out filled from the defaults of its kind.
    pub fn resolved(&self) -> ModelConfig {
        let defaults = ModelConfig::defaults_for(self.kind);
        ModelConfig {
            kind: self.kind,
            layers: self.layers.or(defaults.layers),
            hidden: self.hidden.or(defaults.hidden),
            embedding: self.embedding.or(defaults.embedding),
            context: self.context.or(defaults.context),
            dropout: self.dropout.or(defaults.dropout),
            heads: self.heads.or(defaults.heads),
            latent: self.latent.or(defaults.latent),
            kl_warmup_steps: self.kl_warmup_steps.or(defaults.kl_warmup_steps),
            input_dropout: self.input_dropout.or(defaults.input_dropout),
        }
    }
}

/// `[train]`: the optimiser, its schedule, and the rhythm of evaluations and checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub batch_size: i64,
    pub lr: f64,
    pub warmup_steps: i64,
    pub min_lr: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub max_steps: i64,
    pub eval_every: i64,
    pub eval_batches: i64,
    pub checkpoint_every: i64,
    pub seed: i64,
    pub val_fraction: f64,
    pub keep_checkpoints: i64,
    pub sample_every: i64,
    pub device: String,
    pub threads: i64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 32,
            lr: 2e-3,
            warmup_steps: 100,
            min_lr: 2e-4,
            weight_decay: 0.01,
            grad_clip: 1.0,
            max_steps: 2000,
            eval_every: 200,
            eval_batches: 20,
            checkpoint_every: 500,
            seed: 1234,
            val_fraction: 0.1,
            keep_checkpoints: 3,
            sample_every: 500,
            device: "auto".to_string(),
            threads: 0,
        }
    }
}

/// `[sample]`: how generation picks each next token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    pub temperature: f64,
    pub top_k: i64,
    pub top_p: f64,
    pub min_p: f64,
    pub typical_p: f64,
    pub repetition_penalty: f64,
    pub presence_penalty: f64,
    pub frequency_penalty: f64,
    pub penalty_window: i64,
    pub dry_multiplier: f64,
    pub dry_base: f64,
    pub dry_allowed_length: i64,
    pub dry_breakers: Vec<String>,
    pub logit_bias: std::collections::BTreeMap<String, f64>,
    pub banned: Vec<String>,
    pub stop: Vec<String>,
    pub max_tokens: i64,
    pub seed: Option<i64>,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            typical_p: 1.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_window: 256,
            dry_multiplier: 0.0,
            dry_base: 1.75,
            dry_allowed_length: 2,
            dry_breakers: ["\n", ":", "\"", "*"].iter().map(|s| s.to_string()).collect(),
            logit_bias: Default::default(),
            banned: Vec::new(),
            stop: Vec::new(),
            max_tokens: 400,
            seed: None,
        }
    }
}

impl Config {
    /// The config with every model key filled, as a run records it in `config.toml`.
    pub fn resolved(&self) -> Config {
        Config { model: self.model.resolved(), ..self.clone() }
    }

    /// The config as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a Config always serialises")
    }
}
