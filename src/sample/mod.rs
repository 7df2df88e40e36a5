//! Sampling: the chain that reshapes each next-token distribution, and the generator
//! that draws tokens from it one at a time.

mod chain;
mod generate;

pub use chain::{distribution, draw, Settings};
pub use generate::{generate, Request};
