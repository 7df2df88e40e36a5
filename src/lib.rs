//! Muse: train small text-generation models on your own writing, and play with them.
//!
//! The library holds the whole pipeline — corpus, vocabulary, models, training, sampling —
//! so every command works headless; the binary is a thin command line over it.

pub mod cli;
pub mod config;
pub mod corpus;
pub mod model;
pub mod run;
pub mod sample;
pub mod train;
pub mod vocab;
