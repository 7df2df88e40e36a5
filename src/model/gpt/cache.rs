//! Generation with a key/value cache: the prompt is read once, then each new token costs one
//! position. On the CPU a step runs in plain Rust over the model's own memory (`host.rs`),
//! since libtorch's per-call overhead outweighs the arithmetic of one position; elsewhere it
//! runs as libtorch operations.

use tch::{Device, Kind, Tensor};

use super::Gpt;
use crate::model::State;

/// Per block, the keys and values of every position so far, `[batch, heads, context,
/// head_width]`, filled up to `length`; and the tokens read at the last fill and those
/// stepped since, so the window can slide when the context is full.
pub(super) struct Cache {
    pub(super) keys: Vec<Tensor>,
    pub(super) values: Vec<Tensor>,
    pub(super) length: i64,
    tokens: Tensor,
    stepped: Vec<Tensor>,
    on_host: bool,
}

impl Cache {
    /// Keeps block `index`'s keys and values `[batch, heads, time, head_width]` of the
    /// positions from 0.
    pub(super) fn keep(&mut self, index: usize, keys: &Tensor, values: &Tensor) {
        let time = keys.size()[2];
        self.keys[index].narrow(2, 0, time).copy_(keys);
        self.values[index].narrow(2, 0, time).copy_(values);
    }
}

impl Gpt {
    /// Starts a generation whose steps run as libtorch operations even on the CPU, as they
    /// do on a GPU; `start` steps in plain Rust when the model is on the CPU. Tests hold
    /// both to the full forward pass.
    pub fn start_with_libtorch_steps(&self, prompt: &Tensor) -> (Tensor, State) {
        self.begin(prompt, false)
    }

    /// Reads the prompt (its last `context` tokens) into a fresh cache. Generation never
    /// trains, so the cache is filled and stepped outside autograd.
    pub(super) fn begin(&self, prompt: &Tensor, on_host: bool) -> (Tensor, State) {
        let (batch, time) = (prompt.size()[0], prompt.size()[1]);
        let keep = time.min(self.spec.context);
        let mut cache = self.empty_cache(batch, on_host);
        let logits = tch::no_grad(|| self.fill(&prompt.narrow(1, time - keep, keep), &mut cache));
        (logits, State::new(cache))
    }

    /// A cache for `batch` sequences, with the prompt's positions still to be filled; its
    /// steps run on the host when `on_host` and the model lives there.
    fn empty_cache(&self, batch: i64, on_host: bool) -> Cache {
        let head_width = self.spec.embedding / self.spec.heads;
        let shape = [batch, self.spec.heads, self.spec.context, head_width];
        let device = self.vs.device();
        let zeros = || Tensor::zeros(shape, (Kind::Float, device));
        Cache {
            keys: self.blocks.iter().map(|_| zeros()).collect(),
            values: self.blocks.iter().map(|_| zeros()).collect(),
            length: 0,
            tokens: Tensor::zeros([batch, 0], (Kind::Int64, device)),
            stepped: Vec::new(),
            on_host: on_host && device == Device::Cpu,
        }
    }

    /// Reads `tokens` `[batch, time]` into the cache from position 0 and gives the logits
    /// after the last of them.
    pub(super) fn fill(&self, tokens: &Tensor, cache: &mut Cache) -> Tensor {
        cache.length = tokens.size()[1];
        cache.tokens = tokens.shallow_clone();
        cache.stepped.clear();
        super::super::last_position(&self.forward(tokens, false, Some(cache)))
    }

    /// Reads one token per sequence, `[batch]` or `[batch, 1]`, and gives the next logits.
    /// When the context is full the window slides: the later half is read again.
    pub(super) fn step_cached(&self, tokens: &Tensor, cache: &mut Cache) -> Tensor {
        let tokens = tokens.view([-1]);
        cache.stepped.push(tokens.view([-1, 1]));
        if cache.length == self.spec.context {
            let mut all = vec![cache.tokens.shallow_clone()];
            all.append(&mut cache.stepped);
            let all = Tensor::cat(&all, 1);
            let keep = self.spec.context / 2;
            return self.fill(&all.narrow(1, all.size()[1] - keep, keep), cache);
        }

        let logits = if cache.on_host {
            self.step_on_host(&Vec::<i64>::try_from(&tokens).unwrap(), cache)
        } else {
            self.step_on_device(&tokens, cache)
        };
        cache.length += 1;
        logits
    }

    /// One position as libtorch operations, with `x` kept `[batch, width]` throughout.
    fn step_on_device(&self, tokens: &Tensor, cache: &mut Cache) -> Tensor {
        let position = cache.length;
        let (batch, heads, width) = (tokens.size()[0], self.spec.heads, self.spec.embedding);
        let mut x = Tensor::embedding(&self.token_embedding, tokens, -1, false, false)
            + self.position_embedding.get(position);
        for (index, block) in self.blocks.iter().enumerate() {
            // One position: [batch, 3 * width] is already [batch, 3, heads, 1, head_width].
            let qkv = self.norm(&x, &block.attention_norm).linear(&block.qkv, None::<Tensor>);
            let split = qkv.view([batch, 3, heads, 1, width / heads]).unbind(1);
            cache.keys[index].narrow(2, position, 1).copy_(&split[1]);
            cache.values[index].narrow(2, position, 1).copy_(&split[2]);
            let y = Tensor::scaled_dot_product_attention(
                &split[0],
                &cache.keys[index].narrow(2, 0, position + 1),
                &cache.values[index].narrow(2, 0, position + 1),
                None::<Tensor>,
                0.0,
                false,
                None,
                false,
            );
            x = x.addmm(&y.reshape([batch, width]), &block.attention_out.tr());
            x = x.addmm(&self.mlp_hidden(block, &x), &block.mlp_out.tr());
        }
        self.head(&x)
    }
}
