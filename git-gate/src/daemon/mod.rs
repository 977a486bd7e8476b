//! The git:// listener: one request per connection, each an explicit sequence of steps.
//!
//! 1. read the request pkt-line (bounded size and time) and map it to a repo;
//! 2. sync the repo's mirror with its upstream (coalesced);
//! 3. run `upload-pack` or `receive-pack` on the connection;
//! 4. write one audit record.
//!
//! Any failure before step 3 reaches the client as an `ERR` pkt-line.

pub mod request;
mod service;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bottle_common::audit::AuditLog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::audit::{
    AuditEvent, FetchRecord, ForwardRecord, Outcome, PushRecord, PushVerdict, RefusedRecord,
    ScanRecord, SyncRecord, push_verdict,
};
use crate::config::Settings;
use crate::gitenv::ChildEnv;
use crate::layout::Layout;
use crate::mirror::{Mirror, SyncOutcome, create_private_dir};
use crate::pktline::{err_frame, parse_len};
use crate::push::report::{
    CONTEXT_FILE, FORWARD_FILE, ForwardReport, HookContext, SCAN_FILE, SESSION_ENV, ScanReport,
    read_report, write_report,
};
use request::{MAX_REQUEST_BYTES, Request, Service, parse_request};

/// After an `ERR`, how long and how much client input is drained before closing.
const ERR_DRAIN_TIME: Duration = Duration::from_secs(2);
const ERR_DRAIN_BYTES: usize = 1 << 20;
/// How long shutdown waits for connections in flight.
const DRAIN: Duration = Duration::from_secs(30);

/// Everything a connection needs, shared by all of them.
#[derive(Debug)]
pub struct Gate {
    settings: Settings,
    layout: Layout,
    mirrors: HashMap<String, Mirror>,
    names: Vec<String>,
    audit: AuditLog,
    sessions: AtomicU64,
}

/// Why the gate could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A directory or file under `data_dir` could not be created.
    #[error("cannot set up {path}: {source}; check that data_dir is writable")]
    DataDir {
        /// Path being created.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A mirror could not be prepared.
    #[error(transparent)]
    Mirror(#[from] crate::mirror::PrepareError),
    /// An identity file is missing or unreadable.
    #[error("repo `{repo}`: cannot read identity_file {path}: {source}")]
    Identity {
        /// Repo name.
        repo: String,
        /// Key path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

impl Gate {
    /// Prepare directories, hooks and mirrors; `binary` is the git-gate executable the hooks run.
    pub fn prepare(settings: Settings, binary: &Path, audit: AuditLog) -> Result<Gate, StartError> {
        let layout = Layout::new(&settings.data_dir);
        for dir in [layout.state(), layout.home(), layout.sessions()] {
            create_private_dir(&dir).map_err(|source| StartError::DataDir {
                path: dir.clone(),
                source,
            })?;
        }
        crate::push::install_hooks(&layout.hooks(), binary).map_err(|source| {
            StartError::DataDir {
                path: layout.hooks(),
                source,
            }
        })?;
        let mut mirrors = HashMap::new();
        let mut names = Vec::new();
        for (i, repo) in settings.repos.iter().enumerate() {
            std::fs::File::open(&repo.identity_file).map_err(|source| StartError::Identity {
                repo: repo.name.clone(),
                path: repo.identity_file.clone(),
                source,
            })?;
            mirrors.insert(
                repo.name.clone(),
                Mirror::prepare(repo, i, &layout, &settings.timeouts)?,
            );
            names.push(repo.name.clone());
        }
        Ok(Gate {
            settings,
            layout,
            mirrors,
            names,
            audit,
            sessions: AtomicU64::new(0),
        })
    }

    /// Serve connections on `listener` until `shutdown` completes, then drain.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let slots = Arc::new(Semaphore::new(self.settings.max_connections));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => break,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let gate = Arc::clone(&self);
            tokio::spawn(async move {
                gate.handle(stream, peer).await;
                drop(permit);
            });
        }
        drop(listener);
        let all = u32::try_from(self.settings.max_connections).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(DRAIN, slots.acquire_many(all)).await;
        for m in self.mirrors.values() {
            m.close_shared_connection().await;
        }
        self.audit.flush();
    }

    async fn handle(&self, stream: TcpStream, peer: SocketAddr) {
        let started = Instant::now();
        let client = peer.to_string();
        let _ = stream.set_nodelay(true);
        let (mut reader, writer) = stream.into_split();
        let req = match self.read_request(&mut reader).await {
            Ok(r) => r,
            Err(None) => {
                tracing::debug!(client, "connection closed without a request");
                return;
            }
            Err(Some(reason)) => {
                refuse(reader, writer, &reason).await;
                tracing::info!(client, reason, "request refused");
                self.audit.record(&AuditEvent::Refused(RefusedRecord {
                    client,
                    reason,
                    duration_ms: started.elapsed().as_millis() as u64,
                }));
                return;
            }
        };
        let Some(mirror) = self.mirrors.get(&req.repo) else {
            return;
        };
        let sync = mirror.sync().await;
        if let Err(e) = &sync.result {
            refuse(
                reader,
                writer,
                &format!("upstream sync failed for {}: {e}", req.repo),
            )
            .await;
            tracing::warn!(client, repo = req.repo, error = %e, "upstream sync failed");
            self.record(
                &req,
                client,
                &sync,
                None,
                started,
                Outcome::SyncFailed,
                None,
            );
            return;
        }
        match req.service {
            Service::UploadPack => {
                let mut env = ChildEnv::for_git(&self.layout);
                if let Some(v) = req.version {
                    env.set("GIT_PROTOCOL", format!("version={v}"));
                }
                let mut cmd = tokio::process::Command::new("git");
                env.apply(&mut cmd);
                cmd.current_dir(&mirror.path).args([
                    "upload-pack",
                    "--strict",
                    &format!("--timeout={}", self.settings.timeouts.idle.as_secs()),
                    ".",
                ]);
                let served = service::serve_process(
                    cmd,
                    reader,
                    writer,
                    self.settings.timeouts.idle,
                    "upload-pack",
                )
                .await;
                self.record(
                    &req,
                    client,
                    &sync,
                    spawned(served, &req),
                    started,
                    Outcome::Served,
                    None,
                );
            }
            Service::ReceivePack => {
                let session = match self.open_session(&req) {
                    Ok(s) => s,
                    Err(e) => {
                        refuse(reader, writer, &format!("cannot start the push: {e}")).await;
                        self.record(
                            &req,
                            client,
                            &sync,
                            None,
                            started,
                            Outcome::SpawnFailed,
                            None,
                        );
                        return;
                    }
                };
                let mut env = mirror.env.clone();
                env.set(SESSION_ENV, &session);
                if let Some(v) = req.version {
                    env.set("GIT_PROTOCOL", format!("version={v}"));
                }
                let mut cmd = tokio::process::Command::new("git");
                env.apply(&mut cmd);
                cmd.current_dir(&mirror.path)
                    .arg("-c")
                    .arg(format!("core.hooksPath={}", self.layout.hooks().display()))
                    .arg("-c")
                    .arg(format!(
                        "receive.maxInputSize={}",
                        self.settings.max_push_bytes
                    ))
                    .args(["-c", "receive.procReceiveRefs=refs/", "receive-pack", "."]);
                let served = service::serve_process(
                    cmd,
                    reader,
                    writer,
                    self.settings.timeouts.idle,
                    "receive-pack",
                )
                .await;
                let reports = (
                    read_report::<ScanReport>(&session, SCAN_FILE),
                    read_report::<ForwardReport>(&session, FORWARD_FILE),
                );
                let _ = std::fs::remove_dir_all(&session);
                self.record(
                    &req,
                    client,
                    &sync,
                    spawned(served, &req),
                    started,
                    Outcome::Served,
                    Some(reports),
                );
            }
        }
    }

    /// The request, or why not (`None`: the peer closed without sending a byte, e.g. a port probe).
    async fn read_request(
        &self,
        reader: &mut tokio::net::tcp::OwnedReadHalf,
    ) -> Result<Request, Option<String>> {
        let limit = self.settings.timeouts.request;
        let closed =
            || Some("connection closed before a complete request was received".to_string());
        let payload = tokio::time::timeout(limit, async {
            let mut prefix = [0u8; 4];
            if reader.read(&mut prefix[..1]).await.unwrap_or(0) == 0 {
                return Err(None);
            }
            reader
                .read_exact(&mut prefix[1..])
                .await
                .map_err(|_| closed())?;
            let len = parse_len(&prefix).map_err(|e| Some(e.to_string()))?;
            if len <= 4 {
                return Err(Some(
                    "expected a request line, got a flush or empty pkt-line".to_string(),
                ));
            }
            if len - 4 > MAX_REQUEST_BYTES {
                return Err(Some(format!(
                    "request line of {} bytes exceeds the {MAX_REQUEST_BYTES}-byte limit",
                    len - 4
                )));
            }
            let mut payload = vec![0u8; len - 4];
            reader
                .read_exact(&mut payload)
                .await
                .map_err(|_| closed())?;
            Ok(payload)
        })
        .await
        .map_err(|_| Some(format!("no complete request within {}s", limit.as_secs())))??;
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        parse_request(&payload, &names).map_err(|e| Some(e.0))
    }

    fn open_session(&self, req: &Request) -> std::io::Result<PathBuf> {
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let dir = self
            .layout
            .sessions()
            .join(format!("{}-{n}", std::process::id()));
        std::fs::create_dir(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let s = &self.settings;
        let ctx = HookContext {
            repo: req.repo.clone(),
            mirror: self.layout.mirror(&req.repo),
            rules: s.scanner.rules.clone(),
            extend_default: s.scanner.extend_default,
            max_blob_bytes: s.scanner.max_blob_bytes,
            scan_timeout_secs: s.timeouts.scan.as_secs(),
            push_timeout_secs: s.timeouts.push.as_secs(),
        };
        write_report(&dir, CONTEXT_FILE, &ctx)?;
        Ok(dir)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        req: &Request,
        client: String,
        sync: &SyncOutcome,
        served: Option<service::Served>,
        started: Instant,
        outcome: Outcome,
        reports: Option<(Option<ScanReport>, Option<ForwardReport>)>,
    ) {
        let duration_ms = started.elapsed().as_millis() as u64;
        let outcome = match &served {
            None if outcome == Outcome::Served => Outcome::SpawnFailed,
            Some(s) if s.idle_timeout => Outcome::IdleTimeout,
            Some(s) if s.exit_code != Some(0) => Outcome::ServiceFailed,
            _ => outcome,
        };
        let (bytes_in, bytes_out, exit_code) = served
            .as_ref()
            .map_or((0, 0, None), |s| (s.bytes_in, s.bytes_out, s.exit_code));
        let sync = SyncRecord::from(sync);
        let event = match req.service {
            Service::UploadPack => AuditEvent::Fetch(FetchRecord {
                repo: req.repo.clone(),
                service: req.service.name(),
                client,
                protocol: req.version,
                sync,
                outcome,
                exit_code,
                bytes_in,
                bytes_out,
                duration_ms,
            }),
            Service::ReceivePack => {
                let (scan, forward) = reports.unwrap_or((None, None));
                let refs = scan.as_ref().map(|s| s.refs.clone()).unwrap_or_default();
                let scan = scan.map(ScanRecord::from);
                let forward = forward.map(|f| ForwardRecord {
                    atomic: f.atomic,
                    results: f.results,
                    duration_ms: f.duration_ms,
                });
                let verdict = if outcome == Outcome::SyncFailed {
                    PushVerdict::SyncFailed
                } else {
                    push_verdict(scan.as_ref(), forward.as_ref())
                };
                tracing::info!(repo = req.repo, client, ?verdict, "push");
                AuditEvent::Push(PushRecord {
                    repo: req.repo.clone(),
                    service: req.service.name(),
                    client,
                    sync,
                    refs,
                    scan,
                    forward,
                    verdict,
                    outcome,
                    bytes_in,
                    bytes_out,
                    duration_ms,
                })
            }
        };
        self.audit.record(&event);
    }
}

/// The service result, logging why it could not start.
fn spawned(result: std::io::Result<service::Served>, req: &Request) -> Option<service::Served> {
    result
        .inspect_err(|e| tracing::error!(repo = req.repo, service = %req.service, error = %e, "cannot start git"))
        .ok()
}

/// Send `ERR <message>`, then read and discard what the client still sends for a moment.
///
/// Closing a socket with unread input makes the kernel send a reset, which can
/// destroy the ERR line before the client reads it; draining first lets the
/// client see the message and close on its own.
async fn refuse(mut reader: OwnedReadHalf, mut writer: OwnedWriteHalf, message: &str) {
    let _ = writer.write_all(&err_frame(message)).await;
    let _ = writer.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut left = ERR_DRAIN_BYTES;
        while left > 0 {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(ERR_DRAIN_TIME, drain).await;
}
