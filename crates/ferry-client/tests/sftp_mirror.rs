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
