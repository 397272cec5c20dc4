//! The command table: every name and alias maps to one row (handler, usage, whether it needs a
//! connection, what its argument is), and the banner and help are printed from it.
//!
//! The original six (CONN, UPLD, LIST, DWLD, DELF, QUIT) are rows of their familiar commands
//! (open, put, ls, get, rm, bye), with their original usage and text for the banner.

use super::{Input, Repl};

/// What the loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Quit,
}

type Handler = fn(&mut Repl, &[String], &mut dyn Input) -> Flow;

/// How the banner shows one of the original six.
pub(super) struct Original {
    usage: &'static str,
    about: &'static str,
}

/// One entry of the command table.
pub(super) struct CommandSpec {
    /// All are accepted, in any case; the first is the original word for the original six.
    pub(super) names: &'static [&'static str],
    /// Starts with the name help shows; the names after it are listed as "also".
    usage: &'static str,
    about: &'static str,
    /// Set for the original six: their line in the banner.
    original: Option<Original>,
    pub(super) needs_connection: bool,
    /// The argument is one path that may contain spaces without quotes.
    pub(super) one_path: bool,
    /// Tab completion offers local paths rather than remote names.
    pub(super) local_paths: bool,
    pub(super) handler: Handler,
}

/// The original six, in the banner's order.
const ORIGINAL_SIX: [&str; 6] = ["CONN", "UPLD", "LIST", "DWLD", "DELF", "QUIT"];

/// Every command once, in the order help lists them.
pub(super) const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        names: &["CONN", "open"],
        usage: "open [URL | HOST[:PORT] [USER]]",
        about: "Connect (no argument: 127.0.0.1:2121; HOST alone: port 21; anonymous)",
        original: Some(Original {
            usage: "CONN",
            about: "Connect to server",
        }),
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::conn,
    },
    CommandSpec {
        names: &["UPLD", "put"],
        usage: "put [-c] LOCAL [REMOTE]",
        about: "Upload a file (-c continues a shorter remote copy)",
        original: Some(Original {
            usage: "UPLD file_path",
            about: "Upload file",
        }),
        needs_connection: true,
        one_path: true,
        local_paths: true,
        handler: Repl::upld,
    },
    CommandSpec {
        names: &["DWLD", "get"],
        usage: "get [-c] REMOTE [LOCAL]",
        about: "Download a file (-c continues a partial download)",
        original: Some(Original {
            usage: "DWLD file_path",
            about: "Download file",
        }),
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::dwld,
    },
    CommandSpec {
        names: &["LIST", "ls", "dir"],
        usage: "ls [PATH]",
        about: "List a folder",
        original: Some(Original {
            usage: "LIST",
            about: "List files",
        }),
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::list,
    },
    CommandSpec {
        names: &["DELF", "rm", "delete"],
        usage: "rm PATH",
        about: "Delete a file (asks first)",
        original: Some(Original {
            usage: "DELF file_path",
            about: "Delete file",
        }),
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::delf,
    },
    CommandSpec {
        names: &["cd"],
        usage: "cd PATH",
        about: "Change the remote folder",
        original: None,
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::cd,
    },
    CommandSpec {
        names: &["pwd"],
        usage: "pwd",
        about: "Show the remote folder",
        original: None,
        needs_connection: true,
        one_path: false,
        local_paths: false,
        handler: Repl::pwd,
    },
    CommandSpec {
        names: &["lcd"],
        usage: "lcd [PATH]",
        about: "Change the local folder",
        original: None,
        needs_connection: false,
        one_path: true,
        local_paths: true,
        handler: Repl::lcd,
    },
    CommandSpec {
        names: &["set"],
        usage: "set [NAME VALUE]",
        about: "Show or change settings: limit-rate RATE|off (bytes/s; 500K, 2M), verify on|off \
                (compare each file with the server's digest)",
        original: None,
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::set,
    },
    CommandSpec {
        names: &["lpwd"],
        usage: "lpwd",
        about: "Show the local folder",
        original: None,
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::lpwd,
    },
    CommandSpec {
        names: &["mkdir"],
        usage: "mkdir PATH",
        about: "Create a remote folder",
        original: None,
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::mkdir,
    },
    CommandSpec {
        names: &["rmdir"],
        usage: "rmdir PATH",
        about: "Remove an empty remote folder",
        original: None,
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::rmdir,
    },
    CommandSpec {
        names: &["rename"],
        usage: "rename FROM TO",
        about: "Rename a remote file or folder",
        original: None,
        needs_connection: true,
        one_path: false,
        local_paths: false,
        handler: Repl::rename,
    },
    CommandSpec {
        names: &["size"],
        usage: "size PATH",
        about: "Show a remote file's size",
        original: None,
        needs_connection: true,
        one_path: true,
        local_paths: false,
        handler: Repl::size,
    },
    CommandSpec {
        names: &["mget"],
        usage: "mget PATTERN...",
        about: "Download the remote files matching wildcards",
        original: None,
        needs_connection: true,
        one_path: false,
        local_paths: false,
        handler: Repl::mget,
    },
    CommandSpec {
        names: &["mput"],
        usage: "mput PATTERN...",
        about: "Upload the local files matching wildcards",
        original: None,
        needs_connection: true,
        one_path: false,
        local_paths: true,
        handler: Repl::mput,
    },
    CommandSpec {
        names: &["mirror"],
        usage: "mirror [-R] [OPTION]... SRC [DST]",
        about: "Copy a remote tree here (-R: a local tree there); options --parallel N, \
                --delete, --only-newer, --exclude GLOB, --include GLOB, --dry-run, --verify",
        original: None,
        needs_connection: true,
        one_path: false,
        local_paths: false,
        handler: Repl::mirror,
    },
    CommandSpec {
        names: &["close"],
        usage: "close",
        about: "Disconnect and stay in ferry",
        original: None,
        needs_connection: true,
        one_path: false,
        local_paths: false,
        handler: Repl::close,
    },
    CommandSpec {
        names: &["QUIT", "bye", "exit"],
        usage: "bye",
        about: "Exit",
        original: Some(Original {
            usage: "QUIT",
            about: "Exit",
        }),
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::quit,
    },
    CommandSpec {
        names: &["help", "?"],
        usage: "help",
        about: "Show the commands",
        original: None,
        needs_connection: false,
        one_path: false,
        local_paths: false,
        handler: Repl::help,
    },
];

pub(super) fn find_command(word: &str) -> Option<&'static CommandSpec> {
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

pub(super) fn command_list() -> String {
    let mut text = String::new();
    for original in ORIGINAL_SIX
        .iter()
        .filter_map(|word| find_command(word))
        .filter_map(|spec| spec.original.as_ref())
    {
        text.push_str(&format!("{:<14} : {}\n", original.usage, original.about));
    }
    text.push_str("\nAlso:\n");
    let width = COMMANDS
        .iter()
        .map(|spec| spec.usage.len())
        .max()
        .unwrap_or(0);
    for spec in COMMANDS {
        let mut about = spec.about.to_string();
        let shown = spec.usage.split(' ').next().unwrap_or_default();
        let also: Vec<&str> = spec
            .names
            .iter()
            .skip_while(|name| **name != shown)
            .skip(1)
            .copied()
            .collect();
        if !also.is_empty() {
            about.push_str(&format!(" (also: {})", also.join(", ")));
        }
        text.push_str(&format!("{:<width$} : {about}\n", spec.usage));
    }
    text
}

#[cfg(test)]
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
            "lpwd", "mkdir", "rmdir", "rename", "size", "mget", "mput", "mirror", "help", "set",
        ] {
            assert!(find_command(word).is_some(), "{word}");
            assert!(text.contains(word), "{word}");
        }
    }

    #[test]
    fn every_name_is_in_one_row_only() {
        let mut seen = std::collections::HashSet::new();
        for spec in COMMANDS {
            let word = spec.usage.split(' ').next().unwrap();
            assert!(spec.names.contains(&word), "{word}");
            for name in spec.names {
                assert!(seen.insert(name.to_ascii_lowercase()), "{name} twice");
            }
        }
        for word in ORIGINAL_SIX {
            assert!(find_command(word).unwrap().original.is_some(), "{word}");
        }
    }

    #[test]
    fn commands_are_case_insensitive() {
        assert_eq!(find_command("conn").unwrap().names[0], "CONN");
        assert_eq!(find_command("Open").unwrap().names[0], "CONN");
        assert_eq!(find_command("GET").unwrap().names[0], "DWLD");
        assert!(find_command("frobnicate").is_none());
    }
}
