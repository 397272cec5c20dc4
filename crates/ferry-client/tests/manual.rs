//! `ferry man DIR` and `ferry completions SHELL`: the pages render with `man`, the bash script
//! loads and completes the subcommands. Needs Debian's `man-db` and `bash`; fails, never skips,
//! under CI=true when one is missing.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use ferry_testkit::{run_bounded, tool};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn the_manual_pages_render() {
    let man = tool("man", "man-db");
    let dir = tempfile::tempdir().unwrap();
    let out = run_bounded(Command::new(FERRY).arg("man").arg(dir.path()), LIMIT);
    assert!(out.status.success(), "{out:?}");
    for page in ["ferry.1", "ferry-get.1", "ferry-put.1", "ferry-mirror.1"] {
        assert!(dir.path().join(page).is_file(), "no {page}");
    }
    let out = run_bounded(
        Command::new(man)
            .arg("-l")
            .arg(dir.path().join("ferry-get.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"),
        LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains("ferry-get") && page.contains("--continue"),
        "{page}"
    );
}

#[test]
fn the_bash_completions_load() {
    let bash = tool("bash", "bash");
    let script = run_bounded(Command::new(FERRY).args(["completions", "bash"]), LIMIT);
    assert!(script.status.success(), "{script:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ferry.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    let out = run_bounded(
        Command::new(bash).arg("-c").arg(format!(
            "source {} && complete -p ferry && COMP_WORDS=(ferry '') COMP_CWORD=1 \
             && _ferry ferry '' ferry && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        )),
        LIMIT,
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(said.contains("-F _ferry ferry"), "{said}");
    for word in ["get", "put", "mirror"] {
        assert!(said.lines().any(|line| line == word), "{word}: {said}");
    }
}
