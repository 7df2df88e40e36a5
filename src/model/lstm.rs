//! The character LSTM: embedding, stacked LSTM, dropout, linear head. In generation its
//! hidden state is carried from token to token, so a prompt is read once.

use tch::nn::{self, Module, VarStore};
use tch::{Device, Tensor};

use super::recurrent::{Carried, Stack};
use super::{LanguageModel, ModelSpec, State};

pub struct Lstm {
    vs: VarStore,
    spec: ModelSpec,
    embedding: nn::Embedding,
    stack: Stack,
    head: nn::Linear,
}

impl Lstm {
    pub fn new(spec: ModelSpec, device: Device) -> Lstm {
        let vs = VarStore::new(device);
        let root = vs.root();
        let embedding =
            nn::embedding(&root / "embedding", spec.vocab, spec.embedding, Default::default());
        let stack = Stack::new(&(&root / "lstm"), spec.embedding, spec.hidden, spec.layers);
        let head = nn::linear(&root / "head", spec.hidden, spec.vocab, Default::default());
        Lstm { vs, spec, embedding, stack, head }
    }

    /// Runs the LSTM over `[batch, time]` tokens from `state`; returns logits and the new state.
    fn run(&self, tokens: &Tensor, state: &Carried, train: bool) -> (Tensor, Carried) {
        let embedded = self.embedding.forward(tokens);
        let (output, state) = self.stack.run(&embedded, state, self.spec.dropout, train);
        let output = super::dropout(output, self.spec.dropout, train);
        (self.head.forward(&output), state)
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
        let state = self.stack.zero_state(tokens.size()[0], &self.embedding.ws);
        self.run(tokens, &state, train).0
    }

    fn start(&self, prompt: &Tensor, _latent: Option<&Tensor>) -> (Tensor, State) {
        let state = self.stack.zero_state(prompt.size()[0], &self.embedding.ws);
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
