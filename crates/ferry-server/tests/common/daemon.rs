//! The real `ferryd` binary in the background, its log in a file: for tests that read what an
//! operator would read (log lines, the transfer log, the metrics endpoint).

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::FERRYD;

/// A running `ferryd`; killed (and waited for) on drop.
pub struct Daemon {
    pub child: Child,
    /// The FTP listener, when one was asked for.
    pub ftp: Option<SocketAddr>,
    /// The SFTP listener, when one was asked for.
    pub sftp: Option<SocketAddr>,
    /// The metrics endpoint, when `--metrics-bind` was given.
    pub metrics: Option<SocketAddr>,
    /// The plain HTTP listener, when `--http-bind` was given.
    pub http: Option<SocketAddr>,
    /// Where its standard error (the log) goes.
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `ferryd ARGS` with `envs`, logging to `log`, and waits for its "Listening on"
    /// lines (one per bind flag among the arguments).
    pub fn start(args: &[&str], envs: &[(&str, &str)], log: &Path) -> Daemon {
        Daemon::start_under(&[], args, envs, log)
    }

    /// As [`Daemon::start`], with ferryd run by the command `wrapper` (e.g. `setpriv` with
    /// another user's ids) when it is not empty.
    pub fn start_under(
        wrapper: &[&str],
        args: &[&str],
        envs: &[(&str, &str)],
        log: &Path,
    ) -> Daemon {
        let listeners = args
            .iter()
            .filter(|a| {
                matches!(
                    **a,
                    "--bind" | "--sftp-bind" | "--metrics-bind" | "--http-bind"
                )
            })
            .count()
            .max(1);
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(FERRYD);
                command
            }
            None => Command::new(FERRYD),
        };
        let mut child = command
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let mut daemon = Daemon {
            child,
            ftp: None,
            sftp: None,
            metrics: None,
            http: None,
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = 0;
        while seen < listeners {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("ferryd did not listen: {}", daemon.log_text());
            });
            if let Some(rest) = line.trim().strip_prefix("Listening on ftp://") {
                daemon.ftp = Some(rest.parse().unwrap());
                seen += 1;
            } else if let Some(rest) = line.trim().strip_prefix("Listening on sftp://") {
                daemon.sftp = Some(rest.parse().unwrap());
                seen += 1;
            } else if let Some(rest) = line.trim().strip_prefix("Listening on http://") {
                daemon.http = Some(rest.trim_end_matches('/').parse().unwrap());
                seen += 1;
            } else if let Some(rest) = line.trim().strip_prefix("Metrics on http://") {
                let addr = rest.split('/').next().unwrap();
                daemon.metrics = Some(addr.parse().unwrap());
                seen += 1;
            }
        }
        daemon
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until a log line contains every one of `needles`; returns that line.
    pub fn wait_for_log(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.log_text();
            if let Some(line) = text
                .lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
            {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?} in:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGHUP (reload, reopen the transfer log).
    pub fn hangup(&self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
