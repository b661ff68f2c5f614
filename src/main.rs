use aerocast::cli::{self, Cli, EXIT_INPUT, EXIT_INTERNAL};
use aerocast::error::InputError;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    aerocast::pin_candle_threads();
    // `AEROCAST_STORE=` (empty) means unset, as for most tools; clap would call it a missing
    // value. SAFETY: no other thread exists yet, so nothing reads the environment concurrently.
    if std::env::var_os("AEROCAST_STORE").is_some_and(|v| v.is_empty()) {
        unsafe { std::env::remove_var("AEROCAST_STORE") };
    }

    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(input) = e.downcast_ref::<InputError>() {
                aerocast::errln!("error: {input}");
                ExitCode::from(EXIT_INPUT)
            } else {
                aerocast::errln!("error: {e:#}");
                ExitCode::from(EXIT_INTERNAL)
            }
        }
    }
}
