//! The control connection to one FTP server (RFC 959) and the data connections it opens.
//!
//! [`Connection`] logs in, reads FEAT (RFC 2389), switches to binary (TYPE I), and sends
//! commands, each returning `Result<Reply, ClientError>`. Data connections are passive by default:
//! EPSV first (RFC 2428), PASV when the server does not know EPSV, and the address in a PASV reply
//! is never trusted: we connect to the control connection's peer IP at the port it names. With
//! `active` set it listens and sends PORT (IPv4) or EPRT (IPv6), and accepts only the server's IP.
//!
//! Directory listings use MLSD when FEAT offers MLST (RFC 3659), else LIST parsed by
//! [`ferry_proto::listing::parse_list_line`]. Replies are decoded by
//! [`ferry_proto::ReplyDecoder`]; this module has no reply parser of its own.
//!
//! FTPS (RFC 4217): with [`ConnectOptions::tls`] on, the control connection is TLS from the
//! first byte (implicit) or after `AUTH TLS` (explicit, which the server must accept), login is
//! followed by `PBSZ 0` and `PROT P`, and every data connection is TLS too, started after the
//! server's 1xx, with the control connection's TLS configuration and name so it resumes that
//! session. Uploads over TLS end with close_notify, and the server's close_notify is read.
//!
//! This module moves no file bytes (see [`crate::transfer`]) and prints nothing. Every wait on the
//! network is bounded by [`ConnectOptions::timeout`]. A command that is cancelled (its future
//! dropped) mid-way leaves the connection out of step; drop the connection then.
//!
//! The module is split by concern: this file holds the options, the connector, the control
//! connection (connect, TLS, login, sending commands and reading replies); `commands.rs` the
//! file and folder commands and listings; `data.rs` the data connections, with the typed
//! [`Connection::retrieve`] and [`Connection::store`].

mod commands;
mod data;

use std::net::SocketAddr;
use std::time::Duration;

pub use data::{DataStream, StoreMode};
pub use ferry_proto::feat::Features;
use ferry_proto::{Command, ProtLevel, Reply, ReplyCode, ReplyDecoder, TransferType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::ClientError;
use crate::credentials::{self, Credentials};
use crate::tls::{Stream, TlsMode, TlsSession, TlsTrust};
use crate::url::FtpUrl;

/// How long to wait for the server at any one step, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The size of the buffers file data moves through (large, so a transfer is a few hundred
/// system calls per megabyte at most, never one per KiB).
pub const BUFFER_SIZE: usize = 256 * 1024;

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Use active mode (PORT/EPRT): the server connects back to us.
    pub active: bool,
    /// The bound on every wait: connecting, each reply, each read of data.
    pub timeout: Duration,
    /// Print the control conversation on stderr (`--> USER x`, `<-- 230 ...`; PASS hidden).
    pub verbose: bool,
    /// Plain FTP, explicit or implicit FTPS.
    pub tls: TlsMode,
    /// Which server certificates TLS accepts.
    pub trust: TlsTrust,
    /// `--limit-rate`: bytes a second each data connection may move (`None`: no limit).
    pub limit_rate: Option<u64>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            active: false,
            timeout: DEFAULT_TIMEOUT,
            verbose: false,
            tls: TlsMode::Off,
            trust: TlsTrust::system(),
            limit_rate: None,
        }
    }
}

/// Everything needed to open more logged-in connections to the same server (reconnects, parallel
/// mirror workers).
#[derive(Debug, Clone)]
pub struct Connector {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Who to log in as; a password the prompt supplied is kept here for later connections.
    pub credentials: Credentials,
    /// Mode and timeouts.
    pub options: ConnectOptions,
}

/// What a connection starts from when its target does not say: `--user`, `~/.netrc`, the mode
/// and timeouts. The shell and the one-shot commands build their [`Connector`]s from it.
#[derive(Debug, Clone, Copy)]
pub struct ConnectDefaults<'a> {
    /// `--user USER[:PASS]`.
    pub user: Option<&'a str>,
    /// The text of `~/.netrc`, if any.
    pub netrc: Option<&'a str>,
    /// Passive or active, TLS, timeouts.
    pub options: &'a ConnectOptions,
}

impl Connector {
    /// A connector to `host:port`; the credentials come from `user` and `password` when given,
    /// else from `--user`, `~/.netrc` or anonymous (see [`credentials::resolve`]).
    pub fn resolve(
        host: String,
        port: u16,
        user: Option<&str>,
        password: Option<&str>,
        defaults: ConnectDefaults<'_>,
    ) -> Connector {
        let credentials =
            credentials::resolve(&host, user, password, defaults.user, defaults.netrc);
        Connector {
            host,
            port,
            credentials,
            options: defaults.options.clone(),
        }
    }

    /// A connector to what `url` names, with its user, password and TLS scheme.
    pub fn for_url(url: &FtpUrl, defaults: ConnectDefaults<'_>) -> Connector {
        let mut connector = Connector::resolve(
            url.host.clone(),
            url.port,
            url.user.as_deref(),
            url.password.as_deref(),
            defaults,
        );
        connector.options.tls = url.tls_or(defaults.options.tls);
        connector
    }

    /// Connects and logs in. `prompt` is asked for a missing password, which is then kept.
    pub async fn open<P>(&mut self, mut prompt: P) -> Result<Connection, ClientError>
    where
        P: FnMut(&str) -> Option<String>,
    {
        let mut connection =
            Connection::connect(&self.host, self.port, self.options.clone()).await?;
        let mut asked = None;
        let mut remember = |user: &str| {
            let answer = prompt(user);
            asked.clone_from(&answer);
            answer
        };
        connection.login(&self.credentials, &mut remember).await?;
        if let Some(password) = asked {
            self.credentials.password = Some(password);
        }
        Ok(connection)
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        crate::url::host_port(&self.host, self.port)
    }
}

/// A logged-in (or about to be) control connection.
#[derive(Debug)]
pub struct Connection {
    /// The control connection, plain or TLS.
    control: Stream,
    /// Set once the control connection is TLS: data connections use it to resume the session.
    tls: Option<TlsSession>,
    decoder: ReplyDecoder,
    read_buf: Vec<u8>,
    /// The server's address: data connections go to this IP, whatever PASV says.
    peer: SocketAddr,
    /// Our end of the control connection: active mode listens on this IP.
    local: SocketAddr,
    options: ConnectOptions,
    features: Features,
    /// Set once EPSV was refused, so we go straight to PASV afterwards.
    epsv_refused: bool,
    /// The server's greeting.
    greeting: Reply,
}

impl Connection {
    /// Opens the control connection and reads the greeting (waiting through a 120).
    pub async fn connect(
        host: &str,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Connection, ClientError> {
        let address = crate::url::host_port(host, port);
        let stream =
            match tokio::time::timeout(options.timeout, TcpStream::connect((host, port))).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(source)) => return Err(ClientError::Connect { address, source }),
                Err(_) => return Err(ClientError::Timeout(format!("connecting to {address}"))),
            };
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().map_err(|source| ClientError::Connect {
            address: address.clone(),
            source,
        })?;
        let local = stream.local_addr().map_err(|source| ClientError::Connect {
            address: address.clone(),
            source,
        })?;
        let tls = match options.tls {
            TlsMode::Off => None,
            TlsMode::Explicit | TlsMode::Implicit => Some(TlsSession::new(&options.trust, host)?),
        };
        let control = match (&tls, options.tls) {
            (Some(session), TlsMode::Implicit) => {
                let stream = session
                    .handshake(stream, options.timeout, "control connection")
                    .await?;
                if options.verbose
                    && let Some(summary) = stream.tls_summary()
                {
                    eprintln!("--- control connection: {summary}");
                }
                stream
            }
            _ => Stream::Plain(stream),
        };
        let mut connection = Connection {
            control,
            tls: None,
            decoder: ReplyDecoder::default(),
            read_buf: vec![0; 16 * 1024],
            peer,
            local,
            options,
            features: Features::default(),
            epsv_refused: false,
            greeting: Reply::new(ReplyCode::SERVICE_READY, ""),
        };
        let mut greeting = connection.read_reply().await?;
        while greeting.code == ReplyCode::READY_IN_MINUTES {
            greeting = connection.read_reply().await?;
        }
        if greeting.code != ReplyCode::SERVICE_READY {
            return Err(ClientError::Server {
                command: "connect".into(),
                reply: greeting,
            });
        }
        connection.greeting = greeting;
        if let Some(session) = tls {
            if connection.options.tls == TlsMode::Implicit {
                connection.tls = Some(session);
            } else {
                connection.start_tls(session).await?;
            }
        }
        Ok(connection)
    }

    /// `AUTH TLS` (RFC 4217), which must be answered 234, then the handshake on the
    /// control connection.
    async fn start_tls(&mut self, session: TlsSession) -> Result<(), ClientError> {
        let reply = self
            .command(&command_line(&Command::Auth(b"TLS".to_vec())))
            .await?;
        if reply.code.0 != 234 {
            return Err(ClientError::Server {
                command: "AUTH TLS (the server refused TLS)".into(),
                reply,
            });
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut self.control, Stream::Closed) else {
            return Err(ClientError::Protocol("AUTH TLS on a TLS connection".into()));
        };
        self.control = session
            .handshake(tcp, self.options.timeout, "control connection")
            .await?;
        if self.options.verbose
            && let Some(summary) = self.control.tls_summary()
        {
            eprintln!("--- control connection: {summary}");
        }
        self.tls = Some(session);
        Ok(())
    }

    /// True when the control connection (and so every data connection) is TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The control connection's TLS version and handshake (`TLSv1_3, full handshake`); `None`
    /// for plain FTP.
    pub fn tls_summary(&self) -> Option<String> {
        self.control.tls_summary()
    }

    /// Logs in, then reads FEAT and switches to binary. `prompt` is asked for a password when
    /// the server wants one and `credentials` has none; it returns `None` to give up.
    pub async fn login<P>(
        &mut self,
        credentials: &Credentials,
        prompt: &mut P,
    ) -> Result<Reply, ClientError>
    where
        P: FnMut(&str) -> Option<String>,
    {
        let user = command_line(&Command::User(credentials.user.clone().into_bytes()));
        let mut reply = self.command(&user).await?;
        if reply.code == ReplyCode::NEED_PASSWORD {
            let password = match &credentials.password {
                Some(password) => password.clone(),
                None => prompt(&credentials.user).ok_or_else(|| {
                    ClientError::Usage(format!("no password given for {}", credentials.user))
                })?,
            };
            self.send(&command_line(&Command::Pass(password.into_bytes())), "PASS")
                .await?;
            reply = self.read_final_reply().await?;
        }
        if reply.code != ReplyCode::LOGGED_IN && reply.code != ReplyCode::SUPERFLUOUS {
            return Err(ClientError::Server {
                command: "login".into(),
                reply,
            });
        }
        if self.tls.is_some() {
            // RFC 4217 (after RFC 2228): PBSZ 0 first, then PROT P for private data connections.
            // With implicit TLS some servers (IIS, after MS-FTPS) take both as already said and
            // may refuse them: there a refusal is not an error.
            if self.options.tls == TlsMode::Implicit {
                let _ = self.command(&command_line(&Command::Pbsz(0))).await?;
                let _ = self
                    .command(&command_line(&Command::Prot(ProtLevel::Private)))
                    .await?;
            } else {
                self.simple(&command_line(&Command::Pbsz(0))).await?;
                self.simple(&command_line(&Command::Prot(ProtLevel::Private)))
                    .await?;
            }
        }
        if let Ok(feat) = self.command(&command_line(&Command::Feat)).await
            && feat.code == ReplyCode::SYSTEM_STATUS
        {
            self.features = Features::from_reply(&feat);
        }
        if self.features.has("UTF8") {
            let _ = self
                .command(&command_line(&Command::Opts(b"UTF8 ON".to_vec())))
                .await?;
        }
        self.simple(&command_line(&Command::Type(TransferType::Image)))
            .await?;
        Ok(reply)
    }

    /// The greeting the server sent.
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }

    /// What FEAT listed.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Limits each later transfer to `rate` bytes a second (`None`: no limit).
    pub fn set_limit_rate(&mut self, rate: Option<u64>) {
        self.options.limit_rate = rate;
    }

    /// The options this connection was opened with.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// Sends one command line and returns the final (non-1xx) reply, whatever its code.
    pub async fn command(&mut self, line: &str) -> Result<Reply, ClientError> {
        self.send(line, line).await?;
        self.read_final_reply().await
    }

    /// Sends a command and expects a 2xx reply; anything else is [`ClientError::Server`].
    pub async fn simple(&mut self, line: &str) -> Result<Reply, ClientError> {
        let reply = self.command(line).await?;
        check(line, reply, ReplyCode::is_success)
    }

    /// Pipelines `lines`: all of them in one write, then their final replies, in order. Only
    /// for commands without secrets that a server reads in order (RFC 959 servers read the
    /// control connection as a stream; ferryd holds a command back while a digest runs).
    pub async fn pipeline(&mut self, lines: &[String]) -> Result<Vec<Reply>, ClientError> {
        let Some(first) = lines.first() else {
            return Ok(Vec::new());
        };
        let shown: Vec<&str> = lines.iter().map(String::as_str).collect();
        if self.options.verbose {
            for line in &shown {
                eprintln!("--> {line}");
            }
        }
        self.send_lines(&shown, first).await?;
        let mut replies = Vec::with_capacity(lines.len());
        for _ in lines {
            replies.push(self.read_final_reply().await?);
        }
        Ok(replies)
    }

    async fn send(&mut self, line: &str, shown: &str) -> Result<(), ClientError> {
        if self.options.verbose {
            eprintln!("--> {shown}");
        }
        self.send_lines(&[line], shown).await
    }

    /// Writes `lines` (each with CRLF) in one flushed write; `shown` names them in errors.
    async fn send_lines(&mut self, lines: &[&str], shown: &str) -> Result<(), ClientError> {
        let mut bytes = Vec::with_capacity(lines.iter().map(|line| line.len() + 2).sum());
        for line in lines {
            if line.contains(['\r', '\n']) {
                return Err(ClientError::Usage(
                    "names with line breaks cannot be sent over FTP".into(),
                ));
            }
            bytes.extend_from_slice(line.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        let context = format!("sending {}", shown.split(' ').next().unwrap_or(shown));
        // Flushed: over TLS, a command the socket cannot take at once stays in tokio-rustls's
        // buffer, reported as written, until something flushes it.
        let send = async {
            self.control.write_all(&bytes).await?;
            self.control.flush().await
        };
        match tokio::time::timeout(self.options.timeout, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(ClientError::network(context, source)),
            Err(_) => Err(ClientError::Timeout(context)),
        }
    }

    async fn read_final_reply(&mut self) -> Result<Reply, ClientError> {
        loop {
            let reply = self.read_reply().await?;
            if !reply.code.is_preliminary() {
                return Ok(reply);
            }
        }
    }

    async fn read_reply(&mut self) -> Result<Reply, ClientError> {
        loop {
            match self.decoder.next_reply() {
                Ok(Some(reply)) => {
                    if self.options.verbose {
                        // Inner lines of a multi-line reply are kept as the server sent them.
                        let last = reply.lines.len().saturating_sub(1);
                        for (index, line) in reply.lines.iter().enumerate() {
                            match (index, index == last) {
                                (_, true) => eprintln!("<-- {} {line}", reply.code),
                                (0, false) => eprintln!("<-- {}-{line}", reply.code),
                                _ => eprintln!("<-- {line}"),
                            }
                        }
                    }
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(error) => return Err(ClientError::Protocol(error.to_string())),
            }
            let read = match tokio::time::timeout(
                self.options.timeout,
                self.control.read(&mut self.read_buf),
            )
            .await
            {
                Ok(Ok(read)) => read,
                Ok(Err(source)) => {
                    return Err(ClientError::network("reading the server's reply", source));
                }
                Err(_) => return Err(ClientError::Timeout("waiting for the server".into())),
            };
            if read == 0 {
                return Err(ClientError::Closed);
            }
            self.decoder.extend(&self.read_buf[..read]);
        }
    }
}

/// A command as the line we send and show (paths are UTF-8 here, so nothing is lost).
fn command_line(command: &Command) -> String {
    String::from_utf8_lossy(&command.to_line()).into_owned()
}

/// A path argument as a command holds it.
fn bytes(path: &str) -> Vec<u8> {
    path.as_bytes().to_vec()
}

/// `Ok(reply)` when `accept(reply.code)`, else the server's refusal as an error.
fn check(
    command: &str,
    reply: Reply,
    accept: impl Fn(ReplyCode) -> bool,
) -> Result<Reply, ClientError> {
    if accept(reply.code) {
        Ok(reply)
    } else {
        let command = if command.starts_with("PASS ") {
            "PASS".to_string()
        } else {
            command.to_string()
        };
        Err(ClientError::Server { command, reply })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_is_hidden_in_errors() {
        let error = check(
            "PASS secret",
            Reply::new(ReplyCode::NOT_LOGGED_IN, "no"),
            |_| false,
        );
        assert_eq!(error.unwrap_err().to_string(), "PASS: 530 no");
    }
}
