//! The compose file: serde types for the subset of the Compose format bottle
//! writes, in file format 2.4 so Compose v1 (1.29) and v2 both accept it.
//!
//! Compose substitutes `$VAR` and `${VAR}` in every string of the file from
//! its own environment. [`ComposeFile::to_yaml`] doubles every `$` in the
//! finished text, so a bottle's `env: {A: "${GH_TOKEN}"}` stays those
//! characters instead of becoming the host's token.

use std::collections::BTreeMap;

use serde::Serialize;

/// Compose file format version: 2.4 has `init`, `runtime` and internal networks, and v1 and v2 read it.
pub const FORMAT_VERSION: &str = "2.4";

/// A whole compose file.
#[derive(Debug, Serialize)]
pub struct ComposeFile {
    /// File format version.
    pub version: &'static str,
    /// Services by name.
    pub services: BTreeMap<String, Service>,
    /// Networks by name.
    pub networks: BTreeMap<String, Network>,
}

/// One service (container).
#[derive(Debug, Default, Serialize)]
pub struct Service {
    /// Image reference.
    pub image: String,
    /// Fixed container name (`<id>-<service>`), so `docker` commands can name it.
    pub container_name: String,
    /// `uid:gid` to run as, when not the image's user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Replaces the image's entrypoint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// Arguments (after the entrypoint).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Environment (never secrets).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Bind mounts, `host:container[:ro]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// Networks it joins.
    pub networks: Vec<String>,
    /// `host:ip` entries for /etc/hosts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// `bottle.id` and `bottle.service`.
    pub labels: BTreeMap<String, String>,
    /// Run a reaping init as PID 1.
    pub init: bool,
    /// OCI runtime (`runsc`), when not the engine default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Capabilities removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Capabilities added back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// `no-new-privileges` and friends.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// Memory limit (`4g`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<String>,
    /// CPU limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Process limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<u32>,
    /// Services started first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// A network definition.
#[derive(Debug, Default, Serialize)]
pub struct Network {
    /// No route out of the network (Docker `--internal`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// Use an existing network instead of creating one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// The existing network's name (with `external`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Options for the network driver (`com.docker.network.bridge.inhibit_ipv4`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    /// `bottle.id` (created networks only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl ComposeFile {
    /// Render as YAML.
    pub fn to_yaml(&self) -> anyhow::Result<String> {
        let mut text =
            String::from("# Written by `bottle`; regenerated on every start. Holds no secrets.\n");
        // Every `$` doubled, once for the whole text: no field relies on
        // substitution, and YAML writes a `$` only where a string holds one.
        text.push_str(&serde_saphyr::to_string(self)?.replace('$', "$$"));
        Ok(text)
    }
}

/// The labels every container and network of bottle `id` carries.
pub fn labels(id: &str, service: Option<&str>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([("bottle.id".to_string(), id.to_string())]);
    if let Some(s) = service {
        l.insert("bottle.service".to_string(), s.to_string());
    }
    l
}

/// A bind mount `host:container[:ro]`; refuses host paths the short syntax cannot express.
pub fn bind(host: &std::path::Path, container: &str, read_only: bool) -> anyhow::Result<String> {
    let host = host
        .to_str()
        .filter(|h| !h.contains(':') && !h.contains('\n'))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "cannot mount {}: the path contains `:` or is not UTF-8; set BOTTLE_HOME to a plainer path",
                host.display()
            )
        })?;
    Ok(format!(
        "{host}:{container}{}",
        if read_only { ":ro" } else { "" }
    ))
}
