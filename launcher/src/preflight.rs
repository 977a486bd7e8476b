//! The preflight summary: what a bottle will be able to do, shown before it starts.

use std::fmt::Write;

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
}

/// Render the summary.
pub fn summary(plan: &Plan, r: &Resolved<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "bottle {}", r.id);
    let mut line = |k: &str, v: String| {
        let _ = writeln!(s, "  {k:<10} {v}");
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
    line(
        "bottle",
        format!("{} ({})", plan.bottle_name, show(&plan.bottle_file)),
    );
    line(
        "image",
        match &plan.image {
            AgentImage::Image(i) => i.clone(),
            AgentImage::Dockerfile(p) => format!("built from {}", show(p)),
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
    line("command", r.command.join(" "));
    s
}
