//! TLS server configurations per intercepted host, minted on demand and cached.
//!
//! Minting a leaf costs a signature; a bounded least-recently-used cache
//! keeps hot hosts free, and entries are re-minted well before the leaf
//! expires. All leaves share one key and one session cache, so resumption
//! works across hosts and memory stays small.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};
use rustls::sign::{CertifiedKey, SigningKey, SingleCertAndKey};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::ca::{CaError, CertAuthority, leaf_validity};

struct Entry {
    config: Arc<ServerConfig>,
    minted: Instant,
    last_used: AtomicU64,
}

/// Bounded cache of per-host TLS server configurations.
pub struct LeafCache {
    ca: CertAuthority,
    key: Arc<dyn SigningKey>,
    capacity: usize,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    tick: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    sessions: Arc<dyn StoresServerSessions>,
    tickets: Arc<dyn ProducesTickets>,
}

impl std::fmt::Debug for LeafCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Leaves are re-minted once this much of their validity has passed.
fn refresh_after() -> Duration {
    leaf_validity() / 2
}

impl LeafCache {
    /// A cache of at most `capacity` hosts signing with `ca`.
    pub fn new(ca: CertAuthority, capacity: usize) -> Result<LeafCache, CaError> {
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ca.leaf_key_der()));
        let key =
            rustls::crypto::ring::sign::any_ecdsa_type(&key_der).map_err(|e| CaError::Invalid {
                what: "leaf key",
                path: Default::default(),
                reason: e.to_string(),
            })?;
        let tickets = rustls::crypto::ring::Ticketer::new().map_err(|e| CaError::Invalid {
            what: "session ticketer",
            path: Default::default(),
            reason: e.to_string(),
        })?;
        Ok(LeafCache {
            ca,
            key,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
            tick: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            sessions: ServerSessionMemoryCache::new(4096),
            tickets,
        })
    }

    /// The server configuration presenting a leaf for `host` (normalized).
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, CaError> {
        let now = self.tick.fetch_add(1, Ordering::Relaxed);
        if let Some(entry) = self.lock().get(host)
            && entry.minted.elapsed() < refresh_after()
        {
            entry.last_used.store(now, Ordering::Relaxed);
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(entry.config.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let config = self.mint(host)?;
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(host) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            host.to_string(),
            Arc::new(Entry {
                config: config.clone(),
                minted: Instant::now(),
                last_used: AtomicU64::new(now),
            }),
        );
        Ok(config)
    }

    fn mint(&self, host: &str) -> Result<Arc<ServerConfig>, CaError> {
        let leaf = self.ca.mint_leaf(host)?;
        let chain = vec![
            CertificateDer::from(leaf),
            CertificateDer::from(self.ca.cert_der().to_vec()),
        ];
        let certified = CertifiedKey::new(chain, self.key.clone());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let invalid = |e: rustls::Error| CaError::Invalid {
            what: "TLS configuration for",
            path: host.into(),
            reason: e.to_string(),
        };
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = self.sessions.clone();
        config.ticketer = self.tickets.clone();
        Ok(Arc::new(config))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hosts currently cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lookups served from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that minted a leaf.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize) -> (tempfile::TempDir, LeafCache) {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = crate::ca::init_ca_dir(dir.path(), "test").unwrap();
        let ca = CertAuthority::load(&cert, &key).unwrap();
        (dir, LeafCache::new(ca, capacity).unwrap())
    }

    #[test]
    fn hits_reuse_and_capacity_evicts_least_recently_used() {
        let (_d, c) = cache(2);
        let a1 = c.server_config("a.example").unwrap();
        let a2 = c.server_config("a.example").unwrap();
        assert!(Arc::ptr_eq(&a1, &a2));
        c.server_config("b.example").unwrap();
        c.server_config("a.example").unwrap();
        c.server_config("c.example").unwrap();
        assert_eq!(c.len(), 2);
        // b was least recently used, so a is still cached.
        assert!(Arc::ptr_eq(&a1, &c.server_config("a.example").unwrap()));
        assert_eq!((c.hits(), c.misses()), (3, 3));
        assert_eq!(c.server_config("[::1]").unwrap().alpn_protocols.len(), 2);
    }
}
