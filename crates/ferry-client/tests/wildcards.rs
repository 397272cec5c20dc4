//! Wildcards in one-shot URLs (curl/curl#11775): `ferry get 'ftp://host/logs/*.gz'` fetches
//! exactly the files that match (not folders, not other names), into the current folder or
//! `-o DIR`; no match is a one-line error. Over SFTP the same.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::path::Path;

use common::sshd::setup;
use common::{Client, Server, assert_file, assert_ok, assert_one_line_error};

fn logs(root: &Path) {
    std::fs::create_dir_all(root.join("logs/folder.gz")).unwrap();
    std::fs::write(root.join("logs/a.gz"), b"aaa").unwrap();
    std::fs::write(root.join("logs/b.gz"), b"bbbb").unwrap();
    std::fs::write(root.join("logs/c.txt"), b"c").unwrap();
    std::fs::write(root.join("logs/a.gz.old"), b"old").unwrap();
}

fn names(folder: &Path) -> Vec<String> {
    ferry_testkit::names_in(folder)
}

#[test]
fn ftp_wildcards_fetch_exactly_the_matches() {
    let server = Server::start();
    logs(server.root.path());
    let client = Client::new();
    let output = client.run(&["get", &server.url("logs/*.gz")]);
    assert_ok(&output);
    assert_eq!(names(client.work()), ["a.gz", "b.gz"]);
    assert_file(client.work().join("b.gz"), b"bbbb");

    let output = client.run(&["get", &server.url("logs/[ac]*"), "-o", "picked"]);
    assert_ok(&output);
    assert_eq!(
        names(&client.work().join("picked")),
        ["a.gz", "a.gz.old", "c.txt"]
    );

    let output = client.run(&["get", &server.url("logs/*.zip")]);
    assert_one_line_error(&output, "no file in logs matches *.zip");
}

#[test]
fn sftp_wildcards_fetch_exactly_the_matches() {
    let (sshd, home) = setup();
    logs(&sshd.files());
    let output = home.run(&["get", &sshd.url("logs/*.gz"), "-o", "got"]);
    assert_ok(&output);
    assert_eq!(names(&home.work().join("got")), ["a.gz", "b.gz"]);
    assert_file(home.work().join("got/a.gz"), b"aaa");
}
