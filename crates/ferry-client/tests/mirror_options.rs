//! `ferry mirror`'s choices against ferryd, both ways: `--delete` (after the copy; excluded
//! names kept), `--only-newer`, `--exclude` / `--include`, `--dry-run` (both trees unchanged,
//! byte for byte and time for time), and the stop at the first 552 (a scripted server that
//! refuses every upload for want of space: one STOR, not one a file).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{
    Client, Fake, Server, answer_basic, answer_epsv, assert_file, assert_ok, assert_one_line_error,
    send_on_data, stdout,
};

/// Every file and folder under `root`: relative path → (bytes, modification time); folders
/// have no bytes.
fn snapshot(root: &Path) -> BTreeMap<String, (Option<Vec<u8>>, SystemTime)> {
    let mut found = BTreeMap::new();
    let mut walk = vec![root.to_path_buf()];
    while let Some(folder) = walk.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if meta.is_dir() {
                walk.push(path);
                found.insert(rel, (None, meta.modified().unwrap()));
            } else {
                let bytes = std::fs::read(&path).unwrap();
                found.insert(rel, (Some(bytes), meta.modified().unwrap()));
            }
        }
    }
    found
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn age(root: &Path, rel: &str, secs_ago: u64) {
    let when = SystemTime::now() - Duration::from_secs(secs_ago);
    std::fs::File::options()
        .write(true)
        .open(root.join(rel))
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// The tree the source starts with: kept, changed, added, excluded files and folders.
fn source_tree(root: &Path) {
    write(root, "keep.txt", b"kept");
    write(root, "sub/change.txt", b"before");
    write(root, "sub/deep/low.bin", &[9u8; 70_000]);
    write(root, "cache/big.tmp", b"never mirrored");
    write(root, "notes.tmp", b"scratch");
    write(root, "gone.txt", b"removed later");
    write(root, "gone-dir/x.txt", b"x");
}

#[test]
fn download_mirror_deletes_filters_and_dry_runs() {
    let server = Server::start();
    let remote = server.path("tree");
    source_tree(&remote);
    let client = Client::new();
    let copy = client.work().join("copy");
    let url = server.url("tree/");

    // A first copy without the excluded names.
    let output = client.run(&[
        "mirror",
        &url,
        "copy",
        "--exclude",
        "*.tmp",
        "--exclude",
        "cache",
    ]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output),
        "Mirrored 5 files (70024b), 0 unchanged, 0 failed, 2 excluded\n"
    );
    assert!(!copy.join("cache").exists() && !copy.join("notes.tmp").exists());
    assert_file(copy.join("sub/deep/low.bin"), [9u8; 70_000]);

    // The source changes: one file removed, a folder removed, one changed, one added. A local
    // file of an excluded name must survive --delete.
    std::fs::remove_file(remote.join("gone.txt")).unwrap();
    std::fs::remove_dir_all(remote.join("gone-dir")).unwrap();
    write(&remote, "sub/change.txt", b"after, longer");
    write(&remote, "sub/added.txt", b"new");
    write(&copy, "local.tmp", b"mine");

    // --dry-run says what would happen and changes nothing on either side.
    let before = (snapshot(&remote), snapshot(&copy));
    let output = client.run(&[
        "mirror",
        &url,
        "copy",
        "--delete",
        "--exclude",
        "*.tmp",
        "--exclude",
        "cache",
        "--dry-run",
    ]);
    assert_ok(&output);
    let text = stdout(&output);
    // The local side as given on the command line.
    let copy_text = "copy";
    let expected = [
        format!("copy tree/sub/added.txt -> {copy_text}/sub/added.txt (3b)"),
        format!("copy tree/sub/change.txt -> {copy_text}/sub/change.txt (13b)"),
        format!("delete {copy_text}/gone-dir/"),
        format!("delete {copy_text}/gone.txt"),
        "Dry run: would copy 2 files (16b) and delete 2, 2 unchanged, 2 excluded".to_string(),
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
    assert_eq!((snapshot(&remote), snapshot(&copy)), before);

    // The real run does just that.
    let output = client.run(&[
        "mirror",
        &url,
        "copy",
        "--delete",
        "--exclude",
        "*.tmp",
        "--exclude",
        "cache",
    ]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output),
        "Mirrored 2 files (16b), 2 unchanged, 0 failed, 2 deleted, 2 excluded\n"
    );
    assert!(!copy.join("gone.txt").exists() && !copy.join("gone-dir").exists());
    assert_file(copy.join("sub/change.txt"), b"after, longer");
    assert_file(copy.join("sub/added.txt"), b"new");
    assert_file(copy.join("local.tmp"), b"mine");

    // --include takes only matching files (folders are still walked).
    let output = client.run(&["mirror", &url, "only-bin", "--include", "*.bin"]);
    assert_ok(&output);
    assert_eq!(
        snapshot(&client.work().join("only-bin"))
            .into_iter()
            .filter(|(_, (bytes, _))| bytes.is_some())
            .map(|(rel, _)| rel)
            .collect::<Vec<_>>(),
        ["sub/deep/low.bin"]
    );

    // --only-newer: a local copy edited after the server's is kept.
    write(&copy, "keep.txt", b"edited here, newer");
    let output = client.run(&["mirror", &url, "copy", "--only-newer", "--exclude", "*.tmp"]);
    assert_ok(&output);
    assert!(
        stdout(&output).contains(", 1 not newer"),
        "{}",
        stdout(&output)
    );
    assert_file(copy.join("keep.txt"), b"edited here, newer");
    // ... while an older local copy is replaced.
    age(&copy, "keep.txt", 3600 * 24);
    let output = client.run(&["mirror", &url, "copy", "--only-newer", "--exclude", "*.tmp"]);
    assert_ok(&output);
    assert_file(copy.join("keep.txt"), b"kept");
}

#[test]
fn upload_mirror_deletes_filters_and_dry_runs() {
    let server = Server::start();
    let client = Client::new();
    let local = client.work().join("tree");
    source_tree(&local);
    let url = server.url("up/");
    let remote = server.path("up");

    let output = client.run(&["mirror", "-R", "tree", &url, "--exclude", "*.tmp"]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output),
        "Mirrored 5 files (70024b), 0 unchanged, 0 failed, 2 excluded\n"
    );
    assert!(!remote.join("notes.tmp").exists() && !remote.join("cache/big.tmp").exists());
    assert!(remote.join("cache").is_dir());

    std::fs::remove_file(local.join("gone.txt")).unwrap();
    std::fs::remove_dir_all(local.join("gone-dir")).unwrap();
    write(&local, "sub/change.txt", b"after, longer");
    write(&remote, "theirs.tmp", b"kept: excluded");

    let before = (snapshot(&local), snapshot(&remote));
    let output = client.run(&[
        "mirror",
        "-R",
        "tree",
        &url,
        "--delete",
        "--exclude",
        "*.tmp",
        "--dry-run",
    ]);
    assert_ok(&output);
    let text = stdout(&output);
    assert!(
        text.contains("delete up/gone-dir/\n") && text.contains("delete up/gone.txt\n"),
        "{text}"
    );
    assert!(text.contains("copy tree/sub/change.txt -> up/sub/change.txt (13b)\n"));
    assert!(
        text.ends_with("Dry run: would copy 1 files (13b) and delete 2, 2 unchanged, 2 excluded\n"),
        "{text}"
    );
    assert_eq!((snapshot(&local), snapshot(&remote)), before);

    let output = client.run(&[
        "mirror",
        "-R",
        "tree",
        &url,
        "--delete",
        "--exclude",
        "*.tmp",
    ]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output),
        "Mirrored 1 files (13b), 2 unchanged, 0 failed, 2 deleted, 2 excluded\n"
    );
    assert!(!remote.join("gone.txt").exists() && !remote.join("gone-dir").exists());
    assert_file(remote.join("theirs.tmp"), b"kept: excluded");
    assert_file(remote.join("sub/change.txt"), b"after, longer");
}

/// lftp#737: a server out of space refuses each upload after a full transfer; the mirror stops
/// at the first refusal and names that file.
#[test]
fn mirror_stops_at_the_first_552() {
    let mut data = None;
    let fake = Fake::start(move |line, control| {
        if let Some(go_on) = answer_basic(line, control, &["EPSV", "SIZE"]) {
            return go_on;
        }
        match line.split(' ').next().unwrap_or("") {
            "EPSV" => answer_epsv(control, &mut data),
            "LIST" | "NLST" => send_on_data(control, &mut data, b""),
            "STOR" => {
                control.write_all(b"150 go on\r\n").unwrap();
                let (mut stream, _) = data.take().unwrap().accept().unwrap();
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink);
                control
                    .write_all(b"552 Quota exceeded: no room left\r\n")
                    .unwrap();
            }
            _ => control.write_all(b"502 not here\r\n").unwrap(),
        }
        true
    });
    let client = Client::new();
    for name in ["a.txt", "b.txt", "c.txt"] {
        write(&client.work().join("tree"), name, b"bytes");
    }
    let url = format!("ftp://{}/", fake.addr);
    let output = client.run(&["mirror", "-R", "tree", &url]);
    assert_one_line_error(&output, "stopped at a.txt: STOR a.txt: 552 Quota exceeded");
    let stors = fake
        .commands()
        .into_iter()
        .filter(|line| line.starts_with("STOR"))
        .count();
    assert_eq!(stors, 1);
}

/// The shell's `mirror` takes the same options: `--dry-run` lists and changes nothing, then
/// `--delete --exclude` acts.
#[test]
fn the_shell_mirror_takes_the_options() {
    let server = Server::start();
    write(&server.path("tree"), "a.txt", b"a");
    write(&server.path("tree"), "skip.tmp", b"t");
    let client = Client::new();
    write(&client.work().join("copy"), "old.txt", b"old");
    let script = format!(
        "open {}\nmirror --dry-run --delete --exclude *.tmp tree copy\n\
         mirror --delete --exclude *.tmp tree copy\nquit\n",
        server.url("")
    );
    let output = common::run_script(client.home(), client.work(), &[], &script);
    let text = stdout(&output);
    assert!(
        text.contains("copy tree/a.txt -> copy/a.txt (1b)"),
        "{text}"
    );
    assert!(text.contains("delete copy/old.txt"), "{text}");
    assert!(
        text.contains("Dry run: would copy 1 files (1b) and delete 1, 0 unchanged, 1 excluded"),
        "{text}"
    );
    assert!(
        text.contains("Mirrored 1 files (1b), 0 unchanged, 0 failed, 1 deleted, 1 excluded"),
        "{text}"
    );
    assert_file(client.work().join("copy/a.txt"), b"a");
    assert!(!client.work().join("copy/old.txt").exists());
    assert!(!client.work().join("copy/skip.tmp").exists());
}
