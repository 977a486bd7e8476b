//! The per-bottle certificate authority that the proxy signs leaf certificates with.
//!
//! `egress-proxy ca init` and the launcher both mint CAs here, so every CA
//! bottle uses has the same shape: ECDSA P-256, CA-only key usage, and a
//! name that says which tool made it.

use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use time::{Duration, OffsetDateTime};

/// File name of the CA certificate inside a CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside a CA directory.
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// How long a freshly minted CA is valid; bottles mint a new one per start.
const CA_VALIDITY: Duration = Duration::days(3650);
/// How long leaf certificates are valid (browsers cap leaves at 398 days).
const LEAF_VALIDITY: Duration = Duration::days(90);
/// Backdating that tolerates clock skew between the proxy and its clients.
const BACKDATE: Duration = Duration::days(2);

/// What went wrong minting, loading or using a CA.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A CA file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A CA directory already holds a CA and overwriting was not asked for.
    #[error(
        "{0} already exists; remove it or choose another --out directory (a CA is never overwritten)"
    )]
    Exists(PathBuf),
    /// The certificate or key is not usable.
    #[error("{what} {path}: {reason}")]
    Invalid {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// Certificate generation failed.
    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A freshly generated CA, as PEM text.
#[derive(Clone)]
pub struct CaPem {
    /// The self-signed CA certificate.
    pub cert_pem: String,
    /// The PKCS#8 private key; keep it 0600.
    pub key_pem: String,
}

impl std::fmt::Debug for CaPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaPem").finish_non_exhaustive()
    }
}

/// Generate a new ECDSA P-256 CA named `common_name`.
pub fn generate_ca(common_name: &str) -> Result<CaPem, CaError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "bottle");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - BACKDATE;
    params.not_after = now + CA_VALIDITY;
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key)?;
    Ok(CaPem {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Write a new CA into `dir` as `ca.pem` (0644) and `ca-key.pem` (0600); never overwrites.
pub fn init_ca_dir(dir: &Path, common_name: &str) -> Result<(PathBuf, PathBuf), CaError> {
    std::fs::create_dir_all(dir).map_err(|source| CaError::Io {
        action: "cannot create directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    for p in [&cert_path, &key_path] {
        if p.exists() {
            return Err(CaError::Exists(p.clone()));
        }
    }
    let ca = generate_ca(common_name)?;
    write_new(&key_path, ca.key_pem.as_bytes(), 0o600)?;
    write_new(&cert_path, ca.cert_pem.as_bytes(), 0o644)?;
    Ok((cert_path, key_path))
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    match bottle_common::atomic::create_atomic(path, contents, mode) {
        Ok(true) => Ok(()),
        Ok(false) => Err(CaError::Exists(path.to_path_buf())),
        Err(source) => Err(CaError::Io {
            action: "cannot write",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn random_serial() -> rcgen::SerialNumber {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    bytes[0] &= 0x7f;
    rcgen::SerialNumber::from_slice(&bytes)
}

/// Fill `buf` from the OS random source.
fn fill_random(buf: &mut [u8]) {
    // Failing to read the OS CSPRNG is not recoverable: a predictable
    // serial would be a security defect, so crash loudly instead.
    getrandom::fill(buf).expect("the OS random number generator is unavailable");
}

/// A loaded CA that can sign leaf certificates for the hosts clients ask for.
pub struct CertAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_der: Vec<u8>,
    leaf_key: KeyPair,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAuthority").finish_non_exhaustive()
    }
}

impl CertAuthority {
    /// Load a CA from PEM files, checking that the key belongs to the certificate.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<CertAuthority, CaError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| CaError::Io {
                action: "cannot read",
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let invalid = |what, path: &Path, reason: String| CaError::Invalid {
            what,
            path: path.to_path_buf(),
            reason,
        };
        let key = KeyPair::from_pem(&key_pem).map_err(|e| {
            invalid(
                "CA key",
                key_path,
                format!("not a PEM private key rcgen can sign with ({e})"),
            )
        })?;
        let cert_der = pem_block(&cert_pem, "CERTIFICATE").ok_or_else(|| {
            invalid(
                "CA certificate",
                cert_path,
                "no `BEGIN CERTIFICATE` block".to_string(),
            )
        })?;
        if !contains(&cert_der, key.public_key_raw()) {
            return Err(invalid(
                "CA key",
                key_path,
                format!("does not match the certificate in {}", cert_path.display()),
            ));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der.clone().into(), key).map_err(|e| {
            invalid(
                "CA certificate",
                cert_path,
                format!("cannot be parsed ({e})"),
            )
        })?;
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        Ok(CertAuthority {
            issuer,
            cert_der,
            leaf_key,
        })
    }

    /// The CA certificate in DER, for chains and trust stores.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The key every leaf shares (PKCS#8 DER); one key per process keeps minting cheap.
    pub fn leaf_key_der(&self) -> Vec<u8> {
        self.leaf_key.serialize_der()
    }

    /// Sign a leaf certificate for `host` (a DNS name or IP address literal).
    pub fn mint_leaf(&self, host: &str) -> Result<Vec<u8>, CaError> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        params.subject_alt_names = vec![match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.to_string().try_into()?),
        }];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = now - BACKDATE;
        params.not_after = now + LEAF_VALIDITY;
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        Ok(params
            .signed_by(&self.leaf_key, &self.issuer)?
            .der()
            .to_vec())
    }
}

/// How long a minted leaf stays valid, so caches know when to re-mint.
pub fn leaf_validity() -> std::time::Duration {
    std::time::Duration::from_secs(LEAF_VALIDITY.whole_seconds() as u64)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first PEM block with `label`, decoded.
fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_key_0600_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = init_ca_dir(dir.path(), "test CA").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(
            std::fs::read_to_string(&cert)
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        let again = init_ca_dir(dir.path(), "test CA").unwrap_err();
        assert!(matches!(again, CaError::Exists(_)), "{again}");
    }

    #[test]
    fn loads_and_mints_leaves_for_names_and_ips() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = init_ca_dir(dir.path(), "test CA").unwrap();
        let ca = CertAuthority::load(&cert, &key).unwrap();
        assert!(!ca.mint_leaf("api.example.com").unwrap().is_empty());
        assert!(!ca.mint_leaf("127.0.0.1").unwrap().is_empty());
        assert!(!ca.mint_leaf("[::1]").unwrap().is_empty());
    }

    #[test]
    fn mismatched_key_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let (cert_a, _) = init_ca_dir(a.path(), "A").unwrap();
        let (_, key_b) = init_ca_dir(b.path(), "B").unwrap();
        let e = CertAuthority::load(&cert_a, &key_b)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not match"), "{e}");
    }

    #[test]
    fn garbage_files_are_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("ca.pem");
        let key = dir.path().join("ca-key.pem");
        std::fs::write(&cert, "not a cert").unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let e = CertAuthority::load(&cert, &key).unwrap_err().to_string();
        assert!(e.contains("ca-key.pem"), "{e}");
        let e = CertAuthority::load(&dir.path().join("missing.pem"), &key)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
    }

    #[test]
    fn serials_differ() {
        let a = generate_ca("x").unwrap();
        let b = generate_ca("x").unwrap();
        assert_ne!(a.cert_pem, b.cert_pem);
    }
}
