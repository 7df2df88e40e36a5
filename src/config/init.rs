//! The fully commented `muse.toml` that `muse init` writes.

use super::schema::{self, Key};
use super::Config;

/// A `muse.toml` holding every key with its default value and an explanation.
pub fn commented_template() -> String {
    let defaults = toml::Table::try_from(Config::default().resolved())
        .expect("the default config serialises to a table");

    let mut out = String::from(
        "# Muse project configuration.\n\
         #\n\
         # Every key is optional: a key left out takes the value shown here. Muse checks\n\
         # each value when it starts and names the line of anything it cannot use.\n\
         # Command-line flags override what this file says.\n",
    );
    for section in schema::SECTIONS {
        out.push_str(&format!("\n[{section}]\n"));
        for key in schema::keys_of(section) {
            let value = defaults.get(*section).and_then(|table| table.get(key.name));
            out.push_str(&entry(key, value));
        }
    }
    out
}

fn entry(key: &Key, value: Option<&toml::Value>) -> String {
    let mut text = String::new();
    for line in wrap(key.doc, 86) {
        text.push_str(&format!("# {line}\n"));
    }
    text.push_str(&format!("# Takes {}.\n", key.kind.expected()));
    match (value, key.example) {
        (Some(value), _) => text.push_str(&format!("{} = {value}\n", key.name)),
        (None, Some(example)) => text.push_str(&format!("# {} = {example}\n", key.name)),
        (None, None) => unreachable!("key {} has neither a default nor an example", key.name),
    }
    text.push('\n');
    text
}

/// Breaks prose into lines of at most `width` characters, at spaces.
fn wrap(prose: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in prose.split_whitespace() {
        let line = lines.last_mut().expect("lines is never empty");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}
