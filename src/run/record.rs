//! The records of `metrics.jsonl`: one JSON object a line, appended as training goes.
//!
//! The engine sends these same records over its channel, so a live view and a reader of
//! the file see the same thing. Readers ignore events they do not know and a torn last line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Record {
    /// One optimiser step. `ms` is its wall time.
    Step { step: u64, loss: f64, lr: f64, tokens_per_s: f64, ms: f64, t: f64 },
    /// An evaluation on both splits.
    Eval { step: u64, train_loss: f64, val_loss: Option<f64>, t: f64 },
    /// A checkpoint written; `path` is relative to the run folder.
    Checkpoint { step: u64, path: String, t: f64 },
    /// The run ended. `ms_per_step` is the mean step time, evaluations and checkpoints excluded.
    Done { step: u64, best_val_loss: Option<f64>, ms_per_step: f64, t: f64 },
    /// A step whose loss or gradient was not finite: it was skipped, the weights and
    /// optimiser went back to `restored_step`, and the learning rate was halved.
    Anomaly {
        step: u64,
        loss: Option<f64>,
        grad_norm: Option<f64>,
        restored_step: u64,
        lr_scale: f64,
        message: String,
        t: f64,
    },
    /// What a latent-variable model's code is doing, on validation documents.
    Latent { step: u64, reconstruction: f64, kl: f64, beta: f64, active_units: u64, t: f64 },
    /// The engine paused, resumed or is stopping.
    State { step: u64, state: String, t: f64 },
    /// Any event this version does not know.
    #[serde(other)]
    Unknown,
}

/// Seconds since the Unix epoch, as the `t` field holds them.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Appends records to `metrics.jsonl`, one flushed line each, so a reader tailing the
/// file sees every record as soon as it happens.
pub struct RecordWriter {
    file: File,
}

impl RecordWriter {
    pub fn append(path: &Path) -> io::Result<RecordWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(RecordWriter { file })
    }

    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_string(record)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())
    }
}

/// Reads every complete record; unknown events and a torn last line are skipped.
pub fn read_records(path: &Path) -> io::Result<Vec<Record>> {
    let reader = BufReader::new(File::open(path)?);
    let mut records = Vec::new();
    for line in reader.lines() {
        let line = line?;
        match serde_json::from_str::<Record>(&line) {
            Ok(Record::Unknown) | Err(_) => {}
            Ok(record) => records.push(record),
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_record_has_the_documented_fields() {
        let record =
            Record::Step { step: 3, loss: 2.5, lr: 0.001, tokens_per_s: 900.0, ms: 12.5, t: 1.0 };
        let json: serde_json::Value = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event":"step","step":3,"loss":2.5,"lr":0.001,"tokens_per_s":900.0,"ms":12.5,"t":1.0})
        );
    }

    #[test]
    fn unknown_events_and_a_torn_last_line_are_skipped() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("metrics.jsonl");
        let mut writer = RecordWriter::append(&path).unwrap();
        writer
            .write(&Record::Checkpoint { step: 1, path: "checkpoints/a".into(), t: 2.0 })
            .unwrap();
        drop(writer);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"event\":\"future\",\"x\":1}\n{\"event\":\"step\",\"st").unwrap();

        let records = read_records(&path).unwrap();
        assert_eq!(
            records,
            vec![Record::Checkpoint { step: 1, path: "checkpoints/a".into(), t: 2.0 }]
        );
    }
}
