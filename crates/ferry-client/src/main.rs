//! `ferry`: the FTP client. Parses flags, then runs the REPL (no subcommand, optionally already
//! connected to a URL) or one one-shot command. Everything else lives in the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ferry_client::ClientError;
use ferry_client::connection::ConnectOptions;
use ferry_client::oneshot::{self, Globals};
use ferry_client::progress::ProgressMode;
use ferry_client::repl::{self, PipedInput, Repl, ReplOptions, TerminalInput};
use ferry_client::sftp::SshOptions;
use ferry_client::tls::{TlsMode, TlsTrust};
use ferry_client::transfer::{MirrorOptions, NameFilter};

/// FTP and SFTP client: the interactive CONN/UPLD/LIST/DWLD/DELF/QUIT shell, or one-shot commands.
#[derive(Debug, Parser)]
#[command(name = "ferry", version)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
    /// Open the interactive shell connected to this URL (ftp://user:pass@host:port/path or
    /// sftp://user@host:port/path).
    url: Option<String>,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// Log in as USER (or USER:PASSWORD); the URL's user wins.
    #[arg(long, short = 'u', global = true, value_name = "USER[:PASS]")]
    user: Option<String>,
    /// Active mode: the server connects back (PORT/EPRT) instead of passive (EPSV/PASV).
    #[arg(long, global = true)]
    active: bool,
    /// Seconds to wait for the server at any one step.
    #[arg(long, global = true, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
    /// No progress output.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    /// Do not read ~/.netrc.
    #[arg(long, global = true)]
    no_netrc: bool,
    /// Show the FTP conversation on stderr (passwords hidden).
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
    /// Use explicit FTPS (AUTH TLS) with ftp:// URLs and CONN HOST; ftps:// (implicit) and
    /// ftpes:// (explicit) URLs always use TLS.
    #[arg(long, global = true)]
    tls: bool,
    /// Trust only the certificates in this PEM file (a CA, or the server's own), instead of the
    /// system's store.
    #[arg(long, global = true, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (encrypted, but anyone on the path can
    /// pretend to be the server). Prints a warning.
    #[arg(long, global = true, conflicts_with = "ca_file")]
    insecure: bool,
    /// sftp://: log in with this private key file (instead of ~/.ssh/id_ed25519, id_ecdsa,
    /// id_rsa).
    #[arg(long = "identity", short = 'i', global = true, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// sftp://: trust a server whose host key is not in ~/.ssh/known_hosts yet, and add it
    /// there (a changed key is refused all the same).
    #[arg(long, global = true)]
    accept_new_host_key: bool,
    /// Move at most RATE bytes a second in each transfer, FTP and SFTP, up or down: a number
    /// with K, M or G for KiB, MiB, GiB (powers of 1024), such as 500K or 2M.
    #[arg(long, global = true, value_name = "RATE", value_parser = parse_rate)]
    limit_rate: Option<u64>,
    /// get, put, mirror: after a dropped connection, reconnect and resume the file from where
    /// it stopped (REST, or the remote size for uploads; never from zero), up to N more times,
    /// waiting 1, 2, 4 ... at most 30 seconds between tries.
    #[arg(long, global = true, default_value_t = 0, value_name = "N")]
    retry: u32,
    /// get, put, mirror: after each file, compare the server's digest (FTP HASH or
    /// XSHA256/XSHA1/XMD5/XCRC, SFTP check-file) with the local one. A mismatch removes the
    /// download (or sends the upload again, once) and fails; a server without digests gives
    /// one warning and the files count as unverified.
    #[arg(long, global = true)]
    verify: bool,
}

fn parse_rate(text: &str) -> Result<u64, String> {
    ferry_client::rate::parse_rate(text)
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Download one file, or every file whose name matches a wildcard.
    Get {
        /// ftp://host/path/file (or sftp://host/path/file); a last name with `*`, `?` or
        /// `[a-z]` (quoted for the shell: 'ftp://host/logs/*.gz') fetches every file that
        /// matches.
        url: String,
        /// Where to save it (default: its name, in this folder; `-`: standard output; with a
        /// wildcard, a folder).
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        output: Option<PathBuf>,
        /// Continue a partial download left by an earlier try.
        #[arg(short = 'c', long = "continue")]
        resume: bool,
        /// ftp://: fetch the file over N connections at once, each a range (REST), assembled
        /// in place (as lftp's pget). One connection when the server lacks SIZE or REST, or the
        /// file is under 256 KiB a connection.
        #[arg(long, default_value_t = 1, value_name = "N", conflicts_with = "resume")]
        segments: usize,
    },
    /// Upload files: FILE... URL (a URL ending in / is a folder, created if missing).
    Put {
        /// Local files to send.
        #[arg(required = true, num_args = 1.., value_name = "FILE")]
        files: Vec<PathBuf>,
        /// ftp://host/folder/ (or ftp://host/path/name for one file; sftp:// alike).
        #[arg(required = true, value_name = "URL")]
        url: String,
        /// Continue remote files shorter than the local ones (REST + STOR, or APPE).
        #[arg(short = 'c', long = "continue")]
        resume: bool,
    },
    /// List a remote folder.
    Ls {
        /// ftp://host/folder/ (or sftp://host/folder/)
        url: String,
    },
    /// Delete a remote file.
    Rm {
        /// ftp://host/path/file (or sftp://host/path/file)
        url: String,
    },
    /// Create a remote folder.
    Mkdir {
        /// ftp://host/path/folder (or sftp://host/path/folder)
        url: String,
        /// Also create missing parents; an existing folder is fine.
        #[arg(short = 'p', long = "parents")]
        parents: bool,
    },
    /// Copy a remote tree to a local folder, or a local tree to a server with -R, skipping
    /// files identical in size and time. Stops at the first file the server refuses for want of
    /// space (452/552).
    Mirror {
        /// Upload: SRC is a local folder, DST a URL.
        #[arg(short = 'R', long = "reverse")]
        reverse: bool,
        /// Source (ftp:// or sftp:// URL, or local folder with -R).
        source: String,
        /// Destination (local folder, or ftp:// or sftp:// URL with -R).
        target: String,
        /// Transfer this many files at once.
        #[arg(long, default_value_t = 1, value_name = "N")]
        parallel: usize,
        /// Also remove from the target what the source no longer has (after the copy, and only
        /// when every file copied; excluded names are kept).
        #[arg(long)]
        delete: bool,
        /// Copy a file the target already has only when the source's copy is newer.
        #[arg(long)]
        only_newer: bool,
        /// Leave out names matching GLOB (`*`, `?`, `[a-z]`; a GLOB with `/` matches the path
        /// from the mirror's root). A folder that matches is left out whole. Repeatable.
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
        /// Take only files matching GLOB (folders are still walked). Repeatable.
        #[arg(long, value_name = "GLOB")]
        include: Vec<String>,
        /// Print each action (mkdir, copy, delete) and change nothing on either side.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a completion script for SHELL: `source <(ferry completions bash)`, or save it where
    /// the shell looks (zsh: a folder on $fpath as _ferry; fish: completions/ferry.fish).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: ferry_manual::Shell,
    },
    /// Write the manual pages (ferry.1 and one page per subcommand) into DIR.
    Man {
        /// Where the pages go (created if missing).
        dir: PathBuf,
    },
}

/// `ferry completions` and `ferry man`, which need no runtime; `None` for the other commands.
fn documentation(command: Option<&Command>) -> Option<ExitCode> {
    match command? {
        Command::Completions { shell } => {
            let cli = <Cli as clap::CommandFactory>::command();
            ferry_manual::write_completions(*shell, cli, &mut std::io::stdout());
            Some(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            let cli = <Cli as clap::CommandFactory>::command();
            Some(match ferry_manual::write_man_pages(cli, dir) {
                Ok(pages) => {
                    println!("{}: {}", dir.display(), pages.join(" "));
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("ferry: {}: {error}", dir.display());
                    ExitCode::FAILURE
                }
            })
        }
        _ => None,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(code) = documentation(cli.command.as_ref()) {
        return code;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        // Two workers at most (a transfer and the connection's reader), and one when the
        // process may use one CPU only (`taskset`, a container's cpuset): two threads handing
        // work to each other on one CPU cost more than they give.
        .worker_threads(std::thread::available_parallelism().map_or(2, |cpus| cpus.get().min(2)))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ferry: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let home = repl::home_dir();
    let netrc = if cli.global.no_netrc {
        None
    } else {
        ferry_client::credentials::read_netrc(home.as_deref())
    };
    let trust = if cli.global.insecure {
        eprintln!(
            "ferry: warning: --insecure: TLS certificates are not verified; anyone on the path \
             can pretend to be the server"
        );
        TlsTrust::danger_accept_any_certificate()
    } else if let Some(ca_file) = &cli.global.ca_file {
        TlsTrust::ca_file(ca_file)
    } else {
        TlsTrust::system()
    };
    let connect = ConnectOptions {
        active: cli.global.active,
        timeout: Duration::from_secs(cli.global.timeout.max(1)),
        verbose: cli.global.verbose,
        tls: if cli.global.tls {
            TlsMode::Explicit
        } else {
            TlsMode::Off
        },
        trust,
        limit_rate: cli.global.limit_rate,
    };
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let stdin_is_terminal = std::io::stdin().is_terminal();

    let ssh = SshOptions {
        identity: cli.global.identity,
        accept_new_host_key: cli.global.accept_new_host_key,
        timeout: Duration::from_secs(cli.global.timeout.max(1)),
        limit_rate: cli.global.limit_rate,
        ..SshOptions::for_home(home.as_deref())
    };
    let Some(command) = cli.command else {
        let options = ReplOptions {
            connect,
            user: cli.global.user,
            netrc,
            progress: cli.global.quiet.then_some(ProgressMode::Silent),
            ssh,
            ..ReplOptions::default()
        };
        let mut shell = Repl::new(runtime.handle().clone(), options, stdin_is_terminal);
        let code = if stdin_is_terminal {
            let history = home.map(|home| home.join(".ferry_history"));
            match TerminalInput::new(shell.remote_names(), history) {
                Ok(mut input) => shell.run(&mut input, cli.url.as_deref()),
                Err(error) => {
                    eprintln!("ferry: {error}");
                    return ExitCode::FAILURE;
                }
            }
        } else {
            let stdin = std::io::stdin();
            let mut input = PipedInput::new(stdin.lock());
            shell.run(&mut input, cli.url.as_deref())
        };
        return if code == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    };

    let globals = Globals {
        user: cli.global.user,
        netrc,
        connect,
        progress: if cli.global.quiet || !stderr_is_terminal {
            ProgressMode::Silent
        } else {
            ProgressMode::bars()
        },
        prompt_password: stdin_is_terminal,
        ssh,
        retry: ferry_client::retry::Retry::times(cli.global.retry),
        verify: cli.global.verify,
    };
    let result: Result<(), ClientError> = runtime.block_on(async {
        match command {
            Command::Get {
                url,
                output,
                resume,
                segments,
            } => oneshot::get_with(&globals, &url, output.as_deref(), resume, segments)
                .await
                .map(|_| ()),
            Command::Put { files, url, resume } => {
                oneshot::put(&globals, &files, &url, resume).await
            }
            Command::Ls { url } => oneshot::ls(&globals, &url).await.map(|lines| {
                for line in lines {
                    println!("{line}");
                }
            }),
            Command::Rm { url } => oneshot::rm(&globals, &url).await,
            Command::Mkdir { url, parents } => oneshot::mkdir(&globals, &url, parents).await,
            Command::Mirror {
                reverse,
                source,
                target,
                parallel,
                delete,
                only_newer,
                exclude,
                include,
                dry_run,
            } => {
                let options = MirrorOptions {
                    parallel,
                    delete,
                    only_newer,
                    dry_run,
                    filter: NameFilter { include, exclude },
                    retry: globals.retry,
                    verify: globals.verify,
                };
                oneshot::mirror(&globals, reverse, &source, &target, &options)
                    .await
                    .map(|summary| println!("{summary}"))
            }
            // Answered before the runtime started (`documentation`).
            Command::Completions { .. } | Command::Man { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferry: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_shapes() {
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["ferry", "--active", "-q", "get", "ftp://h/x", "-c"]).unwrap();
        assert!(cli.global.active && cli.global.quiet);
        assert!(matches!(
            cli.command,
            Some(Command::Get { resume: true, .. })
        ));
        let cli = Cli::try_parse_from(["ferry", "put", "a", "b c", "ftp://h/d/"]).unwrap();
        let Some(Command::Put { files, url, .. }) = cli.command else {
            panic!("not put");
        };
        assert_eq!(files, vec![PathBuf::from("a"), PathBuf::from("b c")]);
        assert_eq!(url, "ftp://h/d/");
        let cli = Cli::try_parse_from(["ferry", "ftp://h/"]).unwrap();
        assert!(cli.command.is_none() && cli.url.as_deref() == Some("ftp://h/"));
        let cli = Cli::try_parse_from([
            "ferry",
            "mirror",
            "-R",
            "dir",
            "ftp://h/",
            "--parallel",
            "4",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Mirror {
                reverse: true,
                parallel: 4,
                ..
            })
        ));
        assert!(Cli::try_parse_from(["ferry", "put", "ftp://h/"]).is_err());
        let cli = Cli::try_parse_from(["ferry", "--insecure", "get", "ftps://h/x"]).unwrap();
        assert!(cli.global.insecure);
        let cli = Cli::try_parse_from(["ferry", "get", "ftp://h/x", "--tls", "--ca-file", "c.pem"])
            .unwrap();
        assert!(cli.global.tls && cli.global.ca_file == Some(PathBuf::from("c.pem")));
        assert!(
            Cli::try_parse_from(["ferry", "--insecure", "--ca-file", "c", "ls", "ftp://h/"])
                .is_err()
        );
        let cli = Cli::try_parse_from([
            "ferry",
            "ls",
            "sftp://h/",
            "-i",
            "key",
            "--accept-new-host-key",
        ])
        .unwrap();
        assert!(cli.global.accept_new_host_key);
        assert_eq!(cli.global.identity, Some(PathBuf::from("key")));
    }
}
