//! `ferryd share`: make, revoke and list share links offline, with the key the server uses.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use ferry_proto::VirtualPath;
use ferry_server::UsersFile;
use ferry_server::auth::Right;
use ferry_server::config::FileSettings;
use ferry_server::share::{self, Claims, Kind, ShareKeys};

#[derive(Debug, Subcommand)]
pub(crate) enum ShareCommand {
    /// Make a link /s/TOKEN that lets anyone holding it download PATH (a file, or a folder to
    /// browse read-only), or with --upload-only only upload new files into the folder PATH,
    /// as USER, until it expires. Prints the link; the link's id goes to standard error.
    Create {
        /// The file or folder, in the user's view (as the user sees it after logging in).
        path: String,
        /// The users file.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        /// The sharing user (they need the download right there, or upload for
        /// --upload-only).
        #[arg(long, value_name = "NAME")]
        user: String,
        /// How long the link works: 90s, 30m, 12h, 7d..., or never.
        #[arg(long, value_name = "DURATION", default_value = "7d")]
        expires: String,
        /// Only upload into the folder: no listing, no download, no replacing a file (opened
        /// in a browser, the link is an upload page).
        #[arg(long)]
        upload_only: bool,
        /// The key that signs links (made when missing); default: share.key in
        /// $XDG_STATE_HOME/ferry/, else ~/.local/state/ferry/.
        #[arg(long, value_name = "FILE")]
        share_key: Option<PathBuf>,
        /// The server's `--config` file: its `share_key` is used when --share-key is not given.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The server's address as clients reach it, e.g. `https://files.example.com`, to
        /// print the whole URL rather than the path /s/TOKEN.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
    },
    /// Withdraw a link, by its URL, token or id: its id goes into the revocation list beside
    /// the key (KEY.revoked), which servers with that key read again when it changes. To
    /// withdraw every link at once, replace the key.
    Revoke {
        /// The link, its token, or its 16-hex-digit id.
        link: String,
        /// The key that signed the link (default as for `share create`).
        #[arg(long, value_name = "FILE")]
        share_key: Option<PathBuf>,
        /// The server's `--config` file: its `share_key` is used when --share-key is not given.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List the revoked links' ids (links themselves are kept nowhere).
    List {
        /// The key (default as for `share create`).
        #[arg(long, value_name = "FILE")]
        share_key: Option<PathBuf>,
        /// The server's `--config` file: its `share_key` is used when --share-key is not given.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// Runs one `ferryd share` command.
pub(crate) fn manage_shares(command: ShareCommand) -> anyhow::Result<()> {
    match command {
        ShareCommand::Create {
            path,
            users,
            user,
            expires,
            upload_only,
            share_key,
            config,
            base_url,
        } => {
            let valid = share::parse_expiry(&expires).map_err(anyhow::Error::msg)?;
            let file = UsersFile::load(&users)?;
            let Some(account) = file.users.get(&user) else {
                bail!("no user {user:?} in {}", users.display());
            };
            let view = VirtualPath::root()
                .resolve(path.as_bytes())
                .map_err(|error| anyhow::anyhow!("{path}: {error}"))?;
            let permissions = account
                .permissions()
                .map_err(|error| anyhow::anyhow!("{}: user {user:?}: {error}", users.display()))?;
            let kind = if upload_only {
                if !permissions.in_folder(&view).allows(Right::Upload) {
                    bail!("user {user:?} has no upload right in {view}");
                }
                Kind::Upload
            } else {
                // A file's right is its folder's, a folder's its own: either will do here; the
                // server checks again at each request.
                if !permissions.in_folder(&view).allows(Right::Download)
                    && !permissions
                        .in_folder(&view.parent())
                        .allows(Right::Download)
                {
                    bail!("user {user:?} has no download right for {view}");
                }
                Kind::Read
            };
            let keys = keys(share_key, config)?;
            let claims = Claims::new(&user, view, kind, valid).context("no random bytes")?;
            let token = keys.sign(&claims)?;
            let link = format!("/s/{token}");
            match base_url {
                Some(base) => println!("{}{link}", base.trim_end_matches('/')),
                None => println!("{link}"),
            }
            let until = match claims.expires {
                Some(at) => httpdate::fmt_http_date(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(at),
                ),
                None => "never".to_string(),
            };
            eprintln!(
                "id {} ({}), expires: {until}; withdraw with: ferryd share revoke {}",
                claims.id_hex(),
                if upload_only { "upload only" } else { "read" },
                claims.id_hex()
            );
            Ok(())
        }
        ShareCommand::Revoke {
            link,
            share_key,
            config,
        } => {
            let keys = keys(share_key, config)?;
            let text = link.trim();
            let token = text
                .rsplit_once("/s/")
                .map_or(text, |(_, token)| token)
                .split(['/', '?'])
                .next()
                .unwrap_or_default();
            let (id, note) = match keys.authentic(token) {
                Some(claims) => (claims.id, format!("{} {}", claims.user, claims.path)),
                None => match share::parse_id(text) {
                    Some(id) => (id, String::new()),
                    None => bail!("{text}: not a link of this key, nor a 16-hex-digit link id"),
                },
            };
            let hex = id.iter().map(|b| format!("{b:02x}")).collect::<String>();
            if keys.revoke(&id, &note)? {
                println!("revoked {hex} (in {})", keys.revoked_path().display());
            } else {
                println!("{hex} was revoked already");
            }
            Ok(())
        }
        ShareCommand::List { share_key, config } => {
            let keys = keys(share_key, config)?;
            for line in keys.revoked_lines()? {
                println!("{line}");
            }
            Ok(())
        }
    }
}

/// The key: `--share-key`, else the `--config` file's `share_key`, else the default place.
fn keys(path: Option<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<ShareKeys> {
    let from_config = match (&path, config) {
        (None, Some(config)) => {
            let text =
                std::fs::read_to_string(&config).with_context(|| config.display().to_string())?;
            toml::from_str::<FileSettings>(&text)
                .with_context(|| config.display().to_string())?
                .share_key
        }
        _ => None,
    };
    let path = match path.or(from_config) {
        Some(path) => path,
        None => share::default_key_path()
            .context("no place for the share key: set --share-key, XDG_STATE_HOME or HOME")?,
    };
    let (keys, made) = ShareKeys::load_or_create(&path)?;
    if made {
        eprintln!("made a new share key in {}", path.display());
    }
    Ok(keys)
}
