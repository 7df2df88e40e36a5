//! Generating text: read the prompt once, then draw one token at a time, carrying the
//! model's state, until the end-of-document token or the token limit.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use super::chain::{distribution, draw, Settings};
use crate::model::LanguageModel;
use crate::vocab::{Vocab, VocabError};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Request {
    pub prompt: String,
    pub settings: Settings,
    pub max_tokens: usize,
    pub seed: u64,
    /// Candidates generated together as one batch; candidate i draws with seed + i.
    pub count: usize,
}

/// Generates `request.count` texts, each the prompt followed by what the model wrote.
pub fn generate(
    model: &dyn LanguageModel,
    vocab: &Vocab,
    request: &Request,
) -> Result<Vec<String>, VocabError> {
    let mut prompt = vec![vocab.end_of_document()];
    prompt.extend(vocab.encode_prompt(&request.prompt)?);
    let count = request.count.max(1);
    let mut rngs: Vec<ChaCha8Rng> = (0..count)
        .map(|i| ChaCha8Rng::seed_from_u64(request.seed.wrapping_add(i as u64)))
        .collect();

    let written = tch::no_grad(|| {
        let ids: Vec<i64> = prompt.iter().map(|id| *id as i64).collect();
        let batch = Tensor::from_slice(&ids)
            .to_device(model.device())
            .unsqueeze(0)
            .repeat([count as i64, 1]);
        let (mut logits, mut state) = model.start(&batch, None);

        let mut written: Vec<Vec<u32>> = vec![Vec::new(); count];
        let mut finished = vec![false; count];
        for _ in 0..request.max_tokens {
            let rows = host_rows(&logits);
            let mut next = Vec::with_capacity(count);
            for (i, row) in rows.iter().enumerate() {
                let token = if finished[i] {
                    vocab.end_of_document()
                } else {
                    draw(&distribution(row, &request.settings), &mut rngs[i]) as u32
                };
                if token == vocab.end_of_document() {
                    finished[i] = true;
                } else {
                    written[i].push(token);
                }
                next.push(token as i64);
            }
            if finished.iter().all(|f| *f) {
                break;
            }
            let next = Tensor::from_slice(&next).to_device(model.device());
            logits = model.step(&next, &mut state);
        }
        written
    });

    Ok(written.iter().map(|ids| format!("{}{}", request.prompt, vocab.decode(ids))).collect())
}

/// Logits `[batch, vocab]` as one host vector per row.
fn host_rows(logits: &Tensor) -> Vec<Vec<f32>> {
    let host = logits.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
    let vocab = host.size()[1] as usize;
    let flat: Vec<f32> = Vec::try_from(host.view([-1])).expect("float logits convert to f32");
    flat.chunks(vocab).map(<[f32]>::to_vec).collect()
}
