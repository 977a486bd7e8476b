//! Deterministic data for bench/git-gate.sh: a repository history, a scanner corpus, a large change.
//!
//! ```text
//! bench_data repo <commits> <files>       git fast-import stream on stdout
//! bench_data corpus <megabytes>           source-like text on stdout (a few fake secrets planted)
//! bench_data change <dir> <files> <seed>  write <files> new source files under <dir>
//! ```

use std::io::{self, BufWriter, Write};
use std::path::Path;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const IDENTS: &[&str] = &[
    "value", "config", "buffer", "index", "result", "items", "parser", "error", "options",
    "handler", "request", "response", "state", "builder", "length", "offset", "count", "cache",
    "client", "server", "path", "name", "entry", "node", "table", "record", "session", "context",
    "stream", "reader", "writer", "limit", "timeout",
];
const KEYWORDS: &[&str] = &[
    "let", "fn", "if", "else", "return", "match", "for", "while", "impl", "pub", "use",
];
/// Words secret scanners key on, used sparingly as real code does.
const SENSITIVE: &[&str] = &[
    "token",
    "password",
    "secret",
    "api_key",
    "https://example.com/docs",
];

/// One line of plausible source code.
fn line(rng: &mut Rng, out: &mut String) {
    let indent = rng.below(4) * 4;
    out.extend(std::iter::repeat_n(' ', indent));
    match rng.below(10) {
        0 => {
            out.push_str("// ");
            for _ in 0..rng.below(8) + 3 {
                out.push_str(rng.pick(IDENTS));
                out.push(' ');
            }
        }
        1 => {
            out.push_str(rng.pick(KEYWORDS));
            out.push_str(" {");
        }
        2 => out.push('}'),
        _ => {
            let sensitive = rng.below(150) == 0;
            out.push_str("let ");
            out.push_str(if sensitive {
                rng.pick(SENSITIVE)
            } else {
                rng.pick(IDENTS)
            });
            out.push('_');
            out.push_str(rng.pick(IDENTS));
            out.push_str(" = ");
            out.push_str(rng.pick(IDENTS));
            out.push_str(".get(");
            out.push_str(&(rng.next() % 10_000).to_string());
            out.push_str(", \"");
            out.push_str(rng.pick(IDENTS));
            out.push_str("\");");
        }
    }
    out.push('\n');
}

fn file_text(seed: u64, lines: usize) -> String {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut s = String::new();
    for _ in 0..lines {
        line(&mut rng, &mut s);
    }
    s
}

fn path_of(i: usize) -> String {
    format!("src/mod{:03}/file{i:05}.rs", i % 97)
}

fn data(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    writeln!(w, "data {}", bytes.len())?;
    w.write_all(bytes)?;
    writeln!(w)
}

fn repo(commits: usize, files: usize) -> io::Result<()> {
    let mut w = BufWriter::new(io::stdout().lock());
    let mut rng = Rng(42);
    let mut mark = 0usize;
    let mut last_commit = 0usize;
    for c in 0..commits {
        let touched: Vec<usize> = if c == 0 {
            (0..files).collect()
        } else {
            (0..rng.below(3) + 1).map(|_| rng.below(files)).collect()
        };
        let mut blobs = Vec::new();
        for &f in &touched {
            mark += 1;
            writeln!(w, "blob\nmark :{mark}")?;
            data(
                &mut w,
                file_text((c * files + f) as u64 + 1, 40 + (f % 80)).as_bytes(),
            )?;
            blobs.push((mark, path_of(f)));
        }
        mark += 1;
        writeln!(w, "commit refs/heads/main\nmark :{mark}")?;
        let ts = 1_700_000_000 + c * 600;
        writeln!(w, "author Bench <bench@example.invalid> {ts} +0000")?;
        writeln!(w, "committer Bench <bench@example.invalid> {ts} +0000")?;
        data(
            &mut w,
            format!("change {c}: update {} file(s)\n", touched.len()).as_bytes(),
        )?;
        if c > 0 {
            writeln!(w, "from :{last_commit}")?;
        }
        for (m, p) in blobs {
            writeln!(w, "M 100644 :{m} {p}")?;
        }
        writeln!(w)?;
        last_commit = mark;
    }
    w.flush()
}

fn corpus(megabytes: usize) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let target = megabytes * 1_000_000;
    let mut written = 0;
    let mut chunk = 0u64;
    while written < target {
        let mut text = file_text(chunk + 7, 2000);
        if chunk.is_multiple_of(50) {
            let fake: String = (0..36)
                .map(|i| (b'a' + ((chunk as u8).wrapping_add(i * 7)) % 26) as char)
                .collect();
            text.push_str(&format!("const GITHUB_TOKEN: &str = \"ghp_{fake}\";\n"));
        }
        w.write_all(text.as_bytes())?;
        written += text.len();
        chunk += 1;
    }
    w.flush()
}

fn change(dir: &Path, files: usize, seed: u64) -> io::Result<()> {
    for i in 0..files {
        let path = dir.join(format!("generated/part{:02}/gen{i:05}.rs", i % 50));
        std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
        std::fs::write(path, file_text(seed * 1_000_003 + i as u64, 200))?;
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize| -> usize { args.get(i).and_then(|a| a.parse().ok()).unwrap_or(0) };
    match args.get(1).map(String::as_str) {
        Some("repo") => repo(num(2).max(1), num(3).max(1)),
        Some("corpus") => corpus(num(2).max(1)),
        Some("change") => change(Path::new(&args[2]), num(3), num(4) as u64),
        _ => {
            eprintln!(
                "usage: bench_data repo <commits> <files> | corpus <MB> | change <dir> <files> <seed>"
            );
            std::process::exit(2)
        }
    }
}
