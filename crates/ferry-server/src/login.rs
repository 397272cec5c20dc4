//! Password logins for every front end: one turn at a time per client address, the ban, the
//! Argon2id queue, the doubling delay after a failure and the seat in the account. FTP's PASS
//! and SSH's password method both come here, so failures from either count toward one ban.
//!
//! This module does NOT speak a protocol: the caller turns the outcome into its reply and logs
//! the line it wants.

use std::sync::Arc;
use std::time::Instant;

use crate::Shared;
use crate::auth::{self, Anonymous};
use crate::limits;
use crate::observe::events::{Event, EventKind};
use crate::service::accounts::ANONYMOUS;
use crate::service::{Client, FileService, SeatRefused};

/// Why a login did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Wrong name or password (the failure delay has been waited already).
    Incorrect,
    /// The address was banned before this attempt.
    Banned,
    /// This failure got the address banned.
    BannedNow,
    /// The account has `max_sessions` open already.
    TooManySessions(u64),
}

/// Checks `password` for `name` from `client`; on success, the account's files, with its seat
/// taken.
pub(crate) async fn password(
    shared: &Arc<Shared>,
    client: Client,
    name: &[u8],
    password: &[u8],
) -> Result<Arc<FileService>, Refused> {
    let ip = client.peer.ip().to_canonical();
    // One password check at a time per client IP, across all its sessions, so that a guesser
    // with many connections meets the delay and the ban like one with a single connection;
    // the ban is checked again once it is this attempt's turn.
    let _turn = shared.logins.turn(ip).await;
    if shared.logins.is_banned(ip, Instant::now()) {
        shared.observer.login(client, "refused");
        return Err(Refused::Banned);
    }
    let Some(account) = authenticate(shared, ip, name, password).await else {
        let user = String::from_utf8_lossy(name);
        shared.observer.login(client, "failed");
        shared
            .observer
            .emit(Event::new(EventKind::LoginFailed, &user, client));
        return Err(match shared.logins.failed(ip, Instant::now()) {
            limits::Verdict::Delay(delay) => {
                tokio::time::sleep(delay).await;
                Refused::Incorrect
            }
            limits::Verdict::Banned => {
                shared
                    .observer
                    .emit(Event::new(EventKind::Ban, &user, client));
                Refused::BannedNow
            }
        });
    };
    if !auth::is_anonymous_name(name) {
        shared.logins.succeeded(ip);
    }
    sit_down(shared, client, &account).await
}

/// Takes a seat in `account` (proved by a password or a key) and opens its files.
async fn sit_down(
    shared: &Arc<Shared>,
    client: Client,
    account: &str,
) -> Result<Arc<FileService>, Refused> {
    let seat = match shared.accounts.seat(account) {
        Ok(seat) => seat,
        Err(SeatRefused::TooManySessions(limit)) => {
            shared.observer.login(client, "refused");
            return Err(Refused::TooManySessions(limit));
        }
        // Removed by a reload while the login was checked.
        Err(SeatRefused::Unknown) => {
            shared.observer.login(client, "refused");
            return Err(Refused::Incorrect);
        }
    };
    let files = FileService::new(
        seat,
        Arc::clone(&shared.accounts),
        shared.storage.clone(),
        client,
        Arc::clone(&shared.observer),
        shared.digests.clone(),
    );
    files.prepare().await;
    shared.observer.login(client, "ok");
    shared
        .observer
        .emit(Event::new(EventKind::Login, files.name(), client));
    Ok(files)
}

/// A public-key login of `name` from `client` (the SSH layer has checked the signature): on
/// success, the account's files, with its seat taken. A key that is not the user's is refused
/// without counting as a failed login (clients offer every key they have, one after another).
pub(crate) async fn public_key(
    shared: &Arc<Shared>,
    client: Client,
    name: &str,
    key: &russh::keys::PublicKey,
) -> Result<Arc<FileService>, Refused> {
    let ip = client.peer.ip().to_canonical();
    if shared.logins.is_banned(ip, Instant::now()) {
        return Err(Refused::Banned);
    }
    if !has_key(shared, name, key) {
        return Err(Refused::Incorrect);
    }
    sit_down(shared, client, name).await
}

/// True when `key` is one of `name`'s keys in the users file.
pub(crate) fn has_key(shared: &Shared, name: &str, key: &russh::keys::PublicKey) -> bool {
    shared.accounts.user(name).is_some_and(|user| {
        user.public_keys()
            .unwrap_or_default()
            .iter()
            .any(|known| known.key_data() == key.key_data())
    })
}

/// The account `name` and `password` prove, if they do: the user's name, or [`ANONYMOUS`] for
/// an anonymous login.
async fn authenticate(
    shared: &Shared,
    ip: std::net::IpAddr,
    name: &[u8],
    password: &[u8],
) -> Option<String> {
    let accounts = &shared.accounts;
    let name_text = String::from_utf8_lossy(name).into_owned();
    if let Some(user) = accounts.user(&name_text) {
        let cache = &shared.credentials;
        if !cache.contains(&name_text, &user, password) {
            let owned = password.to_vec();
            // Each Argon2id check takes ~19 MiB and a core for a while: a few at a time, or a
            // login storm takes all memory (500 at once measured 9 GB).
            let _permit = check_permit(shared, ip).await?;
            let checked = tokio::task::spawn_blocking(move || user.verify(&owned).then_some(user));
            let user = checked.await.ok().flatten()?;
            cache.insert(&name_text, &user, password);
        }
        return Some(name_text);
    }
    if auth::is_anonymous_name(name) && accounts.anonymous() != Anonymous::Off {
        return Some(ANONYMOUS.to_string());
    }
    // An unknown name costs the same Argon2id check as a known one, so the time a login takes
    // does not tell a guesser which names exist.
    let _permit = check_permit(shared, ip).await?;
    let owned = password.to_vec();
    let _ = tokio::task::spawn_blocking(move || auth::dummy_user().verify(&owned)).await;
    None
}

/// Waits for a password check's turn; an address that failed recently waits in the lane for
/// suspects, so a flood of guesses leaves a core for other addresses.
async fn check_permit(shared: &Shared, ip: std::net::IpAddr) -> Option<limits::CheckPermit<'_>> {
    let suspect = shared.logins.failed_recently(ip, Instant::now());
    shared.hashing.permit(suspect).await
}
