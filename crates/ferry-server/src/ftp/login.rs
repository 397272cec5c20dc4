//! Login (RFC 959 section 4.1.1): USER, PASS, REIN, and the password checks behind them
//! (throttling, bans, the Argon2id queue).

use std::sync::Arc;
use std::time::Instant;

use ferry_proto::{Reply, ReplyCode, TransferType, VirtualPath};

use crate::auth::{self, Anonymous};
use crate::limits;
use crate::service::accounts::ANONYMOUS;
use crate::service::{FileService, SeatRefused};

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
        // One password check at a time per client IP, across all its sessions, so that a
        // guesser with many connections meets the delay and the ban like one with a single
        // connection; the ban is checked again once it is this session's turn.
        let ip = self.peer.ip().to_canonical();
        let _turn = self.shared.logins.turn(ip).await;
        if self.shared.logins.is_banned(ip, Instant::now()) {
            return self.fail(Fault::TooManyFailures);
        }
        match self.authenticate(&name, password).await {
            Some(account) => {
                if !auth::is_anonymous_name(&name) {
                    self.shared.logins.succeeded(self.peer.ip().to_canonical());
                }
                let seat = match self.shared.accounts.seat(&account) {
                    Ok(seat) => seat,
                    Err(SeatRefused::TooManySessions(limit)) => {
                        tracing::info!(peer = %self.peer, user = %account, limit, "login refused: too many sessions for this user");
                        return self.fail(Fault::TooManyUserSessions(limit));
                    }
                    // Removed by a reload while the password was checked.
                    Err(SeatRefused::Unknown) => {
                        self.login = Login::User;
                        return refuse(Fault::LoginIncorrect);
                    }
                };
                tracing::info!(peer = %self.peer, user = %account, "logged in");
                let files = FileService::new(
                    seat,
                    Arc::clone(&self.shared.accounts),
                    self.shared.storage.clone(),
                );
                files.prepare().await;
                let text = if files.rules().read_only {
                    "Logged in (read-only)."
                } else {
                    "Logged in."
                };
                self.login = Login::Done(files);
                self.cwd = VirtualPath::root();
                reply(ReplyCode::LOGGED_IN, text)
            }
            None => {
                let user = String::from_utf8_lossy(&name).into_owned();
                tracing::warn!(peer = %self.peer, %user, "login failed");
                self.login = Login::User;
                match self.shared.logins.failed(ip, Instant::now()) {
                    limits::Verdict::Delay(delay) => {
                        tokio::time::sleep(delay).await;
                        refuse(Fault::LoginIncorrect)
                    }
                    limits::Verdict::Banned => {
                        tracing::warn!(peer = %self.peer, %user, "too many failed logins; address banned");
                        self.fail(Fault::TooManyFailures)
                    }
                }
            }
        }
    }

    /// The account `name` and `password` prove, if they do: the user's name, or
    /// [`ANONYMOUS`] for an anonymous login.
    pub(super) async fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<String> {
        let accounts = &self.shared.accounts;
        let name_text = String::from_utf8_lossy(name).into_owned();
        if let Some(user) = accounts.user(&name_text) {
            let cache = &self.shared.credentials;
            if !cache.contains(&name_text, &user, password) {
                let owned = password.to_vec();
                // Each Argon2id check takes ~19 MiB and a core for a while: a few at a time,
                // or a login storm takes all memory (500 at once measured 9 GB).
                let _permit = self.check_permit().await?;
                let checked =
                    tokio::task::spawn_blocking(move || user.verify(&owned).then_some(user));
                let user = checked.await.ok().flatten()?;
                cache.insert(&name_text, &user, password);
            }
            return Some(name_text);
        }
        if auth::is_anonymous_name(name) && accounts.anonymous() != Anonymous::Off {
            return Some(ANONYMOUS.to_string());
        }
        // An unknown name costs the same Argon2id check as a known one, so the time PASS takes
        // does not tell a guesser which names exist.
        let _permit = self.check_permit().await?;
        let owned = password.to_vec();
        let _ = tokio::task::spawn_blocking(move || auth::dummy_user().verify(&owned)).await;
        None
    }

    /// Waits for a password check's turn; an address that failed recently waits in the lane
    /// for suspects, so a flood of guesses leaves a core for other addresses.
    pub(super) async fn check_permit(&self) -> Option<limits::CheckPermit<'_>> {
        let ip = self.peer.ip().to_canonical();
        let suspect = self.shared.logins.failed_recently(ip, Instant::now());
        self.shared.hashing.permit(suspect).await
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
        reply(ReplyCode::SERVICE_READY, "Ready for a new user.")
    }
}
