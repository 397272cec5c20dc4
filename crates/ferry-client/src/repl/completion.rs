//! Tab completion: command names, then local paths or remote names, by what the command takes.

use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use super::table::{COMMANDS, find_command};

/// Remote names for tab completion, refreshed after commands that change them.
pub type RemoteNames = Arc<Mutex<Vec<String>>>;

/// rustyline's helper: completes command names, then local paths or remote names.
pub struct CompletionHelper {
    pub(super) names: RemoteNames,
    pub(super) files: FilenameCompleter,
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
