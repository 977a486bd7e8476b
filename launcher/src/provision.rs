//! Preparing a running agent container: trust the egress-proxy CA in every
//! common tool, send git remotes through git-gate, register supervise with
//! Claude Code, and link `~/.claude` to the bottle's transcript directory.
//!
//! Environment (proxies, CA variables) is already in the compose file; this
//! step writes files, through `docker exec` with scripts on stdin.

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::docker::{self, sh_quote};
use crate::plan::Plan;
use crate::render::topology::{
    AGENT_CA_DIR, AGENT_CA_FILE, SUPERVISE_PORT, SYSTEM_BUNDLE, TRANSCRIPT_DIR,
};
use crate::state::StateDir;

/// Who the agent runs as, as the container reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentUser {
    /// Numeric uid.
    pub uid: u32,
    /// Numeric gid.
    pub gid: u32,
    /// Its home directory.
    pub home: String,
}

/// Find out who the agent's default user is.
pub async fn agent_user(container: &str) -> anyhow::Result<AgentUser> {
    let out =
        docker::exec_script(container, None, "id -u; id -g; printf '%s\\n' \"$HOME\"\n").await?;
    parse_user(&out)
        .with_context(|| format!("cannot tell which user the agent runs as from {out:?}"))
}

fn parse_user(out: &str) -> Option<AgentUser> {
    let mut lines = out.lines();
    Some(AgentUser {
        uid: lines.next()?.trim().parse().ok()?,
        gid: lines.next()?.trim().parse().ok()?,
        home: lines
            .next()
            .filter(|h| h.starts_with('/'))
            .unwrap_or("/")
            .to_string(),
    })
}

/// Root's part: install the CA into the system store and hand the transcript to the agent's user.
pub fn root_script(user: &AgentUser) -> String {
    format!(
        r#"set -e
ca={ca}
if command -v update-ca-certificates >/dev/null 2>&1; then
  mkdir -p /usr/local/share/ca-certificates
  cp "$ca" /usr/local/share/ca-certificates/bottle-egress-proxy.crt
  update-ca-certificates >/dev/null 2>&1
else
  mkdir -p "$(dirname {bundle})"
  cat "$ca" >> {bundle}
fi
grep -q "$(sed -n 2p "$ca")" {bundle}
chown -R {uid}:{gid} {transcript}
"#,
        ca = sh_quote(&format!("{AGENT_CA_DIR}/{AGENT_CA_FILE}")),
        bundle = sh_quote(SYSTEM_BUNDLE),
        uid = user.uid,
        gid = user.gid,
        transcript = sh_quote(TRANSCRIPT_DIR),
    )
}

/// The agent user's part: `~/.claude` link, prompt as user memory, git `insteadOf` rules.
pub fn user_script(plan: &Plan) -> String {
    let mut s = String::from("set -e\ncd \"$HOME\"\n");
    s.push_str(&format!(
        r#"t={t}
if [ -d "$HOME/.claude" ] && [ ! -L "$HOME/.claude" ]; then
  cp -an "$HOME/.claude/." "$t/" && rm -rf "$HOME/.claude"
fi
ln -sfn "$t" "$HOME/.claude"
"#,
        t = sh_quote(TRANSCRIPT_DIR)
    ));
    if !plan.agent.prompt.is_empty() {
        s.push_str("cp \"$BOTTLE_AGENT_PROMPT_FILE\" \"$HOME/.claude/CLAUDE.md\"\n");
    }
    if !plan.git.is_empty() {
        s.push_str("if command -v git >/dev/null 2>&1; then\n");
        for g in &plan.git {
            let key = format!("url.git://git-gate/{}.git.insteadOf", g.name);
            s.push_str(&format!(
                "  git config --global --unset-all {} || true\n",
                sh_quote(&key)
            ));
            for spelling in g.upstream_spellings() {
                s.push_str(&format!(
                    "  git config --global --add {} {}\n",
                    sh_quote(&key),
                    sh_quote(&spelling)
                ));
            }
        }
        s.push_str("fi\n");
    }
    s
}

/// `~/.claude.json` with `mcpServers.supervise` set, everything else kept.
pub fn merge_claude_json(existing: &str) -> anyhow::Result<String> {
    let mut root: Value = if existing.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(existing)
            .context("the agent's ~/.claude.json is not valid JSON; fix or remove it")?
    };
    let obj = root
        .as_object_mut()
        .context("the agent's ~/.claude.json is not a JSON object")?;
    let servers = obj
        .entry("mcpServers")
        .or_insert_with(|| Value::Object(Map::new()));
    let servers = servers
        .as_object_mut()
        .context("mcpServers in the agent's ~/.claude.json is not an object")?;
    servers.insert(
        "supervise".into(),
        json!({"type": "http", "url": format!("http://supervise:{SUPERVISE_PORT}/mcp")}),
    );
    let mut text = serde_json::to_string_pretty(&root)?;
    text.push('\n');
    Ok(text)
}

/// Provision the running agent of `state`.
pub async fn provision(plan: &Plan, state: &StateDir) -> anyhow::Result<AgentUser> {
    let agent = state.container("agent");
    let user = agent_user(&agent).await?;
    docker::exec_script(&agent, Some("0"), &root_script(&user)).await?;
    let uid = user.uid.to_string();
    docker::exec_script(&agent, Some(&uid), &user_script(plan)).await?;
    if plan.supervise {
        let existing = docker::exec_script(
            &agent,
            Some(&uid),
            "cat \"$HOME/.claude.json\" 2>/dev/null || true\n",
        )
        .await?;
        let merged = merge_claude_json(&existing)?;
        let script = format!(
            "set -e\ncat > \"$HOME/.claude.json.bottle-tmp\" <<'BOTTLE_EOF'\n{merged}BOTTLE_EOF\nmv \"$HOME/.claude.json.bottle-tmp\" \"$HOME/.claude.json\"\n"
        );
        docker::exec_script(&agent, Some(&uid), &script).await?;
    }
    Ok(user)
}

/// Give the transcript back to the host user before the container goes away.
pub async fn release_transcript(state: &StateDir, host_ids: (u32, u32)) {
    let script = format!(
        "chown -R {}:{} {} 2>/dev/null || true\n",
        host_ids.0,
        host_ids.1,
        sh_quote(TRANSCRIPT_DIR)
    );
    let _ = docker::exec_script(&state.container("agent"), Some("0"), &script).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_json_is_merged_not_clobbered() {
        let merged =
            merge_claude_json(r#"{"theme":"dark","mcpServers":{"other":{"type":"stdio"}}}"#)
                .unwrap();
        let v: Value = serde_json::from_str(&merged).unwrap();
        assert_eq!(v["theme"], "dark");
        assert_eq!(v["mcpServers"]["other"]["type"], "stdio");
        assert_eq!(
            v["mcpServers"]["supervise"]["url"],
            "http://supervise:9100/mcp"
        );
        assert_eq!(v["mcpServers"]["supervise"]["type"], "http");
        let fresh: Value = serde_json::from_str(&merge_claude_json("").unwrap()).unwrap();
        assert_eq!(fresh["mcpServers"]["supervise"]["type"], "http");
        assert!(merge_claude_json("[1]").is_err());
        assert!(merge_claude_json("{not json").is_err());
    }

    #[test]
    fn user_reports_parse() {
        assert_eq!(
            parse_user("1000\n1000\n/home/agent\n"),
            Some(AgentUser {
                uid: 1000,
                gid: 1000,
                home: "/home/agent".into()
            })
        );
        assert_eq!(parse_user("x\n"), None);
    }
}
