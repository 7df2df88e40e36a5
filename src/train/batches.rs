//! Training and evaluation batches: random windows of one split's token stream.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

use crate::model::Batch;
use crate::vocab::cache::TokenFile;

/// One split's tokens: ranges of token files, read as one stream. The files may be
/// memory-mapped, so the stream need not fit in memory.
#[derive(Clone, Default)]
pub struct TokenStream {
    parts: Vec<Part>,
    /// Where each part starts in the stream.
    starts: Vec<u64>,
    len: u64,
    /// Each document's start in the stream and its length, for models that read whole
    /// documents.
    documents: Vec<(u64, u64)>,
}

#[derive(Clone)]
struct Part {
    file: Arc<TokenFile>,
    range: std::ops::Range<usize>,
}

impl TokenStream {
    /// A stream over ids held in memory.
    pub fn from_ids(ids: Vec<u32>) -> TokenStream {
        let end = ids.len() as u64;
        let mut stream = TokenStream::default();
        stream.push(&Arc::new(TokenFile::in_memory(vec![end], ids)), 0..end as usize);
        stream
    }

    /// Appends a document: a range of a token file, joined to the last part when they touch.
    pub fn push(&mut self, file: &Arc<TokenFile>, range: std::ops::Range<usize>) {
        if range.is_empty() {
            return;
        }
        let length = range.len() as u64;
        self.documents.push((self.len, length));
        if let Some(last) = self.parts.last_mut() {
            if Arc::ptr_eq(&last.file, file) && last.range.end == range.start {
                last.range.end = range.end;
                self.len += length;
                return;
            }
        }
        self.starts.push(self.len);
        self.parts.push(Part { file: Arc::clone(file), range });
        self.len += length;
    }

    /// Splits the stream at token `at`: the first `at` tokens, and the rest. A document
    /// that spans the cut is cut in two.
    pub fn split_at(&self, at: u64) -> (TokenStream, TokenStream) {
        let mut head = TokenStream::default();
        let mut tail = TokenStream::default();
        for (part, start) in self.parts.iter().zip(&self.starts) {
            let cut = (at.saturating_sub(*start) as usize).min(part.range.len());
            head.push(&part.file, part.range.start..part.range.start + cut);
            tail.push(&part.file, part.range.start + cut..part.range.end);
        }
        head.documents.clear();
        tail.documents.clear();
        for (start, length) in &self.documents {
            let end = start + length;
            if *start < at {
                head.documents.push((*start, end.min(at) - start));
            }
            if end > at {
                let from = (*start).max(at);
                tail.documents.push((from - at, end - from));
            }
        }
        (head, tail)
    }

    /// Number of documents (or pieces of documents) in the stream.
    pub fn documents(&self) -> usize {
        self.documents.len()
    }

    pub fn len(&self) -> i64 {
        self.len as i64
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The longest window a batch from this stream can have, at most `context`.
    pub fn window(&self, context: i64) -> i64 {
        context.min(self.len() - 1)
    }

    /// Copies `count` tokens from position `at` on into `out`.
    fn copy(&self, at: u64, count: usize, out: &mut Vec<i64>) {
        let mut part = self.starts.partition_point(|start| *start <= at) - 1;
        let mut offset = (at - self.starts[part]) as usize;
        let mut left = count;
        while left > 0 {
            let Part { file, range } = &self.parts[part];
            let tokens = &file.tokens()[range.start + offset..range.end];
            let taken = tokens.len().min(left);
            out.extend(tokens[..taken].iter().map(|id| *id as i64));
            left -= taken;
            part += 1;
            offset = 0;
        }
    }

    /// Every id, in order; for tests and small corpora.
    pub fn to_vec(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len as usize);
        for part in &self.parts {
            out.extend_from_slice(&part.file.tokens()[part.range.clone()]);
        }
        out
    }

    /// `batch` windows of `window + 1` tokens starting at random places, on `device`.
    pub fn sample(&self, rng: &mut ChaCha8Rng, batch: i64, window: i64, device: Device) -> Tensor {
        self.windows(rng, batch, window).tokens.to_device(device)
    }

    /// A batch as `plan` asks for it, on the host.
    pub fn batch(&self, rng: &mut ChaCha8Rng, plan: &Plan) -> Batch {
        if plan.documents {
            self.whole_documents(rng, plan.batch, plan.window, plan.padding)
        } else {
            self.windows(rng, plan.batch, plan.window)
        }
    }

    /// Batch `index` of `count` evenly spaced batches covering the whole stream: the same
    /// windows (or documents) every time, so evaluations compare and cover the split.
    pub fn spaced_batch(&self, index: i64, count: i64, plan: &Plan) -> Batch {
        let total = (count * plan.batch).max(1) as u64;
        let picks = (index * plan.batch..(index + 1) * plan.batch).map(|k| k as u64);
        if plan.documents {
            let documents = self.documents.len() as u64;
            let chosen: Vec<(u64, u64)> = picks
                .map(|k| self.documents[(k * documents / total).min(documents - 1) as usize])
                .collect();
            return self.documents_batch(chosen, plan.window, plan.padding);
        }
        let width = (plan.window + 1) as u64;
        let last_start = self.len - width;
        let mut ids = Vec::with_capacity((plan.batch as u64 * width) as usize);
        for k in picks {
            let start = if total > 1 { k * last_start / (total - 1) } else { 0 };
            self.copy(start, width as usize, &mut ids);
        }
        Batch {
            tokens: Tensor::from_slice(&ids).view([plan.batch, plan.window + 1]),
            lengths: None,
        }
    }

    fn windows(&self, rng: &mut ChaCha8Rng, batch: i64, window: i64) -> Batch {
        let width = (window + 1) as usize;
        let mut ids = Vec::with_capacity(batch as usize * width);
        for _ in 0..batch {
            let start = rng.random_range(0..=self.len - width as u64);
            self.copy(start, width, &mut ids);
        }
        Batch { tokens: Tensor::from_slice(&ids).view([batch, window + 1]), lengths: None }
    }

    /// Random whole documents, each cut to at most `longest` tokens and padded with
    /// `padding` to the longest in the batch, with their lengths.
    fn whole_documents(
        &self,
        rng: &mut ChaCha8Rng,
        batch: i64,
        longest: i64,
        padding: u32,
    ) -> Batch {
        let chosen: Vec<(u64, u64)> =
            (0..batch).map(|_| self.documents[rng.random_range(0..self.documents.len())]).collect();
        self.documents_batch(chosen, longest, padding)
    }

    fn documents_batch(&self, chosen: Vec<(u64, u64)>, longest: i64, padding: u32) -> Batch {
        let batch = chosen.len() as i64;
        let chosen: Vec<(u64, u64)> =
            chosen.into_iter().map(|(start, length)| (start, length.min(longest as u64))).collect();
        let width = chosen.iter().map(|(_, length)| *length).max().unwrap_or(1) as usize;
        let mut ids = Vec::with_capacity(batch as usize * width);
        let mut lengths = Vec::with_capacity(batch as usize);
        for (start, length) in chosen {
            self.copy(start, length as usize, &mut ids);
            ids.extend(std::iter::repeat_n(padding as i64, width - length as usize));
            lengths.push(length as i64);
        }
        Batch {
            tokens: Tensor::from_slice(&ids).view([batch, width as i64]),
            lengths: Some(Tensor::from_slice(&lengths)),
        }
    }
}

/// The shape of the batches a model trains on.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub batch: i64,
    /// Window length, or the longest document.
    pub window: i64,
    pub documents: bool,
    pub padding: u32,
}

/// Batches made ahead on their own thread, so the trainer never waits for one. Each
/// comes with the random state after it was drawn, which is what a checkpoint keeps.
pub struct Prefetcher {
    receiver: std::sync::mpsc::Receiver<(Batch, ChaCha8Rng)>,
}

impl Prefetcher {
    pub fn start(stream: TokenStream, mut rng: ChaCha8Rng, plan: Plan) -> Prefetcher {
        let (sender, receiver) = std::sync::mpsc::sync_channel(2);
        std::thread::Builder::new()
            .name("muse-batches".into())
            .spawn(move || loop {
                let batch = stream.batch(&mut rng, &plan);
                if sender.send((batch, rng.clone())).is_err() {
                    return;
                }
            })
            .expect("the batch thread starts");
        Prefetcher { receiver }
    }

    /// The next batch and the random state after it.
    pub fn next(&self) -> (Batch, ChaCha8Rng) {
        self.receiver.recv().expect("the batch thread runs as long as its receiver")
    }
}

/// The random source of batch positions, saved in checkpoints so a resumed run draws
/// the batches the uninterrupted run would have drawn.
pub fn batch_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(ids: Vec<u32>) -> Arc<TokenFile> {
        let end = ids.len() as u64;
        Arc::new(TokenFile::in_memory(vec![end], ids))
    }

    #[test]
    fn windows_cross_from_one_part_into_the_next() {
        let mut stream = TokenStream::default();
        stream.push(&file(vec![1, 2, 3]), 0..3);
        stream.push(&file(vec![4, 5, 6, 7]), 1..4);
        assert_eq!(stream.len(), 6);
        let mut out = Vec::new();
        stream.copy(1, 4, &mut out);
        assert_eq!(out, vec![2, 3, 5, 6]);
        assert_eq!(stream.to_vec(), vec![1, 2, 3, 5, 6, 7]);
    }

    #[test]
    fn touching_ranges_of_one_file_join() {
        let shared = file(vec![1, 2, 3, 4]);
        let mut stream = TokenStream::default();
        stream.push(&shared, 0..2);
        stream.push(&shared, 2..4);
        assert_eq!(stream.parts.len(), 1);
    }

    #[test]
    fn splitting_keeps_every_token_once() {
        let mut stream = TokenStream::default();
        stream.push(&file(vec![1, 2, 3]), 0..3);
        stream.push(&file(vec![4, 5]), 0..2);
        let (head, tail) = stream.split_at(4);
        assert_eq!(head.to_vec(), vec![1, 2, 3, 4]);
        assert_eq!(tail.to_vec(), vec![5]);
    }

    #[test]
    fn batches_are_windows_of_the_stream() {
        let stream = TokenStream::from_ids((0..100).collect());
        let mut rng = batch_rng(1);
        let batch = stream.sample(&mut rng, 4, 9, Device::Cpu);
        assert_eq!(batch.size(), vec![4, 10]);
        for row in 0..4 {
            let values: Vec<i64> = Vec::try_from(batch.get(row)).unwrap();
            assert!(values.windows(2).all(|w| w[1] == w[0] + 1), "{values:?}");
        }
    }
}
