//! Login (RFC 959 section 4.1.1): USER, PASS and REIN; the password checks behind PASS
//! (throttling, bans, the Argon2id queue) are `crate::login`'s, shared with SFTP.

use ferry_proto::{Reply, ReplyCode, TransferType, VirtualPath};

use crate::login::{self, Refused};
use crate::service::{Client, Protocol};

use super::replies::{Fault, refuse};
use super::{Login, Session, reply};

impl Session {
    /// With `--require-tls`, the refusal of a login on a clear control connection.
    pub(super) fn tls_required_for_login(&self) -> Option<Reply> {
        (self.shared.config.require_tls && !self.stream.is_tls())
            .then(|| refuse(Fault::TlsRequiredForLogin))
    }

    pub(super) fn user(&mut self, name: Vec<u8>) -> Reply {
        if let Some(refusal) = self.tls_required_for_login() {
            return refusal;
        }
        if let Login::Done(_) = self.login {
            return reply(
                ReplyCode::BAD_SEQUENCE,
                "Already logged in; use REIN first.",
            );
        }
        self.login = Login::Pass(name);
        // The same answer for every name, known or not.
        reply(ReplyCode::NEED_PASSWORD, "Password required.")
    }

    pub(super) async fn pass(&mut self, password: &[u8]) -> Reply {
        if let Some(refusal) = self.tls_required_for_login() {
            return refusal;
        }
        let name = match &self.login {
            Login::Pass(name) => name.clone(),
            Login::Done(_) => return reply(ReplyCode::BAD_SEQUENCE, "Already logged in."),
            Login::User => return reply(ReplyCode::BAD_SEQUENCE, "Send USER first."),
        };
        let user = String::from_utf8_lossy(&name).into_owned();
        let client = Client {
            protocol: Protocol::Ftp,
            peer: self.peer,
        };
        match login::password(&self.shared, client, &name, password).await {
            Ok(files) => {
                tracing::info!(peer = %self.peer, user = files.name(), "logged in");
                let text = if files.rules().read_only {
                    "Logged in (read-only)."
                } else {
                    "Logged in."
                };
                self.login = Login::Done(files);
                self.cwd = VirtualPath::root();
                reply(ReplyCode::LOGGED_IN, text)
            }
            Err(Refused::Banned) => self.fail(Fault::TooManyFailures),
            Err(Refused::TooManySessions(limit)) => {
                tracing::info!(peer = %self.peer, %user, limit, "login refused: too many sessions for this user");
                self.fail(Fault::TooManyUserSessions(limit))
            }
            Err(Refused::Incorrect) => {
                tracing::warn!(peer = %self.peer, %user, "login failed");
                self.login = Login::User;
                refuse(Fault::LoginIncorrect)
            }
            Err(Refused::BannedNow) => {
                tracing::warn!(peer = %self.peer, %user, "login failed");
                tracing::warn!(peer = %self.peer, %user, "too many failed logins; address banned");
                self.login = Login::User;
                self.fail(Fault::TooManyFailures)
            }
        }
    }

    pub(super) fn rein(&mut self) -> Reply {
        if let Some(running) = self.running.take() {
            running.cancel.cancel();
        }
        self.login = Login::User;
        self.cwd = VirtualPath::root();
        self.transfer_type = TransferType::Image;
        self.rest = None;
        self.rename_from = None;
        self.data = None;
        self.epsv_all = false;
        self.hashing = None;
        self.hash_algorithm = ferry_proto::digest::Algorithm::Sha256;
        self.range = None;
        reply(ReplyCode::SERVICE_READY, "Ready for a new user.")
    }
}
