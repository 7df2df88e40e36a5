//! Field paths into structured records: `paragraphs`, `lyrics.text`, `poems[].lines`.
//!
//! A path is a dotted list of keys; a key followed by `[]` steps into each element of an
//! array, and each element becomes a document of its own. The value found at the end is
//! the text: a string, or an array of strings joined with newlines.

use serde_json::Value;

/// One parsed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    steps: Vec<Step>,
    written: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Each,
}

/// What a record yielded for one document: its text, and the object holding it (where
/// the title is looked up first).
pub struct Found<'a> {
    pub text: String,
    pub holder: &'a Value,
}

impl FieldPath {
    /// Parses a path; `None` when it is empty or has an empty key.
    pub fn parse(written: &str) -> Option<FieldPath> {
        let mut steps = Vec::new();
        for part in written.split('.') {
            let mut key = part;
            let mut each = 0;
            while let Some(rest) = key.strip_suffix("[]") {
                key = rest;
                each += 1;
            }
            if !key.is_empty() {
                steps.push(Step::Key(key.to_string()));
            } else if each == 0 {
                return None;
            }
            steps.extend(std::iter::repeat_n(Step::Each, each));
        }
        (!steps.is_empty()).then(|| FieldPath { steps, written: written.to_string() })
    }

    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// The texts this path finds in one record, one per document.
    pub fn find<'a>(&self, record: &'a Value) -> Vec<Found<'a>> {
        let mut found = Vec::new();
        walk(record, record, &self.steps, &mut found);
        found
    }

    /// The single text this path finds in `value`, for titles.
    pub fn find_one(&self, value: &Value) -> Option<String> {
        self.find(value).into_iter().next().map(|found| found.text)
    }
}

fn walk<'a>(value: &'a Value, holder: &'a Value, steps: &[Step], found: &mut Vec<Found<'a>>) {
    match steps.split_first() {
        None => {
            if let Some(text) = text_of(value) {
                found.push(Found { text, holder });
            }
        }
        Some((Step::Key(key), rest)) => {
            if let Some(inner) = value.get(key) {
                walk(inner, value, rest, found);
            }
        }
        Some((Step::Each, rest)) => {
            if let Some(items) = value.as_array() {
                for item in items {
                    walk(item, holder, rest, found);
                }
            }
        }
    }
}

/// A string, or an array whose elements are all strings (joined with newlines).
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Array(items) => {
            let lines: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            lines.map(|lines| lines.join("\n"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(path: &str, record: Value) -> Vec<String> {
        FieldPath::parse(path).unwrap().find(&record).into_iter().map(|f| f.text).collect()
    }

    #[test]
    fn a_plain_key_finds_a_string() {
        assert_eq!(texts("text", json!({"text": "hello"})), ["hello"]);
    }

    #[test]
    fn an_array_of_strings_is_joined_with_newlines() {
        assert_eq!(texts("paragraphs", json!({"paragraphs": ["a，", "b。"]})), ["a，\nb。"]);
    }

    #[test]
    fn dots_step_into_objects() {
        assert_eq!(texts("lyrics.text", json!({"lyrics": {"text": "la"}})), ["la"]);
    }

    #[test]
    fn each_step_makes_one_text_per_element() {
        let record = json!({"content": [{"paragraphs": ["x"]}, {"paragraphs": ["y", "z"]}]});
        assert_eq!(texts("content[].paragraphs", record), ["x", "y\nz"]);
    }

    #[test]
    fn a_missing_field_or_wrong_type_finds_nothing() {
        assert!(texts("text", json!({"body": "x"})).is_empty());
        assert!(texts("text", json!({"text": 3})).is_empty());
        assert!(texts("text", json!({"text": ["a", 1]})).is_empty());
    }

    #[test]
    fn the_holder_is_the_object_with_the_field() {
        let record = json!({"poems": [{"title": "T", "text": "x"}]});
        let path = FieldPath::parse("poems[].text").unwrap();
        let found = path.find(&record);
        assert_eq!(found[0].holder["title"], "T");
    }

    #[test]
    fn empty_paths_are_rejected() {
        assert!(FieldPath::parse("").is_none());
        assert!(FieldPath::parse("a..b").is_none());
        assert_eq!(FieldPath::parse("[]").unwrap().steps, vec![Step::Each]);
    }
}
