//! The variational LSTM: an encoder reads a whole document into the mean and log-variance
//! of a latent code `z`; a decoder conditioned on `z` (its initial state and an input at
//! every step) writes the document back. The loss is reconstruction plus beta times the
//! KL divergence from the prior, beta rising from 0 to 1 over `kl_warmup_steps`, and
//! decoder inputs are hidden at random (`input_dropout`) so the decoder has to lean on `z`.

use tch::nn::{self, Module, VarStore};
use tch::{Device, Kind, Reduction, Tensor};

use super::recurrent::{Carried, Stack};
use super::{Batch, LanguageModel, LatentStats, Loss, ModelSpec, State};

/// A latent unit counts as active when its posterior mean varies across documents by
/// more than this (the usual threshold, after Burda et al.).
const ACTIVE_VARIANCE: f64 = 0.01;

pub struct Vae {
    vs: VarStore,
    spec: ModelSpec,
    embedding: nn::Embedding,
    encoder: Stack,
    to_mean: nn::Linear,
    to_log_variance: nn::Linear,
    to_state: nn::Linear,
    decoder: Stack,
    head: nn::Linear,
}

/// What generation carries: the decoder state and the code it decodes.
struct Decoding {
    state: Carried,
    z: Tensor,
}

/// One pass over a batch of documents.
struct Pass {
    logits: Tensor,
    mean: Tensor,
    log_variance: Tensor,
}

impl Vae {
    pub fn new(spec: ModelSpec, device: Device) -> Vae {
        let vs = VarStore::new(device);
        let root = vs.root();
        let (width, hidden, latent, layers) =
            (spec.embedding, spec.hidden, spec.latent, spec.layers);
        let embedding = nn::embedding(&root / "embedding", spec.vocab, width, Default::default());
        let encoder = Stack::new(&(&root / "encoder"), width, hidden, layers);
        let to_mean = nn::linear(&root / "to_mean", hidden, latent, Default::default());
        let to_log_variance =
            nn::linear(&root / "to_log_variance", hidden, latent, Default::default());
        let to_state =
            nn::linear(&root / "to_state", latent, 2 * layers * hidden, Default::default());
        let decoder = Stack::new(&(&root / "decoder"), width + latent, hidden, layers);
        let head = nn::linear(&root / "head", hidden, spec.vocab, Default::default());
        Vae { vs, spec, embedding, encoder, to_mean, to_log_variance, to_state, decoder, head }
    }

    /// The posterior mean and log-variance of documents `[batch, time]` with their lengths.
    fn posterior(&self, tokens: &Tensor, lengths: &Tensor) -> (Tensor, Tensor) {
        let embedded = self.embedding.forward(tokens);
        let state = self.encoder.zero_state(tokens.size()[0], &embedded);
        let (outputs, _) = self.encoder.run(&embedded, &state, self.spec.dropout, false);
        let last =
            (lengths - 1).clamp_min(0).view([-1, 1, 1]).expand([-1, 1, self.spec.hidden], false);
        let summary = outputs.gather(1, &last, false).squeeze_dim(1);
        (self.to_mean.forward(&summary), self.to_log_variance.forward(&summary).clamp(-10.0, 10.0))
    }

    /// The decoder's starting state for codes `z` `[batch, latent]`.
    fn initial_state(&self, z: &Tensor) -> Carried {
        let (layers, hidden) = (self.spec.layers, self.spec.hidden);
        let batch = z.size()[0];
        let both =
            self.to_state.forward(z).tanh().view([batch, 2, layers, hidden]).permute([1, 2, 0, 3]);
        Carried { h: both.get(0).contiguous(), c: both.get(1).contiguous() }
    }

    /// Decodes input tokens `[batch, time]` from `state`, `z` joined to every input.
    fn decode(
        &self,
        inputs: &Tensor,
        z: &Tensor,
        state: &Carried,
        train: bool,
    ) -> (Tensor, Carried) {
        let mut embedded = self.embedding.forward(inputs);
        if train && self.spec.input_dropout > 0.0 {
            let (batch, time) = (inputs.size()[0], inputs.size()[1]);
            let keep = Tensor::rand([batch, time, 1], (Kind::Float, inputs.device()))
                .ge(self.spec.input_dropout);
            embedded *= keep.to_kind(Kind::Float);
        }
        let time = inputs.size()[1];
        let codes = z.unsqueeze(1).expand([-1, time, -1], false);
        let (outputs, state) =
            self.decoder.run(&Tensor::cat(&[embedded, codes], 2), state, self.spec.dropout, train);
        (self.head.forward(&super::dropout(outputs, self.spec.dropout, train)), state)
    }

    /// Encodes documents, draws codes, and decodes the documents back from them. The
    /// decoder reads the end-of-document token first, then each token before the one it
    /// predicts.
    fn pass(&self, batch: &Batch, train: bool) -> Pass {
        let tokens = &batch.tokens;
        let lengths = batch.lengths.as_ref().expect("the VAE trains on whole documents");
        let (mean, log_variance) = self.posterior(tokens, lengths);
        let noise = Tensor::randn_like(&mean);
        let z = &mean + (&log_variance * 0.5).exp() * noise;

        let time = tokens.size()[1];
        let start = Tensor::full_like(&tokens.select(1, 0), super::END_OF_DOCUMENT_ID);
        let inputs = Tensor::cat(&[start.unsqueeze(1), tokens.narrow(1, 0, time - 1)], 1);
        let (logits, _) = self.decode(&inputs, &z, &self.initial_state(&z), train);
        Pass { logits, mean, log_variance }
    }

    /// Reconstruction loss per token and KL divergence per token of a pass.
    fn terms(&self, pass: &Pass, batch: &Batch) -> (Tensor, Tensor) {
        let tokens = &batch.tokens;
        let lengths = batch.lengths.as_ref().expect("the VAE trains on whole documents");
        let time = tokens.size()[1];
        let positions = Tensor::arange(time, (Kind::Int64, tokens.device())).unsqueeze(0);
        let valid = positions.lt_tensor(&lengths.unsqueeze(1));
        let targets = tokens.where_self(&valid, &Tensor::full_like(tokens, -100));
        let vocab = self.spec.vocab;
        let reconstruction = pass.logits.view([-1, vocab]).cross_entropy_loss::<Tensor>(
            &targets.view([-1]),
            None,
            Reduction::Mean,
            -100,
            0.0,
        );
        let kl_per_document =
            (pass.mean.square() + pass.log_variance.exp() - &pass.log_variance - 1.0)
                .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
                * 0.5;
        let tokens_in_batch = lengths.sum(Kind::Float).clamp_min(1.0);
        let kl = kl_per_document.sum(Kind::Float) / tokens_in_batch;
        (reconstruction, kl)
    }

    fn beta(&self, step: u64) -> f64 {
        if self.spec.kl_warmup_steps <= 0 {
            1.0
        } else {
            (step as f64 / self.spec.kl_warmup_steps as f64).min(1.0)
        }
    }
}

impl LanguageModel for Vae {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn var_store(&self) -> &VarStore {
        &self.vs
    }

    fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    fn reads_documents(&self) -> bool {
        true
    }

    fn logits(&self, tokens: &Tensor, train: bool) -> Tensor {
        let lengths =
            Tensor::full([tokens.size()[0]], tokens.size()[1], (Kind::Int64, tokens.device()));
        let (mean, _) = self.posterior(tokens, &lengths);
        self.decode(tokens, &mean, &self.initial_state(&mean), train).0
    }

    fn loss(&self, batch: &Batch, train: bool, step: u64) -> Loss {
        let pass = self.pass(batch, train);
        let (reconstruction, kl) = self.terms(&pass, batch);
        let beta = if train { self.beta(step) } else { 1.0 };
        let total = &reconstruction + &kl * beta;
        Loss { total, parts: vec![("reconstruction", reconstruction), ("kl", kl)] }
    }

    fn start(&self, prompt: &Tensor, latent: Option<&Tensor>) -> (Tensor, State) {
        let batch = prompt.size()[0];
        let z = match latent {
            Some(z) => z.to_device(prompt.device()).to_kind(Kind::Float),
            None => Tensor::zeros([batch, self.spec.latent], (Kind::Float, prompt.device())),
        };
        let (logits, state) = self.decode(prompt, &z, &self.initial_state(&z), false);
        (super::last_position(&logits), State::new(Decoding { state, z }))
    }

    fn step(&self, tokens: &Tensor, state: &mut State) -> Tensor {
        let decoding = state.get_mut::<Decoding>();
        let (logits, next) = self.decode(&tokens.unsqueeze(1), &decoding.z, &decoding.state, false);
        decoding.state = next;
        super::last_position(&logits)
    }

    fn latent_size(&self) -> Option<i64> {
        Some(self.spec.latent)
    }

    fn encode(&self, tokens: &Tensor, lengths: &Tensor) -> Option<(Tensor, Tensor)> {
        Some(self.posterior(tokens, lengths))
    }

    fn latent_stats(&self, batch: &Batch, step: u64) -> Option<LatentStats> {
        let pass = self.pass(batch, false);
        let (reconstruction, kl) = self.terms(&pass, batch);
        let spread = pass.mean.var_dim([0i64].as_slice(), false, false);
        let active_units = spread.gt(ACTIVE_VARIANCE).sum(Kind::Int64).int64_value(&[]) as u64;
        Some(LatentStats {
            reconstruction: reconstruction.double_value(&[]),
            kl: kl.double_value(&[]),
            beta: self.beta(step),
            active_units,
        })
    }
}
