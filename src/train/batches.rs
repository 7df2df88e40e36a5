//! Training and evaluation batches: random windows of the token stream.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// One split's tokens as a tensor on the host.
pub struct TokenStream {
    tokens: Tensor,
    len: i64,
}

impl TokenStream {
    pub fn new(ids: &[u32]) -> TokenStream {
        let ids: Vec<i32> = ids.iter().map(|id| *id as i32).collect();
        TokenStream { len: ids.len() as i64, tokens: Tensor::from_slice(&ids) }
    }

    pub fn len(&self) -> i64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The longest window a batch from this stream can have, at most `context`.
    pub fn window(&self, context: i64) -> i64 {
        context.min(self.len - 1)
    }

    /// `batch` windows of `window + 1` tokens starting at random places, on `device`.
    pub fn sample(&self, rng: &mut ChaCha8Rng, batch: i64, window: i64, device: Device) -> Tensor {
        let starts: Vec<i64> =
            (0..batch).map(|_| rng.random_range(0..=self.len - window - 1)).collect();
        let offsets = Tensor::arange(window + 1, (Kind::Int64, Device::Cpu));
        let index = (Tensor::from_slice(&starts).unsqueeze(1) + offsets.unsqueeze(0)).view([-1]);
        self.tokens
            .index_select(0, &index)
            .view([batch, window + 1])
            .to_kind(Kind::Int64)
            .to_device(device)
    }
}

/// The random source of batch positions, saved in checkpoints so a resumed run draws
/// the batches the uninterrupted run would have drawn.
pub fn batch_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
