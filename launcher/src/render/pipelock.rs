//! pipelock's config file, written against its documented schema (version 1):
//! strict mode (only allowlisted hosts), CONNECT forward proxy on, TLS
//! interception with the bottle's own pipelock CA, credentialed hosts spliced.
//!
//! Written at start from the plan ([`to_yaml`]) and rewritten in place when an
//! operator approves a new allowlist ([`with_allowlist`]): the same types
//! both ways, so an approval changes only the host lists.

use bottle_common::located::{ConfigError, Source, from_yaml};
use egress_proxy::routes::RoutesFile;
use serde::{Deserialize, Serialize};

use crate::manifest::DlpAction;
use crate::plan::{PipelockPlan, pipelock_ip_allowlist, pipelock_passthrough};

/// Port pipelock listens on inside the bottle.
pub const PORT: u16 = 8888;
/// Where pipelock's CA is mounted.
pub const CA_DIR: &str = "/etc/pipelock/ca";
/// Where pipelock's config directory is mounted.
pub const LIVE_DIR: &str = "/etc/pipelock/live";

/// pipelock's config, the fields bottle sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelockConfig {
    /// Schema version.
    pub version: u32,
    /// `strict`: only `api_allowlist` hosts are reachable.
    pub mode: String,
    /// Block (not just log) on findings.
    pub enforce: bool,
    /// Hosts that may be reached.
    pub api_allowlist: Vec<String>,
    /// CONNECT tunnelling.
    pub forward_proxy: ForwardProxy,
    /// MITM of CONNECT tunnels so DLP sees bodies.
    pub tls_interception: TlsInterception,
    /// Body and header DLP.
    pub request_body_scanning: RequestBodyScanning,
    /// Private ranges the bottle's routes name explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssrf: Option<Ssrf>,
    /// JSON logs on stdout (collected by Docker).
    pub logging: Logging,
}

/// `forward_proxy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardProxy {
    /// On.
    pub enabled: bool,
    /// SNI must match the CONNECT target.
    pub sni_verification: bool,
}

/// `tls_interception`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsInterception {
    /// On.
    pub enabled: bool,
    /// CA certificate path inside the container.
    pub ca_cert: String,
    /// CA key path inside the container.
    pub ca_key: String,
    /// Hosts spliced without decryption.
    pub passthrough_domains: Vec<String>,
}

/// `request_body_scanning`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBodyScanning {
    /// On.
    pub enabled: bool,
    /// `block` or `warn`.
    pub action: DlpAction,
    /// Scan headers too (must be explicit: omitted means false).
    pub scan_headers: bool,
}

/// `ssrf`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ssrf {
    /// CIDRs exempt from internal-address blocking.
    pub ip_allowlist: Vec<String>,
}

/// `logging`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// `json`.
    pub format: String,
    /// `stdout`.
    pub output: String,
}

/// The config for `plan`.
pub fn config(plan: &PipelockPlan) -> PipelockConfig {
    PipelockConfig {
        version: 1,
        mode: "strict".into(),
        enforce: true,
        api_allowlist: plan.allowlist.clone(),
        forward_proxy: ForwardProxy {
            enabled: true,
            sni_verification: true,
        },
        tls_interception: TlsInterception {
            enabled: true,
            ca_cert: format!("{CA_DIR}/{}", egress_proxy::ca::CA_CERT_FILE),
            ca_key: format!("{CA_DIR}/{}", egress_proxy::ca::CA_KEY_FILE),
            passthrough_domains: plan.passthrough.clone(),
        },
        request_body_scanning: RequestBodyScanning {
            enabled: true,
            action: plan.dlp_action,
            scan_headers: true,
        },
        ssrf: (!plan.ip_allowlist.is_empty()).then(|| Ssrf {
            ip_allowlist: plan.ip_allowlist.clone(),
        }),
        logging: Logging {
            format: "json".into(),
            output: "stdout".into(),
        },
    }
}

/// Render the config for `plan` as YAML.
pub fn to_yaml(plan: &PipelockPlan) -> anyhow::Result<String> {
    config(plan).to_yaml()
}

impl PipelockConfig {
    /// Render as YAML, with a header naming the schema.
    pub fn to_yaml(&self) -> anyhow::Result<String> {
        let mut text = String::from(
            "# pipelock config written by `bottle` (schema: pipelock docs/configuration.md)\n",
        );
        text.push_str(&serde_saphyr::to_string(self)?);
        Ok(text)
    }

    /// Read a config bottle wrote; anything else (unknown keys, other types) is an error.
    pub fn parse(text: &str, source: &Source) -> Result<PipelockConfig, ConfigError> {
        from_yaml(text, source)
    }

    /// The hosts pipelock lets out.
    pub fn allowlist(&self) -> &[String] {
        &self.api_allowlist
    }
}

/// `config` with `allowlist` as its hosts, and the hosts derived from them
/// (TLS passthrough for credentialed and LLM hosts, SSRF exemptions for
/// private addresses) recomputed for `routes` exactly as at start.
pub fn with_allowlist(
    config: &PipelockConfig,
    routes: &RoutesFile,
    allowlist: &[String],
) -> PipelockConfig {
    let mut out = config.clone();
    out.api_allowlist = allowlist.to_vec();
    out.tls_interception.passthrough_domains = pipelock_passthrough(routes, allowlist);
    let ips = pipelock_ip_allowlist(routes, allowlist);
    out.ssrf = (!ips.is_empty()).then_some(Ssrf { ip_allowlist: ips });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Documented {
        version: u32,
        mode: String,
        enforce: bool,
        api_allowlist: Vec<String>,
        forward_proxy: DocForward,
        tls_interception: DocTls,
        request_body_scanning: DocBody,
        #[serde(default)]
        ssrf: Option<DocSsrf>,
        logging: DocLogging,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct DocForward {
        enabled: bool,
        #[serde(default)]
        max_tunnel_seconds: Option<u64>,
        #[serde(default)]
        idle_timeout_seconds: Option<u64>,
        #[serde(default)]
        sni_verification: Option<bool>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct DocTls {
        enabled: bool,
        ca_cert: String,
        ca_key: String,
        passthrough_domains: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct DocBody {
        enabled: bool,
        action: String,
        scan_headers: bool,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct DocSsrf {
        ip_allowlist: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct DocLogging {
        format: String,
        output: String,
    }

    fn plan() -> PipelockPlan {
        PipelockPlan {
            image: "p".into(),
            allowlist: vec!["api.github.com".into(), "*.pythonhosted.org".into()],
            passthrough: vec!["api.github.com".into()],
            ip_allowlist: vec!["10.1.2.3/32".into()],
            dlp_action: DlpAction::Block,
        }
    }

    #[test]
    fn config_uses_only_documented_fields_with_documented_values() {
        let yaml = to_yaml(&plan()).unwrap();
        let doc: Documented = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(doc.version, 1);
        assert_eq!(doc.mode, "strict");
        assert!(doc.enforce && doc.forward_proxy.enabled && doc.tls_interception.enabled);
        assert_eq!(doc.api_allowlist, ["api.github.com", "*.pythonhosted.org"]);
        assert_eq!(doc.tls_interception.passthrough_domains, ["api.github.com"]);
        assert_eq!(doc.tls_interception.ca_cert, "/etc/pipelock/ca/ca.pem");
        assert_eq!(doc.tls_interception.ca_key, "/etc/pipelock/ca/ca-key.pem");
        assert_eq!(doc.request_body_scanning.action, "block");
        assert!(
            doc.request_body_scanning.scan_headers,
            "must be explicit: pipelock treats an omitted scan_headers as false"
        );
        assert_eq!(doc.ssrf.unwrap().ip_allowlist, ["10.1.2.3/32"]);
        assert_eq!(doc.logging.output, "stdout");
    }

    #[test]
    fn a_written_config_reads_back_and_foreign_keys_are_refused() {
        let yaml = to_yaml(&plan()).unwrap();
        let parsed = PipelockConfig::parse(&yaml, &Source::named("pipelock.yaml")).unwrap();
        assert_eq!(parsed, config(&plan()));
        let e = PipelockConfig::parse(
            &format!("{yaml}extra_key: 1\n"),
            &Source::named("pipelock.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("pipelock.yaml:") && e.contains("extra_key"),
            "{e}"
        );
    }

    #[test]
    fn a_new_allowlist_recomputes_passthrough_and_ssrf_and_keeps_the_rest() {
        let routes = egress_proxy::routes::parse_routes(
            "routes:\n  - host: api.github.com\n    auth: {scheme: bearer, token_file: /t/GH}\n",
            &Source::named("routes.yaml"),
        )
        .unwrap();
        let before = config(&plan());
        let allow: Vec<String> = [
            "api.github.com",
            "pypi.org",
            "api.anthropic.com",
            "10.0.0.5",
        ]
        .map(String::from)
        .to_vec();
        let after = with_allowlist(&before, &routes, &allow);
        assert_eq!(after.allowlist(), allow.as_slice());
        assert_eq!(
            after.tls_interception.passthrough_domains,
            ["api.github.com", "api.anthropic.com"]
        );
        assert_eq!(after.ssrf.as_ref().unwrap().ip_allowlist, ["10.0.0.5/32"]);
        assert_eq!(
            after.tls_interception.ca_cert,
            before.tls_interception.ca_cert
        );
        assert_eq!(after.request_body_scanning, before.request_body_scanning);
        assert_eq!(after.mode, "strict");
        let narrowed = with_allowlist(&after, &routes, &["pypi.org".to_string()]);
        assert_eq!(narrowed.ssrf, None, "no private hosts left");
        assert_eq!(
            narrowed.tls_interception.passthrough_domains,
            ["api.github.com"],
            "a credentialed route host stays spliced even when the allowlist drops it"
        );
    }

    #[test]
    fn ssrf_block_only_when_needed_and_warn_is_passed_through() {
        let mut p = plan();
        p.ip_allowlist.clear();
        p.dlp_action = DlpAction::Warn;
        let yaml = to_yaml(&p).unwrap();
        assert!(!yaml.contains("ssrf"), "{yaml}");
        assert!(yaml.contains("action: warn"), "{yaml}");
    }
}
