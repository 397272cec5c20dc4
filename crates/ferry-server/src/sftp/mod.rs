//! The SFTP front end: SSH (russh) for the transport and the login, then our own SFTP session
//! (`session`) on the `sftp` subsystem of a session channel.
//!
//! Logins are FTP's (`crate::login`): the users file's passwords, anonymous exactly when FTP
//! allows it, the same per-address turn, delay and ban, counted together with FTP's. Only the
//! `sftp` subsystem is served: shell, exec, pty, port and agent forwarding are refused.
//!
//! This module does NOT parse SFTP (that is `ferry_proto::sftp`) or touch files (that is the
//! file service).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::config::Config;
use crate::login::{self, Refused};
use crate::service::{Client, FileService, Protocol};

mod handle;
pub mod host_key;
mod session;

/// The SSH server settings for `config`'s host key; `None` without one.
pub(crate) fn ssh_config(config: &Config) -> Option<Arc<russh::server::Config>> {
    let key = config.ssh_host_key.clone()?;
    Some(Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard(std::borrow::Cow::Borrowed("SSH-2.0-ferryd")),
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
        // ferryd's own delay after a failed login applies (doubling per address, as for FTP);
        // this is only russh's floor for every rejection.
        auth_rejection_time: Duration::from_millis(50),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        max_auth_attempts: 6,
        inactivity_timeout: Some(config.idle_timeout),
        keepalive_interval: None,
        nodelay: true,
        ..russh::server::Config::default()
    }))
}

/// Runs one SSH connection to its end.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let Some(config) = shared.ssh.clone() else {
        return;
    };
    tracing::info!(%peer, protocol = "sftp", "connected");
    let handler = Connection {
        shared,
        peer,
        files: None,
        channels: HashMap::new(),
    };
    let running = match russh::server::run_stream(config, stream, handler).await {
        Ok(running) => running,
        Err(error) => {
            tracing::info!(%peer, protocol = "sftp", %error, "SSH connection ended before its session");
            return;
        }
    };
    let handle = running.handle();
    tokio::pin!(running);
    let reason = tokio::select! {
        result = &mut running => match result {
            Ok(()) => "client closed the connection".to_string(),
            Err(error) => error.to_string(),
        },
        () = shutdown.cancelled() => {
            let _ = handle
                .disconnect(russh::Disconnect::ByApplication, "Server shutting down.".into(), String::new())
                .await;
            "server shutdown".to_string()
        }
    };
    tracing::info!(%peer, protocol = "sftp", reason, "disconnected");
}

/// One SSH connection's state, as russh calls it.
struct Connection {
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// The logged-in user's files, once a password was accepted.
    files: Option<Arc<FileService>>,
    /// Session channels opened, until a subsystem takes them.
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl Connection {
    /// This connection's client, for the login and the file service.
    fn client(&self) -> Client {
        Client {
            protocol: Protocol::Sftp,
            peer: self.peer,
        }
    }
}

/// russh's errors, as the handler returns them.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct SshError(#[from] russh::Error);

fn reject() -> Auth {
    Auth::Reject {
        proceed_with_methods: None,
        partial_success: false,
    }
}

impl russh::server::Handler for Connection {
    type Error = SshError;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, SshError> {
        let peer = self.peer;
        let name = user.as_bytes();
        match login::password(&self.shared, self.client(), name, password.as_bytes()).await {
            Ok(files) => {
                tracing::info!(%peer, user = files.name(), protocol = "sftp", "logged in");
                self.files = Some(files);
                Ok(Auth::Accept)
            }
            Err(Refused::Incorrect) => {
                tracing::warn!(%peer, user, protocol = "sftp", "login failed");
                Ok(reject())
            }
            Err(Refused::BannedNow) => {
                tracing::warn!(%peer, user, protocol = "sftp", "login failed");
                tracing::warn!(%peer, user, protocol = "sftp", "too many failed logins; address banned");
                Ok(reject())
            }
            Err(Refused::Banned) => Ok(reject()),
            Err(Refused::TooManySessions(limit)) => {
                tracing::info!(%peer, user, limit, protocol = "sftp", "login refused: too many sessions for this user");
                Ok(reject())
            }
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, SshError> {
        // Only the user's own keys go on to the signature check.
        Ok(if login::has_key(&self.shared, user, offer.public_key) {
            Auth::Accept
        } else {
            reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, SshError> {
        let peer = self.peer;
        match login::public_key(&self.shared, self.client(), user, key.public_key).await {
            Ok(files) => {
                tracing::info!(%peer, user = files.name(), protocol = "sftp", key = %key.public_key.fingerprint(russh::keys::HashAlg::Sha256), "logged in");
                self.files = Some(files);
                Ok(Auth::Accept)
            }
            Err(Refused::TooManySessions(limit)) => {
                tracing::info!(%peer, user, limit, protocol = "sftp", "login refused: too many sessions for this user");
                Ok(reject())
            }
            Err(_) => Ok(reject()),
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), SshError> {
        // A handful of channels per connection is plenty for SFTP clients.
        if self.files.is_none() || self.channels.len() >= 8 {
            return Ok(());
        }
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), SshError> {
        let (Some(files), "sftp") = (&self.files, name) else {
            tracing::info!(peer = %self.peer, subsystem = name, protocol = "sftp", "subsystem refused");
            session.channel_failure(channel)?;
            return Ok(());
        };
        let Some(open) = self.channels.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        let files = Arc::clone(files);
        let peer = self.peer;
        let removed = files.member().removed().clone();
        let handle = session.handle();
        let outlet = session::ChannelOutlet {
            handle: handle.clone(),
            channel,
        };
        let (mut reading, _) = open.split();
        tokio::spawn(async move {
            tokio::select! {
                () = session::serve(reading.make_reader(), outlet, files, peer) => {
                    // As sshd does for its subsystems: the exit status after the last reply
                    // and before the end of the channel (clients such as scp exit with it).
                    let _ = handle.exit_status_request(channel, 0).await;
                    let _ = handle.eof(channel).await;
                    let _ = handle.close(channel).await;
                }
                () = removed.cancelled() => {
                    tracing::info!(%peer, protocol = "sftp", "account removed; closing the session");
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "Your account was removed.".into(), String::new())
                        .await;
                }
            }
        });
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), SshError> {
        tracing::info!(peer = %self.peer, protocol = "sftp", "shell refused");
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), SshError> {
        tracing::info!(peer = %self.peer, protocol = "sftp", "exec refused");
        session.channel_failure(channel)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), SshError> {
        session.channel_failure(channel)?;
        Ok(())
    }
}
