//! A throwaway PKI: a CA and leaf certificates written to a temp dir.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

/// A test CA that can issue server certificates; files live in its directory.
pub struct TestCa {
    /// The CA certificate PEM file (give it to clients as a trust anchor).
    pub cert_path: PathBuf,
    /// The CA private key PEM file.
    pub key_path: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    dir: PathBuf,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("cert_path", &self.cert_path)
            .finish()
    }
}

/// A server certificate and key issued by a [`TestCa`].
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Certificate PEM file.
    pub cert_path: PathBuf,
    /// Private key PEM file.
    pub key_path: PathBuf,
}

impl TestCa {
    /// Create a CA named `name` with its files under `dir`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        std::fs::create_dir_all(dir).expect("create CA dir");
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("self-sign CA");
        let cert_path = dir.join(format!("{name}-ca.pem"));
        let key_path = dir.join(format!("{name}-ca-key.pem"));
        std::fs::write(&cert_path, cert.pem()).expect("write CA cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write CA key");
        TestCa {
            cert_path,
            key_path,
            issuer: Issuer::new(params, key),
            dir: dir.to_path_buf(),
        }
    }

    /// Issue a server certificate for `names` (DNS names or IP literals).
    pub fn issue(&self, file_stem: &str, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().expect("generate leaf key");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*n).to_string().try_into().expect("DNS name")),
            })
            .collect();
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let cert_path = self.dir.join(format!("{file_stem}.pem"));
        let key_path = self.dir.join(format!("{file_stem}-key.pem"));
        std::fs::write(&cert_path, cert.pem()).expect("write leaf cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write leaf key");
        Leaf {
            cert_path,
            key_path,
        }
    }
}
