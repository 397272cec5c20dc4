//! `--retry N`: after a dropped connection (or a server that is not there yet), wait, reconnect
//! and go on with the same file from where it stopped: a download continues its partial file
//! with REST (SFTP: at its offset), an upload asks the remote size and sends the rest (REST +
//! STOR, or APPE). Never from zero.
//!
//! Waits double from one second (1, 2, 4, 8 ... at most 30 s). Only failures of the connection
//! are retried: a server's refusal (550 no such file, 530 login, 552 full) is final, except the
//! ones that say "try again" (421, 425, 426, 450, 451).

use std::time::Duration;

use ferry_proto::ReplyCode;

use crate::ClientError;

/// How often to try again, and how long to wait between tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries after the first (0: none).
    pub attempts: u32,
    /// The first wait; each later one doubles.
    pub first_wait: Duration,
    /// The longest wait.
    pub max_wait: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry::times(0)
    }
}

impl Retry {
    /// `attempts` more tries, waiting 1, 2, 4 ... at most 30 s between them.
    pub fn times(attempts: u32) -> Retry {
        Retry {
            attempts,
            first_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
        }
    }

    /// The wait before try number `failures + 1` (after `failures` failures, at least one).
    pub fn wait(&self, failures: u32) -> Duration {
        let doubled = self
            .first_wait
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        doubled.min(self.max_wait)
    }
}

/// True for a failure that another connection may not have: the connection dropped, timed
/// out or could not be made, the transfer was cut, or the server said to try again.
pub fn is_transient(error: &ClientError) -> bool {
    match error {
        ClientError::Connect { .. }
        | ClientError::Network { .. }
        | ClientError::Closed
        | ClientError::Timeout(_) => true,
        ClientError::Protocol(text) => text.starts_with("transfer incomplete"),
        ClientError::Server { reply, .. } => matches!(
            reply.code,
            ReplyCode(421) | ReplyCode(425) | ReplyCode(426) | ReplyCode(450) | ReplyCode(451)
        ),
        ClientError::Sftp { code, .. } => {
            *code == ferry_proto::sftp::StatusCode::NO_CONNECTION
                || *code == ferry_proto::sftp::StatusCode::CONNECTION_LOST
        }
        _ => false,
    }
}

/// Runs `work` on `connection` (opened with `open` when there is none), and after a transient
/// failure waits, drops the connection, opens a new one and runs `work` again with `again`
/// set (so it resumes), up to `retry.attempts` times. `note` hears one line a retry.
pub(crate) async fn retrying<C, T>(
    retry: Retry,
    connection: &mut Option<C>,
    mut open: impl AsyncFnMut() -> Result<C, ClientError>,
    mut work: impl AsyncFnMut(&mut C, bool) -> Result<T, ClientError>,
    mut note: impl FnMut(&str),
) -> Result<T, ClientError> {
    let mut failures = 0;
    loop {
        let again = failures > 0;
        let result = match connection.as_mut() {
            Some(open) => work(open, again).await,
            None => match open().await {
                Ok(opened) => work(connection.insert(opened), again).await,
                Err(error) => Err(error),
            },
        };
        match result {
            Err(error) if failures < retry.attempts && is_transient(&error) => {
                failures += 1;
                let wait = retry.wait(failures);
                note(&format!(
                    "{error}; trying again in {}s ({failures} of {})",
                    wait.as_secs_f32(),
                    retry.attempts
                ));
                *connection = None;
                tokio::time::sleep(wait).await;
            }
            result => return result,
        }
    }
}

/// After failure number `failures` of a try (`error`): whether to try again, having told
/// `note` and waited. For loops that cannot use [`retrying`] (a mirror's, whose connection stays
/// in place and whose tasks must be `Send`).
pub(crate) async fn wait_to_retry(
    retry: Retry,
    failures: u32,
    error: &ClientError,
    note: impl FnOnce(&str),
) -> bool {
    if failures > retry.attempts || !is_transient(error) {
        return false;
    }
    let wait = retry.wait(failures);
    note(&format!(
        "{error}; trying again in {}s ({failures} of {})",
        wait.as_secs_f32(),
        retry.attempts
    ));
    tokio::time::sleep(wait).await;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let retry = Retry::times(10);
        let secs: Vec<u64> = (1..=7).map(|n| retry.wait(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(retry.wait(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn which_failures_are_worth_another_try() {
        let refusal = |code| ClientError::Server {
            command: "RETR x".into(),
            reply: ferry_proto::Reply::new(ReplyCode(code), "no"),
        };
        assert!(is_transient(&ClientError::Closed));
        assert!(is_transient(&refusal(426)) && is_transient(&refusal(421)));
        assert!(!is_transient(&refusal(550)) && !is_transient(&refusal(552)));
        assert!(!is_transient(&ClientError::Usage("bad".into())));
    }

    #[test]
    fn a_dropped_connection_is_opened_again_and_the_work_resumes() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|error| panic!("{error}"));
        let retry = Retry {
            first_wait: Duration::from_millis(1),
            ..Retry::times(3)
        };
        let mut opened = 0;
        let mut calls = Vec::new();
        let mut notes = 0;
        let mut connection: Option<u32> = Some(0);
        let result = runtime.block_on(retrying(
            retry,
            &mut connection,
            async || {
                opened += 1;
                if opened == 1 {
                    Err(ClientError::Timeout("connecting".into()))
                } else {
                    Ok(opened)
                }
            },
            async |connection: &mut u32, again| {
                calls.push((*connection, again));
                if calls.len() == 1 {
                    Err(ClientError::Closed)
                } else {
                    Ok("done")
                }
            },
            |_| notes += 1,
        ));
        assert_eq!(result.ok(), Some("done"));
        // The first work failed, the first reopen failed, the second made connection 2.
        assert_eq!(calls, [(0, false), (2, true)]);
        assert_eq!(notes, 2);
        assert_eq!(connection, Some(2));
    }
}
