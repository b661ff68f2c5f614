//! Errors the user can fix by changing their input. They map to exit status 2, and are always
//! raised before the store is opened, so bad input never writes anything.

use std::fmt;
use std::path::Path;

/// A problem in a spec, a data file or a flag, located as precisely as we can.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    /// `file:line`, `file:line:column`, or `file` alone when no line applies.
    pub location: String,
    pub message: String,
}

impl InputError {
    pub fn in_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            location: file.display().to_string(),
            message: message.into(),
        }
    }

    pub fn at_line(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Self {
            location: format!("{}:{line}", file.display()),
            message: message.into(),
        }
    }

    /// An error that concerns a flag or environment rather than a file.
    pub fn usage(what: &str, message: impl Into<String>) -> Self {
        Self {
            location: what.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for InputError {}

/// 1-based line number of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
