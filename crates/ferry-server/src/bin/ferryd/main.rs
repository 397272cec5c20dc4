//! `ferryd`: parses flags, builds a [`Config`], binds, and serves until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use ferry_server::Server;
use ferry_server::auth::{Anonymous, UsersFile};
use ferry_server::config::{self, Config, FileSettings, LogFormat, LogLevel, StorageSpec};
use ferry_server::tls::TlsSettings;
use tokio_util::sync::CancellationToken;

mod users;

use users::{UserCommand, manage_users};

/// Serve a folder or an S3 bucket over FTP, SFTP and HTTP.
#[derive(Debug, Parser)]
#[command(name = "ferryd", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Commands>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    /// The folder to serve (default: the current folder).
    root: Option<PathBuf>,
    /// What to serve instead of a folder argument: `s3://BUCKET[/PREFIX]`, `file:DIR` or a path.
    /// S3 credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
    /// AWS_SESSION_TOKEN), else from the usual AWS configuration.
    #[arg(long, value_name = "SPEC", conflicts_with = "root")]
    storage: Option<String>,
    /// S3 endpoint, scheme://host:port (default: AWS).
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// S3 region (default: us-east-1).
    #[arg(long, value_name = "REGION")]
    s3_region: Option<String>,
    /// Address to listen on, IPv4 or IPv6; repeat for several (default 127.0.0.1:2121).
    #[arg(long = "bind", value_name = "ADDR")]
    bind: Vec<SocketAddr>,
    /// Users file (TOML with Argon2id hashes); see `ferryd user add`.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// Anonymous access (default: write on loopback without a users file, off otherwise).
    #[arg(long, value_enum)]
    anonymous: Option<Anonymous>,
    /// Settings file (TOML); flags win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Log level: info logs sessions, logins and transfers; debug adds every command.
    #[arg(long, value_enum)]
    log_level: Option<LogLevel>,
    /// Passive data ports, LOW-HIGH (default: any free port).
    #[arg(long, value_name = "LOW-HIGH")]
    passive_ports: Option<String>,
    /// Address to advertise in PASV replies (default: the address the client connected to).
    #[arg(long, value_name = "IP")]
    passive_address: Option<std::net::IpAddr>,
    /// Seconds a logged-in session may stay silent.
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<u64>,
    /// Seconds a connection has to log in.
    #[arg(long, value_name = "SECONDS")]
    login_timeout: Option<u64>,
    /// Seconds to wait for a data connection, and for each byte once it is open.
    #[arg(long, value_name = "SECONDS")]
    data_timeout: Option<u64>,
    /// Sessions at once, in total.
    #[arg(long, value_name = "N")]
    max_sessions: Option<usize>,
    /// Sessions at once from one client IP (default 50).
    #[arg(long, value_name = "N")]
    max_sessions_per_ip: Option<usize>,
    /// File digests (FTP HASH, SFTP check-file, HTTP Repr-Digest) computed at once over the
    /// whole server; more wait their turn (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    max_hashing: Option<usize>,
    /// Upload bytes per second over the whole server: a number, or with K, M or G (powers of
    /// 1024). Default: no limit. Users' own rates come from the users file.
    #[arg(long, value_name = "RATE")]
    max_rate_up: Option<config::Rate>,
    /// Download bytes per second over the whole server (like --max-rate-up).
    #[arg(long, value_name = "RATE")]
    max_rate_down: Option<config::Rate>,
    /// Longest command line accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_line: Option<usize>,
    /// Failed logins from one IP before it is banned (0: never).
    #[arg(long, value_name = "N")]
    max_login_failures: Option<u32>,
    /// Seconds a ban lasts.
    #[arg(long, value_name = "SECONDS")]
    ban_time: Option<u64>,
    /// Milliseconds before the first 530; doubles with each failure (up to 8 s).
    #[arg(long, value_name = "MS")]
    login_failure_delay_ms: Option<u64>,
    /// Seconds running transfers may go on after SIGTERM.
    #[arg(long, value_name = "SECONDS")]
    shutdown_grace: Option<u64>,
    /// Delete partial uploads older than this many seconds at start.
    #[arg(long, value_name = "SECONDS")]
    partial_max_age: Option<u64>,
    /// Seconds a verified password is remembered (keyed hash, memory only) so repeated logins
    /// skip Argon2id; 0 turns it off.
    #[arg(long, value_name = "SECONDS")]
    credential_cache_ttl: Option<u64>,
    /// Expect a PROXY protocol v1/v2 header on connections from the --proxy-from addresses.
    #[arg(long)]
    proxy_protocol: bool,
    /// The load balancer's addresses, comma-separated (their connections must carry a header).
    #[arg(long, value_name = "ADDR[,ADDR...]", value_delimiter = ',')]
    proxy_from: Vec<std::net::IpAddr>,
    /// TLS certificate chain, PEM (enables AUTH TLS).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key, PEM.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Make a self-signed certificate at start (for tests; prints its SHA-256 fingerprint).
    #[arg(long, conflicts_with = "tls_cert")]
    tls_self_signed: bool,
    /// Also listen for implicit FTPS (TLS from the first byte) on ADDR; repeatable.
    #[arg(long = "implicit-bind", value_name = "ADDR")]
    implicit_bind: Vec<SocketAddr>,
    /// Refuse USER/PASS before AUTH TLS and data transfers without PROT P.
    #[arg(long)]
    require_tls: bool,
    /// Refuse TLS data connections that do not resume the control connection's TLS session.
    #[arg(long)]
    require_tls_session_reuse: bool,
    /// Serve SFTP on ADDR, IPv4 or IPv6; repeatable. With no bind flag of any kind, ferryd
    /// serves FTP on 127.0.0.1:2121 and SFTP on 127.0.0.1:2222.
    #[arg(long = "sftp-bind", value_name = "ADDR")]
    sftp_bind: Vec<SocketAddr>,
    /// The SSH host key (OpenSSH private-key format); an Ed25519 key is made there (mode 0600)
    /// when the file does not exist. Default: ssh_host_ed25519_key in $XDG_STATE_HOME/ferry/,
    /// else ~/.local/state/ferry/.
    #[arg(long, value_name = "FILE")]
    ssh_host_key: Option<PathBuf>,
    /// Serve Prometheus metrics on http://ADDR/metrics, with /healthz (the process answers)
    /// and /readyz (the storage answers and ferryd is not shutting down).
    #[arg(long, value_name = "ADDR")]
    metrics_bind: Option<SocketAddr>,
    /// Write a transfer log in wu-ftpd's xferlog format to FILE (one line per completed or
    /// failed transfer, FTP and SFTP; reopened on SIGHUP).
    #[arg(long, value_name = "FILE")]
    xferlog: Option<PathBuf>,
    /// Serve plain HTTP/1.1 on ADDR, IPv4 or IPv6; repeatable. With no bind flag of any kind,
    /// ferryd serves HTTP on 127.0.0.1:8080 too.
    #[arg(long = "http-bind", value_name = "ADDR")]
    http_bind: Vec<SocketAddr>,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) on ADDR with the FTPS certificate; repeatable.
    #[arg(long = "https-bind", value_name = "ADDR")]
    https_bind: Vec<SocketAddr>,
    /// Accept passwords over plain HTTP on non-loopback addresses, where anyone on the way can
    /// read them (default: refused there; HTTPS and loopback always accept them).
    #[arg(long)]
    http_allow_insecure_login: bool,
    /// Where tus uploads in progress (HTTP, under /.tus/) are recorded, so that they go on
    /// after a restart. Default: tus/ in $XDG_STATE_HOME/ferry/, else ~/.local/state/ferry/.
    #[arg(long, value_name = "DIR")]
    tus_state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Manage the users file.
    #[command(subcommand)]
    User(UserCommand),
    /// Print a completion script for SHELL: `source <(ferryd completions bash)`, or save it
    /// where the shell looks (zsh: a folder on $fpath as _ferryd; fish: completions/ferryd.fish).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: ferry_manual::Shell,
    },
    /// Write the manual pages (ferryd.1 and one page per subcommand) into DIR.
    Man {
        /// Where the pages go (created if missing).
        dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Commands::User(command)) => manage_users(command),
        Some(Commands::Completions { shell }) => {
            let command = <Cli as clap::CommandFactory>::command();
            ferry_manual::write_completions(shell, command, &mut std::io::stdout());
            Ok(())
        }
        Some(Commands::Man { dir }) => {
            let command = <Cli as clap::CommandFactory>::command();
            let pages = ferry_manual::write_man_pages(command, &dir)
                .with_context(|| dir.display().to_string())?;
            println!("{}: {}", dir.display(), pages.join(" "));
            Ok(())
        }
        None => serve(cli.serve),
    }
}

/// The `--config` file's settings (none without the flag).
fn read_settings(args: &ServeArgs) -> anyhow::Result<FileSettings> {
    Ok(match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
            toml::from_str::<FileSettings>(&text).with_context(|| path.display().to_string())?
        }
        None => FileSettings::default(),
    })
}

/// The log format and level: each from its flag, else the `--config` file, else the default.
fn log_choice(args: &ServeArgs, settings: &FileSettings) -> (LogFormat, LogLevel) {
    (
        args.log_format.or(settings.log_format).unwrap_or_default(),
        args.log_level.or(settings.log_level).unwrap_or_default(),
    )
}

/// What a listener serves.
#[derive(Debug, Clone, Copy)]
enum Front {
    Ftp,
    Implicit,
    Sftp,
    Http,
    Https,
}

/// What the flags and the settings file say, put together.
struct Built {
    config: Config,
    fixed: Fixed,
    users_path: Option<PathBuf>,
}

/// The settings that only a restart applies and that [`Config`] does not hold: where ferryd
/// listens and how it logs. A reload compares them with those it started with, so that its
/// warning names them too when they changed.
#[derive(Debug)]
struct Fixed {
    binds: Vec<SocketAddr>,
    implicit_binds: Vec<SocketAddr>,
    sftp_binds: Vec<SocketAddr>,
    metrics_bind: Option<SocketAddr>,
    http_binds: Vec<SocketAddr>,
    https_binds: Vec<SocketAddr>,
    /// Where the SSH host key came from, and whether it was made at this start.
    host_key: Option<(PathBuf, bool)>,
    log_format: LogFormat,
    log_level: LogLevel,
}

impl Fixed {
    /// The names (as in the `--config` file) of the settings that differ in `new`.
    fn changed(&self, new: &Fixed) -> Vec<&'static str> {
        [
            ("bind", self.binds != new.binds),
            ("implicit_bind", self.implicit_binds != new.implicit_binds),
            ("sftp_bind", self.sftp_binds != new.sftp_binds),
            ("metrics_bind", self.metrics_bind != new.metrics_bind),
            ("http_bind", self.http_binds != new.http_binds),
            ("https_bind", self.https_binds != new.https_binds),
            ("log_format", self.log_format != new.log_format),
            ("log_level", self.log_level != new.log_level),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect()
    }
}

/// Builds the configuration: each setting from its flag, else the `--config` file, else the
/// default. On a reload, `running_tls` is the certificate in use: a self-signed one is kept
/// rather than made anew.
fn build(
    args: &ServeArgs,
    settings: FileSettings,
    running_tls: Option<&TlsSettings>,
) -> anyhow::Result<Built> {
    let (log_format, log_level) = log_choice(args, &settings);
    let args = args.clone();
    let spec = match (
        args.storage.or(settings.storage),
        args.root.or(settings.root),
    ) {
        (Some(text), _) => StorageSpec::parse(&text).map_err(anyhow::Error::msg)?,
        (None, Some(root)) => StorageSpec::Folder(root),
        (None, None) => StorageSpec::Folder(std::env::current_dir()?),
    };
    let s3_endpoint = args.s3_endpoint.or(settings.s3_endpoint);
    let s3_region = args.s3_region.or(settings.s3_region);
    let (root, s3) = match spec {
        StorageSpec::Folder(root) => {
            if s3_endpoint.is_some() || s3_region.is_some() {
                bail!("--s3-endpoint and --s3-region need --storage s3://BUCKET[/PREFIX]");
            }
            let root = root
                .canonicalize()
                .with_context(|| format!("cannot serve {}", root.display()))?;
            (root, None)
        }
        StorageSpec::S3(mut s3) => {
            let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            s3.endpoint = s3_endpoint;
            s3.region = s3_region;
            s3.access_key_id = env("AWS_ACCESS_KEY_ID");
            s3.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
            s3.session_token = env("AWS_SESSION_TOKEN");
            (PathBuf::new(), Some(s3))
        }
    };
    // No bind of any kind: FTP, SFTP and HTTP on loopback. SFTP or HTTP binds only: no FTP.
    let nothing_bound = args.bind.is_empty()
        && settings.bind.is_none()
        && args.sftp_bind.is_empty()
        && settings.sftp_bind.is_none()
        && args.implicit_bind.is_empty()
        && settings.implicit_bind.is_none()
        && args.http_bind.is_empty()
        && settings.http_bind.is_none()
        && args.https_bind.is_empty()
        && settings.https_bind.is_none();
    let http_binds = if !args.http_bind.is_empty() {
        args.http_bind.clone()
    } else if let Some(binds) = settings.http_bind.clone() {
        binds
    } else if nothing_bound {
        vec![config::DEFAULT_HTTP_BIND.parse()?]
    } else {
        Vec::new()
    };
    let https_binds = if args.https_bind.is_empty() {
        settings.https_bind.clone().unwrap_or_default()
    } else {
        args.https_bind.clone()
    };
    let web_only = nothing_bound || !http_binds.is_empty() || !https_binds.is_empty();
    let sftp_binds = if !args.sftp_bind.is_empty() {
        args.sftp_bind.clone()
    } else if let Some(binds) = settings.sftp_bind.clone() {
        binds
    } else if nothing_bound {
        vec![config::DEFAULT_SFTP_BIND.parse()?]
    } else {
        Vec::new()
    };
    let mut binds = if args.bind.is_empty() {
        settings.bind.unwrap_or_default()
    } else {
        args.bind
    };
    let others_bound =
        !args.sftp_bind.is_empty() || settings.sftp_bind.is_some() || (web_only && !nothing_bound);
    if binds.is_empty() && !others_bound {
        binds.push(config::DEFAULT_BIND.parse()?);
    }
    let users_path = args.users.or(settings.users);
    let users = match &users_path {
        Some(path) => UsersFile::load(path)?,
        None => UsersFile::default(),
    };
    let anonymous = args.anonymous.or(settings.anonymous).unwrap_or_else(|| {
        let all: Vec<SocketAddr> = binds
            .iter()
            .chain(&sftp_binds)
            .chain(&http_binds)
            .chain(&https_binds)
            .copied()
            .collect();
        config::default_anonymous(&all, users_path.is_some())
    });

    let mut config = match s3 {
        Some(s3) => Config::for_s3(s3),
        None => Config::for_folder(&root),
    };
    config.users = users;
    config.anonymous = anonymous;
    // Each setting: the flag if given, else the --config file's value, else the default.
    macro_rules! pick {
        ($field:ident) => {
            args.$field.or(settings.$field)
        };
    }
    let secs = |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_secs);
    config.idle_timeout = secs(pick!(idle_timeout), config.idle_timeout);
    config.login_timeout = secs(pick!(login_timeout), config.login_timeout);
    config.data_timeout = secs(pick!(data_timeout), config.data_timeout);
    config.ban_time = secs(pick!(ban_time), config.ban_time);
    config.shutdown_grace = secs(pick!(shutdown_grace), config.shutdown_grace);
    config.partial_max_age = secs(pick!(partial_max_age), config.partial_max_age);
    config.credential_cache_ttl = secs(pick!(credential_cache_ttl), config.credential_cache_ttl);
    config.max_sessions = pick!(max_sessions).unwrap_or(config.max_sessions);
    config.max_sessions_per_ip = pick!(max_sessions_per_ip).unwrap_or(config.max_sessions_per_ip);
    config.max_hashing = pick!(max_hashing).unwrap_or(config.max_hashing);
    config.max_rate_up = pick!(max_rate_up).map_or(0, |rate| rate.0);
    config.max_rate_down = pick!(max_rate_down).map_or(0, |rate| rate.0);
    config.max_line = pick!(max_line).unwrap_or(config.max_line);
    config.max_login_failures = pick!(max_login_failures).unwrap_or(config.max_login_failures);
    config.login_failure_delay =
        pick!(login_failure_delay_ms).map_or(config.login_failure_delay, Duration::from_millis);
    if let Some(range) = pick!(passive_ports) {
        config.passive_ports = Some(config::parse_port_range(&range).map_err(anyhow::Error::msg)?);
    }
    config.passive_address = pick!(passive_address);
    config.proxy_protocol = args.proxy_protocol || settings.proxy_protocol == Some(true);
    config.proxy_from = if args.proxy_from.is_empty() {
        settings.proxy_from.unwrap_or_default()
    } else {
        args.proxy_from
    };
    let tls_cert = pick!(tls_cert);
    let tls_key = pick!(tls_key);
    config.tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(TlsSettings::from_pem_files(&cert, &key)?),
        (None, None) if args.tls_self_signed || settings.tls_self_signed == Some(true) => {
            match running_tls {
                Some(running) => Some(running.clone()),
                None => Some(TlsSettings::self_signed()?),
            }
        }
        (None, None) => None,
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    config.require_tls = args.require_tls || settings.require_tls == Some(true);
    config.hooks = settings.hooks.clone().unwrap_or_default();
    config.xferlog = pick!(xferlog);
    config.require_tls_session_reuse =
        args.require_tls_session_reuse || settings.require_tls_session_reuse == Some(true);
    let implicit_binds = if args.implicit_bind.is_empty() {
        settings.implicit_bind.unwrap_or_default()
    } else {
        args.implicit_bind
    };
    if !implicit_binds.is_empty() && config.tls.is_none() {
        bail!("--implicit-bind needs a certificate: --tls-cert/--tls-key or --tls-self-signed");
    }
    if !https_binds.is_empty() && config.tls.is_none() {
        bail!("--https-bind needs a certificate: --tls-cert/--tls-key or --tls-self-signed");
    }
    config.http_allow_insecure_login =
        args.http_allow_insecure_login || settings.http_allow_insecure_login == Some(true);
    if !http_binds.is_empty() || !https_binds.is_empty() {
        config.tus_state_dir = args.tus_state_dir.or(settings.tus_state_dir).or_else(|| {
            ferry_server::sftp::host_key::default_path()
                .and_then(|key| Some(key.parent()?.join("tus")))
        });
    }
    let mut host_key = None;
    if !sftp_binds.is_empty() {
        let path = match args.ssh_host_key.or(settings.ssh_host_key) {
            Some(path) => path,
            None => ferry_server::sftp::host_key::default_path().context(
                "no place for the SSH host key: set --ssh-host-key, XDG_STATE_HOME or HOME",
            )?,
        };
        let (key, made) = ferry_server::sftp::host_key::load_or_create(&path)?;
        config.ssh_host_key = Some(key);
        host_key = Some((path, made));
    }
    Ok(Built {
        config,
        fixed: Fixed {
            binds,
            implicit_binds,
            sftp_binds,
            metrics_bind: args.metrics_bind.or(settings.metrics_bind),
            http_binds,
            https_binds,
            host_key,
            log_format,
            log_level,
        },
        users_path,
    })
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = read_settings(&args)?;
    let (log_format, log_level) = log_choice(&args, &settings);
    ferry_server::log::init(log_format, log_level);
    let Built {
        config,
        fixed: started,
        users_path,
    } = build(&args, settings, None)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        ferry_server::check_storage(&config).await?;
        let server = Server::new(config.clone())?;
        let mut listeners = Vec::new();
        let all_binds = started
            .binds
            .iter()
            .map(|b| (b, Front::Ftp))
            .chain(started.implicit_binds.iter().map(|b| (b, Front::Implicit)))
            .chain(started.sftp_binds.iter().map(|b| (b, Front::Sftp)))
            .chain(started.http_binds.iter().map(|b| (b, Front::Http)))
            .chain(started.https_binds.iter().map(|b| (b, Front::Https)));
        for (bind, front) in all_binds {
            let listener = listen(*bind).with_context(|| format!("cannot listen on {bind}"))?;
            listeners.push((listener.local_addr()?, listener, front));
        }
        let metrics_listener = match started.metrics_bind {
            Some(bind) => {
                Some(listen(bind).with_context(|| format!("cannot listen on {bind} for metrics"))?)
            }
            None => None,
        };
        // Caught from before the banner on: a supervisor (or a test) that sends SIGTERM as soon
        // as it reads "Listening on" gets the graceful shutdown, not the default action.
        let signalled = shutdown_signal();
        // Likewise SIGHUP (whose default action would end the process): reload from then on.
        let mut hangups =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        say(format_args!("Welcome to the FTP server."));
        say(format_args!("To get started, connect a client."));
        for (addr, _, front) in &listeners {
            match front {
                Front::Ftp => say(format_args!("Listening on ftp://{addr}")),
                Front::Implicit => say(format_args!("Listening on ftps://{addr} (implicit TLS)")),
                Front::Sftp => say(format_args!("Listening on sftp://{addr}")),
                Front::Http => say(format_args!("Listening on http://{addr}/")),
                Front::Https => say(format_args!("Listening on https://{addr}/")),
            }
            if matches!(front, Front::Http) && !addr.ip().is_loopback() {
                if config.http_allow_insecure_login {
                    say(format_args!(
                        "Warning: passwords are accepted over plain HTTP on {addr} \
                         (--http-allow-insecure-login): anyone on the way can read them"
                    ));
                } else {
                    say(format_args!(
                        "Password logins over plain HTTP on {addr} are refused; use HTTPS \
                         (--https-bind) or --http-allow-insecure-login"
                    ));
                }
            }
        }
        // The page's address: the first HTTPS listener's, else the first plain one's.
        let page = listeners
            .iter()
            .find(|(_, _, front)| matches!(front, Front::Https))
            .map(|(addr, _, _)| ("https", addr))
            .or_else(|| {
                listeners
                    .iter()
                    .find(|(_, _, front)| matches!(front, Front::Http))
                    .map(|(addr, _, _)| ("http", addr))
            });
        if let Some((scheme, addr)) = page {
            say(format_args!(
                "Open {scheme}://{addr}/ in a browser, or fetch files from there with curl or wget"
            ));
        }
        if let Some(listener) = &metrics_listener {
            say(format_args!(
                "Metrics on http://{}/metrics (and /healthz, /readyz)",
                listener.local_addr()?
            ));
        }
        if let (Some(key), Some((path, made))) = (&config.ssh_host_key, &started.host_key) {
            let made = if *made { ", made now" } else { "" };
            say(format_args!(
                "SSH host key {} ({}{made}, {})",
                ferry_server::sftp::host_key::fingerprint(key),
                key.algorithm(),
                path.display()
            ));
        }
        if let Some(tls) = &config.tls {
            let policy = if config.require_tls {
                "required"
            } else {
                "offered"
            };
            say(format_args!(
                "TLS {policy} (AUTH TLS); certificate SHA-256 {}",
                tls.fingerprint
            ));
        }
        say(format_args!("Serving {}", config.storage_description()));
        let who = match (config.users.users.len(), config.anonymous) {
            (0, Anonymous::Off) => "nobody (no users file and anonymous access is off)".to_string(),
            (n, anonymous) => {
                let mut parts = Vec::new();
                if n > 0 {
                    parts.push(format!(
                        "{n} user(s) from {}",
                        users_path
                            .as_deref()
                            .map_or("?".into(), |p| p.display().to_string())
                    ));
                }
                match anonymous {
                    Anonymous::Off => {}
                    Anonymous::Read => parts.push("anonymous (read-only)".into()),
                    Anonymous::Write => parts.push("anonymous (read and write)".into()),
                }
                parts.join(", ")
            }
        };
        say(format_args!("Who may log in: {who}"));
        let _ = std::io::stdout().flush();

        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let cleaner = server.clone();
        tokio::spawn(async move { cleaner.remove_stale_partials().await });
        // The metrics endpoint outlives the sessions' draining (when /readyz says 503).
        let metrics_stop = CancellationToken::new();
        let metrics_task = metrics_listener.map(|listener| {
            let (server, draining, stop) = (server.clone(), shutdown.clone(), metrics_stop.clone());
            tokio::spawn(async move {
                if let Err(error) = server.serve_metrics(listener, draining, stop).await {
                    tracing::warn!(%error, "metrics endpoint failed");
                }
            })
        });
        for (_, listener, front) in listeners {
            let server = server.clone();
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                match front {
                    Front::Ftp => server.serve(listener, shutdown).await,
                    Front::Implicit => server.serve_implicit(listener, shutdown).await,
                    Front::Sftp => server.serve_sftp(listener, shutdown).await,
                    Front::Http => server.serve_http(listener, shutdown).await,
                    Front::Https => server.serve_https(listener, shutdown).await,
                }
            }));
        }
        tokio::pin!(signalled);
        loop {
            tokio::select! {
                () = &mut signalled => break,
                () = next_signal(hangups.as_mut()) => {
                    // For logrotate, whether or not the settings read well.
                    server.reopen_logs();
                    reload(&args, &server, config.tls.as_ref(), &started);
                }
            }
        }
        tracing::info!("shutting down");
        shutdown.cancel();
        for task in tasks {
            let _ = task.await;
        }
        server.wait().await;
        metrics_stop.cancel();
        if let Some(task) = metrics_task {
            let _ = task.await;
        }
        anyhow::Ok(())
    })
}

/// SIGHUP: reads the users file, the `--config` file and the certificate again and applies
/// them; a file that does not parse leaves the old settings in force. Settings that changed
/// but need a restart (`started` holds the listeners and log ferryd started with) are named.
fn reload(args: &ServeArgs, server: &Server, running_tls: Option<&TlsSettings>, started: &Fixed) {
    let built = read_settings(args).and_then(|settings| build(args, settings, running_tls));
    let built = match built {
        Ok(built) => built,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "reload failed; the old settings stay in force"
            );
            return;
        }
    };
    // At start a missing users file is an empty one; at a reload it is more likely a file
    // being replaced, and reading it as empty would end every user's sessions.
    if let Some(path) = built.users_path.as_deref().filter(|path| !path.exists()) {
        tracing::error!(
            file = %path.display(),
            "reload failed: the users file is missing; the old settings stay in force"
        );
        return;
    }
    let users = built.config.users.users.len();
    let mut restart_needed = started.changed(&built.fixed);
    let reloaded = server.reload(built.config);
    restart_needed.extend(reloaded.restart_needed);
    tracing::info!(
        users,
        removed = reloaded.removed.join(",").as_str(),
        certificate = reloaded.certificate.as_deref().unwrap_or("-"),
        "settings reloaded"
    );
    if !restart_needed.is_empty() {
        tracing::warn!(
            settings = restart_needed.join(",").as_str(),
            "these settings changed but take effect only at the next start"
        );
    }
}

/// Prints a line of the start-up banner. A stdout that is gone (`ferryd |
/// head -1`, a supervisor that reads the first line and lets go) must not stop the server, as
/// `println!`'s panic would.
fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Binds with a listen backlog sized for bursts of clients (the kernel caps it at somaxconn).
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// Installs the SIGTERM and SIGINT handlers now; the future ends at the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        tokio::select! {
            () = next_signal(terminate.as_mut()) => {}
            () = next_signal(interrupt.as_mut()) => {}
        }
    }
}

/// The next delivery of `signal`; never, for a handler that could not be installed.
async fn next_signal(signal: Option<&mut tokio::signal::unix::Signal>) {
    if let Some(signal) = signal
        && signal.recv().await.is_some()
    {
        return;
    }
    std::future::pending().await
}
