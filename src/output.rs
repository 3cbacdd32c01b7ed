//! Standard output, for every command: the one place that writes to it.
//!
//! Writing through [`line`](fn@line), [`text`] or the [`outln!`](crate::outln) macro returns an error
//! instead of panicking as `println!` does: a reader that went away (`tidewatch results |
//! head -1`) gives an [`Error::Io`] that [`Error::is_closed_pipe`] recognises, so the command
//! ends quietly; any other write error (a full disk behind `> file`) ends it with exit
//! status 2 and the reason. `tests/it/output_guard.rs` keeps `println!` and `print!` out of the
//! rest of `src/`.

use crate::{Error, Result};
use std::io::Write;

/// Where a write error happened, as printed in its message.
pub const STDOUT: &str = "standard output";

/// The error of a failed write to standard output.
pub fn stdout_error(source: std::io::Error) -> Error {
    Error::Io {
        path: STDOUT.to_string(),
        source,
    }
}

/// Writes `text` to standard output as it is.
pub fn text(text: &str) -> Result<()> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(stdout_error)
}

/// Writes one formatted line (use [`outln!`](crate::outln)).
pub fn line(args: std::fmt::Arguments<'_>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(stdout_error)
}

/// Flushes standard output: the last write error (a full disk) shows here at the latest.
pub fn flush() -> Result<()> {
    std::io::stdout().lock().flush().map_err(stdout_error)
}

/// A writer on standard output for code that takes `&mut dyn Write`; its errors come back
/// as `io::Error`s, never as panics.
pub fn writer() -> std::io::Stdout {
    std::io::stdout()
}

/// Writes one line to standard output like `println!`, returning
/// [`Result`](crate::Result) instead of panicking: `outln!("{n} rows")?`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
