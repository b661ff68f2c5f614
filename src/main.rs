use aerocast::cli::{self, Cli, EXIT_INPUT, EXIT_INTERNAL};
use aerocast::error::InputError;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    aerocast::pin_candle_threads();

    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(input) = e.downcast_ref::<InputError>() {
                eprintln!("error: {input}");
                ExitCode::from(EXIT_INPUT)
            } else {
                eprintln!("error: {e:#}");
                ExitCode::from(EXIT_INTERNAL)
            }
        }
    }
}
