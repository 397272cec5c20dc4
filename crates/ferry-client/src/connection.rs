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

use std::net::SocketAddr;
use std::time::Duration;

pub use ferry_proto::feat::Features;
use ferry_proto::listing::{Entry, parse_list_line, parse_mlsx_line};
use ferry_proto::{
    Command, EpsvArg, ProtLevel, Reply, ReplyCode, ReplyDecoder, TransferType, addr, time,
    unquote_pathname,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::ClientError;
use crate::credentials::Credentials;
use crate::tls::{Stream, TlsMode, TlsSession, TlsTrust};

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
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            active: false,
            timeout: DEFAULT_TIMEOUT,
            verbose: false,
            tls: TlsMode::Off,
            trust: TlsTrust::system(),
        }
    }
}

/// A data connection with the reply that opened it.
#[derive(Debug)]
pub struct DataStream {
    /// The data connection, TLS when the control connection is.
    stream: Stream,
    /// The final reply, when the server already sent it (some send 226 without 150).
    done: Option<Reply>,
    command: String,
}

enum DataSetup {
    Connected(TcpStream),
    Listening(TcpListener),
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

impl Connector {
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
        let Stream::Plain(tcp) = std::mem::replace(&mut self.control, Stream::Detached) else {
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

    /// The options this connection was made with.
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

    /// The current remote folder (PWD, RFC 959 section 4.1.3 and its 257 reply).
    pub async fn pwd(&mut self) -> Result<String, ClientError> {
        let reply = self.simple(&command_line(&Command::Pwd)).await?;
        unquote_pathname(&reply.text())
            .ok_or_else(|| ClientError::Protocol(format!("cannot read the path in {reply}")))
    }

    /// Changes the remote folder; `..` uses CDUP.
    pub async fn cwd(&mut self, path: &str) -> Result<Reply, ClientError> {
        if path == ".." {
            self.simple(&command_line(&Command::Cdup)).await
        } else {
            self.simple(&command_line(&Command::Cwd(bytes(path)))).await
        }
    }

    /// Creates a remote folder.
    pub async fn mkdir(&mut self, path: &str) -> Result<Reply, ClientError> {
        self.simple(&command_line(&Command::Mkd(bytes(path)))).await
    }

    /// Creates a remote folder and its missing parents; existing folders are fine.
    pub async fn mkdir_all(&mut self, path: &str) -> Result<(), ClientError> {
        let mut prefix = String::new();
        if path.starts_with('/') {
            prefix.push('/');
        }
        for name in path.split('/').filter(|name| !name.is_empty()) {
            prefix.push_str(name);
            if self.is_dir(&prefix).await? {
                prefix.push('/');
                continue;
            }
            let mkd = command_line(&Command::Mkd(bytes(&prefix)));
            let reply = self.command(&mkd).await?;
            if !reply.code.is_success() && !self.is_dir(&prefix).await? {
                return Err(ClientError::Server {
                    command: mkd,
                    reply,
                });
            }
            prefix.push('/');
        }
        Ok(())
    }

    /// True when `path` is a folder the server lets us enter (CWD there and back).
    pub async fn is_dir(&mut self, path: &str) -> Result<bool, ClientError> {
        let here = self.pwd().await?;
        let reply = self
            .command(&command_line(&Command::Cwd(bytes(path))))
            .await?;
        if !reply.code.is_success() {
            return Ok(false);
        }
        self.simple(&command_line(&Command::Cwd(here.into_bytes())))
            .await?;
        Ok(true)
    }

    /// Removes a remote folder.
    pub async fn rmdir(&mut self, path: &str) -> Result<Reply, ClientError> {
        self.simple(&command_line(&Command::Rmd(bytes(path)))).await
    }

    /// Deletes a remote file.
    pub async fn delete(&mut self, path: &str) -> Result<Reply, ClientError> {
        self.simple(&command_line(&Command::Dele(bytes(path))))
            .await
    }

    /// Renames (RNFR then RNTO).
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<Reply, ClientError> {
        let rnfr = command_line(&Command::Rnfr(bytes(from)));
        let reply = self.command(&rnfr).await?;
        check(&rnfr, reply, |code| code == ReplyCode::FILE_ACTION_PENDING)?;
        self.simple(&command_line(&Command::Rnto(bytes(to)))).await
    }

    /// The size of a remote file (SIZE, RFC 3659 section 4).
    pub async fn size(&mut self, path: &str) -> Result<u64, ClientError> {
        let reply = self
            .simple(&command_line(&Command::Size(bytes(path))))
            .await?;
        reply
            .text()
            .trim()
            .parse()
            .map_err(|_| ClientError::Protocol(format!("cannot read the size in {reply}")))
    }

    /// The modification time of a remote file (MDTM, RFC 3659 section 3), Unix seconds.
    pub async fn modified(&mut self, path: &str) -> Result<i64, ClientError> {
        let reply = self
            .simple(&command_line(&Command::Mdtm(bytes(path))))
            .await?;
        time::parse_timeval(reply.text().trim())
            .ok_or_else(|| ClientError::Protocol(format!("cannot read the time in {reply}")))
    }

    /// Sets the modification time of a remote file (MFMT, draft-somers-ftp-mfxx), when FEAT
    /// offers it; `Ok(false)` when it does not.
    pub async fn set_modified(&mut self, path: &str, secs: i64) -> Result<bool, ClientError> {
        if !self.features.has("MFMT") {
            return Ok(false);
        }
        self.simple(&command_line(&Command::Mfmt(secs, bytes(path))))
            .await?;
        Ok(true)
    }

    /// Lists a folder (`None`: the current one): MLSD when offered, else LIST parsed.
    /// `.` and `..` are left out.
    pub async fn list(&mut self, path: Option<&str>) -> Result<Vec<Entry>, ClientError> {
        let mlsd = self.features.has("MLST");
        let path = path.map(bytes);
        let command = if mlsd {
            Command::Mlsd(path)
        } else {
            Command::List(path)
        };
        let bytes = self.read_listing(&command_line(&command)).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut entries = Vec::new();
        for raw in bytes.split(|&b| b == b'\n') {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.is_empty() {
                continue;
            }
            let entry = if mlsd {
                parse_mlsx_line(raw).filter(|_| !is_mlsd_self_or_parent(raw))
            } else {
                parse_list_line(raw, now)
            };
            if let Some(mut entry) = entry {
                if let Some(slash) = entry.name.iter().rposition(|&b| b == b'/') {
                    entry.name.drain(..=slash);
                }
                if !entry.name.is_empty() && entry.name != b"." && entry.name != b".." {
                    entries.push(entry);
                }
            }
        }
        Ok(entries)
    }

    /// Names in a folder (NLST), for completion and globs.
    pub async fn names(&mut self, path: Option<&str>) -> Result<Vec<String>, ClientError> {
        let bytes = self
            .read_listing(&command_line(&Command::Nlst(path.map(bytes))))
            .await?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| line.trim_end_matches('\r'))
            .filter(|line| !line.is_empty())
            .map(|line| line.rsplit('/').next().unwrap_or(line).to_string())
            .collect())
    }

    async fn read_listing(&mut self, line: &str) -> Result<Vec<u8>, ClientError> {
        let mut data = self.open_data(line, 0).await?;
        let mut bytes = Vec::new();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let read = match self.read_data(&mut data, &mut chunk).await {
                Ok(read) => read,
                Err(error) => return Err(self.abandon_after(data, error).await),
            };
            if read == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..read]);
        }
        self.finish_data(data).await?;
        Ok(bytes)
    }

    /// Ends the session politely (QUIT); errors are ignored, the connection is gone either way.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = self.command(&command_line(&Command::Quit)).await;
            // TLS: our close_notify, so the server sees a clean end.
            let _ = self.control.shutdown().await;
        })
        .await;
    }

    /// Opens a data connection for a transfer command (`RETR x`, `STOR x`, `LIST`...), sending
    /// `REST offset` first when `offset > 0`, and waits for the server's 1xx.
    pub async fn open_data(&mut self, line: &str, offset: u64) -> Result<DataStream, ClientError> {
        let setup = self.prepare_data().await?;
        if offset > 0 {
            let rest = command_line(&Command::Rest(offset));
            let reply = self.command(&rest).await?;
            check(&rest, reply, |code| code == ReplyCode::FILE_ACTION_PENDING)?;
        }
        self.send(line, line).await?;
        let reply = self.read_reply().await?;
        let done = if reply.code.is_preliminary() {
            None
        } else if reply.code.is_success() {
            Some(reply)
        } else {
            return Err(ClientError::Server {
                command: line.to_string(),
                reply,
            });
        };
        let tcp = match setup {
            DataSetup::Connected(stream) => stream,
            DataSetup::Listening(listener) => self.accept_data(listener).await?,
        };
        let stream = match self.tls.clone() {
            None => Stream::Plain(tcp),
            // The handshake starts only now, after the server's 1xx: a server starts TLS on
            // the data connection when it has the transfer command.
            Some(session) => {
                match session
                    .handshake(tcp, self.options.timeout, "data connection")
                    .await
                {
                    Ok(stream) => {
                        if self.options.verbose
                            && let Some(summary) = stream.tls_summary()
                        {
                            eprintln!("--- data connection: {summary}");
                        }
                        stream
                    }
                    Err(error) => return Err(self.data_handshake_failed(line, done, error).await),
                }
            }
        };
        Ok(DataStream {
            stream,
            done,
            command: line.to_string(),
        })
    }

    /// After a failed data handshake, the server's own reason (vsftpd: `522 SSL connection
    /// failed: session reuse required`) is the better error, and reading it keeps the control
    /// connection in step.
    async fn data_handshake_failed(
        &mut self,
        line: &str,
        done: Option<Reply>,
        error: ClientError,
    ) -> ClientError {
        if done.is_some() {
            return error;
        }
        let wait = Duration::from_secs(5).min(self.options.timeout);
        match tokio::time::timeout(wait, self.read_final_reply()).await {
            Ok(Ok(reply)) if !reply.code.is_success() => ClientError::Server {
                command: line.to_string(),
                reply,
            },
            _ => error,
        }
    }

    /// Reads a chunk of data, bounded by the timeout.
    pub async fn read_data(
        &self,
        data: &mut DataStream,
        buf: &mut [u8],
    ) -> Result<usize, ClientError> {
        match tokio::time::timeout(self.options.timeout, data.stream.read(buf)).await {
            Ok(Ok(read)) => Ok(read),
            // Over TLS, an end without close_notify may be a cut: refused.
            Ok(Err(source))
                if source.kind() == std::io::ErrorKind::UnexpectedEof
                    && matches!(data.stream, Stream::Tls(_)) =>
            {
                Err(ClientError::Protocol(
                    "the server ended the TLS data connection without close_notify, so the \
                     data may be cut short"
                        .into(),
                ))
            }
            Ok(Err(source)) => Err(ClientError::network("reading data", source)),
            Err(_) => Err(ClientError::Timeout("waiting for data".into())),
        }
    }

    /// Takes a plain data connection out of `data` as a blocking socket whose reads wait at most
    /// [`ConnectOptions::timeout`], for a receive loop on a blocking thread; `Ok(None)` over TLS,
    /// where `data` keeps its stream. Afterwards `data` holds no stream, and
    /// [`Connection::finish_data`] or [`Connection::abandon_data`] still read the final reply.
    pub fn take_blocking_data(
        &self,
        data: &mut DataStream,
    ) -> Result<Option<std::net::TcpStream>, ClientError> {
        if !matches!(data.stream, Stream::Plain(_)) {
            return Ok(None);
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut data.stream, Stream::Detached) else {
            return Ok(None);
        };
        let socket = tcp
            .into_std()
            .and_then(|socket| {
                socket.set_nonblocking(false)?;
                socket.set_read_timeout(Some(self.options.timeout))?;
                Ok(socket)
            })
            .map_err(|source| ClientError::network("preparing the data connection", source))?;
        Ok(Some(socket))
    }

    /// Writes a chunk of data, bounded by the timeout.
    pub async fn write_data(&self, data: &mut DataStream, buf: &[u8]) -> Result<(), ClientError> {
        match tokio::time::timeout(self.options.timeout, data.stream.write_all(buf)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(ClientError::network("sending data", source)),
            Err(_) => Err(ClientError::Timeout("sending data".into())),
        }
    }

    /// Closes our end of the data connection and reads the transfer's final reply (226/250).
    /// Over TLS, our close_notify tells the server an upload ended here and was not cut; then
    /// the server's close_notify is read, so its last bytes are not lost to a reset.
    pub async fn finish_data(&mut self, mut data: DataStream) -> Result<Reply, ClientError> {
        let _ = tokio::time::timeout(self.options.timeout, data.stream.shutdown()).await;
        if matches!(data.stream, Stream::Tls(_)) {
            let mut rest = [0u8; 4096];
            let _ = tokio::time::timeout(self.options.timeout, async {
                while let Ok(read) = data.stream.read(&mut rest).await {
                    if read == 0 {
                        break;
                    }
                }
            })
            .await;
        }
        drop(data.stream);
        let reply = match data.done {
            Some(reply) => reply,
            None => self.read_final_reply().await?,
        };
        check(&data.command, reply, ReplyCode::is_success)
    }

    /// [`Connection::abandon_data`] after `error` broke the transfer: when the data connection
    /// failed and the server then refused the transfer (`425`, `426`, `522`...), its reply is
    /// the better error, with the server's own reason; otherwise `error`.
    pub async fn abandon_after(&mut self, data: DataStream, error: ClientError) -> ClientError {
        let command = data.command.clone();
        let data_failed = matches!(
            error,
            ClientError::Network { .. } | ClientError::Timeout(_) | ClientError::Protocol(_)
        );
        match self.abandon_data(data).await {
            Ok(Some(reply)) if data_failed && !reply.code.is_success() => {
                ClientError::Server { command, reply }
            }
            _ => error,
        }
    }

    /// After a transfer failed on our side: drops the data connection and reads the server's
    /// final reply (426, or 226 if it had sent everything), so the control connection is back in
    /// step. An error means it is not, and the connection should be dropped.
    /// Returns that reply when it was read now.
    pub async fn abandon_data(&mut self, data: DataStream) -> Result<Option<Reply>, ClientError> {
        drop(data.stream);
        if data.done.is_none() {
            return self.read_final_reply().await.map(Some);
        }
        Ok(None)
    }

    async fn prepare_data(&mut self) -> Result<DataSetup, ClientError> {
        if self.options.active {
            return self.prepare_active().await;
        }
        if !self.epsv_refused {
            let reply = self
                .command(&command_line(&Command::Epsv(EpsvArg::Any)))
                .await?;
            if reply.code == ReplyCode::EXTENDED_PASSIVE_MODE {
                let port = addr::parse_epsv_reply(&reply.text()).ok_or_else(|| {
                    ClientError::Protocol(format!("cannot read the port in {reply}"))
                })?;
                return self.connect_data(port).await.map(DataSetup::Connected);
            }
            // Fall back to PASV only when EPSV is not understood (500, 501, 502, 504); any
            // other answer (421 closing, 425...) is the server's real reply.
            let not_understood = matches!(reply.code.0, 500 | 501 | 502 | 504);
            if !not_understood || !self.peer.is_ipv4() {
                return Err(ClientError::Server {
                    command: "EPSV".into(),
                    reply,
                });
            }
            self.epsv_refused = true;
        }
        let reply = self.command(&command_line(&Command::Pasv)).await?;
        let reply = check("PASV", reply, |code| code == ReplyCode::PASSIVE_MODE)?;
        let announced = addr::parse_pasv_reply(&reply.text())
            .ok_or_else(|| ClientError::Protocol(format!("cannot read the address in {reply}")))?;
        // Only the port is used: the IP a server announces is often private, or a bounce.
        self.connect_data(announced.port())
            .await
            .map(DataSetup::Connected)
    }

    async fn connect_data(&self, port: u16) -> Result<TcpStream, ClientError> {
        let target = SocketAddr::new(self.peer.ip(), port);
        match tokio::time::timeout(self.options.timeout, TcpStream::connect(target)).await {
            Ok(Ok(stream)) => {
                // No Nagle: a TLS upload ends with a small close_notify after the data, which
                // would otherwise wait for the server's (maybe delayed, 40 ms) ACK.
                let _ = stream.set_nodelay(true);
                Ok(stream)
            }
            Ok(Err(source)) => Err(ClientError::network(
                format!("opening the data connection to {target}"),
                source,
            )),
            Err(_) => Err(ClientError::Timeout(format!(
                "opening the data connection to {target}"
            ))),
        }
    }

    async fn prepare_active(&mut self) -> Result<DataSetup, ClientError> {
        let listener = TcpListener::bind(SocketAddr::new(self.local.ip(), 0))
            .await
            .map_err(|source| ClientError::network("listening for the data connection", source))?;
        let address = listener
            .local_addr()
            .map_err(|source| ClientError::network("listening for the data connection", source))?;
        let command = match address {
            SocketAddr::V4(v4) => Command::Port(v4),
            SocketAddr::V6(_) => Command::Eprt(address),
        };
        self.simple(&command_line(&command)).await?;
        Ok(DataSetup::Listening(listener))
    }

    async fn accept_data(&self, listener: TcpListener) -> Result<TcpStream, ClientError> {
        let wait = async {
            loop {
                let (stream, from) = listener.accept().await.map_err(|source| {
                    ClientError::network("accepting the data connection", source)
                })?;
                // Only the server may connect; anyone else is turned away.
                if from.ip() == self.peer.ip() {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
            }
        };
        tokio::time::timeout(self.options.timeout, wait)
            .await
            .map_err(|_| ClientError::Timeout("waiting for the server to connect back".into()))?
    }

    async fn send(&mut self, line: &str, shown: &str) -> Result<(), ClientError> {
        if line.contains(['\r', '\n']) {
            return Err(ClientError::Usage(
                "names with line breaks cannot be sent over FTP".into(),
            ));
        }
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        if self.options.verbose {
            eprintln!("--> {shown}");
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

/// MLSD lists `cdir`/`pdir` entries for the folder itself and its parent; they are not content.
fn is_mlsd_self_or_parent(raw: &[u8]) -> bool {
    let facts = raw.split(|&b| b == b' ').next().unwrap_or(b"");
    let facts = String::from_utf8_lossy(facts).to_ascii_lowercase();
    facts.contains("type=cdir") || facts.contains("type=pdir")
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]
mod tests {
    use super::*;

    #[test]
    fn pass_is_hidden_in_errors() {
        let error = check("PASS secret", Reply::new(ReplyCode(530), "no"), |_| false);
        assert_eq!(error.unwrap_err().to_string(), "PASS: 530 no");
    }
}
