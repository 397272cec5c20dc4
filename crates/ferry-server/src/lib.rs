//! ferryd's library: listeners, one task per FTP session, SFTP or HTTP connection, data
//! transfers and their limits.
//!
//! [`run`] serves one already-bound listener until the shutdown token is cancelled; tests start it
//! on port 0. [`Server`] serves several listeners from one shared state. Each session is a task
//! that owns its state outright; a session's failure ends that session only, never the accept
//! loop. On shutdown the listeners stop accepting and every session says 421 and closes.
//!
//! This crate does NOT parse FTP (that is `ferry-proto`) or touch files directly (that is
//! `ferry-storage`).

pub mod auth;
pub mod config;
mod data;
mod ftp;
mod http;
mod limits;
mod listener;
pub mod log;
mod login;
pub mod observe;
mod service;
pub mod sftp;
mod stream;
pub mod tls;
mod transfer;

use std::io;
use std::sync::Arc;

pub use auth::{Anonymous, User, UsersFile};
pub use config::{Config, LogFormat};
use ferry_storage::{LocalStorage, Storage};
pub use listener::Server;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `listener` with `config` until `shutdown` is cancelled, then waits for the sessions to
/// close.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> io::Result<()> {
    check_storage(&config).await?;
    let server = Server::new(config)?;
    server.serve(listener, shutdown).await;
    server.wait().await;
    Ok(())
}

/// Opens the storage backend for `config`.
fn open_storage(config: &Config) -> io::Result<Storage> {
    match &config.s3 {
        None => Ok(Storage::Local(LocalStorage::open(&config.root)?)),
        #[cfg(feature = "s3")]
        Some(s3) => ferry_storage::S3Storage::open(s3)
            .map(Storage::S3)
            .map_err(|e| io::Error::other(format!("{}: {e}", s3.url()))),
        #[cfg(not(feature = "s3"))]
        Some(_) => Err(io::Error::other(
            "this ferryd was built without S3 support (cargo feature s3)",
        )),
    }
}

/// Opens the storage `config` names and checks that it answers (on S3, one listing request),
/// so that a wrong bucket, endpoint or key fails at start rather than at the first client.
pub async fn check_storage(config: &Config) -> io::Result<()> {
    config.validate().map_err(io::Error::other)?;
    let storage = open_storage(config)?;
    storage
        .check()
        .await
        .map_err(|e| io::Error::other(format!("{}: {e}", config.storage_description())))
}

/// The state every session shares.
#[derive(Debug)]
struct Shared {
    config: Config,
    storage: Storage,
    /// Who may log in, and each account's state over its sessions.
    accounts: Arc<service::Accounts>,
    /// The SSH server settings, when SFTP is served.
    ssh: Option<Arc<russh::server::Config>>,
    logins: limits::LoginThrottle,
    credentials: auth::CredentialCache,
    /// Password hashes computed at once (one per core, one of them for suspects).
    hashing: limits::PasswordChecks,
    /// Where events go.
    observer: Arc<observe::Observer>,
    /// The tus uploads in progress (HTTP).
    tus: http::tus::Store,
    /// WebDAV's locks and dead properties, in memory.
    dav: http::DavState,
    /// File digests computed at once, over the whole server (`--max-hashing`).
    digests: service::DigestLimit,
}

impl Shared {
    fn new(config: Config) -> io::Result<Arc<Shared>> {
        config.validate().map_err(io::Error::other)?;
        let storage = open_storage(&config)?;
        let logins = limits::LoginThrottle::new(limits::LoginPolicy {
            max_failures: config.max_login_failures,
            ban_time: config.ban_time,
            failure_delay: config.login_failure_delay,
        });
        let credentials = auth::CredentialCache::new(config.credential_cache_ttl);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hashing = limits::PasswordChecks::new(cores);
        let accounts = Arc::new(service::Accounts::new(
            config.users.clone(),
            config.anonymous,
            config.max_rate_up,
            config.max_rate_down,
        ));
        let ssh = sftp::ssh_config(&config);
        let observer = Arc::new(observe::Observer::new(&config)?);
        let tus = http::tus::Store::open(config.tus_state_dir.clone()).map_err(|error| {
            let dir = config
                .tus_state_dir
                .as_deref()
                .unwrap_or(std::path::Path::new(""));
            io::Error::other(format!("tus state folder {}: {error}", dir.display()))
        })?;
        let digests = service::DigestLimit::new(config.max_hashing);
        Ok(Arc::new(Shared {
            digests,
            tus,
            dav: http::DavState::default(),
            observer,
            ssh,
            config,
            storage,
            accounts,
            logins,
            credentials,
            hashing,
        }))
    }
}
