//! Reading `muse.toml`: every key and value is checked against the schema, and the first
//! problem stops loading with a message that names the file, line and column.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Value;

use super::schema::{self, Key};
use super::Config;

/// Why a config could not be loaded. The message is complete and meant for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A value given on the command line, which takes precedence over the file.
#[derive(Debug, Clone)]
pub struct Override {
    pub section: &'static str,
    pub key: &'static str,
    pub value: Value,
    /// The flag as the user typed it, for messages: `--temperature`.
    pub flag: &'static str,
}

impl Override {
    pub fn new(flag: &'static str, section: &'static str, key: &'static str, value: Value) -> Self {
        Override { section, key, value, flag }
    }
}

/// Loads the config at `path` (or the built-in defaults when `path` is `None`) and
/// applies the command-line overrides on top.
pub fn load(path: Option<&Path>, overrides: &[Override]) -> Result<Config, ConfigError> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!("{}: cannot read the config: {e}", path.display()))
            })?;
            load_str(&text, &path.display().to_string(), overrides)
        }
        None => load_str("", super::FILE_NAME, overrides),
    }
}

/// Loads config text; `source` names it in messages.
pub fn load_str(text: &str, source: &str, overrides: &[Override]) -> Result<Config, ConfigError> {
    let document = DeTable::parse(text).map_err(|e| {
        let at = e.span().map(|span| span.start).unwrap_or(0);
        let message = e.message().trim().trim_end_matches('.');
        ConfigError(format!("{}: invalid TOML: {message}", position(text, source, at)))
    })?;

    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError(format!("{source}: {}", e.message())))?;

    let mut places = Places::default();
    check_document(document.get_ref(), &table, text, source, &mut places)?;
    for item in overrides {
        apply_override(&mut table, item, &mut places)?;
    }

    let config = Config::deserialize(Value::Table(table))
        .map_err(|e| ConfigError(format!("{source}: {}", e.message().trim())))?;
    check_relations(&config, &places)?;
    Ok(config)
}

/// Where each key got its value: a position in the file, or a flag.
#[derive(Default)]
struct Places(HashMap<(String, String), String>);

impl Places {
    fn of(&self, section: &str, key: &str) -> String {
        self.0
            .get(&(section.to_string(), key.to_string()))
            .cloned()
            .unwrap_or_else(|| "default config".to_string())
    }
}

/// Checks every section, key and value; the first problem in file order is reported.
fn check_document(
    document: &DeTable,
    table: &toml::Table,
    text: &str,
    source: &str,
    places: &mut Places,
) -> Result<(), ConfigError> {
    let mut problems: Vec<(usize, String)> = Vec::new();

    for (name, item) in document.iter() {
        let section = name.get_ref().as_ref();
        let at = name.span().start;
        let DeValue::Table(keys) = item.get_ref() else {
            problems.push((at, outside_sections(section)));
            continue;
        };
        let Some(known) = schema::SECTIONS.iter().find(|s| **s == section) else {
            problems.push((at, unknown_section(section)));
            continue;
        };

        for (key_name, value) in keys.iter() {
            let key = key_name.get_ref().as_ref();
            let Some(spec) = schema::find(known, key) else {
                problems.push((key_name.span().start, unknown_key(known, key)));
                continue;
            };
            let value_at = value.span().start;
            places.0.insert((known.to_string(), key.to_string()), position(text, source, value_at));
            if let Err(message) = check_value(spec, &table[*known][key]) {
                problems.push((value_at, message));
            }
        }
    }

    match problems.into_iter().min_by_key(|(at, _)| *at) {
        Some((at, message)) => {
            Err(ConfigError(format!("{}: {message}", position(text, source, at))))
        }
        None => Ok(()),
    }
}

fn check_value(spec: &Key, value: &Value) -> Result<(), String> {
    spec.kind.check(value).map_err(|expected| {
        format!(
            "[{}] {} must be {expected}, found {}",
            spec.section,
            spec.name,
            schema::describe(value)
        )
    })
}

fn apply_override(
    table: &mut toml::Table,
    item: &Override,
    places: &mut Places,
) -> Result<(), ConfigError> {
    let spec = schema::find(item.section, item.key)
        .unwrap_or_else(|| panic!("flag {} names no key of the schema", item.flag));
    spec.kind.check(&item.value).map_err(|expected| {
        ConfigError(format!(
            "{} must be {expected}, found {}",
            item.flag,
            schema::describe(&item.value)
        ))
    })?;

    let section =
        table.entry(item.section.to_string()).or_insert_with(|| Value::Table(toml::Table::new()));
    if let Value::Table(keys) = section {
        keys.insert(item.key.to_string(), item.value.clone());
    }
    places.0.insert((item.section.to_string(), item.key.to_string()), item.flag.to_string());
    Ok(())
}

/// Checks that hold between keys, once every value is known.
fn check_relations(config: &Config, places: &Places) -> Result<(), ConfigError> {
    let model = config.model.resolved();
    if let (crate::config::ModelKind::Gpt, Some(embedding), Some(heads)) =
        (model.kind, model.embedding, model.heads)
    {
        if embedding % heads != 0 {
            let key = if places.0.contains_key(&("model".to_string(), "heads".to_string())) {
                "heads"
            } else {
                "embedding"
            };
            return Err(ConfigError(format!(
                "{}: [model] heads ({heads}) must divide embedding ({embedding}) evenly",
                places.of("model", key)
            )));
        }
    }
    let train = &config.train;
    if train.min_lr > train.lr {
        return Err(ConfigError(format!(
            "{}: [train] min_lr ({}) must not be above lr ({})",
            places.of("train", "min_lr"),
            train.min_lr,
            train.lr
        )));
    }
    Ok(())
}

fn unknown_section(section: &str) -> String {
    match nearest(section, schema::SECTIONS.iter().copied()) {
        Some(near) => format!("unknown section [{section}], did you mean [{near}]?"),
        None => format!(
            "unknown section [{section}]; the sections are [{}]",
            schema::SECTIONS.join("], [")
        ),
    }
}

/// A plain key at the top of the file, where only sections belong.
fn outside_sections(key: &str) -> String {
    let homes: Vec<String> =
        schema::KEYS.iter().filter(|k| k.name == key).map(|k| format!("[{}]", k.section)).collect();
    if homes.is_empty() {
        format!("\"{key}\" is outside any section, and no section has such a key")
    } else {
        format!("\"{key}\" must be inside a section: {}", homes.join(" or "))
    }
}

fn unknown_key(section: &str, key: &str) -> String {
    let names: Vec<&str> = schema::keys_of(section).map(|k| k.name).collect();
    match nearest(key, names.iter().copied()) {
        Some(near) => format!("unknown key \"{key}\" in [{section}], did you mean \"{near}\"?"),
        None => format!("unknown key \"{key}\" in [{section}]; its keys are {}", names.join(", ")),
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|candidate| (strsim::levenshtein(word, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// `file:line:column` of a byte offset, both counted from 1, columns in characters.
fn position(text: &str, source: &str, at: usize) -> String {
    let at = at.min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..at].chars().count() + 1;
    format!("{source}:{line}:{column}")
}
