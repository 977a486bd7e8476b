//! A wrapper that keeps credential values out of every log line and error.

use std::fmt;

/// A value that must never be printed; `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wrap a sensitive value.
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The value itself, for the one place that sends it to an origin.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(
            format!("{s} {s:?} {s:#?}"),
            "[redacted] [redacted] [redacted]"
        );
        assert_eq!(s.expose(), "hunter2");
    }
}
