//! TLS towards origins: which CAs the proxy trusts when it is the client.
//!
//! System roots (honouring `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus every
//! `--trust-ca` file, which is where an upstream proxy's MITM CA goes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Why the outbound trust store could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A `--trust-ca` file is unreadable or holds no certificate.
    #[error("--trust-ca {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No root at all: outbound TLS would fail for every origin.
    #[error("no trusted CA certificates: the system store is empty and no --trust-ca was given")]
    Empty,
    /// rustls refused the configuration.
    #[error("cannot configure outbound TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// The client configurations for origin connections.
#[derive(Debug, Clone)]
pub struct OriginTls {
    /// For pooled requests: ALPN http/1.1. A keep-alive pool of HTTP/1.1
    /// connections streams large bodies faster than one multiplexed HTTP/2
    /// connection per origin and adds less latency (see docs/benchmarks.md).
    pub pooled: Arc<ClientConfig>,
    /// ALPN http/1.1 only, for upgrades (WebSocket needs HTTP/1.1).
    pub http1: Arc<ClientConfig>,
}

impl OriginTls {
    /// Trust the system roots plus `extra` CA files.
    pub fn new(extra: &[PathBuf]) -> Result<OriginTls, TrustError> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!(error = %e, "some system CA certificates could not be loaded");
        }
        let (_, ignored) = roots.add_parsable_certificates(native.certs);
        if ignored > 0 {
            tracing::debug!(
                ignored,
                "system CA certificates rustls cannot use were skipped"
            );
        }
        for path in extra {
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| TrustError::File {
                    path: path.clone(),
                    reason: format!("not a usable CA certificate ({e})"),
                })?;
            }
        }
        if roots.is_empty() {
            return Err(TrustError::Empty);
        }
        let roots = Arc::new(roots);
        let config = |alpn: &[&[u8]]| -> Result<Arc<ClientConfig>, TrustError> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut c = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Ok(Arc::new(c))
        };
        Ok(OriginTls {
            pooled: config(&[b"http/1.1"])?,
            http1: config(&[b"http/1.1"])?,
        })
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let err = |reason: String| TrustError::File {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(format!("cannot read ({e})")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("not PEM ({e})")))?;
    if certs.is_empty() {
        return Err(err("contains no `BEGIN CERTIFICATE` block".to_string()));
    }
    Ok(certs)
}

/// The name to verify an origin's certificate against.
pub fn server_name(host: &str) -> Result<rustls_pki_types::ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    rustls_pki_types::ServerName::try_from(bare.to_string())
        .map_err(|e| format!("{host} cannot be verified by TLS: {e}"))
}
