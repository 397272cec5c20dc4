//! `ferry get|put|ls|rm|mkdir sftp://...` against OpenSSH's own sshd (`common/sshd.rs`: a free
//! loopback port with its own configuration, host key and `internal-sftp`, and a client key
//! made at test time; the client runs with a temporary HOME, so the real `~/.ssh` is never
//! touched). Also the host-key cases: unknown (refused with the fingerprint and the flag),
//! accepted with `--accept-new-host-key`, and changed (always refused).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::process::Command;

use common::sshd::{Agent, Home, Sshd, keygen, keygen_typed, setup};
use common::{assert_file, assert_ok, assert_one_line_error, stderr, stdout};
use ferry_testkit::test_bytes;

#[test]
fn get_and_put_move_exact_bytes() {
    let (sshd, home) = setup();
    let payload = test_bytes(3 * 1024 * 1024 + 12_345, 17);
    std::fs::write(sshd.files().join("big.bin"), &payload).unwrap();

    let output = home.run(&["get", &sshd.url("big.bin")]);
    assert_ok(&output);
    assert_file(home.work().join("big.bin"), &payload);
    assert!(!home.work().join(".big.bin.ferry-part").exists());

    let output = home.run(&["get", &sshd.url("big.bin"), "-o", "-"]);
    assert_ok(&output);
    assert!(output.stdout == payload, "stdout differs");

    let upload = test_bytes(2 * 1024 * 1024 + 7, 18);
    std::fs::write(home.work().join("up.bin"), &upload).unwrap();
    std::fs::write(home.work().join("empty"), b"").unwrap();
    let output = home.run(&["put", "up.bin", "empty", &sshd.url("new/deeper/")]);
    assert_ok(&output);
    assert_file(sshd.files().join("new/deeper/up.bin"), &upload);
    assert_file(sshd.files().join("new/deeper/empty"), b"");

    // A named target replaces a longer file whole.
    std::fs::write(sshd.files().join("renamed.bin"), vec![1; 3 * 1024 * 1024]).unwrap();
    let output = home.run(&["put", "up.bin", &sshd.url("renamed.bin")]);
    assert_ok(&output);
    assert_file(sshd.files().join("renamed.bin"), &upload);

    let output = home.run(&["get", &sshd.url("missing.bin")]);
    assert_one_line_error(&output, "No such file");
    assert!(!home.work().join("missing.bin").exists());
}

#[test]
fn ls_rm_and_mkdir() {
    let (sshd, home) = setup();
    std::fs::write(sshd.files().join("a.txt"), b"abc").unwrap();
    std::fs::create_dir(sshd.files().join("dir")).unwrap();

    let output = home.run(&["ls", &sshd.url("")]);
    assert_ok(&output);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("           3  ") && lines[0].ends_with("  a.txt"),
        "{text}"
    );
    assert!(lines[1].ends_with("  dir/"), "{text}");

    let output = home.run(&["rm", &sshd.url("a.txt")]);
    assert_ok(&output);
    assert!(!sshd.files().join("a.txt").exists());
    let output = home.run(&["rm", &sshd.url("a.txt")]);
    assert_one_line_error(&output, "No such file");

    let output = home.run(&["mkdir", &sshd.url("made")]);
    assert_ok(&output);
    assert!(sshd.files().join("made").is_dir());
    let output = home.run(&["mkdir", &sshd.url("made")]);
    assert_one_line_error(&output, "MKDIR");
    let output = home.run(&["mkdir", "-p", &sshd.url("made/x/y")]);
    assert_ok(&output);
    assert!(sshd.files().join("made/x/y").is_dir());
}

#[test]
fn resume_continues_partial_files_byte_exact() {
    let (sshd, home) = setup();
    let payload = test_bytes(1024 * 1024 + 99, 19);
    std::fs::write(sshd.files().join("r.bin"), &payload).unwrap();
    // An earlier try left the first 300,001 bytes (with a wrong byte at the end of what is
    // still to come, so a restart from 0 would be caught by the comparison).
    std::fs::write(home.work().join(".r.bin.ferry-part"), &payload[..300_001]).unwrap();
    let output = home.run(&["get", "-c", &sshd.url("r.bin")]);
    assert_ok(&output);
    assert_file(home.work().join("r.bin"), &payload);

    // Upload: the server holds the first part; -c writes only the rest.
    let upload = test_bytes(1024 * 1024 + 5, 20);
    std::fs::write(home.work().join("u.bin"), &upload).unwrap();
    let mut head = upload[..400_000].to_vec();
    std::fs::write(sshd.files().join("u.bin"), &head).unwrap();
    let output = home.run(&["put", "-c", "u.bin", &sshd.url("u.bin")]);
    assert_ok(&output);
    assert_file(sshd.files().join("u.bin"), &upload);

    // Proof that -c did not send the head again: a changed head survives a resume.
    head[0] ^= 0xff;
    std::fs::write(sshd.files().join("u.bin"), &head).unwrap();
    let output = home.run(&["put", "-c", "u.bin", &sshd.url("u.bin")]);
    assert_ok(&output);
    let stored = std::fs::read(sshd.files().join("u.bin")).unwrap();
    assert_eq!(stored.len(), upload.len());
    assert_eq!(stored[0], upload[0] ^ 0xff);
    assert!(stored[1..] == upload[1..]);
}

#[test]
fn unknown_host_key_is_refused_then_accepted_with_the_flag() {
    let home = Home::new();
    let sshd = Sshd::start(&home);
    std::fs::write(sshd.files().join("a.txt"), b"abc").unwrap();

    let output = home.run(&["ls", &sshd.url("")]);
    assert_one_line_error(&output, &sshd.fingerprint());
    assert_one_line_error(&output, "--accept-new-host-key");
    assert!(!home.known_hosts().exists());

    let output = home.run(&["--accept-new-host-key", "ls", &sshd.url("")]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(stdout(&output).contains("a.txt"));
    let known = std::fs::read_to_string(home.known_hosts()).unwrap();
    assert_eq!(known.lines().count(), 1, "{known}");
    assert_eq!(
        known.trim_end(),
        format!("[127.0.0.1]:{} {}", sshd.port, sshd.host_key())
    );

    // Now known: no flag needed, and nothing more is added.
    let output = home.run(&["ls", &sshd.url("")]);
    assert_ok(&output);
    assert_eq!(std::fs::read_to_string(home.known_hosts()).unwrap(), known);
}

#[test]
fn changed_host_key_is_always_refused() {
    let home = Home::new();
    let sshd = Sshd::start(&home);
    // known_hosts holds another ed25519 key for this host and port, hashed as `ssh-keygen -H`
    // writes it.
    let other = tempfile::tempdir().unwrap();
    keygen(&other.path().join("k"));
    let other_key = std::fs::read_to_string(other.path().join("k.pub")).unwrap();
    let line = format!("[127.0.0.1]:{} {}", sshd.port, other_key.trim());
    std::fs::write(home.known_hosts(), format!("{line}\n")).unwrap();
    let hashed = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(home.known_hosts())
        .output()
        .unwrap();
    assert!(hashed.status.success());
    assert!(
        std::fs::read_to_string(home.known_hosts())
            .unwrap()
            .starts_with("|1|")
    );

    for flags in [&[][..], &["--accept-new-host-key"][..]] {
        let mut args = flags.to_vec();
        let url = sshd.url("");
        args.extend(["ls", url.as_str()]);
        let output = home.run(&args);
        assert_one_line_error(&output, "CHANGED");
        assert_one_line_error(&output, &sshd.fingerprint());
    }
}

#[test]
fn logs_in_with_an_identity_file_an_rsa_key_or_the_agent() {
    let (sshd, home) = setup();
    std::fs::write(sshd.files().join("a.txt"), b"abc").unwrap();
    let key = home.hide_default_key("elsewhere");
    let key_arg = key.to_str().unwrap();

    // No key where ferry looks and no agent: refused, in one line that says what was tried.
    let output = home.run(&["ls", &sshd.url("")]);
    assert_one_line_error(&output, "refused: no password and no key to try");

    let output = home.run(&["-i", key_arg, "ls", &sshd.url("")]);
    assert_ok(&output);
    assert!(stdout(&output).contains("a.txt"));

    // The agent holds the key: no file needed.
    let agent = Agent::holding(&key);
    let output = home.run_with_agent(Some(&agent.socket), &["ls", &sshd.url("")]);
    assert_ok(&output);
    assert!(stdout(&output).contains("a.txt"));
    drop(agent);

    // An RSA key (signed with rsa-sha2-*, as OpenSSH 8.8 and later require) from the default
    // place.
    let rsa = home.home.path().join(".ssh/id_rsa");
    keygen_typed(&rsa, "rsa");
    std::fs::copy(rsa.with_extension("pub"), &home.authorized_keys).unwrap();
    let output = home.run(&["ls", &sshd.url("")]);
    assert_ok(&output);

    // A key the server does not know: refused, naming the file tried.
    let output = home.run(&["-i", key_arg, "ls", &sshd.url("")]);
    assert_one_line_error(&output, "elsewhere");
    let output = home.run(&["-i", "/nonexistent/key", "ls", &sshd.url("")]);
    assert_one_line_error(&output, "/nonexistent/key");
}

/// ferry against ferryd's own SFTP: a password in the URL, the host key accepted once, then
/// put, ls, get and rm with the bytes checked where ferryd stores them (the user's home).
#[test]
fn ferry_and_ferryd_speak_sftp_to_each_other() {
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
    let bytes = test_bytes(3 << 20, 21);
    std::fs::write(home.work().join("up.bin"), &bytes).unwrap();

    // Unknown host: refused with its fingerprint, then accepted with the flag.
    let refused = home.run(&["ls", &url("")]);
    assert_one_line_error(&refused, "--accept-new-host-key");
    assert_ok(&home.run(&["put", "--accept-new-host-key", "up.bin", &url("up.bin")]));
    assert_file(root.path().join("alice/up.bin"), &bytes);
    let listed = home.run(&["ls", &url("")]);
    assert_ok(&listed);
    assert!(stdout(&listed).contains("up.bin"), "{}", stdout(&listed));
    assert_ok(&home.run(&["get", &url("up.bin"), "-o", "down.bin"]));
    assert_file(home.work().join("down.bin"), &bytes);
    // A device as the target (the benchmark's habit) is written as it is, not synced.
    assert_ok(&home.run(&["get", &url("up.bin"), "-o", "/dev/null"]));
    // --verify through ferryd's check-file: verified both ways, with no warning.
    let output = home.run(&["put", "--verify", "up.bin", &url("checked.bin")]);
    assert_ok(&output);
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    let output = home.run(&["get", "--verify", &url("checked.bin"), "-o", "checked.bin"]);
    assert_ok(&output);
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    assert_file(home.work().join("checked.bin"), &bytes);
    let output = home.run(&["mirror", "--verify", &url(""), "mirrored"]);
    assert_ok(&output);
    assert!(
        stdout(&output).contains(", 2 verified"),
        "{}",
        stdout(&output)
    );
    assert_ok(&home.run(&["rm", &url("up.bin")]));
    assert!(!root.path().join("alice/up.bin").exists());
}
