//! The byte-level BPE vocabulary, trained by `tokenizers` on the training text. Every
//! byte has a token, so no text is ever unknown to it.

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use super::{Vocab, VocabError, END_OF_DOCUMENT};

/// Trains a BPE vocabulary of `vocab_size` tokens on `texts`. `specials` are reserved
/// tokens after the end-of-document token (style tokens, say).
pub fn train_bpe<I>(texts: I, vocab_size: usize, specials: &[String]) -> Result<Vocab, VocabError>
where
    I: Iterator<Item = String> + Send,
{
    let mut reserved = vec![AddedToken::from(END_OF_DOCUMENT, true)];
    reserved.extend(specials.iter().map(|s| AddedToken::from(s.clone(), true)));

    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(reserved)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();

    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevelDecoder::new(false, true, true)));
    tokenizer.train(&mut trainer, texts).map_err(|e| VocabError::Train(e.to_string()))?;
    Ok(Vocab::from_tokenizer(tokenizer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_any_text_and_never_meets_an_unknown_character() {
        let training = "the sea the sea the salt sea\n春风春风春风\n".repeat(20);
        let vocab = train_bpe(std::iter::once(training), 300, &[]).unwrap();
        assert!(vocab.len() > 256, "every byte has a token, plus merges");
        let unseen = "Ω the sea 月";
        let ids = vocab.encode_prompt(unseen).unwrap();
        assert_eq!(vocab.decode(&ids), unseen);
        assert!(vocab.encode("the sea").len() < "the sea".len(), "merges shorten common words");
        assert_eq!(vocab.end_of_document(), 0);
    }
}
