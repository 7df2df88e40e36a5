//! Training: the engine thread (commands in, records out), the optimiser and its
//! schedule, batching, and preparing a corpus as token ids.

mod batches;
mod dataset;
mod engine;
mod optim;
mod schedule;

pub use batches::{batch_rng, TokenStream};
pub use dataset::{count_characters, prepare, Dataset, PrepareError, Report};
pub use engine::{spawn, Command, EngineState, Event, Handle, Job, Summary};
pub use optim::{AdamW, AdamWConfig};
pub use schedule::Schedule;
