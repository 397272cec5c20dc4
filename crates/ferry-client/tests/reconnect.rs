//! The REPL outlives a server's idle timeout: after a pause, the next command finds the
//! connection closed, connects again, returns to the folder it was in, and runs. Drives the
//! library's `Repl` in-process with a scripted input that pauses past ferryd's idle timeout.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use common::{Script, Server};
use ferry_client::progress::ProgressMode;
use ferry_client::repl::{Repl, ReplOptions};

#[test]
fn an_idle_timeout_is_survived_in_the_same_folder() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("sub/only-here.txt"), b"inside sub").unwrap();
    let mut config = ferry_server::Config::for_folder(root.path());
    config.idle_timeout = Duration::from_secs(1);
    let server = Server::with_config(root, config);
    let local = tempfile::tempdir().unwrap();
    let target = local.path().join("copy.txt");

    let runtime = common::runtime();
    let options = ReplOptions {
        progress: Some(ProgressMode::Silent),
        idle_check: Duration::ZERO,
        ..ReplOptions::default()
    };
    let mut repl = Repl::new(runtime.handle().clone(), options, false);
    let mut script = Script {
        lines: VecDeque::from([
            (
                Duration::ZERO,
                format!("CONN 127.0.0.1:{}", server.addr.port()),
            ),
            (Duration::ZERO, "cd sub".to_string()),
            // Well past the server's one-second idle timeout: it has said 421 and closed.
            (
                Duration::from_secs(3),
                format!("get only-here.txt \"{}\"", target.display()),
            ),
            (Duration::ZERO, "QUIT".to_string()),
        ]),
    };
    assert_eq!(repl.run(&mut script, None), 0);
    assert_eq!(std::fs::read(&target).unwrap(), b"inside sub");
}
