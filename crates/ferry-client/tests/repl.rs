//! The REPL as a script drives it: `ferry` with commands piped to stdin, against an in-process
//! ferryd. Asserts the exact texts, the exit code and the bytes of the files that moved.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use common::{Server, assert_file, assert_partial, banner, run_script, stdout};

const PROMPT: &str = "Enter a command: ";

#[test]
fn greeting_unknown_command_not_connected_and_quit() {
    let home = tempfile::tempdir().unwrap();
    let output = run_script(
        home.path(),
        home.path(),
        &[],
        "frobnicate\nLIST\ndwld x\nQUIT\n",
    );
    let text = stdout(&output);
    assert!(text.starts_with(&banner()), "{text}");
    assert!(text.contains("\nAlso:\n"), "{text}");
    assert!(text.contains(&format!(
        "{PROMPT}Command not recognised; please try again\n"
    )));
    let not_connected = "Not connected. Use CONN (or open) to connect to a server first.\n";
    assert_eq!(text.matches(not_connected).count(), 2, "{text}");
    assert!(
        text.ends_with(&format!("{PROMPT}Server connection ended\n")),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn the_original_six_commands() {
    let server = Server::start();
    std::fs::write(server.path("remote.txt"), b"remote bytes\n").unwrap();
    std::fs::create_dir(server.path("folder")).unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    // A local file with spaces in its name, given by absolute path.
    let upload = home.path().join("my notes.txt");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&upload, &payload).unwrap();
    let script = format!(
        "CONN 127.0.0.1:{port}\n\
         UPLD {upload}\n\
         LIST\n\
         DWLD remote.txt\n\
         DELF remote.txt\n\
         perhaps\n\
         n\n\
         DELF remote.txt\n\
         YeS\n\
         QUIT\n",
        port = server.addr.port(),
        upload = upload.display(),
    );
    let output = run_script(home.path(), work.path(), &[], &script);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");

    assert!(
        text.contains(&format!(
            "{PROMPT}Sending a server request...\nConnection successful\n"
        )),
        "{text}"
    );
    // UPLD: stored under its base name, with the original messages.
    assert_file(server.path("my notes.txt"), &payload);
    assert!(
        text.contains("Sent file: my notes.txt\nTime elapsed: "),
        "{text}"
    );
    assert!(text.contains("s\nFile size: 300000b\n"), "{text}");
    // Plain progress lines on stderr when stdin is not a terminal.
    let progress = common::stderr(&output);
    assert!(
        progress.contains("my notes.txt: 300000/300000 bytes (100%)\n"),
        "{progress}"
    );
    // LIST: every entry, folders marked, and the total of the files.
    assert!(
        text.contains(
            "\tfolder/ - 0b\n\tmy notes.txt - 300000b\n\tremote.txt - 13b\n\
             Total directory size: 300013b\n"
        ),
        "{text}"
    );
    // DWLD: saved under its base name in the local folder.
    assert_file(work.path().join("remote.txt"), b"remote bytes\n");
    assert!(text.contains("Successfully downloaded remote.txt\nTime elapsed: "));
    assert!(text.contains("File size: 13b\n"));
    // DELF: asked again after a bad answer, abandoned on n, done on YeS.
    let question = "Are you sure you want to delete remote.txt? (Y/N) ";
    assert!(
        text.contains(&format!(
            "{PROMPT}{question}{question}Delete abandoned by user!\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{PROMPT}{question}File successfully deleted\n")),
        "{text}"
    );
    assert!(!server.path("remote.txt").exists());
    assert!(text.ends_with("Server connection ended\n"));
}

#[test]
fn aliases_in_any_case() {
    let server = Server::start();
    std::fs::write(server.path("a.txt"), b"aaa").unwrap();
    std::fs::write(server.path("b.txt"), b"bbbb").unwrap();
    std::fs::write(server.path("c.bin"), b"c").unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("up1.dat"), b"one").unwrap();
    std::fs::write(work.path().join("up2.dat"), b"two").unwrap();
    std::fs::write(work.path().join("skip.txt"), b"no").unwrap();
    let script = format!(
        "open ftp://127.0.0.1:{port}/\n\
         MKDIR sub\n\
         cd sub\n\
         pwd\n\
         mput *.dat\n\
         rename up1.dat renamed.dat\n\
         size renamed.dat\n\
         cd ..\n\
         mget *.txt\n\
         dir sub\n\
         delete c.bin\n\
         y\n\
         mkdir gone\n\
         rmdir gone\n\
         lpwd\n\
         bye\n",
        port = server.addr.port()
    );
    let output = run_script(home.path(), work.path(), &[], &script);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("Connection successful\n"), "{text}");
    assert!(text.contains("Created folder sub\n"), "{text}");
    assert!(text.contains("Remote folder: /sub\n"), "{text}");
    assert!(text.contains(&format!("{PROMPT}/sub\n")), "{text}");
    assert!(text.contains("Sent file: up1.dat\n") && text.contains("Sent file: up2.dat\n"));
    assert!(!text.contains("skip.txt"), "{text}");
    assert!(text.contains("Renamed up1.dat to renamed.dat\n"), "{text}");
    assert!(text.contains("renamed.dat - 3b\n"), "{text}");
    assert_file(server.path("sub/renamed.dat"), b"one");
    assert_file(server.path("sub/up2.dat"), b"two");
    assert_file(work.path().join("a.txt"), b"aaa");
    assert_file(work.path().join("b.txt"), b"bbbb");
    assert!(!work.path().join("c.bin").exists());
    assert!(text.contains("\trenamed.dat - 3b\n\tup2.dat - 3b\nTotal directory size: 6b\n"));
    assert!(text.contains("File successfully deleted\n"));
    assert!(!server.path("c.bin").exists());
    assert!(text.contains("Removed folder gone\n"), "{text}");
    assert!(!server.path("gone").exists());
    assert!(text.contains("Local folder: "), "{text}");
    assert!(text.ends_with("Server connection ended\n"), "{text}");
}

#[test]
fn url_argument_opens_connected() {
    let server = Server::start();
    std::fs::write(server.path("x.txt"), b"12345").unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(server.path("inner")).unwrap();
    std::fs::write(server.path("inner/y.txt"), b"123").unwrap();
    let url = server.url("");
    let inner = server.url("inner/");
    let output = run_script(home.path(), home.path(), &[&inner], "pwd\nls\nquit\n");
    let text = stdout(&output);
    assert!(text.contains(&format!("{PROMPT}/inner\n")), "{text}");
    assert!(
        text.contains("\ty.txt - 3b\nTotal directory size: 3b\n"),
        "{text}"
    );
    let output = run_script(home.path(), home.path(), &[&url], "ls\nquit\n");
    let text = stdout(&output);
    assert!(
        text.contains("Sending a server request...\nConnection successful\n"),
        "{text}"
    );
    assert!(
        text.contains("\tx.txt - 5b\nTotal directory size: 5b\n"),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn bad_input_is_one_clear_line_and_the_repl_goes_on() {
    let server = Server::start();
    std::fs::write(server.path("there.txt"), b"here").unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    // A port where nothing listens: bind one, note it, close it.
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let script = format!(
        "CONN 127.0.0.1:{closed_port}\n\
         CONN 127.0.0.1:{port} bob\n\
         wrong-password\n\
         CONN 127.0.0.1:{port}\n\
         UPLD {work}/does not exist.txt\n\
         DWLD missing.txt\n\
         DELF missing.txt\n\
         y\n\
         DWLD there.txt\n\
         QUIT\n",
        port = server.addr.port(),
        work = work.path().display(),
    );
    let output = run_script(home.path(), work.path(), &[], &script);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    // Server down: the original message, then the reason.
    let down = lines
        .iter()
        .position(|l| l.ends_with("Connection unsuccessful. Make sure the server is online."))
        .unwrap();
    assert!(
        lines[down + 1].starts_with(&format!("cannot connect to 127.0.0.1:{closed_port}: ")),
        "{text}"
    );
    // Refused login: the server's code and text.
    assert!(text.contains("Password for bob: "), "{text}");
    let refused = lines
        .iter()
        .rposition(|l| l.ends_with("Connection unsuccessful. Make sure the server is online."))
        .unwrap();
    assert!(refused > down);
    assert!(lines[refused + 1].starts_with("login: 530 "), "{text}");
    // Missing local file, missing remote files: one line each, no partial left behind.
    assert!(
        text.contains("Error: ") && text.contains("does not exist.txt: No such file"),
        "{text}"
    );
    assert!(text.contains("Error: RETR missing.txt: 550 "), "{text}");
    assert!(text.contains("Error: DELE missing.txt: 550 "), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, vec!["there.txt".to_string()], "{text}");
    // ... and the session still works afterwards.
    assert!(
        text.contains("Successfully downloaded there.txt\n"),
        "{text}"
    );
    assert_file(work.path().join("there.txt"), b"here");
    assert!(text.ends_with("Server connection ended\n"));
}

#[test]
fn a_cut_download_in_the_repl_keeps_the_partial_and_goes_on() {
    let fake = common::cutting_server(10, b"abc".to_vec());
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let script = format!("CONN {}\nDWLD big.bin\nQUIT\n", fake.addr);
    let output = run_script(home.path(), work.path(), &[], &script);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("Connection successful\n"), "{text}");
    assert!(
        text.contains(&format!(
            "{PROMPT}Error: RETR big.bin: 426 Connection closed; transfer aborted.\n\
             The partial download is kept as .big.bin.ferry-part; use get -c big.bin to continue.\n"
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("{PROMPT}Server connection ended\n")),
        "{text}"
    );
    assert_partial(work.path(), "big.bin", b"abc");
    let commands = fake.commands();
    assert_eq!(
        commands.last().map(String::as_str),
        Some("QUIT"),
        "{commands:?}"
    );
}

#[test]
fn a_server_that_dies_mid_transfer_drops_the_connection_and_the_repl_goes_on() {
    let fake = common::cutting_server_with(10, b"abcd".to_vec(), common::Cut::Crash);
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let script = format!("CONN {}\nDWLD big.bin\nLIST\nQUIT\n", fake.addr);
    let output = run_script(home.path(), work.path(), &[], &script);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "{PROMPT}Error: the server closed the connection\n\
             The connection to the server was lost. Use CONN to connect again.\n\
             The partial download is kept as .big.bin.ferry-part; use get -c big.bin to continue.\n\
             {PROMPT}Not connected. Use CONN (or open) to connect to a server first.\n"
        )),
        "{text}"
    );
    assert_partial(work.path(), "big.bin", b"abcd");
    drop(fake.commands());
}

#[test]
fn a_421_from_the_server_ends_the_connection() {
    let fake = common::Fake::start(|line, control| {
        use std::io::Write;
        if common::answer_basic(line, control, &["EPSV"]).is_some() {
            return true;
        }
        control
            .write_all(b"421 Idle timeout, closing control connection.\r\n")
            .unwrap();
        false
    });
    let home = tempfile::tempdir().unwrap();
    let script = format!("CONN {}\nLIST\nLIST\nQUIT\n", fake.addr);
    let output = run_script(home.path(), home.path(), &[], &script);
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "{PROMPT}Error: EPSV: 421 Idle timeout, closing control connection.\n\
             The connection to the server was lost. Use CONN to connect again.\n\
             {PROMPT}Not connected. Use CONN (or open) to connect to a server first.\n"
        )),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(0));
    drop(fake.commands());
}
