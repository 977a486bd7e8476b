//! The structural check a proposed Dockerfile gets before an operator reads it: it starts with FROM.
//!
//! Follows Docker's rules for what may precede `FROM`: parser directives
//! (`# syntax=`, `# escape=`, `# check=`) at the very top, comments, blank
//! lines and `ARG` instructions. Line continuations use the escape character
//! (`\` or the one `# escape=` chose); comment and blank lines inside a
//! continuation are skipped, as Docker does.

/// Check that the first instruction of `text` is `FROM <image>`; the error says where and why not.
pub fn check_starts_with_from(text: &str) -> Result<(), String> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut escape = '\\';
    let mut next = 0;
    while let Some((key, value)) = lines.get(next).and_then(|l| parser_directive(l)) {
        if key == "escape" {
            escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(format!(
                        "line {}: `# escape={}` must be `\\` or a backtick",
                        next + 1,
                        other.escape_default()
                    ));
                }
            };
        }
        next += 1;
    }
    while next < lines.len() {
        let start = next;
        let first = lines[next].trim_start();
        next += 1;
        if first.is_empty() || first.starts_with('#') {
            continue;
        }
        let instruction = logical_instruction(first, &lines, &mut next, escape);
        let mut words = instruction.split_whitespace();
        let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
        match keyword.as_str() {
            "ARG" => continue,
            "FROM" => {
                return if words.any(|w| !w.starts_with("--")) {
                    Ok(())
                } else {
                    Err(format!(
                        "line {}: FROM needs an image, as in `FROM debian:bookworm`",
                        start + 1
                    ))
                };
            }
            _ => {
                let shown: String = keyword.chars().take(40).collect();
                return Err(format!(
                    "line {}: the first instruction is `{}`; a Dockerfile must start with \
                     `FROM <image>` (only comments, parser directives and ARG may come before it)",
                    start + 1,
                    shown.escape_default()
                ));
            }
        }
    }
    Err("no FROM instruction: a Dockerfile must start with `FROM <image>`".into())
}

/// `# key=value` at the top of a Dockerfile, for the directives Docker knows.
fn parser_directive(line: &str) -> Option<(String, &str)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim().to_ascii_lowercase();
    matches!(key.as_str(), "syntax" | "escape" | "check").then(|| (key, value.trim()))
}

/// Join `first` with its continuation lines (advancing `next` past them).
fn logical_instruction(first: &str, lines: &[&str], next: &mut usize, escape: char) -> String {
    let mut joined = String::new();
    let mut current = first;
    loop {
        let trimmed = current.trim_end();
        let Some(body) = trimmed.strip_suffix(escape) else {
            joined.push_str(trimmed);
            return joined;
        };
        joined.push_str(body);
        joined.push(' ');
        loop {
            let Some(line) = lines.get(*next) else {
                return joined;
            };
            *next += 1;
            let t = line.trim_start();
            if !(t.is_empty() || t.starts_with('#')) {
                current = line;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_docker_accepts_before_from() {
        for ok in [
            "FROM debian:bookworm\nRUN true\n",
            "from debian\n",
            "\n\n# a comment\n  \nFROM debian\n",
            "# syntax=docker/dockerfile:1\n# escape=`\nARG BASE=debian\nFROM ${BASE}\n",
            "ARG A=1 \\\n    B=2\nFROM x\n",
            "ARG A \\\n# comment inside\n\n    B\nFROM x\n",
            "# escape=`\nARG A=c:\\ `\n  B=2\nFROM x\n",
            "FROM --platform=$BUILDPLATFORM golang AS build\n",
            "FROM \\\n  debian\n",
            "FROM debian\r\nRUN true\r\n",
        ] {
            check_starts_with_from(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
    }

    #[test]
    fn refuses_dockerfiles_without_a_leading_from() {
        let cases = [
            ("", "no FROM instruction"),
            ("# only a comment\n", "no FROM instruction"),
            (
                "RUN rm -rf /\nFROM x\n",
                "line 1: the first instruction is `RUN`",
            ),
            (
                "ARG A\n\nENV X=1\nFROM x\n",
                "line 3: the first instruction is `ENV`",
            ),
            ("FROM\n", "line 1: FROM needs an image"),
            ("FROM --platform=linux/amd64\n", "FROM needs an image"),
            ("ARG A \\\n", "no FROM instruction"),
            ("# escape=x\nFROM y\n", "line 1: `# escape=x` must be"),
            ("RUN \\\nFROM x\n", "line 1: the first instruction is `RUN`"),
        ];
        for (text, want) in cases {
            let e = check_starts_with_from(text).expect_err(text);
            assert!(e.contains(want), "{text:?}: got {e}, want {want}");
        }
    }

    #[test]
    fn directives_only_count_at_the_top() {
        // After a blank line `# escape=` is a comment, so the backslash still continues lines.
        let text = "\n# escape=`\nARG A=1 \\\n  B=2\nFROM x\n";
        check_starts_with_from(text).unwrap();
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "\\",
            "\\\n\\\n",
            "#",
            "# escape=",
            "\0\0FROM",
            "ＦＲＯＭ x",
            "FROM\u{0}x",
        ] {
            let _ = check_starts_with_from(text);
        }
    }
}
