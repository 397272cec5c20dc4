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
//! This module does not parse command-line flags (see `main.rs`) and does not speak FTP itself
//! (see [`crate::connection`] and [`crate::transfer`]).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_proto::glob::{GlobRules, glob_match_str, is_glob};
use ferry_proto::listing::EntryKind;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::ClientError;
use crate::connection::{ConnectOptions, Connection, Connector};
use crate::credentials;
use crate::progress::ProgressMode;
use crate::transfer::{self, Direction};
use crate::url::{self, FtpUrl};

/// The prompt before each command.
pub const PROMPT: &str = "Enter a command: ";

/// Where commands and answers come from.
pub trait Input {
    /// Shows `prompt` and reads one line, without its line ending; `None` at end of input.
    fn read_line(&mut self, prompt: &str) -> Option<String>;
    /// Reads a secret (a password) without echoing it where that is possible.
    fn read_secret(&mut self, prompt: &str) -> Option<String>;
}

/// Lines from a pipe or file: each prompt is printed (as a terminal would show it), then one
/// line is read. Secrets are read the same way.
pub struct PipedInput<R> {
    reader: R,
}

impl<R: BufRead> PipedInput<R> {
    /// Reads from `reader`.
    pub fn new(reader: R) -> Self {
        PipedInput { reader }
    }
}

impl<R: BufRead> Input for PipedInput<R> {
    fn read_line(&mut self, prompt: &str) -> Option<String> {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(prompt.as_bytes());
        let _ = stdout.flush();
        drop(stdout);
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
        }
    }

    fn read_secret(&mut self, prompt: &str) -> Option<String> {
        self.read_line(prompt)
    }
}

/// A terminal: rustyline with history and completion.
pub struct TerminalInput {
    editor: Editor<CompletionHelper, FileHistory>,
    history: Option<PathBuf>,
}

impl TerminalInput {
    /// Opens the line editor; history is kept in `history` when given.
    pub fn new(names: RemoteNames, history: Option<PathBuf>) -> Result<Self, ClientError> {
        let mut editor = Editor::<CompletionHelper, FileHistory>::new()
            .map_err(|error| ClientError::Usage(format!("cannot use the terminal: {error}")))?;
        editor.set_helper(Some(CompletionHelper {
            names,
            files: FilenameCompleter::new(),
        }));
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        Ok(TerminalInput { editor, history })
    }
}

impl Input for TerminalInput {
    fn read_line(&mut self, prompt: &str) -> Option<String> {
        match self.editor.readline(prompt) {
            Ok(line) => {
                if prompt == PROMPT && !line.trim().is_empty() {
                    let _ = self.editor.add_history_entry(line.as_str());
                    if let Some(path) = &self.history {
                        let _ = self.editor.append_history(path);
                    }
                }
                Some(line)
            }
            // Ctrl-C abandons the line being typed, as in a shell.
            Err(rustyline::error::ReadlineError::Interrupted) => Some(String::new()),
            Err(_) => None,
        }
    }

    fn read_secret(&mut self, prompt: &str) -> Option<String> {
        rpassword::prompt_password(prompt).ok()
    }
}

/// Remote names for tab completion, refreshed after commands that change them.
pub type RemoteNames = Arc<Mutex<Vec<String>>>;

/// rustyline's helper: completes command names, then local paths or remote names.
pub struct CompletionHelper {
    names: RemoteNames,
    files: FilenameCompleter,
}

impl Completer for CompletionHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let Some(space) = before.find(char::is_whitespace) else {
            let upper = before.chars().next().is_some_and(char::is_uppercase);
            let mut names: Vec<Pair> = COMMANDS
                .iter()
                .flat_map(|spec| spec.names.iter())
                .map(|name| {
                    if upper {
                        name.to_ascii_uppercase()
                    } else {
                        name.to_ascii_lowercase()
                    }
                })
                .filter(|name| name.starts_with(before))
                .map(|name| Pair {
                    display: name.clone(),
                    replacement: format!("{name} "),
                })
                .collect();
            names.sort_by(|a, b| a.display.cmp(&b.display));
            names.dedup_by(|a, b| a.display == b.display);
            return Ok((0, names));
        };
        let Some(spec) = find_command(&before[..space]) else {
            return Ok((pos, Vec::new()));
        };
        if spec.local_paths {
            return self.files.complete(line, pos, ctx);
        }
        let start = before
            .rfind(char::is_whitespace)
            .map_or(0, |index| index + 1);
        let prefix = &before[start..];
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        Ok((
            start,
            names
                .into_iter()
                .filter(|name| name.starts_with(prefix))
                .map(|name| Pair {
                    display: name.clone(),
                    replacement: name,
                })
                .collect(),
        ))
    }
}

impl Hinter for CompletionHelper {
    type Hint = String;
}
impl Highlighter for CompletionHelper {}
impl Validator for CompletionHelper {}
impl Helper for CompletionHelper {}

/// What the loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

type Handler = fn(&mut Repl, &[String], &mut dyn Input) -> Flow;

/// One entry of the command table.
struct CommandSpec {
    /// The first is shown in help; all are accepted, in any case.
    names: &'static [&'static str],
    usage: &'static str,
    about: &'static str,
    needs_connection: bool,
    /// The argument is one path that may contain spaces without quotes.
    one_path: bool,
    /// Tab completion offers local paths rather than remote names.
    local_paths: bool,
    handler: Handler,
}

/// The original six, in their order, then the rest.
const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        names: &["CONN", "open"],
        usage: "CONN",
        about: "Connect to server",
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::conn,
    },
    CommandSpec {
        names: &["UPLD", "put"],
        usage: "UPLD file_path",
        about: "Upload file",
        needs_connection: true,
        one_path: true,
        local_paths: true,
        handler: Repl::upld,
    },
    CommandSpec {
        names: &["LIST", "ls", "dir"],
        usage: "LIST",
        about: "List files",
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::list,
    },
    CommandSpec {
        names: &["DWLD", "get"],
        usage: "DWLD file_path",
        about: "Download file",
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::dwld,
    },
    CommandSpec {
        names: &["DELF", "rm", "delete"],
        usage: "DELF file_path",
        about: "Delete file",
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::delf,
    },
    CommandSpec {
        names: &["QUIT", "bye", "exit"],
        usage: "QUIT",
        about: "Exit",
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::quit,
    },
    CommandSpec {
        names: &["open"],
        usage: "open [URL | HOST[:PORT] [USER]]",
        about: "Connect (no argument: 127.0.0.1:2121; HOST alone: port 21; anonymous)",
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::conn,
    },
    CommandSpec {
        names: &["put"],
        usage: "put [-c] LOCAL [REMOTE]",
        about: "Upload a file (-c continues a shorter remote copy)",
        needs_connection: true,
        one_path: true,
        local_paths: true,
        handler: Repl::upld,
    },
    CommandSpec {
        names: &["get"],
        usage: "get [-c] REMOTE [LOCAL]",
        about: "Download a file (-c continues a partial download)",
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::dwld,
    },
    CommandSpec {
        names: &["ls", "dir"],
        usage: "ls [PATH]",
        about: "List a folder",
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::list,
    },
    CommandSpec {
        names: &["rm", "delete"],
        usage: "rm PATH",
        about: "Delete a file (asks first)",
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::delf,
    },
    CommandSpec {
        names: &["cd"],
        usage: "cd PATH",
        about: "Change the remote folder",
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::cd,
    },
    CommandSpec {
        names: &["pwd"],
        usage: "pwd",
        about: "Show the remote folder",
        needs_connection: true,
        one_path: false,
        local_paths: false,
        handler: Repl::pwd,
    },
    CommandSpec {
        names: &["lcd"],
        usage: "lcd [PATH]",
        about: "Change the local folder",
        needs_connection: false,
        one_path: true,
        local_paths: true,
        handler: Repl::lcd,
    },
    CommandSpec {
        names: &["lpwd"],
        usage: "lpwd",
        about: "Show the local folder",
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::lpwd,
    },
    CommandSpec {
        names: &["mkdir"],
        usage: "mkdir PATH",
        about: "Create a remote folder",
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::mkdir,
    },
    CommandSpec {
        names: &["rmdir"],
        usage: "rmdir PATH",
        about: "Remove an empty remote folder",
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::rmdir,
    },
    CommandSpec {
        names: &["rename"],
        usage: "rename FROM TO",
        about: "Rename a remote file or folder",
        needs_connection: true,
        one_path: false,
        local_paths: false,
        handler: Repl::rename,
    },
    CommandSpec {
        names: &["size"],
        usage: "size PATH",
        about: "Show a remote file's size",
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::size,
    },
    CommandSpec {
        names: &["mget"],
        usage: "mget PATTERN...",
        about: "Download the remote files matching wildcards",
        needs_connection: true,
        one_path: false,
        local_paths: false,
        handler: Repl::mget,
    },
    CommandSpec {
        names: &["mput"],
        usage: "mput PATTERN...",
        about: "Upload the local files matching wildcards",
        needs_connection: true,
        one_path: false,
        local_paths: true,
        handler: Repl::mput,
    },
    CommandSpec {
        names: &["mirror"],
        usage: "mirror [-R] [--parallel N] SRC [DST]",
        about: "Copy a remote tree here (-R: a local tree there)",
        needs_connection: true,
        one_path: false,
        local_paths: false,
        handler: Repl::mirror,
    },
    CommandSpec {
        names: &["close"],
        usage: "close",
        about: "Disconnect and stay in ferry",
        needs_connection: true,
        one_path: false,
        local_paths: false,
        handler: Repl::close,
    },
    CommandSpec {
        names: &["bye", "exit"],
        usage: "bye",
        about: "Exit",
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::quit,
    },
    CommandSpec {
        names: &["help", "?"],
        usage: "help",
        about: "Show the commands",
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::help,
    },
];

/// How many entries of [`COMMANDS`] are the original six.
const ORIGINAL: usize = 6;

fn find_command(word: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|spec| {
        spec.names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(word))
    })
}

/// The greeting and the command list printed at start.
pub fn banner() -> String {
    let mut text =
        String::from("Welcome to the FTP client.\n\nCall one of the following functions:\n");
    text.push_str(&command_list());
    text
}

fn command_list() -> String {
    let mut text = String::new();
    for spec in &COMMANDS[..ORIGINAL] {
        text.push_str(&format!("{:<14} : {}\n", spec.usage, spec.about));
    }
    text.push_str("\nAlso:\n");
    let width = COMMANDS[ORIGINAL..]
        .iter()
        .map(|spec| spec.usage.len())
        .max()
        .unwrap_or(0);
    for spec in &COMMANDS[ORIGINAL..] {
        let mut about = spec.about.to_string();
        if spec.names.len() > 1 {
            about.push_str(&format!(" (also: {})", spec.names[1..].join(", ")));
        }
        text.push_str(&format!("{:<width$} : {about}\n", spec.usage));
    }
    text
}

/// Splits a command's arguments. Quoted words (`"a b"` or `'a b'`) are one argument; without
/// quotes, a one-path command takes the whole rest of the line as its path.
pub fn split_arguments(rest: &str, one_path: bool) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    if one_path && !rest.contains(['"', '\'']) {
        // `get -c name with spaces` keeps its flag apart.
        if let Some(after) = rest.strip_prefix("-c ") {
            return Ok(vec!["-c".into(), after.trim().to_string()]);
        }
        return Ok(vec![rest.to_string()]);
    }
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in rest.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unclosed quote".into());
    }
    if in_word {
        out.push(current);
    }
    Ok(out)
}

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
}

impl Default for ReplOptions {
    fn default() -> Self {
        ReplOptions {
            connect: ConnectOptions::default(),
            user: None,
            netrc: None,
            progress: None,
            idle_check: DEFAULT_IDLE_CHECK,
        }
    }
}

/// The interactive session.
pub struct Repl {
    runtime: tokio::runtime::Handle,
    options: ReplOptions,
    connection: Option<Connection>,
    connector: Option<Connector>,
    progress: ProgressMode,
    names: RemoteNames,
    /// True on a terminal: completion names are refreshed after changes.
    interactive: bool,
    /// When the last command ended: a long pause means the server may have closed on us.
    last_activity: std::time::Instant,
    /// The remote folder `cd` last entered, restored after a reconnect.
    remote_folder: Option<String>,
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
        let Some(connection) = self.connection.as_mut() else {
            return;
        };
        let alive = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), connection.simple("NOOP"))
                .await
                .is_ok_and(|reply| reply.is_ok())
        });
        if !alive {
            say("The server closed the connection; connecting again...");
            self.reconnect();
        }
    }

    /// Replaces the connection with a new one to the same server, in the same folder.
    fn reconnect(&mut self) {
        self.connection = None;
        let Some(mut connector) = self.connector.clone() else {
            return;
        };
        let folder = self.remote_folder.clone();
        let result = self.runtime.block_on(async {
            let mut connection = connector.open(|_: &str| None).await?;
            if let Some(folder) = folder {
                connection.cwd(&folder).await?;
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
        let alive = match self.connection.as_mut() {
            Some(connection) => self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), connection.simple("NOOP"))
                    .await
                    .is_ok_and(|reply| reply.is_ok())
            }),
            None => false,
        };
        if !alive && self.connection.take().is_some() {
            say("The connection to the server was lost. Use CONN to connect again.");
        }
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
        if let Ok(names) = self.runtime.block_on(connection.names(None))
            && let Ok(mut shared) = self.names.lock()
        {
            *shared = names;
        }
    }

    fn conn(&mut self, arguments: &[String], input: &mut dyn Input) -> Flow {
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
        match self.runtime.block_on(connector.open(prompt)) {
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
                    self.runtime.block_on(connection.cwd(&folder)).map(|_| ())
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

    fn connector_for(&self, arguments: &[String]) -> Result<Connector, ClientError> {
        let netrc = self.options.netrc.as_deref();
        let flag = self.options.user.as_deref();
        let mut options = self.options.connect.clone();
        let (host, port, credentials) = match arguments {
            [] => {
                let host = url::DEFAULT_CONN_HOST;
                let credentials = credentials::resolve(host, None, None, flag, netrc);
                (host.to_string(), url::DEFAULT_CONN_PORT, credentials)
            }
            [target] if url::is_ftp_url(target) => {
                let parsed = FtpUrl::parse(target)?;
                let credentials = credentials::resolve(
                    &parsed.host,
                    parsed.user.as_deref(),
                    parsed.password.as_deref(),
                    flag,
                    netrc,
                );
                options.tls = parsed.tls_or(options.tls);
                (parsed.host, parsed.port, credentials)
            }
            [target, rest @ ..] if rest.len() <= 1 => {
                let (host, port) = url::split_host_port(target, url::DEFAULT_FTP_PORT)
                    .map_err(|why| ClientError::Usage(format!("bad address {target:?}: {why}")))?;
                let credentials = credentials::resolve(
                    &host,
                    rest.first().map(String::as_str),
                    None,
                    flag,
                    netrc,
                );
                (host, port, credentials)
            }
            _ => {
                return Err(ClientError::Usage(
                    "usage: CONN [URL | HOST[:PORT] [USER]]".into(),
                ));
            }
        };
        Ok(Connector {
            host,
            port,
            credentials,
            options,
        })
    }

    fn upld(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let (resume, arguments) = match arguments {
            [flag, rest @ ..] if flag == "-c" => (true, rest),
            _ => (false, arguments),
        };
        let (local, remote) = match arguments {
            [local] => (expand_home(local), None),
            [local, remote] => (expand_home(local), Some(remote.clone())),
            _ => {
                say("Usage: UPLD file_path");
                return Flow::Continue;
            }
        };
        self.upload_one(&local, remote, resume);
        self.refresh_names();
        Flow::Continue
    }

    fn upload_one(&mut self, local: &Path, remote: Option<String>, resume: bool) -> bool {
        let Some(name) = local.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            say(&format!("Error: {} does not name a file", local.display()));
            return false;
        };
        let remote = remote.unwrap_or_else(|| name.clone());
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        let mut progress = self.progress.reporter();
        let result = interruptible(
            &self.runtime,
            self.interactive,
            transfer::upload_resumable(connection, local, &remote, resume, progress.as_mut()),
        );
        match result {
            Ok(stats) => {
                say(&format!("Sent file: {name}"));
                say(&format!(
                    "Time elapsed: {:.3}s",
                    stats.elapsed.as_secs_f64()
                ));
                say(&format!("File size: {}b", stats.size));
                true
            }
            Err(error) => {
                self.fail(&error);
                false
            }
        }
    }

    fn list(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let Some(connection) = self.connection.as_mut() else {
            return Flow::Continue;
        };
        let path = arguments.first().map(String::as_str);
        match interruptible(&self.runtime, self.interactive, connection.list(path)) {
            Ok(mut entries) => {
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                let mut total = 0u64;
                for entry in &entries {
                    let name = String::from_utf8_lossy(&entry.name);
                    if entry.kind == EntryKind::Dir {
                        say(&format!("\t{name}/ - {}b", entry.size));
                    } else {
                        total += entry.size;
                        say(&format!("\t{name} - {}b", entry.size));
                    }
                }
                say(&format!("Total directory size: {total}b"));
                if path.is_none()
                    && self.interactive
                    && let Ok(mut names) = self.names.lock()
                {
                    *names = entries
                        .iter()
                        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
                        .collect();
                }
            }
            Err(error) => self.fail(&error),
        }
        Flow::Continue
    }

    fn dwld(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let (resume, arguments) = match arguments {
            [flag, rest @ ..] if flag == "-c" => (true, rest),
            _ => (false, arguments),
        };
        let (remote, local) = match arguments {
            [remote] => (remote.clone(), None),
            [remote, local] => (remote.clone(), Some(expand_home(local))),
            _ => {
                say("Usage: DWLD file_path");
                return Flow::Continue;
            }
        };
        self.download_one(&remote, local, resume);
        Flow::Continue
    }

    fn download_one(&mut self, remote: &str, local: Option<PathBuf>, resume: bool) -> bool {
        let name = transfer::remote_base_name(remote).to_string();
        if name.is_empty() || name == "." || name == ".." {
            say(&format!("Error: {remote} does not name a file"));
            return false;
        }
        let target = local.unwrap_or_else(|| PathBuf::from(&name));
        let target = if target.is_dir() {
            target.join(&name)
        } else {
            target
        };
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        let mut progress = self.progress.reporter();
        let result = interruptible(
            &self.runtime,
            self.interactive,
            transfer::download(connection, remote, &target, resume, progress.as_mut()),
        );
        match result {
            Ok(stats) => {
                let shown = target
                    .file_name()
                    .map_or(name, |n| n.to_string_lossy().into_owned());
                say(&format!("Successfully downloaded {shown}"));
                say(&format!(
                    "Time elapsed: {:.3}s",
                    stats.elapsed.as_secs_f64()
                ));
                say(&format!("File size: {}b", stats.size));
                true
            }
            Err(error) => {
                self.fail(&error);
                let partial = transfer::partial_path(&target);
                if partial.exists() {
                    say(&format!(
                        "The partial download is kept as {}; use get -c {remote} to continue.",
                        partial.display()
                    ));
                }
                false
            }
        }
    }

    fn delf(&mut self, arguments: &[String], input: &mut dyn Input) -> Flow {
        let [path] = arguments else {
            say("Usage: DELF file_path");
            return Flow::Continue;
        };
        let question = format!("Are you sure you want to delete {path}? (Y/N) ");
        let confirmed = loop {
            let Some(answer) = input.read_line(&question) else {
                break false;
            };
            match answer.trim().to_ascii_uppercase().as_str() {
                "Y" | "YES" => break true,
                "N" | "NO" => break false,
                _ => {}
            }
        };
        if !confirmed {
            say("Delete abandoned by user!");
            return Flow::Continue;
        }
        let Some(connection) = self.connection.as_mut() else {
            return Flow::Continue;
        };
        match self.runtime.block_on(connection.delete(path)) {
            Ok(_) => {
                say("File successfully deleted");
                self.refresh_names();
            }
            Err(error) => self.fail(&error),
        }
        Flow::Continue
    }

    fn quit(&mut self, _: &[String], _: &mut dyn Input) -> Flow {
        self.disconnect();
        say("Server connection ended");
        Flow::Quit
    }

    fn close(&mut self, _: &[String], _: &mut dyn Input) -> Flow {
        self.disconnect();
        say("Server connection ended");
        Flow::Continue
    }

    /// Runs a connection command that prints one line on success.
    fn simple_action<F>(&mut self, action: F) -> bool
    where
        F: for<'a> FnOnce(
            &'a mut Connection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<String, ClientError>> + 'a>,
        >,
    {
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        match self.runtime.block_on(action(connection)) {
            Ok(message) => {
                say(&message);
                true
            }
            Err(error) => {
                self.fail(&error);
                false
            }
        }
    }

    fn cd(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let path = arguments.first().cloned().unwrap_or_else(|| "/".into());
        let Some(connection) = self.connection.as_mut() else {
            return Flow::Continue;
        };
        let result = self.runtime.block_on(async {
            connection.cwd(&path).await?;
            connection.pwd().await
        });
        match result {
            Ok(folder) => {
                say(&format!("Remote folder: {folder}"));
                self.remote_folder = Some(folder);
                self.refresh_names();
            }
            Err(error) => self.fail(&error),
        }
        Flow::Continue
    }

    fn pwd(&mut self, _: &[String], _: &mut dyn Input) -> Flow {
        self.simple_action(|c| Box::pin(async move { c.pwd().await }));
        Flow::Continue
    }

    fn lcd(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let target = match arguments.first() {
            Some(path) => expand_home(path),
            None => home_dir().unwrap_or_else(|| PathBuf::from(".")),
        };
        match std::env::set_current_dir(&target) {
            Ok(()) => self.lpwd(&[], &mut NoInput),
            Err(error) => {
                say(&format!("Error: {}: {error}", target.display()));
                Flow::Continue
            }
        }
    }

    fn lpwd(&mut self, _: &[String], _: &mut dyn Input) -> Flow {
        match std::env::current_dir() {
            Ok(path) => say(&format!("Local folder: {}", path.display())),
            Err(error) => say(&format!("Error: {error}")),
        }
        Flow::Continue
    }

    fn mkdir(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let [path] = arguments else {
            say("Usage: mkdir PATH");
            return Flow::Continue;
        };
        let path = path.clone();
        if self.simple_action(|c| {
            Box::pin(async move {
                c.mkdir(&path).await?;
                Ok(format!("Created folder {path}"))
            })
        }) {
            self.refresh_names();
        }
        Flow::Continue
    }

    fn rmdir(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let [path] = arguments else {
            say("Usage: rmdir PATH");
            return Flow::Continue;
        };
        let path = path.clone();
        if self.simple_action(|c| {
            Box::pin(async move {
                c.rmdir(&path).await?;
                Ok(format!("Removed folder {path}"))
            })
        }) {
            self.refresh_names();
        }
        Flow::Continue
    }

    fn rename(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let [from, to] = arguments else {
            say("Usage: rename FROM TO (quote names with spaces)");
            return Flow::Continue;
        };
        let (from, to) = (from.clone(), to.clone());
        if self.simple_action(|c| {
            Box::pin(async move {
                c.rename(&from, &to).await?;
                Ok(format!("Renamed {from} to {to}"))
            })
        }) {
            self.refresh_names();
        }
        Flow::Continue
    }

    fn size(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let [path] = arguments else {
            say("Usage: size PATH");
            return Flow::Continue;
        };
        let path = path.clone();
        self.simple_action(|c| {
            Box::pin(async move {
                let size = c.size(&path).await?;
                Ok(format!("{path} - {size}b"))
            })
        });
        Flow::Continue
    }

    fn mget(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        if arguments.is_empty() {
            say("Usage: mget PATTERN...");
            return Flow::Continue;
        }
        let Some(connection) = self.connection.as_mut() else {
            return Flow::Continue;
        };
        let listing = match self.runtime.block_on(connection.list(None)) {
            Ok(listing) => listing,
            Err(error) => {
                self.fail(&error);
                return Flow::Continue;
            }
        };
        let mut wanted = Vec::new();
        for pattern in arguments {
            let before = wanted.len();
            for entry in &listing {
                let name = String::from_utf8_lossy(&entry.name).into_owned();
                if entry.kind != EntryKind::Dir
                    && glob_match_str(pattern, &name, GlobRules::SHELL)
                    && !wanted.contains(&name)
                {
                    wanted.push(name);
                }
            }
            if wanted.len() == before {
                say(&format!("No remote file matches {pattern}"));
            }
        }
        for name in wanted {
            self.download_one(&name, None, false);
            if self.connection.is_none() {
                break;
            }
        }
        Flow::Continue
    }

    fn mput(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        if arguments.is_empty() {
            say("Usage: mput PATTERN...");
            return Flow::Continue;
        }
        let mut files = Vec::new();
        for pattern in arguments {
            let matched = local_glob(&expand_home(pattern));
            if matched.is_empty() {
                say(&format!("No local file matches {pattern}"));
            }
            files.extend(matched);
        }
        for file in files {
            self.upload_one(&file, None, false);
            if self.connection.is_none() {
                break;
            }
        }
        self.refresh_names();
        Flow::Continue
    }

    fn mirror(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let mut upload = false;
        let mut parallel = 1;
        let mut paths = Vec::new();
        let mut words = arguments.iter();
        while let Some(word) = words.next() {
            match word.as_str() {
                "-R" | "--reverse" => upload = true,
                "--parallel" | "-P" => match words.next().and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) if n > 0 => parallel = n,
                    _ => {
                        say("Usage: mirror [-R] [--parallel N] SRC [DST]");
                        return Flow::Continue;
                    }
                },
                _ => paths.push(word.clone()),
            }
        }
        let (source, target) = match paths.as_slice() {
            [source] => (source.clone(), None),
            [source, target] => (source.clone(), Some(target.clone())),
            _ => {
                say("Usage: mirror [-R] [--parallel N] SRC [DST]");
                return Flow::Continue;
            }
        };
        let default_target = |source: &str| {
            let name = transfer::remote_base_name(source);
            if name.is_empty() || name == "." || name == ".." {
                ".".to_string()
            } else {
                name.to_string()
            }
        };
        let (direction, remote, local) = if upload {
            let remote = target.unwrap_or_else(|| default_target(&source));
            (Direction::Upload, remote, expand_home(&source))
        } else {
            let local = target.map_or_else(
                || PathBuf::from(default_target(&source)),
                |t| expand_home(&t),
            );
            (Direction::Download, source, local)
        };
        let (Some(connection), Some(connector)) =
            (self.connection.as_mut(), self.connector.as_ref())
        else {
            return Flow::Continue;
        };
        let result = interruptible(
            &self.runtime,
            self.interactive,
            transfer::mirror(
                connection,
                connector,
                direction,
                &remote,
                &local,
                parallel,
                &self.progress,
            ),
        );
        match result {
            Ok(report) => {
                for (name, error) in &report.failed {
                    say(&format!("Failed: {name}: {error}"));
                }
                say(&format!(
                    "Mirrored {} files ({}b), {} unchanged, {} failed",
                    report.transferred,
                    report.bytes,
                    report.skipped,
                    report.failed.len()
                ));
            }
            Err(error) => self.fail(&error),
        }
        self.refresh_names();
        Flow::Continue
    }

    fn help(&mut self, _: &[String], _: &mut dyn Input) -> Flow {
        say(&format!(
            "Commands (any case; quote names with spaces when giving two):\n{}",
            command_list()
        ));
        Flow::Continue
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

/// An input that has nothing to give (for handlers called from other handlers).
struct NoInput;

impl Input for NoInput {
    fn read_line(&mut self, _: &str) -> Option<String> {
        None
    }
    fn read_secret(&mut self, _: &str) -> Option<String> {
        None
    }
}

fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

/// The user's home folder, from `HOME`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
}

/// `~/x` to `$HOME/x`; anything else unchanged.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ if path == "~" => home_dir().unwrap_or_else(|| PathBuf::from(path)),
        _ => PathBuf::from(path),
    }
}

/// Local files matching a pattern whose last name may have wildcards (`dir/*.txt`), sorted.
pub fn local_glob(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_glob(name.as_bytes(), GlobRules::SHELL) {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let folder = match pattern.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .filter(|entry| {
            glob_match_str(
                &name,
                &entry.file_name().to_string_lossy(),
                GlobRules::SHELL,
            )
        })
        .map(|entry| {
            if folder == Path::new(".") {
                PathBuf::from(entry.file_name())
            } else {
                entry.path()
            }
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]
mod tests {
    use super::*;

    #[test]
    fn banner_has_the_original_six_aligned() {
        let text = banner();
        let expected = "Welcome to the FTP client.\n\nCall one of the following functions:\n\
CONN           : Connect to server\n\
UPLD file_path : Upload file\n\
LIST           : List files\n\
DWLD file_path : Download file\n\
DELF file_path : Delete file\n\
QUIT           : Exit\n";
        assert!(text.starts_with(expected), "{text}");
        for word in [
            "open", "put", "get", "ls", "dir", "rm", "delete", "bye", "exit", "cd", "pwd", "lcd",
            "lpwd", "mkdir", "rmdir", "rename", "size", "mget", "mput", "mirror", "help",
        ] {
            assert!(find_command(word).is_some(), "{word}");
            assert!(text.contains(word), "{word}");
        }
    }

    #[test]
    fn commands_are_case_insensitive() {
        assert_eq!(find_command("conn").unwrap().names[0], "CONN");
        assert_eq!(find_command("Open").unwrap().names[0], "CONN");
        assert_eq!(find_command("GET").unwrap().names[0], "DWLD");
        assert!(find_command("frobnicate").is_none());
    }

    #[test]
    fn arguments() {
        assert_eq!(
            split_arguments("  my file.txt ", true).unwrap(),
            vec!["my file.txt"]
        );
        assert_eq!(
            split_arguments("-c my file.txt", true).unwrap(),
            vec!["-c", "my file.txt"]
        );
        assert_eq!(
            split_arguments("\"a b\" 'c d'", true).unwrap(),
            vec!["a b", "c d"]
        );
        assert_eq!(split_arguments("a b", false).unwrap(), vec!["a", "b"]);
        assert_eq!(split_arguments("\"\"", false).unwrap(), vec![""]);
        assert!(split_arguments("\"open", false).is_err());
        assert!(split_arguments("", true).unwrap().is_empty());
    }

    #[test]
    fn globbing_local_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.txt", "b.txt", "c.bin"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        let found = local_glob(&dir.path().join("*.txt"));
        assert_eq!(
            found,
            vec![dir.path().join("a.txt"), dir.path().join("b.txt")]
        );
        assert_eq!(local_glob(&dir.path().join("c.bin")).len(), 1);
        assert!(local_glob(&dir.path().join("none")).is_empty());
    }
}
