//! Manual pages and shell completion scripts for `ferryd` and `ferry`, made from each
//! program's clap definition so that they never drift from the flags the program takes.
//! The binaries call these from their `man DIR` and `completions SHELL` subcommands.
//!
//! This crate does NOT define any command line; it only renders the one it is given.

use std::io::{self, Write};
use std::path::Path;

pub use clap_complete::Shell;

/// Writes `out` a completion script for `shell` that completes `command` (the program's name
/// is `command`'s name).
pub fn write_completions(shell: Shell, mut command: clap::Command, out: &mut dyn Write) {
    let name = command.get_name().to_string();
    clap_complete::generate(shell, &mut command, name, out);
}

/// Writes `command`'s page, and one per subcommand at every depth (`ferryd-user-add.1`), into
/// `dir` (created if missing); returns the pages' file names, the program's first.
pub fn write_man_pages(command: clap::Command, dir: &Path) -> io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut todo = vec![command];
    while let Some(mut command) = todo.pop() {
        command.build();
        let name = command
            .get_display_name()
            .unwrap_or(command.get_name())
            .to_string();
        let file_name = format!("{name}.1");
        let mut file = std::fs::File::create(dir.join(&file_name))?;
        clap_mangen::Man::new(command.clone())
            .title(name.to_uppercase())
            .render(&mut file)?;
        written.push(file_name);
        // Reversed, so that the pages come out in the order the subcommands are listed.
        let mut subcommands: Vec<_> = command
            .get_subcommands()
            .filter(|sub| sub.get_name() != "help")
            .cloned()
            .collect();
        subcommands.reverse();
        todo.extend(subcommands);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn demo() -> clap::Command {
        clap::Command::new("demo")
            .version("1.0")
            .about("A demo program")
            .arg(clap::Arg::new("port").long("port").help("The port"))
            .subcommand(
                clap::Command::new("user")
                    .about("Users")
                    .subcommand(clap::Command::new("add").about("Add a user")),
            )
            .subcommand(clap::Command::new("list").about("List"))
    }

    #[test]
    fn one_page_per_command_at_every_depth() {
        let dir = tempfile::tempdir().unwrap();
        let pages = write_man_pages(demo(), dir.path()).unwrap();
        assert_eq!(
            pages,
            ["demo.1", "demo-user.1", "demo-user-add.1", "demo-list.1"]
        );
        let root = std::fs::read_to_string(dir.path().join("demo.1")).unwrap();
        assert!(root.contains(".TH DEMO 1"), "{root}");
        assert!(root.contains("\\-\\-port"), "{root}");
        let add = std::fs::read_to_string(dir.path().join("demo-user-add.1")).unwrap();
        assert!(add.contains("Add a user"), "{add}");
    }

    #[test]
    fn completions_name_the_program_and_its_flags() {
        let mut bash = Vec::new();
        write_completions(Shell::Bash, demo(), &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        assert!(bash.contains("complete -F _demo"), "{bash}");
        assert!(bash.contains("--port"), "{bash}");
    }
}
