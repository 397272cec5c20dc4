//! Who to log in as: from the URL, from `--user USER[:PASS]`, from `~/.netrc`, or anonymous.
//!
//! Parses `.netrc` (machine/default, login, password; `macdef` blocks skipped). Does not prompt:
//! the binary supplies a prompt for a password the server asks for and nobody gave.

use std::path::Path;

/// The user anonymous logins use.
pub const ANONYMOUS_USER: &str = "anonymous";
/// The password anonymous logins send (an address-like string, as RFC 1635 asks).
pub const ANONYMOUS_PASSWORD: &str = "ferry@";

/// A user name and, when known, its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name sent with USER.
    pub user: String,
    /// The password sent with PASS if the server asks; `None` means ask the prompt.
    pub password: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Credentials {
    /// Anonymous login.
    pub fn anonymous() -> Credentials {
        Credentials {
            user: ANONYMOUS_USER.into(),
            password: Some(ANONYMOUS_PASSWORD.into()),
        }
    }

    /// `USER` or `USER:PASS`, as `--user` takes it.
    pub fn from_flag(flag: &str) -> Credentials {
        match flag.split_once(':') {
            Some((user, password)) => Credentials {
                user: user.into(),
                password: Some(password.into()),
            },
            None => Credentials::named(flag),
        }
    }

    /// A named user without a known password (anonymous users get the anonymous password).
    pub fn named(user: &str) -> Credentials {
        let anonymous =
            user.eq_ignore_ascii_case(ANONYMOUS_USER) || user.eq_ignore_ascii_case("ftp");
        Credentials {
            user: user.into(),
            password: anonymous.then(|| ANONYMOUS_PASSWORD.into()),
        }
    }
}

/// Chooses the credentials for `host`: the URL's user wins, then `--user`, then the netrc entry
/// for the host (or its `default`), then anonymous. A password missing from the chosen source
/// is filled from netrc when the netrc entry is for the same user.
pub fn resolve(
    host: &str,
    url_user: Option<&str>,
    url_password: Option<&str>,
    flag: Option<&str>,
    netrc: Option<&str>,
) -> Credentials {
    let from_netrc = netrc.and_then(|text| netrc_lookup(text, host));
    let mut chosen = if let Some(user) = url_user {
        let mut credentials = Credentials::named(user);
        if let Some(password) = url_password {
            credentials.password = Some(password.into());
        }
        credentials
    } else if let Some(flag) = flag {
        Credentials::from_flag(flag)
    } else if let Some(entry) = &from_netrc {
        entry.clone()
    } else {
        return Credentials::anonymous();
    };
    if chosen.password.is_none()
        && let Some(entry) = from_netrc
        && entry.user == chosen.user
    {
        chosen.password = entry.password;
    }
    chosen
}

/// Reads `$HOME/.netrc` if it exists.
pub fn read_netrc(home: Option<&Path>) -> Option<String> {
    std::fs::read_to_string(home?.join(".netrc")).ok()
}

/// The entry for `host` in netrc text, else the `default` entry.
pub fn netrc_lookup(text: &str, host: &str) -> Option<Credentials> {
    /// Which kind of entry the words being read belong to.
    #[derive(PartialEq)]
    enum Scope {
        Host,
        OtherHost,
        Default,
    }
    struct Partial {
        scope: Scope,
        user: Option<String>,
        password: Option<String>,
    }
    let mut found = None;
    let mut default = None;
    let mut finish = |entry: Option<Partial>| {
        let Some(Partial {
            scope,
            user: Some(user),
            password,
        }) = entry
        else {
            return;
        };
        let slot = match scope {
            Scope::Host => &mut found,
            Scope::Default => &mut default,
            Scope::OtherHost => return,
        };
        if slot.is_none() {
            *slot = Some(Credentials { user, password });
        }
    };
    let mut words = NetrcWords::new(text);
    let mut current: Option<Partial> = None;
    while let Some(word) = words.next_word() {
        match word {
            "machine" | "default" => {
                finish(current.take());
                let scope = if word == "default" {
                    Scope::Default
                } else if words
                    .next_word()
                    .is_some_and(|name| name.eq_ignore_ascii_case(host))
                {
                    Scope::Host
                } else {
                    Scope::OtherHost
                };
                current = Some(Partial {
                    scope,
                    user: None,
                    password: None,
                });
            }
            "login" | "password" => {
                let value = words.next_word().map(str::to_string);
                if let Some(entry) = current.as_mut() {
                    if word == "login" {
                        entry.user = value;
                    } else {
                        entry.password = value;
                    }
                }
            }
            "account" => {
                words.next_word();
            }
            "macdef" => {
                finish(current.take());
                words.skip_macro();
            }
            _ => {}
        }
    }
    finish(current.take());
    found.or(default)
}

/// Splits netrc text into words, knowing that `macdef` runs to the next blank line.
struct NetrcWords<'a> {
    rest: &'a str,
}

impl<'a> NetrcWords<'a> {
    fn new(text: &'a str) -> Self {
        NetrcWords { rest: text }
    }

    fn next_word(&mut self) -> Option<&'a str> {
        loop {
            let trimmed = self.rest.trim_start();
            if let Some(comment) = trimmed.strip_prefix('#') {
                self.rest = comment.split_once('\n').map_or("", |(_, after)| after);
                continue;
            }
            if trimmed.is_empty() {
                self.rest = "";
                return None;
            }
            let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
            self.rest = &trimmed[end..];
            return Some(&trimmed[..end]);
        }
    }

    fn skip_macro(&mut self) {
        self.rest = self.rest.split_once("\n\n").map_or("", |(_, after)| after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETRC: &str = "\
# comment line
machine other.example login o password op
macdef init
cd /tmp
ls

machine files.example
  login alice
  password s3cret
default login guest password gp
";

    #[test]
    fn netrc_entries() {
        let alice = netrc_lookup(NETRC, "FILES.example").unwrap();
        assert_eq!(alice.user, "alice");
        assert_eq!(alice.password.as_deref(), Some("s3cret"));
        let guest = netrc_lookup(NETRC, "unknown").unwrap();
        assert_eq!(guest.user, "guest");
        assert_eq!(netrc_lookup("machine a login b", "c"), None);
    }

    #[test]
    fn precedence() {
        let netrc = Some(NETRC);
        let c = resolve("files.example", Some("bob"), Some("pw"), Some("x:y"), netrc);
        assert_eq!(
            (c.user.as_str(), c.password.as_deref()),
            ("bob", Some("pw"))
        );
        let c = resolve("files.example", Some("alice"), None, None, netrc);
        assert_eq!(c.password.as_deref(), Some("s3cret"));
        let c = resolve("files.example", None, None, Some("carol"), netrc);
        assert_eq!((c.user.as_str(), c.password), ("carol", None));
        let c = resolve("files.example", None, None, None, netrc);
        assert_eq!(c.user, "alice");
        let c = resolve("files.example", None, None, None, None);
        assert_eq!(c, Credentials::anonymous());
        let c = resolve("h", Some("anonymous"), None, None, None);
        assert_eq!(c.password.as_deref(), Some(ANONYMOUS_PASSWORD));
        assert!(!format!("{c:?}").contains(ANONYMOUS_PASSWORD));
    }
}
