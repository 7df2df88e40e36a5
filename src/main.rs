//! The `muse` command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if std::env::var_os("MUSE_NO_MALLOPT").is_none() {
        tune_allocator();
    }
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("MUSE_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    match muse::cli::run(muse::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps freed memory in the process instead of returning it to the system after every
/// large tensor: libtorch frees and allocates the same large buffers at every training
/// step, and with glibc's defaults each one is a fresh mapping whose pages fault in again.
fn tune_allocator() {
    // SAFETY: mallopt only changes allocator thresholds; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
