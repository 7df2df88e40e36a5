//! A small decoder-only transformer: token and position embeddings, pre-norm blocks with
//! causal scaled-dot-product attention and a GELU MLP of four times the width, no biases,
//! a final LayerNorm, and a head tied to the token embedding. Generation keeps a
//! key/value cache, so each new token costs one position, not the whole context.

use tch::nn::{Init, VarStore};
use tch::{Device, Tensor};

use cache::Cache;

use super::{LanguageModel, ModelSpec, State};

mod cache;
mod host;
mod kernels;

pub struct Gpt {
    vs: VarStore,
    spec: ModelSpec,
    token_embedding: Tensor,
    position_embedding: Tensor,
    blocks: Vec<Block>,
    final_norm: Tensor,
}

/// One pre-norm transformer block; the query, key and value projections are one matrix.
struct Block {
    attention_norm: Tensor,
    qkv: Tensor,
    attention_out: Tensor,
    mlp_norm: Tensor,
    mlp_in: Tensor,
    mlp_out: Tensor,
}

impl Gpt {
    pub fn new(spec: ModelSpec, device: Device) -> Gpt {
        let vs = VarStore::new(device);
        let root = vs.root();
        let width = spec.embedding;
        let normal = Init::Randn { mean: 0.0, stdev: 0.02 };
        let residual = Init::Randn { mean: 0.0, stdev: 0.02 / (2.0 * spec.layers as f64).sqrt() };
        let ones = Init::Const(1.0);

        let token_embedding = root.var("token_embedding", &[spec.vocab, width], normal);
        let position_embedding = root.var("position_embedding", &[spec.context, width], normal);
        let blocks = (0..spec.layers)
            .map(|index| {
                let block = &root / format!("block{index}");
                Block {
                    attention_norm: block.var("attention_norm", &[width], ones),
                    qkv: block.var("qkv", &[3 * width, width], normal),
                    attention_out: block.var("attention_out", &[width, width], residual),
                    mlp_norm: block.var("mlp_norm", &[width], ones),
                    mlp_in: block.var("mlp_in", &[4 * width, width], normal),
                    mlp_out: block.var("mlp_out", &[width, 4 * width], residual),
                }
            })
            .collect();
        let final_norm = root.var("final_norm", &[width], ones);
        Gpt { vs, spec, token_embedding, position_embedding, blocks, final_norm }
    }

    fn norm(&self, x: &Tensor, weight: &Tensor) -> Tensor {
        x.layer_norm([self.spec.embedding], Some(weight), None::<&Tensor>, 1e-5, true)
    }

    /// Splits `[batch, time, 3 * width]` into queries, keys and values `[batch, heads, time, head_width]`.
    fn heads(&self, qkv: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (batch, time) = (qkv.size()[0], qkv.size()[1]);
        let heads = self.spec.heads;
        let head_width = self.spec.embedding / heads;
        // Split as PyTorch users do: in backward the three gradients are joined in one
        // copy, where selecting from a permuted view would scatter each into zeros.
        let width = self.spec.embedding;
        let parts = qkv.split(width, 2);
        let head = |t: &Tensor| t.view([batch, time, heads, head_width]).transpose(1, 2);
        (head(&parts[0]), head(&parts[1]), head(&parts[2]))
    }

    fn merge_heads(&self, y: &Tensor) -> Tensor {
        let (batch, time) = (y.size()[0], y.size()[2]);
        y.transpose(1, 2).reshape([batch, time, self.spec.embedding])
    }

    /// The MLP's hidden layer, before its output projection.
    fn mlp_hidden(&self, block: &Block, x: &Tensor) -> Tensor {
        self.norm(x, &block.mlp_norm).linear(&block.mlp_in, None::<Tensor>).gelu("none")
    }

    /// The residual `x + dropout(input · weightᵀ)`. Without dropout the projection and the
    /// sum are one matrix multiply-add, which saves a pass over the activations both ways.
    fn add_projection(&self, x: &Tensor, input: &Tensor, weight: &Tensor, train: bool) -> Tensor {
        if train && self.spec.dropout > 0.0 {
            let projected = input.linear(weight, None::<Tensor>);
            return x + super::dropout(projected, self.spec.dropout, true);
        }
        let size = x.size();
        let inner = weight.size()[1];
        x.reshape([-1, self.spec.embedding])
            .addmm(&input.reshape([-1, inner]), &weight.tr())
            .view(size.as_slice())
    }

    /// One pre-norm block after attention: the attention's projection and the MLP, each
    /// added to the residual stream.
    fn finish_block(&self, block: &Block, x: &Tensor, attended: &Tensor, train: bool) -> Tensor {
        let x = self.add_projection(x, attended, &block.attention_out, train);
        let hidden = self.mlp_hidden(block, &x);
        self.add_projection(&x, &hidden, &block.mlp_out, train)
    }

    fn embed(&self, tokens: &Tensor, first_position: i64, train: bool) -> Tensor {
        let time = tokens.size()[1];
        let positions = self.position_embedding.narrow(0, first_position, time);
        super::dropout(
            Tensor::embedding(&self.token_embedding, tokens, -1, false, false) + positions,
            self.spec.dropout,
            train,
        )
    }

    fn head(&self, x: &Tensor) -> Tensor {
        self.norm(x, &self.final_norm).linear(&self.token_embedding, None::<Tensor>)
    }

    /// The logits at every position of `tokens`, read from position 0; with a cache, each
    /// block's keys and values are written into it as well.
    fn forward(&self, tokens: &Tensor, train: bool, mut cache: Option<&mut Cache>) -> Tensor {
        let dropout = if train { self.spec.dropout } else { 0.0 };
        let mut x = self.embed(tokens, 0, train);
        for (index, block) in self.blocks.iter().enumerate() {
            let qkv = self.norm(&x, &block.attention_norm).linear(&block.qkv, None::<Tensor>);
            let (q, k, v) = self.heads(&qkv);
            if let Some(cache) = cache.as_deref_mut() {
                cache.keep(index, &k, &v);
            }
            let y = Tensor::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                None::<Tensor>,
                dropout,
                true,
                None,
                false,
            );
            x = self.finish_block(block, &x, &self.merge_heads(&y), train);
        }
        self.head(&x)
    }
}

impl LanguageModel for Gpt {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn var_store(&self) -> &VarStore {
        &self.vs
    }

    fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    fn logits(&self, tokens: &Tensor, train: bool) -> Tensor {
        self.forward(tokens, train, None)
    }

    fn start(&self, prompt: &Tensor, _latent: Option<&Tensor>) -> (Tensor, State) {
        self.begin(prompt, true)
    }

    fn step(&self, tokens: &Tensor, state: &mut State) -> Tensor {
        tch::no_grad(|| self.step_cached(tokens, state.get_mut::<Cache>()))
    }
}
