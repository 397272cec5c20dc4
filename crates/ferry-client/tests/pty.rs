//! The REPL as a person sees it: `ferry` on a pseudo-terminal (rustyline line editing), checking
//! the exact greeting and prompt, CONN, the DELF confirmation both ways, tab completion of a
//! command, and QUIT's exit code.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use common::pty::{assert_exited_ok, expect_all, ferry_on_a_terminal, leave};
use common::{BANNER_LINES, Server, assert_file, assert_partial};

#[test]
fn greeting_conn_delf_both_ways_and_quit() {
    let server = Server::start();
    std::fs::write(server.path("keep.txt"), b"keep me").unwrap();
    std::fs::write(server.path("drop.txt"), b"drop me").unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut session = ferry_on_a_terminal(home.path(), &[]);

    expect_all(
        &mut session,
        &[
            "Welcome to the FTP client.",
            "Call one of the following functions:",
        ],
    );
    expect_all(&mut session, &BANNER_LINES);
    session.exp_string("Enter a command: ").unwrap();

    session
        .send_line(&format!("conn 127.0.0.1:{}", server.addr.port()))
        .unwrap();
    expect_all(
        &mut session,
        &[
            "Sending a server request...",
            "Connection successful",
            "Enter a command: ",
        ],
    );

    // No: asked again on a bad answer, then abandoned; the file stays.
    session.send_line("DELF keep.txt").unwrap();
    session
        .exp_string("Are you sure you want to delete keep.txt? (Y/N)")
        .unwrap();
    session.send_line("what").unwrap();
    session
        .exp_string("Are you sure you want to delete keep.txt? (Y/N)")
        .unwrap();
    session.send_line("No").unwrap();
    session.exp_string("Delete abandoned by user!").unwrap();
    session.exp_string("Enter a command: ").unwrap();
    assert!(server.path("keep.txt").exists());

    // Yes: deleted.
    session.send_line("delf drop.txt").unwrap();
    session
        .exp_string("Are you sure you want to delete drop.txt? (Y/N)")
        .unwrap();
    session.send_line("y").unwrap();
    session.exp_string("File successfully deleted").unwrap();
    session.exp_string("Enter a command: ").unwrap();
    assert!(!server.path("drop.txt").exists());

    // Tab completes a command name, then a remote name.
    session.send("LI\t").unwrap();
    session.flush().unwrap();
    session.exp_string("LIST ").unwrap();
    session.send_line("").unwrap();
    session.exp_string("\tkeep.txt - 7b").unwrap();
    session.exp_string("Total directory size: 7b").unwrap();
    session.exp_string("Enter a command: ").unwrap();
    session.send("DWLD ke\t").unwrap();
    session.flush().unwrap();
    session.exp_string("keep.txt").unwrap();
    session.send_line("").unwrap();
    session
        .exp_string("Successfully downloaded keep.txt")
        .unwrap();
    session.exp_string("Enter a command: ").unwrap();
    assert_file(home.path().join("keep.txt"), b"keep me");

    // Line editing: a typo fixed with backspace; the up arrow recalls the last command.
    session.send("lsx\x7f\r").unwrap();
    session.flush().unwrap();
    session.exp_string("Total directory size: 7b").unwrap();
    session.exp_string("Enter a command: ").unwrap();
    session.send("\x1b[A").unwrap();
    session.flush().unwrap();
    session.exp_string("ls").unwrap();
    session.send("\r").unwrap();
    session.flush().unwrap();
    session.exp_string("Total directory size: 7b").unwrap();
    session.exp_string("Enter a command: ").unwrap();

    leave(&mut session, "QUIT");
    let history = std::fs::read_to_string(home.path().join(".ferry_history")).unwrap();
    assert!(history.contains("DELF keep.txt\n"), "{history}");
    assert_exited_ok(&session);
}

#[test]
fn password_prompt_does_not_echo() {
    let server = Server::with_users(&[("carol", "hunter2")]);
    std::fs::write(server.path("mine.txt"), b"private").unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut session = ferry_on_a_terminal(home.path(), &[]);
    session.exp_string("Enter a command: ").unwrap();
    session
        .send_line(&format!("CONN 127.0.0.1:{} carol", server.addr.port()))
        .unwrap();
    session.exp_string("Sending a server request...").unwrap();
    session.exp_string("Password for carol: ").unwrap();
    session.send_line("hunter2").unwrap();
    let shown = session.exp_string("Connection successful").unwrap();
    assert!(!shown.contains("hunter2"), "{shown:?}");
    session.exp_string("Enter a command: ").unwrap();
    session.send_line("ls").unwrap();
    expect_all(&mut session, &["\tmine.txt - 7b", "Enter a command: "]);
    leave(&mut session, "exit");
}

#[test]
fn ctrl_c_abandons_a_stalled_download_and_the_shell_goes_on() {
    let fake = common::cutting_server_with(1000, b"abc".to_vec(), common::Cut::Stall);
    let home = tempfile::tempdir().unwrap();
    let mut session = ferry_on_a_terminal(home.path(), &[]);
    session.exp_string("Enter a command: ").unwrap();
    session.send_line(&format!("CONN {}", fake.addr)).unwrap();
    expect_all(
        &mut session,
        &["Connection successful", "Enter a command: "],
    );
    session.send_line("DWLD slow.bin").unwrap();
    // The partial file appears once the first bytes arrived: then interrupt.
    let partial = home.path().join(".slow.bin.ferry-part");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::fs::metadata(&partial).map_or(true, |m| m.len() < 3) {
        assert!(std::time::Instant::now() < deadline, "no bytes arrived");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The progress bar: name, bytes of the total, rate and ETA.
    session
        .exp_regex(r"slow\.bin \[[^\]]*\] 3 B/1000 B [0-9.]+ [KMG]?i?B/s ETA")
        .unwrap();
    session.send_control('c').unwrap();
    session.exp_string("Error: interrupted").unwrap();
    // The fake takes one connection only, so the automatic reconnect is refused.
    session.exp_string("Cannot reconnect: ").unwrap();
    session
        .exp_string("The partial download is kept as .slow.bin.ferry-part")
        .unwrap();
    session.exp_string("Enter a command: ").unwrap();
    leave(&mut session, "QUIT");
    assert_partial(home.path(), "slow.bin", b"abc");
    drop(fake.commands());
}

#[test]
fn one_shot_commands_prompt_for_a_missing_password_on_a_terminal() {
    let server = Server::with_users(&[("dave", "s3cret")]);
    std::fs::write(server.path("report.txt"), b"numbers").unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = server.url("report.txt");
    let mut session = ferry_on_a_terminal(home.path(), &["--user", "dave", "get", &url]);
    session.exp_string("Password for dave: ").unwrap();
    session.send_line("s3cret").unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(!rest.contains("s3cret"), "{rest:?}");
    assert_exited_ok(&session);
    assert_file(home.path().join("report.txt"), b"numbers");
}
