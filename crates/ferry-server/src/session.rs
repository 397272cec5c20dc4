//! One FTP session: the control connection, its state, and the handlers of RFC 959 and its
//! extensions. The task owns every piece of its state; nothing is shared but the read-only
//! [`Shared`] and the storage.
//!
//! The loop reads bounded lines, parses them with `ferry-proto`, checks sequencing (login before
//! commands, RNFR before RNTO, REST before a transfer) and writes the reply each handler returns.
//! A transfer runs in its own task ([`crate::transfer`]); meanwhile ABOR, STAT, NOOP and QUIT are
//! answered at once and other commands wait their turn.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry_proto::listing::{self, Entry, EntryKind};
use ferry_proto::{
    Command, EpsvArg, LineBuffer, LineError, MultiLineEncoder, PathError, ProtLevel, Reply,
    ReplyCode, TransferType, VirtualPath, addr, time,
};
use ferry_storage::{ErrorKind, StorageError, WriteMode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Anonymous};
use crate::data::{self, DataSetup};
use crate::stream::Stream;
use crate::tls::SessionTls;
use crate::transfer::{self, DataTls, Event, Failure, ListFormat, ListSource, Plan, Running, Work};
use crate::{Shared, limits};

/// Bytes read from the control connection at a time.
const READ_CHUNK: usize = 4096;
/// Commands held back while a transfer runs; past this we stop reading.
const MAX_DEFERRED: usize = 16;
/// Largest file whose ASCII-mode SIZE is computed by reading it.
const MAX_ASCII_SIZE_SCAN: u64 = 16 * 1024 * 1024;
/// Bytes of a folder's STAT reply gathered before a write to the control connection.
const STAT_FLUSH: usize = 64 * 1024;
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
    Done(Account),
}

/// The logged-in user's view.
#[derive(Debug, Clone)]
struct Account {
    name: String,
    /// The user's root, below the served root.
    home: VirtualPath,
    read_only: bool,
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
    };
    let reason = session.serve().await;
    if let Some(running) = session.running.take() {
        running.cancel.cancel();
    }
    // End the control connection properly: over TLS this sends close_notify after the last
    // reply (221 or 421), which clients check for.
    let _ = tokio::time::timeout(ABORT_WAIT, session.stream.shutdown()).await;
    tracing::info!(%peer, reason, "disconnected");
}

/// The server side of a TLS handshake on the control connection, bounded by the login timeout;
/// the stream and the TLS its data connections will use.
async fn tls_handshake(shared: &Shared, tcp: TcpStream) -> std::io::Result<(Stream, SessionTls)> {
    let Some(settings) = &shared.config.tls else {
        return Err(std::io::Error::other("TLS is not configured"));
    };
    let tls = settings.session().map_err(std::io::Error::other)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.control());
    let handshake = tokio::time::timeout(shared.config.login_timeout, acceptor.accept(tcp));
    match handshake.await {
        Ok(Ok(stream)) => Ok((Stream::Tls(Box::new(stream)), tls)),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Doubles `"` as RFC 959 appendix II asks for pathnames in 257 replies.
fn quote_path(path: &VirtualPath) -> String {
    path.to_string().replace('"', "\"\"")
}

fn reply(code: ReplyCode, text: impl Into<String>) -> Reply {
    Reply::new(code, text)
}

/// The one mapping from a storage failure to a reply.
fn storage_reply(error: &StorageError) -> Reply {
    let (code, text) = match error.kind() {
        ErrorKind::NotFound => (ReplyCode::FILE_UNAVAILABLE, "No such file or folder."),
        ErrorKind::PermissionDenied => (ReplyCode::FILE_UNAVAILABLE, "Permission denied."),
        ErrorKind::AlreadyExists => (ReplyCode::FILE_UNAVAILABLE, "Already exists."),
        ErrorKind::WrongKind => (
            ReplyCode::FILE_UNAVAILABLE,
            "Not a plain file or not a folder.",
        ),
        ErrorKind::NotEmpty => (ReplyCode::FILE_UNAVAILABLE, "Folder not empty."),
        ErrorKind::NoSpace => (
            ReplyCode::INSUFFICIENT_STORAGE,
            "Insufficient storage space.",
        ),
        ErrorKind::QuotaExceeded => (ReplyCode::EXCEEDED_STORAGE, "Storage allocation exceeded."),
        ErrorKind::BadName => (ReplyCode::BAD_FILE_NAME, "File name not allowed."),
        ErrorKind::Busy => (
            ReplyCode::FILE_BUSY,
            "File busy: another upload to it is running.",
        ),
        ErrorKind::Unsupported => (
            ReplyCode(554),
            "Requested action not taken: not supported here (or invalid REST).",
        ),
        ErrorKind::Other => (ReplyCode::LOCAL_ERROR, "Local error in processing."),
    };
    reply(code, text)
}

fn path_reply(error: PathError) -> Reply {
    match error {
        PathError::Nul | PathError::NotAName => {
            reply(ReplyCode::BAD_FILE_NAME, "File name not allowed.")
        }
        PathError::TooLong => reply(ReplyCode::BAD_FILE_NAME, "Path too long."),
    }
}

/// Commands answered while a transfer runs.
fn is_urgent(line: &[u8]) -> bool {
    let verb: Vec<u8> = line.iter().take(5).map(u8::to_ascii_uppercase).collect();
    let verb = verb.split(|&b| b == b' ').next().unwrap_or_default();
    matches!(verb, b"ABOR" | b"STAT" | b"NOOP" | b"QUIT")
}

const FEATURES: &[&str] = &[
    "EPRT",
    "EPSV",
    "MDTM",
    "MFMT",
    "MLST type*;size*;modify*;perm*;unique*;UNIX.mode*;",
    "PASV",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
];

const HELP_COMMANDS: &str = "ABOR ACCT ALLO APPE CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MFMT \
     MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PORT PWD QUIT REIN REST RETR RMD RNFR RNTO SITE \
     SIZE STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD XPWD XRMD";

impl Session {
    /// Writes a reply and flushes it. Over TLS the flush matters: when the socket is not
    /// known to be writable, tokio-rustls takes the bytes, keeps the record in its buffer and
    /// reports success, so without it a reply (seen: a 226) could wait for the next one.
    async fn send(&mut self, reply: &Reply) -> std::io::Result<()> {
        self.send_bytes(&reply.to_bytes()).await
    }

    /// Writes encoded reply bytes and flushes them (see [`Session::send`]).
    async fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

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
        loop {
            if drain_until.is_some() && self.running.is_none() {
                let _ = self
                    .send(&reply(
                        ReplyCode::SERVICE_NOT_AVAILABLE,
                        "Server shutting down.",
                    ))
                    .await;
                return "server shutdown";
            }
            // Boxed: the handlers' state lives on the heap only while a command runs, so an idle
            // session's future stays small.
            if let Some(reason) = Box::pin(self.drain_lines()).await {
                return reason;
            }
            let timeout = self.deadline();
            if timeout < idle.deadline().into_std() {
                idle.as_mut().reset(timeout.into());
            }
            let reading = self.deferred.len() < MAX_DEFERRED;
            let transferring = self.running.is_some();
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
                    cut = true;
                    drain_until = Some(Instant::now() + ABORT_WAIT);
                }
                () = idle.as_mut(), if !transferring => {
                    if Instant::now() < timeout {
                        idle.as_mut().reset(timeout.into());
                        continue;
                    }
                    let _ = self.send(&reply(ReplyCode::SERVICE_NOT_AVAILABLE, "Timeout: closing control connection.")).await;
                    return "timeout";
                }
            }
        }
    }

    /// When the session times out if nothing happens: the login timeout until a login, then the
    /// idle timeout after the last command.
    fn deadline(&self) -> Instant {
        match self.login {
            Login::Done(_) => self.last_activity + self.shared.config.idle_timeout,
            _ => self.connected_at + self.shared.config.login_timeout,
        }
    }

    /// False when the client has closed the control connection (a non-blocking peek sees the
    /// end of the stream). Bytes waiting to be read, or none yet, mean it is alive.
    fn control_alive(&self) -> bool {
        let tcp = match &self.stream {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
            Stream::Closed => return false,
        };
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(tcp).peek(&mut probe) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        }
    }

    /// Handles the lines that can be handled now.
    async fn drain_lines(&mut self) -> Option<&'static str> {
        loop {
            let line = if self.running.is_none() && !self.deferred.is_empty() {
                self.deferred.pop_front().map(Ok)
            } else {
                self.lines.next_line()
            };
            let line = line?;
            let line = match line {
                Ok(line) => line,
                Err(LineError::TooLong) => {
                    let too_long = reply(ReplyCode::SYNTAX_ERROR, "Command line too long.");
                    if self.send(&too_long).await.is_err() {
                        return Some("write failed");
                    }
                    continue;
                }
            };
            if self.running.is_some() && !is_urgent(&line) {
                self.deferred.push_back(line);
                if self.deferred.len() >= MAX_DEFERRED {
                    return None;
                }
                continue;
            }
            match self.handle_line(&line).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) => return Some("quit"),
                Err(_) => return Some("write failed"),
            }
        }
    }

    async fn handle_line(&mut self, line: &[u8]) -> std::io::Result<Flow> {
        tracing::debug!(peer = %self.peer, user = self.user_name(), command = %Command::for_log(line));
        let command = match Command::parse(line) {
            Ok(command) => command,
            Err(error) => {
                self.send(&Reply::from(&error)).await?;
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
        if let Command::Quit = command {
            if let Some(running) = self.running.take() {
                running.cancel.cancel();
            }
            self.send(&reply(ReplyCode::CLOSING_CONTROL, "Goodbye."))
                .await?;
            return Ok(Flow::Close);
        }
        let answer = self.dispatch(command, rest).await;
        if let Some(answer) = answer {
            self.send(&answer).await?;
        }
        Ok(if self.closing {
            Flow::Close
        } else {
            Flow::Continue
        })
    }

    fn user_name(&self) -> &str {
        match &self.login {
            Login::Done(account) => &account.name,
            _ => "-",
        }
    }

    /// Handles one command; `None` when the handler already replied (transfers).
    async fn dispatch(&mut self, command: Command, rest: Option<u64>) -> Option<Reply> {
        // Commands that need no login (RFC 959 section 5.4 lets these through).
        match &command {
            Command::User(name) => return Some(self.user(name.clone())),
            Command::Pass(password) => return Some(self.pass(password).await),
            Command::Rein => return Some(self.rein()),
            Command::Feat => return Some(feat(self.shared.config.tls.is_some())),
            Command::Syst => return Some(reply(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8")),
            Command::Noop => return Some(reply(ReplyCode::OK, "NOOP ok.")),
            Command::Help(_) => return Some(help()),
            Command::Opts(options) => return Some(opts(options)),
            Command::Abor => return Some(self.abor().await),
            // Server status needs no login (RFC 959 section 4.1.3); a path's status does.
            Command::Stat(None) => return Some(self.status()),
            Command::Pbsz(_) => return Some(self.pbsz()),
            Command::Prot(level) => return Some(self.prot(*level)),
            Command::Ccc => {
                return Some(reply(
                    ReplyCode(534),
                    "CCC refused: the control connection stays protected.",
                ));
            }
            Command::Auth(_) => return None,
            _ => {}
        }
        let Login::Done(account) = &self.login else {
            return Some(reply(
                ReplyCode::NOT_LOGGED_IN,
                "Please log in with USER and PASS first.",
            ));
        };
        let account = account.clone();
        if let Some(answer) = self.check_write(&command, &account) {
            return Some(answer);
        }
        match command {
            Command::Acct(_) => Some(reply(ReplyCode::SUPERFLUOUS, "ACCT not needed.")),
            Command::Pwd => Some(reply(
                ReplyCode::PATH_CREATED,
                format!("\"{}\" is the current folder.", quote_path(&self.cwd)),
            )),
            Command::Cwd(path) => Some(self.cwd(&account, &path).await),
            Command::Cdup => Some(self.cwd(&account, b"..").await),
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
            Command::Retr(path) => self.retr(&account, &path, rest.unwrap_or(0)).await,
            Command::Stor(path) => {
                let mode = match rest {
                    Some(offset) if offset > 0 => WriteMode::Resume(offset),
                    _ => WriteMode::Create,
                };
                self.store(&account, &path, mode, "STOR").await
            }
            Command::Appe(path) => self.store(&account, &path, WriteMode::Append, "APPE").await,
            Command::Stou(hint) => {
                let hint = hint.unwrap_or_else(|| b"ferry.upload".to_vec());
                self.store(&account, &hint, WriteMode::Unique, "STOU").await
            }
            Command::List(path) => self.list(&account, path.as_deref(), ListFormat::Long).await,
            Command::Nlst(path) => {
                self.list(&account, path.as_deref(), ListFormat::Names)
                    .await
            }
            Command::Mlsd(path) => {
                let format = ListFormat::Machine {
                    file_perm: if account.read_only { "r" } else { "adfrw" },
                    dir_perm: if account.read_only { "el" } else { "cdeflmp" },
                };
                self.list(&account, path.as_deref(), format).await
            }
            Command::Mlst(path) => Some(self.mlst(&account, path.as_deref()).await),
            Command::Size(path) => Some(self.size(&account, &path).await),
            Command::Mdtm(path) => Some(self.mdtm(&account, &path).await),
            Command::Mfmt(secs, path) => Some(self.mfmt(&account, secs, &path).await),
            Command::Dele(path) => Some(self.simple(&account, &path, Op::Delete).await),
            Command::Rmd(path) => Some(self.simple(&account, &path, Op::RemoveDir).await),
            Command::Mkd(path) => Some(self.simple(&account, &path, Op::MakeDir).await),
            Command::Rnfr(path) => Some(self.rnfr(&account, &path).await),
            Command::Rnto(path) => Some(self.rnto(&account, &path).await),
            Command::Site(args) => Some(site(&args)),
            Command::Stat(path) => self.stat(&account, path.as_deref()).await,
            Command::Smnt => Some(reply(ReplyCode::NOT_IMPLEMENTED, "SMNT not implemented.")),
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

    /// Refuses commands that change things for read-only users.
    fn check_write(&self, command: &Command, account: &Account) -> Option<Reply> {
        let writes = matches!(
            command,
            Command::Stor(_)
                | Command::Stou(_)
                | Command::Appe(_)
                | Command::Dele(_)
                | Command::Rmd(_)
                | Command::Mkd(_)
                | Command::Rnfr(_)
                | Command::Rnto(_)
                | Command::Mfmt(..)
        );
        (writes && account.read_only).then(|| {
            reply(
                ReplyCode::FILE_UNAVAILABLE,
                "Permission denied: read-only access.",
            )
        })
    }

    // --- Login (RFC 959 section 4.1.1) ---

    /// With `--require-tls`, the refusal of a login on a clear control connection.
    fn tls_required_for_login(&self) -> Option<Reply> {
        (self.shared.config.require_tls && !self.stream.is_tls()).then(|| {
            reply(
                ReplyCode::NOT_LOGGED_IN,
                "TLS required: use AUTH TLS before logging in.",
            )
        })
    }

    fn user(&mut self, name: Vec<u8>) -> Reply {
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

    async fn pass(&mut self, password: &[u8]) -> Reply {
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
            self.closing = true;
            return reply(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Too many failed logins; closing.",
            );
        }
        match self.authenticate(&name, password).await {
            Some(account) => {
                tracing::info!(peer = %self.peer, user = %account.name, "logged in");
                if !auth::is_anonymous_name(&name) {
                    self.shared.logins.succeeded(self.peer.ip().to_canonical());
                }
                let text = if account.read_only {
                    "Logged in (read-only)."
                } else {
                    "Logged in."
                };
                self.login = Login::Done(account);
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
                        reply(ReplyCode::NOT_LOGGED_IN, "Login incorrect.")
                    }
                    limits::Verdict::Banned => {
                        tracing::warn!(peer = %self.peer, %user, "too many failed logins; address banned");
                        self.closing = true;
                        reply(
                            ReplyCode::SERVICE_NOT_AVAILABLE,
                            "Too many failed logins; closing.",
                        )
                    }
                }
            }
        }
    }

    async fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Account> {
        let config = &self.shared.config;
        let name_text = String::from_utf8_lossy(name).into_owned();
        if let Some(user) = config.users.users.get(&name_text) {
            let cache = &self.shared.credentials;
            let user = if cache.contains(&name_text, user, password) {
                user.clone()
            } else {
                let (user, owned) = (user.clone(), password.to_vec());
                // Each Argon2id check takes ~19 MiB and a core for a while: a few at a time,
                // or a login storm takes all memory (500 at once measured 9 GB).
                let _permit = self.check_permit().await?;
                let checked =
                    tokio::task::spawn_blocking(move || user.verify(&owned).then_some(user));
                let user = checked.await.ok().flatten()?;
                cache.insert(&name_text, &user, password);
                user
            };
            let home = user.home_path().ok()?;
            return Some(Account {
                name: name_text,
                home,
                read_only: user.read_only,
            });
        }
        if auth::is_anonymous_name(name) && config.anonymous != Anonymous::Off {
            return Some(Account {
                name: "anonymous".into(),
                home: VirtualPath::root(),
                read_only: config.anonymous == Anonymous::Read,
            });
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
    async fn check_permit(&self) -> Option<limits::CheckPermit<'_>> {
        let ip = self.peer.ip().to_canonical();
        let suspect = self.shared.logins.failed_recently(ip, Instant::now());
        self.shared.hashing.permit(suspect).await
    }

    fn rein(&mut self) -> Reply {
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

    // --- Security (RFC 4217) ---

    /// AUTH TLS: 234, then the TLS handshake on the control connection.
    async fn auth(&mut self, mechanism: &[u8]) -> std::io::Result<Flow> {
        let mechanism = String::from_utf8_lossy(mechanism)
            .trim()
            .to_ascii_uppercase();
        let refusal = if self.shared.config.tls.is_none() {
            Some(reply(
                ReplyCode::NOT_IMPLEMENTED,
                "TLS is not configured on this server.",
            ))
        } else if self.stream.is_tls() {
            Some(reply(ReplyCode::BAD_SEQUENCE, "TLS is already on."))
        } else if !matches!(mechanism.as_str(), "TLS" | "TLS-C" | "SSL" | "TLS-P") {
            Some(reply(ReplyCode::PARAMETER_NOT_IMPLEMENTED, "Use AUTH TLS."))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.send(&refusal).await?;
            return Ok(Flow::Continue);
        }
        // Bytes that came in clear after AUTH (in the same write, or while a transfer ran) are
        // not commands of the TLS session to come, and executing them after the handshake is
        // the STARTTLS injection (CVE-2011-0411). An honest client waits for 234, so the
        // session ends here: nothing read before a handshake may be in the buffers after it.
        if !self.lines.is_empty() || !self.deferred.is_empty() {
            tracing::warn!(
                peer = %self.peer,
                "bytes sent after AUTH before the TLS handshake (command injection?); closing"
            );
            self.send(&reply(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Commands sent after AUTH before the TLS handshake; closing.",
            ))
            .await?;
            return Ok(Flow::Close);
        }
        self.send(&reply(
            ReplyCode::AUTH_OK,
            format!("AUTH {mechanism} ok; start the TLS handshake."),
        ))
        .await?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Ok(Flow::Close);
        };
        match tls_handshake(&self.shared, tcp).await {
            Ok((stream, tls)) => {
                self.stream = stream;
                self.tls = Some(tls);
                // A new security state: PBSZ and PROT must be given again (RFC 4217 section 4).
                self.pbsz = false;
                self.prot = ProtLevel::Clear;
                Ok(Flow::Continue)
            }
            Err(error) => {
                tracing::warn!(peer = %self.peer, %error, "TLS handshake failed");
                Ok(Flow::Close)
            }
        }
    }

    fn pbsz(&mut self) -> Reply {
        if !self.stream.is_tls() {
            return reply(ReplyCode::BAD_SEQUENCE, "PBSZ needs AUTH TLS first.");
        }
        self.pbsz = true;
        reply(ReplyCode::OK, "PBSZ=0")
    }

    fn prot(&mut self, level: ProtLevel) -> Reply {
        if !self.stream.is_tls() || !self.pbsz {
            return reply(
                ReplyCode::BAD_SEQUENCE,
                "PROT needs AUTH TLS and PBSZ first.",
            );
        }
        match level {
            ProtLevel::Clear if self.shared.config.require_tls => reply(
                ReplyCode(534),
                "PROT C refused: data must be protected here.",
            ),
            ProtLevel::Clear | ProtLevel::Private => {
                self.prot = level;
                reply(
                    ReplyCode::OK,
                    if level == ProtLevel::Private {
                        "PROT now Private."
                    } else {
                        "PROT now Clear."
                    },
                )
            }
            ProtLevel::Safe | ProtLevel::Confidential => reply(
                ReplyCode(536),
                "PROT level not supported by TLS; use C or P.",
            ),
        }
    }

    // --- Paths ---

    /// Resolves a client path to (the user's view, the storage path).
    fn resolve(
        &self,
        account: &Account,
        input: &[u8],
    ) -> Result<(VirtualPath, VirtualPath), Reply> {
        let view = self.cwd.resolve(input).map_err(path_reply)?;
        let full = account
            .home
            .resolve(&view.relative_bytes())
            .map_err(path_reply)?;
        Ok((view, full))
    }

    async fn cwd(&mut self, account: &Account, input: &[u8]) -> Reply {
        let (view, full) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return answer,
        };
        match self.shared.storage.stat(&full).await {
            Ok(entry) if entry.kind == EntryKind::Dir => {
                self.cwd = view;
                reply(
                    ReplyCode::FILE_ACTION_OK,
                    format!("Folder changed to \"{}\".", quote_path(&self.cwd)),
                )
            }
            Ok(_) => reply(ReplyCode::FILE_UNAVAILABLE, "Not a folder."),
            Err(error) => storage_reply(&error),
        }
    }

    // --- Data connection set-up (RFC 959 4.1.2, RFC 2428) ---

    fn pasv(&mut self) -> Reply {
        if self.epsv_all {
            return reply(ReplyCode::BAD_SEQUENCE, "EPSV ALL in effect; use EPSV.");
        }
        let advertised = match (
            self.shared.config.passive_address,
            self.local.ip().to_canonical(),
        ) {
            (Some(IpAddr::V4(ip)), _) | (None, IpAddr::V4(ip)) => ip,
            _ => return reply(ReplyCode::CANT_OPEN_DATA, "PASV needs IPv4; use EPSV."),
        };
        match self.open_passive() {
            Ok(port) => reply(
                ReplyCode::PASSIVE_MODE,
                addr::format_pasv_reply(std::net::SocketAddrV4::new(advertised, port)),
            ),
            Err(answer) => answer,
        }
    }

    fn epsv(&mut self, arg: EpsvArg) -> Reply {
        match arg {
            EpsvArg::All => {
                self.epsv_all = true;
                return reply(ReplyCode::OK, "EPSV ALL ok.");
            }
            EpsvArg::Protocol(protocol) => {
                let ours = if self.local.ip().to_canonical().is_ipv4() {
                    1
                } else {
                    2
                };
                if protocol != ours {
                    return reply(
                        ReplyCode(522),
                        format!("Network protocol not supported, use ({ours})."),
                    );
                }
            }
            EpsvArg::Any => {}
        }
        match self.open_passive() {
            Ok(port) => reply(
                ReplyCode::EXTENDED_PASSIVE_MODE,
                addr::format_epsv_reply(port),
            ),
            Err(answer) => answer,
        }
    }

    fn open_passive(&mut self) -> Result<u16, Reply> {
        self.data = None;
        match data::listen_passive(self.local.ip(), self.shared.config.passive_ports) {
            Ok((listener, port)) => {
                self.data = Some(DataSetup::Passive(listener));
                Ok(port)
            }
            Err(error) => {
                tracing::warn!(peer = %self.peer, %error, "passive listener failed");
                Err(reply(
                    ReplyCode::CANT_OPEN_DATA,
                    "Can't open passive connection.",
                ))
            }
        }
    }

    fn active(&mut self, target: SocketAddr) -> Reply {
        if self.epsv_all {
            return reply(ReplyCode::BAD_SEQUENCE, "EPSV ALL in effect; use EPSV.");
        }
        // RFC 2577: no bounce to other hosts or to privileged ports.
        if target.ip().to_canonical() != self.peer.ip().to_canonical() {
            tracing::warn!(peer = %self.peer, %target, "PORT to a foreign address refused");
            return reply(
                ReplyCode::SYNTAX_ERROR_ARGS,
                "Rejected: data connection to a foreign address.",
            );
        }
        if target.port() < 1024 {
            return reply(ReplyCode::SYNTAX_ERROR_ARGS, "Rejected: privileged port.");
        }
        self.data = Some(DataSetup::Active(target));
        reply(ReplyCode::OK, "PORT command successful.")
    }

    // --- Transfers ---

    /// With `--require-tls`, the refusal of a transfer on a clear data connection.
    fn data_protection_refusal(&self) -> Option<Reply> {
        (self.shared.config.require_tls && self.prot != ProtLevel::Private).then(|| {
            reply(
                ReplyCode(521),
                "Data connections must be protected: use PBSZ 0 and PROT P.",
            )
        })
    }

    async fn start_transfer(
        &mut self,
        mut work: Work,
        verb: &'static str,
        name: String,
    ) -> Option<Reply> {
        let started = std::time::Instant::now();
        let Some(mut setup) = self.data.take() else {
            return Some(reply(
                ReplyCode::CANT_OPEN_DATA,
                "Use PORT, PASV or EPSV first.",
            ));
        };
        // Most clients connect before they send the command: then the 150 goes out now, and
        // the transfer starts on an open connection.
        let peer_ip = self.peer.ip().to_canonical();
        // Closed after the final reply if the transfer ends here: closing a listener takes a
        // few microseconds that the client need not wait for.
        let mut spare_listener = None;
        if let DataSetup::Passive(listener) = &setup {
            match data::accept_queued(listener, peer_ip) {
                Ok(Some(stream)) => {
                    if self.send(&self.opening_reply(&name)).await.is_err() {
                        // The control connection broke; the next read ends the session.
                        return None;
                    }
                    if let DataSetup::Passive(listener) =
                        std::mem::replace(&mut setup, DataSetup::Ready(stream))
                    {
                        spare_listener = Some(listener);
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(peer = %self.peer, %error, "data connection failed");
                    return Some(reply(
                        ReplyCode::CANT_OPEN_DATA,
                        "Can't open data connection.",
                    ));
                }
            }
        }
        let config = &self.shared.config;
        let tls = match (self.prot, &self.tls) {
            (ProtLevel::Private, Some(tls)) => Some(DataTls {
                config: tls.data_connection(matches!(work, Work::Receive { .. })),
                require_reuse: config.require_tls_session_reuse,
            }),
            _ => None,
        };
        // A plain binary RETR on a connection that is open already: send what the socket takes
        // now, and if that is the whole file (as it is for small ones), finish here.
        let mut sent = 0;
        if let (
            DataSetup::Ready(tcp),
            Work::Send {
                download,
                ascii: false,
            },
            None,
        ) = (&setup, &mut work, &tls)
            && let Some(file) = download.local_file()
        {
            let mut offset = download.offset;
            let result = transfer::send_now(file, &mut offset, download.size, tcp);
            sent = offset - download.offset;
            download.offset = offset;
            let result = match result {
                Ok(false) => None,
                Ok(true) => Some(Ok(())),
                Err(error) => Some(Err(Failure::Network(error))),
            };
            if let Some(result) = result {
                // The data connection closes before the final reply; the file, the listener
                // and the log line can wait until the client has its reply.
                drop(setup);
                let _ = self.send(&final_reply(&result)).await;
                drop(work);
                drop(spare_listener);
                self.log_transfer(verb, &name, sent, started, &result);
                return None;
            }
        }
        self.running = Some(transfer::start(Plan {
            setup,
            peer_ip,
            timeout: config.data_timeout,
            tls,
            work,
            verb,
            name,
            sent,
        }));
        None
    }

    async fn retr(&mut self, account: &Account, input: &[u8], offset: u64) -> Option<Reply> {
        if let Some(refusal) = self.data_protection_refusal() {
            return Some(refusal);
        }
        let (view, full) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return Some(answer),
        };
        let download = match self.shared.storage.read(&full, offset).await {
            Ok(download) => download,
            Err(error) => return Some(storage_reply(&error)),
        };
        let ascii = self.transfer_type == TransferType::Ascii;
        let size = download.size;
        self.start_transfer(
            Work::Send { download, ascii },
            "RETR",
            format!("{view} ({size} bytes)"),
        )
        .await
    }

    async fn store(
        &mut self,
        account: &Account,
        input: &[u8],
        mode: WriteMode,
        verb: &'static str,
    ) -> Option<Reply> {
        if let Some(refusal) = self.data_protection_refusal() {
            return Some(refusal);
        }
        let (_, full) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return Some(answer),
        };
        if self.data.is_none() {
            return Some(reply(
                ReplyCode::CANT_OPEN_DATA,
                "Use PORT, PASV or EPSV first.",
            ));
        }
        let upload = match self.shared.storage.write(&full, mode).await {
            Ok(upload) => upload,
            Err(error) if error.kind() == ErrorKind::WrongKind => {
                return Some(reply(ReplyCode::FILE_UNAVAILABLE, "That is a folder."));
            }
            Err(error) => return Some(storage_reply(&error)),
        };
        // Show the user's view of the name (STOU picks it).
        let stored = upload.path().relative_bytes();
        let home_len = account.home.relative_bytes().len();
        let view = String::from_utf8_lossy(stored.get(home_len..).unwrap_or(&stored))
            .trim_start_matches('/')
            .to_string();
        let ascii = self.transfer_type == TransferType::Ascii;
        self.start_transfer(Work::Receive { upload, ascii }, verb, view)
            .await
    }

    async fn list(
        &mut self,
        account: &Account,
        input: Option<&[u8]>,
        format: ListFormat,
    ) -> Option<Reply> {
        if let Some(refusal) = self.data_protection_refusal() {
            return Some(refusal);
        }
        let (_, full) = match self.resolve(account, input.unwrap_or(b"")) {
            Ok(paths) => paths,
            Err(answer) => return Some(answer),
        };
        if self.data.is_none() {
            return Some(reply(
                ReplyCode::CANT_OPEN_DATA,
                "Use PORT, PASV or EPSV first.",
            ));
        }
        let storage = &self.shared.storage;
        let source = match storage.stat(&full).await {
            Ok(entry) if entry.kind == EntryKind::Dir => match storage.list(&full).await {
                Ok(stream) => ListSource::Stream(stream),
                Err(error) => return Some(storage_reply(&error)),
            },
            // MLSD names folders only (RFC 3659 section 7.2.1).
            Ok(_) if matches!(format, ListFormat::Machine { .. }) => {
                return Some(reply(ReplyCode::FILE_UNAVAILABLE, "Not a folder."));
            }
            Ok(entry) => ListSource::Entries(vec![entry]),
            // `LIST *.txt`, `NLST a?c`: a pattern in the last name, matched against its folder.
            Err(error)
                if error.kind() == ErrorKind::NotFound
                    && !matches!(format, ListFormat::Machine { .. })
                    && full.file_name().is_some_and(transfer::is_glob) =>
            {
                let pattern = full.file_name().unwrap_or_default().to_vec();
                match storage.list(&full.parent()).await {
                    Ok(stream) => ListSource::Matching(stream, pattern),
                    Err(error) => return Some(storage_reply(&error)),
                }
            }
            Err(error) => return Some(storage_reply(&error)),
        };
        let work = Work::List {
            source,
            format,
            now: now_unix(),
        };
        self.start_transfer(
            work,
            "LIST",
            String::from_utf8_lossy(input.unwrap_or(b".")).into_owned(),
        )
        .await
    }

    async fn on_transfer_event(&mut self, event: Option<Event>) -> std::io::Result<()> {
        match event {
            Some(Event::Connected(sent)) => {
                let Some(running) = &self.running else {
                    return Ok(());
                };
                let result = self.send(&self.opening_reply(&running.name)).await;
                let _ = sent.send(());
                result
            }
            Some(Event::UploadEnded(answer)) => {
                let _ = answer.send(self.control_alive());
                Ok(())
            }
            Some(Event::Done(result)) => {
                let Some(running) = self.running.take() else {
                    return Ok(());
                };
                // The idle time counts from the end of the transfer, not from its command.
                self.last_activity = Instant::now();
                // The reply first: the client goes on while the line is logged.
                let sent = self.send(&final_reply(&result)).await;
                self.log_running(&running, &result);
                sent
            }
            None => {
                self.running = None;
                self.send(&reply(
                    ReplyCode::LOCAL_ERROR,
                    "Transfer ended unexpectedly.",
                ))
                .await
            }
        }
    }

    /// The 150 that says the data connection is open.
    fn opening_reply(&self, name: &str) -> Reply {
        let mode = match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        };
        reply(
            ReplyCode::FILE_STATUS_OK,
            format!("Opening {mode} mode data connection for {name}."),
        )
    }

    /// Logs a finished transfer task.
    fn log_running(&self, running: &Running, result: &Result<(), Failure>) {
        let bytes = running.bytes.load(Ordering::Relaxed);
        self.log_transfer(running.verb, &running.name, bytes, running.started, result);
    }

    /// Logs a finished transfer.
    fn log_transfer(
        &self,
        verb: &str,
        name: &str,
        bytes: u64,
        started: std::time::Instant,
        result: &Result<(), Failure>,
    ) {
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => tracing::info!(
                peer = %self.peer, user = self.user_name(), verb,
                name, bytes, seconds, "transfer complete"
            ),
            Err(failure) => tracing::warn!(
                peer = %self.peer, user = self.user_name(), verb,
                name, bytes, seconds, %failure, "transfer failed"
            ),
        }
    }

    /// ABOR (RFC 959 section 4.1.3): 426 for the aborted transfer, then 226.
    async fn abor(&mut self) -> Reply {
        self.data = None;
        let Some(mut running) = self.running.take() else {
            return reply(ReplyCode::DATA_OPEN, "No transfer to abort.");
        };
        running.cancel.cancel();
        let done = tokio::time::timeout(ABORT_WAIT, async {
            while let Some(event) = running.events.recv().await {
                if let Event::Done(result) = event {
                    return Some(result);
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        match done {
            // The transfer finished before the abort took effect.
            Some(Ok(())) => {
                self.log_running(&running, &Ok(()));
                reply(
                    ReplyCode::CLOSING_DATA,
                    "Transfer complete; nothing to abort.",
                )
            }
            _ => {
                self.log_running(&running, &Err(Failure::Cancelled));
                let aborted = reply(ReplyCode::TRANSFER_ABORTED, "Transfer aborted.");
                if self.send(&aborted).await.is_err() {
                    return reply(ReplyCode::CLOSING_DATA, "ABOR successful.");
                }
                reply(ReplyCode::CLOSING_DATA, "ABOR successful.")
            }
        }
    }

    // --- Information (RFC 959 4.1.3, RFC 3659) ---

    async fn file_entry(&self, account: &Account, input: &[u8]) -> Result<Entry, Reply> {
        let (_, full) = self.resolve(account, input)?;
        self.shared
            .storage
            .stat(&full)
            .await
            .map_err(|e| storage_reply(&e))
    }

    async fn size(&self, account: &Account, input: &[u8]) -> Reply {
        match self.file_entry(account, input).await {
            Ok(entry) if entry.kind == EntryKind::Dir => {
                reply(ReplyCode::FILE_UNAVAILABLE, "Not a plain file.")
            }
            Ok(entry) if self.transfer_type == TransferType::Ascii => {
                self.ascii_size(account, input, entry.size).await
            }
            Ok(entry) => reply(ReplyCode::FILE_STATUS, entry.size.to_string()),
            Err(answer) => {
                // An interrupted upload reports the bytes it kept, so clients can resume it.
                if let Ok((_, full)) = self.resolve(account, input)
                    && let Ok(Some(size)) = self.shared.storage.partial_size(&full).await
                {
                    return reply(ReplyCode::FILE_STATUS, size.to_string());
                }
                answer
            }
        }
    }

    /// SIZE in ASCII mode is the number of bytes a RETR would send (RFC 3659 section 4), which
    /// means reading the file; beyond [`MAX_ASCII_SIZE_SCAN`] bytes the answer is 550.
    async fn ascii_size(&self, account: &Account, input: &[u8], size: u64) -> Reply {
        if size > MAX_ASCII_SIZE_SCAN {
            return reply(
                ReplyCode::FILE_UNAVAILABLE,
                "SIZE in ASCII mode is refused for large files; use TYPE I.",
            );
        }
        let Ok((_, full)) = self.resolve(account, input) else {
            return reply(ReplyCode::FILE_UNAVAILABLE, "No such file.");
        };
        let mut download = match self.shared.storage.read(&full, 0).await {
            Ok(download) => download,
            Err(error) => return storage_reply(&error),
        };
        let (mut buffer, mut last, mut total) = (vec![0u8; 64 * 1024], 0u8, 0u64);
        loop {
            match download.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => {
                    for &byte in &buffer[..n] {
                        total += if byte == b'\n' && last != b'\r' { 2 } else { 1 };
                        last = byte;
                    }
                }
                Err(error) => return storage_reply(&error.into()),
            }
        }
        reply(ReplyCode::FILE_STATUS, total.to_string())
    }

    async fn mdtm(&self, account: &Account, input: &[u8]) -> Reply {
        match self.file_entry(account, input).await {
            Ok(entry) if entry.kind == EntryKind::Dir => {
                reply(ReplyCode::FILE_UNAVAILABLE, "Not a plain file.")
            }
            Ok(entry) => reply(
                ReplyCode::FILE_STATUS,
                time::format_timeval(entry.modified.unwrap_or(0)),
            ),
            Err(answer) => answer,
        }
    }

    async fn mfmt(&self, account: &Account, secs: i64, input: &[u8]) -> Reply {
        let full = match self.resolve(account, input) {
            Ok((_, full)) => full,
            Err(answer) => return answer,
        };
        match self.shared.storage.set_modified(&full, secs).await {
            Ok(()) => reply(
                ReplyCode::FILE_STATUS,
                format!(
                    "Modify={}; {}",
                    time::format_timeval(secs),
                    String::from_utf8_lossy(input)
                ),
            ),
            Err(error) => storage_reply(&error),
        }
    }

    async fn mlst(&self, account: &Account, input: Option<&[u8]>) -> Reply {
        let input = input.unwrap_or(b"");
        let (view, full) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return answer,
        };
        match self.shared.storage.stat(&full).await {
            Ok(mut entry) => {
                entry.name = view.to_bytes();
                let perm = match (entry.kind, account.read_only) {
                    (EntryKind::Dir, true) => "el",
                    (EntryKind::Dir, false) => "cdeflmp",
                    (_, true) => "r",
                    (_, false) => "adfrw",
                };
                let mut facts = Vec::new();
                listing::format_mlsx(&entry, None, perm, &mut facts);
                Reply::multi(
                    ReplyCode::FILE_ACTION_OK,
                    vec![
                        format!("Listing {view}"),
                        // Reply::encode starts inner lines with the space RFC 3659 requires.
                        String::from_utf8_lossy(&facts).into_owned(),
                        "End".into(),
                    ],
                )
            }
            Err(error) => storage_reply(&error),
        }
    }

    /// STAT without an argument: the session's status.
    fn status(&self) -> Reply {
        let login = match &self.login {
            Login::Done(account) => format!("Logged in as {}", account.name),
            _ => "Not logged in".to_string(),
        };
        let mut lines = vec![
            "Ferry FTP server status:".to_string(),
            format!("Connected from {}", self.peer.ip()),
            login,
            format!(
                "TYPE: {}, STRUcture: File, MODE: Stream",
                if self.transfer_type == TransferType::Ascii {
                    "ASCII"
                } else {
                    "BINARY"
                }
            ),
            format!(
                "Control connection: {}",
                if self.stream.is_tls() { "TLS" } else { "clear" }
            ),
        ];
        if let Some(running) = &self.running {
            lines.push(format!(
                "{} {}: {} bytes transferred",
                running.verb,
                running.name,
                running.bytes.load(Ordering::Relaxed)
            ));
        } else {
            lines.push("No data connection".into());
        }
        lines.push("End of status".into());
        Reply::multi(ReplyCode::SYSTEM_STATUS, lines)
    }

    /// STAT with a path: a file's `ls -l` line (213), or a folder's lines (212) written as
    /// they are read, like a listing, so a folder of any size costs one buffer; `None` when
    /// the reply went out already.
    async fn stat(&mut self, account: &Account, input: Option<&[u8]>) -> Option<Reply> {
        let Some(input) = input else {
            return Some(self.status());
        };
        let full = match self.resolve(account, input) {
            Ok((_, full)) => full,
            Err(answer) => return Some(answer),
        };
        let now = now_unix();
        let title = format!("Status of {}:", String::from_utf8_lossy(input));
        let storage = &self.shared.storage;
        let mut entries = match storage.stat(&full).await {
            Ok(entry) if entry.kind == EntryKind::Dir => match storage.list(&full).await {
                Ok(entries) => entries,
                Err(error) => return Some(storage_reply(&error)),
            },
            // A file's status is 213, a folder's 212 (RFC 959 section 4.2).
            Ok(entry) => {
                let lines = vec![title, list_line(&entry, now), "End of status".into()];
                return Some(Reply::multi(ReplyCode::FILE_STATUS, lines));
            }
            Err(error) => return Some(storage_reply(&error)),
        };
        let mut out = Vec::with_capacity(STAT_FLUSH + 1024);
        let reply = MultiLineEncoder::start(ReplyCode::DIRECTORY_STATUS, &title, &mut out);
        let mut line = Vec::new();
        while let Some(Ok(entry)) = entries.next().await {
            line.clear();
            listing::format_list_line(&entry, now, &mut line);
            reply.line(String::from_utf8_lossy(&line).trim_end(), &mut out);
            if out.len() >= STAT_FLUSH {
                if self.send_bytes(&out).await.is_err() {
                    // The control connection broke; the next read ends the session.
                    return None;
                }
                out.clear();
            }
        }
        reply.end("End of status", &mut out);
        let _ = self.send_bytes(&out).await;
        None
    }

    // --- File management (RFC 959 4.1.3) ---

    async fn simple(&self, account: &Account, input: &[u8], op: Op) -> Reply {
        let (view, full) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return answer,
        };
        let storage = &self.shared.storage;
        let result = match op {
            Op::Delete => storage.remove_file(&full).await,
            Op::RemoveDir => storage.remove_dir(&full).await,
            Op::MakeDir => storage.create_dir(&full).await,
        };
        match (result, op) {
            (Ok(()), Op::MakeDir) => reply(
                ReplyCode::PATH_CREATED,
                format!("\"{}\" created.", quote_path(&view)),
            ),
            (Ok(()), Op::Delete) => reply(ReplyCode::FILE_ACTION_OK, "File deleted."),
            (Ok(()), Op::RemoveDir) => reply(ReplyCode::FILE_ACTION_OK, "Folder removed."),
            (Err(error), _) => storage_reply(&error),
        }
    }

    async fn rnfr(&mut self, account: &Account, input: &[u8]) -> Reply {
        let (_, full) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return answer,
        };
        match self.shared.storage.stat(&full).await {
            Ok(_) => {
                self.rename_from = Some(full);
                reply(ReplyCode::FILE_ACTION_PENDING, "Ready for RNTO.")
            }
            Err(error) => storage_reply(&error),
        }
    }

    async fn rnto(&mut self, account: &Account, input: &[u8]) -> Reply {
        let Some(from) = self.rename_from.take() else {
            return reply(ReplyCode::BAD_SEQUENCE, "RNFR required first.");
        };
        let (_, to) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return answer,
        };
        match self.shared.storage.rename(&from, &to).await {
            Ok(()) => reply(ReplyCode::FILE_ACTION_OK, "Rename successful."),
            Err(error) => storage_reply(&error),
        }
    }
}

/// The final reply for a transfer's result.
fn final_reply(result: &Result<(), Failure>) -> Reply {
    match result {
        Ok(()) => reply(ReplyCode::CLOSING_DATA, "Transfer complete."),
        Err(Failure::Connect(_)) => reply(ReplyCode::CANT_OPEN_DATA, "Can't open data connection."),
        Err(Failure::Network(_)) => reply(
            ReplyCode::TRANSFER_ABORTED,
            "Connection closed; transfer aborted.",
        ),
        Err(Failure::Cancelled) => reply(ReplyCode::TRANSFER_ABORTED, "Transfer aborted."),
        Err(Failure::Stalled(_)) => reply(
            ReplyCode::TRANSFER_ABORTED,
            "Data connection stalled; transfer aborted.",
        ),
        Err(Failure::Tls(reason)) => reply(
            ReplyCode(522),
            format!("TLS on the data connection failed: {reason}."),
        ),
        Err(Failure::Storage(error)) => storage_reply(error),
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Delete,
    RemoveDir,
    MakeDir,
}

/// Waits for control-connection bytes and appends them to `lines`; `Ok(0)` when the client has
/// closed. A plain connection holds no buffer while it waits: readiness first, then
/// non-blocking reads into the stack.
async fn read_some(
    stream: &mut Stream,
    lines: &mut LineBuffer,
    tls_buffer: &mut Vec<u8>,
) -> std::io::Result<usize> {
    match stream {
        Stream::Plain(tcp) => loop {
            tcp.readable().await?;
            let read = std::future::poll_fn(|cx| Poll::Ready(read_available(tcp, lines, cx))).await;
            match read {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                result => return result,
            }
        },
        Stream::Tls(tls) => {
            if tls_buffer.is_empty() {
                tls_buffer.resize(READ_CHUNK, 0);
            }
            let read = tls.read(tls_buffer).await?;
            lines.extend(&tls_buffer[..read]);
            Ok(read)
        }
        Stream::Closed => Err(std::io::ErrorKind::NotConnected.into()),
    }
}

/// Reads what the socket holds; `WouldBlock` if nothing (yet).
///
/// The first read goes through tokio, which takes a short read as proof that the socket is
/// empty and re-arms the readiness itself: most commands then cost one read, not a second one
/// that ends in EAGAIN. A short read that does not end a line may have stopped at a TCP urgent
/// mark (ABOR sent as urgent data, with SO_OOBINLINE set), where a read stops before the urgent
/// byte even though more is queued; so does one that filled the buffer. Those go on with
/// plain reads until the socket is empty (or a few chunks, to stay fair to other sessions).
fn read_available(
    tcp: &mut TcpStream,
    lines: &mut LineBuffer,
    cx: &mut Context<'_>,
) -> std::io::Result<usize> {
    let mut buffer = [0u8; READ_CHUNK];
    let mut first = ReadBuf::new(&mut buffer);
    match Pin::new(&mut *tcp).poll_read(cx, &mut first) {
        Poll::Pending => return Err(std::io::ErrorKind::WouldBlock.into()),
        Poll::Ready(result) => result?,
    }
    let mut total = first.filled().len();
    let ends_line = first.filled().last() == Some(&b'\n');
    lines.extend(first.filled());
    if total == 0 || (total < READ_CHUNK && ends_line) {
        return Ok(total);
    }
    for _ in 0..8 {
        match rustix::net::recv(&*tcp, &mut buffer, rustix::net::RecvFlags::empty()) {
            Ok((0, _)) => break,
            Ok((read, _)) => {
                lines.extend(&buffer[..read]);
                total += read;
            }
            Err(rustix::io::Errno::AGAIN) => break,
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(total)
}

async fn next_event(running: &mut Option<Running>) -> Option<Event> {
    match running {
        Some(running) => running.events.recv().await,
        None => std::future::pending().await,
    }
}

fn list_line(entry: &Entry, now: i64) -> String {
    let mut out = Vec::new();
    listing::format_list_line(entry, now, &mut out);
    String::from_utf8_lossy(&out).trim_end().to_string()
}

fn feat(tls: bool) -> Reply {
    let mut lines = vec!["Extensions supported:".to_string()];
    if tls {
        lines.extend(["AUTH TLS", "AUTH SSL", "PBSZ", "PROT"].map(String::from));
    }
    lines.extend(FEATURES.iter().map(|f| (*f).to_string()));
    lines.push("End".into());
    Reply::multi(ReplyCode::SYSTEM_STATUS, lines)
}

fn help() -> Reply {
    Reply::multi(
        ReplyCode::HELP,
        vec![
            "The following commands are recognized:".into(),
            HELP_COMMANDS.to_string(),
            "Help OK.".into(),
        ],
    )
}

fn opts(options: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(options).to_ascii_uppercase();
    let mut words = text.split_ascii_whitespace();
    match (words.next(), words.next()) {
        (Some("UTF8" | "UTF-8"), Some("ON") | None) => reply(ReplyCode::OK, "Always in UTF8 mode."),
        (Some("UTF8" | "UTF-8"), Some("OFF")) => {
            reply(ReplyCode::OK, "UTF8 off; names are sent as stored.")
        }
        (Some("MLST"), _) => reply(
            ReplyCode::OK,
            "MLST OPTS type;size;modify;perm;unique;UNIX.mode;",
        ),
        _ => reply(ReplyCode::SYNTAX_ERROR_ARGS, "Option not understood."),
    }
}

fn site(args: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(args).to_ascii_uppercase();
    match text.split_ascii_whitespace().next() {
        Some("HELP") => Reply::multi(
            ReplyCode::HELP,
            vec![
                "SITE commands recognized:".into(),
                "HELP".into(),
                "Help OK.".into(),
            ],
        ),
        _ => reply(ReplyCode::NOT_IMPLEMENTED, "Unknown SITE command."),
    }
}
