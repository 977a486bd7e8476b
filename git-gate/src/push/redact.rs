//! Secrets found in names (file paths, ref and tag names) are hidden wherever those names are shown.
//!
//! A path or ref name is echoed in rejection text and in the audit log; once
//! one holds a secret, every place it appears shows `[redacted]` instead of
//! the secret's bytes. The secrets themselves live only in memory.

/// What replaces a secret inside a shown name.
pub const MARK: &str = "[redacted]";

/// The secrets to hide, longest first so a secret containing another is hidden whole.
#[derive(Debug, Default, Clone)]
pub struct Redactions {
    secrets: Vec<String>,
}

impl Redactions {
    /// Hide `secret` from now on.
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() || self.secrets.iter().any(|s| s == secret) {
            return;
        }
        self.secrets.push(secret.to_string());
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Whether any name held a secret.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every known secret replaced by [`MARK`].
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MARK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_secret_first_and_every_occurrence() {
        let mut r = Redactions::default();
        r.add("abc");
        r.add("xabcx");
        r.add("");
        assert_eq!(
            r.apply("dir/xabcx/abc.txt (abc)"),
            "dir/[redacted]/[redacted].txt ([redacted])"
        );
        assert_eq!(r.apply("clean"), "clean");
    }
}
