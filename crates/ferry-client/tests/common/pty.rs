//! `ferry` on a pseudo-terminal (rexpect), for the tests of what a person at a terminal sees.

use std::path::Path;
use std::process::Command;

use rexpect::process::wait::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

/// `ferry ARGS` on a terminal (TERM=xterm) in `home`, which is also its HOME; every wait for
/// output is bounded by 20 seconds.
pub fn ferry_on_a_terminal(home: &Path, args: &[&str]) -> PtySession {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .current_dir(home)
        .env("HOME", home)
        .env("TERM", "xterm")
        .args(args);
    spawn_command(command, Some(20_000)).unwrap()
}

/// Waits for each of `texts`, in order.
pub fn expect_all(session: &mut PtySession, texts: &[&str]) {
    for text in texts {
        session.exp_string(text).unwrap();
    }
}

/// Leaves the shell with `command` (QUIT, exit): it says goodbye and the terminal closes.
pub fn leave(session: &mut PtySession, command: &str) {
    session.send_line(command).unwrap();
    session.exp_string("Server connection ended").unwrap();
    session.exp_eof().unwrap();
}

/// The process has ended with exit code 0.
pub fn assert_exited_ok(session: &PtySession) {
    assert_eq!(
        session.process().wait().unwrap(),
        WaitStatus::Exited(session.process().child_pid, 0)
    );
}
