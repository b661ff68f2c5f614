//! Printing to stdout that survives a closed pipe. `aerocast sweep … | head -1` closes stdout
//! after one line; `println!` would then panic and lose the rest of the command's work (the
//! sweep's report, say). Here a closed pipe only silences later output.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout has gone away; later prints are skipped.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout. A broken pipe is remembered and ignored; other errors too, since
/// nothing useful can be done about a stdout that cannot be written.
pub fn print(text: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if let Err(e) = written
        && e.kind() == ErrorKind::BrokenPipe
    {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Whether stdout was found closed.
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// `println!` through [`print`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::stdout::print(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`print`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout::print(&format!($($arg)*))
    };
}

/// `eprintln!` that ignores a closed stderr (`2>&1 | head`) instead of panicking.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
