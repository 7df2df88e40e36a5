//! Records from JSON, JSON Lines, CSV and TSV files, each turned into documents through
//! the configured text and title fields.

use serde_json::Value;

use super::field::FieldPath;
use super::read::plural;

/// Where the text and the title are in each record.
#[derive(Debug, Clone)]
pub struct Fields {
    pub text: FieldPath,
    pub title: Option<FieldPath>,
    /// For `style_from = "field:NAME"`: where each record's style is.
    pub style: Option<FieldPath>,
}

/// The documents of one file, and what was left out of it.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Each document's text, and its style when the style field names one.
    pub texts: Vec<(String, Option<String>)>,
    pub warnings: Vec<String>,
}

/// A `.json` file: an array of records, or a single record.
pub fn from_json(text: &str, fields: &Fields) -> Result<Extracted, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| json_reason(&e, None))?;
    let records: Vec<&Value> = match &value {
        Value::Array(items) => items.iter().collect(),
        record => vec![record],
    };
    collect(records.into_iter(), fields, Extracted::default())
}

/// A `.jsonl` file: one record a line. A malformed line is reported and left out.
pub fn from_json_lines(text: &str, fields: &Fields) -> Result<Extracted, String> {
    let mut extracted = Extracted::default();
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(record) => records.push(record),
            Err(e) => extracted
                .warnings
                .push(format!("{}; the line was left out", json_reason(&e, Some(index + 1)))),
        }
    }
    if records.is_empty() && !extracted.warnings.is_empty() {
        return Err(format!("no line is valid JSON (first problem: {})", extracted.warnings[0]));
    }
    collect(records.iter(), fields, extracted)
}

/// A `.csv` or `.tsv` file with a header row; the fields name columns.
pub fn from_table(text: &str, delimiter: u8, fields: &Fields) -> Result<Extracted, String> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("malformed header row: {e}"))?.clone();
    let column = |path: &FieldPath| headers.iter().position(|h| h.trim() == path.as_str());

    let text_column = column(&fields.text).ok_or_else(|| {
        let names: Vec<&str> = headers.iter().collect();
        format!("no column \"{}\" (the columns are: {})", fields.text.as_str(), names.join(", "))
    })?;
    let title_column = fields.title.as_ref().and_then(column);
    let style_column = fields.style.as_ref().and_then(column);

    let mut extracted = Extracted::default();
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                extracted
                    .warnings
                    .push(format!("line {line}: malformed row ({e}); the row was left out"));
                continue;
            }
        };
        let body = row.get(text_column).unwrap_or("");
        if body.trim().is_empty() {
            continue;
        }
        let title = title_column.and_then(|c| row.get(c)).filter(|t| !t.trim().is_empty());
        let style = style_column.and_then(|c| row.get(c)).map(str::trim).filter(|t| !t.is_empty());
        extracted.texts.push((with_title(title, body), style.map(str::to_string)));
    }
    Ok(extracted)
}

fn collect<'a>(
    records: impl Iterator<Item = &'a Value>,
    fields: &Fields,
    mut extracted: Extracted,
) -> Result<Extracted, String> {
    let mut total = 0usize;
    let mut missing = 0usize;
    for record in records {
        total += 1;
        let found: Vec<(String, Option<String>)> = match record {
            Value::String(text) => vec![(text.clone(), None)],
            record => fields
                .text
                .find(record)
                .into_iter()
                .map(|found| {
                    let near = |path: &FieldPath| {
                        path.find_one(found.holder).or_else(|| path.find_one(record))
                    };
                    let title = fields.title.as_ref().and_then(near);
                    let style = fields.style.as_ref().and_then(near).map(|s| s.trim().to_string());
                    (with_title(title.as_deref(), &found.text), style.filter(|s| !s.is_empty()))
                })
                .collect(),
        };
        if found.is_empty() {
            missing += 1;
        }
        extracted.texts.extend(found);
    }

    let field = fields.text.as_str();
    if total > 0 && missing == total {
        return Err(format!(
            "text field \"{field}\" matches nothing in its {total} record{}",
            plural(total)
        ));
    }
    if missing > 0 {
        extracted.warnings.push(format!(
            "text field \"{field}\" matches nothing in {missing} of {total} records; they were left out"
        ));
    }
    Ok(extracted)
}

fn with_title(title: Option<&str>, body: &str) -> String {
    match title {
        Some(title) => format!("{}\n{body}", title.trim()),
        None => body.to_string(),
    }
}

fn json_reason(error: &serde_json::Error, line: Option<usize>) -> String {
    let line = line.unwrap_or(error.line());
    let message = error.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    format!("malformed JSON at line {line}, column {}: {message}", error.column())
}
