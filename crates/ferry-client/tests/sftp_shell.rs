//! The shell over `sftp://`, against OpenSSH's own sshd (see `common/sshd.rs`) and ferryd's
//! SFTP: the shell's words with their FTP messages and the bytes checked on disk, resume and
//! mirror from the shell, the yes/no question for an unknown host key on a terminal, and the
//! refusal with piped input unless `--accept-new-host-key` was given, and a reconnect after
//! the server ended an idle session.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use common::pty::{expect_all, ferry_on_a_terminal, leave};
use common::sshd::{Home, Sshd, keygen, make_tree, setup, tree};
use common::{Script, assert_file, assert_ok, stdout};
use ferry_client::progress::ProgressMode;
use ferry_client::repl::{Repl, ReplOptions};
use ferry_client::sftp::SshOptions;
use ferry_testkit::test_bytes;

#[test]
fn shell_speaks_sftp_with_the_ftp_messages() {
    let (sshd, home) = setup();
    std::fs::write(sshd.files().join("a.txt"), b"abc").unwrap();
    let big = test_bytes(1024 * 1024 + 3, 30);
    std::fs::write(sshd.files().join("big.bin"), &big).unwrap();
    let up = test_bytes(700_001, 31);
    std::fs::write(home.work().join("up.bin"), &up).unwrap();
    let files = sshd.files().display().to_string();

    let script = format!(
        "open {url}\nls\nput up.bin\nget big.bin\nDELF a.txt\ny\nmkdir made\ncd made\npwd\n\
         UPLD 'up.bin' 'copy.bin'\ncd ..\nsize big.bin\nrename big.bin moved.bin\nLIST made\n\
         get missing.bin\nQUIT\n",
        url = sshd.url("")
    );
    let output = home.script(&[], &script);
    assert_ok(&output);
    let text = stdout(&output);
    for line in [
        "Sending a server request...",
        "Connection successful",
        "\ta.txt - 3b",
        "\tbig.bin - 1048579b",
        "Total directory size: 1048582b",
        "Sent file: up.bin",
        "Successfully downloaded big.bin",
        "File size: 1048579b",
        "File successfully deleted",
        "Created folder made",
        &format!("Remote folder: {files}/made"),
        &format!("Remote folder: {files}\n"),
        "big.bin - 1048579b",
        "Renamed big.bin to moved.bin",
        "\tcopy.bin - 700001b",
        "Error: STAT",
        "Server connection ended",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert_file(sshd.files().join("up.bin"), &up);
    assert_file(sshd.files().join("made/copy.bin"), &up);
    assert_file(sshd.files().join("moved.bin"), &big);
    assert_file(home.work().join("big.bin"), &big);
    assert!(!sshd.files().join("a.txt").exists());
    assert!(!home.work().join("missing.bin").exists());
}

#[test]
fn shell_resumes_and_mirrors_over_sftp() {
    let (sshd, home) = setup();
    let payload = test_bytes(900_000, 32);
    std::fs::write(sshd.files().join("r.bin"), &payload).unwrap();
    std::fs::write(home.work().join(".r.bin.ferry-part"), &payload[..123_457]).unwrap();
    make_tree(&home.work().join("tree"));

    let script = format!(
        "open {url}\nget -c r.bin\nmirror -R tree up\nmirror up down\nmirror up down\nbye\n",
        url = sshd.url("")
    );
    let output = home.script(&[], &script);
    assert_ok(&output);
    let text = stdout(&output);
    assert!(text.contains("Successfully downloaded r.bin"), "{text}");
    assert!(text.contains("Mirrored 5 files ("), "{text}");
    assert!(
        text.contains("Mirrored 0 files (0b), 5 unchanged, 0 failed"),
        "{text}"
    );
    assert_file(home.work().join("r.bin"), &payload);
    let expected = tree(&home.work().join("tree"));
    assert_eq!(tree(&sshd.files().join("up")), expected);
    assert_eq!(tree(&home.work().join("down")), expected);
}

#[test]
fn piped_shell_refuses_an_unknown_host_key_unless_the_flag_accepts_it() {
    let home = Home::new();
    let sshd = Sshd::start(&home);
    std::fs::write(sshd.files().join("a.txt"), b"abc").unwrap();
    let script = format!("open {}\nls\nbye\n", sshd.url(""));

    let output = home.script(&[], &script);
    assert_ok(&output);
    let text = stdout(&output);
    assert!(text.contains("Connection unsuccessful"), "{text}");
    assert!(text.contains(&sshd.fingerprint()), "{text}");
    assert!(text.contains("--accept-new-host-key"), "{text}");
    assert!(text.contains("Not connected."), "{text}");
    assert!(!home.known_hosts().exists());

    let output = home.script(&["--accept-new-host-key"], &script);
    assert_ok(&output);
    let text = stdout(&output);
    assert!(text.contains("Connection successful"), "{text}");
    assert!(text.contains("\ta.txt - 3b"), "{text}");
    let known = std::fs::read_to_string(home.known_hosts()).unwrap();
    assert_eq!(
        known.trim_end(),
        format!("[127.0.0.1]:{} {}", sshd.port, sshd.host_key())
    );
}

#[test]
fn terminal_asks_about_an_unknown_host_key_once() {
    let home = Home::new();
    let sshd = Sshd::start(&home);
    std::fs::write(sshd.files().join("a.txt"), b"abc").unwrap();
    let question = format!(
        "The host key of [127.0.0.1]:{} is not known: ssh-ed25519 {}; trust it? (yes/no)",
        sshd.port,
        sshd.fingerprint()
    );
    let mut session = ferry_on_a_terminal(home.home.path(), &[]);
    session.exp_string("Enter a command: ").unwrap();

    // No: not connected, nothing written.
    session
        .send_line(&format!("open {}", sshd.url("")))
        .unwrap();
    session.exp_string(&question).unwrap();
    session.send_line("no").unwrap();
    expect_all(
        &mut session,
        &[
            "Connection unsuccessful: the host key was not trusted.",
            "Enter a command: ",
        ],
    );
    assert!(!home.known_hosts().exists());

    // Yes: added, connected; the next connection asks nothing.
    session
        .send_line(&format!("open {}", sshd.url("")))
        .unwrap();
    session.exp_string(&question).unwrap();
    session.send_line("yes").unwrap();
    expect_all(
        &mut session,
        &["Added the host key", "Connection successful"],
    );
    session.send_line("ls").unwrap();
    expect_all(&mut session, &["\ta.txt - 3b", "Enter a command: "]);
    let known = std::fs::read_to_string(home.known_hosts()).unwrap();
    assert_eq!(
        known.trim_end(),
        format!("[127.0.0.1]:{} {}", sshd.port, sshd.host_key())
    );
    session
        .send_line(&format!("open {}", sshd.url("")))
        .unwrap();
    expect_all(
        &mut session,
        &["Connection successful", "Enter a command: "],
    );
    assert_eq!(std::fs::read_to_string(home.known_hosts()).unwrap(), known);

    // A changed key is refused without a question.
    let other = tempfile::tempdir().unwrap();
    keygen(&other.path().join("k"));
    let other_key = std::fs::read_to_string(other.path().join("k.pub")).unwrap();
    let line = format!("[127.0.0.1]:{} {}\n", sshd.port, other_key.trim());
    std::fs::write(home.known_hosts(), &line).unwrap();
    session
        .send_line(&format!("open {}", sshd.url("")))
        .unwrap();
    expect_all(
        &mut session,
        &[
            "Connection unsuccessful",
            "has CHANGED",
            "Enter a command: ",
        ],
    );
    session.send_line("ls").unwrap();
    session.exp_string("Not connected.").unwrap();
    leave(&mut session, "bye");
    assert_eq!(std::fs::read_to_string(home.known_hosts()).unwrap(), line);
}

/// ferry's shell and mirror against ferryd's own SFTP, where the files land in the user's
/// home.
#[test]
fn shell_and_mirror_against_ferryd_sftp() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("alice")).unwrap();
    let mut config = ferry_server::Config::for_folder(root.path());
    let alice = ferry_server::User::new(b"wonderland", "alice".into(), false).unwrap();
    config.users.users.insert("alice".into(), alice);
    config.anonymous = ferry_server::Anonymous::Off;
    let server = ferry_testkit::Ferryd::builder(config)
        .listen_sftp("127.0.0.1:0")
        .start();
    let port = server.sftp.unwrap().port();
    let url = |path: &str| format!("sftp://alice:wonderland@127.0.0.1:{port}/{path}");
    let home = Home::new();
    let bytes = test_bytes(1 << 20, 33);
    std::fs::write(home.work().join("up.bin"), &bytes).unwrap();
    make_tree(&home.work().join("tree"));

    // No password in the URL and no key ferryd knows: the shell asks for the password.
    let script = format!(
        "open sftp://alice@127.0.0.1:{port}/\nwonderland\nput up.bin\nls\n\
         get 'up.bin' 'back.bin'\nmirror -R tree t\nbye\n"
    );
    let output = home.script(&["--accept-new-host-key"], &script);
    assert_ok(&output);
    let text = stdout(&output);
    assert!(text.contains("Password for alice@127.0.0.1: "), "{text}");
    assert!(text.contains("Connection successful"), "{text}");
    assert!(text.contains("Sent file: up.bin"), "{text}");
    assert!(text.contains("\tup.bin - 1048576b"), "{text}");
    assert!(text.contains("Mirrored 5 files"), "{text}");
    assert_file(root.path().join("alice/up.bin"), &bytes);
    assert_file(home.work().join("back.bin"), &bytes);
    let expected = tree(&home.work().join("tree"));
    assert_eq!(tree(&root.path().join("alice/t")), expected);

    assert_ok(&home.run(&["mirror", &url("t/"), "again"]));
    assert_eq!(tree(&home.work().join("again")), expected);
    // ferryd keeps the times SETSTAT gave: nothing moves again, either way.
    let up = url("t/");
    for args in [
        &["mirror", "-R", "tree", &up][..],
        &["mirror", &up, "again"][..],
    ] {
        let output = home.run(args);
        assert_ok(&output);
        assert_eq!(
            stdout(&output).trim_end(),
            "Mirrored 0 files (0b), 5 unchanged, 0 failed"
        );
    }
}

/// ferryd ends an SFTP session idle for a second; the shell notices before the next command,
/// opens a new session and returns to the folder it was in.
#[test]
fn shell_reconnects_over_sftp_into_the_same_folder() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("alice/sub")).unwrap();
    std::fs::write(root.path().join("alice/sub/only-here.txt"), b"inside sub").unwrap();
    let mut config = ferry_server::Config::for_folder(root.path());
    let alice = ferry_server::User::new(b"wonderland", "alice".into(), false).unwrap();
    config.users.users.insert("alice".into(), alice);
    config.anonymous = ferry_server::Anonymous::Off;
    config.idle_timeout = Duration::from_secs(1);
    let server = ferry_testkit::Ferryd::builder(config)
        .listen_sftp("127.0.0.1:0")
        .start();
    let port = server.sftp.unwrap().port();
    let local = tempfile::tempdir().unwrap();
    let target = local.path().join("copy.txt");

    let runtime = common::runtime();
    let options = ReplOptions {
        progress: Some(ProgressMode::Silent),
        idle_check: Duration::ZERO,
        ssh: SshOptions {
            accept_new_host_key: true,
            ..SshOptions::for_home(Some(local.path()))
        },
        ..ReplOptions::default()
    };
    let mut repl = Repl::new(runtime.handle().clone(), options, false);
    let mut script = Script {
        lines: VecDeque::from([
            (
                Duration::ZERO,
                format!("CONN sftp://alice:wonderland@127.0.0.1:{port}/"),
            ),
            (Duration::ZERO, "cd sub".to_string()),
            // Well past the server's one-second idle timeout: it has closed the session.
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
