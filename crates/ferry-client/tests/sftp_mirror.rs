//! `ferry mirror` over `sftp://` against OpenSSH's own sshd (see `common/sshd.rs`): a nested
//! tree up and down, compared file by file; a second run moves nothing, a changed file moves
//! again, and a missing remote folder fails in one line.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use common::sshd::{make_tree, setup, tree};
use common::{assert_file, assert_ok, assert_one_line_error, stdout};

#[test]
fn mirror_both_ways_over_sftp_exactly() {
    let (sshd, home) = setup();
    make_tree(&home.work().join("tree"));
    let expected = tree(&home.work().join("tree"));

    let output = home.run(&["mirror", "-R", "tree", &sshd.url("up/")]);
    assert_ok(&output);
    assert!(
        stdout(&output).starts_with("Mirrored 5 files (2197162b), 0 unchanged, 0 failed"),
        "{}",
        stdout(&output)
    );
    assert_eq!(tree(&sshd.files().join("up")), expected);

    let output = home.run(&["mirror", &sshd.url("up/"), "down", "--parallel", "3"]);
    assert_ok(&output);
    assert_eq!(tree(&home.work().join("down")), expected);

    // Nothing changed: nothing moves, either way.
    let output = home.run(&["mirror", &sshd.url("up/"), "down"]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output).trim_end(),
        "Mirrored 0 files (0b), 5 unchanged, 0 failed"
    );
    let output = home.run(&["mirror", "-R", "tree", &sshd.url("up/")]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output).trim_end(),
        "Mirrored 0 files (0b), 5 unchanged, 0 failed"
    );

    // A changed file goes again.
    std::fs::write(home.work().join("tree/a/zero"), b"now something").unwrap();
    let output = home.run(&["mirror", "-R", "tree", &sshd.url("up/")]);
    assert_ok(&output);
    assert!(stdout(&output).starts_with("Mirrored 1 files (13b), 4 unchanged"));
    assert_file(sshd.files().join("up/a/zero"), b"now something");

    let output = home.run(&["mirror", &sshd.url("missing/"), "none"]);
    assert_one_line_error(&output, "No such file");
}

/// The mirror options over SFTP decide as over FTP (the same `plan.rs`): `--dry-run` leaves
/// both trees alone, `--delete` removes what the source lost (a folder with its files), and
/// `--exclude` names are neither copied nor deleted.
#[test]
fn mirror_options_over_sftp() {
    let (sshd, home) = setup();
    let local = home.work().join("tree");
    make_tree(&local);
    std::fs::write(local.join("skip.tmp"), b"scratch").unwrap();
    let output = home.run(&[
        "mirror",
        "-R",
        "tree",
        &sshd.url("up/"),
        "--exclude",
        "*.tmp",
    ]);
    assert_ok(&output);
    assert!(
        stdout(&output).trim_end().ends_with(", 1 excluded"),
        "{}",
        stdout(&output)
    );
    let remote = sshd.files().join("up");
    assert!(!remote.join("skip.tmp").exists());

    std::fs::remove_dir_all(local.join("a/b")).unwrap();
    std::fs::write(remote.join("theirs.tmp"), b"kept").unwrap();
    let before = (tree(&local), tree(&remote));
    let output = home.run(&[
        "mirror",
        "-R",
        "tree",
        &sshd.url("up/"),
        "--delete",
        "--exclude",
        "*.tmp",
        "--dry-run",
    ]);
    assert_ok(&output);
    let text = stdout(&output);
    assert!(
        text.starts_with("delete ") && text.contains("/up/a/b/\n"),
        "{text}"
    );
    assert!(
        text.contains("would copy 0 files (0b) and delete 1"),
        "{text}"
    );
    assert_eq!((tree(&local), tree(&remote)), before);

    let output = home.run(&[
        "mirror",
        "-R",
        "tree",
        &sshd.url("up/"),
        "--delete",
        "--exclude",
        "*.tmp",
    ]);
    assert_ok(&output);
    assert!(
        stdout(&output).contains(", 1 deleted"),
        "{}",
        stdout(&output)
    );
    assert!(!remote.join("a/b").exists());
    assert_file(remote.join("theirs.tmp"), b"kept");

    // Down again, deleting locally what the server no longer has.
    let output = home.run(&["mirror", &sshd.url("up/"), "down"]);
    assert_ok(&output);
    std::fs::remove_file(remote.join("top.txt")).unwrap();
    let output = home.run(&["mirror", &sshd.url("up/"), "down", "--delete"]);
    assert_ok(&output);
    assert!(!home.work().join("down/top.txt").exists());
    assert_eq!(tree(&home.work().join("down")), tree(&remote));
}

/// OpenSSH's sftp-server has no check-file extension: `--verify` counts every file as
/// unverified, with one warning, and moves them all the same; `get --verify` alike.
#[test]
fn verify_over_sftp_without_check_file_warns_once() {
    let (sshd, home) = setup();
    make_tree(&sshd.files().join("tree"));
    let output = home.run(&["mirror", &sshd.url("tree/"), "down", "--verify"]);
    assert_ok(&output);
    assert!(
        stdout(&output).trim_end().ends_with(", 5 unverified"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        tree(&home.work().join("down")),
        tree(&sshd.files().join("tree"))
    );
    let warnings = common::stderr(&output).matches("warning").count();
    assert_eq!(warnings, 1, "{}", common::stderr(&output));
    let output = home.run(&["get", &sshd.url("tree/top.txt"), "--verify"]);
    assert_ok(&output);
    assert!(common::stderr(&output).contains("1 file(s) unverified"));
}
