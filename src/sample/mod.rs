//! Sampling: the chain that reshapes each next-token distribution, the shapes a text can
//! be held to, and the generator that draws tokens one at a time, on the caller's thread
//! or on a worker whose settings can change while it streams.

mod chain;
mod generate;
mod settings;
mod shape;
mod worker;

pub use chain::{distribution, draw, penalised, repeat_lengths, softmax_of, top};
pub use generate::{
    generate, generate_with, Candidate, Control, Ended, Generated, Observer, Quiet, Report,
    Request, REPORTED,
};
pub use settings::{Resolved, Settings};
pub use shape::{Allowed, Constraint, Forced, Form, Shape};
pub use worker::{Generator, Message};
