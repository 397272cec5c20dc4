//! One-shot commands as scripts use them: `ferry get|put|ls|rm|mkdir|mirror`, exit codes, the
//! one-line errors, credentials, active mode, resume after a cut, and the protocol fallbacks
//! (EPSV refused, PASV lying about its address, no MLSD) against a scripted fake server.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::time::SystemTime;

use common::{
    Client, Fake, Server, answer_basic, answer_epsv, assert_file, assert_ok, assert_one_line_error,
    assert_partial, cutting_server, send_on_data, stderr, stdout,
};

#[test]
fn get_and_put_move_exact_bytes() {
    let server = Server::start();
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(server.path("big.bin"), &payload).unwrap();
    let client = Client::new();

    let output = client.run(&["get", &server.url("big.bin")]);
    assert_ok(&output);
    assert_file(client.work().join("big.bin"), &payload);

    // To standard output, for pipes.
    let output = client.run(&["get", &server.url("big.bin"), "-o", "-"]);
    assert_ok(&output);
    assert!(output.stdout == payload, "stdout differs");
    assert!(!client.work().join("-").exists());

    let output = client.run(&["get", &server.url("big.bin"), "-o", "copy.bin"]);
    assert_eq!(output.status.code(), Some(0));
    assert_file(client.work().join("copy.bin"), &payload);

    // Empty files both ways.
    std::fs::write(client.work().join("empty"), b"").unwrap();
    let output = client.run(&["put", "empty", &server.url("")]);
    assert_ok(&output);
    assert_file(server.path("empty"), b"");
    let output = client.run(&["get", &server.url("empty"), "-o", "empty-again"]);
    assert_ok(&output);
    assert_file(client.work().join("empty-again"), b"");

    // One file to a named target; several into a folder URL that does not exist yet.
    std::fs::write(client.work().join("one.txt"), b"one").unwrap();
    std::fs::write(client.work().join("two words.txt"), b"two").unwrap();
    let output = client.run(&["put", "one.txt", &server.url("renamed.txt")]);
    assert_ok(&output);
    assert_file(server.path("renamed.txt"), b"one");
    let output = client.run(&[
        "put",
        "one.txt",
        "two words.txt",
        &server.url("new/deeper/"),
    ]);
    assert_ok(&output);
    assert_file(server.path("new/deeper/one.txt"), b"one");
    assert_file(server.path("new/deeper/two words.txt"), b"two");
}

#[test]
fn ls_rm_mkdir_and_their_errors() {
    let server = Server::start();
    std::fs::write(server.path("a.txt"), b"abc").unwrap();
    std::fs::create_dir(server.path("dir")).unwrap();
    let client = Client::at_home();

    let output = client.run(&["ls", &server.url("")]);
    assert_ok(&output);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("           3  ") && lines[0].ends_with("  a.txt"));
    assert!(lines[1].ends_with("  dir/"), "{text}");

    let output = client.run(&["mkdir", &server.url("made")]);
    assert_ok(&output);
    assert!(server.path("made").is_dir());
    let output = client.run(&["mkdir", &server.url("made")]);
    assert_one_line_error(&output, "MKD made: 550 ");
    let output = client.run(&["mkdir", "-p", &server.url("made/x/y")]);
    assert_ok(&output);
    assert!(server.path("made/x/y").is_dir());

    let output = client.run(&["rm", &server.url("a.txt")]);
    assert_eq!(output.status.code(), Some(0));
    assert!(!server.path("a.txt").exists());
    let output = client.run(&["rm", &server.url("a.txt")]);
    assert_one_line_error(&output, "DELE a.txt: 550 ");

    let output = client.run(&["get", &server.url("nope.bin")]);
    assert_one_line_error(&output, "RETR nope.bin: 550 ");
    assert!(std::fs::read_dir(client.work()).unwrap().next().is_none());

    let output = client.run(&["put", "missing.txt", &server.url("x.txt")]);
    assert_one_line_error(&output, "missing.txt: ");
    assert!(!server.path("x.txt").exists());

    let output = client.run(&["ls", "http://example.org/"]);
    assert_one_line_error(&output, "must start with ftp://");
}

#[test]
fn server_down_is_one_line() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::at_home();
    let output = client.run(&["get", &format!("ftp://127.0.0.1:{port}/x")]);
    assert_one_line_error(&output, &format!("cannot connect to 127.0.0.1:{port}: "));
}

#[test]
fn global_flags_before_the_subcommand_and_active_mode() {
    let server = Server::start();
    std::fs::write(server.path("act.txt"), b"active bytes").unwrap();
    let client = Client::new();
    let output = client.run(&["--active", "--timeout", "10", "get", &server.url("act.txt")]);
    assert_ok(&output);
    assert_file(client.work().join("act.txt"), b"active bytes");
    let output = client.run(&["put", "act.txt", &server.url("back.txt"), "--active"]);
    assert_ok(&output);
    assert_file(server.path("back.txt"), b"active bytes");
}

#[test]
fn credentials_from_netrc_url_and_flag() {
    let server = Server::with_users(&[("alice", "wonder land"), ("bob", "builder")]);
    std::fs::write(server.path("secret.txt"), b"for alice").unwrap();
    let client = Client::new();

    // Anonymous is refused: the server's code and text.
    let output = client.run(&["get", &server.url("secret.txt")]);
    assert_one_line_error(&output, "login: 530 ");

    // Percent-encoded password in the URL.
    let url = format!("ftp://alice:wonder%20land@{}/secret.txt", server.addr);
    let output = client.run(&["-v", "get", &url, "-o", "url.txt"]);
    assert_ok(&output);
    // --verbose shows the conversation, never the password.
    let conversation = stderr(&output);
    assert!(
        conversation.contains("--> USER alice\n<-- 331 ")
            && conversation.contains("--> PASS\n<-- 230 "),
        "{conversation}"
    );
    assert!(
        conversation.contains("--> TYPE I\n<-- 200 "),
        "{conversation}"
    );
    assert!(!conversation.contains("wonder"), "{conversation}");
    assert_file(client.work().join("url.txt"), b"for alice");

    // --user USER:PASS before the subcommand.
    let output = client.run(&[
        "--user",
        "alice:wonder land",
        "get",
        &server.url("secret.txt"),
        "-o",
        "flag.txt",
    ]);
    assert_ok(&output);
    assert_file(client.work().join("flag.txt"), b"for alice");

    // ~/.netrc: the entry for this host.
    std::fs::write(
        client.home().join(".netrc"),
        "machine other login x password y\nmachine 127.0.0.1\n  login bob\n  password builder\n",
    )
    .unwrap();
    let output = client.run(&["get", &server.url("secret.txt")]);
    assert_ok(&output);
    assert_file(client.work().join("secret.txt"), b"for alice");
    // The machine entry wins over default; its password is wrong here.
    std::fs::write(
        client.home().join(".netrc"),
        "default login bob password builder\nmachine 127.0.0.1 login bob password wrong\n",
    )
    .unwrap();
    let output = client.run(&["ls", &server.url("")]);
    assert_one_line_error(&output, "login: 530 ");
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn mirror_both_ways_skips_identical_files() {
    let server = Server::start();
    std::fs::create_dir_all(server.path("tree/sub/deeper")).unwrap();
    std::fs::write(server.path("tree/top.txt"), b"top").unwrap();
    std::fs::write(server.path("tree/sub/mid.txt"), b"middle").unwrap();
    std::fs::write(server.path("tree/sub/deeper/low.bin"), vec![7u8; 200_000]).unwrap();
    let client = Client::new();

    let output = client.run(&["mirror", &server.url("tree/"), "copy", "--parallel", "3"]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output),
        "Mirrored 3 files (200009b), 0 unchanged, 0 failed\n"
    );
    let copy = client.work().join("copy");
    assert_file(copy.join("top.txt"), b"top");
    assert_file(copy.join("sub/mid.txt"), b"middle");
    assert_eq!(
        std::fs::read(copy.join("sub/deeper/low.bin")).unwrap(),
        vec![7u8; 200_000]
    );
    // Times follow the server (to the second).
    let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(
        secs(mtime(&copy.join("sub/mid.txt"))),
        secs(mtime(&server.path("tree/sub/mid.txt")))
    );

    // A second run finds everything identical; a changed file is fetched again.
    let output = client.run(&["mirror", &server.url("tree"), "copy"]);
    assert_eq!(
        stdout(&output),
        "Mirrored 0 files (0b), 3 unchanged, 0 failed\n"
    );
    std::fs::write(server.path("tree/top.txt"), b"top, longer").unwrap();
    let output = client.run(&["mirror", &server.url("tree"), "copy"]);
    assert_eq!(
        stdout(&output),
        "Mirrored 1 files (11b), 2 unchanged, 0 failed\n"
    );
    assert_file(copy.join("top.txt"), b"top, longer");

    // Upload the copy elsewhere with -R; times are set with MFMT so a rerun skips all.
    let output = client.run(&[
        "mirror",
        "-R",
        "copy",
        &server.url("up/loaded"),
        "--parallel",
        "2",
    ]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output),
        "Mirrored 3 files (200017b), 0 unchanged, 0 failed\n"
    );
    assert_eq!(
        std::fs::read(server.path("up/loaded/sub/deeper/low.bin")).unwrap(),
        vec![7u8; 200_000]
    );
    assert_eq!(
        secs(mtime(&server.path("up/loaded/sub/mid.txt"))),
        secs(mtime(&copy.join("sub/mid.txt")))
    );
    let output = client.run(&["mirror", "-R", "copy", &server.url("up/loaded")]);
    assert_eq!(
        stdout(&output),
        "Mirrored 0 files (0b), 3 unchanged, 0 failed\n"
    );
}

#[test]
fn a_cut_download_keeps_the_partial_and_continue_finishes_it() {
    let client = Client::new();
    let fake = cutting_server(10, b"abcde".to_vec());
    let output = client.run(&["get", &format!("ftp://{}/file.bin", fake.addr)]);
    assert_one_line_error(&output, "RETR file.bin: 426 ");
    drop(fake.commands());
    // Nothing under the final name; the partial is kept, hidden.
    assert_partial(client.work(), "file.bin", b"abcde");
    let partial = client.work().join(".file.bin.ferry-part");

    // Continue against a real server holding the whole file: REST 5 fetches only the rest,
    // which the different first half proves.
    let server = Server::start();
    std::fs::write(server.path("file.bin"), b"0123456789").unwrap();
    let output = client.run(&["get", "--continue", &server.url("file.bin")]);
    assert_ok(&output);
    assert_file(client.work().join("file.bin"), b"abcde56789");
    assert!(!partial.exists());
}

#[test]
fn epsv_refused_pasv_address_ignored_and_list_parsed_without_mlsd() {
    let mut data: Option<TcpListener> = None;
    let fake = Fake::start(move |line, control| {
        if let Some(go_on) = answer_basic(line, control, &["SIZE"]) {
            return go_on;
        }
        match line.split(' ').next().unwrap_or("") {
            "EPSV" => control.write_all(b"500 EPSV not understood\r\n").unwrap(),
            "PASV" => {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let [high, low] = listener.local_addr().unwrap().port().to_be_bytes();
                data = Some(listener);
                // An address the client must not use: only the port counts.
                write!(
                    control,
                    "227 Entering Passive Mode (10,255,255,1,{high},{low})\r\n"
                )
                .unwrap();
            }
            "LIST" => send_on_data(
                control,
                &mut data,
                b"total 2\r\n\
                  -rw-r--r--    1 1000     1000            6 Jan 02  2020 unix file.txt\r\n\
                  11-25-26  08:42AM       <DIR>          Dos Folder\r\n",
            ),
            _ => control.write_all(b"502 not here\r\n").unwrap(),
        }
        true
    });
    let client = Client::at_home();
    let output = client.run(&["--timeout", "5", "ls", &format!("ftp://{}/", fake.addr)]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output),
        "           0  2026-11-25 08:42  Dos Folder/\n           6  2020-01-02 00:00  unix file.txt\n"
    );
    let commands = fake.commands();
    assert!(commands.contains(&"EPSV".to_string()), "{commands:?}");
    assert!(commands.contains(&"PASV".to_string()), "{commands:?}");
    assert!(commands.contains(&"LIST".to_string()), "{commands:?}");
    assert!(commands.contains(&"TYPE I".to_string()), "{commands:?}");
    assert!(
        !commands.iter().any(|c| c.starts_with("MLSD")),
        "{commands:?}"
    );
}

#[test]
fn continue_against_a_server_without_rest_starts_again() {
    let fake = Fake::with_epsv(6, |line, control, data| {
        match line.split(' ').next().unwrap_or("") {
            "REST" => control.write_all(b"502 REST not implemented\r\n").unwrap(),
            "RETR" => send_on_data(control, data, b"whole!"),
            _ => control.write_all(b"502 not here\r\n").unwrap(),
        }
        true
    });
    let client = Client::at_home();
    std::fs::write(client.work().join(".f.bin.ferry-part"), b"xyz").unwrap();
    let output = client.run(&["get", "-c", &format!("ftp://{}/f.bin", fake.addr)]);
    assert_ok(&output);
    assert_file(client.work().join("f.bin"), b"whole!");
    assert!(!client.work().join(".f.bin.ferry-part").exists());
    let commands = fake.commands();
    assert!(commands.contains(&"REST 3".to_string()), "{commands:?}");
}

#[test]
fn put_continue_sends_only_the_missing_tail() {
    let server = Server::start();
    let client = Client::at_home();
    std::fs::write(client.work().join("log.txt"), b"0123456789").unwrap();
    // A remote copy cut after five bytes, whose bytes differ: only the tail may be sent.
    std::fs::write(server.path("log.txt"), b"ABCDE").unwrap();
    let output = client.run(&["put", "--continue", "log.txt", &server.url("")]);
    assert_ok(&output);
    assert_file(server.path("log.txt"), b"ABCDE56789");
    // Already complete: nothing changes.
    let output = client.run(&["put", "-c", "log.txt", &server.url("")]);
    assert_ok(&output);
    assert_file(server.path("log.txt"), b"ABCDE56789");
}

#[test]
fn put_continue_appends_when_the_server_refuses_rest() {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = received.clone();
    let fake = Fake::with_epsv(4, move |line, control, data| {
        match line.split(' ').next().unwrap_or("") {
            "REST" => control.write_all(b"502 REST not implemented\r\n").unwrap(),
            "APPE" => {
                control.write_all(b"150 go ahead\r\n").unwrap();
                let (mut stream, _) = data.take().unwrap().accept().unwrap();
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut stream, &mut bytes).unwrap();
                sink.lock().unwrap().extend_from_slice(&bytes);
                control.write_all(b"226 appended\r\n").unwrap();
            }
            _ => control.write_all(b"502 not here\r\n").unwrap(),
        }
        true
    });
    let client = Client::at_home();
    std::fs::write(client.work().join("f.bin"), b"abcdefgh").unwrap();
    let output = client.run(&["put", "-c", "f.bin", &format!("ftp://{}/f.bin", fake.addr)]);
    assert_ok(&output);
    let commands = fake.commands();
    assert!(commands.contains(&"REST 4".to_string()), "{commands:?}");
    assert!(commands.contains(&"APPE f.bin".to_string()), "{commands:?}");
    assert_eq!(*received.lock().unwrap(), b"efgh");
}

/// `-o` naming a device or a pipe writes into it: the partial-then-rename of ordinary downloads
/// would replace it with a regular file (it once replaced this machine's /dev/null).
#[test]
fn get_into_a_fifo_writes_through_it() {
    use std::os::unix::fs::FileTypeExt;
    let server = Server::start();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(server.path("f.bin"), &payload).unwrap();
    let client = Client::new();
    let fifo = client.work().join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read(reader_path).unwrap());
    let output = client.run(&["get", &server.url("f.bin"), "-o", fifo.to_str().unwrap()]);
    assert_ok(&output);
    // Checked before joining: had the pipe been replaced, its reader would wait forever.
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(
        reader.join().unwrap() == payload,
        "the pipe's reader got other bytes"
    );
    assert!(!client.work().join(".pipe.ferry-part").exists());
}

/// A mirror takes sizes from the listing and asks SIZE only when a file arrives at another size:
/// a file that grew after the listing still lands (more than the listed size arrives, and SIZE
/// agrees with what came), a short one fails, keeps no file under its name and keeps what came
/// in its partial.
#[test]
fn mirror_trusts_listed_sizes_and_asks_size_only_when_they_differ() {
    let mut data: Option<TcpListener> = None;
    let fake = Fake::start(move |line, control| {
        if let Some(go_on) = answer_basic(line, control, &["EPSV", "SIZE"]) {
            return go_on;
        }
        let (verb, argument) = line.split_once(' ').unwrap_or((line, ""));
        let sent: &[u8] = match argument {
            "tree/a.txt" => b"abc",
            "tree/b.txt" => b"bbbbbbb",
            "tree/c.txt" => b"cc",
            _ => {
                b"-rw-r--r--    1 1000     1000            3 Jan 02  2020 a.txt\r\n\
                   -rw-r--r--    1 1000     1000            5 Jan 02  2020 b.txt\r\n\
                   -rw-r--r--    1 1000     1000            4 Jan 02  2020 c.txt\r\n"
            }
        };
        match verb {
            "EPSV" => answer_epsv(control, &mut data),
            // b.txt grew after the listing; c.txt is really 4 bytes but only 2 arrive.
            "SIZE" if argument == "tree/b.txt" => control.write_all(b"213 7\r\n").unwrap(),
            "SIZE" if argument == "tree/c.txt" => control.write_all(b"213 4\r\n").unwrap(),
            "LIST" | "RETR" => send_on_data(control, &mut data, sent),
            _ => control.write_all(b"502 not here\r\n").unwrap(),
        }
        true
    });
    let client = Client::at_home();
    let output = client.run(&[
        "--timeout",
        "10",
        "mirror",
        &format!("ftp://{}/tree/", fake.addr),
        "copy",
    ]);
    assert_one_line_error(
        &output,
        "Mirrored 2 files (10b), 0 unchanged, 1 failed; first failure: tree/c.txt: protocol \
         error: transfer incomplete: 2 of 4 bytes arrived",
    );
    let copy = client.work().join("copy");
    assert_file(copy.join("a.txt"), b"abc");
    assert_file(copy.join("b.txt"), b"bbbbbbb");
    assert!(!copy.join("c.txt").exists());
    assert_file(copy.join(".c.txt.ferry-part"), b"cc");
    // The listing's time is given to the file before it takes its name.
    let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(secs(mtime(&copy.join("a.txt"))), 1_577_923_200);
    assert_eq!(secs(mtime(&copy.join("b.txt"))), 1_577_923_200);
    assert!(!copy.join(".a.txt.ferry-part").exists());
    assert!(!copy.join(".b.txt.ferry-part").exists());
    let sizes: Vec<_> = fake
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("SIZE"))
        .collect();
    assert_eq!(sizes, ["SIZE tree/b.txt", "SIZE tree/c.txt"]);
}

/// A data connection that goes quiet is bounded by --timeout, and the bytes that came are kept.
#[test]
fn a_stalled_download_times_out_and_keeps_the_partial() {
    let fake = common::cutting_server_with(1000, b"abc".to_vec(), common::Cut::Stall);
    let client = Client::at_home();
    let output = client.run(&[
        "--timeout",
        "1",
        "get",
        &format!("ftp://{}/slow.bin", fake.addr),
    ]);
    assert_one_line_error(&output, "timed out waiting for data");
    assert_partial(client.work(), "slow.bin", b"abc");
    drop(fake.commands());
}

/// Big downloads through the receive thread: a whole file, and one continued from a partial
/// (appended, which splice(2) refuses, so the copy path takes over), byte for byte.
#[test]
fn big_downloads_whole_and_continued_are_exact() {
    let server = Server::start();
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(server.path("big.bin"), &body).unwrap();
    let client = Client::new();
    let output = client.run(&["get", &server.url("big.bin")]);
    assert_ok(&output);
    assert!(std::fs::read(client.work().join("big.bin")).unwrap() == body);

    // A first part that differs from the server's proves that only the rest was fetched.
    let mut expected = vec![0xAA; 1_000_000];
    std::fs::write(client.work().join(".again.bin.ferry-part"), &expected).unwrap();
    expected.extend_from_slice(&body[1_000_000..]);
    let output = client.run(&["get", "-c", &server.url("big.bin"), "-o", "again.bin"]);
    assert_ok(&output);
    assert!(std::fs::read(client.work().join("again.bin")).unwrap() == expected);
    assert!(!client.work().join(".again.bin.ferry-part").exists());
}
