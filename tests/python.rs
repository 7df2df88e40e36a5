//! `tokenizer.json` loads unchanged in Python's `tokenizers` and gives the same ids.
//! Skipped, with the reason printed, where Python's `tokenizers` cannot be imported.

mod common;

use std::process::Command;

use muse::config::{Config, CorpusConfig, TokenizerKind};
use muse::corpus;

/// The Python to use: `MUSE_PYTHON` (set by the Makefile to the libtorch venv), or python3.
fn python() -> Option<String> {
    let python = std::env::var("MUSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import tokenizers"]).output().ok()?;
    probe.status.success().then_some(python)
}

fn python_ids(python: &str, tokenizer: &std::path::Path, texts: &[String]) -> Vec<Vec<u32>> {
    let dir = common::scratch();
    let input = dir.join("texts.json");
    std::fs::write(&input, serde_json::to_string(texts).unwrap()).unwrap();
    let script = "import json, sys\n\
                  from tokenizers import Tokenizer\n\
                  t = Tokenizer.from_file(sys.argv[1])\n\
                  texts = json.load(open(sys.argv[2], encoding='utf-8'))\n\
                  print(json.dumps([t.encode(x, add_special_tokens=False).ids for x in texts]))";
    let output = Command::new(python)
        .args(["-c", script, tokenizer.to_str().unwrap(), input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn check(kind: TokenizerKind) {
    let Some(python) = python() else {
        eprintln!("skipped: Python's tokenizers cannot be imported (set MUSE_PYTHON to a Python that has it)");
        return;
    };
    let mut config = Config::default().resolved();
    config.tokenizer.kind = kind;
    let dataset = common::dataset(&config);
    let path = common::scratch().join("tokenizer.json");
    dataset.vocab.save(&path).unwrap();

    let corpus = corpus::load(&CorpusConfig::default(), common::project_root()).unwrap();
    let texts: Vec<String> = corpus.documents.iter().map(|d| d.text.clone()).collect();
    let ours: Vec<Vec<u32>> = texts.iter().map(|t| dataset.vocab.encode(t)).collect();
    let theirs = python_ids(&python, &path, &texts);
    assert_eq!(ours.len(), theirs.len());
    for (index, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "document {index} encodes differently in Python");
    }
}

#[test]
fn the_character_vocabulary_gives_python_the_same_ids() {
    check(TokenizerKind::Char);
}

#[test]
fn the_bpe_vocabulary_gives_python_the_same_ids() {
    check(TokenizerKind::Bpe);
}
