//! The `muse` command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
