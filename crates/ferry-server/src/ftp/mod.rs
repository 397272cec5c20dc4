//! One FTP session: the control connection, its state, and the handlers of RFC 959 and its
//! extensions. The task owns every piece of its state; nothing is shared but the read-only
//! [`Shared`] and the storage.
//!
//! The loop reads bounded lines, parses them with `ferry-proto`, checks sequencing (login before
//! commands, RNFR before RNTO, REST before a transfer) and writes the reply each handler returns.
//! A transfer runs in its own task ([`crate::transfer`]); meanwhile ABOR, STAT, NOOP and QUIT are
//! answered at once and other commands wait their turn.
//!
//! This file holds the session's state, its loop and the dispatch of commands; the handlers live
//! beside it by concern (login, security, data set-up, transfers, files, information), the
//! control connection's I/O in `control.rs` and the error-to-reply mapping in `replies.rs`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry_proto::digest::Algorithm;
use ferry_proto::{Command, LineBuffer, ProtLevel, Reply, ReplyCode, TransferType, VirtualPath};
use ferry_storage::WriteMode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::data::DataSetup;
use crate::service::FileService;
use crate::stream::Stream;
use crate::tls::SessionTls;
use crate::transfer::{Event, Failure, ListFormat, Running};

mod control;
mod data_setup;
mod files;
mod hash;
mod info;
mod login;
mod replies;
mod security;
mod transfers;

use control::{MAX_DEFERRED, next_event, read_some};
use files::{Op, quote_path};
use hash::{Hashing, Style, next_answer};
use info::{feat, help, opts};
use replies::{Fault, refuse};
use security::tls_handshake;

/// How long ABOR waits for the transfer task to stop.
const ABORT_WAIT: Duration = Duration::from_secs(10);

/// Whether the session goes on after a command.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// Where the login stands.
#[derive(Debug)]
enum Login {
    /// Waiting for USER.
    User,
    /// USER given; waiting for PASS.
    Pass(Vec<u8>),
    /// Logged in.
    Done(Arc<FileService>),
}

/// A session's state.
struct Session {
    stream: Stream,
    peer: SocketAddr,
    local: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    lines: LineBuffer,
    deferred: VecDeque<Vec<u8>>,
    login: Login,
    /// Current folder, in the user's view (`/` is the user's home).
    cwd: VirtualPath,
    transfer_type: TransferType,
    rest: Option<u64>,
    rename_from: Option<VirtualPath>,
    epsv_all: bool,
    data: Option<DataSetup>,
    running: Option<Running>,
    last_activity: Instant,
    connected_at: Instant,
    /// PBSZ was given after AUTH (RFC 4217 section 8).
    pbsz: bool,
    /// The data protection level from PROT; clear until PROT P.
    prot: ProtLevel,
    /// Read buffer for a TLS control connection (plain ones read into the stack).
    tls_buffer: Vec<u8>,
    /// The TLS of this control connection and its data connections, once TLS is on.
    tls: Option<SessionTls>,
    /// Set by a handler whose reply ends the session (a ban).
    closing: bool,
    /// HASH's algorithm (OPTS HASH); SHA-256 until changed.
    hash_algorithm: Algorithm,
    /// The octets (first, last) the next HASH covers, from RANG.
    range: Option<(u64, u64)>,
    /// A digest being computed (HASH, XSHA1...): one at a time, like a transfer.
    hashing: Option<Hashing>,
}

/// Runs one session to its end. With `implicit`, TLS starts with the first byte (implicit
/// FTPS).
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    implicit: bool,
) {
    let local = match stream.local_addr() {
        Ok(local) => local,
        Err(error) => {
            tracing::warn!(%peer, %error, "connection lost before greeting");
            return;
        }
    };
    tracing::info!(%peer, implicit, "connected");
    // Implicit TLS starts before the session and its line buffer exist: nothing read in clear
    // can be taken for a command sent over TLS (for AUTH TLS, see `Session::auth`).
    let (stream, tls) = if implicit {
        match tls_handshake(&shared, stream).await {
            Ok((stream, tls)) => (stream, Some(tls)),
            Err(error) => {
                tracing::warn!(%peer, %error, "implicit TLS handshake failed");
                return;
            }
        }
    } else {
        (Stream::Plain(stream), None)
    };
    let max_line = shared.config.max_line;
    let mut session = Session {
        stream,
        peer,
        local,
        shared,
        shutdown,
        lines: LineBuffer::new(max_line),
        deferred: VecDeque::new(),
        login: Login::User,
        cwd: VirtualPath::root(),
        transfer_type: TransferType::Image,
        rest: None,
        rename_from: None,
        epsv_all: false,
        data: None,
        running: None,
        last_activity: Instant::now(),
        connected_at: Instant::now(),
        pbsz: false,
        prot: ProtLevel::Clear,
        tls_buffer: Vec::new(),
        tls,
        closing: false,
        hash_algorithm: Algorithm::Sha256,
        range: None,
        hashing: None,
    };
    let reason = session.serve().await;
    if let Some(mut running) = session.running.take() {
        running.cancel.cancel();
        // Counted in the transfer log and the metrics as it ended: a result that was waiting,
        // else cut with the session (an upload is then never committed: nobody answers its
        // UploadEnded).
        let mut result = Err(Failure::Cancelled);
        while let Ok(event) = running.events.try_recv() {
            if let Event::Done(done) = event {
                result = done;
                break;
            }
        }
        session.log_running(&running, &result);
    }
    // End the control connection properly: over TLS this sends close_notify after the last
    // reply (221 or 421), which clients check for.
    let _ = tokio::time::timeout(ABORT_WAIT, session.stream.shutdown()).await;
    tracing::info!(%peer, reason, "disconnected");
}

/// A logged-in account and the wait for its removal.
type Removal = (
    Arc<crate::service::Member>,
    std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
);

/// Ends when the watched account is removed; never when none is watched.
async fn removed(removal: &mut Option<Removal>) {
    match removal {
        Some((_, wait)) => wait.as_mut().await,
        None => std::future::pending().await,
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn reply(code: ReplyCode, text: impl Into<String>) -> Reply {
    Reply::new(code, text)
}

impl Session {
    /// The session loop; returns why it ended.
    async fn serve(&mut self) -> &'static str {
        let greeting = reply(ReplyCode::SERVICE_READY, "Welcome to the FTP server.");
        if self.send(&greeting).await.is_err() {
            return "write failed";
        }
        // Shutdown: until when a running transfer may go on, and whether it was cut already.
        let mut drain_until: Option<Instant> = None;
        let mut cut = false;
        // One timer for the login and idle timeouts, moved on only when it fires early: a new
        // timer per command would cost a timer-wheel entry and often an event-loop wake-up.
        let idle = tokio::time::sleep_until(self.deadline().into());
        tokio::pin!(idle);
        // Likewise one wait for shutdown, not a new one (and two lock round trips) per command.
        let cancelled = self.shutdown.clone().cancelled_owned();
        tokio::pin!(cancelled);
        // The account's removal, watched from the login on (made once per login, not per
        // command).
        let mut removal: Option<Removal> = None;
        loop {
            if drain_until.is_some() && !self.busy() {
                let _ = self.send(&refuse(Fault::ShuttingDown)).await;
                return "server shutdown";
            }
            // Boxed: the handlers' state lives on the heap only while a command runs, so an idle
            // session's future stays small.
            if let Some(reason) = Box::pin(self.drain_lines()).await {
                return reason;
            }
            match &self.login {
                Login::Done(files)
                    if removal
                        .as_ref()
                        .is_none_or(|(member, _)| !Arc::ptr_eq(member, files.member())) =>
                {
                    let member = Arc::clone(files.member());
                    let wait = Box::pin(member.removed().clone().cancelled_owned());
                    removal = Some((member, wait));
                }
                Login::Done(_) => {}
                _ => removal = None,
            }
            let watching = removal.is_some();
            let timeout = self.deadline();
            if timeout < idle.deadline().into_std() {
                idle.as_mut().reset(timeout.into());
            }
            let reading = self.deferred.len() < MAX_DEFERRED;
            let transferring = self.running.is_some();
            let hashing = self.hashing.is_some();
            let draining = drain_until.is_some();
            tokio::select! {
                read = read_some(&mut self.stream, &mut self.lines, &mut self.tls_buffer), if reading => match read {
                    Ok(0) => return "client closed the connection",
                    Ok(_) => self.last_activity = Instant::now(),
                    Err(_) => return "connection error",
                },
                event = next_event(&mut self.running), if transferring => {
                    if Box::pin(self.on_transfer_event(event)).await.is_err() {
                        return "write failed";
                    }
                }
                answer = next_answer(&mut self.hashing), if hashing => {
                    self.hashing = None;
                    // The idle time counts from the answer, as from a transfer's end.
                    self.last_activity = Instant::now();
                    if self.send(&answer).await.is_err() {
                        return "write failed";
                    }
                }
                () = cancelled.as_mut(), if !draining => {
                    // Idle: 421 now. Transferring: let it finish within the grace period.
                    drain_until = Some(Instant::now() + self.shared.config.shutdown_grace);
                    if transferring {
                        tracing::info!(peer = %self.peer, "shutting down after the running transfer");
                    }
                }
                () = tokio::time::sleep_until(drain_until.unwrap_or(timeout).into()), if draining => {
                    if cut {
                        return "server shutdown";
                    }
                    // Grace is over: abort the transfer (426 follows), then 421.
                    if let Some(running) = &self.running {
                        running.cancel.cancel();
                    }
                    // A digest sends nothing more: its session is closing.
                    self.hashing = None;
                    cut = true;
                    drain_until = Some(Instant::now() + ABORT_WAIT);
                }
                () = removed(&mut removal), if watching => {
                    if let Some(running) = self.running.take() {
                        running.cancel.cancel();
                    }
                    self.hashing = None;
                    tracing::info!(peer = %self.peer, user = self.user_name(), "account removed; closing the session");
                    let _ = self.send(&refuse(Fault::AccountRemoved)).await;
                    return "account removed";
                }
                () = idle.as_mut(), if !transferring && !hashing => {
                    if Instant::now() < timeout {
                        idle.as_mut().reset(timeout.into());
                        continue;
                    }
                    let _ = self.send(&refuse(Fault::Timeout)).await;
                    return "timeout";
                }
            }
        }
    }

    /// True while a transfer or a digest runs: other commands wait.
    fn busy(&self) -> bool {
        self.running.is_some() || self.hashing.is_some()
    }

    /// When the session times out if nothing happens: the login timeout until a login, then the
    /// idle timeout after the last command.
    fn deadline(&self) -> Instant {
        match self.login {
            Login::Done(_) => self.last_activity + self.shared.config.idle_timeout,
            _ => self.connected_at + self.shared.config.login_timeout,
        }
    }

    async fn handle_line(&mut self, line: &[u8]) -> std::io::Result<Flow> {
        tracing::debug!(peer = %self.peer, user = self.user_name(), command = %Command::for_log(line));
        let command = match Command::parse(line) {
            Ok(command) => command,
            Err(error) => {
                self.send(&refuse(Fault::Command(&error))).await?;
                return Ok(Flow::Continue);
            }
        };
        // REST applies to the next transfer (RFC 3659 section 5.4); clients set up the data
        // connection and the type in between, so those keep it, and anything else drops it.
        let keeps_rest = matches!(
            command,
            Command::Rest(_)
                | Command::Pasv
                | Command::Epsv(_)
                | Command::Port(_)
                | Command::Eprt(_)
                | Command::Type(_)
                | Command::Mode(_)
                | Command::Stru(_)
                | Command::Noop
        );
        let rest = if keeps_rest { None } else { self.rest.take() };
        if !matches!(command, Command::Rnto(_)) && !matches!(command, Command::Rnfr(_)) {
            self.rename_from = None;
        }
        if let Command::Auth(mechanism) = &command {
            return self.auth(mechanism).await;
        }
        // RANG scopes the next HASH or RETR (draft-bryan-ftp-range); the data set-up commands
        // keep it as they keep REST. HASH takes it itself.
        let keeps_range = matches!(
            command,
            Command::Rang(..)
                | Command::Hash(_)
                | Command::Pasv
                | Command::Epsv(_)
                | Command::Port(_)
                | Command::Eprt(_)
                | Command::Type(_)
                | Command::Mode(_)
                | Command::Stru(_)
                | Command::Noop
                | Command::Opts(_)
                | Command::Feat
        );
        let range = if keeps_range { None } else { self.range.take() };
        if range.is_some()
            && matches!(
                command,
                Command::Stor(_) | Command::Appe(_) | Command::Stou(_)
            )
        {
            let refused = reply(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                "RANG applies to RETR and HASH only; range cleared.",
            );
            self.send(&refused).await?;
            return Ok(Flow::Continue);
        }
        if let Command::Quit = command {
            if let Some(running) = self.running.take() {
                running.cancel.cancel();
            }
            self.hashing = None;
            self.send(&reply(ReplyCode::CLOSING_CONTROL, "Goodbye."))
                .await?;
            return Ok(Flow::Close);
        }
        let answer = self.dispatch(command, rest, range).await;
        if let Some(answer) = answer {
            self.send(&answer).await?;
        }
        Ok(if self.closing {
            Flow::Close
        } else {
            Flow::Continue
        })
    }

    /// The logged-in user's files.
    fn files(&self) -> Option<&FileService> {
        match &self.login {
            Login::Done(files) => Some(files),
            _ => None,
        }
    }

    fn user_name(&self) -> &str {
        match &self.login {
            Login::Done(files) => files.name(),
            _ => "-",
        }
    }

    /// Handles one command; `None` when the handler already replied (transfers). `rest` and
    /// `range` are the REST offset and the RANG range that apply to this command.
    async fn dispatch(
        &mut self,
        command: Command,
        rest: Option<u64>,
        range: Option<(u64, u64)>,
    ) -> Option<Reply> {
        // Commands that need no login (RFC 959 section 5.4 lets these through).
        match &command {
            Command::User(name) => return Some(self.user(name.clone())),
            Command::Pass(password) => return Some(self.pass(password).await),
            Command::Rein => return Some(self.rein()),
            Command::Feat => {
                return Some(feat(self.shared.config.tls.is_some(), self.hash_algorithm));
            }
            Command::Syst => return Some(reply(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8")),
            Command::Noop => return Some(reply(ReplyCode::OK, "NOOP ok.")),
            Command::Help(_) => return Some(help()),
            Command::Opts(options) => {
                let text = String::from_utf8_lossy(options);
                let mut words = text.splitn(2, ' ');
                if words
                    .next()
                    .is_some_and(|word| word.eq_ignore_ascii_case("HASH"))
                {
                    return Some(self.opts_hash(words.next().unwrap_or_default()));
                }
                return Some(opts(options));
            }
            Command::Abor => return Some(self.abor().await),
            // Server status needs no login (RFC 959 section 4.1.3); a path's status does.
            Command::Stat(None) => return Some(self.status()),
            Command::Pbsz(_) => return Some(self.pbsz()),
            Command::Prot(level) => return Some(self.prot(*level)),
            Command::Ccc => {
                return Some(reply(
                    ReplyCode::DENIED_FOR_POLICY,
                    "CCC refused: the control connection stays protected.",
                ));
            }
            Command::Auth(_) => return None,
            _ => {}
        }
        let Login::Done(files) = &self.login else {
            return Some(refuse(Fault::NotLoggedIn));
        };
        let files = Arc::clone(files);
        match command {
            Command::Acct(_) => Some(reply(ReplyCode::SUPERFLUOUS, "ACCT not needed.")),
            Command::Pwd => Some(reply(
                ReplyCode::PATH_CREATED,
                format!("\"{}\" is the current folder.", quote_path(&self.cwd)),
            )),
            Command::Cwd(path) => Some(self.cwd(&files, &path).await),
            Command::Cdup => Some(self.cwd(&files, b"..").await),
            Command::Type(kind) => {
                self.transfer_type = kind;
                Some(reply(
                    ReplyCode::OK,
                    match kind {
                        TransferType::Ascii => "Switching to ASCII mode.",
                        TransferType::Image => "Switching to Binary mode.",
                    },
                ))
            }
            Command::Mode(_) => Some(reply(ReplyCode::OK, "Mode set to S.")),
            Command::Stru(_) => Some(reply(ReplyCode::OK, "Structure set to F.")),
            Command::Allo => Some(reply(ReplyCode::SUPERFLUOUS, "ALLO not needed.")),
            Command::Rest(offset) => {
                self.rest = Some(offset);
                Some(reply(
                    ReplyCode::FILE_ACTION_PENDING,
                    format!("Restarting at {offset}. Send STOR or RETR to start the transfer."),
                ))
            }
            Command::Pasv => Some(self.pasv()),
            Command::Epsv(arg) => Some(self.epsv(arg)),
            Command::Port(target) => Some(self.active(SocketAddr::V4(target))),
            Command::Eprt(target) => Some(self.active(target)),
            Command::Retr(path) => match range {
                Some((first, last)) => {
                    let end = last.saturating_add(1);
                    self.retr(&files, &path, first, Some(end)).await
                }
                None => self.retr(&files, &path, rest.unwrap_or(0), None).await,
            },
            Command::Stor(path) => {
                let mode = match rest {
                    Some(offset) if offset > 0 => WriteMode::Resume(offset),
                    _ => WriteMode::Create,
                };
                self.store(&files, &path, mode, "STOR").await
            }
            Command::Appe(path) => self.store(&files, &path, WriteMode::Append, "APPE").await,
            Command::Stou(hint) => {
                let hint = hint.unwrap_or_else(|| b"ferry.upload".to_vec());
                self.store(&files, &hint, WriteMode::Unique, "STOU").await
            }
            Command::List(path) => self.list(&files, path.as_deref(), ListFormat::Long).await,
            Command::Nlst(path) => self.list(&files, path.as_deref(), ListFormat::Names).await,
            Command::Mlsd(path) => self.mlsd(&files, path.as_deref()).await,
            Command::Mlst(path) => Some(self.mlst(&files, path.as_deref()).await),
            Command::Size(path) => Some(self.size(&files, &path).await),
            Command::Mdtm(path) => Some(self.mdtm(&files, &path).await),
            Command::Mfmt(secs, path) => Some(self.mfmt(&files, secs, &path).await),
            Command::Dele(path) => Some(self.simple(&files, &path, Op::Delete).await),
            Command::Rmd(path) => Some(self.simple(&files, &path, Op::RemoveDir).await),
            Command::Mkd(path) => Some(self.simple(&files, &path, Op::MakeDir).await),
            Command::Rnfr(path) => Some(self.rnfr(&files, &path).await),
            Command::Rnto(path) => Some(self.rnto(&files, &path).await),
            Command::Site(args) => Some(self.site(&files, &args).await),
            Command::Stat(path) => self.stat(&files, path.as_deref()).await,
            Command::Smnt => Some(reply(ReplyCode::NOT_IMPLEMENTED, "SMNT not implemented.")),
            Command::Hash(path) => self.hash(&files, &path, self.hash_algorithm, Style::Hash),
            Command::Xdigest(algorithm, path) => self.hash(&files, &path, algorithm, Style::Bare),
            Command::Rang(start, end) => Some(self.rang(start, end)),
            // Handled above.
            Command::User(_)
            | Command::Pass(_)
            | Command::Rein
            | Command::Feat
            | Command::Syst
            | Command::Noop
            | Command::Help(_)
            | Command::Opts(_)
            | Command::Abor
            | Command::Auth(_)
            | Command::Pbsz(_)
            | Command::Prot(_)
            | Command::Ccc
            | Command::Quit => None,
        }
    }
}
