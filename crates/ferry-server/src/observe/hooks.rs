//! Hooks: a command run, or a URL posted to, for each event of the kinds a `[[hooks]]` entry
//! of the config file names. A command gets the event as JSON on its standard input and as
//! `FERRY_*` environment variables, and `{path}`-style placeholders in its arguments; a URL
//! gets the JSON as a POST, tried again with a doubling pause when it fails.
//!
//! Hooks run beside transfers, never in their way: each hook takes its events from its own
//! bounded queue ([`super::events`]), [`super::events::LANES`] at a time (one per lane, so a
//! session's events run in order), and a hook that outlives its timeout is killed (a command)
//! or given up (a URL). Events that find the queue full are dropped with a WARN and a count.
//!
//! This module does NOT decide which events happen (the file service and the login do). URLs
//! are plain `http://` (a hook receiver is normally on the same host or network; TLS would
//! bring an HTTP client stack for a loopback POST).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::events::{Event, EventKind, Events, QUEUE};

/// Seconds a hook may run when its entry names no `timeout`.
pub const DEFAULT_TIMEOUT: u64 = 30;
/// Attempts at posting an event to a URL hook, the first included.
const URL_ATTEMPTS: u32 = 4;
/// The pause before the second attempt; it doubles before each further one.
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// The most of a URL's response read (its status line is all that counts).
const RESPONSE_LIMIT: usize = 8192;

/// One `[[hooks]]` entry of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// The events that run it.
    pub events: Vec<EventKind>,
    /// A program and its arguments (no shell); `{event}`, `{user}`, `{protocol}`, `{path}`,
    /// `{target}`, `{size}` and `{client}` in them are replaced by the event's fields.
    pub command: Option<Vec<String>>,
    /// `http://HOST[:PORT]/PATH` to POST the event to as JSON.
    pub url: Option<String>,
    /// Seconds one run (or one POST attempt) may take.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT
}

impl HookConfig {
    /// Checks the entry: exactly one of `command` and `url`, a URL we can post to, a timeout.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.command, &self.url) {
            (Some(command), None) if command.is_empty() => Err("a hook's command is empty".into()),
            (Some(_), None) => Ok(()),
            (None, Some(url)) => Target::parse(url).map(drop),
            _ => Err("a hook needs either command or url".into()),
        }?;
        if self.events.is_empty() {
            return Err("a hook needs at least one event".into());
        }
        if self.timeout == 0 {
            return Err("a hook's timeout must be at least 1 second".into());
        }
        Ok(())
    }

    /// What the log calls it.
    fn name(&self) -> String {
        match (&self.command, &self.url) {
            (Some(command), _) => command.first().cloned().unwrap_or_default(),
            (None, Some(url)) => url.clone(),
            (None, None) => String::new(),
        }
    }
}

/// Subscribes every hook of `hooks` to `events` and starts its tasks on the current runtime;
/// they end when `events` is dropped.
pub(crate) fn start(hooks: &[HookConfig], events: &mut Events) {
    for hook in hooks {
        let hook = Arc::new(hook.clone());
        for lane in events.subscribe(&hook.name(), &hook.events, QUEUE) {
            tokio::spawn(run_lane(Arc::clone(&hook), lane));
        }
    }
}

/// Runs `hook` for each event of one lane, one after another.
async fn run_lane(hook: Arc<HookConfig>, mut lane: mpsc::Receiver<Arc<Event>>) {
    while let Some(event) = lane.recv().await {
        let json = match serde_json::to_vec(&*event) {
            Ok(json) => json,
            Err(error) => {
                tracing::warn!(%error, "event not encoded");
                continue;
            }
        };
        let limit = Duration::from_secs(hook.timeout);
        let outcome = match (&hook.command, &hook.url) {
            (Some(command), _) => run_command(command, &event, &json, limit).await,
            (None, Some(url)) => post(url, &json, limit).await,
            (None, None) => Ok(()),
        };
        if let Err(error) = outcome {
            tracing::warn!(
                hook = hook.name(),
                event = event.event.name(),
                user = event.user,
                %error,
                "hook failed"
            );
        }
    }
}

/// `argument` with the event's placeholders replaced.
fn expand(argument: &str, event: &Event) -> String {
    let fields = fields(event);
    let mut out = argument.to_string();
    for (name, value) in &fields {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The event's fields by name, as placeholders and `FERRY_*` variables give them.
fn fields(event: &Event) -> [(&'static str, String); 8] {
    [
        ("event", event.event.name().to_string()),
        ("time", event.time.to_string()),
        ("user", event.user.clone()),
        ("protocol", event.protocol.name().to_string()),
        ("client", event.client.to_string()),
        ("path", event.path.clone().unwrap_or_default()),
        ("target", event.target.clone().unwrap_or_default()),
        (
            "size",
            event.size.map(|s| s.to_string()).unwrap_or_default(),
        ),
    ]
}

/// Runs `command` for `event`: the JSON on its standard input, the fields in its environment;
/// killed when it runs past `limit`. Its output is discarded.
async fn run_command(
    command: &[String],
    event: &Event,
    json: &[u8],
    limit: Duration,
) -> Result<(), String> {
    let Some((program, arguments)) = command.split_first() else {
        return Err("empty command".into());
    };
    let mut process = tokio::process::Command::new(program);
    process
        .args(arguments.iter().map(|a| expand(a, event)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for (name, value) in fields(event) {
        process.env(format!("FERRY_{}", name.to_ascii_uppercase()), value);
    }
    let mut child = process.spawn().map_err(|e| format!("{program}: {e}"))?;
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input is fine.
            let _ = stdin.write_all(json).await;
            let _ = stdin.write_all(b"\n").await;
        }
        child.wait().await
    };
    match tokio::time::timeout(limit, run).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{program} exited with {status}")),
        Ok(Err(error)) => Err(format!("{program}: {error}")),
        // Dropping the child kills it (kill_on_drop).
        Err(_) => Err(format!("{program} ran past {} s; killed", limit.as_secs())),
    }
}

/// Where a URL hook posts: `http://HOST[:PORT]/PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: a hook URL must start with http://"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        let (host, port) = match authority.strip_prefix('[') {
            // An IPv6 address: [ADDR] or [ADDR]:PORT.
            Some(inner) => {
                let (host, after) = inner
                    .split_once(']')
                    .ok_or_else(|| format!("{url}: bad address"))?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| format!("{url}: bad port"))?,
            None => 80,
        };
        if host.is_empty() || path.chars().any(|c| c.is_control() || c == ' ') {
            return Err(format!("{url}: not a URL a hook can post to"));
        }
        Ok(Target {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

/// Posts `json` to `url`, trying again with a doubling pause until a 2xx answer or
/// [`URL_ATTEMPTS`] attempts, each bounded by `limit`.
async fn post(url: &str, json: &[u8], limit: Duration) -> Result<(), String> {
    let target = Target::parse(url)?;
    let mut pause = FIRST_RETRY;
    let mut last = String::new();
    for attempt in 1..=URL_ATTEMPTS {
        match tokio::time::timeout(limit, post_once(&target, json)).await {
            Ok(Ok(status)) if (200..300).contains(&status) => return Ok(()),
            Ok(Ok(status)) => last = format!("HTTP {status}"),
            Ok(Err(error)) => last = error.to_string(),
            Err(_) => last = format!("no answer within {} s", limit.as_secs()),
        }
        if attempt < URL_ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    Err(format!("{url}: {last} (after {URL_ATTEMPTS} attempts)"))
}

/// One HTTP/1.1 POST; the response's status code.
async fn post_once(target: &Target, json: &[u8]) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
    let host = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ferryd\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        target.path,
        json.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(json).await?;
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    // The status line is enough; read until it is complete (or the peer closes).
    while !response.contains(&b'\n') && response.len() < RESPONSE_LIMIT {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&response);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::service::{Client, Protocol};

    #[test]
    fn urls() {
        let target = Target::parse("http://127.0.0.1:9000/ferry").unwrap();
        assert_eq!(
            (target.host.as_str(), target.port, target.path.as_str()),
            ("127.0.0.1", 9000, "/ferry")
        );
        let target = Target::parse("http://hooks.example").unwrap();
        assert_eq!((target.port, target.path.as_str()), (80, "/"));
        let target = Target::parse("http://[::1]:81/x").unwrap();
        assert_eq!((target.host.as_str(), target.port), ("::1", 81));
        assert!(Target::parse("https://a/").is_err());
        assert!(Target::parse("http://a:b/").is_err());
        assert!(Target::parse("http://a/x y").is_err());
    }

    #[test]
    fn config_entries() {
        #[derive(Deserialize)]
        struct File {
            hooks: Vec<HookConfig>,
        }
        let file: File = toml::from_str(
            "[[hooks]]\nevents = [\"upload\", \"delete\"]\ncommand = [\"/bin/scan\", \"{path}\"]\n\
             timeout = 5\n[[hooks]]\nevents = [\"login-failed\"]\nurl = \"http://127.0.0.1:9/\"\n",
        )
        .unwrap();
        assert_eq!(file.hooks[0].events, [EventKind::Upload, EventKind::Delete]);
        assert_eq!(file.hooks[0].timeout, 5);
        assert_eq!(file.hooks[1].timeout, DEFAULT_TIMEOUT);
        assert!(file.hooks.iter().all(|h| h.validate().is_ok()));
        let both = HookConfig {
            url: Some("http://a/".into()),
            ..file.hooks[0].clone()
        };
        assert!(both.validate().is_err());
        assert!(
            toml::from_str::<File>("[[hooks]]\nevents = [\"upload\"]\nscript = \"x\"").is_err()
        );
        assert!(toml::from_str::<File>("[[hooks]]\nevents = [\"uploads\"]\nurl = \"x\"").is_err());
    }

    #[test]
    fn placeholders() {
        let client = Client {
            protocol: Protocol::Sftp,
            peer: ([10, 0, 0, 1], 2222).into(),
        };
        let event = Event::new(EventKind::Rename, "bob", client)
            .path("/a")
            .target("/b");
        assert_eq!(expand("{user}:{path}->{target}", &event), "bob:/a->/b");
        assert_eq!(
            expand("{protocol} {client} {size}", &event),
            "sftp 10.0.0.1:2222 "
        );
    }
}
