//! The sampler's settings: what `[sample]`, the command line and the studio set, and the
//! same settings resolved against a vocabulary.

use crate::config::SampleConfig;
use crate::vocab::Vocab;

/// How the next token is chosen. Every field has a neutral value that turns it off.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Applied last; 0 always takes the likeliest token.
    pub temperature: f64,
    /// Keep only the k likeliest tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the likeliest tokens whose probabilities reach p; 1 keeps all.
    pub top_p: f64,
    /// Drop tokens less likely than `min_p` times the likeliest; 0 keeps all.
    pub min_p: f64,
    /// Keep the tokens of most typical surprise up to this probability; 1 keeps all.
    pub typical_p: f64,
    pub repetition_penalty: f64,
    pub presence_penalty: f64,
    pub frequency_penalty: f64,
    /// Recent tokens the penalties and DRY look at.
    pub penalty_window: usize,
    pub dry_multiplier: f64,
    pub dry_base: f64,
    pub dry_allowed_length: usize,
    pub dry_breakers: Vec<String>,
    /// Added to the logits of single tokens, given by their text.
    pub logit_bias: Vec<(String, f64)>,
    /// Strings the text may never contain.
    pub banned: Vec<String>,
    /// Strings that end generation; they are left out of the text.
    pub stop: Vec<String>,
}

impl Settings {
    /// Everything off: plain sampling from the model's distribution at temperature 1.
    pub fn off() -> Settings {
        Settings {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            typical_p: 1.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_window: 256,
            dry_multiplier: 0.0,
            dry_base: 1.75,
            dry_allowed_length: 2,
            dry_breakers: Vec::new(),
            logit_bias: Vec::new(),
            banned: Vec::new(),
            stop: Vec::new(),
        }
    }

    pub fn from_config(config: &SampleConfig) -> Settings {
        Settings {
            temperature: config.temperature,
            top_k: config.top_k as usize,
            top_p: config.top_p,
            min_p: config.min_p,
            typical_p: config.typical_p,
            repetition_penalty: config.repetition_penalty,
            presence_penalty: config.presence_penalty,
            frequency_penalty: config.frequency_penalty,
            penalty_window: config.penalty_window as usize,
            dry_multiplier: config.dry_multiplier,
            dry_base: config.dry_base,
            dry_allowed_length: config.dry_allowed_length as usize,
            dry_breakers: config.dry_breakers.clone(),
            logit_bias: config.logit_bias.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            banned: config.banned.clone(),
            stop: config.stop.clone(),
        }
    }

    /// Resolves token texts against `vocab`: a bias must name exactly one token.
    pub fn resolve(&self, vocab: &Vocab) -> Result<Resolved, String> {
        let mut bias = Vec::new();
        for (text, value) in &self.logit_bias {
            let ids = vocab.encode_prompt(text).map_err(|e| format!("[sample] logit_bias: {e}"))?;
            match ids.as_slice() {
                [id] => bias.push((*id, *value as f32)),
                _ => {
                    return Err(format!(
                        "[sample] logit_bias: \"{text}\" is {} tokens in this vocabulary; a bias applies to one token",
                        ids.len()
                    ))
                }
            }
        }
        let breaker: Vec<bool> = (0..vocab.len() as u32)
            .map(|id| {
                let text = vocab.token_text(id);
                self.dry_breakers.iter().any(|b| text.contains(b.as_str()))
            })
            .collect();
        Ok(Resolved { settings: self.clone(), bias, breaker })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_config(&SampleConfig::default())
    }
}

/// Settings with token texts turned into ids for one vocabulary.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub settings: Settings,
    pub bias: Vec<(u32, f32)>,
    /// For each id, whether DRY treats it as a sequence breaker.
    pub breaker: Vec<bool>,
}

impl Resolved {
    /// Settings that need no vocabulary: no biases and no breakers.
    pub fn plain(settings: Settings) -> Resolved {
        Resolved { settings, bias: Vec::new(), breaker: Vec::new() }
    }

    pub fn is_breaker(&self, id: u32) -> bool {
        self.breaker.get(id as usize).copied().unwrap_or(false)
    }
}
