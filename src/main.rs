use aerocast::cli::{self, Cli, EXIT_INPUT, EXIT_INTERNAL};
use aerocast::error::InputError;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // candle sizes each matmul's thread team from RAYON_NUM_THREADS, and when it is unset
    // re-reads /proc/cpuinfo on every matmul (measured: 2x slower epochs). GRU-sized matmuls are
    // below gemm's threshold for splitting anyway, so the speed comes from running jobs in
    // parallel, one thread each: pin candle to one thread. The GRU layer's own gemm calls
    // (src/train/gru.rs, nearly all the arithmetic) are single-threaded regardless; this still
    // governs candle's remaining matmuls (the linear head). Set before any
    // thread starts.
    // SAFETY: no other thread exists yet, so nothing reads the environment concurrently.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    // `AEROCAST_STORE=` (empty) means unset, as for most tools; clap would call it a missing
    // value. SAFETY: still single-threaded, as above.
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
