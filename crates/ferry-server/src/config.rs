//! The server's settings: plain data with safe defaults, filled from flags and `--config` TOML.
//!
//! Every limit is a setting; its doc says what it costs. Nothing here panics on bad input:
//! [`Config::validate`] returns an error instead.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use ferry_storage::S3Config;

use crate::auth::{Anonymous, UsersFile};
use crate::observe::hooks::HookConfig;
use crate::tls::TlsSettings;

/// Where ferryd listens when told nothing.
pub const DEFAULT_BIND: &str = "127.0.0.1:2121";
/// Where ferryd serves SFTP when told nothing at all (no bind flag of any kind).
pub const DEFAULT_SFTP_BIND: &str = "127.0.0.1:2222";
/// Where ferryd serves HTTP when told nothing at all (no bind flag of any kind).
pub const DEFAULT_HTTP_BIND: &str = "127.0.0.1:8080";
/// Longest command line accepted; longer lines get 500 and are skipped. Bounds per-session
/// memory.
pub const DEFAULT_MAX_LINE: usize = 8192;
/// A session silent this long is closed with 421.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A connection that has not logged in within this time is closed with 421.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a data connection (PASV nobody connects to, PORT that never answers),
/// and how long an open one may move no byte (a download nobody reads, an upload that stopped).
pub const DEFAULT_DATA_TIMEOUT: Duration = Duration::from_secs(30);
/// Sessions at once, over all clients. Each idle session costs a task and a few KiB.
pub const DEFAULT_MAX_SESSIONS: usize = 20_000;
/// Sessions at once from one client IP: enough for a mirror with many parallel connections
/// behind one NAT, few enough that one address cannot take the server (the anchors use 20 to
/// 50).
pub const DEFAULT_MAX_SESSIONS_PER_IP: usize = 50;

/// File digests (HASH, SFTP check-file, Repr-Digest) computed at once over the whole server
/// when not set: one per CPU, since each keeps a core busy. Each costs a 1 MiB buffer and a
/// blocking-pool thread while it runs; the others wait their turn.
pub fn default_max_hashing() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}
/// Failed logins from one IP before it is banned.
pub const DEFAULT_MAX_LOGIN_FAILURES: u32 = 5;
/// How long a ban lasts (and how long failures are remembered).
pub const DEFAULT_BAN_TIME: Duration = Duration::from_secs(600);
/// Delay before the first 530; it doubles with each failure from the same IP, up to 8 s.
pub const DEFAULT_LOGIN_FAILURE_DELAY: Duration = Duration::from_millis(500);
/// On SIGTERM, how long running transfers may go on before they are cut with 426.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long a verified password is remembered (as a keyed hash in memory) so that repeated
/// logins skip Argon2id. Zero turns the cache off.
pub const DEFAULT_CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(600);
/// Partial uploads older than this are deleted when the server starts.
pub const DEFAULT_PARTIAL_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human words on the terminal.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// How much is logged. `info` logs sessions, logins and transfers; `debug` adds every command
/// (passwords masked), as vsftpd's `log_ftp_protocol` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and refusals (bans, foreign data connections, failed transfers).
    Warn,
    /// Sessions, logins and transfers.
    #[default]
    Info,
    /// Every command too.
    Debug,
}

impl LogLevel {
    /// The matching `tracing` level.
    pub fn as_tracing(self) -> tracing::Level {
        match self {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
        }
    }
}

/// Everything a running server needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// The served folder (unused when `s3` is set).
    pub root: PathBuf,
    /// The served S3 bucket or prefix, instead of `root`.
    pub s3: Option<S3Config>,
    /// Named users (empty: anonymous only).
    pub users: UsersFile,
    /// Anonymous access.
    pub anonymous: Anonymous,
    /// See [`DEFAULT_MAX_LINE`].
    pub max_line: usize,
    /// See [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`DEFAULT_LOGIN_TIMEOUT`].
    pub login_timeout: Duration,
    /// See [`DEFAULT_DATA_TIMEOUT`].
    pub data_timeout: Duration,
    /// See [`DEFAULT_MAX_SESSIONS`].
    pub max_sessions: usize,
    /// See [`DEFAULT_MAX_SESSIONS_PER_IP`].
    pub max_sessions_per_ip: usize,
    /// See [`default_max_hashing`]; at least 1.
    pub max_hashing: usize,
    /// Upload bytes per second over the whole server; 0: no limit.
    pub max_rate_up: u64,
    /// Download bytes per second over the whole server; 0: no limit.
    pub max_rate_down: u64,
    /// Passive ports to use (inclusive); `None` lets the kernel pick.
    pub passive_ports: Option<(u16, u16)>,
    /// The IPv4 address PASV replies advertise; `None` uses the control connection's local
    /// address.
    pub passive_address: Option<IpAddr>,
    /// See [`DEFAULT_MAX_LOGIN_FAILURES`]; 0 never bans.
    pub max_login_failures: u32,
    /// See [`DEFAULT_BAN_TIME`].
    pub ban_time: Duration,
    /// See [`DEFAULT_LOGIN_FAILURE_DELAY`].
    pub login_failure_delay: Duration,
    /// See [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// See [`DEFAULT_PARTIAL_MAX_AGE`].
    pub partial_max_age: Duration,
    /// See [`DEFAULT_CREDENTIAL_CACHE_TTL`].
    pub credential_cache_ttl: Duration,
    /// Expect a PROXY protocol header on connections from `proxy_from` (a load balancer).
    pub proxy_protocol: bool,
    /// The balancer's addresses: only their connections may (and must) carry a PROXY header.
    pub proxy_from: Vec<IpAddr>,
    /// FTPS (RFC 4217); `None` answers AUTH with 502.
    pub tls: Option<TlsSettings>,
    /// Refuse USER/PASS before AUTH TLS, and data transfers without PROT P.
    pub require_tls: bool,
    /// Refuse TLS data connections that do not resume the control connection's session
    /// (Python's ftplib cannot resume, so this is off by default).
    pub require_tls_session_reuse: bool,
    /// The SSH host key; SFTP is served only with one.
    pub ssh_host_key: Option<russh::keys::PrivateKey>,
    /// Commands or URLs run for events (`[[hooks]]` in the config file).
    pub hooks: Vec<HookConfig>,
    /// The transfer log (wu-ftpd xferlog format), reopened on SIGHUP.
    pub xferlog: Option<PathBuf>,
    /// Accept passwords over plain HTTP on non-loopback addresses, where anyone on the path
    /// can read them (off: such logins are refused with 403; HTTPS and loopback always may).
    pub http_allow_insecure_login: bool,
    /// Where tus uploads in progress are recorded so that they survive a restart; `None`
    /// keeps them in memory only.
    pub tus_state_dir: Option<PathBuf>,
}

impl Config {
    /// Serves `root` to anonymous users with write access: the quick share on loopback.
    pub fn for_folder(root: impl Into<PathBuf>) -> Config {
        Config {
            root: root.into(),
            s3: None,
            users: UsersFile::default(),
            anonymous: Anonymous::Write,
            max_line: DEFAULT_MAX_LINE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            login_timeout: DEFAULT_LOGIN_TIMEOUT,
            data_timeout: DEFAULT_DATA_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_sessions_per_ip: DEFAULT_MAX_SESSIONS_PER_IP,
            max_hashing: default_max_hashing(),
            max_rate_up: 0,
            max_rate_down: 0,
            passive_ports: None,
            passive_address: None,
            max_login_failures: DEFAULT_MAX_LOGIN_FAILURES,
            ban_time: DEFAULT_BAN_TIME,
            login_failure_delay: DEFAULT_LOGIN_FAILURE_DELAY,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            partial_max_age: DEFAULT_PARTIAL_MAX_AGE,
            credential_cache_ttl: DEFAULT_CREDENTIAL_CACHE_TTL,
            proxy_protocol: false,
            proxy_from: Vec::new(),
            tls: None,
            require_tls: false,
            require_tls_session_reuse: false,
            ssh_host_key: None,
            hooks: Vec::new(),
            xferlog: None,
            http_allow_insecure_login: false,
            tus_state_dir: None,
        }
    }

    /// Serves an S3 bucket (or a prefix of one), otherwise like [`Config::for_folder`].
    pub fn for_s3(s3: S3Config) -> Config {
        Config {
            s3: Some(s3),
            ..Config::for_folder(PathBuf::new())
        }
    }

    /// What is served, for messages: the folder, or `s3://BUCKET/PREFIX at ENDPOINT`.
    pub fn storage_description(&self) -> String {
        match &self.s3 {
            None => self.root.display().to_string(),
            Some(s3) => format!(
                "{} at {}",
                s3.url(),
                s3.endpoint.as_deref().unwrap_or("AWS S3")
            ),
        }
    }

    /// The settings that differ from `new` and that a reload cannot change (see
    /// `Server::reload` for those it can).
    pub fn restart_needed(&self, new: &Config) -> Vec<&'static str> {
        let mut names = Vec::new();
        let mut differs = |name: &'static str, differ: bool| {
            if differ {
                names.push(name);
            }
        };
        differs("root", self.root != new.root);
        differs("storage", self.s3 != new.s3);
        differs("max_line", self.max_line != new.max_line);
        differs("idle_timeout", self.idle_timeout != new.idle_timeout);
        differs("login_timeout", self.login_timeout != new.login_timeout);
        differs("data_timeout", self.data_timeout != new.data_timeout);
        differs("max_sessions", self.max_sessions != new.max_sessions);
        differs(
            "max_sessions_per_ip",
            self.max_sessions_per_ip != new.max_sessions_per_ip,
        );
        differs("passive_ports", self.passive_ports != new.passive_ports);
        differs(
            "passive_address",
            self.passive_address != new.passive_address,
        );
        differs(
            "max_login_failures",
            self.max_login_failures != new.max_login_failures,
        );
        differs("ban_time", self.ban_time != new.ban_time);
        differs(
            "login_failure_delay_ms",
            self.login_failure_delay != new.login_failure_delay,
        );
        differs("shutdown_grace", self.shutdown_grace != new.shutdown_grace);
        differs(
            "partial_max_age",
            self.partial_max_age != new.partial_max_age,
        );
        differs(
            "credential_cache_ttl",
            self.credential_cache_ttl != new.credential_cache_ttl,
        );
        differs(
            "proxy_protocol",
            self.proxy_protocol != new.proxy_protocol || self.proxy_from != new.proxy_from,
        );
        differs("tls", self.tls.is_some() != new.tls.is_some());
        differs(
            "ssh_host_key",
            self.ssh_host_key
                .as_ref()
                .map(|k| k.public_key().to_bytes().ok())
                != new
                    .ssh_host_key
                    .as_ref()
                    .map(|k| k.public_key().to_bytes().ok()),
        );
        differs("require_tls", self.require_tls != new.require_tls);
        differs("hooks", self.hooks != new.hooks);
        differs("xferlog", self.xferlog != new.xferlog);
        differs(
            "http_allow_insecure_login",
            self.http_allow_insecure_login != new.http_allow_insecure_login,
        );
        differs("tus_state_dir", self.tus_state_dir != new.tus_state_dir);
        differs(
            "require_tls_session_reuse",
            self.require_tls_session_reuse != new.require_tls_session_reuse,
        );
        names
    }

    /// Checks the settings that can be wrong.
    pub fn validate(&self) -> Result<(), String> {
        match &self.s3 {
            None if !self.root.is_dir() => {
                return Err(format!("{} is not a folder", self.root.display()));
            }
            Some(s3) if s3.bucket.is_empty() => return Err("no S3 bucket name".into()),
            _ => {}
        }
        if self.max_hashing == 0 {
            return Err("max_hashing must be at least 1".into());
        }
        if let Some((low, high)) = self.passive_ports
            && (low == 0 || low > high)
        {
            return Err(format!("passive port range {low}-{high} is empty"));
        }
        if self.proxy_protocol && self.proxy_from.is_empty() {
            return Err("--proxy-protocol needs --proxy-from with the balancer's addresses".into());
        }
        if self.require_tls && self.tls.is_none() {
            return Err("TLS is required but no certificate is configured".into());
        }
        if self.max_line < 64 {
            return Err("max line length must be at least 64".into());
        }
        for hook in &self.hooks {
            hook.validate()?;
        }
        Ok(())
    }
}

/// The anonymous default: write when every bind address is loopback and there is no users
/// file (the quick share), off otherwise.
pub fn default_anonymous(binds: &[SocketAddr], has_users_file: bool) -> Anonymous {
    if !has_users_file && binds.iter().all(|b| b.ip().is_loopback()) {
        Anonymous::Write
    } else {
        Anonymous::Off
    }
}

/// Where the files are, as `--storage` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageSpec {
    /// A local folder: `file:DIR` or a plain path.
    Folder(PathBuf),
    /// `s3://BUCKET[/PREFIX]`; endpoint, region and credentials come from other settings.
    S3(S3Config),
}

impl StorageSpec {
    /// Parses `s3://BUCKET[/PREFIX]`, `file:DIR` or a plain path.
    pub fn parse(text: &str) -> Result<StorageSpec, String> {
        if text.starts_with("s3://") {
            return S3Config::from_url(text).map(StorageSpec::S3);
        }
        let folder = text.strip_prefix("file:").unwrap_or(text);
        if folder.is_empty() {
            return Err(format!("{text}: no folder"));
        }
        Ok(StorageSpec::Folder(PathBuf::from(folder)))
    }
}

/// The `--config` file: the same settings as the flags, all optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Served folder.
    pub root: Option<PathBuf>,
    /// Served storage: `s3://BUCKET[/PREFIX]`, `file:DIR` or a path (instead of `root`).
    pub storage: Option<String>,
    /// S3 endpoint, `scheme://host:port`.
    pub s3_endpoint: Option<String>,
    /// S3 region.
    pub s3_region: Option<String>,
    /// Listen addresses.
    pub bind: Option<Vec<SocketAddr>>,
    /// Users file.
    pub users: Option<PathBuf>,
    /// Anonymous access.
    pub anonymous: Option<Anonymous>,
    /// Log format.
    pub log_format: Option<LogFormat>,
    /// Log level.
    pub log_level: Option<LogLevel>,
    /// Longest command line.
    pub max_line: Option<usize>,
    /// Idle timeout, seconds.
    pub idle_timeout: Option<u64>,
    /// Login timeout, seconds.
    pub login_timeout: Option<u64>,
    /// Data connection timeout, seconds.
    pub data_timeout: Option<u64>,
    /// Sessions at once.
    pub max_sessions: Option<usize>,
    /// Sessions at once per client IP.
    pub max_sessions_per_ip: Option<usize>,
    /// File digests computed at once over the whole server.
    pub max_hashing: Option<usize>,
    /// Upload bytes per second over the whole server (`500K`, `2M` or a number).
    pub max_rate_up: Option<Rate>,
    /// Download bytes per second over the whole server.
    pub max_rate_down: Option<Rate>,
    /// Passive port range, "LOW-HIGH".
    pub passive_ports: Option<String>,
    /// Address advertised in PASV replies.
    pub passive_address: Option<IpAddr>,
    /// Failed logins from one IP before a ban.
    pub max_login_failures: Option<u32>,
    /// Ban length, seconds.
    pub ban_time: Option<u64>,
    /// First failed-login delay, milliseconds.
    pub login_failure_delay_ms: Option<u64>,
    /// Shutdown grace period, seconds.
    pub shutdown_grace: Option<u64>,
    /// Age in seconds after which partial uploads are deleted at start.
    pub partial_max_age: Option<u64>,
    /// Seconds a verified password is remembered (0: off).
    pub credential_cache_ttl: Option<u64>,
    /// Expect PROXY headers from the balancer.
    pub proxy_protocol: Option<bool>,
    /// The balancer's addresses.
    pub proxy_from: Option<Vec<IpAddr>>,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Make a self-signed certificate at start.
    pub tls_self_signed: Option<bool>,
    /// Implicit FTPS listen addresses.
    pub implicit_bind: Option<Vec<SocketAddr>>,
    /// Require TLS for login and data.
    pub require_tls: Option<bool>,
    /// Require TLS session reuse on data connections.
    pub require_tls_session_reuse: Option<bool>,
    /// SFTP listen addresses.
    pub sftp_bind: Option<Vec<SocketAddr>>,
    /// SSH host key file (OpenSSH format; an Ed25519 key is made there when missing).
    pub ssh_host_key: Option<PathBuf>,
    /// Commands or URLs run for events.
    pub hooks: Option<Vec<HookConfig>>,
    /// Transfer log file (wu-ftpd xferlog format).
    pub xferlog: Option<PathBuf>,
    /// Metrics and health endpoint address.
    pub metrics_bind: Option<SocketAddr>,
    /// Plain HTTP listen addresses.
    pub http_bind: Option<Vec<SocketAddr>>,
    /// HTTPS listen addresses (the FTPS certificate; HTTP/2 and HTTP/1.1 by ALPN).
    pub https_bind: Option<Vec<SocketAddr>>,
    /// Accept passwords over plain HTTP on non-loopback addresses.
    pub http_allow_insecure_login: Option<bool>,
    /// Where tus uploads in progress are recorded across restarts.
    pub tus_state_dir: Option<PathBuf>,
}

/// Bytes per second, written as a number with an optional `K`, `M` or `G` (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u64);

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Rate, String> {
        let text = text.trim();
        let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((at, _)) => text.split_at(at),
            None => (text, ""),
        };
        let scale: u64 = match unit.to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "K" | "KB" | "KIB" => 1 << 10,
            "M" | "MB" | "MIB" => 1 << 20,
            "G" | "GB" | "GIB" => 1 << 30,
            _ => {
                return Err(format!(
                    "{text}: expected bytes per second, like 500K or 2M"
                ));
            }
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .map(Rate)
            .ok_or_else(|| format!("{text}: expected bytes per second, like 500K or 2M"))
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rate, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(u64),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(n) => Ok(Rate(n)),
            Written::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Parses "LOW-HIGH".
pub fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (low, high) = text
        .split_once('-')
        .ok_or_else(|| format!("{text}: expected LOW-HIGH"))?;
    let port = |p: &str| p.trim().parse::<u16>().map_err(|e| format!("{text}: {e}"));
    Ok((port(low)?, port(high)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn anonymous_default_depends_on_binds() {
        let lo: SocketAddr = "127.0.0.1:2121".parse().unwrap();
        let lo6: SocketAddr = "[::1]:2121".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:2121".parse().unwrap();
        assert_eq!(default_anonymous(&[lo, lo6], false), Anonymous::Write);
        assert_eq!(default_anonymous(&[lo], true), Anonymous::Off);
        assert_eq!(default_anonymous(&[lo, any], false), Anonymous::Off);
    }

    #[test]
    fn rates() {
        assert_eq!("500K".parse(), Ok(Rate(500 * 1024)));
        assert_eq!("2M".parse(), Ok(Rate(2 << 20)));
        assert_eq!("1048576".parse(), Ok(Rate(1 << 20)));
        assert!("fast".parse::<Rate>().is_err());
        assert!("5X".parse::<Rate>().is_err());
        let settings: FileSettings =
            toml::from_str("max_rate_up = \"1M\"\nmax_rate_down = 4096").unwrap();
        assert_eq!(settings.max_rate_up, Some(Rate(1 << 20)));
        assert_eq!(settings.max_rate_down, Some(Rate(4096)));
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("50000-50100"), Ok((50000, 50100)));
        assert!(parse_port_range("5").is_err());
        assert!(parse_port_range("a-b").is_err());
    }

    #[test]
    fn storage_specs() {
        assert_eq!(
            StorageSpec::parse("file:/srv/ftp"),
            Ok(StorageSpec::Folder("/srv/ftp".into()))
        );
        assert_eq!(
            StorageSpec::parse("relative"),
            Ok(StorageSpec::Folder("relative".into()))
        );
        let StorageSpec::S3(s3) = StorageSpec::parse("s3://bucket/a/b/").unwrap() else {
            panic!("not S3");
        };
        assert_eq!((s3.bucket.as_str(), s3.prefix.as_str()), ("bucket", "a/b"));
        let StorageSpec::S3(s3) = StorageSpec::parse("s3://bucket").unwrap() else {
            panic!("not S3");
        };
        assert_eq!((s3.bucket.as_str(), s3.prefix.as_str()), ("bucket", ""));
        assert!(StorageSpec::parse("s3:///prefix").is_err());
        assert!(StorageSpec::parse("file:").is_err());
        let settings: FileSettings = toml::from_str(
            "storage = \"s3://b/p\"\ns3_endpoint = \"http://127.0.0.1:9000\"\ns3_region = \"r\"",
        )
        .unwrap();
        assert_eq!(settings.storage.as_deref(), Some("s3://b/p"));
        assert_eq!(settings.s3_region.as_deref(), Some("r"));
    }

    #[test]
    fn file_settings_parse() {
        let settings: FileSettings =
            toml::from_str("bind = [\"127.0.0.1:21\"]\nanonymous = \"read\"\nidle_timeout = 5")
                .unwrap();
        assert_eq!(settings.anonymous, Some(Anonymous::Read));
        assert_eq!(settings.idle_timeout, Some(5));
        assert!(toml::from_str::<FileSettings>("nonsense = 1").is_err());
        let settings: FileSettings = toml::from_str(
            "xferlog = \"/var/log/xferlog\"\nmetrics_bind = \"127.0.0.1:9121\"\n\
             [[hooks]]\nevents = [\"upload\"]\ncommand = [\"/bin/true\", \"{path}\"]\n",
        )
        .unwrap();
        assert_eq!(settings.xferlog, Some(PathBuf::from("/var/log/xferlog")));
        assert_eq!(
            settings.metrics_bind,
            Some("127.0.0.1:9121".parse().unwrap())
        );
        assert_eq!(settings.hooks.unwrap()[0].timeout, 30);
        let settings: FileSettings = toml::from_str(
            "http_bind = [\"127.0.0.1:8080\", \"[::1]:8080\"]\nhttps_bind = [\"0.0.0.0:8443\"]\n\
             http_allow_insecure_login = true",
        )
        .unwrap();
        assert_eq!(settings.http_bind.unwrap().len(), 2);
        assert_eq!(
            settings.https_bind,
            Some(vec!["0.0.0.0:8443".parse().unwrap()])
        );
        assert_eq!(settings.http_allow_insecure_login, Some(true));
    }
}
