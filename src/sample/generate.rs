//! Generating text: read the prompt once, then draw one token at a time for every
//! candidate together, carrying the model's state, until the end-of-document token, a
//! stop string, the end of the shape, or the token limit. An observer sees each token as
//! it comes and may change the settings or cancel between tokens.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use tch::{Device, Kind, Tensor};

use super::chain::{distribution, draw, penalised, softmax_of, top};
use super::settings::{Resolved, Settings};
use super::shape::{Allowed, Constraint, Forced, Shape};
use crate::model::LanguageModel;
use crate::vocab::Vocab;

/// How many of the likeliest tokens a distribution report lists.
pub const REPORTED: usize = 20;

/// One text to generate.
#[derive(Debug)]
pub struct Candidate {
    pub settings: Settings,
    pub seed: u64,
    /// The latent code to decode from (`[latent]`), for models that have one; without
    /// one such a model decodes from a code drawn from its prior with the seed.
    pub latent: Option<Tensor>,
}

/// What to generate.
#[derive(Debug)]
pub struct Request {
    pub prompt: String,
    /// The style token to start from, when the vocabulary has styles.
    pub style: Option<String>,
    pub candidates: Vec<Candidate>,
    pub max_tokens: usize,
    pub shape: Shape,
}

impl Request {
    /// `count` candidates with the same settings and seeds `seed`, `seed + 1`, ….
    pub fn simple(
        prompt: &str,
        settings: Settings,
        max_tokens: usize,
        seed: u64,
        count: usize,
    ) -> Request {
        let candidates = (0..count.max(1) as u64)
            .map(|i| Candidate {
                settings: settings.clone(),
                seed: seed.wrapping_add(i),
                latent: None,
            })
            .collect();
        Request {
            prompt: prompt.to_string(),
            style: None,
            candidates,
            max_tokens,
            shape: Shape::default(),
        }
    }
}

/// Why a text ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    EndOfDocument,
    MaxTokens,
    Stop,
    Shape,
    Cancelled,
}

/// One generated text: the prompt and what followed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Generated {
    pub text: String,
    /// Tokens drawn after the prompt.
    pub tokens: usize,
    pub ended: Ended,
    /// Characters the shape made the text take against the model's distribution.
    pub forced: Vec<Forced>,
}

/// A next-token distribution before and after the sampler chain: the likeliest tokens
/// and their probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub candidate: usize,
    pub before: Vec<(u32, f32)>,
    pub after: Vec<(u32, f32)>,
}

/// What an observer tells the generator between tokens.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Continue,
    /// Use these settings for every candidate from the next token on.
    Update(Settings),
    Cancel,
}

/// Sees a generation as it goes.
pub trait Observer {
    /// Before each token: whether to go on, with new settings, or stop.
    fn control(&mut self) -> Control {
        Control::Continue
    }

    /// A token was drawn; `text` is the text it settled, which may be empty: an incomplete
    /// character of a BPE token, or what may be the start of a stop string, waits for the
    /// tokens that settle it. When a candidate ends, a last call brings any text still held.
    fn token(&mut self, _candidate: usize, _text: &str) {}

    /// The distribution the token was drawn from.
    fn report(&mut self, _report: &Report) {}
}

/// An observer that watches nothing.
pub struct Quiet;

impl Observer for Quiet {}

/// Generates every candidate of `request`, quietly.
pub fn generate(
    model: &dyn LanguageModel,
    vocab: &Vocab,
    request: &Request,
) -> Result<Vec<Generated>, String> {
    generate_with(model, vocab, request, &mut Quiet)
}

/// The state of one candidate while it is written.
struct Writing {
    resolved: Resolved,
    rng: ChaCha8Rng,
    history: Vec<u32>,
    written: Vec<u32>,
    text: String,
    /// How much of `text` the observer has been told.
    streamed: usize,
    /// The written tokens that make whole characters of `text`, and the bytes they end at.
    whole: Whole,
    constraint: Constraint,
    forced: Vec<Forced>,
    ended: Option<Ended>,
}

/// Generates every candidate of `request`, telling `observer` about each token.
pub fn generate_with(
    model: &dyn LanguageModel,
    vocab: &Vocab,
    request: &Request,
    observer: &mut dyn Observer,
) -> Result<Vec<Generated>, String> {
    let prompt = prompt_ids(vocab, request)?;
    let mut writing = Vec::with_capacity(request.candidates.len());
    // The shape after the prompt, the same for every candidate.
    let mut constraint = Constraint::new(&request.shape, vocab)?;
    for id in vocab.encode_prompt(&request.prompt).map_err(|e| e.to_string())? {
        constraint
            .advance(id, vocab)
            .map_err(|e| format!("the prompt does not fit the shape: {e}"))?;
    }
    // A prompt that already has the shape's lines leaves nothing to write.
    let ended = constraint.done().then_some(Ended::Shape);
    for candidate in &request.candidates {
        writing.push(Writing {
            resolved: candidate.settings.resolve(vocab)?,
            rng: ChaCha8Rng::seed_from_u64(candidate.seed),
            history: prompt.clone(),
            written: Vec::new(),
            text: request.prompt.clone(),
            streamed: request.prompt.len(),
            whole: Whole { tokens: 0, bytes: request.prompt.len() },
            constraint: constraint.clone(),
            forced: Vec::new(),
            ended: ended.clone(),
        });
    }
    let count = writing.len() as i64;
    let latent = latent_codes(model, request);

    tch::no_grad(|| -> Result<(), String> {
        let ids: Vec<i64> = prompt.iter().map(|id| *id as i64).collect();
        let batch =
            Tensor::from_slice(&ids).to_device(model.device()).unsqueeze(0).repeat([count, 1]);
        let (mut logits, mut state) = model.start(&batch, latent.as_ref());
        for _ in 0..request.max_tokens {
            match observer.control() {
                Control::Continue => {}
                Control::Update(settings) => {
                    let resolved = settings.resolve(vocab)?;
                    for candidate in writing.iter_mut() {
                        candidate.resolved = resolved.clone();
                    }
                }
                Control::Cancel => {
                    for candidate in writing.iter_mut().filter(|c| c.ended.is_none()) {
                        candidate.ended = Some(Ended::Cancelled);
                    }
                    break;
                }
            }

            let rows = host_rows(&logits);
            let mut next = Vec::with_capacity(writing.len());
            for (index, (candidate, row)) in writing.iter_mut().zip(&rows).enumerate() {
                let token = if candidate.ended.is_some() {
                    vocab.end_of_document()
                } else {
                    let token = choose(candidate, row, vocab, index, observer);
                    write(candidate, token, vocab, index, observer);
                    token
                };
                next.push(token as i64);
            }
            if writing.iter().all(|c| c.ended.is_some()) {
                break;
            }
            let next = Tensor::from_slice(&next).to_device(model.device());
            logits = model.step(&next, &mut state);
        }
        for (index, candidate) in writing.iter_mut().enumerate() {
            flush(candidate, index, observer);
        }
        Ok(())
    })?;

    Ok(writing
        .into_iter()
        .map(|c| Generated {
            text: c.text,
            tokens: c.written.len(),
            ended: c.ended.unwrap_or(Ended::MaxTokens),
            forced: c.forced,
        })
        .collect())
}

/// The prompt as the model reads it: the end-of-document token (documents start after
/// one), the style token if any, then the prompt's own tokens.
fn prompt_ids(vocab: &Vocab, request: &Request) -> Result<Vec<u32>, String> {
    let mut ids = vec![vocab.end_of_document()];
    if let Some(style) = &request.style {
        ids.push(vocab.style(style).map_err(|e| e.to_string())?);
    }
    ids.extend(vocab.encode_prompt(&request.prompt).map_err(|e| e.to_string())?);
    Ok(ids)
}

/// One latent code per candidate for a model with a latent space: the candidate's own,
/// or one drawn from the prior with its seed.
fn latent_codes(model: &dyn LanguageModel, request: &Request) -> Option<Tensor> {
    let size = model.latent_size()?;
    let rows: Vec<Tensor> = request
        .candidates
        .iter()
        .map(|candidate| match &candidate.latent {
            Some(code) => code.to_device(Device::Cpu).to_kind(Kind::Float).view([size]),
            None => {
                let mut rng = ChaCha8Rng::seed_from_u64(candidate.seed ^ 0x001a_7e47);
                let values: Vec<f32> = (0..size).map(|_| StandardNormal.sample(&mut rng)).collect();
                Tensor::from_slice(&values)
            }
        })
        .collect();
    Some(Tensor::stack(&rows, 0).to_device(model.device()))
}

/// Picks the next token of one candidate: the chain, then the shape's mask and the
/// banned strings. When the chain leaves no token the shape allows, the shape wins and
/// the token is recorded as forced.
fn choose(
    candidate: &mut Writing,
    row: &[f32],
    vocab: &Vocab,
    index: usize,
    observer: &mut dyn Observer,
) -> u32 {
    let mut logits = penalised(row, &candidate.history, &candidate.resolved);
    ban_strings(&mut logits, candidate, vocab);
    let probabilities = distribution(&logits, &candidate.resolved);
    let allowed = candidate.constraint.allowed();

    let fits = |id: usize| match &allowed {
        Allowed::Any => true,
        Allowed::Only(ids) => ids.contains(&(id as u32)),
        Allowed::AllBut(banned) => id as u32 != *banned,
    };
    let mut within: Vec<f32> =
        probabilities.iter().enumerate().map(|(id, p)| if fits(id) { *p } else { 0.0 }).collect();
    if within.iter().all(|p| *p <= 0.0) {
        let masked: Vec<f32> = logits
            .iter()
            .enumerate()
            .map(|(id, l)| if fits(id) { *l } else { f32::NEG_INFINITY })
            .collect();
        within = distribution(&masked, &candidate.resolved);
        if within.iter().all(|p| *p <= 0.0) {
            within = softmax_of(&masked);
        }
        let (line, column) = candidate.constraint.position();
        let token = draw(&within, &mut candidate.rng) as u32;
        candidate.forced.push(Forced { line, column, text: vocab.token_text(token) });
        observer.report(&Report {
            candidate: index,
            before: top(&softmax_of(row), REPORTED),
            after: top(&within, REPORTED),
        });
        return token;
    }
    observer.report(&Report {
        candidate: index,
        before: top(&softmax_of(row), REPORTED),
        after: top(&within, REPORTED),
    });
    draw(&within, &mut candidate.rng) as u32
}

/// Rules out every token that would complete a banned string.
fn ban_strings(logits: &mut [f32], candidate: &Writing, vocab: &Vocab) {
    let banned = &candidate.resolved.settings.banned;
    if banned.is_empty() {
        return;
    }
    let longest = banned.iter().map(|b| b.chars().count()).max().unwrap_or(0);
    let tail: String = {
        let chars: Vec<char> = candidate.text.chars().collect();
        chars[chars.len().saturating_sub(longest)..].iter().collect()
    };
    for (id, logit) in logits.iter_mut().enumerate() {
        let joined = format!("{tail}{}", vocab.token_text(id as u32));
        if banned.iter().any(|b| joined.contains(b.as_str())) {
            *logit = f32::NEG_INFINITY;
        }
    }
}

/// Adds a drawn token to a candidate's text and checks whether the text has ended.
fn write(
    candidate: &mut Writing,
    token: u32,
    vocab: &Vocab,
    index: usize,
    observer: &mut dyn Observer,
) {
    if token == vocab.end_of_document() {
        candidate.ended = Some(Ended::EndOfDocument);
        return stream(candidate, index, observer);
    }
    candidate.history.push(token);
    candidate.written.push(token);
    match vocab.kind() {
        crate::config::TokenizerKind::Char => candidate.text.push_str(vocab.piece(token)),
        crate::config::TokenizerKind::Bpe => {
            append_decoded(vocab, &candidate.written, &mut candidate.text, &mut candidate.whole)
        }
    }
    let _ = candidate.constraint.advance(token, vocab);

    // What has streamed is final, so a stop is looked for only after it.
    let unsettled = candidate.text.get(candidate.streamed..).unwrap_or("");
    let stop =
        candidate.resolved.settings.stop.iter().filter_map(|s| unsettled.find(s.as_str())).min();
    if let Some(at) = stop.map(|at| candidate.streamed + at) {
        candidate.text.truncate(at);
        candidate.ended = Some(Ended::Stop);
    } else if candidate.constraint.done() {
        candidate.constraint.trim(&mut candidate.text);
        candidate.ended = Some(Ended::Shape);
    }
    stream(candidate, index, observer);
}

/// How far a BPE text is made of whole characters: its first `tokens` written tokens,
/// which end at byte `bytes`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Whole {
    tokens: usize,
    bytes: usize,
}

/// Brings `text` up to date with the last of `written`. A BPE token can end inside a
/// character, so the tokens since the last whole character are decoded together; those
/// before it are never decoded again.
fn append_decoded(vocab: &Vocab, written: &[u32], text: &mut String, whole: &mut Whole) {
    let tail = vocab.decode(&written[whole.tokens..]);
    text.truncate(whole.bytes);
    text.push_str(&tail);
    if !tail.ends_with('\u{FFFD}') {
        *whole = Whole { tokens: written.len(), bytes: text.len() };
    }
}

/// Tells the observer the text a token settled: all that is new once the candidate has
/// ended, else all but a tail that may still change.
fn stream(candidate: &mut Writing, index: usize, observer: &mut dyn Observer) {
    let text = &candidate.text;
    let settled = match candidate.ended {
        Some(_) => text.len(),
        None => settled_length(text, &candidate.resolved.settings.stop),
    };
    observer.token(index, text.get(candidate.streamed..settled).unwrap_or(""));
    candidate.streamed = candidate.streamed.max(settled);
}

/// When generation stops, tells the observer what it has not heard yet, if anything.
fn flush(candidate: &mut Writing, index: usize, observer: &mut dyn Observer) {
    let rest = candidate.text.get(candidate.streamed..).unwrap_or("");
    if !rest.is_empty() {
        observer.token(index, rest);
        candidate.streamed = candidate.text.len();
    }
}

/// How much of `text` the next tokens cannot change: all but a trailing incomplete
/// character (a BPE token can end inside one, which decodes as U+FFFD) and the longest
/// tail that begins a stop string.
fn settled_length(text: &str, stops: &[String]) -> usize {
    // The incomplete character may complete a stop string, so what precedes it is matched.
    let whole = text.trim_end_matches('\u{FFFD}');
    let mut settled = whole.len();
    for stop in stops {
        let from = whole.len().saturating_sub(stop.len().saturating_sub(1));
        let begins_stop =
            |at: &usize| whole.is_char_boundary(*at) && stop.starts_with(&whole[*at..]);
        if let Some(at) = (from..whole.len()).find(begins_stop) {
            settled = settled.min(at);
        }
    }
    settled
}

/// Logits `[batch, vocab]` as one host vector per row.
fn host_rows(logits: &Tensor) -> Vec<Vec<f32>> {
    let host = if logits.device() == Device::Cpu && logits.kind() == Kind::Float {
        logits.contiguous()
    } else {
        logits.to_device(Device::Cpu).to_kind(Kind::Float).contiguous()
    };
    let vocab = host.size()[1] as usize;
    let flat: Vec<f32> = Vec::try_from(host.view([-1])).expect("float logits convert to f32");
    flat.chunks(vocab).map(<[f32]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bpe_text_built_token_by_token_is_the_whole_decoding() {
        let text = "春眠不觉晓，处处闻啼鸟。 Spring sleep, no dawn. ".repeat(20);
        // Few merges beyond the 256 bytes, so most Chinese characters stay split.
        let vocab = crate::vocab::train_bpe(std::iter::once(text.clone()), 270, &[]).unwrap();
        let ids = vocab.encode_prompt(&text).unwrap();

        let (mut built, mut whole) = ("> ".to_string(), Whole { tokens: 0, bytes: 2 });
        let mut split = 0;
        for end in 1..=ids.len() {
            append_decoded(&vocab, &ids[..end], &mut built, &mut whole);
            assert_eq!(built, format!("> {}", vocab.decode(&ids[..end])), "after {end} tokens");
            split += usize::from(whole.tokens < end);
        }
        assert!(split > 0, "some token ends inside a character");
        assert_eq!(whole, Whole { tokens: ids.len(), bytes: built.len() });
    }

    #[test]
    fn text_that_may_begin_a_stop_string_is_held_back() {
        let stops = ["\n第".to_string(), "THE END".to_string()];
        assert_eq!(settled_length("one\ntwo", &stops), 7);
        assert_eq!(settled_length("one\n", &stops), 3);
        assert_eq!(settled_length("one THE E", &stops), 4);
        // The stop's second character is still incomplete: the newline waits with it.
        assert_eq!(settled_length("one\n\u{FFFD}", &stops), 3);
        assert_eq!(settled_length("one\u{FFFD}", &stops), 3);
    }
}
