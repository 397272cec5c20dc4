//! Other programs in tests: finding them (a missing one fails, never skips) and running them
//! within a time limit.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Whether this is a CI run (`CI=true`, as `scripts/test` sets), where a missing tool is the
/// set-up's fault rather than the developer's machine's.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Finds `name` on PATH, or fails the test saying which Debian `package` to install (under
/// `CI=true`, that `scripts/test` must install it).
pub fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for folder in std::env::split_paths(&path) {
        let candidate = folder.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    if on_ci() {
        panic!(
            "`{name}` is not installed and CI=true: scripts/test must install it \
             (`apt-get install {package}`)"
        );
    }
    panic!(
        "`{name}` is not installed: the tests need it (`apt-get install {package}`), or run \
         scripts/test, which installs it"
    );
}

/// Waits for `child` and collects its output (from the pipes it has); kills it and fails the
/// test if it has not ended after `limit`.
pub fn wait_bounded(child: Child, limit: Duration) -> Output {
    let what = format!("process {}", child.id());
    wait(child, limit, &what)
}

/// [`wait_bounded`], naming the child `what` in its failures.
fn wait(mut child: Child, limit: Duration, what: &str) -> Output {
    // Read on threads, so a chatty child never blocks on a full pipe while we poll.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                // Its pipes are not read to the end: a process it started may hold them open.
                panic!("{what} did not finish within {limit:?} (killed)");
            }
            Err(error) => panic!("waiting for {what}: {error}"),
        }
    };
    Output {
        status,
        stdout: stdout.map(collect).unwrap_or_default(),
        stderr: stderr.map(collect).unwrap_or_default(),
    }
}

/// Everything `pipe` yields, read on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn collect(reader: std::thread::JoinHandle<Vec<u8>>) -> Vec<u8> {
    reader.join().unwrap_or_default()
}

/// Runs `command` with stdin closed and its output captured, as [`wait_bounded`]: failing the
/// test if it cannot start or has not ended after `limit`; returns its output whatever its exit
/// code.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Output {
    let shown = format!("{command:?}");
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {shown}: {error}"));
    wait(child, limit, &shown)
}

/// The async [`run_bounded`], for tests on a tokio runtime: runs `command` with stdin closed,
/// killing it and failing the test after `limit`; returns its output whatever its exit code.
pub async fn run(command: &mut tokio::process::Command, limit: Duration) -> Output {
    let shown = format!("{command:?}");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(error) => panic!("cannot start {shown}: {error}"),
    };
    let started = Instant::now();
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => panic!("waiting for {shown} failed: {error}"),
        Err(_) => panic!(
            "{shown} did not finish within {:?} (killed after {:?})",
            limit,
            started.elapsed()
        ),
    }
}

/// Runs `command` with `input` on its stdin (then closed) and its output captured, as
/// [`run_bounded`] does.
pub fn run_with_input(command: &mut Command, input: &[u8], limit: Duration) -> Output {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {shown}: {error}"));
    if let Some(mut stdin) = child.stdin.take() {
        // A child that exits without reading leaves a broken pipe: its output says why.
        let _ = std::io::Write::write_all(&mut stdin, input);
    }
    wait(child, limit, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_returns_output_and_status() {
        let output = run_bounded(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(20),
        );
        assert_eq!(output.status.code(), Some(3));
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
    }

    #[test]
    #[should_panic(expected = "did not finish within")]
    fn a_hung_run_fails() {
        run_bounded(Command::new("sleep").arg("30"), Duration::from_millis(200));
    }
}
