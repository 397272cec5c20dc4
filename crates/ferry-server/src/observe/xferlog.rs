//! The transfer log in wu-ftpd's xferlog format, one line per completed or failed file
//! transfer of any protocol, which log analysers (webalizer, AWStats, fail2ban filters, ...)
//! read:
//!
//! ```text
//! Sun Dec  6 01:46:06 2026 1 127.0.0.1 5000 /a.txt b _ i r alice ftp 0 * c
//! ```
//!
//! current time (UTC), seconds taken, client address, bytes, file name (whitespace and
//! control characters as `_`), type (`b`; ASCII conversions are not told apart), special
//! action (`_`), direction (`o` out, `i` in), access mode (`a` anonymous, `r` real user), user,
//! service (`ftp`, `sftp`: the protocol), authentication method (`0`), authenticated user id
//! (`*`), completion (`c` complete, `i` incomplete).
//!
//! Each line is one write(2) to a file opened for appending, from the task that ends the
//! transfer (as log lines are); SIGHUP reopens the file, for logrotate.
//!
//! This module does NOT decide when a transfer ended (the front ends report it to the file
//! service).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::service::{Client, Direction, Transferred};

/// The open transfer log.
#[derive(Debug)]
pub(crate) struct XferLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl XferLog {
    /// Opens (creates, appends to) `path`.
    pub(crate) fn open(path: &Path) -> std::io::Result<XferLog> {
        let file = open_append(path)?;
        Ok(XferLog {
            path: path.to_path_buf(),
            file: Mutex::new(Some(file)),
        })
    }

    /// Opens the file again (after logrotate moved it); on failure, lines are dropped with a
    /// WARN until the next reopen.
    pub(crate) fn reopen(&self) {
        let opened = match open_append(&self.path) {
            Ok(file) => Some(file),
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "transfer log not reopened");
                None
            }
        };
        if let Ok(mut file) = self.file.lock() {
            *file = opened;
        }
    }

    /// Writes the line of `transfer` by `user` of `client`.
    pub(crate) fn write(
        &self,
        user: &str,
        anonymous: bool,
        client: Client,
        transfer: &Transferred<'_>,
    ) {
        let line = line(
            std::time::SystemTime::now(),
            user,
            anonymous,
            client,
            transfer,
        );
        let Ok(mut file) = self.file.lock() else {
            return;
        };
        if let Some(open) = file.as_mut()
            && let Err(error) = open.write_all(line.as_bytes())
        {
            tracing::warn!(path = %self.path.display(), %error, "transfer log not written");
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    File::options().create(true).append(true).open(path)
}

/// A field with whitespace and control characters as `_` (fields are separated by spaces);
/// `-` when empty.
fn field(text: &str) -> String {
    if text.is_empty() {
        return "-".into();
    }
    text.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The xferlog line of `transfer`, ended at `now`.
fn line(
    now: std::time::SystemTime,
    user: &str,
    anonymous: bool,
    client: Client,
    transfer: &Transferred<'_>,
) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let direction = match transfer.direction {
        Direction::Up => 'i',
        Direction::Down => 'o',
    };
    format!(
        "{} {} {} {} {} b _ {direction} {} {} {} 0 * {}\n",
        ctime(secs),
        transfer.seconds.ceil() as u64,
        client.peer.ip().to_canonical(),
        transfer.bytes,
        field(transfer.path),
        if anonymous { 'a' } else { 'r' },
        field(user),
        client.protocol.name(),
        if transfer.failure.is_none() { 'c' } else { 'i' },
    )
}

/// `secs` since the epoch as ctime(3) writes it in UTC: `Sun Dec  6 01:46:06 2026`.
fn ctime(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {year}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// (year, month 1-12, day 1-31) of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Protocol;

    #[test]
    fn dates_as_ctime_writes_them() {
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        // date -u -d @1796521566
        assert_eq!(ctime(1_796_521_566), "Sun Dec  6 01:46:06 2026");
        assert_eq!(ctime(951_782_400), "Tue Feb 29 00:00:00 2000");
    }

    #[test]
    fn a_line_per_transfer() {
        let client = Client {
            protocol: Protocol::Sftp,
            peer: "[::ffff:10.1.2.3]:4000"
                .parse()
                .unwrap_or(([0, 0, 0, 0], 0).into()),
        };
        let transfer = Transferred {
            direction: Direction::Up,
            path: "/in box/a\nb.txt",
            bytes: 12,
            seconds: 0.2,
            failure: Some("cut"),
        };
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_521_566);
        assert_eq!(
            line(now, "bob smith", false, client, &transfer),
            "Sun Dec  6 01:46:06 2026 1 10.1.2.3 12 /in_box/a_b.txt b _ i r bob_smith sftp 0 * i\n"
        );
    }
}
