//! `ferryd user`: add, remove and list the users of a users file.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::bail;
use clap::Subcommand;
use ferry_server::auth::{User, UsersFile};

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user, or give an existing one a new password (and the home or read-only flag when
    /// given); the rest of an existing user's entry (quotas, rates, permissions) is kept.
    Add {
        /// The login name.
        name: String,
        /// The users file.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        /// Home folder below the served root (default for a new user: the root).
        #[arg(long, value_name = "DIR")]
        home: Option<String>,
        /// The user may only list and download.
        #[arg(long)]
        read_only: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Add the SSH public key in FILE (an `ssh-keygen` `.pub` file) for SFTP logins; with
        /// it, no password is asked unless --password-stdin is given.
        #[arg(long, value_name = "FILE.pub")]
        key_file: Option<PathBuf>,
    },
    /// Remove a user.
    Remove {
        /// The login name.
        name: String,
        /// The users file.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
    },
    /// List the users.
    List {
        /// The users file.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
    },
}

/// Runs one `ferryd user` command.
pub(crate) fn manage_users(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            users,
            home,
            read_only,
            password_stdin,
            key_file,
        } => {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("user name must be non-empty, without spaces");
            }
            let key = match &key_file {
                Some(path) => Some(read_key(path)?),
                None => None,
            };
            let password = if key.is_none() || password_stdin {
                let password = read_password(password_stdin)?;
                if password.is_empty() {
                    bail!("empty password");
                }
                Some(password)
            } else {
                None
            };
            let mut file = UsersFile::load(&users)?;
            let (mut user, verb) = match file.users.remove(&name) {
                // Only what the command names changes: a new password or key never drops the
                // rules written by hand.
                Some(mut existing) => {
                    if let Some(home) = home {
                        existing.home = home;
                    }
                    existing.read_only |= read_only;
                    (existing, "updated (its other settings kept)")
                }
                None => (
                    User {
                        home: home.unwrap_or_default(),
                        read_only,
                        ..User::default()
                    },
                    "saved",
                ),
            };
            if let Some(password) = password {
                user.password = User::new(password.as_bytes(), String::new(), false)?.password;
            }
            if let Some(key) = key
                && !user.keys.contains(&key)
            {
                user.keys.push(key);
            }
            user.home_path()
                .map_err(|e| anyhow::anyhow!("bad home folder: {e}"))?;
            file.users.insert(name.clone(), user);
            file.save(&users)?;
            println!("User {name} {verb} in {}", users.display());
            println!("A running ferryd that serves this file sees the change after kill -HUP.");
        }
        UserCommand::Remove { name, users } => {
            let mut file = UsersFile::load(&users)?;
            if file.users.remove(&name).is_none() {
                bail!("no user {name} in {}", users.display());
            }
            file.save(&users)?;
            println!("User {name} removed from {}", users.display());
            println!(
                "A running ferryd that serves this file ends {name}'s sessions after kill -HUP."
            );
        }
        UserCommand::List { users } => {
            let file = UsersFile::load(&users)?;
            for (name, user) in &file.users {
                let home = if user.home.is_empty() {
                    "/"
                } else {
                    &user.home
                };
                let access = if user.read_only {
                    "read-only"
                } else {
                    "read-write"
                };
                let mut line = format!("{name}\thome={home}\t{access}");
                if !user.keys.is_empty() {
                    line.push_str(&format!("\tkeys={}", user.keys.len()));
                }
                if user.password.is_empty() {
                    line.push_str("\tno-password");
                }
                println!("{line}");
            }
        }
    }
    Ok(())
}

/// The public key line of an `ssh-keygen` `.pub` file, checked.
fn read_key(path: &std::path::Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim().to_string();
    russh::keys::PublicKey::from_openssh(&line)
        .map_err(|e| anyhow::anyhow!("{}: not an SSH public key ({e})", path.display()))?;
    Ok(line)
}

/// The password from stdin's first line, or typed at a terminal without echo.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    eprint!("Password: ");
    std::io::stderr().flush()?;
    let echo_off = std::process::Command::new("stty")
        .arg("-echo")
        .status()
        .is_ok_and(|s| s.success());
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if echo_off {
        let _ = std::process::Command::new("stty").arg("echo").status();
    }
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
