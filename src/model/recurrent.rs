//! The stacked LSTM both recurrent models use: its weights, and a run over a sequence
//! from a given state.

use tch::nn::{Init, Path};
use tch::{Kind, Tensor};

/// The weights of a stacked LSTM, initialised as PyTorch initialises `nn.LSTM`.
pub struct Stack {
    /// Per layer: input weights, hidden weights, input bias, hidden bias.
    weights: Vec<Tensor>,
    layers: i64,
    hidden: i64,
}

/// The hidden and cell states `[layers, batch, hidden]`.
pub struct Carried {
    pub h: Tensor,
    pub c: Tensor,
}

impl Stack {
    pub fn new(path: &Path, input: i64, hidden: i64, layers: i64) -> Stack {
        let bound = 1.0 / (hidden as f64).sqrt();
        let init = Init::Uniform { lo: -bound, up: bound };
        let mut weights = Vec::new();
        for layer in 0..layers {
            let width = if layer == 0 { input } else { hidden };
            let gates = 4 * hidden;
            weights.push(path.var(&format!("weight_ih_l{layer}"), &[gates, width], init));
            weights.push(path.var(&format!("weight_hh_l{layer}"), &[gates, hidden], init));
            weights.push(path.var(&format!("bias_ih_l{layer}"), &[gates], init));
            weights.push(path.var(&format!("bias_hh_l{layer}"), &[gates], init));
        }
        Stack { weights, layers, hidden }
    }

    pub fn zero_state(&self, batch: i64, like: &Tensor) -> Carried {
        let zeros = Tensor::zeros([self.layers, batch, self.hidden], (Kind::Float, like.device()));
        Carried { h: zeros.shallow_clone(), c: zeros }
    }

    /// Runs over `[batch, time, input]` from `state`; returns the outputs
    /// `[batch, time, hidden]` and the state after the last step.
    pub fn run(
        &self,
        input: &Tensor,
        state: &Carried,
        dropout: f64,
        train: bool,
    ) -> (Tensor, Carried) {
        let weights: Vec<&Tensor> = self.weights.iter().collect();
        let (output, h, c) = input.lstm(
            &[&state.h, &state.c],
            &weights,
            true,
            self.layers,
            dropout,
            train,
            false,
            true,
        );
        (output, Carried { h, c })
    }
}
