//! The accounts a running server knows, with the state that outlives one session: each user's
//! rules (swapped whole on reload), sessions open, quota usage and bandwidth buckets. Every
//! front end signs its users in here, so a cap or a rate holds over all protocols together.
//!
//! A reload replaces the users file and the anonymous setting: new logins see it at once, open
//! sessions get the new rules from their next operation, and the sessions of a user who is gone
//! are told to end ([`Member::removed`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ferry_proto::VirtualPath;
use tokio_util::sync::CancellationToken;

use super::quota::{Limits, Usage};
use super::rate::RateLimit;
use super::rules::{Permissions, Rights};
use crate::auth::{Anonymous, User, UsersFile};

/// The name anonymous sessions share.
pub(crate) const ANONYMOUS: &str = "anonymous";

/// What one account may do, as the users file (or the anonymous setting) says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rules {
    /// The user's root, below the served root.
    pub(crate) home: VirtualPath,
    /// Rights per folder (a read-only account's already cut down).
    pub(crate) permissions: Permissions,
    /// The account may change nothing anywhere.
    pub(crate) read_only: bool,
    pub(crate) quota: Limits,
    /// Sessions at once; 0: no limit.
    pub(crate) max_sessions: u64,
    pub(crate) upload_rate: u64,
    pub(crate) download_rate: u64,
}

impl Rules {
    /// A named user's rules; an error says what in the entry is wrong.
    pub(crate) fn of_user(user: &User) -> Result<Rules, String> {
        Ok(Rules {
            home: user
                .home_path()
                .map_err(|_| "home folder is not a valid path".to_string())?,
            permissions: user.permissions()?,
            read_only: user.read_only,
            quota: Limits {
                bytes: user.quota_bytes,
                files: user.quota_files,
            },
            max_sessions: user.max_sessions,
            upload_rate: user.upload_rate,
            download_rate: user.download_rate,
        })
    }

    /// Anonymous users' rules: the served root, read or write, no limits of their own.
    pub(crate) fn anonymous(access: Anonymous) -> Rules {
        let read_only = access != Anonymous::Write;
        Rules {
            home: VirtualPath::root(),
            permissions: Permissions::uniform(if read_only { Rights::READ } else { Rights::ALL }),
            read_only,
            quota: Limits::default(),
            max_sessions: 0,
            upload_rate: 0,
            download_rate: 0,
        }
    }
}

/// An account's state over all its sessions.
#[derive(Debug)]
pub(crate) struct Member {
    name: String,
    rules: RwLock<Arc<Rules>>,
    sessions: AtomicU64,
    pub(crate) usage: Usage,
    pub(super) upload: Arc<RateLimit>,
    pub(super) download: Arc<RateLimit>,
    removed: CancellationToken,
}

impl Member {
    fn new(name: &str, rules: Rules) -> Member {
        Member {
            name: name.to_string(),
            upload: Arc::new(RateLimit::new(rules.upload_rate)),
            download: Arc::new(RateLimit::new(rules.download_rate)),
            rules: RwLock::new(Arc::new(rules)),
            sessions: AtomicU64::new(0),
            usage: Usage::default(),
            removed: CancellationToken::new(),
        }
    }

    /// The name the user logged in with (`anonymous` for every anonymous name).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The rules as they are now.
    pub(crate) fn rules(&self) -> Arc<Rules> {
        Arc::clone(&self.rules.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub(super) fn limits(&self) -> Limits {
        self.rules().quota
    }

    /// Cancelled when the account is removed: its sessions end.
    pub(crate) fn removed(&self) -> &CancellationToken {
        &self.removed
    }

    fn set_rules(&self, rules: Rules) {
        self.upload.set_rate(rules.upload_rate);
        self.download.set_rate(rules.download_rate);
        let mut current = self.rules.write().unwrap_or_else(|p| p.into_inner());
        if current.home != rules.home {
            self.usage.forget();
        }
        *current = Arc::new(rules);
    }
}

/// One session's place in its account; gives it back when dropped.
#[derive(Debug)]
pub(crate) struct Seat {
    member: Arc<Member>,
}

impl Seat {
    pub(crate) fn member(&self) -> &Arc<Member> {
        &self.member
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.member.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a login cannot take a seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeatRefused {
    /// The account has `max_sessions` open already.
    TooManySessions(u64),
    /// The account is not (or no longer) in the users file.
    Unknown,
}

/// Every account the server knows, and the server-wide bandwidth limits.
#[derive(Debug)]
pub(crate) struct Accounts {
    users: RwLock<Arc<UsersFile>>,
    anonymous: RwLock<Anonymous>,
    members: Mutex<HashMap<String, Arc<Member>>>,
    /// `--max-rate-up`, over every session.
    pub(crate) upload: Arc<RateLimit>,
    /// `--max-rate-down`, over every session.
    pub(crate) download: Arc<RateLimit>,
}

impl Accounts {
    pub(crate) fn new(users: UsersFile, anonymous: Anonymous, up: u64, down: u64) -> Accounts {
        Accounts {
            users: RwLock::new(Arc::new(users)),
            anonymous: RwLock::new(anonymous),
            members: Mutex::default(),
            upload: Arc::new(RateLimit::new(up)),
            download: Arc::new(RateLimit::new(down)),
        }
    }

    /// The named user's entry as the users file has it now.
    pub(crate) fn user(&self, name: &str) -> Option<User> {
        self.users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .users
            .get(name)
            .cloned()
    }

    /// Anonymous access now.
    pub(crate) fn anonymous(&self) -> Anonymous {
        *self.anonymous.read().unwrap_or_else(|p| p.into_inner())
    }

    fn members(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Member>>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rules for `name` now (`ANONYMOUS` for anonymous sessions).
    fn current_rules(&self, name: &str) -> Option<Rules> {
        if name == ANONYMOUS {
            return match self.anonymous() {
                Anonymous::Off => None,
                access => Some(Rules::anonymous(access)),
            };
        }
        // The users file was checked when it was loaded; an entry that fails here is refused.
        self.user(name).and_then(|user| Rules::of_user(&user).ok())
    }

    /// A seat for a session of `name` (who has proved who they are).
    pub(crate) fn seat(&self, name: &str) -> Result<Seat, SeatRefused> {
        let mut members = self.members();
        let member = match members.get(name) {
            Some(member) => Arc::clone(member),
            None => {
                let rules = self.current_rules(name).ok_or(SeatRefused::Unknown)?;
                let member = Arc::new(Member::new(name, rules));
                members.insert(name.to_string(), Arc::clone(&member));
                member
            }
        };
        let limit = member.rules().max_sessions;
        let open = member.sessions.load(Ordering::Relaxed);
        if limit != 0 && open >= limit {
            return Err(SeatRefused::TooManySessions(limit));
        }
        // Under the members lock: two logins cannot both take the last seat.
        member.sessions.fetch_add(1, Ordering::Relaxed);
        Ok(Seat { member })
    }

    /// Takes a new users file and anonymous setting: members get their new rules, and the
    /// sessions of accounts that are gone are told to end. Returns the names removed.
    pub(crate) fn reload(&self, users: UsersFile, anonymous: Anonymous) -> Vec<String> {
        *self.users.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(users);
        *self.anonymous.write().unwrap_or_else(|p| p.into_inner()) = anonymous;
        let mut removed = Vec::new();
        self.members()
            .retain(|name, member| match self.current_rules(name) {
                Some(rules) => {
                    member.set_rules(rules);
                    true
                }
                None => {
                    member.removed.cancel();
                    removed.push(name.clone());
                    false
                }
            });
        removed.sort();
        removed
    }

    /// Sets the server-wide rates.
    pub(crate) fn set_rates(&self, up: u64, down: u64) {
        self.upload.set_rate(up);
        self.download.set_rate(down);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(rows: &[(&str, u64)]) -> UsersFile {
        let mut file = UsersFile::default();
        for (name, max_sessions) in rows {
            file.users.insert(
                name.to_string(),
                User {
                    password: "x".into(),
                    max_sessions: *max_sessions,
                    ..User::default()
                },
            );
        }
        file
    }

    #[test]
    fn max_sessions_counts_every_session_of_the_user() {
        let accounts = Accounts::new(users(&[("alice", 2), ("bob", 0)]), Anonymous::Off, 0, 0);
        let first = accounts.seat("alice").unwrap();
        let second = accounts.seat("alice").unwrap();
        assert_eq!(
            accounts.seat("alice").unwrap_err(),
            SeatRefused::TooManySessions(2)
        );
        drop(first);
        let _third = accounts.seat("alice").unwrap();
        drop(second);
        let _bobs: Vec<Seat> = (0..20).map(|_| accounts.seat("bob").unwrap()).collect();
        assert_eq!(accounts.seat("carol").unwrap_err(), SeatRefused::Unknown);
        assert_eq!(accounts.seat(ANONYMOUS).unwrap_err(), SeatRefused::Unknown);
    }

    #[test]
    fn reload_updates_rules_and_ends_removed_accounts() {
        let accounts = Accounts::new(users(&[("alice", 0), ("bob", 0)]), Anonymous::Read, 0, 0);
        let alice = accounts.seat("alice").unwrap();
        let bob = accounts.seat("bob").unwrap();
        let anonymous = accounts.seat(ANONYMOUS).unwrap();
        assert!(anonymous.member().rules().read_only);
        let removed = accounts.reload(users(&[("alice", 1)]), Anonymous::Write);
        assert_eq!(removed, ["bob"]);
        assert!(bob.member().removed().is_cancelled());
        assert!(!alice.member().removed().is_cancelled());
        assert_eq!(alice.member().rules().max_sessions, 1);
        assert!(!anonymous.member().rules().read_only);
        // alice holds her one seat.
        assert_eq!(
            accounts.seat("alice").unwrap_err(),
            SeatRefused::TooManySessions(1)
        );
        assert_eq!(accounts.seat("bob").unwrap_err(), SeatRefused::Unknown);
        accounts.reload(users(&[("alice", 1)]), Anonymous::Off);
        assert!(anonymous.member().removed().is_cancelled());
    }
}
