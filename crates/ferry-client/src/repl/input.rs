//! Where the shell's lines come from: a terminal (rustyline: editing, history, completion) or a
//! pipe, line by line. The DELF confirmation and password prompts read from the same input.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use rustyline::Editor;
use rustyline::completion::FilenameCompleter;
use rustyline::history::FileHistory;

use super::completion::{CompletionHelper, RemoteNames};
use crate::ClientError;

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

/// An input that has nothing to give (for handlers called from other handlers).
pub(super) struct NoInput;

impl Input for NoInput {
    fn read_line(&mut self, _: &str) -> Option<String> {
        None
    }
    fn read_secret(&mut self, _: &str) -> Option<String> {
        None
    }
}
