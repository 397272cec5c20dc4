//! The interactive client: the original six commands (CONN, UPLD, LIST, DWLD, DELF, QUIT) with
//! their original messages, and the words FTP users type (open, put, get, ls, cd, mget...).
//!
//! One command table (`COMMANDS`) maps every name and alias to one handler, its usage line and
//! whether it needs a connection. Input comes from rustyline on a terminal (line editing,
//! history, tab completion of commands, local paths and remote names) or line by line from a
//! pipe ([`Input`]); the DELF confirmation and password prompts read from the same input.
//! Messages go to stdout, progress to stderr. A failed command prints one line and the loop goes
//! on; a broken connection is dropped and the user is told to connect again.
//!
//! The shell speaks FTP or SFTP (`CONN sftp://...`) through `session.rs`, with the same words
//! and messages. An SFTP server whose host key known_hosts does not hold is asked about once on
//! a terminal (yes adds the key); with piped input it is refused, as in a one-shot command,
//! unless `--accept-new-host-key` was given.
//!
//! This module does not parse command-line flags (see `main.rs`) and does not speak FTP or SFTP
//! itself (see [`crate::connection`], [`crate::transfer`] and [`crate::sftp`]).
//!
//! The shell is split by concern: `input.rs` (terminal or pipe), `completion.rs` (tab
//! completion), `table.rs` (the command table, banner and help), `words.rs` (arguments, `~`,
//! local wildcards), and the handlers: `connect.rs` (CONN, close, QUIT), `files.rs` (folders,
//! names, delete) and `transfers.rs` (uploads, downloads, listings, mirror). Every handler runs
//! its network work through `interruptible`, so Ctrl-C abandons any command the same way.

mod completion;
mod connect;
mod files;
mod input;
mod session;
mod table;
mod transfers;
mod words;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use completion::{CompletionHelper, RemoteNames};
pub use input::{Input, PROMPT, PipedInput, TerminalInput};
pub use table::banner;
pub use words::{expand_home, home_dir, local_glob, split_arguments};

use crate::ClientError;
use crate::connection::ConnectOptions;
use crate::progress::ProgressMode;
use crate::sftp::SshOptions;
use session::{Reopen, Session, SftpShell};
use table::{Flow, find_command};

/// After this long without a command, the connection is checked (NOOP) before the next one,
/// and remade if the server closed it (idle timeouts).
pub const DEFAULT_IDLE_CHECK: Duration = Duration::from_secs(15);

/// Settings the REPL starts with.
#[derive(Debug, Clone)]
pub struct ReplOptions {
    /// Passive or active, timeouts.
    pub connect: ConnectOptions,
    /// `--user USER[:PASS]`.
    pub user: Option<String>,
    /// The text of `~/.netrc`, if any.
    pub netrc: Option<String>,
    /// How transfers show progress.
    pub progress: Option<ProgressMode>,
    /// See [`DEFAULT_IDLE_CHECK`].
    pub idle_check: Duration,
    /// Key files and host keys for `sftp://` servers.
    pub ssh: SshOptions,
    /// `set verify on`: each file checked against the server's digest.
    pub verify: bool,
}

impl Default for ReplOptions {
    fn default() -> Self {
        ReplOptions {
            connect: ConnectOptions::default(),
            user: None,
            netrc: None,
            progress: None,
            idle_check: DEFAULT_IDLE_CHECK,
            ssh: SshOptions::for_home(home_dir().as_deref()),
            verify: false,
        }
    }
}

/// The interactive session.
pub struct Repl {
    runtime: tokio::runtime::Handle,
    options: ReplOptions,
    connection: Option<Session>,
    connector: Option<Reopen>,
    progress: ProgressMode,
    names: RemoteNames,
    /// True on a terminal: completion names are refreshed after changes.
    interactive: bool,
    /// When the last command ended: a long pause means the server may have closed on us.
    last_activity: std::time::Instant,
    /// The remote folder `cd` last entered, restored after a reconnect.
    remote_folder: Option<String>,
    /// The "no digest on the server" warning was given (once a session).
    warned_unverified: bool,
}

impl Repl {
    /// A REPL whose futures run on `runtime`.
    pub fn new(runtime: tokio::runtime::Handle, options: ReplOptions, interactive: bool) -> Repl {
        let progress = options.progress.clone().unwrap_or(if interactive {
            ProgressMode::bars()
        } else {
            ProgressMode::Lines
        });
        Repl {
            runtime,
            options,
            connection: None,
            connector: None,
            progress,
            names: Arc::new(Mutex::new(Vec::new())),
            interactive,
            last_activity: std::time::Instant::now(),
            remote_folder: None,
            warned_unverified: false,
        }
    }

    /// The names tab completion offers (share with [`TerminalInput::new`]).
    pub fn remote_names(&self) -> RemoteNames {
        self.names.clone()
    }

    /// Prints the banner, connects to `initial` if given (a URL), and runs commands until QUIT or
    /// the end of input. Returns the process exit code (0).
    pub fn run(&mut self, input: &mut dyn Input, initial: Option<&str>) -> i32 {
        say(&banner());
        if let Some(target) = initial {
            self.conn(&[target.to_string()], input);
        }
        loop {
            let Some(line) = input.read_line(PROMPT) else {
                // End of input: leave as QUIT would, quietly.
                self.disconnect();
                return 0;
            };
            if self.execute(&line, input) == Flow::Quit {
                return 0;
            }
        }
    }

    fn execute(&mut self, line: &str, input: &mut dyn Input) -> Flow {
        let line = line.trim();
        if line.is_empty() {
            return Flow::Continue;
        }
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let Some(spec) = find_command(word) else {
            say("Command not recognised; please try again");
            return Flow::Continue;
        };
        let arguments = match split_arguments(rest, spec.one_path) {
            Ok(arguments) => arguments,
            Err(why) => {
                say(&format!("Cannot read the arguments: {why}"));
                return Flow::Continue;
            }
        };
        if spec.needs_connection {
            self.check_idle_connection();
            if self.connection.is_none() {
                say("Not connected. Use CONN (or open) to connect to a server first.");
                return Flow::Continue;
            }
        }
        let flow = (spec.handler)(self, &arguments, input);
        self.last_activity = std::time::Instant::now();
        flow
    }

    /// After a long pause, makes sure the server still answers; if it closed the connection
    /// (an idle timeout), connects again and returns to the folder we were in.
    fn check_idle_connection(&mut self) {
        if self.last_activity.elapsed() < self.options.idle_check {
            return;
        }
        if self.connection.is_none() {
            return;
        }
        if !self.answers() {
            say("The server closed the connection; connecting again...");
            self.reconnect();
        }
    }

    /// Replaces the connection with a new one to the same server, in the same folder.
    fn reconnect(&mut self) {
        self.connection = None;
        let Some(connector) = self.connector.clone() else {
            return;
        };
        let folder = self.remote_folder.clone();
        let result = self.runtime.block_on(async {
            let mut connection = match connector {
                Reopen::Ftp(mut connector) => Session::Ftp(connector.open(|_: &str| None).await?),
                Reopen::Sftp(connector) => {
                    let (session, _) = connector.open(|_: &str| None).await?;
                    Session::Sftp(SftpShell::start(session).await?)
                }
            };
            if let Some(folder) = folder {
                connection.cd(&folder).await?;
            }
            Ok::<_, ClientError>(connection)
        });
        match result {
            Ok(connection) => self.connection = Some(connection),
            Err(error) => say(&format!(
                "Cannot reconnect: {error}. Use CONN to connect again."
            )),
        }
    }

    /// Reports an error; drops the connection when it no longer answers.
    fn fail(&mut self, error: &ClientError) {
        say(&format!("Error: {error}"));
        if matches!(error, ClientError::Interrupted) {
            // The control connection is out of step after an abandoned command: make a new one.
            self.reconnect();
            return;
        }
        // 421: the server is closing the connection (idle timeout, shutdown).
        if error.code() == Some(ferry_proto::ReplyCode::SERVICE_NOT_AVAILABLE) {
            self.connection = None;
            say("The connection to the server was lost. Use CONN to connect again.");
            return;
        }
        if error.is_server_refusal()
            || matches!(error, ClientError::Local { .. } | ClientError::Usage(_))
        {
            return;
        }
        if !self.answers() && self.connection.take().is_some() {
            say("The connection to the server was lost. Use CONN to connect again.");
        }
    }

    /// True when there is a connection and the server answers NOOP within 5 seconds.
    fn answers(&mut self) -> bool {
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), connection.noop())
                .await
                .is_ok_and(|reply| reply.is_ok())
        })
    }

    fn disconnect(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.runtime.block_on(connection.quit());
        }
    }

    fn refresh_names(&mut self) {
        if !self.interactive {
            return;
        }
        let Some(connection) = self.connection.as_mut() else {
            return;
        };
        if let Ok(names) = self.runtime.block_on(connection.names())
            && let Ok(mut shared) = self.names.lock()
        {
            *shared = names;
        }
    }
}

/// Runs `future` to its end; on a terminal, Ctrl-C abandons it with [`ClientError::Interrupted`].
fn interruptible<T>(
    runtime: &tokio::runtime::Handle,
    interactive: bool,
    future: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    if !interactive {
        return runtime.block_on(future);
    }
    runtime.block_on(async {
        tokio::select! {
            result = future => result,
            _ = tokio::signal::ctrl_c() => Err(ClientError::Interrupted),
        }
    })
}

fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}
