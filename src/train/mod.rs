//! Training: the engine thread (commands in, records out), the optimiser and its
//! schedule, batching, and preparing a corpus as token ids.

mod batches;
mod dataset;
mod device;
mod engine;
mod fused;
mod optim;
mod schedule;

pub use batches::{batch_rng, Plan, Prefetcher, TokenStream};
pub use dataset::{count_characters, prepare, prepare_with, Dataset, PrepareError, Report};
pub use device::device_from;
pub use engine::{spawn, Command, EngineState, Event, Handle, Job, Summary};
pub use optim::{AdamW, AdamWConfig};
pub use schedule::Schedule;
