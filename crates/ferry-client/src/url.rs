//! FTP URLs (`ftp://user:pass@host:port/path`, RFC 1738 section 3.2) and the `HOST[:PORT]` form
//! the REPL's CONN takes. `ftps://` is implicit FTPS (port 990 by default) and `ftpes://` explicit
//! FTPS (`AUTH TLS` on port 21), as curl and lftp read them.
//!
//! `sftp://` URLs are [`SftpUrl`]s: SSH on port 22, the path absolute on the server.
//!
//! Parses and percent-decodes; does not resolve host names or look up credentials (see
//! [`crate::credentials`]).

use crate::ClientError;
use crate::tls::TlsMode;

/// The FTP port when none is given in a URL.
pub const DEFAULT_FTP_PORT: u16 = 21;
/// The implicit-FTPS port when none is given in an `ftps://` URL (IANA's `ftps`).
pub const DEFAULT_FTPS_PORT: u16 = 990;

/// Where CONN goes with no argument: the port `ferryd` listens on by default.
pub const DEFAULT_CONN_HOST: &str = "127.0.0.1";
/// See [`DEFAULT_CONN_HOST`].
pub const DEFAULT_CONN_PORT: u16 = 2121;

/// A parsed `ftp://`, `ftps://` or `ftpes://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpUrl {
    /// What the scheme asks for: [`TlsMode::Off`] for `ftp://` (which `--tls` may upgrade).
    pub tls: TlsMode,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name, decoded, if the URL has one.
    pub user: Option<String>,
    /// Password, decoded, if the URL has one.
    pub password: Option<String>,
    /// The path after the host, decoded, without the leading `/` that separates it from the
    /// host: relative to the login folder, as RFC 1738 says (`ftp://h//etc` is `/etc`).
    pub path: String,
}

impl FtpUrl {
    /// Parses `ftp://[user[:password]@]host[:port][/path]` (or `ftps://`, `ftpes://`).
    pub fn parse(text: &str) -> Result<FtpUrl, ClientError> {
        let bad = |why: &str| ClientError::Usage(format!("bad URL {text:?}: {why}"));
        let (tls, rest) = strip_scheme(text)
            .ok_or_else(|| bad("it must start with ftp://, ftps:// or ftpes://"))?;
        let default_port = match tls {
            TlsMode::Implicit => DEFAULT_FTPS_PORT,
            TlsMode::Off | TlsMode::Explicit => DEFAULT_FTP_PORT,
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash + 1..]),
            None => (rest, ""),
        };
        let Authority {
            user,
            password,
            host,
            port,
        } = Authority::parse(authority, default_port).map_err(|why| bad(&why))?;
        let path = decode(path).ok_or_else(|| bad("bad %-escape in the path"))?;
        Ok(FtpUrl {
            tls,
            host,
            port,
            user,
            password,
            path,
        })
    }

    /// The TLS to use: the scheme's, or `flag` (`--tls`) for a plain `ftp://` URL.
    pub fn tls_or(&self, flag: TlsMode) -> TlsMode {
        if self.tls.is_on() { self.tls } else { flag }
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn address(&self) -> String {
        host_port(&self.host, self.port)
    }

    /// True when the path names a folder (empty, or ends with `/`).
    pub fn is_folder(&self) -> bool {
        self.path.is_empty() || self.path.ends_with('/')
    }

    /// The last name of the path (`""` for a folder URL).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

/// The `[user[:password]@]host[:port]` part of a URL, decoded.
struct Authority {
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: u16,
}

impl Authority {
    fn parse(authority: &str, default_port: u16) -> Result<Authority, String> {
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let escape = |what: &str| format!("bad %-escape in the {what}");
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (
                    Some(decode(user).ok_or_else(|| escape("user"))?),
                    Some(decode(password).ok_or_else(|| escape("password"))?),
                ),
                None => (Some(decode(info).ok_or_else(|| escape("user"))?), None),
            },
        };
        let (host, port) = split_host_port(hostport, default_port)?;
        Ok(Authority {
            user: user.filter(|u| !u.is_empty()),
            password,
            host,
            port,
        })
    }
}

/// The SSH port when an `sftp://` URL names none.
pub const DEFAULT_SFTP_PORT: u16 = 22;

/// A parsed `sftp://[user[:password]@]host[:port][/path]` URL
/// (draft-ietf-secsh-scp-sftp-ssh-uri, as curl reads it): the path is absolute on the server,
/// and `/~/path` is relative to the login folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name, decoded, if the URL has one.
    pub user: Option<String>,
    /// Password, decoded, if the URL has one.
    pub password: Option<String>,
    /// The path as the server takes it, decoded: absolute (`/srv/x`), or relative to the login
    /// folder for `/~/x` (`x`) and `/~` or nothing at all (`""`). A trailing `/` is kept.
    pub path: String,
}

impl SftpUrl {
    /// Parses `sftp://[user[:password]@]host[:port][/path]`.
    pub fn parse(text: &str) -> Result<SftpUrl, ClientError> {
        let bad = |why: &str| ClientError::Usage(format!("bad URL {text:?}: {why}"));
        let rest = strip_sftp_scheme(text).ok_or_else(|| bad("it must start with sftp://"))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, ""),
        };
        let Authority {
            user,
            password,
            host,
            port,
        } = Authority::parse(authority, DEFAULT_SFTP_PORT).map_err(|why| bad(&why))?;
        let path = decode(path).ok_or_else(|| bad("bad %-escape in the path"))?;
        let path = match path.strip_prefix("/~") {
            Some(rest) if rest.is_empty() || rest == "/" => String::new(),
            Some(rest) if rest.starts_with('/') => rest[1..].to_string(),
            _ => path,
        };
        Ok(SftpUrl {
            host,
            port,
            user,
            password,
            path,
        })
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn address(&self) -> String {
        host_port(&self.host, self.port)
    }

    /// True when the path names a folder (empty, `/`, or ends with `/`).
    pub fn is_folder(&self) -> bool {
        self.path.is_empty() || self.path.ends_with('/')
    }
}

/// True when `text` starts with `sftp://`.
pub fn is_sftp_url(text: &str) -> bool {
    strip_sftp_scheme(text).is_some()
}

fn strip_sftp_scheme(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once("://")?;
    scheme.eq_ignore_ascii_case("sftp").then_some(rest)
}

/// True when `text` looks like a URL this client speaks.
pub fn is_ftp_url(text: &str) -> bool {
    strip_scheme(text).is_some()
}

fn strip_scheme(text: &str) -> Option<(TlsMode, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    let mode = match scheme.to_ascii_lowercase().as_str() {
        "ftp" => TlsMode::Off,
        "ftpes" => TlsMode::Explicit,
        "ftps" => TlsMode::Implicit,
        _ => return None,
    };
    Some((mode, rest))
}

/// `host:port` with brackets around an IPv6 address.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
pub fn split_host_port(text: &str, default_port: u16) -> Result<(String, u16), String> {
    let parse_port = |port: &str| {
        port.parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("bad port {port:?}"))
    };
    if let Some(inner) = text.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| "missing ] after an IPv6 address".to_string())?;
        let port = match after.strip_prefix(':') {
            Some(port) => parse_port(port)?,
            None if after.is_empty() => default_port,
            None => return Err(format!("unexpected {after:?} after the address")),
        };
        return Ok((host.to_string(), port));
    }
    if text.is_empty() {
        return Err("no host".into());
    }
    // A bare IPv6 address has several colons and no port.
    if text.matches(':').count() > 1 {
        return Ok((text.to_string(), default_port));
    }
    match text.split_once(':') {
        Some((host, port)) if !host.is_empty() => Ok((host.to_string(), parse_port(port)?)),
        Some(_) => Err("no host".into()),
        None => Ok((text.to_string(), default_port)),
    }
}

/// Decodes `%XX` escapes; `None` on a broken escape or a result that is not UTF-8.
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let url = FtpUrl::parse("ftp://us%40er:p%3Ass@example.org:2121/dir/my%20file.txt").unwrap();
        assert_eq!(
            url,
            FtpUrl {
                tls: TlsMode::Off,
                host: "example.org".into(),
                port: 2121,
                user: Some("us@er".into()),
                password: Some("p:ss".into()),
                path: "dir/my file.txt".into(),
            }
        );
        assert_eq!(url.file_name(), "my file.txt");
        assert!(!url.is_folder());
        assert_eq!(url.address(), "example.org:2121");
    }

    #[test]
    fn short_urls() {
        let url = FtpUrl::parse("FTP://127.0.0.1").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 21));
        assert!(url.is_folder());
        assert_eq!(url.user, None);
        let url = FtpUrl::parse("ftp://[::1]:990/up/").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 990));
        assert_eq!(url.address(), "[::1]:990");
        assert!(url.is_folder());
        let url = FtpUrl::parse("ftp://bob@h//etc/passwd").unwrap();
        assert_eq!(url.user.as_deref(), Some("bob"));
        assert_eq!(url.password, None);
        assert_eq!(url.path, "/etc/passwd");
    }

    #[test]
    fn tls_schemes() {
        let url = FtpUrl::parse("ftps://h/x").unwrap();
        assert_eq!((url.tls, url.port), (TlsMode::Implicit, 990));
        assert_eq!(url.tls_or(TlsMode::Explicit), TlsMode::Implicit);
        let url = FtpUrl::parse("FTPES://h:2121/x").unwrap();
        assert_eq!((url.tls, url.port), (TlsMode::Explicit, 2121));
        let url = FtpUrl::parse("ftpes://h/").unwrap();
        assert_eq!(url.port, 21);
        let url = FtpUrl::parse("ftp://h/").unwrap();
        assert_eq!(url.tls_or(TlsMode::Off), TlsMode::Off);
        assert_eq!(url.tls_or(TlsMode::Explicit), TlsMode::Explicit);
        assert!(is_ftp_url("ftps://h/") && is_ftp_url("ftpes://h/"));
        assert!(!is_ftp_url("sftp://h/"));
    }

    #[test]
    fn bad_urls() {
        for bad in [
            "http://x/",
            "x/y",
            "ftp://",
            "ftp://h:0/",
            "ftp://h:99999/",
            "ftp://h/%zz",
            "ftp://[::1/",
        ] {
            assert!(FtpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sftp_urls() {
        let url = SftpUrl::parse("sftp://bob:p%40ss@[::1]:2222/srv/a%20b.txt").unwrap();
        assert_eq!(
            url,
            SftpUrl {
                host: "::1".into(),
                port: 2222,
                user: Some("bob".into()),
                password: Some("p@ss".into()),
                path: "/srv/a b.txt".into(),
            }
        );
        assert_eq!(url.address(), "[::1]:2222");
        assert!(!url.is_folder());
        let url = SftpUrl::parse("SFTP://h").unwrap();
        assert_eq!(
            (url.port, url.path.as_str(), url.user.as_deref()),
            (22, "", None)
        );
        assert!(url.is_folder());
        assert_eq!(SftpUrl::parse("sftp://h/~/x/y").unwrap().path, "x/y");
        assert_eq!(SftpUrl::parse("sftp://h/~/").unwrap().path, "");
        assert_eq!(SftpUrl::parse("sftp://h/~x").unwrap().path, "/~x");
        assert_eq!(SftpUrl::parse("sftp://h/d/").unwrap().path, "/d/");
        assert!(is_sftp_url("sftp://h/") && !is_sftp_url("ftp://h/"));
        for bad in ["ftp://h/", "sftp://", "sftp://h:0/", "sftp://h/%zz"] {
            assert!(SftpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_and_port() {
        assert_eq!(split_host_port("h", 2121), Ok(("h".into(), 2121)));
        assert_eq!(split_host_port("h:21", 2121), Ok(("h".into(), 21)));
        assert_eq!(split_host_port("::1", 2121), Ok(("::1".into(), 2121)));
        assert_eq!(split_host_port("[::1]:5", 2121), Ok(("::1".into(), 5)));
        assert!(split_host_port(":5", 2121).is_err());
        assert!(split_host_port("h:x", 2121).is_err());
    }
}
