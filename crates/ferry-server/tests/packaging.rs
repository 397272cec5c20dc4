//! What ships beside the binary: the systemd unit passes `systemd-analyze verify`, the manual
//! pages render with `man`, and the bash completion script loads. Needs Debian's `systemd`,
//! `man-db` and `bash`; fails, never skips, under CI=true when one is missing.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ferry_testkit::{run_bounded, tool};

const LIMIT: Duration = Duration::from_secs(60);

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `ferryd man DIR` into a fresh folder laid out as a MANPATH (`DIR/man1`).
fn man_pages() -> tempfile::TempDir {
    let manpath = tempfile::tempdir().unwrap();
    let out = run_bounded(
        Command::new(common::FERRYD)
            .arg("man")
            .arg(manpath.path().join("man1")),
        LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    manpath
}

#[test]
fn the_systemd_unit_verifies() {
    let analyze = tool("systemd-analyze", "systemd");
    let unit = std::fs::read_to_string(repository().join("packaging/ferryd.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/ferryd "), "{unit}");
    for sandboxing in [
        "User=ferry",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "StateDirectory=ferry",
    ] {
        assert!(unit.contains(sandboxing), "the unit lacks {sandboxing}");
    }
    // verify checks that ExecStart's program exists and that `man ferryd` finds a page: the
    // built binary stands in for the installed one, the generated pages for installed ones.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("ferryd.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/ferryd", common::FERRYD)).unwrap();
    let manpath = man_pages();
    let out = run_bounded(
        Command::new(analyze)
            .arg("verify")
            .arg(&copy)
            .env("MANPATH", manpath.path()),
        LIMIT,
    );
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_manual_pages_render() {
    let man = tool("man", "man-db");
    let manpath = man_pages();
    let mut names: Vec<String> = std::fs::read_dir(manpath.path().join("man1"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.contains(&"ferryd.1".to_string()), "{names:?}");
    assert!(
        names.contains(&"ferryd-user-add.1".to_string()),
        "{names:?}"
    );
    let out = run_bounded(
        Command::new(man)
            .arg("-l")
            .arg(manpath.path().join("man1/ferryd.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"),
        LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains("NAME") && page.contains("ferryd"), "{page}");
    assert!(page.contains("--sftp-bind"), "{page}");
}

#[test]
fn the_bash_completions_load() {
    let bash = tool("bash", "bash");
    let script = run_bounded(
        Command::new(common::FERRYD).args(["completions", "bash"]),
        LIMIT,
    );
    assert!(script.status.success(), "{script:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ferryd.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    // Loaded, registered for ferryd, and asked for the words after `ferryd user `.
    let out = run_bounded(
        Command::new(bash).arg("-c").arg(format!(
            "source {} && complete -p ferryd && COMP_WORDS=(ferryd user '') COMP_CWORD=2 \
             && _ferryd ferryd '' user && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        )),
        LIMIT,
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(said.contains("-F _ferryd ferryd"), "{said}");
    assert!(said.lines().any(|line| line == "add"), "{said}");
}
