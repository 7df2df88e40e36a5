//! Preparing a corpus for training: the split, the vocabularies and the token cache.

mod common;

use std::collections::HashSet;
use std::path::Path;

use muse::config::{Config, TokenizerKind};
use muse::corpus::SplitMode;
use muse::train::{self, Dataset};
use muse::vocab::UNKNOWN;

fn config_for(dir: &Path) -> Config {
    let mut config = Config::default();
    config.corpus.paths = vec![dir.display().to_string()];
    config.resolved()
}

/// The documents of one split, as text.
fn documents(dataset: &Dataset, val: bool) -> HashSet<String> {
    let stream = if val { &dataset.val } else { &dataset.train };
    let eod = dataset.vocab.end_of_document();
    stream
        .to_vec()
        .split(|id| *id == eod)
        .filter(|ids| !ids.is_empty())
        .map(|ids| dataset.vocab.decode(ids))
        .collect()
}

fn poems(dir: &Path, range: std::ops::Range<usize>) {
    for i in range {
        std::fs::write(
            dir.join(format!("poem-{i:03}.txt")),
            format!("Poem {i}\nthe wind, the {i} birds"),
        )
        .unwrap();
    }
}

#[test]
fn adding_a_document_leaves_every_other_one_in_its_split() {
    let dir = common::scratch();
    poems(&dir, 0..60);
    let before = train::prepare(&config_for(&dir), Path::new("/"), None).unwrap();
    assert_eq!(before.report.split, SplitMode::Document);
    let (train_before, val_before) = (documents(&before, false), documents(&before, true));
    assert_eq!(train_before.len() + val_before.len(), 60);
    assert!(!val_before.is_empty());

    poems(&dir, 60..70);
    let after = train::prepare(&config_for(&dir), Path::new("/"), None).unwrap();
    let (train_after, val_after) = (documents(&after, false), documents(&after, true));
    assert!(train_before.is_subset(&train_after), "a training document moved");
    assert!(val_before.is_subset(&val_after), "a validation document moved");
    assert_eq!(train_after.len() + val_after.len(), 70);
}

#[test]
fn a_corpus_of_one_document_is_split_by_position_and_says_so() {
    let dir = common::scratch();
    std::fs::write(dir.join("one.txt"), "all in one ".repeat(100)).unwrap();
    let dataset = train::prepare(&config_for(&dir), Path::new("/"), None).unwrap();
    assert_eq!(dataset.report.split, SplitMode::Position);
    // 1099 characters (the trailing space is trimmed) and the end-of-document token.
    assert_eq!(dataset.val.len(), 110, "the last tenth of 1100 tokens");
    assert_eq!(dataset.train.len(), 990);
    assert_eq!(
        dataset.report.split_note(0.1).unwrap(),
        "the corpus has 1 document and a split by document would leave one side empty, so the \
         last 10% of its tokens are used for validation"
    );
}

#[test]
fn a_second_run_of_an_unchanged_corpus_tokenises_nothing() {
    let dir = common::scratch();
    poems(&dir, 0..20);
    let cache = dir.join("runs/.cache");
    let config = config_for(&dir);
    let uncached = train::prepare(&config, Path::new("/"), None).unwrap();

    let first = train::prepare(&config, Path::new("/"), Some(&cache)).unwrap();
    assert_eq!(first.report.cached_files, 0);
    let second = train::prepare(&config, Path::new("/"), Some(&cache)).unwrap();
    assert_eq!(second.report.cached_files, 20);
    assert_eq!(second.train.to_vec(), uncached.train.to_vec());
    assert_eq!(second.val.to_vec(), uncached.val.to_vec());

    std::fs::write(dir.join("poem-007.txt"), "Poem 7, rewritten\nthe wind").unwrap();
    let third = train::prepare(&config, Path::new("/"), Some(&cache)).unwrap();
    assert_eq!(third.report.cached_files, 19, "only the changed file is read again");
    let fresh = train::prepare(&config, Path::new("/"), None).unwrap();
    assert_eq!(third.train.to_vec(), fresh.train.to_vec());
}

#[test]
fn rare_characters_can_share_the_unknown_token() {
    let dir = common::scratch();
    std::fs::write(dir.join("a.txt"), "aaaa bbbb cccc z").unwrap();
    std::fs::write(dir.join("b.txt"), "aaaa bbbb q").unwrap();
    let mut config = config_for(&dir);
    config.train.val_fraction = 0.0;
    config.tokenizer.min_count = 2;
    let dataset = train::prepare(&config, Path::new("/"), None).unwrap();
    let unknown = dataset.vocab.special(UNKNOWN).expect("an unknown token exists");
    let ids = dataset.train.to_vec();
    assert_eq!(ids.iter().filter(|id| **id == unknown).count(), 2, "z and q");
    assert_eq!(dataset.vocab.len(), 6, "<eod>, <unk>, a, b, c, space");
}

#[test]
fn bpe_trains_on_the_bundled_corpus_and_round_trips_it() {
    let mut config = Config::default().resolved();
    config.tokenizer.kind = TokenizerKind::Bpe;
    config.tokenizer.vocab_size = 800;
    let dataset = common::dataset(&config);
    assert_eq!(dataset.vocab.len(), 800);
    let ids = dataset.train.to_vec();
    let characters = dataset.report.characters as usize;
    assert!(ids.len() < characters * 3 / 4, "{} tokens for {characters} characters", ids.len());
    let texts = documents(&dataset, false);
    assert!(texts.iter().any(|t| t.contains("Marrowbell")), "documents decode back to their text");
}
