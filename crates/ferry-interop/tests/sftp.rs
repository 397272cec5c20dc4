//! ferryd's SFTP against real clients: OpenSSH's `sftp`, `scp` (SFTP since 9.0) and `ssh`, and
//! curl's `sftp://` (libssh2). The same users, jail, rights and atomic uploads as FTP; every test
//! checks the bytes where ferryd stored them (a folder, or the S3 bucket on SeaweedFS).
//!
//! Passwords reach OpenSSH through SSH_ASKPASS (a script written at test time), as `sshpass`
//! would. Needs `openssh-client` and `curl`; fails, never skips, when one is missing.

mod common;

use std::path::{Path, PathBuf};

use common::{
    Backend, TestServer, command, debian_python_with, on_both_backends, run, run_ok, tool,
};
use ferry_server::User;
use ferry_server::auth::Right;

on_both_backends!(
    openssh_sftp_puts_gets_lists_renames_and_removes,
    scp_copies_both_ways,
    curl_sftp_downloads_and_uploads,
    paramiko_puts_gets_with_prefetch_and_lists,
    rclone_copies_syncs_and_checks,
    out_of_order_writes_are_refused_and_publish_nothing,
);

/// A folder for one test's client side: the askpass script and local files.
struct Client {
    dir: tempfile::TempDir,
}

impl Client {
    fn new() -> Client {
        Client {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An SSH_ASKPASS script that answers `password`.
    fn askpass(&self, password: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = self.path(&format!("askpass-{password}.sh"));
        std::fs::write(&script, format!("#!/bin/sh\necho '{password}'\n")).expect("askpass");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700))
            .expect("askpass mode");
        script
    }

    /// An OpenSSH client command (`sftp`, `scp`, `ssh`) that answers password prompts with
    /// `password`, trusts the server's new host key and never asks a terminal. (OpenSSH keeps
    /// the first value it is given for an option: callers add theirs after these.)
    fn openssh(&self, program: &str, password: &str) -> tokio::process::Command {
        let mut openssh = command(tool(program, "openssh-client"));
        openssh
            .current_dir(self.dir.path())
            .env("SSH_ASKPASS", self.askpass(password))
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", "ferry-test")
            .args(["-o", "BatchMode=no"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "NumberOfPasswordPrompts=1"])
            .args(["-o", "LogLevel=ERROR"]);
        openssh
    }

    /// `sftp -b` with `commands` as `user`; its output whatever its status.
    async fn sftp(
        &self,
        server: &TestServer,
        user: &str,
        password: &str,
        commands: &str,
    ) -> std::process::Output {
        let batch = self.path("batch");
        std::fs::write(&batch, commands).expect("write the batch file");
        let port = server.sftp.expect("an SFTP listener").port().to_string();
        run(
            self.openssh("sftp", password)
                .args(["-o", "PubkeyAuthentication=no"])
                .arg("-b")
                .arg(&batch)
                .args(["-P", &port])
                .arg(format!("{user}@127.0.0.1")),
            common::TOOL_LIMIT,
        )
        .await
    }
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn alice() -> User {
    User::new(b"wonderland", "alice".into(), false).expect("hash a password")
}

async fn openssh_sftp_puts_gets_lists_renames_and_removes(backend: Backend) {
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice());
    })
    .await;
    server.write("alice/hello.txt", b"hello over sftp\n").await;
    let client = Client::new();
    let big = common::pattern(3 << 20, 11);
    std::fs::write(client.path("big.bin"), &big).expect("write big.bin");

    let output = client
        .sftp(
            &server,
            "alice",
            "wonderland",
            "get hello.txt got.txt\nput big.bin up.bin\nmkdir d\nrename up.bin d/moved.bin\n\
             ls -l d\nchmod 600 d/moved.bin\nget d/moved.bin back.bin\nput big.bin gone.bin\n\
             rm gone.bin\nmkdir empty\nrmdir empty\n",
        )
        .await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("moved.bin"), "{}", text(&output));

    assert_eq!(common::read(&client.path("got.txt")), b"hello over sftp\n");
    assert!(
        common::read(&client.path("back.bin")) == big,
        "the round trip changed bytes"
    );
    assert!(
        server.read("alice/d/moved.bin").await == big,
        "stored bytes differ"
    );
    assert_eq!(server.names("alice").await, ["d", "hello.txt"]);
    assert_eq!(
        server.names("").await,
        ["alice"],
        "nothing outside the home"
    );
    // reget: a download cut short (its first 1,000,000 bytes here) resumes byte-exact.
    std::fs::write(client.path("half.bin"), &big[..1_000_000]).expect("half.bin");
    let resumed = client
        .sftp(
            &server,
            "alice",
            "wonderland",
            "reget d/moved.bin half.bin\n",
        )
        .await;
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(
        common::read(&client.path("half.bin")) == big,
        "reget changed bytes"
    );
}

/// A wrong password is refused; the jail holds (`..` stops at the home); a folder's rights
/// apply over SFTP as over FTP; a missing file is an error the client reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jail_and_rights_hold_over_sftp() {
    let mut ruled = alice();
    ruled.permissions = [
        ("/".to_string(), vec![Right::All]),
        ("/pub".to_string(), vec![Right::List, Right::Download]),
    ]
    .into_iter()
    .collect();
    let server = TestServer::start_with("127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), ruled);
        config.login_failure_delay = std::time::Duration::from_millis(10);
    })
    .await;
    std::fs::create_dir_all(server.root().join("alice/pub")).expect("pub");
    std::fs::write(server.root().join("alice/pub/read.me"), b"read only").expect("read.me");
    std::fs::write(server.root().join("secret.txt"), b"outside").expect("secret");
    let client = Client::new();
    std::fs::write(client.path("x.txt"), b"x").expect("x.txt");

    let wrong = client.sftp(&server, "alice", "nope", "ls\n").await;
    assert!(!wrong.status.success(), "a wrong password logged in");

    let climbed = client
        .sftp(&server, "alice", "wonderland", "get ../secret.txt s.txt\n")
        .await;
    assert!(!climbed.status.success(), "{}", text(&climbed));
    assert!(
        !client.path("s.txt").exists(),
        "a file outside the home was read"
    );
    let listed = client
        .sftp(&server, "alice", "wonderland", "cd ../../..\npwd\nls\n")
        .await;
    assert!(
        text(&listed).contains("Remote working directory: /\n") && text(&listed).contains("pub"),
        "{}",
        text(&listed)
    );

    let refused = client
        .sftp(&server, "alice", "wonderland", "put x.txt pub/x.txt\n")
        .await;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).to_lowercase().contains("permission denied"),
        "{}",
        text(&refused)
    );
    assert!(!server.root().join("alice/pub/x.txt").exists());
    let fetched = client
        .sftp(&server, "alice", "wonderland", "get pub/read.me r.txt\n")
        .await;
    assert!(fetched.status.success(), "{}", text(&fetched));
    assert_eq!(common::read(&client.path("r.txt")), b"read only");
}

/// An upload cut short leaves the old file whole and its bytes in a partial; `reput` (`put
/// -a`) resumes it byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reput_resumes_an_interrupted_upload() {
    let server = TestServer::start_with("127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice());
    })
    .await;
    let home = server.root().join("alice");
    std::fs::create_dir_all(&home).expect("home");
    let whole = common::pattern(2 << 20, 5);
    // What an interrupted upload keeps: the first 700,000 bytes, hidden under the partial name.
    let partial = home.join(format!("{}big.bin", ferry_storage::PARTIAL_PREFIX));
    std::fs::write(&partial, &whole[..700_000]).expect("the partial");
    let client = Client::new();
    std::fs::write(client.path("big.bin"), &whole).expect("big.bin");

    let output = client
        .sftp(&server, "alice", "wonderland", "reput big.bin big.bin\n")
        .await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        common::read(&home.join("big.bin")) == whole,
        "the resumed file differs"
    );
    assert!(!partial.exists(), "the partial stays after the commit");
}

/// `scp` (which speaks SFTP since OpenSSH 9.0) copies both ways.
async fn scp_copies_both_ways(backend: Backend) {
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice());
    })
    .await;
    server.create_dir("alice").await;
    let client = Client::new();
    let bytes = common::pattern(1 << 20, 9);
    std::fs::write(client.path("up.bin"), &bytes).expect("up.bin");
    let port = server.sftp.expect("an SFTP listener").port().to_string();
    run_ok(client.openssh("scp", "wonderland").args([
        "-P",
        &port,
        "up.bin",
        "alice@127.0.0.1:copied.bin",
    ]))
    .await;
    assert!(server.read("alice/copied.bin").await == bytes);
    run_ok(client.openssh("scp", "wonderland").args([
        "-P",
        &port,
        "alice@127.0.0.1:copied.bin",
        "down.bin",
    ]))
    .await;
    assert!(common::read(&client.path("down.bin")) == bytes);
}

/// curl's `sftp://` (libssh2) downloads and uploads.
async fn curl_sftp_downloads_and_uploads(backend: Backend) {
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice());
    })
    .await;
    let bytes = common::pattern(1 << 20, 13);
    server.write("alice/file.bin", &bytes).await;
    let client = Client::new();
    let port = server.sftp.expect("an SFTP listener").port();
    let url = |name: &str| format!("sftp://127.0.0.1:{port}/{name}");
    let curl = |args: &[&str]| {
        let mut curl = command(tool("curl", "curl"));
        curl.args([
            "--silent",
            "--show-error",
            "--insecure",
            "--user",
            "alice:wonderland",
        ])
        .args(args)
        .current_dir(client.dir.path());
        curl
    };
    let fetched = run_ok(&mut curl(&["--output", "-", &url("file.bin")])).await;
    assert!(fetched.stdout == bytes, "curl got other bytes");
    std::fs::write(client.path("sent.bin"), &bytes[..1000]).expect("sent.bin");
    run_ok(&mut curl(&["--upload-file", "sent.bin", &url("sent.bin")])).await;
    assert_eq!(server.read("alice/sent.bin").await, &bytes[..1000]);
}

/// Only the `sftp` subsystem is served: a command or a shell is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_shells_are_refused() {
    let server = TestServer::start_with("127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice());
    })
    .await;
    let client = Client::new();
    let port = server.sftp.expect("an SFTP listener").port().to_string();
    let marker = client.path("ran");
    let exec = run(
        client
            .openssh("ssh", "wonderland")
            .args([
                "-o",
                "PubkeyAuthentication=no",
                "-p",
                &port,
                "-T",
                "alice@127.0.0.1",
            ])
            .arg(format!("touch {}", marker.display())),
        common::TOOL_LIMIT,
    )
    .await;
    assert!(!exec.status.success(), "exec was served: {}", text(&exec));
    assert!(!Path::new(&marker).exists(), "the command ran");
}

/// Public keys from the users file log in: Ed25519, ECDSA and RSA (rsa-sha2-256/512), each
/// made by `ssh-keygen` at test time; a key that is not the user's does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_keys_of_every_common_type_log_in() {
    let client = Client::new();
    let keygen = tool("ssh-keygen", "openssh-client");
    let mut lines = Vec::new();
    for kind in ["ed25519", "ecdsa", "rsa", "stranger"] {
        let key_type = if kind == "stranger" { "ed25519" } else { kind };
        run_ok(
            command(&keygen)
                .args(["-q", "-t", key_type, "-N", "", "-f"])
                .arg(client.path(kind)),
        )
        .await;
        let public = std::fs::read_to_string(client.path(&format!("{kind}.pub"))).expect("pub");
        if kind != "stranger" {
            lines.push(public.trim().to_string());
        }
    }
    let mut keyed = User {
        home: "k".into(),
        keys: lines,
        ..User::default()
    };
    keyed.password.clear();
    let server = TestServer::start_with("127.0.0.1:0", |config| {
        config.users.users.insert("keyed".into(), keyed);
    })
    .await;
    std::fs::create_dir_all(server.root().join("k")).expect("home");
    std::fs::write(server.root().join("k/in.txt"), b"by key").expect("in.txt");
    let port = server.sftp.expect("an SFTP listener").port().to_string();
    std::fs::write(client.path("batch"), "get in.txt\n").expect("batch");
    for kind in ["ed25519", "ecdsa", "rsa", "stranger"] {
        let got = client.path("in.txt");
        let _ = std::fs::remove_file(&got);
        let output = run(
            client
                .openssh("sftp", "no-password")
                .args([
                    "-o",
                    "PubkeyAuthentication=yes",
                    "-o",
                    "PasswordAuthentication=no",
                ])
                .args(["-o", "IdentitiesOnly=yes", "-i"])
                .arg(client.path(kind))
                .args(["-b", "batch", "-P", &port, "keyed@127.0.0.1"]),
            common::TOOL_LIMIT,
        )
        .await;
        if kind == "stranger" {
            assert!(!output.status.success(), "a stranger's key logged in");
            assert!(!got.exists());
        } else {
            assert!(output.status.success(), "{kind}: {}", text(&output));
            assert_eq!(common::read(&got), b"by key", "{kind}");
        }
    }
}

/// paramiko (Debian's `python3-paramiko`, run by Debian's `/usr/bin/python3`): put, get with
/// prefetch (every read of the file in flight at once), listing, rename, offsets, errors
/// (`tests/py/paramiko_suite.py`).
async fn paramiko_puts_gets_with_prefetch_and_lists(backend: Backend) {
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice());
    })
    .await;
    server.create_dir("alice").await;
    let python = debian_python_with("paramiko", "python3-paramiko").await;
    let port = server.sftp.expect("an SFTP listener").port().to_string();
    let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/paramiko_suite.py");
    run_ok(command(python).args([suite, "127.0.0.1", &port, "alice", "wonderland"])).await;
    assert_eq!(
        server.read("alice/small.txt").await,
        b"written by paramiko\n"
    );
    assert_eq!(server.names("alice").await, ["small.txt"]);
}

/// A write after a gap (paramiko seeking past the end) is refused with a message that says why
/// and the old file stays whole: on S3 an object is written front to back, so an
/// out-of-order write must never become a corrupt object.
async fn out_of_order_writes_are_refused_and_publish_nothing(backend: Backend) {
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice());
    })
    .await;
    server.write("alice/f.bin", b"old contents").await;
    let python = debian_python_with("paramiko", "python3-paramiko").await;
    let port = server.sftp.expect("an SFTP listener").port().to_string();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/paramiko_out_of_order.py"
    );
    let output =
        run_ok(command(python).args([script, "127.0.0.1", &port, "alice", "wonderland"])).await;
    let said = text(&output);
    assert!(
        said.contains("refused:") && said.contains("in order"),
        "{said}"
    );
    assert_eq!(server.read("alice/f.bin").await, b"old contents");
    assert_eq!(
        server.names("alice").await,
        ["f.bin"],
        "no partial in sight"
    );
}

/// rclone's sftp backend: copy up, sync a deletion, and `check --download` (rclone's hash
/// commands need a shell, which ferryd refuses, so it compares the bytes).
async fn rclone_copies_syncs_and_checks(backend: Backend) {
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice());
    })
    .await;
    server.create_dir("alice").await;
    let client = Client::new();
    let local = client.path("tree");
    for (name, size) in [
        ("a.bin", 100_000),
        ("sub/b.bin", 2 << 20),
        ("sub/c.txt", 10),
    ] {
        let path = local.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("folders");
        std::fs::write(&path, common::pattern(size, 3)).expect("a file");
    }
    let rclone = tool("rclone", "rclone");
    let obscured = run_ok(command(&rclone).args(["obscure", "wonderland"])).await;
    let obscured = String::from_utf8_lossy(&obscured.stdout).trim().to_string();
    let port = server.sftp.expect("an SFTP listener").port();
    let remote = format!(
        ":sftp,host=127.0.0.1,port={port},user=alice,pass={obscured},disable_hashcheck=true:tree"
    );
    let rclone_run = |args: &[&str]| {
        let mut command = command(&rclone);
        command.env("RCLONE_CONFIG", "/dev/null").args([
            "--sftp-known-hosts-file",
            "",
            "--retries",
            "1",
        ]);
        if backend == Backend::S3 {
            // An object's time is when it was written: SETSTAT of times is unsupported on S3
            // (README, "Storage on S3"), and rclone fails a copy whose time it cannot set.
            command.arg("--sftp-set-modtime=false");
        }
        command.args(args);
        command
    };
    let local_arg = local.to_str().expect("a UTF-8 path");
    run_ok(&mut rclone_run(&["copy", local_arg, &remote])).await;
    assert!(server.read("alice/tree/sub/b.bin").await == common::pattern(2 << 20, 3));
    assert!(server.read("alice/tree/a.bin").await == common::pattern(100_000, 3));
    std::fs::remove_file(local.join("a.bin")).expect("remove a.bin");
    run_ok(&mut rclone_run(&["sync", local_arg, &remote])).await;
    assert!(
        !server.exists("alice/tree/a.bin").await,
        "sync did not delete a.bin"
    );
    run_ok(&mut rclone_run(&[
        "check",
        "--download",
        local_arg,
        &remote,
    ]))
    .await;
}

/// lftp's `sftp://` (which drives OpenSSH's ssh and answers its password prompt itself):
/// mirror a folder up and get a file back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lftp_mirrors_over_sftp() {
    let server = TestServer::start_with("127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice());
    })
    .await;
    std::fs::create_dir_all(server.root().join("alice")).expect("home");
    let client = Client::new();
    let tree = client.path("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("tree");
    std::fs::write(tree.join("a.bin"), common::pattern(300_000, 1)).expect("a.bin");
    std::fs::write(tree.join("sub/b.txt"), b"bee\n").expect("b.txt");
    let port = server.sftp.expect("an SFTP listener").port();
    let script = format!(
        "set sftp:connect-program \"ssh -a -x -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no\"; \
         open -u alice,wonderland sftp://127.0.0.1:{port}; mirror -R tree up; \
         get up/sub/b.txt -o back.txt; bye"
    );
    run_ok(
        command(tool("lftp", "lftp"))
            .current_dir(client.dir.path())
            .args(["-c", &script]),
    )
    .await;
    let home = server.root().join("alice/up");
    assert!(common::read(&home.join("a.bin")) == common::pattern(300_000, 1));
    assert_eq!(common::read(&home.join("sub/b.txt")), b"bee\n");
    assert_eq!(common::read(&client.path("back.txt")), b"bee\n");
}
