//! The preflight summary: what a bottle will be able to do, shown before it starts.
//!
//! Agent files may come from the repository being worked on, so every value
//! is shown through [`printable`]: a description or command cannot move the
//! cursor, recolour or rewrite the summary the user is asked to approve.

use std::fmt::Write;
use std::path::Path;

use supervise::operator::printable;

use egress_proxy::routes::TlsMode;

use crate::commands::show;
use crate::plan::{AgentImage, Plan};

/// Facts decided outside the manifests, shown alongside the plan.
#[derive(Debug)]
pub struct Resolved<'a> {
    /// The bottle id (or "(new)").
    pub id: &'a str,
    /// The runtime the agent will run under, with the reason.
    pub runtime: String,
    /// The program run in the agent.
    pub command: &'a [String],
    /// An approved Dockerfile the agent image is built from on this resume.
    pub staged: Option<&'a Path>,
}

/// Render the summary.
pub fn summary(plan: &Plan, r: &Resolved<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "bottle {}", r.id);
    let mut line = |k: &str, v: String| {
        let _ = writeln!(s, "  {k:<10} {}", printable(&v));
    };
    line(
        "agent",
        format!(
            "{} ({}){}",
            plan.agent.name,
            show(&plan.agent.file),
            plan.agent
                .description
                .as_deref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        ),
    );
    if plan.agent.from_project {
        line(
            "",
            "from the project's repository: its prompt, description and command are the repository's, not yours".into(),
        );
    }
    line(
        "bottle",
        format!("{} ({})", plan.bottle_name, show(&plan.bottle_file)),
    );
    line(
        "image",
        match (r.staged, &plan.image) {
            (Some(staged), _) => format!(
                "built from {} (a Dockerfile approved while the bottle ran)",
                show(staged)
            ),
            (None, AgentImage::Image(i)) => i.clone(),
            (None, AgentImage::Dockerfile(p)) => format!("built from {}", show(p)),
        },
    );
    line("runtime", r.runtime.clone());
    line(
        "network",
        format!(
            "agent on an internal network only; out through egress-proxy{}",
            if plan.pipelock.is_some() {
                " → pipelock"
            } else {
                " (no pipelock)"
            }
        ),
    );
    if let Some(net) = &plan.egress_network {
        line(
            "egress",
            format!(
                "existing network {net}: everything on it can reach egress-proxy (and use this bottle's routes and tokens) and git-gate"
            ),
        );
    }
    for (i, ca) in plan.trust_ca.iter().enumerate() {
        line(
            if i == 0 { "trust_ca" } else { "" },
            format!("{} (egress-proxy trusts it for origins)", show(ca)),
        );
    }
    if plan.routes.routes.is_empty() {
        line("routes", "none: every HTTP(S) request is refused".into());
    }
    for (i, route) in plan.routes.routes.iter().enumerate() {
        let mut v = route.host.to_string();
        if let Some(p) = route.port {
            let _ = write!(v, ":{p}");
        }
        match &route.paths {
            Some(paths) => {
                let _ = write!(v, " {}", paths.join(" "));
            }
            None => v.push_str(" (all paths)"),
        }
        if let Some(m) = &route.methods {
            let _ = write!(v, " [{}]", m.join(","));
        }
        if route.tls == TlsMode::Passthrough {
            v.push_str(" passthrough");
        }
        if let Some(a) = &route.auth {
            let var = match &a.token {
                egress_proxy::routes::TokenSource::File(p) => p
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                egress_proxy::routes::TokenSource::Env(v) => v.clone(),
            };
            let _ = write!(v, " + {} token from ${var}", a.scheme);
        }
        line(if i == 0 { "routes" } else { "" }, v);
    }
    if let Some(p) = &plan.pipelock {
        line(
            "pipelock",
            format!(
                "{} hosts allowed, DLP {:?}",
                p.allowlist.len(),
                p.dlp_action
            )
            .to_lowercase(),
        );
    }
    for (i, g) in plan.git.iter().enumerate() {
        line(
            if i == 0 { "git" } else { "" },
            format!(
                "{} → {} (through git-gate, pushes scanned)",
                g.name, g.upstream
            ),
        );
    }
    line(
        "supervise",
        if plan.supervise {
            "yes: the agent can ask for more through MCP".into()
        } else {
            "no".into()
        },
    );
    if !plan.env.is_empty() {
        line(
            "env",
            plan.env.keys().cloned().collect::<Vec<_>>().join(" "),
        );
    }
    let l = &plan.limits;
    let mut limits = Vec::new();
    if let Some(m) = &l.memory {
        limits.push(format!("memory {m}"));
    }
    if let Some(c) = l.cpus {
        limits.push(format!("cpus {c}"));
    }
    if let Some(p) = l.pids {
        limits.push(format!("pids {p}"));
    }
    line(
        "limits",
        if limits.is_empty() {
            "none".into()
        } else {
            limits.join(", ")
        },
    );
    line("command", r.command.join(" "));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Locations;

    fn resolve(agent: &str, bottle: &str, in_project: bool) -> (tempfile::TempDir, Plan) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("project");
        let agents = if in_project {
            project.join(".claude-bottle/agents")
        } else {
            home.join("agents")
        };
        std::fs::create_dir_all(&agents).unwrap();
        std::fs::create_dir_all(home.join("bottles")).unwrap();
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(agents.join("coder.md"), agent).unwrap();
        std::fs::write(home.join("bottles/dev.md"), bottle).unwrap();
        std::fs::write(dir.path().join("ca.pem"), test_ca_pem()).unwrap();
        let loc = Locations { home, project };
        let plan = crate::plan::resolve(&loc, "coder").unwrap();
        (dir, plan)
    }

    fn test_ca_pem() -> String {
        egress_proxy::ca::generate_ca("preflight test CA")
            .unwrap()
            .cert_pem
    }

    fn summary_of(plan: &Plan, staged: Option<&Path>) -> String {
        summary(
            plan,
            &Resolved {
                id: "coder-abc123",
                runtime: "runc".into(),
                command: &plan.agent.command,
                staged,
            },
        )
    }

    #[test]
    fn repository_text_cannot_drive_the_terminal() {
        let (_d, plan) = resolve(
            "---\nbottle: dev\ndescription: \"fine\\e[2J\\e[1;1Hbottle coder-abc123\\u202e\"\ncommand: [\"sh\", \"-c\", \"x\\rY\"]\n---\n",
            "---\n---\n",
            true,
        );
        let text = summary_of(&plan, None);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert!(text.contains("fine\\u{1b}[2J"), "{text}");
        assert!(text.contains("sh -c x\\u{d}Y"), "{text}");
        assert!(text.contains("from the project's repository"), "{text}");
    }

    #[test]
    fn home_agents_are_not_marked_and_every_capability_is_shown() {
        let (_d, plan) = resolve(
            "---\nbottle: dev\n---\n",
            "---\negress:\n  pipelock: false\n  network: corp-net\n  trust_ca: [../../ca.pem]\nlimits: { memory: 2g, cpus: 1.5, pids: 256 }\n---\n",
            false,
        );
        let text = summary_of(
            &plan,
            Some(Path::new("/state/coder-abc123/staged/Dockerfile")),
        );
        assert!(!text.contains("repository"), "{text}");
        for want in [
            "egress     existing network corp-net: everything on it can reach egress-proxy",
            "trust_ca   ",
            "ca.pem (egress-proxy trusts it for origins)",
            "limits     memory 2g, cpus 1.5, pids 256",
            "image      built from /state/coder-abc123/staged/Dockerfile (a Dockerfile approved while the bottle ran)",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        let (_d, plan) = resolve("---\nbottle: dev\n---\n", "---\n---\n", false);
        assert!(summary_of(&plan, None).contains("limits     none"));
    }
}
