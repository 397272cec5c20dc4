//! What a mirror does, decided once for FTP and SFTP: which files to copy, which to leave
//! (unchanged, not newer, excluded), which folders to make and what to delete.
//!
//! The decisions are sans-IO ([`decide`] takes two listings of one folder and fills a [`Plan`]);
//! the walk over a tree ([`plan`]) and the folder/delete steps ([`make_folders`],
//! [`delete_extra`]) reach the two sides only through [`Tree`], which the local disk, an FTP
//! connection and an SFTP session implement. Moving the files themselves stays with each
//! protocol's mirror (`transfer/mirror.rs`, `sftp/mirror.rs`), which share the queue.
//!
//! Paths inside a plan are relative to the mirror's roots (`a/b.txt`; the root is ``), with `/`
//! between names on both sides.

use ferry_proto::ReplyCode;
use ferry_proto::glob::{GlobRules, glob_match_str};
use ferry_proto::listing::{Entry, EntryKind};

use super::mirror::same_time;
use crate::ClientError;

/// How a mirror chooses, besides its direction.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Files moved at once (each its own connection; at most 16).
    pub parallel: usize,
    /// Remove from the target what the source no longer has (after the copy, and only when
    /// every copy worked; excluded names are never removed).
    pub delete: bool,
    /// Copy a file that exists on the target only when the source's copy is newer.
    pub only_newer: bool,
    /// Decide and report every action, change nothing.
    pub dry_run: bool,
    /// `--include` / `--exclude`.
    pub filter: NameFilter,
    /// `--retry N`: a file whose connection dropped is resumed over a new one.
    pub retry: crate::retry::Retry,
    /// `--verify`: each file's digest against the server's.
    pub verify: bool,
}

impl Default for MirrorOptions {
    fn default() -> MirrorOptions {
        MirrorOptions {
            parallel: 1,
            delete: false,
            only_newer: false,
            dry_run: false,
            filter: NameFilter::default(),
            retry: crate::retry::Retry::default(),
            verify: false,
        }
    }
}

/// `--include GLOB` and `--exclude GLOB`: a name is taken when it matches no `--exclude` and,
/// if any `--include` was given and it is a file, matches one of them. A pattern with a `/`
/// matches the path from the mirror's root (`logs/*.gz`), one without matches the last name
/// anywhere in the tree. `--exclude` applies to folders too (their whole tree is left out);
/// `--include` only to files, so `--include '*.gz'` still walks every folder. Wildcards as in
/// the shell's `mget`: `*`, `?`, `[a-z]`.
#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    /// `--include` patterns.
    pub include: Vec<String>,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
}

impl NameFilter {
    /// True when `rel` (whose last name is `name`) is left out.
    pub fn excludes(&self, rel: &str, name: &str, folder: bool) -> bool {
        let hit = |pattern: &String| {
            let subject = if pattern.contains('/') { rel } else { name };
            glob_match_str(pattern.trim_start_matches('/'), subject, GlobRules::SHELL)
        };
        if self.exclude.iter().any(hit) {
            return true;
        }
        !folder && !self.include.is_empty() && !self.include.iter().any(hit)
    }
}

/// How times compare between the two sides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeRule {
    /// The remote listing gives seconds (MLSD, SFTP), not LIST's minutes or days.
    pub precise: bool,
    /// A copy gets the source's time (downloads; uploads with MFMT or SFTP SETSTAT). When it
    /// does not, a target at least as new as the source is current.
    pub target_keeps_times: bool,
}

/// One file to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyJob {
    /// Path from the roots.
    pub rel: String,
    /// The source's size.
    pub size: u64,
    /// The source is a plain file (a link's listed size is the link's own).
    pub is_file: bool,
    /// The source's modification time.
    pub modified: Option<i64>,
}

/// Everything a mirror will do, in order: make `folders` (parents first), copy `copies`, then
/// delete `deletes` (with `--delete`).
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub folders: Vec<String>,
    pub copies: Vec<CopyJob>,
    /// Paths on the target the source lacks, and whether each is a folder.
    pub deletes: Vec<(String, bool)>,
    pub unchanged: usize,
    pub not_newer: usize,
    pub excluded: usize,
}

/// One side of a mirror: the local disk, an FTP connection or an SFTP session, rooted at the
/// mirror's folder.
pub(crate) trait Tree {
    /// The entries of folder `rel`; the server's or the disk's error as it is.
    async fn list(&mut self, rel: &str) -> Result<Vec<Entry>, ClientError>;
    /// Makes folder `rel` (`""`: the root, with its missing parents).
    async fn make_folder(&mut self, rel: &str) -> Result<(), ClientError>;
    /// Removes file `rel`.
    async fn remove_file(&mut self, rel: &str) -> Result<(), ClientError>;
    /// Removes the empty folder `rel`.
    async fn remove_folder(&mut self, rel: &str) -> Result<(), ClientError>;
    /// `rel` as the user knows it (for `--dry-run`).
    fn show(&self, rel: &str) -> String;
}

/// True for an error that says the path does not exist (so a target folder is simply empty).
pub(crate) fn is_missing(error: &ClientError) -> bool {
    match error {
        ClientError::Server { reply, .. } => {
            reply.code == ReplyCode::FILE_UNAVAILABLE || reply.code == ReplyCode::FILE_BUSY
        }
        ClientError::Sftp { code, .. } => *code == ferry_proto::sftp::StatusCode::NO_SUCH_FILE,
        ClientError::Local { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// True for "no room left": FTP 452/552, a full local disk. A mirror stops at the first.
pub(crate) fn is_out_of_space(error: &ClientError) -> bool {
    match error {
        ClientError::Server { reply, .. } => {
            reply.code == ReplyCode::INSUFFICIENT_STORAGE
                || reply.code == ReplyCode::EXCEEDED_STORAGE
        }
        ClientError::Local { source, .. } | ClientError::Network { source, .. } => {
            source.kind() == std::io::ErrorKind::StorageFull
                || source.kind() == std::io::ErrorKind::QuotaExceeded
        }
        _ => false,
    }
}

/// `rel`'s child `name`.
pub(crate) fn join_rel(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// True for a name a listing may not make us use: a path, `.` or `..`.
pub(crate) fn unsafe_name(name: &str) -> bool {
    name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".."
}

/// Walks both trees from their roots and decides. Only lists: nothing changes on either side.
pub(crate) async fn plan<S: Tree, T: Tree>(
    source: &mut S,
    target: &mut T,
    options: &MirrorOptions,
    rule: TimeRule,
) -> Result<Plan, ClientError> {
    let mut plan = Plan::default();
    // Folders still to walk, and whether the target may have them.
    let mut folders = vec![(String::new(), true)];
    while let Some((rel, on_target)) = folders.pop() {
        let from = source.list(&rel).await?;
        let to = if on_target {
            match target.list(&rel).await {
                Ok(entries) => Some(entries),
                // Servers differ in how they say "no such folder" (pyftpdlib: 501 to MLSD,
                // ferryd: 550); any refusal means the target has nothing to keep or delete
                // there, and making the folder will say what is wrong if it is not missing.
                Err(error) if is_missing(&error) || error.is_server_refusal() => None,
                Err(error) => return Err(error),
            }
        } else {
            None
        };
        if to.is_none() {
            plan.folders.push(rel.clone());
        }
        let below = decide(&rel, &from, to.as_deref(), options, rule, &mut plan);
        folders.extend(below.into_iter().rev());
    }
    Ok(plan)
}

/// Decides one folder: `from` is the source's listing of `rel`, `to` the target's (`None`:
/// the target lacks the folder). Returns the subfolders to walk, with whether the target has
/// each.
pub(crate) fn decide(
    rel: &str,
    from: &[Entry],
    to: Option<&[Entry]>,
    options: &MirrorOptions,
    rule: TimeRule,
    plan: &mut Plan,
) -> Vec<(String, bool)> {
    let mut from: Vec<&Entry> = from.iter().collect();
    from.sort_by(|a, b| a.name.cmp(&b.name));
    let target = |name: &[u8]| to.and_then(|to| to.iter().find(|entry| entry.name == name));
    let mut below = Vec::new();
    for entry in &from {
        let name = String::from_utf8_lossy(&entry.name);
        if unsafe_name(&name) {
            continue;
        }
        let child = join_rel(rel, &name);
        let folder = entry.kind == EntryKind::Dir;
        if options.filter.excludes(&child, &name, folder) {
            plan.excluded += 1;
            continue;
        }
        let there = target(&entry.name);
        if folder {
            below.push((child, there.is_some()));
            continue;
        }
        match there.filter(|there| there.kind != EntryKind::Dir) {
            Some(there) if unchanged(entry, there, rule) => plan.unchanged += 1,
            Some(there) if options.only_newer && !newer(entry, there, rule) => {
                plan.not_newer += 1;
            }
            _ => plan.copies.push(CopyJob {
                rel: child,
                size: entry.size,
                is_file: entry.kind == EntryKind::File,
                modified: entry.modified,
            }),
        }
    }
    if options.delete
        && let Some(to) = to
    {
        let mut extra: Vec<&Entry> = to
            .iter()
            .filter(|there| !from.iter().any(|entry| entry.name == there.name))
            .collect();
        extra.sort_by(|a, b| a.name.cmp(&b.name));
        for there in extra {
            let name = String::from_utf8_lossy(&there.name);
            let child = join_rel(rel, &name);
            let folder = there.kind == EntryKind::Dir;
            // Excluded names are left alone on the target too.
            if unsafe_name(&name) || options.filter.excludes(&child, &name, folder) {
                continue;
            }
            plan.deletes.push((child, folder));
        }
    }
    below
}

/// True when the target's copy is the source's: same size and, as far as the listings tell,
/// the same time.
fn unchanged(source: &Entry, target: &Entry, rule: TimeRule) -> bool {
    source.size == target.size
        && match (source.modified, target.modified) {
            (Some(from), Some(to)) if rule.target_keeps_times => same_time(from, to, rule.precise),
            (Some(from), Some(to)) => to >= from || same_time(from, to, rule.precise),
            _ => true,
        }
}

/// True when the source's copy is newer than the target's (or either time is unknown).
fn newer(source: &Entry, target: &Entry, rule: TimeRule) -> bool {
    match (source.modified, target.modified) {
        (Some(from), Some(to)) => from > to && !same_time(from, to, rule.precise),
        _ => true,
    }
}

/// Makes the plan's folders on the target, parents first. The root is always made (with its
/// parents; one that exists is fine): vsftpd lists a missing folder as an empty one.
pub(crate) async fn make_folders<T: Tree>(target: &mut T, plan: &Plan) -> Result<(), ClientError> {
    target.make_folder("").await?;
    for rel in plan.folders.iter().filter(|rel| !rel.is_empty()) {
        target.make_folder(rel).await?;
    }
    Ok(())
}

/// Deletes what the plan says the source lacks (folders with all they hold). Returns how many
/// paths went, and the failures.
pub(crate) async fn delete_extra<T: Tree>(
    target: &mut T,
    plan: &Plan,
) -> (usize, Vec<(String, ClientError)>) {
    let mut deleted = 0;
    let mut failed = Vec::new();
    for (rel, folder) in &plan.deletes {
        let result = if *folder {
            remove_tree(target, rel).await
        } else {
            target.remove_file(rel).await
        };
        match result {
            Ok(()) => deleted += 1,
            Err(error) => failed.push((target.show(rel), error)),
        }
    }
    (deleted, failed)
}

/// Removes folder `rel` and everything under it, files first, then folders deepest first.
async fn remove_tree<T: Tree>(target: &mut T, rel: &str) -> Result<(), ClientError> {
    let mut walk = vec![rel.to_string()];
    let mut folders = Vec::new();
    while let Some(folder) = walk.pop() {
        for entry in target.list(&folder).await? {
            let name = String::from_utf8_lossy(&entry.name);
            if unsafe_name(&name) {
                continue;
            }
            let child = join_rel(&folder, &name);
            if entry.kind == EntryKind::Dir {
                walk.push(child);
            } else {
                target.remove_file(&child).await?;
            }
        }
        folders.push(folder);
    }
    for folder in folders.iter().rev() {
        target.remove_folder(folder).await?;
    }
    Ok(())
}

/// The lines `--dry-run` prints: one an action, in the order a real run takes them.
pub(crate) fn describe<S: Tree, T: Tree>(source: &S, target: &T, plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    for rel in &plan.folders {
        lines.push(format!("mkdir {}", target.show(rel)));
    }
    for job in &plan.copies {
        lines.push(format!(
            "copy {} -> {} ({}b)",
            source.show(&job.rel),
            target.show(&job.rel),
            job.size
        ));
    }
    for (rel, folder) in &plan.deletes {
        let slash = if *folder { "/" } else { "" };
        lines.push(format!("delete {}{slash}", target.show(rel)));
    }
    lines
}

/// The local disk as one side of a mirror.
pub(crate) struct LocalTree {
    pub root: std::path::PathBuf,
}

impl LocalTree {
    fn path(&self, rel: &str) -> std::path::PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }
}

impl Tree for LocalTree {
    async fn list(&mut self, rel: &str) -> Result<Vec<Entry>, ClientError> {
        let folder = self.path(rel);
        let meta =
            std::fs::metadata(&folder).map_err(|error| ClientError::local(&folder, error))?;
        if !meta.is_dir() {
            return Err(ClientError::local(
                &folder,
                std::io::Error::other("is not a folder"),
            ));
        }
        let mut entries = Vec::new();
        for item in std::fs::read_dir(&folder)
            .map_err(|error| ClientError::local(&folder, error))?
            .filter_map(Result::ok)
        {
            // Links are followed; what cannot be read, and what is neither file nor folder,
            // is not mirrored.
            let Ok(meta) = std::fs::metadata(item.path()) else {
                continue;
            };
            let kind = if meta.is_dir() {
                EntryKind::Dir
            } else if meta.is_file() {
                EntryKind::File
            } else {
                continue;
            };
            entries.push(Entry {
                kind,
                size: if meta.is_file() { meta.len() } else { 0 },
                modified: super::mirror::unix_secs(meta.modified().ok()),
                mode: None,
                unique: None,
                name: item.file_name().to_string_lossy().into_owned().into_bytes(),
            });
        }
        Ok(entries)
    }

    async fn make_folder(&mut self, rel: &str) -> Result<(), ClientError> {
        let path = self.path(rel);
        std::fs::create_dir_all(&path).map_err(|error| ClientError::local(&path, error))
    }

    async fn remove_file(&mut self, rel: &str) -> Result<(), ClientError> {
        let path = self.path(rel);
        std::fs::remove_file(&path).map_err(|error| ClientError::local(&path, error))
    }

    async fn remove_folder(&mut self, rel: &str) -> Result<(), ClientError> {
        let path = self.path(rel);
        std::fs::remove_dir(&path).map_err(|error| ClientError::local(&path, error))
    }

    fn show(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }
}

/// The remote path of `rel` under `root` (`""`: the login folder).
pub(crate) fn remote_path(root: &str, rel: &str) -> String {
    if rel.is_empty() {
        root.to_string()
    } else {
        super::mirror::join_remote(root, rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64, modified: i64) -> Entry {
        Entry {
            kind: EntryKind::File,
            size,
            modified: Some(modified),
            mode: None,
            unique: None,
            name: name.as_bytes().to_vec(),
        }
    }

    fn dir(name: &str) -> Entry {
        Entry {
            kind: EntryKind::Dir,
            ..file(name, 0, 0)
        }
    }

    const RULE: TimeRule = TimeRule {
        precise: true,
        target_keeps_times: true,
    };

    fn rels(plan: &Plan) -> Vec<&str> {
        plan.copies.iter().map(|job| job.rel.as_str()).collect()
    }

    #[test]
    fn added_changed_removed_and_unchanged() {
        let from = [
            file("same", 5, 100),
            file("changed", 5, 200),
            file("added", 7, 100),
            dir("sub"),
            dir("new"),
        ];
        let to = [
            file("same", 5, 100),
            file("changed", 5, 100),
            file("gone", 1, 1),
            dir("sub"),
            dir("old"),
        ];
        let options = MirrorOptions {
            delete: true,
            ..MirrorOptions::default()
        };
        let mut plan = Plan::default();
        let below = decide("d", &from, Some(&to), &options, RULE, &mut plan);
        assert_eq!(rels(&plan), ["d/added", "d/changed"]);
        assert_eq!(plan.unchanged, 1);
        assert_eq!(
            plan.deletes,
            [("d/gone".to_string(), false), ("d/old".to_string(), true)]
        );
        assert_eq!(
            below,
            [("d/new".to_string(), false), ("d/sub".to_string(), true)]
        );
        // Without --delete nothing goes; a missing target folder copies everything.
        let mut plan = Plan::default();
        decide("", &from, None, &MirrorOptions::default(), RULE, &mut plan);
        assert_eq!(rels(&plan), ["added", "changed", "same"]);
        assert!(plan.deletes.is_empty());
    }

    #[test]
    fn only_newer_keeps_newer_targets() {
        let from = [file("older", 5, 100), file("newer", 5, 300)];
        let to = [file("older", 9, 200), file("newer", 9, 200)];
        let options = MirrorOptions {
            only_newer: true,
            ..MirrorOptions::default()
        };
        let mut plan = Plan::default();
        decide("", &from, Some(&to), &options, RULE, &mut plan);
        assert_eq!(rels(&plan), ["newer"]);
        assert_eq!(plan.not_newer, 1);
    }

    #[test]
    fn filters_select_and_protect() {
        let filter = NameFilter {
            include: vec!["*.gz".into()],
            exclude: vec!["tmp".into(), "logs/skip-*".into()],
        };
        assert!(filter.excludes("a/tmp", "tmp", true));
        assert!(!filter.excludes("a/logs", "logs", true));
        assert!(filter.excludes("a/x.txt", "x.txt", false));
        assert!(!filter.excludes("a/x.gz", "x.gz", false));
        assert!(filter.excludes("logs/skip-1.gz", "skip-1.gz", false));
        assert!(!filter.excludes("a/logs/skip-1.gz", "skip-1.gz", false));

        let options = MirrorOptions {
            delete: true,
            filter: NameFilter {
                include: Vec::new(),
                exclude: vec!["*.tmp".into()],
            },
            ..MirrorOptions::default()
        };
        let from = [file("a.tmp", 1, 1), file("b", 1, 1)];
        let to = [file("keep.tmp", 1, 1)];
        let mut plan = Plan::default();
        decide("", &from, Some(&to), &options, RULE, &mut plan);
        assert_eq!(rels(&plan), ["b"]);
        assert_eq!(plan.excluded, 1);
        assert!(plan.deletes.is_empty(), "an excluded name is never deleted");
    }

    #[test]
    fn times_without_copies_of_times() {
        // The server stamps uploads with their own time: a newer target is current.
        let rule = TimeRule {
            precise: false,
            target_keeps_times: false,
        };
        let mut plan = Plan::default();
        let from = [file("a", 5, 1_000_000_000), file("b", 5, 1_000_000_500)];
        let to = [file("a", 5, 1_000_000_200), file("b", 5, 1_000_000_200)];
        decide(
            "",
            &from,
            Some(&to),
            &MirrorOptions::default(),
            rule,
            &mut plan,
        );
        assert_eq!(rels(&plan), ["b"]);
    }

    #[test]
    fn names_a_listing_may_not_use() {
        for name in ["", ".", "..", "a/b", "a\\b", "a\0b"] {
            assert!(unsafe_name(name), "{name:?}");
        }
        assert!(!unsafe_name("a b.txt") && !unsafe_name("..."));
        let mut plan = Plan::default();
        let from = [file("..", 1, 1), file("ok", 1, 1)];
        decide("", &from, None, &MirrorOptions::default(), RULE, &mut plan);
        assert_eq!(rels(&plan), ["ok"]);
    }

    #[test]
    fn full_disks_and_missing_paths() {
        let refusal = |code| ClientError::Server {
            command: "STOR x".into(),
            reply: ferry_proto::Reply::new(ReplyCode(code), "no"),
        };
        assert!(is_out_of_space(&refusal(552)) && is_out_of_space(&refusal(452)));
        assert!(!is_out_of_space(&refusal(550)));
        assert!(is_missing(&refusal(550)) && !is_missing(&refusal(552)));
    }
}
