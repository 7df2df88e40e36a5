//! Any bytes at all, fed as a corpus file of any format, are read or refused, never a panic.

mod common;

use muse::config::CorpusConfig;
use muse::corpus::{self, Piece, ReadOptions};
use proptest::prelude::*;

const EXTENSIONS: &[&str] = &["txt", "md", "json", "jsonl", "csv", "tsv", ""];

fn bytes_like_text() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        Just(b"\r\n".to_vec()),
        Just(b"{\"text\": [\"".to_vec()),
        Just(b"\"]}\n".to_vec()),
        Just(b",\"".to_vec()),
        Just("春风，".as_bytes().to_vec()),
        Just(b"# ".to_vec()),
        Just(vec![0xe6, 0x98]),
        Just(vec![0]),
    ];
    prop::collection::vec(pieces, 0..200).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn reading_never_panics(bytes in bytes_like_text(), extension in prop::sample::select(EXTENSIONS)) {
        let dir = common::scratch();
        let path = dir.join(format!("file.{extension}"));
        std::fs::write(&path, &bytes).unwrap();
        let options = ReadOptions::from_config(&CorpusConfig::default()).unwrap();
        let mut open = false;
        let result = corpus::read_documents(&path, &options, &mut |piece| match piece {
            Piece::Text(text) => {
                assert!(!text.is_empty());
                open = true;
            }
            Piece::Style(_) => {}
            Piece::End => open = false,
        });
        prop_assert!(!open, "every document that started also ended");
        if let Ok(report) = result {
            prop_assert!(report.documents > 0);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
