//! The `bottle` binary's behaviour that needs no Docker engine: manifest
//! errors, missing tokens, dry runs and rendering, through the real CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const HOST_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMcDwTLWeNwa0uZUa7PhFFhdCNFdqe+DFoQy3xtOWu8O";

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(bottle: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let home = Home { dir };
        home.write(
            "agents/coder.md",
            "---\nbottle: dev\ndescription: writes code\n---\nBe careful.\n",
        );
        home.write("bottles/dev.md", bottle);
        home
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn bottle(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bottle"));
        cmd.args(args)
            .current_dir(self.path())
            .env("BOTTLE_HOME", self.path())
            .env_remove("GH_TOKEN")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const BOTTLE: &str = "---
egress:
  routes:
    - host: api.github.com
      paths: [\"/repos/acme/\"]
      auth: { scheme: bearer, token_ref: GH_TOKEN }
  pipelock: false
supervise: true
runtime: runc
---
";

#[test]
fn a_missing_token_stops_start_naming_the_manifest_line() {
    let home = Home::new(BOTTLE);
    let out = home.bottle(&["start", "coder", "--yes", "--", "true"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("bottles/dev.md:6:42: auth.token_ref: environment variable GH_TOKEN is not set"),
        "{e}"
    );
    assert!(
        !home.path().join("state").exists(),
        "nothing is created before the manifests check out"
    );
}

#[test]
fn manifest_errors_name_file_line_and_suggest() {
    let home = Home::new("---\negress:\n  routs: []\n---\n");
    let out = home.bottle(&["start", "coder", "--dry-run"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("bottles/dev.md:3:3: unknown key `routs` (did you mean `routes`?)"),
        "{e}"
    );
    let out = home.bottle(&["start", "nobody"], &[]);
    assert!(
        stderr(&out).contains("no agent `nobody`"),
        "{}",
        stderr(&out)
    );
    let out = home.bottle(&["start", "../x"], &[]);
    assert!(
        stderr(&out).contains("is not a valid name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dry_run_prints_the_plan_and_touches_nothing() {
    let home = Home::new(BOTTLE);
    let out = home.bottle(
        &["start", "coder", "--dry-run"],
        &[("GH_TOKEN", "tok-dry-run")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "agent      coder",
        "writes code",
        "api.github.com /repos/acme/ + bearer token from $GH_TOKEN",
        "supervise  yes",
        "command    claude",
        "(no pipelock)",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("tok-dry-run"));
    assert!(!home.path().join("state").exists());
}

#[test]
fn a_projects_own_bottles_are_ignored_with_a_warning() {
    let home = Home::new(BOTTLE);
    home.write(
        ".claude-bottle/bottles/dev.md",
        "---\negress:\n  pipelock: false\n  allowlist: [evil.example]\n---\n",
    );
    home.write(
        ".claude-bottle/agents/coder.md",
        "---\nbottle: dev\ndescription: from the project\n---\n",
    );
    let out = home.bottle(&["start", "coder", "--dry-run"], &[("GH_TOKEN", "t")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: ignoring"),
        "{}",
        stderr(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("from the project"),
        "the project's agent wins: {text}"
    );
    assert!(
        text.contains("from the project's repository: its prompt, description and command are the repository's"),
        "{text}"
    );
    assert!(
        text.contains("bottle     dev (") && !text.contains(".claude-bottle/bottles"),
        "{text}"
    );
}

#[test]
fn render_writes_the_project_without_secrets() {
    let bottle = format!(
        "---\negress:\n  routes:\n    - host: api.github.com\n      auth: {{ scheme: bearer, token_ref: GH_TOKEN }}\n\
         git:\n  - name: app\n    upstream: ssh://git@git.example.com/app.git\n    identity_file: ./key\n    \
         known_host_key: {HOST_KEY}\n---\n"
    );
    let home = Home::new(&bottle);
    home.write("bottles/key", "PRIVATE KEY MATERIAL");
    let out_dir = home.path().join("out");
    let out = home.bottle(
        &["render", "coder", "--out", out_dir.to_str().unwrap()],
        &[("GH_TOKEN", "tok-render")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let compose = std::fs::read_to_string(out_dir.join("docker-compose.yml")).unwrap();
    assert!(
        compose.contains("container_name:") && compose.contains("git-gate"),
        "{compose}"
    );
    for entry in walk(&out_dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert!(!text.contains("tok-render"), "token in {}", entry.display());
        assert!(
            !text.contains("PRIVATE KEY MATERIAL"),
            "git key in {}",
            entry.display()
        );
    }
    let again = home.bottle(
        &["render", "coder", "--out", out_dir.to_str().unwrap()],
        &[],
    );
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn render_out_is_made_absolute_so_compose_binds_host_paths() {
    let home = Home::new(BOTTLE);
    let out = home.bottle(&["render", "coder", "--out", "rel/out"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let compose = std::fs::read_to_string(home.path().join("rel/out/docker-compose.yml")).unwrap();
    let mounts: Vec<&str> = compose
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("- ") && l.contains(":/"))
        .collect();
    assert!(!mounts.is_empty(), "{compose}");
    for m in mounts {
        assert!(
            m.starts_with(&format!("- {}/rel/out/", home.path().display())),
            "a relative bind source becomes a named volume: {m}"
        );
    }
}

#[test]
fn a_token_cannot_reach_the_agent_through_compose_substitution() {
    let home = Home::new(
        "---\negress:\n  pipelock: false\nenv: { A: \"${GH_TOKEN}\", B: \"$GH_TOKEN\", C: \"${GH_TOKEN:-x}y\" }\n---\n",
    );
    let dir = home.path().join("out");
    let out = home.bottle(&["render", "coder", "--out", dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let compose = Command::new("docker-compose")
        .arg("-f")
        .arg(dir.join("docker-compose.yml"))
        .arg("config")
        .env("GH_TOKEN", "ghp_must_not_appear")
        .output()
        .expect("run docker-compose (Compose v1 is a test requirement)");
    let text = String::from_utf8_lossy(&compose.stdout);
    assert!(compose.status.success(), "{}", stderr(&compose));
    assert!(!text.contains("ghp_must_not_appear"), "{text}");
    assert!(
        text.contains("{GH_TOKEN}") && text.contains("{GH_TOKEN:-x}y"),
        "{text}"
    );
}

#[test]
fn a_failed_render_removes_what_it_wrote() {
    let home = Home::new(BOTTLE);
    let dir = home.path().join("a:b");
    let out = home.bottle(&["render", "coder", "--out", dir.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("contains `:`"), "{}", stderr(&out));
    assert!(
        !dir.exists(),
        "a failed render leaves nothing, CA keys included"
    );
}

#[test]
fn questions_without_a_terminal_are_refused_before_any_work() {
    let home = Home::new(BOTTLE);
    for args in [&["start", "coder"][..], &["cleanup"][..]] {
        let out = home.bottle(
            args,
            &[("GH_TOKEN", "t"), ("DOCKER_HOST", "unix:///nonexistent")],
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let e = stderr(&out);
        assert!(
            e.contains("needs a y/N answer, but standard input is not a terminal; pass --yes"),
            "{args:?}: {e}"
        );
    }
    assert!(!home.path().join("state").exists());
}

#[test]
fn ids_of_agents_with_long_names_are_accepted_everywhere() {
    let home = Home::new(BOTTLE);
    let id = format!("{}-abc123", "a".repeat(48));
    for cmd in ["stop", "resume"] {
        let out = home.bottle(&[cmd, &id], &[]);
        let e = stderr(&out);
        assert!(e.contains(&format!("no bottle `{id}`")), "{cmd}: {e}");
    }
    for bad in ["../../etc-abc123", "coder", "coder-ABC123"] {
        let e = stderr(&home.bottle(&["stop", bad], &[]));
        assert!(e.contains("is not a bottle id"), "{bad}: {e}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
