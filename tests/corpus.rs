//! Reading corpora: every format, every cleaning step, and every kind of bad input, each
//! from a fixture in tests/fixtures/corpus with the exact report checked.

mod common;

use std::path::{Path, PathBuf};

use muse::config::{CorpusConfig, InvalidUtf8};
use muse::corpus::{self, Corpus, Piece, ReadOptions};

fn fixtures() -> PathBuf {
    common::project_root().join("tests/fixtures/corpus")
}

fn config(paths: &[&str]) -> CorpusConfig {
    CorpusConfig {
        paths: paths.iter().map(|p| p.to_string()).collect(),
        text_field: "paragraphs".into(),
        title_field: Some("title".into()),
        ..CorpusConfig::default()
    }
}

fn load(config: &CorpusConfig) -> Corpus {
    corpus::load(config, &fixtures()).expect("the fixture corpus loads")
}

fn texts(corpus: &Corpus) -> Vec<&str> {
    corpus.documents.iter().map(|d| d.text.as_str()).collect()
}

/// Skipped files as (file name, reason), sorted by name.
fn skipped(corpus: &Corpus) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = corpus
        .skipped
        .iter()
        .map(|s| (s.path.file_name().unwrap().to_string_lossy().into_owned(), s.reason.clone()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_format_gives_its_documents() {
    let corpus = load(&config(&["formats"]));
    assert_eq!(
        texts(&corpus),
        vec![
            "Smells like the sea, minus the seaweed.",
            "Ride early. Ride often. Ride \"just one more hill\".",
            "Steep, sip, breathe out.",
            "Kettle\nThe kettle sings\nbefore the house wakes.",
            "Porch\nRain on the porch roof,\na slow drum.",
            "Salt Song\n\nThe tide comes in,\nthe boat goes out.\n\none rope\ntwo ropes",
            "Lantern\n\nThe lantern swings above the door,\nand moths come in from the dark.",
            "晚渡\n江边人未归，\n渡口月初生。",
            "山行\n石径入云深，\n松风送客心。",
        ]
    );
    assert!(corpus.skipped.is_empty());
}

#[test]
fn a_malformed_json_line_is_reported_with_its_place_and_the_rest_kept() {
    let corpus = load(&config(&["formats/lines.jsonl"]));
    assert_eq!(corpus.documents.len(), 2);
    let warnings: Vec<&str> = corpus.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        warnings,
        ["malformed JSON at line 2, column 56: EOF while parsing a value; the line was left out"]
    );
}

#[test]
fn a_title_column_goes_first() {
    let config =
        CorpusConfig { title_field: Some("product".into()), ..config(&["formats/copy.csv"]) };
    assert_eq!(
        texts(&load(&config)),
        [
            "Tidewater Soap\nSmells like the sea, minus the seaweed.",
            "Lark Bicycles\nRide early. Ride often. Ride \"just one more hill\".",
        ]
    );
}

#[test]
fn a_missing_text_column_names_the_columns() {
    let corpus = corpus::load(
        &CorpusConfig {
            text_field: "copy".into(),
            ..config(&["formats/copy.tsv", "bad/good.txt"])
        },
        &fixtures(),
    )
    .unwrap();
    assert_eq!(
        skipped(&corpus),
        [("copy.tsv".into(), "no column \"copy\" (the columns are: product, paragraphs)".into())]
    );
}

#[test]
fn each_step_of_a_field_path_makes_its_own_documents() {
    let mut config = config(&["nested"]);
    config.text_field = "sections[].poems[].lines".into();
    let corpus = load(&config);
    assert_eq!(
        texts(&corpus),
        [
            "Thaw\nThe ice lets go\nof the river's hand.",
            "Hearth\nAsh and ember,\nthe cat's slow blink."
        ]
    );
}

#[test]
fn include_exclude_and_globs_narrow_the_files() {
    let names = |config: &CorpusConfig| -> Vec<String> {
        load(config)
            .files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let mut only_json = config(&["formats"]);
    only_json.include = vec!["*.json".into(), "*.jsonl".into()];
    assert_eq!(names(&only_json), ["lines.jsonl", "poems.json"]);

    let mut no_tables = config(&["formats"]);
    no_tables.exclude = vec!["copy.*".into()];
    assert_eq!(names(&no_tables), ["lines.jsonl", "notes.md", "plain.txt", "poems.json"]);

    assert_eq!(names(&config(&["formats/*.t*"])), ["copy.tsv", "plain.txt"]);
}

#[test]
fn every_cleaning_step_applies_and_each_can_be_turned_off() {
    let corpus = load(&config(&["cleaning"]));
    assert_eq!(texts(&corpus), ["Title\n\n\nThe caf\u{e9} \u{2014} a bell rang.\nTabs\tstay."]);

    let raw = CorpusConfig {
        unicode_nfc: false,
        unix_newlines: false,
        trim_trailing_spaces: false,
        collapse_blank_lines: false,
        strip_control: false,
        ..config(&["cleaning"])
    };
    let corpus = load(&raw);
    assert_eq!(
        texts(&corpus),
        ["Title  \r\n\r\n\r\n\r\n\r\nThe cafe\u{301} \u{2014} a bell\u{7} rang.\t \r\nTabs\tstay.\r\n\r\n\r"]
    );
}

#[test]
fn bad_files_are_skipped_with_their_reasons_and_the_rest_loads() {
    let corpus = load(&config(&["bad"]));
    assert_eq!(
        skipped(&corpus),
        [
            ("archive.txt".into(), "binary file (a NUL byte at offset 4)".into()),
            ("blank.txt".into(), "no text after cleaning".into()),
            ("empty.txt".into(), "empty file".into()),
            ("malformed.json".into(), "malformed JSON at line 1, column 35: trailing comma".into()),
            (
                "no-field.json".into(),
                "text field \"paragraphs\" matches nothing in its 2 records".into()
            ),
            ("picture.png".into(), "not a format Muse reads (.png)".into()),
        ]
    );
    assert_eq!(texts(&corpus), ["fine text", "caf\u{fffd} au lait\nand \u{fffd}\u{fffd} more"]);
    let warnings: Vec<(String, &str)> = corpus
        .warnings
        .iter()
        .map(|w| (w.path.file_name().unwrap().to_string_lossy().into_owned(), w.message.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [(
            "latin1.txt".into(),
            "3 invalid UTF-8 sequences (the first at byte 3) replaced with U+FFFD"
        )]
    );
}

#[test]
fn invalid_utf8_can_skip_the_file_instead() {
    let config = CorpusConfig {
        invalid_utf8: InvalidUtf8::Skip,
        ..config(&["bad/latin1.txt", "bad/good.txt"])
    };
    let corpus = load(&config);
    assert_eq!(
        skipped(&corpus),
        [(
            "latin1.txt".into(),
            "not valid UTF-8: 3 invalid UTF-8 sequences (the first at byte 3)".into()
        )]
    );
    assert_eq!(texts(&corpus), ["fine text"]);
}

#[test]
fn links_that_are_broken_or_loop_are_skipped() {
    let dir = common::scratch();
    std::fs::write(dir.join("poem.txt"), "a poem").unwrap();
    std::os::unix::fs::symlink(dir.join("gone.txt"), dir.join("broken.txt")).unwrap();
    std::fs::create_dir(dir.join("inner")).unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("inner/loop")).unwrap();

    let config = CorpusConfig { paths: vec![dir.display().to_string()], ..CorpusConfig::default() };
    let corpus = corpus::load(&config, Path::new("/")).unwrap();
    assert_eq!(
        skipped(&corpus),
        [
            ("broken.txt".into(), "broken symbolic link".into()),
            ("loop".into(), "symbolic link loop".into())
        ]
    );
    assert_eq!(texts(&corpus), ["a poem"]);
}

#[test]
fn an_unreadable_file_is_skipped() {
    let dir = common::scratch();
    std::fs::write(dir.join("poem.txt"), "a poem").unwrap();
    // Reading this file fails with an I/O error even for root: address 0 is never mapped.
    std::os::unix::fs::symlink("/proc/self/mem", dir.join("memory.txt")).unwrap();
    let config = CorpusConfig { paths: vec![dir.display().to_string()], ..CorpusConfig::default() };
    let corpus = corpus::load(&config, Path::new("/")).unwrap();
    assert_eq!(
        skipped(&corpus),
        [("memory.txt".into(), "cannot read: Input/output error (os error 5)".into())]
    );
    assert_eq!(texts(&corpus), ["a poem"]);
}

#[test]
fn a_file_deleted_before_it_is_read_is_reported() {
    let dir = common::scratch();
    let path = dir.join("draft.txt");
    std::fs::write(&path, "soon gone").unwrap();
    let options = ReadOptions::from_config(&CorpusConfig::default()).unwrap();
    std::fs::remove_file(&path).unwrap();
    let result =
        corpus::read_documents(&path, &options, &mut |_| panic!("no text from a deleted file"));
    assert_eq!(result.unwrap_err(), "the file disappeared before it could be read");
}

#[test]
fn no_text_at_all_says_what_was_searched_and_found() {
    let error =
        corpus::load(&config(&["bad/empty.txt", "bad/picture.png", "nowhere"]), &fixtures())
            .unwrap_err()
            .to_string()
            .replace(fixtures().to_str().unwrap(), "fixtures");
    assert_eq!(
        error,
        "no text to train on: searched fixtures/bad/empty.txt, fixtures/bad/picture.png, \
         fixtures/nowhere; fixtures/nowhere does not exist; found 2 unusable files: \
         fixtures/bad/empty.txt (empty file); fixtures/bad/picture.png (not a format Muse reads (.png))"
    );
}

#[test]
fn hidden_files_and_run_folders_are_never_read() {
    let dir = common::scratch();
    std::fs::write(dir.join("poem.txt"), "kept").unwrap();
    std::fs::write(dir.join(".draft.txt"), "hidden").unwrap();
    std::fs::create_dir_all(dir.join("runs/lstm-1")).unwrap();
    std::fs::write(dir.join("runs/lstm-1/train.log"), "a log").unwrap();
    std::fs::write(dir.join("README.md"), "about this corpus").unwrap();
    let config = CorpusConfig { paths: vec![dir.display().to_string()], ..CorpusConfig::default() };
    let corpus = corpus::load(&config, Path::new("/")).unwrap();
    assert_eq!(texts(&corpus), ["kept"]);
}

#[test]
fn a_large_text_file_streams_through_in_pieces() {
    let dir = common::scratch();
    let line = "the tide comes in and the tide goes out\r\n";
    let text = line.repeat(200_000);
    assert!(text.len() > 6 * 1024 * 1024, "larger than one piece");
    std::fs::write(dir.join("long.txt"), &text).unwrap();

    let options = ReadOptions::from_config(&CorpusConfig::default()).unwrap();
    let mut pieces = 0;
    let mut read = String::new();
    let report =
        corpus::read_documents(&dir.join("long.txt"), &options, &mut |piece| match piece {
            Piece::Text(text) => {
                pieces += 1;
                read.push_str(text);
            }
            Piece::Style(_) => {}
            Piece::End => read.push('|'),
        })
        .unwrap();
    assert_eq!(report.documents, 1);
    assert!(pieces > 1, "read in {pieces} pieces");
    let expected = format!("{}|", text.replace("\r\n", "\n").trim_end());
    assert_eq!(read, expected);
}

#[test]
fn the_tang_poems_load_with_paragraphs_and_titles() {
    let tang = common::project_root().join("../shared/corpora/tang");
    if !tang.is_dir() {
        eprintln!("skipped: {} is not here", tang.display());
        return;
    }
    let config = CorpusConfig {
        paths: vec![tang.display().to_string()],
        text_field: "paragraphs".into(),
        title_field: Some("title".into()),
        ..CorpusConfig::default()
    };
    let corpus = corpus::load(&config, Path::new("/")).unwrap();
    assert_eq!(corpus.files.len(), 58);
    assert!(corpus.skipped.is_empty(), "{:?}", corpus.skipped);
    assert!(corpus.documents.len() > 57_000, "{} documents", corpus.documents.len());
    let first = &corpus.documents[0].text;
    assert!(first.lines().count() >= 2, "a title line, then the poem: {first}");
}
