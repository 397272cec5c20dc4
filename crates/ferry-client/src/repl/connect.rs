//! Connecting and leaving: CONN/open (a URL, HOST[:PORT] [USER], or the default), close, QUIT.
//!
//! `CONN sftp://...` opens an SFTP session instead. When the server's host key is not in
//! known_hosts, a person at a terminal is asked once whether to trust it (yes adds it, and the
//! connection is made again, which must show that same key); piped input is refused with the
//! one-shot commands' message, which names `--accept-new-host-key`.

use super::session::{Reopen, Session, SftpShell};
use super::{Flow, Input, Repl, interruptible, say};
use crate::ClientError;
use crate::connection::{ConnectDefaults, Connector};
use crate::sftp::{HostKeyNote, SftpConnector};
use crate::url::{self, FtpUrl, SftpUrl};

/// What a person answered to the host-key question.
fn confirmed(input: &mut dyn Input, question: &str) -> bool {
    loop {
        let Some(answer) = input.read_line(question) else {
            return false;
        };
        match answer.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" => return true,
            "no" | "n" => return false,
            _ => say("Please type yes or no."),
        }
    }
}

/// `text` with a capital first letter and a full stop, as the shell's messages are.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

impl Repl {
    pub(super) fn conn(&mut self, arguments: &[String], input: &mut dyn Input) -> Flow {
        self.disconnect();
        self.remote_folder = None;
        say("Sending a server request...");
        let mut connector = match self.connector_for(arguments) {
            Ok(connector) => connector,
            Err(error) => {
                say("Connection unsuccessful. Make sure the server is online.");
                say(&error.to_string());
                return Flow::Continue;
            }
        };
        // The connector remembers a password typed at the prompt, for reconnects.
        let opened = match &mut connector {
            Reopen::Ftp(connector) => {
                let prompt = |user: &str| input.read_secret(&format!("Password for {user}: "));
                interruptible(&self.runtime, self.interactive, connector.open(prompt))
                    .map(|connection| Some(Session::Ftp(connection)))
            }
            Reopen::Sftp(connector) => self.open_sftp(connector, input),
        };
        match opened {
            Ok(Some(mut connection)) => {
                // `CONN ftp://host/folder/` starts in that folder.
                let folder = match arguments {
                    [target] if url::is_ftp_url(target) => FtpUrl::parse(target)
                        .map(|url| url.path.trim_end_matches('/').to_string())
                        .unwrap_or_default(),
                    [target] if url::is_sftp_url(target) => SftpUrl::parse(target)
                        .map(|url| match url.path.trim_end_matches('/') {
                            "" if url.path.starts_with('/') => "/".to_string(),
                            path => path.to_string(),
                        })
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                let entered = if folder.is_empty() {
                    Ok(())
                } else {
                    interruptible(&self.runtime, self.interactive, connection.cd(&folder))
                        .map(|_| ())
                };
                self.connection = Some(connection);
                self.connector = Some(connector);
                say("Connection successful");
                match entered {
                    Ok(()) if !folder.is_empty() => self.remote_folder = Some(folder),
                    Ok(()) => {}
                    Err(error) => self.fail(&error),
                }
                self.refresh_names();
            }
            Ok(None) => say("Connection unsuccessful: the host key was not trusted."),
            Err(error) => {
                say("Connection unsuccessful. Make sure the server is online.");
                say(&error.to_string());
            }
        }
        Flow::Continue
    }

    /// Opens an SFTP session; an unknown host key is asked about on a terminal (`None`: the
    /// answer was no). A password typed at the prompt is kept in `connector`.
    fn open_sftp(
        &mut self,
        connector: &mut SftpConnector,
        input: &mut dyn Input,
    ) -> Result<Option<Session>, ClientError> {
        let mut asked = false;
        let mut typed = None;
        let (session, note) = loop {
            let prompt = |question: &str| {
                let answer = input.read_secret(question);
                if question.starts_with("Password for ") {
                    typed.clone_from(&answer);
                }
                answer
            };
            match interruptible(&self.runtime, self.interactive, connector.open(prompt)) {
                Err(ClientError::UnknownHostKey(unknown)) if self.interactive && !asked => {
                    asked = true;
                    if !confirmed(input, &unknown.question()) {
                        return Ok(None);
                    }
                    say(&sentence(&unknown.trust()?));
                }
                result => break result?,
            }
        };
        if typed.is_some() {
            connector.url.password = typed;
        }
        if let HostKeyNote::Added(line) = note {
            say(&sentence(&line));
        }
        let started = SftpShell::start(session);
        interruptible(&self.runtime, self.interactive, started)
            .map(|shell| Some(Session::Sftp(shell)))
    }

    pub(super) fn connector_for(&self, arguments: &[String]) -> Result<Reopen, ClientError> {
        let defaults = ConnectDefaults {
            user: self.options.user.as_deref(),
            netrc: self.options.netrc.as_deref(),
            options: &self.options.connect,
        };
        match arguments {
            [] => Ok(Reopen::Ftp(Connector::resolve(
                url::DEFAULT_CONN_HOST.to_string(),
                url::DEFAULT_CONN_PORT,
                None,
                None,
                defaults,
            ))),
            [target] if url::is_ftp_url(target) => Ok(Reopen::Ftp(Connector::for_url(
                &FtpUrl::parse(target)?,
                defaults,
            ))),
            [target] if url::is_sftp_url(target) => Ok(Reopen::Sftp(SftpConnector {
                url: SftpUrl::parse(target)?,
                user: self.options.user.clone(),
                netrc: self.options.netrc.clone(),
                options: crate::sftp::SshOptions {
                    timeout: self.options.connect.timeout,
                    limit_rate: self.options.connect.limit_rate,
                    ..self.options.ssh.clone()
                },
            })),
            [target, rest @ ..] if rest.len() <= 1 => {
                let (host, port) = url::split_host_port(target, url::DEFAULT_FTP_PORT)
                    .map_err(|why| ClientError::Usage(format!("bad address {target:?}: {why}")))?;
                let user = rest.first().map(String::as_str);
                Ok(Reopen::Ftp(Connector::resolve(
                    host, port, user, None, defaults,
                )))
            }
            _ => Err(ClientError::Usage(
                "usage: CONN [URL | HOST[:PORT] [USER]]".into(),
            )),
        }
    }

    pub(super) fn quit(&mut self, _: &[String], _: &mut dyn Input) -> Flow {
        self.disconnect();
        say("Server connection ended");
        Flow::Quit
    }

    pub(super) fn close(&mut self, _: &[String], _: &mut dyn Input) -> Flow {
        self.disconnect();
        say("Server connection ended");
        Flow::Continue
    }
}
