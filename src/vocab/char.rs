//! The character vocabulary: one token per character of the training text.

use std::collections::HashMap;

use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::bpe::BPE;
use tokenizers::{AddedToken, Tokenizer};

use super::{Vocab, END_OF_DOCUMENT, UNKNOWN};

/// Builds a character vocabulary from character counts. Characters seen fewer than
/// `min_count` times share the unknown token, which exists only when one is capped.
///
/// In `tokenizer.json` it is a BPE model without merges, so every character is its own
/// token, with a decoder that joins tokens without spaces.
pub fn build_char(counts: &HashMap<char, u64>, min_count: u64, styles: &[String]) -> Vocab {
    let mut kept: Vec<char> =
        counts.iter().filter(|(_, n)| **n >= min_count).map(|(c, _)| *c).collect();
    kept.sort_unstable();
    let capped = kept.len() < counts.len();

    let mut specials = vec![END_OF_DOCUMENT.to_string()];
    if capped {
        specials.push(UNKNOWN.to_string());
    }
    specials.extend(styles.iter().cloned());
    let ids: tokenizers::models::bpe::Vocab = specials
        .iter()
        .cloned()
        .chain(kept.iter().map(|c| c.to_string()))
        .enumerate()
        .map(|(id, token)| (token, id as u32))
        .collect();

    let mut model = BPE::builder().vocab_and_merges(ids, Vec::new());
    if capped {
        model = model.unk_token(UNKNOWN.to_string());
    }
    let model = model.build().expect("a merge-free BPE over distinct characters is valid");

    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_decoder(Some(Fuse::new()));
    let added: Vec<AddedToken> =
        specials.iter().map(|s| AddedToken::from(s.clone(), true)).collect();
    tokenizer.add_special_tokens(&added);
    Vocab::from_tokenizer(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(text: &str) -> HashMap<char, u64> {
        let mut counts = HashMap::new();
        for c in text.chars() {
            *counts.entry(c).or_insert(0) += 1;
        }
        counts
    }

    #[test]
    fn every_character_gets_an_id_after_the_end_token() {
        let vocab = build_char(&counts("abca\n"), 1, &[]);
        assert_eq!(vocab.len(), 5);
        assert_eq!(vocab.end_of_document(), 0);
        assert_eq!(vocab.decode(&vocab.encode("cab\n")), "cab\n");
    }

    #[test]
    fn the_fast_encoder_agrees_with_the_tokenizer() {
        let text = "春风，\n月落。 The sea";
        let vocab = build_char(&counts(text), 1, &[]);
        let slow = vocab.tokenizer().encode(text, false).unwrap();
        assert_eq!(slow.get_ids(), vocab.encode(text).as_slice());
        assert_eq!(vocab.tokenizer().decode(slow.get_ids(), true).unwrap(), text);
    }

    #[test]
    fn rare_characters_share_the_unknown_token() {
        let vocab = build_char(&counts("aaab"), 2, &[]);
        let unknown = vocab.tokenizer().token_to_id(UNKNOWN).unwrap();
        assert_eq!(vocab.encode("ab"), vec![vocab.encode("a")[0], unknown]);
        let slow = vocab.tokenizer().encode("ab", false).unwrap();
        assert_eq!(slow.get_ids(), vocab.encode("ab").as_slice());
    }

    #[test]
    fn an_unseen_prompt_character_is_named() {
        let vocab = build_char(&counts("abc"), 1, &[]);
        let error = vocab.encode_prompt("abz").unwrap_err().to_string();
        assert!(error.starts_with("the prompt contains \"z\" (U+007A)"), "{error}");
    }
}
