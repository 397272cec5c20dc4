//! Data connections (RFC 959 section 3.2, RFC 2428): passive (EPSV, then PASV) or active
//! (PORT/EPRT), TLS when the control connection is, and the transfers that open them:
//! [`Connection::retrieve`] and [`Connection::store`] send REST when they resume and fall back
//! by themselves when the server refuses it.
//!
//! This module reads and writes chunks; it does not loop over files (see [`crate::transfer`]).

use std::net::SocketAddr;
use std::time::Duration;

use ferry_proto::{Command, EpsvArg, Reply, ReplyCode, addr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Connection, bytes, check, command_line};
use crate::ClientError;
use crate::rate::{Pacer, pace};
use crate::tls::Stream;

/// A data connection with the reply that opened it.
#[derive(Debug)]
pub struct DataStream {
    /// The data connection, TLS when the control connection is.
    stream: Stream,
    /// The final reply, when the server already sent it (some send 226 without 150).
    done: Option<Reply>,
    command: String,
    /// `--limit-rate`: paces reads and writes.
    pacer: Option<Pacer>,
}

enum DataSetup {
    Connected(TcpStream),
    Listening(TcpListener),
}

/// How [`Connection::store`] writes the remote file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// STOR: create the file or replace it.
    Replace,
    /// Continue the remote file from this offset: REST then STOR, or APPE when the server
    /// refuses REST (the caller sends the bytes from the offset either way).
    Resume(u64),
}

/// Why a data connection did not open.
enum OpenError {
    /// The server refused `REST offset`: a resumed transfer can start over or append.
    RestRefused(ClientError),
    /// Anything else.
    Failed(ClientError),
}

impl From<ClientError> for OpenError {
    fn from(error: ClientError) -> Self {
        OpenError::Failed(error)
    }
}

impl From<OpenError> for ClientError {
    fn from(error: OpenError) -> Self {
        match error {
            OpenError::RestRefused(error) | OpenError::Failed(error) => error,
        }
    }
}

impl Connection {
    /// Opens the data connection of `RETR path`, from `offset` (REST) when it is not 0. A server
    /// that refuses REST sends the whole file instead: the offset the data starts at is returned
    /// with the stream.
    pub async fn retrieve(
        &mut self,
        path: &str,
        offset: u64,
    ) -> Result<(DataStream, u64), ClientError> {
        let retr = command_line(&Command::Retr(bytes(path)));
        match self.open(&retr, offset).await {
            Ok(data) => Ok((data, offset)),
            // A server without REST: start again from the beginning.
            Err(OpenError::RestRefused(_)) => Ok((self.open_data(&retr, 0).await?, 0)),
            Err(OpenError::Failed(error)) => Err(error),
        }
    }

    /// Opens the data connection of an upload to `path` (STOR, or REST + STOR to resume, or APPE
    /// when the server refuses REST).
    pub async fn store(&mut self, path: &str, mode: StoreMode) -> Result<DataStream, ClientError> {
        let offset = match mode {
            StoreMode::Replace => 0,
            StoreMode::Resume(offset) => offset,
        };
        let stor = command_line(&Command::Stor(bytes(path)));
        match self.open(&stor, offset).await {
            Ok(data) => Ok(data),
            // No REST before STOR: append instead (RFC 959 APPE).
            Err(OpenError::RestRefused(_)) => {
                self.open_data(&command_line(&Command::Appe(bytes(path))), 0)
                    .await
            }
            Err(OpenError::Failed(error)) => Err(error),
        }
    }

    /// Opens a data connection for a transfer command (`RETR x`, `STOR x`, `LIST`...), sending
    /// `REST offset` first when `offset > 0`, and waits for the server's 1xx. Prefer
    /// [`Connection::retrieve`] and [`Connection::store`], which handle a refused REST.
    pub async fn open_data(&mut self, line: &str, offset: u64) -> Result<DataStream, ClientError> {
        Ok(self.open(line, offset).await?)
    }

    /// Opens a data connection (see [`Connection::open_data`]); a refused REST is told apart.
    async fn open(&mut self, line: &str, offset: u64) -> Result<DataStream, OpenError> {
        let setup = self.prepare_data().await?;
        if offset > 0 {
            let rest = command_line(&Command::Rest(offset));
            let reply = self.command(&rest).await?;
            check(&rest, reply, |code| code == ReplyCode::FILE_ACTION_PENDING)
                .map_err(OpenError::RestRefused)?;
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
            }
            .into());
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
                    Err(error) => {
                        return Err(self.data_handshake_failed(line, done, error).await.into());
                    }
                }
            }
        };
        Ok(DataStream {
            stream,
            done,
            command: line.to_string(),
            pacer: self.options.limit_rate.map(Pacer::new),
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

    /// Reads a chunk of data, bounded by the timeout (and paced by `--limit-rate`).
    pub async fn read_data(
        &self,
        data: &mut DataStream,
        buf: &mut [u8],
    ) -> Result<usize, ClientError> {
        match tokio::time::timeout(self.options.timeout, data.stream.read(buf)).await {
            Ok(Ok(read)) => {
                pace(&mut data.pacer, read as u64).await;
                Ok(read)
            }
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
    /// [`ConnectOptions::timeout`](super::ConnectOptions::timeout), for a receive loop on a
    /// blocking thread; `Ok(None)` over TLS,
    /// where `data` keeps its stream. Afterwards `data` holds no stream, and
    /// [`Connection::finish_data`] or [`Connection::abandon_data`] still read the final reply.
    pub fn take_blocking_data(
        &self,
        data: &mut DataStream,
    ) -> Result<Option<std::net::TcpStream>, ClientError> {
        // A paced transfer stays on the async path, where the pacer sleeps.
        if !matches!(data.stream, Stream::Plain(_)) || data.pacer.is_some() {
            return Ok(None);
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut data.stream, Stream::Closed) else {
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
            Ok(Ok(())) => {
                pace(&mut data.pacer, buf.len() as u64).await;
                Ok(())
            }
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
}
