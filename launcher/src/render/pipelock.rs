//! pipelock's config file, written against its documented schema (version 1):
//! strict mode (only allowlisted hosts), CONNECT forward proxy on, TLS
//! interception with the bottle's own pipelock CA, credentialed hosts spliced.

use serde::Serialize;

use crate::manifest::DlpAction;
use crate::plan::PipelockPlan;

/// Port pipelock listens on inside the bottle.
pub const PORT: u16 = 8888;
/// Where pipelock's CA is mounted.
pub const CA_DIR: &str = "/etc/pipelock/ca";
/// Where pipelock's config directory is mounted.
pub const LIVE_DIR: &str = "/etc/pipelock/live";

/// pipelock's config, the fields bottle sets.
#[derive(Debug, Serialize)]
pub struct PipelockConfig {
    /// Schema version.
    pub version: u32,
    /// `strict`: only `api_allowlist` hosts are reachable.
    pub mode: &'static str,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssrf: Option<Ssrf>,
    /// JSON logs on stdout (collected by Docker).
    pub logging: Logging,
}

/// `forward_proxy`.
#[derive(Debug, Serialize)]
pub struct ForwardProxy {
    /// On.
    pub enabled: bool,
    /// SNI must match the CONNECT target.
    pub sni_verification: bool,
}

/// `tls_interception`.
#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
pub struct RequestBodyScanning {
    /// On.
    pub enabled: bool,
    /// `block` or `warn`.
    pub action: DlpAction,
    /// Scan headers too (must be explicit: omitted means false).
    pub scan_headers: bool,
}

/// `ssrf`.
#[derive(Debug, Serialize)]
pub struct Ssrf {
    /// CIDRs exempt from internal-address blocking.
    pub ip_allowlist: Vec<String>,
}

/// `logging`.
#[derive(Debug, Serialize)]
pub struct Logging {
    /// `json`.
    pub format: &'static str,
    /// `stdout`.
    pub output: &'static str,
}

/// The config for `plan`.
pub fn config(plan: &PipelockPlan) -> PipelockConfig {
    PipelockConfig {
        version: 1,
        mode: "strict",
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
            format: "json",
            output: "stdout",
        },
    }
}

/// Render as YAML.
pub fn to_yaml(plan: &PipelockPlan) -> anyhow::Result<String> {
    let mut text = String::from(
        "# pipelock config written by `bottle` (schema: pipelock docs/configuration.md)\n",
    );
    text.push_str(&serde_saphyr::to_string(&config(plan))?);
    Ok(text)
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
    fn ssrf_block_only_when_needed_and_warn_is_passed_through() {
        let mut p = plan();
        p.ip_allowlist.clear();
        p.dlp_action = DlpAction::Warn;
        let yaml = to_yaml(&p).unwrap();
        assert!(!yaml.contains("ssrf"), "{yaml}");
        assert!(yaml.contains("action: warn"), "{yaml}");
    }
}
