//! lftp against ferryd: `mirror -R` of a nested tree into the server and `mirror` back, compared
//! byte for byte; the same in active mode; and lftp's everyday file commands.
//!
//! Every test runs twice, on a folder-backed ferryd (`local::`) and on an S3-backed one (`s3::`,
//! SeaweedFS on loopback). Needs `lftp` (`apt-get install lftp`) and SeaweedFS (see `.ci/run`);
//! fails, never skips, when one is missing.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{
    Backend, TOOL_LIMIT, TestServer, assert_same_entries, assert_same_tree, command,
    on_both_backends, pattern, read, run, run_ok, tool, write,
};
use tokio::process::Command;

on_both_backends!(
    mirror_a_nested_tree_up_and_back,
    mirror_in_active_mode_with_list_instead_of_mlsd,
    everyday_commands,
    segmented_download_and_resumed_upload,
);

/// Settings that keep lftp from retrying or waiting for long, and make any failed command fail
/// the whole run.
const SAFE: &str = "set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
                    set cmd:fail-exit yes; set xfer:clobber on";

/// `lftp -c` running `script` against `server`.
fn lftp_command(server: &TestServer, settings: &str, script: &str) -> Command {
    let full = format!(
        "{SAFE}; {settings}; open -u anonymous,interop@ {}; {script}",
        server.url("")
    );
    let mut lftp = command(tool("lftp", "lftp"));
    lftp.arg("-c").arg(full);
    lftp
}

/// Runs one lftp script (`lftp -c`) against `server` and fails the test unless it exits with 0.
async fn lftp(server: &TestServer, settings: &str, script: &str) -> String {
    let output = run_ok(&mut lftp_command(server, settings, script)).await;
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `path` quoted for an lftp command line.
fn quoted(path: &Path) -> String {
    let text = path.to_str().expect("temporary paths are UTF-8");
    assert!(!text.contains('"'), "no quotes in temporary paths: {text}");
    format!("\"{text}\"")
}

/// Names in the `tricky` folder of every tree; the first one is dated [`old_time`]. On S3 the
/// last name may not end with whitespace ([`ENDS_IN_SPACE`]).
const TRICKY: [&str; 6] = [
    "semi;colon=eq.txt",
    " leading space.txt",
    "trailing space ",
    "  two  spaces",
    "-la",
    "#hash%percent+plus",
];

/// The [`TRICKY`] name an S3-backed ferryd refuses (553): OpenDAL trims the ends of keys.
const ENDS_IN_SPACE: &str = "trailing space ";

/// The [`TRICKY`] names `backend` can store.
fn tricky(backend: Backend) -> impl Iterator<Item = &'static str> {
    TRICKY
        .into_iter()
        .filter(move |name| backend == Backend::Local || *name != ENDS_IN_SPACE)
}

/// 2021-03-04 05:06:07 UTC, which mirroring must keep (lftp sets it with MFMT).
fn old_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_614_834_367)
}

/// The modification time of a file.
fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .expect("a modification time")
}

/// Writes a nested tree of `files` files (plus one of 5 MiB when `big`) below `root`: empty and
/// small and larger files, names with spaces, quotes, brackets and non-ASCII UTF-8, an empty
/// folder and a deep one, and the [`TRICKY`] names `backend` can store.
fn make_tree(root: &Path, files: usize, big: bool, backend: Backend) {
    let folders = [
        "",
        "alpha",
        "alpha/beta gamma",
        "alpha/beta gamma/δέλτα",
        "日本語 フォルダ",
        "deep/1/2/3/4/5",
        "with [brackets] & 'quotes'",
    ];
    let names = [
        "file {i}.txt",
        "ünïcödé-{i}.dat",
        "emoji 🚀 {i}.bin",
        "{i} leading digit",
        "it's {i}",
        "no_extension_{i}",
        "Ελληνικά {i}.txt",
    ];
    let sizes = [0, 1, 100, 4096, 65_536, 10_007, 131_073, 333];
    for i in 0..files {
        let folder = folders[i % folders.len()];
        let name = names[(i / folders.len()) % names.len()].replace("{i}", &i.to_string());
        let size = sizes[i % sizes.len()] + if i % 3 == 0 { i } else { 0 };
        let seed = u8::try_from(i % 251).expect("below 251");
        write(&root.join(folder).join(name), &pattern(size, seed));
    }
    std::fs::create_dir_all(root.join("empty folder")).expect("an empty folder");
    // Names that trip listing parsers: leading, trailing and double spaces, a leading dash,
    // the `;` and `=` of MLSD facts.
    for (i, name) in tricky(backend).enumerate() {
        write(
            &root.join("tricky").join(name),
            format!("tricky {i}\n").as_bytes(),
        );
    }
    let dated = std::fs::File::options()
        .write(true)
        .open(root.join("tricky").join(TRICKY[0]))
        .expect("open a file to date it");
    dated
        .set_modified(old_time())
        .expect("set a modification time");
    if big {
        write(
            &root.join("alpha/big file 5 MiB.bin"),
            &pattern(5 * 1024 * 1024 + 17, 99),
        );
    }
}

async fn mirror_a_nested_tree_up_and_back(backend: Backend) {
    let started = SystemTime::now();
    let server = TestServer::start_on(backend).await;
    let scratch = tempfile::tempdir().expect("scratch folder");
    let source = scratch.path().join("source");
    let back = scratch.path().join("back");
    make_tree(&source, 300, true, backend);
    let entries = common::tree(&source, &|_| false);
    assert!(
        entries.len() > 300,
        "{} entries in the source tree",
        entries.len()
    );

    lftp(
        &server,
        "",
        &format!(
            "mirror -R --parallel=4 {} /upload; mirror --parallel=4 /upload {}",
            quoted(&source),
            quoted(&back)
        ),
    )
    .await;

    assert_same_entries(
        &entries,
        &server.tree("upload").await,
        "/upload on the server",
    );
    assert_same_tree(&source, &back, &|_| false);
    let dated = format!("tricky/{}", TRICKY[0]);
    let on_server = server.modified(&format!("upload/{dated}")).await;
    match backend {
        Backend::Local => assert_eq!(on_server, old_time(), "MFMT on upload"),
        // README: MFMT answers 554 on S3, an object's time is when it was written (lftp goes on).
        Backend::S3 => assert!(
            on_server > started - Duration::from_secs(60),
            "the object keeps its upload time, {on_server:?}, not the source's"
        ),
    }
    assert_eq!(
        modified(&back.join(&dated)),
        on_server,
        "the server's time kept on download"
    );
    // Nothing else on the server: no temporary upload files left behind.
    assert_eq!(
        server.names("").await,
        ["upload"],
        "only the mirrored folder at the top"
    );

    if backend == Backend::S3 {
        // README: a last name ending in whitespace answers 553 on S3 (OpenDAL would store
        // "trailing space " as "trailing space"); nothing is stored under either name.
        let local = scratch.path().join("ends in space");
        write(&local, b"refused\n");
        let script = format!(
            "put {} -o \"upload/tricky/{ENDS_IN_SPACE}\"",
            quoted(&local)
        );
        let output = run(&mut lftp_command(&server, "", &script), TOOL_LIMIT).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains("553"),
            "put of {ENDS_IN_SPACE:?} refused with 553: {} {stderr}",
            output.status
        );
        assert!(
            !server
                .exists(&format!("upload/tricky/{}", ENDS_IN_SPACE.trim()))
                .await
        );
        assert_same_entries(
            &entries,
            &server.tree("upload").await,
            "/upload after the 553",
        );
    }
}

async fn mirror_in_active_mode_with_list_instead_of_mlsd(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let scratch = tempfile::tempdir().expect("scratch folder");
    let source = scratch.path().join("source");
    let back = scratch.path().join("back");
    make_tree(&source, 40, false, backend);

    lftp(
        &server,
        "set ftp:passive-mode off; set ftp:use-mlsd off",
        &format!(
            "mirror -R {} /active; mirror /active {}",
            quoted(&source),
            quoted(&back)
        ),
    )
    .await;

    let entries = common::tree(&source, &|_| false);
    assert_same_entries(
        &entries,
        &server.tree("active").await,
        "/active on the server",
    );
    assert_same_tree(&source, &back, &|_| false);
}

async fn everyday_commands(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let scratch = tempfile::tempdir().expect("scratch folder");
    let data = pattern(70_000, 7);
    let local = scratch.path().join("local file.bin");
    write(&local, &data);
    let fetched = scratch.path().join("fetched.bin");

    let output = lftp(
        &server,
        "",
        &format!(
            "mkdir -p \"new dir/sub\"; cd \"new dir\"; put {} -o \"up ü.bin\"; \
             mv \"up ü.bin\" renamed.bin; get renamed.bin -o {}; cls -1; \
             put {} -o doomed.bin; rm doomed.bin; rmdir sub; cd ..; cls -1 --sort=name",
            quoted(&local),
            quoted(&fetched),
            quoted(&local)
        ),
    )
    .await;

    assert_eq!(server.read("new dir/renamed.bin").await, data);
    assert_eq!(read(&fetched), data);
    assert!(server.exists("new dir").await, "the check sees folders");
    assert!(!server.exists("new dir/sub").await, "rmdir removed it");
    assert!(!server.exists("new dir/doomed.bin").await, "rm removed it");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines, ["renamed.bin", "sub/", "new dir/"], "cls output");
}

async fn segmented_download_and_resumed_upload(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let scratch = tempfile::tempdir().expect("scratch folder");
    let big = pattern(5 * 1024 * 1024 + 3, 11);
    server.write("segmented.bin", &big).await;
    // An upload that stopped after its first 1,000,000 bytes.
    let upload = pattern(3_000_000, 12);
    server.write("resume me.bin", &upload[..1_000_000]).await;
    let local = scratch.path().join("resume me.bin");
    write(&local, &upload);
    let fetched = scratch.path().join("segmented.bin");

    // pget: four connections, each REST to its offset then closing early; put -c: continue.
    lftp(
        &server,
        "",
        &format!(
            "pget -n 4 segmented.bin -o {}; put -c {} -o \"resume me.bin\"",
            quoted(&fetched),
            quoted(&local)
        ),
    )
    .await;

    assert_eq!(read(&fetched), big, "pget -n 4");
    assert_eq!(server.read("resume me.bin").await, upload, "put -c");
}
