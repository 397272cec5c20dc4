//! Connecting and leaving: CONN/open (a URL, HOST[:PORT] [USER], or the default), close, QUIT.

use super::{Flow, Input, Repl, interruptible, say};
use crate::ClientError;
use crate::connection::{ConnectDefaults, Connector};
use crate::url::{self, FtpUrl};

impl Repl {
    pub(super) fn conn(&mut self, arguments: &[String], input: &mut dyn Input) -> Flow {
        self.disconnect();
        self.remote_folder = None;
        say("Sending a server request...");
        let connector = match self.connector_for(arguments) {
            Ok(connector) => connector,
            Err(error) => {
                say("Connection unsuccessful. Make sure the server is online.");
                say(&error.to_string());
                return Flow::Continue;
            }
        };
        let mut connector = connector;
        let prompt = |user: &str| input.read_secret(&format!("Password for {user}: "));
        match interruptible(&self.runtime, self.interactive, connector.open(prompt)) {
            Ok(mut connection) => {
                // `CONN ftp://host/folder/` starts in that folder.
                let folder = match arguments {
                    [target] if url::is_ftp_url(target) => FtpUrl::parse(target)
                        .map(|url| url.path.trim_end_matches('/').to_string())
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                let entered = if folder.is_empty() {
                    Ok(())
                } else {
                    interruptible(&self.runtime, self.interactive, connection.cwd(&folder))
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
            Err(error) => {
                say("Connection unsuccessful. Make sure the server is online.");
                say(&error.to_string());
            }
        }
        Flow::Continue
    }

    pub(super) fn connector_for(&self, arguments: &[String]) -> Result<Connector, ClientError> {
        let defaults = ConnectDefaults {
            user: self.options.user.as_deref(),
            netrc: self.options.netrc.as_deref(),
            options: &self.options.connect,
        };
        match arguments {
            [] => Ok(Connector::resolve(
                url::DEFAULT_CONN_HOST.to_string(),
                url::DEFAULT_CONN_PORT,
                None,
                None,
                defaults,
            )),
            [target] if url::is_ftp_url(target) => {
                Ok(Connector::for_url(&FtpUrl::parse(target)?, defaults))
            }
            [target, rest @ ..] if rest.len() <= 1 => {
                let (host, port) = url::split_host_port(target, url::DEFAULT_FTP_PORT)
                    .map_err(|why| ClientError::Usage(format!("bad address {target:?}: {why}")))?;
                let user = rest.first().map(String::as_str);
                Ok(Connector::resolve(host, port, user, None, defaults))
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
