//! The character LSTM: embedding, stacked LSTM, dropout, linear head. In generation its
//! hidden state is carried from token to token, so a prompt is read once.

use tch::nn::{self, Init, Module, VarStore};
use tch::{Device, Kind, Tensor};

use super::{LanguageModel, ModelSpec, State};

pub struct Lstm {
    vs: VarStore,
    spec: ModelSpec,
    embedding: nn::Embedding,
    /// Per layer: input weights, hidden weights, input bias, hidden bias.
    weights: Vec<Tensor>,
    head: nn::Linear,
}

/// The hidden and cell states `[layers, batch, hidden]`.
struct Carried {
    h: Tensor,
    c: Tensor,
}

impl Lstm {
    pub fn new(spec: ModelSpec, device: Device) -> Lstm {
        let vs = VarStore::new(device);
        let root = vs.root();
        let embedding =
            nn::embedding(&root / "embedding", spec.vocab, spec.embedding, Default::default());

        // The same uniform initialisation PyTorch gives nn.LSTM.
        let bound = 1.0 / (spec.hidden as f64).sqrt();
        let init = Init::Uniform { lo: -bound, up: bound };
        let rnn = &root / "lstm";
        let mut weights = Vec::new();
        for layer in 0..spec.layers {
            let input = if layer == 0 { spec.embedding } else { spec.hidden };
            let gates = 4 * spec.hidden;
            weights.push(rnn.var(&format!("weight_ih_l{layer}"), &[gates, input], init));
            weights.push(rnn.var(&format!("weight_hh_l{layer}"), &[gates, spec.hidden], init));
            weights.push(rnn.var(&format!("bias_ih_l{layer}"), &[gates], init));
            weights.push(rnn.var(&format!("bias_hh_l{layer}"), &[gates], init));
        }
        let head = nn::linear(&root / "head", spec.hidden, spec.vocab, Default::default());
        Lstm { vs, spec, embedding, weights, head }
    }

    fn zero_state(&self, batch: i64) -> Carried {
        let zeros = Tensor::zeros(
            [self.spec.layers, batch, self.spec.hidden],
            (Kind::Float, self.vs.device()),
        );
        Carried { h: zeros.shallow_clone(), c: zeros }
    }

    /// Runs the LSTM over `[batch, time]` tokens from `state`; returns logits and the new state.
    fn run(&self, tokens: &Tensor, state: &Carried, train: bool) -> (Tensor, Carried) {
        let embedded = self.embedding.forward(tokens);
        let (output, h, c) = embedded.lstm(
            &[&state.h, &state.c],
            &self.weights.iter().collect::<Vec<_>>(),
            true,
            self.spec.layers,
            self.spec.dropout,
            train,
            false,
            true,
        );
        let output = output.dropout(self.spec.dropout, train);
        (self.head.forward(&output), Carried { h, c })
    }
}

impl LanguageModel for Lstm {
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
        let state = self.zero_state(tokens.size()[0]);
        self.run(tokens, &state, train).0
    }

    fn start(&self, prompt: &Tensor, _latent: Option<&Tensor>) -> (Tensor, State) {
        let state = self.zero_state(prompt.size()[0]);
        let (logits, state) = self.run(prompt, &state, false);
        (super::last_position(&logits), State::new(state))
    }

    fn step(&self, tokens: &Tensor, state: &mut State) -> Tensor {
        let carried = state.get_mut::<Carried>();
        let (logits, next) = self.run(&tokens.unsqueeze(1), carried, false);
        *carried = next;
        super::last_position(&logits)
    }
}
